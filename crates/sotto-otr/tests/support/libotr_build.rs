//! Builds our libotr C harness (`crates/sotto-otr/tests/c/libotr_peer.c`) once per test
//! binary. Shared by sotto-otr's `interop_libotr.rs` and the app's `chat_prosody.rs` (which
//! includes this file with `#[path]`), so there is one harness and one build step.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Compiles the harness with `cc` against `pkg-config libotr` into the test's
/// `CARGO_TARGET_TMPDIR` (once) and returns the binary. Fails with a clear message when
/// libotr (Debian `libotr5-dev`) or pkg-config is missing.
pub(crate) fn libotr_peer() -> PathBuf {
    static H: OnceLock<PathBuf> = OnceLock::new();
    H.get_or_init(|| {
        let flags = Command::new("pkg-config")
            .args(["--cflags", "--libs", "libotr"])
            .output()
            .expect("pkg-config is missing (apt-get install pkg-config)");
        assert!(
            flags.status.success(),
            "libotr not found by pkg-config: apt-get install libotr5-dev ({})",
            String::from_utf8_lossy(&flags.stderr)
        );
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libotr_peer");
        // Both users (crates/sotto-otr and apps/sotto) sit two levels below the workspace root.
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/sotto-otr/tests/c/libotr_peer.c");
        let mut cmd = Command::new("cc");
        cmd.args(["-O1", "-Wall", "-o"]).arg(&out).arg(src);
        cmd.args(String::from_utf8(flags.stdout).unwrap().split_whitespace());
        cmd.arg("-lgcrypt");
        let st = cmd.status().expect("cc is missing");
        assert!(st.success(), "compiling the libotr harness failed");
        out
    })
    .clone()
}
