//! The versioned schema: `PRAGMA application_id` marks a file as sotto's, `PRAGMA user_version`
//! is the schema version, and each migration runs in the same transaction as the version bump.

/// `PRAGMA application_id` of every sotto store: the ASCII bytes "SOTO".
pub(crate) const APPLICATION_ID: i32 = 0x534f_544f;

/// Migrations, in order: `MIGRATIONS[i]` takes schema `i` to schema `i + 1`.
///
/// Never edit a released migration; append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1: our identity and the per-peer ZID cache.
    r#"
    CREATE TABLE local_identity (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        zid          BLOB    NOT NULL CHECK (length(zid) = 12),
        display_name TEXT    NOT NULL,
        created_at   INTEGER NOT NULL CHECK (created_at >= 0)
    ) STRICT;

    -- One row per peer ZID (RFC 6189 §4.9). Secrets are 32-byte BLOBs; an expiry column is the
    -- Unix time the secret stops being usable, NULL meaning "never" (only meaningful when the
    -- secret is present). Times are supplied by the caller.
    CREATE TABLE peers (
        zid          BLOB    PRIMARY KEY CHECK (length(zid) = 12),
        display_name TEXT,
        rs1          BLOB    CHECK (rs1 IS NULL OR length(rs1) = 32),
        rs1_expiry   INTEGER CHECK (rs1_expiry IS NULL OR rs1_expiry >= 0),
        rs2          BLOB    CHECK (rs2 IS NULL OR length(rs2) = 32),
        rs2_expiry   INTEGER CHECK (rs2_expiry IS NULL OR rs2_expiry >= 0),
        pbx_secret   BLOB    CHECK (pbx_secret IS NULL OR length(pbx_secret) = 32),
        pbx_expiry   INTEGER CHECK (pbx_expiry IS NULL OR pbx_expiry >= 0),
        verified     INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
        key_changed  INTEGER NOT NULL DEFAULT 0 CHECK (key_changed IN (0, 1)),
        first_seen   INTEGER NOT NULL CHECK (first_seen >= 0),
        last_seen    INTEGER NOT NULL CHECK (last_seen >= 0)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 1 -> 2: OTR (private messages): our long-term DSA key per XMPP account, and per
    // (account, contact) every fingerprint seen with its verified flag. No messages, ever.
    r#"
    -- The DSA key's public numbers p, q, g, y and the secret x, big-endian. x is as sensitive
    -- as the retained secrets: whoever reads it can impersonate this account in OTR.
    CREATE TABLE otr_keys (
        account    TEXT    PRIMARY KEY CHECK (length(account) > 0),
        p          BLOB    NOT NULL,
        q          BLOB    NOT NULL,
        g          BLOB    NOT NULL,
        y          BLOB    NOT NULL,
        x          BLOB    NOT NULL,
        created_at INTEGER NOT NULL CHECK (created_at >= 0)
    ) STRICT;

    -- One row per fingerprint a contact presented (a contact may have several devices).
    -- `verified` is per fingerprint: a new key is never verified by an old key's flag.
    CREATE TABLE otr_fingerprints (
        account     TEXT    NOT NULL,
        contact     TEXT    NOT NULL,
        fingerprint BLOB    NOT NULL CHECK (length(fingerprint) = 20),
        verified    INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
        first_seen  INTEGER NOT NULL CHECK (first_seen >= 0),
        last_seen   INTEGER NOT NULL CHECK (last_seen >= 0),
        PRIMARY KEY (account, contact, fingerprint)
    ) STRICT, WITHOUT ROWID;
    "#,
];

/// The schema version this build writes and understands.
pub(crate) fn latest() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}
