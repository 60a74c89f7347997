// SPDX-License-Identifier: Apache-2.0 OR MIT
//! MSI address/data decoding and encoding in both x86 forms.
//!
//! - **Compatibility format** (Intel SDM vol. 3A §11.11.1, Figures 11-31 and 11-32):
//!   address bits 31:20 = 0xFEE, 19:12 = destination ID, 3 = redirection hint,
//!   2 = destination mode, 4 = 0; data bits 7:0 vector, 10:8 delivery mode, 14 level,
//!   15 trigger mode. With the **extended destination ID** (David Woodhouse's 2020
//!   paravirtual convention, advertised by `KVM_FEATURE_MSI_EXT_DEST_ID` or Xen's
//!   `XEN_HVM_CPUID_EXT_DEST_ID`), address bits 11:5 carry destination bits 14:8, so 15
//!   bits reach APIC IDs up to 32767 (Linux `arch/x86/include/asm/msi.h`,
//!   `virt_destid_8_14`).
//! - **Remappable format** (Intel VT-d spec §5.1.5.2): address bit 4 = 1, bits 19:5 the
//!   interrupt handle's bits 14:0, bit 2 its bit 15, bit 3 SHV; with SHV set the data's
//!   low 16 bits are a sub-handle added to the handle. The IRTE then holds a 32-bit
//!   destination: this is the interrupt-remapping route for any APIC ID.
//!
//! Bits the form reserves must be zero, and the upper 32 address bits too: decoding
//! rejects them rather than guessing.
#![allow(
    clippy::cast_possible_truncation,
    reason = "bit fields: each cast keeps the low bits of a shifted or masked field, by design"
)]

use crate::error::Error;
use crate::icr::DeliveryMode;

/// Address bits 31:20 of every MSI: 0xFEE (SDM vol. 3A, Figure 11-31).
pub const MSI_WINDOW: u64 = 0xFEE0_0000;
/// Address bit 4: the remappable (interrupt-remapping) format (VT-d §5.1.5.2).
pub const ADDR_REMAPPABLE: u64 = 1 << 4;
/// Address bit 3: redirection hint (compatibility) or SHV (remappable).
pub const ADDR_RH_SHV: u64 = 1 << 3;
/// Address bit 2: destination mode (compatibility; logical when set) or handle bit 15
/// (remappable).
pub const ADDR_DM_HANDLE15: u64 = 1 << 2;
/// The largest destination the extended destination ID reaches (15 bits).
pub const MAX_EXT_DEST_ID: u32 = 0x7FFF;

/// What a compatibility-format MSI asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CompatMsi {
    /// Destination APIC ID (8 bits, or 15 with the extended destination ID).
    pub dest: u32,
    /// Destination mode: logical when true.
    pub logical: bool,
    /// Redirection hint.
    pub redirection_hint: bool,
    /// Vector.
    pub vector: u8,
    /// Delivery mode bits 10:8.
    pub delivery_mode: u8,
    /// Level: assert when true.
    pub assert: bool,
    /// Trigger mode: level-triggered when true.
    pub level_triggered: bool,
}

/// A remappable-format MSI: an index into the interrupt-remapping table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RemappableMsi {
    /// The 16-bit interrupt handle.
    pub handle: u16,
    /// The sub-handle from the data, when SHV is set.
    pub subhandle: Option<u16>,
}

impl RemappableMsi {
    /// The interrupt-remapping table index: handle + sub-handle (VT-d §5.1.5.2).
    pub fn index(self) -> u32 {
        u32::from(self.handle) + u32::from(self.subhandle.unwrap_or(0))
    }
}

/// A decoded MSI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Msi {
    /// Compatibility format.
    Compat(CompatMsi),
    /// Remappable format.
    Remappable(RemappableMsi),
}

impl CompatMsi {
    /// The delivery mode.
    pub const fn delivery(self) -> DeliveryMode {
        DeliveryMode::from_bits(self.delivery_mode)
    }
}

/// Decodes an MSI address/data pair. `ext_dest_id` says whether the guest was offered the
/// extended destination ID (then address bits 11:5 are destination bits 14:8; otherwise
/// they are reserved).
pub fn decode(addr: u64, data: u32, ext_dest_id: bool) -> Result<Msi, Error> {
    if addr & !0xF_FFFF != MSI_WINDOW {
        return Err(Error::NotMsiAddress(addr));
    }
    let reserved_bits = |reserved: u64| Error::MsiReserved {
        addr,
        data,
        reserved,
    };
    if addr & ADDR_REMAPPABLE != 0 {
        // Bits 1:0 reserved; data bits 31:16 reserved (and all of it without SHV).
        let shv = addr & ADDR_RH_SHV != 0;
        let data_reserved = if shv { 0xFFFF_0000 } else { u32::MAX };
        if addr & 3 != 0 || data & data_reserved != 0 {
            return Err(reserved_bits(addr & 3));
        }
        let low = (addr >> 5) & 0x7FFF;
        let high = u64::from(addr & ADDR_DM_HANDLE15 != 0) << 15;
        return Ok(Msi::Remappable(RemappableMsi {
            handle: u16::try_from(low | high).map_err(|_| reserved_bits(0))?,
            subhandle: shv.then_some(data as u16),
        }));
    }
    let reserved = if ext_dest_id { 0x3 } else { 0xFE3 };
    if addr & reserved != 0 || data & 0xFFFF_3800 != 0 {
        return Err(reserved_bits(addr & reserved));
    }
    let dest = ((addr >> 12) & 0xFF) as u32 | (((addr >> 5) & 0x7F) as u32) << 8;
    Ok(Msi::Compat(CompatMsi {
        dest,
        logical: addr & ADDR_DM_HANDLE15 != 0,
        redirection_hint: addr & ADDR_RH_SHV != 0,
        vector: data as u8,
        delivery_mode: (data >> 8) as u8 & 7,
        assert: data & (1 << 14) != 0,
        level_triggered: data & (1 << 15) != 0,
    }))
}

/// Encodes an MSI as (address, data); the inverse of [`decode`] with the same
/// `ext_dest_id`. A destination above 255 (or above 32767 with the extended ID) does not
/// fit and is refused.
pub fn encode(msi: &Msi, ext_dest_id: bool) -> Result<(u64, u32), Error> {
    match *msi {
        Msi::Compat(m) => {
            let bits = if ext_dest_id { 15 } else { 8 };
            if m.dest >> bits != 0 {
                return Err(Error::DestinationTooWide { dest: m.dest, bits });
            }
            if m.delivery_mode > 7 {
                return Err(Error::BadDeliveryMode(m.delivery_mode));
            }
            let addr = MSI_WINDOW
                | u64::from(m.dest & 0xFF) << 12
                | u64::from(m.dest >> 8) << 5
                | if m.redirection_hint { ADDR_RH_SHV } else { 0 }
                | if m.logical { ADDR_DM_HANDLE15 } else { 0 };
            let data = u32::from(m.vector)
                | u32::from(m.delivery_mode) << 8
                | u32::from(m.assert) << 14
                | u32::from(m.level_triggered) << 15;
            Ok((addr, data))
        }
        Msi::Remappable(m) => {
            let addr = MSI_WINDOW
                | ADDR_REMAPPABLE
                | u64::from(m.handle & 0x7FFF) << 5
                | if m.handle & 0x8000 != 0 {
                    ADDR_DM_HANDLE15
                } else {
                    0
                }
                | if m.subhandle.is_some() {
                    ADDR_RH_SHV
                } else {
                    0
                };
            Ok((addr, u32::from(m.subhandle.unwrap_or(0))))
        }
    }
}

/// The compatibility MSI's destination as KVM's `KVM_SIGNAL_MSI`/`KVM_SET_GSI_ROUTING`
/// take it with `KVM_X2APIC_API_USE_32BIT_IDS`: `(address_lo, address_hi)` with
/// destination bits 7:0 in `address_lo` bits 19:12 and bits 31:8 in `address_hi` bits
/// 31:8 (Linux `arch/x86/kvm/irq_comm.c`, `kvm_set_msi_irq`). A VMM that offers the
/// extended destination ID translates each guest MSI this way before handing it to KVM.
pub fn kvm_msi_address(m: &CompatMsi) -> (u32, u32) {
    let lo = (MSI_WINDOW as u32)
        | (m.dest & 0xFF) << 12
        | if m.redirection_hint {
            ADDR_RH_SHV as u32
        } else {
            0
        }
        | if m.logical {
            ADDR_DM_HANDLE15 as u32
        } else {
            0
        };
    (lo, m.dest & !0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixed(dest: u32) -> Msi {
        Msi::Compat(CompatMsi {
            dest,
            logical: false,
            redirection_hint: false,
            vector: 0x20,
            delivery_mode: 0,
            assert: false,
            level_triggered: false,
        })
    }

    #[test]
    fn extended_destination_vectors() {
        // Destinations 256, 300 and 32767: bits 7:0 in address bits 19:12, bits 14:8 in
        // address bits 11:5 (Linux `arch/x86/include/asm/msi.h`, `virt_destid_8_14`).
        for (dest, addr) in [(256, 0xFEE0_0020), (300, 0xFEE2_C020), (32767, 0xFEEF_FFE0)] {
            assert_eq!(encode(&fixed(dest), true), Ok((addr, 0x20)));
            assert_eq!(decode(addr, 0x20, true), Ok(fixed(dest)));
            assert!(matches!(
                decode(addr, 0x20, false),
                Err(Error::MsiReserved { .. })
            ));
        }
        assert_eq!(
            encode(&fixed(256), false),
            Err(Error::DestinationTooWide { dest: 256, bits: 8 })
        );
        assert_eq!(
            encode(&fixed(0x8000), true),
            Err(Error::DestinationTooWide {
                dest: 0x8000,
                bits: 15
            })
        );
        assert_eq!(
            decode(0xFEC0_0000, 0, true),
            Err(Error::NotMsiAddress(0xFEC0_0000))
        );
        assert_eq!(
            decode(1 << 32 | 0xFEE0_0000, 0, true),
            Err(Error::NotMsiAddress(1 << 32 | 0xFEE0_0000))
        );
        let Ok(Msi::Compat(m)) = decode(0xFEE2_C020, 0x20, true) else {
            panic!()
        };
        assert_eq!(kvm_msi_address(&m), (0xFEE2_C000, 0x100));
    }

    #[test]
    fn remappable() {
        let m = Msi::Remappable(RemappableMsi {
            handle: 0x8123,
            subhandle: Some(5),
        });
        let (addr, data) = encode(&m, false).unwrap();
        assert_eq!(addr, 0xFEE0_0000 | 0x123 << 5 | 0x1C);
        assert_eq!(data, 5);
        assert_eq!(decode(addr, data, false), Ok(m));
        let Msi::Remappable(r) = m else { panic!() };
        assert_eq!(r.index(), 0x8128);
        assert!(
            decode(addr & !ADDR_RH_SHV, 5, false).is_err(),
            "data must be 0 without SHV"
        );
    }

    fn msis() -> impl Strategy<Value = (Msi, bool)> {
        prop_oneof![
            (
                0u32..0x8000,
                any::<bool>(),
                any::<bool>(),
                any::<u8>(),
                0u8..8,
                any::<bool>(),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(
                    |(
                        dest,
                        logical,
                        redirection_hint,
                        vector,
                        delivery_mode,
                        assert,
                        level_triggered,
                        ext,
                    )| {
                        let dest = if ext { dest } else { dest & 0xFF };
                        (
                            Msi::Compat(CompatMsi {
                                dest,
                                logical,
                                redirection_hint,
                                vector,
                                delivery_mode,
                                assert,
                                level_triggered,
                            }),
                            ext,
                        )
                    }
                ),
            (
                any::<u16>(),
                proptest::option::of(any::<u16>()),
                any::<bool>()
            )
                .prop_map(|(handle, subhandle, ext)| (
                    Msi::Remappable(RemappableMsi { handle, subhandle }),
                    ext
                )),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn round_trip((msi, ext) in msis()) {
            let (addr, data) = encode(&msi, ext).unwrap();
            prop_assert_eq!(decode(addr, data, ext), Ok(msi));
        }
    }

    /// Whatever `decode` accepts, `encode` gives back bit for bit. The inputs are valid
    /// MSIs with up to two bits flipped among the low 32 address bits and the 32 data
    /// bits (the high address bits only ever make a non-MSI, tested above), so most
    /// decode.
    #[test]
    fn decode_emit_is_identity() {
        let inputs = (msis(), crate::reach::flips(64)).prop_map(|((msi, ext), mask)| {
            let (addr, data) = encode(&msi, ext).unwrap();
            (
                addr ^ u64::from(mask as u32),
                data ^ (mask >> 32) as u32,
                ext,
            )
        });
        crate::reach::check(
            "msi decode_emit_is_identity",
            1024,
            inputs,
            |(addr, data, ext)| {
                let Ok(msi) = decode(addr, data, ext) else {
                    return Ok(false);
                };
                prop_assert_eq!(encode(&msi, ext), Ok((addr, data)));
                Ok(true)
            },
        );
    }
}
