//! nvdimm-label against Linux itself, live: one QEMU boot of the Debian kernel (TCG) with
//! emulated NVDIMMs and ndctl in the initramfs (scripts/nvdimm-linux.sh). Skips with a
//! loud `SKIPPED:` line when qemu, the kernel or ndctl is missing; set
//! `NVDIMM_LINUX_REQUIRED=1` to make that a failure.
//!
//! DIMMs of the boot (nmemN = dimmN):
//! - nmem0, nmem1: the checked-in fixture LSAs `v11.lsa` / `v12.lsa` with the namespaces'
//!   first 8 KiB (`*.head`) at their DPAs: Linux must rebuild what the fixtures recorded.
//!   They must sit in the slots they were made in: QEMU derives each DIMM's serial number
//!   from its slot (0x123456 + slot), the interleave-set cookie from the serial, and
//!   Linux skips labels whose cookie does not match.
//! - nmem2, nmem3: blank; ndctl runs the fixture recipe (init-labels -V 1.1 / -V 1.2,
//!   then fsdax, devdax, raw, sector and a destroyed namespace).

#[path = "linux_support/harness.rs"]
mod harness;
#[path = "linux_support/json.rs"]
mod json;

use harness::{Boot, LABEL_SIZE, Outcome};
use json::Json;
use std::path::PathBuf;

const GUEST_LIB: &str = include_str!("../../../scripts/nvdimm-linux/guest-lib.sh");

const GUEST_MAIN: &str = "
set -e
# First what Linux made of the preloaded LSAs, before anything else writes labels.
dump nmem0 replay11
dump nmem1 replay12
ndctl_recipe nmem2 1.1 v11
ndctl_recipe nmem3 1.2 v12
dump nmem2 v11
dump nmem3 v12
";

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn fixture_json(name: &str) -> Json {
    let text = std::fs::read_to_string(data(name)).expect("read a fixture");
    Json::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse_out(boot: &Boot, name: &str) -> Json {
    let text = boot.out(name);
    Json::parse(&text).unwrap_or_else(|e| panic!("guest {name}: {e}\n{text}"))
}

/// `v` without the members named in `drop`, at any depth.
fn without(v: &Json, drop: &[&str]) -> Json {
    match v {
        Json::Obj(m) => Json::Obj(
            m.iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, x)| (k.clone(), without(x, drop)))
                .collect(),
        ),
        Json::Arr(a) => Json::Arr(a.iter().map(|x| without(x, drop)).collect()),
        other => other.clone(),
    }
}

/// The namespaces of an `ndctl list -N` array, without the `drop` members, in name order
/// (ndctl lists them in device probe order, which varies).
fn namespaces(list: &Json, drop: &[&str]) -> Vec<Json> {
    let mut v: Vec<Json> = list.items().iter().map(|n| without(n, drop)).collect();
    v.sort_by(|a, b| a.str("name").cmp(b.str("name")));
    v
}

/// A fixture LSA with the first 8 KiB of each of its namespaces placed at its DPA.
fn fixture_backend(boot: &mut Boot, version: &str) {
    let lsa = std::fs::read(data(&format!("{version}.lsa"))).expect("read a fixture LSA");
    assert_eq!(lsa.len(), LABEL_SIZE);
    let mut heads = Vec::new();
    for label in fixture_json(&format!("{version}.read-labels.json")).items()[0]
        .at("label")
        .items()
    {
        let name = label.str("name");
        let head = data(&format!("{name}.head"));
        if head.exists() && !heads.iter().any(|(n, _): &(String, u64)| n == name) {
            heads.push((name.to_owned(), label.u64("dpa")));
        }
    }
    let heads = heads
        .into_iter()
        .map(|(name, dpa)| {
            (
                dpa,
                std::fs::read(data(&format!("{name}.head"))).expect("read a head"),
            )
        })
        .collect::<Vec<_>>();
    boot.add_dimm_with(&lsa, &heads);
}

/// Linux, given only the bytes of a fixture (LSA + info blocks), reports what the
/// fixture recorded and leaves the LSA as it was: `read-labels` identical, and every namespace whose metadata fits
/// in the saved 8 KiB (all but sector: a BTT also needs its log at the arena's end)
/// with the same mode, uuids, name and size.
fn check_replay(boot: &Boot, dimm: usize, version: &str, tag: &str) {
    let lsa = std::fs::read(data(&format!("{version}.lsa"))).expect("read a fixture LSA");
    assert!(
        boot.lsa(dimm) == lsa,
        "{version}: Linux changed a valid LSA it only had to read"
    );
    let got = parse_out(boot, &format!("{tag}.read-labels.json"));
    let want = fixture_json(&format!("{version}.read-labels.json"));
    assert_eq!(
        without(&got, &["dev"]),
        without(&want, &["dev"]),
        "{version}: read-labels of the replayed LSA"
    );
    let got = parse_out(boot, &format!("{tag}.list-N.json"));
    let want = fixture_json(&format!("{version}.list-N.json"));
    let volatile = [
        "dev",
        "blockdev",
        "chardev",
        "daxregion",
        "numa_node",
        "target_node",
    ];
    let mut expected = namespaces(&want, &volatile);
    expected.retain(|n| n.str("mode") != "sector");
    assert_eq!(
        namespaces(&got, &volatile),
        expected,
        "{version}: namespaces of the replayed LSA"
    );
    assert_eq!(
        expected.len(),
        3,
        "{version}: fsdax, devdax and raw replayed"
    );
}

/// The live ndctl run reproduces the fixtures up to the random uuids and the DIMM it
/// ran on: same slots, flags, names, DPAs, sizes, sequence numbers and namespace modes;
/// the cookie differs (other serial number) but every label carries the region's.
fn check_fixtures_reproduce(boot: &Boot, version: &str) {
    for kind in ["read-labels", "list-N", "list-R"] {
        let got = parse_out(boot, &format!("{version}.{kind}.json"));
        let want = fixture_json(&format!("{version}.{kind}.json"));
        let drop = [
            "uuid",
            "raw_uuid",
            "dev",
            "blockdev",
            "chardev",
            "daxregion",
            "dimm",
            "isetcookie",
            "iset_id",
        ];
        if kind == "list-N" {
            assert_eq!(
                namespaces(&got, &drop),
                namespaces(&want, &drop),
                "{version}: live {kind} vs fixture"
            );
        } else {
            // list -R -v nests the namespaces again; list -N covered them.
            let drop = [&drop[..], &["namespaces"]].concat();
            assert_eq!(
                without(&got, &drop),
                without(&want, &drop),
                "{version}: live {kind} vs fixture"
            );
        }
    }
    let regions = parse_out(boot, &format!("{version}.list-R.json"));
    let region = &regions.at("regions").items()[0];
    let labels = parse_out(boot, &format!("{version}.read-labels.json"));
    for label in labels.items()[0].at("label").items() {
        assert_eq!(
            label.u64("isetcookie"),
            region.u64("iset_id"),
            "{version}: label cookie vs region iset_id"
        );
    }
}

#[test]
fn linux_round_trips() {
    let mut boot = Boot::new("round-trips", &format!("{GUEST_LIB}{GUEST_MAIN}"));
    fixture_backend(&mut boot, "v11");
    fixture_backend(&mut boot, "v12");
    boot.add_dimm(&[0; LABEL_SIZE]);
    boot.add_dimm(&[0; LABEL_SIZE]);
    match boot.run() {
        Outcome::Skipped(why) => {
            eprintln!("SKIPPED: linux_round_trips: {why}");
            return;
        }
        Outcome::Ran => {}
    }
    check_replay(&boot, 0, "v11", "replay11");
    check_replay(&boot, 1, "v12", "replay12");
    check_fixtures_reproduce(&boot, "v11");
    check_fixtures_reproduce(&boot, "v12");
}
