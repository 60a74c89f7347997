// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The crate's error type: everything that can be wrong with a request, a page layout or
//! the buffered ring, each variant carrying the offending values.

/// An error from this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `state` nibble holds a value that is not a `STATE_*` constant.
    #[error("unknown ioreq state {0}")]
    UnknownState(u8),
    /// The `type` byte holds a value that is not an `IOREQ_TYPE_*` constant.
    #[error("unknown ioreq type {0}")]
    UnknownType(u8),
    /// `size` is not 1, 2, 4 or 8, or too large for the request type (PIO: at most 4;
    /// PCI config: 1, 2 or 4).
    #[error("bad access size {size} for request type {kind}")]
    BadSize {
        /// The request type byte.
        kind: u8,
        /// The size field as found.
        size: u32,
    },
    /// `count` is 0 for a PIO or MMIO access, or not 1 for a PCI-config access.
    #[error("bad repetition count {count} for request type {kind}")]
    BadCount {
        /// The request type byte.
        kind: u8,
        /// The count field as found.
        count: u32,
    },
    /// The elements of a repeated access run past the end (or, with `df`, below the start)
    /// of the 64-bit address space.
    #[error("address range from {addr:#x} ({count} x {size} bytes, df={descending}) wraps")]
    RangeWraps {
        /// The starting address (device side, or RAM side when `data_is_ptr`).
        addr: u64,
        /// Number of elements.
        count: u32,
        /// Element size in bytes.
        size: u32,
        /// The direction flag: addresses descend.
        descending: bool,
    },
    /// A vCPU count of zero, or above [`MAX_VCPUS`](crate::MAX_VCPUS).
    #[error("vCPU count {0} is outside 1..=8192")]
    BadVcpuCount(u32),
    /// A vCPU index at or past the number of vCPUs the pages were sized for.
    #[error("vCPU {vcpu} is outside the {nr_vcpus} vCPUs of this server")]
    NoSuchVcpu {
        /// The vCPU asked for.
        vcpu: u32,
        /// The number of vCPUs.
        nr_vcpus: u32,
    },
    /// A byte region is too short, or not aligned, for the pages asked of it.
    #[error("region at {addr:#x} of {len} bytes cannot hold {pages} aligned pages")]
    BadRegion {
        /// The region's start address.
        addr: usize,
        /// Its length in bytes.
        len: usize,
        /// The number of 4 KiB pages required.
        pages: usize,
    },
    /// Fewer pages were handed over than the layout needs.
    #[error("{have} pages given; the layout needs {need}")]
    TooFewPages {
        /// Pages given.
        have: usize,
        /// Pages the layout needs.
        need: usize,
    },
    /// The emulator tried to post into a slot whose state is not `NONE`.
    #[error("slot for vCPU {vcpu} is busy (state {state})")]
    SlotBusy {
        /// The vCPU whose slot it is.
        vcpu: u32,
        /// The state found.
        state: u8,
    },
    /// The state went backwards or to a value the protocol never produces at this point
    /// (Xen crashes the domain on this: "Weird HVM ioreq state").
    #[error("slot for vCPU {vcpu}: unexpected state {state}")]
    UnexpectedState {
        /// The vCPU whose slot it is.
        vcpu: u32,
        /// The state found.
        state: u8,
    },
    /// The buffered ring's pointers are inconsistent: read ahead of write, or more
    /// entries than the ring holds.
    #[error("buffered ring pointers read={read} write={write} are inconsistent")]
    BadRingPointers {
        /// `read_pointer` as found.
        read: u32,
        /// `write_pointer` as found.
        write: u32,
    },
    /// An 8-byte buffered write whose second slot is missing or does not match the first.
    #[error("incomplete quad-word buffered request at read pointer {read}")]
    IncompleteQword {
        /// `read_pointer` at the first slot of the pair.
        read: u32,
    },
    /// A buffered request that the ring format cannot carry: an address that does not
    /// fit in `buf_ioreq.addr`'s 20 bits (above 0xF_FFFF), or a `size_log2` that does not
    /// fit in its 2 bits (above 3, i.e. more than 8 bytes).
    #[error("request cannot be buffered: address {addr:#x}, size_log2 {size_log2}")]
    NotBufferable {
        /// The request's address.
        addr: u64,
        /// The request's `size_log2`.
        size_log2: u8,
    },
    /// The buffered ring has no room for the request.
    #[error("buffered ring is full")]
    RingFull,
    /// The other side kept changing the ring header; gave up after a bounded number of
    /// attempts rather than spin forever.
    #[error("buffered ring header changed on every one of {0} attempts")]
    RingContended(u32),
}

/// Shorthand for results of this crate.
pub type Result<T> = core::result::Result<T, Error>;
