// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Intel Processor Trace for guests.
//!
//! This crate will provide a zero-allocation packet encoder and decoder for every packet of
//! the current Intel SDM, a fabricator that writes the packets hardware would emit for an
//! event (PSB+, PIP on CR3 writes, FUP on interrupts, TIP.PGE/PGD, MODE), and the policy for
//! trapped `IA32_RTIT_*` MSR writes, ToPA output buffers and live-migration compatibility.
//! Nothing is implemented yet.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod cpuid;
pub mod fabricate;
pub mod mode;
pub mod msr;
pub mod output;
pub mod packet;
pub mod policy;
