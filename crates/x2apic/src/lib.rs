// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The xAPIC to x2APIC switch for guests with more than 255 vCPUs, independent of any
//! hypervisor.
//!
//! An xAPIC ID has 8 bits and 255 is the broadcast ID, so a guest with APIC IDs of 255
//! and above must run its local APICs in x2APIC mode. The VMM (not a program in the guest)
//! decides that and applies it with the CPUID policy and a host-initiated
//! `IA32_APIC_BASE` write. This crate is what a VMM needs for that:
//!
//! - [`base`]: `IA32_APIC_BASE` and the mode state machine: every write classified as
//!   legal or #GP, for guest and for host writes.
//! - [`mode`]: the APIC mode that EN and EXTD select.
//! - [`regs`], [`Lapic`]: the register model: xAPIC MMIO offsets and x2APIC MSRs, which
//!   exist in which mode, access and reserved-bit rules, the 64-bit ICR, SELF IPI, the
//!   derived LDR, RESET/INIT, and what the switch converts or resets; [`page`]: the
//!   `KVM_GET_LAPIC`/`KVM_SET_LAPIC` page in both ID formats.
//! - `policy`: APIC ID assignment (dense, Xen, QEMU topology), whether x2APIC is
//!   needed, the CPUID leaves, MADT entries ([`madt`]) and the interrupt routing the guest
//!   needs; [`msi`]: MSI address/data in the compatibility (with the 15-bit extended
//!   destination ID) and remappable forms; [`ioapic`]: IOAPIC redirection entries in the
//!   same two forms.
//! - `lookup`: interrupt destination lookup for thousands of vCPUs.
//! - `remap`: a VT-d interrupt-remapping model (IRTE, remappable MSI and IOAPIC
//!   requests, fault reasons, the interrupt entry cache and its invalidation).
//! - `acpi` (feature `acpi`): whole MADT, SRAT and DMAR tables for a plan.
//!
//! The model follows the Intel SDM; `peers/kvm-x2apic` compares it with KVM's in-kernel
//! LAPIC and documents where KVM departs from the SDM.
//!
//! # Example
//!
//! ```
//! use x2apic_virt::lookup::{ApicState, Destination, DestinationMap};
//! use x2apic_virt::policy::{IdScheme, Plan, Routing};
//! use x2apic_virt::{Config, Fault, Initiator, Lapic, Mode};
//!
//! // 288 vCPUs: IDs above 254 need x2APIC mode before the guest runs.
//! let plan = Plan::new(288, IdScheme::Dense)?;
//! assert!(plan.needs_x2apic());
//! assert_eq!(plan.routing(), Routing::ExtendedDestinationId);
//! assert_eq!(plan.apic_base(287), 0xFEE0_0C00); // EN | EXTD at the default base
//!
//! // The VMM's host-initiated write; then the guest's view of vCPU 287.
//! let config = Config::kvm(46, true)?;
//! let mut lapics: Vec<Lapic> = (0..288)
//!     .map(|v| Lapic::new(config, plan.apic_ids()[v as usize], v == 0))
//!     .collect();
//! for (v, lapic) in (0..).zip(&mut lapics) {
//!     lapic.set_base(plan.apic_base(v), Initiator::Host)?;
//! }
//! let apic = &mut lapics[287];
//! assert_eq!(apic.mode(), Mode::X2apic);
//! assert_eq!(apic.read_msr(0x802)?, 287); // x2APIC ID
//! assert_eq!(apic.read_msr(0x80D)?, 0x11_8000); // derived LDR: cluster 17, bit 15
//! // A guest cannot go back to xAPIC directly, nor set reserved bits.
//! assert!(matches!(apic.write_msr(0x1B, 0xFEE0_0800), Err(Fault::IllegalTransition { .. })));
//! assert!(matches!(apic.write_msr(0x808, 0x100), Err(Fault::Reserved { .. })));
//!
//! // MADT: 255 type-0 entries, 33 type-9 entries, NMI entries of both kinds.
//! assert_eq!(plan.madt_bytes().len(), 255 * 8 + 33 * 16 + 6 + 12);
//!
//! // Destination lookup.
//! let states: Vec<ApicState> = lapics.iter().map(ApicState::of).collect();
//! let map = DestinationMap::build(&states);
//! let to_287 = Destination { logical: false, dest: 287, wide: true };
//! assert_eq!(map.lookup(to_287).iter().collect::<Vec<_>>(), [287]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Cargo features
//!
//! - `std` (default): links the standard library; implies `alloc`.
//! - `alloc`: the `policy` and `lookup` modules (they allocate).
//! - `acpi`: the `acpi` module, whole MADT, SRAT and DMAR tables for a plan (implies
//!   `alloc`; uses rust-vmm's `acpi_tables`).
//! - `arbitrary`: derives `arbitrary::Arbitrary` for fuzzing (implies `std`).
//! - `kvm`: the `kvm` module, rust-vmm glue: the switch plan applied to a
//!   `kvm_bindings::CpuId`, `CpuidLeaf` to and from `kvm_cpuid_entry2`, the register
//!   page as `kvm_lapic_state`, MSIs as `kvm_msi` and `kvm_irq_routing_entry`, the
//!   `IA32_APIC_BASE` write as `Msrs` (implies `std`; `kvm-bindings` 0.14).
//!
//! Without default features the crate is `no_std` without allocation: the state machine,
//! the register model, the KVM page, MADT entries and MSI decoding.
//!
//! # MSRV
//!
//! Rust 1.88.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "acpi")]
pub mod acpi;
pub mod base;
pub mod cpuid;
mod error;
pub mod icr;
pub mod ioapic;
#[cfg(feature = "kvm")]
pub mod kvm;
pub mod lapic;
#[cfg(feature = "alloc")]
pub mod lookup;
pub mod madt;
pub mod mode;
pub mod msi;
pub mod page;
#[cfg(feature = "alloc")]
pub mod paravirt;
#[cfg(feature = "alloc")]
pub mod policy;
#[cfg(test)]
mod reach;
pub mod regs;
#[cfg(feature = "alloc")]
pub mod remap;

pub use base::{ApicBase, BaseFlags, BaseRules, Initiator, Transition};
pub use error::{Error, Error as X2apicError, Fault, Result};
pub use icr::Icr;
pub use lapic::{Config, Effect, Lapic};
pub use mode::Mode;
pub use page::IdFormat;
pub use regs::{Features, Register};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
