// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Writing label areas: `init` (what `ndctl init-labels` and the kernel's `init_labels`
//! write), and namespace create, delete, rename and resize with the kernel's update
//! order (`__pmem_label_update`, `del_labels`):
//!
//! 1. the new label goes into the lowest free slot of the current bitmap (a slot the
//!    current index does not reference, so a crash leaves the old state intact);
//! 2. the *other* index block is written whole with the next sequence number, the new
//!    slot marked used and the replaced slots marked free. This single block write is
//!    the commit point: torn, its checksum fails and the old block still wins; landed,
//!    `best_seq` picks it.
//!
//! Every check runs and every byte is encoded before the first write, so an update that
//! returns an error (other than a storage failure) leaves the area untouched. Writes go
//! through [`write_all`] in pieces of at most [`Storage::max_transfer`] bytes.
//!
//! This writer creates single-DIMM namespaces (`nlabel` 1, position 0), like a
//! hypervisor carving its own namespaces; updates of interleaved sets (the kernel's
//! two-pass UPDATING protocol across DIMMs) are out of scope.

use alloc::vec;
use alloc::vec::Vec;

use zerocopy::{FromZeros, IntoBytes};

use crate::checksum::fletcher64_skipping;
use crate::error::Error;
use crate::index::{Geometry, LabelVersion, next_seq};
use crate::label::{ClaimClass, Label, Name, NamespaceLabel};
use crate::layout::{
    INDEX_CHECKSUM_OFFSET, INDEX_HEADER_SIZE, NSINDEX_SIGNATURE, NamespaceIndex, PMEM_TYPE_GUID,
};
use crate::lsa::Lsa;
use crate::storage::{Storage, read_all, write_all};
use crate::uuid::{Guid, Uuid};

/// How `init` fills the free bitmap past `nslot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitStyle {
    /// The kernel (`nd_label_write_index` with `ND_NSINDEX_INIT`): bits past `nslot`
    /// cleared, as UEFI requires.
    Kernel,
    /// ndctl `init-labels` (v81): bits up to `nslot` rounded up to 64 left set.
    Ndctl,
}

/// Fields of an index block to emit.
struct IndexSpec<'a> {
    geometry: Geometry,
    version: LabelVersion,
    major_minor: (u16, u16),
    block: u8,
    seq: u32,
    nslot: u32,
    free: &'a [u8],
}

/// Encodes a whole index block (`index_size` bytes) with its checksum.
fn emit_index(spec: &IndexSpec<'_>) -> Vec<u8> {
    let s = spec.geometry.index_size;
    let mut h = NamespaceIndex::new_zeroed();
    h.sig = NSINDEX_SIGNATURE;
    h.labelsize = spec.version.labelsize_field();
    h.seq = spec.seq.into();
    h.myoff = (u64::from(spec.block) * s).into();
    h.mysize = s.into();
    h.otheroff = (u64::from(1 - spec.block) * s).into();
    h.labeloff = spec.geometry.label_base().into();
    h.nslot = spec.nslot.into();
    h.major = spec.major_minor.0.into();
    h.minor = spec.major_minor.1.into();
    let mut out = vec![0u8; usize::try_from(s).unwrap_or(0)];
    out.iter_mut().zip(h.as_bytes()).for_each(|(d, s)| *d = *s);
    if let Some(dst) = out.get_mut(INDEX_HEADER_SIZE..) {
        dst.iter_mut().zip(spec.free).for_each(|(d, s)| *d = *s);
    }
    let sum = fletcher64_skipping(&out, INDEX_CHECKSUM_OFFSET);
    if let Some(field) = out.get_mut(INDEX_CHECKSUM_OFFSET..INDEX_CHECKSUM_OFFSET + 8) {
        field.copy_from_slice(&sum.to_le_bytes());
    }
    out
}

/// Initializes `storage` as an empty area of `version`: index 0 with sequence 3, then
/// index 1 with sequence 2, every slot free. Old label bytes stay in the (now free)
/// slots, as with Linux and ndctl. Not crash-safe by nature: it replaces everything.
///
/// # Errors
///
/// [`Error::AreaTooSmall`] when the size admits no index; [`Error::Storage`].
pub fn init<S: Storage + ?Sized>(
    storage: &mut S,
    version: LabelVersion,
    style: InitStyle,
) -> Result<(), Error> {
    let config_size = storage.size();
    let label_size = version.label_size() as u64;
    let geometry = Geometry::new(config_size, label_size).ok_or(Error::AreaTooSmall {
        config_size,
        label_size,
    })?;
    let nslot = geometry.nslot;
    let set_bits = match style {
        InitStyle::Kernel => nslot,
        InitStyle::Ndctl => nslot.next_multiple_of(64),
    };
    let mut free = vec![0u8; set_bits.div_ceil(8) as usize];
    for bit in 0..set_bits {
        set_bit(&mut free, bit);
    }
    for (block, seq) in [(0u8, 3u32), (1, 2)] {
        let bytes = emit_index(&IndexSpec {
            geometry,
            version,
            major_minor: version.major_minor(),
            block,
            seq,
            nslot,
            free: &free,
        });
        write_all(storage, u64::from(block) * geometry.index_size, &bytes)?;
    }
    Ok(())
}

fn set_bit(bitmap: &mut [u8], bit: u32) {
    if let Some(b) = bitmap.get_mut((bit / 8) as usize) {
        *b |= 1 << (bit % 8);
    }
}

fn clear_bit(bitmap: &mut [u8], bit: u32) {
    if let Some(b) = bitmap.get_mut((bit / 8) as usize) {
        *b &= !(1 << (bit % 8));
    }
}

/// The DIMM region new namespaces go into: what Linux takes from the NFIT (mapping
/// window, interleave-set cookie, SPA range type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First DPA of the window namespaces may use.
    pub dpa_start: u64,
    /// Bytes in the window.
    pub dpa_size: u64,
    /// Interleave-set cookie for EFI labels (cookie1 for v1.1, cookie2 for v1.2; see
    /// [`cookie`](crate::cookie)). Linux skips labels whose cookie does not match.
    pub isetcookie: u64,
    /// v1.2 `type_guid` (the NFIT SPA range type; Linux requires a match).
    pub type_guid: Guid,
    /// CXL `region_uuid`.
    pub region_uuid: Uuid,
    /// Alignment of namespace DPA and size.
    pub align: u64,
}

impl Region {
    /// A persistent-memory window `[0, dpa_size)` with the given cookie and 2 MiB
    /// alignment (x86-64 `memremap_compat_align`).
    #[must_use]
    pub fn pmem(dpa_size: u64, isetcookie: u64) -> Region {
        Region {
            dpa_start: 0,
            dpa_size,
            isetcookie,
            type_guid: PMEM_TYPE_GUID,
            region_uuid: Uuid::NIL,
            align: 2 << 20,
        }
    }
}

/// A namespace to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceSpec {
    /// Namespace UUID.
    pub uuid: Uuid,
    /// Name.
    pub name: Name,
    /// Bytes (a non-zero multiple of the region alignment).
    pub size: u64,
    /// Fixed DPA, or `None` for the lowest free aligned range.
    pub dpa: Option<u64>,
    /// Claim class (v1.2 and CXL; ignored for v1.1).
    pub claim: ClaimClass,
    /// Logical block size.
    pub lbasize: u64,
}

impl NamespaceSpec {
    /// A raw namespace of `size` bytes at the lowest free DPA, sector size 512.
    #[must_use]
    pub fn new(uuid: Uuid, name: Name, size: u64) -> NamespaceSpec {
        NamespaceSpec {
            uuid,
            name,
            size,
            dpa: None,
            claim: ClaimClass::None,
            lbasize: 512,
        }
    }
}

/// Updates a label area on a [`Storage`].
#[derive(Debug)]
pub struct Writer<S> {
    storage: S,
    region: Region,
}

impl<S: Storage> Writer<S> {
    /// A writer for the area in `storage`, creating namespaces in `region`.
    pub fn new(storage: S, region: Region) -> Writer<S> {
        Writer { storage, region }
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Gives the storage back.
    pub fn into_inner(self) -> S {
        self.storage
    }

    /// Reads and parses the whole area.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`], or any parse error.
    pub fn read(&mut self) -> Result<Lsa, Error> {
        self.load()
    }

    fn load(&mut self) -> Result<Lsa, Error> {
        let size = usize::try_from(self.storage.size()).map_err(|_| Error::AreaTooSmall {
            config_size: self.storage.size(),
            label_size: 0,
        })?;
        let mut area = vec![0u8; size];
        read_all(&mut self.storage, 0, &mut area)?;
        Lsa::from_vec(area)
    }

    /// Creates a namespace: one label, then the index.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceExists`], [`Error::Misaligned`], [`Error::NoSpace`],
    /// [`Error::NoFreeSlot`] (one slot is kept spare for updates, as Linux does),
    /// [`Error::Emit`] (a field too large for the format), [`Error::Storage`].
    pub fn create(&mut self, spec: &NamespaceSpec) -> Result<(), Error> {
        let lsa = self.load()?;
        if namespace_labels(&lsa).any(|l| l.uuid == spec.uuid) {
            return Err(Error::NamespaceExists(spec.uuid));
        }
        let free = lsa.free_slots();
        if free < 2 {
            return Err(Error::NoFreeSlot { needed: 2, free });
        }
        let dpa = match spec.dpa {
            Some(dpa) => {
                self.check_extent(&lsa, None, dpa, spec.size)?;
                dpa
            }
            None => self.first_fit(&lsa, spec.size)?,
        };
        let version = lsa.version();
        let label = NamespaceLabel {
            uuid: spec.uuid,
            name: spec.name,
            flags: 0,
            nlabel: 1,
            position: 0,
            isetcookie: if version == LabelVersion::Cxl {
                0
            } else {
                self.region.isetcookie
            },
            lbasize: spec.lbasize,
            dpa,
            rawsize: spec.size,
            slot: 0,
            align: 0,
            type_guid: (version == LabelVersion::V1_2).then_some(self.region.type_guid),
            claim: (version != LabelVersion::V1_1).then_some(spec.claim),
            region_uuid: (version == LabelVersion::Cxl).then_some(self.region.region_uuid),
        };
        self.commit(&lsa, Some(label), &[])
    }

    /// Deletes a namespace: frees every label with its UUID in one index write.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchNamespace`], [`Error::Storage`].
    pub fn delete(&mut self, uuid: Uuid) -> Result<(), Error> {
        let lsa = self.load()?;
        let slots: Vec<u32> = namespace_labels(&lsa)
            .filter(|l| l.uuid == uuid)
            .map(|l| l.slot)
            .collect();
        if slots.is_empty() {
            return Err(Error::NoSuchNamespace(uuid));
        }
        self.commit(&lsa, None, &slots)
    }

    /// Renames a namespace: a new label with the new name, then the index that frees
    /// the old one.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchNamespace`], [`Error::MultiExtent`], [`Error::NoFreeSlot`],
    /// [`Error::Storage`].
    pub fn rename(&mut self, uuid: Uuid, name: Name) -> Result<(), Error> {
        let lsa = self.load()?;
        let old = single_label(&lsa, uuid)?;
        self.commit(&lsa, Some(NamespaceLabel { name, ..old }), &[old.slot])
    }

    /// Resizes a namespace in place (same DPA; growing needs free DPA after it).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchNamespace`], [`Error::MultiExtent`], [`Error::Misaligned`],
    /// [`Error::NoSpace`], [`Error::NoFreeSlot`], [`Error::Storage`].
    pub fn resize(&mut self, uuid: Uuid, size: u64) -> Result<(), Error> {
        let lsa = self.load()?;
        let old = single_label(&lsa, uuid)?;
        self.check_extent(&lsa, Some(uuid), old.dpa, size)?;
        self.commit(
            &lsa,
            Some(NamespaceLabel {
                rawsize: size,
                ..old
            }),
            &[old.slot],
        )
    }

    /// Checks alignment, the window, and overlap with other namespaces' extents.
    fn check_extent(
        &self,
        lsa: &Lsa,
        except: Option<Uuid>,
        dpa: u64,
        size: u64,
    ) -> Result<(), Error> {
        let align = self.region.align.max(1);
        if size == 0 || !size.is_multiple_of(align) || !dpa.is_multiple_of(align) {
            return Err(Error::Misaligned { dpa, size, align });
        }
        let no_space = Error::NoSpace { dpa, size };
        let end = dpa.checked_add(size).ok_or(no_space)?;
        let window_end = self.region.dpa_start.saturating_add(self.region.dpa_size);
        if dpa < self.region.dpa_start || end > window_end {
            return Err(no_space);
        }
        let overlaps = namespace_labels(lsa)
            .filter(|l| Some(l.uuid) != except)
            .any(|l| dpa < l.dpa.saturating_add(l.rawsize) && l.dpa < end);
        if overlaps { Err(no_space) } else { Ok(()) }
    }

    /// The lowest aligned DPA where `size` bytes fit.
    fn first_fit(&self, lsa: &Lsa, size: u64) -> Result<u64, Error> {
        let align = self.region.align.max(1);
        let mut extents: Vec<(u64, u64)> = namespace_labels(lsa)
            .map(|l| (l.dpa, l.dpa.saturating_add(l.rawsize)))
            .collect();
        extents.sort_unstable();
        let mut candidate = self.region.dpa_start.next_multiple_of(align);
        for (start, end) in extents {
            if candidate.saturating_add(size) <= start {
                break;
            }
            candidate = candidate.max(end.next_multiple_of(align));
        }
        self.check_extent(lsa, None, candidate, size)?;
        Ok(candidate)
    }

    /// Plans the whole update (label into the lowest free slot, `free` slots released,
    /// the other index block with the next sequence), then performs the writes.
    fn commit(
        &mut self,
        lsa: &Lsa,
        new: Option<NamespaceLabel>,
        free: &[u32],
    ) -> Result<(), Error> {
        let current = lsa.index();
        let version = current.version;
        let nslot = current.nslot();
        let mut bitmap = lsa.free_bitmap().to_vec();
        // Bits past nslot: cleared, as UEFI and the kernel want.
        for bit in nslot..nslot.next_multiple_of(8) {
            clear_bit(&mut bitmap, bit);
        }
        let mut writes: Vec<(u64, Vec<u8>)> = Vec::new();
        if let Some(mut label) = new {
            let slot = (0..nslot)
                .find(|&s| lsa.is_free(s))
                .ok_or(Error::NoFreeSlot { needed: 1, free: 0 })?;
            clear_bit(&mut bitmap, slot);
            label.slot = slot;
            let mut bytes = vec![0u8; version.label_size()];
            Label::Namespace(label).emit(version, &mut bytes)?;
            let offset =
                current.geometry.label_base() + u64::from(slot) * version.label_size() as u64;
            writes.push((offset, bytes));
        }
        for &slot in free {
            set_bit(&mut bitmap, slot);
        }
        let block = 1 - current.block;
        let index = emit_index(&IndexSpec {
            geometry: current.geometry,
            version,
            major_minor: (current.header.major.get(), current.header.minor.get()),
            block,
            seq: next_seq(current.seq()),
            nslot,
            free: &bitmap,
        });
        writes.push((u64::from(block) * current.geometry.index_size, index));
        for (offset, bytes) in writes {
            write_all(&mut self.storage, offset, &bytes)?;
        }
        Ok(())
    }
}

fn namespace_labels(lsa: &Lsa) -> impl Iterator<Item = NamespaceLabel> + '_ {
    lsa.labels().iter().filter_map(|l| match l {
        Label::Namespace(n) => Some(n),
        Label::Region(_) => None,
    })
}

fn single_label(lsa: &Lsa, uuid: Uuid) -> Result<NamespaceLabel, Error> {
    let mut it = namespace_labels(lsa).filter(|l| l.uuid == uuid);
    let first = it.next().ok_or(Error::NoSuchNamespace(uuid))?;
    if it.next().is_some() {
        return Err(Error::MultiExtent(uuid));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::fletcher64_skipping;

    fn index_checksum(area: &[u8], block: usize) -> u64 {
        let s = 256 * block;
        u64::from_le_bytes(area[s + 64..s + 72].try_into().expect("8 bytes"))
    }

    #[test]
    fn init_matches_reference_checksums() {
        // Index-block checksums (`nd_fletcher64`, `drivers/nvdimm/core.c`) of freshly
        // initialized 128 KiB areas, as Linux's `init_labels` (`drivers/nvdimm/label.c`)
        // and ndctl's `init-labels` write them.
        let cases = [
            (
                LabelVersion::V1_2,
                InitStyle::Kernel,
                [0xe793e3ed18323c1c, 0xe793e7b218323c1b],
            ),
            (
                LabelVersion::V1_2,
                InitStyle::Ndctl,
                [0x2793e3edd8323c1c, 0x2793e7b2d8323c1b],
            ),
            (
                LabelVersion::V1_1,
                InitStyle::Kernel,
                [0xdb634621e7313e0a, 0xdb6349e6e7313e09],
            ),
            (
                LabelVersion::V1_1,
                InitStyle::Ndctl,
                [0xeb634621d7313e0a, 0xeb6349e6d7313e09],
            ),
        ];
        for (version, style, sums) in cases {
            let mut area = vec![0u8; 128 << 10];
            init(&mut area, version, style).expect("init");
            assert_eq!(index_checksum(&area, 0), sums[0], "{version:?} {style:?}");
            assert_eq!(index_checksum(&area, 1), sums[1], "{version:?} {style:?}");
            assert_eq!(fletcher64_skipping(&area[..256], 64), sums[0]);
            let lsa = Lsa::parse(&area).expect("valid");
            assert_eq!(lsa.version(), version);
            assert_eq!(lsa.index().block, 0);
            assert!(lsa.labels().is_empty());
            assert!(!lsa.is_damaged());
            assert_eq!(lsa.diagnostics().is_empty(), style == InitStyle::Kernel);
        }
    }
}
