// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The arithmetic of Linux's `nd_pfn_init` (`drivers/nvdimm/pfn_devs.c`): where the data
//! area of a namespace with an info block starts and ends. The planner's per-namespace
//! strategy and [`PfnInfo::init`](super::PfnInfo::init) both use it.

#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::arith::{Overflow, add, align_down, align_up, mul, sub};
use crate::layout::{INFO_BLOCK_RESERVE, PAGE_SIZE};

/// A namespace `nd_pfn_init` cannot lay out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An alignment is not a power of two of at least 4 KiB.
    #[error("alignment {0:#x} is not a power of two >= 4 KiB")]
    BadAlign(u64),
    /// The namespace start is not a multiple of `memremap_compat_align()` (the kernel
    /// refuses it).
    #[error("start {start:#x} is not aligned to {align:#x}")]
    MisalignedStart {
        /// The namespace start.
        start: u64,
        /// The required alignment.
        align: u64,
    },
    /// After the info-block reserve, the memmap and alignment, no data page is left.
    #[error("{size:#x} bytes leave no data after {overhead:#x} bytes of metadata and alignment")]
    TooSmall {
        /// The namespace size.
        size: u64,
        /// Bytes taken before any data page.
        overhead: u64,
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

/// Checks that `align` is a power of two of at least 4 KiB.
pub(crate) fn check_align(align: u64) -> Result<(), Error> {
    if align.is_power_of_two() && align >= PAGE_SIZE {
        Ok(())
    } else {
        Err(Error::BadAlign(align))
    }
}

/// What `nd_pfn_init` is given, generalised to any per-page metadata size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Physical address of the namespace: a multiple of `compat_align`.
    pub start: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The personality's alignment (`nd_pfn->align`); the effective alignment is
    /// `max(align, compat_align)`.
    pub align: u64,
    /// `memremap_compat_align()` ([`COMPAT_ALIGN_X86`](crate::layout::COMPAT_ALIGN_X86)
    /// on x86-64).
    pub compat_align: u64,
    /// Bytes of metadata per 4 KiB page (64 for Linux's `struct page`).
    pub per_page: u64,
    /// The memmap goes in the namespace (`PFN_MODE_PMEM`) rather than DRAM
    /// (`PFN_MODE_RAM`).
    pub in_namespace: bool,
}

/// What `nd_pfn_init` computes for one namespace.
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

impl Params {
    /// `nd_pfn_init`'s arithmetic: `npfns`, `dataoff = ALIGN(start + 8 KiB + memmap,
    /// align) - start`, `end_trunc` to the alignment.
    pub fn geometry(&self) -> Result<PfnGeometry, Error> {
        let Params {
            start,
            size,
            align,
            compat_align,
            per_page,
            in_namespace,
        } = *self;
        check_align(align)?;
        check_align(compat_align)?;
        if !start.is_multiple_of(compat_align) {
            return Err(Error::MisalignedStart {
                start,
                align: compat_align,
            });
        }
        let too_small = |overhead| Error::TooSmall { size, overhead };
        let memmap_pages = size
            .checked_sub(INFO_BLOCK_RESERVE)
            .ok_or(too_small(INFO_BLOCK_RESERVE))?
            / PAGE_SIZE;
        let align = align.max(compat_align);
        let end = add(start, size, "namespace end")?;
        let end_trunc = sub(end, align_down(end, align), "end_trunc")?;
        let map = if in_namespace {
            mul(per_page, memmap_pages, "memmap size")?
        } else {
            0
        };
        let reserved = add(add(start, INFO_BLOCK_RESERVE, "reserve")?, map, "reserve")?;
        let dataoff = sub(align_up(reserved, align)?, start, "dataoff")?;
        let usable = size.checked_sub(end_trunc).ok_or(too_small(end_trunc))?;
        if dataoff >= usable {
            return Err(too_small(add(dataoff, end_trunc, "overhead")?));
        }
        Ok(PfnGeometry {
            dataoff,
            npfns: sub(usable, dataoff, "npfns")? / PAGE_SIZE,
            end_trunc,
            memmap_pages,
        })
    }
}
