#!/usr/bin/env bash
# Regenerates the tshark references the flow tests compare against (TShark 4.0.17, Debian 12
# made the committed files):
#   NAME.conv-tcp.txt / NAME.conv-udp.txt   `tshark -q -z conv,tcp|udp` as printed
#   NAME.tshark-flows.tsv                   the same conversations (tcp.stream / udp.stream)
#                                           with exact byte counts, which the conv table
#                                           rounds to kB/MB
set -euo pipefail
cd "$(dirname "$0")/corpus"
for f in */*.pcap; do
  base="${f%.pcap}"
  for p in tcp udp; do
    tshark -r "$f" -q -z "conv,$p" 2>/dev/null | grep '<->' > "$base.conv-$p.txt" || true
  done
  {
    tshark -r "$f" -Y "tcp && !icmp && !icmpv6" -T fields -e tcp.stream -e ip.src -e ipv6.src -e tcp.srcport \
      -e ip.dst -e ipv6.dst -e tcp.dstport -e frame.len -e frame.time_epoch 2>/dev/null | sed 's/^/tcp\t/'
    tshark -r "$f" -Y "udp && !icmp && !icmpv6" -T fields -e udp.stream -e ip.src -e ipv6.src -e udp.srcport \
      -e ip.dst -e ipv6.dst -e udp.dstport -e frame.len -e frame.time_epoch 2>/dev/null | sed 's/^/udp\t/'
  } | python3 -c '
import sys
streams = {}
order = []
for line in sys.stdin:
    proto, stream, s4, s6, sp, d4, d6, dp, length, t = line.rstrip("\n").split("\t")
    src, dst = (s4 or s6), (d4 or d6)
    # ICMP errors quote a UDP/TCP header: tshark counts the quote under the stream too,
    # but the packet itself is ICMP. Keep only the first (outer) value of each field.
    src, dst, sp, dp, stream = (v.split(",")[0] for v in (src, dst, sp, dp, stream))
    key = (proto, int(stream))
    if key not in streams:
        streams[key] = [src, int(sp), dst, int(dp), 0, 0, 0, 0, t]
        order.append(key)
    s = streams[key]
    if (src, int(sp)) == (s[0], s[1]):
        s[4] += 1; s[5] += int(length)
    else:
        s[6] += 1; s[7] += int(length)
print("proto\ta_ip\ta_port\tb_ip\tb_port\tframes_ab\tbytes_ab\tframes_ba\tbytes_ba\tfirst_epoch")
for key in order:
    s = streams[key]
    print("\t".join(str(v) for v in [key[0]] + s))
' > "$base.tshark-flows.tsv"
done
