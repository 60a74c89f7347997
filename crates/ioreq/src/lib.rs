// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Xen's stable `ioreq_t` ABI between the hypervisor and a device model.
//!
//! A Xen HVM guest's port I/O, MMIO and PCI-config accesses that a device model emulates
//! travel through *ioreq servers*: one 32-byte `ioreq_t` slot per vCPU in shared pages
//! (128 slots a page, so more than 128 vCPUs need several pages), plus a buffered ring for
//! writes that need no answer. This crate is that interface, independent of any Xen
//! binding:
//!
//! - [`layout`]: the C structures byte for byte ([`Ioreq`], [`BufIoreq`]) and constants.
//! - [`Request`]: a validated request, parsed from and emitted to a raw slot; PCI-config
//!   addresses; the element walk of rep/string accesses.
//! - [`PageLayout`]: multi-page sizing, slot locations and `XENMEM_acquire_resource`
//!   frame indices for N vCPUs.
//! - [`Slot`], [`SyncPages`], [`Emulator`], [`DeviceModel`]: both sides of the synchronous
//!   protocol over shared memory, with the memory ordering Xen and QEMU use.
//! - [`BufferedRing`]: producer and consumer of the buffered ring.
//!
//! Everything read from shared memory is treated as hostile: malformed contents give an
//! [`Error`], never a panic, a hang or a lost request.
//!
//! # Example
//!
//! ```
//! use ioreq::{Direction, IoreqPage, PageLayout, Request, SyncPages};
//!
//! // 288 vCPUs need 3 synchronous pages; vCPU 287 is in resource frame 3 at offset 992.
//! let layout = PageLayout::new(288)?;
//! assert_eq!(layout.sync_pages(), 3);
//! assert_eq!(layout.locate(287)?.frame, 3);
//!
//! // In-process pages; a real device model maps the server's frames instead.
//! let pages: Vec<IoreqPage> = (0..3).map(|_| IoreqPage::default()).collect();
//! let pages = SyncPages::contiguous(layout, &pages)?;
//!
//! let read = Request::pio(Direction::Read, 0x3f8, 1, 0);
//! pages.slot(287)?.post(&read)?;                       // emulator side
//! let request = pages.slot(287)?.take()?.expect("posted"); // device-model side
//! pages.slot(287)?.complete(u64::from(b'A'))?;
//! assert_eq!(pages.slot(287)?.poll_response()?, Some(0x41));
//! # assert_eq!(request.addr, 0x3f8);
//! # Ok::<(), ioreq::IoreqError>(())
//! ```
//!
//! # Cargo features
//!
//! - `std` (default): links the standard library; nothing else changes.
//! - `arbitrary`: derives `arbitrary::Arbitrary` for the request enums and [`BufRequest`]
//!   (implies `std`).
//!
//! # Unsafe code
//!
//! Only `shared`, which lays the page types over memory mapped elsewhere; every other
//! access is through atomics. Under `--cfg loom` the atomics are loom's, for the model
//! test in `tests/loom.rs`.
//!
//! # MSRV
//!
//! Rust 1.88.
#![no_std]
#![deny(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

mod buffered;
mod cell;
mod error;
pub mod layout;
mod protocol;
#[cfg(test)]
mod reach;
mod request;
#[cfg(not(loom))]
mod shared;
mod sizing;
mod sync;

pub use buffered::{BUF_ADDR_MAX, BufRequest, BufferedRing, Canonicalise};
pub use cell::{BufferedPage, IoreqPage, SlotCell};
pub use error::{Error, Error as IoreqError, Result};
pub use layout::{BufIoreq, Ioreq};
pub use protocol::{DeviceModel, Emulator, Notify, Slot, SyncPages};
pub use request::{Direction, Element, Elements, PciConfigAddress, Request, RequestType, State};
pub use sizing::{MAX_VCPUS, PageLayout, SlotLocation};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
