// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Fixed-capacity storage of the event layer: events waiting for the packet that gives
//! them their IP (libipt's event queue with its bindings, `pt_event_queue.c`) and the
//! events ready to be handed out, in order. No allocation: a trace that would need more
//! room is refused with [`Error::QueueFull`](super::Error::QueueFull).

use super::{Event, Record};

/// What packet completes a waiting event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bind {
    /// The next TIP, TIP.PGE or TIP.PGD.
    Tip,
    /// The next FUP.
    Fup,
    /// The PSBEND (or OVF) that ends the current PSB+.
    PsbEnd,
}

/// How many events may wait at once. A PSB+ holds one event per status packet; hardware
/// writes at most about ten (SDM: TSC, TMA, CBR, PIP, VMCS, MODE.Exec, MODE.TSX, FUP).
pub(super) const WAITING: usize = 16;
/// How many ready events one packet can release: all waiting ones plus its own.
pub(super) const READY: usize = WAITING + 2;

/// Events waiting for their binding packet, oldest first.
#[derive(Debug, Clone)]
pub(super) struct Waiting {
    slots: [(Event, Bind); WAITING],
    len: usize,
}

impl Waiting {
    pub(super) const fn new() -> Self {
        Self {
            slots: [(Event::Stop, Bind::Tip); WAITING],
            len: 0,
        }
    }

    pub(super) const fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Adds an event; `false` when full.
    #[inline]
    pub(super) fn push(&mut self, event: Event, bind: Bind) -> bool {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = (event, bind);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The first `Some` that `f` returns for an event bound to `bind`.
    #[inline]
    pub(super) fn find_map<T>(&self, bind: Bind, f: impl Fn(&Event) -> Option<T>) -> Option<T> {
        self.slots
            .iter()
            .take(self.len)
            .filter(|(_, b)| *b == bind)
            .find_map(|(e, _)| f(e))
    }

    /// Removes the events bound to `bind`, oldest first, passing each to `f`.
    #[inline]
    pub(super) fn drain(&mut self, bind: Bind, mut f: impl FnMut(Event)) {
        let mut kept = 0;
        for i in 0..self.len {
            let Some(&(event, b)) = self.slots.get(i) else {
                break;
            };
            if b == bind {
                f(event);
            } else {
                if let Some(slot) = self.slots.get_mut(kept) {
                    *slot = (event, b);
                }
                kept += 1;
            }
        }
        self.len = kept;
    }
}

/// Events ready to hand out, in order.
#[derive(Debug, Clone)]
pub(super) struct Ready {
    slots: [Record; READY],
    head: usize,
    len: usize,
}

impl Ready {
    pub(super) const fn new() -> Self {
        Self {
            slots: [Record::EMPTY; READY],
            head: 0,
            len: 0,
        }
    }

    pub(super) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// No record left to hand out. (`pop` clears the queue when it hands out the
    /// last record, so `head == len` only when both are 0: one load.)
    pub(super) const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a record; `false` when full (only after a burst larger than [`READY`]).
    #[inline]
    pub(super) fn push(&mut self, record: Record) -> bool {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = record;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The oldest record; the storage is reused once all are taken.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<Record> {
        if self.is_empty() {
            return None;
        }
        let record = self.slots.get(self.head).copied();
        self.head += 1;
        if self.head == self.len {
            self.clear();
        }
        record
    }
}
