// SPDX-License-Identifier: Apache-2.0 OR MIT
//! CPUID leaf 0x14 (Intel Processor Trace enumeration) as a typed capability set.
//!
//! Sub-leaf 0 enumerates the optional features (EBX) and output schemes (ECX); sub-leaf 1
//! the number of address ranges and the bitmaps of supported MTC, cycle-threshold and
//! PSB-frequency encodings. Source for every bit: Intel SDM vol. 2A, CPUID leaf 14H
//! ("Intel Processor Trace Enumeration Main Leaf" / "Sub-Leaf"), and Linux
//! `arch/x86/events/intel/pt.c` (`pt_caps[]`), which names the same fields.
//!
//! [`Caps::from_cpuid`] is strict (reserved bits are an error) and is the twin of
//! [`Caps::to_cpuid`]: `from_cpuid(to_cpuid(c)) == c` for every valid `c`.
//! [`Caps::from_host_cpuid`] drops bits this crate does not know, so a newer CPU's
//! features are never exposed to a guest by accident.

/// The four registers one `CPUID` sub-leaf returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuidRegs {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// CPUID leaf number of the Intel PT enumeration leaf (SDM vol. 2A, CPUID leaf 14H).
pub const LEAF: u32 = 0x14;

/// CPUID.(EAX=07H,ECX=0):EBX bit 25: Intel PT is supported (SDM vol. 2A, leaf 07H; Linux
/// `X86_FEATURE_INTEL_PT` is 9*32+25).
pub const LEAF7_EBX_INTEL_PT: u32 = 1 << 25;

bitflags::bitflags! {
    /// Features enumerated in CPUID.(EAX=14H,ECX=0):EBX; EBX\[31:9\] are reserved.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Features: u32 {
        /// EBX\[0\]: CR3 filtering (`IA32_RTIT_CTL.CR3Filter`, `IA32_RTIT_CR3_MATCH`).
        const CR3_FILTER = 1 << 0;
        /// EBX\[1\]: configurable PSB and cycle-accurate mode (`CYCEn`, `CycThresh`,
        /// `PSBFreq`, a non-zero `IA32_RTIT_STATUS.PacketByteCnt`).
        const PSB_CYC = 1 << 1;
        /// EBX\[2\]: IP filtering, TraceStop, preservation of the PT MSRs across warm reset.
        const IP_FILTER = 1 << 2;
        /// EBX\[3\]: MTC timing packets (`MTCEn`, `MTCFreq`) and suppression of COFI
        /// packets.
        const MTC = 1 << 3;
        /// EBX\[4\]: PTWRITE (`PTWEn`, `FUPonPTW`).
        const PTWRITE = 1 << 4;
        /// EBX\[5\]: power event trace (`PwrEvtEn`).
        const POWER_EVENT = 1 << 5;
        /// EBX\[6\]: PSB and PMI preservation (`InjectPsbPmiOnEnable`, `STATUS.PendPSB`,
        /// `STATUS.PendTopaPMI`).
        const PSB_PMI_PRESERVE = 1 << 6;
        /// EBX\[7\]: event trace (`EventEn`).
        const EVENT_TRACE = 1 << 7;
        /// EBX\[8\]: TNT disable (`DisTNT`).
        const TNT_DISABLE = 1 << 8;
    }
}

bitflags::bitflags! {
    /// Output schemes enumerated in CPUID.(EAX=14H,ECX=0):ECX bits 3:0 (ECX\[31\] is
    /// [`Caps::lip`], the rest reserved).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct OutputSchemes: u32 {
        /// ECX\[0\]: Table of Physical Addresses output (`IA32_RTIT_CTL.ToPA`).
        const TOPA = 1 << 0;
        /// ECX\[1\]: ToPA tables may hold more than one output entry.
        const TOPA_MULTI = 1 << 1;
        /// ECX\[2\]: single-range output.
        const SINGLE_RANGE = 1 << 2;
        /// ECX\[3\]: output to the trace transport subsystem (`IA32_RTIT_CTL.FabricEn`).
        const TRANSPORT = 1 << 3;
    }
}

/// CPUID.(EAX=14H,ECX=0):ECX bit 31: IP payloads are linear addresses (LIP, CS base
/// included) rather than effective addresses (RIP).
pub const ECX_LIP: u32 = 1 << 31;
/// CPUID.(EAX=14H,ECX=1):EAX bits 2:0: number of configurable address ranges.
pub const SUB1_EAX_RANGES_MASK: u32 = 0x7;
/// The architectural maximum of address ranges: `IA32_RTIT_CTL` has four `ADDRn_CFG`
/// fields and the SDM defines `IA32_RTIT_ADDR0_A` … `IA32_RTIT_ADDR3_B` only.
pub const MAX_ADDRESS_RANGES: u8 = 4;

/// The Intel PT capabilities of a CPU, or those a guest policy exposes.
///
/// Invariant (checked by [`Caps::validate`]): with `max_subleaf == 0` the sub-leaf 1
/// fields are zero (sub-leaf 1 does not exist), and `address_ranges` ≤ 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Caps {
    /// CPUID.(EAX=14H,ECX=0):EAX: the highest sub-leaf.
    pub max_subleaf: u32,
    /// CPUID.(EAX=14H,ECX=0):EBX.
    pub features: Features,
    /// CPUID.(EAX=14H,ECX=0):ECX bits 3:0.
    pub output: OutputSchemes,
    /// CPUID.(EAX=14H,ECX=0):ECX bit 31 (LIP).
    pub lip: bool,
    /// CPUID.(EAX=14H,ECX=1):EAX bits 2:0: number of address ranges.
    pub address_ranges: u8,
    /// CPUID.(EAX=14H,ECX=1):EAX bits 31:16: bitmap of supported `MTCFreq` encodings.
    pub mtc_periods: u16,
    /// CPUID.(EAX=14H,ECX=1):EBX bits 15:0: bitmap of supported `CycThresh` encodings.
    pub cyc_thresholds: u16,
    /// CPUID.(EAX=14H,ECX=1):EBX bits 31:16: bitmap of supported `PSBFreq` encodings.
    pub psb_periods: u16,
}

/// Which register of which sub-leaf, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    /// EAX.
    Eax,
    /// EBX.
    Ebx,
    /// ECX.
    Ecx,
    /// EDX.
    Edx,
}

impl core::fmt::Display for Reg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Reg::Eax => "EAX",
            Reg::Ebx => "EBX",
            Reg::Ecx => "ECX",
            Reg::Edx => "EDX",
        })
    }
}

/// Why registers are not a valid leaf 0x14.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpuidError {
    /// A reserved bit is set.
    #[error("CPUID.14H.{subleaf}:{reg} has reserved bits {bits:#x} set")]
    ReservedBits {
        /// Sub-leaf (0 or 1).
        subleaf: u8,
        /// The register.
        reg: Reg,
        /// The reserved bits that are set.
        bits: u32,
    },
    /// Sub-leaf 1 fields are non-zero although EAX of sub-leaf 0 says it does not exist.
    #[error("CPUID.14H.1 is non-zero but CPUID.14H.0:EAX (max sub-leaf) is 0")]
    Subleaf1Absent,
    /// `address_ranges` does not fit the 3-bit field.
    #[error("{0} address ranges do not fit CPUID.14H.1:EAX[2:0]")]
    RangesOverflow(u8),
}

const SUB1_EAX_RESERVED: u32 = 0x0000_fff8;

impl Caps {
    /// Decodes sub-leaves 0 and 1, rejecting any reserved bit (a guest policy must be
    /// exactly what this crate understands).
    pub fn from_cpuid(sub0: CpuidRegs, sub1: CpuidRegs) -> Result<Self, CpuidError> {
        let reserved = |subleaf, reg, bits: u32| {
            if bits == 0 {
                Ok(())
            } else {
                Err(CpuidError::ReservedBits { subleaf, reg, bits })
            }
        };
        reserved(0, Reg::Ebx, sub0.ebx & !Features::all().bits())?;
        reserved(
            0,
            Reg::Ecx,
            sub0.ecx & !(OutputSchemes::all().bits() | ECX_LIP),
        )?;
        reserved(0, Reg::Edx, sub0.edx)?;
        reserved(1, Reg::Eax, sub1.eax & SUB1_EAX_RESERVED)?;
        reserved(1, Reg::Ecx, sub1.ecx)?;
        reserved(1, Reg::Edx, sub1.edx)?;
        if sub0.eax == 0 && sub1 != CpuidRegs::default() {
            return Err(CpuidError::Subleaf1Absent);
        }
        Ok(Self::decode(sub0, sub1))
    }

    /// Decodes a host's sub-leaves, dropping bits this crate does not know (features of
    /// newer CPUs are never passed on) and ignoring sub-leaf 1 when sub-leaf 0 says it
    /// does not exist.
    pub fn from_host_cpuid(sub0: CpuidRegs, sub1: CpuidRegs) -> Self {
        let sub1 = if sub0.eax == 0 {
            CpuidRegs::default()
        } else {
            sub1
        };
        Self::decode(sub0, sub1)
    }

    fn decode(sub0: CpuidRegs, sub1: CpuidRegs) -> Self {
        let [_, _, mtc_lo, mtc_hi] = sub1.eax.to_le_bytes();
        let [cyc_lo, cyc_hi, psb_lo, psb_hi] = sub1.ebx.to_le_bytes();
        let [ranges, ..] = (sub1.eax & SUB1_EAX_RANGES_MASK).to_le_bytes();
        Self {
            max_subleaf: sub0.eax,
            features: Features::from_bits_truncate(sub0.ebx),
            output: OutputSchemes::from_bits_truncate(sub0.ecx),
            lip: sub0.ecx & ECX_LIP != 0,
            address_ranges: ranges,
            mtc_periods: u16::from_le_bytes([mtc_lo, mtc_hi]),
            cyc_thresholds: u16::from_le_bytes([cyc_lo, cyc_hi]),
            psb_periods: u16::from_le_bytes([psb_lo, psb_hi]),
        }
    }

    /// Encodes sub-leaves 0 and 1 (the twin of [`Caps::from_cpuid`]).
    pub fn to_cpuid(&self) -> (CpuidRegs, CpuidRegs) {
        let sub0 = CpuidRegs {
            eax: self.max_subleaf,
            ebx: self.features.bits(),
            ecx: self.output.bits() | if self.lip { ECX_LIP } else { 0 },
            edx: 0,
        };
        let sub1 = CpuidRegs {
            eax: (u32::from(self.mtc_periods) << 16)
                | (u32::from(self.address_ranges) & SUB1_EAX_RANGES_MASK),
            ebx: (u32::from(self.psb_periods) << 16) | u32::from(self.cyc_thresholds),
            ecx: 0,
            edx: 0,
        };
        (sub0, sub1)
    }

    /// Checks the invariant of the type (see its doc).
    pub fn validate(&self) -> Result<(), CpuidError> {
        if u32::from(self.address_ranges) > SUB1_EAX_RANGES_MASK {
            return Err(CpuidError::RangesOverflow(self.address_ranges));
        }
        let (sub0, sub1) = self.to_cpuid();
        Self::from_cpuid(sub0, sub1).map(|_| ())
    }

    /// Whether `IA32_RTIT_OUTPUT_BASE` and `IA32_RTIT_OUTPUT_MASK_PTRS` exist: ToPA or
    /// single-range output is enumerated (SDM vol. 3C, "IA32_RTIT_OUTPUT_BASE": "if
    /// CPUID.(EAX=14H,ECX=0):ECX\[0\]=1 or ECX\[2\]=1").
    pub const fn has_output_msrs(&self) -> bool {
        self.output.contains(OutputSchemes::TOPA)
            || self.output.contains(OutputSchemes::SINGLE_RANGE)
    }

    /// The number of address ranges usable through MSRs: `address_ranges`, at most
    /// [`MAX_ADDRESS_RANGES`].
    pub const fn usable_ranges(&self) -> u8 {
        if self.address_ranges > MAX_ADDRESS_RANGES {
            MAX_ADDRESS_RANGES
        } else {
            self.address_ranges
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Caps {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let sub0 = CpuidRegs {
            eax: u32::from(u.int_in_range(0u8..=2)?),
            ebx: u.arbitrary()?,
            ecx: u.arbitrary()?,
            edx: 0,
        };
        let sub1 = CpuidRegs {
            eax: u.arbitrary()?,
            ebx: u.arbitrary()?,
            ecx: 0,
            edx: 0,
        };
        Ok(Self::from_host_cpuid(sub0, sub1))
    }
}

/// The VMX facilities a host offers for Intel PT, read from the VMX capability MSRs
/// (Intel SDM vol. 3D, appendix "VMX Capability Reporting Facility"): with the CPUID
/// capabilities, what a host can give its guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct VmxPtSupport {
    /// IA32_VMX_MISC\[14\]: PT may be used in VMX operation.
    pub pt_in_vmx: bool,
    /// Allowed-1 of secondary control "Intel PT uses guest-physical addresses".
    pub use_gpa: bool,
    /// Allowed-1 of secondary control "conceal VMX from PT".
    pub conceal_vmx: bool,
    /// Allowed-1 of VM-entry control "load IA32_RTIT_CTL".
    pub load_rtit_ctl: bool,
    /// Allowed-1 of VM-exit control "clear IA32_RTIT_CTL".
    pub clear_rtit_ctl: bool,
}

impl VmxPtSupport {
    /// A host with every facility above.
    pub const ALL: Self = Self {
        pt_in_vmx: true,
        use_gpa: true,
        conceal_vmx: true,
        load_rtit_ctl: true,
        clear_rtit_ctl: true,
    };

    /// Everything host/guest mode needs (Linux `cpu_has_vmx_intel_pt()`: VMX_MISC\[14\],
    /// PT_USE_GPA, load and clear of RTIT_CTL).
    pub const fn supports_host_guest(&self) -> bool {
        self.pt_in_vmx && self.use_gpa && self.load_rtit_ctl && self.clear_rtit_ctl
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A real host: Intel Xeon Gold 6252 (Cascade Lake), leaf 14H from the raw CPUID dump
    /// in raw-cpuid's `src/tests/xeon_gold_6252.rs`:
    /// `0x00000014_00000000 => { eax: 0x00000001, ebx: 0x0000000f, ecx: 0x00000007, edx: 0 }`
    /// `0x00000014_00000001 => { eax: 0x02490002, ebx: 0x003f3fff, ecx: 0, edx: 0 }`
    pub(crate) const CLX_SUB0: CpuidRegs = CpuidRegs {
        eax: 1,
        ebx: 0xf,
        ecx: 0x7,
        edx: 0,
    };
    pub(crate) const CLX_SUB1: CpuidRegs = CpuidRegs {
        eax: 0x0249_0002,
        ebx: 0x003f_3fff,
        ecx: 0,
        edx: 0,
    };

    #[test]
    fn decodes_cascade_lake() {
        let caps = Caps::from_cpuid(CLX_SUB0, CLX_SUB1).expect("valid");
        assert_eq!(caps.max_subleaf, 1);
        assert!(caps.features.contains(Features::CR3_FILTER));
        assert!(caps.features.contains(Features::PSB_CYC));
        assert!(caps.features.contains(Features::IP_FILTER));
        assert!(caps.features.contains(Features::MTC));
        assert!(!caps.features.contains(Features::PTWRITE));
        assert!(!caps.features.contains(Features::POWER_EVENT));
        assert!(!caps.features.contains(Features::PSB_PMI_PRESERVE));
        assert_eq!(caps.output, OutputSchemes::from_bits(7).expect("valid"));
        assert!(!caps.lip);
        assert_eq!(caps.address_ranges, 2);
        assert_eq!(caps.mtc_periods, 0x249);
        assert_eq!(caps.cyc_thresholds, 0x3fff);
        assert_eq!(caps.psb_periods, 0x3f);
        assert_eq!(caps.to_cpuid(), (CLX_SUB0, CLX_SUB1));
    }

    /// Every reserved bit, one at a time, is rejected by the strict decoder and dropped
    /// by the host decoder.
    #[test]
    fn reserved_bits_table() {
        let cases: [(u8, Reg, u32); 6] = [
            (0, Reg::Ebx, !Features::all().bits()),
            (0, Reg::Ecx, !(OutputSchemes::all().bits() | ECX_LIP)),
            (0, Reg::Edx, u32::MAX),
            (1, Reg::Eax, SUB1_EAX_RESERVED),
            (1, Reg::Ecx, u32::MAX),
            (1, Reg::Edx, u32::MAX),
        ];
        for (subleaf, reg, mask) in cases {
            for bit in 0..32 {
                let b = 1u32 << bit;
                if mask & b == 0 {
                    continue;
                }
                let (mut s0, mut s1) = (CLX_SUB0, CLX_SUB1);
                let target = if subleaf == 0 { &mut s0 } else { &mut s1 };
                match reg {
                    Reg::Eax => target.eax |= b,
                    Reg::Ebx => target.ebx |= b,
                    Reg::Ecx => target.ecx |= b,
                    Reg::Edx => target.edx |= b,
                }
                assert_eq!(
                    Caps::from_cpuid(s0, s1),
                    Err(CpuidError::ReservedBits {
                        subleaf,
                        reg,
                        bits: b
                    }),
                    "sub-leaf {subleaf} {reg} bit {bit}"
                );
                assert_eq!(
                    Caps::from_host_cpuid(s0, s1),
                    Caps::from_cpuid(CLX_SUB0, CLX_SUB1).expect("valid")
                );
            }
        }
    }

    #[test]
    fn subleaf1_needs_max_subleaf() {
        let s0 = CpuidRegs { eax: 0, ..CLX_SUB0 };
        assert_eq!(
            Caps::from_cpuid(s0, CLX_SUB1),
            Err(CpuidError::Subleaf1Absent)
        );
        let host = Caps::from_host_cpuid(s0, CLX_SUB1);
        assert_eq!(host.address_ranges, 0);
        assert_eq!(host.mtc_periods, 0);
    }

    /// Strategy for valid capability sets.
    pub(crate) fn caps() -> impl Strategy<Value = Caps> {
        (
            0u32..3,
            0u32..=0x1ff,
            0u32..=0xf,
            any::<bool>(),
            0u8..=7,
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
        )
            .prop_map(|(max, f, o, lip, ranges, mtc, cyc, psb)| {
                let sub1 = max != 0;
                Caps {
                    max_subleaf: max,
                    features: Features::from_bits_truncate(f),
                    output: OutputSchemes::from_bits_truncate(o),
                    lip,
                    address_ranges: if sub1 { ranges } else { 0 },
                    mtc_periods: if sub1 { mtc } else { 0 },
                    cyc_thresholds: if sub1 { cyc } else { 0 },
                    psb_periods: if sub1 { psb } else { 0 },
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn round_trip(c in caps()) {
            let (s0, s1) = c.to_cpuid();
            prop_assert_eq!(Caps::from_cpuid(s0, s1), Ok(c));
            prop_assert_eq!(c.validate(), Ok(()));
        }

        #[test]
        fn host_decode_never_fails_and_is_valid(a in any::<[u32; 8]>()) {
            let s0 = CpuidRegs { eax: a[0], ebx: a[1], ecx: a[2], edx: a[3] };
            let s1 = CpuidRegs { eax: a[4], ebx: a[5], ecx: a[6], edx: a[7] };
            let c = Caps::from_host_cpuid(s0, s1);
            prop_assert_eq!(c.validate(), Ok(()));
        }
    }
}
