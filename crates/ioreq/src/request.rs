// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A validated request (`Request`), parsed from and emitted to the raw [`Ioreq`] slot,
//! with the PCI-config address encoding and the element walk of rep/string accesses.

use crate::error::{Error, Result};
use crate::layout::{
    FLAGS_DATA_IS_PTR, FLAGS_DF, FLAGS_DIR, FLAGS_STATE_MASK, IOREQ_TYPE_COPY,
    IOREQ_TYPE_INVALIDATE, IOREQ_TYPE_PCI_CONFIG, IOREQ_TYPE_PIO, IOREQ_TYPE_TIMEOFFSET, Ioreq,
    STATE_IOREQ_INPROCESS, STATE_IOREQ_NONE, STATE_IOREQ_READY, STATE_IORESP_READY,
};

/// The slot state (`STATE_*`), the low nibble of byte 30.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum State {
    /// `STATE_IOREQ_NONE`: free.
    None,
    /// `STATE_IOREQ_READY`: posted by Xen.
    Ready,
    /// `STATE_IOREQ_INPROCESS`: claimed by the device model.
    InProcess,
    /// `STATE_IORESP_READY`: completed by the device model.
    RespReady,
}

impl State {
    /// Decodes the state nibble.
    pub fn from_raw(raw: u8) -> Result<Self> {
        match raw {
            STATE_IOREQ_NONE => Ok(Self::None),
            STATE_IOREQ_READY => Ok(Self::Ready),
            STATE_IOREQ_INPROCESS => Ok(Self::InProcess),
            STATE_IORESP_READY => Ok(Self::RespReady),
            other => Err(Error::UnknownState(other)),
        }
    }

    /// The `STATE_*` value.
    pub fn raw(self) -> u8 {
        match self {
            Self::None => STATE_IOREQ_NONE,
            Self::Ready => STATE_IOREQ_READY,
            Self::InProcess => STATE_IOREQ_INPROCESS,
            Self::RespReady => STATE_IORESP_READY,
        }
    }
}

/// The request type (`IOREQ_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RequestType {
    /// `IOREQ_TYPE_PIO`: port I/O.
    Pio,
    /// `IOREQ_TYPE_COPY`: MMIO.
    Mmio,
    /// `IOREQ_TYPE_PCI_CONFIG`: PCI configuration space access.
    PciConfig,
    /// `IOREQ_TYPE_TIMEOFFSET`: RTC time offset (buffered only).
    TimeOffset,
    /// `IOREQ_TYPE_INVALIDATE`: invalidate the map cache.
    Invalidate,
}

impl RequestType {
    /// Decodes the `type` byte.
    pub fn from_raw(raw: u8) -> Result<Self> {
        match raw {
            IOREQ_TYPE_PIO => Ok(Self::Pio),
            IOREQ_TYPE_COPY => Ok(Self::Mmio),
            IOREQ_TYPE_PCI_CONFIG => Ok(Self::PciConfig),
            IOREQ_TYPE_TIMEOFFSET => Ok(Self::TimeOffset),
            IOREQ_TYPE_INVALIDATE => Ok(Self::Invalidate),
            other => Err(Error::UnknownType(other)),
        }
    }

    /// The `IOREQ_TYPE_*` value.
    pub fn raw(self) -> u8 {
        match self {
            Self::Pio => IOREQ_TYPE_PIO,
            Self::Mmio => IOREQ_TYPE_COPY,
            Self::PciConfig => IOREQ_TYPE_PCI_CONFIG,
            Self::TimeOffset => IOREQ_TYPE_TIMEOFFSET,
            Self::Invalidate => IOREQ_TYPE_INVALIDATE,
        }
    }
}

/// Which way data flows (`dir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Direction {
    /// `IOREQ_WRITE`: guest to device.
    Write,
    /// `IOREQ_READ`: device to guest.
    Read,
}

/// A PCI configuration-space address as `IOREQ_TYPE_PCI_CONFIG` encodes it in `addr`:
/// bits 63:48 segment, 47:40 bus, 39:35 device, 34:32 function, 31:0 register
/// (the diagram in `ioreq.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PciConfigAddress {
    /// PCI segment.
    pub segment: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number (5 bits).
    pub device: u8,
    /// Function number (3 bits).
    pub function: u8,
    /// Register offset in configuration space.
    pub register: u32,
}

impl PciConfigAddress {
    /// Splits an `addr` field.
    pub fn decode(addr: u64) -> Self {
        let sbdf = addr >> 32;
        Self {
            segment: (sbdf >> 16) as u16,
            bus: ((sbdf >> 8) & 0xff) as u8,
            device: ((sbdf >> 3) & 0x1f) as u8,
            function: (sbdf & 0x7) as u8,
            register: (addr & 0xffff_ffff) as u32,
        }
    }

    /// The `SBDF` value (`XEN_DMOP_PCI_SBDF`), with device and function masked to their
    /// widths as the macro does.
    pub fn sbdf(&self) -> u32 {
        (u32::from(self.segment) << 16)
            | (u32::from(self.bus) << 8)
            | (u32::from(self.device & 0x1f) << 3)
            | u32::from(self.function & 0x7)
    }

    /// Builds the `addr` field.
    pub fn encode(&self) -> u64 {
        (u64::from(self.sbdf()) << 32) | u64::from(self.register)
    }
}

/// A request slot's contents, validated.
///
/// `parse` accepts exactly what a well-behaved Xen writes; `emit` writes what `parse`
/// accepts, so `Request::parse(&r.to_raw()) == Ok(r)` for every valid `r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Request {
    /// `addr`.
    pub addr: u64,
    /// `data`: value, or guest physical buffer address when `data_is_ptr`.
    pub data: u64,
    /// `count`.
    pub count: u32,
    /// `size` in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// `vp_eport`.
    pub vp_eport: u32,
    /// `state`.
    pub state: State,
    /// `data_is_ptr`.
    pub data_is_ptr: bool,
    /// `dir`.
    pub dir: Direction,
    /// `df`: element addresses descend.
    pub df: bool,
    /// `type`.
    pub kind: RequestType,
}

impl Request {
    /// One access of `size` bytes of `kind` at `addr`, data by value: `count` 1, state
    /// `NONE` (what an emulator posts), `vp_eport` 0, ascending. Change any other field
    /// with struct update syntax (`Request { vp_eport: 3, ..Request::mmio(..) }`).
    pub const fn single(kind: RequestType, dir: Direction, addr: u64, size: u8, data: u64) -> Self {
        Self {
            addr,
            data,
            count: 1,
            size,
            vp_eport: 0,
            state: State::None,
            data_is_ptr: false,
            dir,
            df: false,
            kind,
        }
    }

    /// One port access (`IOREQ_TYPE_PIO`) of `size` bytes at `port`, as [`Request::single`].
    pub const fn pio(dir: Direction, port: u16, size: u8, data: u64) -> Self {
        Self::single(RequestType::Pio, dir, port as u64, size, data)
    }

    /// One MMIO access (`IOREQ_TYPE_COPY`) of `size` bytes at `addr`, as
    /// [`Request::single`].
    pub const fn mmio(dir: Direction, addr: u64, size: u8, data: u64) -> Self {
        Self::single(RequestType::Mmio, dir, addr, size, data)
    }

    /// One PCI configuration-space access (`IOREQ_TYPE_PCI_CONFIG`) of `size` bytes, as
    /// [`Request::single`].
    pub fn pci_config(dir: Direction, address: PciConfigAddress, size: u8, data: u64) -> Self {
        Self::single(RequestType::PciConfig, dir, address.encode(), size, data)
    }

    /// Decodes and validates a raw slot.
    ///
    /// Rules (Xen's `hvmemul_do_io` guarantees, QEMU's fatal checks): a known state and
    /// type; size 1, 2, 4 or 8, at most 4 for PIO and PCI config; count at least 1 for
    /// PIO and MMIO, exactly 1 for PCI config; the element range must not wrap, on the
    /// device side and (with `data_is_ptr`) on the RAM side.
    pub fn parse(raw: &Ioreq) -> Result<Self> {
        let flags = raw.flags;
        let state = State::from_raw(flags & FLAGS_STATE_MASK)?;
        let kind = RequestType::from_raw(raw.r#type)?;
        let count = raw.count.get();
        let size_raw = raw.size.get();
        let bad_size = Error::BadSize {
            kind: raw.r#type,
            size: size_raw,
        };
        let size: u8 = match size_raw {
            1 => 1,
            2 => 2,
            4 => 4,
            8 => 8,
            _ => return Err(bad_size),
        };
        match kind {
            RequestType::Pio | RequestType::PciConfig if size > 4 => return Err(bad_size),
            _ => {}
        }
        let count_ok = match kind {
            RequestType::Pio | RequestType::Mmio => count >= 1,
            RequestType::PciConfig => count == 1,
            RequestType::TimeOffset | RequestType::Invalidate => true,
        };
        if !count_ok {
            return Err(Error::BadCount {
                kind: raw.r#type,
                count,
            });
        }
        let request = Self {
            addr: raw.addr.get(),
            data: raw.data.get(),
            count,
            size,
            vp_eport: raw.vp_eport.get(),
            state,
            data_is_ptr: flags & FLAGS_DATA_IS_PTR != 0,
            dir: if flags & FLAGS_DIR != 0 {
                Direction::Read
            } else {
                Direction::Write
            },
            df: flags & FLAGS_DF != 0,
            kind,
        };
        request.check_range(request.addr)?;
        if request.data_is_ptr {
            request.check_range(request.data)?;
        }
        Ok(request)
    }

    /// The raw slot image (`_pad0` and `_pad1` zero).
    pub fn to_raw(&self) -> Ioreq {
        let mut raw = Ioreq::default();
        self.emit(&mut raw);
        raw
    }

    /// Writes every field of `raw`, clearing the padding.
    pub fn emit(&self, raw: &mut Ioreq) {
        raw.addr.set(self.addr);
        raw.data.set(self.data);
        raw.count.set(self.count);
        raw.size.set(u32::from(self.size));
        raw.vp_eport.set(self.vp_eport);
        raw._pad0.set(0);
        raw.flags = self.flags_byte();
        raw.r#type = self.kind.raw();
    }

    /// Byte 30 as this request has it.
    pub fn flags_byte(&self) -> u8 {
        let mut flags = self.state.raw();
        if self.data_is_ptr {
            flags |= FLAGS_DATA_IS_PTR;
        }
        if self.dir == Direction::Read {
            flags |= FLAGS_DIR;
        }
        if self.df {
            flags |= FLAGS_DF;
        }
        flags
    }

    /// The PCI configuration address, for `RequestType::PciConfig` requests.
    pub fn pci_config_address(&self) -> Option<PciConfigAddress> {
        (self.kind == RequestType::PciConfig).then(|| PciConfigAddress::decode(self.addr))
    }

    /// The element accesses of a (possibly repeated) request, in order: for element `i`,
    /// the device-side address `addr ± i*size` and, with `data_is_ptr`, the RAM address
    /// `data ± i*size` (`-` when `df`). Validation guarantees none of them wraps.
    pub fn elements(&self) -> Elements {
        Elements {
            request: *self,
            next: 0,
        }
    }

    fn check_range(&self, start: u64) -> Result<()> {
        let span = u64::from(self.count.saturating_sub(1)) * u64::from(self.size);
        let fits = if self.df {
            start.checked_sub(span).is_some()
        } else {
            start
                .checked_add(span)
                .and_then(|last| last.checked_add(u64::from(self.size) - 1))
                .is_some()
        };
        if fits {
            Ok(())
        } else {
            Err(Error::RangeWraps {
                addr: start,
                count: self.count,
                size: u32::from(self.size),
                descending: self.df,
            })
        }
    }
}

/// One element access of a rep/string request (see [`Request::elements`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element {
    /// The port, MMIO address, or PCI address of this element.
    pub device_addr: u64,
    /// The guest RAM address of this element when `data_is_ptr`, else `None`.
    pub ram_addr: Option<u64>,
}

/// Iterator over a request's element accesses.
#[derive(Debug, Clone)]
pub struct Elements {
    request: Request,
    next: u32,
}

impl Iterator for Elements {
    type Item = Element;

    fn next(&mut self) -> Option<Element> {
        if self.next >= self.request.count {
            return None;
        }
        let offset = u64::from(self.next) * u64::from(self.request.size);
        self.next += 1;
        // A parsed request never wraps; wrapping arithmetic keeps a hand-built one from
        // panicking (QEMU computes these in unsigned arithmetic too).
        let step = |base: u64| {
            if self.request.df {
                base.wrapping_sub(offset)
            } else {
                base.wrapping_add(offset)
            }
        };
        Some(Element {
            device_addr: step(self.request.addr),
            ram_addr: self.request.data_is_ptr.then(|| step(self.request.data)),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.request.count - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pio_read(port: u64) -> Request {
        Request {
            addr: port,
            data: 0,
            count: 1,
            size: 2,
            vp_eport: 7,
            state: State::Ready,
            data_is_ptr: false,
            dir: Direction::Read,
            df: false,
            kind: RequestType::Pio,
        }
    }

    #[test]
    fn flags_byte_matches_the_c_bitfield_example() {
        // state:4 = IORESP_READY (3), data_is_ptr:1, dir:1 = IOREQ_READ, df:1, each set,
        // allocated from bit 0 of byte 30 up (Xen `public/hvm/ioreq.h`, `struct ioreq`;
        // GCC's x86 ABI): 0x3 | 0x10 | 0x20 | 0x40 = 0x73.
        let r = Request {
            state: State::RespReady,
            data_is_ptr: true,
            df: true,
            ..pio_read(0)
        };
        assert_eq!(r.flags_byte(), 0x73);
    }

    #[test]
    fn known_answer_bytes() {
        let r = Request {
            addr: 0x3f8,
            data: 0x41,
            ..pio_read(0)
        };
        let bytes = zerocopy::IntoBytes::as_bytes(&r.to_raw()).to_vec();
        let mut expect = [0u8; 32];
        expect[0..8].copy_from_slice(&0x3f8u64.to_le_bytes());
        expect[8..16].copy_from_slice(&0x41u64.to_le_bytes());
        expect[16] = 1;
        expect[20] = 2;
        expect[24] = 7;
        expect[30] = 0x21;
        expect[31] = 0;
        assert_eq!(bytes, expect);
    }

    #[test]
    fn rejects_each_malformed_field() {
        let good = pio_read(0x60).to_raw();
        let mut raw = good;
        raw.flags = 0x05;
        assert_eq!(Request::parse(&raw), Err(Error::UnknownState(5)));
        raw = good;
        raw.r#type = 3;
        assert_eq!(Request::parse(&raw), Err(Error::UnknownType(3)));
        raw = good;
        raw.size.set(8);
        assert_eq!(
            Request::parse(&raw),
            Err(Error::BadSize { kind: 0, size: 8 })
        );
        raw.size.set(3);
        assert_eq!(
            Request::parse(&raw),
            Err(Error::BadSize { kind: 0, size: 3 })
        );
        raw = good;
        raw.count.set(0);
        assert_eq!(
            Request::parse(&raw),
            Err(Error::BadCount { kind: 0, count: 0 })
        );
        raw = Request {
            kind: RequestType::PciConfig,
            count: 2,
            ..pio_read(0)
        }
        .to_raw();
        assert_eq!(
            Request::parse(&raw),
            Err(Error::BadCount { kind: 2, count: 2 })
        );
        raw = Request {
            df: true,
            count: 2,
            addr: 1,
            ..pio_read(0)
        }
        .to_raw();
        assert!(matches!(
            Request::parse(&raw),
            Err(Error::RangeWraps { .. })
        ));
        raw = Request {
            kind: RequestType::Mmio,
            addr: u64::MAX - 6,
            size: 8,
            ..pio_read(0)
        }
        .to_raw();
        assert!(matches!(
            Request::parse(&raw),
            Err(Error::RangeWraps { .. })
        ));
        raw = Request {
            data_is_ptr: true,
            data: u64::MAX,
            count: 2,
            ..pio_read(0)
        }
        .to_raw();
        assert!(matches!(
            Request::parse(&raw),
            Err(Error::RangeWraps { addr: u64::MAX, .. })
        ));
    }

    #[test]
    fn invalidate_broadcast_has_count_zero() {
        let raw = Request {
            kind: RequestType::Invalidate,
            size: 4,
            count: 0,
            data: !0,
            ..pio_read(0)
        }
        .to_raw();
        assert_eq!(Request::parse(&raw).map(|r| r.elements().count()), Ok(0));
    }

    #[test]
    fn pci_config_address_round_trip() {
        let pci = PciConfigAddress {
            segment: 1,
            bus: 0x3a,
            device: 0x1f,
            function: 7,
            register: 0x104,
        };
        assert_eq!(pci.encode(), 0x0001_3aff_0000_0104);
        assert_eq!(PciConfigAddress::decode(pci.encode()), pci);
    }

    #[test]
    fn elements_descend_with_df() {
        let r = Request {
            kind: RequestType::Mmio,
            addr: 0x1000,
            data: 0x8000,
            data_is_ptr: true,
            count: 3,
            size: 4,
            df: true,
            ..pio_read(0)
        };
        let got: std::vec::Vec<_> = r.elements().map(|e| (e.device_addr, e.ram_addr)).collect();
        assert_eq!(
            got,
            [
                (0x1000, Some(0x8000)),
                (0xffc, Some(0x7ffc)),
                (0xff8, Some(0x7ff8))
            ]
        );
    }

    /// Requests `parse` accepts: a size and a count the type allows, and element ranges
    /// (device side, and RAM side with `data_is_ptr`) that do not wrap.
    fn valid_request() -> impl Strategy<Value = Request> {
        let state = prop_oneof![
            Just(State::None),
            Just(State::Ready),
            Just(State::InProcess),
            Just(State::RespReady)
        ];
        let kind = prop_oneof![
            Just(RequestType::Pio),
            Just(RequestType::Mmio),
            Just(RequestType::PciConfig),
            Just(RequestType::TimeOffset),
            Just(RequestType::Invalidate)
        ];
        (
            any::<u64>(),
            any::<u64>(),
            0u32..64,
            0u32..4,
            any::<u32>(),
            state,
            any::<[bool; 3]>(),
            kind,
        )
            .prop_map(
                |(addr, data, count, log_size, vp_eport, state, [ptr, read, df], kind)| {
                    let (size, count): (u8, u32) = match kind {
                        RequestType::Pio => (1 << (log_size % 3), count.max(1)),
                        RequestType::Mmio => (1 << log_size, count.max(1)),
                        RequestType::PciConfig => (1 << (log_size % 3), 1),
                        RequestType::TimeOffset | RequestType::Invalidate => (1 << log_size, count),
                    };
                    let span = u64::from(count.saturating_sub(1)) * u64::from(size);
                    let fit = |start: u64| {
                        if df {
                            start.max(span)
                        } else {
                            start.min(u64::MAX - span - u64::from(size - 1))
                        }
                    };
                    Request {
                        addr: fit(addr),
                        data: if ptr { fit(data) } else { data },
                        count,
                        size,
                        vp_eport,
                        state,
                        data_is_ptr: ptr,
                        dir: if read {
                            Direction::Read
                        } else {
                            Direction::Write
                        },
                        df,
                        kind,
                    }
                },
            )
    }

    /// Slot bytes to parse: a valid request's image with up to two of its 256 bits
    /// flipped; one case in eight is random bytes.
    fn mutated_slots() -> impl Strategy<Value = [u8; 32]> {
        prop_oneof![
            7 => (valid_request(), crate::reach::flips(256)).prop_map(|(r, at)| {
                let mut bytes: [u8; 32] = zerocopy::transmute!(r.to_raw());
                crate::reach::flip(&mut bytes, &at);
                bytes
            }),
            1 => any::<[u8; 32]>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A valid request survives emit and parse unchanged.
        #[test]
        fn parse_emit_round_trip(r in valid_request()) {
            prop_assert_eq!(Request::parse(&r.to_raw()), Ok(r));
        }

        /// The elements of a valid request end where its range says.
        #[test]
        fn elements_stay_in_range(r in valid_request()) {
            prop_assert_eq!(r.elements().count(), r.count as usize);
            if let Some(last) = r.elements().last() {
                let span = u64::from(r.count - 1) * u64::from(r.size);
                let expect = if r.df { r.addr - span } else { r.addr + span };
                prop_assert_eq!(last.device_addr, expect);
                prop_assert_eq!(last.ram_addr, r.data_is_ptr.then(|| {
                    if r.df { r.data - span } else { r.data + span }
                }));
            }
        }
    }

    /// Whatever slot bytes `parse` accepts, `emit` reproduces (padding aside), and its
    /// element walk starts at `addr` and has `count` elements (not walked: a mutated count
    /// can be in the billions).
    #[test]
    fn accepted_bytes_round_trip() {
        crate::reach::check(
            "ioreq accepted_bytes_round_trip",
            2000,
            mutated_slots(),
            |bytes| {
                let raw: Ioreq = zerocopy::transmute!(bytes);
                let Ok(r) = Request::parse(&raw) else {
                    return Ok(false);
                };
                let mut expect = raw;
                expect._pad0.set(0);
                expect.flags &= 0x7f;
                prop_assert_eq!(r.to_raw(), expect);
                let count = r.count as usize;
                prop_assert_eq!(r.elements().size_hint(), (count, Some(count)));
                if let Some(first) = r.elements().next() {
                    prop_assert_eq!(first.device_addr, r.addr);
                    prop_assert_eq!(first.ram_addr, r.data_is_ptr.then_some(r.data));
                }
                Ok(true)
            },
        );
    }
}
