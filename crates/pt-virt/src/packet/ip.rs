// SPDX-License-Identifier: Apache-2.0 OR MIT
//! IP compression (the IPBytes field of TIP, TIP.PGE, TIP.PGD and FUP) and the "last IP"
//! state that compressed payloads are relative to.
//!
//! Source: Intel SDM vol. 3C, "Intel Processor Trace", table "Compressed IP Payload
//! Format" (IPBytes `000b`..`110b`); libipt `libipt/src/pt_last_ip.c`. The processor
//! resets its last IP to 0 whenever it emits a PSB, and IPBytes `000b` (suppressed) leaves
//! it unchanged.

/// The IPBytes field of an IP packet header (bits 7:5); the numbers are the SDM's and
/// libipt's `enum pt_ip_compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum IpCompression {
    /// `000b`: no payload; the IP is out of context or suppressed.
    Suppressed = 0,
    /// `001b`: 2 bytes, IP\[15:0\]; bits 63:16 from the last IP.
    Update16 = 1,
    /// `010b`: 4 bytes, IP\[31:0\]; bits 63:32 from the last IP.
    Update32 = 2,
    /// `011b`: 6 bytes, IP\[47:0\] sign-extended from bit 47.
    Sext48 = 3,
    /// `100b`: 6 bytes, IP\[47:0\]; bits 63:48 from the last IP.
    Update48 = 4,
    /// `110b`: 8 bytes, the full IP.
    Full = 6,
}

/// Per IPBytes value (`000b`..`111b`, SDM table "Compressed IP Payload Format"): the
/// compression (`None` for the reserved `101b` and `111b`), its payload length, the
/// payload bits and the bits an update form keeps from the last IP. Looked up by index,
/// not matched, so that decoding IP packets of random forms costs a load instead of a
/// jump through a table that the branch predictor misses.
const FORMS: [(Option<IpCompression>, u8, u64, u64); 8] = [
    (Some(IpCompression::Suppressed), 0, 0, 0),
    (Some(IpCompression::Update16), 2, 0xFFFF, !0xFFFF),
    (Some(IpCompression::Update32), 4, 0xFFFF_FFFF, !0xFFFF_FFFF),
    (Some(IpCompression::Sext48), 6, 0xFFFF_FFFF_FFFF, 0),
    (
        Some(IpCompression::Update48),
        6,
        0xFFFF_FFFF_FFFF,
        !0xFFFF_FFFF_FFFF,
    ),
    (None, 0, 0, 0),
    (Some(IpCompression::Full), 8, u64::MAX, 0),
    (None, 0, 0, 0),
];

impl IpCompression {
    /// The row of [`FORMS`] for IPBytes `bits` (bits 2:0).
    #[inline(always)]
    const fn form(bits: u8) -> (Option<Self>, u8, u64, u64) {
        FORMS[(bits & 7) as usize]
    }

    /// The compression for an IPBytes value, `None` for the reserved `101b` and `111b`
    /// and for values above `111b`.
    #[inline]
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits > 7 { None } else { Self::form(bits).0 }
    }

    /// The IPBytes value.
    pub const fn bits(self) -> u8 {
        self as u8
    }

    /// Payload length in bytes.
    #[inline]
    pub const fn payload_len(self) -> usize {
        Self::form(self.bits()).1 as usize
    }

    /// Mask of the payload bits (zero for [`Suppressed`](Self::Suppressed)).
    #[inline]
    pub const fn payload_mask(self) -> u64 {
        Self::form(self.bits()).2
    }

    /// Whether the reconstructed IP depends on the last IP.
    #[inline]
    pub const fn needs_last_ip(self) -> bool {
        Self::form(self.bits()).3 != 0
    }

    /// The IP this compression and raw `payload` stand for, given the last IP
    /// (`None` when unknown). `None` for a suppressed IP, or an update form with no
    /// known last IP.
    #[inline]
    pub const fn reconstruct(self, payload: u64, last: Option<u64>) -> Option<u64> {
        Self::reconstruct_bits(self.bits(), payload, last)
    }

    /// [`IpCompression::reconstruct`] by IPBytes value (`None` for the reserved ones).
    #[inline(always)]
    const fn reconstruct_bits(bits: u8, payload: u64, last: Option<u64>) -> Option<u64> {
        // Without a branch per form (IP packets arrive in random forms): the bits an
        // update form keeps from the last IP, and the payload sign-extended for sext48.
        let (_, _, mask, keep) = Self::form(bits);
        let own = if bits == Self::Sext48.bits() {
            sext48(payload)
        } else {
            payload & mask
        };
        match last {
            _ if mask == 0 => None,
            Some(last) => Some((last & keep) | own),
            None if keep == 0 => Some(own),
            None => None,
        }
    }
}

/// How an IPBytes value changes the last IP, as arithmetic: the new last IP is
/// `(last & keep) | own`, where `own` is the payload masked with `mask` and
/// sign-extended from bit `63 - shift`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpUpdate {
    mask: u64,
    /// All ones for the values without an update (suppressed, reserved).
    keep: u64,
    /// 16 for `Sext48`, else 0.
    shift: u32,
}

impl IpUpdate {
    /// The update of IPBytes value `bits` (bits 2:0).
    const fn of_bits(bits: u8) -> Self {
        UPDATES[(bits & 7) as usize]
    }

    /// The bits of the last IP that IPBytes value `bits` keeps: all of them for the
    /// values without an update (what [`LastIp::apply_kept`] takes).
    pub(crate) const fn kept(bits: u8) -> u64 {
        Self::of_bits(bits).keep
    }
}

/// [`IpUpdate`] per IPBytes value, from [`FORMS`].
const UPDATES: [IpUpdate; 8] = {
    let mut rows = [IpUpdate {
        mask: 0,
        keep: u64::MAX,
        shift: 0,
    }; 8];
    let mut bits = 0;
    while bits < 8 {
        let (_, _, mask, keep) = FORMS[bits];
        if mask != 0 {
            rows[bits] = IpUpdate {
                mask,
                keep,
                shift: if bits == IpCompression::Sext48 as usize {
                    16
                } else {
                    0
                },
            };
        }
        bits += 1;
    }
    rows
};

/// Sign-extends bit 47.
pub const fn sext48(v: u64) -> u64 {
    (((v << 16) as i64) >> 16) as u64
}

/// How the encoder picks the IPBytes of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Compression {
    /// The shortest form that reconstructs the IP from the last IP: `Update16` if bits
    /// 63:16 equal the last IP's, else `Update32` if bits 63:32 do, else `Sext48` if the
    /// IP is the sign extension of its low 48 bits, else `Update48` if bits 63:48 match,
    /// else `Full`. Without a known last IP only `Sext48` and `Full` qualify.
    Shortest,
    /// A form that does not depend on the last IP: `Sext48` when the IP is canonical
    /// (sign-extended from bit 47), else `Full`. For packets spliced into a hardware
    /// stream, whose last IP the hypervisor cannot know.
    Independent,
    /// Exactly this form (an error if it cannot represent the IP).
    Forced(IpCompression),
}

/// The last-IP state shared by an encoder and the decoder reading its output.
///
/// Unknown until a PSB (which resets it to 0, SDM: "the last IP is reset to 0 on PSB")
/// or an IP payload that does not depend on it.
#[derive(Clone, Copy)]
pub struct LastIp {
    /// The last IP, as far as it is known.
    value: u64,
    /// The bits of `value` that are not known: all of them at first, none after a PSB
    /// or an IP that does not depend on the last IP; an update form leaves unknown the
    /// unknown bits it does not replace. (A mask rather than a flag, so that an update
    /// is one AND.)
    unknown: u64,
}

// Equal, hashed and shown by what `get` returns: an unknown IP's `value` is not state.
impl PartialEq for LastIp {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for LastIp {}

/// Unknown, as at an arbitrary point of a stream.
impl Default for LastIp {
    fn default() -> Self {
        Self::unknown()
    }
}

impl core::hash::Hash for LastIp {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.get().hash(state);
    }
}

impl core::fmt::Debug for LastIp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("LastIp").field(&self.get()).finish()
    }
}

impl LastIp {
    /// An unknown last IP (the state at an arbitrary point of a stream).
    pub const fn unknown() -> Self {
        Self {
            value: 0,
            unknown: u64::MAX,
        }
    }

    /// A known last IP.
    pub const fn known(ip: u64) -> Self {
        Self {
            value: ip,
            unknown: 0,
        }
    }

    /// The last IP, if known.
    pub const fn get(self) -> Option<u64> {
        if self.unknown == 0 {
            Some(self.value)
        } else {
            None
        }
    }

    /// The reset a PSB performs.
    #[inline]
    pub fn reset(&mut self) {
        *self = Self::known(0);
    }

    /// Applies an IP packet's payload: returns the reconstructed IP and makes it the new
    /// last IP. A suppressed IP changes nothing. An update form with an unknown last IP
    /// returns `None` and keeps the state unknown.
    #[inline]
    pub fn apply(&mut self, ipc: IpCompression, payload: u64) -> Option<u64> {
        if ipc.payload_mask() == 0 {
            return None;
        }
        let ip = ipc.reconstruct(payload, self.get());
        *self = ip.map_or(Self::unknown(), Self::known);
        ip
    }

    /// [`LastIp::apply`] by IPBytes value, for the compact encoder, which calls it for
    /// every packet with `000b` for those without an IP: the state is selected, not
    /// branched on.
    #[inline(always)]
    pub(crate) fn apply_bits(&mut self, bits: u8, payload: u64) {
        // `reconstruct_bits` in arithmetic from a table row instead of its match and
        // selects, which the compiler turns into branches: whether a packet has an IP
        // is as random as its kind.
        let IpUpdate { mask, keep, shift } = IpUpdate::of_bits(bits);
        #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)] // sign extension
        let own = ((((payload & mask) << shift) as i64) >> shift) as u64;
        self.value = (self.value & keep) | own;
        self.unknown &= keep;
    }

    /// [`LastIp::apply_bits`] for every IPBytes value but `110b` (a full IP), from the
    /// bits the value keeps ([`IpUpdate::kept`]) and a payload already masked to the
    /// value's payload bytes: what the compact decoder's first-byte table holds. The
    /// new bits are the payload sign-extended from bit 47, which changes only
    /// `Sext48`'s (the shorter payloads have bit 47 clear, and `Update48` keeps bits
    /// 63:48): two constant shifts instead of `apply_bits`'s variable ones, and no
    /// mask.
    #[inline(always)]
    pub(crate) fn apply_kept(&mut self, kept: u64, payload: u64) {
        self.value = (self.value & kept) | (sext48(payload) & !kept);
        self.unknown &= kept;
    }

    /// The compression `policy` picks for `ip` against this state, or `None` when a
    /// forced form cannot represent `ip`. The payload is `ip & compression.payload_mask()`.
    #[inline]
    pub fn choose(self, ip: u64, policy: Compression) -> Option<IpCompression> {
        let canonical = sext48(ip) == ip;
        let independent = if canonical {
            IpCompression::Sext48
        } else {
            IpCompression::Full
        };
        match policy {
            Compression::Independent => Some(independent),
            Compression::Shortest => Some(match self.get() {
                Some(last) if last >> 16 == ip >> 16 => IpCompression::Update16,
                Some(last) if last >> 32 == ip >> 32 => IpCompression::Update32,
                _ if canonical => IpCompression::Sext48,
                Some(last) if last >> 48 == ip >> 48 => IpCompression::Update48,
                _ => IpCompression::Full,
            }),
            Compression::Forced(ipc) => {
                let payload = ip & ipc.payload_mask();
                match ipc {
                    IpCompression::Suppressed => None,
                    _ if ipc.reconstruct(payload, self.get()) == Some(ip) => Some(ipc),
                    _ => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update48_does_not_sign_extend() {
        // libipt test `ptdump-last-ip.ptt`: last 0a00ccccddddeeee + upd48 ffffeeeeffff.
        let mut last = LastIp::known(0x0a00_cccc_dddd_eeee);
        let ip = last.apply(IpCompression::Update48, 0xffff_eeee_ffff);
        assert_eq!(ip, Some(0x0a00_ffff_eeee_ffff));
        assert_eq!(last.get(), ip);
    }

    #[test]
    fn suppressed_keeps_the_last_ip() {
        let mut last = LastIp::known(0x1234);
        assert_eq!(last.apply(IpCompression::Suppressed, 0), None);
        assert_eq!(last.get(), Some(0x1234));
    }

    #[test]
    fn shortest_form_order() {
        let last = LastIp::known(0xffff_8123_4567_0000);
        let pick = |ip| last.choose(ip, Compression::Shortest);
        assert_eq!(pick(0xffff_8123_4567_89ab), Some(IpCompression::Update16));
        assert_eq!(pick(0xffff_8123_0000_0001), Some(IpCompression::Update32));
        assert_eq!(pick(0x0000_7fff_0000_0001), Some(IpCompression::Sext48));
        assert_eq!(pick(0xffff_8000_0000_0001), Some(IpCompression::Sext48));
        assert_eq!(pick(0xffff_0000_0000_0001), Some(IpCompression::Update48));
        assert_eq!(pick(0x0001_0000_0000_0000), Some(IpCompression::Full));
        let odd = LastIp::known(0x0a00_0000_0000_0000);
        assert_eq!(
            odd.choose(0x0a00_1000_0000_0000, Compression::Shortest),
            Some(IpCompression::Update48)
        );
        assert_eq!(
            LastIp::unknown().choose(0x1000, Compression::Shortest),
            Some(IpCompression::Sext48)
        );
    }

    #[test]
    fn forced_forms_must_reconstruct() {
        let last = LastIp::known(0x1000_0000);
        let force = |ipc| last.choose(0x1000_1234, Compression::Forced(ipc));
        assert_eq!(
            force(IpCompression::Update16),
            Some(IpCompression::Update16)
        );
        assert_eq!(force(IpCompression::Full), Some(IpCompression::Full));
        assert_eq!(force(IpCompression::Suppressed), None);
        assert_eq!(
            last.choose(0x2000_1234, Compression::Forced(IpCompression::Update16)),
            None
        );
        assert_eq!(
            LastIp::unknown().choose(0x1234, Compression::Forced(IpCompression::Update32)),
            None
        );
    }

    #[test]
    fn reserved_ipbytes() {
        assert_eq!(IpCompression::from_bits(5), None);
        assert_eq!(IpCompression::from_bits(7), None);
        for b in [0, 1, 2, 3, 4, 6] {
            assert_eq!(
                IpCompression::from_bits(b).map(IpCompression::bits),
                Some(b)
            );
        }
    }
}
