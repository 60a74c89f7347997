// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `lsa dump --json --all-slots` against `ndctl read-labels -j` on the label areas Linux
//! and ndctl wrote (fixtures in `tests/data/`, made by `scripts/nvdimm-linux.sh
//! fixtures`): the two JSON texts must be equal once whitespace outside strings is
//! removed (same keys, same order, same values, including ndctl's signed integers and
//! byte-order GUID strings).

use std::path::Path;
use std::process::Command;

/// The JSON text without whitespace outside string literals.
fn compact(json: &str) -> String {
    let mut out = String::new();
    let (mut in_str, mut escaped) = (false, false);
    for c in json.chars() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[test]
fn dump_json_equals_ndctl_read_labels() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let cases = [("v11", "nmem0"), ("v12", "nmem1"), ("auto12", "nmem2")];
    let present: Vec<_> = cases
        .iter()
        .filter(|(name, _)| data.join(format!("{name}.lsa")).exists())
        .collect();
    if present.is_empty() {
        peer_skip::missing(
            "dump_json_equals_ndctl_read_labels",
            &format!(
                "no Linux fixtures in {} (scripts/nvdimm-linux.sh fixtures)",
                data.display()
            ),
        );
        return;
    }
    for (name, dev) in present {
        let lsa = data.join(format!("{name}.lsa"));
        let out = Command::new(env!("CARGO_BIN_EXE_lsa"))
            .args([
                "dump",
                lsa.to_str().expect("utf-8"),
                "--json",
                "--all-slots",
                "--dev",
                dev,
            ])
            .output()
            .expect("runs");
        assert!(out.status.success(), "{out:?}");
        let ours = compact(&String::from_utf8_lossy(&out.stdout));
        let ndctl = std::fs::read_to_string(data.join(format!("{name}.read-labels.json")))
            .expect("fixture");
        assert_eq!(ours, compact(&ndctl), "{name}");
        println!("{name}: lsa dump --json --all-slots == ndctl read-labels -j");
    }
}
