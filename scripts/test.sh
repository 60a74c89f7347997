#!/usr/bin/env bash
# The whole test suite: installs the peers, then unit, integration, peer (libxen, libipt,
# Linux+ndctl, /dev/kvm) and doc tests, then the loom model tests of every crate that has
# `tests/loom.rs`. This is the README's test command; .ci/run calls it.
# A check whose peer is missing fails under CI and is a counted skip elsewhere; the
# skips are listed at the end (scripts/skips.sh), and make the run fail under CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

export HUGEVM_SKIP_LOG="$PWD/target/skipped-peers.log"
mkdir -p target
: >"$HUGEVM_SKIP_LOG"
skip_summary() {
  local status=$?
  bash scripts/skips.sh || status=1
  exit "$status"
}
trap skip_summary EXIT

source scripts/features.sh
echo "=== cargo test --workspace --features $all_features"
cargo test --workspace --features "$all_features"

for loom_test in crates/*/tests/loom.rs; do
  [ -e "$loom_test" ] || continue
  crate_dir=$(dirname "$(dirname "$loom_test")")
  package=$(sed -n 's/^name = "\(.*\)"/\1/p' "$crate_dir/Cargo.toml" | head -n 1)
  echo "=== loom model test: $package"
  RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" \
    CARGO_TARGET_DIR=target/loom cargo test -p "$package" --profile loom --test loom
done

echo "=== examples on /dev/kvm and emulated pmem"
bash scripts/examples.sh
