// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The interrupt command register as one 64-bit value (SDM vol. 3A §11.6.1, Figure 11-12
//! for xAPIC, §11.12.9 and Figure 11-28 for x2APIC): what an IPI asks for.
#![allow(
    clippy::cast_possible_truncation,
    reason = "register fields: each cast keeps the low bits of a shifted or masked field, by design"
)]

/// Delivery mode, ICR bits 10:8 (SDM vol. 3A §11.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryMode {
    /// 000: fixed.
    Fixed,
    /// 001: lowest priority.
    LowestPriority,
    /// 010: SMI.
    Smi,
    /// 100: NMI.
    Nmi,
    /// 101: INIT (or INIT level de-assert).
    Init,
    /// 110: start-up IPI.
    StartUp,
    /// 011 or 111: reserved encodings (111 is ExtINT in an LVT).
    Reserved(u8),
}

impl DeliveryMode {
    /// Decodes the three-bit field.
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 7 {
            0 => Self::Fixed,
            1 => Self::LowestPriority,
            2 => Self::Smi,
            4 => Self::Nmi,
            5 => Self::Init,
            6 => Self::StartUp,
            other => Self::Reserved(other),
        }
    }
}

/// Destination shorthand, ICR bits 19:18.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shorthand {
    /// 00: the destination field selects the targets.
    None,
    /// 01: the sender itself.
    SelfOnly,
    /// 10: every processor including the sender.
    AllIncludingSelf,
    /// 11: every processor except the sender.
    AllExcludingSelf,
}

/// An IPI as written to the ICR, with the destination normalised to bits 63:32.
///
/// In xAPIC mode the destination is ICR2 bits 31:24 (8 bits); in x2APIC mode it is the
/// whole high word. [`Icr::is_x2apic`] says which, since it decides what counts as the
/// broadcast destination (0xFF or 0xFFFF_FFFF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icr {
    raw: u64,
    x2apic: bool,
}

impl Icr {
    /// An x2APIC-mode ICR value as written to MSR 0x830.
    pub const fn x2apic(raw: u64) -> Self {
        Self { raw, x2apic: true }
    }

    /// An xAPIC-mode ICR from its low word and ICR2 (destination in bits 31:24).
    pub const fn xapic(low: u32, icr2: u32) -> Self {
        Self {
            raw: ((icr2 >> 24) as u64) << 32 | low as u64,
            x2apic: false,
        }
    }

    /// The low word.
    pub const fn low(self) -> u32 {
        self.raw as u32
    }

    /// Whether the destination is 32-bit (x2APIC) rather than 8-bit (xAPIC).
    pub const fn is_x2apic(self) -> bool {
        self.x2apic
    }

    /// Vector, bits 7:0.
    pub const fn vector(self) -> u8 {
        self.raw as u8
    }

    /// Delivery mode, bits 10:8.
    pub const fn delivery_mode(self) -> DeliveryMode {
        DeliveryMode::from_bits((self.raw >> 8) as u8 & 7)
    }

    /// Destination mode, bit 11: logical when set.
    pub const fn is_logical(self) -> bool {
        self.raw & (1 << 11) != 0
    }

    /// Level, bit 14 (assert when set).
    pub const fn is_assert(self) -> bool {
        self.raw & (1 << 14) != 0
    }

    /// Trigger mode, bit 15: level when set.
    pub const fn is_level(self) -> bool {
        self.raw & (1 << 15) != 0
    }

    /// Destination shorthand, bits 19:18.
    pub const fn shorthand(self) -> Shorthand {
        match (self.raw >> 18) & 3 {
            0 => Shorthand::None,
            1 => Shorthand::SelfOnly,
            2 => Shorthand::AllIncludingSelf,
            _ => Shorthand::AllExcludingSelf,
        }
    }

    /// The destination: an 8-bit APIC ID or logical mask in xAPIC mode, 32 bits in
    /// x2APIC mode.
    pub const fn destination(self) -> u32 {
        (self.raw >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        // Fixed, logical, level-triggered assert, all-excluding-self, vector 0x40.
        let icr = Icr::x2apic(0x1234_5678_000C_C840);
        assert_eq!(icr.vector(), 0x40);
        assert_eq!(icr.delivery_mode(), DeliveryMode::Fixed);
        assert!(icr.is_logical() && icr.is_assert() && icr.is_level());
        assert_eq!(icr.shorthand(), Shorthand::AllExcludingSelf);
        assert_eq!(icr.destination(), 0x1234_5678);
        let x = Icr::xapic(0x4500, 0x0300_0000);
        assert_eq!(x.delivery_mode(), DeliveryMode::Init);
        assert_eq!(x.destination(), 3);
        assert!(!x.is_x2apic());
        assert_eq!(DeliveryMode::from_bits(7), DeliveryMode::Reserved(7));
    }
}
