// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The planner: where the frame table for a set of pmem namespaces goes, and what each
//! placement costs in DRAM, in pmem and in paging structures.
//!
//! Three strategies, the options of the Xen Summit 2018 design session plus the one in
//! between:
//!
//! - [`Strategy::Dram`]: descriptors (and reverse-map entries) in DRAM, populated in
//!   groups as Xen populates its frame table: 2 MiB of table per group of
//!   `2 MiB / descriptor_size` pages (Xen `PDX_GROUP_COUNT`: 256 MiB of memory for 32-byte
//!   `page_info`). Namespaces stay byte-identical; the data area is only aligned.
//! - [`Strategy::ManagementSuperblock`]: one management namespace (option (a)) holds a
//!   superblock at offset 4096 and, from the next 2 MiB boundary, one table per data
//!   namespace, each starting on a 2 MiB boundary. The management namespace holds no data.
//! - [`Strategy::PerNamespace`]: option (b), each namespace holds its own table after an
//!   8 KiB prefix (the first 4 KiB untouched, an info block at 4096), exactly as Linux's
//!   `nd_pfn_init` sizes `--map=dev` (`PFN_MODE_PMEM`): `npfns = (size - 8 KiB) / 4 KiB`,
//!   `dataoff = ALIGN(start + 8 KiB + descriptor bytes, align) - start`, `end_trunc` to the
//!   alignment. With 64-byte descriptors and no reverse map this is Linux's own answer.
//!
//! [`plan`] returns the totals of one strategy and, through [`Plan::layouts`], where each
//! namespace's data and table go; [`layouts`] gives the same per-namespace layouts without
//! the totals. Linux's own arithmetic for the per-namespace case lives beside the info
//! block ([`crate::infoblock::geometry`]), the paging-structure cost model in
//! [`crate::paging`], and the sizes they share in [`crate::layout`].
//!
//! Everything is checked arithmetic on whole namespaces: planning is O(number of
//! namespaces) and never walks pages, so 64 TiB plans as fast as 64 MiB. Namespaces must
//! be sorted by base and must not overlap (checked in the same pass).
//!
//! The trade-off is not hidden: per-namespace placement was objected to upstream when
//! Xen's RFC asked Linux for a hypervisor-private reservation type, and the later Xen
//! series moved to an admin-chosen management region with no on-media record. See
//! [`Reason`] for what [`recommend`] says, and the crate README for the history.

#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::arith::{Overflow, add, align_down, align_up, mul, sub};
use crate::infoblock::geometry::{self, check_align};
use crate::layout::{
    GROUP_BACKING, INFO_BLOCK_RESERVE, MGMT_HEADER_SIZE, MGMT_RANGE_SIZE, PAGE_SIZE,
    SUPERBLOCK_OFFSET,
};
use crate::paging::{self, PageSizes, Paging};

/// A request the planner cannot satisfy, with the offending values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A plan was asked for with no namespaces.
    #[error("no namespaces to plan for")]
    NoNamespaces,
    /// The descriptor size is zero, not a power of two, or above 4096 bytes.
    #[error("descriptor size {0} is not a power of two in 1..=4096")]
    BadDescriptorSize(u64),
    /// The reverse-map entry size is not 0 or a power of two up to 4096 bytes.
    #[error("reverse-map entry size {0} is not 0 or a power of two up to 4096")]
    BadReverseMapEntry(u64),
    /// The set of mapping page sizes does not contain 4 KiB.
    #[error("the mapping page sizes must include 4 KiB")]
    NoBasePageSize,
    /// An alignment is not a power of two of at least 4 KiB.
    #[error("namespace {index}: alignment {align:#x} is not a power of two >= 4 KiB")]
    BadAlign {
        /// Index of the namespace (or `usize::MAX` for the request's compat alignment).
        index: usize,
        /// The alignment asked for.
        align: u64,
    },
    /// A namespace's base is not aligned as the strategy requires.
    #[error("namespace {index}: base {base:#x} is not aligned to {align:#x}")]
    MisalignedBase {
        /// Index of the namespace.
        index: usize,
        /// Its base address.
        base: u64,
        /// The required alignment.
        align: u64,
    },
    /// A namespace is empty or smaller than one page.
    #[error("namespace {index}: size {size:#x} is below one page")]
    EmptyNamespace {
        /// Index of the namespace.
        index: usize,
        /// Its size.
        size: u64,
    },
    /// Namespaces must be sorted by base and must not overlap.
    #[error("namespace {index} at {base:#x} starts before the previous one ends at {prev_end:#x}")]
    Unsorted {
        /// Index of the namespace.
        index: usize,
        /// Its base address.
        base: u64,
        /// End of the previous namespace.
        prev_end: u64,
    },
    /// After metadata and alignment, a namespace has no data page left.
    #[error(
        "namespace {index} of {size:#x} bytes has no data left after {overhead:#x} bytes of metadata and alignment"
    )]
    NamespaceTooSmall {
        /// Index of the namespace.
        index: usize,
        /// Its size.
        size: u64,
        /// Bytes the strategy takes before any data page.
        overhead: u64,
    },
    /// The management-superblock strategy was asked for without a management namespace.
    #[error("the management-superblock strategy needs a management namespace")]
    NoManagementNamespace,
    /// The management namespace index is out of range, or it is the only namespace.
    #[error("management namespace index {index} is not usable with {count} namespaces")]
    BadManagementIndex {
        /// The index given.
        index: usize,
        /// The number of namespaces.
        count: usize,
    },
    /// The management namespace cannot hold every data namespace's table.
    #[error("the management namespace holds {available:#x} bytes but the tables need {needed:#x}")]
    ManagementTooSmall {
        /// Bytes needed from offset 0 of the management namespace.
        needed: u64,
        /// Its size.
        available: u64,
    },
    /// No strategy fits: DRAM over budget, no usable management namespace, and a
    /// namespace too small for its own table.
    #[error(
        "no strategy fits: DRAM needs {dram_needed:#x} bytes over a budget of {dram_budget:#x}"
    )]
    NothingFits {
        /// DRAM the DRAM strategy would need.
        dram_needed: u64,
        /// The budget.
        dram_budget: u64,
    },
    /// A size computation overflowed 64 bits.
    #[error("arithmetic overflow computing {0}")]
    Overflow(&'static str),
}

impl From<Overflow> for Error {
    fn from(o: Overflow) -> Self {
        Error::Overflow(o.0)
    }
}

impl Error {
    /// The planner's error for namespace `index` from a geometry error.
    const fn at(index: usize, e: geometry::Error) -> Self {
        match e {
            geometry::Error::BadAlign(align) => Error::BadAlign { index, align },
            geometry::Error::MisalignedStart { start, align } => Error::MisalignedBase {
                index,
                base: start,
                align,
            },
            geometry::Error::TooSmall { size, overhead } => Error::NamespaceTooSmall {
                index,
                size,
                overhead,
            },
            geometry::Error::Overflow(what) => Error::Overflow(what),
        }
    }
}

/// Shorthand for results of the planner.
pub type Result<T> = core::result::Result<T, Error>;

/// A pmem namespace (or region) to plan for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespace {
    /// System physical address of its first byte.
    pub base: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Alignment of the data area (the largest mapping page size guest data should be
    /// able to use, Linux's `align`): a power of two of at least 4 KiB.
    pub align: u64,
}

/// The per-page cost of the frame table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CostModel {
    /// Bytes of descriptor per 4 KiB page: a power of two up to 4096.
    pub descriptor_size: u64,
    /// Bytes of reverse map (Xen's M2P) per 4 KiB page: 0 or a power of two.
    pub reverse_map_entry: u64,
}

impl CostModel {
    /// Xen x86-64: 32-byte `struct page_info` plus an 8-byte M2P entry. Source: Xen
    /// `xen/arch/x86/include/asm/mm.h`, `config.h` (`RDWR_MPT`).
    pub const XEN: Self = Self {
        descriptor_size: 32,
        reverse_map_entry: 8,
    };
    /// Linux x86-64: 64 bytes of `struct page` (`MAX_STRUCT_PAGE_SIZE`), no reverse map.
    /// Source: Linux `drivers/nvdimm/nd.h`, `pfn_devs.c`.
    pub const LINUX: Self = Self {
        descriptor_size: 64,
        reverse_map_entry: 0,
    };

    /// Bytes of metadata per page (descriptor plus reverse-map entry).
    pub const fn per_page(&self) -> u64 {
        self.descriptor_size.saturating_add(self.reverse_map_entry)
    }

    /// Pages per population group: `GROUP_BACKING / descriptor_size` (65 536 pages,
    /// 256 MiB, for Xen's 32-byte `page_info`).
    pub const fn group_pages(&self) -> u64 {
        match GROUP_BACKING.checked_div(self.descriptor_size) {
            Some(p) => p,
            None => 0,
        }
    }

    fn validate(&self) -> Result<()> {
        let d = self.descriptor_size;
        if !d.is_power_of_two() || d > 4096 {
            return Err(Error::BadDescriptorSize(d));
        }
        let r = self.reverse_map_entry;
        if r != 0 && (!r.is_power_of_two() || r > 4096) {
            return Err(Error::BadReverseMapEntry(r));
        }
        Ok(())
    }
}

/// Where the frame table goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Strategy {
    /// In DRAM; namespaces untouched.
    Dram,
    /// In one management namespace, option (a) of the design notes.
    ManagementSuperblock,
    /// Inside each namespace, option (b) (Linux `--map=dev`).
    PerNamespace,
}

impl Strategy {
    /// Every strategy, in the order [`recommend`] considers them.
    pub const ALL: [Strategy; 3] = [
        Strategy::Dram,
        Strategy::ManagementSuperblock,
        Strategy::PerNamespace,
    ];

    /// A short name for tables.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::Dram => "dram",
            Strategy::ManagementSuperblock => "management",
            Strategy::PerNamespace => "per-namespace",
        }
    }
}

/// Everything the planner needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The namespaces, sorted by base, not overlapping.
    pub namespaces: &'a [Namespace],
    /// Bytes of descriptor and reverse map per page.
    pub cost: CostModel,
    /// DRAM the frame table may use.
    pub dram_budget: u64,
    /// Leaf sizes available for the host's mappings.
    pub page_sizes: PageSizes,
    /// `memremap_compat_align()`: alignment of namespace starts and aligned ends for the
    /// per-namespace strategy ([`COMPAT_ALIGN_X86`](crate::layout::COMPAT_ALIGN_X86) on x86-64).
    pub compat_align: u64,
    /// Index of the namespace chosen by the administrator as the management namespace.
    pub management: Option<usize>,
}

/// The medium a table lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// Host DRAM; offsets are within one notional allocation per plan.
    Dram,
    /// The namespace with this index; offsets are from its base.
    Namespace(usize),
}

/// Where one namespace's table is: descriptors for its data pages, then its reverse-map
/// entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLocation {
    /// The medium.
    pub medium: Medium,
    /// Offset of the first descriptor.
    pub offset: u64,
    /// Bytes of descriptors.
    pub descriptor_bytes: u64,
    /// Bytes of reverse-map entries, right after the descriptors.
    pub reverse_map_bytes: u64,
}

impl TableLocation {
    /// Total bytes (descriptors plus reverse map).
    pub const fn len(&self) -> u64 {
        self.descriptor_bytes.saturating_add(self.reverse_map_bytes)
    }

    /// Whether the table is empty.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a namespace is used for in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holds guest data.
    Data,
    /// Holds the superblock and the tables of the other namespaces.
    Management,
}

/// One namespace in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceLayout {
    /// Index into the request's namespaces.
    pub index: usize,
    /// What it is used for.
    pub role: Role,
    /// Offset from the namespace base of the first data byte (Linux `dataoff`); the data
    /// area starts aligned to the namespace's `align`.
    pub data_offset: u64,
    /// Data pages (Linux `npfns`).
    pub data_pages: u64,
    /// Bytes cut off the end to keep the end aligned (Linux `end_trunc`).
    pub end_trunc: u64,
    /// Pages the table is sized for: the data pages (management), whole population groups
    /// not already populated for the previous namespace (DRAM), or Linux's
    /// `(size - 8 KiB) / 4 KiB`, which covers the whole namespace (per-namespace).
    pub table_pages: u64,
    /// The table for this namespace's data pages (none for the management namespace).
    pub table: Option<TableLocation>,
}

/// The totals of one strategy, and the request they were computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan<'a> {
    /// The request planned for.
    pub request: Request<'a>,
    /// The strategy.
    pub strategy: Strategy,
    /// Bytes of descriptors, as placed (group-rounded in DRAM).
    pub descriptor_bytes: u64,
    /// Bytes of reverse map, as placed.
    pub reverse_map_bytes: u64,
    /// DRAM used by the tables.
    pub dram_bytes: u64,
    /// Pmem that guests do not get: metadata, info blocks, superblock, alignment padding,
    /// end truncation, and the whole management namespace.
    pub pmem_overhead_bytes: u64,
    /// Pmem left for guest data.
    pub data_bytes: u64,
    /// Data pages (4 KiB).
    pub data_pages: u64,
    /// Whether `dram_bytes` is within the request's budget.
    pub within_dram_budget: bool,
    /// Paging-structure bytes.
    pub paging: Paging,
}

impl<'a> Plan<'a> {
    /// Where each namespace's data and table go under this plan, in request order. The
    /// plan was computed from these, so every namespace has one.
    pub fn layouts(&self) -> impl Iterator<Item = NamespaceLayout> + 'a {
        layouts(self.request, self.strategy)
            .into_iter()
            .flatten()
            .map_while(core::result::Result::ok)
    }
}

/// Why [`recommend`] chose what it chose, with the figures behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The DRAM strategy fits the budget: fastest metadata, no on-media format.
    FitsInDram {
        /// DRAM needed.
        needed: u64,
        /// The budget.
        budget: u64,
    },
    /// DRAM is over budget; the administrator's management namespace holds every table.
    ManagementNamespace {
        /// DRAM the DRAM strategy would need.
        dram_needed: u64,
        /// The budget.
        budget: u64,
        /// Bytes of the management namespace in use.
        used: u64,
    },
    /// DRAM is over budget and there is no usable management namespace: each namespace
    /// holds its own table.
    PerNamespace {
        /// DRAM the DRAM strategy would need.
        dram_needed: u64,
        /// The budget.
        budget: u64,
        /// Pmem given up by all namespaces together.
        pmem_overhead: u64,
    },
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Reason::FitsInDram { needed, budget } => write!(
                f,
                "the DRAM table ({needed} bytes) fits the budget ({budget} bytes): descriptors \
                 stay in fast memory and the namespaces need no on-media change"
            ),
            Reason::ManagementNamespace {
                dram_needed,
                budget,
                used,
            } => write!(
                f,
                "the DRAM table ({dram_needed} bytes) exceeds the budget ({budget} bytes); the \
                 administrator's management namespace holds every table ({used} bytes used): one \
                 reservation, data namespaces stay byte-identical (the later Xen proposal's \
                 direction), but losing it disables all of them"
            ),
            Reason::PerNamespace {
                dram_needed,
                budget,
                pmem_overhead,
            } => write!(
                f,
                "the DRAM table ({dram_needed} bytes) exceeds the budget ({budget} bytes) and no \
                 management namespace fits; each namespace holds its own table ({pmem_overhead} \
                 bytes of pmem overall): self-describing like Linux --map=dev, but a \
                 hypervisor-private reservation inside a namespace was objected to upstream"
            ),
        }
    }
}

/// The chosen plan and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation<'a> {
    /// The plan.
    pub plan: Plan<'a>,
    /// Why.
    pub reason: Reason,
}

/// Bytes of a management superblock describing `ranges` data ranges: header plus
/// entries, rounded up to 4 KiB.
pub fn superblock_len(ranges: u64) -> Result<u64> {
    let entries = mul(ranges, MGMT_RANGE_SIZE as u64, "superblock entries")?;
    Ok(align_up(
        add(MGMT_HEADER_SIZE as u64, entries, "superblock")?,
        PAGE_SIZE,
    )?)
}

/// Offset in the management namespace of the first table: after the superblock, on a
/// 2 MiB boundary.
pub fn first_table_offset(ranges: u64) -> Result<u64> {
    Ok(align_up(
        add(SUPERBLOCK_OFFSET, superblock_len(ranges)?, "superblock end")?,
        GROUP_BACKING,
    )?)
}

/// Iterates over the layout of every namespace under one strategy; yields an error (and
/// then stops) at the first namespace that cannot be planned.
#[derive(Debug, Clone)]
pub struct Layouts<'a> {
    req: Request<'a>,
    strategy: Strategy,
    next: usize,
    prev_end: u64,
    /// DRAM or management-namespace offset of the next table.
    cursor: u64,
    /// Population groups below this index are already counted (DRAM strategy).
    groups_done: u64,
    failed: bool,
}

impl<'a> Layouts<'a> {
    fn new(req: Request<'a>, strategy: Strategy) -> Result<Self> {
        req.cost.validate()?;
        check_align(req.compat_align).map_err(|e| Error::at(usize::MAX, e))?;
        if !req.page_sizes.contains(PageSizes::SIZE_4K) {
            return Err(Error::NoBasePageSize);
        }
        let count = req.namespaces.len();
        if count == 0 {
            return Err(Error::NoNamespaces);
        }
        let cursor = match strategy {
            Strategy::ManagementSuperblock => {
                let index = req.management.ok_or(Error::NoManagementNamespace)?;
                if index >= count || count < 2 {
                    return Err(Error::BadManagementIndex { index, count });
                }
                first_table_offset((count as u64).saturating_sub(1))?
            }
            _ => 0,
        };
        Ok(Self {
            req,
            strategy,
            next: 0,
            prev_end: 0,
            cursor,
            groups_done: 0,
            failed: false,
        })
    }

    fn layout(&mut self, index: usize, ns: &Namespace) -> Result<NamespaceLayout> {
        check_align(ns.align).map_err(|e| Error::at(index, e))?;
        if ns.size < PAGE_SIZE {
            return Err(Error::EmptyNamespace {
                index,
                size: ns.size,
            });
        }
        if index > 0 && ns.base < self.prev_end {
            return Err(Error::Unsorted {
                index,
                base: ns.base,
                prev_end: self.prev_end,
            });
        }
        if !ns.base.is_multiple_of(PAGE_SIZE) {
            return Err(Error::MisalignedBase {
                index,
                base: ns.base,
                align: PAGE_SIZE,
            });
        }
        let end = add(ns.base, ns.size, "namespace end")?;
        self.prev_end = end;
        let cost = self.req.cost;
        if self.strategy == Strategy::ManagementSuperblock && self.req.management == Some(index) {
            return Ok(NamespaceLayout {
                index,
                role: Role::Management,
                data_offset: ns.size,
                data_pages: 0,
                end_trunc: 0,
                table_pages: 0,
                table: None,
            });
        }
        if self.strategy == Strategy::PerNamespace {
            let g = geometry::Params {
                start: ns.base,
                size: ns.size,
                align: ns.align,
                compat_align: self.req.compat_align,
                per_page: cost.per_page(),
                in_namespace: true,
            }
            .geometry()
            .map_err(|e| Error::at(index, e))?;
            let table = TableLocation {
                medium: Medium::Namespace(index),
                offset: INFO_BLOCK_RESERVE,
                descriptor_bytes: mul(g.memmap_pages, cost.descriptor_size, "descriptors")?,
                reverse_map_bytes: mul(g.memmap_pages, cost.reverse_map_entry, "reverse map")?,
            };
            return Ok(NamespaceLayout {
                index,
                role: Role::Data,
                data_offset: g.dataoff,
                data_pages: g.npfns,
                end_trunc: g.end_trunc,
                table_pages: g.memmap_pages,
                table: Some(table),
            });
        }
        // Dram and management: the namespace is all data, only aligned.
        let data_offset = sub(align_up(ns.base, ns.align)?, ns.base, "data offset")?;
        let end_trunc = sub(end, align_down(end, ns.align), "end_trunc")?;
        let overhead = add(data_offset, end_trunc, "overhead")?;
        if overhead >= ns.size {
            return Err(Error::NamespaceTooSmall {
                index,
                size: ns.size,
                overhead,
            });
        }
        let data_pages = sub(ns.size, overhead, "data pages")? / PAGE_SIZE;
        if data_pages == 0 {
            return Err(Error::NamespaceTooSmall {
                index,
                size: ns.size,
                overhead,
            });
        }
        let (medium, offset, pages) = if self.strategy == Strategy::Dram {
            // Whole population groups, each allocated 2 MiB-aligned in DRAM; a group
            // shared with the previous namespace is already populated.
            let group = cost.group_pages();
            let div = |x: u64| x.checked_div(group).ok_or(Error::BadDescriptorSize(0));
            let first = add(ns.base, data_offset, "data start")? / PAGE_SIZE;
            let first_group = div(first)?.max(self.groups_done);
            // data_pages >= 1 and the data area ends inside the namespace: no overflow.
            let last_group = div(first.saturating_add(data_pages.saturating_sub(1)))?;
            let groups = last_group.saturating_add(1).saturating_sub(first_group);
            self.groups_done = self.groups_done.max(last_group.saturating_add(1));
            (
                Medium::Dram,
                self.cursor,
                mul(groups, group, "group pages")?,
            )
        } else {
            let mgmt = self.req.management.unwrap_or(0);
            (
                Medium::Namespace(mgmt),
                align_up(self.cursor, GROUP_BACKING)?,
                data_pages,
            )
        };
        let table = TableLocation {
            medium,
            offset,
            descriptor_bytes: mul(pages, cost.descriptor_size, "descriptors")?,
            reverse_map_bytes: mul(pages, cost.reverse_map_entry, "reverse map")?,
        };
        self.cursor = align_up(add(offset, table.len(), "table end")?, GROUP_BACKING)?;
        Ok(NamespaceLayout {
            index,
            role: Role::Data,
            data_offset,
            data_pages,
            end_trunc,
            table_pages: pages,
            table: Some(table),
        })
    }
}

impl Iterator for Layouts<'_> {
    type Item = Result<NamespaceLayout>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let index = self.next;
        let ns = *self.req.namespaces.get(index)?;
        self.next = index.saturating_add(1);
        let r = self.layout(index, &ns);
        self.failed = r.is_err();
        Some(r)
    }
}

/// The layout of every namespace under `strategy`.
pub fn layouts(req: Request<'_>, strategy: Strategy) -> Result<Layouts<'_>> {
    Layouts::new(req, strategy)
}

/// The ranges a plan maps: namespaces or table backings, as `(start, len)`.
struct RangeIter<'a> {
    layouts: Layouts<'a>,
    tables: bool,
}

impl Iterator for RangeIter<'_> {
    type Item = Result<(u64, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let l = match self.layouts.next()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            let ns = self.layouts.req.namespaces.get(l.index)?;
            if !self.tables {
                return Some(Ok((ns.base, ns.size)));
            }
            let Some(t) = l.table else { continue };
            let base = match t.medium {
                Medium::Dram => 0,
                Medium::Namespace(i) => self.layouts.req.namespaces.get(i)?.base,
            };
            return Some(Ok((base.saturating_add(t.offset), t.len())));
        }
    }
}

/// Plans one strategy: totals and paging costs. O(number of namespaces).
pub fn plan(req: Request<'_>, strategy: Strategy) -> Result<Plan<'_>> {
    let mut p = Plan {
        request: req,
        strategy,
        descriptor_bytes: 0,
        reverse_map_bytes: 0,
        dram_bytes: 0,
        pmem_overhead_bytes: 0,
        data_bytes: 0,
        data_pages: 0,
        within_dram_budget: true,
        paging: Paging::default(),
    };
    let mut total = 0u64;
    let mut mgmt_used = 0u64;
    for l in layouts(req, strategy)? {
        let l = l?;
        let size = req.namespaces.get(l.index).map_or(0, |n| n.size);
        total = add(total, size, "total pmem")?;
        p.data_pages = add(p.data_pages, l.data_pages, "data pages")?;
        if let Some(t) = l.table {
            p.descriptor_bytes = add(p.descriptor_bytes, t.descriptor_bytes, "descriptors")?;
            p.reverse_map_bytes = add(p.reverse_map_bytes, t.reverse_map_bytes, "reverse map")?;
            match t.medium {
                Medium::Dram => p.dram_bytes = add(p.dram_bytes, t.len(), "dram")?,
                Medium::Namespace(i) if i != l.index => {
                    mgmt_used = add(t.offset, t.len(), "management use")?;
                }
                Medium::Namespace(_) => {}
            }
        }
    }
    if strategy == Strategy::ManagementSuperblock {
        let mgmt = req
            .management
            .and_then(|i| req.namespaces.get(i))
            .map_or(0, |n| n.size);
        let needed = mgmt_used.max(first_table_offset(
            (req.namespaces.len() as u64).saturating_sub(1),
        )?);
        if needed > mgmt {
            return Err(Error::ManagementTooSmall {
                needed,
                available: mgmt,
            });
        }
    }
    p.data_bytes = mul(p.data_pages, PAGE_SIZE, "data bytes")?;
    p.pmem_overhead_bytes = sub(total, p.data_bytes, "overhead")?;
    p.within_dram_budget = p.dram_bytes <= req.dram_budget;
    let ranges = |tables| -> Result<RangeIter<'_>> {
        Ok(RangeIter {
            layouts: layouts(req, strategy)?,
            tables,
        })
    };
    p.paging.pmem = paging::cost(req.page_sizes, || ranges(false))?;
    p.paging.table = paging::cost(req.page_sizes, || ranges(true))?;
    Ok(p)
}

/// Chooses a strategy: DRAM if it fits the budget; else the management namespace if one
/// is given and fits; else per-namespace. The [`Reason`] carries the figures.
pub fn recommend(req: Request<'_>) -> Result<Recommendation<'_>> {
    let dram = plan(req, Strategy::Dram)?;
    let budget = req.dram_budget;
    if dram.within_dram_budget {
        return Ok(Recommendation {
            plan: dram,
            reason: Reason::FitsInDram {
                needed: dram.dram_bytes,
                budget,
            },
        });
    }
    if let Some(m) = req
        .management
        .and_then(|_| plan(req, Strategy::ManagementSuperblock).ok())
    {
        let used = m
            .layouts()
            .filter_map(|l| l.table)
            .last()
            .map_or(0, |t| t.offset.saturating_add(t.len()));
        return Ok(Recommendation {
            plan: m,
            reason: Reason::ManagementNamespace {
                dram_needed: dram.dram_bytes,
                budget,
                used,
            },
        });
    }
    match plan(req, Strategy::PerNamespace) {
        Ok(p) => Ok(Recommendation {
            plan: p,
            reason: Reason::PerNamespace {
                dram_needed: dram.dram_bytes,
                budget,
                pmem_overhead: p.pmem_overhead_bytes,
            },
        }),
        Err(_) => Err(Error::NothingFits {
            dram_needed: dram.dram_bytes,
            dram_budget: budget,
        }),
    }
}
