// SPDX-License-Identifier: Apache-2.0 OR MIT
//! On-media structures byte for byte, and their constants.
//!
//! - [`NdPfnSb`]: Linux's `struct nd_pfn_sb` (`drivers/nvdimm/pfn.h`), the 4096-byte info
//!   block at namespace offset 4096 for fsdax (`NVDIMM_PFN_INFO`) and devdax
//!   (`NVDIMM_DAX_INFO`). Field names follow the C header.
//! - [`MgmtSbHeader`] and [`MgmtRange`]: our management superblock (see
//!   [`crate::superblock`] for the rules), also at namespace offset 4096.
//! - [`PageDesc`]: the head of every frame-table descriptor this crate builds.
//!
//! - The sizes every module shares: pages, leaf sizes, the info-block reserve, Linux's
//!   compat alignment, Xen's population group, the superblock offset.
//!
//! Sizes and offsets are asserted at compile time. All integers are little-endian.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Base page size on x86-64: the unit of a frame-table descriptor. Source: Linux
/// `PAGE_SIZE` / Xen `PAGE_SIZE` on x86.
pub const PAGE_SIZE: u64 = 4096;
/// A second-level leaf (PMD / PDE with PS=1). Source: Intel SDM vol. 3A §4.5.
pub const SIZE_2M: u64 = 2 << 20;
/// A third-level leaf (PUD / PDPTE with PS=1). Source: Intel SDM vol. 3A §4.5.
pub const SIZE_1G: u64 = 1 << 30;
/// Bytes of one paging-structure page (PT, PD, PDPT). Source: Intel SDM vol. 3A §4.5.
pub const TABLE_PAGE: u64 = 4096;
/// The bytes Linux reserves at the start of a namespace for the info block: the first
/// 4 KiB left alone plus the 4 KiB block at offset 4096 (`SZ_8K` in `nd_pfn_init`,
/// `nd_info_block_reserve()`). Source: Linux `drivers/nvdimm/pfn_devs.c`.
pub const INFO_BLOCK_RESERVE: u64 = 8192;
/// `memremap_compat_align()` on x86-64: `SUBSECTION_SIZE`, 2 MiB. Namespace starts and
/// aligned ends must be multiples of it. Source: Linux `drivers/nvdimm/pfn_devs.c`,
/// `include/linux/mmzone.h`.
pub const COMPAT_ALIGN_X86: u64 = SIZE_2M;
/// Bytes of frame table Xen populates at a time: one PDX group is `2 MiB /
/// lowest-set-bit(sizeof(page_info))` pages. Source: Xen `xen/include/xen/pdx.h`
/// (`PDX_GROUP_COUNT`).
pub const GROUP_BACKING: u64 = SIZE_2M;
/// Offset of the management superblock in its namespace (the first 4 KiB is left alone,
/// as Linux does for info blocks; ours, like [`INFO_BLOCK_OFFSET`]).
pub const SUPERBLOCK_OFFSET: u64 = 4096;

/// `PFN_SIG_LEN`. Source: Linux `drivers/nvdimm/pfn.h`.
pub const PFN_SIG_LEN: usize = 16;
/// `PFN_SIG`: fsdax info block signature. Source: Linux `drivers/nvdimm/pfn.h`.
pub const PFN_SIG: [u8; PFN_SIG_LEN] = *b"NVDIMM_PFN_INFO\0";
/// `DAX_SIG`: devdax info block signature. Source: Linux `drivers/nvdimm/pfn.h`.
pub const DAX_SIG: [u8; PFN_SIG_LEN] = *b"NVDIMM_DAX_INFO\0";
/// Size of every NVDIMM info block (`SZ_4K`, `BUILD_BUG_ON` in `nd_sb_checksum`).
/// Source: Linux `drivers/nvdimm/claim.c`.
pub const INFO_BLOCK_SIZE: usize = 4096;
/// Namespace offset of pfn/dax info blocks (`nvdimm_write_bytes(ndns, SZ_4K, ...)`).
/// Source: Linux `drivers/nvdimm/pfn_devs.c`.
pub const INFO_BLOCK_OFFSET: u64 = 4096;
/// Offset of the checksum in a 4096-byte info block (`struct nd_gen_sb`).
/// Source: Linux `drivers/nvdimm/nd.h`.
pub const INFO_BLOCK_CHECKSUM_AT: usize = 4088;
/// `PFN_MODE_RAM`: memmap in DRAM (`--map=mem`). Source: Linux `drivers/nvdimm/nd.h`.
pub const PFN_MODE_RAM: u32 = 1;
/// `PFN_MODE_PMEM`: memmap in the namespace (`--map=dev`). Source: Linux
/// `drivers/nvdimm/nd.h`.
pub const PFN_MODE_PMEM: u32 = 2;
/// `MAX_STRUCT_PAGE_SIZE`: bytes per page the kernel reserves for `struct page`.
/// Source: Linux `drivers/nvdimm/nd.h`.
pub const MAX_STRUCT_PAGE_SIZE: u16 = 64;
/// The `version_minor` current kernels write (1.4, page size fields). Source: Linux
/// `drivers/nvdimm/pfn_devs.c` (`nd_pfn_init`).
pub const PFN_VERSION_MINOR: u16 = 4;

/// `struct nd_pfn_sb`: the fsdax/devdax info block, 4096 bytes.
#[derive(Debug, Clone, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct NdPfnSb {
    /// `signature`: [`PFN_SIG`] or [`DAX_SIG`].
    pub signature: [u8; PFN_SIG_LEN],
    /// `uuid`: the personality's uuid.
    pub uuid: [u8; 16],
    /// `parent_uuid`: the namespace's uuid (zero for label-less namespaces).
    pub parent_uuid: [u8; 16],
    /// `flags`: zero (guaranteed from minor 3).
    pub flags: U32,
    /// `version_major`: 1.
    pub version_major: U16,
    /// `version_minor`: 0..=4.
    pub version_minor: U16,
    /// `dataoff`: first data byte, relative to namespace base + `start_pad`.
    pub dataoff: U64,
    /// `npfns`: data pages.
    pub npfns: U64,
    /// `mode`: [`PFN_MODE_RAM`] or [`PFN_MODE_PMEM`].
    pub mode: U32,
    /// `start_pad` (minor >= 1; deprecated, written 0).
    pub start_pad: U32,
    /// `end_trunc` (minor >= 1): bytes cut off the end for alignment.
    pub end_trunc: U32,
    /// `align` (minor >= 2): the mapping alignment.
    pub align: U32,
    /// `page_size` (minor >= 4): the creator's `PAGE_SIZE`.
    pub page_size: U32,
    /// `page_struct_size` (minor >= 4): bytes reserved per `struct page`.
    pub page_struct_size: U16,
    /// `padding`: zero (guaranteed from minor 3).
    pub padding: [u8; 3994],
    /// `checksum`: `nd_sb_checksum` of the block.
    pub checksum: U64,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<NdPfnSb>() == INFO_BLOCK_SIZE);
    assert!(offset_of!(NdPfnSb, uuid) == 16);
    assert!(offset_of!(NdPfnSb, parent_uuid) == 32);
    assert!(offset_of!(NdPfnSb, flags) == 48);
    assert!(offset_of!(NdPfnSb, version_major) == 52);
    assert!(offset_of!(NdPfnSb, version_minor) == 54);
    assert!(offset_of!(NdPfnSb, dataoff) == 56);
    assert!(offset_of!(NdPfnSb, npfns) == 64);
    assert!(offset_of!(NdPfnSb, mode) == 72);
    assert!(offset_of!(NdPfnSb, start_pad) == 76);
    assert!(offset_of!(NdPfnSb, end_trunc) == 80);
    assert!(offset_of!(NdPfnSb, align) == 84);
    assert!(offset_of!(NdPfnSb, page_size) == 88);
    assert!(offset_of!(NdPfnSb, page_struct_size) == 92);
    assert!(offset_of!(NdPfnSb, padding) == 94);
    assert!(offset_of!(NdPfnSb, checksum) == INFO_BLOCK_CHECKSUM_AT);
};

/// Signature of our management superblock. Ours (hugevm), not from any standard.
pub const MGMT_SIG: [u8; 16] = *b"HUGEVM_FT_MGMT\0\0";
/// `version_major` this crate writes and reads; readers refuse other majors.
pub const MGMT_VERSION_MAJOR: u16 = 1;
/// `version_minor` this crate writes; readers accept higher minors (fields added in
/// the reserved bytes, located through `header_size`).
pub const MGMT_VERSION_MINOR: u16 = 0;
/// Size of [`MgmtSbHeader`].
pub const MGMT_HEADER_SIZE: usize = 128;
/// Size of [`MgmtRange`].
pub const MGMT_RANGE_SIZE: usize = 32;
/// Offset of the checksum in the header; the checksum covers `sb_size` bytes.
pub const MGMT_CHECKSUM_AT: usize = 120;
/// Largest `sb_size` a reader accepts (bounds the work on hostile input): 1 MiB, room
/// for 32 764 ranges.
pub const MGMT_MAX_SB_SIZE: u32 = 1 << 20;
/// [`MgmtRange::flags`] bit: the range's table has been built.
pub const MGMT_RANGE_INITIALISED: u32 = 1 << 0;

/// Header of the management superblock, 128 bytes, followed by `nr_ranges` entries.
#[derive(Debug, Clone, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MgmtSbHeader {
    /// [`MGMT_SIG`].
    pub signature: [u8; 16],
    /// Identity of this management namespace's contents.
    pub uuid: [u8; 16],
    /// [`MGMT_VERSION_MAJOR`].
    pub version_major: U16,
    /// [`MGMT_VERSION_MINOR`] or higher.
    pub version_minor: U16,
    /// Bytes of this header; entries start here.
    pub header_size: U32,
    /// Bytes of the superblock (header, entries, zero fill), a multiple of 4096.
    pub sb_size: U32,
    /// Number of [`MgmtRange`] entries.
    pub nr_ranges: U32,
    /// Bytes of descriptor per page.
    pub descriptor_size: U32,
    /// Bytes of reverse map per page (0 for none).
    pub reverse_map_entry: U32,
    /// Generation, increased on every rewrite.
    pub seq: U64,
    /// Size of the management namespace when written.
    pub namespace_size: U64,
    /// Offset of the first table in the management namespace.
    pub table_start: U64,
    /// Zero in minor 0.
    pub reserved: [u8; 40],
    /// Fletcher64 (`nd_fletcher64`) of `sb_size` bytes with this field zero.
    pub checksum: U64,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<MgmtSbHeader>() == MGMT_HEADER_SIZE);
    assert!(offset_of!(MgmtSbHeader, uuid) == 16);
    assert!(offset_of!(MgmtSbHeader, version_major) == 32);
    assert!(offset_of!(MgmtSbHeader, version_minor) == 34);
    assert!(offset_of!(MgmtSbHeader, header_size) == 36);
    assert!(offset_of!(MgmtSbHeader, sb_size) == 40);
    assert!(offset_of!(MgmtSbHeader, nr_ranges) == 44);
    assert!(offset_of!(MgmtSbHeader, descriptor_size) == 48);
    assert!(offset_of!(MgmtSbHeader, reverse_map_entry) == 52);
    assert!(offset_of!(MgmtSbHeader, seq) == 56);
    assert!(offset_of!(MgmtSbHeader, namespace_size) == 64);
    assert!(offset_of!(MgmtSbHeader, table_start) == 72);
    assert!(offset_of!(MgmtSbHeader, reserved) == 80);
    assert!(offset_of!(MgmtSbHeader, checksum) == MGMT_CHECKSUM_AT);
};

/// One data range whose table the management namespace holds, 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MgmtRange {
    /// System physical address of the first data page.
    pub spa: U64,
    /// Data pages (4 KiB).
    pub pages: U64,
    /// Offset of the range's descriptors in the management namespace; the reverse map
    /// follows them.
    pub table_offset: U64,
    /// [`MGMT_RANGE_INITIALISED`]; other bits zero.
    pub flags: U32,
    /// Zero.
    pub reserved: U32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<MgmtRange>() == MGMT_RANGE_SIZE);
    assert!(offset_of!(MgmtRange, pages) == 8);
    assert!(offset_of!(MgmtRange, table_offset) == 16);
    assert!(offset_of!(MgmtRange, flags) == 24);
    assert!(offset_of!(MgmtRange, reserved) == 28);
};

/// The claim (abstraction) GUID for a namespace label whose namespace holds our
/// management superblock: hugevm's own claim class,
/// `e06a9a22-b168-4af0-add2-11f02c52b96c` (a random version-4 UUID, registered nowhere).
/// Linux treats an unknown abstraction GUID as `NVDIMM_CCLASS_UNKNOWN` and exposes the
/// namespace raw; it does not keep the GUID when it rewrites the label (Linux 6.1
/// `__pmem_label_update` writes a zero GUID). Source: the `nvdimm-label` crate, which
/// defines the same value as `HUGEVM_CLAIM_GUID` (the crates share no code).
pub const MGMT_CLAIM_GUID: &str = "e06a9a22-b168-4af0-add2-11f02c52b96c";

/// [`MGMT_CLAIM_GUID`] as the 16 bytes stored in a label's `abstraction_guid` field:
/// EFI GUID byte order (the first three groups little-endian). Source for the order:
/// UEFI 2.7 Appendix A (EFI_GUID), Linux `guid_t`.
pub const MGMT_CLAIM_GUID_BYTES: [u8; 16] = [
    0x22, 0x9a, 0x6a, 0xe0, 0x68, 0xb1, 0xf0, 0x4a, 0xad, 0xd2, 0x11, 0xf0, 0x2c, 0x52, 0xb9, 0x6c,
];

/// The head of a frame-table descriptor as this crate builds it; the rest of each
/// `descriptor_size` bytes is zero. Ours: a hypervisor lays its own `page_info` over it.
#[derive(Debug, Clone, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct PageDesc {
    /// Machine frame number of the page described.
    pub mfn: U64,
    /// [`PAGE_DESC_PMEM`] | [`PAGE_DESC_FREE`].
    pub flags: U64,
}

const _: () = assert!(core::mem::size_of::<PageDesc>() == 16);

/// [`PageDesc::flags`]: the page is persistent memory (Xen RFC's `PGC_pmem_page`).
pub const PAGE_DESC_PMEM: u64 = 1 << 0;
/// [`PageDesc::flags`]: the page has no owner.
pub const PAGE_DESC_FREE: u64 = 1 << 1;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    /// The stored bytes are the canonical string in EFI byte order.
    #[test]
    fn claim_guid_bytes_match_the_string() {
        let hex: std::vec::Vec<u8> = MGMT_CLAIM_GUID
            .split('-')
            .flat_map(|g| (0..g.len()).step_by(2).map(move |i| &g[i..i + 2]))
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        let mut efi = [0u8; 16];
        efi[..4].copy_from_slice(&[hex[3], hex[2], hex[1], hex[0]]);
        efi[4..6].copy_from_slice(&[hex[5], hex[4]]);
        efi[6..8].copy_from_slice(&[hex[7], hex[6]]);
        efi[8..].copy_from_slice(&hex[8..]);
        assert_eq!(efi, MGMT_CLAIM_GUID_BYTES);
    }
}
