// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The pages as shared memory sees them: every field an atomic of its own C size, so the
//! two sides (Xen or an emulator, and a device model) never race on plain memory.
//!
//! [`SlotCell`] has exactly the layout of `ioreq_t`, [`IoreqPage`] of one synchronous page
//! and [`BufferedPage`] of `buffered_iopage`; the compile-time asserts below check it.
//! How to lay these over mapped memory is in [`crate::shared`].

use crate::layout::{IOREQ_BUFFER_SLOT_NUM, Ioreq, SLOTS_PER_PAGE};
use crate::sync::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};
use zerocopy::little_endian::{U16, U32, U64};

/// One `ioreq_t` in shared memory.
#[derive(Debug, Default)]
#[repr(C, align(8))]
pub struct SlotCell {
    pub(crate) addr: AtomicU64,
    pub(crate) data: AtomicU64,
    pub(crate) count: AtomicU32,
    pub(crate) size: AtomicU32,
    pub(crate) vp_eport: AtomicU32,
    pub(crate) pad0: AtomicU16,
    /// Byte 30: `state:4, data_is_ptr:1, dir:1, df:1`. The only field either side
    /// accesses with other than `Relaxed` ordering.
    pub(crate) flags: AtomicU8,
    pub(crate) kind: AtomicU8,
}

impl SlotCell {
    /// A zeroed slot (state `NONE`), for tests and in-process use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies every field but byte 30 out, with `Relaxed` loads; the caller orders them
    /// after its `Acquire` load of byte 30 and passes that byte in.
    pub(crate) fn snapshot(&self, flags: u8) -> Ioreq {
        Ioreq {
            addr: U64::new(self.addr.load(Ordering::Relaxed)),
            data: U64::new(self.data.load(Ordering::Relaxed)),
            count: U32::new(self.count.load(Ordering::Relaxed)),
            size: U32::new(self.size.load(Ordering::Relaxed)),
            vp_eport: U32::new(self.vp_eport.load(Ordering::Relaxed)),
            _pad0: U16::new(self.pad0.load(Ordering::Relaxed)),
            flags,
            r#type: self.kind.load(Ordering::Relaxed),
        }
    }

    /// Stores every field but byte 30 with `Relaxed` stores; the caller publishes them
    /// with a `Release` store of byte 30.
    pub(crate) fn store_body(&self, raw: &Ioreq) {
        self.addr.store(raw.addr.get(), Ordering::Relaxed);
        self.data.store(raw.data.get(), Ordering::Relaxed);
        self.count.store(raw.count.get(), Ordering::Relaxed);
        self.size.store(raw.size.get(), Ordering::Relaxed);
        self.vp_eport.store(raw.vp_eport.get(), Ordering::Relaxed);
        self.pad0.store(raw._pad0.get(), Ordering::Relaxed);
        self.kind.store(raw.r#type, Ordering::Relaxed);
    }
}

/// One synchronous ioreq page: 128 slots.
#[derive(Debug)]
#[repr(C, align(4096))]
pub struct IoreqPage {
    /// The slots, indexed by `vcpu_id % 128`.
    pub slots: [SlotCell; SLOTS_PER_PAGE],
}

impl Default for IoreqPage {
    fn default() -> Self {
        Self {
            slots: core::array::from_fn(|_| SlotCell::new()),
        }
    }
}

/// One `buf_ioreq` entry in shared memory.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct BufSlotCell {
    pub(crate) header: AtomicU32,
    pub(crate) data: AtomicU32,
}

/// `buffered_iopage`: the ring pointers and 511 entries.
///
/// The header is one 64-bit atomic: `read_pointer` in its low half, `write_pointer` in its
/// high half (little-endian, as Xen's `union bufioreq_pointers` overlays them on
/// `uint64_t full`). Using it whole gives the reader a consistent pair in one load and
/// lets the writer canonicalise both pointers at once, as Xen does.
#[derive(Debug)]
#[repr(C, align(4096))]
pub struct BufferedPage {
    pub(crate) pointers: AtomicU64,
    pub(crate) slots: [BufSlotCell; IOREQ_BUFFER_SLOT_NUM as usize],
}

impl Default for BufferedPage {
    fn default() -> Self {
        Self {
            pointers: AtomicU64::new(0),
            slots: core::array::from_fn(|_| BufSlotCell::default()),
        }
    }
}

/// Only under `--cfg loom`: the model in `tests/loom.rs` starts rings at pointers that
/// pushing cannot reach in a model's time (near 2^32).
#[cfg(loom)]
impl BufferedPage {
    /// A page whose ring has `read_pointer` `read` and `write_pointer` `write`.
    #[doc(hidden)]
    pub fn with_pointers(read: u32, write: u32) -> Self {
        let page = Self::default();
        let pointers = u64::from(read) | u64::from(write) << 32;
        page.pointers.store(pointers, Ordering::Relaxed);
        page
    }
}

#[cfg(target_endian = "big")]
compile_error!("ioreq pages are little-endian; big-endian hosts are not supported");

#[cfg(not(loom))]
const _: () = {
    use crate::layout::{BufIoreq, BufferedIopage, IOREQ_SIZE, PAGE_SIZE};
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<SlotCell>() == IOREQ_SIZE);
    assert!(align_of::<SlotCell>() == align_of::<Ioreq>());
    assert!(offset_of!(SlotCell, addr) == offset_of!(Ioreq, addr));
    assert!(offset_of!(SlotCell, data) == offset_of!(Ioreq, data));
    assert!(offset_of!(SlotCell, count) == offset_of!(Ioreq, count));
    assert!(offset_of!(SlotCell, size) == offset_of!(Ioreq, size));
    assert!(offset_of!(SlotCell, vp_eport) == offset_of!(Ioreq, vp_eport));
    assert!(offset_of!(SlotCell, pad0) == offset_of!(Ioreq, _pad0));
    assert!(offset_of!(SlotCell, flags) == offset_of!(Ioreq, flags));
    assert!(offset_of!(SlotCell, kind) == offset_of!(Ioreq, r#type));
    assert!(size_of::<IoreqPage>() == PAGE_SIZE);
    assert!(size_of::<BufSlotCell>() == size_of::<BufIoreq>());
    assert!(offset_of!(BufSlotCell, data) == offset_of!(BufIoreq, data));
    assert!(offset_of!(BufferedPage, pointers) == offset_of!(BufferedIopage, read_pointer));
    assert!(offset_of!(BufferedPage, slots) == offset_of!(BufferedIopage, buf_ioreq));
    assert!(size_of::<BufferedPage>() == size_of::<BufferedIopage>());
};
