//! nvdimm-label against what Linux 6.1 and ndctl 76.1 wrote and reported, from the
//! checked-in fixtures (tests/data, produced by `scripts/nvdimm-linux.sh fixtures`; its
//! README says how): every index field, every label field, the interleave-set cookie,
//! and the namespaces Linux assembled (uuid, name, mode, size).

#[path = "linux_support/compare.rs"]
mod compare;
#[path = "linux_support/json.rs"]
mod json;

use compare::{NdctlView, check_lsa};
use json::{Json, Members};
use nvdimm_label::{CLASSIFY_BYTES, Diagnostic, Lsa};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(name: &str) -> Json {
    let text = String::from_utf8(read(name)).expect("UTF-8 JSON");
    json::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Checks fixture `version` (made on QEMU slot `qemu_slot`) and returns our parse.
fn check_fixture(version: &str, qemu_slot: u32) -> Lsa {
    let read_labels = json(&format!("{version}.read-labels.json"));
    let list_n = json(&format!("{version}.list-N.json"));
    let list_r = json(&format!("{version}.list-R.json"));
    // The saved namespace heads (NAME.head, VERSION-unnamed.head for an empty name),
    // found by the DPA ndctl printed for each name.
    let head_file = |l: &Json| match l.str("name") {
        "" => format!("{version}-unnamed.head"),
        name => format!("{name}.head"),
    };
    let heads: Vec<(u64, Vec<u8>)> = read_labels.items()[0]
        .at("label")
        .items()
        .iter()
        .filter(|l| data(&head_file(l)).exists())
        .map(|l| (l.u64("dpa"), read(&head_file(l))))
        .collect();
    let head = |dpa: u64| -> Vec<u8> {
        let (_, bytes) = heads
            .iter()
            .find(|(d, _)| *d == dpa)
            .unwrap_or_else(|| panic!("{version}: no saved head at dpa {dpa}"));
        assert_eq!(bytes.len(), CLASSIFY_BYTES);
        bytes.clone()
    };
    let view = NdctlView {
        read_labels: &read_labels,
        list_n: &list_n,
        list_r: &list_r,
        qemu_slot,
    };
    check_lsa(version, &read(&format!("{version}.lsa")), &view, &head)
}

#[test]
fn v1_1_fixture_matches_ndctl() {
    let lsa = check_fixture("v11", 0);
    assert_eq!(lsa.namespaces().len(), 4);
}

#[test]
fn v1_2_fixture_matches_ndctl() {
    let lsa = check_fixture("v12", 1);
    assert_eq!(lsa.namespaces().len(), 4);
}

/// ndctl's autolabel path (`create-namespace -e namespace2.0 -m fsdax` on a label-less
/// DIMM): v1.2 labels, one unnamed whole-DIMM fsdax namespace with its memmap in the
/// namespace (`map: dev`).
#[test]
fn autolabel_fixture_matches_ndctl() {
    let lsa = check_fixture("auto12", 2);
    assert_eq!(lsa.namespaces().len(), 1);
}

/// ndctl's `init-labels` leaves the free bits past `nslot` set in both blocks (1020..1023
/// for v1.1, 510..511 for v1.2: README "What these runs showed"), also when ndctl
/// initializes on its own (autolabel); the parser must accept
/// that and say so.
#[test]
fn ndctl_bitmap_tail_is_reported_not_rejected() {
    for (version, count) in [("v11", 4), ("v12", 2), ("auto12", 2)] {
        let lsa = Lsa::parse(&read(&format!("{version}.lsa"))).expect("parses");
        let tails: Vec<_> = lsa
            .diagnostics()
            .iter()
            .filter_map(|d| match d {
                Diagnostic::FreeBitsPastNslot { block, count } => Some((*block, *count)),
                _ => None,
            })
            .collect();
        assert_eq!(tails.len(), 2, "{version}: both blocks: {tails:?}");
        assert!(
            tails.iter().all(|(_, c)| *c == count),
            "{version}: {tails:?}"
        );
        assert!(!lsa.is_damaged(), "{version}: {:?}", lsa.diagnostics());
    }
}
