// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `lsa`: inspect and edit an NVDIMM label storage area in a file or a pmem image.
//!
//! `lsa help` (or `lsa COMMAND --help`) describes the commands; `lsa completions SHELL`
//! prints a completion script. Arguments are parsed by clap, the JSON written by
//! serde_json; the renderers are in [`render`].
//!
//! Exit status: 0 success (for `check`: no damage), 1 damage or a refused update,
//! 2 usage or I/O error. A closed standard output (`lsa dump IMG | head`) ends the tool
//! quietly with status 0.

mod render;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use nvdimm_label::cookie::{cookie_v1_1, cookie_v1_2, qemu_dimm};
use nvdimm_label::{
    CLASSIFY_BYTES, ClaimClass, Content, FileStorage, InitStyle, LabelVersion, Lsa, Name,
    NamespaceSpec, Region, Uuid, Writer, classify, init, read_all,
};

const AFTER_HELP: &str = "\
AREA: --offset N [--size-area N] (default: the whole file), or --tail N: the last N bytes \
of a QEMU NVDIMM backend file (-device nvdimm,label-size=N), whose DPA 0 is file offset 0. \
Sizes accept K, M, G, T suffixes (powers of 1024) and 0x prefixes.

Exit status: 0 success, 1 damage or a refused update, 2 usage or I/O error.";

/// Inspect and edit an NVDIMM label storage area (LSA) in a file or a pmem image.
#[derive(Parser)]
#[command(name = "lsa", version, after_help = AFTER_HELP, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Human summary (index, namespaces, content of each namespace for pmem images,
    /// diagnostics), or JSON shaped like `ndctl read-labels -j` ({dev, index, label}).
    ///
    /// The JSON lists active labels; --all-slots lists every slot whose slot field
    /// matches, as ndctl does (ignoring the free bitmap and checksums). Unlike ndctl,
    /// which always reads index blocks at 0 and 256 and slots from 512, the offsets come
    /// from the area's index size (they differ only for areas of 256 KiB and more).
    Dump {
        #[command(flatten)]
        area: AreaArgs,
        /// Print ndctl's read-labels JSON instead of the summary.
        #[arg(long)]
        json: bool,
        /// With --json: every slot whose slot field matches, not only active labels.
        #[arg(long)]
        all_slots: bool,
        /// With --json: the `dev` name to print (default: FILE).
        #[arg(long, value_name = "NAME")]
        dev: Option<String>,
    },
    /// Every diagnostic; exit status 1 if any means damage (or no index is valid).
    Check {
        #[command(flatten)]
        area: AreaArgs,
    },
    /// Write two empty index blocks (index 0 seq 3, index 1 seq 2), like
    /// `ndctl init-labels`.
    Init {
        #[command(flatten)]
        area: AreaArgs,
        /// Label format.
        #[arg(long, value_enum, default_value = "1.1")]
        label_version: VersionArg,
        /// Leave the free bits past nslot set, as ndctl does.
        #[arg(long)]
        ndctl: bool,
        /// Extend (or create) FILE to SIZE first.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        create: Option<u64>,
    },
    /// Add a single-DIMM namespace (label, then index: crash-safe); prints its UUID.
    ///
    /// The DPA window is [0, --capacity), or the pmem part of the image with --tail. The
    /// interleave-set cookie defaults to that of QEMU's emulated NVDIMM in slot
    /// --qemu-slot (0). --mode only sets the claim class; it writes no info block.
    Create(CreateArgs),
    /// Remove a namespace (one index write).
    Delete {
        #[command(flatten)]
        area: AreaArgs,
        /// The namespace's UUID.
        #[arg(long, value_parser = parse_uuid)]
        uuid: Uuid,
    },
    /// Print a completion script for SHELL.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Where the label storage area is.
#[derive(Args)]
struct AreaArgs {
    /// The label area file, or a pmem image (with --tail).
    file: PathBuf,
    /// Offset of the area in FILE.
    #[arg(long, value_parser = parse_size, conflicts_with = "tail")]
    offset: Option<u64>,
    /// Size of the area (default: to the end of FILE).
    #[arg(long, value_parser = parse_size, conflicts_with = "tail")]
    size_area: Option<u64>,
    /// The last N bytes of a pmem image, as QEMU keeps them (DPA 0 is file offset 0).
    #[arg(long, value_name = "N", value_parser = parse_size)]
    tail: Option<u64>,
}

/// `lsa create`'s arguments.
#[derive(Args)]
struct CreateArgs {
    #[command(flatten)]
    area: AreaArgs,
    /// Namespace size.
    #[arg(long, value_parser = parse_size)]
    size: u64,
    /// Namespace name (at most 63 bytes).
    #[arg(long, default_value = "")]
    name: String,
    /// Namespace UUID (default: a random version-4 UUID).
    #[arg(long, value_parser = parse_uuid)]
    uuid: Option<Uuid>,
    /// Fixed first DPA (default: the lowest free aligned range).
    #[arg(long, value_parser = parse_size)]
    dpa: Option<u64>,
    /// Claim class recorded in the label.
    #[arg(long, value_enum, default_value = "raw")]
    mode: ModeArg,
    /// End of the DPA window (required unless --tail names a pmem image).
    #[arg(long, value_parser = parse_size)]
    capacity: Option<u64>,
    /// Alignment of namespace DPA and size (default: the region's).
    #[arg(long, value_parser = parse_size)]
    align: Option<u64>,
    /// Interleave-set cookie.
    #[arg(long, value_parser = parse_size, conflicts_with = "qemu_slot")]
    cookie: Option<u64>,
    /// QEMU NVDIMM slot whose cookie to use.
    #[arg(long, value_name = "N", default_value_t = 0)]
    qemu_slot: u32,
    /// Logical block size (512 is what Linux writes for pmem namespaces).
    #[arg(long, value_parser = parse_size, default_value = "512")]
    lbasize: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum VersionArg {
    #[value(name = "1.1", alias = "v1.1")]
    V1_1,
    #[value(name = "1.2", alias = "v1.2")]
    V1_2,
    #[value(name = "cxl", alias = "2.1")]
    Cxl,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Raw,
    Fsdax,
    Devdax,
    Sector,
    Hugevm,
}

/// A failure: a message with its exit status, or standard output gone.
enum Fail {
    Status(u8, String),
    Stdout(io::Error),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Stdout(e)
    }
}

fn usage(msg: impl Into<String>) -> Fail {
    Fail::Status(2, msg.into())
}

fn refused(msg: impl Into<String>) -> Fail {
    Fail::Status(1, msg.into())
}

type Res<T> = Result<T, Fail>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match run(cli.command, &mut out).and_then(|code| Ok(out.flush().map(|()| code)?)) {
        Ok(code) => ExitCode::from(code),
        Err(Fail::Status(code, msg)) => {
            eprintln!("lsa: {msg}");
            ExitCode::from(code)
        }
        Err(Fail::Stdout(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Fail::Stdout(e)) => {
            eprintln!("lsa: standard output: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command, out: &mut dyn Write) -> Res<u8> {
    match command {
        Command::Dump {
            area,
            json,
            all_slots,
            dev,
        } => dump(out, &area, json, all_slots, dev.as_deref()),
        Command::Check { area } => check(out, &area),
        Command::Init {
            area,
            label_version,
            ndctl,
            create,
        } => init_cmd(out, &area, label_version, ndctl, create),
        Command::Create(args) => create_cmd(out, &args),
        Command::Delete { area, uuid } => {
            let area = open_area(&area, None)?;
            Writer::new(storage(&area)?, Region::pmem(0, 0))
                .delete(uuid)
                .map_err(|e| refused(format!("delete refused: {e}")))?;
            Ok(0)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "lsa", out);
            Ok(0)
        }
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("bad size {s:?} (K, M, G, T suffixes or a 0x prefix)");
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).map_err(|_| bad());
    }
    let (digits, shift) = match s.char_indices().last().ok_or_else(bad)? {
        (i, 'k' | 'K') => (&s[..i], 10),
        (i, 'm' | 'M') => (&s[..i], 20),
        (i, 'g' | 'G') => (&s[..i], 30),
        (i, 't' | 'T') => (&s[..i], 40),
        _ => (s, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(bad)
}

fn parse_uuid(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s).ok_or_else(|| format!("bad uuid {s:?}"))
}

/// Where the area is in the file.
struct Area {
    file: File,
    offset: u64,
    size: u64,
    /// `--tail`: the file is a pmem image with DPA 0 at offset 0.
    image: bool,
}

fn open_area(a: &AreaArgs, create: Option<u64>) -> Res<Area> {
    let path = a.file.display();
    let file = File::options()
        .read(true)
        .write(true)
        .create(create.is_some())
        .truncate(false)
        .open(&a.file)
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
    let (offset, size, image) = match a.tail {
        Some(tail) => {
            let offset = len
                .checked_sub(tail)
                .ok_or_else(|| usage(format!("{path} is shorter than --tail {tail}")))?;
            (offset, tail, true)
        }
        None => {
            let offset = a.offset.unwrap_or(0);
            let size = a.size_area.unwrap_or_else(|| len.saturating_sub(offset));
            if offset.checked_add(size).is_none_or(|end| end > len) {
                return Err(usage(format!(
                    "area {offset:#x}+{size:#x} runs past the end of {path} ({len:#x} bytes)"
                )));
            }
            (offset, size, false)
        }
    };
    Ok(Area {
        file,
        offset,
        size,
        image,
    })
}

fn storage(area: &Area) -> Res<FileStorage> {
    let file = area.file.try_clone().map_err(|e| usage(e.to_string()))?;
    Ok(FileStorage::new(file, area.offset, area.size))
}

fn read_area(area: &Area) -> Res<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(area.size).map_err(|_| usage("area too large"))?];
    read_all(&mut storage(area)?, 0, &mut bytes).map_err(|e| usage(e.to_string()))?;
    Ok(bytes)
}

fn parse_lsa(bytes: &[u8]) -> Res<Lsa> {
    Lsa::parse(bytes).map_err(|e| refused(format!("no usable label area: {e}")))
}

fn check(out: &mut dyn Write, a: &AreaArgs) -> Res<u8> {
    let bytes = read_area(&open_area(a, None)?)?;
    let lsa = parse_lsa(&bytes)?;
    for d in lsa.diagnostics() {
        let kind = if d.is_damage() { "damage" } else { "note" };
        writeln!(out, "{kind}: {d}")?;
    }
    let damaged = lsa.is_damaged();
    writeln!(
        out,
        "{}: {:?} labels, current index {} (seq {}), {} active labels, {} namespaces{}",
        a.file.display(),
        lsa.version(),
        lsa.index().block,
        lsa.index().seq(),
        lsa.labels().len(),
        lsa.namespaces().len(),
        if damaged { ", DAMAGED" } else { ", ok" }
    )?;
    Ok(u8::from(damaged))
}

/// What the namespace at `dpa` of a pmem image holds (nothing for a bare label area).
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

fn dump(
    out: &mut dyn Write,
    a: &AreaArgs,
    json: bool,
    all_slots: bool,
    dev: Option<&str>,
) -> Res<u8> {
    let area = open_area(a, None)?;
    let bytes = read_area(&area)?;
    if json {
        let path = a.file.to_string_lossy();
        render::ndctl_json(out, &bytes, dev.unwrap_or(&path), all_slots)?;
        return Ok(0);
    }
    let lsa = parse_lsa(&bytes)?;
    let version = lsa.version();
    render::summary(out, &lsa, bytes.len(), &|ns| {
        content(&area, ns.uuid, ns.claim, ns.extents.first().dpa, version)
    })?;
    Ok(0)
}

fn init_cmd(
    out: &mut dyn Write,
    a: &AreaArgs,
    version: VersionArg,
    ndctl: bool,
    create: Option<u64>,
) -> Res<u8> {
    let version = match version {
        VersionArg::V1_1 => LabelVersion::V1_1,
        VersionArg::V1_2 => LabelVersion::V1_2,
        VersionArg::Cxl => LabelVersion::Cxl,
    };
    let area = open_area(a, create)?;
    let style = if ndctl {
        InitStyle::Ndctl
    } else {
        InitStyle::Kernel
    };
    init(&mut storage(&area)?, version, style).map_err(|e| refused(e.to_string()))?;
    let lsa = Writer::new(storage(&area)?, Region::pmem(0, 0))
        .read()
        .map_err(|e| refused(e.to_string()))?;
    writeln!(
        out,
        "initialized {}: {:?}, {} slots",
        a.file.display(),
        version,
        lsa.index().nslot()
    )?;
    Ok(0)
}

fn claim(mode: ModeArg, version: LabelVersion) -> ClaimClass {
    match mode {
        ModeArg::Raw => ClaimClass::None,
        ModeArg::Fsdax => ClaimClass::Pfn,
        ModeArg::Devdax => ClaimClass::Dax,
        ModeArg::Sector if version == LabelVersion::V1_1 => ClaimClass::Btt,
        ModeArg::Sector => ClaimClass::Btt2,
        ModeArg::Hugevm => ClaimClass::Hugevm,
    }
}

fn create_cmd(out: &mut dyn Write, c: &CreateArgs) -> Res<u8> {
    let area = &open_area(&c.area, None)?;
    let name = Name::new(&c.name).ok_or_else(|| usage("name longer than 63 bytes"))?;
    let uuid = match c.uuid {
        Some(u) => u,
        None => random_uuid()?,
    };
    let mut w = Writer::new(storage(area)?, Region::pmem(0, 0));
    let version = w.read().map_err(|e| refused(e.to_string()))?.version();
    let capacity = match (c.capacity, area.image) {
        (Some(capacity), _) => capacity,
        (None, true) => area.offset,
        (None, false) => {
            return Err(usage(
                "--capacity is required unless --tail names a pmem image",
            ));
        }
    };
    let cookie = match c.cookie {
        Some(cookie) => cookie,
        None if version == LabelVersion::V1_1 => cookie_v1_1(&mut [qemu_dimm(c.qemu_slot)]),
        None => cookie_v1_2(&mut [qemu_dimm(c.qemu_slot)]),
    };
    let mut region = Region::pmem(capacity, cookie);
    if let Some(align) = c.align {
        region.align = align;
    }
    let spec = NamespaceSpec {
        dpa: c.dpa,
        claim: claim(c.mode, version),
        lbasize: c.lbasize,
        ..NamespaceSpec::new(uuid, name, c.size)
    };
    let mut w = Writer::new(w.into_inner(), region);
    w.create(&spec)
        .map_err(|e| refused(format!("create refused: {e}")))?;
    writeln!(out, "{uuid}")?;
    Ok(0)
}

/// A version-4 UUID from the OS's random source.
fn random_uuid() -> Res<Uuid> {
    use std::io::Read;
    let mut b = [0u8; 16];
    File::open(Path::new("/dev/urandom"))
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| usage(format!("/dev/urandom: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(Uuid(b))
}
