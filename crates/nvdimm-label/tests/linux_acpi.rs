//! Linux managing labels through *our* NFIT and label methods: one QEMU boot of the
//! Debian kernel (scripts/nvdimm-linux.sh over the guest-platform harness,
//! scripts/linux-guest.sh) where QEMU's `-device nvdimm` provides only the memory, and
//! Linux boots from our ACPI blob (`acpi_rsdp=`, built by `linux_guest::one_cpu_blob`):
//! the MADT, FADT and DSDT of the guest-platform tests plus the NFIT and the NVDIMM SSDT
//! this crate builds; QEMU's own tables are never read. ndctl then initialises labels, creates fsdax, devdax, sector
//! and raw namespaces, renames one and destroys one, and the host parses the label
//! area it wrote. Two runs:
//! - `_LSI`/`_LSR`/`_LSW` (and a Microsoft-family `_DSM`, so that Linux looks for
//!   them) over the zero-exit transport, v1.2 labels: the label area is a 128 KiB range
//!   of guest RAM (`memmap=` keeps Linux off it) whose RAM is a host file;
//! - Intel `_DSM` functions 4/5/6 over the trapping transport, v1.1 labels, served by
//!   QEMU's own NVDIMM device through a page of ours (QEMU reads the request from the
//!   address the AML writes to port 0x0A18) : the labels land in QEMU's label area, the
//!   tail of the backend file.
//!
//! After each ndctl step the guest reads the area back (`ndctl read-labels`, raw and
//! `-j`) and the host requires `lsa dump --json --all-slots` of it to print ndctl's JSON.
//! Label requests are counted on Linux's side and QEMU's (`-trace 'acpi_nvdimm_*'`), and
//! QEMU's logged requests are replayed through `serve_dsm_page` (the handler a VMM puts
//! behind the trapping transport's port, over `LabelMethods`), each written into a
//! shared page as the AML writes it; those of the trapping run byte for byte, with the write data from Linux's `nfit` debug hex dumps.
//!
//! Without qemu, the kernel or ndctl it skips loudly and is counted in the skip summary
//! (`peer_skip::missing`); under `CI` that is a failure.
// Test code: a panic is a failure, and the casts are of small test values.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
#![cfg(feature = "acpi")]

#[path = "linux_support/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "linux_support/json.rs"]
#[allow(dead_code)]
mod json;
#[path = "linux_support/label_ioctl.rs"]
mod label_ioctl;
#[path = "linux_support/tables.rs"]
mod tables;

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::process::Command;

use harness::{Boot, Outcome};
use json::Members;
use nvdimm_label::aml::{LabelInterface, QEMU_NVDIMM_IO_PORT, Transport, ZERO_EXIT_MAX_TRANSFER};
use nvdimm_label::cookie::{cookie_v1_2, qemu_dimm};
use nvdimm_label::methods::{
    DSM_FN_GET_LABEL_DATA, DSM_FN_GET_LABEL_SIZE, DSM_FN_SET_LABEL_DATA, DSM_PAGE_MAX_TRANSFER,
    DSM_PAGE_SIZE, DsmStatus, LabelMethods, serve_dsm_page,
};
use nvdimm_label::nfit::{ControlRegion, Nfit, NfitBuilder, Structure};
use nvdimm_label::{InitStyle, LabelVersion, Lsa, Name, NamespaceSpec, Region, Uuid, Writer, init};
use tables::{LSA_GPA, Methods};

/// The label area size of every boot here.
const LSA_SIZE: u32 = 128 << 10;

/// What every guest script starts with: what the checks of [`boot_with`] read.
const PRELUDE: &str = r#"
dmesg | grep 'ACPI: [A-Z]\{4\} 0x' > /out/acpi-tables.txt || true
set -e
od -An -v -tx1 /sys/firmware/acpi/tables/NFIT > /out/NFIT.hex
cat /sys/bus/nd/devices/nmem0/commands > /out/commands.txt
ndctl list -D -R > /out/list-DR.json
cat /sys/bus/nd/devices/region0/resource > /out/region0.resource
"#;

/// The guest script: labels of `version` ("1.1" or "1.2") initialised five times
/// (timed), read ten times (timed), 100 raw reads of [`DSM_PAGE_MAX_TRANSFER`] bytes
/// (timed: the transport without ndctl), then one namespace of each kind, one renamed,
/// one destroyed, and ndctl's view of the result.
fn guest(version: &str) -> String {
    format!(
        r#"{PRELUDE}
# After each step: ndctl's JSON of the labels and the raw area it read (through the
# label methods under test), hex with repeated lines squeezed.
# steps.txt: one line per step, its name and the guest uptime before and after the
# read-back.
# Each step's read-back starts with a marker request (a read at STEP_MARKER of the
# step's number of bytes), which finds the step in QEMU's trace.
n=0
step() {{
  n=$((n + 1))
  echo "read {STEP_MARKER:#x} $n" | label-ioctl /dev/nmem0 > /dev/null
  t=$(cut -d' ' -f1 /proc/uptime)
  ndctl read-labels -j nmem0 > "/out/$1.step.json"
  ndctl read-labels -o /tmp/area nmem0
  od -Ax -tx1 /tmp/area > "/out/$1.step.hex"
  echo "$1 $t $(cut -d' ' -f1 /proc/uptime)" >> /out/steps.txt
}}
ndctl disable-region all
i=0; while [ $i -lt 100 ]; do echo "read 0 {DSM_PAGE_MAX_TRANSFER:#x}"; i=$((i + 1)); done > /tmp/reads
t0=$(cut -d' ' -f1 /proc/uptime)
for i in 1 2 3 4 5; do ndctl init-labels -f -V {version} nmem0; done
t1=$(cut -d' ' -f1 /proc/uptime)
for i in 1 2 3 4 5 6 7 8 9 10; do ndctl read-labels nmem0 >/dev/null; done
t2=$(cut -d' ' -f1 /proc/uptime)
label-ioctl /dev/nmem0 < /tmp/reads > /dev/null
t3=$(cut -d' ' -f1 /proc/uptime)
for i in 1 2 3 4 5 6 7 8 9 10; do ndctl read-labels -s 8 nmem0 >/dev/null; done
t4=$(cut -d' ' -f1 /proc/uptime)
echo "$t0 $t1 $t2 $t3 $t4" > /out/timing.txt
step init
ndctl enable-region all
ndctl create-namespace -r region0 -m fsdax -s 64M -n ours
step fsdax
ndctl create-namespace -r region0 -m devdax -s 32M -n dax
step devdax
ndctl create-namespace -r region0 -m sector -s 32M -n sect
step sector
ndctl create-namespace -r region0 -m raw -s 32M -n raw > /out/raw.json
step raw
ndctl create-namespace -r region0 -m raw -s 32M -n gone > /out/gone.json
step gone
dev() {{ sed -n 's/.*"dev":"\(namespace[0-9.]*\)".*/\1/p' "$1"; }}
raw=$(dev /out/raw.json)
ndctl disable-namespace "$raw"
echo renamed > "/sys/bus/nd/devices/$raw/alt_name"
ndctl enable-namespace "$raw"
step rename
ndctl destroy-namespace -f "$(dev /out/gone.json)"
step destroy
ndctl read-labels -j nmem0 > /out/read-labels.json
ndctl list -N > /out/list-N.json
"#
    )
}

/// The offset of the marker read before each step's read-back (see [`guest`]): no
/// label, index block or `max_transfer` chunk starts there.
const STEP_MARKER: u32 = 0xabc;

/// Prints how long the guest's 5 `ndctl init-labels`, 10 `ndctl read-labels`, 100 raw
/// reads of [`DSM_PAGE_MAX_TRANSFER`] bytes and 10 `ndctl read-labels -s 8` (ndctl's
/// own work with one small label read: what no transport can take away from a
/// `read-labels`) took (guest uptime, 10 ms resolution, TCG): a measurement, not a
/// check.
fn print_timing(tag: &str, boot: &Boot) {
    let t: Vec<f64> = boot
        .out("timing.txt")
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    if let [t0, t1, t2, t3, t4] = t[..] {
        println!(
            "{tag}: 5x ndctl init-labels {:.2} s, 10x ndctl read-labels {:.2} s, 100x {DSM_PAGE_MAX_TRANSFER}-byte label-ioctl reads {:.2} s, 10x ndctl read-labels -s 8 {:.2} s",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            t4 - t3
        );
    }
}

/// The baseline runs keep QEMU's own tables.
fn interface_is_qemus(tag: &str) -> bool {
    tag.starts_with("acpi-qemu")
}

fn bytes_from_hex(hex: &str) -> Vec<u8> {
    hex.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// Bytes from `od -Ax -tx1`: hex offsets, a `*` line for repeats of the line before,
/// the last line the total length.
fn bytes_from_od(od: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut last: Vec<u8> = Vec::new();
    for line in od.lines().filter(|l| l.trim() != "*") {
        let mut words = line.split_whitespace();
        let Some(at) = words.next() else { continue };
        let at = usize::from_str_radix(at, 16).unwrap();
        while out.len() < at {
            assert!(!last.is_empty(), "od: a gap before {line}");
            out.extend_from_slice(&last);
        }
        assert_eq!(out.len(), at, "od line {line}");
        last = words.map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
        out.extend_from_slice(&last);
    }
    out
}

/// After every ndctl step of [`guest`] the label area as ndctl read it back (through
/// the methods under test) parses, undamaged, and `lsa dump --json --all-slots` of it
/// prints what `ndctl read-labels -j` printed at that step; the last read is the area
/// the host finds. Returns each step's read-back, in order.
fn check_steps(tag: &str, boot: &Boot, area: &[u8]) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let steps = boot.out("steps.txt");
    let mut read_backs: Vec<Vec<u8>> = Vec::new();
    // Guest uptime when the previous step's read-back ended: from the timing loop on.
    let mut prev: f64 = boot
        .out("timing.txt")
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    let mut times = Vec::new();
    for line in steps.lines() {
        let [step, before, after] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("{tag}: steps.txt line {line:?}");
        };
        let (before, after): (f64, f64) = (before.parse().unwrap(), after.parse().unwrap());
        times.push(format!("{step} {:.2}+{:.2}", before - prev, after - before));
        prev = after;
        let bytes = bytes_from_od(&boot.out(&format!("{step}.step.hex")));
        assert_eq!(bytes.len(), area.len(), "{tag} {step}: area size");
        let lsa = Lsa::parse(&bytes).unwrap_or_else(|e| panic!("{tag} {step}: {e:?}"));
        assert!(!lsa.is_damaged(), "{tag} {step}: {:?}", lsa.diagnostics());
        let file = dir.path().join(format!("{step}.lsa"));
        fs::write(&file, &bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_lsa"))
            .args([
                "dump",
                file.to_str().unwrap(),
                "--json",
                "--all-slots",
                "--dev",
                "nmem0",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{tag} {step}: lsa dump: {out:?}");
        let ours = json::parse(&String::from_utf8(out.stdout).unwrap()).unwrap();
        let ndctl = json::parse(&boot.out(&format!("{step}.step.json"))).unwrap();
        assert_eq!(
            ours, ndctl,
            "{tag} {step}: lsa dump --json --all-slots vs ndctl read-labels -j"
        );
        read_backs.push(bytes);
    }
    assert_eq!(
        read_backs.last().map(Vec::as_slice),
        Some(area),
        "{tag}: ndctl's last read vs the area the host reads"
    );
    // Guest uptime (10 ms resolution, TCG): a measurement, not a check.
    println!("{tag}: step s + read-back s: {}", times.join(", "));
    read_backs
}

/// The hex numbers (`0x...`) of one QEMU trace line, in order.
fn hex_fields(line: &str) -> Vec<u64> {
    line.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter_map(|w| w.strip_prefix("0x"))
        .map(|h| u64::from_str_radix(h, 16).unwrap())
        .collect()
}

/// The label requests QEMU's NVDIMM device logged (`-trace acpi_nvdimm_*`), in order:
/// (Intel `_DSM` function, offset, length, refused by QEMU) for functions 5 and 6, and
/// (4, label size, maximum transfer, false) for each `label_info`. A refusal
/// (`label_overflow`, `label_oversize`, `label_xfer_exceed`) follows its request.
fn qemu_requests(trace: &str) -> Vec<(u32, u64, u64, bool)> {
    let mut requests = Vec::new();
    for line in trace.lines() {
        // The event name, after a `pid@time:` prefix if QEMU adds one.
        let Some(event) = line.split_whitespace().next() else {
            continue;
        };
        let event = event.rsplit(':').next().unwrap_or(event);
        let f = hex_fields(line);
        match event {
            "acpi_nvdimm_read_label" => requests.push((DSM_FN_GET_LABEL_DATA, f[0], f[1], false)),
            "acpi_nvdimm_write_label" => requests.push((DSM_FN_SET_LABEL_DATA, f[0], f[1], false)),
            "acpi_nvdimm_label_overflow"
            | "acpi_nvdimm_label_oversize"
            | "acpi_nvdimm_label_xfer_exceed" => {
                requests.last_mut().expect("a refusal follows a request").3 = true;
            }
            "acpi_nvdimm_label_info" => {
                requests.push((DSM_FN_GET_LABEL_SIZE, f[0], f[1], false));
            }
            _ => {}
        }
    }
    requests
}

/// One request through [`serve_dsm_page`], the handler a VMM puts behind the trapping
/// transport's port: written into a shared page as the AML writes it (QEMU's
/// `NvdimmDsmIn`: handle, revision 1, function, the argument buffer cut to the page's
/// 4084-byte argument field, as storing a longer buffer into that field cuts it),
/// served, and the reply's `_DSM` output (status, then data) returned as the page holds
/// it.
fn serve(dimm: &mut LabelMethods<Vec<u8>>, function: u32, arg: &[u8]) -> Vec<u8> {
    let handle = NfitBuilder::device_handle(0);
    let mut page = [0u8; DSM_PAGE_SIZE];
    page[..4].copy_from_slice(&handle.to_le_bytes());
    page[4..8].copy_from_slice(&1u32.to_le_bytes());
    page[8..12].copy_from_slice(&function.to_le_bytes());
    let arg = &arg[..arg.len().min(DSM_PAGE_SIZE - 12)];
    page[12..12 + arg.len()].copy_from_slice(arg);
    serve_dsm_page(&mut page, |h| (h == handle).then_some(dimm));
    let len = u32::from_le_bytes(page[..4].try_into().unwrap()) as usize;
    page[4..len].to_vec()
}

/// Replays the label requests QEMU's NVDIMM device logged (`-trace acpi_nvdimm_*`)
/// through [`serve`] (our page handler) as Intel `_DSM` functions 5 and 6: QEMU's
/// `label_info` (size, maximum transfer) must be our function 4's, and each request gets status 0
/// from both, or status 3 (invalid input) from ours where QEMU logged a refusal
/// (`label_overflow`, `label_oversize`, `label_xfer_exceed`) after it. The trace holds
/// no data, so the replay writes zeros and compares statuses only. Prints the counts
/// and returns how many reads and writes QEMU served.
fn replay_qemu_trace(tag: &str, trace: &str) -> (usize, usize) {
    let all = qemu_requests(trace);
    let info = all
        .iter()
        .rev()
        .find(|r| r.0 == DSM_FN_GET_LABEL_SIZE)
        .map(|r| (r.1 as u32, r.2 as u32));
    let requests: Vec<_> = all
        .into_iter()
        .filter(|r| r.0 != DSM_FN_GET_LABEL_SIZE)
        .collect();
    let count = |function: u32| {
        let r: Vec<_> = requests.iter().filter(|r| r.0 == function).collect();
        (
            r.len(),
            r.iter().map(|r| r.2).sum::<u64>(),
            r.iter().filter(|r| r.3).count(),
        )
    };
    let (reads, read_bytes, read_refused) = count(DSM_FN_GET_LABEL_DATA);
    let (writes, write_bytes, write_refused) = count(DSM_FN_SET_LABEL_DATA);
    println!(
        "{tag}: QEMU's NVDIMM device served {reads} label reads ({read_bytes} bytes, {read_refused} refused) and {writes} writes ({write_bytes} bytes, {write_refused} refused)"
    );
    let Some((size, max_xfer)) = info else {
        assert!(
            requests.is_empty(),
            "{tag}: label requests without label_info"
        );
        return (0, 0);
    };
    let mut ours = LabelMethods::new(vec![0u8; size as usize], DSM_PAGE_MAX_TRANSFER).unwrap();
    let out = serve(&mut ours, DSM_FN_GET_LABEL_SIZE, &[]);
    assert_eq!(out.len(), 12);
    assert_eq!(
        out[4..12],
        [size.to_le_bytes(), max_xfer.to_le_bytes()].concat(),
        "{tag}: label_info"
    );
    for &(function, offset, length, refused) in &requests {
        let mut arg = [(offset as u32).to_le_bytes(), (length as u32).to_le_bytes()].concat();
        if function == DSM_FN_SET_LABEL_DATA {
            arg.resize(8 + length as usize, 0);
        }
        let out = serve(&mut ours, function, &arg);
        let status = u32::from_le_bytes(out[..4].try_into().unwrap());
        let want = if refused {
            DsmStatus::InvalidInput
        } else {
            DsmStatus::Success
        };
        assert_eq!(
            status, want as u32,
            "{tag}: function {function} offset {offset:#x} length {length:#x}"
        );
    }
    (reads, writes)
}

/// Linux's label requests, counted on the guest side: the `dev_dbg` line that
/// `acpi_nfit_ctl` (Linux `drivers/acpi/nfit/core.c`) prints for every command before
/// it calls `_LSR`/`_LSW` or the `_DSM`, enabled by [`NFIT_DYNDBG`]; commands 5 and 6
/// are `ND_CMD_GET_CONFIG_DATA` and `ND_CMD_SET_CONFIG_DATA` (Linux
/// `include/uapi/linux/ndctl.h`). Returns (reads, writes).
fn linux_requests(dmesg: &str) -> (usize, usize) {
    let count = |cmd: &str| dmesg.lines().filter(|l| l.contains(cmd)).count();
    (count(" cmd: 5: "), count(" cmd: 6: "))
}

/// Linux's label commands 5 and 6 in order, each with the first bytes of its input
/// (offset, length, then for a write its data): the `acpi_nfit_ctl` debug line (Linux
/// `drivers/acpi/nfit/core.c`, "... cmd: C: ... input length: N") and the hex dump it
/// prints after it (`print_hex_dump_debug("nvdimm in  ", DUMP_PREFIX_OFFSET, 4, 4,
/// ..., min(256, N), true)`), enabled by [`NFIT_DYNDBG`]. `print_hex_dump`
/// (lib/hexdump.c) prints 16 bytes a row (a row size other than 16 or 32 becomes 16)
/// as little-endian 32-bit groups, or as single bytes when the length is not a
/// multiple of 4, then the ASCII column.
fn linux_commands(dmesg: &str) -> Vec<(u32, Vec<u8>)> {
    // (command, bytes the dump will show, bytes so far).
    let mut commands: Vec<(u32, usize, Vec<u8>)> = Vec::new();
    for line in dmesg.lines() {
        if let Some((_, rest)) = line.split_once(" cmd: ") {
            let (cmd, rest) = rest.split_once(": ").unwrap();
            let (_, len) = rest.split_once("input length: ").unwrap();
            let len: usize = len.trim().parse().unwrap();
            commands.push((cmd.parse().unwrap(), len.min(256), Vec::new()));
        } else if let Some((_, row)) = line.split_once("nvdimm in  ") {
            let (_, hex) = row.split_once(": ").unwrap();
            let (_, shown, bytes) = commands.last_mut().expect("a dump follows its command");
            let group = if *shown % 4 == 0 { 4 } else { 1 };
            let in_row = (*shown - bytes.len()).min(16);
            for word in hex.split_whitespace().take(in_row / group) {
                let v = u32::from_str_radix(word, 16).unwrap();
                bytes.extend_from_slice(&v.to_le_bytes()[..group]);
            }
        }
    }
    commands
        .into_iter()
        .filter(|c| c.0 == DSM_FN_GET_LABEL_DATA || c.0 == DSM_FN_SET_LABEL_DATA)
        .map(|(cmd, shown, bytes)| {
            assert_eq!(bytes.len(), shown, "command {cmd}: its dump");
            (cmd, bytes)
        })
        .collect()
}

/// Replays, byte for byte, the label requests QEMU's NVDIMM device served in an ndctl
/// run through [`serve`] (our page handler) over an area of zeros (QEMU's initial label
/// area). QEMU's trace gives each request's offset and length, Linux's hex dump
/// ([`linux_commands`], the same requests in the same order, offsets and lengths
/// checked) the first 248 data bytes of each write. Bytes past those (the tail of a
/// 256-byte index block, of the 512-byte writes of `ndctl init-labels`) are taken from
/// the next step's read-back (`steps[k]`, found by its marker read, see
/// [`STEP_MARKER`]). Every read from a step's marker until the next write must return
/// the bytes ndctl read back at that step, and the replayed area must end equal to
/// QEMU's backing file (`area`). Returns (bytes written from Linux's dumps, bytes
/// filled in from read-backs, read bytes compared with ndctl's).
fn replay_bytes(
    tag: &str,
    trace: &str,
    dmesg: &str,
    steps: &[Vec<u8>],
    area: &[u8],
) -> (usize, usize, usize) {
    let requests = qemu_requests(trace);
    let requests: Vec<_> = requests
        .iter()
        .filter(|r| r.0 != DSM_FN_GET_LABEL_SIZE)
        .collect();
    let commands = linux_commands(dmesg);
    assert_eq!(
        requests.len(),
        commands.len(),
        "{tag}: QEMU's requests vs Linux's"
    );
    let mut ours = LabelMethods::new(vec![0u8; area.len()], DSM_PAGE_MAX_TRANSFER).unwrap();
    let mut unknown = vec![false; area.len()];
    // The read-back the next reads must return: set at a step marker, dropped at a write.
    let mut expect: Option<&Vec<u8>> = None;
    let (mut from_linux, mut filled, mut compared, mut markers) = (0, 0, 0, 0);
    for (&&(function, offset, length, refused), (cmd, input)) in requests.iter().zip(&commands) {
        let word = |i: usize| u64::from(u32::from_le_bytes(input[i..i + 4].try_into().unwrap()));
        assert_eq!(
            (function, offset, length),
            (*cmd, word(0), word(4)),
            "{tag}: QEMU's request vs Linux's"
        );
        let (start, len) = (offset as usize, length as usize);
        if function == DSM_FN_SET_LABEL_DATA {
            expect = None;
            let known = &input[8..];
            let mut arg = input[..8].to_vec();
            arg.extend_from_slice(known);
            arg.resize(8 + len, 0);
            let out = serve(&mut ours, function, &arg);
            let status = u32::from_le_bytes(out[..4].try_into().unwrap());
            assert_eq!(status != 0, refused, "{tag}: write {offset:#x}+{length:#x}");
            if !refused {
                from_linux += known.len().min(len);
                unknown[start..start + len]
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, u)| *u = i >= known.len());
            }
            continue;
        }
        if offset == u64::from(STEP_MARKER) {
            markers += 1;
            assert_eq!(length, markers as u64, "{tag}: step marker {markers}");
            let step = &steps[markers - 1];
            // Bytes the dumps did not show: as this step read them back.
            for (i, u) in unknown.iter_mut().enumerate().filter(|(_, u)| **u) {
                ours.storage()[i] = step[i];
                *u = false;
                filled += 1;
            }
            expect = Some(step);
        }
        let out = serve(&mut ours, function, &input[..8]);
        let status = u32::from_le_bytes(out[..4].try_into().unwrap());
        assert_eq!(status != 0, refused, "{tag}: read {offset:#x}+{length:#x}");
        if let (Some(step), false) = (expect, refused) {
            assert_eq!(
                &out[4..4 + len],
                &step[start..start + len],
                "{tag}: read {offset:#x}+{length:#x} vs ndctl's read-back"
            );
            compared += len;
        }
    }
    assert_eq!(markers, steps.len(), "{tag}: step markers in QEMU's trace");
    assert!(
        !unknown.contains(&true),
        "{tag}: written bytes no read-back showed"
    );
    assert_eq!(
        ours.into_inner(),
        area,
        "{tag}: replayed area vs QEMU's backing file"
    );
    (from_linux, filled, compared)
}

/// Kernel command-line words that turn on the `nfit` debug line [`linux_requests`]
/// counts (the only `nfit` format containing "input"; dynamic debug,
/// `CONFIG_DYNAMIC_DEBUG`), with `dumps` also the input hex dumps [`linux_commands`]
/// reads (format "nvdimm in  "; off otherwise, as they cost guest time in the timed
/// runs), and a printk buffer large enough to keep every such line of a run.
fn nfit_dyndbg(dumps: bool) -> String {
    let dumps = if dumps { "; format nvdimm +p" } else { "" };
    format!("log_buf_len=4M nfit.dyndbg=\"format input +p{dumps}\"")
}

/// The page of the trapping transport: the first page of the range `memmap=` reserves
/// for the zero-exit label area (a trapping boot does not use that area). QEMU's device
/// serves any page: it reads the request from the address written to its port
/// (QEMU `hw/acpi/nvdimm.c`, `nvdimm_dsm_write`).
const DSM_PAGE: u32 = LSA_GPA as u32;

/// The address Linux prints for table `sig` in its `ACPI: SIG 0x... ` boot lines.
fn table_address(tables: &str, sig: &str) -> Option<u64> {
    let rest = tables.split(&format!("ACPI: {sig} 0x")).nth(1)?;
    u64::from_str_radix(rest.split_whitespace().next()?, 16).ok()
}

/// Boots one DIMM from our ACPI blob, with our NFIT and SSDT (`interface` over
/// `transport`; for a tag of [`interface_is_qemus`], QEMU's own tables instead), runs
/// `script` (starting with [`PRELUDE`]), checks what all runs share, and returns the
/// boot and the label area as the guest left it: for the zero-exit transport the
/// 128 KiB at `LSA_GPA` of the RAM file, for the trapping one QEMU's own label area (the backend's tail), which QEMU's
/// device serves through the page our AML fills. `preload` is written into the
/// zero-exit label area before the boot; `max_transfer` is what our methods offer.
fn boot_with(
    tag: &str,
    script: &str,
    interface: LabelInterface,
    transport: Transport,
    max_transfer: u32,
    preload: Option<&[u8]>,
) -> Option<(Boot, Vec<u8>)> {
    let mut boot = Boot::new(tag, script);
    boot.add_dimm(&vec![0u8; harness::LABEL_SIZE]);
    let dir = boot.dir().to_owned();
    if script.contains("label-ioctl") {
        label_ioctl::build(&dir)?;
    }
    let ram = dir.join("ram.img");
    let methods = Methods {
        interface,
        transport,
        max_transfer,
    };
    let (nfit, blob) = tables::one_dimm(LSA_SIZE, methods);
    if !interface_is_qemus(tag) {
        fs::write(dir.join("acpi.bin"), blob).unwrap();
    }
    let zero_exit = transport == Transport::ZeroExit;
    let (memory_args, memmap) = tables::guest_memory(&ram, LSA_SIZE, zero_exit, preload);
    // QEMU logs every label request its own NVDIMM device serves.
    let qemu_args = format!(
        "-trace\nacpi_nvdimm_*\n-D\n{}\n{memory_args}",
        dir.join("trace.log").display()
    );
    let cmdline = format!("{} {memmap}", nfit_dyndbg(!zero_exit));
    fs::write(dir.join("qemu.args"), qemu_args).unwrap();
    fs::write(dir.join("cmdline.extra"), cmdline).unwrap();

    match boot.run() {
        // Logged by `peer_skip::missing`, which panics under CI.
        Outcome::Skipped => return None,
        Outcome::Ran => {}
    }
    print_timing(tag, &boot);
    let served = replay_qemu_trace(tag, &fs::read_to_string(dir.join("trace.log")).unwrap());
    let (reads, writes) = linux_requests(&boot.out("dmesg.log"));
    println!("{tag}: Linux issued {reads} label reads and {writes} writes (acpi_nfit_ctl)");
    // Every request reaches exactly one server: QEMU's device or our zero-exit methods.
    if transport == Transport::ZeroExit && !interface_is_qemus(tag) {
        assert_eq!(
            served,
            (0, 0),
            "{tag}: zero-exit label requests reached QEMU"
        );
        assert!(reads > 0, "{tag}: no label reads counted");
    } else {
        assert_eq!(served, (reads, writes), "{tag}: QEMU's count vs Linux's");
    }
    if interface_is_qemus(tag) {
        let area = boot.lsa(0);
        return Some((boot, area));
    }
    // Linux found the RSDP where `acpi_rsdp=` points, and the NFIT and SSDT in our blob.
    let tables = boot.out("acpi-tables.txt");
    assert_eq!(
        table_address(&tables, "RSDP"),
        Some(linux_guest::BLOB_ADDRESS),
        "{tables}"
    );
    let blob = linux_guest::BLOB_ADDRESS..linux_guest::BLOB_ADDRESS + linux_guest::BLOB_SIZE as u64;
    for sig in ["NFIT", "SSDT"] {
        let at = table_address(&tables, sig);
        assert!(at.is_some_and(|a| blob.contains(&a)), "{sig}: {tables}");
    }
    let dmesg = boot.out("dmesg.log");
    assert!(!dmesg.contains("AE_"), "ACPICA complained:\n{dmesg}");
    // Linux uses our NFIT, byte for byte.
    let seen = bytes_from_hex(&boot.out("NFIT.hex"));
    assert_eq!(seen, nfit.emit().unwrap());
    check_listing(&boot, &nfit);
    assert_eq!(Nfit::parse(&seen), Ok(nfit));
    // Labels are on: the DIMM offers the config-data commands (Linux's names for them
    // in sysfs, `nvdimm_cmd_name`), enabled from _LSI/_LSR/_LSW or the Intel _DSM.
    let commands = boot.out("commands.txt");
    for c in ["get_size", "get_data", "set_data"] {
        assert!(commands.split_whitespace().any(|w| w == c), "{commands}");
    }
    let area = if transport == Transport::ZeroExit {
        // Every write of the run stayed inside the label area.
        assert!(
            tables::guards_untouched(&ram, LSA_SIZE),
            "{tag}: bytes around the label area changed"
        );
        let mut area = vec![0u8; LSA_SIZE as usize];
        let mut f = fs::File::open(&ram).unwrap();
        f.seek(SeekFrom::Start(LSA_GPA)).unwrap();
        f.read_exact(&mut area).unwrap();
        area
    } else {
        boot.lsa(0)
    };
    Some((boot, area))
}

/// The one element ndctl listed, whether it printed `[x]`, `{"key": [x]}` or `x`.
fn only<'a>(doc: &'a json::Json, key: &str) -> &'a json::Json {
    let list = doc.get(key).unwrap_or(doc);
    match list.as_array() {
        Some(items) => {
            assert_eq!(items.len(), 1, "one {key} entry: {doc}");
            &items[0]
        }
        None => list,
    }
}

/// The DIMM id Linux makes of an NFIT control region: vendor ID and serial number
/// printed big-endian, with the manufacturing location and date between them when
/// valid-fields bit 0 says they are valid (Linux `drivers/acpi/nfit/core.c`,
/// `acpi_nfit_register_dimms`).
fn linux_dimm_id(dcr: &ControlRegion) -> String {
    let vendor = dcr.vendor_id.swap_bytes();
    let serial = dcr.serial_number.swap_bytes();
    if dcr.valid_fields & 1 != 0 {
        let date = dcr.manufacturing_date.swap_bytes();
        let location = dcr.manufacturing_location;
        format!("{vendor:04x}-{location:02x}-{date:04x}-{serial:08x}")
    } else {
        format!("{vendor:04x}-{serial:08x}")
    }
}

/// Linux lists exactly the DIMM and region our one-DIMM NFIT describes (`ndctl list -D
/// -R`): the DIMM with the region mapping's device handle and the id Linux makes of the
/// control region; one pmem region of the SPA range's size, not interleaved (one
/// mapping, on nmem0, at the mapping's DPA and size); the region's sysfs `resource` is
/// the SPA range's base.
fn check_listing(boot: &Boot, nfit: &Nfit) {
    let (mut spa, mut map, mut dcr) = (None, None, None);
    for s in &nfit.structures {
        match s {
            Structure::Spa(x) => spa = Some(x),
            Structure::RegionMapping(x) => map = Some(x),
            Structure::ControlRegion(x) => dcr = Some(x),
            _ => {}
        }
    }
    let (spa, map, dcr) = (spa.unwrap(), map.unwrap(), dcr.unwrap());
    // With -D, ndctl lists each region's mappings too.
    let listed = json::parse(&boot.out("list-DR.json")).unwrap();
    let dimm = only(&listed, "dimms");
    assert_eq!(dimm.str("dev"), "nmem0");
    assert_eq!(dimm.u64("handle"), u64::from(map.device_handle));
    assert_eq!(dimm.str("id"), linux_dimm_id(dcr));
    let region = only(&listed, "regions");
    assert_eq!(region.str("type"), "pmem");
    assert_eq!(region.u64("size"), spa.length);
    assert_eq!(map.interleave_ways, 1);
    let mapping = only(region.at("mappings"), "mappings");
    assert_eq!(mapping.str("dimm"), "nmem0");
    assert_eq!(mapping.u64("offset"), map.dpa);
    assert_eq!(mapping.u64("length"), map.region_size);
    assert_eq!(mapping.u64("position"), 0);
    let resource = boot.out("region0.resource");
    let base = u64::from_str_radix(resource.trim().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(base, spa.base);
    println!(
        "Linux lists our DIMM (handle {:#x}, id {}) and region ({} MiB at {base:#x}, 1 way)",
        map.device_handle,
        linux_dimm_id(dcr),
        spa.length >> 20
    );
}

/// Boots with [`guest`]`(version)` and checks that what ndctl wrote through our
/// methods is what it reports.
fn ndctl_recipe(
    tag: &str,
    version: &str,
    interface: LabelInterface,
    transport: Transport,
) -> Option<Vec<u8>> {
    // Zero-exit transfers are not bound to QEMU's page.
    let max_transfer = match transport {
        Transport::ZeroExit => ZERO_EXIT_MAX_TRANSFER,
        Transport::Trapping { .. } => DSM_PAGE_MAX_TRANSFER,
    };
    let (boot, area) = boot_with(
        tag,
        &guest(version),
        interface,
        transport,
        max_transfer,
        None,
    )?;
    if interface_is_qemus(tag) {
        return None;
    }
    let steps = check_steps(tag, &boot, &area);
    assert_eq!(steps.len(), 8, "{tag}: every step of the guest script");
    println!(
        "{tag}: {} ndctl steps, each read back: lsa dump --json --all-slots == ndctl read-labels -j",
        steps.len()
    );
    if transport != Transport::ZeroExit {
        let trace = fs::read_to_string(boot.dir().join("trace.log")).unwrap();
        let (from_linux, filled, compared) =
            replay_bytes(tag, &trace, &boot.out("dmesg.log"), &steps, &area);
        println!(
            "{tag}: QEMU's requests replayed through serve_dsm_page byte for byte: {from_linux} written bytes from Linux's dumps, {filled} from read-backs, {compared} read bytes equal to ndctl's read-backs, the final area equal to QEMU's"
        );
    }
    // What ndctl wrote through our methods parses to the namespaces ndctl's own reading
    // of the labels (through our methods) shows: the fsdax, devdax and sector ones and
    // the renamed raw one; the destroyed one is gone.
    let lsa = Lsa::parse(&area).expect("ndctl's labels parse");
    let labels = json::parse(&boot.out("read-labels.json")).expect("read-labels JSON");
    let theirs: Vec<(Uuid, String)> = labels.items()[0]
        .at("label")
        .items()
        .iter()
        .map(|l| {
            (
                Uuid::parse_str(l.str("uuid")).unwrap(),
                l.str("name").to_owned(),
            )
        })
        .collect();
    let mut ours: Vec<(Uuid, String)> = lsa
        .namespaces()
        .iter()
        .map(|n| (n.uuid, n.name.as_str().unwrap_or_default().to_owned()))
        .collect();
    // `ndctl read-labels` prints every slot holding a valid label, also those the free
    // bitmap marks free: the destroyed namespace's labels (in both index generations'
    // slots) are still there, and nowhere else.
    let (stale, mut live): (Vec<_>, Vec<_>) = theirs.into_iter().partition(|(_, n)| n == "gone");
    assert!(!stale.is_empty());
    live.sort();
    ours.sort();
    assert_eq!(ours, live);
    let listed = boot.out("list-N.json");
    for (_, name) in &ours {
        assert!(listed.contains(&format!("\"name\":\"{name}\"")), "{listed}");
    }
    assert!(!listed.contains("\"gone\""), "{listed}");
    let mut names: Vec<&str> = ours.iter().map(|(_, n)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["dax", "ours", "renamed", "sect"]);
    // ndctl's init-labels leaves free bits set past nslot (a diagnostic, not damage).
    assert!(!lsa.is_damaged(), "{:?}", lsa.diagnostics());
    Some(area)
}

#[test]
fn linux_manages_labels_through_our_zero_exit_methods() {
    let Some(area) = ndctl_recipe(
        "acpi-zx",
        "1.2",
        LabelInterface::LabelMethods,
        Transport::ZeroExit,
    ) else {
        return;
    };
    assert_eq!(&area[..16], b"NAMESPACE_INDEX\0");
}

#[test]
fn linux_manages_labels_through_our_trapping_intel_dsm_served_by_qemu() {
    let transport = Transport::Trapping {
        page: DSM_PAGE,
        port: QEMU_NVDIMM_IO_PORT,
    };
    ndctl_recipe("acpi-tr", "1.1", LabelInterface::IntelDsm, transport);
}

/// QEMU's own tables (its `_LSI`/`_LSR`/`_LSW` over its trapping page) for the same
/// DIMM and guest script: the speed baseline printed beside the runs above.
#[test]
fn qemu_own_tables_baseline() {
    ndctl_recipe(
        "acpi-qemu",
        "1.2",
        LabelInterface::IntelDsm,
        Transport::ZeroExit,
    );
}

/// The reverse direction: a label area our writer prepared (v1.2, the cookie of QEMU's
/// slot 0, which our NFIT reproduces) is what Linux lists through our zero-exit
/// methods.
#[test]
fn linux_lists_our_namespaces_through_our_zero_exit_methods() {
    let mut area = vec![0u8; LSA_SIZE as usize];
    init(&mut area, LabelVersion::V1_2, InitStyle::Kernel).unwrap();
    let region = Region::pmem(harness::PMEM_SIZE, cookie_v1_2(&mut [qemu_dimm(0)]));
    let uuid = Uuid::parse_str("5a1e5a1e-0000-4000-8000-00000000c0de").unwrap();
    let spec = NamespaceSpec::new(uuid, Name::new("mine").unwrap(), 64 << 20);
    Writer::new(&mut area[..], region).create(&spec).unwrap();
    let script = format!("{PRELUDE}ndctl list -N > /out/list-N.json\n");
    let Some((boot, after)) = boot_with(
        "acpi-rev",
        &script,
        LabelInterface::LabelMethods,
        Transport::ZeroExit,
        ZERO_EXIT_MAX_TRANSFER,
        Some(&area),
    ) else {
        return;
    };
    assert_eq!(after, area, "listing wrote nothing");
    let listed = json::parse(&boot.out("list-N.json")).expect("list -N JSON");
    let ns = listed.items();
    assert_eq!(ns.len(), 1, "{}", boot.out("list-N.json"));
    assert_eq!(ns[0].str("uuid"), uuid.to_string());
    assert_eq!(ns[0].str("name"), "mine");
    assert_eq!(ns[0].u64("size"), 64 << 20);
}

/// The raw label requests of [`guest_label_requests_get_qemus_statuses_from_ours`], one
/// a line for `label-ioctl` (tests/linux_support/label_ioctl.c), on the 128 KiB area
/// with QEMU's maximum transfer of 4076 (0xfec) bytes. The first read is the marker
/// that finds the program's requests in QEMU's trace.
const LABEL_REQUESTS: &str = "read 0x1234 0x11
size
read 0 0x100
write 0x100 0x100
read 0x100 0x100
read 0 0xfec
read 0 0xfed
write 0 0xfed
read 0x1ff00 0x100
write 0x1ff00 0x100
read 0x1ff01 0x100
write 0x1ff01 0x100
read 0x20000 1
read 0xffffffff 2
write 0xffffffff 2
read 0xffffff00 0x100
write 0xffffff00 0x100
read 0x80000000 0x80000000
read 0 0x10000
write 0 0x10000
read 0 0x3ffff4
read 0 0x3ffff5
write 0 0x3ffff4
write 0 0x3ffff5
read 0 0xffffffff
write 0 0xffffffff
";

/// Zero-length requests, sent only to our methods: QEMU 10 aborts on them (its
/// `nvdimm_validate_rw_label_data`, hw/mem/nvdimm.c, asserts `offset + size > offset`
/// after the DSM checks let a zero length through), which kills the guest.
const EMPTY_REQUESTS: &str = "read 0 0
read 0x20000 0
write 0x20000 0
read 0x20001 0
write 0x20001 0
";

/// The guest: regions off (Linux refuses label writes to a DIMM in use,
/// `nd_cmd_clear_to_send`), then `label-ioctl` between two kernel-log markers.
fn ioctl_script(requests: &str) -> String {
    format!(
        "{PRELUDE}ndctl disable-region all
echo '@@label-ioctl start' > /dev/kmsg
label-ioctl /dev/nmem0 > /out/ioctl.txt <<'EOF'
{requests}EOF
echo '@@label-ioctl end' > /dev/kmsg
"
    )
}

/// Errno values, Linux `include/uapi/asm-generic/errno-base.h`.
const ENXIO: i32 = 6;
const EFAULT: i32 = 14;
const EINVAL: i32 = 22;

/// Whether and how Linux (drivers/nvdimm/bus.c `__nd_ioctl`) refuses a request before
/// any firmware call: a length of `u32::MAX` is the "unknown size" value of
/// `nd_cmd_out_size` (a read: EFAULT) and `nd_cmd_in_size` (a write: ENXIO); a command
/// buffer (8 bytes of offset and length, 4 of status, the data) above
/// `ND_IOCTL_MAX_BUFLEN` (4 MiB, include/linux/libnvdimm.h) gets EINVAL.
fn kernel_refusal(r: &label_ioctl::Reply) -> Option<i32> {
    use label_ioctl::Op;
    match (r.op, r.length) {
        (Op::Read, u32::MAX) => Some(EFAULT),
        (Op::Write, u32::MAX) => Some(ENXIO),
        (Op::Size, _) => None,
        (_, len) => (12 + u64::from(len) > 4 << 20).then_some(EINVAL),
    }
}

/// Boots with `label-ioctl` issuing `requests` and checks every reply: the kernel
/// refuses exactly what [`kernel_refusal`] says (the status field untouched); every
/// other request reached the firmware, one `acpi_nfit_ctl` call each between the
/// markers, and its status and read data are what [`LabelMethods`] (through
/// `methods`) answers to the same sequence over an area of zeros, which must end equal
/// to the area the guest left. Returns the replies.
fn label_requests(
    tag: &str,
    requests: &str,
    interface: LabelInterface,
    transport: Transport,
    methods: label_ioctl::Methods,
) -> Option<Vec<label_ioctl::Reply>> {
    let (boot, area) = boot_with(
        tag,
        &ioctl_script(requests),
        interface,
        transport,
        DSM_PAGE_MAX_TRANSFER,
        None,
    )?;
    let replies = label_ioctl::parse(&boot.out("ioctl.txt"));
    assert_eq!(
        replies.len(),
        requests.lines().count(),
        "{tag}: every request"
    );
    if interface_is_qemus(tag) {
        // QEMU's trace from the marker (the first request) on is the sequence of
        // requests Linux let through, refused by QEMU exactly where it says status 3.
        let trace = qemu_requests(&fs::read_to_string(boot.dir().join("trace.log")).unwrap());
        let first = &replies[0];
        let marker = (
            first.op.function(),
            u64::from(first.offset),
            u64::from(first.length),
            false,
        );
        let at = trace
            .iter()
            .position(|t| *t == marker)
            .expect("the marker in QEMU's trace");
        let passed: Vec<_> = replies
            .iter()
            .filter(|r| !r.kernel_refused())
            .map(|r| match r.op {
                label_ioctl::Op::Size => {
                    let (size, max) = r.extra.split_once('/').unwrap();
                    let n = |h: &str| u64::from_str_radix(&h[2..], 16).unwrap();
                    (r.op.function(), n(size), n(max), false)
                }
                _ => (
                    r.op.function(),
                    u64::from(r.offset),
                    u64::from(r.length),
                    r.status != 0,
                ),
            })
            .collect();
        assert_eq!(
            trace[at..],
            passed[..],
            "{tag}: QEMU's trace vs label-ioctl"
        );
    }
    let mut ours = LabelMethods::new(vec![0u8; area.len()], DSM_PAGE_MAX_TRANSFER).unwrap();
    let (mut reached, mut refused) = (0, 0);
    for r in &replies {
        assert_eq!(
            (r.kernel_refused(), (r.errno != 0).then_some(r.errno)),
            (kernel_refusal(r).is_some(), kernel_refusal(r)),
            "{tag}: Linux's refusal of {r:?}"
        );
        if r.kernel_refused() {
            continue;
        }
        reached += 1;
        refused += usize::from(r.status != 0);
        let (status, extra) = label_ioctl::ours(&mut ours, methods, r);
        assert_eq!((r.status, &r.extra), (status, &extra), "{tag}: {r:?}");
    }
    assert_eq!(
        ours.into_inner(),
        area,
        "{tag}: the area after the requests"
    );
    // The requests wrote byte patterns, not labels: the host's parser calls that damage.
    match Lsa::parse(&area) {
        Err(e) => println!("{tag}: the area the guest left: {e}"),
        Ok(lsa) => assert!(lsa.is_damaged(), "{tag}: garbage parsed as labels"),
    }
    let dmesg = boot.out("dmesg.log");
    let calls = dmesg
        .lines()
        .skip_while(|l| !l.contains("@@label-ioctl start"))
        .take_while(|l| !l.contains("@@label-ioctl end"))
        .filter(|l| {
            [" cmd: 4: ", " cmd: 5: ", " cmd: 6: "]
                .iter()
                .any(|c| l.contains(c))
        })
        .count();
    assert_eq!(calls, reached, "{tag}: acpi_nfit_ctl calls");
    println!(
        "{tag}: {} requests: {} refused by Linux before the firmware, {reached} reached it ({refused} refused there), every status and read equal to LabelMethods'",
        replies.len(),
        replies.len() - reached
    );
    Some(replies)
}

/// A guest program's bad label requests (out of range, offset + length overflow, above
/// the maximum transfer, above Linux's buffer limit) against QEMU's own NVDIMM (its
/// tables, its trapping `_DSM`), our zero-exit Intel `_DSM` and our zero-exit
/// `_LSR`/`_LSW`, all in one run. Where Linux lets a request through, QEMU's status
/// (from its replies as the program saw them, and from its trace: status 3 exactly
/// where it logged a refusal) is what `LabelMethods` answers; our `_DSM` AML gives the
/// same statuses, our `_LS*` AML the `_LS*` ones (2, invalid input, where the `_DSM`
/// says 3: ACPI 6.4 §6.5.10 vs Intel's DSM status codes); zero-length requests go to
/// ours only (see [`EMPTY_REQUESTS`]).
#[test]
fn guest_label_requests_get_qemus_statuses_from_ours() {
    use label_ioctl::Methods;
    let Some(qemu) = label_requests(
        "acpi-qemu-ioctl",
        LABEL_REQUESTS,
        LabelInterface::IntelDsm,
        Transport::ZeroExit,
        Methods::IntelDsm,
    ) else {
        return;
    };
    let all = format!("{LABEL_REQUESTS}{EMPTY_REQUESTS}");
    for (tag, interface, methods) in [
        (
            "acpi-zx-dsm-ioctl",
            LabelInterface::IntelDsm,
            Methods::IntelDsm,
        ),
        (
            "acpi-zx-ls-ioctl",
            LabelInterface::LabelMethods,
            Methods::Ls,
        ),
    ] {
        let ours = label_requests(tag, &all, interface, Transport::ZeroExit, methods).unwrap();
        for (q, o) in qemu.iter().zip(&ours) {
            let same = if methods == Methods::Ls && q.status == 3 {
                label_ioctl::Reply {
                    status: 2,
                    ..q.clone()
                }
            } else {
                q.clone()
            };
            assert_eq!(&same, o, "{tag} vs QEMU");
        }
    }
}
