// SPDX-License-Identifier: Apache-2.0 OR MIT
//! `pt-virt`: lists a raw Intel PT trace file packet by packet in the format of libipt's
//! `ptdump`, or event by event through the event layer (`--events`), as text or JSON
//! lines (`--json`). Decoding errors print ptdump's `[offset: error ...]` line on stdout
//! and the detail on stderr, and the listing continues at the next PSB. Exits 0 when the
//! output is complete (decoding errors included, as ptdump), 1 when the file cannot be
//! read, and quietly when the reader of its output goes away (broken pipe).
//!
//! Build: `cargo run -p pt-virt --features cli -- --help`.

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use pt_virt::dump::{self, Options};
use pt_virt::packet::Strictness;
use pt_virt::query::TimeConfig;

/// Lists an Intel PT trace (libipt ptdump format).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The raw trace file (`-` for standard input).
    file: PathBuf,
    /// Don't show the offset as the first column.
    #[arg(long)]
    no_offset: bool,
    /// Show the IP reconstructed from the last IP on packets with IP payloads.
    #[arg(long)]
    lastip: bool,
    /// Decode from offset 0 instead of the first PSB.
    #[arg(long)]
    no_sync: bool,
    /// Show raw packet bytes.
    #[arg(long)]
    raw: bool,
    /// Show the execution mode on MODE.Exec packets.
    #[arg(long)]
    exec_mode: bool,
    /// Don't show PAD packets.
    #[arg(long)]
    no_pad: bool,
    /// Don't show timing packets.
    #[arg(long)]
    no_timing: bool,
    /// List the event layer's events instead of packets.
    #[arg(long)]
    events: bool,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Decode with perf's lenient rules instead of libipt's.
    #[arg(long)]
    lenient: bool,
    /// IA32_RTIT_CTL.MTCFreq, for the time estimate (--events).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..16))]
    mtc_freq: u8,
    /// CPUID.15H EAX:EBX (TSC = CTC * EBX / EAX), for the time estimate (--events).
    #[arg(long, value_parser = parse_ratio)]
    cpuid_0x15: Option<(u32, u32)>,
    /// The nominal core:bus ratio (MSR_PLATFORM_INFO[15:8]), to convert CYC (--events).
    #[arg(long, default_value_t = 0)]
    nom_freq: u8,
}

fn parse_ratio(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once(':').ok_or("expected EAX:EBX")?;
    let n = |v: &str| v.parse::<u32>().map_err(|e| format!("{v}: {e}"));
    Ok((n(a)?, n(b)?))
}

/// Standard output as a `fmt::Write`, keeping the I/O error that stopped it.
struct Out<W> {
    inner: W,
    error: Option<io::Error>,
}

impl<W: Write> fmt::Write for Out<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.inner.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let trace = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        io::Read::read_to_end(&mut io::stdin(), &mut buf).map(|_| buf)
    } else {
        std::fs::read(&args.file)
    };
    let trace = match trace {
        Ok(t) => t,
        Err(e) => {
            eprintln!("pt-virt: {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let options = Options {
        offset: !args.no_offset,
        last_ip: args.lastip,
        sync: !args.no_sync,
        raw: args.raw,
        exec_mode: args.exec_mode,
        no_pad: args.no_pad,
        no_timing: args.no_timing,
        json: args.json,
        strictness: if args.lenient {
            Strictness::Lenient
        } else {
            Strictness::Strict
        },
        time: TimeConfig {
            mtc_freq: args.mtc_freq,
            ctc_ratio: args.cpuid_0x15,
            nom_freq: args.nom_freq,
        },
    };
    let mut out = Out {
        inner: io::BufWriter::new(io::stdout().lock()),
        error: None,
    };
    let listed = if args.events {
        dump::events(&trace, &options, &mut out, |e| eprintln!("pt-virt: {e}"))
    } else {
        dump::packets(&trace, &options, &mut out, |e| eprintln!("pt-virt: {e}"))
    };
    let flushed = listed.ok().map(|_| out.inner.flush());
    let error = match flushed {
        Some(Ok(())) => return ExitCode::SUCCESS,
        Some(Err(e)) => e,
        None => out
            .error
            .unwrap_or_else(|| io::Error::other("formatting failed")),
    };
    if error.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("pt-virt: writing the listing: {error}");
    ExitCode::FAILURE
}
