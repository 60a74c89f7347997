// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The NFIT's structures byte for byte, and their constants.
//!
//! Field names follow ACPICA `source/include/actbl2.h` (`struct acpi_table_nfit`,
//! `acpi_nfit_system_address`, `acpi_nfit_memory_map`, `acpi_nfit_control_region`,
//! `acpi_nfit_flush_address`), which Linux copies into `include/acpi/actbl2.h`; the
//! structures are those of ACPI 6.4 §5.2.25. All integers are little-endian. Sizes and
//! every field offset are asserted at compile time next to each structure.

use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::uuid::Guid;

/// The table signature. Source: ACPICA `actbl2.h` `ACPI_SIG_NFIT`; ACPI 6.4 §5.2.25.
pub const NFIT_SIGNATURE: [u8; 4] = *b"NFIT";

/// The NFIT revision ACPI 6.x defines (and QEMU writes). Source: ACPI 6.4 Table 5.128.
pub const NFIT_REVISION: u8 = 1;

/// Structure type of a System Physical Address (SPA) Range. Source: ACPICA `actbl2.h`
/// `ACPI_NFIT_TYPE_SYSTEM_ADDRESS`.
pub const NFIT_TYPE_SYSTEM_ADDRESS: u16 = 0;
/// Structure type of an NVDIMM Region Mapping (memory device to SPA range). Source:
/// ACPICA `actbl2.h` `ACPI_NFIT_TYPE_MEMORY_MAP`.
pub const NFIT_TYPE_MEMORY_MAP: u16 = 1;
/// Structure type of an NVDIMM Control Region. Source: ACPICA `actbl2.h`
/// `ACPI_NFIT_TYPE_CONTROL_REGION`.
pub const NFIT_TYPE_CONTROL_REGION: u16 = 4;
/// Structure type of a Flush Hint Address structure. Source: ACPICA `actbl2.h`
/// `ACPI_NFIT_TYPE_FLUSH_ADDRESS`.
pub const NFIT_TYPE_FLUSH_ADDRESS: u16 = 6;

/// The Persistent Memory range type GUID 66F0D379-B4F3-4074-AC43-0D3318B78CDB. Source:
/// ACPI 6.4 Table 5.132; Linux `drivers/acpi/nfit/nfit.h` `UUID_PERSISTENT_MEMORY`.
pub const PERSISTENT_MEMORY_GUID: Guid = Guid::from_canonical(
    0x66f0_d379,
    0xb4f3,
    0x4074,
    [0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb],
);

/// SPA flag: the range is usable only for hot add / online. Source: ACPICA `actbl2.h`
/// `ACPI_NFIT_ADD_ONLINE_ONLY`.
pub const NFIT_SPA_ADD_ONLINE_ONLY: u16 = 1 << 0;
/// SPA flag: `proximity_domain` is valid. Source: ACPICA `actbl2.h`
/// `ACPI_NFIT_PROXIMITY_VALID`.
pub const NFIT_SPA_PROXIMITY_VALID: u16 = 1 << 1;
/// SPA flag: `location_cookie` is valid (ACPI 6.4; the structure is then 64 bytes).
/// Source: ACPICA `actbl2.h` `ACPI_NFIT_LOCATION_COOKIE_VALID`; Linux
/// `drivers/acpi/nfit/core.c` `sizeof_spa`.
pub const NFIT_SPA_LOCATION_COOKIE_VALID: u16 = 1 << 2;

/// UEFI memory attribute: write-back cacheable. Source: UEFI 2.9 §7.2 `EFI_MEMORY_WB`.
pub const EFI_MEMORY_WB: u64 = 0x8;
/// UEFI memory attribute: non-volatile. Source: UEFI 2.9 §7.2 `EFI_MEMORY_NV`.
pub const EFI_MEMORY_NV: u64 = 0x8000;

/// Region-mapping flag: the last save to the device failed. Source: ACPICA `actbl2.h`
/// `ACPI_NFIT_MEM_SAVE_FAILED`.
pub const NFIT_MEM_SAVE_FAILED: u16 = 1 << 0;
/// Region-mapping flag: the last restore failed. Source: ACPICA `ACPI_NFIT_MEM_RESTORE_FAILED`.
pub const NFIT_MEM_RESTORE_FAILED: u16 = 1 << 1;
/// Region-mapping flag: the platform flush failed. Source: ACPICA `ACPI_NFIT_MEM_FLUSH_FAILED`.
pub const NFIT_MEM_FLUSH_FAILED: u16 = 1 << 2;
/// Region-mapping flag: the device is not armed (Linux marks it read-only). Source:
/// ACPICA `ACPI_NFIT_MEM_NOT_ARMED`; Linux `acpi_nfit_register_dimms`.
pub const NFIT_MEM_NOT_ARMED: u16 = 1 << 3;

/// Control-region `valid_fields` bit: manufacturing location and date are valid.
/// Source: ACPICA `actbl2.h` `ACPI_NFIT_CONTROL_MFG_INFO_VALID`.
pub const NFIT_CONTROL_MFG_INFO_VALID: u8 = 1 << 0;

/// `struct acpi_table_header` (36 bytes) plus the NFIT's 4 reserved bytes. Source:
/// ACPICA `actbl.h`, `actbl2.h` `struct acpi_table_nfit`; ACPI 6.4 Table 5.128.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NfitHeader {
    /// `signature`: "NFIT".
    pub signature: [u8; 4],
    /// `length`: the whole table in bytes.
    pub length: U32,
    /// `revision`.
    pub revision: u8,
    /// `checksum`: all `length` bytes sum to zero.
    pub checksum: u8,
    /// `oem_id`.
    pub oem_id: [u8; 6],
    /// `oem_table_id`.
    pub oem_table_id: [u8; 8],
    /// `oem_revision`.
    pub oem_revision: U32,
    /// `asl_compiler_id` (ACPI: Creator ID).
    pub asl_compiler_id: [u8; 4],
    /// `asl_compiler_revision` (ACPI: Creator Revision).
    pub asl_compiler_revision: U32,
    /// `reserved` (NFIT).
    pub reserved: U32,
}
const _: () = {
    assert!(size_of::<NfitHeader>() == 40);
    assert!(offset_of!(NfitHeader, length) == 4);
    assert!(offset_of!(NfitHeader, revision) == 8);
    assert!(offset_of!(NfitHeader, checksum) == 9);
    assert!(offset_of!(NfitHeader, oem_id) == 10);
    assert!(offset_of!(NfitHeader, oem_table_id) == 16);
    assert!(offset_of!(NfitHeader, oem_revision) == 24);
    assert!(offset_of!(NfitHeader, asl_compiler_id) == 28);
    assert!(offset_of!(NfitHeader, asl_compiler_revision) == 32);
    assert!(offset_of!(NfitHeader, reserved) == 36);
};

/// `struct acpi_nfit_header`: what every NFIT structure starts with. Source: ACPICA
/// `actbl2.h`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NfitSubHeader {
    /// `type`.
    pub r#type: U16,
    /// `length`: this structure in bytes.
    pub length: U16,
}
const _: () = {
    assert!(size_of::<NfitSubHeader>() == 4);
    assert!(offset_of!(NfitSubHeader, length) == 2);
};

/// `struct acpi_nfit_system_address` (type 0), ACPI 6.4 form with the location cookie.
/// The ACPI 6.0–6.3 form is the first 56 bytes. Source: ACPICA `actbl2.h`; ACPI 6.4
/// Table 5.131; Linux `BUILD_BUG_ON(sizeof(struct acpi_nfit_system_address) != 64)`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NfitSystemAddress {
    /// `header` (type 0).
    pub header: NfitSubHeader,
    /// `range_index`: non-zero, referenced by region mappings.
    pub range_index: U16,
    /// `flags`: `NFIT_SPA_*`.
    pub flags: U16,
    /// `reserved`.
    pub reserved: U32,
    /// `proximity_domain`: valid if `NFIT_SPA_PROXIMITY_VALID`.
    pub proximity_domain: U32,
    /// `range_guid`: the address range type, e.g. [`PERSISTENT_MEMORY_GUID`].
    pub range_guid: [u8; 16],
    /// `address`: range base.
    pub address: U64,
    /// `length`: range length.
    pub length: U64,
    /// `memory_mapping`: UEFI memory attributes (`EFI_MEMORY_*`).
    pub memory_mapping: U64,
    /// `location_cookie` (ACPI 6.4, only in the 64-byte form).
    pub location_cookie: U64,
}
const _: () = {
    assert!(size_of::<NfitSystemAddress>() == 64);
    assert!(offset_of!(NfitSystemAddress, range_index) == 4);
    assert!(offset_of!(NfitSystemAddress, flags) == 6);
    assert!(offset_of!(NfitSystemAddress, reserved) == 8);
    assert!(offset_of!(NfitSystemAddress, proximity_domain) == 12);
    assert!(offset_of!(NfitSystemAddress, range_guid) == 16);
    assert!(offset_of!(NfitSystemAddress, address) == 32);
    assert!(offset_of!(NfitSystemAddress, length) == 40);
    assert!(offset_of!(NfitSystemAddress, memory_mapping) == 48);
    assert!(offset_of!(NfitSystemAddress, location_cookie) == 56);
};

/// Length of the SPA structure without the location cookie (ACPI 6.0–6.3). Source:
/// Linux `drivers/acpi/nfit/core.c` `sizeof_spa`.
pub const NFIT_SPA_LEN_V6_0: usize = offset_of!(NfitSystemAddress, location_cookie);

/// `struct acpi_nfit_memory_map` (type 1): one DIMM's part of an SPA range. Source:
/// ACPICA `actbl2.h`; ACPI 6.4 Table 5.133; Linux `BUILD_BUG_ON(... != 48)`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NfitMemoryMap {
    /// `header` (type 1).
    pub header: NfitSubHeader,
    /// `device_handle`: the NFIT device handle, matched to the DIMM device's `_ADR`.
    pub device_handle: U32,
    /// `physical_id`: the SMBIOS memory device handle.
    pub physical_id: U16,
    /// `region_id`: unique among this DIMM's mappings.
    pub region_id: U16,
    /// `range_index`: the SPA range (0 if none).
    pub range_index: U16,
    /// `region_index`: the control region.
    pub region_index: U16,
    /// `region_size`: bytes of the DIMM in this mapping.
    pub region_size: U64,
    /// `region_offset`: offset of the first byte within the SPA range (interleaved).
    pub region_offset: U64,
    /// `address`: the DIMM physical address (DPA) where the mapping starts.
    pub address: U64,
    /// `interleave_index`: the interleave structure (0 if none).
    pub interleave_index: U16,
    /// `interleave_ways`.
    pub interleave_ways: U16,
    /// `flags`: `NFIT_MEM_*`.
    pub flags: U16,
    /// `reserved`.
    pub reserved: U16,
}
const _: () = {
    assert!(size_of::<NfitMemoryMap>() == 48);
    assert!(offset_of!(NfitMemoryMap, device_handle) == 4);
    assert!(offset_of!(NfitMemoryMap, physical_id) == 8);
    assert!(offset_of!(NfitMemoryMap, region_id) == 10);
    assert!(offset_of!(NfitMemoryMap, range_index) == 12);
    assert!(offset_of!(NfitMemoryMap, region_index) == 14);
    assert!(offset_of!(NfitMemoryMap, region_size) == 16);
    assert!(offset_of!(NfitMemoryMap, region_offset) == 24);
    assert!(offset_of!(NfitMemoryMap, address) == 32);
    assert!(offset_of!(NfitMemoryMap, interleave_index) == 40);
    assert!(offset_of!(NfitMemoryMap, interleave_ways) == 42);
    assert!(offset_of!(NfitMemoryMap, flags) == 44);
    assert!(offset_of!(NfitMemoryMap, reserved) == 46);
};

/// `struct acpi_nfit_control_region` (type 4). The form without block-data windows
/// is the first 32 bytes. Source: ACPICA `actbl2.h`; ACPI 6.4 Table 5.135; Linux
/// `BUILD_BUG_ON(... != 80)` and `sizeof_dcr`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NfitControlRegion {
    /// `header` (type 4).
    pub header: NfitSubHeader,
    /// `region_index`: non-zero, referenced by region mappings.
    pub region_index: U16,
    /// `vendor_id`.
    pub vendor_id: U16,
    /// `device_id`.
    pub device_id: U16,
    /// `revision_id`.
    pub revision_id: U16,
    /// `subsystem_vendor_id`.
    pub subsystem_vendor_id: U16,
    /// `subsystem_device_id`.
    pub subsystem_device_id: U16,
    /// `subsystem_revision_id`.
    pub subsystem_revision_id: U16,
    /// `valid_fields`: `NFIT_CONTROL_MFG_INFO_VALID`.
    pub valid_fields: u8,
    /// `manufacturing_location`.
    pub manufacturing_location: u8,
    /// `manufacturing_date`.
    pub manufacturing_date: U16,
    /// `reserved`.
    pub reserved: [u8; 2],
    /// `serial_number`.
    pub serial_number: U32,
    /// `code`: the region format interface code (e.g. 0x301, byte-addressable).
    pub code: U16,
    /// `windows`: number of block control windows.
    pub windows: U16,
    /// `window_size`.
    pub window_size: U64,
    /// `command_offset`.
    pub command_offset: U64,
    /// `command_size`.
    pub command_size: U64,
    /// `status_offset`.
    pub status_offset: U64,
    /// `status_size`.
    pub status_size: U64,
    /// `flags`.
    pub flags: U16,
    /// `reserved1`.
    pub reserved1: [u8; 6],
}
const _: () = {
    assert!(size_of::<NfitControlRegion>() == 80);
    assert!(offset_of!(NfitControlRegion, region_index) == 4);
    assert!(offset_of!(NfitControlRegion, vendor_id) == 6);
    assert!(offset_of!(NfitControlRegion, device_id) == 8);
    assert!(offset_of!(NfitControlRegion, revision_id) == 10);
    assert!(offset_of!(NfitControlRegion, subsystem_vendor_id) == 12);
    assert!(offset_of!(NfitControlRegion, subsystem_device_id) == 14);
    assert!(offset_of!(NfitControlRegion, subsystem_revision_id) == 16);
    assert!(offset_of!(NfitControlRegion, valid_fields) == 18);
    assert!(offset_of!(NfitControlRegion, manufacturing_location) == 19);
    assert!(offset_of!(NfitControlRegion, manufacturing_date) == 20);
    assert!(offset_of!(NfitControlRegion, reserved) == 22);
    assert!(offset_of!(NfitControlRegion, serial_number) == 24);
    assert!(offset_of!(NfitControlRegion, code) == 28);
    assert!(offset_of!(NfitControlRegion, windows) == 30);
    assert!(offset_of!(NfitControlRegion, window_size) == 32);
    assert!(offset_of!(NfitControlRegion, command_offset) == 40);
    assert!(offset_of!(NfitControlRegion, command_size) == 48);
    assert!(offset_of!(NfitControlRegion, status_offset) == 56);
    assert!(offset_of!(NfitControlRegion, status_size) == 64);
    assert!(offset_of!(NfitControlRegion, flags) == 72);
    assert!(offset_of!(NfitControlRegion, reserved1) == 74);
};

/// Length of a control region without block windows (`windows == 0`). Source: Linux
/// `drivers/acpi/nfit/core.c` `sizeof_dcr`.
pub const NFIT_DCR_LEN_NO_WINDOWS: usize = offset_of!(NfitControlRegion, window_size);

/// `struct acpi_nfit_flush_address` (type 6) without its `hint_address[]` array of
/// `hint_count` u64s. Source: ACPICA `actbl2.h`; ACPI 6.4 Table 5.137.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct NfitFlushAddress {
    /// `header` (type 6).
    pub header: NfitSubHeader,
    /// `device_handle`.
    pub device_handle: U32,
    /// `hint_count`.
    pub hint_count: U16,
    /// `reserved`.
    pub reserved: [u8; 6],
}
const _: () = {
    assert!(size_of::<NfitFlushAddress>() == 16);
    assert!(offset_of!(NfitFlushAddress, device_handle) == 4);
    assert!(offset_of!(NfitFlushAddress, hint_count) == 8);
    assert!(offset_of!(NfitFlushAddress, reserved) == 10);
};
