#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60) and prints the executions each
# made; exits non-zero when any target finds a crash (the input is left in fuzz/artifacts/).
#
# cargo-fuzz needs nightly-only rustc flags; on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# stable rustc accept them. The sanitizer is off (-s none): the parsers are safe Rust, the
# targets check logic invariants, and an uninstrumented build runs several times faster.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-60}"
TARGETS=(text query render import_line)
export RUSTC_BOOTSTRAP=1

cargo fuzz build -s none -a
mkdir -p fuzz/corpus
failed=0
for target in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  log="$(mktemp)"
  if cargo fuzz run -s none -a "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$SECONDS_EACH" -max_len=4096 -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed=1
    tail -n 40 "$log" >&2
  fi
  execs="$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  printf '%-12s %8s s  %12s executions  %s\n' "$target" "$SECONDS_EACH" "$execs" "$status"
  rm -f "$log"
done
exit "$failed"
