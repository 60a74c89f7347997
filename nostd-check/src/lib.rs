// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Link proof that the hugevm library crates are `no_std`, with and without `alloc`.
//!
//! This static library names every library crate with `extern crate`, so each one is
//! linked, and supplies its own `#[panic_handler]`. If any crate (or a dependency of one)
//! pulls in `std`, the build fails with a duplicate `panic_impl` lang item naming it.
//! With the `alloc` feature it also turns on every crate's `alloc` feature
//! (`nvdimm-label`, `x2apic-virt`; the other three have none), supplies the
//! `#[global_allocator]` a `no_std` artifact with `alloc` needs, and calls the
//! alloc-gated APIs (`Lsa`, `Writer`'s `init`, `Plan`, `DestinationMap`), so a `std` leak
//! behind `alloc` fails the same way. With the `acpi` feature it calls the table builders
//! built on rust-vmm's `acpi_tables` (the x2APIC MADT and DMAR, the NVDIMM SSDT).
//!
//! `scripts/nostd.sh` builds it alone, as a staticlib with `panic=abort` and the
//! `link-proof` feature, once without features, once with `alloc`, once with `acpi`; it is never tested or run.
#![no_std]

extern crate frame_table;
extern crate ioreq;
extern crate nvdimm_label;
extern crate pt_virt;
extern crate x2apic_virt;

#[cfg(feature = "alloc")]
pub mod with_alloc;

#[cfg(feature = "acpi")]
pub mod with_acpi;

/// Halts on panic: the artifact is only linked, never run.
#[cfg(feature = "link-proof")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
