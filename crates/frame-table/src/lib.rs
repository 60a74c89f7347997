// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Where the frame table for terabytes of persistent memory lives, and how it is built.
//!
//! Persistent memory comes in terabytes per host, and its per-page metadata (Xen's
//! 32-byte `page_info` plus 8 bytes of M2P per 4 KiB page, Linux's 64-byte `struct page`)
//! plus the page tables that map it can eat the host's DRAM. This crate answers the Xen
//! Summit 2018 design question "where to put the frame table?" and carries the answer out:
//!
//! - [`plan`]: the planner. For DRAM, a management superblock, or inside each namespace
//!   (Linux `--map=dev`), it computes table bytes and offsets, the aligned data area
//!   (`dataoff`, `end_trunc`), DRAM and pmem used, and paging-structure bytes at 4 KiB,
//!   2 MiB and 1 GiB leaves; [`recommend`] chooses one and says why. Pure checked
//!   arithmetic, O(number of namespaces).
//! - [`infoblock`]: Linux's fsdax/devdax info block (`struct nd_pfn_sb`): parse, emit,
//!   create as `nd_pfn_init` does, validate as `nd_pfn_validate` does.
//!   [`infoblock::geometry`] is `nd_pfn_init`'s arithmetic, which the planner's
//!   per-namespace strategy shares.
//! - [`superblock`]: our versioned, checksummed management superblock for strategy (a),
//!   and [`MGMT_CLAIM_GUID`] for the namespace label that claims it.
//! - [`paging`]: the paging-structure cost model (page tables to map pmem and tables).
//! - [`layout`]: the on-media structures byte for byte, and the sizes every module uses.
//! - [`lifecycle`]: raw → initialised → active → mapped/unmapped per pmem range, with
//!   activation refused while the management domain still maps the range.
//! - [`builder`]: writes one descriptor per data page into a mapped range, with a
//!   progress callback.
//! - [`checksum`]: Linux's `nd_fletcher64`, used by every on-media block here.
//!
//! # Example
//!
//! ```
//! use frame_table::{CostModel, Namespace, PageSizes, Request, Strategy, plan};
//!
//! // Linux's in-namespace memmap for a 1 TiB namespace at 16 MiB alignment
//! // (the `ndctl write-infoblock -s 1T` example): dataoff 16 GiB + 16 MiB.
//! let ns = [Namespace { base: 0, size: 1 << 40, align: 16 << 20 }];
//! let req = Request {
//!     namespaces: &ns,
//!     cost: CostModel::LINUX,
//!     dram_budget: 0,
//!     page_sizes: PageSizes::all(),
//!     compat_align: 2 << 20,
//!     management: None,
//! };
//! let layout = plan::layouts(req, Strategy::PerNamespace)?.next().unwrap()?;
//! assert_eq!(layout.data_offset, 17_196_646_400);
//! assert_eq!(layout.data_pages, 264_237_056);
//! # Ok::<(), frame_table::PlanError>(())
//! ```
//!
//! # Errors
//!
//! One error type per concern, each in its module and re-exported here with a prefix:
//! [`PlanError`] (a request the planner cannot satisfy), [`GeometryError`] (a namespace
//! `nd_pfn_init` cannot lay out), [`MediaError`] (an info block or superblock that does
//! not parse or does not fit), [`LifecycleError`] (a refused lifecycle event) and
//! [`BuildError`] (a table that cannot be built or does not verify).
//!
//! # Cargo features
//!
//! - `std` (default): links the standard library; nothing else changes.
//! - `arbitrary`: derives `arbitrary::Arbitrary` for fuzzing (implies `std`).
//!
//! # MSRV
//!
//! Rust 1.88.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "std", test))]
extern crate std;

mod arith;
pub mod builder;
pub mod checksum;
mod error;
pub mod infoblock;
pub mod layout;
pub mod lifecycle;
pub mod paging;
pub mod plan;
pub mod superblock;

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use builder::{Build, Error as BuildError, Progress};
pub use error::Error as MediaError;
pub use infoblock::geometry::{Error as GeometryError, PfnGeometry};
pub use infoblock::{InitParams, NamespaceGeometry, Personality, PfnInfo, PfnMode};
pub use layout::{MGMT_CLAIM_GUID, MGMT_CLAIM_GUID_BYTES};
pub use lifecycle::{Error as LifecycleError, Event, GuestId, Lifecycle, State};
pub use paging::{PageSizes, Paging, PagingCost};
pub use plan::{
    CostModel, Error as PlanError, Medium, Namespace, NamespaceLayout, Plan, Reason,
    Recommendation, Request, Role, Strategy, TableLocation, recommend,
};
pub use superblock::{Header as SuperblockHeader, Range as SuperblockRange, Superblock};
