//! The OTR trust store on disk: the private key and the fingerprints are in the 0600 store and
//! survive a restart; a damaged file is refused with a clear message and left untouched (it can
//! then be moved aside, as for the ZID cache); `--ephemeral` writes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "test code"
)]

mod common;

use common::{SeededRandom, T0, assert_empty_dir, list_dir, run_child_in_empty_dir};
use sotto_otr::Fingerprint;
use sotto_store::{FingerprintSeen, Store, StoreError};
use std::fs;
use std::os::unix::fs::PermissionsExt;

const ACC: &str = "alice@example.org";
const BOB: &str = "bob@example.org";
const CHILD_ENV: &str = "SOTTO_STORE_OTR_EPHEMERAL_CHILD_DIR";

#[test]
fn key_and_fingerprints_survive_a_restart_in_a_0600_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("sotto.db");
    let fp_ours = {
        let mut s = Store::open(&path).unwrap();
        let (key, created) = s.otr_key_or_create(ACC, &mut SeededRandom(9), T0).unwrap();
        assert!(created);
        assert_eq!(
            s.otr_fingerprint_seen(ACC, BOB, &Fingerprint([4; 20]), T0)
                .unwrap(),
            FingerprintSeen::New
        );
        s.otr_set_verified(ACC, BOB, &Fingerprint([4; 20]), true, T0)
            .unwrap();
        key.fingerprint()
    };
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dmode = fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dmode, 0o700);
    let mut s = Store::open(&path).unwrap();
    let (key, created) = s
        .otr_key_or_create(ACC, &mut SeededRandom(10), T0 + 1)
        .unwrap();
    assert!(!created, "a second run must reuse the stored key");
    assert_eq!(key.fingerprint(), fp_ours);
    assert_eq!(
        s.otr_fingerprint_seen(ACC, BOB, &Fingerprint([4; 20]), T0 + 1)
            .unwrap(),
        FingerprintSeen::Known { verified: true }
    );
}

#[test]
fn a_damaged_store_with_otr_keys_is_refused_untouched_and_can_be_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto.db");
    {
        let mut s = Store::open(&path).unwrap();
        s.otr_key_or_create(ACC, &mut SeededRandom(3), T0).unwrap();
        // Enough rows for several b-tree pages.
        for i in 0..=255u8 {
            let contact = format!("contact{i}@example.org");
            s.otr_fingerprint_seen(ACC, &contact, &Fingerprint([i; 20]), T0)
                .unwrap();
        }
    }
    let mut bytes = fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() >= 4 * page, "{}", bytes.len());
    for b in &mut bytes[page..3 * page] {
        *b = 0x5a;
    }
    fs::write(&path, &bytes).unwrap();
    let before = list_dir(dir.path());
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("corrupt") && msg.contains("left untouched"),
        "{msg}"
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        bytes,
        "the damaged file was modified"
    );
    assert_eq!(list_dir(dir.path()), before, "files appeared");
    // The app's "kept aside" path: the damaged file keeps its bytes under a new name, and a
    // new store (with a new key, so peers will see a new fingerprint) can be made.
    let aside = Store::move_aside(&path, T0).unwrap();
    assert_eq!(fs::read(&aside).unwrap(), bytes);
    let s = Store::open(&path).unwrap();
    assert!(s.otr_key(ACC).unwrap().is_none());
}

#[test]
#[ignore = "helper: runs only as the child process of the ephemeral test"]
fn otr_ephemeral_child_workload() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut s = Store::open_ephemeral().unwrap();
    let (key, _) = s.otr_key_or_create(ACC, &mut SeededRandom(4), T0).unwrap();
    assert_eq!(
        s.otr_key(ACC).unwrap().unwrap().fingerprint(),
        key.fingerprint()
    );
    for i in 0..=255u8 {
        let contact = format!("contact{i}@example.org");
        s.otr_fingerprint_seen(ACC, &contact, &Fingerprint([i; 20]), T0)
            .unwrap();
        s.otr_set_verified(ACC, &contact, &Fingerprint([i; 20]), true, T0)
            .unwrap();
        s.otr_fingerprint_seen(ACC, &contact, &Fingerprint([!i; 20]), T0 + 1)
            .unwrap();
    }
    assert_eq!(
        s.otr_forget_contact(ACC, "contact1@example.org").unwrap(),
        2
    );
    assert_empty_dir(std::path::Path::new(&dir));
    println!("otr ephemeral workload done");
}

#[test]
fn ephemeral_otr_store_writes_no_file() {
    run_child_in_empty_dir(
        "otr_ephemeral_child_workload",
        CHILD_ENV,
        "otr ephemeral workload done",
    );
}
