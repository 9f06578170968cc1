//! # sotto-store — persistent state: ZID cache, contacts, verification flags
//!
//! Owns what sotto remembers on disk, in SQLite files created 0600: the ZID cache with retained
//! secrets (RFC 6189 §4.9), contacts and verification flags. It never stores call history.
