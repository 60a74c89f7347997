// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The paging-structure cost model: how many bytes of page tables, page directories and
//! page-directory-pointer tables (Intel SDM vol. 3A §4.5) it takes to map a set of
//! ranges with leaves up to 4 KiB, 2 MiB or 1 GiB. The single top-level PML4 page is not
//! counted. Ranges come in ascending order; structures shared by neighbouring ranges are
//! counted once. O(number of ranges), never O(pages).

#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::arith::{Overflow, add, align_down, align_up, mul};
use crate::layout::{PAGE_SIZE, SIZE_1G, SIZE_2M, TABLE_PAGE};

/// Bytes covered by one page table (level 1): 512 x 4 KiB.
const COVER_PT: u64 = SIZE_2M;
/// Bytes covered by one page directory (level 2): 512 x 2 MiB.
const COVER_PD: u64 = SIZE_1G;
/// Bytes covered by one page-directory-pointer table (level 3): 512 x 1 GiB.
const COVER_PDPT: u64 = 512 * SIZE_1G;

bitflags::bitflags! {
    /// The leaf page sizes available for mappings.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PageSizes: u8 {
        /// 4 KiB pages (always required).
        const SIZE_4K = 1 << 0;
        /// 2 MiB pages.
        const SIZE_2M = 1 << 1;
        /// 1 GiB pages.
        const SIZE_1G = 1 << 2;
    }
}

/// Bytes of paging structures to map a set of ranges with leaves up to each size.
/// `None` where the size is not in the request's [`PageSizes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PagingCost {
    /// Only 4 KiB leaves.
    pub with_4k: Option<u64>,
    /// Leaves up to 2 MiB.
    pub with_2m: Option<u64>,
    /// Leaves up to 1 GiB.
    pub with_1g: Option<u64>,
}

/// Paging structures for the pmem and for the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Paging {
    /// Mapping every namespace whole, each at its physical address.
    pub pmem: PagingCost,
    /// Mapping every table's backing (DRAM allocations start 2 MiB-aligned; pmem-backed
    /// tables at their physical address).
    pub table: PagingCost,
}

/// Paging-structure page counts of one level, deduplicated across sorted ranges.
#[derive(Debug, Clone, Copy, Default)]
struct LevelCount {
    pages: u64,
    /// Index of the last region counted, plus one (0: none yet).
    last: u64,
}

impl LevelCount {
    /// Counts regions `first..=last` not counted yet (inputs come in ascending order).
    fn interval(&mut self, first: u64, last: u64) {
        let from = first.max(self.last);
        if last >= from {
            // Region indices are at most 2^64 / 2 MiB: these cannot saturate.
            self.pages = self
                .pages
                .saturating_add(last.saturating_sub(from).saturating_add(1));
            self.last = last.saturating_add(1);
        }
    }
}

/// Regions of `COVER` bytes that the range touches but does not fully contain (at most
/// the first and the last), as an ascending pair; `None` entries for none.
fn partial_regions<const COVER: u64>(start: u64, end: u64) -> [Option<u64>; 2] {
    const { assert!(COVER != 0) };
    let first = start.checked_div(COVER).unwrap_or(0);
    let last = end.saturating_sub(1).checked_div(COVER).unwrap_or(0);
    let head = !start.is_multiple_of(COVER) || end < first.saturating_add(1).saturating_mul(COVER);
    let tail = !end.is_multiple_of(COVER) && (last != first || !head);
    [head.then_some(first), tail.then_some(last)]
}

/// Bytes of PT, PD and PDPT pages to map `ranges` (`(start, len)`, ascending, not
/// overlapping, each mapped on its own) with leaves up to `leaf`.
fn bytes<E: From<Overflow>>(
    ranges: impl Iterator<Item = Result<(u64, u64), E>>,
    leaf: u64,
) -> Result<u64, E> {
    let mut pt = LevelCount::default();
    let mut pd = LevelCount::default();
    let mut pdpt = LevelCount::default();
    for range in ranges {
        let (start, len) = range?;
        if len == 0 {
            continue;
        }
        let start = align_down(start, PAGE_SIZE);
        let end = align_up(add(start, len, "range end")?, PAGE_SIZE)?;
        let last = end.saturating_sub(1);
        pdpt.interval(start / COVER_PDPT, last / COVER_PDPT);
        if leaf >= SIZE_1G {
            for r in partial_regions::<COVER_PD>(start, end)
                .into_iter()
                .flatten()
            {
                pd.interval(r, r);
            }
        } else {
            pd.interval(start / COVER_PD, last / COVER_PD);
        }
        if leaf >= SIZE_2M {
            for r in partial_regions::<COVER_PT>(start, end)
                .into_iter()
                .flatten()
            {
                pt.interval(r, r);
            }
        } else {
            pt.interval(start / COVER_PT, last / COVER_PT);
        }
    }
    let pages = add(
        add(pt.pages, pd.pages, "table pages")?,
        pdpt.pages,
        "table pages",
    )?;
    Ok(mul(pages, TABLE_PAGE, "paging bytes")?)
}

/// The cost of mapping the ranges `ranges()` yields, for each leaf size in `sizes`
/// (`ranges` is called once per size).
pub(crate) fn cost<E, I>(
    sizes: PageSizes,
    ranges: impl Fn() -> Result<I, E>,
) -> Result<PagingCost, E>
where
    E: From<Overflow>,
    I: Iterator<Item = Result<(u64, u64), E>>,
{
    let mut cost = PagingCost::default();
    for (flag, leaf, slot) in [
        (PageSizes::SIZE_4K, PAGE_SIZE, &mut cost.with_4k),
        (PageSizes::SIZE_2M, SIZE_2M, &mut cost.with_2m),
        (PageSizes::SIZE_1G, SIZE_1G, &mut cost.with_1g),
    ] {
        if sizes.contains(flag) {
            *slot = Some(bytes(ranges()?, leaf)?);
        }
    }
    Ok(cost)
}
