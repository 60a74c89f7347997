// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Where a label area lives: a small read/write trait with a maximum transfer size.
//!
//! Implemented for byte slices (which covers a `memmap2::MmapMut` through
//! `&mut map[..]`), `Vec<u8>` (feature `alloc`) and [`FileStorage`] (feature `std`: an
//! area at an offset in a file, such as the tail of a QEMU NVDIMM backend file).
//! [`MaxTransfer`] caps each transfer, like `ND_CMD_SET_CONFIG_DATA` / `_LSW`, whose
//! `max_xfer` splits an index write into several non-atomic pieces.

/// A storage operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The range lies outside the area.
    #[error("range {offset:#x}+{len:#x} is outside the {size:#x}-byte area")]
    OutOfBounds {
        /// Start of the range.
        offset: u64,
        /// Length of the range.
        len: usize,
        /// Area size.
        size: u64,
    },
    /// The device or file failed.
    #[error("I/O error at {offset:#x}+{len:#x} (os error {os_error:?})")]
    Io {
        /// Start of the range.
        offset: u64,
        /// Length of the range.
        len: usize,
        /// The OS error number, if there was one.
        os_error: Option<i32>,
    },
}

/// A label storage area: `size()` bytes, read and written in transfers of at most
/// `max_transfer()` bytes.
pub trait Storage {
    /// Area size in bytes (`config_size`).
    fn size(&self) -> u64;

    /// Largest single transfer (`max_xfer`); unlimited by default.
    fn max_transfer(&self) -> usize {
        usize::MAX
    }

    /// Reads `buf.len()` bytes at `offset` (at most `max_transfer()` bytes).
    ///
    /// # Errors
    ///
    /// [`StorageError`] when the range is out of bounds or the device fails.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;

    /// Writes `data` at `offset` (at most `max_transfer()` bytes).
    ///
    /// # Errors
    ///
    /// [`StorageError`] when the range is out of bounds or the device fails.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError>;
}

/// Reads `buf.len()` bytes at `offset` in transfers of at most `max_transfer()`.
///
/// # Errors
///
/// The first failing transfer.
pub fn read_all<S: Storage + ?Sized>(
    s: &mut S,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), StorageError> {
    let step = s.max_transfer().max(1);
    let mut at = offset;
    for chunk in buf.chunks_mut(step) {
        s.read(at, chunk)?;
        at += chunk.len() as u64;
    }
    Ok(())
}

/// Writes `data` at `offset` in transfers of at most `max_transfer()`, in order.
///
/// # Errors
///
/// The first failing transfer (earlier transfers have landed).
pub fn write_all<S: Storage + ?Sized>(
    s: &mut S,
    offset: u64,
    data: &[u8],
) -> Result<(), StorageError> {
    let step = s.max_transfer().max(1);
    let mut at = offset;
    for chunk in data.chunks(step) {
        s.write(at, chunk)?;
        at += chunk.len() as u64;
    }
    Ok(())
}

pub(crate) fn range(
    size: u64,
    offset: u64,
    len: usize,
) -> Result<core::ops::Range<usize>, StorageError> {
    let oob = StorageError::OutOfBounds { offset, len, size };
    let start = usize::try_from(offset).map_err(|_| oob)?;
    let end = start.checked_add(len).ok_or(oob)?;
    if end as u64 > size {
        return Err(oob);
    }
    Ok(start..end)
}

impl Storage for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let r = range(self.size(), offset, buf.len())?;
        buf.copy_from_slice(self.get(r).unwrap_or(&[]));
        Ok(())
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let r = range(self.size(), offset, data.len())?;
        if let Some(dst) = self.get_mut(r) {
            dst.copy_from_slice(data);
        }
        Ok(())
    }
}

#[cfg(feature = "alloc")]
impl Storage for alloc::vec::Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.as_mut_slice().read(offset, buf)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.as_mut_slice().write(offset, data)
    }
}

impl<S: Storage + ?Sized> Storage for &mut S {
    fn size(&self) -> u64 {
        (**self).size()
    }

    fn max_transfer(&self) -> usize {
        (**self).max_transfer()
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        (**self).read(offset, buf)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        (**self).write(offset, data)
    }
}

/// A storage whose transfers are capped at `max` bytes (QEMU's emulated NVDIMM: 4076).
#[derive(Debug)]
pub struct MaxTransfer<S> {
    /// The underlying storage.
    pub inner: S,
    /// Largest transfer in bytes.
    pub max: usize,
}

impl<S: Storage> Storage for MaxTransfer<S> {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn max_transfer(&self) -> usize {
        self.max.min(self.inner.max_transfer())
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.inner.read(offset, buf)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.inner.write(offset, data)
    }
}

#[cfg(feature = "std")]
pub use file::FileStorage;

#[cfg(feature = "std")]
mod file {
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    use super::{Storage, StorageError, range};

    /// An area of `len` bytes at `base` in a file (an LSA dump, or the last
    /// `label-size` bytes of a QEMU NVDIMM backend file).
    #[derive(Debug)]
    pub struct FileStorage {
        file: File,
        base: u64,
        len: u64,
    }

    impl FileStorage {
        /// The area `[base, base + len)` of `file`.
        #[must_use]
        pub fn new(file: File, base: u64, len: u64) -> FileStorage {
            FileStorage { file, base, len }
        }

        /// The file.
        #[must_use]
        pub fn into_file(self) -> File {
            self.file
        }
    }

    fn io(offset: u64, len: usize, e: &std::io::Error) -> StorageError {
        StorageError::Io {
            offset,
            len,
            os_error: e.raw_os_error(),
        }
    }

    impl Storage for FileStorage {
        fn size(&self) -> u64 {
            self.len
        }

        fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
            range(self.len, offset, buf.len())?;
            self.file
                .read_exact_at(buf, self.base + offset)
                .map_err(|e| io(offset, buf.len(), &e))
        }

        fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
            range(self.len, offset, data.len())?;
            self.file
                .write_all_at(data, self.base + offset)
                .map_err(|e| io(offset, data.len(), &e))
        }
    }
}
