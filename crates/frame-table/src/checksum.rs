// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Fletcher64 as Linux computes it for NVDIMM metadata (`nd_fletcher64` and
//! `nd_sb_checksum`, `drivers/nvdimm/core.c` and `claim.c`).
//!
//! The input is consecutive little-endian 32-bit words; `lo` is a 32-bit sum that wraps
//! modulo 2^32 (not 2^32 - 1 as in textbook Fletcher), `hi` adds `lo` after every word,
//! and the result is `hi << 32 | lo`. A trailing partial word is ignored, as in Linux.
//! `nd_sb_checksum` sums a 4096-byte info block with its last 8 bytes (the checksum
//! field) read as zero. Our management superblock uses the same function.

/// `nd_fletcher64(addr, len, le = true)`. Source: Linux `drivers/nvdimm/core.c`.
pub fn fletcher64(bytes: &[u8]) -> u64 {
    fletcher64_skipping(bytes, usize::MAX)
}

/// Fletcher64 over `bytes` with the 8 bytes at `checksum_at` read as zero, without
/// copying the block (how `nd_sb_checksum` treats the checksum field).
pub fn fletcher64_skipping(bytes: &[u8], checksum_at: usize) -> u64 {
    let mut lo: u32 = 0;
    let mut hi: u64 = 0;
    let skip = checksum_at..checksum_at.saturating_add(8);
    for (i, word) in bytes.chunks_exact(4).enumerate() {
        let at = i.wrapping_mul(4);
        let value = if skip.contains(&at) {
            0
        } else {
            u32::from_le_bytes([word[0], word[1], word[2], word[3]])
        };
        lo = lo.wrapping_add(value);
        hi = hi.wrapping_add(u64::from(lo));
    }
    (hi << 32) | u64::from(lo)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn words(ws: &[u32]) -> std::vec::Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Vectors computed by hand from `nd_fletcher64` (`drivers/nvdimm/core.c`): one word
    /// 1, words 1,2, words 0xffffffff,1 (lo wraps modulo 2^32).
    #[test]
    fn known_vectors() {
        assert_eq!(fletcher64(&[0; 4096]), 0);
        assert_eq!(fletcher64(&words(&[1])), 0x0000_0001_0000_0001);
        assert_eq!(fletcher64(&words(&[1, 2])), 0x0000_0004_0000_0003);
        assert_eq!(fletcher64(&words(&[0xffff_ffff, 1])), 0xffff_ffff_0000_0000);
    }

    #[test]
    fn trailing_partial_word_ignored() {
        assert_eq!(fletcher64(&[1, 0, 0, 0, 9, 9]), fletcher64(&[1, 0, 0, 0]));
    }

    #[test]
    fn skipping_equals_zeroing() {
        let mut block: std::vec::Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
        let skipped = fletcher64_skipping(&block, 4088);
        block[4088..].fill(0);
        assert_eq!(skipped, fletcher64(&block));
        assert_ne!(skipped, fletcher64_skipping(&block, 0));
    }
}
