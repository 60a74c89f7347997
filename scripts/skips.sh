#!/usr/bin/env bash
# Prints the peer checks that were skipped (one line each, appended by peers/peer-skip
# when /dev/kvm, QEMU, ndctl, iasl or the Linux fixtures were missing) and fails when
# there is any under CI (CI set to anything but empty, 0 or false), where a missing peer
# must fail, never skip. The log is $HUGEVM_SKIP_LOG, by default
# target/skipped-peers.log (scripts/test.sh sets and empties it).
set -euo pipefail
cd "$(dirname "$0")/.."
log=${HUGEVM_SKIP_LOG:-$PWD/target/skipped-peers.log}
count=0
[ -s "$log" ] && count=$(grep -c . "$log")
echo "=== skipped peer checks: $count"
[ "$count" -eq 0 ] && exit 0
sed 's/^/    /' "$log"
case "${CI:-}" in
  "" | 0 | false) echo "=== (outside CI a missing peer is a skip; under CI it fails)" ;;
  *) echo "=== CI is set: every peer must run, so a skipped check fails the run" >&2; exit 1 ;;
esac
