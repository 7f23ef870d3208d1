#!/usr/bin/env bash
# Regenerates the tshark conversation tables the flow tests compare against.
# Needs Debian's tshark (4.0.17 made the committed files).
set -euo pipefail
cd "$(dirname "$0")/corpus"
for f in */*.pcap; do
  for p in tcp udp; do
    tshark -r "$f" -q -z "conv,$p" 2>/dev/null | grep '<->' > "${f%.pcap}.conv-$p.txt" || true
  done
done
