// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The crate's two failure types: [`Fault`], an access the architecture answers with a
//! general-protection exception (the VMM injects #GP), and [`Error`], input a VMM handed
//! the crate that cannot be used (a bad register page, a bad topology, a malformed MADT
//! entry or MSI). Both carry the offending values.

use crate::mode::Mode;

/// A guest access that raises #GP(0) (Intel SDM vol. 3A §11.12.1.3 and §11.12.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// A write to `IA32_APIC_BASE` sets a reserved bit (bits 7:0, 9, bits at or above
    /// MAXPHYADDR, or EXTD when CPUID does not advertise x2APIC).
    #[error("IA32_APIC_BASE value {value:#x} sets reserved bits {reserved:#x}")]
    BaseReserved {
        /// The value written.
        value: u64,
        /// The reserved bits it sets.
        reserved: u64,
    },
    /// A write to `IA32_APIC_BASE` asks for EN=0, EXTD=1.
    #[error("IA32_APIC_BASE value {0:#x} is the invalid state EN=0, EXTD=1")]
    InvalidState(u64),
    /// A mode transition the SDM forbids through WRMSR (x2APIC to xAPIC, disabled to
    /// x2APIC).
    #[error("illegal APIC mode transition {from:?} -> {to:?}")]
    IllegalTransition {
        /// The mode before the write.
        from: Mode,
        /// The mode the write asked for.
        to: Mode,
    },
    /// An x2APIC MSR access while the local APIC is not in x2APIC mode.
    #[error("MSR {msr:#x} accessed in {mode:?} mode")]
    NotX2apicMode {
        /// The MSR.
        msr: u32,
        /// The current mode.
        mode: Mode,
    },
    /// An MSR in the x2APIC range (or outside it) that names no register in this mode.
    #[error("MSR {0:#x} is not an x2APIC register")]
    NoSuchRegister(u32),
    /// WRMSR to a read-only register.
    #[error("MSR {0:#x} is read-only")]
    ReadOnly(u32),
    /// RDMSR of a write-only register (EOI, SELF IPI).
    #[error("MSR {0:#x} is write-only")]
    WriteOnly(u32),
    /// WRMSR with a non-zero value in reserved bits.
    #[error("MSR {msr:#x} value {value:#x} sets reserved bits {reserved:#x}")]
    Reserved {
        /// The MSR.
        msr: u32,
        /// The value written.
        value: u64,
        /// The reserved bits it sets.
        reserved: u64,
    },
}

/// Input that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// MAXPHYADDR outside 32..=52 (SDM vol. 3A §4.1.4: at most 52).
    #[error("MAXPHYADDR {0} is outside 32..=52")]
    BadMaxPhysAddr(u8),
    /// An LVT entry count outside 6..=7 (timer, thermal, perfmon, LINT0, LINT1, error,
    /// and optionally CMCI).
    #[error("{0} LVT entries; the model supports 6 or 7")]
    BadLvtCount(u8),
    /// `IA32_APIC_BASE` supplied with a register page is itself not acceptable.
    #[error("APIC base {0}")]
    BadBase(Fault),
    /// A `KVM_SET_LAPIC` page in the 32-bit ID format carries an x2APIC ID different from
    /// the vCPU's (KVM returns EINVAL).
    #[error("register page carries x2APIC ID {found:#x}, the vCPU's is {expected:#x}")]
    IdMismatch {
        /// The ID in the page.
        found: u32,
        /// The vCPU's x2APIC ID.
        expected: u32,
    },
    /// A byte buffer of the wrong length.
    #[error("buffer of {len} bytes; {expected} needed")]
    BadLength {
        /// The length given.
        len: usize,
        /// The length needed.
        expected: usize,
    },
    /// A vCPU count of zero or above the supported maximum.
    #[error("{count} vCPUs; supported are 1..={max}")]
    BadVcpuCount {
        /// The count asked for.
        count: u32,
        /// The maximum.
        max: u32,
    },
    /// A topology level with a zero count, or a topology that does not hold the vCPUs.
    #[error(
        "topology {threads}x{cores}x{dies} per socket, {sockets} sockets cannot hold {vcpus} vCPUs"
    )]
    BadTopology {
        /// Threads per core.
        threads: u32,
        /// Cores per die.
        cores: u32,
        /// Dies per socket.
        dies: u32,
        /// Sockets.
        sockets: u32,
        /// vCPUs asked for.
        vcpus: u32,
    },
    /// An APIC ID that the chosen scheme cannot produce without overflowing 32 bits or
    /// reaching the broadcast ID 0xFFFF_FFFF.
    #[error("APIC ID for vCPU {0} overflows")]
    IdOverflow(u32),
    /// A MADT entry with an unknown type or a length that does not match its type.
    #[error("MADT entry type {kind} with length {len}")]
    BadMadtEntry {
        /// The type byte.
        kind: u8,
        /// The length byte.
        len: u8,
    },
    /// An MSI address outside the 0xFEEx_xxxx window.
    #[error("MSI address {0:#x} is not in the 0xFEE00000 window")]
    NotMsiAddress(u64),
    /// An MSI whose bits the chosen decoding reserves are set.
    #[error("MSI address {addr:#x} data {data:#x}: reserved bits {reserved:#x} set")]
    MsiReserved {
        /// The address.
        addr: u64,
        /// The data.
        data: u32,
        /// The offending bits of the address.
        reserved: u64,
    },
    /// An IOAPIC redirection-table entry with reserved bits set.
    #[error("IOAPIC entry {raw:#x}: reserved bits {reserved:#x} set")]
    RteReserved {
        /// The entry.
        raw: u64,
        /// The offending bits.
        reserved: u64,
    },
    /// A delivery mode that does not fit in three bits.
    #[error("delivery mode {0} does not fit in 3 bits")]
    BadDeliveryMode(u8),
    /// An MSI destination that the chosen encoding cannot carry.
    #[error("destination {dest:#x} does not fit in {bits} bits")]
    DestinationTooWide {
        /// The destination APIC ID.
        dest: u32,
        /// The bits available.
        bits: u32,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = core::result::Result<T, Error>;
