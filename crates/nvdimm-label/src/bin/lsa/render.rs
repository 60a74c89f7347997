// SPDX-License-Identifier: Apache-2.0 OR MIT
//! What `lsa dump` prints: a human summary of a parsed area, or the JSON of
//! `ndctl read-labels -j` for one DIMM. Renderers only write; reading the area and
//! classifying namespace contents is the caller's.

use core::fmt::Write as _;
use std::io::{self, Write};

use nvdimm_label::layout::{NSINDEX_ALIGN, NamespaceIndex};
use nvdimm_label::{Content, Label, LabelVersion, Lsa, Namespace, Uuid, decode_label};
use serde::Serialize;
use zerocopy::FromBytes;

/// The human summary of `lsa` (an area of `len` bytes): indexes, namespaces with their
/// extents and, where `content` can tell, what each holds; regions; diagnostics.
pub(crate) fn summary(
    out: &mut dyn Write,
    lsa: &Lsa,
    len: usize,
    content: &dyn Fn(&Namespace) -> Option<Content>,
) -> io::Result<()> {
    let idx = lsa.index();
    let (major, minor) = (idx.header.major.get(), idx.header.minor.get());
    writeln!(
        out,
        "label area: {len} bytes, version {major}.{minor} ({:?}), {}-byte labels",
        lsa.version(),
        lsa.version().label_size()
    )?;
    writeln!(
        out,
        "current index: block {} seq {} nslot {} index size {} free slots {}",
        idx.block,
        idx.seq(),
        idx.nslot(),
        idx.geometry.index_size,
        lsa.free_slots()
    )?;
    match lsa.other_index() {
        Ok(other) => writeln!(
            out,
            "other index:   block {} seq {}",
            other.block,
            other.seq()
        )?,
        Err(e) => writeln!(out, "other index:   invalid: {e}")?,
    }
    writeln!(out, "namespaces: {}", lsa.namespaces().len())?;
    for ns in lsa.namespaces() {
        writeln!(
            out,
            "  {} name {:?} size {:#x} ({} MiB)",
            ns.uuid,
            ns.name.to_string(),
            ns.size(),
            ns.size() >> 20
        )?;
        for e in ns.extents.iter() {
            writeln!(out, "    dpa {:#x}+{:#x} slot {}", e.dpa, e.size, e.slot)?;
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
        writeln!(out, "{line}")?;
        if let Some(c) = content(&ns) {
            writeln!(out, "    content: {c:?}")?;
        }
    }
    for r in lsa.regions() {
        writeln!(
            out,
            "  region {} dpa {:#x}+{:#x} hpa {:#x} position {}/{} slot {}",
            r.uuid, r.dpa, r.rawsize, r.hpa, r.position, r.nlabel, r.slot
        )?;
    }
    for d in lsa.diagnostics() {
        writeln!(
            out,
            "{}: {d}",
            if d.is_damage() { "damage" } else { "note" }
        )?;
    }
    Ok(())
}

/// One DIMM in `ndctl read-labels -j` (ndctl `ndctl/dimm.c`): `dev`, `index`, `label`.
#[derive(Serialize)]
struct Dimm<'a> {
    dev: &'a str,
    index: Vec<Index>,
    label: Vec<LabelJson>,
}

/// An index block as ndctl prints it. ndctl's json-c prints `seq` and `nslot` as
/// `int` and `labelsize` as `int64`, so we keep those widths.
#[derive(Serialize)]
struct Index {
    signature: String,
    major: u16,
    minor: u16,
    labelsize: i64,
    seq: i32,
    nslot: i32,
}

/// A label as ndctl prints it: namespace labels without a `type` key, region labels
/// (CXL) with `"type":"region"` first.
#[derive(Serialize)]
#[serde(untagged)]
enum LabelJson {
    Namespace(NamespaceJson),
    Region(RegionJson),
}

/// The casts reproduce json-c's `int`/`int64` fields: u64 values of 2^63 and more print
/// negative, as ndctl prints them.
#[derive(Serialize)]
struct NamespaceJson {
    uuid: String,
    name: String,
    slot: i32,
    position: u16,
    nlabel: u16,
    flags: i32,
    isetcookie: i64,
    lbasize: i64,
    dpa: i64,
    rawsize: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    type_guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    abstraction_guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    abstraction_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region_uuid: Option<String>,
}

#[derive(Serialize)]
struct RegionJson {
    #[serde(rename = "type")]
    kind: &'static str,
    uuid: String,
    slot: i32,
    position: u16,
    nlabel: u16,
    dpa: i64,
    rawsize: i64,
    hpa: i64,
    ig: u32,
    align: u32,
}

/// The JSON of `ndctl read-labels -j` for one DIMM (an array of one object, as ndctl
/// prints it): `dev`, `index` (the blocks at 0 and the index size, decoded as found) and
/// `label`. By default `label` lists the active labels; with `all_slots`, every slot
/// whose `slot` field matches (ndctl's rule, ignoring the free bitmap and checksums).
/// GUIDs are printed as ndctl prints them: the raw bytes as a UUID.
pub(crate) fn ndctl_json(
    out: &mut dyn Write,
    bytes: &[u8],
    dev: &str,
    all_slots: bool,
) -> io::Result<()> {
    let lsa = Lsa::parse(bytes).ok();
    let version = lsa
        .as_ref()
        .map_or_else(|| guess_version(bytes), Lsa::version);
    let index_size = lsa
        .as_ref()
        .map_or(NSINDEX_ALIGN, |l| l.index().geometry.index_size);
    let index = (0..2u64)
        .filter_map(|block| {
            let at = usize::try_from(block * index_size).ok()?;
            let (h, _) = NamespaceIndex::read_from_prefix(bytes.get(at..)?).ok()?;
            let sig_end = h.sig.iter().take(15).position(|&b| b == 0).unwrap_or(15);
            Some(Index {
                signature: String::from_utf8_lossy(&h.sig[..sig_end]).into_owned(),
                major: h.major.get(),
                minor: h.minor.get(),
                labelsize: 1u64.checked_shl(7 + u32::from(h.labelsize)).unwrap_or(0) as i64,
                seq: h.seq.get() as i32,
                nslot: h.nslot.get() as i32,
            })
        })
        .collect();
    let labels: Vec<Label> = if all_slots {
        let base = usize::try_from(2 * index_size).unwrap_or(usize::MAX);
        bytes
            .get(base..)
            .unwrap_or(&[])
            .chunks_exact(version.label_size())
            .enumerate()
            .filter_map(|(slot, chunk)| {
                // ndctl's rule: the slot field matches; checksums are not looked at.
                let label = decode_label(chunk, version).ok()?;
                (usize::try_from(slot_of(&label)).ok()? == slot).then_some(label)
            })
            .collect()
    } else {
        lsa.as_ref()
            .map(|l| l.labels().to_vec())
            .unwrap_or_default()
    };
    let dimm = Dimm {
        dev,
        index,
        label: labels.iter().map(|l| label_json(l, version)).collect(),
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, JsonC::default());
    [dimm].serialize(&mut ser).map_err(io::Error::from)?;
    writeln!(out)
}

/// json-c's `JSON_C_TO_STRING_PRETTY` layout, which ndctl prints: serde_json's pretty
/// layout (two-space indent, one member per line) without the space after the colon.
#[derive(Default)]
struct JsonC(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for JsonC {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b":")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn slot_of(label: &Label) -> u32 {
    match label {
        Label::Namespace(n) => n.slot,
        Label::Region(r) => r.slot,
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

fn label_json(label: &Label, version: LabelVersion) -> LabelJson {
    match label {
        Label::Namespace(n) => {
            let name = &n.name.0[..63];
            let end = name.iter().position(|&b| b == 0).unwrap_or(63);
            let claim = n.claim.map(|c| Uuid(c.to_bytes(version)).to_string());
            let cxl = version == LabelVersion::Cxl;
            LabelJson::Namespace(NamespaceJson {
                uuid: n.uuid.to_string(),
                name: String::from_utf8_lossy(&name[..end]).into_owned(),
                slot: n.slot as i32,
                position: n.position,
                nlabel: n.nlabel,
                flags: n.flags as i32,
                isetcookie: n.isetcookie as i64,
                lbasize: n.lbasize as i64,
                dpa: n.dpa as i64,
                rawsize: n.rawsize as i64,
                type_guid: n.type_guid.map(|t| t.raw().to_string()),
                abstraction_guid: claim.clone().filter(|_| !cxl),
                abstraction_uuid: claim.filter(|_| cxl),
                region_uuid: n.region_uuid.map(|r| r.to_string()),
            })
        }
        Label::Region(r) => LabelJson::Region(RegionJson {
            kind: "region",
            uuid: r.uuid.to_string(),
            slot: r.slot as i32,
            position: r.position,
            nlabel: r.nlabel,
            dpa: r.dpa as i64,
            rawsize: r.rawsize as i64,
            hpa: r.hpa as i64,
            ig: r.ig,
            align: r.align,
        }),
    }
}
