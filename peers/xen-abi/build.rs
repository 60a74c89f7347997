// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Compiles the C probe against the installed Xen headers (Debian's libxen-dev).
fn main() {
    println!("cargo:rerun-if-changed=src/abi.c");
    cc::Build::new()
        .file("src/abi.c")
        .warnings(true)
        .compile("xen_abi_probe");
}
