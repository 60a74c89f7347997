// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The `ioreq` crate against Xen's C header: sizes, offsets, constants and the bitfield
//! byte images of `ioreq_t` and `buf_ioreq_t`, in both directions.

use core::mem::{align_of, offset_of, size_of};
use ioreq::layout::*;
use ioreq::{BufRequest, Direction, Request, RequestType};
use proptest::prelude::*;
use xen_abi::{Fields, LAYOUT_LEN, buf_ioreq_image, ioreq_bits, ioreq_image, layout};

#[test]
fn sizes_offsets_and_constants_match_the_header() {
    let ours: [u64; LAYOUT_LEN] = [
        size_of::<Ioreq>() as u64,
        align_of::<Ioreq>() as u64,
        offset_of!(Ioreq, addr) as u64,
        offset_of!(Ioreq, data) as u64,
        offset_of!(Ioreq, count) as u64,
        offset_of!(Ioreq, size) as u64,
        offset_of!(Ioreq, vp_eport) as u64,
        offset_of!(Ioreq, _pad0) as u64,
        offset_of!(Ioreq, flags) as u64,
        offset_of!(Ioreq, r#type) as u64,
        size_of::<BufIoreq>() as u64,
        size_of::<BufferedIopage>() as u64,
        offset_of!(BufferedIopage, read_pointer) as u64,
        offset_of!(BufferedIopage, write_pointer) as u64,
        offset_of!(BufferedIopage, buf_ioreq) as u64,
        u64::from(IOREQ_BUFFER_SLOT_NUM),
        u64::from(IOREQ_READ),
        u64::from(IOREQ_WRITE),
        u64::from(STATE_IOREQ_NONE),
        u64::from(STATE_IOREQ_READY),
        u64::from(STATE_IOREQ_INPROCESS),
        u64::from(STATE_IORESP_READY),
        u64::from(IOREQ_TYPE_PIO),
        u64::from(IOREQ_TYPE_COPY),
        u64::from(IOREQ_TYPE_PCI_CONFIG),
        u64::from(IOREQ_TYPE_TIMEOFFSET),
        u64::from(IOREQ_TYPE_INVALIDATE),
    ];
    assert_eq!(ours, layout());
    assert_eq!(size_of::<ioreq::SlotCell>(), size_of::<Ioreq>());
    assert_eq!(size_of::<ioreq::IoreqPage>(), PAGE_SIZE);
    assert_eq!(
        size_of::<ioreq::BufferedPage>(),
        size_of::<BufferedIopage>()
    );
}

/// Every bitfield of byte 30 set but `state` = `STATE_IORESP_READY`: 0x3 | 0x10 | 0x20 |
/// 0x40, as the C compiler lays them out.
#[test]
fn bitfield_byte_example() {
    let f = Fields {
        addr: 0,
        data: 0,
        count: 0,
        size: 0,
        port: 0,
        state: 3,
        data_is_ptr: 1,
        dir: 1,
        df: 1,
        kind: 0,
    };
    assert_eq!(ioreq_image(&f)[offset_of!(Ioreq, flags)], 0x73);
}

fn any_fields() -> impl Strategy<Value = Fields> {
    let size = prop::sample::select(vec![1u32, 2, 4, 8]);
    let kind = prop::sample::select(vec![0u8, 1, 2, 7, 8]);
    (
        any::<u64>(),
        any::<u64>(),
        1u32..16,
        size,
        any::<u32>(),
        0u8..4,
        any::<[bool; 3]>(),
        kind,
    )
        .prop_map(
            |(addr, data, count, size, port, state, [p, r, d], kind)| Fields {
                addr,
                data,
                count,
                size,
                port,
                state,
                data_is_ptr: u8::from(p),
                dir: u8::from(r),
                df: u8::from(d),
                kind,
            },
        )
}

/// C's bytes parse to the same fields in Rust, and Rust's emitted bytes equal C's, for
/// every `Fields` that `Request::parse` accepts; counts how many cases got that far and
/// fails when fewer than half did (the generator keeps type, size and state valid, so
/// only a PIO or PCI-config size of 8 and a PCI-config count other than 1 are refused).
#[test]
fn ioreq_bytes_agree_with_c() {
    use core::cell::Cell;
    use proptest::test_runner::{Config, TestRunner};
    let (ran, reached) = (Cell::new(0u32), Cell::new(0u32));
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&any_fields(), |f| {
        ran.set(ran.get() + 1);
        let c_bytes = ioreq_image(&f);
        let raw: Ioreq = zerocopy::transmute!(c_bytes);
        prop_assert_eq!(raw.addr.get(), f.addr);
        prop_assert_eq!(raw.count.get(), f.count);
        prop_assert_eq!(raw.vp_eport.get(), f.port);
        prop_assert_eq!(raw.r#type, f.kind);
        prop_assert_eq!(
            raw.flags,
            f.state | f.data_is_ptr << 4 | f.dir << 5 | f.df << 6
        );
        if let Ok(r) = Request::parse(&raw) {
            reached.set(reached.get() + 1);
            prop_assert_eq!(r.state.raw(), f.state);
            prop_assert_eq!(r.data_is_ptr, f.data_is_ptr == 1);
            prop_assert_eq!(r.dir == Direction::Read, f.dir == 1);
            prop_assert_eq!(r.df, f.df == 1);
            let ours: [u8; 32] = zerocopy::transmute!(r.to_raw());
            prop_assert_eq!(ours, c_bytes);
            prop_assert_eq!(
                ioreq_bits(&ours),
                [f.state, f.data_is_ptr, f.dir, f.df, f.kind]
            );
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let (ran, reached) = (ran.get(), reached.get());
    println!("xen-abi ioreq_bytes_agree_with_c: {reached}/{ran} cases reached the assertion");
    assert!(2 * reached >= ran, "only {reached}/{ran} cases parsed");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Buffered entries: Rust's encoding equals C's bitfields, and decodes back.
    #[test]
    fn buf_ioreq_bytes_agree_with_c(kind in prop::sample::select(vec![RequestType::Pio, RequestType::Mmio, RequestType::PciConfig, RequestType::TimeOffset, RequestType::Invalidate]), read in any::<bool>(), size_log2 in 0u8..3, addr in 0u32..=0xf_ffff, data in any::<u32>()) {
        let r = BufRequest { kind, dir: if read { Direction::Read } else { Direction::Write }, size_log2, addr, data: u64::from(data) };
        let (first, second) = r.encode().expect("bufferable");
        prop_assert!(second.is_none());
        let ours: u64 = zerocopy::transmute!(first);
        prop_assert_eq!(ours, buf_ioreq_image(kind.raw(), u8::from(read), size_log2, addr, data));
        prop_assert_eq!(BufRequest::decode(first, None), Ok(r));
    }
}
