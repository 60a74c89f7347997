// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The `pt-virt` tool (feature `cli`): listing a file, exit codes, and a quiet exit when
//! the reader of its output goes away.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::io::Read;
use std::process::{Command, Stdio};

const TOOL: &str = env!("CARGO_BIN_EXE_pt-virt");

fn trace(psbs: usize) -> Vec<u8> {
    let mut t = Vec::new();
    for _ in 0..psbs {
        t.extend([0x02, 0x82].repeat(8));
        t.extend([0x02, 0x23, 0x71, 0x00, 0x10, 0, 0, 0, 0, 0x0c]);
    }
    t.push(0xc9);
    t
}

#[test]
fn lists_a_file_and_reports_errors() {
    let dir = std::env::temp_dir().join(format!("pt-virt-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("trace.pt");
    std::fs::write(&file, trace(1)).unwrap();
    let out = Command::new(TOOL)
        .arg(&file)
        .arg("--lastip")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "0000000000000000  psb",
            "0000000000000010  psbend",
            "0000000000000012  tip.pge    3: 0000000000001000       ip   0000000000001000",
            "0000000000000019  tnt.8      !.",
            "[1a: error decoding packet: unknown opcode]",
        ]
    );
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "pt-virt: unknown opcode 0xc9 at offset 26\n"
    );
    let out = Command::new(TOOL)
        .arg(dir.join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn quiet_on_broken_pipe() {
    let big = trace(20_000);
    let mut child = Command::new(TOOL)
        .args(["-", "--events"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &big));
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The reader is gone (stdout dropped above).
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        !stderr.contains("Broken pipe") && !stderr.contains("panicked"),
        "{stderr}"
    );
}
