// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The xAPIC to x2APIC switch for guests with more than 255 vCPUs.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod base;
mod error;
pub mod icr;
pub mod lapic;
pub mod madt;
pub mod msi;
pub mod page;
#[cfg(feature = "alloc")]
pub mod policy;
pub mod regs;

pub use base::{ApicBase, BaseRules, Initiator, Mode, Transition};
pub use error::{Error, Fault, Result};
pub use icr::Icr;
pub use lapic::{Config, Effect, Lapic};
pub use page::IdFormat;
pub use regs::{Features, Register};
