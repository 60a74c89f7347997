// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Labels: the validated representation of one slot, its parser and its emitter.
//!
//! A slot in use (free bit clear in the current index) is *active* when its `slot` field
//! equals its position and, for v1.2 and CXL labels, its Fletcher64 matches (Linux
//! `slot_valid`). Nothing else is required to be active; [`label_warnings`] lists the
//! further problems this crate reports.

use core::fmt;

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::checksum::fletcher64_skipping;
use crate::index::LabelVersion;
use crate::layout::{
    CXL_NAMESPACE_UUID, CXL_REGION_UUID, CxlNamespaceLabel, CxlRegionLabel, EfiLabel, EfiLabelV1_2,
    HUGEVM_CLAIM_GUID, LABEL_CHECKSUM_OFFSET, LabelFlags, NVDIMM_BTT_GUID, NVDIMM_BTT2_GUID,
    NVDIMM_DAX_GUID, NVDIMM_PFN_GUID,
};
use crate::uuid::{Guid, Uuid};

/// A 64-byte label name field (NUL-terminated UTF-8, or all 64 bytes used).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name(pub [u8; 64]);

impl Name {
    /// The empty name.
    pub const EMPTY: Name = Name([0; 64]);

    /// A name from a string; `None` if it has more than 63 bytes or contains a NUL (Linux
    /// accepts at most 63 bytes through sysfs, keeping a terminating NUL).
    #[must_use]
    pub fn new(s: &str) -> Option<Name> {
        let b = s.as_bytes();
        if b.len() > 63 || b.contains(&0) {
            return None;
        }
        let mut out = [0u8; 64];
        out.get_mut(..b.len())?.copy_from_slice(b);
        Some(Name(out))
    }

    /// The bytes before the first NUL.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(64);
        self.0.get(..end).unwrap_or(&[])
    }

    /// The name as text, if it is UTF-8.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({:?})", self.as_str().unwrap_or("<not utf-8>"))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.as_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        Ok(())
    }
}

/// What a namespace holds, from its v1.2 abstraction GUID or CXL abstraction UUID
/// (Linux `enum nvdimm_claim_class`, `to_nvdimm_cclass`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimClass {
    /// All-zero: a raw namespace (Linux `NVDIMM_CCLASS_NONE`).
    None,
    /// BTT v1.1 (`NVDIMM_CCLASS_BTT`).
    Btt,
    /// BTT v2.0 (`NVDIMM_CCLASS_BTT2`).
    Btt2,
    /// fsdax (`NVDIMM_CCLASS_PFN`).
    Pfn,
    /// devdax (`NVDIMM_CCLASS_DAX`).
    Dax,
    /// [`HUGEVM_CLAIM_GUID`]: a hypervisor-managed namespace (Linux sees it as unknown
    /// and exposes it raw).
    Hugevm,
    /// Any other value, as the 16 bytes on media (Linux `NVDIMM_CCLASS_UNKNOWN`). This
    /// crate's writer keeps it on rename and resize; Linux 6.1 writes a zero GUID when
    /// it rewrites such a label (seen in `tests/linux_qemu.rs`).
    Unknown([u8; 16]),
}

impl ClaimClass {
    /// The well-known GUID of this class, or `None` for [`ClaimClass::Unknown`].
    #[must_use]
    pub fn guid(self) -> Option<Guid> {
        Some(match self {
            ClaimClass::None => Guid::NIL,
            ClaimClass::Btt => NVDIMM_BTT_GUID,
            ClaimClass::Btt2 => NVDIMM_BTT2_GUID,
            ClaimClass::Pfn => NVDIMM_PFN_GUID,
            ClaimClass::Dax => NVDIMM_DAX_GUID,
            ClaimClass::Hugevm => HUGEVM_CLAIM_GUID,
            ClaimClass::Unknown(_) => return None,
        })
    }

    /// Decodes the 16 bytes of an abstraction field: EFI GUID order for v1.2 labels,
    /// RFC 4122 order for CXL labels.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 16], version: LabelVersion) -> ClaimClass {
        let guid = match version {
            LabelVersion::Cxl => Guid::from_canonical_bytes(bytes),
            LabelVersion::V1_1 | LabelVersion::V1_2 => Guid(bytes),
        };
        [
            ClaimClass::None,
            ClaimClass::Btt,
            ClaimClass::Btt2,
            ClaimClass::Pfn,
            ClaimClass::Dax,
            ClaimClass::Hugevm,
        ]
        .into_iter()
        .find(|c| c.guid() == Some(guid))
        .unwrap_or(ClaimClass::Unknown(bytes))
    }

    /// The 16 bytes this class is stored as in a label of `version`.
    #[must_use]
    pub fn to_bytes(self, version: LabelVersion) -> [u8; 16] {
        match (self.guid(), self) {
            (_, ClaimClass::Unknown(bytes)) => bytes,
            (Some(g), _) if version == LabelVersion::Cxl => g.canonical(),
            (Some(g), _) => g.0,
            (None, _) => [0; 16],
        }
    }

    /// The name Linux and ndctl use for the mode this class implies.
    #[must_use]
    pub fn mode_name(self) -> &'static str {
        match self {
            ClaimClass::None => "raw",
            ClaimClass::Btt | ClaimClass::Btt2 => "sector",
            ClaimClass::Pfn => "fsdax",
            ClaimClass::Dax => "devdax",
            ClaimClass::Hugevm => "hugevm",
            ClaimClass::Unknown(_) => "unknown",
        }
    }
}

/// A namespace label (EFI v1.1/v1.2 or CXL), with Rust field names; the spec/C name is
/// given where it differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NamespaceLabel {
    /// Namespace UUID (`uuid`).
    pub uuid: Uuid,
    /// Name.
    pub name: Name,
    /// `NSLABEL_FLAG_*` (see [`NamespaceLabel::label_flags`]).
    pub flags: u32,
    /// EFI: labels in the interleave set (`nlabel`). CXL: ranges of the namespace
    /// (`nrange`).
    pub nlabel: u16,
    /// Position in the set (EFI) or among the namespace's ranges (CXL).
    pub position: u16,
    /// Interleave-set cookie (EFI only; 0 for CXL).
    pub isetcookie: u64,
    /// Logical block size (`lbasize`; 16 bits in CXL).
    pub lbasize: u64,
    /// First DIMM physical address of this extent.
    pub dpa: u64,
    /// Length of this extent (`rawsize`).
    pub rawsize: u64,
    /// The slot (must equal the slot the label sits in).
    pub slot: u32,
    /// Alignment field (EFI: one byte; CXL: 256 MiB units).
    pub align: u32,
    /// v1.2: NFIT SPA range type GUID (`type_guid`).
    pub type_guid: Option<Guid>,
    /// v1.2 and CXL: claim class (`abstraction_guid` / `abstraction_uuid`).
    pub claim: Option<ClaimClass>,
    /// CXL: UUID of the region (`region_uuid`).
    pub region_uuid: Option<Uuid>,
}

/// A CXL region label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegionLabel {
    /// Region UUID.
    pub uuid: Uuid,
    /// Only `NSLABEL_FLAG_UPDATING` is defined.
    pub flags: u32,
    /// Interleave ways.
    pub nlabel: u16,
    /// This device's position.
    pub position: u16,
    /// DIMM physical address.
    pub dpa: u64,
    /// Bytes on this device.
    pub rawsize: u64,
    /// Host physical address of the region.
    pub hpa: u64,
    /// The slot.
    pub slot: u32,
    /// Interleave granularity exponent: `(1 << ig) * 256` bytes.
    pub ig: u32,
    /// Alignment in 256 MiB units.
    pub align: u32,
}

/// One active label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// A namespace label (EFI or CXL).
    Namespace(NamespaceLabel),
    /// A CXL region label.
    Region(RegionLabel),
}

impl NamespaceLabel {
    /// [`flags`](Self::flags) as a set of `NSLABEL_FLAG_*` bits.
    pub const fn label_flags(&self) -> LabelFlags {
        LabelFlags::from_bits_retain(self.flags)
    }
}

impl RegionLabel {
    /// [`flags`](Self::flags) as a set of `NSLABEL_FLAG_*` bits.
    pub const fn label_flags(&self) -> LabelFlags {
        LabelFlags::from_bits_retain(self.flags)
    }
}

impl Label {
    /// The slot field.
    #[must_use]
    pub fn slot(&self) -> u32 {
        match self {
            Label::Namespace(l) => l.slot,
            Label::Region(l) => l.slot,
        }
    }
}

/// Why a slot in use is not an active label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelFault {
    /// The slot field does not name the slot the label sits in.
    #[error("slot field {found} does not match the slot")]
    SlotMismatch {
        /// The `slot` field.
        found: u32,
    },
    /// Fletcher64 mismatch (v1.2 and CXL).
    #[error("label checksum {stored:#018x} does not match computed {computed:#018x}")]
    Checksum {
        /// The `checksum` field.
        stored: u64,
        /// What the label's bytes sum to.
        computed: u64,
    },
    /// A CXL label whose type is neither the namespace nor the region UUID.
    #[error("CXL label type {0} is neither a namespace nor a region label")]
    UnknownCxlType(Uuid),
    /// The slot lies past the end of the area.
    #[error("slot lies past the end of the area")]
    OutOfBounds,
}

/// Parses the label in `bytes` (exactly one slot of `version`'s size) sitting in `slot`,
/// applying Linux's activity checks (slot field, then checksum).
///
/// # Errors
///
/// The [`LabelFault`] that keeps it from being active.
pub fn parse_label(bytes: &[u8], version: LabelVersion, slot: u32) -> Result<Label, LabelFault> {
    read_label(bytes, version, Some(slot))
}

/// What validation and grouping read of an active label, without decoding the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LabelSummary {
    /// A CXL region label (not a namespace label).
    pub(crate) region: bool,
    /// The namespace or region UUID.
    pub(crate) uuid: [u8; 16],
    /// `NSLABEL_FLAG_*`.
    pub(crate) flags: u32,
    /// `nlabel` (EFI, CXL region) or `nrange` (CXL namespace).
    pub(crate) nlabel: u16,
    /// `position`.
    pub(crate) position: u16,
    /// `dpa`.
    pub(crate) dpa: u64,
    /// `rawsize`.
    pub(crate) rawsize: u64,
}

impl LabelSummary {
    /// One bit per warning this label deserves, in [`LabelSummary::warnings`] order
    /// (zero for a clean label, so the common case builds no warning).
    pub(crate) fn warning_bits(self, version: LabelVersion) -> u8 {
        let efi_or_region = version != LabelVersion::Cxl || self.region;
        u8::from(LabelFlags::from_bits_retain(self.flags).contains(LabelFlags::UPDATING))
            | u8::from(efi_or_region && self.position >= self.nlabel) << 1
            | u8::from(self.dpa.checked_add(self.rawsize).is_none()) << 2
            | u8::from(!(self.dpa | self.rawsize).is_multiple_of(4096)) << 3
    }

    /// The warnings for this label, in a fixed order (at most one of each kind).
    pub(crate) fn warnings(self, version: LabelVersion) -> impl Iterator<Item = LabelWarning> {
        let bits = self.warning_bits(version);
        let LabelSummary {
            flags: _,
            dpa,
            rawsize,
            position,
            nlabel,
            ..
        } = self;
        [
            LabelWarning::Updating,
            LabelWarning::Position { position, nlabel },
            LabelWarning::ExtentWraps { dpa, rawsize },
            LabelWarning::Unaligned { dpa, rawsize },
        ]
        .into_iter()
        .enumerate()
        .filter(move |&(i, _)| bits & (1 << i) != 0)
        .map(|(_, w)| w)
    }
}

/// Linux's activity checks on the label in `bytes` sitting in `slot` (the label kind
/// for CXL, the slot field, then the checksum for v1.2 and CXL), returning the fields
/// validation reads.
#[cfg(feature = "alloc")]
pub(crate) fn check_label(
    bytes: &[u8],
    version: LabelVersion,
    slot: u32,
) -> Result<LabelSummary, LabelFault> {
    let (summary, field) = match version {
        LabelVersion::V1_1 => {
            let l = EfiLabel::ref_from_bytes(bytes).map_err(|_| LabelFault::OutOfBounds)?;
            (efi_summary(l), l.slot.get())
        }
        LabelVersion::V1_2 => {
            let l = EfiLabelV1_2::ref_from_bytes(bytes).map_err(|_| LabelFault::OutOfBounds)?;
            (efi_summary(&l.base), l.base.slot.get())
        }
        LabelVersion::Cxl => {
            let ns =
                CxlNamespaceLabel::ref_from_bytes(bytes).map_err(|_| LabelFault::OutOfBounds)?;
            match Uuid(ns.r#type) {
                CXL_NAMESPACE_UUID => (
                    LabelSummary {
                        region: false,
                        uuid: ns.uuid,
                        flags: ns.flags.get(),
                        nlabel: ns.nrange.get(),
                        position: ns.position.get(),
                        dpa: ns.dpa.get(),
                        rawsize: ns.rawsize.get(),
                    },
                    ns.slot.get(),
                ),
                CXL_REGION_UUID => {
                    let r = CxlRegionLabel::ref_from_bytes(bytes)
                        .map_err(|_| LabelFault::OutOfBounds)?;
                    (
                        LabelSummary {
                            region: true,
                            uuid: r.uuid,
                            flags: r.flags.get(),
                            nlabel: r.nlabel.get(),
                            position: r.position.get(),
                            dpa: r.dpa.get(),
                            rawsize: r.rawsize.get(),
                        },
                        r.slot.get(),
                    )
                }
                other => return Err(LabelFault::UnknownCxlType(other)),
            }
        }
    };
    check_slot(field, slot)?;
    if version != LabelVersion::V1_1 {
        check_sum(bytes)?;
    }
    Ok(summary)
}

#[cfg(feature = "alloc")]
fn efi_summary(l: &EfiLabel) -> LabelSummary {
    LabelSummary {
        region: false,
        uuid: l.uuid,
        flags: l.flags.get(),
        nlabel: l.nlabel.get(),
        position: l.position.get(),
        dpa: l.dpa.get(),
        rawsize: l.rawsize.get(),
    }
}

/// Decodes the label in `bytes` as found, without the activity checks of
/// [`parse_label`] (slot field, checksum): for tools that show what is on media, such as
/// `ndctl read-labels`, which lists every slot whose slot field matches whatever its
/// checksum. A CXL label of neither kind is still [`LabelFault::UnknownCxlType`].
pub fn decode_label(bytes: &[u8], version: LabelVersion) -> Result<Label, LabelFault> {
    read_label(bytes, version, None)
}

/// Decodes the label in `bytes`, first applying the activity checks for `slot` if one
/// is given (the label kind for CXL, the slot field, then the checksum for v1.2 and
/// CXL).
fn read_label(bytes: &[u8], version: LabelVersion, slot: Option<u32>) -> Result<Label, LabelFault> {
    let check = |field: U32, checksum: bool| match slot {
        Some(slot) => {
            check_slot(field.get(), slot)?;
            if checksum { check_sum(bytes) } else { Ok(()) }
        }
        None => Ok(()),
    };
    match version {
        LabelVersion::V1_1 => {
            let l = EfiLabel::ref_from_bytes(bytes).map_err(|_| LabelFault::OutOfBounds)?;
            check(l.slot, false)?;
            Ok(Label::Namespace(from_efi(l, None)))
        }
        LabelVersion::V1_2 => {
            let l = EfiLabelV1_2::ref_from_bytes(bytes).map_err(|_| LabelFault::OutOfBounds)?;
            check(l.base.slot, true)?;
            Ok(Label::Namespace(from_efi(&l.base, Some(l))))
        }
        LabelVersion::Cxl => {
            let ns =
                CxlNamespaceLabel::ref_from_bytes(bytes).map_err(|_| LabelFault::OutOfBounds)?;
            match Uuid(ns.r#type) {
                CXL_NAMESPACE_UUID => {
                    check(ns.slot, true)?;
                    Ok(Label::Namespace(from_cxl(ns)))
                }
                CXL_REGION_UUID => {
                    let r = CxlRegionLabel::ref_from_bytes(bytes)
                        .map_err(|_| LabelFault::OutOfBounds)?;
                    check(r.slot, true)?;
                    Ok(Label::Region(RegionLabel {
                        uuid: Uuid(r.uuid),
                        flags: r.flags.get(),
                        nlabel: r.nlabel.get(),
                        position: r.position.get(),
                        dpa: r.dpa.get(),
                        rawsize: r.rawsize.get(),
                        hpa: r.hpa.get(),
                        slot: r.slot.get(),
                        ig: r.ig.get(),
                        align: r.align.get(),
                    }))
                }
                other => Err(LabelFault::UnknownCxlType(other)),
            }
        }
    }
}

fn check_slot(field: u32, slot: u32) -> Result<(), LabelFault> {
    if field == slot {
        Ok(())
    } else {
        Err(LabelFault::SlotMismatch { found: field })
    }
}

/// Checks the Fletcher64 at [`LABEL_CHECKSUM_OFFSET`] (every v1.2 and CXL label kind
/// keeps it there).
fn check_sum(bytes: &[u8]) -> Result<(), LabelFault> {
    let stored = bytes
        .get(LABEL_CHECKSUM_OFFSET..LABEL_CHECKSUM_OFFSET + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or(LabelFault::OutOfBounds)?;
    let computed = fletcher64_skipping(bytes, LABEL_CHECKSUM_OFFSET);
    if computed == stored {
        Ok(())
    } else {
        Err(LabelFault::Checksum { stored, computed })
    }
}

fn from_efi(l: &EfiLabel, ext: Option<&EfiLabelV1_2>) -> NamespaceLabel {
    NamespaceLabel {
        uuid: Uuid(l.uuid),
        name: Name(l.name),
        flags: l.flags.get(),
        nlabel: l.nlabel.get(),
        position: l.position.get(),
        isetcookie: l.isetcookie.get(),
        lbasize: l.lbasize.get(),
        dpa: l.dpa.get(),
        rawsize: l.rawsize.get(),
        slot: l.slot.get(),
        align: u32::from(l.align),
        type_guid: ext.map(|e| Guid(e.type_guid)),
        claim: ext.map(|e| ClaimClass::from_bytes(e.abstraction_guid, LabelVersion::V1_2)),
        region_uuid: None,
    }
}

fn from_cxl(l: &CxlNamespaceLabel) -> NamespaceLabel {
    NamespaceLabel {
        uuid: Uuid(l.uuid),
        name: Name(l.name),
        flags: l.flags.get(),
        nlabel: l.nrange.get(),
        position: l.position.get(),
        isetcookie: 0,
        lbasize: u64::from(l.lbasize.get()),
        dpa: l.dpa.get(),
        rawsize: l.rawsize.get(),
        slot: l.slot.get(),
        align: l.align.get(),
        type_guid: None,
        claim: Some(ClaimClass::from_bytes(
            l.abstraction_uuid,
            LabelVersion::Cxl,
        )),
        region_uuid: Some(Uuid(l.region_uuid)),
    }
}

/// A field value that does not fit the label format it is emitted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer is not exactly one label long.
    #[error("buffer of {found} bytes for a {expected}-byte label")]
    BufferSize {
        /// The buffer's length.
        found: usize,
        /// The label size.
        expected: usize,
    },
    /// A field does not fit (EFI `align` above 255, CXL `lbasize` above 65535).
    #[error("field {0} does not fit the label format")]
    FieldRange(&'static str),
    /// A region label in an EFI area.
    #[error("region labels exist only in CXL areas")]
    RegionInEfiArea,
}

impl Label {
    /// Writes this label into `out` (exactly one slot of `version`) with its checksum.
    /// Fields the format lacks (v1.1 GUIDs, EFI cookie in CXL) are dropped; reserved
    /// bytes are zero.
    ///
    /// # Errors
    ///
    /// [`EmitError`] if `out` has the wrong size or a field does not fit.
    pub fn emit(&self, version: LabelVersion, out: &mut [u8]) -> Result<(), EmitError> {
        if out.len() != version.label_size() {
            return Err(EmitError::BufferSize {
                found: out.len(),
                expected: version.label_size(),
            });
        }
        match (self, version) {
            (Label::Region(r), LabelVersion::Cxl) => {
                let mut l = CxlRegionLabel::new_zeroed();
                l.r#type = CXL_REGION_UUID.0;
                l.uuid = r.uuid.0;
                l.flags = r.flags.into();
                l.nlabel = r.nlabel.into();
                l.position = r.position.into();
                l.dpa = r.dpa.into();
                l.rawsize = r.rawsize.into();
                l.hpa = r.hpa.into();
                l.slot = r.slot.into();
                l.ig = r.ig.into();
                l.align = r.align.into();
                out.copy_from_slice(l.as_bytes());
            }
            (Label::Region(_), _) => return Err(EmitError::RegionInEfiArea),
            (Label::Namespace(n), LabelVersion::Cxl) => {
                let mut l = CxlNamespaceLabel::new_zeroed();
                l.r#type = CXL_NAMESPACE_UUID.0;
                l.uuid = n.uuid.0;
                l.name = n.name.0;
                l.flags = n.flags.into();
                l.nrange = n.nlabel.into();
                l.position = n.position.into();
                l.dpa = n.dpa.into();
                l.rawsize = n.rawsize.into();
                l.slot = n.slot.into();
                l.align = n.align.into();
                l.region_uuid = n.region_uuid.unwrap_or(Uuid::NIL).0;
                l.abstraction_uuid = n.claim.unwrap_or(ClaimClass::None).to_bytes(version);
                let lbasize =
                    u16::try_from(n.lbasize).map_err(|_| EmitError::FieldRange("lbasize"))?;
                l.lbasize = U16::new(lbasize);
                out.copy_from_slice(l.as_bytes());
            }
            (Label::Namespace(n), _) => {
                let mut l = EfiLabelV1_2::new_zeroed();
                let b = &mut l.base;
                b.uuid = n.uuid.0;
                b.name = n.name.0;
                b.flags = n.flags.into();
                b.nlabel = n.nlabel.into();
                b.position = n.position.into();
                b.isetcookie = n.isetcookie.into();
                b.lbasize = n.lbasize.into();
                b.dpa = n.dpa.into();
                b.rawsize = n.rawsize.into();
                b.slot = n.slot.into();
                b.align = u8::try_from(n.align).map_err(|_| EmitError::FieldRange("align"))?;
                l.type_guid = n.type_guid.unwrap_or(Guid::NIL).0;
                l.abstraction_guid = n.claim.unwrap_or(ClaimClass::None).to_bytes(version);
                let bytes = l.as_bytes();
                let len = version.label_size();
                out.copy_from_slice(bytes.get(..len).unwrap_or(bytes));
            }
        }
        if version != LabelVersion::V1_1 {
            let sum = fletcher64_skipping(out, LABEL_CHECKSUM_OFFSET);
            if let Some(field) = out.get_mut(LABEL_CHECKSUM_OFFSET..LABEL_CHECKSUM_OFFSET + 8) {
                field.copy_from_slice(&sum.to_le_bytes());
            }
        }
        Ok(())
    }
}

/// A problem with an active label that does not stop it from being active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelWarning {
    /// `NSLABEL_FLAG_UPDATING` is set: a multi-label update was interrupted (Linux does
    /// not check this on read).
    #[error("UPDATING flag set: interrupted label-set update")]
    Updating,
    /// `position >= nlabel` (EFI): Linux can never complete this set.
    #[error("position {position} is not below nlabel {nlabel}")]
    Position {
        /// `position`.
        position: u16,
        /// `nlabel`.
        nlabel: u16,
    },
    /// `dpa + rawsize` overflows 64 bits.
    #[error("extent at {dpa:#x} of {rawsize:#x} bytes wraps")]
    ExtentWraps {
        /// `dpa`.
        dpa: u64,
        /// `rawsize`.
        rawsize: u64,
    },
    /// `dpa` or `rawsize` is not a multiple of 4 KiB (old kernels rejected such labels).
    #[error("extent at {dpa:#x} of {rawsize:#x} bytes is not 4 KiB aligned")]
    Unaligned {
        /// `dpa`.
        dpa: u64,
        /// `rawsize`.
        rawsize: u64,
    },
}

/// The warnings for one active label, in a fixed order (at most one of each kind).
pub fn label_warnings(label: &Label, version: LabelVersion) -> impl Iterator<Item = LabelWarning> {
    let summary = match label {
        Label::Namespace(n) => LabelSummary {
            region: false,
            uuid: n.uuid.0,
            flags: n.flags,
            nlabel: n.nlabel,
            position: n.position,
            dpa: n.dpa,
            rawsize: n.rawsize,
        },
        Label::Region(r) => LabelSummary {
            region: true,
            uuid: r.uuid.0,
            flags: r.flags,
            nlabel: r.nlabel,
            position: r.position,
            dpa: r.dpa,
            rawsize: r.rawsize,
        },
    };
    summary.warnings(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(version: LabelVersion) -> Label {
        Label::Namespace(NamespaceLabel {
            uuid: Uuid([7; 16]),
            name: Name::new("ns0").expect("short"),
            flags: 0,
            nlabel: 1,
            position: 0,
            isetcookie: if version == LabelVersion::Cxl {
                0
            } else {
                0x00ba_9012_0012_b4dc
            },
            lbasize: 512,
            dpa: 0x20_0000,
            rawsize: 0x400_0000,
            slot: 5,
            align: 0,
            type_guid: (version == LabelVersion::V1_2).then_some(crate::layout::PMEM_TYPE_GUID),
            claim: (version != LabelVersion::V1_1).then_some(ClaimClass::Pfn),
            region_uuid: (version == LabelVersion::Cxl).then_some(Uuid([9; 16])),
        })
    }

    #[test]
    fn emit_then_parse_round_trips() {
        for version in [LabelVersion::V1_1, LabelVersion::V1_2, LabelVersion::Cxl] {
            let label = sample(version);
            let mut buf = [0xa5u8; 256];
            let out = &mut buf[..version.label_size()];
            label.emit(version, out).expect("fits");
            assert_eq!(parse_label(out, version, 5), Ok(label), "{version:?}");
            assert_eq!(
                parse_label(out, version, 6),
                Err(LabelFault::SlotMismatch { found: 5 })
            );
        }
    }

    #[test]
    fn checksum_damage_is_detected_but_not_in_v1_1() {
        for version in [LabelVersion::V1_1, LabelVersion::V1_2, LabelVersion::Cxl] {
            let mut buf = [0u8; 256];
            let out = &mut buf[..version.label_size()];
            sample(version).emit(version, out).expect("fits");
            out[40] ^= 1;
            let damaged = parse_label(out, version, 5);
            match version {
                LabelVersion::V1_1 => assert!(damaged.is_ok()),
                _ => assert!(matches!(damaged, Err(LabelFault::Checksum { .. }))),
            }
        }
    }

    #[test]
    fn claim_class_byte_orders() {
        let efi = ClaimClass::Pfn.to_bytes(LabelVersion::V1_2);
        let cxl = ClaimClass::Pfn.to_bytes(LabelVersion::Cxl);
        assert_eq!(efi[..4], [0xba, 0x00, 0x64, 0x26]);
        assert_eq!(cxl[..4], [0x26, 0x64, 0x00, 0xba]);
        assert_eq!(
            ClaimClass::from_bytes(efi, LabelVersion::V1_2),
            ClaimClass::Pfn
        );
        assert_eq!(
            ClaimClass::from_bytes(cxl, LabelVersion::Cxl),
            ClaimClass::Pfn
        );
        assert_eq!(
            ClaimClass::from_bytes(efi, LabelVersion::Cxl),
            ClaimClass::Unknown(efi)
        );
        assert_eq!(
            ClaimClass::from_bytes([0; 16], LabelVersion::V1_2),
            ClaimClass::None
        );
    }

    /// Each warning fires on exactly its own condition, carries the label's values, and
    /// they come in the documented order; a clean label has none, and a CXL namespace
    /// label (which has `nrange`, not a position in a set) never gets `Position`.
    #[test]
    fn warnings() {
        let Label::Namespace(clean) = sample(LabelVersion::V1_2) else {
            unreachable!()
        };
        let warnings = |n: NamespaceLabel, version| -> std::vec::Vec<LabelWarning> {
            label_warnings(&Label::Namespace(n), version).collect()
        };
        assert_eq!(warnings(clean, LabelVersion::V1_2), []);
        let updating = NamespaceLabel {
            flags: crate::layout::NSLABEL_FLAG_UPDATING,
            ..clean
        };
        assert_eq!(
            warnings(updating, LabelVersion::V1_2),
            [LabelWarning::Updating]
        );
        let position = NamespaceLabel {
            position: 1,
            ..clean
        };
        let expect = LabelWarning::Position {
            position: 1,
            nlabel: 1,
        };
        assert_eq!(warnings(position, LabelVersion::V1_2), [expect]);
        assert_eq!(warnings(position, LabelVersion::V1_1), [expect]);
        assert_eq!(warnings(position, LabelVersion::Cxl), []);
        let unaligned = NamespaceLabel {
            rawsize: clean.rawsize + 512,
            ..clean
        };
        assert_eq!(
            warnings(unaligned, LabelVersion::V1_2),
            [LabelWarning::Unaligned {
                dpa: clean.dpa,
                rawsize: clean.rawsize + 512
            }]
        );
        // A wrapping extent at 4 KiB-aligned values wraps without being unaligned.
        let wraps = NamespaceLabel {
            dpa: u64::MAX - 0xfff,
            ..clean
        };
        assert_eq!(
            warnings(wraps, LabelVersion::V1_2),
            [LabelWarning::ExtentWraps {
                dpa: u64::MAX - 0xfff,
                rawsize: clean.rawsize
            }]
        );
        let all = NamespaceLabel {
            flags: crate::layout::NSLABEL_FLAG_UPDATING,
            position: 1,
            dpa: u64::MAX - 10,
            ..clean
        };
        assert_eq!(
            warnings(all, LabelVersion::V1_2),
            [
                LabelWarning::Updating,
                expect,
                LabelWarning::ExtentWraps {
                    dpa: u64::MAX - 10,
                    rawsize: clean.rawsize
                },
                LabelWarning::Unaligned {
                    dpa: u64::MAX - 10,
                    rawsize: clean.rawsize
                },
            ]
        );
    }

    extern crate std;
}
