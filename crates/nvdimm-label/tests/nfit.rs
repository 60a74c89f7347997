//! NFIT parse and emit: known answers, every rejection, and the round trip
//! `Nfit::parse(&nfit.emit()) == nfit` over arbitrary tables.
// Test code: a panic is a failure, and the casts are of small test values.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use nvdimm_label::Guid;
use nvdimm_label::cookie::{cookie_v1_2, qemu_dimm};
use nvdimm_label::nfit::layout::{NFIT_MEM_NOT_ARMED, PERSISTENT_MEMORY_GUID};
use nvdimm_label::nfit::{
    BlockWindows, ControlRegion, DimmSpec, FlushHint, Nfit, NfitBuilder, NfitError, RegionMapping,
    SpaRange, Structure, TableHeader,
};
use proptest::prelude::*;

fn one_dimm() -> Nfit {
    NfitBuilder::new()
        .dimm(DimmSpec::new(0, 0x1_0000_0000, 1 << 30, 128 << 10))
        .build()
}

#[test]
fn builder_table_known_answer() {
    let bytes = one_dimm().emit().expect("emit");
    assert_eq!(bytes.len(), 40 + 56 + 48 + 80);
    assert_eq!(&bytes[..4], b"NFIT");
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 224);
    assert_eq!(bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
    // SPA at 40: type 0, length 56, index 2, flags 3, PMem GUID, base, length, WB|NV.
    assert_eq!(&bytes[40..48], &[0, 0, 56, 0, 2, 0, 3, 0]);
    assert_eq!(
        &bytes[56..72],
        &[
            0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40, 0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7,
            0x8c, 0xdb
        ]
    );
    assert_eq!(&bytes[72..80], &0x1_0000_0000u64.to_le_bytes());
    assert_eq!(&bytes[88..96], &0x8008u64.to_le_bytes());
    // Mapping at 96: handle 1, SPA 2, DCR 3, 1 way.
    assert_eq!(&bytes[96..100], &[1, 0, 48, 0]);
    assert_eq!(&bytes[100..104], &1u32.to_le_bytes());
    assert_eq!(&bytes[108..112], &[2, 0, 3, 0]);
    assert_eq!(&bytes[138..140], &1u16.to_le_bytes());
    // Control region at 144: index 3, vendor 0x8086, serial 0x123456, code 0x301.
    assert_eq!(&bytes[144..150], &[4, 0, 80, 0, 3, 0]);
    assert_eq!(&bytes[150..152], &0x8086u16.to_le_bytes());
    assert_eq!(&bytes[168..172], &0x0012_3456u32.to_le_bytes());
    assert_eq!(&bytes[172..174], &0x301u16.to_le_bytes());
}

#[test]
fn builder_cookie_is_qemus() {
    // The builder's DIMM i carries the identity of QEMU's slot i, so labels written
    // for a QEMU guest (cookie from `qemu_dimm`) stay valid under our NFIT.
    let nfit = NfitBuilder::new()
        .dimm(DimmSpec::new(0, 0x1_0000_0000, 1 << 30, 128 << 10))
        .dimm(DimmSpec::new(1, 0x1_4000_0000, 1 << 30, 128 << 10))
        .build();
    for (slot, m) in nfit.region_mappings().enumerate() {
        let info = nfit.cookie_info(m).expect("control region");
        assert_eq!(
            cookie_v1_2(&mut [info]),
            cookie_v1_2(&mut [qemu_dimm(slot as u32)])
        );
    }
}

#[test]
fn rejections() {
    let good = one_dimm().emit().expect("emit");
    let fix = |mut b: Vec<u8>| {
        b[9] = 0;
        let sum = b.iter().fold(0u8, |s, x| s.wrapping_add(*x));
        b[9] = sum.wrapping_neg();
        b
    };
    assert_eq!(
        Nfit::parse(&good[..39]),
        Err(NfitError::Truncated {
            len: 39,
            needed: 40
        })
    );
    assert_eq!(
        Nfit::parse(&good[..100]),
        Err(NfitError::Truncated {
            len: 100,
            needed: 224
        })
    );
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(Nfit::parse(&b), Err(NfitError::BadSignature(*b"XFIT")));
    let mut b = good.clone();
    b[20] ^= 1;
    assert!(matches!(
        Nfit::parse(&b),
        Err(NfitError::BadChecksum { .. })
    ));
    let mut b = good.clone();
    b[4..8].copy_from_slice(&39u32.to_le_bytes());
    assert_eq!(Nfit::parse(&fix(b)), Err(NfitError::BadLength(39)));
    // SPA of 60 bytes (neither 56 nor 64).
    let mut b = good.clone();
    b[42] = 60;
    assert_eq!(
        Nfit::parse(&fix(b)),
        Err(NfitError::BadStructureLength {
            offset: 40,
            kind: 0,
            length: 60
        })
    );
    // A zero-length structure (Linux stops there; we refuse the table).
    let mut b = good.clone();
    b[98] = 0;
    assert_eq!(
        Nfit::parse(&fix(b)),
        Err(NfitError::BadStructureLength {
            offset: 96,
            kind: 1,
            length: 0
        })
    );
    // Control region of 32 bytes that claims block windows.
    let mut b = good[..144 + 32].to_vec();
    b[4..8].copy_from_slice(&176u32.to_le_bytes());
    b[146] = 32;
    b[174] = 1;
    assert_eq!(
        Nfit::parse(&fix(b)),
        Err(NfitError::BadStructureLength {
            offset: 144,
            kind: 4,
            length: 32
        })
    );
    // Three trailing bytes: not even a structure header.
    let mut b = good.clone();
    b.extend_from_slice(&[6, 0, 16]);
    b[4..8].copy_from_slice(&227u32.to_le_bytes());
    assert!(matches!(
        Nfit::parse(&fix(b)),
        Err(NfitError::BadStructureLength { offset: 224, .. })
    ));
    // Flush hint whose count disagrees with its length.
    let flush = Structure::FlushHint(FlushHint {
        device_handle: 1,
        addresses: vec![0xfee0_0000],
    });
    let mut t = one_dimm();
    t.structures.push(flush);
    let mut b = t.emit().expect("emit");
    b[224 + 8] = 2;
    assert!(matches!(
        Nfit::parse(&fix(b)),
        Err(NfitError::BadStructureLength {
            offset: 224,
            kind: 6,
            length: 24
        })
    ));
}

#[test]
fn oversized_structures_are_refused_by_emit() {
    let mut t = one_dimm();
    t.structures.push(Structure::Other {
        kind: 9,
        body: vec![0; 70_000],
    });
    assert!(matches!(
        t.emit(),
        Err(NfitError::BadStructureLength { kind: 9, .. })
    ));
}

#[test]
fn flags_and_guid_read_back() {
    let nfit = NfitBuilder::new()
        .dimm(DimmSpec {
            unarmed: true,
            ..DimmSpec::new(3, 0x2_0000_0000, 1 << 28, 0)
        })
        .build();
    let parsed = Nfit::parse(&nfit.emit().unwrap()).unwrap();
    let spa = parsed.spa_ranges().next().unwrap();
    assert_eq!(spa.range_guid, PERSISTENT_MEMORY_GUID);
    let m = parsed.region_mappings().next().unwrap();
    assert_eq!(m.flags, NFIT_MEM_NOT_ARMED);
    assert_eq!(
        parsed.control_regions().next().unwrap().serial_number,
        0x0012_3459
    );
}

fn arb_spa() -> impl Strategy<Value = SpaRange> {
    (
        any::<(u16, u16, u32, [u8; 16])>(),
        any::<(u64, u64, u64)>(),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |((range_index, flags, pxm, guid), (base, length, attrs), cookie)| SpaRange {
                range_index,
                flags,
                proximity_domain: pxm,
                range_guid: Guid(guid),
                base,
                length,
                memory_mapping: attrs,
                location_cookie: cookie,
            },
        )
}

fn arb_map() -> impl Strategy<Value = RegionMapping> {
    (
        any::<(u32, u16, u16, u16, u16)>(),
        any::<(u64, u64, u64, u16, u16, u16)>(),
    )
        .prop_map(
            |((h, p, r, s, c), (size, off, dpa, ii, ways, flags))| RegionMapping {
                device_handle: h,
                physical_id: p,
                region_id: r,
                range_index: s,
                control_region_index: c,
                region_size: size,
                region_offset: off,
                dpa,
                interleave_index: ii,
                interleave_ways: ways,
                flags,
            },
        )
}

fn arb_dcr() -> impl Strategy<Value = ControlRegion> {
    (
        any::<(u16, u16, u16, u16, u16, u16, u16)>(),
        any::<(u8, u8, u16, u32, u16, u16)>(),
        proptest::option::of(any::<(u64, u64, u64, u64, u64, u16)>()),
    )
        .prop_map(|(ids, (valid, loc, date, serial, code, windows), block)| {
            let block = block.map(|(ws, co, cs, so, ss, f)| BlockWindows {
                window_size: ws,
                command_offset: co,
                command_size: cs,
                status_offset: so,
                status_size: ss,
                flags: f,
            });
            ControlRegion {
                region_index: ids.0,
                vendor_id: ids.1,
                device_id: ids.2,
                revision_id: ids.3,
                subsystem_vendor_id: ids.4,
                subsystem_device_id: ids.5,
                subsystem_revision_id: ids.6,
                valid_fields: valid,
                manufacturing_location: loc,
                manufacturing_date: date,
                serial_number: serial,
                code,
                // The 32-byte form exists only without windows.
                windows: if block.is_some() { windows } else { 0 },
                block,
            }
        })
}

fn arb_structure() -> impl Strategy<Value = Structure> {
    prop_oneof![
        arb_spa().prop_map(Structure::Spa),
        arb_map().prop_map(Structure::RegionMapping),
        arb_dcr().prop_map(Structure::ControlRegion),
        (any::<u32>(), proptest::collection::vec(any::<u64>(), 0..8)).prop_map(|(h, a)| {
            Structure::FlushHint(FlushHint {
                device_handle: h,
                addresses: a,
            })
        }),
        (
            prop::sample::select(vec![2u16, 3, 5, 7, 8, 0xffff]),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(kind, body)| Structure::Other { kind, body }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_emit_round_trip(
        structures in proptest::collection::vec(arb_structure(), 0..12),
        header in any::<(u8, [u8; 6], [u8; 8], u32, [u8; 4], u32)>(),
    ) {
        let nfit = Nfit {
            header: TableHeader {
                revision: header.0,
                oem_id: header.1,
                oem_table_id: header.2,
                oem_revision: header.3,
                creator_id: header.4,
                creator_revision: header.5,
            },
            structures,
        };
        let bytes = nfit.emit().expect("emit");
        prop_assert_eq!(bytes.len(), nfit.buffer_len());
        prop_assert_eq!(Nfit::parse(&bytes), Ok(nfit));
    }

    #[test]
    fn builder_round_trip(dimms in proptest::collection::vec(
        (any::<u64>(), any::<u64>(), any::<u32>(), any::<u32>(), any::<bool>()), 0..16)
    ) {
        let b = dimms.iter().fold(NfitBuilder::new(), |b, &(base, size, pxm, serial, unarmed)| {
            b.dimm(DimmSpec {
                base,
                size,
                proximity_domain: pxm,
                serial_number: serial,
                label_size: 128 << 10,
                unarmed,
            })
        });
        let nfit = b.build();
        prop_assert_eq!(nfit.structures.len(), dimms.len() * 3);
        prop_assert_eq!(Nfit::parse(&nfit.emit().unwrap()), Ok(nfit));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Nfit::parse(&bytes);
    }
}
