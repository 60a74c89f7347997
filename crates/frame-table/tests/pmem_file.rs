// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Carrying plans out on emulated pmem: a `memmap2`-mapped temporary file. Writes the info
//! block or the management superblock, builds the frame table where the plan puts it,
//! unmaps, maps again and reads everything back.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use frame_table::layout::{COMPAT_ALIGN_X86, SIZE_2M};
use frame_table::plan;
use frame_table::superblock::{self, Header, Range};
use frame_table::{
    Build, CostModel, InitParams, Medium, Namespace, NamespaceGeometry, PageSizes, Personality,
    PfnInfo, PfnMode, Request, Strategy, Superblock,
};
use memmap2::{Mmap, MmapMut};
use std::fs::File;

const SIZE: u64 = 64 << 20;

fn map(file: &File) -> MmapMut {
    // SAFETY:
    // - the file is a private temporary file that no other process or mapping changes
    //   while this map exists;
    // - the map is dropped before the file is mapped again.
    unsafe { MmapMut::map_mut(file) }.unwrap()
}

fn map_ro(file: &File) -> Mmap {
    // SAFETY: as in `map`; no writable map of the file exists at this point.
    unsafe { Mmap::map(file) }.unwrap()
}

fn pmem_file() -> File {
    let file = tempfile::tempfile().unwrap();
    file.set_len(SIZE).unwrap();
    file
}

#[test]
fn per_namespace_linux_compatible() {
    let file = pmem_file();
    let ns = [Namespace {
        base: 0,
        size: SIZE,
        align: SIZE_2M,
    }];
    let req = Request {
        namespaces: &ns,
        cost: CostModel::LINUX,
        dram_budget: 0,
        page_sizes: PageSizes::all(),
        compat_align: COMPAT_ALIGN_X86,
        management: None,
    };
    let layout = plan::layouts(req, Strategy::PerNamespace)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let geometry = NamespaceGeometry {
        start: 0,
        size: SIZE,
        uuid: [0; 16],
        compat_align: COMPAT_ALIGN_X86,
    };
    let info = PfnInfo::init(&InitParams {
        personality: Personality::Fsdax,
        mode: PfnMode::Pmem,
        uuid: [3; 16],
        namespace: geometry,
        align: SIZE_2M as u32,
    })
    .unwrap();
    assert_eq!(
        (info.dataoff, info.npfns),
        (layout.data_offset, layout.data_pages)
    );
    let table = layout.table.unwrap();
    let build = Build {
        descriptor_size: 64,
        first_mfn: layout.data_offset / 4096,
        pages: layout.data_pages,
    };
    {
        let mut m = map(&file);
        info.emit_namespace(&mut m).unwrap();
        let at = table.offset as usize;
        let mut steps = 0;
        build.run(&mut m[at..], &mut |_| steps += 1).unwrap();
        assert_eq!(steps, 1);
        m.flush().unwrap();
    }
    let m = map_ro(&file);
    let read = PfnInfo::parse_namespace(&m).unwrap();
    assert_eq!(read, info);
    read.validate(&geometry).unwrap();
    build.verify(&m[table.offset as usize..]).unwrap();
    assert!(
        m[..4096].iter().all(|b| *b == 0),
        "the first 4 KiB is left alone"
    );
}

#[test]
fn management_superblock_on_file() {
    let file = pmem_file();
    let ns = [
        Namespace {
            base: 0,
            size: 16 << 20,
            align: SIZE_2M,
        },
        Namespace {
            base: 16 << 20,
            size: SIZE - (16 << 20),
            align: SIZE_2M,
        },
    ];
    let req = Request {
        namespaces: &ns,
        cost: CostModel::XEN,
        dram_budget: 0,
        page_sizes: PageSizes::all(),
        compat_align: COMPAT_ALIGN_X86,
        management: Some(0),
    };
    let layouts: Vec<_> = plan::layouts(req, Strategy::ManagementSuperblock)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let data = layouts[1];
    let table = data.table.unwrap();
    assert_eq!(table.medium, Medium::Namespace(0));
    let header = Header {
        uuid: [9; 16],
        version_minor: 0,
        seq: 1,
        namespace_size: ns[0].size,
        table_start: plan::first_table_offset(1).unwrap(),
        cost: CostModel::XEN,
    };
    let range = Range {
        spa: ns[1].base + data.data_offset,
        pages: data.data_pages,
        table_offset: table.offset,
        initialised: true,
    };
    let build = Build {
        descriptor_size: 32,
        first_mfn: range.spa / 4096,
        pages: range.pages,
    };
    {
        let mut m = map(&file);
        superblock::emit(&header, &[range], &mut m[4096..]).unwrap();
        build
            .run(&mut m[table.offset as usize..], &mut |_| {})
            .unwrap();
        m.flush().unwrap();
    }
    let m = map_ro(&file);
    let sb = Superblock::parse(&m[4096..]).unwrap();
    assert_eq!(*sb.header(), header);
    let ranges: Vec<_> = sb.ranges().collect();
    assert_eq!(ranges, [range]);
    build.verify(&m[ranges[0].table_offset as usize..]).unwrap();
    assert!(
        m[16 << 20..].iter().all(|b| *b == 0),
        "the data namespace is untouched"
    );
}
