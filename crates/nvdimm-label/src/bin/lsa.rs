// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `lsa`: inspect and edit an NVDIMM label storage area in a file or a pmem image.
//!
//! ```text
//! lsa dump   FILE [AREA] [--json] [--all-slots] [--dev NAME]
//! lsa check  FILE [AREA]
//! lsa init   FILE [AREA] [--label-version 1.1|1.2|cxl] [--ndctl] [--create SIZE]
//! lsa create FILE [AREA] --size SIZE [--name NAME] [--uuid UUID] [--dpa DPA]
//!            [--mode raw|fsdax|devdax|sector|hugevm] [--capacity SIZE] [--align SIZE]
//!            [--cookie N | --qemu-slot N] [--lbasize N]
//! lsa delete FILE [AREA] --uuid UUID
//!
//! AREA: --offset N --size-area N (default: the whole file), or --tail N (the last N
//! bytes, as QEMU's `-device nvdimm,label-size=N` keeps the LSA at the end of the
//! backend file; DPA 0 is then file offset 0).
//! Sizes take K, M, G suffixes (powers of 1024) or 0x prefixes.
//! ```
//!
//! Exit status: 0 success (for `check`: no damage), 1 damage or a refused update,
//! 2 usage or I/O error.

use core::fmt::Write as _;
use std::fs::File;
use std::process::ExitCode;

use nvdimm_label::cookie::{cookie_v1_1, cookie_v1_2, qemu_dimm};
use nvdimm_label::layout::{LABEL_CHECKSUM_OFFSET, NSINDEX_ALIGN, NamespaceIndex};
use nvdimm_label::{
    CLASSIFY_BYTES, ClaimClass, Content, FileStorage, InitStyle, Label, LabelVersion, Lsa, Name,
    NamespaceSpec, Region, Uuid, Writer, classify, init, parse_label, read_all,
};
use zerocopy::FromBytes;

/// A failure with its exit status.
struct Fail(u8, String);

fn usage(msg: impl Into<String>) -> Fail {
    Fail(2, msg.into())
}

type Res<T> = Result<T, Fail>;

const USAGE: &str = "usage: lsa dump|check|init|create|delete FILE [options] (see `lsa help`)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, msg)) => {
            eprintln!("lsa: {msg}");
            ExitCode::from(code)
        }
    }
}

/// Parsed command-line options.
#[derive(Default)]
struct Opts {
    positional: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

const VALUED: &[&str] = &[
    "--offset",
    "--size-area",
    "--tail",
    "--dev",
    "--label-version",
    "--create",
    "--size",
    "--name",
    "--uuid",
    "--dpa",
    "--mode",
    "--capacity",
    "--align",
    "--cookie",
    "--qemu-slot",
    "--lbasize",
];
const SWITCHES: &[&str] = &["--json", "--all-slots", "--ndctl"];

impl Opts {
    fn parse(args: &[String]) -> Res<Opts> {
        let mut o = Opts::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if VALUED.contains(&a.as_str()) {
                let v = it
                    .next()
                    .ok_or_else(|| usage(format!("{a} needs a value")))?;
                o.flags.push((a.clone(), Some(v.clone())));
            } else if SWITCHES.contains(&a.as_str()) {
                o.flags.push((a.clone(), None));
            } else if a.starts_with("--") {
                return Err(usage(format!("unknown option {a}")));
            } else {
                o.positional.push(a.clone());
            }
        }
        Ok(o)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }

    fn num(&self, name: &str) -> Res<Option<u64>> {
        self.get(name)
            .map(|v| parse_size(v).ok_or_else(|| usage(format!("bad number for {name}: {v}"))))
            .transpose()
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok();
    }
    let (digits, shift) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 10),
        (i, 'm' | 'M') => (&s[..i], 20),
        (i, 'g' | 'G') => (&s[..i], 30),
        (i, 't' | 'T') => (&s[..i], 40),
        _ => (s, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// Where the area is in the file.
struct Area {
    file: File,
    offset: u64,
    size: u64,
    /// `--tail`: the file is a pmem image with DPA 0 at offset 0.
    image: bool,
}

fn open_area(o: &Opts, path: &str, create: Option<u64>) -> Res<Area> {
    let file = File::options()
        .read(true)
        .write(true)
        .create(create.is_some())
        .truncate(false)
        .open(path)
        .map_err(|e| usage(format!("{path}: {e}")))?;
    let mut len = file
        .metadata()
        .map_err(|e| usage(format!("{path}: {e}")))?
        .len();
    if let Some(size) = create.filter(|&s| s > len) {
        file.set_len(size)
            .map_err(|e| usage(format!("{path}: {e}")))?;
        len = size;
    }
    let (offset, size, image) = match (o.num("--tail")?, o.num("--offset")?, o.num("--size-area")?)
    {
        (Some(tail), None, None) => {
            let offset = len
                .checked_sub(tail)
                .ok_or_else(|| usage(format!("{path} is shorter than --tail {tail}")))?;
            (offset, tail, true)
        }
        (None, offset, size) => {
            let offset = offset.unwrap_or(0);
            let size = size.unwrap_or_else(|| len.saturating_sub(offset));
            if offset.checked_add(size).is_none_or(|end| end > len) {
                return Err(usage(format!(
                    "area {offset:#x}+{size:#x} runs past the end of {path} ({len:#x} bytes)"
                )));
            }
            (offset, size, false)
        }
        _ => return Err(usage("--tail excludes --offset and --size-area")),
    };
    Ok(Area {
        file,
        offset,
        size,
        image,
    })
}

fn read_area(area: &mut Area) -> Res<Vec<u8>> {
    let file = area.file.try_clone().map_err(|e| usage(e.to_string()))?;
    let mut storage = FileStorage::new(file, area.offset, area.size);
    let mut bytes = vec![0u8; usize::try_from(area.size).map_err(|_| usage("area too large"))?];
    read_all(&mut storage, 0, &mut bytes).map_err(|e| usage(e.to_string()))?;
    Ok(bytes)
}

fn storage(area: &Area) -> Res<FileStorage> {
    let file = area.file.try_clone().map_err(|e| usage(e.to_string()))?;
    Ok(FileStorage::new(file, area.offset, area.size))
}

fn run(args: &[String]) -> Res<u8> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(usage(USAGE));
    };
    if matches!(cmd.as_str(), "help" | "--help" | "-h") {
        println!("{}", include_str!("lsa.txt"));
        return Ok(0);
    }
    let o = Opts::parse(rest)?;
    let [path] = o.positional.as_slice() else {
        return Err(usage(USAGE));
    };
    match cmd.as_str() {
        "dump" => dump(&o, path),
        "check" => check(&o, path),
        "init" => init_cmd(&o, path),
        "create" => create(&o, path),
        "delete" => delete(&o, path),
        other => Err(usage(format!("unknown command {other}; {USAGE}"))),
    }
}

fn parse_lsa(bytes: &[u8]) -> Res<Lsa> {
    Lsa::parse(bytes).map_err(|e| Fail(1, format!("no usable label area: {e}")))
}

fn check(o: &Opts, path: &str) -> Res<u8> {
    let mut area = open_area(o, path, None)?;
    let bytes = read_area(&mut area)?;
    let lsa = parse_lsa(&bytes)?;
    for d in lsa.diagnostics() {
        let kind = if d.is_damage() { "damage" } else { "note" };
        println!("{kind}: {d}");
    }
    let damaged = lsa.is_damaged();
    println!(
        "{}: {:?} labels, current index {} (seq {}), {} active labels, {} namespaces{}",
        path,
        lsa.version(),
        lsa.index().block,
        lsa.index().seq(),
        lsa.labels().len(),
        lsa.namespaces().len(),
        if damaged { ", DAMAGED" } else { ", ok" }
    );
    Ok(u8::from(damaged))
}

fn content(
    area: &Area,
    uuid: Uuid,
    claim: Option<ClaimClass>,
    dpa: u64,
    v: LabelVersion,
) -> Option<Content> {
    use std::os::unix::fs::FileExt;
    if !area.image {
        return None;
    }
    let mut start = vec![0u8; CLASSIFY_BYTES];
    area.file.read_exact_at(&mut start, dpa).ok()?;
    Some(classify(&start, uuid, claim, v != LabelVersion::V1_1))
}

fn dump(o: &Opts, path: &str) -> Res<u8> {
    let mut area = open_area(o, path, None)?;
    let bytes = read_area(&mut area)?;
    if o.has("--json") {
        print!(
            "{}",
            json(&bytes, o.get("--dev").unwrap_or(path), o.has("--all-slots"))
        );
        return Ok(0);
    }
    let lsa = parse_lsa(&bytes)?;
    let idx = lsa.index();
    let (major, minor) = (idx.header.major.get(), idx.header.minor.get());
    println!(
        "label area: {} bytes, version {major}.{minor} ({:?}), {}-byte labels",
        bytes.len(),
        lsa.version(),
        lsa.version().label_size()
    );
    println!(
        "current index: block {} seq {} nslot {} index size {} free slots {}",
        idx.block,
        idx.seq(),
        idx.nslot(),
        idx.geometry.index_size,
        lsa.free_slots()
    );
    match lsa.other_index() {
        Ok(other) => println!("other index:   block {} seq {}", other.block, other.seq()),
        Err(e) => println!("other index:   invalid: {e}"),
    }
    println!("namespaces: {}", lsa.namespaces().len());
    for ns in lsa.namespaces() {
        println!(
            "  {} name {:?} size {:#x} ({} MiB)",
            ns.uuid,
            ns.name.to_string(),
            ns.size(),
            ns.size() >> 20
        );
        for e in ns.extents.iter() {
            println!("    dpa {:#x}+{:#x} slot {}", e.dpa, e.size, e.slot);
        }
        let mut line = format!(
            "    nlabel {} position {} flags {:#x} lbasize {}",
            ns.nlabel, ns.position, ns.flags, ns.lbasize
        );
        if lsa.version() != LabelVersion::Cxl {
            let _ = write!(line, " isetcookie {:#018x}", ns.isetcookie);
        }
        if let Some(t) = ns.type_guid {
            let _ = write!(line, " type {t}");
        }
        if let Some(c) = ns.claim {
            let _ = write!(line, " claim {}", c.mode_name());
        }
        if let Some(r) = ns.region_uuid {
            let _ = write!(line, " region {r}");
        }
        println!("{line}");
        if let Some(c) = content(
            &area,
            ns.uuid,
            ns.claim,
            ns.extents.first().dpa,
            lsa.version(),
        ) {
            println!("    content: {c:?}");
        }
    }
    for r in lsa.regions() {
        println!(
            "  region {} dpa {:#x}+{:#x} hpa {:#x} position {}/{} slot {}",
            r.uuid, r.dpa, r.rawsize, r.hpa, r.position, r.nlabel, r.slot
        );
    }
    for d in lsa.diagnostics() {
        println!("{}: {d}", if d.is_damage() { "damage" } else { "note" });
    }
    Ok(0)
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The JSON of `ndctl read-labels -j` for one DIMM: `dev`, `index` (the blocks at 0
/// and the index size, decoded as found) and `label`. By default `label` lists the
/// active labels; with `--all-slots`, every slot whose `slot` field matches (ndctl's
/// rule, ignoring the free bitmap and checksums). Integers are printed as ndctl's
/// json-c does (`int64` for u64 fields, so values ≥ 2^63 are negative). GUIDs are
/// printed as ndctl prints them: the raw bytes as a UUID.
fn json(bytes: &[u8], dev: &str, all_slots: bool) -> String {
    let lsa = Lsa::parse(bytes).ok();
    let version = lsa
        .as_ref()
        .map_or_else(|| guess_version(bytes), Lsa::version);
    let index_size = lsa
        .as_ref()
        .map_or(NSINDEX_ALIGN, |l| l.index().geometry.index_size);
    let mut out = String::from("{\n  \"dev\":");
    json_str(&mut out, dev);
    out.push_str(",\n  \"index\":[");
    let mut first = true;
    for block in 0..2u64 {
        let at = usize::try_from(block * index_size).unwrap_or(usize::MAX);
        let Some(Ok((h, _))) = bytes.get(at..).map(NamespaceIndex::read_from_prefix) else {
            continue;
        };
        let sig_end = h.sig.iter().take(15).position(|&b| b == 0).unwrap_or(15);
        let sig = String::from_utf8_lossy(&h.sig[..sig_end]);
        out.push_str(if first { "\n    {" } else { ",\n    {" });
        first = false;
        out.push_str("\"signature\":");
        json_str(&mut out, &sig);
        let labelsize = 1u64.checked_shl(7 + u32::from(h.labelsize)).unwrap_or(0);
        let _ = write!(
            out,
            ",\"major\":{},\"minor\":{},\"labelsize\":{},\"seq\":{},\"nslot\":{}}}",
            h.major.get(),
            h.minor.get(),
            labelsize as i64,
            h.seq.get() as i32,
            h.nslot.get() as i32
        );
    }
    out.push_str("\n  ],\n  \"label\":[");
    let labels: Vec<Label> = if all_slots {
        let size = version.label_size();
        let base = usize::try_from(2 * index_size).unwrap_or(usize::MAX);
        bytes
            .get(base..)
            .unwrap_or(&[])
            .chunks_exact(size)
            .enumerate()
            .filter_map(|(slot, chunk)| {
                // ndctl's rule: the slot field matches; checksums are not looked at.
                let slot = u32::try_from(slot).ok()?;
                let mut copy = chunk.to_vec();
                reseal_for_display(&mut copy, version);
                parse_label(&copy, version, slot).ok()
            })
            .collect()
    } else {
        lsa.as_ref()
            .map(|l| l.labels().to_vec())
            .unwrap_or_default()
    };
    for (i, label) in labels.iter().enumerate() {
        out.push_str(if i == 0 { "\n    {" } else { ",\n    {" });
        label_json(&mut out, label, version);
        out.push('}');
    }
    out.push_str("\n  ]\n}\n");
    out
}

/// Recomputes a label's checksum so `parse_label` decodes it regardless (for
/// `--all-slots`, which shows what is on media whatever its checksum).
fn reseal_for_display(label: &mut [u8], version: LabelVersion) {
    if version != LabelVersion::V1_1 {
        let sum = nvdimm_label::fletcher64_skipping(label, LABEL_CHECKSUM_OFFSET);
        if let Some(f) = label.get_mut(LABEL_CHECKSUM_OFFSET..LABEL_CHECKSUM_OFFSET + 8) {
            f.copy_from_slice(&sum.to_le_bytes());
        }
    }
}

/// ndctl's pre-guess when no index validates: 256-byte labels only if more of the blocks
/// at 0 and 256 claim 1.2 than 1.1.
fn guess_version(bytes: &[u8]) -> LabelVersion {
    let mut votes = 0i32;
    for at in [0usize, 256] {
        if let Some(Ok((h, _))) = bytes.get(at..).map(NamespaceIndex::read_from_prefix) {
            match (h.major.get(), h.minor.get()) {
                (1, 1) => votes -= 1,
                (1, 2) => votes += 1,
                _ => {}
            }
        }
    }
    if votes > 0 {
        LabelVersion::V1_2
    } else {
        LabelVersion::V1_1
    }
}

fn label_json(out: &mut String, label: &Label, version: LabelVersion) {
    match label {
        Label::Namespace(n) => {
            out.push_str("\"uuid\":");
            json_str(out, &n.uuid.to_string());
            out.push_str(",\"name\":");
            let name = &n.name.0[..63];
            let end = name.iter().position(|&b| b == 0).unwrap_or(63);
            json_str(out, &String::from_utf8_lossy(&name[..end]));
            let _ = write!(
                out,
                ",\"slot\":{},\"position\":{},\"nlabel\":{},\"isetcookie\":{},\"lbasize\":{},\"dpa\":{},\"rawsize\":{}",
                n.slot as i32,
                n.position,
                n.nlabel,
                n.isetcookie as i64,
                n.lbasize as i64,
                n.dpa as i64,
                n.rawsize as i64
            );
            if let Some(t) = n.type_guid {
                out.push_str(",\"type_guid\":");
                json_str(out, &t.raw().to_string());
            }
            if let Some(c) = n.claim {
                let bytes = c.to_bytes(version);
                out.push_str(if version == LabelVersion::Cxl {
                    ",\"abstraction_uuid\":"
                } else {
                    ",\"abstraction_guid\":"
                });
                json_str(out, &Uuid(bytes).to_string());
            }
            if let Some(r) = n.region_uuid {
                out.push_str(",\"region_uuid\":");
                json_str(out, &r.to_string());
            }
        }
        Label::Region(r) => {
            out.push_str("\"type\":\"region\",\"uuid\":");
            json_str(out, &r.uuid.to_string());
            let _ = write!(
                out,
                ",\"slot\":{},\"position\":{},\"nlabel\":{},\"dpa\":{},\"rawsize\":{},\"hpa\":{},\"ig\":{},\"align\":{}",
                r.slot as i32,
                r.position,
                r.nlabel,
                r.dpa as i64,
                r.rawsize as i64,
                r.hpa as i64,
                r.ig,
                r.align
            );
        }
    }
}

fn init_cmd(o: &Opts, path: &str) -> Res<u8> {
    let version = match o.get("--label-version").unwrap_or("1.1") {
        "1.1" | "v1.1" => LabelVersion::V1_1,
        "1.2" | "v1.2" => LabelVersion::V1_2,
        "cxl" | "2.1" => LabelVersion::Cxl,
        v => return Err(usage(format!("unknown label version {v} (1.1, 1.2, cxl)"))),
    };
    let area = open_area(o, path, o.num("--create")?)?;
    let style = if o.has("--ndctl") {
        InitStyle::Ndctl
    } else {
        InitStyle::Kernel
    };
    init(&mut storage(&area)?, version, style).map_err(|e| Fail(1, e.to_string()))?;
    let lsa = Writer::new(storage(&area)?, Region::pmem(0, 0))
        .read()
        .map_err(|e| Fail(1, e.to_string()))?;
    println!(
        "initialized {path}: {:?}, {} slots",
        version,
        lsa.index().nslot()
    );
    Ok(0)
}

fn claim(mode: &str, version: LabelVersion) -> Res<ClaimClass> {
    Ok(match mode {
        "raw" => ClaimClass::None,
        "fsdax" => ClaimClass::Pfn,
        "devdax" => ClaimClass::Dax,
        "sector" if version == LabelVersion::V1_1 => ClaimClass::Btt,
        "sector" => ClaimClass::Btt2,
        "hugevm" => ClaimClass::Hugevm,
        m => {
            return Err(usage(format!(
                "unknown mode {m} (raw, fsdax, devdax, sector, hugevm)"
            )));
        }
    })
}

fn create(o: &Opts, path: &str) -> Res<u8> {
    let area = open_area(o, path, None)?;
    let mut w = Writer::new(storage(&area)?, Region::pmem(0, 0));
    let lsa = w.read().map_err(|e| Fail(1, e.to_string()))?;
    let version = lsa.version();
    let capacity = match (o.num("--capacity")?, area.image) {
        (Some(c), _) => c,
        (None, true) => area.offset,
        (None, false) => {
            return Err(usage(
                "--capacity is required unless --tail names a pmem image",
            ));
        }
    };
    let slot =
        u32::try_from(o.num("--qemu-slot")?.unwrap_or(0)).map_err(|_| usage("bad --qemu-slot"))?;
    let cookie = match o.num("--cookie")? {
        Some(c) => c,
        None if version == LabelVersion::V1_1 => cookie_v1_1(&mut [qemu_dimm(slot)]),
        None => cookie_v1_2(&mut [qemu_dimm(slot)]),
    };
    let mut region = Region::pmem(capacity, cookie);
    if let Some(a) = o.num("--align")? {
        region.align = a;
    }
    let size = o
        .num("--size")?
        .ok_or_else(|| usage("--size is required"))?;
    let uuid = match o.get("--uuid") {
        Some(u) => Uuid::parse_str(u).ok_or_else(|| usage(format!("bad uuid {u}")))?,
        None => random_uuid()?,
    };
    let name = Name::new(o.get("--name").unwrap_or(""))
        .ok_or_else(|| usage("name longer than 63 bytes"))?;
    let spec = NamespaceSpec {
        dpa: o.num("--dpa")?,
        claim: claim(o.get("--mode").unwrap_or("raw"), version)?,
        lbasize: o
            .num("--lbasize")?
            .unwrap_or(if version == LabelVersion::V1_1 {
                0
            } else {
                512
            }),
        ..NamespaceSpec::new(uuid, name, size)
    };
    let mut w = Writer::new(w.into_inner(), region);
    w.create(&spec)
        .map_err(|e| Fail(1, format!("create refused: {e}")))?;
    println!("{uuid}");
    Ok(0)
}

fn delete(o: &Opts, path: &str) -> Res<u8> {
    let area = open_area(o, path, None)?;
    let u = o.get("--uuid").ok_or_else(|| usage("--uuid is required"))?;
    let uuid = Uuid::parse_str(u).ok_or_else(|| usage(format!("bad uuid {u}")))?;
    let mut w = Writer::new(storage(&area)?, Region::pmem(0, 0));
    w.delete(uuid)
        .map_err(|e| Fail(1, format!("delete refused: {e}")))?;
    Ok(0)
}

/// A version-4 UUID from the OS's random source.
fn random_uuid() -> Res<Uuid> {
    use std::io::Read;
    let mut b = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| usage(format!("/dev/urandom: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(Uuid(b))
}
