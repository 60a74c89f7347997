// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The guest's label methods, served from any [`Storage`]: ACPI `_LSI`, `_LSR`, `_LSW`
//! (ACPI 6.4 §6.5.10) and the Intel NVDIMM `_DSM` label functions 4, 5 and 6 (Intel
//! NVDIMM DSM Interface v1.8 §4.2–4.4, as QEMU `hw/acpi/nvdimm.c` and Linux
//! `drivers/acpi/nfit/core.c` use them).
//!
//! [`LabelMethods`] is what a VMM that traps its guest's label calls plugs in: every
//! request is checked (offset + length overflow, beyond the area, above the maximum
//! transfer, short input) and answered with the status code the specification gives,
//! never a panic, and never a read or write outside `[0, size)` of the storage.
//! [`serve_dsm_page`] decodes one request in QEMU's shared-page layout
//! (`docs/specs/acpi_nvdimm.rst`), the trapping transport of `aml` (feature `acpi`).

use core::mem::offset_of;
use zerocopy::little_endian::U32;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::layout::ND_LABEL_MIN_SIZE;
use crate::storage::Storage;
use crate::uuid::Guid;

/// The Intel NVDIMM `_DSM` UUID 4309AC30-0D11-11E4-9191-0800200C9A66, in the
/// mixed-endian order `ToUUID` produces. Source: Linux `include/acpi/acuuid.h`
/// `UUID_NFIT_DIMM`; QEMU `hw/acpi/nvdimm.c` `NVDIMM_DEVICE_DSM_UUID`.
pub const INTEL_DSM_UUID: Guid = Guid::from_canonical(
    0x4309_ac30,
    0x0d11,
    0x11e4,
    [0x91, 0x91, 0x08, 0x00, 0x20, 0x0c, 0x9a, 0x66],
);

/// The Microsoft NVDIMM `_DSM` family UUID 1EE68B36-D4BD-4A1A-9A16-4F8E53D46E05. A
/// DIMM that answers function 0 of this family (and not Intel's) gets its labels
/// through `_LSI`/`_LSR`/`_LSW`. Source: Linux `include/acpi/acuuid.h`
/// `UUID_NFIT_DIMM_N_MSFT`; `drivers/acpi/nfit/core.c` `acpi_nfit_add_dimm`.
pub const MSFT_DSM_UUID: Guid = Guid::from_canonical(
    0x1ee6_8b36,
    0xd4bd,
    0x4a1a,
    [0x9a, 0x16, 0x4f, 0x8e, 0x53, 0xd4, 0x6e, 0x05],
);

/// `_DSM` function 0: query the supported functions. Source: ACPI 6.4 §9.1.1.
pub const DSM_FN_QUERY: u32 = 0;
/// Intel `_DSM` function 4, Get Namespace Label Size. Source: Linux
/// `include/uapi/linux/ndctl.h` `ND_CMD_GET_CONFIG_SIZE`.
pub const DSM_FN_GET_LABEL_SIZE: u32 = 4;
/// Intel `_DSM` function 5, Get Namespace Label Data. Source: Linux `ndctl.h`
/// `ND_CMD_GET_CONFIG_DATA`.
pub const DSM_FN_GET_LABEL_DATA: u32 = 5;
/// Intel `_DSM` function 6, Set Namespace Label Data. Source: Linux `ndctl.h`
/// `ND_CMD_SET_CONFIG_DATA`.
pub const DSM_FN_SET_LABEL_DATA: u32 = 6;
/// The function-0 bitmap of a DIMM with labels: functions 0, 4, 5, 6. Source: QEMU
/// `hw/acpi/nvdimm.c` `nvdimm_dsm_device` (0x71 when `label-size` is set).
pub const DSM_LABEL_FUNCTIONS: u32 =
    1 | 1 << DSM_FN_GET_LABEL_SIZE | 1 << DSM_FN_GET_LABEL_DATA | 1 << DSM_FN_SET_LABEL_DATA;
/// The only `_DSM` revision the Intel label functions define. Source: QEMU
/// `nvdimm_dsm_device` (other revisions get status 1); Linux `nfit_dsm_revid`.
pub const DSM_REVISION: u32 = 1;

/// Status of an Intel `_DSM` function (low 16 bits of its first output DWORD).
/// Source: Intel NVDIMM DSM Interface v1.8 §3.1 "Status"; QEMU `hw/acpi/nvdimm.c`
/// `NVDIMM_DSM_RET_STATUS_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum DsmStatus {
    /// 0: success.
    Success = 0,
    /// 1: function not supported (also: unknown revision).
    NotSupported = 1,
    /// 2: no such memory device (unknown handle).
    NoSuchDevice = 2,
    /// 3: invalid input parameters (overflow, beyond the area, above max transfer,
    /// short input).
    InvalidInput = 3,
    /// 4: hardware error (the storage failed).
    HardwareError = 4,
}

/// Status of `_LSI`, `_LSR`, `_LSW`. Source: ACPI 6.4 §6.5.10; Linux
/// `drivers/acpi/nfit/core.c` (`ACPI_LABELS_LOCKED` = 3, every other non-zero status
/// becomes -EIO). Values 1 and 2 follow this crate's reading of ACPI 6.4 and are not
/// distinguished by Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum LsStatus {
    /// 0: success.
    Success = 0,
    /// 1: failure (the storage failed).
    Failure = 1,
    /// 2: invalid input parameters.
    InvalidInput = 2,
    /// 3: the label storage area is locked.
    Locked = 3,
}

/// The `_LSI` result (also Intel `_DSM` function 4's output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelInfo {
    /// Status.
    pub status: LsStatus,
    /// Label storage area size in bytes.
    pub size: u32,
    /// Largest transfer of one `_LSR`/`_LSW` call.
    pub max_transfer: u32,
}

/// Why a storage cannot back the label methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MethodsError {
    /// The area is smaller than `ND_LABEL_MIN_SIZE` (two index blocks and two labels)
    /// or larger than the 32-bit size `_LSI` reports.
    #[error("a {0}-byte area cannot back label methods (1024 bytes to 4 GiB)")]
    AreaSize(u64),
    /// The maximum transfer is zero (Linux then refuses the labels).
    #[error("maximum transfer of 0 bytes")]
    ZeroTransfer,
}

/// The label methods of one DIMM over its label storage area.
#[derive(Debug)]
pub struct LabelMethods<S> {
    storage: S,
    size: u32,
    max_transfer: u32,
}

/// A request failed its checks; carries both statuses.
#[derive(Debug, Clone, Copy)]
struct Refused(LsStatus, DsmStatus);

const INVALID: Refused = Refused(LsStatus::InvalidInput, DsmStatus::InvalidInput);
const FAILED: Refused = Refused(LsStatus::Failure, DsmStatus::HardwareError);

impl<S: Storage> LabelMethods<S> {
    /// Serves `storage`, with transfers of at most `max_transfer` bytes (further
    /// capped by the storage's own maximum and by the area size).
    ///
    /// # Errors
    ///
    /// [`MethodsError`] for an area below 1024 bytes or above `u32::MAX`, or a zero
    /// maximum transfer.
    pub fn new(storage: S, max_transfer: u32) -> Result<LabelMethods<S>, MethodsError> {
        let raw = storage.size();
        let size = u32::try_from(raw)
            .ok()
            .filter(|s| *s as usize >= ND_LABEL_MIN_SIZE)
            .ok_or(MethodsError::AreaSize(raw))?;
        let own = u32::try_from(storage.max_transfer()).unwrap_or(u32::MAX);
        let max_transfer = max_transfer.min(own).min(size);
        if max_transfer == 0 {
            return Err(MethodsError::ZeroTransfer);
        }
        Ok(LabelMethods {
            storage,
            size,
            max_transfer,
        })
    }

    /// The storage.
    pub fn storage(&mut self) -> &mut S {
        &mut self.storage
    }

    /// Gives the storage back.
    pub fn into_inner(self) -> S {
        self.storage
    }

    /// `_LSI`: status, area size, maximum transfer.
    #[must_use]
    pub fn lsi(&self) -> LabelInfo {
        LabelInfo {
            status: LsStatus::Success,
            size: self.size,
            max_transfer: self.max_transfer,
        }
    }

    /// The byte range `[offset, offset + length)` if it lies in the area and
    /// `length` is at most the maximum transfer.
    fn check(&self, offset: u64, length: u64) -> Result<(u64, usize), Refused> {
        let end = offset.checked_add(length).ok_or(INVALID)?;
        if length > u64::from(self.max_transfer) || end > u64::from(self.size) {
            return Err(INVALID);
        }
        Ok((offset, usize::try_from(length).map_err(|_| INVALID)?))
    }

    fn read(&mut self, offset: u64, length: u64, out: &mut [u8]) -> Result<usize, Refused> {
        let (offset, len) = self.check(offset, length)?;
        let buf = out.get_mut(..len).ok_or(INVALID)?;
        self.storage.read(offset, buf).map_err(|_| FAILED)?;
        Ok(len)
    }

    fn write(&mut self, offset: u64, length: u64, data: &[u8]) -> Result<(), Refused> {
        let (offset, len) = self.check(offset, length)?;
        let src = data.get(..len).ok_or(INVALID)?;
        self.storage.write(offset, src).map_err(|_| FAILED)
    }

    /// `_LSR(offset, length)`: on success the first `length` bytes of `out` hold the
    /// data. `out` shorter than `length` is invalid input.
    pub fn lsr(&mut self, offset: u64, length: u64, out: &mut [u8]) -> LsStatus {
        self.read(offset, length, out)
            .map_or_else(|r| r.0, |_| LsStatus::Success)
    }

    /// `_LSW(offset, length, data)`: writes the first `length` bytes of `data`.
    /// `data` shorter than `length` is invalid input; nothing is written then.
    pub fn lsw(&mut self, offset: u64, length: u64, data: &[u8]) -> LsStatus {
        self.write(offset, length, data)
            .map_or_else(|r| r.0, |()| LsStatus::Success)
    }

    /// Intel `_DSM(uuid, revision, function, Package { arg })` for this DIMM, the
    /// UUID already matched. Writes the output buffer into `out` and returns its
    /// length: function 0 gives the 4-byte bitmap (0 for a revision other than 1),
    /// every other function a 4-byte status then its payload. `out` needs `4 + max_transfer` bytes for function 5;
    /// a shorter one gets status 3.
    pub fn dsm(&mut self, revision: u64, function: u64, arg: &[u8], out: &mut [u8]) -> usize {
        let (status, payload) = self.dsm_payload(revision, function, arg, out);
        // Function 0 answers with a bitmap, empty for a revision we do not implement.
        let status = match (function, status) {
            (0, DsmStatus::Success) => DSM_LABEL_FUNCTIONS,
            (0, _) => 0,
            (_, s) => s as u32,
        };
        match out.get_mut(..4) {
            Some(head) => head.copy_from_slice(&status.to_le_bytes()),
            None => return 0,
        }
        payload.saturating_add(4)
    }

    /// Status and the payload length written at `out[4..]`.
    fn dsm_payload(
        &mut self,
        revision: u64,
        function: u64,
        arg: &[u8],
        out: &mut [u8],
    ) -> (DsmStatus, usize) {
        if revision != u64::from(DSM_REVISION) {
            return (DsmStatus::NotSupported, 0);
        }
        let field = |i: usize| -> Option<u64> {
            let b = arg.get(i.checked_mul(4)?..i.checked_mul(4)?.checked_add(4)?)?;
            Some(u64::from(u32::from_le_bytes(b.try_into().ok()?)))
        };
        let data = out.get_mut(4..).unwrap_or_default();
        let done = match u32::try_from(function) {
            Ok(DSM_FN_QUERY) => Ok(0),
            Ok(DSM_FN_GET_LABEL_SIZE) => {
                let info = self.lsi();
                data.get_mut(..8)
                    .map(|d| {
                        d[..4].copy_from_slice(&info.size.to_le_bytes());
                        d[4..].copy_from_slice(&info.max_transfer.to_le_bytes());
                        8
                    })
                    .ok_or(INVALID)
            }
            Ok(DSM_FN_GET_LABEL_DATA) => match (field(0), field(1)) {
                (Some(offset), Some(length)) => self.read(offset, length, data),
                _ => Err(INVALID),
            },
            Ok(DSM_FN_SET_LABEL_DATA) => match (field(0), field(1)) {
                (Some(offset), Some(length)) => self
                    .write(offset, length, arg.get(8..).unwrap_or_default())
                    .map(|()| 0),
                _ => Err(INVALID),
            },
            _ => return (DsmStatus::NotSupported, 0),
        };
        match done {
            Ok(n) => (DsmStatus::Success, n),
            Err(r) => (r.1, 0),
        }
    }
}

/// Size of the shared page of the trapping transport. Source: QEMU
/// `docs/specs/acpi_nvdimm.rst` ("NVDIMM DSM memory", 4 KiB).
pub const DSM_PAGE_SIZE: usize = 4096;

/// The guest's request in the shared page (QEMU's `NvdimmDsmIn`). Source: QEMU
/// `hw/acpi/nvdimm.c`, `docs/specs/acpi_nvdimm.rst`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DsmPageIn {
    /// `handle`: the DIMM's device handle (0: the root device).
    pub handle: U32,
    /// `revision`: `_DSM` Arg1.
    pub revision: U32,
    /// `function`: `_DSM` Arg2.
    pub function: U32,
    /// `arg3`: the buffer of `_DSM` Arg3's package.
    pub arg3: [u8; DSM_PAGE_SIZE - 12],
}
const _: () = {
    assert!(size_of::<DsmPageIn>() == DSM_PAGE_SIZE);
    assert!(offset_of!(DsmPageIn, revision) == 4);
    assert!(offset_of!(DsmPageIn, function) == 8);
    assert!(offset_of!(DsmPageIn, arg3) == 12);
};

/// The VMM's reply in the shared page (QEMU's `NvdimmDsmOut`). Source: as
/// [`DsmPageIn`].
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DsmPageOut {
    /// `len`: bytes of the reply, this field included.
    pub len: U32,
    /// `data`: the `_DSM` output buffer.
    pub data: [u8; DSM_PAGE_SIZE - 4],
}
const _: () = {
    assert!(size_of::<DsmPageOut>() == DSM_PAGE_SIZE);
    assert!(offset_of!(DsmPageOut, data) == 4);
};

/// The largest label transfer the shared page carries: a function-6 request holds
/// 12 bytes of header and 8 of offset and length, a function-5 reply 4 of length and
/// 4 of status: min(4096 − 8, 4096 − 12 − 8) = 4076. Source: QEMU `hw/acpi/nvdimm.c`
/// `nvdimm_get_max_xfer_label_size`.
pub const DSM_PAGE_MAX_TRANSFER: u32 = 4096 - 12 - 8;
const _: () = assert!(DSM_PAGE_MAX_TRANSFER as usize == DSM_PAGE_SIZE - 12 - 8);

/// Serves the request in `page` and writes the reply over it. `dimm(handle)` finds
/// the DIMM with that NFIT device handle; an unknown handle gets status 2 (the root
/// device, handle 0, has no label functions: status 1 for everything but function 0,
/// whose bitmap is 0).
pub fn serve_dsm_page<'a, S: Storage + 'a>(
    page: &mut [u8; DSM_PAGE_SIZE],
    dimm: impl FnOnce(u32) -> Option<&'a mut LabelMethods<S>>,
) {
    // The reply overwrites the request: copy its argument out first (the page is a
    // `DsmPageIn` by construction, so the view cannot fail).
    let Ok(req) = DsmPageIn::ref_from_bytes(page.as_slice()) else {
        return;
    };
    let (handle, revision, function) = (req.handle.get(), req.revision.get(), req.function.get());
    let arg = req.arg3;
    let (len, data) = page.split_at_mut(offset_of!(DsmPageOut, data));
    let status_only = |data: &mut [u8], status: u32| {
        data[..4].copy_from_slice(&status.to_le_bytes());
        4
    };
    let n = match (handle, dimm(handle)) {
        (0, _) if function == DSM_FN_QUERY => status_only(data, 0),
        (0, _) => status_only(data, DsmStatus::NotSupported as u32),
        (_, None) => status_only(data, DsmStatus::NoSuchDevice as u32),
        (_, Some(m)) => m.dsm(u64::from(revision), u64::from(function), &arg, data),
    };
    let n = u32::try_from(n.saturating_add(4)).unwrap_or(u32::MAX);
    len.copy_from_slice(&n.to_le_bytes());
}
