//! Measures what the ZID cache costs a call: opening the store, the engine's `load` at Hello
//! time, and the `store_secret` + `set_verified` transactions after Confirm.
//!
//! `cargo run --release -p sotto-store --example cache_timing [DIR]` (DIR defaults to a
//! temporary directory; pass one on the disk you care about, since each update is fsync-ed).
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    reason = "a measurement program"
)]

use sotto_proto::{SecretArray, Zid, crypto::OsRandom};
use sotto_store::{Expiry, Store};
use sotto_zrtp::cache::ZidCache;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let path = dir.join("sotto-cache-timing.db");
    let _ = std::fs::remove_file(&path);

    let t = Instant::now();
    let mut store = Store::open(&path).unwrap();
    let create = t.elapsed();
    store.identity_or_create(&mut OsRandom, 0).unwrap();
    // A realistic contact list.
    for i in 0..200u32 {
        let mut z = [0u8; 12];
        z[..4].copy_from_slice(&i.to_be_bytes());
        store
            .store_secret(&Zid(z), &SecretArray::new([1; 32]), Expiry::Never, 1)
            .unwrap();
    }
    drop(store);

    let n = 200;
    let (mut opens, mut loads, mut stores, mut verifies) = (vec![], vec![], vec![], vec![]);
    for i in 0..n {
        let t = Instant::now();
        let mut store = Store::open(&path).unwrap();
        opens.push(t.elapsed());
        let peer = Zid([0, 0, 0, (i % 200) as u8, 0, 0, 0, 0, 0, 0, 0, 0]);
        let t = Instant::now();
        let e = store.load(&peer).unwrap();
        loads.push(t.elapsed());
        assert!(e.is_some());
        let t = Instant::now();
        store
            .store_secret(&peer, &SecretArray::new([i as u8; 32]), Expiry::Never, 2)
            .unwrap();
        stores.push(t.elapsed());
        let t = Instant::now();
        store.set_verified(&peer, true).unwrap();
        verifies.push(t.elapsed());
    }
    println!("store file: {}", path.display());
    println!("create new store:           {create:?}");
    println!("open existing (median):     {:?}", median(opens));
    println!("load at Hello (median):     {:?}", median(loads));
    println!("store_secret (median):      {:?}", median(stores));
    println!("set_verified (median):      {:?}", median(verifies));
    let _ = std::fs::remove_file(&path);
}
