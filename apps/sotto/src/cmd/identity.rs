//! `sotto id`, `sotto contacts`, `sotto verify|unverify|forget PEER`: identity and the contacts
//! kept in the ZID cache.
//!
//! Where things live: the data directory is `--data-dir`, else `$SOTTO_DATA_DIR`, else
//! `$XDG_DATA_HOME/sotto`, else `~/.local/share/sotto`; the store is `sotto.db` in it, created
//! 0600 in a 0700 directory. With `--ephemeral` nothing is read from or written to disk.

use anyhow::{Context, Result, bail};
use sotto_proto::crypto::OsRandom;
use sotto_store::{Contact, PeerState, Store, StoreError, unix_now};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the store is, from the global options.
#[derive(Debug, Clone)]
pub(crate) struct StoreOptions {
    /// Explicit data directory.
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory; write nothing.
    pub ephemeral: bool,
}

impl StoreOptions {
    /// The data directory sotto uses.
    pub(crate) fn data_dir(&self) -> Result<PathBuf> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        if let Some(d) = std::env::var_os("SOTTO_DATA_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(d));
        }
        if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(d).join("sotto"));
        }
        match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".local/share/sotto")),
            None => bail!("cannot find a data directory: set --data-dir, SOTTO_DATA_DIR or HOME"),
        }
    }

    /// Opens the store (creating it, 0600, on first use).
    pub(crate) fn open(&self) -> Result<Store> {
        if self.ephemeral {
            return Ok(Store::open_ephemeral()?);
        }
        let path = self.data_dir()?.join("sotto.db");
        match Store::open(&path) {
            Ok(s) => Ok(s),
            // Not ours, or damaged: keep it (renamed) so nothing is lost or silently replaced,
            // and stop; the next run starts a new cache, which the user has been told about.
            Err(e @ (StoreError::Corrupt { .. } | StoreError::NotSotto { .. })) => {
                let what = match &e {
                    StoreError::Corrupt { .. } => "is damaged",
                    _ => "is not a sotto ZID cache",
                };
                match Store::move_aside(&path, unix_now()) {
                    Ok(aside) => bail!(
                        "sotto's store {} (ZID cache and OTR keys) {what} and cannot be used. It was kept, renamed to {} \
                         (nothing was deleted or overwritten). The next run starts a new \
                         identity and an empty cache: the people you call will see a key change \
                         and you should compare the security code with them again.",
                        path.display(),
                        aside.display()
                    ),
                    Err(m) => bail!(
                        "sotto's store {} (ZID cache and OTR keys) {what} and cannot be used; it was left as it is \
                         (moving it aside failed: {m}). Move it away yourself to start afresh.",
                        path.display()
                    ),
                }
            }
            Err(e) => Err(e).with_context(|| format!("opening {}", path.display())),
        }
    }
}

fn state_label(state: PeerState) -> &'static str {
    match state {
        PeerState::Verified => "verified",
        PeerState::Unverified => "unverified",
        PeerState::KeyChanged => "KEY CHANGED",
        #[allow(unreachable_patterns, reason = "PeerState may grow")]
        _ => "unknown",
    }
}

/// `sotto id [--new] [--yes]`.
pub(crate) fn id(opts: &StoreOptions, new: bool, yes: bool) -> Result<ExitCode> {
    let mut store = opts.open()?;
    let now = unix_now();
    if new {
        if store.identity()?.is_some() && !yes && !confirm_rotation()? {
            eprintln!("sotto id --new: cancelled; your identity is unchanged.");
            return Ok(ExitCode::from(1));
        }
        let me = store.rotate_identity(&mut OsRandom, now)?;
        println!("new identity");
        print_identity(&me.display_name, &me.zid.to_hex());
        return Ok(ExitCode::SUCCESS);
    }
    let me = store.identity_or_create(&mut OsRandom, now)?;
    print_identity(&me.display_name, &me.zid.to_hex());
    if store.is_ephemeral() {
        println!("(ephemeral: this identity lives only as long as this command)");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_identity(name: &str, zid: &str) {
    println!("name: {name}");
    println!("zid:  {zid}");
}

fn confirm_rotation() -> Result<bool> {
    eprintln!(
        "WARNING: a new identity replaces this device's ZID. Every peer will see a changed key on \
         the next call and must compare the security code with you again. Retained secrets stay \
         with the old identity and are no longer useful."
    );
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!("Not a terminal: pass --yes to confirm.");
        return Ok(false);
    }
    eprint!("Type 'yes' to make a new identity: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// `sotto contacts`.
pub(crate) fn contacts(opts: &StoreOptions) -> Result<ExitCode> {
    let store = opts.open()?;
    let list = store.contacts()?;
    if list.is_empty() {
        println!("no contacts yet: peers appear here after a first secure call");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<24}  {:<24}  state", "name", "zid");
    for c in &list {
        print_contact(c);
    }
    if list.iter().any(|c| c.state == PeerState::KeyChanged) {
        eprintln!(
            "\nWARNING: a peer marked KEY CHANGED presented a different key than before. Someone \
             may be intercepting your calls, or the peer reinstalled sotto. Compare the security \
             code on your next call before you trust it again."
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_contact(c: &Contact) {
    let name = c.display_name.as_deref().unwrap_or("-");
    println!(
        "{:<24}  {:<24}  {}",
        name,
        c.zid.to_hex(),
        state_label(c.state)
    );
}

/// What to do to one peer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PeerAction {
    Verify,
    Unverify,
    Forget,
}

/// `sotto verify|unverify|forget PEER` (PEER: a name or a ZID prefix).
pub(crate) fn peer_action(opts: &StoreOptions, peer: &str, action: PeerAction) -> Result<ExitCode> {
    let mut store = opts.open()?;
    let contact = store.resolve(peer)?;
    let label = contact.label();
    match action {
        PeerAction::Verify => {
            store.verify(&contact.zid)?;
            println!("{label}: verified");
        }
        PeerAction::Unverify => {
            store.unverify(&contact.zid)?;
            println!("{label}: no longer verified");
        }
        PeerAction::Forget => {
            store.forget(&contact.zid)?;
            println!("{label}: forgotten (its retained secrets are deleted)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
