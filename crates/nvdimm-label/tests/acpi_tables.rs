//! The NFIT and the NVDIMM SSDT this crate emits, checked by ACPICA's disassembler:
//! `iasl -d` must accept every table and show the fields we wrote.
//!
//! `iasl` (Debian `acpica-tools`) is a peer: without it these tests skip loudly, or
//! fail under `CI`.
// Test code: a panic is a failure, and the casts are of small test values.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
#![cfg(feature = "acpi")]

use std::process::Command;

use nvdimm_label::aml::{AmlDimm, LabelInterface, QEMU_NVDIMM_IO_PORT, SsdtBuilder, Transport};
use nvdimm_label::methods::DSM_PAGE_MAX_TRANSFER;
use nvdimm_label::nfit::{DimmSpec, Nfit, NfitBuilder};

/// Disassembles `table` with `iasl -d` and returns the `.dsl` text, or `None` when
/// iasl is missing outside CI.
fn iasl_disassemble(name: &str, table: &[u8]) -> Option<String> {
    if Command::new("iasl").arg("-v").output().is_err() {
        peer_skip::missing(
            "acpi_tables",
            "no iasl (acpica-tools; scripts/deps.sh installs it)",
        );
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let dat = dir.path().join(format!("{name}.dat"));
    std::fs::write(&dat, table).expect("write table");
    let out = Command::new("iasl")
        .arg("-d")
        .arg(&dat)
        .current_dir(dir.path())
        .output()
        .expect("run iasl");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "iasl -d {name} failed:\n{text}");
    let dsl = std::fs::read_to_string(dir.path().join(format!("{name}.dsl")))
        .unwrap_or_else(|e| panic!("iasl wrote no {name}.dsl ({e}):\n{text}"));
    assert!(
        !text.contains("Error") && !dsl.contains("**** Unknown"),
        "iasl complained about {name}:\n{text}\n{dsl}"
    );
    Some(dsl)
}

fn two_dimms() -> NfitBuilder {
    NfitBuilder::new()
        .dimm(DimmSpec::new(0, 0x1_0000_0000, 1 << 30, 128 << 10))
        .dimm(DimmSpec {
            proximity_domain: 1,
            unarmed: true,
            ..DimmSpec::new(1, 0x1_4000_0000, 512 << 20, 128 << 10)
        })
}

#[test]
fn iasl_accepts_builder_nfit() {
    let nfit = two_dimms().build();
    let bytes = nfit.emit().expect("emit");
    assert_eq!(Nfit::parse(&bytes), Ok(nfit));
    let Some(dsl) = iasl_disassemble("nfit", &bytes) else {
        return;
    };
    assert!(dsl.contains("[NFIT]"), "{dsl}");
    // iasl prints the range GUID and the values we put in.
    assert!(
        dsl.contains("66F0D379-B4F3-4074-AC43-0D3318B78CDB"),
        "{dsl}"
    );
    assert!(dsl.contains("0000000100000000"), "{dsl}"); // DIMM 0 base
    assert!(dsl.contains("0000000040000000"), "{dsl}"); // DIMM 0 length
    assert!(dsl.contains("00123457"), "{dsl}"); // DIMM 1 serial
    assert_eq!(dsl.matches("Subtable Type : 0004").count(), 2, "{dsl}");
}

#[test]
fn sdt_matches_emit() {
    let nfit = two_dimms().build();
    let sdt = nfit.to_sdt().expect("sdt");
    assert_eq!(sdt.as_slice(), nfit.emit().expect("emit").as_slice());
}

fn dimms() -> [AmlDimm; 2] {
    [
        AmlDimm {
            handle: 1,
            label_size: 128 << 10,
            label_gpa: 0xfe00_0000,
        },
        AmlDimm {
            handle: 2,
            label_size: 128 << 10,
            label_gpa: 0xfe02_0000,
        },
    ]
}

fn ssdt(interface: LabelInterface, transport: Transport) -> Vec<u8> {
    SsdtBuilder::new(&dimms(), interface, transport)
        .ssdt()
        .expect("ssdt")
        .as_slice()
        .to_vec()
}

const TRAPPING: Transport = Transport::Trapping {
    page: 0xfebf_f000,
    port: QEMU_NVDIMM_IO_PORT,
};

#[test]
fn iasl_accepts_every_ssdt_shape() {
    for (name, interface, transport) in [
        ("zx_dsm", LabelInterface::IntelDsm, Transport::ZeroExit),
        ("zx_ls", LabelInterface::LabelMethods, Transport::ZeroExit),
        ("tr_dsm", LabelInterface::IntelDsm, TRAPPING),
        ("tr_ls", LabelInterface::LabelMethods, TRAPPING),
    ] {
        let table = ssdt(interface, transport);
        assert_eq!(table.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
        let Some(dsl) = iasl_disassemble(name, &table) else {
            return;
        };
        assert!(dsl.contains("\"ACPI0012\""), "{name}:\n{dsl}");
        assert!(
            dsl.contains("Device (NV00)") && dsl.contains("Device (NV01)"),
            "{name}"
        );
        assert!(dsl.contains("Name (_ADR, 0x02)"), "{name}:\n{dsl}");
        let has_ls = dsl.contains("Method (_LSI") && dsl.contains("Method (_LSW");
        assert_eq!(has_ls, interface == LabelInterface::LabelMethods, "{name}");
        match interface {
            LabelInterface::IntelDsm => assert!(
                dsl.contains("4309ac30-0d11-11e4-9191-0800200c9a66"),
                "{name}:\n{dsl}"
            ),
            LabelInterface::LabelMethods => assert!(
                dsl.contains("1ee68b36-d4bd-4a1a-9a16-4f8e53d46e05"),
                "{name}:\n{dsl}"
            ),
        }
        if transport == TRAPPING {
            assert!(dsl.contains("SystemIO, 0x0A18, 0x04"), "{name}:\n{dsl}");
        } else {
            assert!(dsl.contains("0xFE020000"), "{name}:\n{dsl}");
        }
    }
}

#[test]
fn ssdt_refuses_what_the_aml_cannot_serve() {
    use nvdimm_label::aml::AmlError;
    let high = [AmlDimm {
        label_gpa: 0x1_0000_0000,
        ..dimms()[0]
    }];
    let b = SsdtBuilder::new(&high, LabelInterface::IntelDsm, Transport::ZeroExit);
    assert_eq!(b.aml().err(), Some(AmlError::WideAddress(0x1_0000_0000)));
    assert!(b.wide_integers(true).aml().is_ok());
    let b = SsdtBuilder::new(&dimms(), LabelInterface::IntelDsm, TRAPPING);
    assert!(matches!(
        b.max_transfer(DSM_PAGE_MAX_TRANSFER + 1).aml(),
        Err(AmlError::BadMaxTransfer { .. })
    ));
    let unaligned = Transport::Trapping {
        page: 0xfebf_f800,
        port: QEMU_NVDIMM_IO_PORT,
    };
    let b = SsdtBuilder::new(&dimms(), LabelInterface::IntelDsm, unaligned);
    assert_eq!(b.aml().err(), Some(AmlError::UnalignedPage(0xfebf_f800)));
}

#[test]
fn iasl_reads_qemus_tables_like_ours() {
    // The same helper on QEMU's own tables (tests/data/nfit/README.md): QEMU 10's SSDT
    // wraps its `_DSM` page protocol in `_LSI`/`_LSR`/`_LSW`.
    let Some(nfit) = iasl_disassemble("qnfit", include_bytes!("data/nfit/qemu10-2dimm.nfit"))
    else {
        return;
    };
    assert!(nfit.contains("66F0D379-B4F3-4074-AC43-0D3318B78CDB"));
    let ssdt = iasl_disassemble("qssdt", include_bytes!("data/nfit/qemu10-2dimm.ssdt"))
        .expect("iasl present");
    assert!(ssdt.contains("Method (_LSR, 2, Serialized)"), "{ssdt}");
    assert!(ssdt.contains("SystemIO, 0x0A18, 0x04"), "{ssdt}");
}
