// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Reading rules: one bad index copy tolerated, newest of two, ndctl quirks reported as
//! diagnostics, inactive labels, duplicates; writer errors leave the area untouched;
//! the storage back ends.

use nvdimm_label::{
    ClaimClass, Diagnostic, Error, IndexFault, InitStyle, LabelFault, LabelVersion, LabelWarning,
    Lsa, MaxTransfer, Name, NamespaceSpec, Region, Storage, Uuid, Writer, fletcher64_skipping,
    init,
};

const MIB: u64 = 1 << 20;
const SIZE: usize = 128 << 10;
const PMEM: usize = 1 << 20;

type FaultCase = (usize, &'static [u8], fn(IndexFault) -> bool);

fn area(version: LabelVersion, style: InitStyle) -> Vec<u8> {
    let mut a = vec![0u8; SIZE];
    init(&mut a, version, style).expect("init");
    a
}

fn with_namespaces(version: LabelVersion, n: u8) -> Vec<u8> {
    let mut w = Writer::new(area(version, InitStyle::Kernel), Region::pmem(64 * MIB, 7));
    for i in 1..=n {
        let name = Name::new(&format!("ns{i}")).expect("short");
        w.create(&NamespaceSpec::new(Uuid([i; 16]), name, 2 * MIB))
            .expect("create");
    }
    w.into_inner()
}

fn reseal_index(a: &mut [u8], block: usize) {
    let s = block * 256;
    let sum = fletcher64_skipping(&a[s..s + 256], 64);
    a[s + 64..s + 72].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn uninitialized_area_is_an_error() {
    let err = Lsa::parse(&vec![0u8; SIZE]).expect_err("zero area");
    assert!(matches!(
        err,
        Error::NoValidIndex(e) if e.block0 == IndexFault::Signature && e.block1 == IndexFault::Signature
    ));
    assert!(Lsa::parse(&[0u8; 100]).is_err());
}

#[test]
fn namespaces_are_read_back() {
    for version in [LabelVersion::V1_1, LabelVersion::V1_2, LabelVersion::Cxl] {
        let a = with_namespaces(version, 3);
        let lsa = Lsa::parse(&a).expect("valid");
        assert_eq!(lsa.version(), version);
        assert_eq!(lsa.namespaces().len(), 3);
        let ns = lsa.namespaces().get(1).expect("a second namespace");
        assert_eq!(ns.uuid, Uuid([2; 16]));
        assert_eq!(ns.name.as_str(), Some("ns2"));
        assert_eq!(ns.size(), 2 * MIB);
        assert_eq!(ns.extents.first().dpa, 2 * MIB);
        assert_eq!((ns.nlabel, ns.position), (1, 0));
        match version {
            LabelVersion::V1_1 => assert_eq!((ns.isetcookie, ns.claim), (7, None)),
            LabelVersion::V1_2 => {
                assert_eq!((ns.isetcookie, ns.claim), (7, Some(ClaimClass::None)))
            }
            LabelVersion::Cxl => assert_eq!((ns.isetcookie, ns.region_uuid), (0, Some(Uuid::NIL))),
        }
        assert!(lsa.diagnostics().is_empty(), "{:?}", lsa.diagnostics());
        // Three creates: seq 3 (init) -> 1 -> 2 -> 3, current block alternates.
        assert_eq!(lsa.index().seq(), 3);
        assert_eq!(lsa.index().block, 1);
    }
}

#[test]
fn one_bad_copy_is_tolerated_and_reported() {
    let mut a = with_namespaces(LabelVersion::V1_2, 2);
    let current = Lsa::parse(&a).expect("valid");
    let cur = usize::from(current.index().block);
    // Damage the current block: the older one takes over (one namespace fewer).
    a[cur * 256 + 100] ^= 0x40;
    let lsa = Lsa::parse(&a).expect("other copy");
    assert_eq!(usize::from(lsa.index().block), 1 - cur);
    assert_eq!(lsa.namespaces().len(), 1);
    assert!(matches!(
        lsa.diagnostics()[0],
        Diagnostic::IndexInvalid { block, fault: IndexFault::Checksum { .. } } if usize::from(block) == cur
    ));
    assert!(lsa.is_damaged());
}

#[test]
fn index_rules_in_kernel_order() {
    let base = area(LabelVersion::V1_2, InitStyle::Kernel);
    let cases: [FaultCase; 6] = [
        (20, &[4, 0, 0, 0], |f| matches!(f, IndexFault::Sequence(4))),
        (24, &[1], |f| {
            matches!(
                f,
                IndexFault::MyOff {
                    found: 1,
                    expected: 0
                }
            )
        }),
        (40, &[0, 2], |f| {
            matches!(f, IndexFault::OtherOff { found: 0x200, .. })
        }),
        (48, &[0, 3], |f| {
            matches!(
                f,
                IndexFault::LabelOff {
                    found: 0x300,
                    expected: 0x200
                }
            )
        }),
        (32, &[0, 2], |f| {
            matches!(f, IndexFault::MySize { found: 0x200, .. })
        }),
        (56, &[0xff, 1], |f| {
            matches!(f, IndexFault::Nslot { nslot: 511, .. })
        }),
    ];
    for (offset, bytes, expect) in cases {
        let mut a = base.clone();
        a[offset..offset + bytes.len()].copy_from_slice(bytes);
        reseal_index(&mut a, 0);
        let lsa = Lsa::parse(&a).expect("block 1 still valid");
        assert_eq!(lsa.index().block, 1);
        let Diagnostic::IndexInvalid { block: 0, fault } = lsa.diagnostics()[0] else {
            panic!("{:?}", lsa.diagnostics())
        };
        assert!(expect(fault), "offset {offset}: {fault:?}");
    }
}

#[test]
fn newest_of_two_wins_and_ties_go_to_block_1() {
    let base = area(LabelVersion::V1_1, InitStyle::Kernel);
    for (s0, s1, current) in [(1u8, 2u8, 1u8), (2, 1, 0), (3, 1, 1), (1, 3, 0), (2, 2, 1)] {
        let mut a = base.clone();
        a[20] = s0;
        a[256 + 20] = s1;
        reseal_index(&mut a, 0);
        reseal_index(&mut a, 1);
        assert_eq!(
            Lsa::parse(&a).expect("valid").index().block,
            current,
            "{s0} {s1}"
        );
    }
}

#[test]
fn ndctl_tail_bits_are_a_harmless_diagnostic() {
    for (version, count) in [(LabelVersion::V1_1, 4), (LabelVersion::V1_2, 2)] {
        let lsa = Lsa::parse(&area(version, InitStyle::Ndctl)).expect("valid");
        assert_eq!(
            lsa.diagnostics(),
            &[
                Diagnostic::FreeBitsPastNslot { block: 0, count },
                Diagnostic::FreeBitsPastNslot { block: 1, count },
            ]
        );
        assert!(!lsa.is_damaged());
        assert_eq!(lsa.free_slots(), lsa.index().nslot());
    }
}

#[test]
fn inactive_labels_are_skipped_and_reported() {
    let mut a = with_namespaces(LabelVersion::V1_2, 3);
    // Slot 0: damage the checksum. Slot 1: wrong slot field (checksum resealed).
    a[512 + 30] ^= 1;
    let s1 = 512 + 256;
    a[s1 + 120] = 7;
    let sum = fletcher64_skipping(&a[s1..s1 + 256], 248);
    a[s1 + 248..s1 + 256].copy_from_slice(&sum.to_le_bytes());
    let lsa = Lsa::parse(&a).expect("valid");
    assert_eq!(lsa.namespaces().len(), 1);
    assert!(matches!(
        lsa.diagnostics(),
        [
            Diagnostic::LabelInvalid {
                slot: 0,
                fault: LabelFault::Checksum { .. }
            },
            Diagnostic::LabelInvalid {
                slot: 1,
                fault: LabelFault::SlotMismatch { found: 7 }
            },
        ]
    ));
}

#[test]
fn duplicates_and_updating_are_reported() {
    let mut a = with_namespaces(LabelVersion::V1_1, 2);
    // v1.1 has no checksum: make slot 1 carry slot 0's UUID, and set UPDATING on slot 0.
    let (s0, s1) = (512, 512 + 128);
    let u: [u8; 16] = a[s0..s0 + 16].try_into().expect("16");
    a[s1..s1 + 16].copy_from_slice(&u);
    a[s0 + 80] = 8;
    let lsa = Lsa::parse(&a).expect("valid");
    assert!(lsa.namespaces().is_empty());
    assert!(lsa.diagnostics().contains(&Diagnostic::LabelWarning {
        slot: 0,
        warning: LabelWarning::Updating
    }));
    assert!(lsa.diagnostics().contains(&Diagnostic::DuplicateUuid {
        uuid: Uuid(u),
        slot: 1
    }));
}

#[test]
fn failed_updates_leave_the_area_untouched() {
    let a = with_namespaces(LabelVersion::V1_2, 2);
    let mut w = Writer::new(a.clone(), Region::pmem(8 * MIB, 7));
    let spec = NamespaceSpec::new(Uuid([1; 16]), Name::EMPTY, 2 * MIB);
    assert_eq!(w.create(&spec), Err(Error::NamespaceExists(Uuid([1; 16]))));
    let spec = NamespaceSpec::new(Uuid([5; 16]), Name::EMPTY, 3 * MIB);
    assert!(matches!(w.create(&spec), Err(Error::Misaligned { .. })));
    let spec = NamespaceSpec::new(Uuid([5; 16]), Name::EMPTY, 6 * MIB);
    assert!(matches!(w.create(&spec), Err(Error::NoSpace { .. })));
    assert!(matches!(
        w.resize(Uuid([1; 16]), 4 * MIB),
        Err(Error::NoSpace { .. })
    ));
    assert_eq!(
        w.delete(Uuid([6; 16])),
        Err(Error::NoSuchNamespace(Uuid([6; 16])))
    );
    assert_eq!(w.storage(), &a);
}

#[test]
fn full_area_keeps_one_spare_slot() {
    let mut a = vec![0u8; 4096];
    init(&mut a, LabelVersion::V1_2, InitStyle::Kernel).expect("init"); // 14 slots
    let mut w = Writer::new(
        a,
        Region {
            align: 4096,
            ..Region::pmem(64 * MIB, 7)
        },
    );
    for i in 0..13u8 {
        w.create(&NamespaceSpec::new(Uuid([i + 1; 16]), Name::EMPTY, 4096))
            .expect("create");
    }
    let spec = NamespaceSpec::new(Uuid([99; 16]), Name::EMPTY, 4096);
    assert_eq!(
        w.create(&spec),
        Err(Error::NoFreeSlot { needed: 2, free: 1 })
    );
    // The spare slot still allows updates.
    w.rename(Uuid([1; 16]), Name::new("still").expect("short"))
        .expect("rename");
    assert_eq!(w.read().expect("valid").namespaces().len(), 13);
}

#[test]
fn file_mmap_and_capped_storage() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("pmem.img");
    // A QEMU-style backend: 1 MiB of pmem followed by a 128 KiB label area.
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("open");
    file.set_len(MIB + SIZE as u64).expect("size");
    let region = Region {
        align: 4096,
        ..Region::pmem(MIB, 7)
    };
    let mut fs = nvdimm_label::FileStorage::new(file, MIB, SIZE as u64);
    init(&mut fs, LabelVersion::V1_2, InitStyle::Kernel).expect("init");
    let mut w = Writer::new(
        MaxTransfer {
            inner: fs,
            max: 4076,
        },
        region,
    );
    w.create(&NamespaceSpec::new(Uuid([1; 16]), Name::EMPTY, MIB))
        .expect("create");
    let file = w.into_inner().inner.into_file();
    // SAFETY: the file is private to this test; nothing else maps or truncates it.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&file) }.expect("map");
    let lsa = Lsa::parse(&map[PMEM..]).expect("valid");
    assert_eq!(lsa.namespaces().len(), 1);
    let mut w = Writer::new(&mut map[PMEM..], region);
    w.delete(Uuid([1; 16])).expect("delete");
    assert!(
        Lsa::parse(&map[PMEM..])
            .expect("valid")
            .namespaces()
            .is_empty()
    );
    assert_eq!(map[..].size(), MIB + SIZE as u64);
}

#[test]
fn every_area_size_round_trips() {
    // Sizes where the v1.1 and v1.2 index sizes differ (256 KiB: 512 vs 256 bytes).
    for size in [
        1usize << 10,
        4 << 10,
        64 << 10,
        256 << 10,
        512 << 10,
        1 << 20,
    ] {
        for version in [LabelVersion::V1_1, LabelVersion::V1_2, LabelVersion::Cxl] {
            let mut a = vec![0u8; size];
            init(&mut a, version, InitStyle::Ndctl).expect("init");
            let g = nvdimm_label::Geometry::new(size as u64, version.label_size() as u64)
                .expect("fits");
            let mut w = Writer::new(
                a,
                Region {
                    align: 4096,
                    ..Region::pmem(64 * MIB, 7)
                },
            );
            w.create(&NamespaceSpec::new(Uuid([1; 16]), Name::EMPTY, 4096))
                .expect("create");
            let lsa = w.read().expect("valid");
            assert_eq!(lsa.version(), version, "{size}");
            assert_eq!(
                (lsa.index().geometry.index_size, lsa.index().nslot()),
                (g.index_size, g.nslot)
            );
            assert_eq!(lsa.index().header.labeloff.get(), 2 * g.index_size);
            assert_eq!(lsa.namespaces().len(), 1, "{size} {version:?}");
        }
    }
    // Too small for any index.
    let mut tiny = vec![0u8; 1000];
    assert!(matches!(
        init(&mut tiny, LabelVersion::V1_2, InitStyle::Kernel),
        Err(Error::AreaTooSmall {
            config_size: 1000,
            label_size: 256
        })
    ));
}
