// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Building a frame table: initialise one descriptor per data page in a byte range (a
//! mapped pmem file, a management namespace, or DRAM), reporting progress as it goes.
//!
//! Each descriptor is `descriptor_size` bytes: a [`PageDesc`](crate::layout::PageDesc)
//! head (the page's machine frame number, and flags [`PAGE_DESC_PMEM`] |
//! [`PAGE_DESC_FREE`]) and zeros. A hypervisor lays its own `page_info` over this; what
//! matters for the planner is the cost of touching every byte once, which the crate's
//! criterion benchmark compares with a plain `memset` of the same bytes.
//!
//! Work is done in steps of [`PROGRESS_STEP`] pages (one Xen PDX group at 32-byte
//! descriptors), with a callback after each, so terabyte ranges report progress and a
//! caller can interleave other work.

use crate::layout::{PAGE_DESC_FREE, PAGE_DESC_PMEM};

/// A build request that cannot be carried out, or a table that does not hold what the
/// builder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The descriptor size is not a power of two from [`MIN_DESCRIPTOR`] to 4096 bytes.
    #[error("descriptor size {0} is not a power of two in 16..=4096")]
    BadDescriptorSize(u64),
    /// The table buffer is shorter than the table.
    #[error("buffer of {len} bytes is shorter than the {needed} bytes needed")]
    Truncated {
        /// Its length.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A descriptor in a built frame table does not hold what the builder writes.
    #[error("descriptor {index} does not match the built contents")]
    BadDescriptor {
        /// Index of the first bad descriptor.
        index: u64,
    },
    /// A size computation overflowed 64 bits.
    #[error("arithmetic overflow computing {0}")]
    Overflow(&'static str),
}

/// Shorthand for results of the builder.
pub type Result<T> = core::result::Result<T, Error>;

/// Pages per progress step: 65 536 (256 MiB of data).
pub const PROGRESS_STEP: u64 = 1 << 16;
/// Flags every built descriptor holds.
pub const BUILT_FLAGS: u64 = PAGE_DESC_PMEM | PAGE_DESC_FREE;
/// Smallest descriptor the builder writes (the [`PageDesc`](crate::layout::PageDesc)
/// head).
pub const MIN_DESCRIPTOR: u64 = 16;

/// How far a build has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Descriptors written.
    pub done: u64,
    /// Descriptors to write.
    pub total: u64,
}

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Build {
    /// Bytes per descriptor: a power of two from 16 to 4096.
    pub descriptor_size: u64,
    /// Machine frame number of the first data page.
    pub first_mfn: u64,
    /// Data pages.
    pub pages: u64,
}

impl Build {
    /// Bytes of table this build writes.
    pub fn table_len(&self) -> Result<usize> {
        let d = self.descriptor_size;
        if !d.is_power_of_two() || !(MIN_DESCRIPTOR..=4096).contains(&d) {
            return Err(Error::BadDescriptorSize(d));
        }
        self.first_mfn
            .checked_add(self.pages)
            .ok_or(Error::Overflow("last mfn"))?;
        self.pages
            .checked_mul(d)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(Error::Overflow("table length"))
    }

    /// Writes every descriptor into the start of `table`, calling `progress` after each
    /// step. Checks everything before writing anything.
    pub fn run(&self, table: &mut [u8], progress: &mut dyn FnMut(Progress)) -> Result<()> {
        let len = self.table_len()?;
        let table_len = table.len();
        let table = table.get_mut(..len).ok_or(Error::Truncated {
            len: table_len,
            needed: len,
        })?;
        // `table_len` bounded descriptor_size * pages, so these fit in usize.
        let d = usize::try_from(self.descriptor_size).map_err(|_| Error::Overflow("size"))?;
        let step = usize::try_from(PROGRESS_STEP).map_err(|_| Error::Overflow("step"))? * d;
        let mut done = 0u64;
        for chunk in table.chunks_mut(step) {
            let mfn = self.first_mfn + done;
            match d {
                16 => fill::<16>(chunk, mfn),
                32 => fill::<32>(chunk, mfn),
                64 => fill::<64>(chunk, mfn),
                128 => fill::<128>(chunk, mfn),
                _ => fill_any(chunk, d, mfn),
            }
            done += (chunk.len() / d) as u64;
            progress(Progress {
                done,
                total: self.pages,
            });
        }
        Ok(())
    }

    /// Checks that `table` holds exactly what [`run`](Self::run) writes; reports the
    /// first descriptor that does not.
    pub fn verify(&self, table: &[u8]) -> Result<()> {
        let len = self.table_len()?;
        let table = table.get(..len).ok_or(Error::Truncated {
            len: table.len(),
            needed: len,
        })?;
        let d = usize::try_from(self.descriptor_size).map_err(|_| Error::Overflow("size"))?;
        for (i, desc) in table.chunks_exact(d).enumerate() {
            let mfn = self.first_mfn + i as u64;
            let (head, rest) = desc.split_at(16);
            let ok = head[..8] == mfn.to_le_bytes()
                && head[8..] == BUILT_FLAGS.to_le_bytes()
                && rest.iter().all(|b| *b == 0);
            if !ok {
                return Err(Error::BadDescriptor { index: i as u64 });
            }
        }
        Ok(())
    }
}

/// Descriptors of a size known at compile time: one store of the whole descriptor each.
fn fill<const N: usize>(bytes: &mut [u8], first_mfn: u64) {
    let (descs, _) = bytes.as_chunks_mut::<N>();
    for (desc, mfn) in descs.iter_mut().zip(first_mfn..) {
        let mut value = [0u8; N];
        value[..8].copy_from_slice(&mfn.to_le_bytes());
        value[8..16].copy_from_slice(&BUILT_FLAGS.to_le_bytes());
        *desc = value;
    }
}

/// Descriptors of any other size.
fn fill_any(bytes: &mut [u8], size: usize, first_mfn: u64) {
    for (desc, mfn) in bytes.chunks_exact_mut(size).zip(first_mfn..) {
        let (head, rest) = desc.split_at_mut(16);
        head[..8].copy_from_slice(&mfn.to_le_bytes());
        head[8..].copy_from_slice(&BUILT_FLAGS.to_le_bytes());
        rest.fill(0);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn builds_and_verifies_every_size() {
        for d in [16u64, 32, 64, 128, 256] {
            let b = Build {
                descriptor_size: d,
                first_mfn: 0x1234_5000,
                pages: 3 * PROGRESS_STEP + 5,
            };
            let mut table = vec![0xa5u8; b.table_len().unwrap() + 7];
            let mut seen = Vec::new();
            b.run(&mut table, &mut |p| seen.push(p)).unwrap();
            assert_eq!(seen.len(), 4);
            assert_eq!(
                seen.last(),
                Some(&Progress {
                    done: b.pages,
                    total: b.pages
                })
            );
            assert_eq!(seen[0].done, PROGRESS_STEP);
            b.verify(&table).unwrap();
            assert!(
                table[table.len() - 7..].iter().all(|x| *x == 0xa5),
                "no write past the table"
            );
            table[(d as usize) * 70_000 + 3] ^= 0xff;
            assert_eq!(
                b.verify(&table),
                Err(Error::BadDescriptor { index: 70_000 })
            );
        }
    }

    #[test]
    fn largest_descriptor() {
        let b = Build {
            descriptor_size: 4096,
            first_mfn: 9,
            pages: 3,
        };
        let mut table = vec![0xa5u8; 3 * 4096];
        b.run(&mut table, &mut |_| {}).unwrap();
        b.verify(&table).unwrap();
        assert_eq!(&table[4096..4104], &10u64.to_le_bytes());
        assert_eq!(&table[4104..4112], &3u64.to_le_bytes());
    }

    #[test]
    fn refuses_before_writing() {
        let b = Build {
            descriptor_size: 24,
            first_mfn: 0,
            pages: 1,
        };
        assert_eq!(b.table_len(), Err(Error::BadDescriptorSize(24)));
        let b = Build {
            descriptor_size: 32,
            first_mfn: 0,
            pages: 4,
        };
        let mut short = [0x5au8; 100];
        assert_eq!(
            b.run(&mut short, &mut |_| {}),
            Err(Error::Truncated {
                len: 100,
                needed: 128
            })
        );
        assert!(short.iter().all(|x| *x == 0x5a));
        let b = Build {
            descriptor_size: 32,
            first_mfn: u64::MAX,
            pages: 2,
        };
        assert_eq!(b.table_len(), Err(Error::Overflow("last mfn")));
    }
}
