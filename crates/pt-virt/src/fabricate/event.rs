// SPDX-License-Identifier: Apache-2.0 OR MIT
//! What the fabricator is told: the configuration a guest's `IA32_RTIT_CTL` and
//! `IA32_RTIT_CR3_MATCH` give tracing ([`Config`]), the execution mode ([`ExecMode`]) and
//! the control-flow events a hypervisor observes or performs ([`Event`]).

/// The execution mode that MODE.Exec reports (SDM vol. 3C, "Intel Processor Trace",
/// table "MODE.Exec Packet Definition": bit 0 = CS.L, bit 1 = CS.D; (1,1) is invalid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ExecMode {
    /// 16-bit code: CS.L = 0, CS.D = 0 (real mode, virtual-8086 mode, 16-bit segments).
    Bits16,
    /// 32-bit code: CS.L = 0, CS.D = 1.
    Bits32,
    /// 64-bit code: CS.L = 1 (with IA32_EFER.LMA), CS.D = 0.
    Bits64,
}

impl ExecMode {
    /// The (CS.L, CS.D) pair MODE.Exec carries.
    pub const fn csl_csd(self) -> (bool, bool) {
        match self {
            Self::Bits16 => (false, false),
            Self::Bits32 => (false, true),
            Self::Bits64 => (true, false),
        }
    }

    /// The mode a MODE.Exec packet's CS.L and CS.D stand for (`None` for the invalid
    /// (1,1)).
    pub const fn from_csl_csd(csl: bool, csd: bool) -> Option<Self> {
        match (csl, csd) {
            (false, false) => Some(Self::Bits16),
            (false, true) => Some(Self::Bits32),
            (true, false) => Some(Self::Bits64),
            (true, true) => None,
        }
    }
}

/// The parts of the guest's trace configuration that decide which packets are written.
///
/// Field names follow `IA32_RTIT_CTL` (SDM vol. 3C, "IA32_RTIT_CTL MSR"). Tracing is
/// assumed to have BranchEn = 1 and no IP filtering (FilterEn = 1), so PacketEn =
/// TriggerEn ∧ ContextEn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Config {
    /// `OS` (bit 2): trace at CPL 0; also gates PIP ("PIP ... if OS=1").
    pub os: bool,
    /// `User` (bit 3): trace at CPL > 0.
    pub user: bool,
    /// `CR3Filter` (bit 7) with `IA32_RTIT_CR3_MATCH`: when `Some`, ContextEn also needs
    /// CR3\[63:5\] to equal the match value's bits 63:5.
    pub cr3_match: Option<u64>,
    /// `PSBFreq` (bits 27:24): a PSB+ at least every `2 KiB << psb_freq` bytes of output
    /// (0..=15).
    pub psb_freq: u8,
    /// The guest runs in VMX non-root operation and "conceal VMX non-root operation from
    /// Intel PT" is clear: PIP packets carry NR = 1.
    pub non_root: bool,
    /// Pack up to 47 conditional branches into a long TNT instead of 6 into a short one.
    pub long_tnt: bool,
    /// The core:bus ratio to report in a CBR packet inside every PSB+ (`None`: no CBR;
    /// 0 is refused).
    pub cbr: Option<u8>,
    /// Whether the packets are spliced into a stream that hardware also writes. Then every
    /// IP is written uncompressed (IPBytes `011b` or `110b`), because the hardware's
    /// last-IP state is unknown to software; otherwise the fabricator owns the whole
    /// stream and compresses IPs against its own last IP.
    pub splice: bool,
}

impl Default for Config {
    /// Kernel and user tracing, no CR3 filter, PSBFreq 0 (2 KiB), root operation, short
    /// TNTs, no CBR, spliced (uncompressed IPs).
    fn default() -> Self {
        Self {
            os: true,
            user: true,
            cr3_match: None,
            psb_freq: 0,
            non_root: false,
            long_tnt: false,
            cbr: None,
            splice: true,
        }
    }
}

/// Architectural state an event changes: what a far transfer or interrupt loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Change {
    /// New CR3 (a task switch).
    pub cr3: Option<u64>,
    /// New execution mode (CS.L/CS.D or IA32_EFER.LMA changed).
    pub mode: Option<ExecMode>,
    /// New CPL.
    pub cpl: Option<u8>,
}

/// Which asynchronous transfer an [`Event::Interrupt`] is; the packets are the same, the
/// source IP differs (SDM table "Packet Generation under Different Enable Conditions",
/// cases 11 to 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum InterruptKind {
    /// A hardware interrupt: the source is the next instruction's IP (NLIP, case 11).
    Hardware,
    /// A software interrupt (`INT n`, `INT3`, `INTO`): the source is the `INT`
    /// instruction (CLIP, case 12).
    Software,
    /// An exception or fault: the source is the faulting instruction (CLIP, case 13).
    Exception,
}

/// A control-flow event of the traced guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Event {
    /// A write sets TraceEn (WRMSR, XRSTORS, RSM, or a VM entry loading
    /// `IA32_RTIT_CTL`); `next` is the IP of the next instruction (NLIP).
    Enable {
        /// NLIP.
        next: u64,
    },
    /// A WRMSR clears TraceEn; `at` is the IP of the WRMSR (CLIP).
    Disable {
        /// CLIP.
        at: u64,
    },
    /// A conditional branch (or compressed RET) was taken or not.
    Branch {
        /// Taken.
        taken: bool,
    },
    /// A near indirect JMP or CALL, or an uncompressed near RET, went to `target`.
    Indirect {
        /// BLIP.
        target: u64,
    },
    /// A far CALL, JMP or RET (IRET included) went to `target`, changing `change`.
    FarBranch {
        /// BLIP.
        target: u64,
        /// State loaded by the transfer.
        change: Change,
    },
    /// An interrupt or exception left `from` for the handler at `target`.
    Interrupt {
        /// Hardware, software or exception.
        kind: InterruptKind,
        /// The source IP: NLIP for hardware interrupts, CLIP otherwise.
        from: u64,
        /// BLIP (the handler).
        target: u64,
        /// State loaded by the transfer.
        change: Change,
    },
    /// A MOV to CR3; `next` is NLIP.
    Cr3Write {
        /// New CR3.
        cr3: u64,
        /// NLIP.
        next: u64,
    },
    /// The output overflowed: packets were lost, and tracing resumes at `resume` with
    /// the current state.
    Overflow {
        /// The IP at which packets are generated again.
        resume: u64,
    },
}
