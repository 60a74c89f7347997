// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Glue shared by the hugevm examples and benchmarks.
//!
//! The library crates under `crates/` never depend on each other; this unpublished root
//! package is where they meet, in `examples/` and `benches/`. It holds the small amount
//! of KVM plumbing the examples share:
//!
//! - [`kvm`]: open `/dev/kvm` (or report that it is absent), create a VM with the
//!   in-kernel irqchip and `KVM_CAP_X2APIC_API`, back guest memory with an anonymous
//!   map, and prepare real-mode vCPUs that the VMM has switched to x2APIC mode.
//! - [`asm`]: a tiny builder for the 16-bit real-mode guest programs the examples run.
//! - [`step`]: single-stepping a vCPU with `KVM_GUESTDBG_SINGLESTEP`, recording the
//!   address of every instruction it executes.
//! - [`guest`]: Linux booted under QEMU from `x2apic-virt`'s ACPI tables
//!   (`scripts/linux-guest.sh`), and QEMU's remapping trace replayed through its model.
//! - [`report`]: the `SKIPPED` line and human-readable figures.

pub mod asm;
pub mod guest;
pub mod kvm;
pub mod report;
pub mod step;
