// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The crate's error type: why an area cannot be read, or an update cannot be made.
//! Every variant carries the offending values; an update that returns an error before
//! its first write has left the area untouched.

use crate::index::NoValidIndex;
use crate::label::EmitError;
use crate::uuid::Uuid;

/// An error from this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither index block is valid (Linux treats the area as uninitialized).
    #[error(transparent)]
    NoValidIndex(#[from] NoValidIndex),
    /// The area size admits no index for the requested label size.
    #[error("an area of {config_size} bytes is too small for {label_size}-byte labels")]
    AreaTooSmall {
        /// Area size.
        config_size: u64,
        /// Label size.
        label_size: u64,
    },
    /// No namespace with this UUID.
    #[error("no namespace {0}")]
    NoSuchNamespace(Uuid),
    /// A namespace with this UUID already exists.
    #[error("namespace {0} already exists")]
    NamespaceExists(Uuid),
    /// The update needs more free slots than there are (one is always kept spare, as
    /// Linux does, for create).
    #[error("{needed} free label slots needed, {free} free")]
    NoFreeSlot {
        /// Slots the update needs.
        needed: u32,
        /// Free slots.
        free: u32,
    },
    /// The requested extent does not fit the DPA window, or overlaps another namespace.
    #[error("no room for {size:#x} bytes at {dpa:#x} in the DPA window")]
    NoSpace {
        /// Requested (or first candidate) DPA.
        dpa: u64,
        /// Requested size.
        size: u64,
    },
    /// Size or DPA not a multiple of the required alignment, or zero.
    #[error("size {size:#x} / dpa {dpa:#x} not a non-zero multiple of {align:#x}")]
    Misaligned {
        /// DPA.
        dpa: u64,
        /// Size.
        size: u64,
        /// Required alignment.
        align: u64,
    },
    /// The namespace has several extents on this DIMM (BLK or CXL); this writer only
    /// updates single-extent namespaces.
    #[error("namespace {0} has several extents; not supported by this writer")]
    MultiExtent(Uuid),
    /// A label could not be encoded.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}
