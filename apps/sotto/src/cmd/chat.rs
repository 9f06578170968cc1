//! `sotto chat JID`: private messages with one contact, OTR (v3, v2 for old peers) over XMPP.
//!
//! ```text
//! SOTTO_XMPP_PASSWORD=… sotto chat --account alice@example.org bob@example.org
//! sotto chat --account alice@example.org --password-file ~/.xmpp-pass \
//!     --proxy socks5://127.0.0.1:9050 bob@example.org          # through Tor
//! ```
//!
//! * The account can come from the `[xmpp]` table of `config.toml` (`sotto config init` writes
//!   a commented example); each flag overrides its key. The file's table is used only when
//!   `--account` is absent or names the same account.
//! * The password comes from `--password-file`, else `$SOTTO_XMPP_PASSWORD`, else the file's
//!   `password_file`, else its `password` (the file must then be private, 0600); never from
//!   the command line (where every local user could read it in the process list).
//! * Our OTR key (per account) and the contact's fingerprints live in the store (`sotto.db`,
//!   0600); with `--ephemeral` a throw-away key is made and nothing is written. No message is
//!   ever written to disk, and OTR messages carry the no-copy / no-store hints so that servers'
//!   archives and other clients' carbons keep nothing readable.
//! * The OTR state is always on screen (a coloured band in the terminal view; a `state` event
//!   in `--headless` mode). Plaintext is never sent unless `--allow-plaintext` is given (see
//!   [`chat_session`](super::chat_session) for the exact rule).
//! * Incoming files are never accepted: the XMPP layer refuses every offer and we show it.
//!
//! `--headless` prints one JSON object per line on stdout (`connected`, `state`, `message`,
//! `smp`, `fingerprint`, `fingerprint_changed`, `file_refused`, `presence`, `notice`, `error`,
//! `disconnected`) and reads the same lines a user would type on stdin (messages and `/`
//! commands); end of input ends the conversation and logs out.

use super::StoreOptions;
use super::chat_session::{
    ChatOutput, ChatSession, LineOutcome, SmpUi, UiEvent, bare_jid, state_word,
};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sotto_otr::{Config, Fingerprint, InstanceTag};
use sotto_proto::crypto::OsRandom;
use sotto_store::unix_now;
use sotto_xmpp::xml::Element;
use sotto_xmpp::{MessageHints, Socks5Proxy, TlsMode, XmppClient, XmppConfig, XmppEvent};
use std::io::Write;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// Environment variable holding the XMPP password (when no `--password-file` is given).
const PASSWORD_ENV: &str = "SOTTO_XMPP_PASSWORD";

/// Options of `sotto chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    /// The contact's JID (user@domain).
    pub jid: String,
    /// Our XMPP account (user@domain); default: `account` in the `[xmpp]` table of config.toml.
    #[arg(long, value_name = "JID")]
    pub account: Option<String>,
    /// Read the account password from this file (first line). Otherwise from
    /// $SOTTO_XMPP_PASSWORD. Never give a password on the command line.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Connect to this server instead of the JID's domain (the certificate is still checked
    /// against the domain).
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// TLS from the first byte (usually port 5223) instead of STARTTLS.
    #[arg(long)]
    pub direct_tls: bool,
    /// Trust this PEM CA certificate instead of the usual roots (a self-hosted server).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Connect through a SOCKS5 proxy that resolves the server name (Tor:
    /// socks5://127.0.0.1:9050); `socks5://user:pass@host:port` for stream isolation.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// XMPP resource to ask for (default: none, the server picks a random one, so the
    /// resource does not tell contacts and servers which program you use).
    #[arg(long)]
    pub resource: Option<String>,
    /// Print JSON events on stdout and read lines from stdin instead of the terminal view.
    #[arg(long)]
    pub headless: bool,
    /// Send typed messages in the clear while the conversation is not private (default:
    /// never; OTR is started instead).
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Split OTR messages longer than this many characters into fragments (0: never).
    #[arg(long, default_value_t = 8000, value_name = "CHARS")]
    pub otr_fragment_size: usize,
}

/// What the screen or the JSON stream shows: the conversation's events plus the connection's.
#[derive(Debug, Clone)]
pub(crate) enum Shown {
    /// From the OTR conversation.
    Chat(UiEvent),
    /// Logged in.
    Connected {
        /// The full JID the server bound.
        jid: String,
        /// Our OTR fingerprint.
        fingerprint: Fingerprint,
    },
    /// The contact came or went.
    Presence {
        /// Full JID.
        from: String,
        /// Available or not.
        available: bool,
    },
    /// Someone offered a file; it was refused.
    FileRefused {
        /// Who.
        from: String,
        /// What.
        what: String,
    },
    /// The connection ended.
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// The live conversation: the OTR session and the XMPP connection.
pub(crate) struct Conversation {
    pub(crate) session: ChatSession,
    client: XmppClient,
    /// Where our messages go: the contact's full JID once they wrote to us, else the bare JID.
    target: String,
    rng: OsRandom,
    pub(crate) account: String,
}

impl Conversation {
    /// Sends what the session wants sent; returns what to show.
    async fn flush(&mut self) -> Vec<Shown> {
        let mut shown = Vec::new();
        while let Some(o) = self.session.poll_output() {
            match o {
                ChatOutput::Network(body) => {
                    let hints = MessageHints {
                        otr: body.starts_with("?OTR"),
                    };
                    if let Err(e) = self.client.send_message(&self.target, &body, hints).await {
                        shown.push(Shown::Chat(UiEvent::Error(format!(
                            "could not send to the server: {e}"
                        ))));
                    }
                }
                ChatOutput::Ui(u) => shown.push(Shown::Chat(u)),
            }
        }
        shown
    }

    /// A line the user typed. Returns what to show and whether to quit.
    pub(crate) async fn line(&mut self, line: &str) -> (Vec<Shown>, bool) {
        let out = self
            .session
            .handle_line(Instant::now(), line, &mut self.rng);
        (self.flush().await, out == LineOutcome::Quit)
    }

    /// An XMPP event. Returns what to show and whether the connection is gone.
    pub(crate) async fn xmpp(&mut self, ev: XmppEvent) -> (Vec<Shown>, bool) {
        let contact = self.session.contact().to_owned();
        match ev {
            XmppEvent::Message { from, body, .. } => {
                if bare_jid(&from) != contact {
                    // Not shown (this conversation is with one contact), but not hidden either.
                    let who = bare_jid(&from);
                    return (
                        vec![Shown::Chat(UiEvent::Notice(format!(
                            "a message from {who} was not shown: this window talks to {contact} only"
                        )))],
                        false,
                    );
                }
                if from.contains('/') {
                    self.target = from;
                }
                self.session
                    .handle_network(Instant::now(), &body, &mut self.rng);
                (self.flush().await, false)
            }
            XmppEvent::Presence { from, available } if bare_jid(&from) == contact => {
                if !available && from == self.target {
                    self.target = contact;
                }
                (vec![Shown::Presence { from, available }], false)
            }
            XmppEvent::FileOfferRefused { from, what } => {
                (vec![Shown::FileRefused { from, what }], false)
            }
            XmppEvent::MessageError { from, condition } if bare_jid(&from) == contact => {
                // A full JID that went away: fall back to the bare JID for the next message.
                self.target = contact;
                (
                    vec![Shown::Chat(UiEvent::Error(format!(
                        "the server could not deliver a message to {from} ({condition})"
                    )))],
                    false,
                )
            }
            XmppEvent::Disconnected { reason } => (vec![Shown::Disconnected { reason }], true),
            _ => (Vec::new(), false),
        }
    }

    /// Ends the OTR conversation politely and logs out.
    pub(crate) async fn close(mut self) {
        let _ = self.line("/quit").await;
        let _ = self.client.close().await;
    }
}

/// `sotto chat`.
pub(crate) fn chat(opts: &StoreOptions, args: ChatArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(opts, args))
}

/// The account settings in effect: the flags, else the `[xmpp]` table of the config file.
#[derive(Debug, PartialEq)]
pub(crate) struct Login {
    /// Our bare JID.
    pub account: String,
    /// `host:port` to connect to, if not the JID's domain.
    pub server: Option<String>,
    /// TLS from the first byte.
    pub direct_tls: bool,
    /// The CA certificate to trust.
    pub ca: Option<PathBuf>,
    /// The SOCKS5 proxy URL.
    pub proxy: Option<String>,
    /// Where the password comes from.
    pub password: PasswordSource,
}

/// Where the password is read from, in order of precedence.
#[derive(Debug, PartialEq)]
pub(crate) enum PasswordSource {
    /// `--password-file`.
    FlagFile(PathBuf),
    /// `$SOTTO_XMPP_PASSWORD`.
    Env,
    /// `password_file` in the config file.
    ConfigFile(PathBuf),
    /// `password` in the config file (the file was checked to be private when it was read).
    Config,
    /// Nowhere.
    None,
}

/// Merges the flags over the config file's `[xmpp]` table (`env_set`: whether
/// `$SOTTO_XMPP_PASSWORD` is set and not empty).
pub(crate) fn login(
    args: &ChatArgs,
    file: Option<&crate::config::XmppSection>,
    env_set: bool,
) -> Result<Login> {
    let file = match (&args.account, file) {
        // The file describes another account: none of it applies.
        (Some(flag), Some(f)) if !bare_jid(flag).eq_ignore_ascii_case(&f.account) => None,
        (_, f) => f,
    };
    let Some(account) = args
        .account
        .as_deref()
        .map(bare_jid)
        .or_else(|| file.map(|f| f.account.clone()))
    else {
        bail!(
            "no XMPP account: give --account JID, or put an [xmpp] table with account = \"JID\" \
             in {} (`sotto config init` writes an example)",
            crate::config::config_path().map_or_else(
                |_| crate::config::FILE_NAME.into(),
                |p| p.display().to_string()
            )
        );
    };
    let password = if let Some(p) = &args.password_file {
        PasswordSource::FlagFile(p.clone())
    } else if env_set {
        PasswordSource::Env
    } else if let Some(p) = file.and_then(|f| f.password_file.clone()) {
        PasswordSource::ConfigFile(p)
    } else if file.is_some_and(|f| f.password.is_some()) {
        PasswordSource::Config
    } else {
        PasswordSource::None
    };
    Ok(Login {
        account,
        server: args
            .server
            .clone()
            .or_else(|| file.and_then(|f| f.server.clone())),
        direct_tls: args.direct_tls || file.is_some_and(|f| f.direct_tls),
        ca: args.ca.clone().or_else(|| file.and_then(|f| f.ca.clone())),
        proxy: args
            .proxy
            .clone()
            .or_else(|| file.and_then(|f| f.proxy.clone())),
        password,
    })
}

fn read_password(
    source: &PasswordSource,
    file: Option<&crate::config::XmppSection>,
) -> Result<Zeroizing<String>> {
    let path = match source {
        PasswordSource::FlagFile(p) | PasswordSource::ConfigFile(p) => p,
        PasswordSource::Env => {
            return match std::env::var(PASSWORD_ENV) {
                Ok(p) if !p.is_empty() => Ok(Zeroizing::new(p)),
                _ => bail!("{PASSWORD_ENV} is empty"),
            };
        }
        PasswordSource::Config => {
            return file
                .and_then(|f| f.password.clone())
                .context("no password in the [xmpp] table");
        }
        PasswordSource::None => bail!(
            "no password: give --password-file FILE, set {PASSWORD_ENV}, or put password_file              in the [xmpp] table of the config file (never on the command line)"
        ),
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the password file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "refusing to use {}: it holds a password but other users may read it (mode \
                 {:04o}); make it private with `chmod 600 {}`",
                path.display(),
                mode & 0o7777,
                path.display()
            );
        }
        let raw = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the password file {}", path.display()))?,
        );
        let first = raw.lines().next().unwrap_or("");
        if first.is_empty() {
            bail!("the password file {} is empty", path.display());
        }
        Ok(Zeroizing::new(first.to_owned()))
    }
}

/// `HOST:PORT` or `[V6]:PORT`.
fn parse_host_port(s: &str) -> Result<(String, u16)> {
    let (host, port) = s
        .rsplit_once(':')
        .with_context(|| format!("{s:?} is not HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().with_context(|| format!("bad port in {s:?}"))?;
    if host.is_empty() {
        bail!("{s:?} has no host");
    }
    Ok((host.to_owned(), port))
}

/// `socks5://[user:pass@]host:port` (`socks5h://` accepted: names are always resolved by the
/// proxy). The proxy's own address is resolved here; the XMPP server's name never is.
fn parse_proxy(s: &str) -> Result<Socks5Proxy> {
    let rest = s
        .strip_prefix("socks5://")
        .or_else(|| s.strip_prefix("socks5h://"))
        .with_context(|| format!("--proxy {s:?}: only socks5://HOST:PORT is supported"))?;
    let (auth, hostport) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let (host, port) = parse_host_port(hostport.trim_end_matches('/'))?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve the proxy address {host}"))?
        .next()
        .with_context(|| format!("no address for the proxy {host}"))?;
    let (username, password) = match auth.map(|a| a.split_once(':').unwrap_or((a, ""))) {
        Some((u, p)) => (Some(u.to_owned()), Some(Zeroizing::new(p.to_owned()))),
        None => (None, None),
    };
    Ok(Socks5Proxy {
        addr,
        username,
        password,
    })
}

async fn run(opts: &StoreOptions, args: ChatArgs) -> Result<ExitCode> {
    let file = crate::config::load()?;
    let env_set = std::env::var_os(PASSWORD_ENV).is_some_and(|v| !v.is_empty());
    let login = login(&args, file.xmpp.as_ref(), env_set)?;
    let account = login.account.clone();
    let contact = bare_jid(&args.jid);
    if !account.contains('@') || !contact.contains('@') {
        bail!("--account and the contact must be JIDs like user@example.org");
    }
    let password = read_password(&login.password, file.xmpp.as_ref())?;
    let server = login.server.as_deref().map(parse_host_port).transpose()?;
    let proxy = login.proxy.as_deref().map(parse_proxy).transpose()?;
    let via = match (&login.server, &login.proxy) {
        (Some(s), _) => format!(" (server {s})"),
        (None, Some(_)) => " (through the proxy)".to_owned(),
        (None, None) => String::new(),
    };

    let mut store = opts.open()?;
    let mut rng = OsRandom;
    if store.otr_key(&account)?.is_none() {
        eprintln!(
            "sotto chat: making the OTR key of {account} (first use; a DSA key takes a few seconds)"
        );
    }
    let (key, created) = store
        .otr_key_or_create(&account, &mut rng, unix_now())
        .context("our OTR key")?;
    let key = Arc::new(key);
    let config = Config {
        max_fragment_size: (args.otr_fragment_size > 0).then_some(args.otr_fragment_size),
        ..Config::default()
    };
    let ephemeral = store.is_ephemeral();
    let session = ChatSession::new(
        config,
        key.clone(),
        InstanceTag::random(&mut rng),
        store,
        &account,
        &contact,
        args.allow_plaintext,
    )?;

    let mut cfg = XmppConfig::new(&account, &password);
    drop(password);
    cfg.resource = args.resource.clone();
    cfg.server = server;
    cfg.tls = if login.direct_tls {
        TlsMode::DirectTls
    } else {
        TlsMode::StartTls
    };
    cfg.trusted_root = login.ca.clone();
    cfg.proxy = proxy;
    let (client, events) = sotto_xmpp::connect(cfg)
        .await
        .with_context(|| format!("logging in as {account}{via}"))?;
    client
        .set_presence(true)
        .await
        .context("sending presence")?;
    // One IQ round trip (XEP-0199 ping to our server) after the presence: a server handles a
    // session's stanzas in order, so once the answer is here we are reachable on our bare JID
    // and "connected" is true. An error answer does as well as a result.
    let domain = account.split('@').nth(1).unwrap_or_default().to_owned();
    let ping = Element::new("iq", "jabber:client")
        .attr("type", "get")
        .attr("to", &domain)
        .child(Element::new("ping", "urn:xmpp:ping"));
    client.iq(ping).await.context("waiting for the server")?;
    let bound = client.bound_jid().to_owned();
    let conv = Conversation {
        session,
        client,
        target: contact.clone(),
        rng,
        account,
    };
    let mut first = vec![Shown::Connected {
        jid: bound,
        fingerprint: key.fingerprint(),
    }];
    if created {
        first.push(Shown::Chat(UiEvent::Notice(format!(
            "made a new OTR key for this account{}",
            if ephemeral {
                " (ephemeral: forgotten when sotto exits)"
            } else {
                ""
            }
        ))));
    }
    first.push(Shown::Chat(UiEvent::State {
        state: conv.session.state(),
        fingerprint: None,
    }));
    if args.headless {
        headless(conv, events, first).await
    } else {
        super::chat_tui::run(conv, events, first).await
    }
}

fn fp_json(fp: Option<Fingerprint>) -> Value {
    fp.map_or(Value::Null, |f| Value::String(f.to_human()))
}

/// How to compare fingerprints, for `/fingerprint`.
pub(crate) const HOW_TO_COMPARE: &str = "read both fingerprints to each other over another \
channel you trust (in person, a verified call); if they match, /verify fingerprint. Or agree \
on a secret and use /verify secret or /verify question";

/// The JSON line for one shown thing.
pub(crate) fn to_json(s: &Shown) -> Value {
    match s {
        Shown::Connected { jid, fingerprint } => {
            json!({"event": "connected", "jid": jid, "fingerprint": fingerprint.to_human()})
        }
        Shown::Presence { from, available } => {
            json!({"event": "presence", "from": from, "available": available})
        }
        Shown::FileRefused { from, what } => {
            json!({"event": "file_refused", "from": from, "what": what})
        }
        Shown::Disconnected { reason } => json!({"event": "disconnected", "reason": reason}),
        Shown::Chat(u) => match u {
            UiEvent::State { state, fingerprint } => json!({
                "event": "state", "state": state_word(*state), "fingerprint": fp_json(*fingerprint),
            }),
            UiEvent::Message {
                incoming,
                text,
                encrypted,
            } => json!({
                "event": "message", "direction": if *incoming { "in" } else { "out" },
                "text": text, "encrypted": encrypted,
            }),
            UiEvent::Smp(s) => match s {
                SmpUi::Asked { question } => {
                    json!({"event": "smp", "result": s.as_str(), "question": question})
                }
                _ => json!({"event": "smp", "result": s.as_str()}),
            },
            UiEvent::FingerprintChanged { old, new } => json!({
                "event": "fingerprint_changed", "old": old.to_human(), "new": new.to_human(),
                "warning": "the contact's OTR key CHANGED: this may be a new device or someone \
                            in the middle; the new key is NOT verified",
            }),
            UiEvent::Fingerprint {
                ours,
                theirs,
                verified,
            } => json!({
                "event": "fingerprint", "ours": ours.to_human(), "theirs": fp_json(*theirs),
                "verified": verified, "how": HOW_TO_COMPARE,
            }),
            UiEvent::Notice(t) => json!({"event": "notice", "text": t}),
            UiEvent::Error(t) => json!({"event": "error", "detail": t}),
        },
    }
}

fn emit(shown: &[Shown]) {
    let mut out = std::io::stdout().lock();
    for s in shown {
        let _ = writeln!(out, "{}", to_json(s));
    }
    let _ = out.flush();
}

async fn headless(
    mut conv: Conversation,
    mut events: mpsc::Receiver<XmppEvent>,
    first: Vec<Shown>,
) -> Result<ExitCode> {
    emit(&first);
    let (line_tx, mut lines) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let l = line.trim_end_matches(['\r', '\n']).to_owned();
                    if line_tx.send(l).is_err() {
                        break;
                    }
                }
            }
        }
    });
    loop {
        tokio::select! {
            l = lines.recv() => {
                let Some(l) = l else { break };
                let (shown, quit) = conv.line(&l).await;
                emit(&shown);
                if quit {
                    break;
                }
            }
            ev = events.recv() => {
                let Some(ev) = ev else {
                    emit(&[Shown::Disconnected { reason: "connection closed".into() }]);
                    return Ok(ExitCode::from(1));
                };
                let (shown, gone) = conv.xmpp(ev).await;
                emit(&shown);
                if gone {
                    return Ok(ExitCode::from(1));
                }
            }
        }
    }
    conv.close().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_and_proxy_parsing() {
        assert_eq!(
            parse_host_port("xmpp.example.org:5223").unwrap(),
            ("xmpp.example.org".into(), 5223)
        );
        assert_eq!(parse_host_port("[::1]:5222").unwrap(), ("::1".into(), 5222));
        assert!(parse_host_port("nohost").is_err());
        assert!(parse_host_port("h:99999").is_err());
        let p = parse_proxy("socks5://127.0.0.1:9050").unwrap();
        assert_eq!(p.addr.to_string(), "127.0.0.1:9050");
        assert!(p.username.is_none());
        let p = parse_proxy("socks5h://iso:lation@127.0.0.1:9050/").unwrap();
        assert_eq!(p.username.as_deref(), Some("iso"));
        assert_eq!(p.password.as_deref().map(String::as_str), Some("lation"));
        assert!(parse_proxy("http://127.0.0.1:8080").is_err());
    }

    #[test]
    fn json_events_have_the_documented_names() {
        let fp = Fingerprint([0xab; 20]);
        let cases = [
            (
                Shown::Chat(UiEvent::State {
                    state: sotto_otr::OtrState::Private,
                    fingerprint: Some(fp),
                }),
                "state",
            ),
            (
                Shown::Chat(UiEvent::Smp(SmpUi::Asked { question: None })),
                "smp",
            ),
            (
                Shown::Chat(UiEvent::FingerprintChanged { old: fp, new: fp }),
                "fingerprint_changed",
            ),
            (
                Shown::FileRefused {
                    from: "b@x/y".into(),
                    what: "file".into(),
                },
                "file_refused",
            ),
            (Shown::Chat(UiEvent::Error("e".into())), "error"),
        ];
        for (s, name) in cases {
            assert_eq!(to_json(&s)["event"], name);
        }
        let v = to_json(&Shown::Chat(UiEvent::State {
            state: sotto_otr::OtrState::NotPrivate,
            fingerprint: None,
        }));
        assert_eq!(v["state"], "not private");
    }

    fn args(flags: &[&str]) -> ChatArgs {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: ChatArgs,
        }
        let mut v = vec!["chat"];
        v.extend_from_slice(flags);
        v.push("bob@example.org");
        <P as clap::Parser>::try_parse_from(v).unwrap().a
    }

    fn file(text: &str) -> crate::config::Config {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn flags_override_the_xmpp_table() {
        let f = file(
            "[xmpp]\naccount = \"ana@example.org\"\nserver = \"127.0.0.1:5222\"\n\
             proxy = \"socks5://127.0.0.1:9050\"\npassword_file = \"/cfg/pw\"\n",
        );
        let x = f.xmpp.as_ref();
        // No flags: all from the file.
        let l = login(&args(&[]), x, false).unwrap();
        assert_eq!(l.account, "ana@example.org");
        assert_eq!(l.server.as_deref(), Some("127.0.0.1:5222"));
        assert_eq!(l.proxy.as_deref(), Some("socks5://127.0.0.1:9050"));
        assert!(!l.direct_tls && l.ca.is_none());
        assert_eq!(l.password, PasswordSource::ConfigFile("/cfg/pw".into()));
        // The environment beats the file's password_file; the flag beats both.
        assert_eq!(
            login(&args(&[]), x, true).unwrap().password,
            PasswordSource::Env
        );
        let l = login(
            &args(&[
                "--password-file",
                "/flag/pw",
                "--server",
                "h:5223",
                "--direct-tls",
            ]),
            x,
            true,
        )
        .unwrap();
        assert_eq!(l.password, PasswordSource::FlagFile("/flag/pw".into()));
        assert_eq!(l.server.as_deref(), Some("h:5223"));
        assert!(l.direct_tls);
        assert_eq!(l.proxy.as_deref(), Some("socks5://127.0.0.1:9050"));
        // The same account given as a flag (any case, with a resource) keeps the file's table.
        let l = login(&args(&["--account", "Ana@example.org/x"]), x, false).unwrap();
        assert_eq!(l.server.as_deref(), Some("127.0.0.1:5222"));
        // Another account: nothing of the file applies.
        let l = login(&args(&["--account", "eve@example.net"]), x, false).unwrap();
        assert_eq!(l.account, "eve@example.net");
        assert!(l.server.is_none() && l.proxy.is_none());
        assert_eq!(l.password, PasswordSource::None);
        // An inline password is used last.
        let f = file("[xmpp]\naccount = \"ana@example.org\"\npassword = \"pw\"\n");
        let l = login(&args(&[]), f.xmpp.as_ref(), false).unwrap();
        assert_eq!(l.password, PasswordSource::Config);
        assert_eq!(
            read_password(&l.password, f.xmpp.as_ref())
                .unwrap()
                .as_str(),
            "pw"
        );
        // Neither flag nor file: the error says how to give an account.
        let m = login(&args(&[]), None, false).unwrap_err().to_string();
        assert!(
            m.starts_with("no XMPP account: give --account JID, or put an [xmpp] table"),
            "{m}"
        );
        let m = read_password(&PasswordSource::None, None)
            .unwrap_err()
            .to_string();
        assert!(
            m.starts_with("no password: give --password-file FILE"),
            "{m}"
        );
    }
}
