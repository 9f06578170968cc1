//! The one error type of sotto-store.
//!
//! Every message names the file and the problem in words a user can act on. Errors never carry
//! secret material.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where a store lives, for messages: a file, or memory in `--ephemeral` mode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A SQLite file on disk.
    File(PathBuf),
    /// An in-memory store that writes nothing to disk.
    Ephemeral,
}

impl Location {
    /// The file path, or `None` for an ephemeral store.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File(p) => Some(p),
            Self::Ephemeral => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Ephemeral => f.write_str("(in memory, ephemeral)"),
        }
    }
}

/// A low-level database error, kept opaque so the SQLite binding is not part of our API.
#[derive(Debug)]
pub struct DbError(pub(crate) rusqlite::Error);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Everything that can go wrong with the store.
///
/// Split by fault: the file on disk is not ours or is damaged (`NotSotto`, `TooNew`, `Corrupt`),
/// the operating system refused (`Io`, `Busy`, `Database`), or the caller asked for something
/// impossible (`NoSuchPeer`, `AmbiguousPeer`, `InvalidName`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file exists but is not a sotto database (another program's file, or not SQLite at
    /// all). It was not modified.
    #[error(
        "sotto's store at {location} (ZID cache and OTR keys) is not a sotto database; it was left untouched"
    )]
    NotSotto {
        /// The file.
        location: Location,
    },
    /// The file was written by a newer sotto with a schema this version does not understand.
    #[error(
        "sotto's store at {location} (ZID cache and OTR keys) was written by a newer sotto (schema {found}); \
         this sotto understands schema {supported} at most. It was left untouched"
    )]
    TooNew {
        /// The file.
        location: Location,
        /// The schema version in the file.
        found: u32,
        /// The newest schema this build knows.
        supported: u32,
    },
    /// The file is a sotto database but its content is damaged.
    #[error(
        "sotto's store at {location} (ZID cache and OTR keys) is corrupt ({what}); it was left untouched"
    )]
    Corrupt {
        /// The file.
        location: Location,
        /// What was found wrong, without any secret.
        what: String,
    },
    /// The file or its directory could not be created, read or protected.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What we were doing ("create", "open", "set permissions on", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another program holds the database locked for longer than the busy timeout.
    #[error(
        "sotto's store at {location} (ZID cache and OTR keys) is busy (locked by another sotto); try again"
    )]
    Busy {
        /// The file.
        location: Location,
    },
    /// Any other database failure (disk full, read-only file system, ...).
    #[error("sotto's store at {location} (ZID cache and OTR keys) could not be used: {source}")]
    Database {
        /// The file.
        location: Location,
        /// The underlying error.
        #[source]
        source: DbError,
    },
    /// The store belongs to another local ZID than the one requested.
    #[error(
        "sotto's store at {location} (ZID cache and OTR keys) belongs to ZID {ours}, not {requested}; \
         use another store file"
    )]
    WrongLocalZid {
        /// The file.
        location: Location,
        /// The ZID stored in the file.
        ours: sotto_proto::Zid,
        /// The ZID the caller asked for.
        requested: sotto_proto::Zid,
    },
    /// No contact matches what the user typed.
    #[error("no contact matches \"{query}\"")]
    NoSuchPeer {
        /// The name or ZID prefix the user gave.
        query: String,
    },
    /// Several contacts match what the user typed.
    #[error("\"{query}\" matches {count} contacts; give more of the ZID")]
    AmbiguousPeer {
        /// The name or ZID prefix the user gave.
        query: String,
        /// How many contacts matched.
        count: usize,
    },
    /// A display name that cannot be stored (empty, too long, or with control characters).
    #[error("invalid display name: {reason}")]
    InvalidName {
        /// Why.
        reason: &'static str,
    },
}

impl StoreError {
    /// Maps a SQLite error to the user-facing kind, naming `location`.
    pub(crate) fn from_db(location: &Location, e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => Self::NotSotto {
                location: location.clone(),
            },
            Some(ErrorCode::DatabaseCorrupt) => Self::Corrupt {
                location: location.clone(),
                what: "SQLite reports a malformed database image".into(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy {
                location: location.clone(),
            },
            _ => Self::Database {
                location: location.clone(),
                source: DbError(e),
            },
        }
    }

    pub(crate) fn corrupt(location: &Location, what: impl Into<String>) -> Self {
        Self::Corrupt {
            location: location.clone(),
            what: what.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = StoreError> = core::result::Result<T, E>;
