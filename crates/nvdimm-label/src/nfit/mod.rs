// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The NVDIMM Firmware Interface Table (NFIT, ACPI 6.4 §5.2.25): parse, emit, build.
//!
//! A guest's OS finds its NVDIMMs through this table: each SPA range says where
//! persistent memory sits in the physical address space, each region mapping ties one
//! DIMM (by its NFIT device handle, which is also the `_ADR` of the DIMM's ACPI device)
//! to a range, each control region gives the DIMM's identity (whose serial number and
//! region offset enter the label cookie, see [`crate::cookie`]), and flush hints give
//! write-pending-queue flush addresses.
//!
//! [`Nfit`] is the owned, validated form (smoltcp's `Repr`): [`Nfit::parse`] checks
//! signature, length and checksum and every structure's length as Linux
//! (`drivers/acpi/nfit/core.c` `add_table`) does, keeping structures of other types as
//! bytes; [`Nfit::emit`] writes the table back with its checksum, and
//! `Nfit::parse(&nfit.emit()) == Ok(nfit)` for every value. [`NfitBuilder`] describes
//! N DIMMs, one single-way region each, the way QEMU's `-device nvdimm` does.
//!
//! With the `acpi` feature, `Nfit::to_sdt` hands the table over as a rust-vmm
//! `acpi_tables::sdt::Sdt`.
//!
//! # Fuzzing
//!
//! Under `cfg(fuzzing)` a wrong checksum is accepted, so fuzzers reach the structures.

pub mod layout;

use alloc::vec::Vec;

use zerocopy::{FromBytes, IntoBytes};

use crate::cookie::DimmCookieInfo;
use crate::uuid::Guid;
use layout::{
    NFIT_DCR_LEN_NO_WINDOWS, NFIT_SPA_LEN_V6_0, NFIT_TYPE_CONTROL_REGION, NFIT_TYPE_FLUSH_ADDRESS,
    NFIT_TYPE_MEMORY_MAP, NFIT_TYPE_SYSTEM_ADDRESS, NfitControlRegion, NfitFlushAddress,
    NfitHeader, NfitMemoryMap, NfitSubHeader, NfitSystemAddress,
};

/// Why bytes are not an NFIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NfitError {
    /// Fewer bytes than the 40-byte header, or than the header's `length`.
    #[error("{len} bytes, table needs {needed}")]
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The signature is not "NFIT".
    #[error("signature {0:02x?} is not NFIT")]
    BadSignature([u8; 4]),
    /// The header `length` is below the header size.
    #[error("header length {0} is below 40")]
    BadLength(u32),
    /// The bytes do not sum to zero (ACPICA refuses such a table).
    #[error("checksum byte {stored:#04x} leaves a sum of {sum:#04x}")]
    BadChecksum {
        /// The stored checksum byte.
        stored: u8,
        /// The sum of all bytes (should be 0).
        sum: u8,
    },
    /// A structure's length is zero, runs past the table, or does not fit its type.
    #[error("structure type {kind} at {offset:#x} has bad length {length}")]
    BadStructureLength {
        /// Offset of the structure in the table.
        offset: usize,
        /// Its type.
        kind: u16,
        /// Its length field.
        length: u16,
    },
    /// The table is larger than its 32-bit `length` field can say.
    #[error("{0} bytes do not fit the 32-bit table length")]
    TooLarge(usize),
}

/// The SDT header fields an NFIT carries besides signature, length and checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableHeader {
    /// Revision (ACPI 6.4: 1).
    pub revision: u8,
    /// OEM ID.
    pub oem_id: [u8; 6],
    /// OEM table ID.
    pub oem_table_id: [u8; 8],
    /// OEM revision.
    pub oem_revision: u32,
    /// Creator ID (ACPICA: `asl_compiler_id`).
    pub creator_id: [u8; 4],
    /// Creator revision.
    pub creator_revision: u32,
}

impl Default for TableHeader {
    /// Revision 1, OEM "HUGEVM"/"HVMNFIT ", creator "HVM ".
    fn default() -> TableHeader {
        TableHeader {
            revision: layout::NFIT_REVISION,
            oem_id: *b"HUGEVM",
            oem_table_id: *b"HVMNFIT ",
            oem_revision: 1,
            creator_id: *b"HVM ",
            creator_revision: 1,
        }
    }
}

/// An SPA range (type 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaRange {
    /// `range_index` (Linux ignores a range whose index is 0).
    pub range_index: u16,
    /// `flags` (`NFIT_SPA_*`).
    pub flags: u16,
    /// `proximity_domain`.
    pub proximity_domain: u32,
    /// `range_guid`, e.g. [`layout::PERSISTENT_MEMORY_GUID`].
    pub range_guid: Guid,
    /// `address`.
    pub base: u64,
    /// `length`.
    pub length: u64,
    /// `memory_mapping`: UEFI memory attributes.
    pub memory_mapping: u64,
    /// `location_cookie`: `Some` for the 64-byte ACPI 6.4 form, `None` for 56 bytes.
    pub location_cookie: Option<u64>,
}

/// An NVDIMM region mapping (type 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionMapping {
    /// `device_handle` (= the DIMM device's `_ADR`).
    pub device_handle: u32,
    /// `physical_id`.
    pub physical_id: u16,
    /// `region_id`.
    pub region_id: u16,
    /// `range_index` of the SPA range.
    pub range_index: u16,
    /// `region_index` of the control region.
    pub control_region_index: u16,
    /// `region_size`.
    pub region_size: u64,
    /// `region_offset`.
    pub region_offset: u64,
    /// `address`: the DPA where the mapping starts.
    pub dpa: u64,
    /// `interleave_index`.
    pub interleave_index: u16,
    /// `interleave_ways`.
    pub interleave_ways: u16,
    /// `flags` (`NFIT_MEM_*`).
    pub flags: u16,
}

/// The block-window part of a control region (bytes 32..80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockWindows {
    /// `window_size`.
    pub window_size: u64,
    /// `command_offset`.
    pub command_offset: u64,
    /// `command_size`.
    pub command_size: u64,
    /// `status_offset`.
    pub status_offset: u64,
    /// `status_size`.
    pub status_size: u64,
    /// `flags`.
    pub flags: u16,
}

/// An NVDIMM control region (type 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRegion {
    /// `region_index`.
    pub region_index: u16,
    /// `vendor_id`.
    pub vendor_id: u16,
    /// `device_id`.
    pub device_id: u16,
    /// `revision_id`.
    pub revision_id: u16,
    /// `subsystem_vendor_id`.
    pub subsystem_vendor_id: u16,
    /// `subsystem_device_id`.
    pub subsystem_device_id: u16,
    /// `subsystem_revision_id`.
    pub subsystem_revision_id: u16,
    /// `valid_fields`.
    pub valid_fields: u8,
    /// `manufacturing_location`.
    pub manufacturing_location: u8,
    /// `manufacturing_date`.
    pub manufacturing_date: u16,
    /// `serial_number`.
    pub serial_number: u32,
    /// `code`: region format interface code.
    pub code: u16,
    /// `windows`: number of block control windows.
    pub windows: u16,
    /// Bytes 32..80: `Some` for the 80-byte form, `None` for the 32-byte form
    /// (allowed only with `windows == 0`).
    pub block: Option<BlockWindows>,
}

/// A flush hint address structure (type 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushHint {
    /// `device_handle`.
    pub device_handle: u32,
    /// `hint_address[]`.
    pub addresses: Vec<u64>,
}

/// One NFIT structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Structure {
    /// Type 0.
    Spa(SpaRange),
    /// Type 1.
    RegionMapping(RegionMapping),
    /// Type 4.
    ControlRegion(ControlRegion),
    /// Type 6.
    FlushHint(FlushHint),
    /// Any other type, kept as the bytes after its 4-byte header.
    Other {
        /// Structure type.
        kind: u16,
        /// The bytes after type and length.
        body: Vec<u8>,
    },
}

/// A whole NFIT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nfit {
    /// Header fields.
    pub header: TableHeader,
    /// The structures, in table order.
    pub structures: Vec<Structure>,
}

impl Nfit {
    /// Parses and validates a whole table (`bytes` may extend past its `length`).
    ///
    /// # Errors
    ///
    /// [`NfitError`] naming the first fault.
    pub fn parse(bytes: &[u8]) -> Result<Nfit, NfitError> {
        let truncated = |needed| NfitError::Truncated {
            len: bytes.len(),
            needed,
        };
        let (hdr, _) =
            NfitHeader::ref_from_prefix(bytes).map_err(|_| truncated(size_of::<NfitHeader>()))?;
        if hdr.signature != layout::NFIT_SIGNATURE {
            return Err(NfitError::BadSignature(hdr.signature));
        }
        let length = hdr.length.get();
        let len = usize::try_from(length).map_err(|_| NfitError::BadLength(length))?;
        if len < size_of::<NfitHeader>() {
            return Err(NfitError::BadLength(length));
        }
        let table = bytes.get(..len).ok_or_else(|| truncated(len))?;
        let sum = checksum(table);
        if sum != 0 && !cfg!(fuzzing) {
            return Err(NfitError::BadChecksum {
                stored: hdr.checksum,
                sum,
            });
        }
        let header = TableHeader {
            revision: hdr.revision,
            oem_id: hdr.oem_id,
            oem_table_id: hdr.oem_table_id,
            oem_revision: hdr.oem_revision.get(),
            creator_id: hdr.asl_compiler_id,
            creator_revision: hdr.asl_compiler_revision.get(),
        };
        let mut structures = Vec::new();
        let mut offset = size_of::<NfitHeader>();
        while let Some(rest) = table.get(offset..).filter(|r| !r.is_empty()) {
            let (sub, _) = NfitSubHeader::ref_from_prefix(rest).map_err(|_| {
                NfitError::BadStructureLength {
                    offset,
                    kind: 0,
                    length: 0,
                }
            })?;
            let (kind, length) = (sub.r#type.get(), sub.length.get());
            let bad = NfitError::BadStructureLength {
                offset,
                kind,
                length,
            };
            let body = rest
                .get(..usize::from(length))
                .filter(|b| b.len() >= size_of::<NfitSubHeader>())
                .ok_or(bad)?;
            structures.push(Structure::parse(kind, body).ok_or(bad)?);
            offset = offset.saturating_add(body.len());
        }
        Ok(Nfit { header, structures })
    }

    /// The table's length in bytes.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        self.structures
            .iter()
            .fold(size_of::<NfitHeader>(), |n, s| {
                n.saturating_add(s.buffer_len())
            })
    }

    /// The table bytes, checksum included.
    ///
    /// # Errors
    ///
    /// [`NfitError::TooLarge`] if the table exceeds 4 GiB, or
    /// [`NfitError::BadStructureLength`] if a structure exceeds 64 KiB (a flush hint
    /// with more than 8190 addresses, or an oversized [`Structure::Other`]).
    pub fn emit(&self) -> Result<Vec<u8>, NfitError> {
        let total = self.buffer_len();
        let length = u32::try_from(total).map_err(|_| NfitError::TooLarge(total))?;
        let mut out = Vec::with_capacity(total);
        let h = &self.header;
        out.extend_from_slice(
            NfitHeader {
                signature: layout::NFIT_SIGNATURE,
                length: length.into(),
                revision: h.revision,
                checksum: 0,
                oem_id: h.oem_id,
                oem_table_id: h.oem_table_id,
                oem_revision: h.oem_revision.into(),
                asl_compiler_id: h.creator_id,
                asl_compiler_revision: h.creator_revision.into(),
                reserved: 0.into(),
            }
            .as_bytes(),
        );
        for s in &self.structures {
            let at = out.len();
            s.emit_into(&mut out)
                .map_err(|length| NfitError::BadStructureLength {
                    offset: at,
                    kind: s.kind(),
                    length,
                })?;
        }
        let sum = checksum(&out);
        if let Some(c) = out.get_mut(9) {
            *c = c.wrapping_sub(sum);
        }
        Ok(out)
    }

    /// The SPA ranges.
    pub fn spa_ranges(&self) -> impl Iterator<Item = &SpaRange> {
        self.structures.iter().filter_map(|s| match s {
            Structure::Spa(r) => Some(r),
            _ => None,
        })
    }

    /// The region mappings.
    pub fn region_mappings(&self) -> impl Iterator<Item = &RegionMapping> {
        self.structures.iter().filter_map(|s| match s {
            Structure::RegionMapping(m) => Some(m),
            _ => None,
        })
    }

    /// The control regions.
    pub fn control_regions(&self) -> impl Iterator<Item = &ControlRegion> {
        self.structures.iter().filter_map(|s| match s {
            Structure::ControlRegion(c) => Some(c),
            _ => None,
        })
    }

    /// The cookie facts of the DIMM whose mapping is `mapping` (its region offset and
    /// its control region's identity), for [`crate::cookie`]; `None` if no control
    /// region has the mapping's index.
    #[must_use]
    pub fn cookie_info(&self, mapping: &RegionMapping) -> Option<DimmCookieInfo> {
        let dcr = self
            .control_regions()
            .find(|c| c.region_index == mapping.control_region_index)?;
        Some(DimmCookieInfo {
            region_offset: mapping.region_offset,
            serial_number: dcr.serial_number,
            vendor_id: dcr.vendor_id,
            manufacturing_date: dcr.manufacturing_date,
            manufacturing_location: dcr.manufacturing_location,
        })
    }

    /// The table as a rust-vmm [`acpi_tables::sdt::Sdt`] (same bytes, checksum kept).
    ///
    /// # Errors
    ///
    /// As [`Nfit::emit`].
    #[cfg(feature = "acpi")]
    pub fn to_sdt(&self) -> Result<acpi_tables::sdt::Sdt, NfitError> {
        let bytes = self.emit()?;
        let h = &self.header;
        let mut sdt = acpi_tables::sdt::Sdt::new(
            layout::NFIT_SIGNATURE,
            36,
            h.revision,
            h.oem_id,
            h.oem_table_id,
            h.oem_revision,
        );
        sdt.append_slice(bytes.get(36..).unwrap_or_default());
        // Sdt::new writes rust-vmm's creator ID; keep ours (write_bytes re-checksums).
        sdt.write_bytes(28, bytes.get(28..36).unwrap_or_default());
        Ok(sdt)
    }
}

/// The 8-bit sum of `bytes` (0 for a valid ACPI table). Source: ACPI 6.4 §5.2.6.
fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

impl Structure {
    /// The structure type.
    #[must_use]
    pub fn kind(&self) -> u16 {
        match self {
            Structure::Spa(_) => NFIT_TYPE_SYSTEM_ADDRESS,
            Structure::RegionMapping(_) => NFIT_TYPE_MEMORY_MAP,
            Structure::ControlRegion(_) => NFIT_TYPE_CONTROL_REGION,
            Structure::FlushHint(_) => NFIT_TYPE_FLUSH_ADDRESS,
            Structure::Other { kind, .. } => *kind,
        }
    }

    /// Its length in the table.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        match self {
            Structure::Spa(s) if s.location_cookie.is_some() => size_of::<NfitSystemAddress>(),
            Structure::Spa(_) => NFIT_SPA_LEN_V6_0,
            Structure::RegionMapping(_) => size_of::<NfitMemoryMap>(),
            Structure::ControlRegion(c) if c.block.is_some() => size_of::<NfitControlRegion>(),
            Structure::ControlRegion(_) => NFIT_DCR_LEN_NO_WINDOWS,
            Structure::FlushHint(f) => f
                .addresses
                .len()
                .saturating_mul(8)
                .saturating_add(size_of::<NfitFlushAddress>()),
            Structure::Other { body, .. } => body.len().saturating_add(size_of::<NfitSubHeader>()),
        }
    }

    /// Parses one structure of type `kind` from exactly its `length` bytes (header
    /// included); `None` if the length does not fit the type.
    fn parse(kind: u16, bytes: &[u8]) -> Option<Structure> {
        Some(match kind {
            NFIT_TYPE_SYSTEM_ADDRESS => {
                let cookie = match bytes.len() {
                    NFIT_SPA_LEN_V6_0 => false,
                    n if n == size_of::<NfitSystemAddress>() => true,
                    _ => return None,
                };
                let s = read_padded::<NfitSystemAddress>(bytes)?;
                Structure::Spa(SpaRange {
                    range_index: s.range_index.get(),
                    flags: s.flags.get(),
                    proximity_domain: s.proximity_domain.get(),
                    range_guid: Guid(s.range_guid),
                    base: s.address.get(),
                    length: s.length.get(),
                    memory_mapping: s.memory_mapping.get(),
                    location_cookie: cookie.then(|| s.location_cookie.get()),
                })
            }
            NFIT_TYPE_MEMORY_MAP => {
                let m = NfitMemoryMap::read_from_bytes(bytes).ok()?;
                Structure::RegionMapping(RegionMapping {
                    device_handle: m.device_handle.get(),
                    physical_id: m.physical_id.get(),
                    region_id: m.region_id.get(),
                    range_index: m.range_index.get(),
                    control_region_index: m.region_index.get(),
                    region_size: m.region_size.get(),
                    region_offset: m.region_offset.get(),
                    dpa: m.address.get(),
                    interleave_index: m.interleave_index.get(),
                    interleave_ways: m.interleave_ways.get(),
                    flags: m.flags.get(),
                })
            }
            NFIT_TYPE_CONTROL_REGION => {
                let c = read_padded::<NfitControlRegion>(bytes)?;
                let block = match bytes.len() {
                    NFIT_DCR_LEN_NO_WINDOWS if c.windows.get() == 0 => None,
                    n if n == size_of::<NfitControlRegion>() => Some(BlockWindows {
                        window_size: c.window_size.get(),
                        command_offset: c.command_offset.get(),
                        command_size: c.command_size.get(),
                        status_offset: c.status_offset.get(),
                        status_size: c.status_size.get(),
                        flags: c.flags.get(),
                    }),
                    _ => return None,
                };
                Structure::ControlRegion(ControlRegion {
                    region_index: c.region_index.get(),
                    vendor_id: c.vendor_id.get(),
                    device_id: c.device_id.get(),
                    revision_id: c.revision_id.get(),
                    subsystem_vendor_id: c.subsystem_vendor_id.get(),
                    subsystem_device_id: c.subsystem_device_id.get(),
                    subsystem_revision_id: c.subsystem_revision_id.get(),
                    valid_fields: c.valid_fields,
                    manufacturing_location: c.manufacturing_location,
                    manufacturing_date: c.manufacturing_date.get(),
                    serial_number: c.serial_number.get(),
                    code: c.code.get(),
                    windows: c.windows.get(),
                    block,
                })
            }
            NFIT_TYPE_FLUSH_ADDRESS => {
                let (f, rest) = NfitFlushAddress::ref_from_prefix(bytes).ok()?;
                let count = usize::from(f.hint_count.get());
                if rest.len() != count.checked_mul(8)? {
                    return None;
                }
                let addresses = rest
                    .chunks_exact(8)
                    .map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        u64::from_le_bytes(a)
                    })
                    .collect();
                Structure::FlushHint(FlushHint {
                    device_handle: f.device_handle.get(),
                    addresses,
                })
            }
            kind => Structure::Other {
                kind,
                body: bytes.get(size_of::<NfitSubHeader>()..)?.to_vec(),
            },
        })
    }

    /// Appends this structure; `Err(length)` (truncated to 16 bits) if it is longer
    /// than a structure's 16-bit length field allows.
    fn emit_into(&self, out: &mut Vec<u8>) -> Result<(), u16> {
        let len = self.buffer_len();
        let length = u16::try_from(len).map_err(|_| u16::MAX)?;
        let header = NfitSubHeader {
            r#type: self.kind().into(),
            length: length.into(),
        };
        match self {
            Structure::Spa(s) => {
                let raw = NfitSystemAddress {
                    header,
                    range_index: s.range_index.into(),
                    flags: s.flags.into(),
                    reserved: 0.into(),
                    proximity_domain: s.proximity_domain.into(),
                    range_guid: s.range_guid.0,
                    address: s.base.into(),
                    length: s.length.into(),
                    memory_mapping: s.memory_mapping.into(),
                    location_cookie: s.location_cookie.unwrap_or(0).into(),
                };
                out.extend_from_slice(raw.as_bytes().get(..len).unwrap_or_default());
            }
            Structure::RegionMapping(m) => out.extend_from_slice(
                NfitMemoryMap {
                    header,
                    device_handle: m.device_handle.into(),
                    physical_id: m.physical_id.into(),
                    region_id: m.region_id.into(),
                    range_index: m.range_index.into(),
                    region_index: m.control_region_index.into(),
                    region_size: m.region_size.into(),
                    region_offset: m.region_offset.into(),
                    address: m.dpa.into(),
                    interleave_index: m.interleave_index.into(),
                    interleave_ways: m.interleave_ways.into(),
                    flags: m.flags.into(),
                    reserved: 0.into(),
                }
                .as_bytes(),
            ),
            Structure::ControlRegion(c) => {
                let b = c.block.unwrap_or_default();
                let raw = NfitControlRegion {
                    header,
                    region_index: c.region_index.into(),
                    vendor_id: c.vendor_id.into(),
                    device_id: c.device_id.into(),
                    revision_id: c.revision_id.into(),
                    subsystem_vendor_id: c.subsystem_vendor_id.into(),
                    subsystem_device_id: c.subsystem_device_id.into(),
                    subsystem_revision_id: c.subsystem_revision_id.into(),
                    valid_fields: c.valid_fields,
                    manufacturing_location: c.manufacturing_location,
                    manufacturing_date: c.manufacturing_date.into(),
                    reserved: [0; 2],
                    serial_number: c.serial_number.into(),
                    code: c.code.into(),
                    windows: c.windows.into(),
                    window_size: b.window_size.into(),
                    command_offset: b.command_offset.into(),
                    command_size: b.command_size.into(),
                    status_offset: b.status_offset.into(),
                    status_size: b.status_size.into(),
                    flags: b.flags.into(),
                    reserved1: [0; 6],
                };
                out.extend_from_slice(raw.as_bytes().get(..len).unwrap_or_default());
            }
            Structure::FlushHint(f) => {
                let count = u16::try_from(f.addresses.len()).map_err(|_| length)?;
                out.extend_from_slice(
                    NfitFlushAddress {
                        header,
                        device_handle: f.device_handle.into(),
                        hint_count: count.into(),
                        reserved: [0; 6],
                    }
                    .as_bytes(),
                );
                f.addresses
                    .iter()
                    .for_each(|a| out.extend_from_slice(&a.to_le_bytes()));
            }
            Structure::Other { body, .. } => {
                out.extend_from_slice(header.as_bytes());
                out.extend_from_slice(body);
            }
        }
        Ok(())
    }
}

/// Reads a `T` from `bytes`, zero-filling a short tail (the shorter, older forms of a
/// structure); `None` if `bytes` is longer than `T`.
fn read_padded<T: FromBytes + IntoBytes>(bytes: &[u8]) -> Option<T> {
    let mut t = T::new_zeroed();
    t.as_mut_bytes()
        .get_mut(..bytes.len())?
        .copy_from_slice(bytes);
    Some(t)
}

/// One guest DIMM for [`NfitBuilder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DimmSpec {
    /// Guest-physical base of its persistent memory (the SPA range).
    pub base: u64,
    /// Size of that memory (the SPA range length and the mapping's region size).
    pub size: u64,
    /// NUMA proximity domain.
    pub proximity_domain: u32,
    /// Control-region serial number (enters the label cookie: keep it stable).
    pub serial_number: u32,
    /// Size of its label storage area in bytes (0: no labels). Not part of the NFIT;
    /// the label methods report it.
    pub label_size: u32,
    /// Mark it not armed (`NFIT_MEM_NOT_ARMED`: Linux makes it read-only).
    pub unarmed: bool,
}

impl DimmSpec {
    /// A DIMM of `size` bytes at `base`, node 0, with `label_size` bytes of labels;
    /// serial number 0x123456 + `slot` as QEMU gives its slot `slot`
    /// (`hw/acpi/nvdimm.c` `nvdimm_build_structure_dcr`).
    #[must_use]
    pub fn new(slot: u32, base: u64, size: u64, label_size: u32) -> DimmSpec {
        DimmSpec {
            base,
            size,
            proximity_domain: 0,
            serial_number: 0x0012_3456_u32.wrapping_add(slot),
            label_size,
            unarmed: false,
        }
    }
}

/// Describes N DIMMs, each its own single-way region, numbered as QEMU numbers its
/// slots (`hw/acpi/nvdimm.c`): DIMM `i` has device handle `i + 1`, SPA range index
/// `2 (i + 1)` and control region index `2 (i + 1) + 1`.
#[derive(Debug, Clone, Default)]
pub struct NfitBuilder {
    header: TableHeader,
    dimms: Vec<DimmSpec>,
}

/// Control region identity the builder writes: Intel's vendor ID, device 1, revision
/// 1, as QEMU does (`nvdimm_build_structure_dcr`).
const DCR_VENDOR_ID: u16 = 0x8086;
/// Region format interface code 0x301: byte-addressable energy-backed, as QEMU writes.
/// Source: ACPI 6.4 §5.2.25.6; JEDEC JESD245; QEMU `nvdimm_build_structure_dcr`.
const DCR_CODE_BYTE_ADDRESSABLE: u16 = 0x301;

impl NfitBuilder {
    /// An empty builder with the default header.
    #[must_use]
    pub fn new() -> NfitBuilder {
        NfitBuilder::default()
    }

    /// Sets the header fields.
    #[must_use]
    pub fn header(mut self, header: TableHeader) -> NfitBuilder {
        self.header = header;
        self
    }

    /// Adds a DIMM.
    #[must_use]
    pub fn dimm(mut self, dimm: DimmSpec) -> NfitBuilder {
        self.dimms.push(dimm);
        self
    }

    /// The DIMMs added so far, in order (DIMM `i` has device handle `i + 1`).
    #[must_use]
    pub fn dimms(&self) -> &[DimmSpec] {
        &self.dimms
    }

    /// The NFIT device handle of DIMM `i` (the `_ADR` of its ACPI device).
    #[must_use]
    pub fn device_handle(i: usize) -> u32 {
        u32::try_from(i).map_or(u32::MAX, |i| i.saturating_add(1))
    }

    /// The table: per DIMM an SPA range (persistent memory, write-back and
    /// non-volatile, proximity valid), a region mapping and a control region.
    #[must_use]
    pub fn build(&self) -> Nfit {
        let mut structures = Vec::with_capacity(self.dimms.len().saturating_mul(3));
        for (i, d) in self.dimms.iter().enumerate() {
            let handle = Self::device_handle(i);
            let spa_index = u16::try_from(handle).map_or(u16::MAX, |h| h.saturating_mul(2));
            let dcr_index = spa_index.saturating_add(1);
            structures.push(Structure::Spa(SpaRange {
                range_index: spa_index,
                flags: layout::NFIT_SPA_ADD_ONLINE_ONLY | layout::NFIT_SPA_PROXIMITY_VALID,
                proximity_domain: d.proximity_domain,
                range_guid: layout::PERSISTENT_MEMORY_GUID,
                base: d.base,
                length: d.size,
                memory_mapping: layout::EFI_MEMORY_WB | layout::EFI_MEMORY_NV,
                location_cookie: None,
            }));
            structures.push(Structure::RegionMapping(RegionMapping {
                device_handle: handle,
                physical_id: 0,
                region_id: 0,
                range_index: spa_index,
                control_region_index: dcr_index,
                region_size: d.size,
                region_offset: 0,
                dpa: 0,
                interleave_index: 0,
                interleave_ways: 1,
                flags: if d.unarmed {
                    layout::NFIT_MEM_NOT_ARMED
                } else {
                    0
                },
            }));
            structures.push(Structure::ControlRegion(ControlRegion {
                region_index: dcr_index,
                vendor_id: DCR_VENDOR_ID,
                device_id: 1,
                revision_id: 1,
                subsystem_vendor_id: 0,
                subsystem_device_id: 0,
                subsystem_revision_id: 0,
                valid_fields: 0,
                manufacturing_location: 0,
                manufacturing_date: 0,
                serial_number: d.serial_number,
                code: DCR_CODE_BYTE_ADDRESSABLE,
                windows: 0,
                block: Some(BlockWindows::default()),
            }));
        }
        Nfit {
            header: self.header,
            structures,
        }
    }
}
