//! Each update is one transaction: an injected failure in the middle of an update, or a process
//! killed in the middle of a stream of updates, leaves the previous state, never half of one.
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

use common::{SeededRandom, T0, secret, zid};
use sotto_proto::SecretArray;
use sotto_store::{Expiry, PeerState, RetainedSecret, Store, StoreError};
use sotto_zrtp::cache::ZidCache;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Installs, from outside the store (as another process could), a trigger that makes every
/// UPDATE of `peers` fail.
fn install_failing_trigger(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TRIGGER inject_failure BEFORE UPDATE ON peers \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
}

fn remove_failing_trigger(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("DROP TRIGGER inject_failure").unwrap();
}

#[test]
fn failure_in_the_second_statement_rolls_back_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zid.db");
    let mut store = Store::open(&path).unwrap();
    let mut rng = SeededRandom(1);
    let me = store.identity_or_create(&mut rng, T0).unwrap();
    let peer = zid(1);
    store
        .store_secret(&peer, &secret(0x11), Expiry::Never, T0)
        .unwrap();
    store.verify(&peer).unwrap();

    install_failing_trigger(&path);
    // rotate_identity first replaces our identity, then clears the peers' secrets; the second
    // statement fails, so the first must be undone.
    let err = store.rotate_identity(&mut rng, T0 + 1).unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    assert_eq!(store.identity().unwrap(), Some(me.clone()));
    let p = store.peer(&peer).unwrap().unwrap();
    assert_eq!(p.rs1.as_ref().unwrap().secret.expose(), &[0x11; 32]);
    assert!(p.verified);

    // A failed cache update (rs1 -> rs2 and the new rs1) leaves the old entry whole.
    let r = store.store_secret(&peer, &secret(0x22), Expiry::Never, T0 + 2);
    assert!(r.is_err());
    let p = store.peer(&peer).unwrap().unwrap();
    assert_eq!(p.rs1.as_ref().unwrap().secret.expose(), &[0x11; 32]);
    assert!(p.rs2.is_none());
    assert_eq!(p.last_seen, T0);

    // Nothing was left half-open: once the fault is gone the same handle works, and a fresh
    // handle sees the same (old) state.
    remove_failing_trigger(&path);
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.identity().unwrap(), Some(me.clone()));
    store
        .store_secret(&peer, &secret(0x22), Expiry::Never, T0 + 3)
        .unwrap();
    let p = store.peer(&peer).unwrap().unwrap();
    assert_eq!(p.rs1.as_ref().unwrap().secret.expose(), &[0x22; 32]);
    assert_eq!(p.rs2.as_ref().unwrap().secret.expose(), &[0x11; 32]);
    let new = store.rotate_identity(&mut rng, T0 + 4).unwrap();
    assert_ne!(new.zid, me.zid);
}

#[test]
fn failure_during_mismatch_recording_keeps_verified() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zid.db");
    let mut store = Store::open(&path).unwrap();
    let peer = zid(2);
    store
        .store_secret(&peer, &secret(1), Expiry::Never, T0)
        .unwrap();
    store.set_verified(&peer, true).unwrap();
    install_failing_trigger(&path);
    assert!(store.record_mismatch(&peer).is_err());
    assert_eq!(
        store.contact(&peer).unwrap().unwrap().state,
        PeerState::Verified
    );
}

// ------------------------------------------------------------------ crash (SIGKILL) test

const CHILD_ENV: &str = "SOTTO_STORE_CRASH_CHILD_DB";

/// Secret number `n`: the counter in the first 8 bytes, a pattern derived from it in the rest,
/// so a torn write would not decode.
fn numbered_secret(n: u64) -> SecretArray<32> {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&n.to_le_bytes());
    for (i, x) in b[8..].iter_mut().enumerate() {
        *x = (n as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    SecretArray::new(b)
}

fn decode(s: &RetainedSecret) -> u64 {
    let b = s.secret.expose();
    let n = u64::from_le_bytes(b[..8].try_into().unwrap());
    assert_eq!(s.secret, numbered_secret(n), "torn secret");
    assert_eq!(
        s.expiry,
        Expiry::At(T0 + n),
        "expiry does not belong to secret {n}"
    );
    n
}

/// Run in a child process by `killed_writer_leaves_a_consistent_cache`: rotates the secret of
/// one peer as fast as it can until it is killed.
#[test]
#[ignore = "helper: runs only as the child process of the crash test"]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = Store::open(&path).unwrap();
    let peer = zid(7);
    let mut n = store
        .peer(&peer)
        .unwrap()
        .and_then(|p| p.rs1.as_ref().map(decode))
        .unwrap_or(0);
    loop {
        n += 1;
        store
            .store_secret(&peer, &numbered_secret(n), Expiry::At(T0 + n), T0 + n)
            .unwrap();
    }
}

#[test]
fn killed_writer_leaves_a_consistent_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zid.db");
    drop(Store::open(&path).unwrap());
    let exe = std::env::current_exe().unwrap();
    let peer = zid(7);
    let mut last = 0;
    for round in 0..4u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child_writer", "--ignored", "--nocapture"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it commit a good number of updates, then kill it at an arbitrary moment.
        let watcher = Store::open(&path).unwrap();
        let start = Instant::now();
        loop {
            let n = watcher
                .peer(&peer)
                .unwrap()
                .and_then(|p| p.rs1.as_ref().map(decode))
                .unwrap_or(0);
            if n >= last + 20 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "child made no progress"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(3 + 7 * round));
        child.kill().unwrap(); // SIGKILL: no destructor, no rollback, no checkpoint
        child.wait().unwrap();
        drop(watcher);

        let store = Store::open(&path).unwrap();
        let p = store.peer(&peer).unwrap().unwrap();
        let n1 = decode(p.rs1.as_ref().unwrap());
        let n2 = decode(p.rs2.as_ref().unwrap());
        // rs2 is exactly the rs1 before it: the last committed update is whole.
        assert_eq!(n2 + 1, n1, "round {round}: rs1 #{n1} with rs2 #{n2}");
        assert_eq!(p.last_seen, T0 + n1);
        assert!(n1 >= last + 20);
        last = n1;
    }
}
