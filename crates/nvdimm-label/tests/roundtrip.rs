// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Property tests: `parse(write(model)) == model`.
//!
//! - Labels: any representable label emitted into a slot parses back to itself.
//! - Areas: a random sequence of create/delete/rename/resize applied both to the writer
//!   and to a plain model; after every step the parsed namespaces equal the model, and
//!   every refused step is refused by both and leaves the area byte-identical.

use std::collections::BTreeMap;

use nvdimm_label::{
    ClaimClass, Diagnostic, Error, Guid, InitStyle, Label, LabelFault, LabelVersion, Lsa, Name,
    NamespaceLabel, NamespaceSpec, Region, RegionLabel, Uuid, Writer, init, parse_label,
};
use proptest::prelude::*;

fn version() -> impl Strategy<Value = LabelVersion> {
    prop_oneof![
        Just(LabelVersion::V1_1),
        Just(LabelVersion::V1_2),
        Just(LabelVersion::Cxl)
    ]
}

fn claim() -> impl Strategy<Value = ClaimClass> {
    prop_oneof![
        Just(ClaimClass::None),
        Just(ClaimClass::Btt),
        Just(ClaimClass::Btt2),
        Just(ClaimClass::Pfn),
        Just(ClaimClass::Dax),
        Just(ClaimClass::Hugevm),
    ]
}

fn name() -> impl Strategy<Value = Name> {
    "[a-zA-Z0-9 _.-]{0,63}".prop_map(|s| Name::new(&s).expect("at most 63 bytes"))
}

/// A label that `version` can represent, sitting in `slot`.
fn label(version: LabelVersion) -> impl Strategy<Value = Label> {
    let ns = (
        any::<[u8; 16]>(),
        name(),
        any::<u32>(),
        any::<(u16, u16)>(),
        any::<(u64, u64, u64, u64)>(),
        any::<(u32, u8, [u8; 16], [u8; 16])>(),
        claim(),
    )
        .prop_map(
            move |(
                uuid,
                name,
                flags,
                (nlabel, position),
                (cookie, lbasize, dpa, rawsize),
                (slot, align, tg, region),
                claim,
            )| {
                let cxl = version == LabelVersion::Cxl;
                Label::Namespace(NamespaceLabel {
                    uuid: Uuid(uuid),
                    name,
                    flags,
                    nlabel,
                    position,
                    isetcookie: if cxl { 0 } else { cookie },
                    lbasize: if cxl { lbasize & 0xffff } else { lbasize },
                    dpa,
                    rawsize,
                    slot,
                    align: if cxl {
                        u32::from(align) << 8
                    } else {
                        u32::from(align)
                    },
                    type_guid: (version == LabelVersion::V1_2).then_some(Guid(tg)),
                    claim: (version != LabelVersion::V1_1).then_some(claim),
                    region_uuid: cxl.then_some(Uuid(region)),
                })
            },
        );
    let region = any::<([u8; 16], u32, u16, u16, u64, u64, u64, u32, u32, u32)>().prop_map(
        |(uuid, flags, nlabel, position, dpa, rawsize, hpa, slot, ig, align)| {
            Label::Region(RegionLabel {
                uuid: Uuid(uuid),
                flags,
                nlabel,
                position,
                dpa,
                rawsize,
                hpa,
                slot,
                ig,
                align,
            })
        },
    );
    if version == LabelVersion::Cxl {
        prop_oneof![ns, region].boxed()
    } else {
        ns.boxed()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Create(u8, u64, ClaimClass, Name),
    Delete(u8),
    Rename(u8, Name),
    Resize(u8, u64),
}

const UNIT: u64 = 2 << 20;
/// Each of the 8 possible namespaces owns a fixed 4-unit DPA window in the model.
const WINDOW: u64 = 4 * UNIT;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..8u8, 1..=4u64, claim(), name()).prop_map(|(n, u, c, s)| Op::Create(n, u, c, s)),
        (0..8u8).prop_map(Op::Delete),
        (0..8u8, name()).prop_map(|(n, s)| Op::Rename(n, s)),
        (0..8u8, 1..=4u64).prop_map(|(n, u)| Op::Resize(n, u)),
    ]
}

/// The model: per namespace number, (name, size, claim).
type Model = BTreeMap<u8, (Name, u64, ClaimClass)>;

fn uuid(n: u8) -> Uuid {
    Uuid([n.wrapping_mul(17).wrapping_add(1); 16])
}

/// Applies `op` to the writer and the model; both must agree on success or refusal.
fn step(w: &mut Writer<Vec<u8>>, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let before = w.storage().clone();
    let result = match op {
        Op::Create(n, units, claim, name) => {
            let spec = NamespaceSpec {
                dpa: Some(u64::from(*n) * WINDOW),
                claim: *claim,
                ..NamespaceSpec::new(uuid(*n), *name, units * UNIT)
            };
            let r = w.create(&spec);
            if model.contains_key(n) {
                prop_assert_eq!(r, Err(Error::NamespaceExists(uuid(*n))));
            } else {
                model.insert(*n, (*name, units * UNIT, *claim));
            }
            r
        }
        Op::Delete(n) => {
            let r = w.delete(uuid(*n));
            if model.remove(n).is_none() {
                prop_assert_eq!(r, Err(Error::NoSuchNamespace(uuid(*n))));
            }
            r
        }
        Op::Rename(n, name) => {
            let r = w.rename(uuid(*n), *name);
            match model.get_mut(n) {
                Some(entry) => entry.0 = *name,
                None => prop_assert_eq!(r, Err(Error::NoSuchNamespace(uuid(*n)))),
            }
            r
        }
        Op::Resize(n, units) => {
            let r = w.resize(uuid(*n), units * UNIT);
            match model.get_mut(n) {
                Some(entry) => entry.1 = units * UNIT,
                None => prop_assert_eq!(r, Err(Error::NoSuchNamespace(uuid(*n)))),
            }
            r
        }
    };
    if result.is_err() {
        prop_assert_eq!(w.storage(), &before, "a refused update changed the area");
    }
    Ok(())
}

fn check(lsa: &Lsa, model: &Model, version: LabelVersion) -> Result<(), TestCaseError> {
    let mut expected: Vec<_> = model
        .iter()
        .map(|(&n, &(name, size, claim))| {
            (
                uuid(n),
                name,
                u64::from(n) * WINDOW,
                size,
                (version != LabelVersion::V1_1).then_some(claim),
            )
        })
        .collect();
    expected.sort_by_key(|e| e.0);
    let got: Vec<_> = lsa
        .namespaces()
        .iter()
        .map(|ns| {
            (
                ns.uuid,
                ns.name,
                ns.extents.first().dpa,
                ns.size(),
                ns.claim,
            )
        })
        .collect();
    prop_assert_eq!(got, expected);
    prop_assert!(!lsa.is_damaged(), "{:?}", lsa.diagnostics());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn label_emit_parse_round_trips((version, label) in version().prop_flat_map(|v| (Just(v), label(v)))) {
        let mut buf = vec![0xa5u8; version.label_size()];
        label.emit(version, &mut buf).expect("representable");
        prop_assert_eq!(parse_label(&buf, version, label.slot()), Ok(label));
    }

    #[test]
    fn parse_of_write_equals_model(
        version in version(),
        ndctl in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mut area = vec![0u8; 32 << 10];
        let style = if ndctl { InitStyle::Ndctl } else { InitStyle::Kernel };
        init(&mut area, version, style).expect("init");
        let mut w = Writer::new(area, Region::pmem(8 * WINDOW, 0x1234));
        let mut model = Model::new();
        for op in &ops {
            step(&mut w, &mut model, op)?;
            let lsa = Lsa::parse(w.storage()).expect("valid after every step");
            check(&lsa, &model, version)?;
        }
    }
}

/// An area of `version` with namespaces 1..=n created in order (slots 0..n).
fn area_with(version: LabelVersion, n: u8) -> Vec<u8> {
    let mut area = vec![0u8; 16 << 10];
    init(&mut area, version, InitStyle::Kernel).expect("init");
    let mut w = Writer::new(area, Region::pmem(64 * UNIT, 1));
    for i in 1..=n {
        w.create(&NamespaceSpec::new(uuid(i), Name::EMPTY, UNIT))
            .expect("create");
    }
    w.into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A single flipped bit in an active checksummed label makes exactly that label
    /// inactive, with the exact fault: an unknown type if the bit is in a CXL label's
    /// type UUID, slot mismatch if it is in the slot field (checked before the checksum,
    /// as Linux does), else a checksum mismatch.
    #[test]
    fn flipped_label_bit_gives_the_exact_fault(
        cxl in any::<bool>(),
        n in 1..6u8,
        which in any::<prop::sample::Index>(),
        byte in 0..256usize,
        bit in 0..8u8,
    ) {
        let version = if cxl { LabelVersion::Cxl } else { LabelVersion::V1_2 };
        let mut area = area_with(version, n);
        let slot = which.index(usize::from(n));
        let at = 512 + slot * 256 + byte;
        area[at] ^= 1 << bit;
        let lsa = Lsa::parse(&area).expect("index untouched");
        prop_assert_eq!(lsa.namespaces().len(), usize::from(n) - 1);
        let slot = u32::try_from(slot).expect("small");
        let fault = match lsa.diagnostics() {
            [Diagnostic::LabelInvalid { slot: s, fault }] if *s == slot => *fault,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        if cxl && byte < 16 {
            // The CXL type UUID is looked at first: the label is no known kind.
            prop_assert!(matches!(fault, LabelFault::UnknownCxlType(_)), "{:?}", fault);
        } else if (120..124).contains(&byte) {
            prop_assert_eq!(fault, LabelFault::SlotMismatch { found: slot ^ (1 << (8 * (byte - 120) + usize::from(bit))) });
        } else {
            prop_assert!(matches!(fault, LabelFault::Checksum { .. }), "{:?}", fault);
        }
    }

    /// A single flipped bit in the current index block makes Linux (and us) fall back to
    /// the other block: the namespaces before the last update, with the fault reported.
    #[test]
    fn flipped_current_index_bit_falls_back(
        version in version(),
        n in 1..6u8,
        byte in 0..256usize,
        bit in 0..8u8,
    ) {
        let mut area = area_with(version, n);
        let before = Lsa::parse(&area_with(version, n - 1)).expect("valid").namespaces().to_vec();
        let current = usize::from(Lsa::parse(&area).expect("valid").index().block);
        area[current * 256 + byte] ^= 1 << bit;
        let lsa = Lsa::parse(&area).expect("the other block");
        prop_assert_eq!(usize::from(lsa.index().block), 1 - current);
        prop_assert_eq!(lsa.namespaces().to_vec(), before);
        let first_is_fault = matches!(
            lsa.diagnostics().first(),
            Some(Diagnostic::IndexInvalid { block, .. }) if usize::from(*block) == current
        );
        prop_assert!(first_is_fault, "{:?}", lsa.diagnostics());
    }
}
