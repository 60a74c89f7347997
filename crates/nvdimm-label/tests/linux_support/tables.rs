//! Our ACPI tables for one emulated NVDIMM as Linux boots from them (the guest-platform
//! harness's blob, `acpi_rsdp=`), and the guest memory our label methods use: shared by
//! tests/linux_acpi.rs and the root package's `label_transport` bench.

use std::fs;
use std::path::Path;

use nvdimm_label::aml::{AmlDimm, LabelInterface, SsdtBuilder, Transport};
use nvdimm_label::nfit::{DimmSpec, Nfit, NfitBuilder};

use super::harness::PMEM_SIZE;

/// Guest RAM (scripts/nvdimm-linux.sh's `-m 512M`).
pub(crate) const RAM: u64 = 512 << 20;
/// Guest-physical address of the zero-exit label area (and of the trapping transport's
/// page), inside RAM that `memmap=` reserves: 16 MiB above the ACPI blob
/// (`linux_guest::BLOB_ADDRESS`), away from the top of RAM, where QEMU puts the initrd
/// and SeaBIOS its relocated init code before Linux runs.
pub(crate) const LSA_GPA: u64 = 0x1100_0000;
/// A page on each side of the label area that `memmap=` reserves with it and nothing
/// writes: a write past the area would show there.
pub(crate) const GUARD: u64 = 4096;
/// Where QEMU maps the first NVDIMM (its device-memory region starts at 4 GiB; see
/// tests/data/nfit/README.md).
pub(crate) const PMEM_BASE: u64 = 0x1_0000_0000;

/// How our SSDT offers the labels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Methods {
    /// `_LS*` or the Intel `_DSM`.
    pub(crate) interface: LabelInterface,
    /// Zero-exit, or trapping through a page and port.
    pub(crate) transport: Transport,
    /// The largest transfer the methods offer.
    pub(crate) max_transfer: u32,
}

/// Our NFIT for one DIMM (PMEM_SIZE bytes of pmem at PMEM_BASE, `label_size` bytes of
/// labels), and the ACPI blob with it and our SSDT that Linux boots from.
pub(crate) fn one_dimm(label_size: u32, methods: Methods) -> (Nfit, Vec<u8>) {
    let nfit = NfitBuilder::new()
        .dimm(DimmSpec::new(0, PMEM_BASE, PMEM_SIZE, label_size))
        .build();
    let dimm = AmlDimm {
        handle: NfitBuilder::device_handle(0),
        label_size,
        label_gpa: LSA_GPA,
    };
    let ssdt = SsdtBuilder::new(&[dimm], methods.interface, methods.transport)
        .max_transfer(methods.max_transfer)
        .ssdt()
        .expect("our SSDT builds");
    let nfit_bytes = nfit.emit().expect("our NFIT emits");
    let blob = linux_guest::one_cpu_blob(&[&nfit_bytes, ssdt.as_slice()]).expect("the blob");
    (nfit, blob)
}

/// The QEMU arguments (one per line) and kernel command-line words for the guest memory
/// our methods use: `[LSA_GPA, +label_size)` and a [`GUARD`] page on each side
/// reserved with `memmap=`, and with
/// `zero_exit` the guest's RAM backed by the host file `ram` (created, with `preload`
/// at LSA_GPA), where the host finds the label area.
pub(crate) fn guest_memory(
    ram: &Path,
    label_size: u32,
    zero_exit: bool,
    preload: Option<&[u8]>,
) -> (String, String) {
    let reserved = u64::from(label_size) + 2 * GUARD;
    let cmdline = format!("memmap={reserved}${:#x}", LSA_GPA - GUARD);
    if !zero_exit {
        return (String::new(), cmdline);
    }
    let f = fs::File::create(ram).expect("create the RAM file");
    f.set_len(RAM).expect("size the RAM file");
    if let Some(lsa) = preload {
        std::os::unix::fs::FileExt::write_all_at(&f, lsa, LSA_GPA).expect("preload labels");
    }
    let args = format!(
        "-object\nmemory-backend-file,id=ram0,size={RAM},mem-path={},share=on\n-machine\nmemory-backend=ram0\n",
        ram.display()
    );
    (args, cmdline)
}

/// Whether the [`GUARD`] pages around the label area in the RAM file `ram` are still
/// all zero.
pub(crate) fn guards_untouched(ram: &Path, label_size: u32) -> bool {
    let f = fs::File::open(ram).expect("open the RAM file");
    let mut page = vec![0u8; GUARD as usize];
    [LSA_GPA - GUARD, LSA_GPA + u64::from(label_size)]
        .iter()
        .all(|&at| {
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut page, at).expect("read a guard");
            page.iter().all(|&b| b == 0)
        })
}
