#!/usr/bin/env bash
# Boots the Debian kernel under qemu-system-x86_64 with emulated NVDIMMs and runs ndctl
# inside, so nvdimm-label can be checked against Linux itself. The boot is the one of the
# guest-platform tests (scripts/linux-guest.sh: q35, TCG, busybox initramfs); this script
# adds the NVDIMMs, the NVDIMM modules, ndctl and a wait for the DIMMs. Everything comes
# from Debian packages installed by scripts/deps.sh: qemu-system-x86, linux-image-amd64,
# busybox-static, cpio, kmod, ndctl.
#
#   scripts/nvdimm-linux.sh run WORKDIR
#       WORKDIR holds guest.sh (a busybox sh script run as root in the guest; whatever it
#       writes into /out/NAME comes back as WORKDIR/out/NAME) and dimm0.img, dimm1.img, ...
#       (QEMU memory-backend-file images; each becomes one NVDIMM with label-size=128K, or
#       the byte count in dimmN.label-size if that file exists; its label storage area is
#       the LAST label-size bytes of the file, guest DPA 0 = file offset 0).
#       Writes WORKDIR/console.log and WORKDIR/out/*; exits non-zero if the guest did not
#       finish. /out/guest.log is the `sh -x` trace of guest.sh with its exit status.
#
#       Optional: WORKDIR/acpi.bin, an ACPI blob Linux boots from instead of QEMU's tables
#       (`acpi_rsdp=`, see scripts/linux-guest.sh); WORKDIR/qemu.args (one QEMU argument
#       per line) and WORKDIR/cmdline.extra (kernel command-line words) are appended;
#       WORKDIR/bin/* (static programs) are put in the guest's /bin. The linux-guest work
#       directory is WORKDIR/boot.
#
#   scripts/nvdimm-linux.sh fixtures [DATADIR]
#       Regenerates the checked-in fixtures (default crates/nvdimm-label/tests/data): one
#       boot, three DIMMs: ndctl init-labels -V 1.1 on nmem0 and -V 1.2 on nmem1, then
#       fsdax/devdax/raw/sector namespaces with names on both; nmem2 left to ndctl's
#       autolabel path. Saves each LSA, the `ndctl read-labels -j` and `ndctl list` JSON,
#       and the first 8 KiB (info blocks) of every namespace. Needs jq. See
#       DATADIR/README.md.
#
# Environment: NVDIMM_LINUX_KERNEL (vmlinuz path; default the newest /boot/vmlinuz-* that
# has /lib/modules/VERSION/kernel/drivers/nvdimm) with NVDIMM_LINUX_KVER (its module
# directory name, default the vmlinuz-VERSION suffix), NVDIMM_LINUX_TIMEOUT (seconds,
# default 300), NVDIMM_LINUX_ICOUNT (unset by default; a QEMU -icount shift, e.g. 0: guest
# time then counts guest instructions, 2^shift ns each, so guest-timed figures stop
# depending on the host's load, and leave out what QEMU itself spends in device
# emulation).
#
# Exit status 77 means "cannot run here" (no qemu, no kernel, no ndctl); the reason is on
# stderr prefixed with SKIPPED.
set -euo pipefail
# depmod and modinfo live in /usr/sbin, which is not on a Debian user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
LABEL_SIZE=$((128 * 1024))

skip() {
  echo "SKIPPED: $*" >&2
  exit 77
}

find_kernel() {
  if [ -n "${NVDIMM_LINUX_KERNEL:-}" ]; then
    kernel=$NVDIMM_LINUX_KERNEL
    kver=${NVDIMM_LINUX_KVER:-$(basename "$kernel" | sed 's/^vmlinuz-//')}
  else
    kernel=
    for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V -r); do
      v=$(basename "$k" | sed 's/^vmlinuz-//')
      if [ -d "/lib/modules/$v/kernel/drivers/nvdimm" ]; then
        kernel=$k
        kver=$v
        break
      fi
    done
    [ -n "$kernel" ] || skip "no /boot/vmlinuz-* with NVDIMM modules (apt-get install linux-image-amd64)"
  fi
  [ -r "$kernel" ] || skip "$kernel is not readable"
  [ -d "/lib/modules/$kver" ] || skip "no /lib/modules/$kver"
}

check_tools() {
  command -v qemu-system-x86_64 >/dev/null || skip "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
  command -v ndctl >/dev/null || skip "no ndctl (apt-get install ndctl)"
  find_kernel
}

# The label-size of DIMM $2 in WORKDIR $1: the number in dimmN.label-size, or 128 KiB.
dimm_label_size() {
  if [ -f "$1/dimm$2.label-size" ]; then cat "$1/dimm$2.label-size"; else echo "$LABEL_SIZE"; fi
}

# Prepares WORKDIR/boot for scripts/linux-guest.sh and runs it.
cmd_run() {
  local work=$1 boot=$1/boot n=0 img size total=0 status=0 m
  [ -f "$work/guest.sh" ] || { echo "nvdimm-linux: $work/guest.sh missing" >&2; exit 2; }
  check_tools
  rm -rf "$boot" "$work/out"
  mkdir -p "$boot/rootfs/bin" "$boot/rootfs/etc"
  {
    echo -machine; echo nvdimm=on
    while [ -f "$work/dimm$n.img" ]; do
      img=$work/dimm$n.img
      size=$(stat -c %s "$img")
      echo -object; echo "memory-backend-file,id=mem$n,share=on,mem-path=$img,size=$size"
      echo -device; echo "nvdimm,id=nv$n,memdev=mem$n,label-size=$(dimm_label_size "$work" $n)"
      total=$((total + size))
      n=$((n + 1))
    done
    # QEMU merges a second -m into the harness's: DIMM slots and room for them.
    echo -m; echo "512M,slots=$n,maxmem=$((512 + (total >> 20) + 2 * n))M"
    if [ -n "${NVDIMM_LINUX_ICOUNT:-}" ]; then echo -icount; echo "shift=$NVDIMM_LINUX_ICOUNT"; fi
    if [ -f "$work/qemu.args" ]; then cat "$work/qemu.args"; fi
  } >"$boot/qemu.args"
  [ "$n" -gt 0 ] || { echo "nvdimm-linux: no $work/dimm0.img" >&2; exit 2; }
  cp "$work/guest.sh" "$boot/guest.sh"
  cp "$here/nvdimm-linux/ready.sh" "$boot/prelude.sh"
  echo ndctl >"$boot/tools"
  for m in libnvdimm nfit nd_pmem nd_btt dax_pmem device_dax; do echo "$m"; done >"$boot/modules"
  if [ -d "$work/bin" ]; then cp "$work"/bin/* "$boot/rootfs/bin/"; fi
  if [ -d /etc/ndctl.conf.d ]; then cp -r /etc/ndctl.conf.d "$boot/rootfs/etc/"; fi
  if [ -f "$work/acpi.bin" ]; then cp "$work/acpi.bin" "$boot/acpi.bin"; fi
  # loglevel=1 keeps kernel messages (e.g. a failed BTT probe) from interleaving with the
  # files printed between the markers; the guest's dmesg comes back as out/dmesg.log.
  echo "loglevel=1 nvdimm_linux.dimms=$n $(cat "$work/cmdline.extra" 2>/dev/null || true)" >"$boot/cmdline"
  LINUX_GUEST_KERNEL=$kernel LINUX_GUEST_KVER=$kver LINUX_GUEST_TIMEOUT=${NVDIMM_LINUX_TIMEOUT:-300} \
    bash "$here/linux-guest.sh" run "$boot" || status=$?
  [ "$status" -eq 77 ] && exit 77
  mv "$boot/out" "$work/out" 2>/dev/null || mkdir -p "$work/out"
  cp "$boot/console.log" "$work/console.log" 2>/dev/null || true
  echo "nvdimm-linux: $n DIMM(s), kernel $kver, qemu wall time $(cat "$boot/wall-seconds" 2>/dev/null) s" >&2
  grep -a '^@@linux-guest' "$work/console.log" >&2 || true
  [ "$status" -eq 0 ] || exit 1
}

# The fixture recipe: nmem0 gets v1.1 labels, nmem1 v1.2, both the same namespaces;
# nmem2 stays blank (label-less to Linux) until ndctl reconfigures its whole-region
# namespace as fsdax, which makes ndctl initialize v1.2 labels on its own ("autolabel").
FIXTURE_TAGS=(v11 v12 auto12)
fixture_guest() {
  cat "$here/nvdimm-linux/guest-lib.sh"
  cat <<'EOF'
set -e
ndctl_recipe nmem0 1.1 v11
ndctl_recipe nmem1 1.2 v12
r=$(region_of nmem2)
ndctl create-namespace -f -e "namespace${r#region}.0" -m fsdax >/dev/null
dump nmem0 v11
dump nmem1 v12
dump nmem2 auto12
ndctl list -D >/out/list-D.json
EOF
}

cmd_fixtures() {
  local data=${1:-$repo/crates/nvdimm-label/tests/data} work d tag
  check_tools
  command -v jq >/dev/null || { echo "nvdimm-linux: fixtures needs jq" >&2; exit 2; }
  work=$(mktemp -d)
  fixture_work=$work
  trap 'rm -rf "$fixture_work"' EXIT
  fixture_guest >"$work/guest.sh"
  for d in "${!FIXTURE_TAGS[@]}"; do
    truncate -s $((256 * 1024 * 1024 + LABEL_SIZE)) "$work/dimm$d.img"
  done
  cmd_run "$work"
  grep -q '^exit=0$' "$work/out/guest.log" || { cat "$work/out/guest.log" >&2; exit 1; }
  mkdir -p "$data"
  for d in "${!FIXTURE_TAGS[@]}"; do
    tag=${FIXTURE_TAGS[$d]}
    tail -c "$LABEL_SIZE" "$work/dimm$d.img" >"$data/$tag.lsa"
    # Copied byte for byte: jq would round 64-bit integers such as isetcookie to doubles.
    for f in read-labels list-N list-R; do
      cp "$work/out/$tag.$f.json" "$data/$tag.$f.json"
    done
    # The first 8 KiB of every live namespace (NAME.head, or TAG-unnamed.head): the
    # pfn/dax info block sits at offset 4096, the BTT info block at 0 (BTT2, v1.2
    # labels) or 4096 (BTT1).
    jq -r '.[0].label[] | "\(.dpa) \(.name)"' "$work/out/$tag.read-labels.json" | sort -u |
      while read -r dpa name; do
        case "$name" in gone-*) continue ;; "") name=$tag-unnamed ;; esac
        dd if="$work/dimm$d.img" of="$data/$name.head" bs=4096 skip=$((dpa / 4096)) count=2 status=none
      done
  done
  cp "$work/out/list-D.json" "$data/list-D.json"
  cp "$work/out/proc-version" "$data/proc-version.txt"
  cp "$work/out/ndctl-version" "$data/ndctl-version.txt"
  echo "nvdimm-linux: fixtures written to $data" >&2
}

case "${1:-}" in
  run) cmd_run "${2:?usage: $0 run WORKDIR}" ;;
  fixtures) cmd_fixtures "${2:-}" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
