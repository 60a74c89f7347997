// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The fabricator against libipt 2.0.5's instruction-flow decoder, without KVM: a tiny
//! 64-bit program is run by an interpreter in this test, its control flow (a counted
//! loop, an indirect CALL, RET and JMP, MOV CR3, hardware interrupts at random points
//! and their IRETQ) is fed to the fabricator, and libipt must reconstruct exactly the
//! executed instructions from the trace and the code image.
#![allow(clippy::unwrap_used, reason = "tests")]

use libipt_flow_peer::insn_flow;
use proptest::prelude::*;
use pt_virt::fabricate::{Change, Config, Event, ExecMode, Fabricator, GuestState, InterruptKind};

const BASE: u64 = 0x40_0000;
const F: u64 = BASE + 0x21;
const G: u64 = BASE + 0x23;
const HANDLER: u64 = BASE + 0x30;

/// The program (64-bit code, Intel SDM vol. 2 encodings).
fn code(loops: u32) -> Vec<u8> {
    let mut c = Vec::new();
    c.push(0xB9); // 0x00 mov ecx, loops
    c.extend_from_slice(&loops.to_le_bytes());
    c.extend_from_slice(&[0xFF, 0xC9]); // 0x05 dec ecx
    c.extend_from_slice(&[0x75, 0xFC]); // 0x07 jnz 0x05
    c.extend_from_slice(&[0x48, 0xB8]); // 0x09 mov rax, F
    c.extend_from_slice(&F.to_le_bytes());
    c.extend_from_slice(&[0xFF, 0xD0]); // 0x13 call rax
    c.extend_from_slice(&[0x48, 0xB8]); // 0x15 mov rax, G
    c.extend_from_slice(&G.to_le_bytes());
    c.extend_from_slice(&[0xFF, 0xE0]); // 0x1f jmp rax
    c.extend_from_slice(&[0x90, 0xC3]); // 0x21 F: nop; ret
    c.extend_from_slice(&[0x0F, 0x22, 0xD8]); // 0x23 G: mov cr3, rax
    c.push(0xF4); // 0x26 hlt
    c.resize(0x30, 0xCC);
    c.extend_from_slice(&[0x90, 0x48, 0xCF]); // 0x30 handler: nop; iretq
    c
}

/// Runs the program, taking a hardware interrupt before every step listed in
/// `interrupts`; returns the fabricated trace and the instructions a decoder must list.
fn run(loops: u32, interrupts: &[usize], config: Config) -> (Vec<u8>, Vec<u64>) {
    let state = GuestState {
        cpl: 0,
        cr3: 0x1000,
        mode: ExecMode::Bits64,
    };
    let mut fab = Fabricator::new(Vec::new(), config, state).unwrap();
    let ev = |fab: &mut Fabricator<Vec<u8>>, e: Event| fab.event(&e).unwrap();
    ev(&mut fab, Event::Enable { next: BASE });
    let (mut ip, mut ecx, mut rax, mut stack) = (BASE, 0u32, 0u64, Vec::new());
    let mut expected = Vec::new();
    for step in 0.. {
        if interrupts.contains(&step) && ip != BASE + 0x26 {
            ev(
                &mut fab,
                Event::Interrupt {
                    kind: InterruptKind::Hardware,
                    from: ip,
                    target: HANDLER,
                    change: Change::default(),
                },
            );
            expected.extend([HANDLER, HANDLER + 1]);
            ev(
                &mut fab,
                Event::FarBranch {
                    target: ip,
                    change: Change::default(),
                },
            );
        }
        let off = ip - BASE;
        if off == 0x26 {
            // hlt: the VMM stops tracing here (FUP + TIP.PGD); not listed.
            ev(&mut fab, Event::Disable { at: ip });
            break;
        }
        expected.push(ip);
        ip = match off {
            0x00 => {
                ecx = loops;
                ip + 5
            }
            0x05 => {
                ecx = ecx.wrapping_sub(1);
                ip + 2
            }
            0x07 => {
                let taken = ecx != 0;
                ev(&mut fab, Event::Branch { taken });
                if taken { BASE + 0x05 } else { ip + 2 }
            }
            0x09 => {
                rax = F;
                ip + 10
            }
            0x13 => {
                stack.push(ip + 2);
                ev(&mut fab, Event::Indirect { target: rax });
                rax
            }
            0x15 => {
                rax = G;
                ip + 10
            }
            0x1f => {
                ev(&mut fab, Event::Indirect { target: rax });
                rax
            }
            0x21 => ip + 1,
            0x22 => {
                let back = stack.pop().unwrap();
                ev(&mut fab, Event::Indirect { target: back });
                back
            }
            0x23 => {
                ev(
                    &mut fab,
                    Event::Cr3Write {
                        cr3: rax & !0xFFF,
                        next: ip + 3,
                    },
                );
                ip + 3
            }
            other => panic!("no instruction at offset {other:#x}"),
        };
    }
    (fab.finish().unwrap(), expected)
}

fn check(loops: u32, interrupts: &[usize], config: Config) {
    let (trace, expected) = run(loops, interrupts, config);
    let flow = insn_flow(&trace, &code(loops), BASE, expected.len() + 16)
        .unwrap_or_else(|e| panic!("{e}; trace {trace:02x?}"));
    assert_eq!(flow.ips, expected, "trace {trace:02x?}");
}

#[test]
fn loop_calls_and_interrupts() {
    check(5, &[], Config::default());
    check(5, &[0, 3, 9, 14], Config::default());
    check(
        300,
        &[1, 100, 101, 500],
        Config {
            splice: false,
            long_tnt: true,
            ..Config::default()
        },
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn libipt_reconstructs_the_executed_instructions(
        loops in 1u32..3000,
        interrupts in proptest::collection::vec(0usize..6000, 0..8),
        long_tnt in any::<bool>(),
        splice in any::<bool>(),
        psb_freq in 0u8..2,
    ) {
        let config = Config { long_tnt, splice, psb_freq, ..Config::default() };
        let (trace, expected) = run(loops, &interrupts, config);
        let flow = insn_flow(&trace, &code(loops), BASE, expected.len() + 16)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(flow.ips, expected);
    }
}
