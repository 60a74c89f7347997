// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The `lsa` tool end to end on a QEMU-style pmem image (LSA in the last 128 KiB).

use std::process::{Command, Output};

use nvdimm_label::Lsa;

const IMAGE: usize = 64 << 20;
const LSA: usize = 128 << 10;

fn lsa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsa"))
        .args(args)
        .output()
        .expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn area(path: &std::path::Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read");
    bytes[(IMAGE - LSA)..].to_vec()
}

#[test]
fn init_create_dump_check_delete() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("pmem.img");
    let p = path.to_str().expect("utf-8");
    std::fs::File::create(&path)
        .expect("create")
        .set_len(IMAGE as u64)
        .expect("size");

    let o = lsa(&["init", p, "--tail", "128K", "--label-version", "1.2"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("510 slots"));

    let o = lsa(&[
        "create", p, "--tail", "128K", "--size", "16M", "--name", "vm disk", "--mode", "fsdax",
    ]);
    assert!(o.status.success(), "{o:?}");
    let uuid = stdout(&o).trim().to_string();
    let parsed = Lsa::parse(&area(&path)).expect("valid");
    assert_eq!(parsed.namespaces().len(), 1);
    let ns = parsed.namespaces().first().expect("one namespace");
    assert_eq!(ns.uuid.to_string(), uuid);
    assert_eq!(ns.name.as_str(), Some("vm disk"));
    // The QEMU slot-0 cookie2 by default.
    assert_eq!(ns.isetcookie, 0x00ba_9012_0012_b4dc);

    let o = lsa(&["dump", p, "--tail", "128K", "--json", "--dev", "nmem0"]);
    assert!(o.status.success(), "{o:?}");
    let json = stdout(&o);
    assert!(json.contains("\"dev\":\"nmem0\""), "{json}");
    assert!(json.contains(&format!("\"uuid\":\"{uuid}\"")), "{json}");
    assert!(json.contains("\"nslot\":510"), "{json}");
    assert!(
        json.contains("\"abstraction_guid\":\"ba006426-9ffb-7746-bcb0-968f11d0d225\""),
        "{json}"
    );

    let o = lsa(&["dump", p, "--tail", "128K"]);
    assert!(
        stdout(&o).contains("name \"vm disk\" size 0x1000000"),
        "{o:?}"
    );
    assert!(stdout(&o).contains("content: Raw"), "{o:?}");

    let o = lsa(&["check", p, "--tail", "128K"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");

    // Refused updates exit 1 and change nothing.
    let before = area(&path);
    let o = lsa(&["create", p, "--tail", "128K", "--size", "1G"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("create refused"));
    assert_eq!(area(&path), before);

    let o = lsa(&["delete", p, "--tail", "128K", "--uuid", &uuid]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        Lsa::parse(&area(&path))
            .expect("valid")
            .namespaces()
            .is_empty()
    );
    // ndctl's view still shows the stale label; ours does not.
    let all = stdout(&lsa(&[
        "dump",
        p,
        "--tail",
        "128K",
        "--json",
        "--all-slots",
    ]));
    assert!(all.contains(&uuid));
    let active = stdout(&lsa(&["dump", p, "--tail", "128K", "--json"]));
    assert!(!active.contains(&uuid));

    // Damage the older index block's sequence number: check reports it and fails.
    let mut bytes = std::fs::read(&path).expect("read");
    let current = Lsa::parse(&area(&path)).expect("valid").index().block;
    let other = (IMAGE - LSA) + 256 * usize::from(1 - current);
    bytes[other + 20] ^= 0x10;
    std::fs::write(&path, &bytes).expect("write");
    let o = lsa(&["check", p, "--tail", "128K"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stdout(&o).contains("damage: index block"), "{o:?}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(lsa(&[]).status.code(), Some(2));
    assert_eq!(lsa(&["frob", "x"]).status.code(), Some(2));
    assert_eq!(lsa(&["dump", "/nonexistent/lsa"]).status.code(), Some(2));
    assert_eq!(lsa(&["dump", "x", "--bogus"]).status.code(), Some(2));
    assert!(lsa(&["help"]).status.success());
}

#[test]
fn uninitialized_area_fails_check_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lsa.bin");
    std::fs::write(&path, vec![0u8; LSA]).expect("write");
    let o = lsa(&["check", path.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no valid index block"), "{err}");
}

#[test]
fn closed_stdout_ends_quietly() {
    use nvdimm_label::{InitStyle, LabelVersion, Name, NamespaceSpec, Region, Uuid, Writer, init};
    use std::process::Stdio;

    // 300 labels: their JSON is well over a pipe's 64 KiB, so `lsa` must meet the closed
    // pipe whatever the scheduling (`lsa dump IMG | head`).
    let mut area = vec![0u8; LSA];
    init(&mut area, LabelVersion::V1_2, InitStyle::Kernel).expect("init");
    let mut w = Writer::new(&mut area, Region::pmem(1 << 40, 0));
    for i in 0..300u16 {
        let mut uuid = [0x11; 16];
        uuid[..2].copy_from_slice(&i.to_le_bytes());
        let name = Name::new("a namespace with a long name").expect("short");
        w.create(&NamespaceSpec::new(Uuid(uuid), name, 2 << 20))
            .expect("room");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lsa.bin");
    std::fs::write(&path, &area).expect("write");
    for extra in [&["--json", "--all-slots"][..], &[]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lsa"))
            .args([&["dump", path.to_str().expect("utf-8")][..], extra].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("exits");
        assert!(out.status.success(), "{extra:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{extra:?}: {out:?}");
    }
}
