//! [`Store`]: the SQLite database behind the ZID cache, our identity and the contacts.

use crate::error::{Location, Result, StoreError};
use crate::fsperm;
use crate::model::{Contact, LocalIdentity, PeerRecord};
use crate::names::random_display_name;
use crate::schema::{self, APPLICATION_ID, MIGRATIONS};
use rusqlite::config::DbConfig;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use sotto_proto::crypto::Random;
use sotto_proto::{SecretArray, Zid};
use sotto_zrtp::cache::{Expiry, RetainedSecret};
use std::path::Path;
use std::time::Duration;

/// How long a handle waits for another handle's write lock before reporting [`StoreError::Busy`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest display name we store, in characters.
pub const MAX_NAME_CHARS: usize = 64;

const PEER_COLUMNS: &str = "zid, display_name, rs1, rs1_expiry, rs2, rs2_expiry, \
     pbx_secret, pbx_expiry, verified, key_changed, first_seen, last_seen";

/// The persistent (or, in `--ephemeral` mode, in-memory) state of one sotto installation.
///
/// * Every update is one SQLite transaction (`BEGIN IMMEDIATE ... COMMIT`): a crash or an error
///   in the middle leaves the previous state, never half a cache entry.
/// * On disk the database is in WAL mode, so several handles (two sotto processes, or a call and
///   `sotto contacts`) can use the same file at once; writers wait up to 5 s for each other.
/// * Times are Unix seconds supplied by the caller ([`unix_now`] in drivers, fixed values in
///   tests); randomness is injected.
///
/// # Sensitivity
///
/// The file holds the retained secrets rs1/rs2 (and PBX secrets) as plain BLOBs. Anyone who can
/// read it can impersonate this installation's key continuity to its peers: treat it like a
/// private key. It is created 0600 in a 0700 directory, deleted rows are overwritten
/// (`secure_delete`), and the WAL is truncated after deletions, but protection at rest is the
/// job of full-disk encryption. An optional passphrase-encrypted store is future work.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) location: Location,
}

/// The current time as Unix seconds, for drivers. Pure logic takes `now` as an argument instead.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn to_sql_time(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// The expiry column: the Unix time, or NULL for "never" (and for no secret).
fn expiry_to_sql(s: Option<&RetainedSecret>) -> Option<i64> {
    s.and_then(|s| s.expiry.as_unix()).map(to_sql_time)
}

/// Reads a secret column and its expiry column; `Err` names what is wrong for a corrupt row.
fn secret_from_row(
    row: &Row<'_>,
    secret_col: usize,
    expiry_col: usize,
) -> rusqlite::Result<Result<Option<RetainedSecret>, &'static str>> {
    let secret = match row.get_ref(secret_col)? {
        ValueRef::Null => return Ok(Ok(None)),
        ValueRef::Blob(b) => match SecretArray::from_slice(b) {
            Some(s) => s,
            None => return Ok(Err("a retained secret has the wrong length")),
        },
        _ => return Ok(Err("a retained secret is not a blob")),
    };
    let expiry = match row.get::<_, Option<i64>>(expiry_col)? {
        None => Expiry::Never,
        Some(t) => match u64::try_from(t) {
            Ok(t) => Expiry::At(t),
            Err(_) => return Ok(Err("a secret's expiry is negative")),
        },
    };
    Ok(Ok(Some(RetainedSecret::new(secret, expiry))))
}

fn time_from_row(row: &Row<'_>, col: usize) -> rusqlite::Result<Result<u64, &'static str>> {
    let t: i64 = row.get(col)?;
    Ok(u64::try_from(t).map_err(|_| "a time is negative"))
}

fn zid_from_blob(b: &[u8]) -> Result<Zid, &'static str> {
    <[u8; 12]>::try_from(b)
        .map(Zid)
        .map_err(|_| "a ZID is not 12 bytes")
}

/// One `peers` row, in the column order of [`PEER_COLUMNS`].
fn peer_from_row(row: &Row<'_>) -> rusqlite::Result<Result<PeerRecord, &'static str>> {
    let zid = match row.get_ref(0)? {
        ValueRef::Blob(b) => zid_from_blob(b),
        _ => Err("a ZID is not a blob"),
    };
    let display_name: Option<String> = row.get(1)?;
    let rs1 = secret_from_row(row, 2, 3)?;
    let rs2 = secret_from_row(row, 4, 5)?;
    let pbx = secret_from_row(row, 6, 7)?;
    let verified: bool = row.get(8)?;
    let key_changed: bool = row.get(9)?;
    let first_seen = time_from_row(row, 10)?;
    let last_seen = time_from_row(row, 11)?;
    Ok((|| {
        Ok(PeerRecord {
            zid: zid?,
            display_name,
            rs1: rs1?,
            rs2: rs2?,
            pbx_secret: pbx?,
            verified,
            key_changed,
            first_seen: first_seen?,
            last_seen: last_seen?,
        })
    })())
}

/// Checks a display name a user typed; returns it trimmed.
fn clean_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::InvalidName {
            reason: "it is empty",
        });
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(StoreError::InvalidName {
            reason: "it is longer than 64 characters",
        });
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::InvalidName {
            reason: "it contains control characters",
        });
    }
    Ok(name)
}

/// Sets the pragmas every connection uses, on disk or in memory.
fn base_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Temporary tables and indices stay in memory: nothing spills into /tmp.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Deleted content (a forgotten peer's secrets) is overwritten with zeros.
    conn.pragma_update(None, "secure_delete", "ON")?;
    // Do not run SQL functions from the schema of a file we did not write.
    conn.pragma_update(None, "trusted_schema", "OFF")?;
    Ok(())
}

/// What the header of an opened database says.
struct Header {
    application_id: i32,
    user_version: i64,
    objects: i64,
}

/// Reads the three values from one snapshot (another handle may be initialising the file).
fn read_header(conn: &Connection) -> rusqlite::Result<Header> {
    let read = |c: &Connection| -> rusqlite::Result<Header> {
        Ok(Header {
            application_id: c.pragma_query_value(None, "application_id", |r| r.get(0))?,
            user_version: c.pragma_query_value(None, "user_version", |r| r.get(0))?,
            objects: c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?,
        })
    };
    if conn.is_autocommit() {
        let tx = conn.unchecked_transaction()?;
        let h = read(&tx)?;
        tx.commit()?;
        Ok(h)
    } else {
        read(conn)
    }
}

/// Decides whether the database can be used, and at which schema version it is. Runs before any
/// write: a file that is not ours or is too new is refused untouched.
fn check_header(location: &Location, h: &Header, latest: u32) -> Result<u32> {
    let version = u32::try_from(h.user_version)
        .map_err(|_| StoreError::corrupt(location, "the schema version is negative"))?;
    if h.application_id == APPLICATION_ID {
        if version > latest {
            return Err(StoreError::TooNew {
                location: location.clone(),
                found: version,
                supported: latest,
            });
        }
        if version == 0 {
            return Err(StoreError::corrupt(
                location,
                "it is marked as sotto's but has no schema",
            ));
        }
        Ok(version)
    } else if h.application_id == 0 && h.user_version == 0 && h.objects == 0 {
        // A new, empty database: ours to initialise.
        Ok(0)
    } else {
        Err(StoreError::NotSotto {
            location: location.clone(),
        })
    }
}

impl Store {
    /// Opens the store at `path`, creating it (file 0600, missing directories 0700) if there is
    /// none, and migrating an older schema.
    ///
    /// Refuses, without modifying it, a file that is not a sotto database
    /// ([`StoreError::NotSotto`]), one written by a newer sotto ([`StoreError::TooNew`]) or one
    /// that fails SQLite's integrity check ([`StoreError::Corrupt`]). An existing store whose
    /// mode is not 0600 is set to 0600.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let location = Location::File(path.to_path_buf());
        let db = |e| StoreError::from_db(&location, e);
        fsperm::prepare_file(path)?;
        // No SQLITE_OPEN_CREATE: the file exists (we just checked or made it).
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // A WAL with content, left by a writer that crashed (or is still running).
        let hot_wal =
            std::fs::metadata(fsperm::with_suffix(path, "-wal")).is_ok_and(|m| m.len() > 0);
        let conn = Connection::open_with_flags(path, flags).map_err(db)?;
        // Until the file is known to be ours, closing must not checkpoint such a WAL into it:
        // a refused file keeps its bytes. (Without a hot WAL, closing writes nothing.)
        if hot_wal {
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
                .map_err(db)?;
        }
        base_pragmas(&conn).map_err(db)?;

        // Read-only inspection first.
        let header = read_header(&conn).map_err(db)?;
        let version = check_header(&location, &header, schema::latest())?;
        if version > 0 {
            let verdict: String = conn
                .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
                .map_err(db)?;
            if verdict != "ok" {
                return Err(StoreError::corrupt(
                    &location,
                    "SQLite's integrity check failed",
                ));
            }
        }
        fsperm::tighten_mode(path)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)
            .map_err(db)?;

        // WAL: readers do not block the writer, and a crash never leaves half a transaction.
        // (On a file system without shared memory SQLite keeps its rollback journal, which is
        // just as atomic but serialises handles.)
        // Switching needs an exclusive lock and SQLite does not wait for it (no busy handler),
        // so two handles opening a new store at once retry here for up to the busy timeout.
        let started = std::time::Instant::now();
        loop {
            let mode: String = conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .map_err(db)?;
            if mode.eq_ignore_ascii_case("wal") {
                break;
            }
            match conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            {
                Ok(_) => break,
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && started.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(db(e)),
            }
        }
        // FULL: a committed cache update survives power loss. Losing the newest rs1 would make
        // the next call report a false key change.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;

        let mut store = Self { conn, location };
        store.migrate()?;
        Ok(store)
    }

    /// An in-memory store with the same API that writes nothing to disk (`--ephemeral`): a new
    /// identity every run, and everything is gone when it is dropped.
    pub fn open_ephemeral() -> Result<Self> {
        let location = Location::Ephemeral;
        let db = |e| StoreError::from_db(&location, e);
        let conn = Connection::open_in_memory().map_err(db)?;
        base_pragmas(&conn).map_err(db)?;
        let mut store = Self { conn, location };
        store.migrate()?;
        Ok(store)
    }

    pub(crate) fn db(&self, e: rusqlite::Error) -> StoreError {
        StoreError::from_db(&self.location, e)
    }

    /// Runs the migrations from the file's schema to ours, in one transaction with the version
    /// bump. Re-checks the header under the write lock: another handle may have migrated first.
    fn migrate(&mut self) -> Result<()> {
        self.migrate_with(MIGRATIONS)
    }

    /// Opens an IMMEDIATE transaction (the write lock is taken before anything is read, so two
    /// handles updating the store queue instead of failing on a lock upgrade), with the store's
    /// location for naming it in errors ([`StoreError::from_db`]).
    pub(crate) fn begin_write(&mut self) -> Result<(rusqlite::Transaction<'_>, Location)> {
        let location = self.location.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_db(&location, e))?;
        Ok((tx, location))
    }

    /// [`migrate`](Self::migrate) with an explicit list (tests add a future migration).
    fn migrate_with(&mut self, migrations: &[&str]) -> Result<()> {
        let location = self.location.clone();
        let db = |e| StoreError::from_db(&location, e);
        let latest = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
        // Up to date (the common case): no write lock needed, so opening never waits for
        // another handle's writes.
        let header = read_header(&self.conn).map_err(db)?;
        if check_header(&location, &header, latest)? == latest {
            return Ok(());
        }
        let (tx, _) = self.begin_write()?;
        let header = read_header(&tx).map_err(db)?;
        let version = check_header(&location, &header, latest)?;
        if version < latest {
            for sql in migrations.iter().skip(version as usize) {
                tx.execute_batch(sql).map_err(db)?;
            }
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(db)?;
            tx.pragma_update(None, "user_version", latest).map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Puts an unusable store file aside so a new one can be created, without changing its
    /// content: renames `path` (and its `-wal` / `-shm` files, if any, so SQLite can still read
    /// it) to `path.unusable-NOW[-N]`. Returns the new name. For the app's "corrupt cache
    /// file: kept aside, not overwritten" path; call it only after the user was told.
    pub fn move_aside(path: impl AsRef<Path>, now: u64) -> Result<std::path::PathBuf> {
        let path = path.as_ref();
        let with_suffix = fsperm::with_suffix;
        let mut target = with_suffix(path, &format!(".unusable-{now}"));
        let mut n = 1u32;
        while target.exists() || with_suffix(&target, "-wal").exists() {
            target = with_suffix(path, &format!(".unusable-{now}-{n}"));
            n = n.saturating_add(1);
        }
        let io = |action, p: &Path, source| StoreError::Io {
            action,
            path: p.to_path_buf(),
            source,
        };
        std::fs::rename(path, &target).map_err(|e| io("move aside", path, e))?;
        for side in ["-wal", "-shm"] {
            let from = with_suffix(path, side);
            if from.exists() {
                let to = with_suffix(&target, side);
                std::fs::rename(&from, &to).map_err(|e| io("move aside", &from, e))?;
            }
        }
        Ok(target)
    }

    /// Chooses between full durability (the default: every committed update is on disk before
    /// the call returns, `synchronous = FULL`, one or two fsyncs, ~2–6 ms on a VM disk) and
    /// `synchronous = NORMAL` (`durable = false`: updates stay atomic and a process crash loses
    /// nothing, but a power loss may undo the last updates, which could later show as a false
    /// key change). A no-op for an ephemeral store.
    pub fn set_durable(&mut self, durable: bool) -> Result<()> {
        if self.is_ephemeral() {
            return Ok(());
        }
        let level = if durable { "FULL" } else { "NORMAL" };
        self.conn
            .pragma_update(None, "synchronous", level)
            .map_err(|e| self.db(e))
    }

    /// Where this store lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// True for an `--ephemeral` in-memory store.
    pub fn is_ephemeral(&self) -> bool {
        self.location == Location::Ephemeral
    }

    /// The schema version this build of sotto writes.
    pub fn supported_schema() -> u32 {
        schema::latest()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.db(e))?;
        u32::try_from(v).map_err(|_| StoreError::corrupt(&self.location, "negative schema"))
    }

    /// Overwrites what deletions left in the WAL by checkpointing and truncating it. Best
    /// effort: if another handle is reading, the WAL is truncated on a later checkpoint.
    /// Never waits: a TRUNCATE checkpoint would otherwise call the busy handler until every
    /// other reader is done, and this runs on the handshake path.
    pub(crate) fn scrub(&self) {
        if !self.is_ephemeral() {
            let _ = self.conn.busy_timeout(Duration::ZERO);
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
        }
    }

    // ---------------------------------------------------------------- our identity

    /// Our identity, if one was created.
    pub fn identity(&self) -> Result<Option<LocalIdentity>> {
        let row = self
            .conn
            .query_row(
                "SELECT zid, display_name, created_at FROM local_identity WHERE id = 1",
                [],
                |r| {
                    let zid = match r.get_ref(0)? {
                        ValueRef::Blob(b) => zid_from_blob(b),
                        _ => Err("our ZID is not a blob"),
                    };
                    let name: String = r.get(1)?;
                    let created = time_from_row(r, 2)?;
                    Ok((zid, name, created))
                },
            )
            .optional()
            .map_err(|e| self.db(e))?;
        let Some((zid, display_name, created_at)) = row else {
            return Ok(None);
        };
        let corrupt = |what| StoreError::corrupt(&self.location, what);
        Ok(Some(LocalIdentity {
            zid: zid.map_err(corrupt)?,
            display_name,
            created_at: created_at.map_err(corrupt)?,
        }))
    }

    /// Our identity, created on first use: a ZID of 96 bits from `rng` (RFC 6189 §4.9) and a
    /// pseudonymous display name also drawn from `rng`.
    pub fn identity_or_create(&mut self, rng: &mut dyn Random, now: u64) -> Result<LocalIdentity> {
        let (tx, location) = self.begin_write()?;
        let db = |e| StoreError::from_db(&location, e);
        let exists: bool = tx
            .query_row("SELECT EXISTS(SELECT 1 FROM local_identity)", [], |r| {
                r.get(0)
            })
            .map_err(db)?;
        if !exists {
            let id = new_identity(rng, now);
            tx.execute(
                "INSERT INTO local_identity (id, zid, display_name, created_at) \
                 VALUES (1, ?1, ?2, ?3)",
                params![id.zid.0.as_slice(), id.display_name, to_sql_time(now)],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        self.identity()?
            .ok_or_else(|| StoreError::corrupt(&self.location, "our identity vanished"))
    }

    /// Our identity with the given ZID (`sotto zrtp-peer --zid`): created with a random display
    /// name if the store has none yet; [`StoreError::WrongLocalZid`] if the store belongs to
    /// another ZID (its retained secrets would be meaningless, RFC 6189 §4.9).
    pub fn identity_with_zid(
        &mut self,
        zid: &Zid,
        rng: &mut dyn Random,
        now: u64,
    ) -> Result<LocalIdentity> {
        let (tx, location) = self.begin_write()?;
        let db = |e| StoreError::from_db(&location, e);
        tx.execute(
            "INSERT INTO local_identity (id, zid, display_name, created_at) \
             VALUES (1, ?1, ?2, ?3) ON CONFLICT(id) DO NOTHING",
            params![zid.0.as_slice(), random_display_name(rng), to_sql_time(now)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        let id = self
            .identity()?
            .ok_or_else(|| StoreError::corrupt(&self.location, "our identity vanished"))?;
        if id.zid != *zid {
            return Err(StoreError::WrongLocalZid {
                location: self.location.clone(),
                ours: id.zid,
                requested: *zid,
            });
        }
        Ok(id)
    }

    /// Replaces our ZID and display name with new random ones (`sotto id --new`).
    ///
    /// Retained secrets and verification flags are bound to the old ZID on both sides, so in
    /// the same transaction every peer's rs1, rs2 and PBX secret are erased and its verified and
    /// key-changed flags cleared: after rotation every peer is "unverified" and the next call
    /// with it starts a new key continuity. Contact names are kept; use
    /// [`forget_all`](Self::forget_all) to drop them too.
    pub fn rotate_identity(&mut self, rng: &mut dyn Random, now: u64) -> Result<LocalIdentity> {
        let old = self.identity()?;
        let mut id = new_identity(rng, now);
        while old
            .as_ref()
            .is_some_and(|o| o.zid == id.zid || o.display_name == id.display_name)
        {
            id = new_identity(rng, now);
        }
        let (tx, location) = self.begin_write()?;
        let db = |e| StoreError::from_db(&location, e);
        tx.execute(
            "INSERT INTO local_identity (id, zid, display_name, created_at) VALUES (1, ?1, ?2, ?3) \
             ON CONFLICT(id) DO UPDATE SET zid = excluded.zid, \
             display_name = excluded.display_name, created_at = excluded.created_at",
            params![id.zid.0.as_slice(), id.display_name, to_sql_time(now)],
        )
        .map_err(db)?;
        tx.execute(
            "UPDATE peers SET rs1 = NULL, rs1_expiry = NULL, rs2 = NULL, rs2_expiry = NULL, \
             pbx_secret = NULL, pbx_expiry = NULL, verified = 0, key_changed = 0",
            [],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        self.scrub();
        Ok(id)
    }

    // ---------------------------------------------------------------- the ZID cache

    /// The cache entry for `zid`, secrets included (expired ones too: see
    /// [`PeerRecord::live_rs1`]).
    pub fn peer(&self, zid: &Zid) -> Result<Option<PeerRecord>> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {PEER_COLUMNS} FROM peers WHERE zid = ?1"),
                [zid.0.as_slice()],
                peer_from_row,
            )
            .optional()
            .map_err(|e| self.db(e))?;
        match row {
            None => Ok(None),
            Some(Ok(p)) => Ok(Some(p)),
            Some(Err(what)) => Err(StoreError::corrupt(&self.location, what)),
        }
    }

    /// Reads, changes and writes back the entry for `zid` in one transaction, creating it
    /// (first seen `now`) if there is none; `last_seen` becomes `now`. If `f` returns `Err`,
    /// nothing is written and the error is handed back inside `Ok`. This is the primitive the
    /// ZRTP cache adapter is built on.
    pub fn update_peer<R, E>(
        &mut self,
        zid: &Zid,
        now: u64,
        f: impl FnOnce(&mut PeerRecord) -> Result<R, E>,
    ) -> Result<Result<R, E>> {
        match self.write_peer(zid, Some(now), f)? {
            Some(r) => Ok(r),
            // Unreachable: with `now` given, a missing entry is created.
            None => Err(StoreError::NoSuchPeer {
                query: zid.to_hex(),
            }),
        }
    }

    /// Changes an existing entry in one transaction without touching `last_seen`; returns
    /// whether there was one (nothing is written if not).
    pub(crate) fn edit_if_present(
        &mut self,
        zid: &Zid,
        f: impl FnOnce(&mut PeerRecord) -> Result<(), core::convert::Infallible>,
    ) -> Result<bool> {
        Ok(self.write_peer(zid, None, f)?.is_some())
    }

    /// Like [`update_peer`](Self::update_peer) for an existing entry only, without touching
    /// `last_seen` (user actions such as renaming are not contact with the peer).
    fn edit_existing<R>(&mut self, zid: &Zid, f: impl FnOnce(&mut PeerRecord) -> R) -> Result<R> {
        match self.write_peer(zid, None, |p| Ok::<R, core::convert::Infallible>(f(p)))? {
            Some(Ok(r)) => Ok(r),
            Some(Err(never)) => match never {},
            None => Err(StoreError::NoSuchPeer {
                query: zid.to_hex(),
            }),
        }
    }

    /// The read-modify-write transaction. `now = Some(t)`: create a missing entry and raise
    /// `last_seen` to `t`; `None`: existing entries only, `Ok(None)` if there is none.
    fn write_peer<R, E>(
        &mut self,
        zid: &Zid,
        now: Option<u64>,
        f: impl FnOnce(&mut PeerRecord) -> Result<R, E>,
    ) -> Result<Option<Result<R, E>>> {
        let (tx, location) = self.begin_write()?;
        let db = |e| StoreError::from_db(&location, e);
        let existing = tx
            .query_row(
                &format!("SELECT {PEER_COLUMNS} FROM peers WHERE zid = ?1"),
                [zid.0.as_slice()],
                peer_from_row,
            )
            .optional()
            .map_err(db)?;
        let mut record = match (existing, now) {
            (Some(Ok(p)), _) => p,
            (Some(Err(what)), _) => return Err(StoreError::corrupt(&location, what)),
            (None, Some(now)) => PeerRecord::new(*zid, now),
            (None, None) => return Ok(None),
        };
        let result = match f(&mut record) {
            Ok(r) => r,
            // Dropping the transaction rolls it back.
            Err(e) => return Ok(Some(Err(e))),
        };
        record.zid = *zid;
        if let Some(now) = now {
            record.last_seen = record.last_seen.max(now);
        }
        record.display_name = record
            .display_name
            .as_deref()
            .map(|n| clean_name(n).map(str::to_owned))
            .transpose()?;
        upsert(&tx, &record).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Some(Ok(result)))
    }

    /// RFC 6189 §4.6.1 cache update after a successful key agreement with `zid` at `now`: rs1
    /// moves to rs2 and `new_rs1` becomes rs1, in one transaction. `None` stores no new secret.
    pub fn rotate_retained_secret(
        &mut self,
        zid: &Zid,
        now: u64,
        new_rs1: Option<RetainedSecret>,
    ) -> Result<()> {
        match self.update_peer(zid, now, |p| {
            p.rotate_rs(new_rs1);
            Ok::<(), core::convert::Infallible>(())
        })? {
            Ok(()) => {}
            Err(never) => match never {},
        }
        // The secret that fell out of rs2 must not live on in the WAL: key continuity keeps
        // only the two newest secrets (forward secrecy of the cache).
        self.scrub();
        Ok(())
    }

    /// Records a cache mismatch with `zid` (RFC 6189 §4.6.1.1): the peer is shown as "key
    /// changed" and is no longer verified, until the user confirms a SAS again.
    pub fn record_key_change(&mut self, zid: &Zid, now: u64) -> Result<()> {
        match self.update_peer(zid, now, |p| {
            p.key_changed = true;
            p.verified = false;
            Ok::<(), core::convert::Infallible>(())
        })? {
            Ok(()) => Ok(()),
            Err(never) => match never {},
        }
    }

    /// Erases secrets that are expired at `now` (keeping the contacts), and returns how many
    /// secrets were erased.
    pub fn purge_expired(&mut self, now: u64) -> Result<usize> {
        let now = to_sql_time(now);
        let (tx, location) = self.begin_write()?;
        let db = |e| StoreError::from_db(&location, e);
        let mut n = 0;
        for (secret, expiry) in [
            ("rs1", "rs1_expiry"),
            ("rs2", "rs2_expiry"),
            ("pbx_secret", "pbx_expiry"),
        ] {
            n += tx
                .execute(
                    &format!(
                        "UPDATE peers SET {secret} = NULL, {expiry} = NULL \
                         WHERE {secret} IS NOT NULL AND {expiry} IS NOT NULL AND {expiry} <= ?1"
                    ),
                    [now],
                )
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        if n > 0 {
            self.scrub();
        }
        Ok(n)
    }

    // ---------------------------------------------------------------- contacts

    /// All known peers, named ones first (by name), then by ZID.
    pub fn contacts(&self) -> Result<Vec<Contact>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {PEER_COLUMNS} FROM peers \
                 ORDER BY display_name IS NULL, display_name COLLATE NOCASE, zid"
            ))
            .map_err(|e| self.db(e))?;
        let rows = stmt.query_map([], peer_from_row).map_err(|e| self.db(e))?;
        let mut out = Vec::new();
        for row in rows {
            match row.map_err(|e| self.db(e))? {
                Ok(p) => out.push(p.contact()),
                Err(what) => return Err(StoreError::corrupt(&self.location, what)),
            }
        }
        Ok(out)
    }

    /// The contact for `zid`, if known.
    pub fn contact(&self, zid: &Zid) -> Result<Option<Contact>> {
        Ok(self.peer(zid)?.map(|p| p.contact()))
    }

    /// Contacts matching what a user typed: a display name (case-insensitive, whole name) or
    /// the start of a ZID in hex (at least 4 digits, either case).
    pub fn find(&self, query: &str) -> Result<Vec<Contact>> {
        let q = query.trim();
        let hex_prefix =
            (q.len() >= 4 && q.len() <= 24 && q.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| q.to_ascii_lowercase());
        Ok(self
            .contacts()?
            .into_iter()
            .filter(|c| {
                c.display_name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase() == q.to_lowercase())
                    || hex_prefix
                        .as_deref()
                        .is_some_and(|h| c.zid.to_hex().starts_with(h))
            })
            .collect())
    }

    /// The one contact matching `query` (see [`find`](Self::find)), or
    /// [`StoreError::NoSuchPeer`] / [`StoreError::AmbiguousPeer`].
    pub fn resolve(&self, query: &str) -> Result<Contact> {
        let mut found = self.find(query)?;
        match found.len() {
            0 => Err(StoreError::NoSuchPeer {
                query: query.to_owned(),
            }),
            1 => found.pop().ok_or_else(|| StoreError::NoSuchPeer {
                query: query.to_owned(),
            }),
            count => Err(StoreError::AmbiguousPeer {
                query: query.to_owned(),
                count,
            }),
        }
    }

    /// Sets (or with `None` clears) the name the user gave the peer `zid`.
    pub fn set_display_name(&mut self, zid: &Zid, name: Option<&str>) -> Result<()> {
        let name = name.map(clean_name).transpose()?.map(str::to_owned);
        self.edit_existing(zid, |p| p.display_name = name)
    }

    /// Marks `zid` verified: the user compared the SAS. Clears a key-changed warning.
    pub fn verify(&mut self, zid: &Zid) -> Result<()> {
        self.edit_existing(zid, |p| {
            p.verified = true;
            p.key_changed = false;
        })
    }

    /// Withdraws the verification of `zid`.
    pub fn unverify(&mut self, zid: &Zid) -> Result<()> {
        self.edit_existing(zid, |p| p.verified = false)
    }

    /// Deletes everything about `zid` (its secrets included). Returns whether it was known.
    pub fn forget(&mut self, zid: &Zid) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM peers WHERE zid = ?1", [zid.0.as_slice()])
            .map_err(|e| self.db(e))?;
        self.scrub();
        Ok(n > 0)
    }

    /// Deletes every peer. Returns how many there were.
    pub fn forget_all(&mut self) -> Result<usize> {
        let n = self
            .conn
            .execute("DELETE FROM peers", [])
            .map_err(|e| self.db(e))?;
        self.scrub();
        Ok(n)
    }
}

fn new_identity(rng: &mut dyn Random, now: u64) -> LocalIdentity {
    let mut zid = [0u8; 12];
    // An all-zero ZID would mean a broken random source; draw again.
    while zid == [0u8; 12] {
        rng.fill(&mut zid);
    }
    LocalIdentity {
        zid: Zid(zid),
        display_name: random_display_name(rng),
        created_at: now,
    }
}

/// A secret as a bound parameter, by reference.
fn bind(s: &Option<RetainedSecret>) -> Option<&[u8]> {
    s.as_ref().map(|s| s.secret.expose().as_slice())
}

/// Writes `p` whole; `first_seen` of an existing row is kept.
fn upsert(conn: &Connection, p: &PeerRecord) -> rusqlite::Result<()> {
    // Bound by reference: SQLite copies the bytes into its own page, no extra copy here.
    conn.execute(
        &format!(
            "INSERT INTO peers ({PEER_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT(zid) DO UPDATE SET display_name = excluded.display_name, \
             rs1 = excluded.rs1, rs1_expiry = excluded.rs1_expiry, \
             rs2 = excluded.rs2, rs2_expiry = excluded.rs2_expiry, \
             pbx_secret = excluded.pbx_secret, pbx_expiry = excluded.pbx_expiry, \
             verified = excluded.verified, key_changed = excluded.key_changed, \
             last_seen = excluded.last_seen"
        ),
        params![
            p.zid.0.as_slice(),
            p.display_name,
            bind(&p.rs1),
            expiry_to_sql(p.rs1.as_ref()),
            bind(&p.rs2),
            expiry_to_sql(p.rs2.as_ref()),
            bind(&p.pbx_secret),
            expiry_to_sql(p.pbx_secret.as_ref()),
            p.verified,
            p.key_changed,
            to_sql_time(p.first_seen),
            to_sql_time(p.last_seen),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(store: &Store) -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare("SELECT name FROM pragma_table_info('peers')")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn a_future_migration_runs_once_and_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zid.db");
        let mut store = Store::open(&path).unwrap();
        let peer = Zid([5; 12]);
        store
            .rotate_retained_secret(
                &peer,
                10,
                Some(RetainedSecret::new(
                    SecretArray::new([9; 32]),
                    Expiry::Never,
                )),
            )
            .unwrap();
        let current = Store::supported_schema();
        assert_eq!(store.schema_version().unwrap(), current);
        let mut next = MIGRATIONS.to_vec();
        next.push("ALTER TABLE peers ADD COLUMN note TEXT;");
        let v2 = next.as_slice();
        store.migrate_with(v2).unwrap();
        assert_eq!(store.schema_version().unwrap(), current + 1);
        assert!(columns(&store).contains(&"note".to_string()));
        // Running it again is a no-op (the version says it is done).
        store.migrate_with(v2).unwrap();
        let p = store.peer(&peer).unwrap().unwrap();
        assert_eq!(p.rs1.unwrap().secret.expose(), &[9; 32]);
        drop(store);
        // This build only knows the current schema: the migrated file is now "too new" for it.
        match Store::open(&path) {
            Err(StoreError::TooNew {
                found, supported, ..
            }) => assert_eq!((found, supported), (current + 1, current)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failing_migration_leaves_the_old_schema_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zid.db");
        let mut store = Store::open(&path).unwrap();
        let mut broken = MIGRATIONS.to_vec();
        broken.push(
            "ALTER TABLE peers ADD COLUMN half_done TEXT; INSERT INTO no_such_table VALUES (1);",
        );
        assert!(store.migrate_with(&broken).is_err());
        assert_eq!(store.schema_version().unwrap(), Store::supported_schema());
        assert!(!columns(&store).contains(&"half_done".to_string()));
        drop(store);
        assert!(Store::open(&path).is_ok());
    }

    #[test]
    fn store_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Store>();
    }
}
