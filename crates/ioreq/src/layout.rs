// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The raw ABI of Xen's `public/hvm/ioreq.h`: structures byte for byte, and constants.
//!
//! Field names follow the C header. Sizes and offsets are asserted at compile time; the
//! `peers/xen-abi` test compares them with the C compiler's view of the real header.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `IOREQ_READ`: the device model produces data (`dir` bit set). Source: `ioreq.h`.
pub const IOREQ_READ: u8 = 1;
/// `IOREQ_WRITE`: the guest produces data (`dir` bit clear). Source: `ioreq.h`.
pub const IOREQ_WRITE: u8 = 0;

/// `STATE_IOREQ_NONE`: the slot is free. Source: `ioreq.h`.
pub const STATE_IOREQ_NONE: u8 = 0;
/// `STATE_IOREQ_READY`: Xen has posted a request. Source: `ioreq.h`.
pub const STATE_IOREQ_READY: u8 = 1;
/// `STATE_IOREQ_INPROCESS`: the device model is handling it. Source: `ioreq.h`.
pub const STATE_IOREQ_INPROCESS: u8 = 2;
/// `STATE_IORESP_READY`: the device model has completed it. Source: `ioreq.h`.
pub const STATE_IORESP_READY: u8 = 3;

/// `IOREQ_TYPE_PIO`: port I/O; `addr` is the port. Source: `ioreq.h`.
pub const IOREQ_TYPE_PIO: u8 = 0;
/// `IOREQ_TYPE_COPY`: MMIO; `addr` is a guest physical address. Source: `ioreq.h`.
pub const IOREQ_TYPE_COPY: u8 = 1;
/// `IOREQ_TYPE_PCI_CONFIG`: PCI configuration space; `addr` is SBDF << 32 | register.
/// Source: `ioreq.h`.
pub const IOREQ_TYPE_PCI_CONFIG: u8 = 2;
/// `IOREQ_TYPE_TIMEOFFSET`: guest RTC time offset, sent through the buffered ring.
/// Source: `ioreq.h`.
pub const IOREQ_TYPE_TIMEOFFSET: u8 = 7;
/// `IOREQ_TYPE_INVALIDATE`: drop the map cache (a broadcast with count 0).
/// Source: `ioreq.h`.
pub const IOREQ_TYPE_INVALIDATE: u8 = 8;

/// `IOREQ_BUFFER_SLOT_NUM`: entries in the buffered ring (8 + 511 x 8 = 4096).
/// Source: `ioreq.h`.
pub const IOREQ_BUFFER_SLOT_NUM: u32 = 511;

/// Size of a Xen page, the unit of `XENMEM_acquire_resource`. Source: `xen/include/public/xen.h`
/// (`XEN_PAGE_SIZE` on x86 and Arm).
pub const PAGE_SIZE: usize = 4096;

/// `sizeof(ioreq_t)`. Source: `ioreq.h` (32 bytes since Xen commit dd11df9b81, 2009).
pub const IOREQ_SIZE: usize = 32;

/// `ioreq_t` slots in one page: 4096 / 32.
pub const SLOTS_PER_PAGE: usize = PAGE_SIZE / IOREQ_SIZE;

/// `XENMEM_resource_ioreq_server_frame_bufioreq`: resource frame of the buffered page.
/// Source: `xen/include/public/memory.h`.
pub const FRAME_BUFIOREQ: u64 = 0;

/// `XENMEM_resource_ioreq_server_frame_ioreq(0)`: resource frame of the first
/// synchronous page; page `n` is at `1 + n`. Source: `xen/include/public/memory.h`.
pub const FRAME_IOREQ_BASE: u64 = 1;

/// Byte 30 of `ioreq_t`, bits 3:0: `state`. Source: `ioreq.h` bitfield, x86 GCC ABI
/// (LSB first).
pub const FLAGS_STATE_MASK: u8 = 0x0f;
/// Byte 30, bit 4: `data_is_ptr`.
pub const FLAGS_DATA_IS_PTR: u8 = 0x10;
/// Byte 30, bit 5: `dir` (1 = read).
pub const FLAGS_DIR: u8 = 0x20;
/// Byte 30, bit 6: `df` (addresses descend).
pub const FLAGS_DF: u8 = 0x40;

/// `struct ioreq` (`ioreq_t`): one synchronous request slot, 32 bytes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C, align(8))]
pub struct Ioreq {
    /// `addr`: port, guest physical address, or PCI SBDF << 32 | register.
    pub addr: U64,
    /// `data`: the value, or the guest physical address of a buffer when `data_is_ptr`.
    pub data: U64,
    /// `count`: repetitions for string/rep accesses.
    pub count: U32,
    /// `size`: bytes per element.
    pub size: U32,
    /// `vp_eport`: event channel port of this vCPU (owned by Xen).
    pub vp_eport: U32,
    /// `_pad0`.
    pub _pad0: U16,
    /// The bitfield byte: `state:4, data_is_ptr:1, dir:1, df:1, _pad1:1`.
    pub flags: u8,
    /// `type`: `IOREQ_TYPE_*`.
    pub r#type: u8,
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Ioreq>() == IOREQ_SIZE);
    assert!(align_of::<Ioreq>() == 8);
    assert!(offset_of!(Ioreq, addr) == 0);
    assert!(offset_of!(Ioreq, data) == 8);
    assert!(offset_of!(Ioreq, count) == 16);
    assert!(offset_of!(Ioreq, size) == 20);
    assert!(offset_of!(Ioreq, vp_eport) == 24);
    assert!(offset_of!(Ioreq, _pad0) == 28);
    assert!(offset_of!(Ioreq, flags) == 30);
    assert!(offset_of!(Ioreq, r#type) == 31);
};

/// `struct buf_ioreq`: one buffered-ring entry, two little-endian 32-bit words.
///
/// Word 0: bits 7:0 `type`, bit 8 `pad`, bit 9 `dir`, bits 11:10 `size` (log2 of bytes),
/// bits 31:12 `addr`. Word 1: `data`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct BufIoreq {
    /// The packed `type:8, pad:1, dir:1, size:2, addr:20` word.
    pub header: U32,
    /// `data`: 32 bits of the value.
    pub data: U32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<BufIoreq>() == 8);
    assert!(offset_of!(BufIoreq, data) == 4);
};

/// `struct buffered_iopage`: the ring pointers and the 511 entries, one page. Outside
/// Xen the header declares the two pointers alone; Xen overlays them with `uint64_t
/// full` (`union bufioreq_pointers`), which [`BufferedPage`](crate::BufferedPage) uses.
#[derive(Debug, Clone, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct BufferedIopage {
    /// `read_pointer`: the consumer's running index.
    pub read_pointer: U32,
    /// `write_pointer`: the producer's running index.
    pub write_pointer: U32,
    /// `buf_ioreq`: the entries, indexed by pointer modulo 511.
    pub buf_ioreq: [BufIoreq; IOREQ_BUFFER_SLOT_NUM as usize],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(BufferedIopage, read_pointer) == 0);
    assert!(offset_of!(BufferedIopage, write_pointer) == 4);
    assert!(offset_of!(BufferedIopage, buf_ioreq) == 8);
    assert!(size_of::<BufferedIopage>() == PAGE_SIZE);
};
