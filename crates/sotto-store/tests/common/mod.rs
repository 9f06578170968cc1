//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test file uses a different subset")]

use sotto_proto::crypto::Random;
use sotto_proto::{SecretArray, Zid};
use std::path::{Path, PathBuf};

/// A fixed "now" for tests: 2027-01-15 (Unix seconds).
pub(crate) const T0: u64 = 1_800_000_000;

/// A seeded stand-in for the OS random source (splitmix64), so identities are reproducible.
pub(crate) struct SeededRandom(pub u64);

impl Random for SeededRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let bytes = z.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A 32-byte secret filled with `b`.
pub(crate) fn secret(b: u8) -> SecretArray<32> {
    SecretArray::new([b; 32])
}

/// A peer ZID whose bytes are all `b`.
pub(crate) fn zid(b: u8) -> Zid {
    Zid([b; 12])
}

/// `dir/name`.
pub(crate) fn db_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Every entry (recursively) under `dir`.
pub(crate) fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(list_dir(&p));
            }
            out.push(p);
        }
    }
    out
}

/// Asserts that nothing (recursively) is under `dir`.
pub(crate) fn assert_empty_dir(dir: &Path) {
    let found = list_dir(dir);
    assert!(found.is_empty(), "{found:?}");
}

/// The `--ephemeral` check: runs this test binary's `#[ignore]`d test `child` in a child
/// process whose working directory, `TMPDIR`, `SQLITE_TMPDIR` and `HOME` all point at one empty
/// temporary directory (passed in the environment variable `dir_env`), then checks that the
/// child succeeded, printed `done`, and that the directory is still empty.
pub(crate) fn run_child_in_empty_dir(child: &str, dir_env: &str, done: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child, "--ignored", "--nocapture"])
        .env(dir_env, dir.path())
        .env("TMPDIR", dir.path())
        .env("SQLITE_TMPDIR", dir.path())
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(done), "{stdout}");
    assert_empty_dir(dir.path());
}
