# shellcheck shell=bash
# Shared by fuzz-smoke.sh (the CI gate) and fuzz-campaign.sh (long runs by hand); sourced,
# not run. One function runs one cargo-fuzz target and decides whether it failed.
#
# Environment:
#   FUZZ_DIR         the cargo-fuzz project (default: the repository's fuzz/)
#   FUZZ_TARGET_DIR  passed to cargo fuzz as --target-dir when set
#   FUZZ_TIMEOUT     libFuzzer -timeout per input, seconds (default 10)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="${FUZZ_DIR:-$repo_root/fuzz}"
fuzz_build_args=()
[ -n "${FUZZ_TARGET_DIR:-}" ] && fuzz_build_args=(--target-dir "$FUZZ_TARGET_DIR")

# `cargo fuzz` in the fuzz project, with the shared build arguments after the subcommand.
fuzz_cargo() {
  local sub="$1"
  shift
  (cd "$FUZZ_DIR" && cargo +nightly fuzz "$sub" "${fuzz_build_args[@]}" "$@")
}

# Every target the project declares; an empty list is an error, not a pass.
fuzz_targets() {
  local list
  list="$(cd "$FUZZ_DIR" && cargo +nightly fuzz list)"
  if [ -z "$list" ]; then
    echo "no fuzz targets in $FUZZ_DIR" >&2
    return 1
  fi
  echo "$list"
}

# Findings libFuzzer left for TARGET: every file in its artifact directory except
# `slow-unit-*` (an input slower than -report_slow_units, 10 s by default: a note, not a
# failure; a real hang is a `timeout-*`). crash-, leak-, timeout-, oom- and any kind a
# later libFuzzer adds all count, and so do ones left by an earlier run until removed.
fuzz_findings() {
  local dir="$FUZZ_DIR/artifacts/$1"
  [ -d "$dir" ] || return 0
  find "$dir" -maxdepth 1 -type f ! -name 'slow-unit-*' | sort
}

# fuzz_run TARGET SECONDS CORPUS_DIR
# Runs TARGET for SECONDS on CORPUS_DIR (which it grows), its full log kept in
# CORPUS_DIR.log. Prints one line: execs, coverage (cov = edges, ft = features) and
# corpus size from libFuzzer's final stats. Returns non-zero, with the log's tail and the
# findings, if cargo fuzz exited non-zero, left any finding, or printed no final stats.
fuzz_run() {
  local target="$1" seconds="$2" corpus="$3" log="$3.log" status=0
  fuzz_cargo run "$target" "$corpus" -- \
    -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  local execs cov ft findings
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  # The last status line ("#N DONE cov: C ft: F corp: ...", or the last pulse).
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
  ft="$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
  findings="$(fuzz_findings "$target")"
  printf '%-24s execs %10s  cov %6s  ft %6s  corpus %5s files  exit %s\n' "$target" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "$(find "$corpus" -type f | wc -l)" "$status"
  if [ "$status" -ne 0 ] || [ -n "$findings" ] || [ -z "$execs" ]; then
    echo "FAILED: fuzz target $target (cargo fuzz exit $status; log $log):" >&2
    # The failure itself (panic, sanitizer report, libFuzzer's verdict), then the input.
    grep -E -m 12 'panicked at|^==[0-9]+==|ERROR: |SUMMARY: |^Error: ' "$log" >&2 || tail -n 30 "$log" >&2
    sed -n '/^Failing input:/,/^Reproduce with:/p' "$log" | grep -v '^$' >&2 || true
    [ -z "$findings" ] || sed 's/^/finding: /' <<<"$findings" >&2
    [ -n "$execs" ] || echo "no final stats: libFuzzer did not finish its run" >&2
    return 1
  fi
}
