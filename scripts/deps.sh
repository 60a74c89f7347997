#!/usr/bin/env bash
# Installs what the examples and tests need on a fresh Debian machine: the real peers we
# test against (Xen headers, libipt, ndctl, QEMU, a Linux kernel), cargo-fuzz and cargo-deny.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail

APT_PACKAGES=(
  build-essential pkg-config     # C shims and ABI probes
  libxen-dev                     # <xen/hvm/ioreq.h>: ioreq ABI test
  libipt-dev                     # Intel's PT encoder/decoder: pt-virt differential tests
  ndctl qemu-system-x86 linux-image-amd64 busybox-static cpio kmod  # Linux+ndctl LSA round trips
  acpica-tools                   # iasl -d: x2apic MADT entries as ACPICA decodes them
  python3                        # scripts/module-cycles.py: no import cycle between modules
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "deps: a nightly toolchain is needed for cargo-fuzz" >&2
  exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "deps: installing cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "deps: installing cargo-deny"
  cargo install cargo-deny --version 0.20.2 --locked
fi
