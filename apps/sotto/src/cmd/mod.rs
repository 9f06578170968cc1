//! Subcommand implementations.

pub(crate) mod chat;
mod chat_session;
mod chat_tui;
mod demo;
pub(crate) mod devices;
pub(crate) mod home;
pub(crate) mod identity;
pub(crate) mod phone_cli;
mod srtp;
mod tui;
pub(crate) mod zrtp_peer;

pub(crate) use chat::ChatArgs;
pub(crate) use identity::{PeerAction, StoreOptions};
pub(crate) use phone_cli::{CallArgs, ListenArgs};

pub(crate) use srtp::{BenchCommand, DiagCommand, bench, diag};

use std::process::ExitCode;

/// Exit status for "this feature is not built yet".
const NOT_YET: u8 = 3;

/// Reports honestly that a subcommand is not implemented yet.
#[allow(dead_code, reason = "every stub is built now; kept for the next one")]
pub(crate) fn not_yet(name: &str, what: &str) -> anyhow::Result<ExitCode> {
    eprintln!(
        "sotto {name}: not yet implemented ({what} is still being built; see README.md, \"Status\")."
    );
    Ok(ExitCode::from(NOT_YET))
}

pub(crate) use demo::demo;
