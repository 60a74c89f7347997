// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The buffered ring (`buffered_iopage`): fire-and-forget writes Xen queues for the device
//! model (stdvga writes, `IOREQ_TYPE_TIMEOFFSET`), with a producer and a consumer.
//!
//! Pointers run freely and index the ring modulo 511. An 8-byte value takes two entries
//! with the same header, low half first. With [`Canonicalise::Yes`] (Xen's
//! `HVM_IOREQSRV_BUFIOREQ_ATOMIC`) the producer subtracts whole multiples of 511 from both
//! pointers at once so they never wrap; the consumer copes with either mode because it
//! reads and advances the pointer pair as one 64-bit word.

use crate::cell::BufferedPage;
use crate::error::{Error, Result};
use crate::layout::{BufIoreq, IOREQ_BUFFER_SLOT_NUM};
use crate::request::{Direction, RequestType};
use crate::sync::Ordering;
use zerocopy::little_endian::U32;

/// Attempts at a compare-exchange of the ring header before giving up with
/// [`Error::RingContended`]: the other side can change it at most a few times per entry.
const HEADER_ATTEMPTS: u32 = 1 << 16;

/// Largest address a buffered entry carries: 20 bits (`buf_ioreq.addr:20`).
pub const BUF_ADDR_MAX: u32 = 0xf_ffff;

/// A buffered request: always a single write (`count` 1, no pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct BufRequest {
    /// `type` ([`RequestType::Mmio`] or [`RequestType::TimeOffset`] in practice).
    pub kind: RequestType,
    /// `dir` as written; device models treat every entry as a write.
    pub dir: Direction,
    /// `size` as log2 of the byte count: 0..=3 for 1, 2, 4, 8 bytes.
    pub size_log2: u8,
    /// `addr`: 20 bits.
    pub addr: u32,
    /// `data`: 64 bits when `size_log2 == 3` (two entries), else the low 32 bits.
    pub data: u64,
}

impl BufRequest {
    /// Access size in bytes.
    pub fn size(&self) -> u32 {
        1 << (self.size_log2 & 3)
    }

    /// Whether the request takes two ring entries.
    pub fn is_qword(&self) -> bool {
        self.size_log2 == 3
    }

    fn header(&self) -> Result<u32> {
        if self.addr > BUF_ADDR_MAX || self.size_log2 > 3 {
            return Err(Error::NotBufferable {
                addr: u64::from(self.addr),
                size_log2: self.size_log2,
            });
        }
        let dir = match self.dir {
            Direction::Write => 0,
            Direction::Read => 1,
        };
        Ok(u32::from(self.kind.raw())
            | dir << 9
            | u32::from(self.size_log2) << 10
            | self.addr << 12)
    }

    /// Encodes the entries: one, or two for an 8-byte value. Data bits above the size
    /// are dropped for sizes below 8, as the ring format cannot carry them.
    pub fn encode(&self) -> Result<(BufIoreq, Option<BufIoreq>)> {
        let header = U32::new(self.header()?);
        let [lo, hi] = split(self.data);
        let first = BufIoreq {
            header,
            data: U32::new(lo),
        };
        let second = self.is_qword().then_some(BufIoreq {
            header,
            data: U32::new(hi),
        });
        Ok((first, second))
    }

    /// Decodes an entry (and its second half for an 8-byte value). The `pad` bit is
    /// ignored, as Xen and QEMU do; a `type` byte that is no `IOREQ_TYPE_*` is
    /// [`Error::UnknownType`].
    pub fn decode(first: BufIoreq, second: Option<BufIoreq>) -> Result<Self> {
        let header = first.header.get();
        let low = u64::from(first.data.get());
        let high = second.map_or(0, |s| u64::from(s.data.get()));
        Ok(Self {
            kind: RequestType::from_raw(header.to_le_bytes()[0])?,
            dir: if header & (1 << 9) != 0 {
                Direction::Read
            } else {
                Direction::Write
            },
            size_log2: ((header >> 10) & 3) as u8,
            addr: header >> 12,
            data: low | high << 32,
        })
    }
}

/// Splits a 64-bit value into its low and high 32-bit halves.
fn split(value: u64) -> [u32; 2] {
    let b = value.to_le_bytes();
    [
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
    ]
}

/// Whether an entry at `pointer` would overwrite a pending one. Slots are `pointer % 511`,
/// and 2^32 is not a multiple of 511, so once a legacy ring's pointers run across 2^32
/// (`pointer < read`) a new entry can land on a slot still pending before the wrap:
/// exactly when some pointer in `read .. 2^32` has the same residue.
fn lands_on_live_entry(read: u32, pointer: u32) -> bool {
    if pointer >= read {
        return false;
    }
    let n = IOREQ_BUFFER_SLOT_NUM;
    let distance = (pointer % n + n - read % n) % n;
    u64::from(read) + u64::from(distance) <= u64::from(u32::MAX)
}

fn join(read: u32, write: u32) -> u64 {
    u64::from(read) | u64::from(write) << 32
}

/// Whether the producer keeps the pointers below 511 (`HVM_IOREQSRV_BUFIOREQ_ATOMIC`) or
/// lets them run (`..._LEGACY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canonicalise {
    /// Subtract multiples of 511 from both pointers after each insert.
    Yes,
    /// Leave the pointers running.
    No,
}

/// A buffered ring over one [`BufferedPage`].
#[derive(Debug, Clone, Copy)]
pub struct BufferedRing<'a> {
    page: &'a BufferedPage,
}

impl<'a> BufferedRing<'a> {
    /// The ring in `page`.
    pub fn new(page: &'a BufferedPage) -> Self {
        Self { page }
    }

    fn entry(&self, pointer: u32) -> BufIoreq {
        let cell = &self.page.slots[(pointer % IOREQ_BUFFER_SLOT_NUM) as usize];
        BufIoreq {
            header: U32::new(cell.header.load(Ordering::Relaxed)),
            data: U32::new(cell.data.load(Ordering::Relaxed)),
        }
    }

    /// The `(read_pointer, write_pointer)` pair, validated: the writer is ahead by at
    /// most 511 entries (modulo 2^32, for a legacy ring that wrapped).
    ///
    /// `Acquire` pairs with the producer's `Release` compare-exchange in `push`, so the
    /// entries it counts are visible.
    pub fn pointers(&self) -> Result<(u32, u32)> {
        let [read, write] = split(self.page.pointers.load(Ordering::Acquire));
        if write.wrapping_sub(read) > IOREQ_BUFFER_SLOT_NUM {
            return Err(Error::BadRingPointers { read, write });
        }
        Ok((read, write))
    }

    /// Consumer: takes the oldest request, if any, and frees its entries.
    ///
    /// Errors leave the ring as it was: inconsistent pointers, an 8-byte request whose
    /// second entry is missing or has another header, or an unknown `type` byte.
    pub fn pop(&self) -> Result<Option<BufRequest>> {
        let (read, write) = self.pointers()?;
        let pending = write.wrapping_sub(read);
        if pending == 0 {
            return Ok(None);
        }
        let first = self.entry(read);
        let qword = (first.header.get() >> 10) & 3 == 3;
        let second = if qword {
            let second = self.entry(read.wrapping_add(1));
            if pending < 2 || second.header != first.header {
                return Err(Error::IncompleteQword { read });
            }
            Some(second)
        } else {
            None
        };
        let request = BufRequest::decode(first, second)?;
        self.advance_read(1 + u32::from(qword))?;
        Ok(Some(request))
    }

    /// Adds `entries` to `read_pointer` atomically, keeping whatever `write_pointer` (and
    /// canonicalisation) the producer stored meanwhile.
    fn advance_read(&self, entries: u32) -> Result<()> {
        let mut current = self.page.pointers.load(Ordering::Relaxed);
        for _ in 0..HEADER_ATTEMPTS {
            let [read, write] = split(current);
            let next = join(read.wrapping_add(entries), write);
            // Release orders our reads of the entries before the producer may reuse them;
            // pairs with the Acquire load in `push`.
            match self.page.pointers.compare_exchange_weak(
                current,
                next,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
        Err(Error::RingContended(HEADER_ATTEMPTS))
    }

    /// Producer: appends `request`, or fails with [`Error::RingFull`] (Xen then falls back
    /// to the synchronous path).
    pub fn push(&self, request: &BufRequest, canonicalise: Canonicalise) -> Result<()> {
        let (first, second) = request.encode()?;
        let entries = 1 + u32::from(second.is_some());
        // Acquire (inside `pointers`) pairs with the consumer's Release in `advance_read`:
        // entries it freed are no longer being read.
        let (read, write) = self.pointers()?;
        if write.wrapping_sub(read) > IOREQ_BUFFER_SLOT_NUM - entries
            || (0..entries).any(|k| lands_on_live_entry(read, write.wrapping_add(k)))
        {
            return Err(Error::RingFull);
        }
        for (offset, entry) in (0u32..).zip([Some(first), second].into_iter().flatten()) {
            let cell =
                &self.page.slots[(write.wrapping_add(offset) % IOREQ_BUFFER_SLOT_NUM) as usize];
            cell.header.store(entry.header.get(), Ordering::Relaxed);
            cell.data.store(entry.data.get(), Ordering::Relaxed);
        }
        let mut current = self.page.pointers.load(Ordering::Relaxed);
        for _ in 0..HEADER_ATTEMPTS {
            let [read_now, write_now] = split(current);
            let (mut read_next, mut write_next) = (read_now, write_now.wrapping_add(entries));
            // Only an unwrapped pair can be canonicalised: subtracting a multiple of 511
            // keeps each pointer's slot only if neither crosses 2^32.
            if canonicalise == Canonicalise::Yes
                && read_next >= IOREQ_BUFFER_SLOT_NUM
                && write_next >= read_next
            {
                let excess = read_next - read_next % IOREQ_BUFFER_SLOT_NUM;
                read_next -= excess;
                write_next = write_next.wrapping_sub(excess);
            }
            // Release publishes the entries written above; pairs with the Acquire load in
            // the consumer's `pointers` (Xen's `smp_wmb` before moving `write_pointer`).
            match self.page.pointers.compare_exchange_weak(
                current,
                join(read_next, write_next),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
        Err(Error::RingContended(HEADER_ATTEMPTS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::boxed::Box;
    use std::vec::Vec;

    #[test]
    fn known_answer_encoding() {
        // A COPY write of 4 bytes to 0xA0010, data 0x12345678: type 1 in bits 7:0, size
        // log2 2 in bits 11:10, addr in bits 31:12, data in the second word (Xen
        // `public/hvm/ioreq.h`, `struct buf_ioreq`) -> 0x12345678_a0010801.
        let r = BufRequest {
            kind: RequestType::Mmio,
            dir: Direction::Write,
            size_log2: 2,
            addr: 0xa0010,
            data: 0x1234_5678,
        };
        let (first, second) = r.encode().expect("bufferable");
        let image: u64 = zerocopy::transmute!(first);
        assert_eq!(image, 0x1234_5678_a001_0801);
        assert_eq!(second, None);
        assert_eq!(BufRequest::decode(first, None), Ok(r));
    }

    #[test]
    fn unknown_type_is_refused_and_left_in_place() {
        let page = Box::<BufferedPage>::default();
        let ring = BufferedRing::new(&page);
        let r = BufRequest {
            kind: RequestType::Mmio,
            dir: Direction::Write,
            size_log2: 2,
            addr: 0x10,
            data: 1,
        };
        ring.push(&r, Canonicalise::Yes).expect("room");
        // Type byte 3 is no IOREQ_TYPE_* value.
        let header = page.slots[0].header.load(Ordering::Relaxed);
        page.slots[0]
            .header
            .store(header & !0xff | 3, Ordering::Relaxed);
        assert_eq!(ring.pop(), Err(Error::UnknownType(3)));
        assert_eq!(ring.pointers(), Ok((0, 1)), "nothing consumed");
    }

    #[test]
    fn qword_spans_two_entries_across_the_wrap() {
        let page = Box::<BufferedPage>::default();
        page.pointers.store(join(510, 510), Ordering::Relaxed);
        let ring = BufferedRing::new(&page);
        let r = BufRequest {
            kind: RequestType::TimeOffset,
            dir: Direction::Write,
            size_log2: 3,
            addr: 0,
            data: 0xdead_beef_0123_4567,
        };
        ring.push(&r, Canonicalise::Yes).expect("room");
        assert_eq!(page.slots[510].data.load(Ordering::Relaxed), 0x0123_4567);
        assert_eq!(page.slots[0].data.load(Ordering::Relaxed), 0xdead_beef);
        assert_eq!(ring.pop(), Ok(Some(r)));
        assert_eq!(ring.pop(), Ok(None));
        // The next push canonicalises: 512 -> 1.
        ring.push(&BufRequest { size_log2: 0, ..r }, Canonicalise::Yes)
            .expect("room");
        assert_eq!(ring.pointers(), Ok((1, 2)));
    }

    #[test]
    fn full_ring_and_bad_pointers() {
        let page = Box::<BufferedPage>::default();
        let ring = BufferedRing::new(&page);
        let r = BufRequest {
            kind: RequestType::Mmio,
            dir: Direction::Write,
            size_log2: 0,
            addr: 0xa0000,
            data: 1,
        };
        for _ in 0..511 {
            ring.push(&r, Canonicalise::No).expect("room");
        }
        assert_eq!(ring.push(&r, Canonicalise::No), Err(Error::RingFull));
        page.pointers.store(join(0, 512), Ordering::Relaxed);
        assert_eq!(
            ring.pop(),
            Err(Error::BadRingPointers {
                read: 0,
                write: 512
            })
        );
        page.pointers.store(join(5, 4), Ordering::Relaxed);
        assert_eq!(
            ring.pop(),
            Err(Error::BadRingPointers { read: 5, write: 4 })
        );
        assert!(matches!(
            ring.push(
                &BufRequest {
                    addr: 0x10_0000,
                    ..r
                },
                Canonicalise::No
            ),
            Err(Error::NotBufferable { .. })
        ));
    }

    #[test]
    fn incomplete_qword_leaves_the_ring_untouched() {
        let page = Box::<BufferedPage>::default();
        let ring = BufferedRing::new(&page);
        page.slots[0].header.store(3 << 10, Ordering::Relaxed);
        page.pointers.store(join(0, 1), Ordering::Relaxed);
        assert_eq!(ring.pop(), Err(Error::IncompleteQword { read: 0 }));
        page.pointers.store(join(0, 2), Ordering::Relaxed);
        page.slots[1].header.store(1, Ordering::Relaxed);
        assert_eq!(ring.pop(), Err(Error::IncompleteQword { read: 0 }));
        assert_eq!(ring.pointers(), Ok((0, 2)));
    }

    #[test]
    fn legacy_pointers_wrap_around_u32() {
        let page = Box::<BufferedPage>::default();
        page.pointers
            .store(join(u32::MAX, u32::MAX), Ordering::Relaxed);
        let ring = BufferedRing::new(&page);
        let r = BufRequest {
            kind: RequestType::Mmio,
            dir: Direction::Write,
            size_log2: 1,
            addr: 2,
            data: 3,
        };
        ring.push(&r, Canonicalise::No).expect("room");
        ring.push(&r, Canonicalise::No).expect("room");
        assert_eq!(ring.pointers(), Ok((u32::MAX, 1)));
        assert_eq!(ring.pop(), Ok(Some(r)));
        assert_eq!(ring.pop(), Ok(Some(r)));
        assert_eq!(ring.pop(), Ok(None));
    }

    #[test]
    fn legacy_wrap_never_overwrites_a_pending_entry() {
        let page = Box::<BufferedPage>::default();
        page.pointers
            .store(join(u32::MAX, u32::MAX), Ordering::Relaxed);
        let ring = BufferedRing::new(&page);
        let mut pushed = 0u64;
        while ring
            .push(
                &BufRequest {
                    kind: RequestType::Mmio,
                    dir: Direction::Write,
                    size_log2: 2,
                    addr: 0,
                    data: pushed,
                },
                Canonicalise::No,
            )
            .is_ok()
        {
            pushed += 1;
        }
        // u32::MAX is slot 31 and 2^32 = 32 (mod 511): after the wrap, pointer 31 would
        // land on slot 31 again, so only 32 entries fit until the reader moves on.
        assert_eq!(pushed, 32);
        for expect in 0..pushed {
            assert_eq!(ring.pop().map(|r| r.map(|r| r.data)), Ok(Some(expect)));
        }
    }

    fn any_request() -> impl Strategy<Value = BufRequest> {
        (
            prop::sample::select(std::vec![
                RequestType::Pio,
                RequestType::Mmio,
                RequestType::PciConfig,
                RequestType::TimeOffset,
                RequestType::Invalidate,
            ]),
            any::<bool>(),
            0u8..4,
            0..=BUF_ADDR_MAX,
            any::<u64>(),
        )
            .prop_map(|(kind, read, size_log2, addr, data)| {
                let data = if size_log2 == 3 {
                    data
                } else {
                    data & 0xffff_ffff
                };
                BufRequest {
                    kind,
                    dir: if read {
                        Direction::Read
                    } else {
                        Direction::Write
                    },
                    size_log2,
                    addr,
                    data,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// What goes in comes out, in order, whatever the starting pointers and mode.
        #[test]
        fn ring_is_fifo(start in 0u32..2000, requests in proptest::collection::vec(any_request(), 0..600), canon in any::<bool>()) {
            let page = Box::<BufferedPage>::default();
            page.pointers.store(join(start, start), Ordering::Relaxed);
            let ring = BufferedRing::new(&page);
            let mode = if canon { Canonicalise::Yes } else { Canonicalise::No };
            let mut accepted = Vec::new();
            for r in &requests {
                match ring.push(r, mode) {
                    Ok(()) => accepted.push(*r),
                    Err(e) => prop_assert_eq!(e, Error::RingFull),
                }
            }
            let mut popped = Vec::new();
            while let Some(r) = ring.pop().expect("consistent ring") {
                popped.push(r);
            }
            prop_assert_eq!(popped, accepted);
        }
    }
}
