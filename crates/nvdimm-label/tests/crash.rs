// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Crash consistency of the writer: for a scripted sequence of updates, cut power after
//! the k-th write for every k, tearing that write at every 8-byte boundary (0 bytes
//! landed, 8, 16, ..., all of it). Re-parsing must give exactly the namespaces before
//! the interrupted update or exactly those after it, and the area must stay updatable.

use nvdimm_label::{
    ClaimClass, Error, InitStyle, LabelVersion, Lsa, MaxTransfer, Name, Namespace, NamespaceSpec,
    Region, Storage, StorageError, Uuid, Writer, init,
};

/// A byte buffer that loses power during write number `cut` (0-based), after `tear`
/// bytes of it; every later write fails without effect.
struct CutStorage {
    data: Vec<u8>,
    cut: usize,
    tear: usize,
    writes: usize,
    /// Length of every write attempted, in order (for the dry run).
    log: Vec<usize>,
}

impl Storage for CutStorage {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.data.as_mut_slice().read(offset, buf)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let n = self.writes;
        self.writes += 1;
        self.log.push(data.len());
        let lost = StorageError::Io {
            offset,
            len: data.len(),
            os_error: None,
        };
        if n < self.cut {
            self.data.as_mut_slice().write(offset, data)
        } else if n == self.cut {
            let landed = data.get(..self.tear.min(data.len())).unwrap_or(&[]);
            self.data.as_mut_slice().write(offset, landed)?;
            Err(lost)
        } else {
            Err(lost)
        }
    }
}

fn uuid(n: u8) -> Uuid {
    Uuid([n; 16])
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Create(u8, u64, ClaimClass),
    Delete(u8),
    Rename(u8, &'static str),
    Resize(u8, u64),
}

const MIB: u64 = 1 << 20;

/// Creates, renames, grows, shrinks and deletes, so that slots get reused.
const SCRIPT: &[Op] = &[
    Op::Create(1, 4 * MIB, ClaimClass::None),
    Op::Create(2, 2 * MIB, ClaimClass::Pfn),
    Op::Rename(1, "first"),
    Op::Resize(2, 8 * MIB),
    Op::Create(3, 2 * MIB, ClaimClass::Hugevm),
    Op::Delete(1),
    Op::Resize(3, 2 * MIB),
    Op::Rename(2, "second, renamed"),
    Op::Create(4, 4 * MIB, ClaimClass::Dax),
    Op::Delete(2),
    Op::Delete(3),
];

fn apply<S: Storage>(w: &mut Writer<S>, op: Op) -> Result<(), Error> {
    match op {
        Op::Create(n, size, claim) => {
            let name = Name::new(&format!("ns{n}")).expect("short");
            w.create(&NamespaceSpec {
                claim,
                ..NamespaceSpec::new(uuid(n), name, size)
            })
        }
        Op::Delete(n) => w.delete(uuid(n)),
        Op::Rename(n, name) => w.rename(uuid(n), Name::new(name).expect("short")),
        Op::Resize(n, size) => w.resize(uuid(n), size),
    }
}

fn region() -> Region {
    Region::pmem(64 * MIB, 0x00ba_9012_0012_b4dc)
}

fn namespaces(area: &[u8]) -> Vec<Namespace> {
    Lsa::parse(area)
        .expect("an index stays valid")
        .namespaces()
        .to_vec()
}

/// A writer over a copy of `base` whose transfers are at most `max` bytes and whose
/// power is cut at write `cut`, torn after `tear` bytes.
fn writer(base: &[u8], max: usize, cut: usize, tear: usize) -> Writer<MaxTransfer<CutStorage>> {
    let storage = CutStorage {
        data: base.to_vec(),
        cut,
        tear,
        writes: 0,
        log: Vec::new(),
    };
    Writer::new(
        MaxTransfer {
            inner: storage,
            max,
        },
        region(),
    )
}

/// Runs the script on a fresh area with power cut at write `cut` torn after `tear`
/// bytes; returns the area and the number of operations that completed.
fn run(base: &[u8], max: usize, cut: usize, tear: usize) -> (Vec<u8>, usize, Vec<usize>) {
    let mut w = writer(base, max, cut, tear);
    let mut done = 0;
    for &op in SCRIPT {
        match apply(&mut w, op) {
            Ok(()) => done += 1,
            Err(Error::Storage(_)) => break,
            Err(e) => panic!("{op:?} failed: {e}"),
        }
    }
    let s = w.into_inner().inner;
    (s.data, done, s.log)
}

fn check(version: LabelVersion, max: usize) -> usize {
    let mut base = vec![0u8; 128 << 10];
    init(&mut base, version, InitStyle::Ndctl).expect("init");
    // Dry run: the namespace set after each operation, and every write's length.
    let (_, done, log) = run(&base, max, usize::MAX, 0);
    assert_eq!(done, SCRIPT.len());
    let mut states = vec![namespaces(&base)];
    for k in 1..=SCRIPT.len() {
        let mut w = writer(&base, max, usize::MAX, 0);
        for &op in &SCRIPT[..k] {
            apply(&mut w, op).expect("dry run");
        }
        states.push(namespaces(&w.into_inner().inner.data));
    }
    for pair in states.windows(2) {
        assert_ne!(pair[0], pair[1], "every step changes the set");
    }
    let mut points = 0;
    for (cut, &len) in log.iter().enumerate() {
        for tear in (0..=len).step_by(8) {
            let (area, done, _) = run(&base, max, cut, tear);
            let got = namespaces(&area);
            assert!(
                got == states[done] || got == states[done + 1],
                "{version:?} max {max}: write {cut} torn at {tear}: got {got:?}"
            );
            // The area stays updatable after the crash.
            let mut w = Writer::new(area, region());
            w.create(&NamespaceSpec::new(uuid(9), Name::EMPTY, 2 * MIB))
                .expect("recovery");
            assert!(
                w.read()
                    .expect("parses")
                    .namespaces()
                    .iter()
                    .any(|n| n.uuid == uuid(9))
            );
            points += 1;
        }
    }
    points
}

#[test]
fn every_cut_point_yields_the_old_or_the_new_set() {
    let mut total = 0;
    for version in [LabelVersion::V1_1, LabelVersion::V1_2, LabelVersion::Cxl] {
        // Unlimited transfers, and 64-byte transfers (several per index write).
        for max in [usize::MAX, 64] {
            let points = check(version, max);
            let max = if max == usize::MAX {
                "unlimited".to_string()
            } else {
                max.to_string()
            };
            println!("{version:?}, max transfer {max}: {points} cut points checked");
            total += points;
        }
    }
    println!("crash consistency: {total} cut points checked, all old-or-new");
    assert!(total > 0);
}
