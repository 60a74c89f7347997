// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Xen's stable `ioreq_t` ABI between hypervisor and device model.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;
