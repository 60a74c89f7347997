// SPDX-License-Identifier: Apache-2.0 OR MIT
//! Linux booted under QEMU (TCG) from the ACPI tables `x2apic-virt` builds, through
//! `scripts/linux-guest.sh`.
//!
//! A [`Shape`] is a CPU topology with some CPUs present and the rest hot-plug slots,
//! optionally one NUMA node per socket. For it this module builds the QEMU arguments
//! (QEMU is the topology peer: it places the CPUs by socket/core/thread, we compute
//! the APIC IDs with `Plan`), and the 64 KiB ACPI blob Linux boots from: an RSDP (v2),
//! an XSDT, a FADT with FACS and an empty DSDT from `acpi_tables`, and our MADT, SRAT and
//! DMAR. [`boot`] runs the guest and reads back what Linux saw; [`replay`] runs QEMU's
//! `vtd_ir_*` trace of the boot through our remapping model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use acpi_tables::Aml;
use acpi_tables::fadt::{FADTBuilder, Flags};
use acpi_tables::gas::{AccessSize, AddressSpace, GAS};
use acpi_tables::sdt::Sdt;
use x2apic_virt::acpi::dmar::Dmar;
use x2apic_virt::acpi::madt::Madt;
use x2apic_virt::acpi::srat::Srat;
use x2apic_virt::acpi::{Header, Machine, MemoryRange, Slots};
use x2apic_virt::policy::{IdScheme, Plan, Topology};
use x2apic_virt::remap::{self, Config, Outcome, Remapper, Request};

/// Where the harness loads the blob (`scripts/linux-guest.sh`, `ACPI_ADDR`).
pub const BLOB_ADDRESS: u64 = 0x1000_0000;
/// The blob's size (the `memmap=64K$...` reservation).
pub const BLOB_SIZE: usize = 64 * 1024;
/// The requester ID of q35's IOAPIC (QEMU `Q35_PSEUDO_BUS_PLATFORM` 0xFF,
/// `Q35_PSEUDO_DEVFN_IOAPIC` 0), which our DMAR gives it.
pub const IOAPIC_SOURCE_ID: u16 = x2apic_virt::acpi::Q35_IOAPIC.source_id;
/// Guest RAM in MiB.
pub const MEMORY_MIB: u64 = 512;

/// What can go wrong booting a guest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The harness cannot run here (no QEMU, kernel or busybox).
    #[error("SKIPPED: {0}")]
    Skipped(String),
    /// The guest did not finish; the console log is in the work directory.
    #[error("the guest did not finish (see {0})")]
    GuestFailed(PathBuf),
    /// Reading or writing the work directory.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The tables cannot describe the shape.
    #[error("ACPI: {0}")]
    Acpi(#[from] x2apic_virt::acpi::Error),
    /// The plan cannot be made.
    #[error("plan: {0}")]
    Plan(#[from] x2apic_virt::Error),
    /// The tables do not fit the 64 KiB blob.
    #[error("the ACPI tables need {0} bytes; the blob has 64 KiB")]
    BlobTooLarge(usize),
}

/// A CPU topology, which of its CPUs are present, and whether each socket is a NUMA
/// node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// A short name for reports.
    pub name: String,
    /// Sockets, dies, modules, cores, threads (every possible CPU).
    pub topology: Topology,
    /// Present CPU indexes (QEMU's CPU index order = our vCPU index order).
    pub present: Vec<u32>,
    /// One NUMA node per socket.
    pub numa: bool,
}

/// The two shapes the tests boot and the `linux_boot` benchmark times:
///
/// - `dense_numa`: two sockets of two dies of one core, all present, one NUMA node per
///   socket (MADT + SRAT + DMAR);
/// - `sparse_256`: two sockets of 256 cores with only CPUs 0 and 256 present, so one
///   APIC ID is 256 and 510 CPUs are hot-plug slots (MADT + DMAR).
pub fn shapes() -> [Shape; 2] {
    let topology = |sockets, dies, cores| Topology {
        threads: 1,
        cores,
        modules: 1,
        dies,
        sockets,
    };
    [
        Shape {
            name: "dense_numa".into(),
            topology: topology(2, 2, 1),
            present: (0..4).collect(),
            numa: true,
        },
        Shape {
            name: "sparse_256".into(),
            topology: topology(2, 1, 256),
            present: vec![0, 256],
            numa: false,
        },
    ]
}

/// Which tables Linux boots from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    /// Ours, from the blob.
    Ours,
    /// Ours with the hot-plug slots listed as QEMU lists them ([`Slots::Disabled`]):
    /// Linux sets up per-CPU state for the present CPUs only (and cannot hot-add the
    /// others). For measuring what Online Capable slots cost a boot.
    OursWithoutSlots,
    /// QEMU's (SeaBIOS installs them).
    Qemu,
}

impl Shape {
    /// The number of possible CPUs.
    pub fn possible(&self) -> u32 {
        let t = self.topology;
        t.sockets * t.dies * t.modules * t.cores * t.threads
    }

    /// The plan for every possible CPU.
    pub fn plan(&self) -> Result<Plan, Error> {
        Ok(Plan::new(
            self.possible(),
            IdScheme::Topology(self.topology),
        )?)
    }

    /// The machine our tables describe: QEMU q35 with this shape's present CPUs, and
    /// with NUMA one node per socket with an equal share of RAM.
    pub fn machine(&self, plan: &Plan) -> Machine {
        let mut m = Machine::q35(plan);
        m.present.clone_from(&self.present);
        if self.numa {
            let per_socket = self.possible() / self.topology.sockets;
            m.cpu_nodes = (0..self.possible()).map(|v| v / per_socket).collect();
            let share = (MEMORY_MIB << 20) / u64::from(self.topology.sockets);
            m.memory = (0..self.topology.sockets)
                .map(|node| MemoryRange {
                    base: u64::from(node) * share,
                    length: share,
                    node,
                    hotpluggable: false,
                    nonvolatile: false,
                })
                .collect();
        }
        m
    }

    /// QEMU's (socket, die, module, core, thread) of CPU index `i`.
    fn place(&self, i: u32) -> [u32; 5] {
        let t = self.topology;
        [
            i / (t.threads * t.cores * t.modules * t.dies),
            i / (t.threads * t.cores * t.modules) % t.dies,
            i / (t.threads * t.cores) % t.modules,
            i / t.threads % t.cores,
            i % t.threads,
        ]
    }

    /// The QEMU arguments for this shape (machine, CPUs, IOMMU, NUMA). The CPU model is
    /// `qemu64` with x2APIC (AMD's vendor string, so no CPUID leaf 0x1F: QEMU 10.0.2
    /// aborts in `encode_topo_cpuid1f`, "count <= CPU_TOPOLOGY_LEVEL_SOCKET", for every
    /// Intel-vendor model with dies or modules under TCG).
    pub fn qemu_args(&self) -> Vec<String> {
        let t = self.topology;
        // The first CPUs come from -smp, as many as form a prefix of `present`; the
        // others are -device'd at their place.
        let mut sorted = self.present.clone();
        sorted.sort_unstable();
        let initial = sorted
            .iter()
            .zip(0..)
            .take_while(|(p, i)| **p == *i)
            .count();
        let mut a: Vec<String> = [
            "-machine",
            "q35,kernel-irqchip=off",
            "-cpu",
            "qemu64,+x2apic",
            "-device",
            "intel-iommu,intremap=on,eim=on",
            "-smp",
        ]
        .map(String::from)
        .to_vec();
        a.push(format!(
            "{initial},maxcpus={},sockets={},dies={},modules={},cores={},threads={}",
            self.possible(),
            t.sockets,
            t.dies,
            t.modules,
            t.cores,
            t.threads
        ));
        for &cpu in &sorted[initial..] {
            let [socket, die, module, core, thread] = self.place(cpu);
            a.push("-device".into());
            a.push(format!(
                "qemu64-x86_64-cpu,socket-id={socket},die-id={die},module-id={module},core-id={core},thread-id={thread}"
            ));
        }
        if self.numa {
            let share = MEMORY_MIB / u64::from(t.sockets);
            for n in 0..t.sockets {
                a.extend([
                    "-object".into(),
                    format!("memory-backend-ram,id=m{n},size={share}M"),
                    "-numa".into(),
                    format!("node,nodeid={n},memdev=m{n}"),
                    "-numa".into(),
                    format!("cpu,node-id={n},socket-id={n}"),
                ]);
            }
        }
        a
    }
}

/// The 64 KiB blob: RSDP at 0, then XSDT, FACS, FADT, DSDT, MADT, SRAT (with NUMA),
/// DMAR and the `extra` tables (whole tables, e.g. an NFIT and an SSDT), each 64-byte
/// aligned, at [`BLOB_ADDRESS`]; the XSDT lists all but the FACS and DSDT.
pub fn acpi_blob(plan: &Plan, machine: &Machine, extra: &[&[u8]]) -> Result<Vec<u8>, Error> {
    let oem = machine.oem;
    let mut tables: Vec<Vec<u8>> = vec![Madt::for_plan(plan, machine)?.emit()?];
    if let Some(srat) = Srat::for_plan(plan, machine)? {
        tables.push(srat.emit()?);
    }
    if let Some(dmar) = Dmar::for_plan(plan, machine)? {
        tables.push(dmar.emit()?);
    }
    tables.extend(extra.iter().map(|t| t.to_vec()));
    let mut blob = vec![0u8; BLOB_SIZE];
    let mut at = 0x40usize;
    let mut place = |bytes: &[u8], blob: &mut Vec<u8>| -> Result<u64, Error> {
        let start = at;
        let end = start + bytes.len();
        blob.get_mut(start..end)
            .ok_or(Error::BlobTooLarge(end))?
            .copy_from_slice(bytes);
        at = end.next_multiple_of(64);
        Ok(BLOB_ADDRESS + start as u64)
    };
    // The XSDT goes first; its entries are known once every table is placed, so it is
    // written last into a slot sized for them.
    let xsdt_slot = place(&vec![0u8; 36 + 8 * (2 + tables.len())], &mut blob)?;
    let facs = place(
        acpi_tables::facs::FACS::new().as_bytes_vec().as_slice(),
        &mut blob,
    )?;
    let dsdt = Sdt::new(
        *b"DSDT",
        36,
        2,
        oem.oem_id,
        oem.oem_table_id,
        oem.oem_revision,
    );
    let dsdt = place(dsdt.as_slice(), &mut blob)?;
    let fadt = place(&fadt(oem, facs, dsdt), &mut blob)?;
    let mut xsdt = acpi_tables::xsdt::XSDT::new(oem.oem_id, oem.oem_table_id, oem.oem_revision);
    xsdt.add_entry(fadt);
    for t in &tables {
        xsdt.add_entry(place(t, &mut blob)?);
    }
    let mut xsdt_bytes = Vec::new();
    xsdt.to_aml_bytes(&mut xsdt_bytes);
    let x = usize::try_from(xsdt_slot - BLOB_ADDRESS).unwrap_or(usize::MAX);
    blob.get_mut(x..x + xsdt_bytes.len())
        .ok_or(Error::BlobTooLarge(x + xsdt_bytes.len()))?
        .copy_from_slice(&xsdt_bytes);
    let mut rsdp = Vec::new();
    acpi_tables::rsdp::Rsdp::new(oem.oem_id, xsdt_slot).to_aml_bytes(&mut rsdp);
    blob.get_mut(..rsdp.len())
        .ok_or(Error::BlobTooLarge(rsdp.len()))?
        .copy_from_slice(&rsdp);
    Ok(blob)
}

/// The blob for one CPU on q35 without a remapping unit (so no DMAR), plus `extra`
/// tables: for guests whose tests are about other tables, such as an NVDIMM's NFIT and
/// the SSDT with its devices.
pub fn one_cpu_blob(extra: &[&[u8]]) -> Result<Vec<u8>, Error> {
    let shape = Shape {
        name: "one_cpu".into(),
        topology: Topology {
            threads: 1,
            cores: 1,
            modules: 1,
            dies: 1,
            sockets: 1,
        },
        present: vec![0],
        numa: false,
    };
    let plan = shape.plan()?;
    let mut machine = shape.machine(&plan);
    machine.iommu = None;
    acpi_blob(&plan, &machine, extra)
}

trait AsBytesVec {
    fn as_bytes_vec(&self) -> Vec<u8>;
}

impl<T: Aml> AsBytesVec for T {
    fn as_bytes_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.to_aml_bytes(&mut v);
        v
    }
}

/// A FADT (revision 6.5, from `acpi_tables`) describing QEMU q35's ICH9 power
/// management block as SeaBIOS programs it: SCI 9, SMI command port 0xB2 (enable 2,
/// disable 3), PM1a event/control at 0x600/0x604, the PM timer at 0x608, GPE0 at 0x620
/// (16 bytes), reset through 0xCF9 with 0x0F (QEMU `hw/i386/acpi-build.c`,
/// `build_fadt` inputs for q35, `hw/isa/lpc_ich9.c`).
fn fadt(oem: Header, facs: u64, dsdt: u64) -> Vec<u8> {
    let mut f = FADTBuilder::new(oem.oem_id, oem.oem_table_id, oem.oem_revision)
        .dsdt_64(dsdt)
        .firmware_ctrl_64(facs)
        .flag(Flags::Wbinvd)
        .flag(Flags::ProcC1)
        .flag(Flags::SlpButton)
        .flag(Flags::RtcS4)
        .flag(Flags::TmrValExt)
        .flag(Flags::ResetRegSup)
        .flag(Flags::ForceApicPhysicalDestinationMode);
    f.sci_int = 9.into();
    f.smi_cmd = 0xB2.into();
    f.acpi_enable = 2;
    f.acpi_disable = 3;
    f.pm1a_evt_blk = 0x600.into();
    f.pm1a_cnt_blk = 0x604.into();
    f.pm_tmr_blk = 0x608.into();
    f.gpe0_blk = 0x620.into();
    f.pm1_evt_len = 4;
    f.pm1_cnt_len = 2;
    f.pm_tmr_len = 4;
    f.gpe0_blk_len = 16;
    f.p_lvl2_lat = 0xFFF.into();
    f.p_lvl3_lat = 0xFFF.into();
    f.reset_reg = GAS::new(AddressSpace::SystemIo, 8, 0, AccessSize::Undefined, 0xCF9);
    f.reset_value = 0xF;
    f.finalize().as_bytes_vec()
}

/// What Linux saw in one boot.
#[derive(Debug, Clone, Default)]
pub struct Boot {
    /// QEMU's wall time, seconds.
    pub wall_seconds: f64,
    /// The guest's uptime when its script finished, seconds.
    pub uptime: f64,
    /// `nproc`.
    pub online: u32,
    /// `/sys/devices/system/cpu/possible`.
    pub possible: String,
    /// `apicid` of every online CPU in `/proc/cpuinfo` order.
    pub apic_ids: Vec<u32>,
    /// Per online CPU: (apicid, package id, core id) from sysfs.
    pub topology: Vec<(u32, u32, u32)>,
    /// CPUID of each online CPU as the guest reads it through `/dev/cpu/N/cpuid`:
    /// `(cpu, leaf, sub-leaf, [eax, ebx, ecx, edx])` for leaf 0, leaf 0xB sub-leaves
    /// 0..=2 and leaf 0x1F sub-leaves 0..=3.
    pub cpuid: Vec<(u32, u32, u32, [u32; 4])>,
    /// The tables Linux used, by signature (`/sys/firmware/acpi/tables`).
    pub tables: BTreeMap<String, Vec<u8>>,
    /// `dmesg`.
    pub dmesg: String,
    /// QEMU's `vtd_ir_*` trace, when asked for.
    pub trace: Option<String>,
}

const GUEST_SCRIPT: &str = r#"nproc > /out/nproc
cat /sys/devices/system/cpu/possible > /out/possible
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  [ -d $c/topology ] || continue
  n=${c##*cpu}
  echo "$n $(cat $c/topology/physical_package_id) $(cat $c/topology/core_id)" >> /out/topology
  for ls in 0:0 11:0 11:1 11:2 31:0 31:1 31:2 31:3; do
    l=${ls%:*} s=${ls#*:}
    echo "$n $l $s $(dd if=/dev/cpu/$n/cpuid bs=16 count=1 iflag=skip_bytes skip=$((l + (s << 32))) 2>/dev/null | od -An -tx4)" >> /out/cpuid
  done
done
grep '^apicid' /proc/cpuinfo | sed 's/.*: //' > /out/apicids
for t in APIC SRAT DMAR FACP; do
  [ -f /sys/firmware/acpi/tables/$t ] && od -An -v -tx1 /sys/firmware/acpi/tables/$t > /out/$t.hex
done
true
"#;

fn hex_bytes(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
}

fn parse_u32s(text: &str, radix: u32) -> Vec<u32> {
    text.split_whitespace()
        .filter_map(|w| u32::from_str_radix(w, radix).ok())
        .collect()
}

/// Boots `shape` from `tables` in `work` (created, emptied of earlier outputs), with
/// QEMU's `vtd_ir_*` trace when `trace` is set.
pub fn boot(work: &Path, shape: &Shape, tables: Tables, trace: bool) -> Result<Boot, Error> {
    std::fs::create_dir_all(work)?;
    let plan = shape.plan()?;
    let mut machine = shape.machine(&plan);
    if tables == Tables::OursWithoutSlots {
        machine.slots = Slots::Disabled;
    }
    let blob = work.join("acpi.bin");
    match tables {
        Tables::Ours | Tables::OursWithoutSlots => {
            std::fs::write(&blob, acpi_blob(&plan, &machine, &[])?)?;
        }
        Tables::Qemu => {
            if blob.exists() {
                std::fs::remove_file(&blob)?;
            }
        }
    }
    let mut args = shape.qemu_args();
    let trace_file = work.join("trace.log");
    if trace {
        args.extend(["-trace".into(), "vtd_ir_*".into(), "-D".into()]);
        args.push(trace_file.display().to_string());
    } else if trace_file.exists() {
        std::fs::remove_file(&trace_file)?;
    }
    std::fs::write(work.join("qemu.args"), args.join("\n") + "\n")?;
    std::fs::write(work.join("guest.sh"), GUEST_SCRIPT)?;
    std::fs::write(work.join("modules"), "cpuid\n")?;
    let script = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/linux-guest.sh"
    ));
    let out = Command::new("bash")
        .arg(script)
        .arg("run")
        .arg(work)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77) {
        let reason = stderr
            .lines()
            .find_map(|l| l.strip_prefix("SKIPPED: "))
            .unwrap_or("linux-guest.sh skipped");
        return Err(Error::Skipped(reason.to_string()));
    }
    if !out.status.success() {
        return Err(Error::GuestFailed(work.join("console.log")));
    }
    let read = |name: &str| std::fs::read_to_string(work.join("out").join(name));
    let number = |s: String| s.trim().parse::<f64>().unwrap_or(f64::NAN);
    let mut boot = Boot {
        wall_seconds: number(std::fs::read_to_string(work.join("wall-seconds"))?),
        uptime: number(read("uptime")?),
        online: parse_u32s(&read("nproc")?, 10)
            .first()
            .copied()
            .unwrap_or(0),
        possible: read("possible")?.trim().to_string(),
        apic_ids: parse_u32s(&read("apicids")?, 10),
        dmesg: read("dmesg.log")?,
        trace: if trace {
            Some(std::fs::read_to_string(&trace_file)?)
        } else {
            None
        },
        ..Boot::default()
    };
    let ids = boot.apic_ids.clone();
    for line in read("topology")?.lines() {
        if let [cpu, pkg, core] = parse_u32s(line, 10)[..] {
            let id = ids.get(cpu as usize).copied().unwrap_or(u32::MAX);
            boot.topology.push((id, pkg, core));
        }
    }
    for line in read("cpuid")?.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [cpu, leaf, sub, regs @ ..] = words.as_slice() {
            let r = parse_u32s(&regs.join(" "), 16);
            if let (Ok(cpu), Ok(leaf), Ok(sub), Ok(regs)) = (
                cpu.parse(),
                leaf.parse(),
                sub.parse(),
                <[u32; 4]>::try_from(r),
            ) {
                boot.cpuid.push((cpu, leaf, sub, regs));
            }
        }
    }
    for sig in ["APIC", "SRAT", "DMAR", "FACP"] {
        if let Ok(text) = read(&format!("{sig}.hex")) {
            boot.tables.insert(sig.to_string(), hex_bytes(&text));
        }
    }
    Ok(boot)
}

/// The outcome of replaying a trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// `vtd_ir_irte_get` lines (entries QEMU read).
    pub irte_reads: usize,
    /// Remapped MSIs compared (`vtd_ir_remap_msi` with a remappable input).
    pub msis: usize,
    /// Of those, how many our model translated to QEMU's output.
    pub agreeing: usize,
    /// Up to ten disagreements, described.
    pub disagreements: Vec<String>,
    /// The distinct (index, entry) pairs QEMU read.
    pub entries: Vec<(u32, u128)>,
}

fn hex_after(line: &str, key: &str) -> Option<u64> {
    let rest = line.split(key).nth(1)?;
    let word: String = rest
        .trim_start()
        .trim_start_matches("0x")
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    u64::from_str_radix(&word, 16).ok()
}

/// The compatibility-format MSI QEMU emits for a remapped interrupt
/// (`hw/i386/intel_iommu.c` `vtd_generate_msi`): destination bits 7:0 in address bits
/// 19:12, bits 31:8 in address bits 63:40, RH bit 3, DM bit 2; data vector, delivery
/// mode 10:8, level-assert bit 14 always set, trigger mode bit 15.
pub fn qemu_msi(i: &remap::Interrupt, delivery_mode: u8) -> (u64, u32) {
    let addr = 0xFEE0_0000
        | u64::from(i.dest & 0xFF) << 12
        | u64::from(i.dest >> 8) << 40
        | u64::from(i.redirection_hint) << 3
        | u64::from(i.logical) << 2;
    let data = u32::from(i.vector)
        | u32::from(delivery_mode & 7) << 8
        | 1 << 14
        | u32::from(i.level_triggered) << 15;
    (addr, data)
}

/// Replays QEMU's `vtd_ir_*` trace: for every remapped MSI, the entry QEMU logged
/// reading (`vtd_ir_irte_get index I low HI high LO`: QEMU prints the entry's upper
/// quadword first) goes into a table, and our [`Remapper`] (x2APIC mode when `eim`)
/// translates QEMU's input; its result must be QEMU's output. `source_id` is the
/// requester ID of the IOAPIC, whose messages QEMU remaps (all of a boot's interrupts
/// through the IOMMU come from it here).
pub fn replay(trace: &str, eim: bool, source_id: u16) -> Replay {
    let mut r = Replay::default();
    let mut table: BTreeMap<u32, u128> = BTreeMap::new();
    let config = Config {
        enabled: true,
        eim,
        size_field: 0xF,
        compat_allowed: true,
    };
    for line in trace.lines() {
        if line.starts_with("vtd_ir_irte_get ") {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (Some(index), Some(hi), Some(lo)) = (
                words.get(2).and_then(|w| w.parse::<u32>().ok()),
                hex_after(line, " low "),
                hex_after(line, " high "),
            ) else {
                continue;
            };
            let raw = u128::from(hi) << 64 | u128::from(lo);
            if table.insert(index, raw) != Some(raw) {
                r.entries.push((index, raw));
            }
            r.irte_reads += 1;
        } else if line.starts_with("vtd_ir_remap_msi (") {
            let nums: Vec<u64> = line
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter_map(|w| w.strip_prefix("0x"))
                .filter_map(|w| u64::from_str_radix(w, 16).ok())
                .collect();
            let [addr, data, out_addr, out_data] = nums[..] else {
                continue;
            };
            if addr & (1 << 4) == 0 {
                continue; // compatibility format: QEMU passes it on
            }
            r.msis += 1;
            // A fresh unit per message: the trace shows QEMU's reads, not its cache.
            let mut unit = Remapper::new(config);
            let read = |i: u32| table.get(&i).copied();
            let request = Request::Msi {
                address: addr,
                data: u32::try_from(data).unwrap_or(u32::MAX),
            };
            let ours = match unit.translate(&read, request, source_id) {
                Ok(Outcome::Remapped {
                    irte, interrupt, ..
                }) => Some(qemu_msi(&interrupt, irte.delivery_mode)),
                _ => None,
            };
            if ours == Some((out_addr, u32::try_from(out_data).unwrap_or(u32::MAX))) {
                r.agreeing += 1;
            } else if r.disagreements.len() < 10 {
                r.disagreements.push(format!(
                    "{addr:#x}/{data:#x}: QEMU {out_addr:#x}/{out_data:#x}, ours {ours:x?}"
                ));
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sparse() -> Shape {
        shapes()[1].clone()
    }

    #[test]
    fn blob_holds_every_table() {
        let shape = sparse();
        let plan = shape.plan().expect("plan");
        let blob = acpi_blob(&plan, &shape.machine(&plan), &[]).expect("blob");
        assert_eq!(&blob[..8], b"RSD PTR ");
        let sum = |b: &[u8]| b.iter().fold(0u8, |a, &x| a.wrapping_add(x));
        assert_eq!((sum(&blob[..20]), sum(&blob[..36])), (0, 0));
        let at = |addr: u64| usize::try_from(addr - BLOB_ADDRESS).expect("in blob");
        let xsdt = at(u64::from_le_bytes(blob[24..32].try_into().expect("8")));
        let len = u32::from_le_bytes(blob[xsdt + 4..xsdt + 8].try_into().expect("4")) as usize;
        let sigs: Vec<&[u8]> = blob[xsdt + 36..xsdt + len]
            .chunks(8)
            .map(|e| at(u64::from_le_bytes(e.try_into().expect("8"))))
            .map(|t| &blob[t..t + 4])
            .collect();
        assert_eq!(sigs, [b"FACP", b"APIC", b"DMAR"]);
        let madt = at(u64::from_le_bytes(
            blob[xsdt + 44..xsdt + 52].try_into().expect("8"),
        ));
        let parsed = Madt::parse(&blob[madt..]).expect("MADT");
        assert_eq!(parsed.processors().filter(|p| p.2 == 1).count(), 2);
    }

    #[test]
    fn qemu_places_the_second_cpu() {
        let args = sparse().qemu_args().join(" ");
        assert!(args.contains("-smp 1,maxcpus=512,sockets=2,dies=1,modules=1,cores=256,threads=1"));
        assert!(args.contains(
            "-device qemu64-x86_64-cpu,socket-id=1,die-id=0,module-id=0,core-id=0,thread-id=0"
        ));
    }

    /// Lines from a real `-trace 'vtd_ir_*'` of the sparse boot (QEMU 10.0.2).
    #[test]
    fn replay_agrees_with_logged_lines() {
        let trace = "vtd_ir_remap_msi_req addr 0xfee00170 data 0xc\n\
                     vtd_ir_irte_get index 11 low 0x4ff00 high 0x1000010021000d\n\
                     vtd_ir_remap_msi (addr 0xfee00170, data 0xc) -> (addr 0x100000fee0100c, data 0x4021)\n\
                     vtd_ir_irte_get index 1 low 0x4ff00 high 0x10030000d\n\
                     vtd_ir_remap_msi (addr 0xfee00030, data 0x2) -> (addr 0xfee0100c, data 0x4030)\n\
                     vtd_ir_remap_msi (addr 0xfee00000, data 0x0) -> (addr 0xfee00000, data 0x0)\n";
        let r = replay(trace, true, IOAPIC_SOURCE_ID);
        assert_eq!((r.irte_reads, r.msis, r.agreeing), (2, 2, 2), "{r:?}");
        assert_eq!(r.entries.len(), 2);
        // A different logged output is a disagreement.
        let wrong = trace.replace("data 0x4030)", "data 0x4031)");
        assert_eq!(replay(&wrong, true, IOAPIC_SOURCE_ID).agreeing, 1);
    }
}
