// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Table-driven tests of every IA32_RTIT_* MSR and bit against the Intel SDM vol. 3C,
//! chapter "Intel Processor Trace", section "Trace Configuration MSRs" (tables
//! "IA32_RTIT_CTL MSR", "IA32_RTIT_STATUS MSR", and the descriptions of
//! IA32_RTIT_OUTPUT_BASE, IA32_RTIT_OUTPUT_MASK_PTRS, IA32_RTIT_CR3_MATCH and
//! IA32_RTIT_ADDRn_A/B), plus CPUID leaf 14H for what enumerates each bit.

mod common;

use common::{ALL_CAPS, full_host, policy, without_features, without_output};
use pt_virt::cpuid::{Caps, Features, OutputSchemes};
use pt_virt::msr::*;
use pt_virt::policy::Policy;

/// What makes an IA32_RTIT_CTL bit writable.
#[derive(Debug, Clone, Copy)]
enum Gate {
    Always,
    Feature(Features),
    Output(OutputSchemes),
    Range(u8),
    Reserved,
}

/// The SDM table "IA32_RTIT_CTL MSR", bit by bit.
fn ctl_gate(bit: u32) -> Gate {
    match bit {
        0 | 2 | 3 | 10 | 11 | 13 => Gate::Always, // TraceEn, OS, User, TSCEn, DisRETC, BranchEn
        1 | 19..=22 | 24..=27 => Gate::Feature(Features::PSB_CYC), // CYCEn, CycThresh, PSBFreq
        4 => Gate::Feature(Features::POWER_EVENT), // PwrEvtEn
        5 | 12 => Gate::Feature(Features::PTWRITE), // FUPonPTW, PTWEn
        6 => Gate::Output(OutputSchemes::TRANSPORT), // FabricEn
        7 => Gate::Feature(Features::CR3_FILTER), // CR3Filter
        8 => Gate::Output(OutputSchemes::TOPA),   // ToPA
        9 | 14..=17 => Gate::Feature(Features::MTC), // MTCEn, MTCFreq
        31 => Gate::Feature(Features::EVENT_TRACE), // EventEn
        32..=47 => Gate::Range(u8::try_from((bit - 32) / 4).expect("0..4")), // ADDRn_CFG
        55 => Gate::Feature(Features::TNT_DISABLE), // DisTNT
        56 => Gate::Feature(Features::PSB_PMI_PRESERVE), // InjectPsbPmiOnEnable
        _ => Gate::Reserved,                      // 18, 23, 28-30, 48-54, 57-63
    }
}

/// A caps set that lacks exactly what enables `gate`.
fn caps_without(gate: Gate) -> Option<Caps> {
    match gate {
        Gate::Always | Gate::Reserved => None,
        Gate::Feature(f) => Some(without_features(f)),
        Gate::Output(o) => Some(without_output(o)),
        Gate::Range(n) => Some(Caps {
            address_ranges: n,
            ..ALL_CAPS
        }),
    }
}

/// Writes `value` to CTL from reset with a ToPA-capable, aligned output configured, so
/// that TraceEn=1 is valid whatever output bit is chosen.
fn write_ctl(p: Policy, value: u64) -> Result<PtVcpu, Gp> {
    let mut v = PtVcpu::new(p);
    v.write(IA32_RTIT_OUTPUT_BASE, 0x10_0000, Origin::Guest)
        .expect("base");
    v.write(IA32_RTIT_CTL, value, Origin::Guest).map(|()| v)
}

#[test]
fn ctl_every_bit() {
    for bit in 0..64 {
        let value = 1u64 << bit;
        let gate = ctl_gate(bit);
        let with_all = write_ctl(policy(ALL_CAPS), value);
        match gate {
            Gate::Reserved => {
                assert_eq!(
                    with_all.map(|_| ()),
                    Err(Gp {
                        msr: IA32_RTIT_CTL,
                        reason: GpReason::ReservedBits(value)
                    }),
                    "reserved bit {bit}"
                );
            }
            // A single ADDRn_CFG bit 2 or 3 is the value 4 or 8: a reserved encoding.
            Gate::Range(n) if (bit - 32) % 4 >= 2 => {
                let cfg = 1u8 << ((bit - 32) % 4);
                assert_eq!(
                    with_all.map(|_| ()),
                    Err(Gp {
                        msr: IA32_RTIT_CTL,
                        reason: GpReason::AddrCfg {
                            range: n,
                            value: cfg
                        }
                    }),
                    "bit {bit}"
                );
            }
            _ => {
                let v = with_all.unwrap_or_else(|e| panic!("bit {bit}: {e}"));
                assert_eq!(v.read(IA32_RTIT_CTL), Ok(value), "bit {bit} reads back");
            }
        }
        if let Some(caps) = caps_without(gate) {
            // Without the enumeration the bit is reserved. (Removing ToPA or single range
            // alone keeps the policy valid; removing both is not a valid policy.)
            assert_eq!(
                write_ctl(policy(caps), value).map(|_| ()),
                Err(Gp {
                    msr: IA32_RTIT_CTL,
                    reason: GpReason::ReservedBits(value)
                }),
                "bit {bit} without {gate:?}"
            );
        }
    }
}

#[test]
fn ctl_encodings_follow_the_bitmaps() {
    // (field shift, bitmap setter, reason)
    type Set = fn(&mut Caps, u16);
    type Field = (u32, Set, fn(u8) -> GpReason);
    let fields: [Field; 3] = [
        (
            RtitCtl::MTC_FREQ_SHIFT,
            |c, b| c.mtc_periods = b,
            GpReason::MtcFreq,
        ),
        (
            RtitCtl::CYC_THRESH_SHIFT,
            |c, b| c.cyc_thresholds = b,
            GpReason::CycThresh,
        ),
        (
            RtitCtl::PSB_FREQ_SHIFT,
            |c, b| c.psb_periods = b,
            GpReason::PsbFreq,
        ),
    ];
    for (shift, set, reason) in fields {
        for n in 0u8..16 {
            let value = u64::from(n) << shift;
            let mut only = ALL_CAPS;
            set(&mut only, 1 << n | 1); // encoding 0 stays valid for the other fields
            assert!(
                write_ctl(policy(only), value).is_ok(),
                "shift {shift} encoding {n} enumerated"
            );
            if n != 0 {
                let mut missing = ALL_CAPS;
                set(&mut missing, !(1 << n));
                assert_eq!(
                    write_ctl(policy(missing), value).map(|_| ()),
                    Err(Gp {
                        msr: IA32_RTIT_CTL,
                        reason: reason(n)
                    }),
                    "shift {shift} encoding {n} not enumerated"
                );
            }
        }
    }
}

#[test]
fn ctl_addr_cfg_values() {
    for n in 0u8..4 {
        let shift = RtitCtl::ADDR_CFG_SHIFT + 4 * u32::from(n);
        for cfg in 0u64..16 {
            let value = cfg << shift;
            let got = write_ctl(
                policy(Caps {
                    address_ranges: n + 1,
                    ..ALL_CAPS
                }),
                value,
            )
            .map(|_| ());
            let want = if cfg <= 2 {
                Ok(())
            } else {
                Err(Gp {
                    msr: IA32_RTIT_CTL,
                    reason: GpReason::AddrCfg {
                        range: n,
                        value: u8::try_from(cfg).expect("0..16"),
                    },
                })
            };
            assert_eq!(got, want, "ADDR{n}_CFG = {cfg}");
            if cfg != 0 {
                let fewer = write_ctl(
                    policy(Caps {
                        address_ranges: n,
                        ..ALL_CAPS
                    }),
                    value,
                )
                .map(|_| ());
                assert_eq!(
                    fewer,
                    Err(Gp {
                        msr: IA32_RTIT_CTL,
                        reason: GpReason::ReservedBits(value)
                    })
                );
            }
        }
    }
}

#[test]
fn ctl_writes_while_tracing() {
    let p = policy(ALL_CAPS);
    let on = (RtitCtl::TRACE_EN | RtitCtl::TOPA | RtitCtl::BRANCH_EN).bits();
    let mut v = write_ctl(p, on).expect("enable");
    // Same value: fine. Another value keeping TraceEn: #GP. Clearing TraceEn while
    // changing other bits: fine (SDM: "unless the same write also clears TraceEn").
    assert_eq!(v.write(IA32_RTIT_CTL, on, Origin::Guest), Ok(()));
    assert_eq!(
        v.write(IA32_RTIT_CTL, on | RtitCtl::OS.bits(), Origin::Guest),
        Err(Gp {
            msr: IA32_RTIT_CTL,
            reason: GpReason::WhileTracing
        })
    );
    assert_eq!(v.state().ctl, on, "failed write changed nothing");
    assert_eq!(
        v.write(IA32_RTIT_CTL, RtitCtl::OS.bits(), Origin::Guest),
        Ok(())
    );
    assert_eq!(v.read(IA32_RTIT_CTL), Ok(RtitCtl::OS.bits()));
    // Every other MSR is locked for the guest while TraceEn=1, open to the host.
    let mut v = write_ctl(p, on).expect("enable");
    for msr in [
        IA32_RTIT_STATUS,
        IA32_RTIT_OUTPUT_BASE,
        IA32_RTIT_OUTPUT_MASK_PTRS,
        IA32_RTIT_CR3_MATCH,
    ]
    .into_iter()
    .chain(IA32_RTIT_ADDR0_A..=IA32_RTIT_ADDR3_B)
    {
        let before = *v.state();
        assert_eq!(
            v.write(msr, 0, Origin::Guest),
            Err(Gp {
                msr,
                reason: GpReason::WhileTracing
            }),
            "{msr:#x}"
        );
        assert_eq!(*v.state(), before);
        let value = if msr == IA32_RTIT_OUTPUT_BASE {
            0x20_0000
        } else {
            0
        };
        assert_eq!(v.write(msr, value, Origin::Host), Ok(()), "host {msr:#x}");
    }
}

#[test]
fn ctl_output_selection() {
    // ToPA=0, FabricEn=0 without single-range output: architectural #GP.
    let no_single = policy(without_output(OutputSchemes::SINGLE_RANGE));
    let mut v = PtVcpu::new(no_single);
    assert_eq!(
        v.write(IA32_RTIT_CTL, RtitCtl::TRACE_EN.bits(), Origin::Guest),
        Err(Gp {
            msr: IA32_RTIT_CTL,
            reason: GpReason::InvalidOutput(OutputError::NoSingleRange)
        })
    );
    assert_eq!(
        v.write(
            IA32_RTIT_CTL,
            (RtitCtl::TRACE_EN | RtitCtl::FABRIC_EN).bits(),
            Origin::Guest
        ),
        Ok(())
    );
    assert_eq!(v.output(), Some(Ok(OutputConfig::Transport)));
}

/// Output configurations hardware would turn into an operational error: refused at the
/// enabling write (policy), each with its reason.
#[test]
fn invalid_output_configurations() {
    let p = policy(ALL_CAPS);
    let cases: [(u64, u64, u64, OutputError); 6] = [
        (
            RtitCtl::TOPA.bits(),
            0x10_0080,
            0x7f,
            OutputError::TopaBaseMisaligned(0x10_0080),
        ),
        (0, 0x10_0000, 0x17f, OutputError::MaskNotContiguous(0x17f)),
        (
            0,
            0x10_0000,
            0x0000_0000_0005_007f,
            OutputError::MaskNotContiguous(0x5007f),
        ),
        (
            0,
            0x10_0080,
            0xfff,
            OutputError::RangeMisaligned {
                base: 0x10_0080,
                size: 0x1000,
            },
        ),
        (
            0,
            0x3fff_ffff_f000,
            0x1fff,
            OutputError::RangeMisaligned {
                base: 0x3fff_ffff_f000,
                size: 0x2000,
            },
        ),
        (
            0,
            0x10_0000,
            0x0000_1000_0000_0fff,
            OutputError::OffsetOutside {
                offset: 0x1000,
                size: 0x1000,
            },
        ),
    ];
    for (extra, base, mask, err) in cases {
        let mut v = PtVcpu::new(p);
        v.write(IA32_RTIT_OUTPUT_BASE, base, Origin::Guest)
            .expect("base");
        v.write(IA32_RTIT_OUTPUT_MASK_PTRS, mask, Origin::Guest)
            .expect("mask");
        let before = *v.state();
        assert_eq!(
            v.write(
                IA32_RTIT_CTL,
                RtitCtl::TRACE_EN.bits() | extra,
                Origin::Guest
            ),
            Err(Gp {
                msr: IA32_RTIT_CTL,
                reason: GpReason::InvalidOutput(err)
            }),
            "{err}"
        );
        assert_eq!(*v.state(), before);
        // The same configuration with TraceEn=0 is a legal (inactive) value.
        assert_eq!(v.write(IA32_RTIT_CTL, extra, Origin::Guest), Ok(()));
    }
    // A single range that ends exactly at MAXPHYADDR is fine; one past it is not
    // reachable (the base is reserved above MAXPHYADDR), so check the edge itself.
    let mut v = PtVcpu::new(p);
    v.write(IA32_RTIT_OUTPUT_BASE, (1 << 46) - 0x1000, Origin::Guest)
        .expect("base");
    v.write(IA32_RTIT_OUTPUT_MASK_PTRS, 0xfff, Origin::Guest)
        .expect("mask");
    assert_eq!(
        v.write(IA32_RTIT_CTL, RtitCtl::TRACE_EN.bits(), Origin::Guest),
        Ok(())
    );
    // ToPA with one output entry per table: the entry index must be 0.
    let single_entry = policy(without_output(OutputSchemes::TOPA_MULTI));
    let mut v = PtVcpu::new(single_entry);
    v.write(IA32_RTIT_OUTPUT_MASK_PTRS, 1 << 7, Origin::Guest)
        .expect("mask");
    assert_eq!(
        v.write(
            IA32_RTIT_CTL,
            (RtitCtl::TRACE_EN | RtitCtl::TOPA).bits(),
            Origin::Guest
        ),
        Err(Gp {
            msr: IA32_RTIT_CTL,
            reason: GpReason::InvalidOutput(OutputError::TopaEntryIndex(1))
        })
    );
}

/// What a STATUS bit is.
#[derive(Debug, PartialEq)]
enum StatusBit {
    Processor,
    Software,
    Feature(Features),
    Reserved,
}

fn status_bit(bit: u32) -> StatusBit {
    match bit {
        0..=2 => StatusBit::Processor, // FilterEn, ContextEn, TriggerEn
        4 | 5 => StatusBit::Software,  // Error, Stopped
        6 | 7 => StatusBit::Feature(Features::PSB_PMI_PRESERVE), // PendPSB, PendTopaPMI
        32..=48 => StatusBit::Feature(Features::PSB_CYC), // PacketByteCnt
        _ => StatusBit::Reserved,
    }
}

#[test]
fn status_every_bit() {
    for bit in 0..64 {
        let value = 1u64 << bit;
        let mut v = PtVcpu::new(policy(ALL_CAPS));
        let guest = v.write(IA32_RTIT_STATUS, value, Origin::Guest);
        let class = status_bit(bit);
        match &class {
            StatusBit::Reserved => {
                assert_eq!(
                    guest,
                    Err(Gp {
                        msr: IA32_RTIT_STATUS,
                        reason: GpReason::ReservedBits(value)
                    }),
                    "bit {bit}"
                );
                assert!(
                    v.write(IA32_RTIT_STATUS, value, Origin::Host).is_err(),
                    "host bit {bit}"
                );
            }
            StatusBit::Processor => {
                // Software writes are ignored; the host (saving what the processor set) keeps them.
                assert_eq!(guest, Ok(()));
                assert_eq!(v.read(IA32_RTIT_STATUS), Ok(0), "bit {bit} ignored");
                assert_eq!(v.write(IA32_RTIT_STATUS, value, Origin::Host), Ok(()));
                assert_eq!(v.read(IA32_RTIT_STATUS), Ok(value));
                assert_eq!(v.write(IA32_RTIT_STATUS, 0, Origin::Guest), Ok(()));
                assert_eq!(
                    v.read(IA32_RTIT_STATUS),
                    Ok(value),
                    "bit {bit} survives a guest write"
                );
            }
            StatusBit::Software | StatusBit::Feature(_) => {
                assert_eq!(guest, Ok(()), "bit {bit}");
                assert_eq!(v.read(IA32_RTIT_STATUS), Ok(value));
            }
        }
        if let StatusBit::Feature(f) = class {
            let mut v = PtVcpu::new(policy(without_features(f)));
            assert_eq!(
                v.write(IA32_RTIT_STATUS, value, Origin::Guest),
                Err(Gp {
                    msr: IA32_RTIT_STATUS,
                    reason: GpReason::ReservedBits(value)
                }),
                "bit {bit} without {f:?}"
            );
        }
    }
}

#[test]
fn output_base_every_bit() {
    for bit in 0..64 {
        let value = 1u64 << bit;
        let mut v = PtVcpu::new(policy(ALL_CAPS));
        let want = if (7..46).contains(&bit) {
            Ok(())
        } else {
            Err(Gp {
                msr: IA32_RTIT_OUTPUT_BASE,
                reason: GpReason::ReservedBits(value),
            })
        };
        assert_eq!(
            v.write(IA32_RTIT_OUTPUT_BASE, value, Origin::Guest),
            want,
            "bit {bit}"
        );
    }
    // Exists with ToPA only, or single range only.
    for caps in [
        without_output(OutputSchemes::TOPA),
        without_output(OutputSchemes::SINGLE_RANGE),
    ] {
        let mut v = PtVcpu::new(policy(caps));
        assert_eq!(
            v.write(IA32_RTIT_OUTPUT_BASE, 0x1000, Origin::Guest),
            Ok(())
        );
        assert_eq!(v.read(IA32_RTIT_OUTPUT_MASK_PTRS), Ok(0x7f));
    }
}

#[test]
fn output_mask_ptrs_every_bit() {
    for bit in 0..64 {
        let value = 1u64 << bit;
        let mut v = PtVcpu::new(policy(ALL_CAPS));
        assert_eq!(
            v.write(IA32_RTIT_OUTPUT_MASK_PTRS, value, Origin::Guest),
            Ok(()),
            "bit {bit}"
        );
        // LowerMask (bits 6:0) reads as ones whatever was written.
        assert_eq!(v.read(IA32_RTIT_OUTPUT_MASK_PTRS), Ok(value | 0x7f));
    }
}

#[test]
fn cr3_match_every_bit() {
    for bit in 0..64 {
        let value = 1u64 << bit;
        let mut v = PtVcpu::new(policy(ALL_CAPS));
        let want = if bit >= 5 {
            Ok(())
        } else {
            Err(Gp {
                msr: IA32_RTIT_CR3_MATCH,
                reason: GpReason::ReservedBits(value),
            })
        };
        assert_eq!(
            v.write(IA32_RTIT_CR3_MATCH, value, Origin::Guest),
            want,
            "bit {bit}"
        );
    }
    let mut v = PtVcpu::new(policy(without_features(Features::CR3_FILTER)));
    let not = Err(Gp {
        msr: IA32_RTIT_CR3_MATCH,
        reason: GpReason::NotEnumerated,
    });
    assert_eq!(v.write(IA32_RTIT_CR3_MATCH, 0x1000, Origin::Guest), not);
    assert_eq!(v.read(IA32_RTIT_CR3_MATCH).map(|_| ()), not);
}

#[test]
fn addr_msrs_existence_and_canonical() {
    for ranges in 0u8..=4 {
        let mut v = PtVcpu::new(policy(Caps {
            address_ranges: ranges,
            ..ALL_CAPS
        }));
        for msr in IA32_RTIT_ADDR0_A..=IA32_RTIT_ADDR3_B {
            let n = u8::try_from((msr - IA32_RTIT_ADDR0_A) / 2).expect("0..4");
            let want = if n < ranges {
                Ok(())
            } else {
                Err(Gp {
                    msr,
                    reason: GpReason::NotEnumerated,
                })
            };
            assert_eq!(
                v.write(msr, 0x7fff_ffff_f000, Origin::Guest),
                want,
                "ranges {ranges} msr {msr:#x}"
            );
            assert_eq!(v.read(msr).map(|_| ()), want);
        }
    }
    // Canonical: 48-bit and 57-bit linear addresses.
    let host = pt_virt::policy::HostPt {
        linear_address_bits: 57,
        ..full_host()
    };
    for (bits, value, ok) in [
        (48, 0x0000_7fff_ffff_ffff, true),
        (48, 0xffff_8000_0000_0000, true),
        (48, 0x0000_8000_0000_0000, false),
        (48, 0xfff7_8000_0000_0000, false),
        (57, 0x0000_8000_0000_0000, true),
        (57, 0x00ff_ffff_ffff_ffff, true),
        (57, 0x0100_0000_0000_0000, false),
        (57, 0xff00_0000_0000_0000, true),
        (57, 0xfe00_0000_0000_0000, false),
    ] {
        let p = Policy::new(ALL_CAPS, &host, 46, bits).expect("fits");
        let mut v = PtVcpu::new(p);
        for msr in IA32_RTIT_ADDR0_A..=IA32_RTIT_ADDR3_B {
            let want = if ok {
                Ok(())
            } else {
                Err(Gp {
                    msr,
                    reason: GpReason::NonCanonical(value),
                })
            };
            assert_eq!(
                v.write(msr, value, Origin::Guest),
                want,
                "{bits}-bit {value:#x}"
            );
        }
    }
}

#[test]
fn every_index_in_the_pt_block() {
    // Xen blocks 0x560..=0x58F for PT; only the SDM's MSRs exist there.
    let v = PtVcpu::new(policy(ALL_CAPS));
    let hidden = PtVcpu::new(Policy::hidden());
    for msr in 0x560..=0x58f {
        let exists = matches!(msr, 0x560 | 0x561 | 0x570 | 0x571 | 0x572 | 0x580..=0x587);
        let want = if exists {
            Ok(RtitState::RESET.read(msr))
        } else {
            Err(Gp {
                msr,
                reason: GpReason::NoSuchMsr,
            })
        };
        assert_eq!(v.read(msr), want, "{msr:#x}");
        assert_eq!(
            hidden.read(msr),
            Err(Gp {
                msr,
                reason: GpReason::PtNotExposed
            })
        );
        assert_eq!(Msr::from_index(msr).map(Msr::index), exists.then_some(msr));
    }
}

#[test]
fn restore_round_trip_and_rejections() {
    let p = policy(ALL_CAPS);
    let mut v = PtVcpu::new(p);
    let writes = [
        (IA32_RTIT_OUTPUT_BASE, 0x10_0000),
        (IA32_RTIT_OUTPUT_MASK_PTRS, 0x0000_0040_0000_00ff),
        (IA32_RTIT_CR3_MATCH, 0x1234_5000),
        (IA32_RTIT_ADDR0_A, 0x40_1000),
        (IA32_RTIT_ADDR0_A + 1, 0x40_2000),
        (IA32_RTIT_STATUS, RtitStatus::ERROR.bits()),
        (
            IA32_RTIT_CTL,
            (RtitCtl::TRACE_EN | RtitCtl::TOPA | RtitCtl::BRANCH_EN).bits() | 1 << 32,
        ),
    ];
    for (msr, value) in writes {
        v.write(msr, value, Origin::Guest).expect("guest write");
    }
    let saved = *v.state();
    let restored = PtVcpu::from_state(p, &saved).expect("restore");
    assert_eq!(restored.state(), &saved);
    // Restoring onto a smaller policy fails with the offending MSR.
    let small = policy(Caps {
        address_ranges: 0,
        ..ALL_CAPS
    });
    assert_eq!(
        PtVcpu::from_state(small, &saved).map(|_| ()),
        Err(Gp {
            msr: IA32_RTIT_ADDR0_A,
            reason: GpReason::NotEnumerated
        })
    );
    // TraceEn=1 with an output base the ToPA rules refuse.
    let bad = RtitState {
        output_base: 0x10_0080,
        ..saved
    };
    assert!(matches!(
        PtVcpu::from_state(p, &bad),
        Err(Gp {
            msr: IA32_RTIT_CTL,
            reason: GpReason::InvalidOutput(OutputError::TopaBaseMisaligned(_))
        })
    ));
    // Hidden policies accept only the reset state.
    assert!(PtVcpu::from_state(Policy::hidden(), &RtitState::RESET).is_ok());
    assert_eq!(
        PtVcpu::from_state(Policy::hidden(), &saved).map(|_| ()),
        Err(Gp {
            msr: IA32_RTIT_OUTPUT_BASE,
            reason: GpReason::PtNotExposed
        })
    );
}
