// SPDX-License-Identifier: Apache-2.0 OR MIT
//! A VT-d interrupt-remapping model (Intel VT-d spec chapter 5, "Interrupt
//! Remapping"): a remappable-format MSI or IOAPIC entry names a handle (and
//! sub-handle), which indexes the interrupt remapping table; the [`Irte`] found there
//! gives the interrupt that is delivered: vector, destination, delivery and trigger
//! mode. [`Interrupt::destination`] feeds [`crate::lookup::DestinationMap`].
//!
//! - [`Remapper::translate`] checks in QEMU's order (`hw/i386/intel_iommu.c`,
//!   `vtd_interrupt_remap_msi` and `vtd_irte_get`), each failure a typed
//!   [`FaultReason`] with the VT-d fault code (VT-d §7.1.3, Table "Interrupt Remapping
//!   Fault Conditions").
//! - The unit caches entries it has read (the interrupt entry cache): a VMM must honour
//!   the guest's IEC invalidation descriptors ([`Iec`], VT-d §6.5.2.7) with
//!   [`Remapper::invalidate`], or changed entries are not seen.
//!
//! Where this model and QEMU 10 differ (both from the VT-d spec): QEMU never blocks
//! compatibility-format interrupts (fault 0x25), does not check the reserved xAPIC-mode
//! destination bits or IM, and reads an SVT = 2 bus range with start and end swapped;
//! this model follows the spec (and Linux `set_irte_verify_bus`) in each case.

#![allow(
    clippy::cast_possible_truncation,
    reason = "bit fields: each cast keeps the low bits of a shifted or masked field, by design"
)]

pub mod irte;

use alloc::vec::Vec;

pub use irte::Irte;

use crate::icr::DeliveryMode;
use crate::lookup::Destination;

/// Address bits 31:20 of an interrupt request (VT-d §5.1.5.2: 0xFEE).
const MSI_WINDOW: u64 = 0xFEE;
/// Address bit 4: remappable format (VT-d §5.1.5.2).
const ADDR_FORMAT: u64 = 1 << 4;
/// Address bit 3: SHV, the data carries a sub-handle (VT-d §5.1.5.2).
const ADDR_SHV: u64 = 1 << 3;
/// Address bit 2: handle bit 15 (VT-d §5.1.5.2).
const ADDR_HANDLE15: u64 = 1 << 2;
/// IOAPIC RTE bit 48: remappable format (VT-d §5.1.5.1).
const RTE_FORMAT: u64 = 1 << 48;

/// Interrupt remapping fault reasons (VT-d §7.1.3, Table "Interrupt Remapping Fault
/// Conditions"; Linux `drivers/iommu/intel/dmar.c` `irq_remap_fault_reasons`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultReason {
    /// 0x20: reserved bits set in the interrupt request.
    RequestReserved,
    /// 0x21: the index is beyond the table (IRTA_REG.S).
    IndexBeyondTable,
    /// 0x22: the entry's P is clear.
    NotPresent,
    /// 0x23: the entry could not be read.
    TableRead,
    /// 0x24: reserved bits set in a present entry.
    EntryReserved,
    /// 0x25: a compatibility-format interrupt while those are blocked.
    CompatibilityBlocked,
    /// 0x26: the requester ID fails the entry's SVT/SQ/SID check.
    SourceId,
}

impl FaultReason {
    /// The VT-d fault reason code.
    pub const fn code(self) -> u8 {
        match self {
            Self::RequestReserved => 0x20,
            Self::IndexBeyondTable => 0x21,
            Self::NotPresent => 0x22,
            Self::TableRead => 0x23,
            Self::EntryReserved => 0x24,
            Self::CompatibilityBlocked => 0x25,
            Self::SourceId => 0x26,
        }
    }
}

/// A remapping fault: what, where, and whether the unit records it (the entry's FPD
/// suppresses recording of faults found after the entry was read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("interrupt remapping fault {:#04x} ({reason:?}) at index {index:?} from {source_id:#06x}", reason.code())]
pub struct Fault {
    /// The reason.
    pub reason: FaultReason,
    /// The table index, once known.
    pub index: Option<u32>,
    /// The requester ID of the interrupt.
    pub source_id: u16,
    /// Whether the fault is recorded (false when FPD is set in the entry).
    pub recorded: bool,
}

/// An interrupt request as it reaches the remapping unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Request {
    /// A memory write to the interrupt address range (MSI, MSI-X, or an IOAPIC's
    /// message).
    Msi {
        /// The 64-bit address.
        address: u64,
        /// The 32-bit data.
        data: u32,
    },
    /// An IOAPIC redirection table entry (the request an IOAPIC pin raises).
    Ioapic {
        /// The 64-bit entry.
        rte: u64,
    },
}

/// The interrupt a remapped request delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interrupt {
    /// Vector.
    pub vector: u8,
    /// Destination APIC ID or logical destination.
    pub dest: u32,
    /// Logical destination mode.
    pub logical: bool,
    /// Delivery mode.
    pub delivery_mode: DeliveryMode,
    /// Level triggered.
    pub level_triggered: bool,
    /// Redirection hint.
    pub redirection_hint: bool,
    /// Whether `dest` is a 32-bit x2APIC destination (x2APIC-mode remapping).
    pub wide: bool,
}

impl Interrupt {
    /// The destination for [`crate::lookup::DestinationMap::lookup`].
    pub const fn destination(&self) -> Destination {
        Destination {
            logical: self.logical,
            dest: self.dest,
            wide: self.wide,
        }
    }
}

/// What the unit did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Passed on untranslated: remapping is off, or a compatibility-format request
    /// while those are allowed.
    Passthrough,
    /// Translated through entry `index`.
    Remapped {
        /// The table index.
        index: u32,
        /// The entry used.
        irte: Irte,
        /// The interrupt delivered.
        interrupt: Interrupt,
    },
}

/// The guest-programmed state of the remapping unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Config {
    /// GSTS.IRES: remapping enabled.
    pub enabled: bool,
    /// IRTA_REG.EIME: x2APIC mode (32-bit destinations).
    pub eim: bool,
    /// IRTA_REG.S: the table has 2^(S+1) entries (S in 0..=15).
    pub size_field: u8,
    /// GSTS.CFIS: compatibility-format interrupts pass through; when clear they fault
    /// with 0x25 (VT-d §5.1.2.1).
    pub compat_allowed: bool,
}

impl Config {
    /// The number of table entries: 2^(S+1), S taken modulo 16 (the field's 4 bits).
    pub const fn entries(&self) -> u32 {
        2 << (self.size_field & 0xF)
    }

    /// Decodes IRTA_REG (VT-d §11.4.8.2: bits 3:0 S, bit 11 EIME), with GSTS.IRES
    /// and GSTS.CFIS given.
    pub const fn from_irta(irta: u64, enabled: bool, compat_allowed: bool) -> Self {
        Self {
            enabled,
            eim: irta & (1 << 11) != 0,
            size_field: (irta & 0xF) as u8,
            compat_allowed,
        }
    }
}

/// An IEC invalidation descriptor (VT-d §6.5.2.7), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Iec {
    /// Every cached entry.
    Global,
    /// 2^`mask` entries from `index` (aligned down to that size).
    Index {
        /// IIDX, bits 47:32.
        index: u16,
        /// IM, bits 31:27.
        mask: u8,
    },
}

/// Descriptor type 4, IEC invalidate (VT-d §6.5.2.7; Linux `QI_IEC_TYPE`).
pub const IEC_TYPE: u64 = 4;
/// Reserved bits of the descriptor's low quadword: 8:5, 26:12, 63:48 (VT-d §6.5.2.7;
/// QEMU `VTD_INV_DESC_IEC_RSVD` 0xFFFF000007FFF1E0) and the type's high bits 11:9.
pub const IEC_RESERVED: u64 = 0xFFFF_0000_07FF_FFE0;

/// Why a descriptor is not an IEC invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an IEC invalidation descriptor: {qw0:#018x}")]
pub struct BadDescriptor {
    /// The low quadword.
    pub qw0: u64,
}

impl Iec {
    /// Decodes the descriptor's low quadword (the high one is reserved).
    pub const fn decode(qw0: u64, qw1: u64) -> Result<Self, BadDescriptor> {
        if qw0 & 0xF != IEC_TYPE || qw0 & IEC_RESERVED != 0 || qw1 != 0 {
            return Err(BadDescriptor { qw0 });
        }
        Ok(if qw0 & (1 << 4) == 0 {
            Self::Global
        } else {
            Self::Index {
                index: (qw0 >> 32) as u16,
                mask: (qw0 >> 27) as u8 & 0x1F,
            }
        })
    }

    /// The low quadword; the inverse of [`Iec::decode`] (mask taken modulo 32).
    pub const fn encode(self) -> u64 {
        match self {
            Self::Global => IEC_TYPE,
            Self::Index { index, mask } => {
                IEC_TYPE | 1 << 4 | ((mask & 0x1F) as u64) << 27 | (index as u64) << 32
            }
        }
    }
}

/// Where the unit reads table entries: guest memory at IRTA_REG's address.
pub trait IrteSource {
    /// The 128-bit entry at `index`, or `None` if the read fails.
    fn read_irte(&self, index: u32) -> Option<u128>;
}

impl<F: Fn(u32) -> Option<u128>> IrteSource for F {
    fn read_irte(&self, index: u32) -> Option<u128> {
        self(index)
    }
}

/// The remapping unit: configuration plus the interrupt entry cache.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Remapper {
    config: Option<Config>,
    /// Entries read, by index (grown to the highest index read; at most 65536).
    cache: Vec<Option<u128>>,
}

impl Remapper {
    /// A unit in `config`, with an empty cache.
    pub fn new(config: Config) -> Self {
        Self {
            config: Some(config),
            cache: Vec::new(),
        }
    }

    /// The configuration (`None` for [`Remapper::default`], which is disabled).
    pub const fn config(&self) -> Option<Config> {
        self.config
    }

    /// Reprograms the unit (a guest write of IRTA_REG/GCMD); the cache stays until
    /// invalidated, as on hardware (Linux flushes it globally after SIRTP).
    pub fn set_config(&mut self, config: Config) {
        self.config = Some(config);
    }

    /// Applies an IEC invalidation.
    pub fn invalidate(&mut self, iec: Iec) {
        match iec {
            Iec::Global => self.cache.clear(),
            Iec::Index { index, mask } => {
                let size = 1u64 << (mask & 0x1F).min(16);
                let first = u64::from(index) & !(size - 1);
                let range = u32::try_from(first).unwrap_or(u32::MAX)
                    ..u32::try_from(first + size).unwrap_or(u32::MAX);
                for slot in self
                    .cache
                    .get_mut(range.start as usize..)
                    .into_iter()
                    .flatten()
                    .take(range.len())
                {
                    *slot = None;
                }
            }
        }
    }

    /// The number of cached entries.
    pub fn cached(&self) -> usize {
        self.cache.iter().flatten().count()
    }

    /// Translates `request` from requester `source_id`, reading entries from `table`
    /// (through the cache).
    pub fn translate(
        &mut self,
        table: &impl IrteSource,
        request: Request,
        source_id: u16,
    ) -> Result<Outcome, Fault> {
        let Some(config) = self.config.filter(|c| c.enabled) else {
            return Ok(Outcome::Passthrough);
        };
        let fault = |reason, index, recorded| Fault {
            reason,
            index,
            source_id,
            recorded,
        };
        // The handle and, for an MSI with SHV, the data whose high half must be zero.
        let (index, shv_data) = match request {
            Request::Msi { address, data } => {
                if address >> 32 != 0 || address >> 20 != MSI_WINDOW {
                    return Err(fault(FaultReason::RequestReserved, None, true));
                }
                if address & ADDR_FORMAT == 0 {
                    return Self::compat(config, fault);
                }
                let handle =
                    (address >> 5) & 0x7FFF | u64::from(address & ADDR_HANDLE15 != 0) << 15;
                let handle = handle as u32;
                if address & ADDR_SHV != 0 {
                    (handle + (data & 0xFFFF), Some(data))
                } else {
                    (handle, None)
                }
            }
            Request::Ioapic { rte } => {
                if rte & RTE_FORMAT == 0 {
                    return Self::compat(config, fault);
                }
                // Bits 47:17 and 10:8 are reserved in the remappable format
                // (VT-d §5.1.5.1).
                if rte & (crate::ioapic::RESERVED | 0x700) != 0 {
                    return Err(fault(FaultReason::RequestReserved, None, true));
                }
                let index = (rte >> 49) & 0x7FFF | ((rte >> 11) & 1) << 15;
                (index as u32, None)
            }
        };
        if index >= config.entries() {
            return Err(fault(FaultReason::IndexBeyondTable, Some(index), true));
        }
        let slot = index as usize;
        let raw = match self.cache.get(slot).copied().flatten() {
            Some(raw) => raw,
            None => {
                let raw = table.read_irte(index).ok_or(fault(
                    FaultReason::TableRead,
                    Some(index),
                    true,
                ))?;
                if self.cache.len() <= slot {
                    self.cache.resize(slot + 1, None);
                }
                if let Some(c) = self.cache.get_mut(slot) {
                    *c = Some(raw);
                }
                raw
            }
        };
        let record = raw & irte::FPD == 0;
        if raw & irte::P == 0 {
            return Err(fault(FaultReason::NotPresent, Some(index), record));
        }
        let irte = Irte::decode(raw, config.eim)
            .map_err(|_| fault(FaultReason::EntryReserved, Some(index), record))?;
        if !source_id_matches(&irte, source_id) {
            return Err(fault(FaultReason::SourceId, Some(index), record));
        }
        if shv_data.is_some_and(|d| d >> 16 != 0) {
            return Err(fault(FaultReason::RequestReserved, Some(index), record));
        }
        let level_triggered = match request {
            // The RTE's trigger mode is what the IOAPIC acts on (Linux keeps it there;
            // VT-d §5.1.5.1 requires the IRTE's to match).
            Request::Ioapic { rte } => rte & (1 << 15) != 0,
            Request::Msi { .. } => irte.level_triggered,
        };
        Ok(Outcome::Remapped {
            index,
            irte,
            interrupt: Interrupt {
                vector: irte.vector,
                dest: irte.destination,
                logical: irte.logical,
                delivery_mode: DeliveryMode::from_bits(irte.delivery_mode),
                level_triggered,
                redirection_hint: irte.redirection_hint,
                wide: config.eim,
            },
        })
    }

    fn compat(
        config: Config,
        fault: impl Fn(FaultReason, Option<u32>, bool) -> Fault,
    ) -> Result<Outcome, Fault> {
        if config.compat_allowed {
            Ok(Outcome::Passthrough)
        } else {
            Err(fault(FaultReason::CompatibilityBlocked, None, true))
        }
    }
}

/// The SVT/SQ check of VT-d §9.10: SVT 0 none; 1 the requester ID equals SID, with
/// SQ 1/2/3 ignoring function bits 2, 2:1 or 2:0; 2 the requester's bus lies within
/// SID's bus range (start in 15:8, end in 7:0; Linux `set_irte_verify_bus`); 3 is
/// reserved and fails (as QEMU does).
pub fn source_id_matches(irte: &Irte, requester: u16) -> bool {
    match irte.source_validation {
        0 => true,
        1 => {
            let ignore: u16 = match irte.source_qualifier {
                0 => 0,
                1 => 0b100,
                2 => 0b110,
                _ => 0b111,
            };
            requester & !ignore == irte.source_id & !ignore
        }
        2 => {
            let [start, end] = irte.source_id.to_be_bytes();
            (start..=end).contains(&requester.to_be_bytes()[0])
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const EIM: Config = Config {
        enabled: true,
        eim: true,
        size_field: 0xF,
        compat_allowed: false,
    };

    fn entry(vector: u8, dest: u32, sid: u16) -> u128 {
        Irte {
            present: true,
            vector,
            destination: dest,
            source_id: sid,
            source_validation: 1,
            ..Irte::default()
        }
        .encode(true)
        .unwrap()
    }

    /// Linux's remappable MSI for handle `h`, sub-handle `sub` (`fill_msi_msg`).
    fn msi(h: u32, sub: u16) -> Request {
        let h = u64::from(h);
        Request::Msi {
            address: 0xFEE0_0000 | (h & 0x7FFF) << 5 | 1 << 4 | 1 << 3 | (h >> 15) << 2,
            data: sub.into(),
        }
    }

    #[test]
    fn msi_through_the_table() {
        let table: Vec<u128> = (0..64)
            .map(|i| entry(0x20 + i as u8, 256 + i, 0x0010))
            .collect();
        let read = |i: u32| table.get(i as usize).copied();
        let mut unit = Remapper::new(EIM);
        let out = unit.translate(&read, msi(40, 2), 0x0010).unwrap();
        let Outcome::Remapped {
            index, interrupt, ..
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(index, 42);
        assert_eq!(
            (interrupt.vector, interrupt.dest, interrupt.wide),
            (0x20 + 42, 298, true)
        );
        // Handle bit 15 lands beyond this 64-entry source but within 65536 entries.
        let e = unit.translate(&read, msi(0x8000, 0), 0x0010).unwrap_err();
        assert_eq!((e.reason, e.index), (FaultReason::TableRead, Some(0x8000)));
        // The wrong requester.
        let e = unit.translate(&read, msi(3, 0), 0x0011).unwrap_err();
        assert_eq!(e.reason.code(), 0x26);
        // A compatibility-format MSI while those are blocked.
        let compat = Request::Msi {
            address: 0xFEE0_1000,
            data: 0x30,
        };
        assert_eq!(
            unit.translate(&read, compat, 0).unwrap_err().reason.code(),
            0x25
        );
        unit.set_config(Config {
            compat_allowed: true,
            ..EIM
        });
        assert_eq!(unit.translate(&read, compat, 0), Ok(Outcome::Passthrough));
        // Reserved request bits: high address, SHV data high half.
        let high = Request::Msi {
            address: 1 << 32 | 0xFEE0_0010,
            data: 0,
        };
        assert_eq!(
            unit.translate(&read, high, 0).unwrap_err().reason.code(),
            0x20
        );
        let Request::Msi { address, .. } = msi(1, 0) else {
            unreachable!()
        };
        let bad = Request::Msi {
            address,
            data: 0x1_0000,
        };
        assert_eq!(
            unit.translate(&read, bad, 0x10).unwrap_err().reason.code(),
            0x20
        );
        // Index beyond a 2-entry table.
        let mut small = Remapper::new(Config {
            size_field: 0,
            ..EIM
        });
        assert_eq!(
            small
                .translate(&read, msi(2, 0), 0x10)
                .unwrap_err()
                .reason
                .code(),
            0x21
        );
        // Off: passthrough.
        let mut off = Remapper::new(Config {
            enabled: false,
            ..EIM
        });
        assert_eq!(
            off.translate(&read, msi(2, 0), 0x10),
            Ok(Outcome::Passthrough)
        );
    }

    #[test]
    fn entry_faults_and_fpd() {
        let not_present = irte::FPD;
        let reserved = entry(0x30, 1, 0) | 1 << 100;
        let read = |i: u32| match i {
            0 => Some(not_present),
            1 => Some(reserved),
            _ => None,
        };
        let mut unit = Remapper::new(EIM);
        let e = unit.translate(&read, msi(0, 0), 0).unwrap_err();
        assert_eq!((e.reason.code(), e.recorded), (0x22, false));
        let e = unit.translate(&read, msi(1, 0), 0).unwrap_err();
        assert_eq!((e.reason.code(), e.recorded), (0x24, true));
    }

    #[test]
    fn ioapic_entry() {
        let read = |_| Some(entry(0x41, 7, 0xFF00));
        let mut unit = Remapper::new(EIM);
        // Linux: index 5 in bits 63:49, format bit 48, level trigger, the pin in 7:0.
        let rte = 5u64 << 49 | 1 << 48 | 1 << 15 | 2;
        let out = unit
            .translate(&read, Request::Ioapic { rte }, 0xFF00)
            .unwrap();
        let Outcome::Remapped {
            index, interrupt, ..
        } = out
        else {
            panic!()
        };
        assert_eq!((index, interrupt.vector, interrupt.dest), (5, 0x41, 7));
        assert!(interrupt.level_triggered);
        let bad = Request::Ioapic { rte: rte | 1 << 20 };
        assert_eq!(
            unit.translate(&read, bad, 0xFF00)
                .unwrap_err()
                .reason
                .code(),
            0x20
        );
    }

    #[test]
    fn cache_needs_invalidation() {
        let cell = core::cell::Cell::new(entry(0x30, 1, 0));
        let read = |_| Some(cell.get());
        let mut unit = Remapper::new(EIM);
        let vector = |unit: &mut Remapper| match unit.translate(&read, msi(9, 0), 0) {
            Ok(Outcome::Remapped { interrupt, .. }) => interrupt.vector,
            other => panic!("{other:?}"),
        };
        assert_eq!(vector(&mut unit), 0x30);
        cell.set(entry(0x31, 1, 0));
        assert_eq!(vector(&mut unit), 0x30, "stale until invalidated");
        unit.invalidate(Iec::Index { index: 10, mask: 0 });
        assert_eq!(vector(&mut unit), 0x30, "another index");
        unit.invalidate(Iec::Index { index: 9, mask: 1 });
        assert_eq!(
            vector(&mut unit),
            0x31,
            "index 9 is in the aligned pair 8..10"
        );
        cell.set(entry(0x32, 1, 0));
        unit.invalidate(Iec::decode(Iec::Global.encode(), 0).unwrap());
        assert_eq!(vector(&mut unit), 0x32);
        assert_eq!(unit.cached(), 1);
    }

    #[test]
    fn iec_descriptor() {
        // Linux qi_flush_iec(iommu, index 42, mask 0): QI_IEC_TYPE | QI_IEC_IIDX(42) |
        // QI_IEC_IM(0) | QI_IEC_SELECTIVE.
        let linux = 4 | 1 << 4 | 42u64 << 32;
        assert_eq!(Iec::decode(linux, 0), Ok(Iec::Index { index: 42, mask: 0 }));
        assert_eq!(Iec::Index { index: 42, mask: 0 }.encode(), linux);
        assert!(Iec::decode(linux | 1 << 9, 0).is_err());
        assert!(Iec::decode(linux | 1 << 50, 0).is_err());
        assert!(Iec::decode(5, 0).is_err());
        assert!(Iec::decode(4, 1).is_err());
    }

    #[test]
    fn source_validation() {
        let with = |svt, sq, sid| Irte {
            source_validation: svt,
            source_qualifier: sq,
            source_id: sid,
            ..Irte::default()
        };
        assert!(source_id_matches(&with(0, 0, 0), 0x1234));
        assert!(source_id_matches(&with(1, 0, 0x0108), 0x0108));
        assert!(!source_id_matches(&with(1, 0, 0x0108), 0x010C));
        assert!(source_id_matches(&with(1, 1, 0x0108), 0x010C));
        assert!(!source_id_matches(&with(1, 1, 0x0108), 0x010A));
        assert!(source_id_matches(&with(1, 3, 0x0108), 0x010F));
        // Bus range 2..=5 (Linux: start << 8 | end).
        assert!(source_id_matches(&with(2, 0, 0x0205), 0x0400));
        assert!(!source_id_matches(&with(2, 0, 0x0205), 0x0600));
        assert!(!source_id_matches(&with(3, 0, 0), 0));
    }
}
