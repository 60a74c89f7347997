// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Where the frame table for terabytes of persistent memory lives.
//!
//! This crate will plan the placement of per-page metadata (in DRAM, in one management
//! superblock, or inside each namespace), read and write Linux's PFN/DAX info blocks and
//! our own management superblock, and model the init/activate/map/unmap lifecycle of a pmem
//! range. Nothing is implemented yet.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;
