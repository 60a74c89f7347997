#!/usr/bin/env bash
# The fuzz gate CI runs: builds every cargo-fuzz target (`cargo fuzz list`, whatever it
# holds) and runs each for a short while ($1 seconds, default 20), starting from a copy
# of its committed corpus `fuzz/corpus/<target>/` (so nothing the run adds lands in the
# repository). Prints one line per target with libFuzzer's executed units and coverage.
# Fails if any `cargo fuzz run` exits non-zero, any target leaves an artifact of any kind
# other than `slow-unit-*` (see fuzz_findings in fuzz-lib.sh), or a run prints no final
# stats; every target runs and every failure is listed before the exit.
# scripts/test-fuzz-gate.sh proves that this script fails on a panicking target.
set -euo pipefail
source "$(dirname "$0")/fuzz-lib.sh"
seconds="${1:-20}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fuzz_cargo build
targets="$(fuzz_targets)"
failed=()
for target in $targets; do
  mkdir -p "$work/$target"
  if [ -d "$FUZZ_DIR/corpus/$target" ]; then
    cp -R "$FUZZ_DIR/corpus/$target/." "$work/$target/"
  fi
  fuzz_run "$target" "$seconds" "$work/$target" || failed+=("$target")
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz gate: RED, ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz gate: green, $(wc -w <<<"$targets") targets, ${seconds}s each"
