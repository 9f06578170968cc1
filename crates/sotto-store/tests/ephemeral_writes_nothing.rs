//! `--ephemeral`: the in-memory store writes nothing at all. Checked in a child process whose
//! working directory, `TMPDIR` and `HOME` all point at one empty directory, which must still be
//! empty after a full workload (identity, cache updates, contacts, forget).
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

use common::{SeededRandom, T0, assert_empty_dir, run_child_in_empty_dir, secret, zid};
use sotto_store::{Expiry, Store};
use sotto_zrtp::cache::ZidCache;

const CHILD_ENV: &str = "SOTTO_STORE_EPHEMERAL_CHILD_DIR";

#[test]
#[ignore = "helper: runs only as the child process of the ephemeral test"]
fn ephemeral_child_workload() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = Store::open_ephemeral().unwrap();
    let mut rng = SeededRandom(5);
    store.identity_or_create(&mut rng, T0).unwrap();
    // Enough data that SQLite would spill to temporary files if it were allowed to.
    for i in 0..=255u8 {
        store
            .store_secret(&zid(i), &secret(i), Expiry::At(T0 + 10), T0)
            .unwrap();
        store
            .store_secret(&zid(i), &secret(!i), Expiry::Never, T0 + 1)
            .unwrap();
        store.set_verified(&zid(i), i % 2 == 0).unwrap();
    }
    for i in 0..100u8 {
        store
            .set_display_name(&zid(i), Some(&format!("contact {i}")))
            .unwrap();
    }
    assert_eq!(store.contacts().unwrap().len(), 256);
    assert_eq!(store.purge_expired(T0 + 100).unwrap(), 256);
    assert!(store.forget(&zid(3)).unwrap());
    store.rotate_identity(&mut rng, T0 + 2).unwrap();
    // While the store is still open: nothing on disk.
    assert_empty_dir(std::path::Path::new(&dir));
    println!("ephemeral workload done");
}

#[test]
fn ephemeral_store_writes_no_file() {
    run_child_in_empty_dir(
        "ephemeral_child_workload",
        CHILD_ENV,
        "ephemeral workload done",
    );
}
