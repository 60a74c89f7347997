//! Interrupted and damaged label areas for Linux to judge: our writer runs a rename, a
//! create and a delete on one of our areas while a recording storage keeps the area
//! after every write and with only the first `TEAR` bytes of each write landed. A few of
//! those states, plus two kinds of damage, go to Linux; what it lists must be what our
//! parser reads.

use nvdimm_label::layout::NSLABEL_FLAG_UPDATING;
use nvdimm_label::{
    Lsa, Name, NamespaceSpec, Region, Storage, StorageError, Uuid, Writer, fletcher64_skipping,
};

/// Offset of `name` in an EFI label (Linux `struct nvdimm_efi_label`).
const LABEL_NAME_OFFSET: usize = 16;
/// Offset of `flags` in an EFI label (Linux `struct nvdimm_efi_label`).
const LABEL_FLAGS_OFFSET: usize = 80;
/// Offset of `checksum` in a v1.2 label (Linux `struct nvdimm_efi_label`).
const LABEL_CHECKSUM_OFFSET: usize = 248;
/// Offset of `checksum` in an index block (Linux `struct nd_namespace_index`).
const INDEX_CHECKSUM_OFFSET: usize = 64;

/// Bytes of a write that land before the power cut in the "torn" states: an index
/// block's header up to, not including, its checksum (a tear further in can leave only
/// bitmap bytes unwritten that did not change, i.e. a complete update).
const TEAR: usize = 64;

/// A byte area that keeps, for every write, the area with its first `TEAR` bytes
/// landed and the area after it.
struct Recorder {
    data: Vec<u8>,
    writes: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Storage for Recorder {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.data.as_mut_slice().read(offset, buf)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let mut half = self.data.clone();
        half.as_mut_slice()
            .write(offset, &data[..TEAR.min(data.len())])?;
        self.data.as_mut_slice().write(offset, data)?;
        self.writes.push((half, self.data.clone()));
        Ok(())
    }
}

/// One area to hand to Linux.
pub(crate) struct State {
    /// What happened to it.
    pub(crate) what: &'static str,
    /// The label area.
    pub(crate) area: Vec<u8>,
    /// Index into the namespace sets `states` returns: what the area must read as.
    pub(crate) set: usize,
}

/// A set of namespaces as (uuid, name, size), sorted.
pub(crate) type Set = Vec<(String, String, u64)>;

/// The namespaces of an area.
pub(crate) fn namespaces(area: &[u8]) -> Set {
    let lsa = Lsa::parse(area).unwrap_or_else(|e| panic!("our parser rejects the area: {e}"));
    let mut v: Vec<_> = lsa
        .namespaces()
        .iter()
        .map(|n| {
            (
                n.uuid.to_string(),
                n.name.as_str().expect("UTF-8").to_owned(),
                n.size(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The bytes of the first active label of `area`.
fn first_label(area: &mut [u8]) -> &mut [u8] {
    let lsa = Lsa::parse(area).expect("parses");
    let geometry = lsa.index().geometry;
    let label_size = usize::try_from(geometry.label_size).expect("small");
    let slot = usize::try_from(lsa.labels().first().expect("a label").slot()).expect("small");
    let start = usize::try_from(geometry.label_base()).expect("small") + slot * label_size;
    &mut area[start..start + label_size]
}

/// Changes a byte of the first active label's name without fixing its checksum.
pub(crate) fn break_label_checksum(area: &mut [u8]) {
    first_label(area)[LABEL_NAME_OFFSET] ^= 0x20;
}

/// Runs rename `rename` → "torn-renamed", create `create` (16 MiB), delete `delete` on
/// `base` and returns the chosen states and the four namespace sets they must read as
/// (0: base, 1: renamed, 2: created, 3: deleted).
pub(crate) fn states(
    base: &[u8],
    region: Region,
    rename: Uuid,
    create: Uuid,
    delete: Uuid,
) -> (Vec<State>, Vec<Set>) {
    let mut rec = Recorder {
        data: base.to_vec(),
        writes: Vec::new(),
    };
    let mut w = Writer::new(&mut rec, region);
    let new_name = Name::new("torn-renamed").expect("short");
    w.rename(rename, new_name).expect("rename");
    let steps = [w.storage().writes.len()];
    w.create(&NamespaceSpec::new(
        create,
        Name::new("torn-created").expect("short"),
        16 << 20,
    ))
    .expect("create");
    let steps = [steps[0], w.storage().writes.len()];
    w.delete(delete).expect("delete");
    let writes = &rec.writes;
    // Each update is one label write and one index write; a delete only the index.
    assert_eq!(
        (steps, writes.len()),
        ([2, 4], 5),
        "the writer's update order changed"
    );
    let sets = vec![
        namespaces(base),
        namespaces(&writes[1].1),
        namespaces(&writes[3].1),
        namespaces(&writes[4].1),
    ];
    let done = &writes[4].1;
    let lsa = Lsa::parse(done).expect("parses");
    let mut bad_index = done.clone();
    let at = usize::try_from(lsa.index().offset()).expect("small") + INDEX_CHECKSUM_OFFSET;
    bad_index[at] ^= 1;
    let mut updating = done.clone();
    let label = first_label(&mut updating);
    let flags = u32::from_le_bytes(
        label[LABEL_FLAGS_OFFSET..][..4]
            .try_into()
            .expect("4 bytes"),
    );
    label[LABEL_FLAGS_OFFSET..][..4]
        .copy_from_slice(&(flags | NSLABEL_FLAG_UPDATING).to_le_bytes());
    let sum = fletcher64_skipping(label, LABEL_CHECKSUM_OFFSET);
    label[LABEL_CHECKSUM_OFFSET..][..8].copy_from_slice(&sum.to_le_bytes());
    let chosen = vec![
        State {
            what: "rename: new label written, index not yet",
            area: writes[0].1.clone(),
            set: 0,
        },
        State {
            what: "rename: index write torn",
            area: writes[1].0.clone(),
            set: 0,
        },
        State {
            what: "create: index write torn",
            area: writes[3].0.clone(),
            set: 1,
        },
        State {
            what: "delete: index write torn",
            area: writes[4].0.clone(),
            set: 2,
        },
        State {
            what: "delete committed, then the current index's checksum broken",
            area: bad_index,
            set: 2,
        },
        State {
            what: "a label of the final area marked UPDATING (checksum fixed)",
            area: updating,
            set: 3,
        },
    ];
    (chosen, sets)
}
