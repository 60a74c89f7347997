#!/usr/bin/env bash
# Link proofs: build every library crate without default features into a #![no_std]
# staticlib with its own panic handler, then again with every crate's `alloc` feature
# on and a #[global_allocator], and a third time with the `acpi` table builders. Any std leak, with or without `alloc`, fails with E0152
# (duplicate `panic_impl`), naming the crate that brought std in.
set -euo pipefail
cd "$(dirname "$0")/.."
proof() {
  cargo rustc -p nostd-check --release --features "$1" --crate-type staticlib -- -C panic=abort
  echo "no_std link proof ($2): ok"
}
proof link-proof "no features"
proof link-proof,alloc "alloc features"
proof link-proof,acpi "alloc and acpi features"
