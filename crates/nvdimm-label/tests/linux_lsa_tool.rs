//! The `lsa` command-line tool against ndctl, on the fixtures Linux and ndctl wrote
//! (tests/data/README.md): `lsa dump --json --all-slots` must print what
//! `ndctl read-labels -j` printed for the same bytes, and `lsa check` must accept them.

#[path = "linux_support/json.rs"]
#[allow(dead_code, reason = "only the parser is used here, not the accessors")]
mod json;

use json::Json;
use std::path::PathBuf;
use std::process::Command;

/// (fixture, the DIMM ndctl read it from)
const FIXTURES: [(&str, &str); 3] = [("v11", "nmem0"), ("v12", "nmem1"), ("auto12", "nmem2")];

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn lsa(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lsa"))
        .args(args)
        .output()
        .expect("run lsa");
    let code = out.status.code().expect("lsa exited");
    (code, String::from_utf8(out.stdout).expect("UTF-8 output"))
}

/// `v` with every object's members in key order (ndctl and lsa may order them
/// differently; every member and value must agree).
fn sorted(v: &Json) -> Json {
    match v {
        Json::Object(m) => {
            let mut m: Vec<_> = m.iter().map(|(k, x)| (k.clone(), sorted(x))).collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(m.into_iter().collect())
        }
        Json::Array(a) => Json::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[test]
fn dump_json_is_ndctl_read_labels() {
    for (tag, dev) in FIXTURES {
        let path = data(&format!("{tag}.lsa"));
        let path = path.to_str().expect("UTF-8 path");
        let (code, text) = lsa(&["dump", path, "--json", "--all-slots", "--dev", dev]);
        assert_eq!(code, 0, "{tag}: lsa dump failed");
        let ours = json::parse(&text).unwrap_or_else(|e| panic!("{tag}: lsa JSON: {e}\n{text}"));
        let ndctl_text = std::fs::read_to_string(data(&format!("{tag}.read-labels.json")))
            .expect("read a fixture");
        let ndctl = json::parse(&ndctl_text).expect("ndctl JSON");
        assert!(
            matches!(ours, Json::Array(_)),
            "{tag}: lsa prints an array of DIMMs, as ndctl does"
        );
        assert_eq!(
            sorted(&ours),
            sorted(&ndctl),
            "{tag}: lsa dump --json --all-slots vs ndctl read-labels -j"
        );
    }
}

#[test]
fn check_accepts_what_linux_wrote() {
    for (tag, _) in FIXTURES {
        let path = data(&format!("{tag}.lsa"));
        let (code, text) = lsa(&["check", path.to_str().expect("UTF-8 path")]);
        assert_eq!(
            code, 0,
            "{tag}: lsa check reports damage on Linux's LSA:\n{text}"
        );
    }
}
