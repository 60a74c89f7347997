//! The zero-exit label methods run by ACPICA's own interpreter (`acpiexec`, Debian
//! `acpica-tools`, the AML interpreter Linux embeds) against `LabelMethods`, the Rust
//! handler, on the same call sequence: every status and every byte read must agree,
//! including the refused calls (offset + length overflow, above the maximum transfer,
//! beyond the area, short data). acpiexec backs `SystemMemory` regions with its own
//! zero-filled buffers, so the label area starts as zeros on both sides. It keeps one
//! buffer per region it has seen and merges a new region only into the first buffer it
//! overlaps, so a window overlapping two earlier, disjoint windows would read stale
//! bytes: a priming table first touches one region over the whole label area, which
//! then holds every later window.
//!
//! Without `acpiexec` the test skips loudly, or fails under `CI`.
// Test code: a panic is a failure, and the casts are of small test values.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
#![cfg(feature = "acpi")]

use core::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use nvdimm_label::aml::{AmlDimm, LabelInterface, SsdtBuilder, Transport};
use nvdimm_label::methods::{INTEL_DSM_UUID, LabelMethods};

const SIZE: u32 = 8192;
/// The maximum transfers tested: a multiple of 8 (QWord windows throughout), one that
/// is not (the largest window is rounded up to 256 bytes), and one small enough that
/// writes (at most 40 bytes of data: acpiexec's command line) reach the largest window
/// (40 bytes).
const MAXES: [u32; 3] = [256, 250, 36];
const DEV: &str = "\\_SB.NVDR.NV00";
const LSA_GPA: u64 = 0x8000_0000;

/// `\PRIM`: reads one byte of a region spanning the whole label area.
fn priming_table() -> Vec<u8> {
    use acpi_tables::Aml;
    use acpi_tables::aml::{
        Field, FieldAccessType, FieldEntry, FieldLockRule, FieldUpdateRule, Method, OpRegion,
        OpRegionSpace, Path, Return,
    };
    let region = OpRegion::new(
        Path::new("TALL"),
        OpRegionSpace::SystemMemory,
        &LSA_GPA,
        &SIZE,
    );
    let field = Field::new(
        Path::new("TALL"),
        FieldAccessType::Byte,
        FieldLockRule::NoLock,
        FieldUpdateRule::Preserve,
        vec![FieldEntry::Named(*b"TB00", 8)],
    );
    let tb00 = Path::new("TB00");
    let read = Return::new(&tb00);
    let prim = Method::new(Path::new("\\PRIM"), 0, false, vec![&read]);
    let mut sdt = acpi_tables::sdt::Sdt::new(*b"SSDT", 36, 2, *b"HUGEVM", *b"TESTPRIM", 1);
    region.to_aml_bytes(&mut sdt);
    field.to_aml_bytes(&mut sdt);
    prim.to_aml_bytes(&mut sdt);
    sdt.update_checksum();
    sdt.as_slice().to_vec()
}

/// One value acpiexec printed.
#[derive(Debug, PartialEq)]
enum Value {
    Int(u64),
    Buf(Vec<u8>),
}

/// Runs `commands` (one per line) against `table` and returns the values each
/// evaluation printed, in order; `None` if acpiexec is missing outside CI.
fn acpiexec(table: &[u8], commands: &[String]) -> Option<Vec<Vec<Value>>> {
    if Command::new("acpiexec").arg("-v").output().is_err() {
        peer_skip::missing(
            "aml_acpiexec",
            "no acpiexec (acpica-tools; scripts/deps.sh installs it)",
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssdt.dat");
    std::fs::write(&path, table).unwrap();
    let prime = dir.path().join("prime.dat");
    std::fs::write(&prime, priming_table()).unwrap();
    let mut child = Command::new("acpiexec")
        .arg(&path)
        .arg(&prime)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut script = String::from("ex \\PRIM\n");
    script.push_str(&commands.join("\n"));
    script.push_str("\nquit\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("AE_"), "ACPICA raised an exception:\n{text}");
    let blocks: Vec<Vec<Value>> = text
        .split("\nEvaluating ")
        .skip(2) // the banner, then PRIM
        .map(parse_values)
        .collect();
    assert_eq!(blocks.len(), commands.len(), "{text}");
    Some(blocks)
}

fn parse_values(block: &str) -> Vec<Value> {
    let mut values = Vec::new();
    let mut lines = block.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(hex) = line.split("[Integer] = ").nth(1) {
            values.push(Value::Int(u64::from_str_radix(hex.trim(), 16).unwrap()));
        } else if let Some(rest) = line.split("[Buffer] Length ").nth(1) {
            let (len, tail) = rest.split_once('=').unwrap();
            let len = usize::from_str_radix(len.trim(), 16).unwrap();
            let mut bytes = dump_bytes(tail);
            while bytes.len() < len {
                bytes.extend(dump_bytes(lines.next().unwrap()));
            }
            bytes.truncate(len);
            values.push(Value::Buf(bytes));
        }
    }
    values
}

/// The bytes of one hex-dump line (`0000: 01 02 ...  // ..`).
fn dump_bytes(line: &str) -> Vec<u8> {
    line.split_once(": ").map_or_else(Vec::new, |(_, hex)| {
        let hex = hex.split("//").next().unwrap();
        hex.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x} ");
        s
    })
}

/// A deterministic stream of test numbers.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An offset that is usually inside the area, often near its end, sometimes absurd.
fn offset(r: &mut Rng, max: u32) -> u64 {
    match r.below(8) {
        0 => u64::from(SIZE - max) + r.below(u64::from(max) + 8),
        1 => u64::MAX - r.below(4),
        2 => u64::from(u32::MAX) - r.below(4),
        _ => r.below(u64::from(SIZE) + 4),
    }
}

/// A length around `max`, anywhere below it, or short.
fn length(r: &mut Rng, max: u32) -> u64 {
    match r.below(6) {
        0 => u64::from(max) + r.below(2),
        1 => u64::from(max) - r.below(2),
        2 => r.below(u64::from(max)),
        _ => r.below(40),
    }
}

fn ssdt(interface: LabelInterface, max: u32) -> Vec<u8> {
    let dimm = AmlDimm {
        handle: 1,
        label_size: SIZE,
        label_gpa: LSA_GPA,
    };
    SsdtBuilder::new(&[dimm], interface, Transport::ZeroExit)
        .max_transfer(max)
        .wide_integers(true) // acpiexec's DSDT has revision 2
        .ssdt()
        .unwrap()
        .as_slice()
        .to_vec()
}

#[test]
fn zero_exit_ls_methods_match_the_handler() {
    for max in MAXES {
        ls_methods_match_the_handler(max);
    }
}

fn ls_methods_match_the_handler(max: u32) {
    let mut r = Rng(0x0123_4567_89ab_cdef);
    let mut model = LabelMethods::new(vec![0u8; SIZE as usize], max).unwrap();
    let mut commands = vec![format!("ex {DEV}._LSI")];
    let mut expected = vec![vec![
        Value::Int(0),
        Value::Int(SIZE.into()),
        Value::Int(max.into()),
    ]];
    for i in 0..120 {
        let (off, len) = (offset(&mut r, max), length(&mut r, max));
        if i % 2 == 0 {
            // Sometimes less data than the length says; never none (acpiexec passes
            // `()` as an uninitialized argument).
            let n = if r.below(8) == 0 {
                len.saturating_sub(1)
            } else {
                len
            }
            .clamp(1, 40);
            let data: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
            commands.push(format!("ex {DEV}._LSW {off:#x} {len:#x} ({})", hex(&data)));
            expected.push(vec![Value::Int(model.lsw(off, len, &data) as u64)]);
        } else {
            let mut out = vec![0u8; max as usize];
            let status = model.lsr(off, len, &mut out);
            commands.push(format!("ex {DEV}._LSR {off:#x} {len:#x}"));
            let data = if status as u32 == 0 {
                out[..len as usize].to_vec()
            } else {
                Vec::new()
            };
            expected.push(vec![Value::Int(status as u64), Value::Buf(data)]);
        }
    }
    // Read the whole area back in max-transfer chunks.
    for off in (0..SIZE).step_by(max as usize) {
        let len = max.min(SIZE - off);
        let mut out = vec![0u8; len as usize];
        model.lsr(off.into(), len.into(), &mut out);
        commands.push(format!("ex {DEV}._LSR {off:#x} {len:#x}"));
        expected.push(vec![Value::Int(0), Value::Buf(out)]);
    }
    let Some(got) = acpiexec(&ssdt(LabelInterface::LabelMethods, max), &commands) else {
        return;
    };
    for ((cmd, want), got) in commands.iter().zip(&expected).zip(&got) {
        assert_eq!(got, want, "{cmd}");
    }
}

#[test]
fn zero_exit_intel_dsm_matches_the_handler() {
    for max in MAXES {
        intel_dsm_matches_the_handler(max);
    }
}

fn intel_dsm_matches_the_handler(max: u32) {
    let uuid = hex(&INTEL_DSM_UUID.0);
    let mut r = Rng(0xfeed_f00d_dead_beef);
    let mut model = LabelMethods::new(vec![0u8; SIZE as usize], max).unwrap();
    let mut commands = Vec::new();
    let mut expected = Vec::new();
    let mut call =
        |rev: u64, func: u64, arg: Option<Vec<u8>>, model: &mut LabelMethods<Vec<u8>>| {
            let pkg = arg
                .as_ref()
                .map_or(String::from("[]"), |a| format!("[({})]", hex(a)));
            commands.push(format!("ex {DEV}._DSM ({uuid}) {rev} {func} {pkg}"));
            let mut out = vec![0u8; 4 + max as usize];
            let n = model.dsm(rev, func, arg.as_deref().unwrap_or_default(), &mut out);
            expected.push(vec![Value::Buf(out[..n].to_vec())]);
        };
    call(1, 0, None, &mut model);
    call(2, 0, None, &mut model);
    call(2, 5, None, &mut model);
    call(1, 4, None, &mut model);
    call(1, 7, None, &mut model);
    call(1, 5, Some(vec![0; 7]), &mut model);
    for i in 0..120 {
        let (off, len) = (offset(&mut r, max) as u32, length(&mut r, max) as u32);
        let mut arg = [off.to_le_bytes(), len.to_le_bytes()].concat();
        let func = if i % 2 == 0 {
            let n = if r.below(8) == 0 {
                len.saturating_sub(1)
            } else {
                len
            }
            .min(40);
            arg.extend((0..n).map(|_| r.next() as u8));
            6
        } else {
            5
        };
        call(1, func, Some(arg), &mut model);
    }
    let Some(got) = acpiexec(&ssdt(LabelInterface::IntelDsm, max), &commands) else {
        return;
    };
    for ((cmd, want), got) in commands.iter().zip(&expected).zip(&got) {
        assert_eq!(got, want, "{cmd}");
    }
}
