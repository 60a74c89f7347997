//! Checks nvdimm-label's reading of an LSA against what Linux and ndctl reported for the
//! same bytes, field by field. Used on the checked-in fixtures (linux_fixtures.rs) and on
//! LSAs fresh from a live boot (linux_qemu.rs).

use super::json::{Json, Members};
use nvdimm_label::cookie::{DimmCookieInfo, cookie_v1_1, cookie_v1_2, qemu_dimm};
use nvdimm_label::{
    CLASSIFY_BYTES, ClaimClass, Content, IndexBlock, Label, LabelVersion, Lsa, Uuid, classify,
};

/// What ndctl printed for one DIMM (see tests/data/README.md).
pub(crate) struct NdctlView<'a> {
    /// `ndctl read-labels -j nmemN`.
    pub(crate) read_labels: &'a Json,
    /// `ndctl list -N -v -r regionR`.
    pub(crate) list_n: &'a Json,
    /// `ndctl list -R -v -r regionR`.
    pub(crate) list_r: &'a Json,
    /// QEMU slot of the DIMM (its serial number, hence its cookie, follows from it).
    pub(crate) qemu_slot: u32,
}

/// The name `ndctl list -N` shows for a namespace: it leaves the member out when the
/// name is empty.
pub(crate) fn listed_name(n: &Json) -> &str {
    n.get("name").map_or("", |_| n.str("name"))
}

/// The label version ndctl's `read-labels` reports (block 0's major.minor).
fn version_of(read_labels: &Json) -> LabelVersion {
    let index = &read_labels.items()[0].at("index").items()[0];
    match (index.u64("major"), index.u64("minor")) {
        (1, 1) => LabelVersion::V1_1,
        (1, 2) => LabelVersion::V1_2,
        other => panic!("ndctl reports index version {other:?}"),
    }
}

fn check_index(what: &str, ours: &IndexBlock, ndctl: &Json) {
    assert_eq!(ndctl.str("signature"), "NAMESPACE_INDEX", "{what}");
    let (major, minor) = match ours.version {
        LabelVersion::V1_1 => (1, 1),
        LabelVersion::V1_2 => (1, 2),
        LabelVersion::Cxl => (2, 1),
    };
    assert_eq!(ndctl.u64("major"), major, "{what}: major");
    assert_eq!(ndctl.u64("minor"), minor, "{what}: minor");
    assert_eq!(
        ndctl.u64("labelsize"),
        ours.version.label_size() as u64,
        "{what}: labelsize"
    );
    assert_eq!(
        ndctl.u64("seq"),
        u64::from(ours.header.seq.get()),
        "{what}: seq"
    );
    assert_eq!(ndctl.u64("nslot"), u64::from(ours.nslot()), "{what}: nslot");
}

/// ndctl prints v1.2 GUID fields as their 16 raw bytes formatted like a UUID.
fn raw_guid(bytes: [u8; 16]) -> String {
    Uuid(bytes).to_string()
}

/// The mode `ndctl list` prints for what `classify` found.
fn mode_of(content: &Content) -> &'static str {
    match content {
        Content::Raw => "raw",
        Content::Btt { .. } => "sector",
        Content::Pfn(_) => "fsdax",
        Content::Dax(_) => "devdax",
    }
}

/// Parses `area` and checks it against `ndctl`. `head(dpa)` returns the namespace's
/// first `CLASSIFY_BYTES` bytes (the info blocks), so the namespace modes and usable
/// sizes can be checked too. Returns the parse for further checks.
pub(crate) fn check_lsa(
    what: &str,
    area: &[u8],
    ndctl: &NdctlView<'_>,
    head: &dyn Fn(u64) -> Vec<u8>,
) -> Lsa {
    let lsa =
        Lsa::parse(area).unwrap_or_else(|e| panic!("{what}: our parser rejects Linux's LSA: {e}"));
    let version = version_of(ndctl.read_labels);
    assert_eq!(lsa.version(), version, "{what}: label version");
    let damage: Vec<_> = lsa.diagnostics().iter().filter(|d| d.is_damage()).collect();
    assert!(
        damage.is_empty(),
        "{what}: damage reported on Linux's LSA: {damage:?}"
    );

    // Index blocks: ndctl prints block 0 then block 1.
    let dimm = &ndctl.read_labels.items()[0];
    let blocks = dimm.at("index").items();
    assert_eq!(blocks.len(), 2, "{what}: ndctl found both index blocks");
    let current = lsa.index();
    let other = lsa
        .other_index()
        .unwrap_or_else(|e| panic!("{what}: other index invalid: {e}"));
    for block in [current, other] {
        check_index(
            &format!("{what}: index block {}", block.block),
            block,
            &blocks[usize::from(block.block)],
        );
    }

    // Labels: ndctl prints every slot whose slot field matches, in use or not; ours are
    // exactly the ones the current index has in use.
    let printed = dimm.at("label").items();
    let mut active = 0;
    for nd in printed {
        let slot = u32::try_from(nd.u64("slot")).expect("slot fits u32");
        let ours = lsa.labels().iter().find(|l| l.slot() == slot);
        if lsa.is_free(slot) {
            assert!(
                ours.is_none(),
                "{what}: slot {slot} is free but reported active"
            );
            continue;
        }
        active += 1;
        let Some(Label::Namespace(l)) = ours else {
            panic!("{what}: slot {slot} in use, ndctl prints {nd:?}, we have {ours:?}");
        };
        let w = format!("{what}: slot {slot}");
        assert_eq!(nd.str("uuid"), l.uuid.to_string(), "{w}: uuid");
        assert_eq!(Some(nd.str("name")), l.name.as_str(), "{w}: name");
        assert_eq!(nd.u64("slot"), u64::from(l.slot), "{w}: slot");
        assert_eq!(nd.u64("position"), u64::from(l.position), "{w}: position");
        assert_eq!(nd.u64("nlabel"), u64::from(l.nlabel), "{w}: nlabel");
        assert_eq!(nd.u64("flags"), u64::from(l.flags), "{w}: flags");
        assert_eq!(nd.u64("isetcookie"), l.isetcookie, "{w}: isetcookie");
        assert_eq!(nd.u64("lbasize"), l.lbasize, "{w}: lbasize");
        assert_eq!(nd.u64("dpa"), l.dpa, "{w}: dpa");
        assert_eq!(nd.u64("rawsize"), l.rawsize, "{w}: rawsize");
        match version {
            LabelVersion::V1_2 => {
                let type_guid = l.type_guid.unwrap_or_else(|| panic!("{w}: no type_guid"));
                assert_eq!(nd.str("type_guid"), raw_guid(type_guid.0), "{w}: type_guid");
                let claim = l.claim.unwrap_or_else(|| panic!("{w}: no claim class"));
                assert_eq!(
                    nd.str("abstraction_guid"),
                    raw_guid(claim.to_bytes(version)),
                    "{w}: abstraction_guid"
                );
            }
            _ => {
                assert!(
                    nd.get("type_guid").is_none() && l.type_guid.is_none(),
                    "{w}: v1.1 has no type_guid"
                );
                assert!(
                    nd.get("abstraction_guid").is_none() && l.claim.is_none(),
                    "{w}: v1.1 has no claim"
                );
            }
        }
    }
    assert_eq!(
        lsa.labels().len(),
        active,
        "{what}: every active label of ours is one ndctl printed"
    );

    // Cookie: Linux's region iset_id, the labels', and ours computed for the QEMU slot.
    let region = &ndctl.list_r.at("regions").items()[0];
    let iset_id = region.u64("iset_id");
    let mut dimms: [DimmCookieInfo; 1] = [qemu_dimm(ndctl.qemu_slot)];
    let expected = match version {
        LabelVersion::V1_1 => cookie_v1_1(&mut dimms),
        _ => cookie_v1_2(&mut dimms),
    };
    assert_eq!(
        iset_id, expected,
        "{what}: our cookie for QEMU slot {} vs Linux's iset_id",
        ndctl.qemu_slot
    );

    // Namespaces: exactly the ones Linux lists.
    let listed = ndctl.list_n.items();
    assert_eq!(
        lsa.namespaces().len(),
        listed.len(),
        "{what}: namespace count"
    );
    for ns in lsa.namespaces() {
        let uuid = ns.uuid.to_string();
        let nd = listed
            .iter()
            .find(|n| {
                n.get("raw_uuid")
                    .map_or_else(|| n.str("uuid"), |_| n.str("raw_uuid"))
                    == uuid
            })
            .unwrap_or_else(|| panic!("{what}: our namespace {uuid} is not listed by Linux"));
        let w = format!("{what}: namespace {uuid}");
        assert_eq!(Some(listed_name(nd)), ns.name.as_str(), "{w}: name");
        assert_eq!(ns.isetcookie, iset_id, "{w}: isetcookie vs region iset_id");
        assert_eq!(ns.extents.len(), 1, "{w}: one extent on a one-DIMM region");
        let dpa = ns.extents.first().dpa;
        let start = head(dpa);
        assert_eq!(start.len(), CLASSIFY_BYTES);
        let content = classify(&start, ns.uuid, ns.claim, version != LabelVersion::V1_1);
        assert_eq!(nd.str("mode"), mode_of(&content), "{w}: mode");
        if let Some(sector_size) = nd.get("sector_size") {
            let want = match content {
                Content::Btt {
                    external_lbasize, ..
                } => u64::from(external_lbasize),
                // lbasize 0 (what ndctl's autolabel path leaves, fixture auto12)
                // reads as 512 to Linux.
                _ if ns.lbasize == 0 => 512,
                _ => ns.lbasize,
            };
            assert_eq!(*sector_size, Json::from(want), "{w}: sector_size");
        }
        let size = nd.u64("size");
        match content {
            Content::Raw => {
                assert_eq!(size, ns.size(), "{w}: size");
                assert_eq!(nd.str("uuid"), uuid, "{w}: uuid");
            }
            Content::Pfn(info) | Content::Dax(info) => {
                let usable = ns.size() - info.dataoff - u64::from(info.end_trunc);
                assert_eq!(size, usable, "{w}: size = rawsize - dataoff - end_trunc");
                assert_eq!(
                    nd.str("uuid"),
                    info.uuid.to_string(),
                    "{w}: info block uuid"
                );
            }
            Content::Btt {
                external_lbasize,
                external_nlba,
                ..
            } => {
                let usable = u64::from(external_lbasize) * u64::from(external_nlba);
                assert_eq!(size, usable, "{w}: size = external_lbasize * external_nlba");
            }
        }
        if version == LabelVersion::V1_2 {
            let claim = ns.claim.unwrap_or_else(|| panic!("{w}: no claim class"));
            let agrees = match nd.str("mode") {
                // Linux 6.1 shows a namespace with a claim class it does not know
                // (ours, or any other) as raw: seen in linux_qemu.rs.
                "raw" => matches!(
                    claim,
                    ClaimClass::None | ClaimClass::Hugevm | ClaimClass::Unknown(_)
                ),
                "fsdax" => claim == ClaimClass::Pfn,
                "devdax" => claim == ClaimClass::Dax,
                "sector" => claim == ClaimClass::Btt2,
                _ => false,
            };
            assert!(
                agrees,
                "{w}: claim class {claim:?} vs mode {}",
                nd.str("mode")
            );
        }
    }
    lsa
}
