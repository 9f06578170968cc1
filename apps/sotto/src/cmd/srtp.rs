//! `sotto diag srtp` and `sotto bench srtp` (owned by the SRTP work; stubs until it lands).

use clap::Subcommand;
use std::process::ExitCode;

/// `sotto diag ...`
#[derive(Debug, Subcommand)]
pub(crate) enum DiagCommand {
    /// SRTP/SRTCP protect or unprotect packets given as hex.
    Srtp {
        /// Arguments (see `sotto diag srtp --help` once implemented).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `sotto bench ...`
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// SRTP protect/unprotect throughput on one thread.
    Srtp {
        /// Arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub(crate) fn diag(_cmd: DiagCommand) -> anyhow::Result<ExitCode> {
    super::not_yet("diag srtp", "SRTP diagnostics")
}

pub(crate) fn bench(_cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    super::not_yet("bench srtp", "the SRTP benchmark")
}
