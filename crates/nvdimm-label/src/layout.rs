// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The on-media structures of a label storage area, byte for byte, and their constants.
//!
//! Field names follow Linux `drivers/nvdimm/label.h` (`struct nd_namespace_index`,
//! `struct nvdimm_efi_label`, `struct nvdimm_cxl_label`, `struct cxl_region_label`) and
//! `drivers/nvdimm/pfn.h` / `btt.h` for the info blocks. All integers are little-endian.
//! Sizes and every field offset are asserted at compile time next to each structure.

use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::uuid::{Guid, Uuid};

/// `NSINDEX_SIGNATURE`: the 16 signature bytes of an index block ("NAMESPACE_INDEX" and
/// one NUL). Source: Linux `drivers/nvdimm/label.h`; UEFI 2.7 §13.19 `EFI_NVDIMM_LABEL_INDEX_SIG`.
pub const NSINDEX_SIGNATURE: [u8; 16] = *b"NAMESPACE_INDEX\0";

/// `NSINDEX_ALIGN`: index blocks are a multiple of 256 bytes. Source: Linux `label.h`.
pub const NSINDEX_ALIGN: u64 = 256;

/// `NSINDEX_SEQ_MASK`: only the low two bits of `seq` count. Source: Linux `label.h`.
pub const NSINDEX_SEQ_MASK: u32 = 3;

/// `ND_LABEL_MIN_SIZE`: the smallest usable area, two 256-byte index blocks and two
/// 256-byte labels. Source: Linux `label.h` (UEFI 2.7 minimum).
pub const ND_LABEL_MIN_SIZE: usize = 256 * 4;

/// Size of a v1.1 label (`sizeof_namespace_label` for index minor 1). Source: Linux
/// `label.c` `nd_label_validate` probe list; Intel NVDIMM Namespace Specification v1.1.
pub const LABEL_SIZE_V1_1: usize = 128;

/// Size of a v1.2 (UEFI 2.7) or CXL label. Source: Linux `label.c`; UEFI 2.7 §13.19;
/// CXL 2.0 Tables 211 and 212.
pub const LABEL_SIZE_V1_2: usize = 256;

/// `NSLABEL_FLAG_ROLABEL`: read-only label. Source: Linux `label.h`; UEFI 2.7
/// `EFI_NVDIMM_LABEL_FLAGS_ROLABEL`.
pub const NSLABEL_FLAG_ROLABEL: u32 = 0x1;
/// `NSLABEL_FLAG_LOCAL`: the whole label set is on this DIMM (old BLK namespaces).
/// Source: Linux `label.h`; UEFI 2.7 `EFI_NVDIMM_LABEL_FLAGS_LOCAL`.
pub const NSLABEL_FLAG_LOCAL: u32 = 0x2;
/// `NSLABEL_FLAG_BTT`: early Linux "namespace holds a BTT" (UEFI: reserved, deprecated).
/// Source: Linux `label.h`.
pub const NSLABEL_FLAG_BTT: u32 = 0x4;
/// `NSLABEL_FLAG_UPDATING`: the label set is being updated. Source: Linux `label.h`;
/// UEFI 2.7 `EFI_NVDIMM_LABEL_FLAGS_UPDATING`; CXL 2.0 Table 212 Flags bit 3.
pub const NSLABEL_FLAG_UPDATING: u32 = 0x8;

bitflags::bitflags! {
    /// The `flags` word of a namespace or region label, as a set of the
    /// `NSLABEL_FLAG_*` bits above. Bits no specification defines are kept as found
    /// (`from_bits_retain`), so a label re-emitted from what was parsed is unchanged.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct LabelFlags: u32 {
        /// [`NSLABEL_FLAG_ROLABEL`].
        const ROLABEL = NSLABEL_FLAG_ROLABEL;
        /// [`NSLABEL_FLAG_LOCAL`].
        const LOCAL = NSLABEL_FLAG_LOCAL;
        /// [`NSLABEL_FLAG_BTT`].
        const BTT = NSLABEL_FLAG_BTT;
        /// [`NSLABEL_FLAG_UPDATING`].
        const UPDATING = NSLABEL_FLAG_UPDATING;
        // Any other bit: kept, never interpreted.
        const _ = !0;
    }
}

/// Namespace-relative offset of the pfn, dax and v1.1 BTT info blocks (`SZ_4K`).
/// Source: Linux `drivers/nvdimm/pfn_devs.c` (`nd_pfn_validate`), `btt_devs.c`
/// (`nd_btt_probe`).
pub const INFO_BLOCK_OFFSET: usize = 4096;
/// Size of a pfn, dax or BTT info block. Source: Linux `pfn.h` (`struct nd_pfn_sb`),
/// `btt.h` (`struct btt_sb`).
pub const INFO_BLOCK_SIZE: usize = 4096;
/// `PFN_SIG`: signature of an fsdax info block. Source: Linux `drivers/nvdimm/pfn.h`.
pub const PFN_SIG: [u8; 16] = *b"NVDIMM_PFN_INFO\0";
/// `DAX_SIG`: signature of a devdax info block. Source: Linux `drivers/nvdimm/pfn.h`.
pub const DAX_SIG: [u8; 16] = *b"NVDIMM_DAX_INFO\0";
/// `BTT_SIG`: signature of a BTT arena info block ("BTT_ARENA_INFO" and two NULs).
/// Source: Linux `drivers/nvdimm/btt.h`.
pub const BTT_SIG: [u8; 16] = *b"BTT_ARENA_INFO\0\0";

/// BTT claim class (v1.1 BTT, info block at 4 KiB): `8aed63a2-29a2-4c66-8b12-f05d15d3922a`.
/// Source: Linux `include/linux/nd.h` / `label.h` `NVDIMM_BTT_GUID`.
pub const NVDIMM_BTT_GUID: Guid = Guid::from_canonical(
    0x8aed63a2,
    0x29a2,
    0x4c66,
    [0x8b, 0x12, 0xf0, 0x5d, 0x15, 0xd3, 0x92, 0x2a],
);
/// BTT2 claim class (v2.0 BTT, info block at 0): `18633bfc-1735-4217-8ac9-17239282d3f8`.
/// Source: Linux `label.h` `NVDIMM_BTT2_GUID`.
pub const NVDIMM_BTT2_GUID: Guid = Guid::from_canonical(
    0x18633bfc,
    0x1735,
    0x4217,
    [0x8a, 0xc9, 0x17, 0x23, 0x92, 0x82, 0xd3, 0xf8],
);
/// PFN (fsdax) claim class: `266400ba-fb9f-4677-bcb0-968f11d0d225`.
/// Source: Linux `label.h` `NVDIMM_PFN_GUID`.
pub const NVDIMM_PFN_GUID: Guid = Guid::from_canonical(
    0x266400ba,
    0xfb9f,
    0x4677,
    [0xbc, 0xb0, 0x96, 0x8f, 0x11, 0xd0, 0xd2, 0x25],
);
/// DAX (devdax) claim class: `97a86d9c-3cdd-4eda-986f-5068b4f80088`.
/// Source: Linux `label.h` `NVDIMM_DAX_GUID`.
pub const NVDIMM_DAX_GUID: Guid = Guid::from_canonical(
    0x97a86d9c,
    0x3cdd,
    0x4eda,
    [0x98, 0x6f, 0x50, 0x68, 0xb4, 0xf8, 0x00, 0x88],
);
/// hugevm's own claim class, `e06a9a22-b168-4af0-add2-11f02c52b96c`: a namespace whose
/// contents a hypervisor manages (for example a frame table in its first bytes). Linux
/// treats any unknown abstraction GUID as `NVDIMM_CCLASS_UNKNOWN` and exposes the
/// namespace raw, but does not keep it when it rewrites the label (Linux 6.1 writes a
/// zero GUID on rename; `tests/linux_qemu.rs`). Source: this crate (a random version-4 UUID
/// generated for hugevm); the `frame-table` crate documents the same value.
pub const HUGEVM_CLAIM_GUID: Guid = Guid::from_canonical(
    0xe06a9a22,
    0xb168,
    0x4af0,
    [0xad, 0xd2, 0x11, 0xf0, 0x2c, 0x52, 0xb9, 0x6c],
);
/// NFIT "Persistent Memory" SPA range type, the `type_guid` of pmem labels:
/// `66f0d379-b4f3-4074-ac43-0d3318b78cdb`. Source: ACPI 6.x Table 5-129; Linux
/// `include/acpi/acuuid.h` `UUID_PERSISTENT_MEMORY`.
pub const PMEM_TYPE_GUID: Guid = Guid::from_canonical(
    0x66f0d379,
    0xb4f3,
    0x4074,
    [0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb],
);
/// NFIT "NVDIMM Block Data Window" SPA range type (old BLK namespaces):
/// `91af0530-5d86-470e-a6b0-0a2db9408249`. Source: ACPI 6.x Table 5-129 (SPA Range
/// Structure, Address Range Type GUIDs).
pub const BLK_TYPE_GUID: Guid = Guid::from_canonical(
    0x91af0530,
    0x5d86,
    0x470e,
    [0xa6, 0xb0, 0x0a, 0x2d, 0xb9, 0x40, 0x82, 0x49],
);
/// `CXL_NAMESPACE_UUID`: type of a CXL namespace label, `68bb2c0a-5a77-4937-9f85-3caf41a0f93c`
/// (RFC 4122 byte order on media). Source: CXL 2.0 §9.13.2.5 Table 212; Linux `label.c`.
pub const CXL_NAMESPACE_UUID: Uuid = Uuid::from_canonical(
    0x68bb2c0a,
    0x5a77,
    0x4937,
    [0x9f, 0x85, 0x3c, 0xaf, 0x41, 0xa0, 0xf9, 0x3c],
);
/// `CXL_REGION_UUID`: type of a CXL region label, `529d7c61-da07-47c4-a93f-ecdf2c06f444`.
/// Source: CXL 2.0 §9.13.2.4 Table 211; Linux `label.c`.
pub const CXL_REGION_UUID: Uuid = Uuid::from_canonical(
    0x529d7c61,
    0xda07,
    0x47c4,
    [0xa9, 0x3f, 0xec, 0xdf, 0x2c, 0x06, 0xf4, 0x44],
);

/// `struct nd_namespace_index` without its trailing free bitmap (72 bytes). The bitmap
/// follows at offset 72: bit `i` set means slot `i` is free (little-endian bit order).
/// Source: Linux `drivers/nvdimm/label.h`; UEFI 2.7 `EFI_NVDIMM_LABEL_INDEX_BLOCK`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NamespaceIndex {
    /// `NAMESPACE_INDEX\0`.
    pub sig: [u8; 16],
    /// Reserved, zero.
    pub flags: [u8; 3],
    /// v1.2+: label size is `128 << labelsize`.
    pub labelsize: u8,
    /// Sequence number; low two bits cycle 1 → 2 → 3 → 1.
    pub seq: U32,
    /// Offset of this block in the area.
    pub myoff: U64,
    /// Size of this block.
    pub mysize: U64,
    /// Offset of the other block.
    pub otheroff: U64,
    /// Offset of slot 0.
    pub labeloff: U64,
    /// Number of label slots.
    pub nslot: U32,
    /// Major version: 1 (UEFI) or 2 (CXL LSA 2.1).
    pub major: U16,
    /// Minor version: 1 (v1.1), 2 (v1.2), 1 (CXL 2.1).
    pub minor: U16,
    /// Fletcher64 of the whole block with this field zero.
    pub checksum: U64,
}
/// Size of [`NamespaceIndex`], where the free bitmap starts.
pub const INDEX_HEADER_SIZE: usize = 72;
const _: () = {
    assert!(size_of::<NamespaceIndex>() == INDEX_HEADER_SIZE);
    assert!(offset_of!(NamespaceIndex, flags) == 16);
    assert!(offset_of!(NamespaceIndex, labelsize) == 19);
    assert!(offset_of!(NamespaceIndex, seq) == 20);
    assert!(offset_of!(NamespaceIndex, myoff) == 24);
    assert!(offset_of!(NamespaceIndex, mysize) == 32);
    assert!(offset_of!(NamespaceIndex, otheroff) == 40);
    assert!(offset_of!(NamespaceIndex, labeloff) == 48);
    assert!(offset_of!(NamespaceIndex, nslot) == 56);
    assert!(offset_of!(NamespaceIndex, major) == 60);
    assert!(offset_of!(NamespaceIndex, minor) == 62);
    assert!(offset_of!(NamespaceIndex, checksum) == 64);
};
/// Offset of `checksum` in an index block.
pub const INDEX_CHECKSUM_OFFSET: usize = offset_of!(NamespaceIndex, checksum);

/// The first 128 bytes of `struct nvdimm_efi_label`: the whole v1.1 label, and the
/// common part of a v1.2 label. Source: Linux `label.h`; UEFI 2.7 `EFI_NVDIMM_LABEL`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct EfiLabel {
    /// Namespace UUID, RFC 4122 byte order.
    pub uuid: [u8; 16],
    /// Optional NUL-terminated UTF-8 name.
    pub name: [u8; 64],
    /// `NSLABEL_FLAG_*`.
    pub flags: U32,
    /// Labels in the set (DIMMs in the interleave set).
    pub nlabel: U16,
    /// This label's position in the set.
    pub position: U16,
    /// Interleave-set cookie (UEFI `SetCookie`).
    pub isetcookie: U64,
    /// Logical block size.
    pub lbasize: U64,
    /// DIMM physical address of this label's extent.
    pub dpa: U64,
    /// Bytes of DPA in this extent.
    pub rawsize: U64,
    /// The slot this label occupies.
    pub slot: U32,
    /// UEFI `Alignment` (v1.2); part of `unused` in v1.1.
    pub align: u8,
    /// Reserved, zero.
    pub reserved: [u8; 3],
}
const _: () = {
    assert!(size_of::<EfiLabel>() == LABEL_SIZE_V1_1);
    assert!(offset_of!(EfiLabel, name) == 16);
    assert!(offset_of!(EfiLabel, flags) == 80);
    assert!(offset_of!(EfiLabel, nlabel) == 84);
    assert!(offset_of!(EfiLabel, position) == 86);
    assert!(offset_of!(EfiLabel, isetcookie) == 88);
    assert!(offset_of!(EfiLabel, lbasize) == 96);
    assert!(offset_of!(EfiLabel, dpa) == 104);
    assert!(offset_of!(EfiLabel, rawsize) == 112);
    assert!(offset_of!(EfiLabel, slot) == 120);
    assert!(offset_of!(EfiLabel, align) == 124);
    assert!(offset_of!(EfiLabel, reserved) == 125);
};

/// A v1.2 label (256 bytes): [`EfiLabel`] then the type and abstraction GUIDs and a
/// checksum. Source: Linux `label.h` `struct nvdimm_efi_label`; UEFI 2.7 `EFI_NVDIMM_LABEL`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct EfiLabelV1_2 {
    /// The v1.1 fields.
    pub base: EfiLabel,
    /// NFIT SPA range type GUID (EFI mixed-endian byte order).
    pub type_guid: [u8; 16],
    /// Claim class GUID (EFI mixed-endian byte order).
    pub abstraction_guid: [u8; 16],
    /// Reserved, zero.
    pub reserved2: [u8; 88],
    /// Fletcher64 of the 256 bytes with this field zero.
    pub checksum: U64,
}
const _: () = {
    assert!(size_of::<EfiLabelV1_2>() == LABEL_SIZE_V1_2);
    assert!(offset_of!(EfiLabelV1_2, type_guid) == 128);
    assert!(offset_of!(EfiLabelV1_2, abstraction_guid) == 144);
    assert!(offset_of!(EfiLabelV1_2, reserved2) == 160);
    assert!(offset_of!(EfiLabelV1_2, checksum) == 248);
};
/// Offset of `checksum` in a v1.2 or CXL label.
pub const LABEL_CHECKSUM_OFFSET: usize = offset_of!(EfiLabelV1_2, checksum);

/// CXL namespace label (256 bytes). Source: CXL 2.0 §9.13.2.5 Table 212; Linux
/// `label.h` `struct nvdimm_cxl_label`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CxlNamespaceLabel {
    /// [`CXL_NAMESPACE_UUID`].
    pub r#type: [u8; 16],
    /// Namespace UUID.
    pub uuid: [u8; 16],
    /// Optional NUL-terminated UTF-8 name.
    pub name: [u8; 64],
    /// Only `NSLABEL_FLAG_UPDATING` is defined.
    pub flags: U32,
    /// Number of discontiguous DPA ranges of the namespace.
    pub nrange: U16,
    /// Position of this label among the namespace's labels.
    pub position: U16,
    /// DIMM physical address of this range.
    pub dpa: U64,
    /// Bytes in this range.
    pub rawsize: U64,
    /// The slot this label occupies.
    pub slot: U32,
    /// Alignment in 256 MiB units.
    pub align: U32,
    /// UUID of the region (host interleave set).
    pub region_uuid: [u8; 16],
    /// Claim class, RFC 4122 byte order.
    pub abstraction_uuid: [u8; 16],
    /// Logical block size.
    pub lbasize: U16,
    /// Reserved, zero.
    pub reserved: [u8; 86],
    /// Fletcher64 of the 256 bytes with this field zero.
    pub checksum: U64,
}
const _: () = {
    assert!(size_of::<CxlNamespaceLabel>() == LABEL_SIZE_V1_2);
    assert!(offset_of!(CxlNamespaceLabel, uuid) == 16);
    assert!(offset_of!(CxlNamespaceLabel, name) == 32);
    assert!(offset_of!(CxlNamespaceLabel, flags) == 96);
    assert!(offset_of!(CxlNamespaceLabel, nrange) == 100);
    assert!(offset_of!(CxlNamespaceLabel, position) == 102);
    assert!(offset_of!(CxlNamespaceLabel, dpa) == 104);
    assert!(offset_of!(CxlNamespaceLabel, rawsize) == 112);
    assert!(offset_of!(CxlNamespaceLabel, slot) == 120);
    assert!(offset_of!(CxlNamespaceLabel, align) == 124);
    assert!(offset_of!(CxlNamespaceLabel, region_uuid) == 128);
    assert!(offset_of!(CxlNamespaceLabel, abstraction_uuid) == 144);
    assert!(offset_of!(CxlNamespaceLabel, lbasize) == 160);
    assert!(offset_of!(CxlNamespaceLabel, reserved) == 162);
    assert!(offset_of!(CxlNamespaceLabel, checksum) == 248);
};

/// CXL region label (256 bytes). Source: CXL 2.0 §9.13.2.4 Table 211; Linux `label.h`
/// `struct cxl_region_label`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CxlRegionLabel {
    /// [`CXL_REGION_UUID`].
    pub r#type: [u8; 16],
    /// Region UUID.
    pub uuid: [u8; 16],
    /// Only `NSLABEL_FLAG_UPDATING` is defined.
    pub flags: U32,
    /// Labels in the region (interleave ways).
    pub nlabel: U16,
    /// This device's position in the region.
    pub position: U16,
    /// DIMM physical address of this device's part.
    pub dpa: U64,
    /// Bytes of this device's part.
    pub rawsize: U64,
    /// Host physical address of the region.
    pub hpa: U64,
    /// The slot this label occupies.
    pub slot: U32,
    /// Interleave granularity: `(1 << ig) * 256` bytes.
    pub ig: U32,
    /// Alignment in 256 MiB units.
    pub align: U32,
    /// Reserved, zero.
    pub reserved: [u8; 172],
    /// Fletcher64 of the 256 bytes with this field zero.
    pub checksum: U64,
}
const _: () = {
    assert!(size_of::<CxlRegionLabel>() == LABEL_SIZE_V1_2);
    assert!(offset_of!(CxlRegionLabel, uuid) == 16);
    assert!(offset_of!(CxlRegionLabel, flags) == 32);
    assert!(offset_of!(CxlRegionLabel, nlabel) == 36);
    assert!(offset_of!(CxlRegionLabel, position) == 38);
    assert!(offset_of!(CxlRegionLabel, dpa) == 40);
    assert!(offset_of!(CxlRegionLabel, rawsize) == 48);
    assert!(offset_of!(CxlRegionLabel, hpa) == 56);
    assert!(offset_of!(CxlRegionLabel, slot) == 64);
    assert!(offset_of!(CxlRegionLabel, ig) == 68);
    assert!(offset_of!(CxlRegionLabel, align) == 72);
    assert!(offset_of!(CxlRegionLabel, reserved) == 76);
    assert!(offset_of!(CxlRegionLabel, checksum) == 248);
};

/// The first 88 bytes of `struct nd_pfn_sb` (fsdax and devdax info blocks), as far as
/// `align`: what [`classify`](crate::classify) reads to name a namespace's personality
/// and report its geometry. The block is 4096 bytes with a Fletcher64 at
/// [`INFO_BLOCK_CHECKSUM_OFFSET`]. Source: Linux `drivers/nvdimm/pfn.h`.
///
/// The full block and its rules (`nd_pfn_init`, `nd_pfn_validate`, the version
/// back-fill of later fields) belong to the `frame-table` crate, which creates and
/// validates info blocks; this crate only recognises them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct PfnSb {
    /// [`PFN_SIG`] or [`DAX_SIG`].
    pub signature: [u8; 16],
    /// Personality UUID.
    pub uuid: [u8; 16],
    /// UUID of the namespace holding the block.
    pub parent_uuid: [u8; 16],
    /// Zero.
    pub flags: U32,
    /// 1.
    pub version_major: U16,
    /// 0..=4.
    pub version_minor: U16,
    /// Offset of the first data byte from the namespace start.
    pub dataoff: U64,
    /// Number of data pages.
    pub npfns: U64,
    /// 1: memmap in RAM; 2: memmap in the namespace.
    pub mode: U32,
    /// Minor ≥ 1: deprecated start padding.
    pub start_pad: U32,
    /// Minor ≥ 1: bytes cut from the end.
    pub end_trunc: U32,
    /// Minor ≥ 2: mapping alignment.
    pub align: U32,
}
const _: () = {
    assert!(size_of::<PfnSb>() == 88);
    assert!(offset_of!(PfnSb, uuid) == 16);
    assert!(offset_of!(PfnSb, parent_uuid) == 32);
    assert!(offset_of!(PfnSb, flags) == 48);
    assert!(offset_of!(PfnSb, version_major) == 52);
    assert!(offset_of!(PfnSb, version_minor) == 54);
    assert!(offset_of!(PfnSb, dataoff) == 56);
    assert!(offset_of!(PfnSb, npfns) == 64);
    assert!(offset_of!(PfnSb, mode) == 72);
    assert!(offset_of!(PfnSb, start_pad) == 76);
    assert!(offset_of!(PfnSb, end_trunc) == 80);
    assert!(offset_of!(PfnSb, align) == 84);
};
/// Offset of the Fletcher64 in a pfn, dax or BTT info block. Source: Linux `pfn.h`
/// (`checksum` after `padding[3994]`), `btt.h` (after `padding[3968]`).
pub const INFO_BLOCK_CHECKSUM_OFFSET: usize = 4088;

/// The first 64 bytes of `struct btt_sb` (BTT arena info block, 4096 bytes), as far as
/// `external_nlba`: what [`classify`](crate::classify) reads. Source: Linux
/// `drivers/nvdimm/btt.h`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct BttSb {
    /// [`BTT_SIG`].
    pub signature: [u8; 16],
    /// BTT UUID.
    pub uuid: [u8; 16],
    /// UUID of the namespace (or zero).
    pub parent_uuid: [u8; 16],
    /// Bit 0: arena in error state.
    pub flags: U32,
    /// 1 (BTT v1.1) or 2 (BTT v2.0).
    pub version_major: U16,
    /// 1 (v1.1) or 0 (v2.0).
    pub version_minor: U16,
    /// Sector size seen by users.
    pub external_lbasize: U32,
    /// Sectors seen by users.
    pub external_nlba: U32,
}
const _: () = {
    assert!(size_of::<BttSb>() == 64);
    assert!(offset_of!(BttSb, flags) == 48);
    assert!(offset_of!(BttSb, version_major) == 52);
    assert!(offset_of!(BttSb, external_lbasize) == 56);
    assert!(offset_of!(BttSb, external_nlba) == 60);
};
