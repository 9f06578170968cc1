//! The ZID cache, identity and contact operations, through the public API and the ZRTP
//! engine's `ZidCache` trait, with persistence across reopening the file.
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
use sotto_proto::Zid;
use sotto_store::{Expiry, PeerState, RetainedSecret, Store, StoreError};
use sotto_zrtp::cache::ZidCache;

fn temp_store() -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotto").join("zid.db");
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

#[test]
fn identity_is_created_once_and_survives_reopen() {
    let (_dir, path, mut store) = temp_store();
    assert!(store.identity().unwrap().is_none());
    let me = store.identity_or_create(&mut SeededRandom(1), T0).unwrap();
    assert_ne!(me.zid, Zid([0; 12]));
    assert_eq!(me.created_at, T0);
    // A second call, even with another random source, returns the same identity.
    let again = store
        .identity_or_create(&mut SeededRandom(2), T0 + 5)
        .unwrap();
    assert_eq!(again, me);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.identity().unwrap(), Some(me));
}

#[test]
fn display_name_is_pseudonymous() {
    let (_dir, _path, mut store) = temp_store();
    let me = store.identity_or_create(&mut SeededRandom(3), T0).unwrap();
    let parts: Vec<&str> = me.display_name.split('-').collect();
    assert_eq!(parts.len(), 3, "{}", me.display_name);
    assert!(parts[0].chars().all(|c| c.is_ascii_lowercase()));
    assert!(parts[1].chars().all(|c| c.is_ascii_lowercase()));
    assert!(parts[2].len() == 2 && parts[2].chars().all(|c| c.is_ascii_digit()));
    // Nothing from the machine: different seeds give different identities, same seed the same.
    let mut other = Store::open_ephemeral().unwrap();
    let same = other.identity_or_create(&mut SeededRandom(3), T0).unwrap();
    assert_eq!(same.zid, me.zid);
    assert_eq!(same.display_name, me.display_name);
}

#[test]
fn rotate_identity_changes_zid_and_name_and_drops_secrets() {
    let (_dir, path, mut store) = temp_store();
    let mut rng = SeededRandom(4);
    let old = store.identity_or_create(&mut rng, T0).unwrap();
    let peer = zid(0x11);
    store
        .rotate_retained_secret(
            &peer,
            T0,
            Some(RetainedSecret::new(secret(1), Expiry::Never)),
        )
        .unwrap();
    store.set_display_name(&peer, Some("Ana")).unwrap();
    store.verify(&peer).unwrap();

    let new = store.rotate_identity(&mut rng, T0 + 100).unwrap();
    assert_ne!(new.zid, old.zid);
    assert_ne!(new.display_name, old.display_name);
    assert_eq!(new.created_at, T0 + 100);
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.identity().unwrap(), Some(new));
    let p = store.peer(&peer).unwrap().unwrap();
    assert!(p.rs1.is_none() && p.rs2.is_none() && p.pbx_secret.is_none());
    assert!(!p.verified);
    assert_eq!(p.state(), PeerState::Unverified);
    // The contact name is kept.
    assert_eq!(p.display_name.as_deref(), Some("Ana"));
}

#[test]
fn identity_with_zid_binds_a_fresh_store_and_refuses_another_zid() {
    let (_dir, path, mut store) = temp_store();
    let wanted = Zid([0xab; 12]);
    let id = store
        .identity_with_zid(&wanted, &mut SeededRandom(5), T0)
        .unwrap();
    assert_eq!(id.zid, wanted);
    // Same ZID again: fine.
    assert_eq!(
        store
            .identity_with_zid(&wanted, &mut SeededRandom(6), T0)
            .unwrap(),
        id
    );
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let err = store
        .identity_with_zid(&Zid([0xcd; 12]), &mut SeededRandom(7), T0)
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongLocalZid { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&wanted.to_hex()) && msg.contains("cdcdcd"),
        "{msg}"
    );
    // Refusing did not change our identity.
    assert_eq!(store.identity().unwrap().unwrap().zid, wanted);
}

#[test]
fn peer_record_round_trips_every_field() {
    let (_dir, path, mut store) = temp_store();
    let peer = zid(0x22);
    store
        .update_peer(&peer, T0, |p| {
            p.rs1 = Some(RetainedSecret::new(secret(0xa1), Expiry::At(T0 + 3600)));
            p.rs2 = Some(RetainedSecret::new(secret(0xa2), Expiry::Never));
            p.pbx_secret = Some(RetainedSecret::new(secret(0xa3), Expiry::At(T0 + 60)));
            p.display_name = Some("Bruno Ü".into());
            p.verified = true;
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
    store
        .update_peer(&peer, T0 + 50, |_| Ok::<(), ()>(()))
        .unwrap()
        .unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    let p = store.peer(&peer).unwrap().unwrap();
    assert_eq!(p.zid, peer);
    let rs1 = p.rs1.as_ref().unwrap();
    assert_eq!(rs1.secret.expose(), &[0xa1; 32]);
    assert_eq!(rs1.expiry, Expiry::At(T0 + 3600));
    let rs2 = p.rs2.as_ref().unwrap();
    assert_eq!(rs2.secret.expose(), &[0xa2; 32]);
    assert_eq!(rs2.expiry, Expiry::Never);
    let pbx = p.pbx_secret.as_ref().unwrap();
    assert_eq!(pbx.secret.expose(), &[0xa3; 32]);
    assert_eq!(pbx.expiry, Expiry::At(T0 + 60));
    assert_eq!(p.display_name.as_deref(), Some("Bruno Ü"));
    assert!(p.verified);
    assert!(!p.key_changed);
    assert_eq!(p.first_seen, T0);
    assert_eq!(p.last_seen, T0 + 50);
    assert_eq!(p.state(), PeerState::Verified);
    // Debug output of a record never shows secret bytes.
    let dbg = format!("{p:?}");
    assert!(dbg.contains("<redacted>"));
    assert!(!dbg.contains("161")); // 0xa1
}

#[test]
fn update_peer_closure_error_writes_nothing() {
    let (_dir, _path, mut store) = temp_store();
    let peer = zid(0x23);
    let r = store
        .update_peer(&peer, T0, |p| {
            p.verified = true;
            Err::<(), &str>("changed my mind")
        })
        .unwrap();
    assert_eq!(r, Err("changed my mind"));
    assert!(store.peer(&peer).unwrap().is_none());
}

#[test]
fn rs1_moves_to_rs2_on_each_new_secret() {
    let (_dir, path, mut store) = temp_store();
    let peer = zid(0x33);
    // Through the engine's trait, as the ZRTP session will call it.
    store
        .store_secret(&peer, &secret(1), Expiry::Never, T0)
        .unwrap();
    let e = store.load(&peer).unwrap().unwrap();
    assert_eq!(e.rs1.as_ref().unwrap().secret.expose(), &[1; 32]);
    assert!(e.rs2.is_none());
    assert!(!e.verified);

    store
        .store_secret(&peer, &secret(2), Expiry::At(T0 + 86_400), T0 + 10)
        .unwrap();
    store
        .store_secret(&peer, &secret(3), Expiry::At(T0 + 2 * 86_400), T0 + 20)
        .unwrap();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let e = store.load(&peer).unwrap().unwrap();
    let rs1 = e.rs1.as_ref().unwrap();
    let rs2 = e.rs2.as_ref().unwrap();
    assert_eq!(rs1.secret.expose(), &[3; 32]);
    assert_eq!(rs1.expiry, Expiry::At(T0 + 2 * 86_400));
    // rs2 is the previous rs1 with its own expiry.
    assert_eq!(rs2.secret.expose(), &[2; 32]);
    assert_eq!(rs2.expiry, Expiry::At(T0 + 86_400));
    let p = store.peer(&peer).unwrap().unwrap();
    assert_eq!((p.first_seen, p.last_seen), (T0, T0 + 20));
}

#[test]
fn expiry_hides_and_purges_old_secrets() {
    let (_dir, _path, mut store) = temp_store();
    let peer = zid(0x44);
    store
        .store_secret(&peer, &secret(1), Expiry::At(T0 + 100), T0)
        .unwrap();
    store
        .store_secret(&peer, &secret(2), Expiry::At(T0 + 1000), T0 + 1)
        .unwrap();
    let p = store.peer(&peer).unwrap().unwrap();
    // Valid while now < expiry (RFC 6189 §4.9).
    assert!(p.live_rs2(T0 + 99).is_some());
    assert!(p.live_rs2(T0 + 100).is_none());
    assert!(p.live_rs1(T0 + 999).is_some());
    assert!(p.live_rs1(T0 + 1000).is_none());
    // The engine's view: the secrets are still loaded, and their expiry tells it which to use.
    let e = store.load(&peer).unwrap().unwrap();
    assert!(e.rs2.as_ref().unwrap().valid_at(T0 + 500).is_none());
    assert!(e.rs1.as_ref().unwrap().valid_at(T0 + 500).is_some());

    // Purging erases expired secrets from disk but keeps the contact.
    assert_eq!(store.purge_expired(T0 + 500).unwrap(), 1);
    let p = store.peer(&peer).unwrap().unwrap();
    assert!(p.rs2.is_none());
    assert_eq!(p.rs1.as_ref().unwrap().secret.expose(), &[2; 32]);
    assert_eq!(store.purge_expired(T0 + 500).unwrap(), 0);
    // A never-expiring secret is never purged.
    store
        .store_secret(&peer, &secret(3), Expiry::Never, T0 + 2)
        .unwrap();
    assert_eq!(store.purge_expired(u64::MAX / 2).unwrap(), 1); // rs2 (= old rs1, T0+1000)
    let p = store.peer(&peer).unwrap().unwrap();
    assert_eq!(p.rs1.as_ref().unwrap().secret.expose(), &[3; 32]);
    assert!(p.rs2.is_none());
}

#[test]
fn verified_flag_persists_across_reopen_and_mismatch_clears_it() {
    let (_dir, path, mut store) = temp_store();
    let peer = zid(0x55);
    // Unknown peers: the trait's set_verified/record_mismatch are no-ops, the contact
    // operations say so.
    store.set_verified(&peer, true).unwrap();
    store.record_mismatch(&peer).unwrap();
    assert!(store.peer(&peer).unwrap().is_none());
    assert!(matches!(
        store.verify(&peer),
        Err(StoreError::NoSuchPeer { .. })
    ));

    store
        .store_secret(&peer, &secret(9), Expiry::Never, T0)
        .unwrap();
    store.set_verified(&peer, true).unwrap();
    drop(store);

    let mut store = Store::open(&path).unwrap();
    assert!(store.load(&peer).unwrap().unwrap().verified);
    assert_eq!(
        store.contact(&peer).unwrap().unwrap().state,
        PeerState::Verified
    );

    // A cache mismatch on a later call: verified is cleared, "key changed" shown.
    store.record_mismatch(&peer).unwrap();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let e = store.load(&peer).unwrap().unwrap();
    assert!(!e.verified && e.mismatch);
    assert_eq!(
        store.contact(&peer).unwrap().unwrap().state,
        PeerState::KeyChanged
    );
    // Rejecting keeps the warning; confirming a new SAS clears it.
    store.set_verified(&peer, false).unwrap();
    assert_eq!(
        store.contact(&peer).unwrap().unwrap().state,
        PeerState::KeyChanged
    );
    store.set_verified(&peer, true).unwrap();
    let e = store.load(&peer).unwrap().unwrap();
    assert!(e.verified && !e.mismatch);

    // The contact commands: unverify / verify.
    store.unverify(&peer).unwrap();
    assert_eq!(
        store.contact(&peer).unwrap().unwrap().state,
        PeerState::Unverified
    );
    store.record_key_change(&peer, T0 + 1).unwrap();
    assert_eq!(
        store.contact(&peer).unwrap().unwrap().state,
        PeerState::KeyChanged
    );
    store.verify(&peer).unwrap();
    assert_eq!(
        store.contact(&peer).unwrap().unwrap().state,
        PeerState::Verified
    );
}

#[test]
fn forget_deletes_the_row_and_its_secrets() {
    let (_dir, path, mut store) = temp_store();
    let a = zid(0x66);
    let b = zid(0x67);
    store
        .store_secret(&a, &secret(0x5a), Expiry::Never, T0)
        .unwrap();
    store
        .store_secret(&b, &secret(0x5b), Expiry::Never, T0)
        .unwrap();
    assert!(store.forget(&a).unwrap());
    assert!(!store.forget(&a).unwrap());
    assert!(store.peer(&a).unwrap().is_none());
    assert!(store.load(&a).unwrap().is_none());
    assert!(store.peer(&b).unwrap().is_some());

    // secure_delete + WAL truncation: the forgotten secret's bytes are nowhere in the files,
    // neither while the store is open (database, -wal, -shm) nor after it is closed.
    let needle = [0x5a_u8; 32];
    let assert_gone = || {
        for f in common::list_dir(path.parent().unwrap()) {
            if f.is_file() {
                let bytes = std::fs::read(&f).unwrap();
                assert!(
                    !bytes.windows(32).any(|w| w == needle),
                    "forgotten secret still in {}",
                    f.display()
                );
            }
        }
    };
    assert_gone();
    drop(store);
    assert_gone();
    let mut store = Store::open(&path).unwrap();
    assert!(store.peer(&a).unwrap().is_none());
    assert_eq!(store.forget_all().unwrap(), 1);
    assert!(store.contacts().unwrap().is_empty());
}

#[test]
fn contacts_list_lookup_and_names() {
    let (_dir, _path, mut store) = temp_store();
    let ana = Zid([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 1]);
    let ana2 = Zid([0x12, 0x34, 0x99, 0x99, 0, 0, 0, 0, 0, 0, 0, 2]);
    let anon = Zid([0xfe; 12]);
    for z in [ana, ana2, anon] {
        store
            .store_secret(&z, &secret(1), Expiry::Never, T0)
            .unwrap();
    }
    store.set_display_name(&ana, Some("  Ana  ")).unwrap();
    store.set_display_name(&ana2, Some("bruno")).unwrap();
    store.verify(&ana).unwrap();

    let list = store.contacts().unwrap();
    let labels: Vec<String> = list.iter().map(|c| c.label()).collect();
    assert_eq!(
        labels,
        vec!["Ana".to_string(), "bruno".into(), anon.to_hex()]
    );
    assert_eq!(list[0].state, PeerState::Verified);
    assert_eq!(list[1].state, PeerState::Unverified);

    // By name (case-insensitive), by ZID prefix (either case).
    assert_eq!(store.resolve("ana").unwrap().zid, ana);
    assert_eq!(store.resolve("BRUNO").unwrap().zid, ana2);
    assert_eq!(store.resolve("12345678").unwrap().zid, ana);
    assert_eq!(store.resolve("FEFE").unwrap().zid, anon);
    assert_eq!(store.resolve(&anon.to_hex()).unwrap().zid, anon);
    match store.resolve("1234") {
        Err(StoreError::AmbiguousPeer { count: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
    match store.resolve("carla") {
        Err(e @ StoreError::NoSuchPeer { .. }) => assert!(e.to_string().contains("carla")),
        other => panic!("{other:?}"),
    }
    // Too short a prefix is not a ZID query.
    assert!(store.find("12").unwrap().is_empty());

    // Names: cleared with None, refused when empty, too long, or with control characters.
    store.set_display_name(&ana2, None).unwrap();
    assert!(
        store
            .contact(&ana2)
            .unwrap()
            .unwrap()
            .display_name
            .is_none()
    );
    for bad in ["", "   ", "a\nb", "tab\there", &"x".repeat(65)] {
        assert!(
            matches!(
                store.set_display_name(&ana, Some(bad)),
                Err(StoreError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(store.set_display_name(&ana, Some(&"é".repeat(64))).is_ok());
    assert!(matches!(
        store.set_display_name(&zid(0x01), Some("nobody")),
        Err(StoreError::NoSuchPeer { .. })
    ));
    // Renaming is not contact with the peer: last_seen unchanged.
    assert_eq!(store.contact(&ana).unwrap().unwrap().last_seen, T0);
}

#[test]
fn ephemeral_store_has_the_same_api() {
    let mut store = Store::open_ephemeral().unwrap();
    assert!(store.is_ephemeral());
    assert!(store.location().path().is_none());
    let me = store.identity_or_create(&mut SeededRandom(8), T0).unwrap();
    let peer = zid(0x77);
    store
        .store_secret(&peer, &secret(1), Expiry::Never, T0)
        .unwrap();
    store
        .store_secret(&peer, &secret(2), Expiry::Never, T0)
        .unwrap();
    store.set_verified(&peer, true).unwrap();
    let e = store.load(&peer).unwrap().unwrap();
    assert_eq!(e.rs2.unwrap().secret.expose(), &[1; 32]);
    assert!(e.verified);
    assert_eq!(store.identity().unwrap(), Some(me));
    assert_eq!(store.schema_version().unwrap(), Store::supported_schema());
    // Two ephemeral stores share nothing.
    let other = Store::open_ephemeral().unwrap();
    assert!(other.identity().unwrap().is_none());
    assert!(other.peer(&peer).unwrap().is_none());
}

#[test]
fn shared_cache_wrapper_works_over_the_store() {
    // Two streams of one call share the store through the engine's SharedCache.
    let (_dir, _path, store) = temp_store();
    let mut a = sotto_zrtp::cache::SharedCache::new(store);
    let mut b = a.clone();
    let peer = zid(0x88);
    a.store_secret(&peer, &secret(4), Expiry::Never, T0)
        .unwrap();
    assert_eq!(
        b.load(&peer).unwrap().unwrap().rs1.unwrap().secret.expose(),
        &[4; 32]
    );
}
