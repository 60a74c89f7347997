// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Helpers shared by the libipt differential tests: our encoding of a packet list, the
//! mapping of our decoder errors to libipt's codes, and a strategy for the packets
//! libipt 2.0.5 writes as the SDM does.

use libipt_peer::pte;
use proptest::prelude::*;
use pt_virt::packet::{Error, Ip, IpCompression, Kind, Packet, PayloadSize};

/// Our stateless encoding of `packets`.
pub(crate) fn ours(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        let mut buf = [0u8; 16];
        let n = p.emit(&mut buf).expect("valid packet");
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Maps our decoder error to libipt's code.
pub(crate) fn code(e: &Error) -> i32 {
    match e {
        // Packets newer than libipt 2.0.5: it stops at their opcode.
        Error::Truncated {
            kind: Kind::Bbp | Kind::Cfe | Kind::Evd,
            ..
        } => pte::BAD_OPC,
        Error::Truncated { .. } => pte::EOS,
        Error::UnknownOpcode { .. }
        | Error::UnknownExtOpcode { .. }
        | Error::UnknownExt2Opcode { .. } => pte::BAD_OPC,
        _ => pte::BAD_PACKET,
    }
}

/// Offset of a decoder error.
pub(crate) fn offset(e: &Error) -> usize {
    match *e {
        Error::Truncated { offset, .. }
        | Error::UnknownOpcode { offset, .. }
        | Error::UnknownExtOpcode { offset, .. }
        | Error::UnknownExt2Opcode { offset, .. }
        | Error::BadPsb { offset }
        | Error::ReservedIpBytes { offset, .. }
        | Error::EmptyTnt { offset }
        | Error::BadModeLeaf { offset, .. }
        | Error::BadModeBits { offset, .. }
        | Error::ReservedTma { offset }
        | Error::CycTooLong { offset, .. }
        | Error::ReservedPtwSize { offset, .. } => offset,
        _ => usize::MAX,
    }
}

/// The packet as libipt 2.0.5 reports it: no MODE.Exec IF bit, PWRE HW at bit 3.
pub(crate) fn as_libipt_sees(p: Packet, bytes: &[u8], at: usize) -> Packet {
    match p {
        Packet::ModeExec { csl, csd, .. } => Packet::ModeExec {
            csl,
            csd,
            iflag: false,
        },
        Packet::Pwre {
            state, sub_state, ..
        } => Packet::Pwre {
            state,
            sub_state,
            hw: bytes[at + 2] & 0x08 != 0,
        },
        other => other,
    }
}

/// An IP packet payload of any compression.
pub(crate) fn ip_strategy() -> impl Strategy<Value = Ip> {
    use IpCompression::*;
    (
        prop::sample::select(vec![Suppressed, Update16, Update32, Sext48, Update48, Full]),
        any::<u64>(),
    )
        .prop_map(|(ipc, v)| Ip {
            ipc,
            payload: v & ipc.payload_mask(),
        })
}

/// Packets libipt 2.0.5 writes as the SDM does (see `libipt_peer::comparable`).
pub(crate) fn comparable_packet() -> impl Strategy<Value = Packet> {
    let size = prop::sample::select(vec![PayloadSize::Four, PayloadSize::Eight]);
    prop_oneof![
        prop::sample::select(vec![
            Packet::Pad,
            Packet::Psb,
            Packet::PsbEnd,
            Packet::Ovf,
            Packet::Stop
        ]),
        (1u8..=6, any::<u8>()).prop_map(|(count, b)| Packet::Tnt8 {
            count,
            bits: b % (1 << count)
        }),
        (1u8..=47, any::<u64>()).prop_map(|(count, b)| Packet::Tnt64 {
            count,
            bits: b % (1 << count)
        }),
        (0u8..4, ip_strategy()).prop_map(|(k, ip)| match k {
            0 => Packet::Tip(ip),
            1 => Packet::TipPge(ip),
            2 => Packet::TipPgd(ip),
            _ => Packet::Fup(ip),
        }),
        (any::<u64>(), any::<bool>()).prop_map(|(c, nr)| Packet::Pip {
            cr3: c & 0x000F_FFFF_FFFF_FFE0,
            nr
        }),
        any::<(bool, bool)>().prop_map(|(csl, csd)| Packet::ModeExec {
            csl,
            csd,
            iflag: false
        }),
        any::<(bool, bool)>().prop_map(|(intx, abort)| Packet::ModeTsx { intx, abort }),
        any::<u64>().prop_map(|t| Packet::Tsc { tsc: t >> 8 }),
        any::<u8>().prop_map(|ctc| Packet::Mtc { ctc }),
        (any::<u16>(), any::<u16>()).prop_map(|(ctc, fc)| Packet::Tma {
            ctc,
            fc: fc & 0x1FF
        }),
        (0u32..62, any::<u64>()).prop_map(|(n, v)| Packet::Cyc {
            value: v >> (64 - n.max(1)) >> u32::from(n == 0)
        }),
        any::<u8>().prop_map(|ratio| Packet::Cbr { ratio }),
        any::<u64>().prop_map(|b| Packet::Vmcs {
            base: b & 0x000F_FFFF_FFFF_F000
        }),
        any::<u64>().prop_map(|payload| Packet::Mnt { payload }),
        (any::<u64>(), size, any::<bool>()).prop_map(|(p, size, ip)| Packet::Ptw {
            payload: p & size.mask(),
            size,
            ip
        }),
        any::<bool>().prop_map(|ip| Packet::Exstop { ip }),
        any::<(u32, u32)>().prop_map(|(hints, ext)| Packet::Mwait { hints, ext }),
        (0u8..16, 0u8..16).prop_map(|(state, sub_state)| Packet::Pwre {
            state,
            sub_state,
            hw: false
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
    ]
}
