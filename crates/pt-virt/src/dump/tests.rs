// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Known answers: the packet sequences of libipt's ptdump tests (`test/src/ptdump-*.ptt`,
//! their `.exp(ptdump)` sections, which the libipt test script compares ignoring runs of
//! blanks), and exact lines at ptdump's column widths. Debian ships no `ptdump` binary
//! (`dpkg -L libipt-dev libipt2` lists only the library and header), so these are
//! fixed answers rather than a run of ptdump.
#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::packet::{Encoder, Ip};
use std::string::String;
use std::vec::Vec;

fn bytes(packets: &[Packet], raw: &[(usize, &[u8])]) -> Vec<u8> {
    let mut enc = Encoder::new(Vec::new());
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        for (at, b) in raw {
            if *at == i {
                out.extend_from_slice(&enc.sink()[..]);
                out.extend_from_slice(b);
                enc = Encoder::new(Vec::new());
            }
        }
        enc.encode(p).unwrap();
    }
    out.extend_from_slice(enc.sink());
    out
}

fn dump(trace: &[u8], options: &Options) -> (String, Summary) {
    let mut out = String::new();
    let summary = packets(trace, options, &mut out, |_| {}).unwrap();
    (out, summary)
}

fn squeeze(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn ip(ipc: IpCompression, payload: u64) -> Ip {
    Ip { ipc, payload }
}

#[test]
fn last_ip() {
    // ptdump-last-ip.ptt, `--lastip`.
    let trace = bytes(
        &[
            Packet::Psb,
            Packet::PsbEnd,
            Packet::Fup(ip(IpCompression::Full, 0x0a00_cccc_dddd_eeee)),
            Packet::Tip(ip(IpCompression::Update48, 0xffff_eeee_ffff)),
            Packet::TipPge(ip(IpCompression::Update16, 0xdddd)),
            Packet::Fup(ip(IpCompression::Sext48, 0xffff_dddd_eeee)),
            Packet::TipPgd(ip(IpCompression::Update32, 0xeeee_ffff)),
        ],
        &[],
    );
    let options = Options {
        last_ip: true,
        ..Options::default()
    };
    let (out, summary) = dump(&trace, &options);
    assert_eq!(
        squeeze(&out),
        [
            "0000000000000000 psb",
            "0000000000000010 psbend",
            "0000000000000012 fup 6: 0a00ccccddddeeee ip 0a00ccccddddeeee",
            "000000000000001b tip 4: ????ffffeeeeffff ip 0a00ffffeeeeffff",
            "0000000000000022 tip.pge 1: ????????????dddd ip 0a00ffffeeeedddd",
            "0000000000000025 fup 3: ffffffffddddeeee ip ffffffffddddeeee",
            "000000000000002c tip.pgd 2: ????????eeeeffff ip ffffffffeeeeffff",
        ]
    );
    assert_eq!(
        summary,
        Summary {
            items: 7,
            errors: 0
        }
    );
    // Exact columns: offset (17), opcode (10), payload (25), id (5), tracking.
    assert_eq!(
        out.lines().nth(2),
        Some("0000000000000012  fup        6: 0a00ccccddddeeee       ip   0a00ccccddddeeee")
    );
}

#[test]
fn exec_mode_and_no_offset() {
    // ptdump-exec-mode.ptt (`--exec-mode`) and ptdump-no-offset.ptt (`--no-offset`).
    let mode = |csl, csd| Packet::ModeExec {
        csl,
        csd,
        iflag: false,
    };
    let trace = bytes(
        &[
            Packet::Psb,
            mode(true, false),
            mode(false, true),
            mode(false, false),
            Packet::PsbEnd,
        ],
        &[],
    );
    let (out, _) = dump(
        &trace,
        &Options {
            exec_mode: true,
            ..Options::default()
        },
    );
    assert_eq!(
        squeeze(&out),
        [
            "0000000000000000 psb",
            "0000000000000010 mode.exec cs.l em 64-bit",
            "0000000000000012 mode.exec cs.d em 32-bit",
            "0000000000000014 mode.exec em 16-bit",
            "0000000000000016 psbend",
        ]
    );
    assert_eq!(
        out.lines().nth(3),
        Some("0000000000000014  mode.exec                           em   16-bit")
    );
    let trace = bytes(&[Packet::Psb, Packet::PsbEnd], &[]);
    let no_offset = Options {
        offset: false,
        ..Options::default()
    };
    assert_eq!(dump(&trace, &no_offset).0, "psb\npsbend\n");
    // ptdump-no-offset-raw.ptt (`--no-offset --raw`), exact.
    let (out, _) = dump(
        &trace,
        &Options {
            raw: true,
            ..no_offset
        },
    );
    assert_eq!(
        out,
        "02820282028202820282028202820282  psb\n0223                              psbend\n"
    );
}

#[test]
fn resync_after_bad_opcode() {
    // ptdump-bad_opc-resync.ptt: seven PADs, PSB, a bad opcode, PSB+.
    let mut packets = std::vec![Packet::Pad; 7];
    packets.extend([
        Packet::Psb,
        Packet::Psb,
        Packet::Fup(ip(IpCompression::Sext48, 0xa000_1000)),
        Packet::PsbEnd,
    ]);
    let trace = bytes(&packets, &[(8, &[0xc9])]);
    let mut errors = Vec::new();
    let mut out = String::new();
    packets_with(&trace, &mut out, &mut errors);
    assert_eq!(
        squeeze(&out),
        [
            "0000000000000007 psb",
            "[17: error decoding packet: unknown opcode]",
            "0000000000000018 psb",
            "0000000000000028 fup 3: 00000000a0001000",
            "000000000000002f psbend",
        ]
    );
    assert_eq!(
        errors,
        [packet::Error::UnknownOpcode {
            offset: 0x17,
            opcode: 0xc9
        }]
    );
}

#[test]
fn resync_at_a_psb_a_truncated_packet_swallowed() {
    // ptdump-trunc-resync.ptt (`--no-offset`): an MNT header (02 c3 88) just before a
    // PSB takes the PSB's first eight bytes as its payload; the rest of the PSB is not a
    // packet, and the resync must find the PSB that starts before the error.
    let trace = bytes(
        &[
            Packet::Pad,
            Packet::Pad,
            Packet::Pad,
            Packet::Pad,
            Packet::Pad,
            Packet::Pad,
            Packet::Psb,
            Packet::Psb,
            Packet::Fup(ip(IpCompression::Sext48, 0xa000_1000)),
            Packet::PsbEnd,
        ],
        &[(7, &[0x02, 0xc3, 0x88])],
    );
    let options = Options {
        offset: false,
        ..Options::default()
    };
    assert_eq!(
        squeeze(&dump(&trace, &options).0),
        [
            "psb",
            "mnt 8202820282028202",
            "[21: error decoding packet: unknown packet]",
            "psb",
            "fup 3: 00000000a0001000",
            "psbend",
        ]
    );
}

fn packets_with(trace: &[u8], out: &mut String, errors: &mut Vec<packet::Error>) {
    packets(trace, &Options::default(), out, |e| errors.push(*e)).unwrap();
}

#[test]
fn truncated_input_is_reported_and_no_sync_starts_at_zero() {
    let mut trace = bytes(
        &[Packet::Pad, Packet::Psb, Packet::Tsc { tsc: 0x1234 }],
        &[],
    );
    trace.truncate(trace.len() - 3);
    let options = Options {
        sync: false,
        ..Options::default()
    };
    assert_eq!(
        squeeze(&dump(&trace, &options).0),
        [
            "0000000000000000 pad",
            "0000000000000001 psb",
            "[11: error decoding packet: reached end of trace stream]",
        ]
    );
}

#[test]
fn json_lines_and_events() {
    let trace = bytes(
        &[
            Packet::Psb,
            Packet::PsbEnd,
            Packet::TipPge(Ip::full(0x1000)),
            Packet::Tnt8 { count: 2, bits: 2 },
            Packet::Pip {
                cr3: 0x2000,
                nr: true,
            },
        ],
        &[],
    );
    let json = Options {
        json: true,
        ..Options::default()
    };
    let (out, _) = dump(&trace, &json);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines[0], r#"{"offset":0,"packet":"psb","payload":""}"#);
    assert_eq!(lines[3], r#"{"offset":25,"packet":"tnt.8","payload":"!."}"#);
    assert_eq!(
        lines[4],
        r#"{"offset":26,"packet":"pip","payload":"2000, nr","cr3":"0000000000002000"}"#
    );
    let mut out = String::new();
    let summary = events(&trace, &Options::default(), &mut out, |_| {}).unwrap();
    assert_eq!(summary.items, 4);
    assert_eq!(
        squeeze(&out),
        [
            "0000000000000012 enabled ip 0000000000001000",
            "0000000000000019 branch taken 1",
            "0000000000000019 branch taken 0",
            "000000000000001a paging cr3 0000000000002000 nr 1",
        ]
    );
    let mut out = String::new();
    events(&trace, &json, &mut out, |_| {}).unwrap();
    assert_eq!(
        out.lines().next(),
        Some(r#"{"offset":18,"event":"enabled","status":false,"ip":"0x1000","tsc":null}"#)
    );
    // An event-layer error is listed and the listing resumes at the next PSB.
    let trace = bytes(
        &[
            Packet::Psb,
            Packet::PsbEnd,
            Packet::Tnt8 { count: 1, bits: 1 },
            Packet::Psb,
            Packet::Fup(Ip::full(0x3000)),
            Packet::PsbEnd,
        ],
        &[],
    );
    let mut out = String::new();
    let summary = events(&trace, &Options::default(), &mut out, |_| {}).unwrap();
    assert_eq!(
        summary,
        Summary {
            items: 1,
            errors: 1
        }
    );
    assert_eq!(
        squeeze(&out),
        [
            "[12: error decoding events: unexpected packet context]",
            "000000000000002a enabled ip 0000000000003000 (status)",
        ]
    );
}
