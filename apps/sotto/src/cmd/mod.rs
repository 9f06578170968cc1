//! Subcommand implementations.

pub(crate) mod identity;
mod srtp;

pub(crate) use identity::{PeerAction, StoreOptions};

pub(crate) use srtp::{BenchCommand, DiagCommand, bench, diag};

use std::process::ExitCode;

/// Exit status for "this feature is not built yet".
const NOT_YET: u8 = 3;

/// Reports honestly that a subcommand is not implemented yet.
pub(crate) fn not_yet(name: &str, what: &str) -> anyhow::Result<ExitCode> {
    eprintln!(
        "sotto {name}: not yet implemented ({what} is still being built; see README.md, \"Status\")."
    );
    Ok(ExitCode::from(NOT_YET))
}

/// `sotto demo`: until the call engine exists, say what it will do and exit non-zero.
pub(crate) fn demo() -> anyhow::Result<ExitCode> {
    println!(
        "sotto demo will start two sotto endpoints on 127.0.0.1, place a SIP call from one to the\n\
         other, run ZRTP (showing each side go red -> orange with the SAS -> green after a scripted\n\
         confirmation), exchange a few seconds of generated Opus audio over SRTP, hang up, and print\n\
         a summary: time to secure, the SAS on both sides, algorithms, packets and bytes, and proof\n\
         that no clear media was sent."
    );
    eprintln!(
        "sotto demo: not yet implemented: the call engine (SIP, ZRTP, SRTP, media) is still being built."
    );
    Ok(ExitCode::from(NOT_YET))
}
