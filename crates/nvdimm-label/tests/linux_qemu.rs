//! nvdimm-label against Linux itself, live: one QEMU boot of the Debian kernel (TCG) with
//! emulated NVDIMMs and ndctl in the initramfs (scripts/nvdimm-linux.sh). When qemu, the
//! kernel or ndctl is missing it fails under `CI` (as `.ci/run` sets it; set `CI=1` to
//! require it locally) and otherwise skips loudly, counted in the skip log (`peer_skip`).
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
//!   namespace to each, Linux renames our own-claim-class namespace, and our parser
//!   must agree with Linux again about the result.
//! - nmem6 .. nmem11: our v1.2 area caught in the middle of updates (a write cut short,
//!   a write torn) or damaged (current index checksum broken, a label marked
//!   UPDATING): Linux must list exactly what our parser reads (tests/linux_support/torn.rs).
//! - nmem12: a blank backend file edited in place by the `lsa` tool (`init`, `create`
//!   with `--tail 128K --qemu-slot 12`): Linux must list the tool's namespaces.
//! - nmem13, nmem14: other label-size geometries. nmem13 has a 1 MiB label area and
//!   runs the ndctl recipe with v1.1 labels (index blocks of 1280 bytes, 8172 slots);
//!   nmem14 has a 256 KiB area written by our writer with v1.2 labels (1022 slots).
//! - nmem15, nmem16: labels Linux skips: our area made for slot 4 (another DIMM's
//!   interleave-set cookie), and our area with one label's checksum broken.

#[path = "linux_support/compare.rs"]
mod compare;
#[path = "linux_support/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "linux_support/json.rs"]
mod json;
#[path = "linux_support/torn.rs"]
mod torn;

use compare::{NdctlView, check_lsa, listed_name};
use harness::{Boot, LABEL_SIZE, Outcome, PMEM_SIZE};
use json::{Json, Members};
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
ndctl list -N -v -r \"$(region_of nmem12)\" >/out/tool.list-N.json
dump nmem14 oursbig12
ndctl list -N -v -r \"$(region_of nmem15)\" >/out/wrongslot.list-N.json
ndctl list -N -v -r \"$(region_of nmem16)\" >/out/badsum.list-N.json
dump nmem0 replay11
dump nmem1 replay12
dump nmem4 ours11
dump nmem5 ours12
ndctl_recipe nmem2 1.1 v11
ndctl_recipe nmem3 1.2 v12
dump nmem2 v11
dump nmem3 v12
ndctl_recipe nmem13 1.1 big11
dump nmem13 big11
ndctl create-namespace -r \"$(region_of nmem4)\" -m raw -s 16M -n linux-on-ours11 >/dev/null
ndctl create-namespace -r \"$(region_of nmem5)\" -m raw -s 16M -n linux-on-ours12 >/dev/null
# Linux rewrites the label of our own-claim-class namespace (a rename).
r=$(region_of nmem5)
for ns in /sys/bus/nd/devices/namespace${r#region}.*; do
  [ \"$(cat \"$ns/alt_name\" 2>/dev/null)\" = ours-claim-v12 ] && claimed=$(basename \"$ns\")
done
ndctl disable-namespace \"$claimed\"
echo renamed-by-linux >\"/sys/bus/nd/devices/$claimed/alt_name\"
ndctl enable-namespace \"$claimed\"
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

/// Runs the `lsa` tool; returns its standard output.
fn lsa_tool(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lsa"))
        .args(args)
        .output()
        .expect("run lsa");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lsa {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Labels a blank backend file (DIMM slot 12) with the `lsa` tool the way a user would:
/// `init` then two `create`s on the file's last 128 KiB. Returns what Linux must list.
fn tool_labels(image: &std::path::Path) -> Vec<Expected> {
    let image = image.to_str().expect("UTF-8 path");
    let area = ["--tail", "128K"];
    lsa_tool(&[&["init", image, "--label-version", "1.2"][..], &area].concat());
    let mut want = Vec::new();
    for (name, size, uuid) in [
        (
            "tool-a",
            32u64 << 20,
            "4c534154-4f4f-4c00-8000-00000000000a",
        ),
        ("tool-b", 16 << 20, "4c534154-4f4f-4c00-8000-00000000000b"),
    ] {
        let size_arg = size.to_string();
        let args = [
            "create",
            image,
            "--size",
            &size_arg,
            "--name",
            name,
            "--uuid",
            uuid,
            "--qemu-slot",
            "12",
        ];
        let printed = lsa_tool(&[&args[..], &area].concat());
        assert_eq!(printed.trim(), uuid, "lsa create prints the namespace UUID");
        want.push(Expected {
            uuid: uuid.to_owned(),
            name: name.to_owned(),
            size,
        });
    }
    want.sort();
    want
}

/// The UUID of our namespace `n` on QEMU slot `slot`.
fn ns_uuid(slot: u8, n: u8) -> Uuid {
    Uuid([
        0x4c, 0x41, 0x42, 0x45, 0x4c, 0, 0x40, n, 0x80, 0, 0, 0, 0, 0, slot, n,
    ])
}

/// Our v1.2 area for `slot` in state `i` of `torn::states` (rename b, create e, delete a).
fn torn_state(slot: u8, i: usize) -> (torn::State, Vec<torn::Set>) {
    let (base, _) = our_lsa(slot, LabelVersion::V1_2, InitStyle::Kernel, LABEL_SIZE);
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
fn our_lsa(
    slot: u8,
    version: LabelVersion,
    style: InitStyle,
    size: usize,
) -> (Vec<u8>, Vec<Expected>) {
    let mut area = vec![0u8; size];
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
    check_parse_area(boot, dimm, tag, &boot.lsa(dimm))
}

/// Our parse of `area` agrees with what ndctl reported as `tag` for DIMM `dimm` (for
/// an area Linux changed again after that report: the bytes as they were then).
fn check_parse_area(boot: &Boot, dimm: usize, tag: &str, area: &[u8]) -> nvdimm_label::Lsa {
    let slot = u32::try_from(dimm).expect("small");
    let mut keep = Vec::new();
    let v = view(boot, tag, slot, &mut keep);
    let head = |dpa: u64| boot.backend(dimm, dpa, CLASSIFY_BYTES);
    check_lsa(tag, area, &v, &head)
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn fixture_json(name: &str) -> Json {
    let text = std::fs::read_to_string(data(name)).expect("read a fixture");
    json::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse_out(boot: &Boot, name: &str) -> Json {
    let text = boot.out(name);
    json::parse(&text).unwrap_or_else(|e| panic!("guest {name}: {e}\n{text}"))
}

/// `v` without the members named in `drop`, at any depth.
fn without(v: &Json, drop: &[&str]) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, x)| (k.clone(), without(x, drop)))
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(|x| without(x, drop)).collect()),
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

/// What the host prepared and Linux must reproduce.
struct Plan {
    /// Our areas for nmem4, nmem5 and nmem14, and the namespaces Linux must list.
    ours11: (Vec<u8>, Vec<Expected>),
    ours12: (Vec<u8>, Vec<Expected>),
    ours_big12: (Vec<u8>, Vec<Expected>),
    torn: Vec<(torn::State, Vec<torn::Set>)>,
    tool: Vec<Expected>,
    /// nmem15: our v1.2 area made for slot 4, so its labels carry another DIMM's cookie.
    wrong_slot: Vec<u8>,
    /// nmem16: our v1.2 area with one label changed after its checksum was computed.
    bad_checksum: Vec<u8>,
}

/// Lays out the seventeen DIMMs described at the top of this file.
fn prepare(boot: &mut Boot) -> Plan {
    fixture_backend(boot, "v11");
    fixture_backend(boot, "v12");
    boot.add_dimm(&[0; LABEL_SIZE]);
    boot.add_dimm(&[0; LABEL_SIZE]);
    let ours11 = our_lsa(4, LabelVersion::V1_1, InitStyle::Ndctl, LABEL_SIZE);
    let ours12 = our_lsa(5, LabelVersion::V1_2, InitStyle::Kernel, LABEL_SIZE);
    boot.add_dimm(&ours11.0);
    boot.add_dimm(&ours12.0);
    let torn: Vec<_> = (0..TORN_STATES)
        .map(|i| torn_state(6 + i, usize::from(i)))
        .collect();
    for (state, _) in &torn {
        boot.add_dimm(&state.area);
    }
    boot.add_dimm(&[0; LABEL_SIZE]);
    let tool = tool_labels(&boot.dimm_path(12));
    boot.add_dimm(&vec![0; 1 << 20]);
    let ours_big12 = our_lsa(14, LabelVersion::V1_2, InitStyle::Kernel, 256 << 10);
    boot.add_dimm(&ours_big12.0);
    let (wrong_slot, _) = our_lsa(4, LabelVersion::V1_2, InitStyle::Kernel, LABEL_SIZE);
    boot.add_dimm(&wrong_slot);
    let (mut bad_checksum, _) = our_lsa(16, LabelVersion::V1_2, InitStyle::Kernel, LABEL_SIZE);
    torn::break_label_checksum(&mut bad_checksum);
    boot.add_dimm(&bad_checksum);
    Plan {
        wrong_slot,
        bad_checksum,
        ours11,
        ours12,
        ours_big12,
        torn,
        tool,
    }
}

/// Direction (1): ndctl wrote (128 KiB v1.1 and v1.2, 1 MiB v1.1), we read.
fn check_ndctl_wrote(boot: &Boot) {
    assert_eq!(check_parse(boot, 2, "v11").namespaces().len(), 4);
    assert_eq!(check_parse(boot, 3, "v12").namespaces().len(), 4);
    let big11 = check_parse(boot, 13, "big11");
    assert_eq!(big11.namespaces().len(), 4);
    assert_eq!(
        (big11.index().geometry.index_size, big11.index().nslot()),
        (1280, 8172)
    );
}

/// Direction (2): we wrote (library and `lsa` tool), Linux lists exactly our namespaces,
/// and ndctl reads our labels the way we do.
fn check_we_wrote(boot: &Boot, plan: &Plan) {
    for (tag, dimm, (area, want)) in [
        ("ours11", 4, &plan.ours11),
        ("ours12", 5, &plan.ours12),
        ("oursbig12", 14, &plan.ours_big12),
    ] {
        let listed = listed(&parse_out(boot, &format!("{tag}.list-N.json")));
        assert_eq!(&listed, want, "{tag}: Linux's view of our LSA");
        check_parse_area(boot, dimm, tag, area);
    }
    let tool = listed(&parse_out(boot, "tool.list-N.json"));
    assert_eq!(
        tool, plan.tool,
        "Linux's view of the area the lsa tool wrote"
    );
}

/// Labels Linux skips: with a cookie that is not the region's (our parser returns them
/// with their cookie; a caller filters by the region's, as Linux does), and with a bad
/// checksum (our parser drops the label and says why).
fn check_skipped_labels(boot: &Boot, plan: &Plan) {
    let as_set = |v: Vec<Expected>| -> torn::Set {
        v.into_iter().map(|e| (e.uuid, e.name, e.size)).collect()
    };
    let linux = as_set(listed(&parse_out(boot, "wrongslot.list-N.json")));
    let lsa = nvdimm_label::Lsa::parse(&plan.wrong_slot).expect("parses");
    assert_eq!(lsa.namespaces().len(), 3, "the labels themselves are fine");
    let cookie = cookie_v1_2(&mut [qemu_dimm(15)]);
    let ours: torn::Set = lsa
        .namespaces()
        .iter()
        .filter(|n| n.isetcookie == cookie)
        .map(|n| {
            (
                n.uuid.to_string(),
                n.name.as_str().expect("UTF-8").to_owned(),
                n.size(),
            )
        })
        .collect();
    assert_eq!(
        linux, ours,
        "labels with another DIMM's cookie: Linux lists none"
    );
    let linux = as_set(listed(&parse_out(boot, "badsum.list-N.json")));
    let ours = torn::namespaces(&plan.bad_checksum);
    assert_eq!(ours.len(), 2, "the label with a bad checksum is dropped");
    assert_eq!(
        linux, ours,
        "a label with a bad checksum: Linux vs our parser"
    );
    let lsa = nvdimm_label::Lsa::parse(&plan.bad_checksum).expect("parses");
    assert!(
        lsa.is_damaged(),
        "a bad label checksum is damage: {:?}",
        lsa.diagnostics()
    );
}

/// Interrupted and damaged updates: Linux and our parser agree, on the set expected.
fn check_torn(boot: &Boot, plan: &Plan) {
    for (i, (state, sets)) in plan.torn.iter().enumerate() {
        let tag = format!("torn{}", 6 + i);
        let linux: Vec<_> = listed(&parse_out(boot, &format!("{tag}.list-N.json")))
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
}

/// After Linux's own updates to our areas (a namespace added to each, our own-claim
/// namespace renamed on v1.2): ours are all still there and we read Linux's labels.
fn check_linux_updated_ours(boot: &Boot, plan: &Plan) {
    check_parse(boot, 4, "after11");
    let after12 = check_parse(boot, 5, "after12");
    let mut ours12 = plan
        .ours12
        .1
        .iter()
        .map(|w| Expected {
            uuid: w.uuid.clone(),
            name: if w.name == "ours-claim-v12" {
                "renamed-by-linux".to_owned()
            } else {
                w.name.clone()
            },
            size: w.size,
        })
        .collect::<Vec<_>>();
    ours12.sort();
    for (tag, want) in [("after11", &plan.ours11.1), ("after12", &ours12)] {
        let now = listed(&parse_out(boot, &format!("{tag}.list-N.json")));
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
    // What a Linux rename does to a claim class it does not know: 6.1 builds the new
    // label zeroed and its `to_abstraction_guid` then "keeps" the zeroed GUID, so the
    // namespace becomes raw (NVDIMM_CCLASS_NONE). A hypervisor cannot rely on a private
    // abstraction GUID surviving dom0's label updates.
    let renamed = after12
        .namespaces()
        .iter()
        .find(|n| n.uuid == ns_uuid(5, 4))
        .expect("our claim-class namespace is still there");
    assert_eq!(renamed.name.as_str(), Some("renamed-by-linux"));
    assert_eq!(
        renamed.claim,
        Some(ClaimClass::None),
        "Linux 6.1 dropped our claim class on rename"
    );
}

#[test]
fn linux_round_trips() {
    let mut boot = Boot::new("round-trips", &format!("{GUEST_LIB}{GUEST_MAIN}"));
    let plan = prepare(&mut boot);
    match boot.run() {
        Outcome::Skipped => return,
        Outcome::Ran => {}
    }
    check_replay(&boot, 0, "v11", "replay11");
    check_replay(&boot, 1, "v12", "replay12");
    check_fixtures_reproduce(&boot, "v11");
    check_fixtures_reproduce(&boot, "v12");
    check_ndctl_wrote(&boot);
    check_we_wrote(&boot, &plan);
    check_torn(&boot, &plan);
    check_skipped_labels(&boot, &plan);
    check_linux_updated_ours(&boot, &plan);
}
