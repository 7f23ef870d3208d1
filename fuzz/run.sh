#!/usr/bin/env bash
# Fuzzes every target for SECONDS each (default 60), seeded from the captures in
# tests/data (fuzz/seeds.py). Stops at the first crash: libFuzzer writes the input to
# fuzz/artifacts/<target>/ and this script exits non-zero. CI runs it briefly; longer runs:
#   fuzz/run.sh 720          # 12 minutes per target, an hour in all
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
python3 seeds.py
# --sanitizer none: stable Rust (no -Zsanitizer); coverage instrumentation still works.
# -a: debug assertions (integer overflow checks) on.
cargo fuzz build -a --sanitizer none
for target in $(cargo fuzz list); do
  echo "fuzzing $target for ${seconds}s"
  cargo fuzz run -a --sanitizer none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 |
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|Done)|panicked|crash-" || true
  if find "artifacts/$target" \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) \
      2>/dev/null | grep -q .; then
    echo "$target: failing input(s) in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
