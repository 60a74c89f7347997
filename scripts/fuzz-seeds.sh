#!/usr/bin/env bash
# Regenerates the committed fuzz corpus, fuzz/corpus/<target>/, for every target of
# `cargo fuzz list`. Inputs per target, merged and minimized with `cargo fuzz cmin`
# (a file is kept only if it adds coverage):
#   1. the real inputs `peers/fuzz-seeds` writes (Linux/ndctl label areas and info blocks,
#      planner superblocks, Linux MSI and IOAPIC values, ioreq pages built from Xen's C
#      header; see its module doc) and the MADT entries of crates/x2apic/tests/acpica.rs
#      (those whose whole table `iasl -d` accepts);
#   2. the hand-written files in fuzz/seeds/<target>/ (PT streams and ToPA tables from
#      the pt-virt tests' known answers; README files skipped);
#   3. for a target with none of those (the ones taking structured `Arbitrary` input),
#      what a run of $1 seconds (default 20) from nothing finds.
# Campaign corpora (fuzz/campaign/) are left out on purpose: mostly mutated 4-8 KiB
# pages, they would swell the repository; the seeds already reach the valid paths.
# Fails if any step fails, including a finding in the growing run.
set -euo pipefail
source "$(dirname "$0")/fuzz-lib.sh"
grow="${1:-20}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$repo_root" && cargo run --quiet -p fuzz-seeds -- "$work/raw")
# The MADT entries of the plans whose whole tables `iasl -d` accepts (the acpica test).
(cd "$repo_root" && HUGEVM_FUZZ_SEEDS="$work/raw" cargo test --quiet -p x2apic-virt --test acpica)
[ -n "$(ls "$work/raw/x2apic_madt")" ] || {
  echo "the acpica test wrote no MADT seeds (no iasl?)" >&2
  exit 1
}

fuzz_cargo build
total=0
for target in $(fuzz_targets); do
  all="$work/all/$target"
  mkdir -p "$all"
  for dir in "$work/raw/$target" "$FUZZ_DIR/seeds/$target"; do
    [ -d "$dir" ] || continue
    find "$dir" -maxdepth 1 -type f ! -name 'README*' -exec cp {} "$all/" \;
  done
  seeds="$(find "$all" -type f | wc -l)"
  [ "$seeds" -ne 0 ] || fuzz_run "$target" "$grow" "$all" || exit 1
  fuzz_cargo cmin "$target" "$all" >"$work/$target.cmin.log" 2>&1 || {
    tail -n 20 "$work/$target.cmin.log" >&2
    exit 1
  }
  rm -rf "$FUZZ_DIR/corpus/$target"
  mkdir -p "$FUZZ_DIR/corpus/$target"
  cp "$all"/* "$FUZZ_DIR/corpus/$target/"
  bytes="$(cat "$FUZZ_DIR/corpus/$target"/* | wc -c)"
  total=$((total + bytes))
  echo "$target: $seeds seed files -> $(ls "$FUZZ_DIR/corpus/$target" | wc -l) after cmin, $bytes bytes"
done
echo "fuzz/corpus: $total bytes in all"
