// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Read, validate and write NVDIMM label storage areas (LSAs).
//!
//! This crate will parse the namespace index blocks and namespace labels of the UEFI 2.7
//! label formats (v1.1 with 128-byte labels, v1.2 with 256-byte labels) and the CXL LSA,
//! byte-compatible with Linux (`drivers/nvdimm/label.[ch]`) and ndctl, and write them with
//! the kernel's crash-safe update order (new label, then the inactive index block, then
//! the old slot freed). Nothing is implemented yet.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;
