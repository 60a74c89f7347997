#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a short while (seconds per target as
# $1, default 20). Seeds come from fuzz/seeds/<target>/ when present.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-20}"
cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  echo "=== fuzz $target for ${seconds}s"
  cargo +nightly fuzz run "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 | grep -E 'stat::number_of_executed_units|Done|ERROR|panicked' || true
  # A crash leaves an artifact: fail loudly.
  if ls "artifacts/$target"/crash-* "artifacts/$target"/leak-* "artifacts/$target"/timeout-* >/dev/null 2>&1; then
    echo "fuzz target $target found a failure:" >&2
    ls "artifacts/$target" >&2
    exit 1
  fi
done
