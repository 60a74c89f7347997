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
//! Everything is checked arithmetic on whole namespaces: planning is O(number of
//! namespaces) and never walks pages, so 64 TiB plans as fast as 64 MiB. Namespaces must
//! be sorted by base and must not overlap (checked in the same pass).
//!
//! The trade-off is not hidden: per-namespace placement was objected to upstream when
//! Xen's RFC asked Linux for a hypervisor-private reservation type, and the later Xen
//! series moved to an admin-chosen management region with no on-media record. See
//! [`Reason`] for what [`recommend`] says, and the crate README for the history.

use crate::error::{Error, Result};

/// Base page size on x86-64: the unit of a frame-table descriptor. Source: Linux
/// `PAGE_SIZE` / Xen `PAGE_SIZE` on x86.
pub const PAGE_SIZE: u64 = 4096;
/// A second-level leaf (PMD / PDE with PS=1). Source: Intel SDM vol. 3A §4.5.
pub const SIZE_2M: u64 = 2 << 20;
/// A third-level leaf (PUD / PDPTE with PS=1). Source: Intel SDM vol. 3A §4.5.
pub const SIZE_1G: u64 = 1 << 30;
/// The bytes Linux reserves at the start of a namespace for the info block: the first
/// 4 KiB left alone plus the 4 KiB block at offset 4096 (`SZ_8K` in `nd_pfn_init`,
/// `nd_info_block_reserve()`). Source: Linux `drivers/nvdimm/pfn_devs.c`.
pub const INFO_BLOCK_RESERVE: u64 = 8192;
/// `memremap_compat_align()` on x86-64: `SUBSECTION_SIZE`, 2 MiB. Namespace starts and
/// aligned ends must be multiples of it. Source: Linux `drivers/nvdimm/pfn_devs.c`,
/// `include/linux/mmzone.h`.
pub const COMPAT_ALIGN_X86: u64 = SIZE_2M;
/// Bytes of frame table Xen populates at a time: one PDX group is `2 MiB /
/// lowest-set-bit(sizeof(page_info))` pages. Source: Xen `xen/include/xen/pdx.h`
/// (`PDX_GROUP_COUNT`).
pub const GROUP_BACKING: u64 = SIZE_2M;
/// Bytes of one paging-structure page (PT, PD, PDPT). Source: Intel SDM vol. 3A §4.5.
pub const TABLE_PAGE: u64 = 4096;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// per-namespace strategy ([`COMPAT_ALIGN_X86`] on x86-64).
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

/// Bytes of paging structures (page tables, directories and pointer tables; the single
/// top-level PML4 page is not counted) to map a set of ranges with leaves up to each size.
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

/// The totals of one strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
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
pub struct Recommendation {
    /// The plan.
    pub plan: Plan,
    /// Why.
    pub reason: Reason,
}

fn add(a: u64, b: u64, what: &'static str) -> Result<u64> {
    a.checked_add(b).ok_or(Error::Overflow(what))
}

fn sub(a: u64, b: u64, what: &'static str) -> Result<u64> {
    a.checked_sub(b).ok_or(Error::Overflow(what))
}

fn mul(a: u64, b: u64, what: &'static str) -> Result<u64> {
    a.checked_mul(b).ok_or(Error::Overflow(what))
}

/// `ALIGN(x, align)` for a power-of-two `align`, checked.
pub fn align_up(x: u64, align: u64) -> Result<u64> {
    let mask = align.wrapping_sub(1);
    Ok(add(x, mask, "align_up")? & !mask)
}

/// `ALIGN_DOWN(x, align)` for a power-of-two `align`.
pub const fn align_down(x: u64, align: u64) -> u64 {
    x & !align.wrapping_sub(1)
}

fn check_align(index: usize, align: u64) -> Result<()> {
    if align.is_power_of_two() && align >= PAGE_SIZE {
        Ok(())
    } else {
        Err(Error::BadAlign { index, align })
    }
}

/// What Linux's `nd_pfn_init` computes for one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PfnGeometry {
    /// `dataoff`.
    pub dataoff: u64,
    /// `npfns`.
    pub npfns: u64,
    /// `end_trunc`.
    pub end_trunc: u64,
    /// The pages the memmap was sized for, `(size - 8 KiB) / PAGE_SIZE`.
    pub memmap_pages: u64,
}

/// Linux `nd_pfn_init`'s arithmetic (`drivers/nvdimm/pfn_devs.c`), generalised to any
/// per-page metadata size: `in_namespace` selects `PFN_MODE_PMEM` (memmap in the
/// namespace) over `PFN_MODE_RAM`. `align` is the personality's alignment; the effective
/// alignment is `max(align, compat_align)`, and `start` must be a multiple of
/// `compat_align` (the kernel refuses a misaligned start).
pub fn pfn_geometry(
    index: usize,
    start: u64,
    size: u64,
    align: u64,
    compat_align: u64,
    per_page: u64,
    in_namespace: bool,
) -> Result<PfnGeometry> {
    check_align(index, align)?;
    check_align(usize::MAX, compat_align)?;
    if !start.is_multiple_of(compat_align) {
        return Err(Error::MisalignedBase {
            index,
            base: start,
            align: compat_align,
        });
    }
    let too_small = |overhead| Error::NamespaceTooSmall {
        index,
        size,
        overhead,
    };
    let memmap_pages = size
        .checked_sub(INFO_BLOCK_RESERVE)
        .ok_or(too_small(INFO_BLOCK_RESERVE))?
        / PAGE_SIZE;
    let align = align.max(compat_align);
    let end = add(start, size, "namespace end")?;
    let end_trunc = end - align_down(end, align);
    let map = if in_namespace {
        mul(per_page, memmap_pages, "memmap size")?
    } else {
        0
    };
    let reserved = add(add(start, INFO_BLOCK_RESERVE, "reserve")?, map, "reserve")?;
    let dataoff = align_up(reserved, align)? - start;
    let usable = size.checked_sub(end_trunc).ok_or(too_small(end_trunc))?;
    if dataoff >= usable {
        return Err(too_small(add(dataoff, end_trunc, "overhead")?));
    }
    Ok(PfnGeometry {
        dataoff,
        npfns: (usable - dataoff) / PAGE_SIZE,
        end_trunc,
        memmap_pages,
    })
}

/// Header bytes of the management superblock before its range entries (see
/// the `superblock` module).
pub const SUPERBLOCK_HEADER: u64 = 128;
/// Bytes of one range entry in the management superblock.
pub const SUPERBLOCK_ENTRY: u64 = 32;
/// Offset of the management superblock in its namespace (the first 4 KiB is left alone,
/// as Linux does for info blocks).
pub const SUPERBLOCK_OFFSET: u64 = 4096;

/// Bytes of a management superblock describing `ranges` data ranges: header plus
/// entries, rounded up to 4 KiB.
pub fn superblock_len(ranges: u64) -> Result<u64> {
    let entries = mul(ranges, SUPERBLOCK_ENTRY, "superblock entries")?;
    align_up(add(SUPERBLOCK_HEADER, entries, "superblock")?, PAGE_SIZE)
}

/// Offset in the management namespace of the first table: after the superblock, on a
/// 2 MiB boundary.
pub fn first_table_offset(ranges: u64) -> Result<u64> {
    align_up(
        add(SUPERBLOCK_OFFSET, superblock_len(ranges)?, "superblock end")?,
        GROUP_BACKING,
    )
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
        check_align(usize::MAX, req.compat_align)?;
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
                first_table_offset(count as u64 - 1)?
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
        check_align(index, ns.align)?;
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
            let g = pfn_geometry(
                index,
                ns.base,
                ns.size,
                ns.align,
                self.req.compat_align,
                cost.per_page(),
                true,
            )?;
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
        let data_offset = align_up(ns.base, ns.align)? - ns.base;
        let end_trunc = end - align_down(end, ns.align);
        let overhead = add(data_offset, end_trunc, "overhead")?;
        if overhead >= ns.size {
            return Err(Error::NamespaceTooSmall {
                index,
                size: ns.size,
                overhead,
            });
        }
        let data_pages = (ns.size - overhead) / PAGE_SIZE;
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
            let first = (ns.base + data_offset) / PAGE_SIZE;
            let first_group = (first / group).max(self.groups_done);
            let last_group = (first + data_pages - 1) / group;
            let groups = (last_group + 1).saturating_sub(first_group);
            self.groups_done = self.groups_done.max(last_group + 1);
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
        self.next = index + 1;
        let r = self.layout(index, &ns);
        self.failed = r.is_err();
        Some(r)
    }
}

/// The layout of every namespace under `strategy`.
pub fn layouts(req: Request<'_>, strategy: Strategy) -> Result<Layouts<'_>> {
    Layouts::new(req, strategy)
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
            self.pages += last - from + 1;
            self.last = last + 1;
        }
    }
}

/// Regions of `cover` bytes that the range touches but does not fully contain (at most
/// the first and the last), as an ascending pair; `None` entries for none.
fn partial_regions(start: u64, end: u64, cover: u64) -> [Option<u64>; 2] {
    let first = start / cover;
    let last = (end - 1) / cover;
    let head = !start.is_multiple_of(cover) || end < (first + 1).saturating_mul(cover);
    let tail = !end.is_multiple_of(cover) && (last != first || !head);
    [head.then_some(first), tail.then_some(last)]
}

/// Bytes of PT, PD and PDPT pages to map `ranges` (ascending, not overlapping, each
/// mapped on its own) with leaves up to `leaf`.
fn paging_bytes(ranges: &mut dyn Iterator<Item = (u64, u64)>, leaf: u64) -> Result<u64> {
    let mut pt = LevelCount::default();
    let mut pd = LevelCount::default();
    let mut pdpt = LevelCount::default();
    for (start, len) in ranges {
        if len == 0 {
            continue;
        }
        let start = align_down(start, PAGE_SIZE);
        let end = align_up(add(start, len, "range end")?, PAGE_SIZE)?;
        let last = end - 1;
        pdpt.interval(start / COVER_PDPT, last / COVER_PDPT);
        if leaf >= SIZE_1G {
            for r in partial_regions(start, end, COVER_PD).into_iter().flatten() {
                pd.interval(r, r);
            }
        } else {
            pd.interval(start / COVER_PD, last / COVER_PD);
        }
        if leaf >= SIZE_2M {
            for r in partial_regions(start, end, COVER_PT).into_iter().flatten() {
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
    mul(pages, TABLE_PAGE, "paging bytes")
}

fn paging_cost<'a>(
    sizes: PageSizes,
    ranges: impl Fn() -> Result<RangeIter<'a>>,
) -> Result<PagingCost> {
    let mut cost = PagingCost::default();
    for (flag, leaf, slot) in [
        (PageSizes::SIZE_4K, PAGE_SIZE, &mut cost.with_4k),
        (PageSizes::SIZE_2M, SIZE_2M, &mut cost.with_2m),
        (PageSizes::SIZE_1G, SIZE_1G, &mut cost.with_1g),
    ] {
        if sizes.contains(flag) {
            let mut it = ranges()?;
            let bytes = paging_bytes(&mut it, leaf)?;
            if let Some(e) = it.error {
                return Err(e);
            }
            *slot = Some(bytes);
        }
    }
    Ok(cost)
}

/// The ranges a plan maps: namespaces or table backings.
struct RangeIter<'a> {
    layouts: Layouts<'a>,
    tables: bool,
    error: Option<Error>,
}

impl Iterator for RangeIter<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        loop {
            let l = match self.layouts.next()? {
                Ok(l) => l,
                Err(e) => {
                    self.error = Some(e);
                    return None;
                }
            };
            let ns = self.layouts.req.namespaces.get(l.index)?;
            if !self.tables {
                return Some((ns.base, ns.size));
            }
            let Some(t) = l.table else { continue };
            let base = match t.medium {
                Medium::Dram => 0,
                Medium::Namespace(i) => self.layouts.req.namespaces.get(i)?.base,
            };
            return Some((base.saturating_add(t.offset), t.len()));
        }
    }
}

/// Plans one strategy: totals and paging costs. O(number of namespaces).
pub fn plan(req: Request<'_>, strategy: Strategy) -> Result<Plan> {
    let mut p = Plan {
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
        let needed = mgmt_used.max(first_table_offset(req.namespaces.len() as u64 - 1)?);
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
    let pmem = |tables| -> Result<RangeIter<'_>> {
        Ok(RangeIter {
            layouts: layouts(req, strategy)?,
            tables,
            error: None,
        })
    };
    p.paging.pmem = paging_cost(req.page_sizes, || pmem(false))?;
    p.paging.table = paging_cost(req.page_sizes, || pmem(true))?;
    Ok(p)
}

/// Chooses a strategy: DRAM if it fits the budget; else the management namespace if one
/// is given and fits; else per-namespace. The [`Reason`] carries the figures.
pub fn recommend(req: Request<'_>) -> Result<Recommendation> {
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
        let used = layouts(req, Strategy::ManagementSuperblock)?
            .filter_map(|l| l.ok()?.table)
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
