// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A label area in guest memory (feature `vm-memory`): the bytes a VMM built on rust-vmm
//! maps for an emulated NVDIMM's label storage, read and written through `vm-memory`'s
//! [`Bytes`] so that every access goes through the VMM's own guest-memory checks.

use vm_memory::{Address, Bytes, GuestAddress, GuestMemory};

use crate::storage::{Storage, StorageError, range};

/// `size` bytes of guest memory from `base`, as a [`Storage`]. Offsets past `size` are
/// [`StorageError::OutOfBounds`]; a range guest memory does not map (or an I/O error of
/// a file-backed region) is [`StorageError::Io`].
///
/// ```
/// use nvdimm_label::{GuestMemoryStorage, InitStyle, LabelVersion, Lsa, init, read_all};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// // The VMM's guest memory; the label area is 128 KiB at 1 MiB.
/// let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
/// let mut area = GuestMemoryStorage::new(&mem, GuestAddress(1 << 20), 128 << 10);
/// init(&mut area, LabelVersion::V1_2, InitStyle::Kernel)?;
/// let mut bytes = vec![0u8; 128 << 10];
/// read_all(&mut area, 0, &mut bytes)?;
/// assert_eq!(Lsa::parse(&bytes)?.index().nslot(), 510);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct GuestMemoryStorage<'a, M: GuestMemory + ?Sized> {
    mem: &'a M,
    base: GuestAddress,
    size: u64,
}

impl<'a, M: GuestMemory + ?Sized> GuestMemoryStorage<'a, M> {
    /// The area of `size` bytes at guest physical address `base` of `mem`.
    pub fn new(mem: &'a M, base: GuestAddress, size: u64) -> Self {
        Self { mem, base, size }
    }

    fn at(&self, offset: u64, len: usize) -> Result<GuestAddress, StorageError> {
        range(self.size, offset, len)?;
        self.base.checked_add(offset).ok_or(StorageError::Io {
            offset,
            len,
            os_error: None,
        })
    }
}

fn io(offset: u64, len: usize, e: &vm_memory::GuestMemoryError) -> StorageError {
    let os_error = match e {
        vm_memory::GuestMemoryError::IOError(io) => io.raw_os_error(),
        _ => None,
    };
    StorageError::Io {
        offset,
        len,
        os_error,
    }
}

impl<M: GuestMemory + ?Sized> Storage for GuestMemoryStorage<'_, M> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let addr = self.at(offset, buf.len())?;
        self.mem
            .read_slice(buf, addr)
            .map_err(|e| io(offset, buf.len(), &e))
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let addr = self.at(offset, data.len())?;
        self.mem
            .write_slice(data, addr)
            .map_err(|e| io(offset, data.len(), &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InitStyle, LabelVersion, Lsa, Name, NamespaceSpec, Region, Uuid, Writer, init};
    use std::vec;
    use vm_memory::GuestMemoryMmap;

    const AREA: u64 = 128 << 10;

    #[test]
    fn label_area_in_guest_memory_round_trips() {
        // Two regions with a hole: the area sits at the end of the second one.
        let mem = GuestMemoryMmap::<()>::from_ranges(&[
            (GuestAddress(0), 1 << 20),
            (GuestAddress(4 << 20), 1 << 20),
        ])
        .expect("mapped");
        let base = GuestAddress((5 << 20) - AREA);
        let mut area = GuestMemoryStorage::new(&mem, base, AREA);
        init(&mut area, LabelVersion::V1_2, InitStyle::Kernel).expect("init");
        let mut w = Writer::new(area, Region::pmem(1 << 30, 0));
        let uuid = Uuid([7; 16]);
        w.create(&NamespaceSpec::new(
            uuid,
            Name::new("guest").expect("short"),
            2 << 20,
        ))
        .expect("created");
        // What the guest sees at that address is the area the writer left.
        let mut bytes = vec![0u8; 128 << 10];
        mem.read_slice(&mut bytes, base).expect("mapped");
        let lsa = Lsa::parse(&bytes).expect("valid");
        assert_eq!(lsa.namespaces().first().map(|n| n.uuid), Some(uuid));
    }

    #[test]
    fn out_of_area_and_unmapped_are_errors() {
        let mem =
            GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]).expect("mapped");
        let mut area = GuestMemoryStorage::new(&mem, GuestAddress(0), AREA);
        let mut buf = [0u8; 16];
        assert_eq!(
            area.read(AREA - 8, &mut buf),
            Err(StorageError::OutOfBounds {
                offset: AREA - 8,
                len: 16,
                size: AREA
            })
        );
        // The area claims more than guest memory maps past 1 MiB.
        let mut beyond = GuestMemoryStorage::new(&mem, GuestAddress((1 << 20) - 8), AREA);
        assert!(matches!(
            beyond.write(0, &buf),
            Err(StorageError::Io {
                offset: 0,
                len: 16,
                ..
            })
        ));
        assert!(matches!(
            beyond.read(64, &mut buf),
            Err(StorageError::Io { offset: 64, .. })
        ));
    }
}
