// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Compiles the C shim against Debian's libipt-dev and links `libipt.so`.
fn main() {
    println!("cargo:rerun-if-changed=src/shim.c");
    cc::Build::new()
        .file("src/shim.c")
        .opt_level(2)
        .warnings(true)
        .compile("ipt_flow_shim");
    println!("cargo:rustc-link-lib=ipt");
}
