#!/usr/bin/env bash
# Measures what docs/BENCHMARKS.md records, in one run:
#   - criterion: pipeline/decode, pipeline/decode_flows, pipeline/engine_file_no_detectors
#   - the CLI on a 2M-packet office-mix capture vs `tcpdump -r FILE -w /dev/null` (the
#     floor for reading the file), best of 5, file in the page cache
#   - peak RSS of the CLI on a SYN flood from 1,000,000 distinct spoofed sources
# Needs tcpdump (Debian package) for the floor. Writes captures to ${TMPDIR:-/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=${TMPDIR:-/tmp}
cargo build -q --release -p netsentinel-cli -p netsentinel-benches
./target/release/make-bench-pcap office "$tmp/ns-office.pcap" 2000000
./target/release/make-bench-pcap synflood "$tmp/ns-synflood.pcap" 1000000

echo "== machine"
lscpu | grep -E "Model name|^CPU\(s\)|L2|L3" || true
rustc --version
tcpdump --version 2>&1 | head -1 || true

echo "== criterion"
cargo bench -q -p netsentinel-benches --bench pipeline 2>&1 | grep -E "^pipeline|thrpt:" | grep -v "%" || true

best_of_5() {
  local best=999999
  for _ in 1 2 3 4 5; do
    local start end ms
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    (( ms < best )) && best=$ms
  done
  echo "$best"
}

echo "== whole file, best of 5 (ms), 2,000,000 packets"
cat "$tmp/ns-office.pcap" >/dev/null # into the page cache
ns=$(best_of_5 ./target/release/netsentinel analyze "$tmp/ns-office.pcap")
td=$(best_of_5 tcpdump -r "$tmp/ns-office.pcap" -w /dev/null)
echo "netsentinel analyze (all built-in detectors): $ns ms ($(( 2000000 * 1000 / ns )) packets/s)"
echo "tcpdump -r -w /dev/null: $td ms ($(( 2000000 * 1000 / td )) packets/s)"

echo "== memory: SYN flood from 1,000,000 spoofed sources"
/usr/bin/time -f "peak RSS %M KiB, %e s" ./target/release/netsentinel analyze "$tmp/ns-synflood.pcap" | grep -E "^Flows"
