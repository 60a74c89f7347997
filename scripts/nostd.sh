#!/usr/bin/env bash
# Link proof: build every library crate without default features into a #![no_std]
# staticlib with its own panic handler. Any std leak fails with E0152 (duplicate
# `panic_impl`), naming the crate that brought std in.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo rustc -p nostd-check --release --features link-proof --crate-type staticlib -- -C panic=abort
echo "no_std link proof: ok"
