//! `sotto`: the command-line softphone and its diagnostics.
//!
//! Every subcommand that is not built yet says so and exits non-zero; nothing pretends to work.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program talks on stdout/stderr"
)]

mod cmd;
mod config;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// sotto — private calls you can verify.
#[derive(Debug, Parser)]
#[command(name = "sotto", version, about, long_about = None)]
struct Cli {
    /// Where sotto keeps its identity and ZID cache (default: $SOTTO_DATA_DIR, else
    /// $XDG_DATA_HOME/sotto, else ~/.local/share/sotto).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Write nothing to disk: identity and cache live in memory for this run only.
    #[arg(long, global = true)]
    ephemeral: bool,
    /// With no command, in a terminal: the home screen (identity, contacts, place a call).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a real encrypted call between two local endpoints and check everything.
    Demo,
    /// Place a call, headless: `sotto call sip:name@host:port` (JSON events on stdout).
    Call(cmd::CallArgs),
    /// Wait for one incoming call, headless (JSON events on stdout, commands on stdin).
    Listen(cmd::ListenArgs),
    /// List the audio devices (microphones, loudspeakers); needs a build with `--features audio`.
    Devices,
    /// Show (or rotate) this device's ZRTP identity and pseudonym.
    Id {
        /// Make a new identity (the old ZID is forgotten; peers will see a key change).
        #[arg(long)]
        new: bool,
        /// Do not ask for confirmation of --new.
        #[arg(long, requires = "new")]
        yes: bool,
    },
    /// List known peers with their verification state.
    Contacts,
    /// Mark a peer as verified.
    Verify {
        /// Peer name or ZID (a unique prefix is enough).
        peer: String,
    },
    /// Clear a peer's verified flag.
    Unverify {
        /// Peer name or ZID (a unique prefix is enough).
        peer: String,
    },
    /// Forget everything about a peer.
    Forget {
        /// Peer name or ZID (a unique prefix is enough).
        peer: String,
    },
    /// Show, locate or create the configuration file (config.toml).
    Config {
        #[command(subcommand)]
        what: config::ConfigCommand,
    },
    /// Private messages (OTR over XMPP): `sotto chat [--account ME@HOST] CONTACT@HOST`
    /// (the account may come from the `[xmpp]` table of config.toml).
    Chat(cmd::ChatArgs),
    /// Diagnostics for debugging interop problems.
    Diag {
        #[command(subcommand)]
        what: cmd::DiagCommand,
    },
    /// Micro-benchmarks of the media path.
    Bench {
        #[command(subcommand)]
        what: cmd::BenchCommand,
    },
    /// One ZRTP endpoint over UDP, JSON on secure (interop diagnostics; `--help` for options).
    #[command(name = "zrtp-peer", disable_help_flag = true)]
    ZrtpPeer {
        /// Options, parsed by the subcommand itself (`sotto zrtp-peer --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Logs go to stderr so stdout stays machine-readable (JSON lines, hex).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let store = cmd::StoreOptions {
        data_dir: cli.data_dir.clone(),
        ephemeral: cli.ephemeral,
    };
    let Some(command) = cli.command else {
        return match cmd::home::home(&store) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("sotto: error: {e:#}");
                ExitCode::from(1)
            }
        };
    };
    let result = match command {
        Command::Config { what } => config::config(what),
        Command::Demo => cmd::demo(),
        Command::Diag { what } => cmd::diag(what),
        Command::Bench { what } => cmd::bench(what),
        Command::ZrtpPeer { args } => cmd::zrtp_peer::zrtp_peer(args),
        Command::Call(args) => cmd::phone_cli::call(&store, args),
        Command::Listen(args) => cmd::phone_cli::listen(&store, args),
        Command::Devices => cmd::devices::devices(),
        Command::Id { new, yes } => cmd::identity::id(&store, new, yes),
        Command::Contacts => cmd::identity::contacts(&store),
        Command::Verify { peer } => {
            cmd::identity::peer_action(&store, &peer, cmd::PeerAction::Verify)
        }
        Command::Unverify { peer } => {
            cmd::identity::peer_action(&store, &peer, cmd::PeerAction::Unverify)
        }
        Command::Forget { peer } => {
            cmd::identity::peer_action(&store, &peer, cmd::PeerAction::Forget)
        }
        Command::Chat(args) => cmd::chat::chat(&store, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sotto: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
