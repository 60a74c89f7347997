// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Known-answer tests (bytes from libipt 2.0.5's encoder, the SDM figures and perf's
//! `tools/perf/arch/x86/tests/intel-pt-pkt-decoder-test.c` vectors), error cases, and
//! proptest round trips `decode(emit(p)) == p` per packet kind.

use super::*;
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

fn ip(ipc: IpCompression, payload: u64) -> Ip {
    Ip { ipc, payload }
}

/// (packet, bytes, source) triples; `decode(bytes) == packet` and `emit(packet) == bytes`.
fn known_answers() -> Vec<(Packet, Vec<u8>, &'static str)> {
    use IpCompression::*;
    let psb: Vec<u8> = [0x02, 0x82].repeat(8);
    vec![
        (Packet::Pad, vec![0x00], "SDM PAD"),
        (Packet::Psb, psb, "libipt 2.0.5"),
        (Packet::PsbEnd, vec![0x02, 0x23], "SDM PSBEND"),
        (Packet::Ovf, vec![0x02, 0xF3], "SDM OVF"),
        (Packet::Stop, vec![0x02, 0x83], "SDM TraceStop"),
        (
            Packet::Tip(ip(Update16, 0x89ab)),
            vec![0x2D, 0xAB, 0x89],
            "libipt 2.0.5",
        ),
        (
            Packet::Tip(ip(Full, 0xffff_8123_4567_89ab)),
            vec![0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x81, 0xFF, 0xFF],
            "libipt 2.0.5",
        ),
        (
            Packet::TipPge(ip(Sext48, 0x40_1000)),
            vec![0x71, 0x00, 0x10, 0x40, 0x00, 0x00, 0x00],
            "libipt 2.0.5",
        ),
        (Packet::TipPgd(Ip::SUPPRESSED), vec![0x01], "libipt 2.0.5"),
        (
            Packet::Fup(ip(Update16, 0x1234)),
            vec![0x3D, 0x34, 0x12],
            "libipt 2.0.5",
        ),
        (
            Packet::Tnt8 {
                count: 3,
                bits: 0b101,
            },
            vec![0x1A],
            "libipt 2.0.5",
        ),
        (
            Packet::Tnt8 {
                count: 6,
                bits: 0b11_1111,
            },
            vec![0xFE],
            "libipt 2.0.5",
        ),
        (
            Packet::Tnt64 { count: 47, bits: 1 },
            vec![0x02, 0xA3, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80],
            "libipt 2.0.5",
        ),
        (
            Packet::ModeExec {
                csl: true,
                csd: false,
                iflag: false,
            },
            vec![0x99, 0x01],
            "libipt",
        ),
        (
            Packet::ModeExec {
                csl: false,
                csd: true,
                iflag: false,
            },
            vec![0x99, 0x02],
            "libipt",
        ),
        (
            Packet::ModeExec {
                csl: true,
                csd: false,
                iflag: true,
            },
            vec![0x99, 0x05],
            "SDM IF",
        ),
        (
            Packet::ModeTsx {
                intx: true,
                abort: false,
            },
            vec![0x99, 0x21],
            "libipt 2.0.5",
        ),
        (
            Packet::Pip {
                cr3: 0x123_4567_8000,
                nr: true,
            },
            vec![0x02, 0x43, 0x01, 0x78, 0x56, 0x34, 0x12, 0x00],
            "libipt 2.0.5",
        ),
        (
            Packet::Vmcs {
                base: 0x1234_5678_9000,
            },
            vec![0x02, 0xC8, 0x89, 0x67, 0x45, 0x23, 0x01],
            "libipt 2.0.5",
        ),
        (
            Packet::Tsc {
                tsc: 0x0000_1122_3344_5566,
            },
            vec![0x19, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00],
            "libipt 2.0.5",
        ),
        (Packet::Mtc { ctc: 0x42 }, vec![0x59, 0x42], "SDM MTC"),
        (
            Packet::Cbr { ratio: 0x24 },
            vec![0x02, 0x03, 0x24, 0x00],
            "libipt 2.0.5",
        ),
        (
            Packet::Tma {
                ctc: 0xBEEF,
                fc: 0x1FF,
            },
            vec![0x02, 0x73, 0xEF, 0xBE, 0x00, 0xFF, 0x01],
            "libipt 2.0.5",
        ),
        (Packet::Cyc { value: 0x1F }, vec![0xFB], "libipt 2.0.5"),
        (
            Packet::Cyc { value: 0x20 },
            vec![0x07, 0x02],
            "libipt 2.0.5",
        ),
        (
            Packet::Cyc { value: 0xFFF },
            vec![0xFF, 0xFE],
            "libipt 2.0.5",
        ),
        (Packet::Cyc { value: 0 }, vec![0x03], "libipt 2.0.5"),
        (
            Packet::Mnt {
                payload: 0x0807_0605_0403_0201,
            },
            vec![0x02, 0xC3, 0x88, 1, 2, 3, 4, 5, 6, 7, 8],
            "SDM MNT",
        ),
        (
            Packet::Mwait {
                hints: 0x20,
                ext: 1,
            },
            vec![0x02, 0xC2, 0x20, 0, 0, 0, 0x01, 0, 0, 0],
            "libipt 2.0.5",
        ),
        (
            Packet::Mwait {
                hints: 0x0403_02ff,
                ext: 0x0807_0607,
            },
            vec![0x02, 0xC2, 0xFF, 2, 3, 4, 7, 6, 7, 8],
            "perf test vector",
        ),
        (
            Packet::Pwre {
                state: 3,
                sub_state: 4,
                hw: true,
            },
            vec![0x02, 0x22, 0x80, 0x34],
            "perf test vector (HW at bit 7)",
        ),
        (
            Packet::Pwre {
                state: 2,
                sub_state: 1,
                hw: false,
            },
            vec![0x02, 0x22, 0x00, 0x21],
            "libipt 2.0.5",
        ),
        (
            Packet::Pwrx {
                last: 1,
                deepest: 6,
                interrupt: true,
                store: false,
                autonomous: false,
            },
            vec![0x02, 0xA2, 0x16, 0x01, 0, 0, 0],
            "libipt 2.0.5",
        ),
        (
            Packet::Ptw {
                payload: 0x0403_0201,
                size: PayloadSize::Four,
                ip: false,
            },
            vec![0x02, 0x12, 1, 2, 3, 4],
            "SDM PTW",
        ),
        (
            Packet::Ptw {
                payload: 0x0807_0605_0403_0201,
                size: PayloadSize::Eight,
                ip: true,
            },
            vec![0x02, 0xB2, 1, 2, 3, 4, 5, 6, 7, 8],
            "SDM PTW",
        ),
        (
            Packet::Exstop { ip: false },
            vec![0x02, 0x62],
            "perf test vector",
        ),
        (
            Packet::Exstop { ip: true },
            vec![0x02, 0xE2],
            "perf test vector",
        ),
        (
            Packet::Bbp {
                size: PayloadSize::Eight,
                kind: 0x1F,
            },
            vec![0x02, 0x63, 0x1F],
            "perf",
        ),
        (
            Packet::Bbp {
                size: PayloadSize::Four,
                kind: 0x1F,
            },
            vec![0x02, 0x63, 0x9F],
            "perf",
        ),
        (
            Packet::Bep { ip: false },
            vec![0x02, 0x33],
            "perf test vector",
        ),
        (
            Packet::Bep { ip: true },
            vec![0x02, 0xB3],
            "perf test vector",
        ),
        (
            Packet::Cfe {
                ip: true,
                kind: 1,
                vector: 3,
            },
            vec![0x02, 0x13, 0x81, 0x03],
            "perf",
        ),
        (
            Packet::Cfe {
                ip: false,
                kind: 0x1F,
                vector: 0,
            },
            vec![0x02, 0x13, 0x1F, 0x00],
            "perf",
        ),
        (
            Packet::Evd {
                kind: 0x09,
                payload: 0x0007_0605_0403_0201,
            },
            vec![0x02, 0x53, 0x09, 1, 2, 3, 4, 5, 6, 7, 0],
            "perf test vector",
        ),
    ]
}

fn decode_one(bytes: &[u8], strictness: Strictness) -> Result<(Packet, usize)> {
    decode_at(bytes, 0, strictness, None).expect("not empty")
}

#[test]
fn known_answers_decode_and_encode() {
    for (packet, bytes, source) in known_answers() {
        for s in [Strictness::Strict, Strictness::Lenient] {
            assert_eq!(
                decode_one(&bytes, s),
                Ok((packet, bytes.len())),
                "{source}: {bytes:02x?}"
            );
        }
        let mut out = [0xa5u8; 16];
        assert_eq!(
            packet.emit(&mut out),
            Ok(bytes.len()),
            "{source}: {packet:?}"
        );
        assert_eq!(&out[..bytes.len()], &bytes[..], "{source}: {packet:?}");
        assert_eq!(packet.encoded_len(), bytes.len());
        for cut in 0..bytes.len() {
            let mut short = vec![0u8; cut];
            assert_eq!(
                packet.emit(&mut short),
                Err(Error::BufferFull {
                    needed: bytes.len(),
                    available: cut
                })
            );
            assert!(short.iter().all(|&b| b == 0), "nothing half-written");
        }
    }
}

#[test]
fn bip_needs_a_block() {
    // perf vectors: `04 01 02 03 04` in a 4-byte block, `fc` + 8 bytes in an 8-byte one.
    let four = [0x04, 1, 2, 3, 4];
    let item = Packet::Bip {
        id: 0,
        payload: 0x0403_0201,
        size: PayloadSize::Four,
    };
    assert_eq!(
        decode_at(&four, 0, Strictness::Strict, Some(PayloadSize::Four)),
        Some(Ok((item, 5)))
    );
    let eight = [0xFC, 1, 2, 3, 4, 5, 6, 7, 8];
    let item8 = Packet::Bip {
        id: 0x1F,
        payload: 0x0807_0605_0403_0201,
        size: PayloadSize::Eight,
    };
    assert_eq!(
        decode_at(&eight, 0, Strictness::Strict, Some(PayloadSize::Eight)),
        Some(Ok((item8, 9)))
    );
    // Outside a block the same byte is a short TNT.
    assert_eq!(
        decode_one(&four, Strictness::Strict),
        Ok((Packet::Tnt8 { count: 1, bits: 0 }, 1))
    );
    let mut enc = Encoder::new(Vec::new());
    assert_eq!(
        enc.encode(&item),
        Err(Error::BipContext {
            size: PayloadSize::Four,
            block: None
        })
    );
    enc.encode(&Packet::Bbp {
        size: PayloadSize::Four,
        kind: 2,
    })
    .expect("bbp");
    enc.encode(&item).expect("bip in block");
    enc.encode(&Packet::Tsc { tsc: 1 })
        .expect("tsc keeps the block");
    enc.encode(&item).expect("still in block");
    enc.encode(&Packet::Bep { ip: false }).expect("bep");
    assert!(enc.encode(&item).is_err());
    let stream = enc.into_sink();
    let packets: Vec<Packet> = Decoder::new(&stream, Strictness::Strict)
        .map(|d| d.expect("valid").packet)
        .collect();
    assert_eq!(packets.len(), 5);
    assert_eq!(packets[1], item);
    assert_eq!(packets[3], item);
}

#[test]
fn divergent_packets() {
    use Strictness::*;
    let empty_tnt = [0x02, 0xA3, 0x01, 0, 0, 0, 0, 0];
    assert_eq!(
        decode_one(&empty_tnt, Strict),
        Err(Error::EmptyTnt { offset: 0 })
    );
    assert_eq!(
        decode_one(&empty_tnt, Lenient),
        Ok((Packet::Tnt64 { count: 0, bits: 0 }, 8))
    );
    let zero_tnt = [0x02, 0xA3, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode_one(&zero_tnt, Lenient),
        Ok((Packet::Tnt64 { count: 0, bits: 0 }, 8))
    );
    let exec11 = [0x99, 0x03];
    assert_eq!(
        decode_one(&exec11, Strict),
        Ok((
            Packet::ModeExec {
                csl: true,
                csd: true,
                iflag: false
            },
            2
        ))
    );
    assert_eq!(
        decode_one(&exec11, Lenient),
        Err(Error::BadModeBits {
            offset: 0,
            kind: Kind::ModeExec
        })
    );
    let tsx11 = [0x99, 0x23];
    assert!(decode_one(&tsx11, Strict).is_ok());
    assert!(decode_one(&tsx11, Lenient).is_err());
    let tma = [0x02, 0x73, 1, 2, 0xFF, 3, 0xFE];
    assert_eq!(
        decode_one(&tma, Strict),
        Err(Error::ReservedTma { offset: 0 })
    );
    assert_eq!(
        decode_one(&tma, Lenient),
        Ok((Packet::Tma { ctc: 0x0201, fc: 3 }, 7))
    );
    // A 10-byte CYC: perf takes it, libipt does not.
    let cyc10 = [0x07, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x02];
    assert_eq!(
        decode_one(&cyc10, Strict),
        Err(Error::CycTooLong { offset: 0, max: 9 })
    );
    assert!(matches!(
        decode_one(&cyc10, Lenient),
        Ok((Packet::Cyc { .. }, 10))
    ));
    let cyc11 = [
        0x07, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x02,
    ];
    assert_eq!(
        decode_one(&cyc11, Lenient),
        Err(Error::CycTooLong { offset: 0, max: 10 })
    );
    // EVD type: 5 bits in libipt, 6 in perf (perf vector `02 53 3f ...`).
    let evd = [0x02, 0x53, 0x3F, 2, 3, 4, 5, 6, 7, 8, 0];
    assert!(matches!(
        decode_one(&evd, Strict),
        Ok((Packet::Evd { kind: 0x1F, .. }, 11))
    ));
    assert!(matches!(
        decode_one(&evd, Lenient),
        Ok((Packet::Evd { kind: 0x3F, .. }, 11))
    ));
}

#[test]
fn malformed_and_truncated() {
    use Strictness::*;
    let t = |bytes: &[u8]| decode_one(bytes, Strict);
    assert_eq!(
        t(&[0xC9]),
        Err(Error::UnknownOpcode {
            offset: 0,
            opcode: 0xC9
        })
    );
    assert_eq!(
        t(&[0xD9, 0, 0]),
        Err(Error::UnknownOpcode {
            offset: 0,
            opcode: 0xD9
        })
    );
    assert_eq!(
        t(&[0x02, 0x04]),
        Err(Error::UnknownExtOpcode {
            offset: 0,
            ext: 0x04
        })
    );
    assert_eq!(
        t(&[0x02, 0xC3, 0x00]),
        Err(Error::UnknownExt2Opcode { offset: 0, ext2: 0 })
    );
    assert_eq!(
        t(&[0xAD, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(Error::ReservedIpBytes {
            offset: 0,
            kind: Kind::Tip,
            bits: 5
        })
    );
    assert_eq!(
        t(&[0x99, 0x40]),
        Err(Error::BadModeLeaf {
            offset: 0,
            leaf: 0x40
        })
    );
    assert_eq!(
        t(&[0x02, 0x52, 0, 0, 0, 0]),
        Err(Error::ReservedPtwSize { offset: 0, plc: 2 })
    );
    let mut psb = [0x02, 0x82].repeat(8);
    psb[9] = 0x83;
    assert_eq!(t(&psb), Err(Error::BadPsb { offset: 0 }));
    assert_eq!(
        t(&[0x02]),
        Err(Error::Truncated {
            offset: 0,
            kind: Kind::Ext,
            needed: 2,
            available: 1
        })
    );
    assert_eq!(
        t(&[0xCD, 1, 2]),
        Err(Error::Truncated {
            offset: 0,
            kind: Kind::Tip,
            needed: 9,
            available: 3
        })
    );
    assert_eq!(
        t(&[0x07]),
        Err(Error::Truncated {
            offset: 0,
            kind: Kind::Cyc,
            needed: 2,
            available: 1
        })
    );
    // Every known answer, cut short anywhere, is a truncation in both modes.
    for (_, bytes, _) in known_answers() {
        for cut in 1..bytes.len() {
            for s in [Strict, Lenient] {
                let r = decode_one(&bytes[..cut], s);
                assert!(
                    matches!(r, Err(Error::Truncated { .. })),
                    "{bytes:02x?}[..{cut}]: {r:?}"
                );
            }
        }
    }
}

#[test]
fn encoder_rejects_what_it_cannot_carry() {
    let bad = [
        Packet::Tnt8 { count: 0, bits: 0 },
        Packet::Tnt8 { count: 7, bits: 0 },
        Packet::Tnt8 { count: 2, bits: 4 },
        Packet::Tnt64 { count: 0, bits: 0 },
        Packet::Tnt64 { count: 48, bits: 0 },
        Packet::Tip(Ip {
            ipc: IpCompression::Update16,
            payload: 0x1_0000,
        }),
        Packet::Pip {
            cr3: 0x1001,
            nr: false,
        },
        Packet::Pip {
            cr3: 1 << 52,
            nr: false,
        },
        Packet::Tsc { tsc: 1 << 56 },
        Packet::Tma { ctc: 0, fc: 0x200 },
        Packet::Cyc { value: 1 << 61 },
        Packet::Vmcs { base: 0x1234 },
        Packet::Vmcs { base: 1 << 52 },
        Packet::Ptw {
            payload: 1 << 32,
            size: PayloadSize::Four,
            ip: false,
        },
        Packet::Pwre {
            state: 16,
            sub_state: 0,
            hw: false,
        },
        Packet::Pwrx {
            last: 0,
            deepest: 16,
            interrupt: false,
            store: false,
            autonomous: false,
        },
        Packet::Bbp {
            size: PayloadSize::Four,
            kind: 32,
        },
        Packet::Cfe {
            ip: false,
            kind: 32,
            vector: 0,
        },
        Packet::Evd {
            kind: 64,
            payload: 0,
        },
    ];
    for p in bad {
        let mut out = [0u8; 16];
        assert!(p.emit(&mut out).is_err(), "{p:?}");
        assert_eq!(out, [0; 16]);
    }
}

#[test]
fn encoder_last_ip_and_compression() {
    let mut buf = [0u8; 64];
    let mut enc = Encoder::new(SliceSink::new(&mut buf));
    // Unknown last IP: an update form cannot be forced, Shortest falls back to sext48.
    assert!(matches!(
        enc.encode_ip(
            IpKind::Fup,
            0x1234,
            Compression::Forced(IpCompression::Update16)
        ),
        Err(Error::IpNotRepresentable { last: None, .. })
    ));
    assert_eq!(enc.sink().len(), 0);
    let first = enc
        .encode_ip(IpKind::Tip, 0x7f00_1234, Compression::Shortest)
        .expect("tip");
    assert_eq!(first.ipc, IpCompression::Sext48);
    let second = enc
        .encode_ip(IpKind::Tip, 0x7f00_5678, Compression::Shortest)
        .expect("tip");
    assert_eq!(
        second,
        Ip {
            ipc: IpCompression::Update16,
            payload: 0x5678
        }
    );
    let third = enc
        .encode_ip(IpKind::Tip, 0x7f00_5679, Compression::Independent)
        .expect("tip");
    assert_eq!(third.ipc, IpCompression::Sext48);
    enc.encode_suppressed(IpKind::TipPgd).expect("pgd");
    assert_eq!(enc.last_ip().get(), Some(0x7f00_5679));
    enc.encode(&Packet::Psb).expect("psb");
    assert_eq!(enc.last_ip().get(), Some(0));
    let len = enc.sink().len();
    let ips: Vec<Option<u64>> = Decoder::new(&buf[..len], Strictness::Strict)
        .map(|d| d.expect("valid").ip)
        .collect();
    assert_eq!(
        ips,
        [
            Some(0x7f00_1234),
            Some(0x7f00_5678),
            Some(0x7f00_5679),
            None,
            None
        ]
    );
}

#[test]
fn sync_forward_finds_each_psb() {
    let mut stream = vec![0x1A, 0xC9];
    let psb = [0x02, 0x82].repeat(8);
    stream.extend_from_slice(&psb);
    stream.extend_from_slice(&[0x02, 0x23, 0x00]);
    stream.extend_from_slice(&[0x02, 0x82, 0x02, 0x82]);
    stream.extend_from_slice(&psb);
    stream.push(0x00);
    let mut dec = Decoder::new(&stream, Strictness::Strict);
    assert_eq!(
        dec.next().map(|d| d.map(|d| d.packet)),
        Some(Ok(Packet::Tnt8 { count: 3, bits: 5 }))
    );
    assert_eq!(
        dec.next(),
        Some(Err(Error::UnknownOpcode {
            offset: 1,
            opcode: 0xC9
        }))
    );
    assert_eq!(dec.next(), None);
    assert_eq!(dec.sync_forward(), Ok(2));
    assert_eq!(
        dec.next().map(|d| d.map(|d| d.packet)),
        Some(Ok(Packet::Psb))
    );
    // A run of 20 pattern bytes: the PSB is its last 16 (libipt `pt_find_psb`).
    assert_eq!(dec.sync_forward(), Ok(25));
    assert_eq!(dec.sync_forward(), Err(Error::NoPsb { from: 26 }));
}

/// A stream `PSB PSBEND <head> PSB PSBEND TNT` where `head` (a packet header, maybe with
/// some payload) runs into the second PSB and swallows its first bytes.
fn swallowed_psb(head: &[u8]) -> (Vec<u8>, usize) {
    let psb = [0x02, 0x82].repeat(8);
    let mut stream = psb.clone();
    stream.extend_from_slice(&[0x02, 0x23]);
    stream.extend_from_slice(head);
    let second = stream.len();
    stream.extend_from_slice(&psb);
    stream.extend_from_slice(&[0x02, 0x23, 0x1A]);
    (stream, second)
}

/// Decodes until the first error; returns its offset.
fn first_error(dec: &mut Decoder<'_>) -> usize {
    loop {
        match dec.next() {
            Some(Ok(_)) => {}
            Some(Err(e)) => return error_offset(&e),
            None => panic!("no error"),
        }
    }
}

fn error_offset(e: &Error) -> usize {
    match *e {
        Error::Truncated { offset, .. }
        | Error::BadPsb { offset }
        | Error::UnknownOpcode { offset, .. }
        | Error::UnknownExtOpcode { offset, .. } => offset,
        ref other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn sync_forward_after_an_error_finds_a_swallowed_psb() {
    // A full-IP TIP header swallows 8 bytes of the PSB (even phase: the next packet reads
    // as a PSB and fails); a TSC header swallows 7 (odd phase: `82` reads as a short TNT
    // first); a TIP header with 2 of its 8 payload bytes swallows 6.
    for (head, error_at) in [(&[0xCD][..], 8), (&[0x19], 8), (&[0xCD, 0xAA, 0xBB], 6)] {
        let (stream, second) = swallowed_psb(head);
        let mut dec = Decoder::new(&stream, Strictness::Strict);
        assert_eq!(dec.sync_forward(), Ok(0));
        let at = first_error(&mut dec);
        assert_eq!(at, second + error_at, "{head:02x?}");
        // The PSB starts before the error: libipt's window of 15 bytes finds it.
        assert_eq!(dec.sync_forward(), Ok(second), "{head:02x?}");
        let tail: Vec<Packet> = dec.map(|d| d.expect("decodes").packet).collect();
        assert_eq!(
            tail,
            [
                Packet::Psb,
                Packet::PsbEnd,
                Packet::Tnt8 { count: 3, bits: 5 }
            ]
        );
    }
}

#[test]
fn set_offset_counts_as_synchronised() {
    let mut stream = [0x02, 0x82].repeat(8);
    stream.push(0x00);
    stream.extend_from_slice(&[0x02, 0x82].repeat(8));
    let mut dec = Decoder::new(&stream, Strictness::Strict);
    dec.set_offset(0);
    assert_eq!(dec.sync_forward(), Ok(17));
    dec.set_offset(17);
    assert_eq!(dec.sync_forward(), Err(Error::NoPsb { from: 18 }));
    // Not synchronised at offset 3: the search backs up to 0, where a PSB starts.
    let mut dec = Decoder::new(&stream, Strictness::Strict);
    assert_eq!(
        dec.next().map(|d| d.map(|d| d.packet)),
        Some(Ok(Packet::Psb))
    );
    assert_eq!(dec.sync_forward(), Ok(17));
}

fn ip_strategy() -> impl Strategy<Value = Ip> {
    (0u8..6, any::<u64>()).prop_map(|(i, v)| {
        let ipc = [
            IpCompression::Suppressed,
            IpCompression::Update16,
            IpCompression::Update32,
            IpCompression::Sext48,
            IpCompression::Update48,
            IpCompression::Full,
        ][usize::from(i)];
        Ip {
            ipc,
            payload: v & ipc.payload_mask(),
        }
    })
}

fn size_strategy() -> impl Strategy<Value = PayloadSize> {
    prop_oneof![Just(PayloadSize::Four), Just(PayloadSize::Eight)]
}

/// Every packet the encoder accepts, each kind with its full field ranges.
/// Arbitrary bytes mixed with packet images, so that valid packets are common.
fn bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            any::<u8>().prop_map(|b| vec![b]),
            packet_strategy().prop_map(|p| {
                let mut out = [0u8; 16];
                let n = p.emit(&mut out).unwrap_or(0);
                out[..n].to_vec()
            }),
        ],
        0..64,
    )
    .prop_map(|parts| parts.concat())
}

pub(super) fn packet_strategy() -> impl Strategy<Value = Packet> {
    prop_oneof![
        Just(Packet::Pad),
        Just(Packet::Psb),
        Just(Packet::PsbEnd),
        Just(Packet::Ovf),
        Just(Packet::Stop),
        (1u8..=6, any::<u8>()).prop_map(|(count, b)| Packet::Tnt8 {
            count,
            bits: b & ((1 << count) - 1)
        }),
        (1u8..=47, any::<u64>()).prop_map(|(count, b)| Packet::Tnt64 {
            count,
            bits: b & ((1 << count) - 1)
        }),
        ip_strategy().prop_map(Packet::Tip),
        ip_strategy().prop_map(Packet::TipPge),
        ip_strategy().prop_map(Packet::TipPgd),
        ip_strategy().prop_map(Packet::Fup),
        (0u64..1 << 47, any::<bool>()).prop_map(|(c, nr)| Packet::Pip { cr3: c << 5, nr }),
        any::<(bool, bool, bool)>().prop_map(|(csl, csd, iflag)| Packet::ModeExec {
            csl,
            csd,
            iflag
        }),
        any::<(bool, bool)>().prop_map(|(intx, abort)| Packet::ModeTsx { intx, abort }),
        (0u64..1 << 56).prop_map(|tsc| Packet::Tsc { tsc }),
        any::<u8>().prop_map(|ctc| Packet::Mtc { ctc }),
        (any::<u16>(), 0u16..0x200).prop_map(|(ctc, fc)| Packet::Tma { ctc, fc }),
        (0u32..=61, any::<u64>()).prop_map(|(bits, v)| Packet::Cyc {
            value: v & ((1u64 << bits) - 1)
        }),
        any::<u8>().prop_map(|ratio| Packet::Cbr { ratio }),
        (0u64..1 << 40).prop_map(|b| Packet::Vmcs { base: b << 12 }),
        any::<u64>().prop_map(|payload| Packet::Mnt { payload }),
        (any::<u64>(), size_strategy(), any::<bool>()).prop_map(|(p, size, ip)| Packet::Ptw {
            payload: p & size.mask(),
            size,
            ip
        }),
        any::<bool>().prop_map(|ip| Packet::Exstop { ip }),
        any::<(u32, u32)>().prop_map(|(hints, ext)| Packet::Mwait { hints, ext }),
        (0u8..16, 0u8..16, any::<bool>()).prop_map(|(state, sub_state, hw)| Packet::Pwre {
            state,
            sub_state,
            hw
        }),
        (0u8..16, 0u8..16, any::<(bool, bool, bool)>()).prop_map(|(last, deepest, (i, s, a))| {
            Packet::Pwrx {
                last,
                deepest,
                interrupt: i,
                store: s,
                autonomous: a,
            }
        }),
        (size_strategy(), 0u8..32).prop_map(|(size, kind)| Packet::Bbp { size, kind }),
        any::<bool>().prop_map(|ip| Packet::Bep { ip }),
        (any::<bool>(), 0u8..32, any::<u8>()).prop_map(|(ip, kind, vector)| Packet::Cfe {
            ip,
            kind,
            vector
        }),
        (0u8..32, any::<u64>()).prop_map(|(kind, payload)| Packet::Evd { kind, payload }),
    ]
}

/// The compact decoder gives the enum decoder's packets (through `RawPacket::packet`),
/// lengths, last IPs and errors on `bytes`, under both rule sets; `RawPacket::new` of
/// each decoded packet is the compact packet when the packet's encoding is the bytes
/// decoded (not for e.g. a CYC with zero continuation bytes); and the compact encoder
/// writes back exactly the bytes decoded, with the decoder's last IP after each packet.
fn compact_agrees(bytes: &[u8]) -> core::result::Result<(), TestCaseError> {
    for s in [Strictness::Strict, Strictness::Lenient] {
        let mut typed = Decoder::new(bytes, s);
        let mut compact = Decoder::new(bytes, s);
        let mut enc = Encoder::new(Vec::new());
        loop {
            let (d, raw) = match (typed.next_packet(), compact.next_raw()) {
                (Some(Ok(d)), Some(Ok(raw))) => (d, raw),
                (None, None) => break,
                (d, raw) => {
                    prop_assert_eq!(d.map(|d| d.err()), raw.map(|r| r.err()));
                    break;
                }
            };
            prop_assert_eq!((raw.kind(), raw.len()), (d.packet.kind(), d.len));
            prop_assert_eq!(raw.packet(s), Ok(d.packet));
            prop_assert_eq!(raw.ip(), d.packet.ip());
            prop_assert_eq!(compact.last_ip(), typed.last_ip());
            prop_assert_eq!(compact.offset(), typed.offset());
            let mut image = [0u8; 16];
            if d.packet.emit(&mut image) == Ok(d.len)
                && image[..d.len] == bytes[d.offset..][..d.len]
            {
                prop_assert_eq!(RawPacket::new(&d.packet), Ok(raw));
            }
            prop_assert_eq!(enc.encode_raw(&raw), Ok(raw.len()));
            prop_assert_eq!(enc.last_ip(), compact.last_ip());
        }
        let written = enc.into_sink();
        prop_assert_eq!(&written[..], &bytes[..written.len()]);
        prop_assert_eq!(written.len(), typed.offset());
    }
    Ok(())
}

/// Every first byte, and every byte after the `02h` escape and after MODE's opcode,
/// each followed by bytes on the edges of the first-byte and escape tables' checks
/// (zeros; a lone stop bit, also a CYC continuation byte with its Exp bit; all ones;
/// MNT's `88h`; TMA's reserved byte 4 and FastCounter bits set, and its last valid
/// FastCounter bit): the compact decoder agrees with the enum decoder.
#[test]
fn compact_decoder_agrees_on_every_opcode() {
    let mut tails = [[0u8; 14]; 7];
    tails[1][0] = 1;
    tails[2] = [0xFF; 14];
    tails[3][0] = opcode::EXT2_MNT;
    tails[4][2] = 1;
    tails[5][4] = 2;
    tails[6][4] = 1;
    for b0 in 0..=u8::MAX {
        for b1 in 0..=u8::MAX {
            for tail in &tails {
                let mut bytes = vec![b0, b1];
                bytes.extend_from_slice(tail);
                bytes.extend_from_slice(&[0; 16]);
                if let Err(e) = compact_agrees(&bytes) {
                    panic!("{b0:02x} {b1:02x} {tail:02x?}: {e}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// `decode(emit(p)) == p` for every kind, in both modes (EVD types above 31 only in
    /// lenient mode, BIP with its block context).
    #[test]
    fn round_trip_each_kind(p in packet_strategy(), id in 0u8..32, bip in any::<u64>()) {
        let mut out = [0u8; 16];
        let len = p.emit(&mut out).expect("valid packet");
        prop_assert_eq!(len, p.encoded_len());
        // MODE.Exec and MODE.TSX with bits 1:0 both set decode only under libipt's rules;
        // perf's reject them. Every other packet decodes the same in both modes.
        let strict_only = match p {
            Packet::ModeExec { csl: true, csd: true, .. } => Some(Kind::ModeExec),
            Packet::ModeTsx { intx: true, abort: true } => Some(Kind::ModeTsx),
            _ => None,
        };
        prop_assert_eq!(decode_one(&out[..len], Strictness::Strict), Ok((p, len)));
        let lenient = match strict_only {
            Some(kind) => Err(Error::BadModeBits { offset: 0, kind }),
            None => Ok((p, len)),
        };
        prop_assert_eq!(decode_one(&out[..len], Strictness::Lenient), lenient);
        if let Packet::Bbp { size, .. } = p {
            let item = Packet::Bip { id, payload: bip & size.mask(), size };
            let n = item.emit(&mut out).expect("valid bip");
            prop_assert_eq!(decode_at(&out[..n], 0, Strictness::Strict, Some(size)), Some(Ok((item, n))));
        }
    }

    #[test]
    fn evd_six_bit_type_round_trips_lenient(kind in 0u8..64, payload in any::<u64>()) {
        let p = Packet::Evd { kind, payload };
        let mut out = [0u8; 16];
        let len = p.emit(&mut out).expect("valid");
        prop_assert_eq!(decode_one(&out[..len], Strictness::Lenient), Ok((p, len)));
    }

    /// A stream of packets through the encoder decodes back to the same packets and IPs.
    #[test]
    fn stream_round_trip(ps in proptest::collection::vec(packet_strategy(), 0..64)) {
        let mut enc = Encoder::new(Vec::new()).with_last_ip(LastIp::known(0));
        let mut expected = Vec::new();
        for p in &ps {
            if enc.encode(p).is_ok() {
                expected.push(*p);
            }
        }
        let bytes = enc.into_sink();
        let got: Vec<Packet> = Decoder::new(&bytes, Strictness::Strict)
            .map(|d| d.map(|d| d.packet))
            .collect::<Result<_>>()
            .expect("decodes");
        prop_assert_eq!(got, expected);
    }

    /// Arbitrary bytes (and packet images, so that valid packets are common): the
    /// decoder's hot path for one-byte opcodes gives what `decode_at` gives at each
    /// offset, errors included, and the IPs a `LastIp` fed the same packets gives.
    #[test]
    fn decoder_agrees_with_decode_at(bytes in bytes_strategy()) {
        for s in [Strictness::Strict, Strictness::Lenient] {
            let (mut pos, mut last, mut block) = (0, LastIp::unknown(), None);
            for d in Decoder::new(&bytes, s) {
                let expected = decode_at(&bytes, pos, s, block).expect("not at the end");
                let (packet, len, got_ip) = match (d, expected) {
                    (Ok(d), Ok((packet, len))) => {
                        prop_assert_eq!((d.offset, d.len, d.packet), (pos, len, packet));
                        (packet, len, d.ip)
                    }
                    (d, expected) => {
                        prop_assert_eq!(d.err(), expected.err());
                        break;
                    }
                };
                let ip = packet.ip().and_then(|ip| last.apply(ip.ipc, ip.payload));
                prop_assert_eq!(got_ip, ip);
                if packet == Packet::Psb {
                    last.reset();
                }
                block = match packet {
                    Packet::Psb | Packet::Tip(_) | Packet::TipPge(_) | Packet::TipPgd(_) => None,
                    other => super::encode::next_block(block, &other),
                };
                pos += len;
            }
        }
    }

    /// Arbitrary bytes: see [`compact_agrees`].
    #[test]
    fn compact_decoder_agrees_with_enum_decoder(bytes in bytes_strategy()) {
        compact_agrees(&bytes)?;
    }

    /// Compact packets of valid packets through the compact encoder (into a slice, the
    /// windowed path) decode back to themselves, in compact and in typed form.
    #[test]
    fn compact_stream_round_trip(ps in proptest::collection::vec(packet_strategy(), 0..64)) {
        let mut buf = [0u8; 64 * 16];
        let mut enc = Encoder::new(SliceSink::new(&mut buf)).with_last_ip(LastIp::known(0));
        let mut expected = Vec::new();
        for raw in ps.iter().filter_map(|p| RawPacket::new(p).ok()) {
            if enc.encode_raw(&raw).is_ok() {
                expected.push(raw);
            }
        }
        let bytes = enc.sink().written().to_vec();
        let mut dec = Decoder::new(&bytes, Strictness::Strict);
        let mut got = Vec::new();
        while let Some(raw) = dec.next_raw() {
            got.push(raw.expect("decodes"));
        }
        prop_assert_eq!(&got, &expected);
        let typed: Vec<Packet> = Decoder::new(&bytes, Strictness::Strict)
            .map(|d| d.expect("decodes").packet)
            .collect();
        let from_raw: Vec<Packet> = got
            .iter()
            .map(|r| r.packet(Strictness::Strict).expect("strict"))
            .collect();
        prop_assert_eq!(typed, from_raw);
    }

    /// Arbitrary bytes: never a panic, offsets advance, and what decodes re-encodes.
    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for s in [Strictness::Strict, Strictness::Lenient] {
            let mut next = 0;
            for d in Decoder::new(&bytes, s) {
                let Ok(d) = d else { break };
                prop_assert_eq!(d.offset, next);
                next = d.offset + d.len;
                let mut out = [0u8; 16];
                if s == Strictness::Strict {
                    let n = d.packet.emit(&mut out).expect("strict packets re-encode");
                    prop_assert_eq!(decode_at(&out[..n], 0, s, match d.packet {
                        Packet::Bip { size, .. } => Some(size),
                        _ => None,
                    }), Some(Ok((d.packet, n))));
                }
            }
        }
    }
}

#[test]
fn ip_full_is_independent_of_the_last_ip() {
    assert_eq!(
        Ip::full(0xffff_8000_0000_1000),
        Ip {
            ipc: IpCompression::Sext48,
            payload: 0x8000_0000_1000
        }
    );
    assert_eq!(
        Ip::full(0x0a00_0000_0000_1000),
        Ip {
            ipc: IpCompression::Full,
            payload: 0x0a00_0000_0000_1000
        }
    );
    for ip in [
        0u64,
        0x7fff_ffff_ffff,
        0xffff_8000_0000_0000,
        0x1234_5678_9abc_def0,
    ] {
        let full = Ip::full(ip);
        assert_eq!(full.ipc.reconstruct(full.payload, None), Some(ip));
    }
}

#[test]
fn slice_sink_fills_to_the_last_byte_and_refuses_whole_packets() {
    // 16 + 9 + 3 bytes fit exactly in 28; the window path runs while 16 bytes are
    // left, the exact-copy path after.
    let mut buf = [0u8; 28];
    let mut enc = Encoder::new(SliceSink::new(&mut buf));
    enc.encode(&Packet::Psb).expect("psb");
    let full = enc.encode_ip(IpKind::Tip, 0x0a00_0000_0000_1000, Compression::Shortest);
    assert_eq!(full.map(|ip| ip.ipc), Ok(IpCompression::Full));
    let before = enc.last_ip();
    assert_eq!(
        enc.encode_ip(
            IpKind::Fup,
            0x0a00_0000_0000_2000,
            Compression::Forced(IpCompression::Update48)
        ),
        Err(Error::BufferFull {
            needed: 7,
            available: 3
        })
    );
    assert_eq!(
        enc.last_ip(),
        before,
        "a refused packet leaves the state alone"
    );
    enc.encode(&Packet::Fup(Ip {
        ipc: IpCompression::Update16,
        payload: 0x2000,
    }))
    .expect("fits");
    assert_eq!(enc.sink().len(), 28);
    assert_eq!(
        enc.encode(&Packet::Pad),
        Err(Error::BufferFull {
            needed: 1,
            available: 0
        })
    );
    let written = enc.sink().written().to_vec();
    let ips: Vec<Option<u64>> = Decoder::new(&written, Strictness::Strict)
        .map(|d| d.expect("valid").ip)
        .collect();
    assert_eq!(
        ips,
        [
            None,
            Some(0x0a00_0000_0000_1000),
            Some(0x0a00_0000_0000_2000)
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// `Shortest` picks a form that reconstructs the IP and no form that also does is
    /// shorter; `Independent` never depends on the last IP; `Forced` succeeds exactly
    /// when the form reconstructs the IP.
    #[test]
    fn compression_choice_is_minimal_and_sound(
        last in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
        ip in prop_oneof![
            any::<u64>(),
            any::<u64>().prop_map(sext48),
            (any::<u64>(), any::<u16>()).prop_map(|(l, low)| (l & !0xFFFF) | u64::from(low)),
        ],
        near in any::<bool>(),
    ) {
        use IpCompression::*;
        // Half of the cases put the IP near the last IP, to reach the update forms.
        let last = match (last, near) {
            (Some(l), true) => Some((l & !0xFFFF_FFFF) | (ip & 0xFFFF_FFFF)),
            (l, _) => l,
        };
        let state = match last {
            Some(l) => LastIp::known(l),
            None => LastIp::unknown(),
        };
        let works = |ipc: IpCompression| ipc.reconstruct(ip & ipc.payload_mask(), last) == Some(ip);
        let shortest = state.choose(ip, Compression::Shortest).expect("always a form");
        prop_assert!(works(shortest));
        for ipc in [Update16, Update32, Sext48, Update48, Full] {
            if works(ipc) {
                prop_assert!(shortest.payload_len() <= ipc.payload_len(), "{shortest:?} vs {ipc:?}");
            }
            let forced = state.choose(ip, Compression::Forced(ipc));
            prop_assert_eq!(forced.is_some(), works(ipc));
        }
        let independent = state.choose(ip, Compression::Independent).expect("always a form");
        prop_assert!(!independent.needs_last_ip());
        prop_assert_eq!(independent.reconstruct(ip & independent.payload_mask(), None), Some(ip));
    }

    /// The arithmetic last-IP update of the compact decoder and encoder agrees with
    /// `LastIp::apply` for every IPBytes value and any payload (raw, unmasked: the
    /// compact packet keeps the bytes past the payload as zero, but the update must not
    /// rely on it), after every update of a sequence (an unknown IP stays unknown
    /// through update forms however many), and leaves the state alone for the values
    /// without an update.
    #[test]
    fn apply_bits_agrees_with_apply(
        last in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
        updates in prop::collection::vec((0u8..8, any::<u64>()), 1..6),
    ) {
        let start = match last {
            Some(l) => LastIp::known(l),
            None => LastIp::unknown(),
        };
        let (mut arithmetic, mut matched) = (start, start);
        for (bits, payload) in updates {
            arithmetic.apply_bits(bits, payload);
            if let Some(ipc) = IpCompression::from_bits(bits) {
                matched.apply(ipc, payload & ipc.payload_mask());
            }
            prop_assert_eq!(arithmetic, matched);
            prop_assert_eq!(arithmetic.get(), matched.get());
        }
    }
}

proptest! {
    /// The compact decoder's last-IP update from the kept bits (`LastIp::apply_kept`)
    /// agrees with `LastIp::apply` after every update of a sequence, for every IPBytes
    /// value but a full IP (which its first-byte table leaves to the general path),
    /// with the payload as that table leaves it: masked to the value's payload bytes
    /// for an IP packet, anything for a packet without an IP, which changes nothing.
    #[test]
    fn apply_kept_agrees_with_apply(
        last in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
        updates in prop::collection::vec(
            ((0u8..8).prop_filter("no full IP", |&b| b != IpCompression::Full.bits()), any::<u64>()),
            1..6,
        ),
    ) {
        let start = last.map_or(LastIp::unknown(), LastIp::known);
        let (mut kept, mut matched) = (start, start);
        for (bits, payload) in updates {
            match IpCompression::from_bits(bits) {
                Some(ipc) if ipc.payload_mask() != 0 => {
                    let payload = payload & ipc.payload_mask();
                    kept.apply_kept(ip::IpUpdate::kept(bits), payload);
                    matched.apply(ipc, payload);
                }
                _ => kept.apply_kept(ip::IpUpdate::kept(bits), payload),
            }
            prop_assert_eq!(kept, matched);
            prop_assert_eq!(kept.get(), matched.get());
        }
    }
}

#[test]
fn last_ip_starts_unknown() {
    assert_eq!(LastIp::default().get(), None);
    assert_eq!(LastIp::default(), LastIp::unknown());
    assert_ne!(LastIp::unknown(), LastIp::known(0));
}

/// A write through one of the encoder's direct paths.
#[derive(Debug, Clone, Copy)]
enum Direct {
    Ip(IpKind, u64, Compression),
    Tnt8(u8),
}

/// `ops` through an encoder that starts at `last` (inside a BBP block if `block`):
/// what each returned, the last IP after them, and the bytes written.
fn direct<S: Sink>(
    sink: S,
    last: LastIp,
    block: bool,
    ops: &[Direct],
) -> (Vec<Result<usize>>, LastIp, S) {
    let mut enc = Encoder::new(sink).with_last_ip(last);
    if block {
        enc.encode(&Packet::Bbp {
            size: PayloadSize::Four,
            kind: 1,
        })
        .expect("bbp");
    }
    let results = ops
        .iter()
        .map(|op| match *op {
            Direct::Ip(kind, ip, policy) => enc
                .encode_ip(kind, ip, policy)
                .map(|ip| 1 + ip.ipc.payload_len()),
            Direct::Tnt8(stop_and_bits) => enc.encode_tnt8(stop_and_bits),
        })
        .collect();
    let last = enc.last_ip();
    (results, last, enc.into_sink())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The direct paths (a sink with a window, outside a block) write what the general
    /// path (`encode` of the packet, through a scratch) writes, return the same and
    /// leave the same last IP; inside a block both take the general path.
    #[test]
    fn direct_paths_match_the_general_path(
        last in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
        block in any::<bool>(),
        ops in proptest::collection::vec(prop_oneof![
            (
                prop_oneof![Just(IpKind::Tip), Just(IpKind::TipPge), Just(IpKind::TipPgd), Just(IpKind::Fup)],
                prop_oneof![any::<u64>(), any::<u64>().prop_map(sext48), any::<u16>().prop_map(u64::from)],
                prop_oneof![
                    Just(Compression::Shortest),
                    Just(Compression::Independent),
                    prop_oneof![
                        Just(IpCompression::Suppressed),
                        Just(IpCompression::Update16),
                        Just(IpCompression::Update32),
                        Just(IpCompression::Sext48),
                        Just(IpCompression::Update48),
                        Just(IpCompression::Full),
                    ].prop_map(Compression::Forced),
                ],
            ).prop_map(|(kind, ip, policy)| Direct::Ip(kind, ip, policy)),
            any::<u8>().prop_map(Direct::Tnt8),
        ], 1..8),
    ) {
        let last = last.map_or(LastIp::unknown(), LastIp::known);
        let mut buf = [0u8; 256];
        let (window_results, window_last, window) = direct(SliceSink::new(&mut buf), last, block, &ops);
        let (results, general_last, general) = direct(Vec::new(), last, block, &ops);
        prop_assert_eq!(window_results, results);
        prop_assert_eq!(window_last, general_last);
        prop_assert_eq!(window.written(), &general[..]);
    }
}
