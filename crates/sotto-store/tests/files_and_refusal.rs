//! The store on disk: permissions, refusing files that are not ours (untouched), schema
//! versions, and two handles on one file.
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

use common::{SeededRandom, T0, list_dir, secret, zid};
use sotto_store::{Expiry, Store, StoreError};
use sotto_zrtp::cache::ZidCache;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn sidecar(p: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Asserts that opening `path` fails and changes nothing: same bytes, same mode, no new files.
fn assert_refused_untouched(path: &Path) -> StoreError {
    let before = fs::read(path).unwrap();
    let mode_before = mode(path);
    let dir_before = list_dir(path.parent().unwrap());
    let err = Store::open(path).unwrap_err();
    assert_eq!(fs::read(path).unwrap(), before, "file bytes changed");
    assert_eq!(mode(path), mode_before, "file mode changed");
    assert_eq!(
        list_dir(path.parent().unwrap()),
        dir_before,
        "files appeared"
    );
    // The message names the file.
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    err
}

#[test]
fn new_store_is_0600_in_a_0700_directory_and_so_are_wal_and_shm() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data").join("sotto");
    let path = dir.join("zid.db");
    let mut store = Store::open(&path).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&path), 0o600);
    // While open and after a write, SQLite's WAL and shared-memory files exist with the same
    // owner-only mode.
    store
        .store_secret(&zid(1), &secret(1), Expiry::Never, T0)
        .unwrap();
    let wal = sidecar(&path, "-wal");
    let shm = sidecar(&path, "-shm");
    assert!(wal.exists() && shm.exists());
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(mode(&shm), 0o600);
    // A second handle does not loosen anything.
    let other = Store::open(&path).unwrap();
    assert!(other.peer(&zid(1)).unwrap().is_some());
    for f in list_dir(&dir) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

#[test]
fn existing_store_with_loose_mode_is_tightened() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    drop(Store::open(&path).unwrap());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    drop(Store::open(&path).unwrap());
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn existing_directory_is_left_as_is() {
    let base = tempfile::tempdir().unwrap();
    fs::set_permissions(base.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let path = base.path().join("zid.db");
    drop(Store::open(&path).unwrap());
    assert_eq!(mode(base.path()), 0o755);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn garbage_file_is_refused_and_left_byte_identical() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    let mut junk = vec![0u8; 5000];
    use sotto_proto::crypto::Random;
    SeededRandom(42).fill(&mut junk);
    fs::write(&path, &junk).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = assert_refused_untouched(&path);
    assert!(matches!(err, StoreError::NotSotto { .. }), "{err:?}");
    assert!(err.to_string().contains("is not a sotto database"), "{err}");

    // Short text, too.
    fs::write(&path, b"hello\n").unwrap();
    assert!(matches!(
        assert_refused_untouched(&path),
        StoreError::NotSotto { .. }
    ));
}

#[test]
fn another_programs_sqlite_file_is_refused_untouched() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("notes.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let err = assert_refused_untouched(&path);
    assert!(matches!(err, StoreError::NotSotto { .. }), "{err:?}");

    // Even one that happens to use a user_version.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
    }
    assert!(matches!(
        assert_refused_untouched(&path),
        StoreError::NotSotto { .. }
    ));
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    {
        let mut s = Store::open(&path).unwrap();
        s.identity_or_create(&mut SeededRandom(1), T0).unwrap();
        s.store_secret(&zid(2), &secret(2), Expiry::Never, T0)
            .unwrap();
    }
    assert!(Store::supported_schema() < 7);
    {
        // What a future sotto would do.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 7).unwrap();
    }
    let err = assert_refused_untouched(&path);
    match &err {
        StoreError::TooNew {
            found, supported, ..
        } => assert_eq!((*found, *supported), (7, Store::supported_schema())),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("was written by a newer sotto (schema 7)"),
        "{err}"
    );
}

#[test]
fn a_damaged_sotto_file_is_reported_corrupt_and_left_untouched() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    {
        let mut s = Store::open(&path).unwrap();
        // Enough rows for several b-tree pages.
        for i in 0..200u8 {
            s.store_secret(&zid(i), &secret(i), Expiry::Never, T0)
                .unwrap();
        }
    }
    let mut bytes = fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() >= 4 * page, "{}", bytes.len());
    // Scribble over the second and third page (page 1 keeps the header and schema).
    for b in &mut bytes[page..3 * page] {
        *b = 0xa5;
    }
    fs::write(&path, &bytes).unwrap();
    let err = assert_refused_untouched(&path);
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("is corrupt"), "{err}");
}

#[test]
fn a_directory_in_place_of_the_file_is_refused() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    fs::create_dir(&path).unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::NotSotto { .. })
    ));
}

#[test]
fn unwritable_location_is_a_clear_io_error() {
    let base = tempfile::tempdir().unwrap();
    let file = base.path().join("plain-file");
    fs::write(&file, b"x").unwrap();
    // A path "under" a regular file cannot be created.
    let err = Store::open(file.join("zid.db")).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("plain-file"), "{err}");
}

#[test]
fn an_empty_file_is_initialised() {
    // A store whose very first transaction never ran (crash right after creating the file).
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    fs::write(&path, b"").unwrap();
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), Store::supported_schema());
}

#[test]
fn two_handles_on_one_file_see_each_others_updates() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    let mut a = Store::open(&path).unwrap();
    let mut b = Store::open(&path).unwrap();
    let me = a.identity_or_create(&mut SeededRandom(1), T0).unwrap();
    assert_eq!(b.identity_or_create(&mut SeededRandom(2), T0).unwrap(), me);
    let peer = zid(9);
    a.store_secret(&peer, &secret(1), Expiry::Never, T0)
        .unwrap();
    b.store_secret(&peer, &secret(2), Expiry::Never, T0 + 1)
        .unwrap();
    a.set_verified(&peer, true).unwrap();
    let e = b.load(&peer).unwrap().unwrap();
    assert_eq!(e.rs1.as_ref().unwrap().secret.expose(), &[2; 32]);
    assert_eq!(e.rs2.as_ref().unwrap().secret.expose(), &[1; 32]);
    assert!(e.verified);
    // A reader holding an open read transaction does not block the writer (WAL).
    let reader = rusqlite::Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let n: i64 = reader
        .query_row("SELECT count(*) FROM peers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    a.store_secret(&zid(10), &secret(3), Expiry::Never, T0)
        .unwrap();
    // The reader's snapshot is stable; the writer's data is visible to others.
    let n: i64 = reader
        .query_row("SELECT count(*) FROM peers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(b.contacts().unwrap().len(), 2);
    reader.execute_batch("COMMIT").unwrap();
}

#[test]
fn concurrent_writers_from_threads_lose_nothing() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("fresh").join("zid.db");
    // Both open a store that does not exist yet, at the same time, then write concurrently.
    let handles: Vec<_> = (0..2u8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&path).unwrap();
                for i in 0..40u8 {
                    let z = zid(t * 100 + i);
                    s.store_secret(&z, &secret(i), Expiry::Never, T0).unwrap();
                    // Both also rotate one shared peer...
                    s.store_secret(&zid(250), &secret(t), Expiry::Never, T0)
                        .unwrap();
                    // ...and increment a counter kept in its name by read-modify-write: with
                    // one IMMEDIATE transaction per update, no increment may be lost.
                    s.update_peer(&zid(250), T0, |p| {
                        let n: u32 = p.display_name.as_deref().unwrap_or("0").parse().unwrap();
                        p.display_name = Some((n + 1).to_string());
                        Ok::<(), ()>(())
                    })
                    .unwrap()
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.contacts().unwrap().len(), 81);
    let shared = s.peer(&zid(250)).unwrap().unwrap();
    assert!(shared.rs1.is_some() && shared.rs2.is_some());
    assert_eq!(shared.display_name.as_deref(), Some("80"));
}

#[test]
fn a_refused_file_can_be_moved_aside_intact_and_a_new_store_made() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    fs::write(
        &path,
        b"definitely not sqlite, but maybe the user's only copy",
    )
    .unwrap();
    let original = fs::read(&path).unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::NotSotto { .. })
    ));
    let aside = Store::move_aside(&path, T0).unwrap();
    assert_eq!(aside, base.path().join(format!("zid.db.unusable-{T0}")));
    assert_eq!(fs::read(&aside).unwrap(), original);
    // A second one the same second does not overwrite the first.
    fs::write(&path, b"second bad file").unwrap();
    let aside2 = Store::move_aside(&path, T0).unwrap();
    assert_ne!(aside2, aside);
    assert_eq!(fs::read(&aside).unwrap(), original);
    assert_eq!(fs::read(&aside2).unwrap(), b"second bad file");
    // And the path is free for a new store.
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), Store::supported_schema());
}

#[test]
fn moving_aside_takes_the_wal_and_shm_along() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    fs::write(&path, b"main").unwrap();
    fs::write(sidecar(&path, "-wal"), b"wal").unwrap();
    fs::write(sidecar(&path, "-shm"), b"shm").unwrap();
    let aside = Store::move_aside(&path, T0).unwrap();
    assert_eq!(fs::read(&aside).unwrap(), b"main");
    assert_eq!(fs::read(sidecar(&aside, "-wal")).unwrap(), b"wal");
    assert_eq!(fs::read(sidecar(&aside, "-shm")).unwrap(), b"shm");
    assert!(!path.exists() && !sidecar(&path, "-wal").exists());
    assert!(!sidecar(&path, "-shm").exists());
}

#[test]
fn durability_can_be_relaxed_without_losing_atomicity() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("zid.db");
    let mut s = Store::open(&path).unwrap();
    s.set_durable(false).unwrap();
    s.store_secret(&zid(4), &secret(4), Expiry::Never, T0)
        .unwrap();
    s.store_secret(&zid(4), &secret(5), Expiry::Never, T0)
        .unwrap();
    s.set_durable(true).unwrap();
    drop(s);
    let s = Store::open(&path).unwrap();
    let p = s.peer(&zid(4)).unwrap().unwrap();
    assert_eq!(p.rs1.unwrap().secret.expose(), &[5; 32]);
    assert_eq!(p.rs2.unwrap().secret.expose(), &[4; 32]);
    Store::open_ephemeral().unwrap().set_durable(false).unwrap();
}

#[test]
fn a_refused_file_with_a_hot_wal_keeps_its_bytes_and_its_wal() {
    // A newer sotto crashed with committed data still in its WAL: our refusal must not
    // checkpoint that WAL into the file on close.
    let base = tempfile::tempdir().unwrap();
    let live = base.path().join("live");
    let crashed = base.path().join("crashed");
    fs::create_dir(&live).unwrap();
    fs::create_dir(&crashed).unwrap();
    let path = live.join("zid.db");
    drop(Store::open(&path).unwrap());
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer
        .execute_batch(
            "PRAGMA wal_autocheckpoint = 0; PRAGMA user_version = 9; \
             INSERT INTO peers (zid, first_seen, last_seen) VALUES (x'010203040506070809101112', 1, 1);",
        )
        .unwrap();
    // Snapshot the three files while the writer still holds them (as a crash would leave them).
    for name in ["zid.db", "zid.db-wal", "zid.db-shm"] {
        fs::copy(live.join(name), crashed.join(name)).unwrap();
    }
    drop(writer);
    let copy = crashed.join("zid.db");
    let wal = sidecar(&copy, "-wal");
    let wal_before = fs::read(&wal).unwrap();
    assert!(!wal_before.is_empty());
    let err = assert_refused_untouched(&copy);
    assert!(
        matches!(err, StoreError::TooNew { found: 9, .. }),
        "{err:?}"
    );
    assert_eq!(fs::read(&wal).unwrap(), wal_before, "WAL changed");
}
