#!/usr/bin/env bash
# Long fuzzing runs, by hand: scripts/fuzz-campaign.sh TARGET... SECONDS
# (`all` as the only target means every target of `cargo fuzz list`). Runs the targets
# one after the other, each for SECONDS, on its campaign corpus fuzz/campaign/<target>/
# (not committed; started from the committed fuzz/corpus/<target>/ the first time and
# kept between campaigns; scripts/fuzz-seeds.sh folds it into the committed corpus).
# Prints, per target, the executed units and libFuzzer's final coverage (cov: edges,
# ft: features) and corpus size, then a table of all of them. Fails like the CI gate
# (scripts/fuzz-smoke.sh) on any non-zero `cargo fuzz run` or any artifact but a
# slow-unit-; a finding is left in fuzz/artifacts/<target>/ with the command that
# reproduces it in the log fuzz/campaign/<target>.log.
set -euo pipefail
source "$(dirname "$0")/fuzz-lib.sh"
if [ "$#" -lt 2 ]; then
  echo "usage: $0 TARGET... SECONDS   (TARGET may be 'all')" >&2
  exit 2
fi
seconds="${*: -1}"
targets=("${@:1:$#-1}")
if [ "${targets[*]}" = all ]; then
  mapfile -t targets < <(fuzz_targets)
fi
known="$(fuzz_targets)"
for target in "${targets[@]}"; do
  grep -qx "$target" <<<"$known" || {
    echo "no fuzz target $target (cargo fuzz list: $(echo $known))" >&2
    exit 2
  }
done

fuzz_cargo build
table=()
failed=()
for target in "${targets[@]}"; do
  corpus="$FUZZ_DIR/campaign/$target"
  if [ ! -d "$corpus" ]; then
    mkdir -p "$corpus"
    [ -d "$FUZZ_DIR/corpus/$target" ] && cp -R "$FUZZ_DIR/corpus/$target/." "$corpus/"
  fi
  echo "=== $target for ${seconds}s from $(find "$corpus" -type f | wc -l) inputs"
  if line="$(fuzz_run "$target" "$seconds" "$corpus")"; then
    table+=("$line")
  else
    table+=("$line  FAILED")
    failed+=("$target")
  fi
  echo "$line"
done
echo
echo "=== campaign, ${seconds}s per target"
printf '%s\n' "${table[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "campaign: findings in ${failed[*]} (see fuzz/artifacts/)" >&2
  exit 1
fi
