// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The synchronous request/response protocol over shared slots.
//!
//! ```text
//!  emulator (Xen)                    device model
//!  NONE --post--> READY --take--> INPROCESS --complete--> IORESP_READY --poll_response--> NONE
//! ```
//!
//! Ordering, as Xen (`ioreq_send`, `wait_for_io`) and QEMU (`cpu_get_ioreq_from_shared_memory`,
//! `cpu_handle_ioreq`) do it with `smp_wmb`/`smp_rmb`: every field but byte 30 is accessed
//! `Relaxed`; byte 30 (the state) is stored with `Release` after the fields it publishes
//! and loaded with `Acquire` before the fields it guards. Each such access below names the
//! access on the other side it pairs with.

use crate::cell::{IoreqPage, SlotCell};
use crate::error::{Error, Result};
use crate::layout::{FLAGS_STATE_MASK, SLOTS_PER_PAGE};
use crate::request::{Request, State};
use crate::sizing::PageLayout;
use crate::sync::Ordering;

/// Tells the other side that a slot changed: an event channel, an eventfd, or a test
/// double. Closures `Fn(u32)` implement it.
pub trait Notify {
    /// Signals that vCPU `vcpu`'s slot has something for the other side.
    fn notify(&self, vcpu: u32);
}

impl<F: Fn(u32)> Notify for F {
    fn notify(&self, vcpu: u32) {
        self(vcpu)
    }
}

/// One vCPU's slot, with both sides' operations.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    cell: &'a SlotCell,
    vcpu: u32,
}

impl<'a> Slot<'a> {
    /// Wraps `cell` as vCPU `vcpu`'s slot (the number only labels errors).
    pub fn new(cell: &'a SlotCell, vcpu: u32) -> Self {
        Self { cell, vcpu }
    }

    /// The vCPU this slot belongs to.
    pub fn vcpu(&self) -> u32 {
        self.vcpu
    }

    /// The current state, with `Acquire` (pairs with whichever side's `Release` store of
    /// byte 30 produced it).
    pub fn state(&self) -> Result<State> {
        State::from_raw(self.cell.flags.load(Ordering::Acquire) & FLAGS_STATE_MASK)
    }

    fn unexpected(&self, state: u8) -> Error {
        Error::UnexpectedState {
            vcpu: self.vcpu,
            state,
        }
    }

    /// Emulator side: posts `request` (its `state` is ignored) and marks it READY.
    ///
    /// Fails with [`Error::SlotBusy`] unless the slot is `NONE`.
    pub fn post(&self, request: &Request) -> Result<()> {
        // Acquire pairs with `poll_response`'s Release store of NONE by this same side on
        // another thread, or the device model's stores if it misbehaves.
        let state = self.cell.flags.load(Ordering::Acquire) & FLAGS_STATE_MASK;
        if state != State::None.raw() {
            return Err(Error::SlotBusy {
                vcpu: self.vcpu,
                state,
            });
        }
        self.cell.store_body(&request.to_raw());
        let ready = Request {
            state: State::Ready,
            ..*request
        };
        // Release publishes the fields above; pairs with the Acquire load in `take`
        // (Xen's barrier before `state = STATE_IOREQ_READY`).
        self.cell.flags.store(ready.flags_byte(), Ordering::Release);
        Ok(())
    }

    /// Emulator side: collects the response if there is one.
    ///
    /// `Ok(Some(data))` once the device model completed (the slot is `NONE` again);
    /// `Ok(None)` while it is READY or INPROCESS; an error if the slot went back to NONE
    /// or holds an unknown state (Xen crashes the domain in both cases).
    pub fn poll_response(&self) -> Result<Option<u64>> {
        // Acquire pairs with the Release store of IORESP_READY in `complete`, so `data`
        // below is the device model's (Xen's `smp_rmb` after reading the state).
        let flags = self.cell.flags.load(Ordering::Acquire);
        match State::from_raw(flags & FLAGS_STATE_MASK) {
            Ok(State::RespReady) => {
                let data = self.cell.data.load(Ordering::Relaxed);
                // Release orders the read of `data` before the slot is reusable; pairs
                // with the Acquire load in the next `post`.
                self.cell.flags.store(
                    (flags & !FLAGS_STATE_MASK) | State::None.raw(),
                    Ordering::Release,
                );
                Ok(Some(data))
            }
            Ok(State::Ready | State::InProcess) => Ok(None),
            Ok(State::None) => Err(self.unexpected(State::None.raw())),
            Err(_) => Err(self.unexpected(flags & FLAGS_STATE_MASK)),
        }
    }

    /// Device-model side: claims a READY request, marking it INPROCESS.
    ///
    /// `Ok(None)` if the slot is not READY (a spurious or stale notification, which QEMU
    /// ignores too). If the request is malformed the slot is still claimed and the error
    /// returned: the caller decides between [`Slot::complete`] with all-ones (fail soft)
    /// and destroying the domain (what QEMU does).
    pub fn take(&self) -> Result<Option<Request>> {
        // Acquire pairs with the Release store of READY in `post` (QEMU: "see
        // IOREQ_READY *then* read contents").
        let flags = self.cell.flags.load(Ordering::Acquire);
        if flags & FLAGS_STATE_MASK != State::Ready.raw() {
            return Ok(None);
        }
        let raw = self.cell.snapshot(flags);
        // Relaxed: INPROCESS publishes nothing; the emulator only waits for it to change.
        self.cell.flags.store(
            (flags & !FLAGS_STATE_MASK) | State::InProcess.raw(),
            Ordering::Relaxed,
        );
        Request::parse(&raw).map(Some)
    }

    /// Device-model side: writes the response `data` and marks the slot IORESP_READY.
    ///
    /// Fails with [`Error::UnexpectedState`] unless the slot is INPROCESS (QEMU treats
    /// that as "not in service" and destroys the domain).
    pub fn complete(&self, data: u64) -> Result<()> {
        // Relaxed suffices: only this side moved the slot to INPROCESS, in `take`.
        let flags = self.cell.flags.load(Ordering::Relaxed);
        let state = flags & FLAGS_STATE_MASK;
        if state != State::InProcess.raw() {
            return Err(self.unexpected(state));
        }
        self.cell.data.store(data, Ordering::Relaxed);
        // Release publishes `data`; pairs with the Acquire load in `poll_response`
        // (QEMU's `xen_wmb` before `state = STATE_IORESP_READY`).
        self.cell.flags.store(
            (flags & !FLAGS_STATE_MASK) | State::RespReady.raw(),
            Ordering::Release,
        );
        Ok(())
    }
}

/// The synchronous pages of one ioreq server, in one contiguous mapping or scattered.
#[derive(Debug, Clone, Copy)]
pub struct SyncPages<'a> {
    layout: PageLayout,
    pages: Pages<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Pages<'a> {
    Contiguous(&'a [IoreqPage]),
    Scattered(&'a [&'a IoreqPage]),
}

impl<'a> SyncPages<'a> {
    /// Pages mapped as one array (a single map of frames `1 ..= sync_pages`).
    pub fn contiguous(layout: PageLayout, pages: &'a [IoreqPage]) -> Result<Self> {
        Self::check_count(layout, pages.len())?;
        Ok(Self {
            layout,
            pages: Pages::Contiguous(pages),
        })
    }

    /// Pages mapped one by one, in frame order.
    pub fn scattered(layout: PageLayout, pages: &'a [&'a IoreqPage]) -> Result<Self> {
        Self::check_count(layout, pages.len())?;
        Ok(Self {
            layout,
            pages: Pages::Scattered(pages),
        })
    }

    fn check_count(layout: PageLayout, have: usize) -> Result<()> {
        let need = layout.sync_pages() as usize;
        if have < need {
            return Err(Error::TooFewPages { have, need });
        }
        Ok(())
    }

    /// The layout the pages were sized for.
    pub fn layout(&self) -> PageLayout {
        self.layout
    }

    /// vCPU `vcpu`'s slot.
    pub fn slot(&self, vcpu: u32) -> Result<Slot<'a>> {
        let location = self.layout.locate(vcpu)?;
        let page = match self.pages {
            Pages::Contiguous(pages) => pages.get(location.page as usize),
            Pages::Scattered(pages) => pages.get(location.page as usize).copied(),
        };
        let cell = page.and_then(|p| p.slots.get(vcpu as usize % SLOTS_PER_PAGE));
        cell.map(|c| Slot::new(c, vcpu)).ok_or(Error::NoSuchVcpu {
            vcpu,
            nr_vcpus: self.layout.nr_vcpus(),
        })
    }

    /// The vCPUs whose slot is READY now, in order: what a device model scans when one
    /// notification may stand for several requests. `Relaxed` loads; [`Slot::take`]
    /// does the ordered read.
    pub fn ready(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.layout.nr_vcpus()).filter(move |&vcpu| {
            self.slot(vcpu).is_ok_and(|slot| {
                slot.cell.flags.load(Ordering::Relaxed) & FLAGS_STATE_MASK == State::Ready.raw()
            })
        })
    }
}

/// The emulator (Xen) end: posts requests and collects responses, notifying the device
/// model.
#[derive(Debug)]
pub struct Emulator<'a, N> {
    pages: SyncPages<'a>,
    notify: N,
}

impl<'a, N: Notify> Emulator<'a, N> {
    /// An emulator over `pages` that signals the device model with `notify`.
    pub fn new(pages: SyncPages<'a>, notify: N) -> Self {
        Self { pages, notify }
    }

    /// Posts `request` for `vcpu` and notifies.
    pub fn post(&self, vcpu: u32, request: &Request) -> Result<()> {
        self.pages.slot(vcpu)?.post(request)?;
        self.notify.notify(vcpu);
        Ok(())
    }

    /// Collects `vcpu`'s response, if ready (see [`Slot::poll_response`]).
    pub fn poll_response(&self, vcpu: u32) -> Result<Option<u64>> {
        self.pages.slot(vcpu)?.poll_response()
    }
}

/// The device-model end: takes requests and completes them, notifying the emulator.
#[derive(Debug)]
pub struct DeviceModel<'a, N> {
    pages: SyncPages<'a>,
    notify: N,
}

impl<'a, N: Notify> DeviceModel<'a, N> {
    /// A device model over `pages` that signals the emulator with `notify`.
    pub fn new(pages: SyncPages<'a>, notify: N) -> Self {
        Self { pages, notify }
    }

    /// The pages.
    pub fn pages(&self) -> &SyncPages<'a> {
        &self.pages
    }

    /// Claims `vcpu`'s request (see [`Slot::take`]).
    pub fn take(&self, vcpu: u32) -> Result<Option<Request>> {
        self.pages.slot(vcpu)?.take()
    }

    /// Completes `vcpu`'s request with `data` and notifies (see [`Slot::complete`]).
    pub fn complete(&self, vcpu: u32, data: u64) -> Result<()> {
        self.pages.slot(vcpu)?.complete(data)?;
        self.notify.notify(vcpu);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Direction;
    use std::boxed::Box;
    use std::vec::Vec;

    fn mmio_read(addr: u64) -> Request {
        Request {
            vp_eport: 3,
            ..Request::mmio(Direction::Read, addr, 4, 0)
        }
    }

    #[test]
    fn one_round_trip_through_every_state() {
        let cell = SlotCell::new();
        let slot = Slot::new(&cell, 0);
        assert_eq!(slot.take(), Ok(None), "nothing posted yet");
        assert_eq!(
            slot.poll_response(),
            Err(Error::UnexpectedState { vcpu: 0, state: 0 })
        );
        slot.post(&mmio_read(0xfee0_0000)).expect("free slot");
        assert_eq!(slot.state(), Ok(State::Ready));
        assert_eq!(
            slot.post(&mmio_read(1)),
            Err(Error::SlotBusy { vcpu: 0, state: 1 })
        );
        assert_eq!(
            slot.complete(1),
            Err(Error::UnexpectedState { vcpu: 0, state: 1 })
        );
        assert_eq!(slot.poll_response(), Ok(None));
        let taken = slot.take().expect("valid").expect("ready");
        assert_eq!(
            taken,
            Request {
                state: State::Ready,
                ..mmio_read(0xfee0_0000)
            }
        );
        assert_eq!(slot.state(), Ok(State::InProcess));
        assert_eq!(slot.take(), Ok(None), "taken once only");
        slot.complete(0x1234).expect("in process");
        assert_eq!(slot.poll_response(), Ok(Some(0x1234)));
        assert_eq!(slot.state(), Ok(State::None));
    }

    #[test]
    fn too_few_pages_is_its_own_error() {
        let layout = PageLayout::new(300).expect("valid");
        let pages: Vec<IoreqPage> = (0..2).map(|_| IoreqPage::default()).collect();
        assert_eq!(
            SyncPages::contiguous(layout, &pages).map(|_| ()),
            Err(Error::TooFewPages { have: 2, need: 3 })
        );
    }

    #[test]
    fn malformed_request_is_claimed_and_reported() {
        let cell = SlotCell::new();
        let slot = Slot::new(&cell, 5);
        slot.post(&mmio_read(0)).expect("free slot");
        cell.size.store(3, Ordering::Relaxed);
        assert_eq!(slot.take(), Err(Error::BadSize { kind: 1, size: 3 }));
        slot.complete(!0)
            .expect("claimed, so it can be failed soft");
        assert_eq!(slot.poll_response(), Ok(Some(!0)));
    }

    #[test]
    fn pages_index_by_frame_and_offset() {
        let layout = PageLayout::new(288).expect("valid");
        let owned: Vec<Box<IoreqPage>> = (0..3).map(|_| Box::default()).collect();
        let refs: Vec<&IoreqPage> = owned.iter().map(|p| &**p).collect();
        let pages = SyncPages::scattered(layout, &refs).expect("enough pages");
        let sent = core::sync::atomic::AtomicU32::new(0);
        let emulator = Emulator::new(pages, |_| {
            sent.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        });
        for vcpu in [0, 127, 128, 287] {
            emulator
                .post(vcpu, &mmio_read(u64::from(vcpu)))
                .expect("free");
        }
        assert_eq!(sent.load(core::sync::atomic::Ordering::Relaxed), 4);
        assert_eq!(pages.ready().collect::<Vec<_>>(), [0, 127, 128, 287]);
        assert_eq!(
            owned[2].slots[31].flags.load(Ordering::Relaxed) & 0xf,
            1,
            "vCPU 287: page 2, slot 31"
        );
        let dm = DeviceModel::new(pages, |_| {});
        for vcpu in pages.ready().collect::<Vec<_>>() {
            let r = dm.take(vcpu).expect("valid").expect("ready");
            dm.complete(vcpu, r.addr * 2).expect("in process");
        }
        assert_eq!(emulator.poll_response(287), Ok(Some(574)));
        assert!(matches!(pages.slot(288), Err(Error::NoSuchVcpu { .. })));
        assert!(SyncPages::scattered(layout, &refs[..2]).is_err());
    }
}
