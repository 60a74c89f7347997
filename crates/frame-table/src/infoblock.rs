// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Linux's fsdax/devdax info block (`struct nd_pfn_sb`): parse, emit, create and validate
//! as the kernel does, so a namespace we prepare is usable by Linux and the reverse.
//!
//! - [`PfnInfo::parse`] checks the signature, the `nd_sb_checksum`, `version_major` 1, the
//!   mode, and (from minor 3, which guarantees them zero) flags and padding. It keeps the
//!   fields as stored, so `parse(emit(x)) == x`; the kernel's version back-fill (minor < 1:
//!   no `start_pad`/`end_trunc`; < 2: no `align`; < 4: `page_size` 4096 and
//!   `page_struct_size` 64) is in the `effective_*` accessors.
//! - [`PfnInfo::validate`] applies `nd_pfn_validate`'s checks against the namespace it
//!   was found in.
//! - [`PfnInfo::init`] computes a new block as `nd_pfn_init` does (version 1.4), with
//!   the arithmetic in [`geometry`].
//!
//! This crate owns what an `nd_pfn_sb` means. The `nvdimm-label` crate only recognises
//! one (signature, checksum, parent UUID and the geometry it reports, from the block's
//! first 88 bytes) to say what a namespace holds; the two share no code.
//!
//! # Fuzzing
//!
//! Under `cfg(fuzzing)` the checksum is not checked, so the fuzzer reaches the field
//! checks; [`PfnInfo::emit`] always writes a correct checksum.

#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::checksum::fletcher64_skipping;
use crate::error::{Error, Result};
use crate::layout::{
    DAX_SIG, INFO_BLOCK_CHECKSUM_AT, INFO_BLOCK_OFFSET, INFO_BLOCK_RESERVE, INFO_BLOCK_SIZE,
    MAX_STRUCT_PAGE_SIZE, NdPfnSb, PAGE_SIZE, PFN_MODE_PMEM, PFN_MODE_RAM, PFN_SIG,
    PFN_VERSION_MINOR, SIZE_1G, SIZE_2M,
};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

pub mod geometry;

/// Which personality the block claims the namespace for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Personality {
    /// fsdax: `NVDIMM_PFN_INFO`.
    Fsdax,
    /// devdax: `NVDIMM_DAX_INFO`.
    Devdax,
}

impl Personality {
    /// The signature bytes.
    pub const fn signature(self) -> [u8; 16] {
        match self {
            Personality::Fsdax => PFN_SIG,
            Personality::Devdax => DAX_SIG,
        }
    }
}

/// Where the memmap (`struct page` array) lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PfnMode {
    /// `PFN_MODE_RAM`: in DRAM.
    Ram,
    /// `PFN_MODE_PMEM`: in the namespace, between 8 KiB and `dataoff`.
    Pmem,
}

impl PfnMode {
    /// The on-media value.
    pub const fn raw(self) -> u32 {
        match self {
            PfnMode::Ram => PFN_MODE_RAM,
            PfnMode::Pmem => PFN_MODE_PMEM,
        }
    }
}

/// A validated `nd_pfn_sb`, fields as stored (names as in `pfn.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PfnInfo {
    /// `signature`.
    pub personality: Personality,
    /// `uuid`.
    pub uuid: [u8; 16],
    /// `parent_uuid`.
    pub parent_uuid: [u8; 16],
    /// `flags` (zero from minor 3).
    pub flags: u32,
    /// `version_minor` (`version_major` is always 1).
    pub version_minor: u16,
    /// `dataoff`.
    pub dataoff: u64,
    /// `npfns`.
    pub npfns: u64,
    /// `mode`.
    pub mode: PfnMode,
    /// `start_pad`.
    pub start_pad: u32,
    /// `end_trunc`.
    pub end_trunc: u32,
    /// `align`.
    pub align: u32,
    /// `page_size`.
    pub page_size: u32,
    /// `page_struct_size`.
    pub page_struct_size: u16,
}

/// The namespace an info block was found in (what `nd_pfn_validate` compares with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceGeometry {
    /// Physical address of the namespace.
    pub start: u64,
    /// Its size.
    pub size: u64,
    /// Its uuid (all zero for label-less namespaces).
    pub uuid: [u8; 16],
    /// `memremap_compat_align()`.
    pub compat_align: u64,
}

/// Parameters of [`PfnInfo::init`] (`nd_pfn_init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitParams {
    /// fsdax or devdax.
    pub personality: Personality,
    /// Where the memmap goes.
    pub mode: PfnMode,
    /// The personality's uuid.
    pub uuid: [u8; 16],
    /// The namespace.
    pub namespace: NamespaceGeometry,
    /// The personality's alignment (`nd_pfn->align`), recorded as is.
    pub align: u32,
}

/// [`INFO_BLOCK_OFFSET`] as an index (the cast is checked by the assertion below).
#[allow(clippy::cast_possible_truncation)]
const INFO_BLOCK_AT: usize = INFO_BLOCK_OFFSET as usize;
/// x86-64 `PAGE_SIZE` as stored in `page_size`.
#[allow(clippy::cast_possible_truncation)]
const PAGE_SIZE_U32: u32 = PAGE_SIZE as u32;
const _: () =
    assert!(INFO_BLOCK_AT as u64 == INFO_BLOCK_OFFSET && PAGE_SIZE_U32 as u64 == PAGE_SIZE);

fn effective_minor(minor: u16, since: u16) -> bool {
    minor >= since
}

impl PfnInfo {
    /// Bytes of the block.
    pub const fn buffer_len() -> usize {
        INFO_BLOCK_SIZE
    }

    /// Parses a block from the first 4096 bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let (sb, _) = NdPfnSb::ref_from_prefix(bytes).map_err(|_| Error::Truncated {
            len: bytes.len(),
            needed: INFO_BLOCK_SIZE,
        })?;
        let personality = match sb.signature {
            PFN_SIG => Personality::Fsdax,
            DAX_SIG => Personality::Devdax,
            _ => return Err(Error::BadSignature),
        };
        let stored = sb.checksum.get();
        let computed = fletcher64_skipping(sb.as_bytes(), INFO_BLOCK_CHECKSUM_AT);
        if stored != computed && !cfg!(fuzzing) {
            return Err(Error::BadChecksum { stored, computed });
        }
        let (major, minor) = (sb.version_major.get(), sb.version_minor.get());
        if major != 1 {
            return Err(Error::BadVersion { major, minor });
        }
        let mode = match sb.mode.get() {
            PFN_MODE_RAM => PfnMode::Ram,
            PFN_MODE_PMEM => PfnMode::Pmem,
            m => return Err(Error::BadMode(m)),
        };
        if effective_minor(minor, 3) {
            if sb.flags.get() != 0 {
                return Err(Error::NonZeroReserved { offset: 48 });
            }
            if let Some(i) = sb.padding.iter().position(|b| *b != 0) {
                return Err(Error::NonZeroReserved {
                    offset: 94usize.saturating_add(i),
                });
            }
        }
        Ok(Self {
            personality,
            uuid: sb.uuid,
            parent_uuid: sb.parent_uuid,
            flags: sb.flags.get(),
            version_minor: minor,
            dataoff: sb.dataoff.get(),
            npfns: sb.npfns.get(),
            mode,
            start_pad: sb.start_pad.get(),
            end_trunc: sb.end_trunc.get(),
            align: sb.align.get(),
            page_size: sb.page_size.get(),
            page_struct_size: sb.page_struct_size.get(),
        })
    }

    /// Parses the block at offset 4096 of a namespace's bytes.
    pub fn parse_namespace(namespace: &[u8]) -> Result<Self> {
        let at = INFO_BLOCK_AT;
        let block = namespace.get(at..).ok_or(Error::Truncated {
            len: namespace.len(),
            needed: at + INFO_BLOCK_SIZE,
        })?;
        Self::parse(block).map_err(|e| match e {
            Error::Truncated { .. } => Error::Truncated {
                len: namespace.len(),
                needed: at + INFO_BLOCK_SIZE,
            },
            e => e,
        })
    }

    /// Writes the block, checksum included, into the first 4096 bytes of `buf`. Refuses
    /// (writing nothing) what [`parse`](Self::parse) would refuse.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if effective_minor(self.version_minor, 3) && self.flags != 0 {
            return Err(Error::NonZeroReserved { offset: 48 });
        }
        let len = buf.len();
        let (sb, _) = NdPfnSb::mut_from_prefix(buf).map_err(|_| Error::Truncated {
            len,
            needed: INFO_BLOCK_SIZE,
        })?;
        sb.zero();
        sb.signature = self.personality.signature();
        sb.uuid = self.uuid;
        sb.parent_uuid = self.parent_uuid;
        sb.flags.set(self.flags);
        sb.version_major.set(1);
        sb.version_minor.set(self.version_minor);
        sb.dataoff.set(self.dataoff);
        sb.npfns.set(self.npfns);
        sb.mode.set(self.mode.raw());
        sb.start_pad.set(self.start_pad);
        sb.end_trunc.set(self.end_trunc);
        sb.align.set(self.align);
        sb.page_size.set(self.page_size);
        sb.page_struct_size.set(self.page_struct_size);
        let sum = fletcher64_skipping(sb.as_bytes(), INFO_BLOCK_CHECKSUM_AT);
        sb.checksum.set(sum);
        Ok(())
    }

    /// Writes the block at offset 4096 of a namespace's bytes.
    pub fn emit_namespace(&self, namespace: &mut [u8]) -> Result<()> {
        let len = namespace.len();
        let at = INFO_BLOCK_AT;
        let block = namespace
            .get_mut(at..)
            .filter(|b| b.len() >= INFO_BLOCK_SIZE)
            .ok_or(Error::Truncated {
                len,
                needed: at + INFO_BLOCK_SIZE,
            })?;
        self.emit(block)
    }

    /// `start_pad` as the kernel reads it (0 before minor 1).
    pub const fn effective_start_pad(&self) -> u32 {
        if self.version_minor >= 1 {
            self.start_pad
        } else {
            0
        }
    }

    /// `end_trunc` as the kernel reads it (0 before minor 1).
    pub const fn effective_end_trunc(&self) -> u32 {
        if self.version_minor >= 1 {
            self.end_trunc
        } else {
            0
        }
    }

    /// The alignment as the kernel reads it: `align`, or when that is zero (or before
    /// minor 2) `1 << ilog2(dataoff)`.
    pub const fn effective_align(&self) -> u64 {
        let align = if self.version_minor >= 2 {
            self.align
        } else {
            0
        };
        if align != 0 {
            align as u64
        } else if self.dataoff == 0 {
            0
        } else {
            1 << self.dataoff.ilog2()
        }
    }

    /// `page_size` as the kernel reads it (`PAGE_SIZE` before minor 4).
    pub const fn effective_page_size(&self) -> u32 {
        if self.version_minor >= 4 {
            self.page_size
        } else {
            PAGE_SIZE_U32
        }
    }

    /// `page_struct_size` as the kernel reads it (64 before minor 4).
    pub const fn effective_page_struct_size(&self) -> u16 {
        if self.version_minor >= 4 {
            self.page_struct_size
        } else {
            MAX_STRUCT_PAGE_SIZE
        }
    }

    /// `nd_pfn_validate`'s checks against the namespace the block was found in (x86-64:
    /// `PAGE_SIZE` 4096, `sizeof(struct page)` at most 64, devdax alignments 4 KiB,
    /// 2 MiB and 1 GiB).
    pub fn validate(&self, ns: &NamespaceGeometry) -> Result<()> {
        if self.parent_uuid != ns.uuid {
            return Err(Error::Geometry("parent_uuid is not the namespace uuid"));
        }
        let pmem = self.mode == PfnMode::Pmem;
        if pmem && u64::from(self.effective_page_size()) > PAGE_SIZE {
            return Err(Error::Geometry("page_size above PAGE_SIZE"));
        }
        if pmem && self.effective_page_struct_size() < MAX_STRUCT_PAGE_SIZE {
            return Err(Error::Geometry(
                "page_struct_size below sizeof(struct page)",
            ));
        }
        let align = self.effective_align();
        if self.personality == Personality::Devdax
            && ![PAGE_SIZE, SIZE_2M, SIZE_1G].contains(&align)
        {
            return Err(Error::Geometry("devdax alignment not supported"));
        }
        if align > ns.size {
            return Err(Error::Geometry("alignment exceeds capacity"));
        }
        if self.dataoff >= ns.size {
            return Err(Error::Geometry("pfn array size exceeds capacity"));
        }
        let start_pad = u64::from(self.effective_start_pad());
        let end_trunc = u64::from(self.effective_end_trunc());
        let overflow = Error::Overflow("info block geometry");
        let data = ns
            .start
            .checked_add(self.dataoff)
            .and_then(|d| d.checked_add(start_pad))
            .ok_or(overflow)?;
        if (align != 0 && !data.is_multiple_of(align)) || !self.dataoff.is_multiple_of(PAGE_SIZE) {
            return Err(Error::Geometry("bad offset"));
        }
        let compat = ns.compat_align.max(1);
        if !ns
            .start
            .checked_add(start_pad)
            .ok_or(overflow)?
            .is_multiple_of(compat)
        {
            return Err(Error::Geometry("resource start misaligned"));
        }
        let end = ns.start.checked_add(ns.size).ok_or(overflow)?;
        if !end
            .checked_sub(end_trunc)
            .ok_or(overflow)?
            .is_multiple_of(compat)
        {
            return Err(Error::Geometry("resource end misaligned"));
        }
        let room = ns.size.saturating_sub(start_pad).saturating_sub(end_trunc);
        if self.dataoff >= room {
            return Err(Error::Geometry("bad offset with small namespace"));
        }
        if self.mode == PfnMode::Ram && self.dataoff < INFO_BLOCK_RESERVE {
            return Err(Error::Geometry(
                "RAM mode dataoff inside the info-block reserve",
            ));
        }
        Ok(())
    }

    /// A new block as `nd_pfn_init` creates it: version 1.4, `page_size` 4096,
    /// `page_struct_size` 64, `dataoff`/`npfns`/`end_trunc` from
    /// [`geometry::Params::geometry`].
    pub fn init(p: &InitParams) -> core::result::Result<Self, geometry::Error> {
        let ns = p.namespace;
        let g = geometry::Params {
            start: ns.start,
            size: ns.size,
            align: u64::from(p.align),
            compat_align: ns.compat_align,
            per_page: u64::from(MAX_STRUCT_PAGE_SIZE),
            in_namespace: p.mode == PfnMode::Pmem,
        }
        .geometry()?;
        let end_trunc = u32::try_from(g.end_trunc)
            .map_err(|_| geometry::Error::Overflow("end_trunc (32 bits in nd_pfn_sb)"))?;
        Ok(Self {
            personality: p.personality,
            uuid: p.uuid,
            parent_uuid: ns.uuid,
            flags: 0,
            version_minor: PFN_VERSION_MINOR,
            dataoff: g.dataoff,
            npfns: g.npfns,
            mode: p.mode,
            start_pad: 0,
            end_trunc,
            align: p.align,
            page_size: PAGE_SIZE_U32,
            page_struct_size: MAX_STRUCT_PAGE_SIZE,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NS_UUID: [u8; 16] = [0xef; 16];

    fn one_tib() -> InitParams {
        InitParams {
            personality: Personality::Fsdax,
            mode: PfnMode::Pmem,
            uuid: [0x42; 16],
            namespace: NamespaceGeometry {
                start: 0,
                size: 1 << 40,
                uuid: NS_UUID,
                compat_align: SIZE_2M,
            },
            align: 16 << 20,
        }
    }

    /// The `ndctl write-infoblock -s 1T` example: mode 2, dataoff 17196646400, npfns
    /// 264237056, version 1.4, align 16 MiB, page_size 4096, page_struct_size 64.
    #[test]
    fn ndctl_one_tib_example() {
        let info = PfnInfo::init(&one_tib()).unwrap();
        assert_eq!(info.mode.raw(), 2);
        assert_eq!(info.dataoff, 17_196_646_400);
        assert_eq!(info.npfns, 264_237_056);
        assert_eq!((info.version_minor, info.align), (4, 16 << 20));
        assert_eq!(
            (info.page_size, info.page_struct_size, info.end_trunc),
            (4096, 64, 0)
        );
        info.validate(&one_tib().namespace).unwrap();
    }

    /// The emitted bytes at the offsets of `pfn.h`, and the checksum as
    /// `nd_sb_checksum` computes it (Fletcher64 with the last 8 bytes zeroed).
    #[test]
    fn emit_layout_and_checksum() {
        let info = PfnInfo::init(&one_tib()).unwrap();
        let mut buf = [0xa5u8; 4096];
        info.emit(&mut buf).unwrap();
        assert_eq!(&buf[..16], b"NVDIMM_PFN_INFO\0");
        assert_eq!(&buf[32..48], &NS_UUID);
        assert_eq!(&buf[52..56], &[1, 0, 4, 0]);
        assert_eq!(
            u64::from_le_bytes(buf[56..64].try_into().unwrap()),
            17_196_646_400
        );
        assert_eq!(
            u64::from_le_bytes(buf[64..72].try_into().unwrap()),
            264_237_056
        );
        assert_eq!(&buf[72..76], &[2, 0, 0, 0]);
        assert_eq!(&buf[84..88], &(16u32 << 20).to_le_bytes());
        assert_eq!(&buf[88..94], &[0, 16, 0, 0, 64, 0]);
        assert!(buf[94..4088].iter().all(|b| *b == 0));
        let mut zeroed = buf;
        zeroed[4088..].fill(0);
        let sum = crate::checksum::fletcher64(&zeroed);
        assert_eq!(u64::from_le_bytes(buf[4088..].try_into().unwrap()), sum);
        assert_eq!(PfnInfo::parse(&buf), Ok(info));
    }

    #[test]
    fn parse_rejections() {
        let info = PfnInfo::init(&one_tib()).unwrap();
        let mut buf = [0u8; 4096];
        info.emit(&mut buf).unwrap();
        assert!(matches!(
            PfnInfo::parse(&buf[..4095]),
            Err(Error::Truncated { .. })
        ));
        let mut bad = buf;
        bad[100] = 1;
        assert!(matches!(
            PfnInfo::parse(&bad),
            Err(Error::BadChecksum { .. })
        ));
        let mut bad = buf;
        bad[0] = b'X';
        assert_eq!(PfnInfo::parse(&bad), Err(Error::BadSignature));
        let mut devdax = info;
        devdax.personality = Personality::Devdax;
        devdax.emit(&mut bad).unwrap();
        assert_eq!(&bad[..16], b"NVDIMM_DAX_INFO\0");
        // devdax at 16 MiB alignment is not an x86 devdax alignment.
        assert_eq!(
            PfnInfo::parse(&bad).unwrap().validate(&one_tib().namespace),
            Err(Error::Geometry("devdax alignment not supported"))
        );
        let mut v = info;
        v.version_minor = 3;
        v.flags = 1;
        assert_eq!(v.emit(&mut bad), Err(Error::NonZeroReserved { offset: 48 }));
    }

    #[test]
    fn version_back_fill() {
        let mut old = PfnInfo::init(&one_tib()).unwrap();
        old.version_minor = 1;
        old.align = 123;
        old.page_size = 65536;
        old.page_struct_size = 8;
        assert_eq!(old.effective_align(), 1 << 34);
        assert_eq!(old.effective_page_size(), 4096);
        assert_eq!(old.effective_page_struct_size(), 64);
        old.version_minor = 0;
        old.end_trunc = 7;
        assert_eq!(old.effective_end_trunc(), 0);
    }

    #[test]
    fn validate_checks_geometry() {
        let info = PfnInfo::init(&one_tib()).unwrap();
        let mut ns = one_tib().namespace;
        ns.uuid = [0; 16];
        assert!(info.validate(&ns).is_err());
        let mut ns = one_tib().namespace;
        ns.start = SIZE_2M;
        assert_eq!(info.validate(&ns), Err(Error::Geometry("bad offset")));
        let mut ns = one_tib().namespace;
        ns.size = info.dataoff;
        assert_eq!(
            info.validate(&ns),
            Err(Error::Geometry("pfn array size exceeds capacity"))
        );
        let mut small = info;
        small.page_struct_size = 40;
        assert_eq!(
            small.validate(&one_tib().namespace),
            Err(Error::Geometry(
                "page_struct_size below sizeof(struct page)"
            ))
        );
    }

    fn infos() -> impl Strategy<Value = PfnInfo> {
        (
            any::<bool>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            0u16..6,
            any::<u32>(),
            (any::<u64>(), any::<u64>(), any::<bool>()),
            (
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u16>(),
            ),
        )
            .prop_map(
                |(dax, uuid, parent, minor, flags, (dataoff, npfns, pm), rest)| PfnInfo {
                    personality: if dax {
                        Personality::Devdax
                    } else {
                        Personality::Fsdax
                    },
                    uuid,
                    parent_uuid: parent,
                    flags: if minor >= 3 { 0 } else { flags },
                    version_minor: minor,
                    dataoff,
                    npfns,
                    mode: if pm { PfnMode::Pmem } else { PfnMode::Ram },
                    start_pad: rest.0,
                    end_trunc: rest.1,
                    align: rest.2,
                    page_size: rest.3,
                    page_struct_size: rest.4,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trip(info in infos()) {
            let mut buf = [0xa5u8; 4096];
            info.emit(&mut buf).unwrap();
            prop_assert_eq!(PfnInfo::parse(&buf), Ok(info));
        }

    }
    /// Whatever `init` accepts, the kernel's validation accepts too. Counts the cases
    /// `init` accepted (the only ones that reach the assertion) and fails if fewer than
    /// half did, so the property cannot pass on refusals alone.
    #[test]
    fn init_then_validate() {
        use core::cell::Cell;
        use proptest::test_runner::{Config, TestRunner};
        let params = (
            0u64..1_000_000,
            1u64..(1 << 26),
            prop::sample::select(std::vec![4096u32, 2 << 20, 16 << 20, 1 << 30]),
            any::<bool>(),
        );
        let (ran, reached) = (Cell::new(0u32), Cell::new(0u32));
        let mut runner = TestRunner::new(Config {
            cases: 512,
            failure_persistence: None,
            ..Config::default()
        });
        let outcome = runner.run(&params, |(start_2m, size_pages, align, pmem)| {
            ran.set(ran.get() + 1);
            let ns = NamespaceGeometry {
                start: start_2m * SIZE_2M,
                size: size_pages * PAGE_SIZE,
                uuid: NS_UUID,
                compat_align: SIZE_2M,
            };
            let p = InitParams {
                personality: Personality::Fsdax,
                mode: if pmem { PfnMode::Pmem } else { PfnMode::Ram },
                uuid: [1; 16],
                namespace: ns,
                align,
            };
            if let Ok(info) = PfnInfo::init(&p) {
                reached.set(reached.get() + 1);
                prop_assert_eq!(info.validate(&ns), Ok(()));
                prop_assert!(info.npfns > 0);
            }
            Ok(())
        });
        if let Err(e) = outcome {
            panic!("init_then_validate: {e}");
        }
        let (ran, reached) = (ran.get(), reached.get());
        std::println!("init_then_validate: {reached}/{ran} cases reached the assertion");
        assert!(
            2 * reached >= ran,
            "only {reached}/{ran} cases reached the assertion"
        );
    }
}
