#!/usr/bin/env bash
# Boots Linux (Debian's kernel) under qemu-system-x86_64 (TCG) with a busybox initramfs
# that runs a guest script and hands files back: the harness of the guest-platform tests
# (x2apic-virt's ACPI tables and VT-d remapping, NVDIMM tables). Everything comes from
# Debian packages installed by scripts/deps.sh: qemu-system-x86 and linux-image-amd64
# (bookworm-backports: QEMU 10, Linux 6.12), busybox-static, cpio, kmod.
#
#   scripts/linux-guest.sh run WORKDIR
#       WORKDIR/guest.sh    busybox sh script run as root in the guest; whatever it writes
#                           into /out/NAME comes back as WORKDIR/out/NAME (also always:
#                           out/guest.log, its `sh -x` trace with "exit=N", out/dmesg.log,
#                           out/uptime, the guest's uptime in seconds when it finished).
#       WORKDIR/qemu.args   optional: extra QEMU arguments, one per line (-smp, -device,
#                           -numa, -trace, ...), after the harness's own.
#       WORKDIR/cmdline     optional: extra kernel command-line words.
#       WORKDIR/acpi.bin    optional: an ACPI blob whose first bytes are an RSDP; loaded at
#                           guest physical 0x10000000 (-device loader,force-raw=on) and
#                           given to Linux with acpi_rsdp=0x10000000 memmap=64K$0x10000000,
#                           so Linux uses its tables instead of the firmware's.
#       WORKDIR/modules     optional: kernel modules to put in the initramfs and load, in
#                           order, one per line.
#       WORKDIR/tools       optional: host programs (one per line, a path or a name on
#                           PATH) to put in the initramfs with every shared library ldd
#                           lists for them.
#       WORKDIR/rootfs/     optional: a tree copied over the initramfs root as it is.
#       WORKDIR/prelude.sh  optional: busybox sh script sourced (untraced) after the
#                           modules load and before the "guest ready" marker, e.g. to
#                           wait for devices.
#       Writes WORKDIR/console.log, WORKDIR/out/*, WORKDIR/wall-seconds (QEMU's wall time);
#       exits non-zero if the guest did not finish.
#
# Environment: LINUX_GUEST_KERNEL (vmlinuz; default the newest /boot/vmlinuz-*),
# LINUX_GUEST_KVER (its module directory, default the vmlinuz-VERSION suffix),
# LINUX_GUEST_TIMEOUT (seconds, default 120), LINUX_GUEST_MEMORY (default 512M).
#
# no_timer_check is always on the command line: under TCG on a loaded host the IO-APIC
# timer check (a short busy-wait for ticks) fails and Linux panics ("timer doesn't work
# through Interrupt-remapped IO-APIC"); Linux sets it itself for KVM guests
# (arch/x86/kernel/kvm.c, kvm_guest_init... via paravirt).
#
# Exit status 77 means "cannot run here" (no qemu, no kernel, no busybox); the reason is
# on stderr prefixed with SKIPPED.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

here=$(cd "$(dirname "$0")" && pwd)
# Where the blob goes: above the 256 MiB a 512 MiB guest's kernel and initramfs use,
# inside its RAM (memmap= reserves it, so Linux leaves the tables alone).
ACPI_ADDR=0x10000000

skip() {
  echo "SKIPPED: $*" >&2
  exit 77
}

check_tools() {
  command -v qemu-system-x86_64 >/dev/null || skip "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
  command -v cpio >/dev/null || skip "no cpio"
  command -v depmod >/dev/null || skip "no depmod (apt-get install kmod)"
  busybox=$(command -v busybox || true)
  [ -n "$busybox" ] || skip "no busybox (apt-get install busybox-static)"
  ldd "$busybox" >/dev/null 2>&1 && skip "$busybox is dynamically linked (apt-get install busybox-static)"
  kernel=${LINUX_GUEST_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)}
  [ -n "$kernel" ] && [ -r "$kernel" ] || skip "no readable /boot/vmlinuz-* (apt-get install linux-image-amd64)"
  kver=${LINUX_GUEST_KVER:-$(basename "$kernel" | sed 's/^vmlinuz-//')}
}

# Copies a binary and every shared library ldd finds for it into the tree $1.
copy_with_libs() {
  local root=$1 bin=$2 lib
  install -D -m 0755 "$bin" "$root$bin"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

# Builds an uncompressed initramfs: nothing for the guest to decompress.
build_initramfs() {
  local work=$1 root=$1/initramfs m f t
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,out,lib/modules/"$kver"}
  install -m 0755 "$busybox" "$root/bin/busybox"
  install -m 0755 "$here/linux-guest/init" "$root/init"
  install -m 0644 "$work/guest.sh" "$root/guest.sh"
  if [ -f "$work/prelude.sh" ]; then install -m 0644 "$work/prelude.sh" "$root/prelude.sh"; fi
  if [ -f "$work/tools" ]; then
    for t in $(cat "$work/tools"); do
      t=$(command -v "$t") || skip "no $t on the host"
      copy_with_libs "$root" "$t"
    done
  fi
  if [ -d "$work/rootfs" ]; then cp -a "$work/rootfs/." "$root/"; fi
  if [ -f "$work/modules" ]; then
    install -m 0644 "$work/modules" "$root/modules"
    for m in $(cat "$work/modules"); do
      f=$(modinfo -k "$kver" -n "$m") || skip "kernel $kver has no module $m"
      install -D -m 0644 "$f" "$root$f"
    done
    cp "/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/" 2>/dev/null || true
    depmod -b "$root" "$kver"
  fi
  (cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initramfs.cpio"
  rm -rf "$root"
}

cmd_run() {
  local work=$1 args=() append=() start end
  [ -f "$work/guest.sh" ] || { echo "linux-guest: $work/guest.sh missing" >&2; exit 2; }
  check_tools
  rm -rf "$work/out"
  mkdir -p "$work/out"
  build_initramfs "$work"
  if [ -f "$work/qemu.args" ]; then mapfile -t args <"$work/qemu.args"; fi
  if [ -f "$work/cmdline" ]; then read -r -a append <<<"$(tr '\n' ' ' <"$work/cmdline")"; fi
  if [ -f "$work/acpi.bin" ]; then
    args+=(-device "loader,file=$work/acpi.bin,addr=$ACPI_ADDR,force-raw=on")
    append+=("acpi_rsdp=$ACPI_ADDR" "memmap=64K\$$ACPI_ADDR")
  fi
  start=$(date +%s.%N)
  timeout "${LINUX_GUEST_TIMEOUT:-120}" qemu-system-x86_64 \
    -machine q35 -accel tcg -m "${LINUX_GUEST_MEMORY:-512M}" \
    -nodefaults -display none -no-reboot -monitor none \
    -serial "file:$work/console.log" \
    -kernel "$kernel" -initrd "$work/initramfs.cpio" \
    -append "console=ttyS0 panic=-1 loglevel=4 no_timer_check ${append[*]}" \
    "${args[@]}" || true
  end=$(date +%s.%N)
  awk "BEGIN{print $end - $start}" >"$work/wall-seconds"
  tr -d '\r' <"$work/console.log" | awk -v dir="$work/out" '
    /^@@BEGIN / { f = dir "/" $2; printf "" > f; next }
    /^@@END /   { close(f); f = ""; next }
    f != ""     { print >> f }'
  echo "linux-guest: kernel $kver, qemu wall time $(cat "$work/wall-seconds") s" >&2
  if ! grep -aq '^@@linux-guest: done' "$work/console.log"; then
    echo "linux-guest: the guest did not finish; last console lines:" >&2
    tail -n 40 "$work/console.log" >&2
    exit 1
  fi
}

case "${1:-}" in
  run) cmd_run "${2:?usage: $0 run WORKDIR}" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
