// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The guest's NVDIMM devices in AML (feature `acpi`): an SSDT with the NVDIMM root
//! device (`ACPI0012`, ACPI 6.4 §9.20.1) and one NVDIMM device per DIMM whose `_ADR`
//! is its NFIT device handle (§9.20.2), carrying the label methods, built with rust-vmm
//! `acpi_tables`' AML module.
//!
//! **Which label interface Linux uses** (`drivers/acpi/nfit/core.c`,
//! `acpi_nfit_add_dimm`): Linux probes each DIMM's `_DSM` function 0 for the known
//! command families. A DIMM answering the Intel family gets its labels through Intel
//! `_DSM` functions 4/5/6 and its `_LSI`/`_LSR`/`_LSW` are never looked at; a DIMM
//! answering another family (we answer Microsoft's, with no functions besides 0) gets
//! them through `_LSI` + `_LSR` (+ `_LSW` for writes); a DIMM answering no family gets
//! no labels at all. [`LabelInterface`] picks one of the two working shapes.
//!
//! **Transports** ([`Transport`]):
//! - *Zero-exit*: each DIMM's label area is guest-physical memory (for example the tail
//!   of its backing file, left out of the SPA range and marked reserved in the memory
//!   map). The methods copy to and from it in AML through a window (`OperationRegion`
//!   created in the method, one field over all of it), so a label access costs no VM
//!   exit. The window is the smallest power of two of at least 8 bytes that holds the
//!   request, or the largest window, `max_transfer` rounded up to a multiple of 8; it
//!   is read and written in 8-byte (QWord) accesses, each one call of ACPICA's region
//!   handler. A write reads the window, splices the new bytes in and writes the window
//!   back: bytes around the request are rewritten with their own values, all inside
//!   the area. The window always lies inside the area.
//!   [`ZERO_EXIT_MAX_TRANSFER`] is a maximum transfer suited to it.
//! - *Trapping*: the methods put the request in a shared 4 KiB page and write the
//!   page's address to an I/O port, QEMU's NVDIMM `_DSM` protocol
//!   (`docs/specs/acpi_nvdimm.rst`); the VMM answers with
//!   [`crate::methods::serve_dsm_page`].
//!
//! Addresses above 4 GiB need 64-bit AML integers, which ACPICA enables only for a DSDT
//! of revision 2 or more (`AcpiUtSetIntegerWidth`); [`SsdtBuilder::wide_integers`]
//! states that the guest's DSDT has it, else such addresses are refused.

use alloc::vec;
use alloc::vec::Vec;

use acpi_tables::Aml;
use acpi_tables::aml::{
    self, Add, BufferData, CreateDWordField, DeRefOf, Device, Equal, Field, FieldAccessType,
    FieldEntry, FieldLockRule, FieldUpdateRule, GreaterThan, If, Index, LessThan, Local, Method,
    MethodCall, Mid, Name, NotEqual, ObjectType, OpRegion, OpRegionSpace, Package, Path, Return,
    Scope, SizeOf, Store, Subtract,
};

use crate::methods::{
    DSM_FN_GET_LABEL_DATA, DSM_FN_GET_LABEL_SIZE, DSM_FN_SET_LABEL_DATA, DSM_LABEL_FUNCTIONS,
    DSM_PAGE_MAX_TRANSFER, DSM_PAGE_SIZE, DSM_REVISION, DsmStatus, INTEL_DSM_UUID, LsStatus,
    MSFT_DSM_UUID,
};

/// `_HID` of the NVDIMM root device. Source: ACPI 6.4 §9.20.1; Linux
/// `drivers/acpi/nfit/core.c` `ACPI_NFIT_DEVICE_HID`.
pub const NVDIMM_ROOT_HID: &str = "ACPI0012";

/// The I/O port QEMU's NVDIMM `_DSM` protocol notifies. Source: QEMU
/// `include/hw/mem/nvdimm.h` `NVDIMM_ACPI_IO_BASE`.
pub const QEMU_NVDIMM_IO_PORT: u16 = 0x0a18;

/// A maximum transfer for the zero-exit transport (32 KiB): a transfer is one method
/// call, whatever its size (the trapping transport's limit, [`DSM_PAGE_MAX_TRANSFER`],
/// comes from QEMU's 4 KiB page), and the largest buffer ACPICA then allocates for a
/// window or a reply stays within Linux's `PAGE_ALLOC_COSTLY_ORDER` (3, i.e. 8 pages:
/// `include/linux/mmzone.h`), which the page allocator tries hardest to satisfy.
/// `ndctl read-labels` reads a 128 KiB area in 4 calls instead of QEMU's 33.
pub const ZERO_EXIT_MAX_TRANSFER: u32 = 32 << 10;

/// Absolute path of the trapping transport's call method (see [`trapping_root`]).
const NCAL_PATH: &str = "\\_SB_.NVDR.NCAL";
/// Absolute path of the trapping transport's status mapping.
const LSST_PATH: &str = "\\_SB_.NVDR.LSST";

/// [`DSM_PAGE_SIZE`] as an AML integer.
const PAGE_LEN: u32 = 4096;
const _: () = assert!(PAGE_LEN as usize == DSM_PAGE_SIZE);

/// Which label interface the DIMM devices offer (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelInterface {
    /// Intel `_DSM` functions 4, 5, 6 (function 0 bitmap 0x71).
    IntelDsm,
    /// `_LSI`, `_LSR`, `_LSW`, with a Microsoft-family `_DSM` that offers only
    /// function 0 so that Linux looks for them.
    LabelMethods,
}

/// How the methods reach the label areas (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The label areas are guest memory at [`AmlDimm::label_gpa`].
    ZeroExit,
    /// A shared page at guest-physical `page` (4 KiB-aligned, below 4 GiB, reserved in
    /// the guest's memory map) and a 4-byte I/O `port` the AML writes `page` to.
    Trapping {
        /// Guest-physical address of the shared page.
        page: u32,
        /// The notification port.
        port: u16,
    },
}

/// One DIMM device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmlDimm {
    /// NFIT device handle (the device's `_ADR`).
    pub handle: u32,
    /// Label area size in bytes.
    pub label_size: u32,
    /// Guest-physical address of the label area (zero-exit transport only).
    pub label_gpa: u64,
}

/// Why the SSDT cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmlError {
    /// More than 256 DIMMs (device names `NV00`..`NVFF`).
    #[error("{0} DIMMs; at most 256")]
    TooManyDimms(usize),
    /// The maximum transfer is 0, above a DIMM's label size, or (trapping) above what
    /// the shared page carries.
    #[error("maximum transfer {max} does not fit DIMM {handle:#x} (label size {label_size})")]
    BadMaxTransfer {
        /// The maximum transfer.
        max: u32,
        /// The DIMM's handle.
        handle: u32,
        /// Its label size.
        label_size: u32,
    },
    /// A label area or page address needs 64-bit AML integers, or overflows.
    #[error("address {0:#x} needs 64-bit AML integers (DSDT revision 2)")]
    WideAddress(u64),
    /// The shared page is not 4 KiB-aligned.
    #[error("shared page {0:#x} is not 4 KiB-aligned")]
    UnalignedPage(u32),
}

/// Builds the NVDIMM SSDT.
#[derive(Debug, Clone)]
pub struct SsdtBuilder {
    dimms: Vec<AmlDimm>,
    interface: LabelInterface,
    transport: Transport,
    max_transfer: u32,
    wide_integers: bool,
    oem: ([u8; 6], [u8; 8], u32),
}

/// Serialized AML, usable as a node of a rust-vmm AML tree.
struct Raw(Vec<u8>);

impl Aml for Raw {
    fn to_aml_bytes(&self, sink: &mut dyn acpi_tables::AmlSink) {
        sink.vec(&self.0);
    }
}

/// The AML of `items`, in order.
fn seq(items: &[&dyn Aml]) -> Raw {
    let mut out = Vec::new();
    items.iter().for_each(|i| i.to_aml_bytes(&mut out));
    Raw(out)
}

/// A `Buffer` holding one little-endian DWORD.
fn dword_buffer(v: u32) -> BufferData {
    BufferData::new(v.to_le_bytes().to_vec())
}

/// `If (cond) { Return (value) }`.
fn return_if(cond: &dyn Aml, value: &dyn Aml) -> Raw {
    seq(&[&If::new(cond, vec![&Return::new(value)])])
}

/// `Local6 = Arg3[0]` if Arg3 is a non-empty package, else an empty buffer.
fn dsm_arg_into_local6() -> Raw {
    let empty = BufferData::new(Vec::new()).to_raw();
    let first = DeRefOf::new(&Index::new(&aml::ZERO, &aml::Arg(3), &aml::ZERO)).to_raw();
    let store = Store::new(&Local(6), &first).to_raw();
    let nonempty = GreaterThan::new(&SizeOf::new(&aml::Arg(3)), &aml::ZERO).to_raw();
    let inner = If::new(&nonempty, vec![&store]).to_raw();
    let is_pkg = Equal::new(&ObjectType::new(&aml::Arg(3)), &4u8).to_raw();
    seq(&[
        &Store::new(&Local(6), &empty),
        &If::new(&is_pkg, vec![&inner]),
    ])
}

/// The name `NVxx` of DIMM device `i`.
fn device_name(i: usize) -> Path {
    name_path(&numbered(*b"NV", i))
}

/// The name `prefix` followed by the low byte of `i` in two upper-case hex digits.
fn numbered(prefix: [u8; 2], i: usize) -> [u8; 4] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    [prefix[0], prefix[1], HEX[(i >> 4) & 0xf], HEX[i & 0xf]]
}

/// A [`numbered`] name as a path.
fn name_path(name: &[u8; 4]) -> Path {
    Path::new(core::str::from_utf8(name).unwrap_or("XX00"))
}

impl SsdtBuilder {
    /// An SSDT for `dimms` with the given interface and transport; maximum transfer
    /// [`DSM_PAGE_MAX_TRANSFER`] (QEMU's), 32-bit AML integers.
    #[must_use]
    pub fn new(dimms: &[AmlDimm], interface: LabelInterface, transport: Transport) -> SsdtBuilder {
        SsdtBuilder {
            dimms: dimms.to_vec(),
            interface,
            transport,
            max_transfer: DSM_PAGE_MAX_TRANSFER,
            wide_integers: false,
            oem: (*b"HUGEVM", *b"NVDIMM  ", 1),
        }
    }

    /// Sets the SSDT's OEM ID, OEM table ID and OEM revision (default "HUGEVM",
    /// "NVDIMM  ", 1). Linux's initrd table upgrade (`CONFIG_ACPI_TABLE_UPGRADE`)
    /// replaces a firmware table with the same three IDs and a lower OEM revision.
    #[must_use]
    pub fn oem(mut self, oem_id: [u8; 6], oem_table_id: [u8; 8], oem_revision: u32) -> SsdtBuilder {
        self.oem = (oem_id, oem_table_id, oem_revision);
        self
    }

    /// Sets the largest transfer `_LSI` / function 4 report (at most the label size,
    /// and for the trapping transport at most [`DSM_PAGE_MAX_TRANSFER`]; see
    /// [`ZERO_EXIT_MAX_TRANSFER`] for the zero-exit one).
    #[must_use]
    pub fn max_transfer(mut self, max: u32) -> SsdtBuilder {
        self.max_transfer = max;
        self
    }

    /// States that the guest's DSDT has revision ≥ 2 (64-bit AML integers), which
    /// allows label areas above 4 GiB.
    #[must_use]
    pub fn wide_integers(mut self, wide: bool) -> SsdtBuilder {
        self.wide_integers = wide;
        self
    }

    fn check(&self) -> Result<(), AmlError> {
        if self.dimms.len() > 256 {
            return Err(AmlError::TooManyDimms(self.dimms.len()));
        }
        let limit = if self.wide_integers {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if let Transport::Trapping { page, .. } = self.transport {
            if page % PAGE_LEN != 0 {
                return Err(AmlError::UnalignedPage(page));
            }
            u32::try_from(u64::from(page) + DSM_PAGE_SIZE as u64 - 1)
                .map_err(|_| AmlError::WideAddress(u64::from(page)))?;
        }
        for d in &self.dimms {
            let page_cap = match self.transport {
                Transport::Trapping { .. } => DSM_PAGE_MAX_TRANSFER,
                Transport::ZeroExit => u32::MAX,
            };
            if self.max_transfer == 0 || self.max_transfer > d.label_size.min(page_cap) {
                return Err(AmlError::BadMaxTransfer {
                    max: self.max_transfer,
                    handle: d.handle,
                    label_size: d.label_size,
                });
            }
            if self.transport == Transport::ZeroExit {
                let end = d.label_gpa.checked_add(u64::from(d.label_size));
                if end.is_none_or(|e| e - 1 > limit) {
                    return Err(AmlError::WideAddress(d.label_gpa));
                }
            }
        }
        Ok(())
    }

    /// The AML of the `\_SB.NVDR` scope contents (without the SDT header).
    ///
    /// # Errors
    ///
    /// [`AmlError`] for a configuration the AML cannot serve.
    pub fn aml(&self) -> Result<Vec<u8>, AmlError> {
        self.check()?;
        let mut children: Vec<Raw> = Vec::new();
        children.push(seq(&[&Name::new(Path::new("_HID"), &NVDIMM_ROOT_HID)]));
        if let Transport::Trapping { page, port } = self.transport {
            children.push(trapping_root(page, port));
        }
        for (i, d) in self.dimms.iter().enumerate() {
            children.push(self.dimm_device(i, d));
        }
        let refs: Vec<&dyn Aml> = children.iter().map(|c| c as &dyn Aml).collect();
        let root = Device::new(Path::new("NVDR"), refs).to_raw();
        let scope = Scope::new(Path::new("\\_SB_"), vec![&root]).to_raw();
        let mut out = Vec::new();
        scope.to_aml_bytes(&mut out);
        Ok(out)
    }

    /// The whole SSDT (revision 2).
    ///
    /// # Errors
    ///
    /// As [`SsdtBuilder::aml`].
    pub fn ssdt(&self) -> Result<acpi_tables::sdt::Sdt, AmlError> {
        let body = self.aml()?;
        let (oem_id, oem_table_id, oem_revision) = self.oem;
        let mut sdt =
            acpi_tables::sdt::Sdt::new(*b"SSDT", 36, 2, oem_id, oem_table_id, oem_revision);
        sdt.append_slice(&body);
        Ok(sdt)
    }

    fn dimm_device(&self, i: usize, d: &AmlDimm) -> Raw {
        let adr = Name::new(Path::new("_ADR"), &d.handle).to_raw();
        let methods = match (self.interface, self.transport) {
            (LabelInterface::IntelDsm, Transport::ZeroExit) => seq(&[
                &zero_exit_helpers(d, self.max_transfer),
                &zero_exit_dsm(d, self.max_transfer),
            ]),
            (LabelInterface::LabelMethods, Transport::ZeroExit) => seq(&[
                &zero_exit_helpers(d, self.max_transfer),
                &msft_dsm(),
                &zero_exit_ls(d, self.max_transfer),
            ]),
            (LabelInterface::IntelDsm, Transport::Trapping { .. }) => trapping_dsm(d),
            (LabelInterface::LabelMethods, Transport::Trapping { .. }) => {
                seq(&[&msft_dsm(), &trapping_ls(d)])
            }
        };
        let dev = Device::new(device_name(i), vec![&adr, &methods]).to_raw();
        seq(&[&dev])
    }
}

/// `_DSM` answering the Microsoft family's function 0 with "function 0 only", and
/// every other UUID with an empty bitmap (ACPI 6.4 §9.1.1).
fn msft_dsm() -> Raw {
    let uuid = aml::Uuid::new(&uuid_str(&MSFT_DSM_UUID)).to_raw();
    let is_msft = Equal::new(&aml::Arg(0), &uuid).to_raw();
    let f0 = Equal::new(&aml::Arg(2), &aml::ZERO).to_raw();
    let one = BufferData::new(vec![1]).to_raw();
    let ret_one = return_if(&f0, &one);
    let body = If::new(&is_msft, vec![&ret_one]).to_raw();
    let none = Return::new(&BufferData::new(vec![0])).to_raw();
    seq(&[&Method::new(Path::new("_DSM"), 4, true, vec![&body, &none])])
}

/// The canonical string of `g` (for `aml::Uuid`, which applies the mixed-endian order).
fn uuid_str(g: &crate::uuid::Guid) -> alloc::string::String {
    alloc::format!("{g}")
}

/// Per-DIMM zero-exit helpers: `LCHK(off, len)` (One if the request is invalid),
/// `LRD(off, len)` (the bytes) and `LWR(off, len, data)`.
fn zero_exit_helpers(d: &AmlDimm, max: u32) -> Raw {
    let size = u64::from(d.label_size);
    // LCHK: Arg1 > max || Arg0 > size || Arg1 > size - Arg0 → invalid.
    let c1 = return_if(&GreaterThan::new(&aml::Arg(1), &max), &aml::ONE);
    let c2 = return_if(&GreaterThan::new(&aml::Arg(0), &size), &aml::ONE);
    let rest = Subtract::new(&aml::ZERO, &size, &aml::Arg(0)).to_raw();
    let c3 = return_if(&GreaterThan::new(&aml::Arg(1), &rest), &aml::ONE);
    let lchk = Method::new(
        Path::new("LCHK"),
        2,
        false,
        vec![&c1, &c2, &c3, &Return::new(&aml::ZERO)],
    )
    .to_raw();
    // LRD: the window's bytes from Arg0 on (Local2 = Arg0 - window base).
    let read = |window: &Path| {
        Return::new(&Mid::new(window, &Local(2), &aml::Arg(1), &aml::ZERO)).to_raw()
    };
    let lrd = Method::new(Path::new("LRD_"), 2, true, vec![&windowed(d, max, &read)]).to_raw();
    // LWR: Local1 = window; window = head ++ data ++ tail.
    let write = |window: &Path| {
        let cur = Store::new(&Local(1), window).to_raw();
        let head = Mid::new(&Local(1), &aml::ZERO, &Local(2), &aml::ZERO).to_raw();
        let data = Mid::new(&aml::Arg(2), &aml::ZERO, &aml::Arg(1), &aml::ZERO).to_raw();
        let hd = aml::Concat::new(&Local(3), &head, &data).to_raw();
        let tail_at = Add::new(&aml::ZERO, &Local(2), &aml::Arg(1)).to_raw();
        let tail = Mid::new(&Local(1), &tail_at, &d.label_size, &aml::ZERO).to_raw();
        let all = aml::Concat::new(&Local(3), &Local(3), &tail).to_raw();
        let put = Store::new(window, &Local(3)).to_raw();
        seq(&[&cur, &hd, &all, &put, &Return::new(&aml::ZERO)])
    };
    let lwr = Method::new(Path::new("LWR_"), 3, true, vec![&windowed(d, max, &write)]).to_raw();
    seq(&[&lchk, &lrd, &lwr])
}

/// The window sizes the zero-exit methods copy through, smallest first: every power of
/// two from 8 bytes below the largest, then the largest, which holds `max` bytes
/// (rounded up to a multiple of 8 while it fits the area). A request of `len` bytes
/// goes through the smallest window of at least `len` bytes: at most twice the bytes
/// it asks for, in 8-byte (QWord) accesses while the window is a multiple of 8 bytes.
fn window_sizes(label_size: u32, max: u32) -> Vec<u32> {
    let top = max
        .checked_next_multiple_of(8)
        .unwrap_or(max)
        .min(label_size);
    let mut sizes: Vec<u32> = core::iter::successors(Some(8u32), |s| s.checked_mul(2))
        .take_while(|&s| s < top)
        .collect();
    sizes.push(top);
    sizes
}

/// For an already checked request (`Arg0` offset, `Arg1` length, see `LCHK`): picks
/// the smallest window of [`window_sizes`] that holds `Arg1` bytes, places it at
/// `Arg0` or as far into the area as it goes (base in `Local0`, `Local2` = `Arg0` −
/// base), declares it (`OperationRegion` created in the method, one field over all of
/// it) and runs `body` on the field. Each window has its own region and field name
/// (`LRnn`, `LWnn`), so only the branch taken creates objects.
fn windowed(d: &AmlDimm, max: u32, body: &dyn Fn(&Path) -> Raw) -> Raw {
    let size = u64::from(d.label_size);
    let sizes = window_sizes(d.label_size, max);
    let branches: Vec<Raw> = sizes
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let (region, field) = (numbered(*b"LR", i), numbered(*b"LW", i));
            let last_base = size - u64::from(w);
            let base = Store::new(&Local(0), &aml::Arg(0)).to_raw();
            let clamp = If::new(
                &GreaterThan::new(&Local(0), &last_base),
                vec![&Store::new(&Local(0), &last_base)],
            )
            .to_raw();
            let at = Subtract::new(&Local(2), &aml::Arg(0), &Local(0)).to_raw();
            let addr = Add::new(&aml::ZERO, &d.label_gpa, &Local(0)).to_raw();
            let op_region =
                OpRegion::new(name_path(&region), OpRegionSpace::SystemMemory, &addr, &w).to_raw();
            let op_field = Field::new(
                name_path(&region),
                window_access(w),
                FieldLockRule::NoLock,
                FieldUpdateRule::Preserve,
                vec![FieldEntry::Named(field, w as usize * 8)],
            )
            .to_raw();
            let run = body(&name_path(&field));
            let all = seq(&[&base, &clamp, &at, &op_region, &op_field, &run]);
            if i + 1 == sizes.len() {
                all
            } else {
                let fits = LessThan::new(&aml::Arg(1), &(u64::from(w) + 1)).to_raw();
                seq(&[&If::new(&fits, vec![&all])])
            }
        })
        .collect();
    let refs: Vec<&dyn Aml> = branches.iter().map(|b| b as &dyn Aml).collect();
    seq(&refs)
}

/// The widest access that tiles a `len`-byte window exactly: ACPICA refuses a datum
/// that would reach past the region (`AcpiExSetupRegion`, `AE_AML_REGION_LIMIT`), and
/// each datum is one call of its region handler.
fn window_access(len: u32) -> FieldAccessType {
    match len.trailing_zeros() {
        0 => FieldAccessType::Byte,
        1 => FieldAccessType::Word,
        2 => FieldAccessType::DWord,
        _ => FieldAccessType::QWord,
    }
}

/// `LCHK(a, b)` as a term.
fn lchk<'a>(a: &'a dyn Aml, b: &'a dyn Aml) -> MethodCall<'a> {
    MethodCall::new(Path::new("LCHK"), vec![a, b])
}

/// Zero-exit Intel `_DSM`.
fn zero_exit_dsm(d: &AmlDimm, max: u32) -> Raw {
    let uuid = aml::Uuid::new(&uuid_str(&INTEL_DSM_UUID)).to_raw();
    let unsupported = dword_buffer(DsmStatus::NotSupported as u32);
    let invalid = dword_buffer(DsmStatus::InvalidInput as u32);
    let ok = dword_buffer(DsmStatus::Success as u32);
    // Another revision: an empty function-0 bitmap, status 1 for the rest.
    let empty_f0 = return_if(&Equal::new(&aml::Arg(2), &aml::ZERO), &dword_buffer(0));
    let r_rev = If::new(
        &NotEqual::new(&aml::Arg(1), &DSM_REVISION),
        vec![&empty_f0, &Return::new(&unsupported)],
    )
    .to_raw();
    let r_f0 = return_if(
        &Equal::new(&aml::Arg(2), &aml::ZERO),
        &dword_buffer(DSM_LABEL_FUNCTIONS),
    );
    let mut info = vec![0u8; 4];
    info.extend_from_slice(&d.label_size.to_le_bytes());
    info.extend_from_slice(&max.to_le_bytes());
    let r_f4 = return_if(
        &Equal::new(&aml::Arg(2), &DSM_FN_GET_LABEL_SIZE),
        &BufferData::new(info),
    );
    let is5 = Equal::new(&aml::Arg(2), &DSM_FN_GET_LABEL_DATA).to_raw();
    let is6 = Equal::new(&aml::Arg(2), &DSM_FN_SET_LABEL_DATA).to_raw();
    let r_other = seq(&[&If::new(
        &Equal::new(&aml::Or::new(&aml::ZERO, &is5, &is6), &aml::ZERO),
        vec![&Return::new(&unsupported)],
    )]);
    let arg = dsm_arg_into_local6();
    let r_type = return_if(&NotEqual::new(&ObjectType::new(&Local(6)), &3u8), &invalid);
    let r_short = return_if(&LessThan::new(&SizeOf::new(&Local(6)), &8u8), &invalid);
    let (ofst, tlen) = (Path::new("OFST"), Path::new("TLEN"));
    let f_off = CreateDWordField::new(&ofst, &Local(6), &aml::ZERO).to_raw();
    let f_len = CreateDWordField::new(&tlen, &Local(6), &4u8).to_raw();
    let r_bad = return_if(&lchk(&ofst, &tlen), &invalid);
    let lrd = MethodCall::new(Path::new("LRD_"), vec![&ofst, &tlen]).to_raw();
    let r_f5 = return_if(&is5, &aml::Concat::new(&aml::ZERO, &ok, &lrd));
    let room = Subtract::new(&aml::ZERO, &SizeOf::new(&Local(6)), &8u8).to_raw();
    let r_data = return_if(&LessThan::new(&room, &tlen), &invalid);
    let data = Mid::new(&Local(6), &8u8, &tlen, &aml::ZERO).to_raw();
    let lwr = MethodCall::new(Path::new("LWR_"), vec![&ofst, &tlen, &data]).to_raw();
    let body = If::new(
        &Equal::new(&aml::Arg(0), &uuid),
        vec![
            &r_rev,
            &r_f0,
            &r_f4,
            &r_other,
            &arg,
            &r_type,
            &r_short,
            &f_off,
            &f_len,
            &r_bad,
            &r_f5,
            &r_data,
            &lwr,
            &Return::new(&ok),
        ],
    )
    .to_raw();
    let none = Return::new(&BufferData::new(vec![0])).to_raw();
    seq(&[&Method::new(Path::new("_DSM"), 4, true, vec![&body, &none])])
}

/// Zero-exit `_LSI`, `_LSR`, `_LSW`.
fn zero_exit_ls(d: &AmlDimm, max: u32) -> Raw {
    let invalid = LsStatus::InvalidInput as u32;
    let lsi = Method::new(
        Path::new("_LSI"),
        0,
        false,
        vec![&Return::new(&Package::new(vec![
            &(LsStatus::Success as u32),
            &d.label_size,
            &max,
        ]))],
    )
    .to_raw();
    let empty = BufferData::new(Vec::new()).to_raw();
    let refused = Package::new(vec![&invalid, &empty]).to_raw();
    let r_bad = return_if(&lchk(&aml::Arg(0), &aml::Arg(1)), &refused);
    let lpkg = Name::new(Path::new("LPKG"), &Package::new(vec![&aml::ZERO, &empty])).to_raw();
    let lrd = MethodCall::new(Path::new("LRD_"), vec![&aml::Arg(0), &aml::Arg(1)]).to_raw();
    let slot1 = Index::new(&aml::ZERO, &Path::new("LPKG"), &aml::ONE).to_raw();
    let put = Store::new(&slot1, &lrd).to_raw();
    let lsr = Method::new(
        Path::new("_LSR"),
        2,
        true,
        vec![&r_bad, &lpkg, &put, &Return::new(&Path::new("LPKG"))],
    )
    .to_raw();
    let w_bad = return_if(&lchk(&aml::Arg(0), &aml::Arg(1)), &invalid);
    let w_short = return_if(
        &LessThan::new(&SizeOf::new(&aml::Arg(2)), &aml::Arg(1)),
        &invalid,
    );
    let lwr = MethodCall::new(
        Path::new("LWR_"),
        vec![&aml::Arg(0), &aml::Arg(1), &aml::Arg(2)],
    )
    .to_raw();
    let lsw = Method::new(
        Path::new("_LSW"),
        3,
        true,
        vec![
            &w_bad,
            &w_short,
            &lwr,
            &Return::new(&(LsStatus::Success as u32)),
        ],
    )
    .to_raw();
    seq(&[&lsi, &lsr, &lsw])
}

/// The trapping transport's shared objects in the root device: the page `NRAM` with
/// its request fields (`HDLE`, `REVS`, `FUNC`, `FARG`) and reply fields (`RLEN`,
/// `ODAT`), the port `NTFI`, `NCAL(handle, revision, function, arg)` returning the
/// `_DSM` output buffer, and `LSST(dsm_status)` mapping a `_DSM` status to an `_LS*`
/// status. Layout: QEMU `docs/specs/acpi_nvdimm.rst`.
fn trapping_root(page: u32, port: u16) -> Raw {
    let nram = OpRegion::new(
        Path::new("NRAM"),
        OpRegionSpace::SystemMemory,
        &page,
        &PAGE_LEN,
    )
    .to_raw();
    let field = |entries| {
        Field::new(
            Path::new("NRAM"),
            FieldAccessType::DWord,
            FieldLockRule::NoLock,
            FieldUpdateRule::Preserve,
            entries,
        )
    };
    let req = field(vec![
        FieldEntry::Named(*b"HDLE", 32),
        FieldEntry::Named(*b"REVS", 32),
        FieldEntry::Named(*b"FUNC", 32),
        FieldEntry::Named(*b"FARG", (DSM_PAGE_SIZE - 12) * 8),
    ]);
    let rep = field(vec![
        FieldEntry::Named(*b"RLEN", 32),
        FieldEntry::Named(*b"ODAT", (DSM_PAGE_SIZE - 4) * 8),
    ]);
    let four = 4u8;
    let npio = OpRegion::new(Path::new("NPIO"), OpRegionSpace::SystemIO, &port, &four).to_raw();
    let ntfi = Field::new(
        Path::new("NPIO"),
        FieldAccessType::DWord,
        FieldLockRule::NoLock,
        FieldUpdateRule::Preserve,
        vec![FieldEntry::Named(*b"NTFI", 32)],
    )
    .to_raw();
    let store = |to: &str, arg: u8| Store::new(&Path::new(to), &aml::Arg(arg)).to_raw();
    let stores = seq(&[
        &store("HDLE", 0),
        &store("REVS", 1),
        &store("FUNC", 2),
        &store("FARG", 3),
    ]);
    let notify = Store::new(&Path::new("NTFI"), &page).to_raw();
    let len = Subtract::new(&aml::ZERO, &Path::new("RLEN"), &4u8).to_raw();
    let reply = Return::new(&Mid::new(&Path::new("ODAT"), &aml::ZERO, &len, &aml::ZERO)).to_raw();
    let ncal = Method::new(Path::new("NCAL"), 4, true, vec![&stores, &notify, &reply]).to_raw();
    let ok = return_if(
        &Equal::new(&aml::Arg(0), &aml::ZERO),
        &(LsStatus::Success as u32),
    );
    let inv = return_if(
        &Equal::new(&aml::Arg(0), &(DsmStatus::InvalidInput as u32)),
        &(LsStatus::InvalidInput as u32),
    );
    let lsst = Method::new(
        Path::new("LSST"),
        1,
        false,
        vec![&ok, &inv, &Return::new(&(LsStatus::Failure as u32))],
    )
    .to_raw();
    seq(&[&nram, &req, &rep, &npio, &ntfi, &ncal, &lsst])
}

/// Trapping Intel `_DSM`: the whole call goes to the VMM.
fn trapping_dsm(d: &AmlDimm) -> Raw {
    let uuid = aml::Uuid::new(&uuid_str(&INTEL_DSM_UUID)).to_raw();
    let arg = dsm_arg_into_local6();
    let call = MethodCall::new(
        Path::new(NCAL_PATH),
        vec![&d.handle, &aml::Arg(1), &aml::Arg(2), &Local(6)],
    )
    .to_raw();
    let body = If::new(
        &Equal::new(&aml::Arg(0), &uuid),
        vec![&arg, &Return::new(&call)],
    )
    .to_raw();
    let none = Return::new(&BufferData::new(vec![0])).to_raw();
    seq(&[&Method::new(Path::new("_DSM"), 4, true, vec![&body, &none])])
}

/// Trapping `_LSI`, `_LSR`, `_LSW`: functions 4, 5, 6 through the shared page.
fn trapping_ls(d: &AmlDimm) -> Raw {
    let ncal = |f: u32, arg: &dyn Aml| {
        let mut out = Vec::new();
        MethodCall::new(
            Path::new(NCAL_PATH),
            vec![&d.handle, &DSM_REVISION, &f, arg],
        )
        .to_aml_bytes(&mut out);
        Raw(out)
    };
    let lsst = |s: &dyn Aml| {
        let mut out = Vec::new();
        MethodCall::new(Path::new(LSST_PATH), vec![s]).to_aml_bytes(&mut out);
        Raw(out)
    };
    let failure = LsStatus::Failure as u32;
    let invalid = LsStatus::InvalidInput as u32;
    let stat = Path::new("STAT").to_raw();

    // _LSI: Local0 = NCAL(4); {LSST(status), size, max} from a 12-byte reply.
    let empty = BufferData::new(Vec::new()).to_raw();
    let get = Store::new(&Local(0), &ncal(DSM_FN_GET_LABEL_SIZE, &empty)).to_raw();
    let short = return_if(
        &LessThan::new(&SizeOf::new(&Local(0)), &12u8),
        &Package::new(vec![&failure, &aml::ZERO, &aml::ZERO]),
    );
    let lpkg3 = Name::new(
        Path::new("LPKG"),
        &Package::new(vec![&aml::ZERO, &aml::ZERO, &aml::ZERO]),
    )
    .to_raw();
    let (size, maxt) = (Path::new("SIZE"), Path::new("MAXT"));
    let fields = seq(&[
        &CreateDWordField::new(&stat, &Local(0), &aml::ZERO),
        &CreateDWordField::new(&size, &Local(0), &4u8),
        &CreateDWordField::new(&maxt, &Local(0), &8u8),
    ]);
    let slot = |i: u8| Index::new(&aml::ZERO, &Path::new("LPKG"), &i).to_raw();
    let fill = seq(&[
        &Store::new(&slot(0), &lsst(&stat)),
        &Store::new(&slot(1), &size),
        &Store::new(&slot(2), &maxt),
    ]);
    let lsi = Method::new(
        Path::new("_LSI"),
        0,
        true,
        vec![
            &get,
            &short,
            &lpkg3,
            &fields,
            &fill,
            &Return::new(&Path::new("LPKG")),
        ],
    )
    .to_raw();

    // Request arguments: LARG = {offset, length} as two DWORDs; wider values invalid.
    let larg = seq(&[
        &Name::new(Path::new("LARG"), &BufferData::new(vec![0; 8])),
        &CreateDWordField::new(&Path::new("AOFF"), &Path::new("LARG"), &aml::ZERO),
        &CreateDWordField::new(&Path::new("ALEN"), &Path::new("LARG"), &4u8),
        &Store::new(&Path::new("AOFF"), &aml::Arg(0)),
        &Store::new(&Path::new("ALEN"), &aml::Arg(1)),
    ]);
    let wide = |ret: &dyn Aml| {
        let a = return_if(&GreaterThan::new(&aml::Arg(0), &u32::MAX), ret);
        let b = return_if(&GreaterThan::new(&aml::Arg(1), &u32::MAX), ret);
        seq(&[&a, &b])
    };

    // _LSR
    let lpkg2 = Name::new(Path::new("LPKG"), &Package::new(vec![&invalid, &empty])).to_raw();
    let r_wide = wide(&Path::new("LPKG"));
    let read = Store::new(&Local(0), &ncal(DSM_FN_GET_LABEL_DATA, &Path::new("LARG"))).to_raw();
    let r_short = seq(&[&If::new(
        &LessThan::new(&SizeOf::new(&Local(0)), &4u8),
        vec![
            &Store::new(&slot(0), &failure),
            &Return::new(&Path::new("LPKG")),
        ],
    )]);
    let f_stat = CreateDWordField::new(&stat, &Local(0), &aml::ZERO).to_raw();
    let put_status = Store::new(&slot(0), &lsst(&stat)).to_raw();
    let data = Mid::new(&Local(0), &4u8, &aml::Arg(1), &aml::ZERO).to_raw();
    let put_data = If::new(
        &Equal::new(&stat, &aml::ZERO),
        vec![&Store::new(&slot(1), &data)],
    )
    .to_raw();
    let lsr = Method::new(
        Path::new("_LSR"),
        2,
        true,
        vec![
            &lpkg2,
            &r_wide,
            &larg,
            &read,
            &r_short,
            &f_stat,
            &put_status,
            &put_data,
            &Return::new(&Path::new("LPKG")),
        ],
    )
    .to_raw();

    // _LSW
    let w_wide = wide(&invalid);
    let w_short = return_if(
        &LessThan::new(&SizeOf::new(&aml::Arg(2)), &aml::Arg(1)),
        &invalid,
    );
    let payload = aml::Concat::new(
        &aml::ZERO,
        &Path::new("LARG"),
        &Mid::new(&aml::Arg(2), &aml::ZERO, &aml::Arg(1), &aml::ZERO),
    )
    .to_raw();
    let write = Store::new(&Local(0), &ncal(DSM_FN_SET_LABEL_DATA, &payload)).to_raw();
    let w_reply = return_if(&LessThan::new(&SizeOf::new(&Local(0)), &4u8), &failure);
    let lsw = Method::new(
        Path::new("_LSW"),
        3,
        true,
        vec![
            &w_wide,
            &w_short,
            &larg,
            &write,
            &w_reply,
            &f_stat,
            &Return::new(&lsst(&stat)),
        ],
    )
    .to_raw();
    seq(&[&lsi, &lsr, &lsw])
}

/// Serializes any AML node into [`Raw`] (to keep temporaries alive).
trait ToRaw {
    fn to_raw(&self) -> Raw;
}

impl<T: Aml> ToRaw for T {
    fn to_raw(&self) -> Raw {
        let mut out = Vec::new();
        self.to_aml_bytes(&mut out);
        Raw(out)
    }
}
