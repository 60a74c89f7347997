// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Writes seed inputs for the cargo-fuzz targets, one directory per target under the
//! output directory given as the only argument, from real inputs:
//!
//! - `nvdimm_parse`: the label areas Linux 6.1 and ndctl 76.1 wrote
//!   (`crates/nvdimm-label/tests/data/*.lsa`), cut to 8 KiB with `nslot` set to what
//!   that size holds (the target's mode byte 1 reseals the checksums), and the first
//!   8 KiB of each namespace Linux created (`*.head`) with mode byte 2 (classify);
//! - `frame_table_pfn_info`: the fsdax/devdax info blocks Linux wrote in those namespaces
//!   and the ones `ndctl write-infoblock` wrote (`crates/frame-table/tests/data`);
//! - `frame_table_superblock`: management superblocks for the layouts the planner gives
//!   (as `crates/frame-table/tests/pmem_file.rs` writes them);
//! - `x2apic_msi`: MSI address/data pairs and IOAPIC entries as Linux programs them;
//! - `ioreq_slots`, `ioreq_buffered`: request pages whose slots and ring entries are the
//!   bytes Xen's C header produces (`peers/xen-abi`).
//!
//! The `x2apic_madt` seeds come from `crates/x2apic/tests/acpica.rs` (the entries `iasl -d`
//! accepted), the PT targets' from the hand-written files in `fuzz/seeds/`.

use std::path::{Path, PathBuf};
use std::{env, fs, io};

use frame_table::layout::{COMPAT_ALIGN_X86, SIZE_2M};
use frame_table::plan;
use frame_table::superblock::{self, Header, Range};
use frame_table::{CostModel, Namespace, PageSizes, Request, Strategy};
use ioreq::layout::{
    IOREQ_READ, IOREQ_TYPE_COPY, IOREQ_TYPE_PCI_CONFIG, IOREQ_TYPE_PIO, IOREQ_TYPE_TIMEOFFSET,
    IOREQ_WRITE, STATE_IOREQ_INPROCESS, STATE_IOREQ_READY, STATE_IORESP_READY,
};
use nvdimm_label::{Geometry, Lsa, fletcher64_skipping};
use xen_abi::{Fields, buf_ioreq_image, ioreq_image};

type Result<T> = core::result::Result<T, Box<dyn core::error::Error>>;

/// The output directory and the repository root (for the fixtures).
struct Out {
    dir: PathBuf,
    repo: PathBuf,
}

impl Out {
    fn write(&self, target: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
        let dir = self.dir.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(name), bytes)
    }

    fn fixture(&self, path: &str) -> io::Result<Vec<u8>> {
        fs::read(self.repo.join(path))
    }
}

/// Offset of `nslot` in a namespace index block (Linux `struct nd_namespace_index`).
const NSLOT_OFFSET: usize = 56;
/// Offset of the index block checksum (Linux `struct nd_namespace_index`).
const INDEX_CHECKSUM_OFFSET: usize = 64;
/// Offset of a label's checksum in a 256-byte v1.2 label (Linux `struct nd_namespace_label`).
const LABEL_CHECKSUM_OFFSET: usize = 248;
/// The size the label areas are cut to: the first slots, where Linux put its labels.
const CUT_AREA: usize = 8192;

/// Each Linux-written label area cut to [`CUT_AREA`] bytes, its index blocks' `nslot`
/// set for that size and every checksum recomputed; it must still parse.
fn nvdimm(out: &Out) -> Result<()> {
    const DATA: &str = "crates/nvdimm-label/tests/data";
    for (name, label_size) in [("v11", 128), ("v12", 256), ("auto12", 256)] {
        let lsa = out.fixture(&format!("{DATA}/{name}.lsa"))?;
        let mut area = lsa.get(..CUT_AREA).ok_or("short label area")?.to_vec();
        let geometry = Geometry::new(CUT_AREA as u64, label_size).ok_or("geometry")?;
        for block in [0, 256] {
            let at = block + NSLOT_OFFSET;
            area[at..at + 4].copy_from_slice(&geometry.nslot.to_le_bytes());
        }
        // Stale checksums: the target's mode byte 1 reseals them.
        out.write(
            "nvdimm_parse",
            &format!("{name}-8k-reseal"),
            &[&[1u8][..], &area].concat(),
        )?;
        for (i, chunk) in area.chunks_exact_mut(256).enumerate() {
            let at = if i < 2 {
                INDEX_CHECKSUM_OFFSET
            } else if label_size == 256 {
                LABEL_CHECKSUM_OFFSET
            } else {
                continue;
            };
            let sum = fletcher64_skipping(chunk, at);
            chunk[at..at + 8].copy_from_slice(&sum.to_le_bytes());
        }
        let parsed = Lsa::parse(&area).map_err(|e| format!("{name} cut to 8 KiB: {e}"))?;
        if parsed.namespaces().is_empty() {
            return Err(format!("{name} cut to 8 KiB lost its namespaces").into());
        }
        out.write(
            "nvdimm_parse",
            &format!("{name}-8k"),
            &[&[0u8][..], &area].concat(),
        )?;
    }
    for head in [
        "fsdax-v11",
        "fsdax-v12",
        "devdax-v11",
        "devdax-v12",
        "sector-v11",
        "sector-v12",
        "auto12-unnamed",
    ] {
        let bytes = out.fixture(&format!("{DATA}/{head}.head"))?;
        out.write(
            "nvdimm_parse",
            &format!("{head}-classify"),
            &[&[2u8][..], &bytes].concat(),
        )?;
        if head.starts_with("fsdax") || head.starts_with("devdax") || head.starts_with("auto") {
            let block = bytes.get(4096..8192).ok_or("short head")?;
            out.write("frame_table_pfn_info", head, block)?;
        }
    }
    for ndctl in ["ndctl-1T-16M-fsdax-dev", "ndctl-16G-1G-devdax-mem"] {
        let block = out.fixture(&format!("crates/frame-table/tests/data/{ndctl}.bin"))?;
        out.write("frame_table_pfn_info", ndctl, &block)?;
    }
    Ok(())
}

/// Management superblocks for the planner's layouts of one management namespace and
/// one to three data namespaces.
fn superblocks(out: &Out) -> Result<()> {
    const MIB: u64 = 1 << 20;
    for data_namespaces in 1..=3u64 {
        let mut ns = vec![Namespace {
            base: 0,
            size: 16 * MIB,
            align: SIZE_2M,
        }];
        for i in 0..data_namespaces {
            ns.push(Namespace {
                base: (16 + 256 * i) * MIB,
                size: 256 * MIB,
                align: SIZE_2M,
            });
        }
        let req = Request {
            namespaces: &ns,
            cost: CostModel::XEN,
            dram_budget: 0,
            page_sizes: PageSizes::all(),
            compat_align: COMPAT_ALIGN_X86,
            management: Some(0),
        };
        let mut ranges = Vec::new();
        for (layout, n) in plan::layouts(req, Strategy::ManagementSuperblock)?.zip(&ns) {
            let layout = layout?;
            if let Some(table) = layout.table {
                ranges.push(Range {
                    spa: n.base + layout.data_offset,
                    pages: layout.data_pages,
                    table_offset: table.offset,
                    initialised: ranges.len() % 2 == 0,
                });
            }
        }
        let header = Header {
            uuid: [0x42; 16],
            version_minor: 0,
            seq: data_namespaces,
            namespace_size: ns[0].size,
            table_start: plan::first_table_offset(u64::try_from(ranges.len())?)?,
            cost: CostModel::XEN,
        };
        let mut buf = vec![0u8; superblock::buffer_len(ranges.len())?];
        superblock::emit(&header, &ranges, &mut buf)?;
        out.write(
            "frame_table_superblock",
            &format!("mgmt-{data_namespaces}"),
            &buf,
        )?;
    }
    Ok(())
}

/// MSI address/data pairs and IOAPIC redirection entries.
fn msi(out: &Out) -> Result<()> {
    // (address, data, extended destination ID offered). Linux `__irq_msi_compose_msg`
    // (arch/x86/kernel/apic/apic.c): 0xFEE << 20 | dest[7:0] << 12 | dest[14:8] << 5
    // with the extended ID; data = vector, fixed delivery, edge. IOAPIC entries as
    // Linux `mp_setup_entry` writes them: dest << 56 | mask | level | vector.
    let msis: [(u64, u32, bool); 8] = [
        (0xFEE0_0000, 0x0000_0022, false),
        (0xFEE0_1000, 0x0000_0041, false),
        (0xFEEF_F00C, 0x0000_0100 | 0xEC, false),
        (0xFEE3_4000 | 0x12 << 5, 0x0000_0031, true),
        (0xFEE0_0010 | 0x5 << 5, 0, false),
        (0x0100_0000_0000_0030, 0, false),
        (0x0000_0000_0001_A030, 0, false),
        (0xFF00_0000_0000_80EF, 0, true),
    ];
    for (i, (addr, data, ext)) in msis.into_iter().enumerate() {
        let bytes = [
            &addr.to_le_bytes()[..],
            &data.to_le_bytes(),
            &[u8::from(ext)],
        ]
        .concat();
        out.write("x2apic_msi", &format!("linux-{i}"), &bytes)?;
    }
    Ok(())
}

fn ioreq(out: &Out) -> Result<()> {
    let request = |state, kind, dir, addr, data, count, size| Fields {
        addr,
        data,
        count,
        size,
        port: 7,
        state,
        data_is_ptr: 0,
        dir,
        df: 0,
        kind,
    };
    // One page of 128 slots: a serial port write, an MMIO read, a rep string copy through
    // a pointer, a PCI config read, one in process and one answered.
    let mut page = vec![0u8; 4096];
    let slots = [
        request(
            STATE_IOREQ_READY,
            IOREQ_TYPE_PIO,
            IOREQ_WRITE,
            0x3F8,
            0x41,
            1,
            1,
        ),
        request(
            STATE_IOREQ_READY,
            IOREQ_TYPE_COPY,
            IOREQ_READ,
            0xFED0_00F0,
            0,
            1,
            8,
        ),
        Fields {
            data_is_ptr: 1,
            df: 1,
            ..request(
                STATE_IOREQ_READY,
                IOREQ_TYPE_COPY,
                IOREQ_WRITE,
                0xA_0000,
                0x1_2000,
                16,
                4,
            )
        },
        request(
            STATE_IOREQ_READY,
            IOREQ_TYPE_PCI_CONFIG,
            IOREQ_READ,
            0x18 << 32 | 0x10,
            0,
            1,
            4,
        ),
        request(
            STATE_IOREQ_INPROCESS,
            IOREQ_TYPE_PIO,
            IOREQ_READ,
            0x64,
            0,
            1,
            1,
        ),
        request(
            STATE_IORESP_READY,
            IOREQ_TYPE_PIO,
            IOREQ_READ,
            0x60,
            0xFA,
            1,
            1,
        ),
    ];
    for (i, fields) in slots.iter().enumerate() {
        page[i * 32..(i + 1) * 32].copy_from_slice(&ioreq_image(fields));
    }
    out.write("ioreq_slots", "xen-mixed", &page)?;
    page[..32].copy_from_slice(&ioreq_image(&request(
        STATE_IOREQ_READY,
        IOREQ_TYPE_PIO,
        IOREQ_WRITE,
        0xCF8,
        0x8000_0810,
        1,
        4,
    )));
    out.write("ioreq_slots", "xen-cf8", &page[..64])?;

    // Buffered pages: read and write pointers, then 8-byte entries from offset 8. VGA
    // writes (Xen's stdvga path), a qword in two entries and an RTC time offset.
    let entries = [
        buf_ioreq_image(IOREQ_TYPE_COPY, 0, 0, 0xA_0000, 0x12),
        buf_ioreq_image(IOREQ_TYPE_COPY, 0, 1, 0xA_0002, 0x3456),
        buf_ioreq_image(IOREQ_TYPE_COPY, 0, 3, 0xA_0008, 0x89AB_CDEF),
        buf_ioreq_image(IOREQ_TYPE_COPY, 0, 3, 0xA_0008, 0x0123_4567),
        buf_ioreq_image(IOREQ_TYPE_TIMEOFFSET, 0, 2, 0, 3600),
    ];
    for (name, read, slot0) in [("from-zero", 0u32, 0usize), ("wrapping", 509, 509)] {
        let mut page = vec![0u8; 4096];
        let n = u32::try_from(entries.len())?;
        page[..4].copy_from_slice(&read.to_le_bytes());
        page[4..8].copy_from_slice(&(read + n).to_le_bytes());
        for (i, e) in entries.iter().enumerate() {
            let at = 8 + ((slot0 + i) % 511) * 8;
            page[at..at + 8].copy_from_slice(&e.to_le_bytes());
        }
        out.write("ioreq_buffered", name, &page)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let dir = env::args_os().nth(1).ok_or("usage: fuzz-seeds OUT_DIR")?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Out {
        dir: PathBuf::from(dir),
        repo,
    };
    nvdimm(&out)?;
    superblocks(&out)?;
    msi(&out)?;
    ioreq(&out)?;
    Ok(())
}
