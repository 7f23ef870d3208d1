#!/usr/bin/env bash
# Peak RSS of `netsentinel analyze` (default configuration, every built-in detector) on
# each hostile pattern, at two sizes: a table without a cap would grow with the capture;
# capped ones stay put, and what the caps turned away is counted in the run summary.
# Writes captures to ${TMPDIR:-/tmp} and deletes them. Usage: benches/memory.sh [PACKETS]
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=${TMPDIR:-/tmp}
packets=${1:-2000000}
cargo build -q --release -p netsentinel-cli -p netsentinel-benches

echo "== machine"
lscpu | grep -E "Model name|^CPU\(s\)" || true
# The summary's cap counters, on one line.
summarize='
import json, sys
s = json.loads(sys.stdin.read())
f, t = s["flows"], s["traffic"]
full = ", ".join("%s %d" % (k, v["turned_away"]) for k, v in s["tables"].items() if v["turned_away"])
print("flows evicted", f["evicted"], "| hosts untracked", t["hosts_untracked"],
      "| alerts", s["alerts"], "| turned away:", full or "none")
'
echo "== peak RSS (KiB) and what the caps counted, default configuration"
for kind in synflood scanstorm dnsnames fragments tinyflows; do
  for n in "$packets" $((packets * 2)); do
    file="$tmp/ns-mem-$kind.pcap"
    ./target/release/make-bench-pcap "$kind" "$file" "$n" 2>/dev/null
    rss=$( { /usr/bin/time -f %M ./target/release/netsentinel analyze --format json "$file" \
      >"$tmp/ns-mem.out"; } 2>&1 | tail -1)
    counters=$(grep '"type":"summary"' "$tmp/ns-mem.out" | python3 -c "$summarize")
    printf "%-10s %9d packets  %8d KiB  %s\n" "$kind" "$n" "$rss" "$counters"
    rm -f "$file"
  done
done
rm -f "$tmp/ns-mem.out"
