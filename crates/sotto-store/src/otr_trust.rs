//! The OTR trust store: our long-term DSA key per XMPP account, and the fingerprints of each
//! contact's keys with their verified flag (what Pidgin kept in `otr.private_key` and
//! `otr.fingerprints`), in the same SQLite file as the ZID cache.
//!
//! * The private key is a secret: on disk it is a BLOB in the 0600 database; in memory it is
//!   copied straight from SQLite into zeroizing buffers and then into
//!   [`LongTermKey`](sotto_otr::LongTermKey), whose secret exponent zeroizes on drop.
//! * A fingerprint is verified per key, never per contact: when a contact presents a key we
//!   have not seen for them, [`Store::otr_fingerprint_seen`] reports
//!   [`FingerprintSeen::Changed`] (the driver shows a loud warning) and the new key is stored
//!   unverified, whatever the old key's flag was.
//! * No message, no conversation time line and no session key is ever written: only keys,
//!   fingerprints, flags and first/last-seen times.
//! * Accounts and contacts are stored as given; drivers pass bare JIDs in lower case.

use crate::error::{Result, StoreError};
use crate::store::{Store, to_sql_time};
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, params};
use sotto_otr::{Fingerprint, KnownPeer, LongTermKey};
use sotto_proto::SecretBytes;
use sotto_proto::crypto::Random;

/// One key a contact presented, as the trust store remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtrFingerprint {
    /// SHA-1 of the contact's DSA public key.
    pub fingerprint: Fingerprint,
    /// The user compared this fingerprint, or SMP succeeded with this key.
    pub verified: bool,
    /// When this key was first seen (Unix seconds).
    pub first_seen: u64,
    /// When this key was last seen (Unix seconds).
    pub last_seen: u64,
}

/// What [`Store::otr_fingerprint_seen`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintSeen {
    /// The first key we ever see for this contact (stored, unverified).
    New,
    /// A key we have seen for this contact before.
    Known {
        /// Whether it was verified.
        verified: bool,
    },
    /// LOUD WARNING: the contact presented a key we never saw for them, while we know other
    /// keys of theirs. The new key is stored unverified.
    Changed {
        /// The key the contact used most recently before this one.
        previous: Fingerprint,
        /// Whether that key was verified.
        previous_verified: bool,
    },
}

fn fingerprint_from_blob(v: ValueRef<'_>) -> Result<Fingerprint, &'static str> {
    match v {
        ValueRef::Blob(b) => <[u8; 20]>::try_from(b)
            .map(Fingerprint)
            .map_err(|_| "an OTR fingerprint is not 20 bytes"),
        _ => Err("an OTR fingerprint is not a blob"),
    }
}

fn unix_from_sql(t: i64) -> Result<u64, &'static str> {
    u64::try_from(t).map_err(|_| "a time is negative")
}

impl Store {
    /// Our OTR long-term key for `account`, if one was made.
    ///
    /// A stored key that does not make a valid DSA key is reported as
    /// [`StoreError::Corrupt`].
    pub fn otr_key(&self, account: &str) -> Result<Option<LongTermKey>> {
        let row = self
            .conn
            .query_row(
                "SELECT p, q, g, y, x FROM otr_keys WHERE account = ?1",
                [account],
                |r| {
                    // Copy each column out of SQLite's buffer once, the secret straight into a
                    // zeroizing buffer (no intermediate Vec).
                    let mut cols: Vec<SecretBytes> = Vec::with_capacity(5);
                    for i in 0..5 {
                        match r.get_ref(i)? {
                            ValueRef::Blob(b) => cols.push(SecretBytes::from_slice(b)),
                            _ => return Ok(None),
                        }
                    }
                    Ok(Some(cols))
                },
            )
            .optional()
            .map_err(|e| self.db(e))?;
        let Some(cols) = row else {
            return Ok(None);
        };
        let corrupt = || {
            StoreError::corrupt(
                &self.location,
                format!("the OTR key of account {account} is not a valid DSA key"),
            )
        };
        let [p, q, g, y, x] =
            <[SecretBytes; 5]>::try_from(cols.ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        LongTermKey::from_parts(p.expose(), q.expose(), g.expose(), y.expose(), x.expose())
            .map(Some)
            .map_err(|_| corrupt())
    }

    /// Stores `key` as the OTR key of `account`, unless the account already has one. Returns
    /// false (and stores nothing) if it had.
    pub fn otr_set_key_if_absent(
        &mut self,
        account: &str,
        key: &LongTermKey,
        now: u64,
    ) -> Result<bool> {
        let ([p, q, g, y], x) = key.to_parts();
        let (tx, location) = self.begin_write()?;
        let db = |e| StoreError::from_db(&location, e);
        let n = tx
            .execute(
                "INSERT INTO otr_keys (account, p, q, g, y, x, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(account) DO NOTHING",
                params![account, p, q, g, y, x.expose(), to_sql_time(now)],
            )
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(n == 1)
    }

    /// Our OTR key for `account`, generated from `rng` and stored on first use (a 1024-bit DSA
    /// key, as libotr makes; about a second). If another handle stored one meanwhile, that one
    /// is used. Returns the key and whether it was created now.
    pub fn otr_key_or_create(
        &mut self,
        account: &str,
        rng: &mut dyn Random,
        now: u64,
    ) -> Result<(LongTermKey, bool)> {
        if let Some(k) = self.otr_key(account)? {
            return Ok((k, false));
        }
        // Generated outside the transaction: it is slow, and nothing waits for our lock.
        let fresh = LongTermKey::generate(rng);
        let created = self.otr_set_key_if_absent(account, &fresh, now)?;
        match self.otr_key(account)? {
            Some(k) => Ok((k, created)),
            None => Err(StoreError::corrupt(
                &self.location,
                "the OTR key vanished after it was stored",
            )),
        }
    }

    /// Every key `contact` presented to `account`, the most recently seen first.
    pub fn otr_fingerprints(&self, account: &str, contact: &str) -> Result<Vec<OtrFingerprint>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT fingerprint, verified, first_seen, last_seen FROM otr_fingerprints \
                 WHERE account = ?1 AND contact = ?2 \
                 ORDER BY last_seen DESC, first_seen DESC, fingerprint",
            )
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map([account, contact], |r| {
                let fp = fingerprint_from_blob(r.get_ref(0)?);
                let verified: bool = r.get(1)?;
                let first: i64 = r.get(2)?;
                let last: i64 = r.get(3)?;
                Ok((|| -> Result<OtrFingerprint, &'static str> {
                    Ok(OtrFingerprint {
                        fingerprint: fp?,
                        verified,
                        first_seen: unix_from_sql(first)?,
                        last_seen: unix_from_sql(last)?,
                    })
                })())
            })
            .map_err(|e| self.db(e))?;
        let mut out = Vec::new();
        for row in rows {
            match row.map_err(|e| self.db(e))? {
                Ok(f) => out.push(f),
                Err(what) => return Err(StoreError::corrupt(&self.location, what)),
            }
        }
        Ok(out)
    }

    /// What to tell the OTR engine before a conversation
    /// ([`Session::set_known_peer`](sotto_otr::Session::set_known_peer)): the key `contact`
    /// used most recently, and whether it is verified.
    pub fn otr_known_peer(&self, account: &str, contact: &str) -> Result<Option<KnownPeer>> {
        Ok(self
            .otr_fingerprints(account, contact)?
            .first()
            .map(|f| KnownPeer {
                fingerprint: f.fingerprint,
                verified: f.verified,
            }))
    }

    /// Records that `contact` presented `fingerprint` to `account` at `now` (after an OTR key
    /// exchange), in one transaction: a key seen before gets its last-seen time raised; a key
    /// never seen is stored unverified, and reported as [`FingerprintSeen::Changed`] if the
    /// contact had other keys.
    pub fn otr_fingerprint_seen(
        &mut self,
        account: &str,
        contact: &str,
        fingerprint: &Fingerprint,
        now: u64,
    ) -> Result<FingerprintSeen> {
        let known = self.otr_fingerprints(account, contact)?;
        let now_sql = to_sql_time(now);
        let (tx, location) = self.begin_write()?;
        let db = |e| StoreError::from_db(&location, e);
        // Re-read under the write lock: another handle may have recorded it meanwhile.
        let this: Option<bool> = tx
            .query_row(
                "SELECT verified FROM otr_fingerprints \
                 WHERE account = ?1 AND contact = ?2 AND fingerprint = ?3",
                params![account, contact, fingerprint.0.as_slice()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let seen = match this {
            Some(verified) => {
                tx.execute(
                    "UPDATE otr_fingerprints SET last_seen = max(last_seen, ?4) \
                     WHERE account = ?1 AND contact = ?2 AND fingerprint = ?3",
                    params![account, contact, fingerprint.0.as_slice(), now_sql],
                )
                .map_err(db)?;
                FingerprintSeen::Known { verified }
            }
            None => {
                tx.execute(
                    "INSERT INTO otr_fingerprints \
                     (account, contact, fingerprint, verified, first_seen, last_seen) \
                     VALUES (?1, ?2, ?3, 0, ?4, ?4)",
                    params![account, contact, fingerprint.0.as_slice(), now_sql],
                )
                .map_err(db)?;
                match known.iter().find(|f| f.fingerprint != *fingerprint) {
                    Some(prev) => FingerprintSeen::Changed {
                        previous: prev.fingerprint,
                        previous_verified: prev.verified,
                    },
                    None => FingerprintSeen::New,
                }
            }
        };
        tx.commit().map_err(db)?;
        Ok(seen)
    }

    /// Marks `fingerprint` of `contact` verified (the user compared it, or SMP succeeded) or
    /// not. A fingerprint not yet stored is added (first and last seen `now`).
    pub fn otr_set_verified(
        &mut self,
        account: &str,
        contact: &str,
        fingerprint: &Fingerprint,
        verified: bool,
        now: u64,
    ) -> Result<()> {
        let (tx, location) = self.begin_write()?;
        let db = |e| StoreError::from_db(&location, e);
        tx.execute(
            "INSERT INTO otr_fingerprints \
             (account, contact, fingerprint, verified, first_seen, last_seen) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
             ON CONFLICT(account, contact, fingerprint) DO UPDATE SET verified = excluded.verified",
            params![
                account,
                contact,
                fingerprint.0.as_slice(),
                verified,
                to_sql_time(now)
            ],
        )
        .map_err(db)?;
        tx.commit().map_err(db)
    }

    /// Forgets every fingerprint of `contact` for `account`; returns how many were removed.
    pub fn otr_forget_contact(&mut self, account: &str, contact: &str) -> Result<usize> {
        let (tx, location) = self.begin_write()?;
        let db = |e| StoreError::from_db(&location, e);
        let n = tx
            .execute(
                "DELETE FROM otr_fingerprints WHERE account = ?1 AND contact = ?2",
                [account, contact],
            )
            .map_err(db)?;
        tx.commit().map_err(db)?;
        self.scrub();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::MIGRATIONS;
    use std::sync::OnceLock;

    const ACC: &str = "me@example.org";
    const BOB: &str = "bob@example.org";

    /// splitmix64, seeded: reproducible keys.
    struct Seeded(u64);
    impl Random for Seeded {
        fn fill(&mut self, buf: &mut [u8]) {
            for chunk in buf.chunks_mut(8) {
                self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
            }
        }
    }

    fn fp(b: u8) -> Fingerprint {
        Fingerprint([b; 20])
    }

    fn shared_key() -> &'static LongTermKey {
        static K: OnceLock<LongTermKey> = OnceLock::new();
        K.get_or_init(|| LongTermKey::generate(&mut Seeded(1)))
    }

    #[test]
    fn the_key_round_trips_and_survives_a_restart_with_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sotto.db");
        let key = shared_key();
        {
            let mut s = Store::open(&path).unwrap();
            assert!(s.otr_key(ACC).unwrap().is_none());
            assert!(s.otr_set_key_if_absent(ACC, key, 100).unwrap());
            // A second key for the same account is not stored over the first.
            assert!(!s.otr_set_key_if_absent(ACC, key, 200).unwrap());
        }
        let s = Store::open(&path).unwrap();
        let back = s.otr_key(ACC).unwrap().unwrap();
        assert_eq!(back.fingerprint(), key.fingerprint());
        let (a, ax) = back.to_parts();
        let (b, bx) = key.to_parts();
        assert_eq!(a, b);
        assert_eq!(ax.expose(), bx.expose());
        assert!(s.otr_key("other@example.org").unwrap().is_none());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn key_or_create_makes_one_key_per_account_and_keeps_it() {
        let mut s = Store::open_ephemeral().unwrap();
        let mut rng = Seeded(2);
        let (k1, created) = s.otr_key_or_create(ACC, &mut rng, 5).unwrap();
        assert!(created);
        let (k2, created) = s.otr_key_or_create(ACC, &mut rng, 6).unwrap();
        assert!(!created);
        assert_eq!(k1.fingerprint(), k2.fingerprint());
    }

    #[test]
    fn an_invalid_stored_key_is_reported_corrupt() {
        let mut s = Store::open_ephemeral().unwrap();
        s.otr_set_key_if_absent(ACC, shared_key(), 1).unwrap();
        s.conn.execute("UPDATE otr_keys SET x = x'00'", []).unwrap();
        let err = s.otr_key(ACC).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("not a valid DSA key"), "{err}");
    }

    #[test]
    fn first_key_is_new_then_known_then_a_different_key_is_a_change() {
        let mut s = Store::open_ephemeral().unwrap();
        assert_eq!(s.otr_known_peer(ACC, BOB).unwrap(), None);
        assert_eq!(
            s.otr_fingerprint_seen(ACC, BOB, &fp(1), 10).unwrap(),
            FingerprintSeen::New
        );
        assert_eq!(
            s.otr_fingerprint_seen(ACC, BOB, &fp(1), 20).unwrap(),
            FingerprintSeen::Known { verified: false }
        );
        s.otr_set_verified(ACC, BOB, &fp(1), true, 21).unwrap();
        assert_eq!(
            s.otr_known_peer(ACC, BOB).unwrap(),
            Some(KnownPeer {
                fingerprint: fp(1),
                verified: true
            })
        );
        // Bob presents another key: a change, and the new key is NOT verified.
        assert_eq!(
            s.otr_fingerprint_seen(ACC, BOB, &fp(2), 30).unwrap(),
            FingerprintSeen::Changed {
                previous: fp(1),
                previous_verified: true
            }
        );
        assert_eq!(
            s.otr_known_peer(ACC, BOB).unwrap(),
            Some(KnownPeer {
                fingerprint: fp(2),
                verified: false
            })
        );
        let all = s.otr_fingerprints(ACC, BOB).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0],
            OtrFingerprint {
                fingerprint: fp(2),
                verified: false,
                first_seen: 30,
                last_seen: 30
            }
        );
        assert_eq!(
            all[1],
            OtrFingerprint {
                fingerprint: fp(1),
                verified: true,
                first_seen: 10,
                last_seen: 20
            }
        );
        // Back to the old, verified key (another device of Bob's): known and still verified.
        assert_eq!(
            s.otr_fingerprint_seen(ACC, BOB, &fp(1), 40).unwrap(),
            FingerprintSeen::Known { verified: true }
        );
        assert_eq!(
            s.otr_known_peer(ACC, BOB).unwrap().unwrap().fingerprint,
            fp(1)
        );
    }

    #[test]
    fn trust_is_per_account_and_per_contact() {
        let mut s = Store::open_ephemeral().unwrap();
        s.otr_set_verified(ACC, BOB, &fp(1), true, 1).unwrap();
        assert_eq!(
            s.otr_fingerprint_seen("other@example.org", BOB, &fp(1), 2)
                .unwrap(),
            FingerprintSeen::New
        );
        assert_eq!(
            s.otr_fingerprint_seen(ACC, "carol@example.org", &fp(1), 2)
                .unwrap(),
            FingerprintSeen::New
        );
        assert!(
            !s.otr_fingerprints("other@example.org", BOB).unwrap()[0].verified,
            "verified for one account must not leak to another"
        );
    }

    #[test]
    fn unverify_and_forget() {
        let mut s = Store::open_ephemeral().unwrap();
        s.otr_fingerprint_seen(ACC, BOB, &fp(1), 1).unwrap();
        s.otr_set_verified(ACC, BOB, &fp(1), true, 2).unwrap();
        s.otr_set_verified(ACC, BOB, &fp(1), false, 3).unwrap();
        let f = s.otr_fingerprints(ACC, BOB).unwrap();
        assert_eq!(f.len(), 1);
        assert!(!f[0].verified);
        assert_eq!(f[0].first_seen, 1);
        assert_eq!(s.otr_forget_contact(ACC, BOB).unwrap(), 1);
        assert!(s.otr_fingerprints(ACC, BOB).unwrap().is_empty());
    }

    #[test]
    fn fingerprints_persist_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sotto.db");
        {
            let mut s = Store::open(&path).unwrap();
            s.otr_fingerprint_seen(ACC, BOB, &fp(7), 100).unwrap();
            s.otr_set_verified(ACC, BOB, &fp(7), true, 101).unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(
            s.otr_fingerprint_seen(ACC, BOB, &fp(7), 200).unwrap(),
            FingerprintSeen::Known { verified: true }
        );
    }

    #[test]
    fn a_schema_1_store_is_migrated_and_keeps_its_zid_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sotto.db");
        {
            // A store as the previous sotto wrote it: schema 1 only.
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "application_id", crate::schema::APPLICATION_ID)
                .unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO peers (zid, verified, first_seen, last_seen) VALUES (?1, 1, 5, 6)",
                [[3u8; 12].as_slice()],
            )
            .unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), 2);
        let p = s.peer(&sotto_proto::Zid([3; 12])).unwrap().unwrap();
        assert!(p.verified);
        s.otr_fingerprint_seen(ACC, BOB, &fp(1), 1).unwrap();
        assert_eq!(s.otr_fingerprints(ACC, BOB).unwrap().len(), 1);
    }

    #[test]
    fn a_corrupt_fingerprint_row_is_a_clear_error() {
        let mut s = Store::open_ephemeral().unwrap();
        s.otr_fingerprint_seen(ACC, BOB, &fp(1), 1).unwrap();
        // The CHECK constraint keeps length 20; a negative time gets past STRICT's type check.
        s.conn
            .execute("UPDATE otr_fingerprints SET last_seen = -5", [])
            .unwrap_err();
        s.conn
            .execute_batch(
                "PRAGMA ignore_check_constraints = ON; \
                 UPDATE otr_fingerprints SET fingerprint = x'0102';",
            )
            .unwrap();
        let err = s.otr_fingerprints(ACC, BOB).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("not 20 bytes"), "{err}");
    }
}
