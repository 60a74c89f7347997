// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Fletcher64 exactly as Linux computes it (`nd_fletcher64`, `drivers/nvdimm/core.c`).
//!
//! The input is read as little-endian 32-bit words (a trailing partial word is ignored);
//! `lo` is a 32-bit sum that wraps modulo 2^32 (not 2^32 − 1 as in textbook Fletcher),
//! `hi` adds `lo` after every word, and the result is `hi << 32 | lo`. Only the low 32
//! bits of `hi` survive the shift, so
//!
//! ```text
//! lo = Σ w[i]            (mod 2^32)
//! hi = Σ (n − i) · w[i]  (mod 2^32)      for i in 0..n
//! ```
//!
//! which this module evaluates without the serial dependency of the textbook loop, so it
//! vectorises. The tests compare it with the serial definition.

/// Bytes per Fletcher64 word.
const WORD: usize = 4;

/// Words per block; keeps the position weights small and lets the loop vectorise.
const BLOCK_WORDS: usize = 64;

/// Partial sums of a run of words: `lo = Σ w`, `weighted = Σ i·w` (both mod 2^32),
/// with `i` counted from the start of the run.
#[derive(Clone, Copy, Default)]
pub(crate) struct Sums {
    lo: u32,
    weighted: u32,
    words: u32,
}

impl Sums {
    /// Adds whole words of `bytes` (a trailing partial word is ignored).
    pub(crate) fn add_words(&mut self, bytes: &[u8]) {
        let mut lo = 0u32;
        let mut weighted = 0u32;
        let mut index = 0u32;
        for word in bytes.chunks_exact(WORD) {
            let w = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            lo = lo.wrapping_add(w);
            weighted = weighted.wrapping_add(w.wrapping_mul(index));
            index = index.wrapping_add(1);
        }
        // Shift the block's weights by the words already summed.
        self.weighted = self
            .weighted
            .wrapping_add(weighted)
            .wrapping_add(lo.wrapping_mul(self.words));
        self.lo = self.lo.wrapping_add(lo);
        self.words = self.words.wrapping_add(index);
    }

    /// The Fletcher64 of everything added.
    pub(crate) fn finish(&self) -> u64 {
        // hi = Σ (n − i)·w = n·lo − Σ i·w
        let hi = self.words.wrapping_mul(self.lo).wrapping_sub(self.weighted);
        (u64::from(hi) << 32) | u64::from(self.lo)
    }
}

/// `nd_fletcher64(data, len, le = true)`.
#[must_use]
pub fn fletcher64(data: &[u8]) -> u64 {
    let mut sums = Sums::default();
    for block in data.chunks(BLOCK_WORDS * WORD) {
        sums.add_words(block);
    }
    sums.finish()
}

/// Fletcher64 of `data` with the 8 bytes at `checksum_offset` taken as zero, which is
/// how every on-media checksum is defined. Bytes of the checksum field that lie past the
/// end of `data` are simply absent.
#[must_use]
pub fn fletcher64_skipping(data: &[u8], checksum_offset: usize) -> u64 {
    let split = checksum_offset.min(data.len());
    let (head, rest) = data.split_at(split);
    let (_, tail) = rest.split_at(rest.len().min(8));
    if !split.is_multiple_of(WORD) {
        // Not on a word boundary: never the case for real structures; take the slow path.
        return fletcher64_serial_skipping(data, checksum_offset);
    }
    let mut sums = Sums::default();
    for block in head.chunks(BLOCK_WORDS * WORD) {
        sums.add_words(block);
    }
    // The zeroed checksum field: two zero words that still advance the position.
    let skipped = u32::try_from((rest.len() - tail.len()) / WORD).unwrap_or(0);
    sums.words = sums.words.wrapping_add(skipped);
    for block in tail.chunks(BLOCK_WORDS * WORD) {
        sums.add_words(block);
    }
    sums.finish()
}

/// The textbook serial loop, as Linux writes it, over `data` with an 8-byte window zeroed.
fn fletcher64_serial_skipping(data: &[u8], checksum_offset: usize) -> u64 {
    let mut lo = 0u32;
    let mut hi = 0u64;
    for (n, word) in data.chunks_exact(WORD).enumerate() {
        let mut bytes = [word[0], word[1], word[2], word[3]];
        for (k, b) in bytes.iter_mut().enumerate() {
            let at = n * WORD + k;
            if at >= checksum_offset && at - checksum_offset < 8 {
                *b = 0;
            }
        }
        lo = lo.wrapping_add(u32::from_le_bytes(bytes));
        hi = hi.wrapping_add(u64::from(lo));
    }
    (hi << 32) | u64::from(lo)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    /// Linux's loop, verbatim in structure.
    fn serial(data: &[u8]) -> u64 {
        fletcher64_serial_skipping(data, usize::MAX)
    }

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn known_vectors() {
        // Computed by hand from `nd_fletcher64` (`drivers/nvdimm/core.c`): `lo` wraps
        // modulo 2^32 and `hi` adds `lo` after each word.
        assert_eq!(fletcher64(&[0; 4096]), 0);
        assert_eq!(fletcher64(&words(&[1])), 0x0000_0001_0000_0001);
        assert_eq!(fletcher64(&words(&[1, 2])), 0x0000_0004_0000_0003);
        assert_eq!(fletcher64(&words(&[0xffff_ffff, 1])), 0xffff_ffff_0000_0000);
        // A trailing partial word is ignored.
        assert_eq!(fletcher64(&[1, 0, 0, 0, 9, 9]), 0x0000_0001_0000_0001);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn blocked_equals_serial(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert_eq!(fletcher64(&data), serial(&data));
        }

        #[test]
        fn skipping_equals_zeroed(
            mut data in proptest::collection::vec(any::<u8>(), 0..1200),
            word in 0usize..320,
        ) {
            let off = word * 4;
            let got = fletcher64_skipping(&data, off);
            for b in data.iter_mut().skip(off).take(8) {
                *b = 0;
            }
            prop_assert_eq!(got, serial(&data));
        }
    }
}
