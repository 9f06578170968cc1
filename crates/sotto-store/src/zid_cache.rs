//! [`ZidCache`] for [`Store`]: the ZRTP engine's view of the store.
//!
//! Each method is one SQLite transaction (see [`Store::update_peer`]). `load` writes nothing.
//! Our own ZID is not part of the trait: the driver takes it from
//! [`Store::identity_or_create`] (or binds a given one with [`Store::identity_with_zid`], which
//! refuses a cache that belongs to another ZID) and puts it in the session's configuration.

use crate::error::StoreError;
use crate::store::Store;
use core::convert::Infallible;
use sotto_proto::{SecretArray, Zid};
use sotto_zrtp::cache::{CacheEntry, CacheError, Expiry, RetainedSecret, ZidCache};

impl From<StoreError> for CacheError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotSotto { .. }
            | StoreError::TooNew { .. }
            | StoreError::Corrupt { .. } => Self::Corrupt(e.to_string()),
            StoreError::WrongLocalZid { .. } => Self::WrongLocalZid,
            other => Self::Storage(other.to_string()),
        }
    }
}

impl ZidCache for Store {
    fn load(&mut self, peer: &Zid) -> Result<Option<CacheEntry>, CacheError> {
        Ok(self.peer(peer)?.map(|p| CacheEntry {
            rs1: p.rs1,
            rs2: p.rs2,
            verified: p.verified,
            pbx_secret: p.pbx_secret,
            display_name: p.display_name,
            mismatch: p.key_changed,
        }))
    }

    fn store_secret(
        &mut self,
        peer: &Zid,
        new_rs1: &SecretArray<32>,
        expiry: Expiry,
        unix_time: u64,
    ) -> Result<(), CacheError> {
        let new = RetainedSecret::new(new_rs1.clone_secret(), expiry);
        self.rotate_retained_secret(peer, unix_time, Some(new))?;
        Ok(())
    }

    fn set_verified(&mut self, peer: &Zid, verified: bool) -> Result<(), CacheError> {
        // A no-op for an unknown peer, as the trait says.
        self.edit_if_present(peer, |p| {
            p.verified = verified;
            if verified {
                p.key_changed = false;
            }
            Ok::<(), Infallible>(())
        })?;
        Ok(())
    }

    fn record_mismatch(&mut self, peer: &Zid) -> Result<(), CacheError> {
        self.edit_if_present(peer, |p| {
            p.verified = false;
            p.key_changed = true;
            Ok::<(), Infallible>(())
        })?;
        Ok(())
    }
}
