// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Writer operations on an arbitrary starting area (optionally initialized first, then
//! overlaid with arbitrary bytes): every operation either succeeds and the area still
//! parses with the change visible, or fails and leaves the area byte-identical.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nvdimm_label::{
    ClaimClass, InitStyle, LabelVersion, Lsa, Name, NamespaceSpec, Region, Uuid, Writer, init,
};

#[derive(Arbitrary, Debug)]
enum Op {
    Create {
        id: u8,
        units: u8,
        dpa_units: Option<u8>,
        dax: bool,
    },
    Delete {
        id: u8,
    },
    Rename {
        id: u8,
        name: u8,
    },
    Resize {
        id: u8,
        units: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Area size in 256-byte units (at least 4, the minimum area).
    size_units: u8,
    init: Option<(LabelVersion, bool)>,
    /// (offset, byte) pokes after init.
    pokes: Vec<(u16, u8)>,
    ops: Vec<Op>,
}

fn uuid(id: u8) -> Uuid {
    Uuid([id % 8; 16])
}

fuzz_target!(|input: Input| {
    let size = (usize::from(input.size_units) + 4) * 256;
    let mut area = vec![0u8; size];
    if let Some((version, ndctl)) = input.init {
        let style = if ndctl {
            InitStyle::Ndctl
        } else {
            InitStyle::Kernel
        };
        let _ = init(&mut area, version, style);
    }
    for (offset, byte) in input.pokes {
        if let Some(b) = area.get_mut(usize::from(offset)) {
            *b = byte;
        }
    }
    let region = Region {
        align: 4096,
        ..Region::pmem(1 << 20, 42)
    };
    let mut w = Writer::new(area, region);
    for op in input.ops.iter().take(32) {
        let before = w.storage().clone();
        let result = match *op {
            Op::Create {
                id,
                units,
                dpa_units,
                dax,
            } => {
                let claim = if dax {
                    ClaimClass::Dax
                } else {
                    ClaimClass::None
                };
                let spec = NamespaceSpec {
                    dpa: dpa_units.map(|u| u64::from(u) * 4096),
                    claim,
                    ..NamespaceSpec::new(uuid(id), Name::EMPTY, u64::from(units) * 4096)
                };
                w.create(&spec).map(|()| Some(uuid(id)))
            }
            Op::Delete { id } => w.delete(uuid(id)).map(|()| None),
            Op::Rename { id, name } => {
                let name = Name::new(&format!("n{name}")).expect("short");
                w.rename(uuid(id), name).map(|()| Some(uuid(id)))
            }
            Op::Resize { id, units } => w
                .resize(uuid(id), u64::from(units) * 4096)
                .map(|()| Some(uuid(id))),
        };
        match result {
            Err(_) => assert_eq!(w.storage(), &before, "{op:?} failed but changed the area"),
            Ok(present) => {
                let lsa = Lsa::parse(w.storage()).expect("an updated area parses");
                let uuid = match *op {
                    Op::Create { id, .. }
                    | Op::Delete { id }
                    | Op::Rename { id, .. }
                    | Op::Resize { id, .. } => uuid(id),
                };
                let found = lsa.labels().iter().any(|l| {
                    matches!(
                        l,
                        nvdimm_label::Label::Namespace(n) if n.uuid == uuid
                    )
                });
                assert_eq!(found, present.is_some(), "{op:?}");
            }
        }
    }
});
