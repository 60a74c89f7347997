// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A whole label storage area: the current index, its active labels, the namespaces they
//! form on this DIMM, and every diagnostic.
//!
//! [`active_slots`] is the allocation-free core (one pass over the slots in use);
//! [`Lsa`] (feature `alloc`) collects its results and groups labels into namespaces.

use crate::index::{IndexBlock, bit_is_set};
use crate::label::{Label, LabelFault, parse_label};
use crate::layout::INDEX_HEADER_SIZE;

/// The free bitmap of an index block: `ceil(nslot / 8)` bytes after the header.
fn bitmap<'a>(area: &'a [u8], index: &IndexBlock) -> &'a [u8] {
    let start = usize::try_from(index.offset()).unwrap_or(usize::MAX);
    let start = start.saturating_add(INDEX_HEADER_SIZE);
    let len = index.nslot().div_ceil(8) as usize;
    area.get(start..start.saturating_add(len)).unwrap_or(&[])
}

/// Set bits at positions `nslot..` within an index block's bitmap space (UEFI: must be
/// zero; ndctl's initializer leaves them set).
#[must_use]
pub fn free_bits_past_nslot(area: &[u8], index: &IndexBlock) -> u32 {
    let start = usize::try_from(index.offset()).unwrap_or(usize::MAX);
    let end = usize::try_from(index.offset() + index.geometry.index_size).unwrap_or(usize::MAX);
    let Some(bits) = area.get(start.saturating_add(INDEX_HEADER_SIZE)..end) else {
        return 0;
    };
    let nslot = index.nslot();
    let first = (nslot / 8) as usize;
    bits.iter()
        .enumerate()
        .skip(first)
        .map(|(i, &b)| {
            let mask = if i == first {
                0xffu8 << (nslot % 8)
            } else {
                0xff
            };
            (b & mask).count_ones()
        })
        .sum()
}

/// Iterator over the slots in use (free bit clear) of the current index, yielding each
/// slot number with its label or the fault that keeps it inactive. Allocation-free.
#[derive(Debug, Clone)]
pub struct ActiveSlots<'a> {
    area: &'a [u8],
    bitmap: &'a [u8],
    index: IndexBlock,
    next: u32,
}

/// The slots in use of `index` (normally the current block from
/// [`select`](crate::index::select)) in `area`.
#[must_use]
pub fn active_slots<'a>(area: &'a [u8], index: &IndexBlock) -> ActiveSlots<'a> {
    ActiveSlots {
        area,
        bitmap: bitmap(area, index),
        index: *index,
        next: 0,
    }
}

impl<'a> ActiveSlots<'a> {
    /// The next slot in use and its bytes (`None` past the end of the area).
    fn next_in_use(&mut self) -> Option<(u32, Option<&'a [u8]>)> {
        let nslot = self.index.nslot();
        while self.next < nslot {
            let slot = self.next;
            self.next += 1;
            // Skip whole free bytes quickly.
            if slot.is_multiple_of(8) && self.bitmap.get((slot / 8) as usize) == Some(&0xff) {
                self.next = slot + 8;
                continue;
            }
            if bit_is_set(self.bitmap, slot) {
                continue;
            }
            let size = self.index.version.label_size();
            let start = self.index.geometry.label_base() + u64::from(slot) * size as u64;
            let bytes = usize::try_from(start)
                .ok()
                .and_then(|s| self.area.get(s..s.checked_add(size)?));
            return Some((slot, bytes));
        }
        None
    }
}

impl Iterator for ActiveSlots<'_> {
    type Item = (u32, Result<Label, LabelFault>);

    fn next(&mut self) -> Option<Self::Item> {
        let (slot, bytes) = self.next_in_use()?;
        let label = match bytes {
            Some(b) => parse_label(b, self.index.version, slot),
            None => Err(LabelFault::OutOfBounds),
        };
        Some((slot, label))
    }
}

#[cfg(feature = "alloc")]
pub use owned::*;

#[cfg(feature = "alloc")]
mod owned {
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::fmt;

    use super::{active_slots, bitmap, free_bits_past_nslot};
    use crate::error::Error;
    use crate::index::{IndexBlock, IndexFault, LabelVersion, bit_is_set, select};
    use crate::label::{
        ClaimClass, Label, LabelFault, LabelWarning, Name, NamespaceLabel, RegionLabel,
        check_label, decode_label,
    };
    use crate::layout::LabelFlags;
    use crate::uuid::{Guid, Uuid};

    /// Something worth reporting about an area that Linux would still accept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    #[non_exhaustive]
    pub enum Diagnostic {
        /// One index block is invalid; the other one is used (Linux tolerates this).
        #[error("index block {block} is invalid: {fault}")]
        IndexInvalid {
            /// 0 or 1.
            block: u8,
            /// Why.
            fault: IndexFault,
        },
        /// Free-bitmap bits past `nslot` are set (what `ndctl init-labels` writes; UEFI
        /// says they must be zero; Linux ignores them).
        #[error("index block {block} has {count} free bits set past nslot")]
        FreeBitsPastNslot {
            /// 0 or 1.
            block: u8,
            /// How many.
            count: u32,
        },
        /// A slot in use holds no active label; Linux skips it.
        #[error("slot {slot}: {fault}")]
        LabelInvalid {
            /// The slot.
            slot: u32,
            /// Why.
            fault: LabelFault,
        },
        /// An active label with a problem.
        #[error("slot {slot}: {warning}")]
        LabelWarning {
            /// The slot.
            slot: u32,
            /// The problem.
            warning: LabelWarning,
        },
        /// Two active labels carry the same namespace UUID (and are not the ranges of one
        /// BLK or CXL namespace): Linux drops the namespace ("duplicate entry for uuid").
        #[error("slot {slot}: duplicate label for namespace {uuid}")]
        DuplicateUuid {
            /// The namespace.
            uuid: Uuid,
            /// One of the slots.
            slot: u32,
        },
    }

    impl Diagnostic {
        /// Whether this means damage (`lsa check` fails), as opposed to a harmless quirk
        /// (bits past `nslot`, an unaligned extent).
        #[must_use]
        pub fn is_damage(&self) -> bool {
            !matches!(
                self,
                Diagnostic::FreeBitsPastNslot { .. }
                    | Diagnostic::LabelWarning {
                        warning: LabelWarning::Unaligned { .. },
                        ..
                    }
            )
        }
    }

    /// One DPA extent of a namespace on this DIMM.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Extent {
        /// First DIMM physical address.
        pub dpa: u64,
        /// Length in bytes (`rawsize`).
        pub size: u64,
        /// The slot of the label describing it.
        pub slot: u32,
    }

    /// The extents of a namespace on this DIMM, in label position order: one for pmem,
    /// several for BLK (`NSLABEL_FLAG_LOCAL`) and CXL namespaces. The first is stored
    /// inline, so the common case allocates nothing.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct Extents {
        first: Extent,
        rest: Vec<Extent>,
    }

    impl Extents {
        /// The first extent (lowest position).
        #[must_use]
        pub fn first(&self) -> &Extent {
            &self.first
        }

        /// All extents.
        pub fn iter(&self) -> impl Iterator<Item = &Extent> {
            core::iter::once(&self.first).chain(&self.rest)
        }

        /// Number of extents (at least one).
        #[must_use]
        pub fn len(&self) -> usize {
            1 + self.rest.len()
        }

        /// Always false: a namespace has at least one extent.
        #[must_use]
        pub fn is_empty(&self) -> bool {
            false
        }
    }

    /// A namespace as this DIMM's labels describe it. For an interleaved namespace
    /// (`nlabel > 1`) this is this DIMM's share; the other DIMMs hold the other
    /// positions.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct Namespace {
        /// Namespace UUID (Linux `raw_uuid`).
        pub uuid: Uuid,
        /// Name.
        pub name: Name,
        /// `NSLABEL_FLAG_*` of the first label.
        pub flags: u32,
        /// Labels in the interleave set (EFI `nlabel`; CXL `nrange`).
        pub nlabel: u16,
        /// This DIMM's position in the set (of the first label).
        pub position: u16,
        /// Interleave-set cookie (0 for CXL).
        pub isetcookie: u64,
        /// Logical block size.
        pub lbasize: u64,
        /// v1.2: SPA range type GUID.
        pub type_guid: Option<Guid>,
        /// v1.2 and CXL: claim class.
        pub claim: Option<ClaimClass>,
        /// CXL: the region UUID.
        pub region_uuid: Option<Uuid>,
        /// The extents on this DIMM.
        pub extents: Extents,
    }

    impl Namespace {
        /// Bytes of DPA on this DIMM (sum of `rawsize`).
        #[must_use]
        pub fn size(&self) -> u64 {
            self.extents
                .iter()
                .fold(0u64, |acc, e| acc.saturating_add(e.size))
        }
    }

    /// A parsed, validated label storage area.
    ///
    /// It keeps one copy of the area's bytes; the active labels and the namespaces are
    /// slot indices into it, decoded when read. Parsing therefore allocates a fixed
    /// handful of buffers whatever the number of labels, and copies no label.
    #[derive(Clone)]
    pub struct Lsa {
        area: Box<[u8]>,
        current: IndexBlock,
        other: Result<IndexBlock, IndexFault>,
        /// Slots of the active labels, ascending.
        labels: Vec<u32>,
        /// Slots of the namespace labels, sorted by (UUID, position, slot).
        members: Vec<u32>,
        /// Each namespace as a range `start..end` of `members`, in UUID order.
        namespaces: Vec<(u32, u32)>,
        diagnostics: Vec<Diagnostic>,
    }

    /// What grouping needs of one namespace label. Field order is the sort order:
    /// `uuid` as a big-endian integer orders like the 16 bytes, and `slot` is unique.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct GroupKey {
        uuid: u128,
        position: u16,
        slot: u32,
        local: bool,
    }

    impl Lsa {
        /// Parses and validates a whole area (its length is the area size), keeping a
        /// copy of its bytes.
        ///
        /// # Errors
        ///
        /// [`Error::NoValidIndex`] when neither index block is valid (an uninitialized
        /// area, to Linux).
        pub fn parse(area: &[u8]) -> Result<Lsa, Error> {
            Lsa::from_bytes(Box::from(area))
        }

        /// [`Lsa::parse`] of an area already read into a vector, without copying it.
        ///
        /// # Errors
        ///
        /// As [`Lsa::parse`].
        pub fn from_vec(area: Vec<u8>) -> Result<Lsa, Error> {
            Lsa::from_bytes(area.into_boxed_slice())
        }

        fn from_bytes(area: Box<[u8]>) -> Result<Lsa, Error> {
            let selection = select(&area)?;
            let current = selection.current;
            let mut diagnostics = Vec::new();
            if let Err(fault) = selection.other {
                diagnostics.push(Diagnostic::IndexInvalid {
                    block: 1 - current.block,
                    fault,
                });
            }
            for index in core::iter::once(&current).chain(selection.other.as_ref().ok()) {
                let count = free_bits_past_nslot(&area, index);
                if count > 0 {
                    diagnostics.push(Diagnostic::FreeBitsPastNslot {
                        block: index.block,
                        count,
                    });
                }
            }
            let free_count: u32 = bitmap(&area, &current).iter().map(|b| b.count_ones()).sum();
            let in_use = current.nslot().saturating_sub(free_count) as usize;
            let mut labels = Vec::with_capacity(in_use);
            let mut keys = Vec::with_capacity(in_use);
            let mut slots = active_slots(&area, &current);
            while let Some((slot, bytes)) = slots.next_in_use() {
                let label = match bytes {
                    Some(b) => check_label(b, current.version, slot),
                    None => Err(LabelFault::OutOfBounds),
                };
                match label {
                    Ok(label) => {
                        if label.warning_bits(current.version) != 0 {
                            diagnostics.extend(
                                label
                                    .warnings(current.version)
                                    .map(|warning| Diagnostic::LabelWarning { slot, warning }),
                            );
                        }
                        if !label.region {
                            keys.push(GroupKey {
                                uuid: u128::from_be_bytes(label.uuid),
                                position: label.position,
                                slot,
                                local: LabelFlags::from_bits_retain(label.flags)
                                    .contains(LabelFlags::LOCAL),
                            });
                        }
                        labels.push(slot);
                    }
                    Err(fault) => diagnostics.push(Diagnostic::LabelInvalid { slot, fault }),
                }
            }
            let (members, namespaces) = group(keys, current.version, &mut diagnostics);
            Ok(Lsa {
                area,
                current,
                other: selection.other,
                labels,
                members,
                namespaces,
                diagnostics,
            })
        }

        /// The current index block.
        #[must_use]
        pub fn index(&self) -> &IndexBlock {
            &self.current
        }

        /// The other index block, or why it is invalid.
        pub fn other_index(&self) -> Result<&IndexBlock, IndexFault> {
            self.other.as_ref().map_err(|e| *e)
        }

        /// The label format.
        #[must_use]
        pub fn version(&self) -> LabelVersion {
            self.current.version
        }

        /// The area's bytes, as parsed.
        #[must_use]
        pub fn area(&self) -> &[u8] {
            &self.area
        }

        /// The active labels, in slot order.
        #[must_use]
        pub fn labels(&self) -> Labels<'_> {
            Labels { lsa: self }
        }

        /// The CXL region labels among the active labels.
        pub fn regions(&self) -> impl Iterator<Item = RegionLabel> + '_ {
            self.labels().iter().filter_map(|l| match l {
                Label::Region(r) => Some(r),
                Label::Namespace(_) => None,
            })
        }

        /// The namespaces, sorted by UUID.
        #[must_use]
        pub fn namespaces(&self) -> Namespaces<'_> {
            Namespaces { lsa: self }
        }

        /// Every diagnostic, in the order found.
        #[must_use]
        pub fn diagnostics(&self) -> &[Diagnostic] {
            &self.diagnostics
        }

        /// Whether any diagnostic means damage.
        #[must_use]
        pub fn is_damaged(&self) -> bool {
            self.diagnostics.iter().any(Diagnostic::is_damage)
        }

        /// The current index's free bitmap (`ceil(nslot / 8)` bytes, bit set = free).
        #[must_use]
        pub fn free_bitmap(&self) -> &[u8] {
            bitmap(&self.area, &self.current)
        }

        /// Whether `slot` is free in the current index.
        #[must_use]
        pub fn is_free(&self, slot: u32) -> bool {
            slot < self.current.nslot() && bit_is_set(self.free_bitmap(), slot)
        }

        /// Number of free slots in the current index.
        #[must_use]
        pub fn free_slots(&self) -> u32 {
            (0..self.current.nslot())
                .map(|s| u32::from(self.is_free(s)))
                .sum()
        }

        /// The label in `slot`, decoded. Every slot this type keeps passed Linux's checks
        /// (`parse_label`) on these same bytes, so this finds it.
        fn label_at(&self, slot: u32) -> Option<Label> {
            let size = self.current.version.label_size();
            let start = self.current.geometry.label_base() + u64::from(slot) * size as u64;
            let start = usize::try_from(start).ok()?;
            let bytes = self.area.get(start..start.checked_add(size)?)?;
            decode_label(bytes, self.current.version).ok()
        }

        fn namespace_label_at(&self, slot: u32) -> Option<NamespaceLabel> {
            match self.label_at(slot)? {
                Label::Namespace(n) => Some(n),
                Label::Region(_) => None,
            }
        }

        /// The namespace formed by `members[start..end]`.
        fn namespace(&self, (start, end): (u32, u32)) -> Option<Namespace> {
            let slots = self.members.get(start as usize..end as usize)?;
            let mut labels = slots.iter().filter_map(|&s| self.namespace_label_at(s));
            let first = labels.next()?;
            Some(Namespace {
                uuid: first.uuid,
                name: first.name,
                flags: first.flags,
                nlabel: first.nlabel,
                position: first.position,
                isetcookie: first.isetcookie,
                lbasize: first.lbasize,
                type_guid: first.type_guid,
                claim: first.claim,
                region_uuid: first.region_uuid,
                extents: Extents {
                    first: extent(&first),
                    rest: labels.map(|l| extent(&l)).collect(),
                },
            })
        }
    }

    impl PartialEq for Lsa {
        /// Equal when everything parsed is equal (index blocks, free bitmap, labels,
        /// namespaces, diagnostics), whatever the bytes outside them.
        fn eq(&self, other: &Lsa) -> bool {
            self.current == other.current
                && self.other == other.other
                && self.free_bitmap() == other.free_bitmap()
                && self.labels().iter().eq(other.labels().iter())
                && self.namespaces().iter().eq(other.namespaces().iter())
                && self.diagnostics == other.diagnostics
        }
    }

    impl Eq for Lsa {}

    impl fmt::Debug for Lsa {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Lsa")
                .field("current", &self.current)
                .field("other", &self.other)
                .field("free", &self.free_bitmap())
                .field("labels", &self.labels())
                .field("namespaces", &self.namespaces())
                .field("diagnostics", &self.diagnostics)
                .finish()
        }
    }

    /// The active labels of an [`Lsa`], in slot order: a view that decodes each label
    /// when it is read.
    #[derive(Clone, Copy)]
    pub struct Labels<'a> {
        lsa: &'a Lsa,
    }

    impl<'a> Labels<'a> {
        /// Number of active labels.
        #[must_use]
        pub fn len(&self) -> usize {
            self.lsa.labels.len()
        }

        /// Whether there is none.
        #[must_use]
        pub fn is_empty(&self) -> bool {
            self.lsa.labels.is_empty()
        }

        /// The `i`-th active label.
        #[must_use]
        pub fn get(&self, i: usize) -> Option<Label> {
            self.lsa.label_at(*self.lsa.labels.get(i)?)
        }

        /// The active label with the lowest slot.
        #[must_use]
        pub fn first(&self) -> Option<Label> {
            self.get(0)
        }

        /// The labels in slot order.
        #[must_use]
        pub fn iter(&self) -> LabelIter<'a> {
            LabelIter {
                lsa: self.lsa,
                slots: self.lsa.labels.iter(),
            }
        }

        /// The labels, collected.
        #[must_use]
        pub fn to_vec(&self) -> Vec<Label> {
            self.iter().collect()
        }
    }

    impl<'a> IntoIterator for Labels<'a> {
        type Item = Label;
        type IntoIter = LabelIter<'a>;

        fn into_iter(self) -> LabelIter<'a> {
            self.iter()
        }
    }

    impl fmt::Debug for Labels<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_list().entries(self.iter()).finish()
        }
    }

    /// Iterator over the active labels of an [`Lsa`].
    #[derive(Debug, Clone)]
    pub struct LabelIter<'a> {
        lsa: &'a Lsa,
        slots: core::slice::Iter<'a, u32>,
    }

    impl Iterator for LabelIter<'_> {
        type Item = Label;

        fn next(&mut self) -> Option<Label> {
            self.slots.by_ref().find_map(|&s| self.lsa.label_at(s))
        }

        fn size_hint(&self) -> (usize, Option<usize>) {
            // Every kept slot decodes (see `Lsa::label_at`).
            (self.slots.len(), Some(self.slots.len()))
        }
    }

    impl ExactSizeIterator for LabelIter<'_> {}

    /// The namespaces of an [`Lsa`], sorted by UUID: a view that builds each
    /// [`Namespace`] from its labels when it is read.
    #[derive(Clone, Copy)]
    pub struct Namespaces<'a> {
        lsa: &'a Lsa,
    }

    impl<'a> Namespaces<'a> {
        /// Number of namespaces.
        #[must_use]
        pub fn len(&self) -> usize {
            self.lsa.namespaces.len()
        }

        /// Whether there is none.
        #[must_use]
        pub fn is_empty(&self) -> bool {
            self.lsa.namespaces.is_empty()
        }

        /// The `i`-th namespace in UUID order.
        #[must_use]
        pub fn get(&self, i: usize) -> Option<Namespace> {
            self.lsa.namespace(*self.lsa.namespaces.get(i)?)
        }

        /// The namespace with the lowest UUID.
        #[must_use]
        pub fn first(&self) -> Option<Namespace> {
            self.get(0)
        }

        /// The namespaces in UUID order.
        #[must_use]
        pub fn iter(&self) -> NamespaceIter<'a> {
            NamespaceIter {
                lsa: self.lsa,
                ranges: self.lsa.namespaces.iter(),
            }
        }

        /// The namespaces, collected.
        #[must_use]
        pub fn to_vec(&self) -> Vec<Namespace> {
            self.iter().collect()
        }
    }

    impl<'a> IntoIterator for Namespaces<'a> {
        type Item = Namespace;
        type IntoIter = NamespaceIter<'a>;

        fn into_iter(self) -> NamespaceIter<'a> {
            self.iter()
        }
    }

    impl fmt::Debug for Namespaces<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_list().entries(self.iter()).finish()
        }
    }

    /// Iterator over the namespaces of an [`Lsa`].
    #[derive(Debug, Clone)]
    pub struct NamespaceIter<'a> {
        lsa: &'a Lsa,
        ranges: core::slice::Iter<'a, (u32, u32)>,
    }

    impl Iterator for NamespaceIter<'_> {
        type Item = Namespace;

        fn next(&mut self) -> Option<Namespace> {
            self.ranges.by_ref().find_map(|&r| self.lsa.namespace(r))
        }

        fn size_hint(&self) -> (usize, Option<usize>) {
            // Every kept range builds (see `Lsa::label_at`).
            (self.ranges.len(), Some(self.ranges.len()))
        }
    }

    impl ExactSizeIterator for NamespaceIter<'_> {}

    fn extent(l: &NamespaceLabel) -> Extent {
        Extent {
            dpa: l.dpa,
            size: l.rawsize,
            slot: l.slot,
        }
    }

    /// Groups namespace labels by UUID into namespaces (Linux `scan_labels` on one DIMM):
    /// the member slots in (UUID, position, slot) order, and each namespace's range of
    /// them. A UUID on several labels that are not the ranges of one BLK or CXL
    /// namespace is a duplicate: reported, and no namespace.
    fn group(
        mut keys: Vec<GroupKey>,
        version: LabelVersion,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> (Vec<u32>, Vec<(u32, u32)>) {
        keys.sort_unstable();
        let mut ranges = Vec::with_capacity(keys.len());
        let mut start = 0u32;
        for set in keys.chunk_by(|a, b| a.uuid == b.uuid) {
            // At most `nslot` labels, so the count fits.
            let end = start.saturating_add(u32::try_from(set.len()).unwrap_or(u32::MAX));
            let multi_ok = version == LabelVersion::Cxl || set.iter().all(|k| k.local);
            if set.len() > 1 && !multi_ok {
                diagnostics.extend(set.iter().map(|k| Diagnostic::DuplicateUuid {
                    uuid: Uuid(k.uuid.to_be_bytes()),
                    slot: k.slot,
                }));
            } else {
                ranges.push((start, end));
            }
            start = end;
        }
        (keys.iter().map(|k| k.slot).collect(), ranges)
    }
}
