// SPDX-License-Identifier: Apache-2.0 OR MIT
//! ioreq_pages: an emulator thread and a device-model thread passing requests for N
//! vCPUs through multi-page shared memory, as Xen and a device model do.
//!
//! The shared area is a file mapped with memmap2, laid out as an ioreq server's resource
//! frames: frame 0 the buffered ring, frames 1.. the synchronous pages (128 slots each).
//! Each round, the emulator posts one request per vCPU (PIO reads, MMIO writes, rep MMIO
//! reads through a RAM buffer, PCI-config reads, in turn) and queues one buffered write;
//! the device model, woken through a `Notify` channel, takes and completes each request.
//! Every response is checked against what the device model must have computed, and every
//! buffered write must arrive once, in order.
//!
//! Run: `cargo run --release --example ioreq_pages -- --help`

use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use ioreq::{
    BufRequest, BufferedPage, BufferedRing, Canonicalise, DeviceModel, Direction, Emulator,
    IoreqPage, PageLayout, PciConfigAddress, Request, RequestType, State, SyncPages,
};
use kvm_harness::report;
use memmap2::MmapMut;

const USAGE: &str = "\
usage: ioreq_pages [--vcpus N] [--rounds R]

Passes R rounds (default 200) of one request per vCPU for N vCPUs (default 288) from an
emulator thread to a device-model thread through an ioreq server's pages in a memmap2
file, plus one buffered write per round. Exits non-zero on any wrong, lost or duplicated
response.";

struct Args {
    vcpus: u32,
    rounds: u32,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        vcpus: 288,
        rounds: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u32, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match flag.as_str() {
            "--vcpus" => args.vcpus = value("--vcpus")?,
            "--rounds" => args.rounds = value("--rounds")?,
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some(args))
}

/// The request the emulator posts for `vcpu` in `round`.
fn request_for(vcpu: u32, round: u32) -> Request {
    let base = Request {
        vp_eport: vcpu,
        ..Request::pio(Direction::Read, 0, 4, 0)
    };
    let tag = u64::from(round) << 32 | u64::from(vcpu);
    match (vcpu + round) % 4 {
        0 => Request {
            addr: 0x1000 + u64::from(vcpu % 0x1000),
            ..base
        },
        1 => Request {
            vp_eport: vcpu,
            ..Request::mmio(Direction::Write, 0xfe00_0000 + u64::from(vcpu) * 8, 8, tag)
        },
        2 => Request {
            kind: RequestType::Mmio,
            addr: 0xfd00_0000,
            data: 0x10_0000 + u64::from(vcpu) * 0x100,
            data_is_ptr: true,
            count: 16,
            size: 4,
            df: round % 2 == 1,
            ..base
        },
        _ => {
            let pci = PciConfigAddress {
                segment: 0,
                bus: 0,
                device: (vcpu % 32) as u8,
                function: 0,
                register: 0,
            };
            Request {
                vp_eport: vcpu,
                ..Request::pci_config(Direction::Read, pci, 4, 0)
            }
        }
    }
}

/// What the device model answers: a function of the request alone, so the emulator can
/// check it. For rep accesses through RAM, the sum of the element addresses it visited.
fn response_to(r: &Request) -> u64 {
    match r.kind {
        RequestType::Pio => r.addr.rotate_left(13) ^ 0xfeed,
        RequestType::PciConfig => {
            0x8086_0000 | u64::from(r.pci_config_address().map_or(0, |p| p.device))
        }
        _ if r.data_is_ptr => r
            .elements()
            .map(|e| e.device_addr ^ e.ram_addr.unwrap_or(0))
            .sum(),
        _ => r.data,
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let layout = PageLayout::new(args.vcpus).map_err(|e| e.to_string())?;
    let frames = layout.resource_frames() as usize;
    let file = tempfile::tempfile().map_err(|e| format!("temp file: {e}"))?;
    file.set_len((frames * ioreq::layout::PAGE_SIZE) as u64)
        .map_err(|e| e.to_string())?;
    // SAFETY (memmap2's contract): the file is a private temporary that nothing else
    // opens, truncates or maps while `map` lives.
    let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| format!("mmap: {e}"))?;
    let (buffered_bytes, sync_bytes) = map.split_at_mut(ioreq::layout::PAGE_SIZE);
    let buffered = BufferedPage::from_bytes(buffered_bytes, 1).map_err(|e| e.to_string())?;
    let sync = IoreqPage::from_bytes(sync_bytes, layout.sync_pages() as usize)
        .map_err(|e| e.to_string())?;
    let pages = SyncPages::contiguous(layout, sync).map_err(|e| e.to_string())?;
    let ring = BufferedRing::new(&buffered[0]);
    println!(
        "ioreq_pages: {} vCPUs -> {} sync page(s) + 1 buffered page = {} resource frames ({} bytes of memmap2 file)",
        args.vcpus,
        layout.sync_pages(),
        frames,
        frames * ioreq::layout::PAGE_SIZE
    );
    let last = layout.locate(args.vcpus - 1).map_err(|e| e.to_string())?;
    println!(
        "  vCPU {} lives in frame {} at offset {}",
        args.vcpus - 1,
        last.frame,
        last.offset
    );

    let (to_dm, dm_events) = mpsc::channel::<Option<u32>>();
    let (to_emulator, emulator_events) = mpsc::channel::<u32>();
    let start = Instant::now();
    let outcome = thread::scope(|s| {
        let device_model = s.spawn(move || -> Result<(u64, u64), String> {
            let dm = DeviceModel::new(pages, move |vcpu| {
                let _ = to_emulator.send(vcpu);
            });
            let (mut served, mut buffered_seen) = (0u64, 0u64);
            while let Ok(Some(vcpu)) = dm_events.recv() {
                while let Some(w) = ring.pop().map_err(|e| e.to_string())? {
                    if w.data != buffered_seen {
                        return Err(format!(
                            "buffered write {} arrived as {}",
                            buffered_seen, w.data
                        ));
                    }
                    buffered_seen += 1;
                }
                if vcpu == u32::MAX {
                    continue; // a buffered-ring event
                }
                let request = dm
                    .take(vcpu)
                    .map_err(|e| e.to_string())?
                    .ok_or(format!("vCPU {vcpu}: notified but not READY"))?;
                dm.complete(vcpu, response_to(&request))
                    .map_err(|e| e.to_string())?;
                served += 1;
            }
            Ok((served, buffered_seen))
        });
        let emulator = Emulator::new(pages, |vcpu| {
            let _ = to_dm.send(Some(vcpu));
        });
        let mut completed = 0u64;
        for round in 0..args.rounds {
            let write = BufRequest {
                kind: RequestType::Mmio,
                dir: Direction::Write,
                size_log2: 3,
                addr: 0xa0000,
                data: u64::from(round),
            };
            ring.push(&write, Canonicalise::Yes)
                .map_err(|e| e.to_string())?;
            let _ = to_dm.send(Some(u32::MAX));
            for vcpu in 0..args.vcpus {
                emulator
                    .post(vcpu, &request_for(vcpu, round))
                    .map_err(|e| e.to_string())?;
            }
            for _ in 0..args.vcpus {
                let vcpu = emulator_events
                    .recv()
                    .map_err(|_| "device model stopped".to_string())?;
                let data = emulator
                    .poll_response(vcpu)
                    .map_err(|e| e.to_string())?
                    .ok_or(format!("vCPU {vcpu}: notified without a response"))?;
                let expect = response_to(&Request {
                    state: State::Ready,
                    ..request_for(vcpu, round)
                });
                if data != expect {
                    return Err(format!(
                        "vCPU {vcpu} round {round}: got {data:#x}, expected {expect:#x}"
                    ));
                }
                completed += 1;
            }
        }
        let _ = to_dm.send(None);
        let (served, buffered_seen) = device_model
            .join()
            .map_err(|_| "device model panicked".to_string())??;
        Ok::<_, String>((completed, served, buffered_seen))
    });
    let elapsed = start.elapsed();
    let (completed, served, buffered_seen) = outcome?;
    let expected = u64::from(args.vcpus) * u64::from(args.rounds);
    println!(
        "  {completed} round trips completed, {served} served by the device model, {buffered_seen} buffered writes, in {}",
        report::ms(elapsed)
    );
    println!(
        "  {:.0} round trips/s",
        report::per_second(completed, elapsed)
    );
    let ok = completed == expected && served == expected && buffered_seen == u64::from(args.rounds);
    println!(
        "  {}",
        if ok {
            "OK: every response right, none lost or duplicated"
        } else {
            "MISMATCH"
        }
    );
    Ok(ok)
}

fn main() -> ExitCode {
    report::main("ioreq_pages", USAGE, parse_args, run)
}
