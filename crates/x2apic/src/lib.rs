// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The xAPIC to x2APIC switch for guests with more than 255 vCPUs.
//!
//! This crate will model `IA32_APIC_BASE` and the APIC mode state machine, the x2APIC MSR
//! register file, the policy by which a VMM assigns APIC IDs and starts a large guest in
//! x2APIC mode (CPUID and MADT bytes included), and interrupt destination lookup for
//! thousands of vCPUs. Nothing is implemented yet.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;
