// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Emulation of the trapped `IA32_RTIT_*` MSRs of one vCPU.
//!
//! Every guest `rdmsr`/`wrmsr` of a PT MSR is trapped (Xen 2018 design session: "we
//! don't need to pass through the Intel PT MSRs at any time"). [`PtVcpu`] holds the
//! per-vCPU state and answers each access with the value, or a #GP and its typed
//! [`GpReason`], following the Intel SDM vol. 3C chapter "Intel Processor Trace"
//! (section "Trace Configuration MSRs") for each bit against the [`Policy`].
//!
//! Guest writes follow the SDM. Host-initiated writes ([`Origin::Host`], e.g. restoring
//! state after migration or saving what the processor advanced after a VM exit) check the
//! same value rules but not the "written while TraceEn=1" rule, and may set the
//! processor-owned STATUS bits. Whatever the origin, a failed write changes nothing.
//!
//! One rule goes beyond the SDM, by policy: a write that leaves `TraceEn=1` must leave a
//! valid output configuration ([`output_config`]). Hardware accepts some invalid ones
//! (a ToPA base with bits 11:7 set, a misaligned single range) and reports an
//! *operational error* in STATUS.Error once tracing starts; the design session decided an
//! illegal output buffer is the guest's fault, so this emulation refuses it up front with
//! [`GpReason::InvalidOutput`]. Hence the invariant the fuzz target checks:
//! `TraceEn = 1 ⇒ output_config(..)` is `Ok`.
//!
//! Where Linux KVM (`arch/x86/kvm/vmx/vmx.c`) differs, `tests/kvm_divergence.rs` shows
//! the case.

use crate::cpuid::{Caps, Features, OutputSchemes};
use crate::policy::Policy;

/// `IA32_RTIT_OUTPUT_BASE` (SDM vol. 4, "Model-Specific Registers", 560H).
pub const IA32_RTIT_OUTPUT_BASE: u32 = 0x560;
/// `IA32_RTIT_OUTPUT_MASK_PTRS` (SDM vol. 4, 561H).
pub const IA32_RTIT_OUTPUT_MASK_PTRS: u32 = 0x561;
/// `IA32_RTIT_CTL` (SDM vol. 4, 570H).
pub const IA32_RTIT_CTL: u32 = 0x570;
/// `IA32_RTIT_STATUS` (SDM vol. 4, 571H).
pub const IA32_RTIT_STATUS: u32 = 0x571;
/// `IA32_RTIT_CR3_MATCH` (SDM vol. 4, 572H).
pub const IA32_RTIT_CR3_MATCH: u32 = 0x572;
/// `IA32_RTIT_ADDR0_A` (SDM vol. 4, 580H); `ADDRn_A` = 580H + 2n, `ADDRn_B` = 581H + 2n,
/// n = 0..3.
pub const IA32_RTIT_ADDR0_A: u32 = 0x580;
/// The last address-range MSR, `IA32_RTIT_ADDR3_B` (SDM vol. 4, 587H).
pub const IA32_RTIT_ADDR3_B: u32 = 0x587;

bitflags::bitflags! {
    /// Bits and fields of `IA32_RTIT_CTL` (SDM vol. 3C, table "IA32_RTIT_CTL MSR"), with the
    /// CPUID.14H bit that enumerates each. Multi-bit fields are masks; their encodings
    /// are read at the `*_SHIFT` positions.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct RtitCtl: u64 {
        /// Bit 0 (TraceEn), always.
        const TRACE_EN = 1 << 0;
        /// Bit 1 (CYCEn), 0:EBX\[1\].
        const CYC_EN = 1 << 1;
        /// Bit 2 (OS), always.
        const OS = 1 << 2;
        /// Bit 3 (User), always.
        const USER = 1 << 3;
        /// Bit 4 (PwrEvtEn), 0:EBX\[5\].
        const PWR_EVT_EN = 1 << 4;
        /// Bit 5 (FUPonPTW), 0:EBX\[4\].
        const FUP_ON_PTW = 1 << 5;
        /// Bit 6 (FabricEn), 0:ECX\[3\].
        const FABRIC_EN = 1 << 6;
        /// Bit 7 (CR3Filter), 0:EBX\[0\].
        const CR3_FILTER = 1 << 7;
        /// Bit 8 (ToPA), 0:ECX\[0\].
        const TOPA = 1 << 8;
        /// Bit 9 (MTCEn), 0:EBX\[3\].
        const MTC_EN = 1 << 9;
        /// Bit 10 (TSCEn), always.
        const TSC_EN = 1 << 10;
        /// Bit 11 (DisRETC), always.
        const DIS_RETC = 1 << 11;
        /// Bit 12 (PTWEn), 0:EBX\[4\].
        const PTW_EN = 1 << 12;
        /// Bit 13 (BranchEn), always, as Linux KVM since 2021 (Xen's 2018 patch and older
        /// KVM gated it on 0:EBX\[3\]).
        const BRANCH_EN = 1 << 13;
        /// Bits 17:14 (MTCFreq), 0:EBX\[3\]; encoding n needs bit n of 1:EAX\[31:16\].
        const MTC_FREQ = 0xf << 14;
        /// Bits 22:19 (CycThresh), 0:EBX\[1\]; encoding n needs bit n of 1:EBX\[15:0\].
        const CYC_THRESH = 0xf << 19;
        /// Bits 27:24 (PSBFreq), 0:EBX\[1\]; encoding n needs bit n of 1:EBX\[31:16\].
        const PSB_FREQ = 0xf << 24;
        /// Bit 31 (EventEn), 0:EBX\[7\].
        const EVENT_EN = 1 << 31;
        /// Bits 35:32 (ADDR0_CFG), exists iff 1:EAX\[2:0\] > 0; values 0 off,
        /// 1 FilterEn, 2 TraceStop, others #GP.
        const ADDR0_CFG = 0xf << 32;
        /// Bits 39:36 (ADDR1_CFG), exists iff 1:EAX\[2:0\] > 1.
        const ADDR1_CFG = 0xf << 36;
        /// Bits 43:40 (ADDR2_CFG), exists iff 1:EAX\[2:0\] > 2.
        const ADDR2_CFG = 0xf << 40;
        /// Bits 47:44 (ADDR3_CFG), exists iff 1:EAX\[2:0\] > 3.
        const ADDR3_CFG = 0xf << 44;
        /// Bit 55 (DisTNT), 0:EBX\[8\].
        const DIS_TNT = 1 << 55;
        /// Bit 56 (InjectPsbPmiOnEnable), 0:EBX\[6\].
        const INJECT_PSB_PMI = 1 << 56;
    }
}

impl RtitCtl {
    /// Lowest bit of MTCFreq.
    pub const MTC_FREQ_SHIFT: u32 = 14;
    /// Lowest bit of CycThresh.
    pub const CYC_THRESH_SHIFT: u32 = 19;
    /// Lowest bit of PSBFreq.
    pub const PSB_FREQ_SHIFT: u32 = 24;
    /// Lowest bit of ADDR0_CFG; ADDRn_CFG is at `ADDR_CFG_SHIFT + 4 * n`.
    pub const ADDR_CFG_SHIFT: u32 = 32;
    /// Bits always allowed whatever the enumeration.
    pub const ALWAYS: Self = Self::TRACE_EN
        .union(Self::OS)
        .union(Self::USER)
        .union(Self::TSC_EN)
        .union(Self::DIS_RETC)
        .union(Self::BRANCH_EN);

    /// The ADDRn_CFG field of address range `n` (0..=3).
    pub const fn addr_cfg(n: u8) -> Self {
        Self::from_bits_retain(0xf << (Self::ADDR_CFG_SHIFT + 4 * (n as u32 & 3)))
    }
}

bitflags::bitflags! {
    /// Bits and fields of `IA32_RTIT_STATUS` (SDM vol. 3C, table "IA32_RTIT_STATUS MSR").
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct RtitStatus: u64 {
        /// Bit 0 (FilterEn): processor-written, software writes ignored.
        const FILTER_EN = 1 << 0;
        /// Bit 1 (ContextEn): processor-written, software writes ignored.
        const CONTEXT_EN = 1 << 1;
        /// Bit 2 (TriggerEn): processor-written, software writes ignored.
        const TRIGGER_EN = 1 << 2;
        /// Bit 4 (Error): operational error; software may set or clear it.
        const ERROR = 1 << 4;
        /// Bit 5 (Stopped): a ToPA STOP entry or TraceStop range was hit.
        const STOPPED = 1 << 5;
        /// Bit 6 (PendPSB), 0:EBX\[6\].
        const PEND_PSB = 1 << 6;
        /// Bit 7 (PendTopaPMI), 0:EBX\[6\].
        const PEND_TOPA_PMI = 1 << 7;
        /// Bits 48:32 (PacketByteCnt): non-zero values need 0:EBX\[1\]. When it is 0 at
        /// the next enable, the processor starts its output with a PSB+.
        const PACKET_BYTE_CNT = 0x1_ffff << 32;
    }
}

impl RtitStatus {
    /// The bits only the processor sets.
    pub const PROCESSOR_OWNED: Self = Self::FILTER_EN
        .union(Self::CONTEXT_EN)
        .union(Self::TRIGGER_EN);
}

/// `IA32_RTIT_OUTPUT_MASK_PTRS` bits 6:0, LowerMask: forced to 1 (SDM, IA32_RTIT_OUTPUT_MASK_PTRS
/// description), so reads return them set whatever was written.
pub const LOWER_MASK: u64 = 0x7f;
/// `IA32_RTIT_OUTPUT_BASE` bits 6:0 are reserved (the base is 128-byte aligned).
pub const OUTPUT_BASE_RESERVED_LOW: u64 = 0x7f;
/// `IA32_RTIT_CR3_MATCH` bits 4:0 are reserved.
pub const CR3_MATCH_RESERVED: u64 = 0x1f;

/// The per-vCPU RTIT MSR values, as saved for migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RtitState {
    /// `IA32_RTIT_CTL`.
    pub ctl: u64,
    /// `IA32_RTIT_STATUS`.
    pub status: u64,
    /// `IA32_RTIT_OUTPUT_BASE`.
    pub output_base: u64,
    /// `IA32_RTIT_OUTPUT_MASK_PTRS`.
    pub output_mask_ptrs: u64,
    /// `IA32_RTIT_CR3_MATCH`.
    pub cr3_match: u64,
    /// `IA32_RTIT_ADDRn_A` and `_B`, n = 0..3.
    pub addr: [[u64; 2]; 4],
}

impl RtitState {
    /// The state after cold reset: everything 0, LowerMask reading as ones.
    pub const RESET: Self = Self {
        ctl: 0,
        status: 0,
        output_base: 0,
        output_mask_ptrs: LOWER_MASK,
        cr3_match: 0,
        addr: [[0; 2]; 4],
    };

    /// Whether TraceEn is set.
    pub const fn is_tracing(&self) -> bool {
        RtitCtl::from_bits_retain(self.ctl).contains(RtitCtl::TRACE_EN)
    }

    /// The stored value of an RTIT MSR index (0 for an index that is not one).
    pub fn read(&self, index: u32) -> u64 {
        match Msr::from_index(index) {
            Some(Msr::OutputBase) => self.output_base,
            Some(Msr::OutputMaskPtrs) => self.output_mask_ptrs | LOWER_MASK,
            Some(Msr::Ctl) => self.ctl,
            Some(Msr::Status) => self.status,
            Some(Msr::Cr3Match) => self.cr3_match,
            Some(Msr::AddrA(n)) => self.addr.get(usize::from(n)).map_or(0, |p| p[0]),
            Some(Msr::AddrB(n)) => self.addr.get(usize::from(n)).map_or(0, |p| p[1]),
            None => 0,
        }
    }
}

impl Default for RtitState {
    fn default() -> Self {
        Self::RESET
    }
}

/// Who performs an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Origin {
    /// The guest's `wrmsr`.
    Guest,
    /// The VMM (restore, or saving the processor's updates after a VM exit).
    Host,
}

/// Where a valid output configuration sends trace data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputConfig {
    /// Table of Physical Addresses: the current table, entry index and offset in it.
    Topa {
        /// Guest-physical base of the current ToPA table (OUTPUT_BASE).
        table: u64,
        /// Current entry index (OUTPUT_MASK_PTRS bits 31:7).
        entry: u32,
        /// Offset into the current output region (OUTPUT_MASK_PTRS bits 63:32).
        offset: u32,
    },
    /// One contiguous, naturally aligned, power-of-two region used circularly.
    SingleRange {
        /// Guest-physical base (OUTPUT_BASE).
        base: u64,
        /// Size in bytes (OUTPUT_MASK_PTRS bits 31:0, plus one).
        size: u64,
        /// Current offset (OUTPUT_MASK_PTRS bits 63:32).
        offset: u32,
    },
    /// The trace transport subsystem (FabricEn=1): no memory output.
    Transport,
}

/// Why the output MSRs do not describe a usable buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// ToPA=0 and FabricEn=0, but single-range output is not enumerated (an
    /// architectural #GP: SDM, IA32_RTIT_CTL ToPA bit).
    #[error("single-range output is not supported")]
    NoSingleRange,
    /// The ToPA table base is not 4 KiB aligned (hardware: operational error).
    #[error("ToPA table base {0:#x} is not 4 KiB aligned")]
    TopaBaseMisaligned(u64),
    /// A non-zero entry index although ToPA tables hold a single output entry.
    #[error("ToPA entry index {0} without multi-entry ToPA support")]
    TopaEntryIndex(u32),
    /// The single-range mask (bits 31:0) is not 2^n - 1. The SDM only asks that the
    /// mask's ones not overlap the base's; a mask with holes describes no contiguous
    /// region, so this policy refuses it.
    #[error("single-range mask {0:#x} is not 2^n - 1")]
    MaskNotContiguous(u32),
    /// The single-range base is not aligned to the region size (hardware: operational
    /// error).
    #[error("single-range base {base:#x} is not aligned to its size {size:#x}")]
    RangeMisaligned {
        /// OUTPUT_BASE.
        base: u64,
        /// The region size.
        size: u64,
    },
    /// The single range ends beyond MAXPHYADDR.
    #[error("single range {base:#x}+{size:#x} ends beyond MAXPHYADDR")]
    RangeBeyondMaxPhyAddr {
        /// OUTPUT_BASE.
        base: u64,
        /// The region size.
        size: u64,
    },
    /// The single-range offset lies outside the region.
    #[error("single-range offset {offset:#x} is outside the {size:#x}-byte region")]
    OffsetOutside {
        /// OUTPUT_MASK_PTRS bits 63:32.
        offset: u32,
        /// The region size.
        size: u64,
    },
}

/// Decodes the output configuration selected by `ctl_value` from the output MSRs.
pub fn output_config(
    policy: &Policy,
    ctl_value: u64,
    output_base: u64,
    mask_ptrs: u64,
) -> Result<OutputConfig, OutputError> {
    let caps = policy.caps();
    let [p0, p1, p2, p3, o0, o1, o2, o3] = mask_ptrs.to_le_bytes();
    let low = u32::from_le_bytes([p0, p1, p2, p3]);
    let offset = u32::from_le_bytes([o0, o1, o2, o3]);
    let ctl = RtitCtl::from_bits_retain(ctl_value);
    if ctl.contains(RtitCtl::FABRIC_EN) {
        return Ok(OutputConfig::Transport);
    }
    if ctl.contains(RtitCtl::TOPA) {
        if output_base & 0xfff != 0 {
            return Err(OutputError::TopaBaseMisaligned(output_base));
        }
        let entry = low >> 7;
        if entry != 0 && !caps.output.contains(OutputSchemes::TOPA_MULTI) {
            return Err(OutputError::TopaEntryIndex(entry));
        }
        return Ok(OutputConfig::Topa {
            table: output_base,
            entry,
            offset,
        });
    }
    if !caps.output.contains(OutputSchemes::SINGLE_RANGE) {
        return Err(OutputError::NoSingleRange);
    }
    let mask = u64::from(low);
    let size = mask + 1;
    if mask & size != 0 {
        return Err(OutputError::MaskNotContiguous(low));
    }
    if output_base & mask != 0 {
        return Err(OutputError::RangeMisaligned {
            base: output_base,
            size,
        });
    }
    if output_base
        .checked_add(size)
        .is_none_or(|end| end > 1u64 << policy.maxphyaddr())
    {
        return Err(OutputError::RangeBeyondMaxPhyAddr {
            base: output_base,
            size,
        });
    }
    if u64::from(offset) > mask {
        return Err(OutputError::OffsetOutside { offset, size });
    }
    Ok(OutputConfig::SingleRange {
        base: output_base,
        size,
        offset,
    })
}

/// Why an access raises #GP(0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpReason {
    /// The policy hides Intel PT (CPUID.(7,0):EBX\[25\] = 0).
    #[error("Intel PT is not exposed to this guest")]
    PtNotExposed,
    /// Not one of the RTIT MSRs the SDM defines.
    #[error("not an IA32_RTIT_* MSR")]
    NoSuchMsr,
    /// The MSR exists only with a capability the policy does not expose (CR3_MATCH
    /// without CR3 filtering, OUTPUT_* without ToPA or single range, ADDRn beyond the
    /// range count).
    #[error("MSR not enumerated by the guest's CPUID")]
    NotEnumerated,
    /// Reserved or non-enumerated bits are set.
    #[error("reserved bits {0:#x} set")]
    ReservedBits(u64),
    /// A guest write while TraceEn=1 (to any MSR but CTL, or to CTL keeping TraceEn=1
    /// with a different value).
    #[error("written while TraceEn=1")]
    WhileTracing,
    /// MTCFreq encoding not in CPUID.14H.1:EAX\[31:16\].
    #[error("MTCFreq encoding {0} not supported")]
    MtcFreq(u8),
    /// CycThresh encoding not in CPUID.14H.1:EBX\[15:0\].
    #[error("CycThresh encoding {0} not supported")]
    CycThresh(u8),
    /// PSBFreq encoding not in CPUID.14H.1:EBX\[31:16\].
    #[error("PSBFreq encoding {0} not supported")]
    PsbFreq(u8),
    /// An ADDRn_CFG value above 2.
    #[error("ADDR{range}_CFG value {value} is reserved")]
    AddrCfg {
        /// n.
        range: u8,
        /// The value written.
        value: u8,
    },
    /// An ADDRn_A/B value that is not canonical for the guest's linear-address width.
    #[error("address {0:#x} is not canonical")]
    NonCanonical(u64),
    /// TraceEn=1 with an output configuration that cannot work.
    #[error("TraceEn=1 with an invalid output configuration: {0}")]
    InvalidOutput(OutputError),
}

/// A #GP(0) on an RTIT MSR access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("#GP(0) on MSR {msr:#x}: {reason}")]
pub struct Gp {
    /// The MSR index (ECX of the access).
    pub msr: u32,
    /// Why.
    pub reason: GpReason,
}

/// The RTIT MSRs, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Msr {
    /// `IA32_RTIT_OUTPUT_BASE`.
    OutputBase,
    /// `IA32_RTIT_OUTPUT_MASK_PTRS`.
    OutputMaskPtrs,
    /// `IA32_RTIT_CTL`.
    Ctl,
    /// `IA32_RTIT_STATUS`.
    Status,
    /// `IA32_RTIT_CR3_MATCH`.
    Cr3Match,
    /// `IA32_RTIT_ADDRn_A` (n = 0..3).
    AddrA(u8),
    /// `IA32_RTIT_ADDRn_B` (n = 0..3).
    AddrB(u8),
}

impl Msr {
    /// The MSR with this index, if it is an RTIT MSR.
    pub fn from_index(index: u32) -> Option<Self> {
        Some(match index {
            IA32_RTIT_OUTPUT_BASE => Self::OutputBase,
            IA32_RTIT_OUTPUT_MASK_PTRS => Self::OutputMaskPtrs,
            IA32_RTIT_CTL => Self::Ctl,
            IA32_RTIT_STATUS => Self::Status,
            IA32_RTIT_CR3_MATCH => Self::Cr3Match,
            IA32_RTIT_ADDR0_A..=IA32_RTIT_ADDR3_B => {
                let [i, ..] = (index - IA32_RTIT_ADDR0_A).to_le_bytes();
                if i % 2 == 0 {
                    Self::AddrA(i / 2)
                } else {
                    Self::AddrB(i / 2)
                }
            }
            _ => return None,
        })
    }

    /// The MSR index.
    pub fn index(self) -> u32 {
        match self {
            Self::OutputBase => IA32_RTIT_OUTPUT_BASE,
            Self::OutputMaskPtrs => IA32_RTIT_OUTPUT_MASK_PTRS,
            Self::Ctl => IA32_RTIT_CTL,
            Self::Status => IA32_RTIT_STATUS,
            Self::Cr3Match => IA32_RTIT_CR3_MATCH,
            Self::AddrA(n) => IA32_RTIT_ADDR0_A + 2 * u32::from(n),
            Self::AddrB(n) => IA32_RTIT_ADDR0_A + 2 * u32::from(n) + 1,
        }
    }
}

/// The `IA32_RTIT_CTL` bits a policy allows (everything else is reserved for the guest).
pub fn ctl_allowed(caps: &Caps) -> RtitCtl {
    let f = caps.features;
    let mut allowed = RtitCtl::ALWAYS;
    let gated: [(bool, RtitCtl); 10] = [
        (
            f.contains(Features::PSB_CYC),
            RtitCtl::CYC_EN | RtitCtl::CYC_THRESH | RtitCtl::PSB_FREQ,
        ),
        (f.contains(Features::CR3_FILTER), RtitCtl::CR3_FILTER),
        (
            f.contains(Features::MTC),
            RtitCtl::MTC_EN | RtitCtl::MTC_FREQ,
        ),
        (
            f.contains(Features::PTWRITE),
            RtitCtl::PTW_EN | RtitCtl::FUP_ON_PTW,
        ),
        (f.contains(Features::POWER_EVENT), RtitCtl::PWR_EVT_EN),
        (f.contains(Features::EVENT_TRACE), RtitCtl::EVENT_EN),
        (f.contains(Features::TNT_DISABLE), RtitCtl::DIS_TNT),
        (
            f.contains(Features::PSB_PMI_PRESERVE),
            RtitCtl::INJECT_PSB_PMI,
        ),
        (caps.output.contains(OutputSchemes::TOPA), RtitCtl::TOPA),
        (
            caps.output.contains(OutputSchemes::TRANSPORT),
            RtitCtl::FABRIC_EN,
        ),
    ];
    for (on, bits) in gated {
        if on {
            allowed |= bits;
        }
    }
    for n in 0..caps.usable_ranges() {
        allowed |= RtitCtl::addr_cfg(n);
    }
    allowed
}

/// The `IA32_RTIT_STATUS` bits a policy allows.
pub fn status_allowed(caps: &Caps) -> RtitStatus {
    let mut allowed = RtitStatus::PROCESSOR_OWNED | RtitStatus::ERROR | RtitStatus::STOPPED;
    if caps.features.contains(Features::PSB_PMI_PRESERVE) {
        allowed |= RtitStatus::PEND_PSB | RtitStatus::PEND_TOPA_PMI;
    }
    if caps.features.contains(Features::PSB_CYC) {
        allowed |= RtitStatus::PACKET_BYTE_CNT;
    }
    allowed
}

/// Whether `value` is canonical for a `bits`-wide linear address (bits 63:bits-1 all
/// equal).
pub const fn is_canonical(value: u64, bits: u8) -> bool {
    let shift = 64 - bits as u32;
    (((value << shift) as i64) >> shift) as u64 == value
}

fn field(value: u64, shift: u32) -> u8 {
    let [b, ..] = ((value >> shift) & 0xf).to_le_bytes();
    b
}

/// The RTIT MSRs of one vCPU under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtVcpu {
    policy: Policy,
    state: RtitState,
}

impl PtVcpu {
    /// A vCPU after cold reset.
    pub const fn new(policy: Policy) -> Self {
        Self {
            policy,
            state: RtitState::RESET,
        }
    }

    /// A vCPU restored from saved state (after migration): every value is checked as a
    /// host-initiated write, `IA32_RTIT_CTL` last, so TraceEn=1 is accepted only with a
    /// valid output configuration.
    pub fn from_state(policy: Policy, state: &RtitState) -> Result<Self, Gp> {
        let mut vcpu = Self::new(policy);
        if !policy.is_exposed() {
            // Nothing is writable: the state must be the reset state.
            return match (IA32_RTIT_OUTPUT_BASE..=IA32_RTIT_ADDR3_B)
                .find(|&i| state.read(i) != RtitState::RESET.read(i))
            {
                Some(msr) => Err(Gp {
                    msr,
                    reason: GpReason::PtNotExposed,
                }),
                None => Ok(vcpu),
            };
        }
        let caps = *policy.caps();
        let mut writes = [
            (IA32_RTIT_STATUS, state.status),
            (IA32_RTIT_OUTPUT_BASE, state.output_base),
            (IA32_RTIT_OUTPUT_MASK_PTRS, state.output_mask_ptrs),
            (IA32_RTIT_CR3_MATCH, state.cr3_match),
        ]
        .into_iter()
        .filter(|&(msr, _)| {
            // An MSR the policy does not enumerate must still hold its reset value.
            let exists = match msr {
                IA32_RTIT_CR3_MATCH => caps.features.contains(Features::CR3_FILTER),
                IA32_RTIT_STATUS => true,
                _ => caps.has_output_msrs(),
            };
            exists || state.read(msr) != RtitState::RESET.read(msr)
        });
        writes.try_for_each(|(msr, value)| vcpu.write(msr, value, Origin::Host))?;
        for (n, pair) in (0u8..).zip(state.addr) {
            for (msr, value) in [(Msr::AddrA(n), pair[0]), (Msr::AddrB(n), pair[1])] {
                if n < caps.usable_ranges() || value != 0 {
                    vcpu.write(msr.index(), value, Origin::Host)?;
                }
            }
        }
        vcpu.write(IA32_RTIT_CTL, state.ctl, Origin::Host)?;
        Ok(vcpu)
    }

    /// The current values (for saving).
    pub const fn state(&self) -> &RtitState {
        &self.state
    }

    /// The policy.
    pub const fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The output configuration in effect, when TraceEn=1.
    pub fn output(&self) -> Option<Result<OutputConfig, OutputError>> {
        let s = &self.state;
        s.is_tracing()
            .then(|| output_config(&self.policy, s.ctl, s.output_base, s.output_mask_ptrs))
    }

    fn msr(&self, index: u32) -> Result<Msr, Gp> {
        let gp = |reason| Gp { msr: index, reason };
        if !self.policy.is_exposed() {
            return Err(gp(GpReason::PtNotExposed));
        }
        let msr = Msr::from_index(index).ok_or(gp(GpReason::NoSuchMsr))?;
        let caps = self.policy.caps();
        let exists = match msr {
            Msr::Ctl | Msr::Status => true,
            Msr::OutputBase | Msr::OutputMaskPtrs => caps.has_output_msrs(),
            Msr::Cr3Match => caps.features.contains(Features::CR3_FILTER),
            Msr::AddrA(n) | Msr::AddrB(n) => n < caps.usable_ranges(),
        };
        if exists {
            Ok(msr)
        } else {
            Err(gp(GpReason::NotEnumerated))
        }
    }

    /// `rdmsr`.
    pub fn read(&self, index: u32) -> Result<u64, Gp> {
        self.msr(index)?;
        Ok(self.state.read(index))
    }

    /// `wrmsr` (or a host-initiated write). On error nothing changes.
    pub fn write(&mut self, index: u32, value: u64, origin: Origin) -> Result<(), Gp> {
        let msr = self.msr(index)?;
        let gp = |reason| Gp { msr: index, reason };
        let caps = *self.policy.caps();
        let tracing = self.state.is_tracing();
        let guest = origin == Origin::Guest;
        let mut next = self.state;
        match msr {
            Msr::Ctl => {
                next.ctl = value;
                self.check_ctl(value, origin).map_err(gp)?;
            }
            _ if guest && tracing => return Err(gp(GpReason::WhileTracing)),
            Msr::Status => {
                let reserved = value & !status_allowed(&caps).bits();
                if reserved != 0 {
                    return Err(gp(GpReason::ReservedBits(reserved)));
                }
                next.status = if guest {
                    let owned = RtitStatus::PROCESSOR_OWNED.bits();
                    (value & !owned) | (self.state.status & owned)
                } else {
                    value
                };
            }
            Msr::OutputBase => {
                let reserved =
                    value & (OUTPUT_BASE_RESERVED_LOW | !((1u64 << self.policy.maxphyaddr()) - 1));
                if reserved != 0 {
                    return Err(gp(GpReason::ReservedBits(reserved)));
                }
                next.output_base = value;
            }
            Msr::OutputMaskPtrs => next.output_mask_ptrs = value | LOWER_MASK,
            Msr::Cr3Match => {
                if value & CR3_MATCH_RESERVED != 0 {
                    return Err(gp(GpReason::ReservedBits(value & CR3_MATCH_RESERVED)));
                }
                next.cr3_match = value;
            }
            Msr::AddrA(n) | Msr::AddrB(n) => {
                if !is_canonical(value, self.policy.linear_address_bits()) {
                    return Err(gp(GpReason::NonCanonical(value)));
                }
                let slot = usize::from(matches!(msr, Msr::AddrB(_)));
                if let Some(pair) = next.addr.get_mut(usize::from(n)) {
                    pair[slot] = value;
                }
            }
        }
        // Policy: TraceEn=1 only with a valid output configuration, whoever writes.
        let enabling = next.is_tracing() && (!tracing || !guest);
        if enabling {
            output_config(
                &self.policy,
                next.ctl,
                next.output_base,
                next.output_mask_ptrs,
            )
            .map_err(|e| gp(GpReason::InvalidOutput(e)))?;
        }
        self.state = next;
        Ok(())
    }

    fn check_ctl(&self, value: u64, origin: Origin) -> Result<(), GpReason> {
        let caps = self.policy.caps();
        let reserved = value & !ctl_allowed(caps).bits();
        if reserved != 0 {
            return Err(GpReason::ReservedBits(reserved));
        }
        let old = RtitCtl::from_bits_retain(self.state.ctl);
        let new = RtitCtl::from_bits_retain(value);
        if origin == Origin::Guest
            && old.contains(RtitCtl::TRACE_EN)
            && new.contains(RtitCtl::TRACE_EN)
            && new != old
        {
            return Err(GpReason::WhileTracing);
        }
        if new.contains(RtitCtl::TRACE_EN)
            && !new.intersects(RtitCtl::TOPA | RtitCtl::FABRIC_EN)
            && !caps.output.contains(OutputSchemes::SINGLE_RANGE)
        {
            return Err(GpReason::InvalidOutput(OutputError::NoSingleRange));
        }
        type Check = (bool, u32, u16, fn(u8) -> GpReason);
        let encodings: [Check; 3] = [
            (
                caps.features.contains(Features::MTC),
                RtitCtl::MTC_FREQ_SHIFT,
                caps.mtc_periods,
                GpReason::MtcFreq,
            ),
            (
                caps.features.contains(Features::PSB_CYC),
                RtitCtl::CYC_THRESH_SHIFT,
                caps.cyc_thresholds,
                GpReason::CycThresh,
            ),
            (
                caps.features.contains(Features::PSB_CYC),
                RtitCtl::PSB_FREQ_SHIFT,
                caps.psb_periods,
                GpReason::PsbFreq,
            ),
        ];
        for (on, shift, bitmap, reason) in encodings {
            let n = field(value, shift);
            if on && bitmap & (1 << n) == 0 {
                return Err(reason(n));
            }
        }
        for range in 0..caps.usable_ranges() {
            let cfg = field(value, RtitCtl::ADDR_CFG_SHIFT + 4 * u32::from(range));
            if cfg > 2 {
                return Err(GpReason::AddrCfg { range, value: cfg });
            }
        }
        Ok(())
    }
}
