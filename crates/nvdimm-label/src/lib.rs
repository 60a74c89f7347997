// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Read, validate and write NVDIMM label storage areas (LSAs).
//!
//! A DIMM's label storage area holds two namespace index blocks and an array of label
//! slots; the labels describe the namespaces carved out of the DIMM's persistent memory.
//! This crate parses and validates the UEFI 2.7 formats (v1.1 with 128-byte labels, v1.2
//! with 256-byte labels) and the CXL 2.0 LSA (index 2.1, region and namespace labels)
//! exactly as Linux (`drivers/nvdimm/label.[ch]`) and ndctl do, and writes them with the
//! kernel's crash-safe update order.
//!
//! - [`layout`]: the on-media structures byte for byte, and constants with sources.
//! - [`fletcher64`]: the kernel's checksum.
//! - [`index`]: index sizing, validation, the "newest of the two" rule.
//! - [`Label`], [`parse_label`]: one slot, parsed and emitted.
//! - [`Lsa`] (feature `alloc`): a whole area: current index, active labels,
//!   [`Namespace`]s, [`Diagnostic`]s. [`active_slots`] is the allocation-free core.
//! - [`classify`]: what a namespace holds, from its info block (BTT, fsdax, devdax, raw).
//! - [`init`], [`Writer`] (feature `alloc`): `ndctl init-labels`, and namespace create,
//!   delete, rename and resize in the kernel's crash-safe order.
//! - [`Storage`]: where an area lives (buffer, file, memory map, capped transfers).
//! - [`cookie`]: interleave-set cookies as Linux computes them from the NFIT.
//! - [`nfit`] (feature `alloc`): the NFIT, parsed, emitted and built for N DIMMs.
//! - [`methods`]: `_LSI`/`_LSR`/`_LSW` and Intel `_DSM` 4/5/6 served from a [`Storage`].
//! - `aml` (feature `acpi`): the guest's NVDIMM devices and label methods as an SSDT.
//!
//! The crate also builds the `lsa` command-line tool (feature `cli`): `dump` (human, or
//! JSON shaped like `ndctl read-labels -j`), `check`, `init`, `create`, `delete`.
//!
//! Untrusted bytes never panic: every problem is an [`Error`] or a [`Diagnostic`].
//!
//! # Example
//!
//! ```
//! use nvdimm_label::cookie::{cookie_v1_2, qemu_dimm};
//! use nvdimm_label::{ClaimClass, InitStyle, LabelVersion, Lsa, Name, NamespaceSpec, Region, Uuid, Writer, init};
//!
//! // A 128 KiB label area, as QEMU gives an emulated NVDIMM (`label-size=128K`).
//! let mut area = vec![0u8; 128 << 10];
//! init(&mut area, LabelVersion::V1_2, InitStyle::Kernel)?;
//!
//! // A 1 GiB DIMM; Linux only accepts labels carrying the region's cookie.
//! let region = Region::pmem(1 << 30, cookie_v1_2(&mut [qemu_dimm(0)]));
//! let mut writer = Writer::new(&mut area[..], region);
//! let uuid = Uuid::parse_str("3f2b8a4e-1c6d-4e8f-9a0b-5c7d2e1f4a6b").expect("uuid");
//! let spec = NamespaceSpec {
//!     claim: ClaimClass::Hugevm,
//!     ..NamespaceSpec::new(uuid, Name::new("frame-table").expect("name"), 256 << 20)
//! };
//! writer.create(&spec)?; // label into a free slot, then the other index block
//!
//! let lsa = Lsa::parse(&area)?;
//! assert_eq!(lsa.index().nslot(), 510);
//! let ns = lsa.namespaces().first().expect("one namespace");
//! assert_eq!((ns.uuid, ns.size(), ns.claim), (uuid, 256 << 20, Some(ClaimClass::Hugevm)));
//! assert!(lsa.diagnostics().is_empty());
//! # Ok::<(), nvdimm_label::Error>(())
//! ```
//!
//! # Cargo features
//!
//! - `std` (default): implies `alloc`; adds [`FileStorage`].
//! - `vm-memory`: `GuestMemoryStorage`, a label area in a region of guest memory
//!   through rust-vmm's `vm-memory` 0.18, for a VMM that emulates the NVDIMM (implies
//!   `std`).
//! - `cli`: the `lsa` tool (implies `std`; pulls in clap and serde_json, which the
//!   library itself never uses).
//! - `alloc`: [`Lsa`], namespaces and diagnostics as owned collections.
//! - `acpi`: implies `alloc`; the `aml` module and `Nfit::to_sdt` (rust-vmm
//!   `acpi_tables`).
//! - `arbitrary`: derives `arbitrary::Arbitrary` for [`LabelVersion`] (implies `std`).
//!
//! Without `alloc` the crate still validates index blocks ([`index::select`]) and walks
//! the active labels ([`active_slots`]) without allocating.
//!
//! # MSRV
//!
//! Rust 1.88.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "acpi")]
pub mod aml;
mod checksum;
pub mod cookie;
mod error;
#[cfg(feature = "vm-memory")]
mod guest;
pub mod index;
mod infoblock;
mod label;
pub mod layout;
mod lsa;
pub mod methods;
#[cfg(feature = "alloc")]
pub mod nfit;
mod storage;
mod uuid;
#[cfg(feature = "alloc")]
mod writer;

pub use checksum::{fletcher64, fletcher64_skipping};
pub use error::Error;
#[cfg(feature = "vm-memory")]
pub use guest::GuestMemoryStorage;
pub use index::{Geometry, IndexBlock, IndexFault, LabelVersion, NoValidIndex};
pub use infoblock::{CLASSIFY_BYTES, Content, PfnInfo, classify};
pub use label::{
    ClaimClass, EmitError, Label, LabelFault, LabelWarning, Name, NamespaceLabel, RegionLabel,
    decode_label, label_warnings, parse_label,
};
pub use lsa::{ActiveSlots, active_slots, free_bits_past_nslot};
#[cfg(feature = "alloc")]
pub use lsa::{
    Diagnostic, Extent, Extents, LabelIter, Labels, Lsa, Namespace, NamespaceIter, Namespaces,
};
#[cfg(feature = "std")]
pub use storage::FileStorage;
pub use storage::{MaxTransfer, Storage, StorageError, read_all, write_all};
pub use uuid::{Guid, Uuid};
#[cfg(feature = "alloc")]
pub use writer::{InitStyle, NamespaceSpec, Region, Writer, init};

/// The crate's error type under a prefixed name.
pub type NvdimmLabelError = Error;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
