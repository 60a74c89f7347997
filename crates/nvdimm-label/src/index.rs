// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Namespace index blocks: sizing, validation, and choosing the current block.
//!
//! Mirrors Linux `drivers/nvdimm/label.c` (`sizeof_namespace_index`,
//! `nvdimm_num_label_slots`, `__nd_label_validate`, `nd_label_validate`, `best_seq`,
//! `nd_inc_seq`). Label size is not known before an index validates, so every block is
//! validated against a probed label size: 128 first, then 256, as the kernel does.

use zerocopy::FromBytes;

use crate::checksum::fletcher64_skipping;
use crate::layout::{
    INDEX_CHECKSUM_OFFSET, INDEX_HEADER_SIZE, LABEL_SIZE_V1_1, LABEL_SIZE_V1_2, NSINDEX_ALIGN,
    NSINDEX_SEQ_MASK, NSINDEX_SIGNATURE, NamespaceIndex,
};

/// Which label format an area uses, from its current index block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum LabelVersion {
    /// Index 1.1, 128-byte labels without checksum or GUIDs (Intel namespace spec v1.1).
    V1_1,
    /// Index 1.2, 256-byte UEFI 2.7 labels with type/abstraction GUIDs and a checksum.
    V1_2,
    /// Index 2.1 (CXL 2.0 LSA): 256-byte region and namespace labels.
    Cxl,
}

impl LabelVersion {
    /// Label (slot) size in bytes.
    #[must_use]
    pub const fn label_size(self) -> usize {
        match self {
            LabelVersion::V1_1 => LABEL_SIZE_V1_1,
            LabelVersion::V1_2 | LabelVersion::Cxl => LABEL_SIZE_V1_2,
        }
    }

    /// The `major` and `minor` an index block of this version carries.
    #[must_use]
    pub const fn major_minor(self) -> (u16, u16) {
        match self {
            LabelVersion::V1_1 => (1, 1),
            LabelVersion::V1_2 => (1, 2),
            LabelVersion::Cxl => (2, 1),
        }
    }

    /// The `labelsize` byte: `label_size == 128 << labelsize`.
    #[must_use]
    pub const fn labelsize_field(self) -> u8 {
        match self {
            LabelVersion::V1_1 => 0,
            LabelVersion::V1_2 | LabelVersion::Cxl => 1,
        }
    }
}

/// Geometry derived from the area size and the label size (kernel sizing rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Size of the area (`config_size`).
    pub config_size: u64,
    /// Label size in bytes.
    pub label_size: u64,
    /// Size of one index block (`sizeof_namespace_index`).
    pub index_size: u64,
    /// Number of slots the kernel gives a fresh index (`nvdimm_num_label_slots`).
    pub nslot: u32,
}

impl Geometry {
    /// The geometry Linux (and ndctl v81) derives for `config_size` and `label_size`, or
    /// `None` when the area is too small to hold two index blocks and two labels ("label
    /// area too small to host labels").
    ///
    /// `idx(n) = round_up(72 + ceil(n / 8), 256)`; `k = idx(config_size / L) / 256`;
    /// `nslot = (config_size − 2·256·k) / L`; `S = idx(nslot)`, valid if
    /// `2·S ≤ config_size − nslot·L` and `nslot ≥ 2`.
    #[must_use]
    pub fn new(config_size: u64, label_size: u64) -> Option<Geometry> {
        if label_size == 0 {
            return None;
        }
        let idx = |n: u64| -> u64 {
            (INDEX_HEADER_SIZE as u64 + n.div_ceil(8)).div_ceil(NSINDEX_ALIGN) * NSINDEX_ALIGN
        };
        let reserve = idx(config_size / label_size).checked_mul(2)?;
        let nslot = config_size.checked_sub(reserve)? / label_size;
        let index_size = idx(nslot);
        let space = config_size - nslot * label_size;
        if nslot < 2 || index_size * 2 > space {
            return None;
        }
        Some(Geometry {
            config_size,
            label_size,
            index_size,
            nslot: u32::try_from(nslot).ok()?,
        })
    }

    /// Offset of slot 0 (`2 · index_size`).
    #[must_use]
    pub fn label_base(&self) -> u64 {
        2 * self.index_size
    }
}

/// Why an index block is not valid, in the order the kernel checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexFault {
    /// The area cannot hold an index for any label size.
    #[error("area of {0} bytes is too small for two index blocks and two labels")]
    AreaTooSmall(u64),
    /// The signature is not `NAMESPACE_INDEX\0`.
    #[error("signature is not NAMESPACE_INDEX")]
    Signature,
    /// `major`/`minor`/`labelsize` give a label size no probe matched.
    #[error(
        "version {major}.{minor} with labelsize byte {labelsize} names no supported label size"
    )]
    LabelSize {
        /// `major`.
        major: u16,
        /// `minor`.
        minor: u16,
        /// The `labelsize` byte.
        labelsize: u8,
    },
    /// Fletcher64 mismatch.
    #[error("checksum {stored:#018x} does not match computed {computed:#018x}")]
    Checksum {
        /// The `checksum` field.
        stored: u64,
        /// What the block's bytes sum to.
        computed: u64,
    },
    /// `seq & 3 == 0`.
    #[error("sequence number {0:#x} is invalid (low two bits zero)")]
    Sequence(u32),
    /// `myoff` is not this block's offset.
    #[error("myoff {found:#x} is not {expected:#x}")]
    MyOff {
        /// The field.
        found: u64,
        /// This block's offset.
        expected: u64,
    },
    /// `otheroff` is not the other block's offset.
    #[error("otheroff {found:#x} is not {expected:#x}")]
    OtherOff {
        /// The field.
        found: u64,
        /// The other block's offset.
        expected: u64,
    },
    /// `labeloff` is not `2 · index_size` (checked by current kernels, not by ndctl).
    #[error("labeloff {found:#x} is not {expected:#x}")]
    LabelOff {
        /// The field.
        found: u64,
        /// Twice the index size.
        expected: u64,
    },
    /// `mysize` is below 72 or above the index size.
    #[error("mysize {found:#x} is outside 72..={index_size:#x}")]
    MySize {
        /// The field.
        found: u64,
        /// The derived index size.
        index_size: u64,
    },
    /// `nslot` labels and two index blocks do not fit the area.
    #[error("nslot {nslot} does not fit an area of {config_size:#x} bytes")]
    Nslot {
        /// The field.
        nslot: u32,
        /// Area size.
        config_size: u64,
    },
    /// The free bitmap for `nslot` slots runs past the index block (the kernel would
    /// read past it; we refuse).
    #[error("free bitmap for {nslot} slots overflows the {index_size}-byte index block")]
    BitmapOverflow {
        /// The field.
        nslot: u32,
        /// The derived index size.
        index_size: u64,
    },
}

/// A validated index block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexBlock {
    /// Block number, 0 or 1.
    pub block: u8,
    /// The raw header fields.
    pub header: NamespaceIndex,
    /// Label format.
    pub version: LabelVersion,
    /// Geometry of the area for this label size.
    pub geometry: Geometry,
}

impl IndexBlock {
    /// `seq` masked to its two meaningful bits.
    #[must_use]
    pub fn seq(&self) -> u32 {
        self.header.seq.get() & NSINDEX_SEQ_MASK
    }

    /// `nslot` as on media.
    #[must_use]
    pub fn nslot(&self) -> u32 {
        self.header.nslot.get()
    }

    /// Offset of this block in the area.
    #[must_use]
    pub fn offset(&self) -> u64 {
        u64::from(self.block) * self.geometry.index_size
    }
}

/// `nd_inc_seq`: the sequence after `seq` on the cycle 1 → 2 → 3 → 1 (0 stays 0).
#[must_use]
pub const fn next_seq(seq: u32) -> u32 {
    match seq & NSINDEX_SEQ_MASK {
        1 => 2,
        2 => 3,
        3 => 1,
        _ => 0,
    }
}

/// `best_seq(a, b)`: the newer of two masked sequence numbers (ties go to `b`).
#[must_use]
pub const fn best_seq(a: u32, b: u32) -> u32 {
    let a = a & NSINDEX_SEQ_MASK;
    let b = b & NSINDEX_SEQ_MASK;
    if a == 0 || a == b {
        b
    } else if b == 0 {
        a
    } else if next_seq(a) == b {
        b
    } else {
        a
    }
}

/// The label size an index header claims (`1 << (7 + labelsize)` from v1.2 on, else
/// 128), or `None` when the shift would overflow.
fn claimed_label_size(h: &NamespaceIndex) -> Option<u64> {
    let version = u32::from(h.major.get()) * 100 + u32::from(h.minor.get());
    if version >= 102 {
        1u64.checked_shl(7 + u32::from(h.labelsize))
    } else {
        Some(LABEL_SIZE_V1_1 as u64)
    }
}

/// Validates block `block` (0 or 1) of `area` against a probed label size, applying
/// every check of `__nd_label_validate` in the kernel's order.
///
/// # Errors
///
/// The first check that fails.
pub fn validate_block(area: &[u8], block: u8, label_size: u64) -> Result<IndexBlock, IndexFault> {
    let config_size = area.len() as u64;
    let geometry =
        Geometry::new(config_size, label_size).ok_or(IndexFault::AreaTooSmall(config_size))?;
    let s = geometry.index_size;
    let start = usize::try_from(u64::from(block) * s).map_err(|_| IndexFault::Signature)?;
    let len = usize::try_from(s).map_err(|_| IndexFault::Signature)?;
    let bytes = area
        .get(start..start.saturating_add(len))
        .ok_or(IndexFault::AreaTooSmall(config_size))?;
    let (header, _) = NamespaceIndex::read_from_prefix(bytes).map_err(|_| IndexFault::Signature)?;
    if header.sig != NSINDEX_SIGNATURE {
        return Err(IndexFault::Signature);
    }
    if claimed_label_size(&header) != Some(label_size) {
        return Err(IndexFault::LabelSize {
            major: header.major.get(),
            minor: header.minor.get(),
            labelsize: header.labelsize,
        });
    }
    let computed = fletcher64_skipping(bytes, INDEX_CHECKSUM_OFFSET);
    if computed != header.checksum.get() {
        return Err(IndexFault::Checksum {
            stored: header.checksum.get(),
            computed,
        });
    }
    if header.seq.get() & NSINDEX_SEQ_MASK == 0 {
        return Err(IndexFault::Sequence(header.seq.get()));
    }
    let expected = u64::from(block) * s;
    if header.myoff.get() != expected {
        return Err(IndexFault::MyOff {
            found: header.myoff.get(),
            expected,
        });
    }
    let expected = u64::from(1 - block) * s;
    if header.otheroff.get() != expected {
        return Err(IndexFault::OtherOff {
            found: header.otheroff.get(),
            expected,
        });
    }
    if header.labeloff.get() != geometry.label_base() {
        return Err(IndexFault::LabelOff {
            found: header.labeloff.get(),
            expected: geometry.label_base(),
        });
    }
    let mysize = header.mysize.get();
    if mysize > s || mysize < INDEX_HEADER_SIZE as u64 {
        return Err(IndexFault::MySize {
            found: mysize,
            index_size: s,
        });
    }
    let nslot = header.nslot.get();
    if u64::from(nslot) * label_size + 2 * s > config_size {
        return Err(IndexFault::Nslot { nslot, config_size });
    }
    if INDEX_HEADER_SIZE as u64 + u64::from(nslot).div_ceil(8) > s {
        return Err(IndexFault::BitmapOverflow {
            nslot,
            index_size: s,
        });
    }
    let version = match (header.major.get(), label_size) {
        (_, 128) => LabelVersion::V1_1,
        (2.., _) => LabelVersion::Cxl,
        _ => LabelVersion::V1_2,
    };
    Ok(IndexBlock {
        block,
        header,
        version,
        geometry,
    })
}

/// The outcome of validating both index blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSelection {
    /// The current block (the newer valid one).
    pub current: IndexBlock,
    /// The other block, if it validated at the same label size.
    pub other: Result<IndexBlock, IndexFault>,
}

/// No index block validated at any label size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no valid index block: block 0: {block0}; block 1: {block1}")]
pub struct NoValidIndex {
    /// Why block 0 failed.
    pub block0: IndexFault,
    /// Why block 1 failed.
    pub block1: IndexFault,
}

/// `nd_label_validate`: probe label sizes 128 then 256; at the first size where a block
/// validates, pick the current block (one valid: that one; two: `best_seq`, ties to
/// block 1).
///
/// # Errors
///
/// [`NoValidIndex`] with each block's fault (at the label size its header claims).
pub fn select(area: &[u8]) -> Result<IndexSelection, NoValidIndex> {
    for label_size in [LABEL_SIZE_V1_1 as u64, LABEL_SIZE_V1_2 as u64] {
        let b0 = validate_block(area, 0, label_size);
        let b1 = validate_block(area, 1, label_size);
        let selection = match (b0, b1) {
            (Ok(a), Ok(b)) => {
                let seq = best_seq(a.seq(), b.seq());
                if seq == b.seq() {
                    IndexSelection {
                        current: b,
                        other: Ok(a),
                    }
                } else {
                    IndexSelection {
                        current: a,
                        other: Ok(b),
                    }
                }
            }
            (Ok(a), Err(e)) | (Err(e), Ok(a)) => IndexSelection {
                current: a,
                other: Err(e),
            },
            (Err(_), Err(_)) => continue,
        };
        return Ok(selection);
    }
    Err(NoValidIndex {
        block0: fault_at_claimed_size(area, 0),
        block1: fault_at_claimed_size(area, 1),
    })
}

/// The fault of a block for reporting: at label size 128, or at 256 when the header
/// names 256-byte labels.
fn fault_at_claimed_size(area: &[u8], block: u8) -> IndexFault {
    match validate_block(area, block, LABEL_SIZE_V1_1 as u64) {
        Err(IndexFault::LabelSize { .. }) => validate_block(area, block, LABEL_SIZE_V1_2 as u64)
            .err()
            .unwrap_or(IndexFault::Signature),
        Err(e) => e,
        Ok(_) => IndexFault::Signature,
    }
}

/// Whether slot `slot` is marked free in a bitmap (bit set = free, little-endian bit
/// order, `test_bit_le`).
#[must_use]
pub fn bit_is_set(bitmap: &[u8], slot: u32) -> bool {
    bitmap
        .get((slot / 8) as usize)
        .is_some_and(|b| b & (1 << (slot % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_the_kernel_table() {
        // Computed with Linux's formula (`drivers/nvdimm/label.c`,
        // `sizeof_namespace_index` and `nvdimm_num_label_slots`; the same in ndctl's
        // `ndctl/lib/dimm.c`). The 128 KiB rows match real areas: 1020 slots for v1.1
        // (an ipmctl dump in ndctl issue #181), 510 for v1.2 (`ndctl read-labels -j`).
        let rows: [(u64, [(u64, u32); 2]); 7] = [
            (1024, [(256, 4), (256, 2)]),
            (4096, [(256, 28), (256, 14)]),
            (65536, [(256, 508), (256, 254)]),
            (131072, [(256, 1020), (256, 510)]),
            (262144, [(512, 2040), (256, 1022)]),
            (524288, [(768, 4084), (512, 2044)]),
            (1 << 20, [(1280, 8172), (768, 4090)]),
        ];
        for (size, [(s1, n1), (s2, n2)]) in rows {
            let g = Geometry::new(size, 128).expect("fits");
            assert_eq!((g.index_size, g.nslot), (s1, n1), "v1.1 {size}");
            let g = Geometry::new(size, 256).expect("fits");
            assert_eq!((g.index_size, g.nslot), (s2, n2), "v1.2 {size}");
        }
        assert_eq!(Geometry::new(1023, 256), None);
        assert_eq!(Geometry::new(0, 128), None);
    }

    #[test]
    fn best_seq_table() {
        // Linux `drivers/nvdimm/label.c`, `best_seq`, with `nd_inc_seq`'s cycle
        // 1 -> 2 -> 3 -> 1 (`label.h`): entry [s0 - 1][s1 - 1] = which block is current.
        let table = [[1, 1, 0], [0, 1, 1], [1, 0, 1]];
        for s0 in 1..=3u32 {
            for s1 in 1..=3u32 {
                let current = if best_seq(s0, s1) == s1 { 1 } else { 0 };
                assert_eq!(
                    current,
                    table[s0 as usize - 1][s1 as usize - 1],
                    "{s0} {s1}"
                );
            }
        }
        assert_eq!(next_seq(3), 1);
        assert_eq!(best_seq(0, 2), 2);
        assert_eq!(best_seq(2, 0), 2);
    }
}
