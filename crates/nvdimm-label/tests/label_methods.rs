//! The label-method handler: `_LSI`/`_LSR`/`_LSW`, Intel `_DSM` 4/5/6 and the shared
//! page, against a model of the specification's checks; bad requests get the spec's
//! status and never touch bytes outside the area; a guest writing garbage through
//! `_LSW` damages only the label area, and the host parser reports it.
// Test code: a panic is a failure, and the casts are of small test values.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use nvdimm_label::cookie::{cookie_v1_2, qemu_dimm};
use nvdimm_label::methods::{
    DSM_LABEL_FUNCTIONS, DSM_PAGE_MAX_TRANSFER, DSM_PAGE_SIZE, DsmStatus, LabelMethods, LsStatus,
    MethodsError, serve_dsm_page,
};
use nvdimm_label::{
    Diagnostic, Error, InitStyle, LabelVersion, Lsa, Name, NamespaceSpec, Region, Uuid, Writer,
    init,
};
use proptest::prelude::*;

const AREA: usize = 128 << 10;
/// Bytes of DIMM data before the label area in the backing file tests.
const DATA: usize = 2 << 20;

fn area() -> Vec<u8> {
    (0..AREA).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn lsi_reports_size_and_capped_transfer() {
    let m = LabelMethods::new(area(), DSM_PAGE_MAX_TRANSFER).unwrap();
    let i = m.lsi();
    assert_eq!(
        (i.status, i.size, i.max_transfer),
        (LsStatus::Success, 131072, 4076)
    );
    // The transfer never exceeds the area.
    let m = LabelMethods::new(vec![0u8; 1024], u32::MAX).unwrap();
    assert_eq!(m.lsi().max_transfer, 1024);
}

#[test]
fn areas_that_cannot_hold_two_index_blocks_are_refused() {
    assert_eq!(
        LabelMethods::new(vec![0u8; 1023], 4076).err(),
        Some(MethodsError::AreaSize(1023))
    );
    assert_eq!(
        LabelMethods::new(vec![0u8; 4096], 0).err(),
        Some(MethodsError::ZeroTransfer)
    );
}

#[test]
fn boundary_requests() {
    let mut m = LabelMethods::new(area(), 4076).unwrap();
    let mut out = vec![0u8; 8192];
    let top = AREA as u64;
    assert_eq!(m.lsr(top - 4076, 4076, &mut out), LsStatus::Success);
    assert_eq!(&out[..4076], &area()[AREA - 4076..]);
    assert_eq!(m.lsr(top - 4075, 4076, &mut out), LsStatus::InvalidInput);
    assert_eq!(m.lsr(0, 4077, &mut out), LsStatus::InvalidInput);
    assert_eq!(m.lsr(u64::MAX, 2, &mut out), LsStatus::InvalidInput);
    assert_eq!(m.lsr(top, 0, &mut out), LsStatus::Success);
    assert_eq!(m.lsr(0, 16, &mut out[..8]), LsStatus::InvalidInput);
    assert_eq!(m.lsw(2, 16, &[1; 8]), LsStatus::InvalidInput);
    assert_eq!(m.lsw(u64::MAX - 1, 4, &[1; 4]), LsStatus::InvalidInput);
    assert_eq!(m.into_inner(), area(), "refused requests wrote nothing");
}

/// What the handler must answer for a read or write of `len` at `off`.
fn expected(off: u64, len: u64, buf: usize) -> bool {
    len <= 4076 && off.checked_add(len).is_some_and(|e| e <= AREA as u64) && len as usize <= buf
}

fn arb_offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..AREA as u64 + 8,
        AREA as u64 - 4100..AREA as u64 + 8,
        any::<u64>(),
        Just(u64::MAX),
    ]
}

fn arb_len() -> impl Strategy<Value = u64> {
    prop_oneof![0..4100u64, Just(4076), Just(4077), any::<u64>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lsr_lsw_follow_the_model(off in arb_offset(), len in arb_len(), buf in 0usize..4200) {
        let mut m = LabelMethods::new(area(), 4076).unwrap();
        let ok = expected(off, len, buf);
        let mut out = vec![0u8; buf];
        let status = m.lsr(off, len, &mut out);
        prop_assert_eq!(status, if ok { LsStatus::Success } else { LsStatus::InvalidInput });
        if ok {
            let r = off as usize..(off + len) as usize;
            prop_assert_eq!(&out[..len as usize], &area()[r]);
        }
        let data = vec![0xeeu8; buf];
        let status = m.lsw(off, len, &data);
        prop_assert_eq!(status, if ok { LsStatus::Success } else { LsStatus::InvalidInput });
        let after = m.into_inner();
        let mut want = area();
        if ok {
            want[off as usize..(off + len) as usize].fill(0xee);
        }
        prop_assert!(after == want, "bytes outside the request changed");
    }

    #[test]
    fn dsm_follows_the_model(
        rev in prop_oneof![Just(1u64), any::<u64>()],
        func in prop_oneof![4u64..=6, 0u64..=8, any::<u64>()],
        off in arb_offset(),
        len in arb_len(),
        arg_len in prop_oneof![Just(8usize), 0usize..4100],
    ) {
        let mut m = LabelMethods::new(area(), 4076).unwrap();
        let mut arg = Vec::new();
        arg.extend_from_slice(&(off as u32).to_le_bytes());
        arg.extend_from_slice(&(len as u32).to_le_bytes());
        arg.resize(arg_len.max(8), 0x5a);
        arg.truncate(arg_len);
        let (off32, len32) = (u64::from(off as u32), u64::from(len as u32));
        let mut out = vec![0u8; 4 + 4076];
        let n = m.dsm(rev, func, &arg, &mut out);
        let status = u32::from_le_bytes(out[..4].try_into().unwrap());
        let args_ok = arg_len >= 8;
        let want = match (rev, func) {
            (r, 0) if r != 1 => (0, 4),
            (r, _) if r != 1 => (DsmStatus::NotSupported as u32, 4),
            (_, 0) => (DSM_LABEL_FUNCTIONS, 4),
            (_, 4) => (0, 12),
            (_, 5) if args_ok && expected(off32, len32, usize::MAX) => (0, 4 + len32 as usize),
            (_, 6) if args_ok && expected(off32, len32, arg_len - 8) => (0, 4),
            (_, 5 | 6) => (DsmStatus::InvalidInput as u32, 4),
            _ => (DsmStatus::NotSupported as u32, 4),
        };
        prop_assert_eq!((status, n), want);
        let after = m.into_inner();
        let mut model = area();
        if rev == 1 && func == 6 && status == 0 {
            model[off32 as usize..(off32 + len32) as usize].fill(0x5a);
        }
        prop_assert!(after == model, "bytes outside the request changed");
    }
}

#[test]
fn shared_page_round_trip() {
    let mut dimm = LabelMethods::new(area(), DSM_PAGE_MAX_TRANSFER).unwrap();
    let mut page = [0u8; DSM_PAGE_SIZE];
    let request = |page: &mut [u8; DSM_PAGE_SIZE], handle: u32, func: u32, args: &[u8]| {
        page.fill(0xcc);
        page[..4].copy_from_slice(&handle.to_le_bytes());
        page[4..8].copy_from_slice(&1u32.to_le_bytes());
        page[8..12].copy_from_slice(&func.to_le_bytes());
        page[12..12 + args.len()].copy_from_slice(args);
    };
    let reply = |page: &[u8; DSM_PAGE_SIZE]| {
        let len = u32::from_le_bytes(page[..4].try_into().unwrap()) as usize;
        let status = u32::from_le_bytes(page[4..8].try_into().unwrap());
        (len, status)
    };
    // Function 4 on handle 1.
    request(&mut page, 1, 4, &[]);
    serve_dsm_page(&mut page, |h| (h == 1).then_some(&mut dimm));
    assert_eq!(reply(&page), (16, 0));
    assert_eq!(&page[8..16], &[0, 0, 2, 0, 0xec, 0x0f, 0, 0]);
    // A full-size write then read through the page.
    let mut args = vec![0u8; 8];
    args[..4].copy_from_slice(&100u32.to_le_bytes());
    args[4..].copy_from_slice(&4076u32.to_le_bytes());
    let data: Vec<u8> = (0..4076).map(|i| (i % 13) as u8).collect();
    request(&mut page, 1, 6, &[args.clone(), data.clone()].concat());
    serve_dsm_page(&mut page, |h| (h == 1).then_some(&mut dimm));
    assert_eq!(reply(&page), (8, 0));
    request(&mut page, 1, 5, &args);
    serve_dsm_page(&mut page, |h| (h == 1).then_some(&mut dimm));
    assert_eq!(reply(&page), (8 + 4076, 0));
    assert_eq!(&page[8..8 + 4076], data.as_slice());
    // Unknown handle: status 2; root: function 0 bitmap 0, others unsupported.
    request(&mut page, 7, 4, &[]);
    serve_dsm_page(&mut page, |h| (h == 1).then_some(&mut dimm));
    assert_eq!(reply(&page), (8, DsmStatus::NoSuchDevice as u32));
    request(&mut page, 0, 0, &[]);
    serve_dsm_page(&mut page, |h| (h == 1).then_some(&mut dimm));
    assert_eq!(reply(&page), (8, 0));
    request(&mut page, 0, 4, &[]);
    serve_dsm_page(&mut page, |h| (h == 1).then_some(&mut dimm));
    assert_eq!(reply(&page), (8, DsmStatus::NotSupported as u32));
}

/// A guest's DIMM backing: 2 MiB of data, then its 128 KiB label area (QEMU's layout:
/// the LSA is the file's tail).
fn backing_with_namespace() -> Vec<u8> {
    let mut file = vec![0x11u8; DATA + AREA];
    let lsa = &mut file[DATA..];
    init(&mut *lsa, LabelVersion::V1_2, InitStyle::Kernel).unwrap();
    let region = Region::pmem(DATA as u64, cookie_v1_2(&mut [qemu_dimm(0)]));
    let uuid = Uuid::parse_str("3f2b8a4e-1c6d-4e8f-9a0b-5c7d2e1f4a6b").unwrap();
    let spec = NamespaceSpec::new(uuid, Name::new("guest").unwrap(), DATA as u64);
    Writer::new(&mut *lsa, region).create(&spec).unwrap();
    assert_eq!(Lsa::parse(lsa).unwrap().namespaces().len(), 1);
    file
}

#[test]
fn garbage_labels_damage_only_the_label_area() {
    // Garbage over the whole area, in max-transfer chunks as Linux sends them.
    let mut file = backing_with_namespace();
    let (data, lsa) = file.split_at_mut(DATA);
    let mut m = LabelMethods::new(&mut *lsa, DSM_PAGE_MAX_TRANSFER).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut off = 0u64;
    while off < AREA as u64 {
        let len = (AREA as u64 - off).min(4076);
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        assert_eq!(m.lsw(off, len, &garbage), LsStatus::Success);
        off += len;
    }
    // Writes past the end are refused rather than spilling.
    assert_eq!(m.lsw(AREA as u64 - 8, 16, &[0; 16]), LsStatus::InvalidInput);
    assert!(
        data.iter().all(|b| *b == 0x11),
        "data outside the label area changed"
    );
    assert!(matches!(Lsa::parse(lsa), Err(Error::NoValidIndex(_))));
}

#[test]
fn garbage_label_slot_is_reported() {
    // Garbage over the namespace's label slot only: the index survives, the label
    // fails its checksum, the namespace disappears and a diagnostic says why.
    let mut file = backing_with_namespace();
    let (data, lsa) = file.split_at_mut(DATA);
    let before = Lsa::parse(lsa).unwrap();
    let (slot, _) = nvdimm_label::active_slots(before.area(), before.index())
        .next()
        .expect("one label");
    let base = nvdimm_label::Geometry::new(AREA as u64, 256)
        .unwrap()
        .label_base();
    let mut m = LabelMethods::new(&mut *lsa, DSM_PAGE_MAX_TRANSFER).unwrap();
    let at = base + u64::from(slot) * 256 + 64;
    assert_eq!(m.lsw(at, 64, &[0xa5; 64]), LsStatus::Success);
    assert!(data.iter().all(|b| *b == 0x11));
    let after = Lsa::parse(lsa).expect("index still valid");
    assert!(after.namespaces().is_empty());
    assert!(
        after
            .diagnostics()
            .iter()
            .any(|d| matches!(d, Diagnostic::LabelInvalid { slot: s, .. } if *s == slot)),
        "{:?}",
        after.diagnostics()
    );
}
