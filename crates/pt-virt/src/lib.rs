// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Intel Processor Trace for guests.
//!
//! Everything a hypervisor needs to give a guest Intel PT, or to emulate it in software,
//! without touching hardware:
//!
//! - [`packet`]: every packet of the current SDM as a value, a zero-allocation encoder
//!   that picks IP compressions against its last-IP state, and a decoder with libipt's
//!   (strict) and perf's (lenient) rules. Compared byte for byte with libipt 2.0.5 in the
//!   test-only crate `peers/libipt`.
//! - [`fabricate`]: the packets hardware would write for a guest's control-flow events
//!   (PSB+, TIP.PGE/PGD, PIP on CR3 writes, FUP on interrupts, MODE.Exec, TNT, OVF).
//! - [`query`]: the event layer, the fabricator's twin: packets back to control-flow
//!   events (TNT bits, branch targets, enables, interrupts, CR3 writes, modes,
//!   overflows, PSB+ status) with libipt's query-decoder rules and a time estimate;
//!   compared with libipt 2.0.5's query decoder in `peers/libipt-flow`.
//! - [`dump`]: a trace listing in libipt's `ptdump` format or as JSON lines, packets or
//!   events, into any `core::fmt::Write`; the `pt-virt` tool (feature `cli`) prints it.
//! - [`cpuid`] and [`policy`]: CPUID leaf 0x14 as typed capabilities, a guest policy no
//!   larger than the host's, and the live-migration check [`policy::migratable`].
//! - [`msr`]: the trapped `IA32_RTIT_*` MSRs of one vCPU, with a typed #GP reason for
//!   every refused access.
//! - [`mode`]: system vs host/guest mode, and what to switch on VM entry and exit.
//! - [`output`]: the guest's output buffer (ToPA tables, single range) walked over guest
//!   memory the caller classifies, with the policy's verdict.
//!
//! Guest-controlled bytes and values never panic: every problem is a typed error.
//!
//! # Cargo features
//!
//! - `std` (default): `std::error::Error` for the error types.
//! - `cli`: the `pt-virt` command-line tool (`cargo run -p pt-virt --features cli --
//!   --help`), with `clap` (implies `std`).
//! - `arbitrary`: derives `arbitrary::Arbitrary` for fuzzing (implies `std`).
//! - `kvm`: the `kvm` module, rust-vmm glue: the RTIT MSR state to and from the
//!   `kvm_bindings::Msrs` lists of `KVM_GET_MSRS`/`KVM_SET_MSRS` (implies `std`;
//!   `kvm-bindings` 0.14).
//! - `vm-memory`: the `vm_mem` module: [`output::GuestMemory`] over rust-vmm's guest
//!   memory (`vm-memory` 0.18) with the caller's MMIO and write-protected ranges
//!   (implies `std`).
//!
//! Without default features the crate is `no_std` and allocation-free.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod cpuid;
pub mod dump;
pub mod fabricate;
#[cfg(feature = "kvm")]
pub mod kvm;
pub mod mode;
pub mod msr;
pub mod output;
pub mod packet;
pub mod policy;
pub mod query;
#[cfg(feature = "vm-memory")]
pub mod vm_mem;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
