// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Property tests: `parse(write(model)) == model`.
//!
//! - Labels: any representable label emitted into a slot parses back to itself.
//! - Areas: a random sequence of create/delete/rename/resize applied both to the writer
//!   and to a plain model; after every step the parsed namespaces equal the model, and
//!   every refused step is refused by both and leaves the area byte-identical.

use std::collections::BTreeMap;

use nvdimm_label::{
    ClaimClass, Error, Guid, InitStyle, Label, LabelVersion, Lsa, Name, NamespaceLabel,
    NamespaceSpec, Region, RegionLabel, Uuid, Writer, init, parse_label,
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
