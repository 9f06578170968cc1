//! Property test: any peer record written through the store reads back identical, and the
//! rs1 -> rs2 rotation holds for any sequence of secrets.
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

use proptest::prelude::*;
use sotto_proto::{SecretArray, Zid};
use sotto_store::{Expiry, PeerState, RetainedSecret, Store};
use sotto_zrtp::cache::ZidCache;

fn expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        Just(Expiry::Never),
        (0u64..=i64::MAX as u64).prop_map(Expiry::At)
    ]
}

fn retained() -> impl Strategy<Value = Option<([u8; 32], Expiry)>> {
    proptest::option::of((any::<[u8; 32]>(), expiry()))
}

fn to_secret(v: &Option<([u8; 32], Expiry)>) -> Option<RetainedSecret> {
    v.map(|(b, e)| RetainedSecret::new(SecretArray::new(b), e))
}

fn same(a: &Option<RetainedSecret>, b: &Option<([u8; 32], Expiry)>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some((bytes, e))) => a.secret.expose() == bytes && a.expiry == *e,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_record_round_trips(
        zid in any::<[u8; 12]>(),
        name in proptest::option::of("[a-zA-Z0-9éü_.-][a-zA-Z0-9 éü_.-]{0,40}[a-zA-Z0-9éü_.-]"),
        rs1 in retained(),
        rs2 in retained(),
        pbx in retained(),
        verified in any::<bool>(),
        key_changed in any::<bool>(),
        first in 0u64..=(i64::MAX as u64) / 2,
        later in 0u64..1_000_000,
    ) {
        let mut store = Store::open_ephemeral().unwrap();
        let zid = Zid(zid);
        store.update_peer(&zid, first, |p| {
            p.display_name = name.clone();
            p.rs1 = to_secret(&rs1);
            p.rs2 = to_secret(&rs2);
            p.pbx_secret = to_secret(&pbx);
            p.verified = verified;
            p.key_changed = key_changed;
            Ok::<(), ()>(())
        }).unwrap().unwrap();
        store.update_peer(&zid, first + later, |_| Ok::<(), ()>(())).unwrap().unwrap();
        let p = store.peer(&zid).unwrap().unwrap();
        prop_assert_eq!(p.zid, zid);
        prop_assert_eq!(&p.display_name, &name);
        prop_assert!(same(&p.rs1, &rs1));
        prop_assert!(same(&p.rs2, &rs2));
        prop_assert!(same(&p.pbx_secret, &pbx));
        prop_assert_eq!(p.verified, verified);
        prop_assert_eq!(p.key_changed, key_changed);
        prop_assert_eq!(p.first_seen, first);
        prop_assert_eq!(p.last_seen, first + later);
        let expected = if key_changed {
            PeerState::KeyChanged
        } else if verified {
            PeerState::Verified
        } else {
            PeerState::Unverified
        };
        prop_assert_eq!(p.state(), expected);
        // The engine's view carries the same values.
        let e = store.load(&zid).unwrap().unwrap();
        prop_assert!(same(&e.rs1, &rs1) && same(&e.rs2, &rs2) && same(&e.pbx_secret, &pbx));
        prop_assert_eq!((e.verified, e.mismatch), (verified, key_changed));
    }

    #[test]
    fn rotation_keeps_the_two_newest(secrets in proptest::collection::vec(any::<[u8; 32]>(), 1..12)) {
        let mut store = Store::open_ephemeral().unwrap();
        let zid = Zid([1; 12]);
        for (i, s) in secrets.iter().enumerate() {
            store.store_secret(&zid, &SecretArray::new(*s), Expiry::At(i as u64), i as u64).unwrap();
        }
        let e = store.load(&zid).unwrap().unwrap();
        let n = secrets.len();
        prop_assert_eq!(e.rs1.as_ref().unwrap().secret.expose(), &secrets[n - 1]);
        prop_assert_eq!(e.rs1.as_ref().unwrap().expiry, Expiry::At((n - 1) as u64));
        if n >= 2 {
            prop_assert_eq!(e.rs2.as_ref().unwrap().secret.expose(), &secrets[n - 2]);
            prop_assert_eq!(e.rs2.as_ref().unwrap().expiry, Expiry::At((n - 2) as u64));
        } else {
            prop_assert!(e.rs2.is_none());
        }
    }
}
