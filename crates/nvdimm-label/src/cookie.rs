// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Interleave-set cookies, as Linux computes them from the NFIT
//! (`acpi_nfit_init_interleave_set`, `drivers/acpi/nfit/core.c`; UEFI 2.7
//! `EFI_NVDIMM_LABEL_SET_COOKIE_INFO`).
//!
//! EFI labels store the cookie of their region; Linux skips labels whose cookie matches
//! neither the region's cookie (cookie1 for v1.1 areas, cookie2 for v1.2) nor the v1.1
//! `altcookie`. Each DIMM of the set contributes a record; records are sorted by
//! `region_offset` and summed with Fletcher64 (in native byte order in the kernel,
//! which is little-endian on every platform with NFIT NVDIMMs this crate targets).

use crate::checksum::Sums;

/// The NFIT facts about one DIMM of an interleave set that enter its cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DimmCookieInfo {
    /// NFIT memory-device-to-SPA mapping `region_offset`.
    pub region_offset: u64,
    /// NFIT control region `serial_number`.
    pub serial_number: u32,
    /// NFIT control region `vendor_id`.
    pub vendor_id: u16,
    /// NFIT control region `manufacturing_date`.
    pub manufacturing_date: u16,
    /// NFIT control region `manufacturing_location`.
    pub manufacturing_location: u8,
}

impl DimmCookieInfo {
    /// The 16-byte v1.1 record: `region_offset`, `serial_number`, 4 zero bytes.
    fn v1_1(&self) -> [u8; 16] {
        let mut r = [0u8; 16];
        r[..8].copy_from_slice(&self.region_offset.to_le_bytes());
        r[8..12].copy_from_slice(&self.serial_number.to_le_bytes());
        r
    }

    /// The 48-byte v1.2 record (`nfit_set_info2`): v1.1 fields, `vendor_id`,
    /// `manufacturing_date`, `manufacturing_location`, then zeros.
    fn v1_2(&self) -> [u8; 48] {
        let mut r = [0u8; 48];
        r[..12].copy_from_slice(&self.v1_1()[..12]);
        r[12..14].copy_from_slice(&self.vendor_id.to_le_bytes());
        r[14..16].copy_from_slice(&self.manufacturing_date.to_le_bytes());
        r[16] = self.manufacturing_location;
        r
    }
}

/// Fletcher64 over the `record` of each of `dimms`, in their current order.
fn sum<const N: usize>(dimms: &[DimmCookieInfo], record: fn(&DimmCookieInfo) -> [u8; N]) -> u64 {
    let mut sums = Sums::default();
    dimms.iter().for_each(|d| sums.add_words(&record(d)));
    sums.finish()
}

/// `cookie1`: the v1.1 cookie. Sorts `dimms` by `region_offset`.
#[must_use]
pub fn cookie_v1_1(dimms: &mut [DimmCookieInfo]) -> u64 {
    dimms.sort_unstable_by_key(|d| d.region_offset);
    sum(dimms, DimmCookieInfo::v1_1)
}

/// `cookie2`: the v1.2 cookie. Sorts `dimms` by `region_offset` (this order is also
/// the label `position` order).
#[must_use]
pub fn cookie_v1_2(dimms: &mut [DimmCookieInfo]) -> u64 {
    dimms.sort_unstable_by_key(|d| d.region_offset);
    sum(dimms, DimmCookieInfo::v1_2)
}

/// `altcookie`: v1.1 records sorted by a bytewise comparison of the little-endian
/// `region_offset` (the historical sort bug Linux still accepts).
#[must_use]
pub fn alt_cookie_v1_1(dimms: &mut [DimmCookieInfo]) -> u64 {
    dimms.sort_unstable_by_key(|d| d.region_offset.to_le_bytes());
    sum(dimms, DimmCookieInfo::v1_1)
}

/// The cookie info of QEMU's emulated NVDIMM in `slot` (`-device nvdimm`): one DIMM
/// per region, region offset 0, serial `0x123456 + slot`, vendor 0x8086, date and
/// location 0. Source: QEMU `hw/acpi/nvdimm.c` (`nvdimm_build_structure_dcr`).
#[must_use]
pub fn qemu_dimm(slot: u32) -> DimmCookieInfo {
    DimmCookieInfo {
        region_offset: 0,
        serial_number: 0x12_3456_u32.wrapping_add(slot),
        vendor_id: 0x8086,
        manufacturing_date: 0,
        manufacturing_location: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_cookies() {
        // Computed as `acpi_nfit_init_interleave_set` (`drivers/acpi/nfit/core.c`) does
        // for QEMU's NFIT; the QEMU harness compares them with `ndctl list -R`.
        let expected = [
            (0x0024_68ac_0012_3456, 0x00ba_9012_0012_b4dc),
            (0x0024_68ae_0012_3457, 0x00ba_901c_0012_b4dd),
            (0x0024_68b0_0012_3458, 0x00ba_9026_0012_b4de),
        ];
        for (slot, (c1, c2)) in (0u32..).zip(expected) {
            assert_eq!(cookie_v1_1(&mut [qemu_dimm(slot)]), c1);
            assert_eq!(alt_cookie_v1_1(&mut [qemu_dimm(slot)]), c1);
            assert_eq!(cookie_v1_2(&mut [qemu_dimm(slot)]), c2);
        }
    }

    #[test]
    fn sort_orders_differ_for_alt_cookie() {
        let a = DimmCookieInfo {
            region_offset: 0x100,
            serial_number: 1,
            ..Default::default()
        };
        let b = DimmCookieInfo {
            region_offset: 0x1,
            serial_number: 2,
            ..Default::default()
        };
        // Numeric order: b, a. Bytewise little-endian order: a (00 01 ..) before b (01 ..).
        assert_ne!(cookie_v1_1(&mut [a, b]), alt_cookie_v1_1(&mut [a, b]));
        assert_eq!(cookie_v1_1(&mut [a, b]), cookie_v1_1(&mut [b, a]));
    }
}
