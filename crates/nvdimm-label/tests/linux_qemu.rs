//! nvdimm-label against Linux itself, live: one QEMU boot of the Debian kernel (TCG) with
//! emulated NVDIMMs and ndctl in the initramfs (scripts/nvdimm-linux.sh). Skips with a
//! loud `SKIPPED:` line when qemu, the kernel or ndctl is missing; set
//! `NVDIMM_LINUX_REQUIRED=1` (or `CI`, as `.ci/run` sets it) to make that a failure.
//!
//! DIMMs of the boot (nmemN = dimmN):
//! - nmem0, nmem1: the checked-in fixture LSAs `v11.lsa` / `v12.lsa` with the namespaces'
//!   first 8 KiB (`*.head`) at their DPAs: Linux must rebuild what the fixtures recorded.
//!   They must sit in the slots they were made in: QEMU derives each DIMM's serial number
//!   from its slot (0x123456 + slot), the interleave-set cookie from the serial, and
//!   Linux skips labels whose cookie does not match.
//! - nmem2, nmem3: blank; ndctl runs the fixture recipe (init-labels -V 1.1 / -V 1.2,
//!   then fsdax, devdax, raw, sector and a destroyed namespace). Direction (1): our
//!   parser must agree with `ndctl read-labels -j`, `list -N` and `list -R` on every
//!   field (tests/linux_support/compare.rs).
//! - nmem4, nmem5: an LSA written by our writer (v1.1, ndctl-style init; v1.2,
//!   kernel-style init) with namespaces created, renamed and deleted. Direction (2):
//!   Linux must list exactly our namespaces (uuid, name, size). Then ndctl adds one
//!   namespace to each and our parser must agree with Linux again about the result.
//! - nmem6 .. nmem11: our v1.2 area caught in the middle of updates (a write cut short,
//!   a write torn) or damaged (current index checksum broken, a label marked
//!   UPDATING): Linux must list exactly what our parser reads (tests/linux_support/torn.rs).

#[path = "linux_support/compare.rs"]
mod compare;
#[path = "linux_support/harness.rs"]
mod harness;
#[path = "linux_support/json.rs"]
mod json;
#[path = "linux_support/torn.rs"]
mod torn;

use compare::{NdctlView, check_lsa, listed_name};
use harness::{Boot, LABEL_SIZE, Outcome, PMEM_SIZE};
use json::Json;
use nvdimm_label::cookie::{cookie_v1_1, cookie_v1_2, qemu_dimm};
use nvdimm_label::{
    CLASSIFY_BYTES, ClaimClass, InitStyle, LabelVersion, Name, NamespaceSpec, Region, Uuid, Writer,
    init,
};
use std::path::PathBuf;

/// How many `torn::states` go to Linux (nmem6 onwards).
const TORN_STATES: u8 = 6;

const GUEST_LIB: &str = include_str!("../../../scripts/nvdimm-linux/guest-lib.sh");

const GUEST_MAIN: &str = "
set -e
# First what Linux made of the preloaded LSAs, before anything else writes labels.
for d in 6 7 8 9 10 11; do ndctl list -N -v -r \"$(region_of nmem$d)\" >/out/torn$d.list-N.json; done
dump nmem0 replay11
dump nmem1 replay12
dump nmem4 ours11
dump nmem5 ours12
ndctl_recipe nmem2 1.1 v11
ndctl_recipe nmem3 1.2 v12
dump nmem2 v11
dump nmem3 v12
ndctl create-namespace -r \"$(region_of nmem4)\" -m raw -s 16M -n linux-on-ours11 >/dev/null
ndctl create-namespace -r \"$(region_of nmem5)\" -m raw -s 16M -n linux-on-ours12 >/dev/null
dump nmem4 after11
dump nmem5 after12
";

/// One namespace our writer leaves on a DIMM: what Linux must list.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    uuid: String,
    name: String,
    size: u64,
}

/// The UUID of our namespace `n` on QEMU slot `slot`.
fn ns_uuid(slot: u8, n: u8) -> Uuid {
    Uuid([
        0x4c, 0x41, 0x42, 0x45, 0x4c, 0, 0x40, n, 0x80, 0, 0, 0, 0, 0, slot, n,
    ])
}

/// Our v1.2 area for `slot` in state `i` of `torn::states` (rename b, create e, delete a).
fn torn_state(slot: u8, i: usize) -> (torn::State, Vec<torn::Set>) {
    let (base, _) = our_lsa(slot, LabelVersion::V1_2, InitStyle::Kernel);
    let cookie = cookie_v1_2(&mut [qemu_dimm(u32::from(slot))]);
    let region = Region::pmem(PMEM_SIZE, cookie);
    let (mut states, sets) = torn::states(
        &base,
        region,
        ns_uuid(slot, 3),
        ns_uuid(slot, 5),
        ns_uuid(slot, 1),
    );
    (states.swap_remove(i), sets)
}

/// Writes an LSA with our writer for QEMU slot `slot`: four namespaces created (one at a
/// fixed DPA, one with our own claim class on v1.2), one renamed, one deleted. Returns
/// the area and the namespaces that must remain.
fn our_lsa(slot: u8, version: LabelVersion, style: InitStyle) -> (Vec<u8>, Vec<Expected>) {
    let mut area = vec![0u8; LABEL_SIZE];
    init(&mut area[..], version, style).expect("init");
    let mut dimms = [qemu_dimm(u32::from(slot))];
    let cookie = match version {
        LabelVersion::V1_1 => cookie_v1_1(&mut dimms),
        _ => cookie_v1_2(&mut dimms),
    };
    let mut w = Writer::new(&mut area[..], Region::pmem(PMEM_SIZE, cookie));
    let uuid = |n: u8| ns_uuid(slot, n);
    let name = |s: &str| Name::new(s).expect("a short name");
    let tag = if version == LabelVersion::V1_1 {
        "v11"
    } else {
        "v12"
    };
    let a = NamespaceSpec::new(uuid(1), name(&format!("ours-a-{tag}")), 32 << 20);
    let gone = NamespaceSpec::new(uuid(2), name(&format!("ours-gone-{tag}")), 16 << 20);
    let mut b = NamespaceSpec::new(uuid(3), name(&format!("ours-b-{tag}")), 48 << 20);
    b.dpa = Some(64 << 20);
    let mut c = NamespaceSpec::new(uuid(4), name(&format!("ours-claim-{tag}")), 16 << 20);
    c.claim = ClaimClass::Hugevm;
    for spec in [&a, &gone, &b, &c] {
        w.create(spec)
            .unwrap_or_else(|e| panic!("create {:?}: {e}", spec.name));
    }
    let renamed = name(&format!("ours-a-renamed-{tag}"));
    w.rename(a.uuid, renamed).expect("rename");
    w.delete(gone.uuid).expect("delete");
    let expect = |s: &NamespaceSpec, n: Name| Expected {
        uuid: s.uuid.to_string(),
        name: n.as_str().expect("UTF-8").to_owned(),
        size: s.size,
    };
    let mut want = vec![expect(&a, renamed), expect(&b, b.name), expect(&c, c.name)];
    want.sort();
    (area, want)
}

/// What `ndctl list -N` shows, reduced to uuid, name and size.
fn listed(list_n: &Json) -> Vec<Expected> {
    let mut v: Vec<Expected> = list_n
        .items()
        .iter()
        .map(|n| Expected {
            uuid: n
                .get("raw_uuid")
                .map_or_else(|| n.str("uuid"), |_| n.str("raw_uuid"))
                .to_owned(),
            name: listed_name(n).to_owned(),
            size: n.u64("size"),
        })
        .collect();
    v.sort();
    v
}

fn view<'a>(boot: &Boot, tag: &str, slot: u32, keep: &'a mut Vec<Json>) -> NdctlView<'a> {
    for kind in ["read-labels", "list-N", "list-R"] {
        keep.push(parse_out(boot, &format!("{tag}.{kind}.json")));
    }
    NdctlView {
        read_labels: &keep[0],
        list_n: &keep[1],
        list_r: &keep[2],
        qemu_slot: slot,
    }
}

/// Direction (1), and (2) after Linux changed our area: our parse of the LSA Linux left
/// on DIMM `dimm` agrees with what ndctl reported.
fn check_parse(boot: &Boot, dimm: usize, tag: &str) -> nvdimm_label::Lsa {
    let slot = u32::try_from(dimm).expect("small");
    let mut keep = Vec::new();
    let v = view(boot, tag, slot, &mut keep);
    let head = |dpa: u64| boot.backend(dimm, dpa, CLASSIFY_BYTES);
    check_lsa(tag, &boot.lsa(dimm), &v, &head)
}

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
    v.sort_by(|a, b| listed_name(a).cmp(listed_name(b)));
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
    let (ours11, want11) = our_lsa(4, LabelVersion::V1_1, InitStyle::Ndctl);
    let (ours12, want12) = our_lsa(5, LabelVersion::V1_2, InitStyle::Kernel);
    boot.add_dimm(&ours11);
    boot.add_dimm(&ours12);
    let torn: Vec<_> = (0..TORN_STATES)
        .map(|i| torn_state(6 + i, usize::from(i)))
        .collect();
    for (state, _) in &torn {
        boot.add_dimm(&state.area);
    }
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
    // Direction (1): ndctl wrote, we read.
    assert_eq!(check_parse(&boot, 2, "v11").namespaces().len(), 4);
    assert_eq!(check_parse(&boot, 3, "v12").namespaces().len(), 4);
    // Direction (2): we wrote, Linux lists exactly our namespaces.
    assert_eq!(
        listed(&parse_out(&boot, "ours11.list-N.json")),
        want11,
        "v1.1: Linux's view of our LSA"
    );
    assert_eq!(
        listed(&parse_out(&boot, "ours12.list-N.json")),
        want12,
        "v1.2: Linux's view of our LSA"
    );
    check_parse(&boot, 4, "after11");
    check_parse(&boot, 5, "after12");
    // Interrupted and damaged updates: Linux and our parser agree, on the set expected.
    for (i, (state, sets)) in torn.iter().enumerate() {
        let tag = format!("torn{}", 6 + i);
        let linux: Vec<_> = listed(&parse_out(&boot, &format!("{tag}.list-N.json")))
            .into_iter()
            .map(|e| (e.uuid, e.name, e.size))
            .collect();
        let ours = torn::namespaces(&state.area);
        assert_eq!(linux, ours, "{tag} ({}): Linux vs our parser", state.what);
        assert_eq!(
            ours, sets[state.set],
            "{tag} ({}): expected set {}",
            state.what, state.set
        );
        eprintln!(
            "{tag}: {}: Linux and nvdimm-label both read {} namespaces",
            state.what,
            ours.len()
        );
    }
    for (tag, want) in [("after11", &want11), ("after12", &want12)] {
        let now = listed(&parse_out(&boot, &format!("{tag}.list-N.json")));
        assert_eq!(
            now.len(),
            want.len() + 1,
            "{tag}: ours plus Linux's: {now:?}"
        );
        assert!(
            want.iter().all(|w| now.contains(w)),
            "{tag}: ours survive Linux's update: {now:?}"
        );
    }
}
