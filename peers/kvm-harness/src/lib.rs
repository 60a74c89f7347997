// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Test-only: the KVM plumbing the hugevm examples and the KVM peer tests share.
//!
//! The library crates under `crates/` never depend on each other; they meet in the root
//! package's `examples/` and in the peer crates under `peers/`. This unpublished crate
//! holds the small amount of KVM plumbing those share, so that the root package is only
//! examples and benchmarks and no published crate depends on `kvm-ioctls`:
//!
//! - [`kvm`]: open `/dev/kvm` (or report that it is absent), create a VM with the
//!   in-kernel irqchip and `KVM_CAP_X2APIC_API`, back guest memory with an anonymous
//!   map, and prepare real-mode vCPUs that the VMM has switched to x2APIC mode.
//! - [`asm`]: a tiny builder for the 16-bit real-mode guest programs the examples run.
//! - [`step`]: single-stepping a vCPU with `KVM_GUESTDBG_SINGLESTEP`, recording the
//!   address of every instruction it executes.
//! - [`report`]: the skip of a missing `/dev/kvm` (a failure under CI) and
//!   human-readable figures.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod asm;
pub mod kvm;
pub mod report;
pub mod step;
