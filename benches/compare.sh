#!/usr/bin/env bash
# NetSentinel beside its peers on one capture, in one run: wall time (best of RUNS) and
# peak RSS of each tool reading the same file from the page cache, and packets per second.
#
#   benches/compare.sh [PACKETS] [RUNS] [KIND]   (defaults: 2000000 packets, best of 3, office)
#
# KIND is a capture `make-bench-pcap` writes: `office` (the office mix) or one of the
# hostile patterns `synflood`, `scanstorm`, `dnsnames`, `fragments`, `tinyflows`.
#
# Peers (Debian packages): suricata (bookworm-backports, 7.0) with the protocol and decoder
# event rules it ships (/etc/suricata/rules: ET Open cannot be downloaded here), once with
# `--runmode single` and once in its default mode; nDPI's `ndpiReader`; tshark dissecting
# every packet; and
# `tcpdump -r FILE -w /dev/null`, the floor for reading the file. Install them with:
#   echo "deb http://deb.debian.org/debian bookworm-backports main" \
#     > /etc/apt/sources.list.d/backports.list && apt-get update
#   apt-get install -y -t bookworm-backports suricata && apt-get install -y libndpi-bin tshark tcpdump
# A tool that is missing is left out of the table with a note.
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-2000000}
runs=${2:-3}
kind=${3:-office}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ns-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cargo build -q --release -p netsentinel-cli -p netsentinel-benches
capture="$tmp/$kind.pcap"
./target/release/make-bench-pcap "$kind" "$capture" "$packets" 2>/dev/null
cat "$capture" >/dev/null # into the page cache
cat /etc/suricata/rules/*.rules > "$tmp/suricata.rules" 2>/dev/null || true

echo "== machine"
lscpu | grep -E "Model name|^CPU\(s\)" || true
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "capture: make-bench-pcap $kind, $packets packets, $(du -m "$capture" | cut -f1) MB"
for v in "rustc --version" "suricata -V" "ndpiReader -h" "tshark -v" "tcpdump --version"; do
  $v 2>&1 | grep -m1 -iE "rustc|version|nDPI|TShark" || true
done

# Prints "seconds peak_kib" of the best (fastest) of $runs runs of the command.
best() {
  local best_s="" best_k=""
  for _ in $(seq "$runs"); do
    local out s k
    # Back into the page cache before every run: on some VMs the host trims the cache
    # within minutes, and a run that reads part of the file from disk measures the disk.
    cat "$capture" >/dev/null
    /usr/bin/time -o "$tmp/time" -f "%e %M" "$@" >/dev/null 2>&1 || true
    out=$(tail -1 "$tmp/time")
    s=${out% *}
    k=${out#* }
    if [ -z "$best_s" ] || awk "BEGIN{exit !($s < $best_s)}"; then
      best_s=$s
      best_k=$k
    fi
  done
  echo "$best_s $best_k"
}

declare -a rows
row() { # name, command...
  local name=$1
  shift
  if ! command -v "$1" >/dev/null; then
    rows+=("| $name | (not installed) | | | |")
    return
  fi
  local r s k
  r=$(best "$@")
  s=${r% *}
  k=${r#* }
  local shown="$*"
  rows+=("| $name | $s | $(awk "BEGIN{printf \"%.0f\", $copies * $packets / ($s > 0 ? $s : 0.001)}") | $((k / 1024)) | \`${shown//$tmp/\$TMP}\` |")
  echo "$name: $s s, $((k / 1024)) MiB" >&2
  last_seconds=$s
}
copies=1
last_seconds=0

mkdir -p "$tmp/suricata-single" "$tmp/suricata-default"
cores=$(nproc)
row "netsentinel analyze (1 thread, all detectors)" ./target/release/netsentinel analyze \
  --threads 1 "$capture"
one_thread=$last_seconds
for t in $(seq 2 "$cores"); do
  row "netsentinel analyze ($t threads, all detectors)" ./target/release/netsentinel analyze \
    --threads "$t" "$capture"
done
all_threads=$last_seconds
# The machine's own ceiling for scaling this job: as many independent single-thread runs
# as cores, started together (wall time until the last ends; packets/s counts them all).
# Shared caches, memory bandwidth and a VM's neighbours slow them as they would threads.
if [ "$cores" -gt 1 ]; then
  copies=$cores
  row "netsentinel analyze, $cores independent 1-thread runs at once" bash -c \
    "for i in \$(seq $cores); do ./target/release/netsentinel analyze --threads 1 $capture & done; wait"
  copies=1
  together=$last_seconds
fi
row "tcpdump (read floor)" tcpdump -r "$capture" -w /dev/null
row "suricata --runmode single" suricata --runmode single -k none -S "$tmp/suricata.rules" \
  -l "$tmp/suricata-single" -r "$capture"
row "suricata (default runmode)" suricata -k none -S "$tmp/suricata.rules" \
  -l "$tmp/suricata-default" -r "$capture"
row "ndpiReader" ndpiReader -q -i "$capture"
# With nothing to print tshark skips dissection; asking for every frame's protocol stack
# makes it dissect each packet fully.
row "tshark (full dissection)" tshark -r "$capture" -T fields -e frame.protocols

echo
echo "| tool | seconds (best of $runs) | packets/s | peak RSS MiB | command |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ "$cores" -gt 1 ]; then
  echo
  awk -v c="$cores" -v one="$one_thread" -v all="$all_threads" -v tog="$together" 'BEGIN {
    printf "Scaling on %d cores: `analyze --threads %d` is %.2fx one thread; %d independent\n", c, c, one / all, c
    printf "single-thread runs together are %.2fx one run (the machine'"'"'s ceiling for this job).\n", c * one / tog
  }'
fi
