// SPDX-License-Identifier: Apache-2.0 OR MIT
//! What a namespace holds, from the info block at its start (Linux `nd_pmem_probe`
//! order: BTT, then pfn (fsdax), then dax (devdax); else raw).
//!
//! Each candidate must have its signature, a valid Fletcher64 over 4096 bytes (checksum
//! at 4088 taken as zero, `nd_sb_checksum`), and a `parent_uuid` equal to the namespace
//! UUID (BTT also accepts a nil parent). A v1.2/CXL claim class restricts the probe to
//! that personality; an unknown class (including hugevm's own) probes nothing.
//!
//! Only the signatures, the checksum, the UUIDs and the fields [`PfnInfo`] and
//! [`Content::Btt`] report are read (the prefixes [`PfnSb`] and [`BttSb`]). What an
//! `nd_pfn_sb` means beyond that (creating one as `nd_pfn_init` does, checking it as
//! `nd_pfn_validate` does, the version back-fill of `page_size` and
//! `page_struct_size`) is the `frame-table` crate's business; the two crates share no
//! code, as the workspace's crates never depend on each other.

use zerocopy::FromBytes;

use crate::checksum::fletcher64_skipping;
use crate::label::ClaimClass;
use crate::layout::{
    BTT_SIG, BttSb, DAX_SIG, INFO_BLOCK_CHECKSUM_OFFSET, INFO_BLOCK_OFFSET, INFO_BLOCK_SIZE,
    PFN_SIG, PfnSb,
};
use crate::uuid::Uuid;

/// Fields of a pfn or dax info block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PfnInfo {
    /// Personality UUID (what `ndctl list` shows as `uuid`).
    pub uuid: Uuid,
    /// `version_major.version_minor`.
    pub version: (u16, u16),
    /// 1: memmap in RAM (`--map=mem`); 2: memmap in the namespace (`--map=dev`).
    pub mode: u32,
    /// Offset of the first data byte from the namespace start.
    pub dataoff: u64,
    /// Data pages.
    pub npfns: u64,
    /// Mapping alignment (0 before minor 2).
    pub align: u32,
    /// Bytes cut from the end (0 before minor 1).
    pub end_trunc: u32,
}

/// What an info block says a namespace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// No valid info block: a raw namespace.
    Raw,
    /// A BTT (sector mode): `(major, minor)`, external LBA size and count.
    Btt {
        /// `(version_major, version_minor)`: (1, 1) at 4 KiB or (2, 0) at 0.
        version: (u16, u16),
        /// Sector size seen by users.
        external_lbasize: u32,
        /// Sectors in the first arena.
        external_nlba: u32,
    },
    /// fsdax (`NVDIMM_PFN_INFO`).
    Pfn(PfnInfo),
    /// devdax (`NVDIMM_DAX_INFO`).
    Dax(PfnInfo),
}

/// Bytes of the namespace's start that [`classify`] needs (8 KiB).
pub const CLASSIFY_BYTES: usize = INFO_BLOCK_OFFSET + INFO_BLOCK_SIZE;

fn block(start: &[u8], offset: usize) -> Option<&[u8]> {
    let b = start.get(offset..offset.checked_add(INFO_BLOCK_SIZE)?)?;
    let (sum, _) = u64::read_from_prefix(b.get(INFO_BLOCK_CHECKSUM_OFFSET..)?).ok()?;
    (u64::from_le(sum) == fletcher64_skipping(b, INFO_BLOCK_CHECKSUM_OFFSET)).then_some(b)
}

fn btt(start: &[u8], offset: usize, version: (u16, u16), parent: Uuid) -> Option<Content> {
    let (sb, _) = BttSb::read_from_prefix(block(start, offset)?).ok()?;
    let p = Uuid(sb.parent_uuid);
    let found = (sb.version_major.get(), sb.version_minor.get());
    (sb.signature == BTT_SIG && found == version && (p == parent || p.is_nil())).then_some(
        Content::Btt {
            version,
            external_lbasize: sb.external_lbasize.get(),
            external_nlba: sb.external_nlba.get(),
        },
    )
}

fn pfn(start: &[u8], sig: [u8; 16], parent: Uuid) -> Option<PfnInfo> {
    let (sb, _) = PfnSb::read_from_prefix(block(start, INFO_BLOCK_OFFSET)?).ok()?;
    if sb.signature != sig || Uuid(sb.parent_uuid) != parent || !matches!(sb.mode.get(), 1 | 2) {
        return None;
    }
    let minor = sb.version_minor.get();
    Some(PfnInfo {
        uuid: Uuid(sb.uuid),
        version: (sb.version_major.get(), minor),
        mode: sb.mode.get(),
        dataoff: sb.dataoff.get(),
        npfns: sb.npfns.get(),
        align: if minor >= 2 { sb.align.get() } else { 0 },
        end_trunc: if minor >= 1 { sb.end_trunc.get() } else { 0 },
    })
}

/// Classifies a namespace from its first [`CLASSIFY_BYTES`] bytes (`start`), its UUID
/// (nil for label-less namespaces) and its label's claim class (`None` for v1.1).
/// `btt2` says whether a BTT v2.0 at offset 0 is possible (v1.2 labels, or none).
#[must_use]
pub fn classify(start: &[u8], uuid: Uuid, claim: Option<ClaimClass>, btt2: bool) -> Content {
    let probe_btt = |c: ClaimClass| match c {
        ClaimClass::Btt => btt(start, INFO_BLOCK_OFFSET, (1, 1), uuid),
        ClaimClass::Btt2 => btt(start, 0, (2, 0), uuid),
        _ => None,
    };
    let probe_pfn = || pfn(start, PFN_SIG, uuid).map(Content::Pfn);
    let probe_dax = || pfn(start, DAX_SIG, uuid).map(Content::Dax);
    let found = match claim.unwrap_or(ClaimClass::None) {
        ClaimClass::None => probe_btt(ClaimClass::Btt)
            .or_else(|| btt2.then(|| probe_btt(ClaimClass::Btt2)).flatten())
            .or_else(probe_pfn)
            .or_else(probe_dax),
        c @ (ClaimClass::Btt | ClaimClass::Btt2) => probe_btt(c),
        ClaimClass::Pfn => probe_pfn(),
        ClaimClass::Dax => probe_dax(),
        ClaimClass::Hugevm | ClaimClass::Unknown(_) => None,
    };
    found.unwrap_or(Content::Raw)
}

#[cfg(test)]
mod tests {
    use zerocopy::IntoBytes;
    use zerocopy::little_endian::{U16, U32, U64};

    use super::*;

    fn with_block(offset: usize, header: &[u8]) -> [u8; CLASSIFY_BYTES] {
        let mut ns = [0u8; CLASSIFY_BYTES];
        ns[offset..offset + header.len()].copy_from_slice(header);
        let sum = fletcher64_skipping(&ns[offset..offset + 4096], INFO_BLOCK_CHECKSUM_OFFSET);
        ns[offset + 4088..offset + 4096].copy_from_slice(&sum.to_le_bytes());
        ns
    }

    fn pfn_sb(sig: [u8; 16], parent: Uuid) -> PfnSb {
        PfnSb {
            signature: sig,
            uuid: [1; 16],
            parent_uuid: parent.0,
            flags: U32::new(0),
            version_major: U16::new(1),
            version_minor: U16::new(4),
            dataoff: U64::new(0x20_0000),
            npfns: U64::new(1000),
            mode: U32::new(2),
            start_pad: U32::new(0),
            end_trunc: U32::new(0),
            align: U32::new(0x20_0000),
        }
    }

    #[test]
    fn classifies_pfn_and_dax_by_signature() {
        let parent = Uuid([3; 16]);
        let ns = with_block(INFO_BLOCK_OFFSET, pfn_sb(PFN_SIG, parent).as_bytes());
        assert!(
            matches!(classify(&ns, parent, None, true), Content::Pfn(p) if p.dataoff == 0x20_0000)
        );
        assert!(matches!(
            classify(&ns, parent, Some(ClaimClass::Pfn), true),
            Content::Pfn(_)
        ));
        assert_eq!(
            classify(&ns, parent, Some(ClaimClass::Dax), true),
            Content::Raw
        );
        assert_eq!(
            classify(&ns, Uuid([4; 16]), None, true),
            Content::Raw,
            "parent mismatch"
        );
        assert_eq!(
            classify(&ns, parent, Some(ClaimClass::Hugevm), true),
            Content::Raw
        );
        let ns = with_block(INFO_BLOCK_OFFSET, pfn_sb(DAX_SIG, parent).as_bytes());
        assert!(matches!(classify(&ns, parent, None, true), Content::Dax(_)));
        let mut damaged = ns;
        damaged[INFO_BLOCK_OFFSET + 100] ^= 1;
        assert_eq!(
            classify(&damaged, parent, None, true),
            Content::Raw,
            "checksum"
        );
    }

    #[test]
    fn classifies_btt_versions_by_location() {
        let mut sb = BttSb::read_from_bytes(&[0u8; 64][..]).expect("sized");
        sb.signature = BTT_SIG;
        sb.version_major = U16::new(2);
        sb.external_lbasize = U32::new(4096);
        let ns = with_block(0, sb.as_bytes());
        let parent = Uuid([5; 16]);
        assert!(matches!(
            classify(&ns, parent, None, true),
            Content::Btt {
                version: (2, 0),
                ..
            }
        ));
        assert_eq!(classify(&ns, parent, None, false), Content::Raw);
        assert_eq!(
            classify(&ns, parent, Some(ClaimClass::Btt), true),
            Content::Raw
        );
        sb.version_major = U16::new(1);
        sb.version_minor = U16::new(1);
        let ns = with_block(INFO_BLOCK_OFFSET, sb.as_bytes());
        assert!(matches!(
            classify(&ns, parent, Some(ClaimClass::Btt), false),
            Content::Btt { .. }
        ));
        assert!(matches!(
            classify(&[0u8; 10], parent, None, true),
            Content::Raw
        ));
    }
}
