// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The two 16-byte identifier encodings found in label areas.
//!
//! - [`Uuid`]: RFC 4122 byte order, the bytes on media are the canonical string's bytes
//!   in order. Used for the namespace `uuid` of every label, for CXL type, region and
//!   abstraction UUIDs, and for info-block UUIDs (Linux `import_uuid`, printed `%pUb`).
//! - [`Guid`]: EFI/Microsoft "mixed-endian" order, where the first three fields of the
//!   canonical string are stored little-endian. Used for the v1.2 `type_guid` and
//!   `abstraction_guid` (Linux `guid_parse`, UEFI `EFI_GUID`).
//!
//! `Display` of both prints the canonical string. [`Guid::raw`] prints the bytes in
//! order, which is what `ndctl read-labels -j` shows for v1.2 GUIDs (it runs
//! `uuid_unparse` over the raw bytes).

use core::fmt;

/// An RFC 4122 UUID as stored on media (big-endian fields).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

/// An EFI GUID as stored on media (first three fields little-endian).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Guid(pub [u8; 16]);

/// The all-zero identifier.
const NIL: [u8; 16] = [0; 16];

/// The 16 bytes `a`, `b`, `c`, `d4` in order: the three leading fields already in the
/// byte order of the encoding, then the trailing eight bytes.
const fn pack(a: [u8; 4], b: [u8; 2], c: [u8; 2], d4: [u8; 8]) -> [u8; 16] {
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ]
}

impl Uuid {
    /// The nil UUID.
    pub const NIL: Uuid = Uuid(NIL);

    /// The UUID whose canonical string is `d1-d2-d3-d4[0..2]-d4[2..8]`.
    #[must_use]
    pub const fn from_canonical(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Uuid {
        Uuid(pack(
            d1.to_be_bytes(),
            d2.to_be_bytes(),
            d3.to_be_bytes(),
            d4,
        ))
    }

    /// Whether all 16 bytes are zero.
    #[must_use]
    pub fn is_nil(&self) -> bool {
        self.0 == NIL
    }

    /// Parses the canonical 36-character form (hex digits in either case).
    #[must_use]
    pub fn parse_str(s: &str) -> Option<Uuid> {
        parse_canonical(s).map(Uuid)
    }
}

impl Guid {
    /// The nil GUID.
    pub const NIL: Guid = Guid(NIL);

    /// The GUID whose canonical string is `d1-d2-d3-d4[0..2]-d4[2..8]`, laid out with
    /// `d1`, `d2` and `d3` little-endian.
    #[must_use]
    pub const fn from_canonical(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
        Guid(pack(
            d1.to_le_bytes(),
            d2.to_le_bytes(),
            d3.to_le_bytes(),
            d4,
        ))
    }

    /// Whether all 16 bytes are zero.
    #[must_use]
    pub fn is_nil(&self) -> bool {
        self.0 == NIL
    }

    /// The same 16 bytes viewed as a [`Uuid`]: its `Display` is the byte dump ndctl
    /// prints for this GUID.
    #[must_use]
    pub fn raw(&self) -> Uuid {
        Uuid(self.0)
    }

    /// Parses the canonical 36-character form into the mixed-endian byte order.
    #[must_use]
    pub fn parse_str(s: &str) -> Option<Guid> {
        parse_canonical(s).map(Guid::from_canonical_bytes)
    }

    /// The GUID whose canonical string's bytes, in order, are `bytes` (that is, the
    /// GUID a CXL label stores as the UUID `bytes`).
    #[must_use]
    pub fn from_canonical_bytes(bytes: [u8; 16]) -> Guid {
        let mut b = bytes;
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        Guid(b)
    }

    /// The canonical (RFC 4122 ordered) bytes of this GUID.
    #[must_use]
    pub fn canonical(&self) -> [u8; 16] {
        let mut b = self.0;
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        b
    }
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` into its 16 bytes in string order.
fn parse_canonical(s: &str) -> Option<[u8; 16]> {
    let s = s.as_bytes();
    if s.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut digits = s
        .iter()
        .enumerate()
        .filter(|&(i, _)| !matches!(i, 8 | 13 | 18 | 23));
    if [8, 13, 18, 23].iter().any(|&i| s.get(i) != Some(&b'-')) {
        return None;
    }
    for byte in &mut out {
        let hi = hex_value(*digits.next()?.1)?;
        let lo = hex_value(*digits.next()?.1)?;
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn write_canonical(f: &mut fmt::Formatter<'_>, b: &[u8; 16]) -> fmt::Result {
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            f.write_str("-")?;
        }
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_canonical(f, &self.0)
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_canonical(f, &self.canonical())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;
    use crate::layout::{CXL_NAMESPACE_UUID, NVDIMM_PFN_GUID, PMEM_TYPE_GUID};

    #[test]
    fn guid_bytes_are_mixed_endian() {
        // `NVDIMM_PFN_GUID` (Linux `drivers/nvdimm/label.h`) as an EFI_GUID on EFI media:
        // the first three fields little-endian (UEFI 2.7 Appendix A, EFI_GUID).
        assert_eq!(
            NVDIMM_PFN_GUID.0,
            [
                0xba, 0x00, 0x64, 0x26, 0x9f, 0xfb, 0x77, 0x46, 0xbc, 0xb0, 0x96, 0x8f, 0x11, 0xd0,
                0xd2, 0x25
            ]
        );
        assert_eq!(
            NVDIMM_PFN_GUID.to_string(),
            "266400ba-fb9f-4677-bcb0-968f11d0d225"
        );
        // What `ndctl read-labels -j` prints for it (pmem docs sample).
        assert_eq!(
            NVDIMM_PFN_GUID.raw().to_string(),
            "ba006426-9ffb-7746-bcb0-968f11d0d225"
        );
        assert_eq!(
            PMEM_TYPE_GUID.raw().to_string(),
            "79d3f066-f3b4-7440-ac43-0d3318b78cdb"
        );
    }

    #[test]
    fn uuid_bytes_are_in_string_order() {
        assert_eq!(CXL_NAMESPACE_UUID.0[..4], [0x68, 0xbb, 0x2c, 0x0a]);
        assert_eq!(
            CXL_NAMESPACE_UUID.to_string(),
            "68bb2c0a-5a77-4937-9f85-3caf41a0f93c"
        );
    }

    #[test]
    fn parse_round_trips() {
        let s = "266400ba-fb9f-4677-bcb0-968f11d0d225";
        assert_eq!(Guid::parse_str(s), Some(NVDIMM_PFN_GUID));
        assert_eq!(
            Uuid::parse_str(s).map(|u| u.to_string()).as_deref(),
            Some(s)
        );
        assert_eq!(Uuid::parse_str("266400ba-fb9f-4677-bcb0-968f11d0d22"), None);
        assert_eq!(
            Uuid::parse_str("266400ba+fb9f-4677-bcb0-968f11d0d225"),
            None
        );
        assert_eq!(
            Uuid::parse_str("266400bg-fb9f-4677-bcb0-968f11d0d225"),
            None
        );
    }
}
