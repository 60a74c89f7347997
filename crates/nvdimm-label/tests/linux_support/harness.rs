//! Drives `scripts/nvdimm-linux.sh run`: one QEMU boot of the Debian kernel with one
//! emulated NVDIMM per backend image, a guest shell script, and the files it leaves in
//! the guest's /out.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// QEMU's smallest (and the harness's usual) `label-size`: the LSA is the last
/// `label-size` bytes of a backend file (QEMU `hw/mem/nvdimm.c`; checked in
/// tests/data/README.md).
pub(crate) const LABEL_SIZE: usize = 128 * 1024;

/// Guest-visible pmem per DIMM: a multiple of the 16 MiB region alignment Linux reports.
pub(crate) const PMEM_SIZE: u64 = 256 << 20;

/// A scratch directory for one boot, removed on drop.
#[derive(Debug)]
pub(crate) struct Boot {
    dir: PathBuf,
    /// The boot's name, for the skip line.
    tag: String,
    /// The label-size of each DIMM added so far.
    label_sizes: Vec<usize>,
}

/// What happened when the harness was asked to boot.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The guest ran to the end.
    Ran,
    /// The host cannot run the harness (no qemu, kernel or ndctl); the skip is recorded.
    Skipped,
}

impl Boot {
    /// A fresh directory whose guest will run `guest_script` (busybox sh).
    pub(crate) fn new(tag: &str, guest_script: &str) -> Boot {
        let dir = std::env::temp_dir().join(format!("nvdimm-linux-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the scratch directory");
        fs::write(dir.join("guest.sh"), guest_script).expect("write guest.sh");
        Boot {
            dir,
            tag: tag.to_owned(),
            label_sizes: Vec::new(),
        }
    }

    /// Adds the next NVDIMM (nmemN in the guest for the N-th call, counting from 0): a
    /// sparse backend of PMEM_SIZE bytes of zeros followed by `lsa`, whose length (at
    /// least LABEL_SIZE) becomes the DIMM's `label-size`; all zero means "no labels".
    pub(crate) fn add_dimm(&mut self, lsa: &[u8]) {
        self.add_dimm_with(lsa, &[]);
    }

    /// Like `add_dimm`, with `data` bytes written at the given DPAs (guest DPA = file
    /// offset) before the boot, e.g. namespace info blocks.
    pub(crate) fn add_dimm_with(&mut self, lsa: &[u8], data: &[(u64, Vec<u8>)]) {
        assert!(
            lsa.len() >= LABEL_SIZE,
            "QEMU's label-size is at least 128 KiB"
        );
        let n = self.label_sizes.len();
        let mut f = fs::File::create(self.dimm_path(n)).expect("create a backend file");
        f.set_len(PMEM_SIZE + lsa.len() as u64)
            .expect("size the backend file");
        for (dpa, bytes) in data {
            assert!(dpa + bytes.len() as u64 <= PMEM_SIZE, "data past the pmem");
            f.seek(SeekFrom::Start(*dpa)).expect("seek to a DPA");
            f.write_all(bytes).expect("write data at a DPA");
        }
        f.seek(SeekFrom::Start(PMEM_SIZE))
            .expect("seek to the label area");
        f.write_all(lsa).expect("write the label area");
        let sidecar = self.dir.join(format!("dimm{n}.label-size"));
        fs::write(sidecar, lsa.len().to_string()).expect("write the label-size");
        self.label_sizes.push(lsa.len());
    }

    /// The boot's directory (the harness's WORKDIR).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The backend file of DIMM `n`, for tools that edit it in place before the boot.
    pub(crate) fn dimm_path(&self, n: usize) -> PathBuf {
        self.dir.join(format!("dimm{n}.img"))
    }

    /// Boots once. A missing peer (no qemu, kernel or ndctl) is `Skipped` after
    /// `peer_skip::missing`, which panics under CI (scripts/deps.sh installed everything
    /// there, so the round trips must really run) and counts the skip elsewhere. Any other
    /// failure panics with the harness output.
    pub(crate) fn run(&self) -> Outcome {
        // The crate's tests and the root package's benches both include this file.
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("scripts/nvdimm-linux.sh"))
            .find(|script| script.exists())
            .expect("scripts/nvdimm-linux.sh above the package");
        let start = Instant::now();
        let out = Command::new("bash")
            .arg(&script)
            .arg("run")
            .arg(&self.dir)
            .output()
            .expect("run bash");
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{stderr}");
        eprintln!(
            "nvdimm-linux: harness took {:.1} s",
            start.elapsed().as_secs_f64()
        );
        match out.status.code() {
            Some(0) => {
                let log = self.out("guest.log");
                assert!(log.ends_with("exit=0\n"), "guest script failed:\n{log}");
                Outcome::Ran
            }
            Some(77) => {
                let why = stderr
                    .lines()
                    .find_map(|l| l.strip_prefix("SKIPPED: "))
                    .unwrap_or("the harness cannot run here");
                peer_skip::missing(&format!("linux_qemu boot {}", self.tag), why);
                Outcome::Skipped
            }
            _ => panic!("scripts/nvdimm-linux.sh failed ({}):\n{stderr}", out.status),
        }
    }

    /// A file the guest script wrote into /out (empty if it wrote none).
    pub(crate) fn out(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join("out").join(name)).unwrap_or_default()
    }

    /// The backend bytes of DIMM `n` at `[offset, offset + len)`.
    pub(crate) fn backend(&self, n: usize, offset: u64, len: usize) -> Vec<u8> {
        let mut f =
            fs::File::open(self.dir.join(format!("dimm{n}.img"))).expect("open a backend file");
        f.seek(SeekFrom::Start(offset))
            .expect("seek in a backend file");
        let mut bytes = vec![0; len];
        f.read_exact(&mut bytes).expect("read a backend file");
        bytes
    }

    /// The label storage area of DIMM `n` as the guest left it.
    pub(crate) fn lsa(&self, n: usize) -> Vec<u8> {
        self.backend(n, PMEM_SIZE, self.label_sizes[n])
    }
}

impl Drop for Boot {
    fn drop(&mut self) {
        if std::env::var_os("NVDIMM_LINUX_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
