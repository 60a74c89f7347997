// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Our management superblock (strategy (a)): a versioned, checksummed record, at offset
//! 4096 of the management namespace, of which pmem ranges its frame tables cover and where
//! each table is. It is what the Xen RFC v2–v4 management region lacked: without it, the
//! administrator had to replay the setup after every boot.
//!
//! Layout ([`crate::layout`]): a 128-byte [`MgmtSbHeader`],
//! `nr_ranges` 32-byte [`MgmtRange`] entries from
//! `header_size`, zero fill to `sb_size` (a multiple of 4096), the checksum at offset 120
//! covering all `sb_size` bytes (Linux's `nd_fletcher64`, with the field zeroed).
//!
//! Version rules: `version_major` 1 only. A reader accepts a higher `version_minor`:
//! later minors may only add header fields in the reserved bytes (growing `header_size`)
//! or define flag bits, and a minor-0 reader ignores both. In minor 0 the reserved bytes,
//! unknown flag bits and the fill after the entries must be zero.
//!
//! Rules checked on parse and on emit (so emit never writes what parse refuses, and
//! nothing is written on error): `sb_size` within [`MGMT_MAX_SB_SIZE`] and the buffer;
//! descriptor size a power of two up to 4096, reverse-map entry 0 or a power of two;
//! `table_start` at or after the superblock's end; ranges non-empty, page-aligned,
//! ascending and disjoint; tables inside the namespace, ascending, disjoint, and
//! at or after `table_start`.
//!
//! # Fuzzing
//!
//! Under `cfg(fuzzing)` the checksum is not checked; [`emit`] always writes it.

#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::checksum::fletcher64_skipping;
use crate::error::{Error, Result};
use crate::layout::{
    MGMT_CHECKSUM_AT, MGMT_HEADER_SIZE, MGMT_MAX_SB_SIZE, MGMT_RANGE_INITIALISED, MGMT_RANGE_SIZE,
    MGMT_SIG, MGMT_VERSION_MAJOR, MGMT_VERSION_MINOR, MgmtRange, MgmtSbHeader,
};
use crate::layout::{PAGE_SIZE, SUPERBLOCK_OFFSET};
use crate::plan::{CostModel, superblock_len};
use zerocopy::{FromBytes, FromZeros};

/// The header fields of a superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// `uuid`.
    pub uuid: [u8; 16],
    /// `version_minor` (this crate writes [`MGMT_VERSION_MINOR`]).
    pub version_minor: u16,
    /// `seq`.
    pub seq: u64,
    /// `namespace_size`.
    pub namespace_size: u64,
    /// `table_start`.
    pub table_start: u64,
    /// `descriptor_size` and `reverse_map_entry`.
    pub cost: CostModel,
}

/// One range entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Range {
    /// `spa`.
    pub spa: u64,
    /// `pages`.
    pub pages: u64,
    /// `table_offset`.
    pub table_offset: u64,
    /// `flags & MGMT_RANGE_INITIALISED`.
    pub initialised: bool,
}

/// A validated superblock over the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock<'a> {
    header: Header,
    entries: &'a [MgmtRange],
}

fn field(field: &'static str, value: u64) -> Error {
    Error::BadField { field, value }
}

/// Checks the header fields that do not depend on the entries.
fn check_header(h: &Header, sb_size: u64) -> Result<()> {
    let d = h.cost.descriptor_size;
    if !d.is_power_of_two() || d > 4096 {
        return Err(field("descriptor_size", d));
    }
    let r = h.cost.reverse_map_entry;
    if r != 0 && (!r.is_power_of_two() || r > 4096) {
        return Err(field("reverse_map_entry", r));
    }
    let sb_end = SUPERBLOCK_OFFSET.saturating_add(sb_size);
    if h.table_start < sb_end || h.table_start > h.namespace_size {
        return Err(field("table_start", h.table_start));
    }
    Ok(())
}

/// Checks entry `r` given the end of the previous range and table.
fn check_range(h: &Header, r: &Range, prev: &mut (u64, u64)) -> Result<()> {
    if r.pages == 0 {
        return Err(field("pages", 0));
    }
    if !r.spa.is_multiple_of(PAGE_SIZE) || r.spa < prev.0 {
        return Err(field("spa", r.spa));
    }
    let end = r
        .pages
        .checked_mul(PAGE_SIZE)
        .and_then(|b| b.checked_add(r.spa))
        .ok_or(field("pages", r.pages))?;
    let table_end = r
        .pages
        .checked_mul(h.cost.per_page())
        .and_then(|b| b.checked_add(r.table_offset))
        .ok_or(field("pages", r.pages))?;
    if r.table_offset < prev.1.max(h.table_start) || table_end > h.namespace_size {
        return Err(field("table_offset", r.table_offset));
    }
    *prev = (end, table_end);
    Ok(())
}

impl<'a> Superblock<'a> {
    /// Parses and validates a superblock from the start of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let (raw, _) = MgmtSbHeader::ref_from_prefix(bytes).map_err(|_| Error::Truncated {
            len: bytes.len(),
            needed: MGMT_HEADER_SIZE,
        })?;
        if raw.signature != MGMT_SIG {
            return Err(Error::BadSignature);
        }
        let (major, minor) = (raw.version_major.get(), raw.version_minor.get());
        if major != MGMT_VERSION_MAJOR {
            return Err(Error::BadVersion { major, minor });
        }
        let sb_size = raw.sb_size.get();
        if sb_size == 0
            || sb_size > MGMT_MAX_SB_SIZE
            || !u64::from(sb_size).is_multiple_of(PAGE_SIZE)
        {
            return Err(field("sb_size", sb_size.into()));
        }
        let sb_len = sb_size as usize;
        let block = bytes.get(..sb_len).ok_or(Error::Truncated {
            len: bytes.len(),
            needed: sb_len,
        })?;
        let stored = raw.checksum.get();
        let computed = fletcher64_skipping(block, MGMT_CHECKSUM_AT);
        if stored != computed && !cfg!(fuzzing) {
            return Err(Error::BadChecksum { stored, computed });
        }
        let header_size = raw.header_size.get() as usize;
        if header_size < MGMT_HEADER_SIZE
            || !header_size.is_multiple_of(8)
            || (minor == 0 && header_size != MGMT_HEADER_SIZE)
        {
            return Err(field("header_size", header_size as u64));
        }
        if let Some(i) = raw
            .reserved
            .iter()
            .position(|b| *b != 0)
            .filter(|_| minor == 0)
        {
            return Err(Error::NonZeroReserved {
                offset: 80usize.saturating_add(i),
            });
        }
        let nr = raw.nr_ranges.get() as usize;
        let entries_end = nr
            .checked_mul(MGMT_RANGE_SIZE)
            .and_then(|n| n.checked_add(header_size))
            .filter(|e| *e <= sb_len)
            .ok_or(field("nr_ranges", nr as u64))?;
        let entry_bytes = block
            .get(header_size..entries_end)
            .ok_or(field("nr_ranges", nr as u64))?;
        let entries = <[MgmtRange]>::ref_from_bytes(entry_bytes)
            .map_err(|_| field("nr_ranges", nr as u64))?;
        if minor == 0 {
            let fill = block.get(entries_end..).unwrap_or(&[]);
            if let Some(i) = fill.iter().position(|b| *b != 0) {
                return Err(Error::NonZeroReserved {
                    offset: entries_end.saturating_add(i),
                });
            }
        }
        let header = Header {
            uuid: raw.uuid,
            version_minor: minor,
            seq: raw.seq.get(),
            namespace_size: raw.namespace_size.get(),
            table_start: raw.table_start.get(),
            cost: CostModel {
                descriptor_size: raw.descriptor_size.get().into(),
                reverse_map_entry: raw.reverse_map_entry.get().into(),
            },
        };
        check_header(&header, sb_size.into())?;
        let mut prev = (0, 0);
        for (i, e) in entries.iter().enumerate() {
            let flags = e.flags.get();
            if minor == 0 && (flags & !MGMT_RANGE_INITIALISED != 0 || e.reserved.get() != 0) {
                return Err(Error::NonZeroReserved {
                    offset: i
                        .saturating_mul(MGMT_RANGE_SIZE)
                        .saturating_add(header_size)
                        .saturating_add(24),
                });
            }
            check_range(&header, &range_of(e), &mut prev)?;
        }
        Ok(Self { header, entries })
    }

    /// The header.
    pub const fn header(&self) -> &Header {
        &self.header
    }

    /// Number of ranges.
    pub const fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no ranges.
    pub const fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The ranges, in order.
    pub fn ranges(&self) -> impl Iterator<Item = Range> + 'a {
        self.entries.iter().map(range_of)
    }
}

fn range_of(e: &MgmtRange) -> Range {
    Range {
        spa: e.spa.get(),
        pages: e.pages.get(),
        table_offset: e.table_offset.get(),
        initialised: e.flags.get() & MGMT_RANGE_INITIALISED != 0,
    }
}

/// Bytes [`emit`] writes for `ranges` entries.
pub fn buffer_len(ranges: usize) -> Result<usize> {
    let n = u64::try_from(ranges).map_err(|_| Error::Overflow("superblock entries"))?;
    let len = superblock_len(n).map_err(|_| Error::Overflow("superblock length"))?;
    if len > u64::from(MGMT_MAX_SB_SIZE) {
        return Err(field("nr_ranges", n));
    }
    usize::try_from(len).map_err(|_| Error::Overflow("superblock length"))
}

/// Writes a minor-0 superblock (header with `version_minor` forced to
/// [`MGMT_VERSION_MINOR`]) into the start of `buf`; returns the bytes written. Validates
/// everything first and writes nothing on error.
pub fn emit(header: &Header, ranges: &[Range], buf: &mut [u8]) -> Result<usize> {
    let len = buffer_len(ranges.len())?;
    check_header(header, len as u64)?;
    let mut prev = (0, 0);
    for r in ranges {
        check_range(header, r, &mut prev)?;
    }
    let as_u32 = |name, v: u64| u32::try_from(v).map_err(|_| field(name, v));
    let descriptor_size = as_u32("descriptor_size", header.cost.descriptor_size)?;
    let reverse_map_entry = as_u32("reverse_map_entry", header.cost.reverse_map_entry)?;
    let nr = as_u32("nr_ranges", ranges.len() as u64)?;
    let header_size = as_u32("header_size", MGMT_HEADER_SIZE as u64)?;
    let sb_size = as_u32("sb_size", len as u64)?;
    let entries_len = ranges
        .len()
        .checked_mul(MGMT_RANGE_SIZE)
        .ok_or(Error::Overflow("entries"))?;
    let buf_len = buf.len();
    let block = buf.get_mut(..len).ok_or(Error::Truncated {
        len: buf_len,
        needed: len,
    })?;
    block.fill(0);
    let (head, rest) = block.split_at_mut(MGMT_HEADER_SIZE);
    let raw = MgmtSbHeader::mut_from_bytes(head).map_err(|_| Error::Overflow("header"))?;
    raw.zero();
    raw.signature = MGMT_SIG;
    raw.uuid = header.uuid;
    raw.version_major.set(MGMT_VERSION_MAJOR);
    raw.version_minor.set(MGMT_VERSION_MINOR);
    raw.header_size.set(header_size);
    raw.sb_size.set(sb_size);
    raw.nr_ranges.set(nr);
    raw.descriptor_size.set(descriptor_size);
    raw.reverse_map_entry.set(reverse_map_entry);
    raw.seq.set(header.seq);
    raw.namespace_size.set(header.namespace_size);
    raw.table_start.set(header.table_start);
    let entry_bytes = rest
        .get_mut(..entries_len)
        .ok_or(Error::Overflow("entries"))?;
    let entries =
        <[MgmtRange]>::mut_from_bytes(entry_bytes).map_err(|_| Error::Overflow("entries"))?;
    for (e, r) in entries.iter_mut().zip(ranges) {
        e.spa.set(r.spa);
        e.pages.set(r.pages);
        e.table_offset.set(r.table_offset);
        e.flags.set(if r.initialised {
            MGMT_RANGE_INITIALISED
        } else {
            0
        });
    }
    let sum = fletcher64_skipping(block, MGMT_CHECKSUM_AT);
    block
        .get_mut(MGMT_CHECKSUM_AT..MGMT_CHECKSUM_AT + 8)
        .ok_or(Error::Overflow("checksum"))?
        .copy_from_slice(&sum.to_le_bytes());
    Ok(len)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use crate::layout::SIZE_2M;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn header() -> Header {
        Header {
            uuid: [7; 16],
            version_minor: 0,
            seq: 1,
            namespace_size: 64 << 30,
            table_start: SIZE_2M,
            cost: CostModel::XEN,
        }
    }

    fn two() -> [Range; 2] {
        [
            Range {
                spa: 64 << 30,
                pages: 1 << 18,
                table_offset: SIZE_2M,
                initialised: true,
            },
            Range {
                spa: 128 << 30,
                pages: 1 << 18,
                table_offset: 2 * SIZE_2M + (10 << 20),
                initialised: false,
            },
        ]
    }

    #[test]
    fn emit_then_parse() {
        let mut buf = vec![0xa5u8; 8192];
        let n = emit(&header(), &two(), &mut buf).unwrap();
        assert_eq!(n, 4096);
        assert_eq!(&buf[..16], b"HUGEVM_FT_MGMT\0\0");
        assert_eq!(
            &buf[4096..4100],
            &[0xa5; 4],
            "nothing past sb_size is touched"
        );
        let sb = Superblock::parse(&buf).unwrap();
        assert_eq!(*sb.header(), header());
        assert_eq!(sb.ranges().collect::<Vec<_>>(), two());
        let mut zeroed = buf[..4096].to_vec();
        zeroed[120..128].fill(0);
        assert_eq!(
            u64::from_le_bytes(buf[120..128].try_into().unwrap()),
            crate::checksum::fletcher64(&zeroed)
        );
    }

    #[test]
    fn rejections() {
        let mut buf = vec![0u8; 4096];
        emit(&header(), &two(), &mut buf).unwrap();
        let mut bad = buf.clone();
        bad[200] ^= 1;
        assert!(matches!(
            Superblock::parse(&bad),
            Err(Error::BadChecksum { .. })
        ));
        let mut bad = buf.clone();
        bad[32] = 2;
        assert!(matches!(
            Superblock::parse(&bad),
            Err(Error::BadVersion { major: 2, .. })
        ));
        assert!(matches!(
            Superblock::parse(&buf[..100]),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            Superblock::parse(&buf[..4000]),
            Err(Error::Truncated { .. })
        ));

        // Overlapping ranges, a table past the namespace, a table before table_start.
        let mut r = two();
        r[1].spa = r[0].spa + 4096;
        let mut out = vec![0x5au8; 4096];
        assert_eq!(emit(&header(), &r, &mut out), Err(field("spa", r[1].spa)));
        assert!(out.iter().all(|b| *b == 0x5a), "nothing written on error");
        let mut r = two();
        r[1].table_offset = (64 << 30) - 4096;
        assert!(emit(&header(), &r, &mut out).is_err());
        let mut r = two();
        r[0].table_offset = 4096;
        assert!(emit(&header(), &r, &mut out).is_err());
        let mut h = header();
        h.cost.descriptor_size = 40;
        assert_eq!(
            emit(&h, &two(), &mut out),
            Err(field("descriptor_size", 40))
        );
    }

    /// A later minor with a longer header and unknown flags is still readable.
    #[test]
    fn later_minor_is_readable() {
        let mut buf = vec![0u8; 4096];
        emit(&header(), &two(), &mut buf[..]).unwrap();
        // Re-lay as minor 1 with a 160-byte header: move entries, set a new field.
        let entries = buf[128..192].to_vec();
        buf[128..160].fill(0x11);
        buf[160..224].copy_from_slice(&entries);
        buf[34] = 1;
        buf[36] = 160;
        buf[80] = 0x99;
        buf[160 + 24] |= 0x80;
        buf[120..128].fill(0);
        let sum = crate::checksum::fletcher64(&buf);
        buf[120..128].copy_from_slice(&sum.to_le_bytes());
        let sb = Superblock::parse(&buf).unwrap();
        assert_eq!(sb.header().version_minor, 1);
        assert_eq!(sb.ranges().collect::<Vec<_>>(), two());
    }

    fn ranges() -> impl Strategy<Value = (Header, Vec<Range>)> {
        let cost = (0u32..13, prop::sample::select(vec![0u64, 8, 16]));
        let entries = prop::collection::vec(
            (0u64..1 << 20, 1u64..1 << 20, 0u64..4, any::<bool>()),
            0..40,
        );
        (cost, entries, any::<u64>(), any::<[u8; 16]>()).prop_map(|((d, r), es, seq, uuid)| {
            let cost = CostModel {
                descriptor_size: 1 << d,
                reverse_map_entry: r,
            };
            let table_start = SIZE_2M;
            let (mut spa, mut off) = (0u64, table_start);
            let mut out = Vec::new();
            for (gap, pages, tgap, init) in es {
                spa += gap * 4096;
                off += tgap * 4096;
                out.push(Range {
                    spa,
                    pages,
                    table_offset: off,
                    initialised: init,
                });
                spa += pages * 4096;
                off += pages * cost.per_page();
            }
            let h = Header {
                uuid,
                version_minor: 0,
                seq,
                namespace_size: off,
                table_start,
                cost,
            };
            (h, out)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn round_trip((h, rs) in ranges()) {
            let mut buf = vec![0u8; buffer_len(rs.len()).unwrap()];
            emit(&h, &rs, &mut buf).unwrap();
            let sb = Superblock::parse(&buf).unwrap();
            prop_assert_eq!(*sb.header(), h);
            prop_assert_eq!(sb.ranges().collect::<Vec<_>>(), rs);
        }

        /// Any single corrupted byte is refused, never accepted as something else.
        #[test]
        fn corruption_is_caught((h, rs) in ranges(), at in any::<prop::sample::Index>(), x in 1u8..) {
            let mut buf = vec![0u8; buffer_len(rs.len()).unwrap()];
            emit(&h, &rs, &mut buf).unwrap();
            let i = at.index(buf.len());
            buf[i] ^= x;
            prop_assert!(Superblock::parse(&buf).is_err());
        }
    }
}
