// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `pt_virt::packet` against Debian's libipt 2.0.5, in both directions: our bytes equal
//! libipt's encoder's bytes; libipt's packet decoder reads our bytes as our packets; our
//! decoder reads libipt's bytes as libipt's packets; and on arbitrary bytes both
//! decoders agree packet for packet and fail at the same offset with the matching error.

// Offsets and sizes of test streams are small; the host is 64-bit.
#![allow(clippy::cast_possible_truncation)]

mod common;

use common::{as_libipt_sees, code, comparable_packet, offset, ours};
use libipt_peer::{comparable, decode, encode, from_flat, ppt, pte, to_flat};
use proptest::prelude::*;
use pt_virt::packet::{
    Decoder, Encoder, Ip, IpCompression, LastIp, Packet, PayloadSize, Strictness,
};

#[test]
fn header_constants_and_version() {
    let c = libipt_peer::header_constants();
    let ours: Vec<u64> = (0u64..=26)
        .chain([ppt::MOL_EXEC, ppt::MOL_TSX])
        .chain([pte::EOS, pte::BAD_OPC, pte::BAD_PACKET].map(|e| e as u64))
        .chain([2, 0, 5])
        .collect();
    assert_eq!(c, ours);
    assert_eq!([ppt::PAD, ppt::PTW, ppt::MODE], [2, 26, 11]);
    assert_eq!(
        libipt_peer::library_version(),
        [2, 0, 5],
        "linked libipt is 2.0.5"
    );
}

/// A hand-made stream with every packet libipt 2.0.5 knows, extremes included.
fn hand_made() -> Vec<Packet> {
    use IpCompression::*;
    let ip = |ipc, payload| Ip { ipc, payload };
    vec![
        Packet::Psb,
        Packet::Tsc { tsc: (1 << 56) - 1 },
        Packet::Tma {
            ctc: 0xBEEF,
            fc: 0x1FF,
        },
        Packet::Cbr { ratio: 0x24 },
        Packet::Pip {
            cr3: 0x000F_FFFF_FFFF_FFE0,
            nr: true,
        },
        Packet::Vmcs {
            base: 0x000F_FFFF_FFFF_F000,
        },
        Packet::ModeExec {
            csl: true,
            csd: false,
            iflag: false,
        },
        Packet::ModeExec {
            csl: true,
            csd: true,
            iflag: false,
        },
        Packet::ModeTsx {
            intx: true,
            abort: true,
        },
        Packet::Fup(ip(Sext48, 0xFFFF_FFFF_FFFF)),
        Packet::Mnt { payload: u64::MAX },
        Packet::Pad,
        Packet::PsbEnd,
        Packet::TipPge(ip(Full, u64::MAX)),
        Packet::Tnt8 { count: 1, bits: 0 },
        Packet::Tnt8 {
            count: 6,
            bits: 0x2A,
        },
        Packet::Tnt64 { count: 1, bits: 1 },
        Packet::Tnt64 {
            count: 47,
            bits: (1 << 47) - 1,
        },
        Packet::Tip(ip(Update16, 0xFFFF)),
        Packet::Tip(ip(Update32, 0xFFFF_FFFF)),
        Packet::Tip(ip(Update48, 0x8000_0000_0000)),
        Packet::TipPgd(Ip::SUPPRESSED),
        Packet::Mtc { ctc: 0xFF },
        Packet::Cyc { value: 0 },
        Packet::Cyc {
            value: (1 << 61) - 1,
        },
        Packet::Ptw {
            payload: u64::MAX,
            size: PayloadSize::Eight,
            ip: true,
        },
        Packet::Ptw {
            payload: 0xFFFF_FFFF,
            size: PayloadSize::Four,
            ip: false,
        },
        Packet::Fup(ip(Update16, 0x1234)),
        Packet::Exstop { ip: true },
        Packet::Exstop { ip: false },
        Packet::Mwait {
            hints: u32::MAX,
            ext: 1,
        },
        Packet::Pwre {
            state: 15,
            sub_state: 15,
            hw: false,
        },
        Packet::Pwrx {
            last: 15,
            deepest: 0,
            interrupt: true,
            store: true,
            autonomous: true,
        },
        Packet::Pwrx {
            last: 0,
            deepest: 15,
            interrupt: false,
            store: true,
            autonomous: false,
        },
        Packet::Stop,
        Packet::Ovf,
    ]
}

/// Asserts the three directions for one packet list.
fn check_both_ways(packets: &[Packet]) {
    let ours = ours(packets);
    let theirs = encode(packets).expect("libipt encodes");
    assert_eq!(ours, theirs, "encoder bytes for {packets:?}");
    // The encoder (with its last-IP and block state) writes the same bytes.
    let mut enc = Encoder::new(Vec::new()).with_last_ip(LastIp::known(0));
    for p in packets {
        enc.encode(p).expect("valid stream");
    }
    assert_eq!(enc.into_sink(), ours);
    let d = decode(&ours, false);
    assert_eq!(d.error, None, "libipt decodes our stream");
    let back: Vec<Packet> = d
        .packets
        .iter()
        .map(|(_, _, f)| from_flat(f).expect("mapped"))
        .collect();
    assert_eq!(back, packets, "libipt reads our bytes as our packets");
    let mine: Vec<(u64, u32, Packet)> = Decoder::new(&theirs, Strictness::Strict)
        .map(|d| d.map(|d| (d.offset as u64, d.len as u32, d.packet)))
        .collect::<Result<_, _>>()
        .expect("we decode libipt's stream");
    let libipt: Vec<(u64, u32, Packet)> = d
        .packets
        .iter()
        .map(|(o, s, f)| (*o, *s, from_flat(f).expect("mapped")))
        .collect();
    assert_eq!(
        mine, libipt,
        "we read libipt's bytes as its packets, at the same offsets"
    );
}

#[test]
fn hand_made_stream_both_ways() {
    let packets = hand_made();
    assert!(packets.iter().all(comparable));
    check_both_ways(&packets);
}

#[test]
fn libipt_sync_forward_agrees() {
    let mut bytes = vec![0xC9, 0x02, 0x82, 0x02, 0x82, 0x19, 0x00];
    bytes.extend(ours(&hand_made()));
    bytes.extend([0x02, 0x82, 0x02, 0x82]);
    bytes.extend(ours(&hand_made()));
    let mut dec = Decoder::new(&bytes, Strictness::Strict);
    let first = dec.sync_forward().expect("psb");
    let d = decode(&bytes, true);
    assert_eq!(d.packets.first().map(|p| p.0), Some(first as u64));
    let second = dec.sync_forward().expect("second psb");
    assert!(second > first);
    assert_eq!(
        decode(&bytes[first + 1..], true)
            .packets
            .first()
            .map(|p| p.0 as usize + first + 1),
        Some(second)
    );
}

/// Both decoders over arbitrary bytes (strict mode = libipt's rules).
fn check_arbitrary(bytes: &[u8]) {
    let theirs = decode(bytes, false);
    let mut libipt = theirs.packets.iter();
    for d in Decoder::new(bytes, Strictness::Strict) {
        match d {
            Ok(d) if to_flat(&d.packet).is_none() || d.packet == (Packet::Bep { ip: false }) => {
                // BBP/BEP/CFE/EVD: libipt 2.0.5 does not know the opcode.
                assert_eq!(libipt.next(), None, "{bytes:02x?}");
                assert_eq!(
                    theirs.error,
                    Some((pte::BAD_OPC, d.offset as u64)),
                    "{bytes:02x?}"
                );
                return;
            }
            Ok(d) => {
                let (o, s, f) = libipt.next().unwrap_or_else(|| {
                    panic!(
                        "libipt stopped early: {bytes:02x?} at {}: {theirs:?}",
                        d.offset
                    )
                });
                assert_eq!(
                    (*o as usize, *s as usize),
                    (d.offset, d.len),
                    "{bytes:02x?}"
                );
                assert_eq!(
                    from_flat(f),
                    Some(as_libipt_sees(d.packet, bytes, d.offset)),
                    "{bytes:02x?}"
                );
            }
            Err(e) => {
                assert_eq!(libipt.next(), None, "{bytes:02x?}: {e:?}");
                assert_eq!(
                    theirs.error,
                    Some((code(&e), offset(&e) as u64)),
                    "{bytes:02x?}: {e:?}"
                );
                return;
            }
        }
    }
    assert_eq!(libipt.next(), None);
    assert_eq!(theirs.error, None, "{bytes:02x?}");
}

#[test]
fn arbitrary_bytes_hand_picked() {
    for bytes in [
        &[0x02][..],
        &[0x02, 0xC3],
        &[0x02, 0xC3, 0x88, 1],
        &[0x07, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81],
        &[0x07, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x02],
        &[0x02, 0xA3, 1, 0, 0, 0, 0, 0],
        &[0x02, 0x73, 1, 2, 1, 3, 0],
        &[0x99, 0x07, 0x99, 0x40],
        &[0x02, 0x22, 0x08, 0x21, 0x02, 0x22, 0x80, 0x21],
        &[0xAD, 1, 2],
        &[0x02, 0x72, 1],
        &[0x02, 0x82, 0x02, 0x82, 0x02],
        &[0x02, 0x63, 0x80, 0x04, 1, 2, 3, 4],
        &[0x02, 0x13, 0x81, 0x03],
        &[0xD9, 0, 0],
    ] {
        check_arbitrary(bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_streams_both_ways(packets in prop::collection::vec(comparable_packet(), 0..48)) {
        check_both_ways(&packets);
    }

    #[test]
    fn arbitrary_bytes_agree(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        check_arbitrary(&bytes);
    }

    /// Random bytes biased to real opcodes, so that deeper packets get exercised.
    #[test]
    fn opcode_biased_bytes_agree(bytes in prop::collection::vec(
        prop_oneof![
            3 => any::<u8>(),
            1 => prop::sample::select(vec![0x02u8, 0x82, 0x23, 0xA3, 0x43, 0x73, 0xC8, 0xC3, 0x88,
                0x62, 0xE2, 0xC2, 0x22, 0xA2, 0x12, 0x32, 0x52, 0x92, 0xB2, 0x99, 0x19, 0x59, 0x00]),
        ], 0..96)) {
        check_arbitrary(&bytes);
    }
}
