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

impl Iterator for ActiveSlots<'_> {
    type Item = (u32, Result<Label, LabelFault>);

    fn next(&mut self) -> Option<Self::Item> {
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
            let label = match bytes {
                Some(b) => parse_label(b, self.index.version, slot),
                None => Err(LabelFault::OutOfBounds),
            };
            return Some((slot, label));
        }
        None
    }
}

#[cfg(feature = "alloc")]
pub use owned::*;

#[cfg(feature = "alloc")]
mod owned {
    use alloc::vec::Vec;

    use super::{active_slots, bitmap, free_bits_past_nslot};
    use crate::error::Error;
    use crate::index::{IndexBlock, IndexFault, LabelVersion, bit_is_set, select};
    use crate::label::{
        ClaimClass, Label, LabelFault, LabelWarning, Name, NamespaceLabel, RegionLabel,
        label_warnings,
    };
    use crate::layout::NSLABEL_FLAG_LOCAL;
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
        /// The extents on this DIMM, in label position order (one for pmem).
        pub extents: Vec<Extent>,
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
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Lsa {
        current: IndexBlock,
        other: Result<IndexBlock, IndexFault>,
        free: Vec<u8>,
        labels: Vec<Label>,
        namespaces: Vec<Namespace>,
        diagnostics: Vec<Diagnostic>,
    }

    impl Lsa {
        /// Parses and validates a whole area (its length is the area size).
        ///
        /// # Errors
        ///
        /// [`Error::NoValidIndex`] when neither index block is valid (an uninitialized
        /// area, to Linux).
        pub fn parse(area: &[u8]) -> Result<Lsa, Error> {
            let selection = select(area)?;
            let current = selection.current;
            let mut diagnostics = Vec::new();
            if let Err(fault) = selection.other {
                diagnostics.push(Diagnostic::IndexInvalid {
                    block: 1 - current.block,
                    fault,
                });
            }
            for index in core::iter::once(&current).chain(selection.other.as_ref().ok()) {
                let count = free_bits_past_nslot(area, index);
                if count > 0 {
                    diagnostics.push(Diagnostic::FreeBitsPastNslot {
                        block: index.block,
                        count,
                    });
                }
            }
            let mut labels = Vec::new();
            for (slot, label) in active_slots(area, &current) {
                match label {
                    Ok(label) => {
                        diagnostics.extend(
                            label_warnings(&label, current.version)
                                .map(|warning| Diagnostic::LabelWarning { slot, warning }),
                        );
                        labels.push(label);
                    }
                    Err(fault) => diagnostics.push(Diagnostic::LabelInvalid { slot, fault }),
                }
            }
            let namespaces = group(&labels, current.version, &mut diagnostics);
            Ok(Lsa {
                current,
                other: selection.other,
                free: bitmap(area, &current).to_vec(),
                labels,
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

        /// The active labels, in slot order.
        #[must_use]
        pub fn labels(&self) -> &[Label] {
            &self.labels
        }

        /// The CXL region labels among the active labels.
        pub fn regions(&self) -> impl Iterator<Item = &RegionLabel> {
            self.labels.iter().filter_map(|l| match l {
                Label::Region(r) => Some(r),
                Label::Namespace(_) => None,
            })
        }

        /// The namespaces, sorted by UUID.
        #[must_use]
        pub fn namespaces(&self) -> &[Namespace] {
            &self.namespaces
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
            &self.free
        }

        /// Whether `slot` is free in the current index.
        #[must_use]
        pub fn is_free(&self, slot: u32) -> bool {
            slot < self.current.nslot() && bit_is_set(&self.free, slot)
        }

        /// Number of free slots in the current index.
        #[must_use]
        pub fn free_slots(&self) -> u32 {
            (0..self.current.nslot())
                .map(|s| u32::from(self.is_free(s)))
                .sum()
        }
    }

    /// Groups namespace labels by UUID into namespaces (Linux `scan_labels` on one DIMM).
    fn group(
        labels: &[Label],
        version: LabelVersion,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<Namespace> {
        let mut ns: Vec<&NamespaceLabel> = labels
            .iter()
            .filter_map(|l| match l {
                Label::Namespace(n) => Some(n),
                Label::Region(_) => None,
            })
            .collect();
        ns.sort_unstable_by_key(|l| (l.uuid, l.position, l.slot));
        let mut out = Vec::new();
        for set in ns.chunk_by(|a, b| a.uuid == b.uuid) {
            let multi_ok = match version {
                LabelVersion::Cxl => true,
                _ => set.iter().all(|l| l.flags & NSLABEL_FLAG_LOCAL != 0),
            };
            let Some(first) = set.first() else { continue };
            if set.len() > 1 && !multi_ok {
                diagnostics.extend(set.iter().map(|l| Diagnostic::DuplicateUuid {
                    uuid: l.uuid,
                    slot: l.slot,
                }));
                continue;
            }
            out.push(Namespace {
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
                extents: set
                    .iter()
                    .map(|l| Extent {
                        dpa: l.dpa,
                        size: l.rawsize,
                        slot: l.slot,
                    })
                    .collect(),
            });
        }
        out
    }
}
