// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The crate's error type: every impossible plan, malformed block, illegal lifecycle step
//! and bad build request, each variant carrying the offending values.

use crate::lifecycle::{Event, State};

/// An error from this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A plan was asked for with no namespaces.
    #[error("no namespaces to plan for")]
    NoNamespaces,
    /// The descriptor size is zero, not a power of two, or above 4096 bytes.
    #[error("descriptor size {0} is not a power of two in 1..=4096")]
    BadDescriptorSize(u64),
    /// The reverse-map entry size is not 0 or a power of two up to 4096 bytes.
    #[error("reverse-map entry size {0} is not 0 or a power of two up to 4096")]
    BadReverseMapEntry(u64),
    /// The set of mapping page sizes does not contain 4 KiB.
    #[error("the mapping page sizes must include 4 KiB")]
    NoBasePageSize,
    /// An alignment is not a power of two of at least 4 KiB.
    #[error("namespace {index}: alignment {align:#x} is not a power of two >= 4 KiB")]
    BadAlign {
        /// Index of the namespace (or `usize::MAX` for the request's compat alignment).
        index: usize,
        /// The alignment asked for.
        align: u64,
    },
    /// A namespace's base is not aligned as the strategy requires.
    #[error("namespace {index}: base {base:#x} is not aligned to {align:#x}")]
    MisalignedBase {
        /// Index of the namespace.
        index: usize,
        /// Its base address.
        base: u64,
        /// The required alignment.
        align: u64,
    },
    /// A namespace is empty or smaller than one page.
    #[error("namespace {index}: size {size:#x} is below one page")]
    EmptyNamespace {
        /// Index of the namespace.
        index: usize,
        /// Its size.
        size: u64,
    },
    /// Namespaces must be sorted by base and must not overlap.
    #[error("namespace {index} at {base:#x} starts before the previous one ends at {prev_end:#x}")]
    Unsorted {
        /// Index of the namespace.
        index: usize,
        /// Its base address.
        base: u64,
        /// End of the previous namespace.
        prev_end: u64,
    },
    /// After metadata and alignment, a namespace has no data page left.
    #[error(
        "namespace {index} of {size:#x} bytes has no data left after {overhead:#x} bytes of metadata and alignment"
    )]
    NamespaceTooSmall {
        /// Index of the namespace.
        index: usize,
        /// Its size.
        size: u64,
        /// Bytes the strategy takes before any data page.
        overhead: u64,
    },
    /// The management-superblock strategy was asked for without a management namespace.
    #[error("the management-superblock strategy needs a management namespace")]
    NoManagementNamespace,
    /// The management namespace index is out of range, or it is the only namespace.
    #[error("management namespace index {index} is not usable with {count} namespaces")]
    BadManagementIndex {
        /// The index given.
        index: usize,
        /// The number of namespaces.
        count: usize,
    },
    /// The management namespace cannot hold every data namespace's table.
    #[error("the management namespace holds {available:#x} bytes but the tables need {needed:#x}")]
    ManagementTooSmall {
        /// Bytes needed from offset 0 of the management namespace.
        needed: u64,
        /// Its size.
        available: u64,
    },
    /// No strategy fits: DRAM over budget, no usable management namespace, and a
    /// namespace too small for its own table.
    #[error(
        "no strategy fits: DRAM needs {dram_needed:#x} bytes over a budget of {dram_budget:#x}"
    )]
    NothingFits {
        /// DRAM the DRAM strategy would need.
        dram_needed: u64,
        /// The budget.
        dram_budget: u64,
    },
    /// A size computation overflowed 64 bits.
    #[error("arithmetic overflow computing {0}")]
    Overflow(&'static str),

    /// A buffer is shorter than the structure read from or written to it.
    #[error("buffer of {len} bytes is shorter than the {needed} bytes needed")]
    Truncated {
        /// Its length.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The signature is not one this parser reads.
    #[error("unknown signature")]
    BadSignature,
    /// The stored checksum does not match the computed one.
    #[error("checksum {stored:#018x} does not match computed {computed:#018x}")]
    BadChecksum {
        /// The checksum as stored.
        stored: u64,
        /// The checksum computed over the block.
        computed: u64,
    },
    /// A major version this parser does not read.
    #[error("unsupported version {major}.{minor}")]
    BadVersion {
        /// `version_major`.
        major: u16,
        /// `version_minor`.
        minor: u16,
    },
    /// The PFN `mode` is not `PFN_MODE_RAM` (1) or `PFN_MODE_PMEM` (2).
    #[error("unknown pfn mode {0}")]
    BadMode(u32),
    /// Bytes that must be zero (flags, padding, reserved fields) are not.
    #[error("non-zero reserved byte at offset {offset}")]
    NonZeroReserved {
        /// Offset of the first non-zero reserved byte.
        offset: usize,
    },
    /// A field holds a value outside what its format allows.
    #[error("field {field} holds invalid value {value:#x}")]
    BadField {
        /// The field's name, as in the format.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// An info block does not fit the namespace it was found in (Linux `nd_pfn_validate`
    /// would refuse it).
    #[error("info block does not fit the namespace: {0}")]
    Geometry(&'static str),

    /// A lifecycle event that is not legal in the current state.
    #[error("event {event:?} is illegal in state {state:?}")]
    IllegalTransition {
        /// The state the range was in.
        state: State,
        /// The event refused.
        event: Event,
    },
    /// Activation refused: the management domain still has the range mapped (design
    /// notes, Xen Summit 2018: "trust that dom0 has unmapped before active").
    #[error("activation refused: the management domain still maps the range")]
    ManagementDomainMapped,

    /// A descriptor in a built frame table does not hold what the builder writes.
    #[error("descriptor {index} does not match the built contents")]
    BadDescriptor {
        /// Index of the first bad descriptor.
        index: u64,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = core::result::Result<T, Error>;
