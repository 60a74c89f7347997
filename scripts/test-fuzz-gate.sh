#!/usr/bin/env bash
# A test of the fuzz gate (scripts/fuzz-smoke.sh): builds a throw-away cargo-fuzz project
# in a temporary directory with two targets, `gate_clean` (accepts everything) and
# `gate_panic` (panics on the input `FUZZGATE`, which its corpus holds), and checks that
#   1. the gate is green on `gate_clean` alone (so it is not simply always red),
#   2. the gate is red when `gate_panic` is among the targets, and names it,
#   3. the gate is red on `gate_clean` alone when its artifact directory holds any one
#      finding: crash-, leak-, timeout- or oom-, and green with only a slow-unit-.
# The project shares fuzz/target (--target-dir), so only the two tiny targets compile.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
project="$work/fuzz"
mkdir -p "$project/fuzz_targets" "$project/corpus/gate_panic" "$project/corpus/gate_clean"
# cargo fuzz looks for the fuzz project as fuzz/ of an enclosing package.
printf '[package]\nname = "gate-test-root"\nversion = "0.0.0"\nedition = "2024"\n' >"$work/Cargo.toml"
# The same libfuzzer-sys as fuzz/ (its Cargo.lock) and the same profile, so its build
# in fuzz/target is reused.
cp "$repo/fuzz/Cargo.lock" "$project/"
libfuzzer_sys="$(grep '^libfuzzer-sys' "$repo/fuzz/Cargo.toml")"
cat >"$project/Cargo.toml" <<TOML
[package]
name = "hugevm-fuzz-gate-test"
version = "0.0.0"
publish = false
edition = "2024"

[package.metadata]
cargo-fuzz = true

[dependencies]
$libfuzzer_sys

[workspace]
members = ["."]

[profile.release]
debug = 1
TOML
for t in gate_clean gate_panic; do
  printf '[[bin]]\nname = "%s"\npath = "fuzz_targets/%s.rs"\ntest = false\ndoc = false\nbench = false\n\n' \
    "$t" "$t" >>"$project/Cargo.toml"
done
cat >"$project/fuzz_targets/gate_clean.rs" <<'RS'
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    std::hint::black_box(data);
});
RS
cat >"$project/fuzz_targets/gate_panic.rs" <<'RS'
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data == b"FUZZGATE" {
        panic!("gate_panic: the planted bug");
    }
});
RS
printf 'FUZZGATE' >"$project/corpus/gate_panic/planted"
printf 'hello' >"$project/corpus/gate_clean/seed"

export FUZZ_DIR="$project" FUZZ_TARGET_DIR="$repo/fuzz/target"
gate() { bash "$repo/scripts/fuzz-smoke.sh" 3 >"$work/gate.log" 2>&1; }
fail() {
  echo "test-fuzz-gate: FAILED: $*" >&2
  cat "$work/gate.log" >&2
  exit 1
}
only_clean() {
  sed -i '/^\[\[bin\]\]$/,$d' "$project/Cargo.toml"
  printf '[[bin]]\nname = "gate_clean"\npath = "fuzz_targets/gate_clean.rs"\ntest = false\ndoc = false\nbench = false\n' \
    >>"$project/Cargo.toml"
}

echo "=== gate on gate_clean + gate_panic: must be red"
if gate; then fail "the gate passed a target that panics"; fi
grep -q 'RED, 1 target(s) failed: gate_panic$' "$work/gate.log" || fail "gate_panic not named"
ls "$project/artifacts/gate_panic"/crash-* >/dev/null || fail "no crash artifact"
cat "$work/gate.log"

echo "=== gate on gate_clean alone: must be green"
only_clean
gate || fail "the gate failed a clean target"
sed -n '/^gate_/p; /fuzz gate/p' "$work/gate.log"

for kind in crash leak timeout oom; do
  echo "=== gate on gate_clean with a $kind- artifact: must be red"
  mkdir -p "$project/artifacts/gate_clean"
  touch "$project/artifacts/gate_clean/$kind-0123456789abcdef"
  if gate; then fail "the gate passed with a $kind- artifact"; fi
  grep -q "^finding: .*/$kind-0123456789abcdef$" "$work/gate.log" || fail "$kind- not reported"
  rm "$project/artifacts/gate_clean/$kind-0123456789abcdef"
done
echo "=== gate on gate_clean with a slow-unit- artifact: must be green"
touch "$project/artifacts/gate_clean/slow-unit-0123456789abcdef"
gate || fail "the gate failed on a slow-unit- note"
echo "test-fuzz-gate: ok (red on a panic and on crash/leak/timeout/oom artifacts, green otherwise)"
