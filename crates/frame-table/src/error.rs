// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The error of the on-media blocks, Linux's info block ([`crate::infoblock`]) and our
//! management superblock ([`crate::superblock`]): bytes that do not parse, or a block
//! that does not fit the namespace it was found in. The planner, the geometry, the
//! lifecycle and the builder each have their own error type in their module.

/// An on-media block that cannot be read or written, with the offending values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// A size computation overflowed 64 bits.
    #[error("arithmetic overflow computing {0}")]
    Overflow(&'static str),
}

/// Shorthand for results of the on-media blocks.
pub(crate) type Result<T> = core::result::Result<T, Error>;
