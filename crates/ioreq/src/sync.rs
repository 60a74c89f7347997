// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The atomics the protocol uses: `core`'s normally, loom's under `--cfg loom`, so the
//! model test in `tests/loom.rs` explores the same code that runs in production.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};
