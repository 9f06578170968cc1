//! The configuration file: `config.toml` in `$SOTTO_CONFIG_DIR`, else `$XDG_CONFIG_HOME/sotto`,
//! else `~/.config/sotto`.
//!
//! Everything in it is optional; a missing file means the defaults. Command-line flags override
//! it. The file is written (by `sotto config init`) 0600 in a 0700 directory, and a file that
//! holds a password (SIP `[account]` or XMPP `[xmpp]`) is refused when other users can read it. A bad file is an error naming
//! the file, the line and the key; nothing is ever rewritten behind the user's back.

use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use serde::{Deserialize, Deserializer};
use sotto_sip::Uri;
use sotto_sip::sdp::Codec;
use sotto_zrtp::{AlgoPrefs, AuthTag, CipherAlgo, HashAlgo, KeyAgreement, SasType};
use zeroize::Zeroizing;

/// The file name inside the configuration directory.
pub(crate) const FILE_NAME: &str = "config.toml";

/// `sotto config ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the configuration in effect (the file merged with the defaults; password hidden).
    Show,
    /// Print where the configuration file is (or would be).
    Path,
    /// Write a commented default configuration file (never overwrites an existing one).
    Init,
}

/// The whole file. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Shown to peers instead of the generated pseudonym.
    #[serde(default, deserialize_with = "display_name")]
    pub display_name: Option<String>,
    /// Allow unencrypted calls when the other phone has no ZRTP (default false).
    #[serde(default)]
    pub allow_insecure: bool,
    /// SIP settings.
    #[serde(default)]
    pub sip: SipSection,
    /// Media settings.
    #[serde(default)]
    pub media: MediaSection,
    /// ZRTP algorithm preferences.
    #[serde(default)]
    pub zrtp: ZrtpSection,
    /// An optional SIP account to register with.
    #[serde(default)]
    pub account: Option<AccountSection>,
    /// An optional XMPP account for `sotto chat`.
    #[serde(default)]
    pub xmpp: Option<XmppSection>,
}

/// `[sip]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SipSection {
    /// Local SIP address and port.
    pub listen: Option<SocketAddr>,
}

/// `[media]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MediaSection {
    /// Local media (RTP/ZRTP) address and port.
    pub listen: Option<SocketAddr>,
    /// Codecs in order of preference.
    #[serde(default, deserialize_with = "codecs")]
    pub codecs: Option<Vec<Codec>>,
}

/// `[zrtp]`: each list replaces the default list of its kind, in order of preference.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ZrtpSection {
    #[serde(default, deserialize_with = "algos")]
    hashes: Option<Vec<HashAlgo>>,
    #[serde(default, deserialize_with = "algos")]
    ciphers: Option<Vec<CipherAlgo>>,
    #[serde(default, deserialize_with = "algos")]
    auth_tags: Option<Vec<AuthTag>>,
    #[serde(default, deserialize_with = "algos")]
    key_agreements: Option<Vec<KeyAgreement>>,
    #[serde(default, deserialize_with = "algos")]
    sas_types: Option<Vec<SasType>>,
}

/// `[account]`: a SIP registrar account (digest authentication).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountSection {
    /// `host:port` of the registrar (port 5060 if left out).
    #[serde(deserialize_with = "registrar")]
    pub registrar: String,
    /// Our address of record, `sip:user@domain`.
    #[serde(deserialize_with = "uri")]
    pub aor: Uri,
    /// Digest user name.
    #[serde(deserialize_with = "non_empty")]
    pub username: String,
    /// Digest password (kept in memory that is wiped on drop).
    #[serde(deserialize_with = "password")]
    pub password: Zeroizing<String>,
    /// Requested registration lifetime in seconds.
    #[serde(default = "default_expires", deserialize_with = "expires")]
    pub expires: u32,
}

impl std::fmt::Debug for AccountSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSection")
            .field("registrar", &self.registrar)
            .field("aor", &self.aor.to_string())
            .field("username", &self.username)
            .field("password", &"(hidden)")
            .field("expires", &self.expires)
            .finish()
    }
}

/// `[xmpp]`: the XMPP account `sotto chat` logs in with when `--account` is not given.
#[derive(Deserialize)]
#[serde(try_from = "RawXmpp")]
pub(crate) struct XmppSection {
    /// Our bare JID, `user@domain`.
    pub account: String,
    /// `host:port` to connect to instead of the JID's domain.
    pub server: Option<String>,
    /// TLS from the first byte instead of STARTTLS.
    pub direct_tls: bool,
    /// A PEM CA certificate to trust instead of the usual roots.
    pub ca: Option<PathBuf>,
    /// `socks5://host:port` (e.g. Tor).
    pub proxy: Option<String>,
    /// Where the password is (first line).
    pub password_file: Option<PathBuf>,
    /// The password itself (the file must then be private).
    pub password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for XmppSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmppSection")
            .field("account", &self.account)
            .field("server", &self.server)
            .field("direct_tls", &self.direct_tls)
            .field("ca", &self.ca)
            .field("proxy", &self.proxy.as_ref().map(|_| "(set)"))
            .field("password_file", &self.password_file)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

/// `[xmpp]` as written, checked key by key (so errors name the key).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawXmpp {
    #[serde(deserialize_with = "jid")]
    account: String,
    #[serde(default, deserialize_with = "xmpp_server")]
    server: Option<String>,
    #[serde(default)]
    direct_tls: bool,
    #[serde(default)]
    ca: Option<PathBuf>,
    #[serde(default, deserialize_with = "socks5_url")]
    proxy: Option<String>,
    #[serde(default)]
    password_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "opt_password")]
    password: Option<Zeroizing<String>>,
}

impl TryFrom<RawXmpp> for XmppSection {
    type Error = String;
    fn try_from(r: RawXmpp) -> Result<Self, String> {
        if r.password.is_some() && r.password_file.is_some() {
            return Err("give either password or password_file, not both".into());
        }
        Ok(Self {
            account: r.account,
            server: r.server,
            direct_tls: r.direct_tls,
            ca: r.ca,
            proxy: r.proxy,
            password_file: r.password_file,
            password: r.password,
        })
    }
}

fn jid<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    let ok = s
        .split_once('@')
        .is_some_and(|(u, h)| !u.is_empty() && !h.is_empty() && !h.contains('@'))
        && !s.contains('/')
        && !s.contains(char::is_whitespace);
    if !ok {
        return Err(serde::de::Error::custom(
            "the account must be a bare JID like \"alice@example.org\"",
        ));
    }
    Ok(s.to_owned())
}

fn xmpp_server<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    let ok = s.rsplit_once(':').is_some_and(|(h, p)| {
        !h.trim_start_matches('[').trim_end_matches(']').is_empty() && p.parse::<u16>().is_ok()
    }) && !s.contains(char::is_whitespace);
    if !ok {
        return Err(serde::de::Error::custom(
            "the server must be host:port, e.g. \"xmpp.example.org:5222\"",
        ));
    }
    Ok(Some(s.to_owned()))
}

fn socks5_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    let rest = s
        .strip_prefix("socks5://")
        .or_else(|| s.strip_prefix("socks5h://"))
        .unwrap_or("");
    if !rest.contains(':') || s.contains(char::is_whitespace) {
        return Err(serde::de::Error::custom(
            "the proxy must be socks5://host:port, e.g. \"socks5://127.0.0.1:9050\" for Tor",
        ));
    }
    Ok(Some(s.to_owned()))
}

fn opt_password<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Zeroizing<String>>, D::Error> {
    let p = Zeroizing::new(String::deserialize(d)?);
    if p.is_empty() {
        return Err(serde::de::Error::custom("the password is empty"));
    }
    Ok(Some(p))
}

fn default_expires() -> u32 {
    3600
}

fn display_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let t = s.trim();
    if t.is_empty() {
        return Err(serde::de::Error::custom("the display name is empty"));
    }
    if t.chars().count() > sotto_store::MAX_NAME_CHARS {
        return Err(serde::de::Error::custom(format!(
            "the display name is longer than {} characters",
            sotto_store::MAX_NAME_CHARS
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(
            "the display name contains control characters",
        ));
    }
    Ok(Some(t.to_owned()))
}

fn codec_from(s: &str) -> Option<Codec> {
    match s.to_ascii_lowercase().as_str() {
        "opus" => Some(Codec::Opus),
        "pcmu" => Some(Codec::Pcmu),
        "pcma" => Some(Codec::Pcma),
        _ => None,
    }
}

fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::Opus => "opus",
        Codec::Pcmu => "pcmu",
        Codec::Pcma => "pcma",
        #[allow(unreachable_patterns, reason = "Codec may grow")]
        _ => "other",
    }
}

fn codecs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Codec>>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(serde::de::Error::custom(
            "the codec list is empty; name at least one of \"opus\", \"pcmu\", \"pcma\"",
        ));
    }
    let mut out = Vec::new();
    for n in &names {
        let c = codec_from(n).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown codec {n:?}; sotto knows \"opus\", \"pcmu\", \"pcma\""
            ))
        })?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(Some(out))
}

fn algos<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr<Err = sotto_zrtp::algo::UnknownAlgorithm> + PartialEq,
{
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(serde::de::Error::custom(
            "the list is empty; leave the key out to use the defaults",
        ));
    }
    let mut out = Vec::new();
    for n in &names {
        let a: T = n.parse().map_err(serde::de::Error::custom)?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(Some(out))
}

fn registrar<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    if s.is_empty() || s.contains(char::is_whitespace) || s.starts_with("sip:") {
        return Err(serde::de::Error::custom(
            "the registrar must be host or host:port, e.g. \"sip.example.org:5060\"",
        ));
    }
    Ok(s.to_owned())
}

fn uri<'de, D: Deserializer<'de>>(d: D) -> Result<Uri, D::Error> {
    let s = String::deserialize(d)?;
    s.trim()
        .parse()
        .map_err(|e| serde::de::Error::custom(format!("not a SIP URI ({e})")))
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(s)
}

fn password<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    Ok(Zeroizing::new(String::deserialize(d)?))
}

fn expires<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if !(60..=86_400).contains(&v) {
        return Err(serde::de::Error::custom(
            "expires must be between 60 and 86400 seconds",
        ));
    }
    Ok(v)
}

/// The configuration directory.
pub(crate) fn config_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("SOTTO_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("sotto"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config/sotto")),
        None => bail!("cannot find a configuration directory: set SOTTO_CONFIG_DIR or HOME"),
    }
}

/// The configuration file.
pub(crate) fn config_path() -> Result<PathBuf> {
    Ok(config_dir()?.join(FILE_NAME))
}

/// Loads the configuration file, or the defaults if there is none.
pub(crate) fn load() -> Result<Config> {
    let path = config_path()?;
    Ok(load_from(&path)?.unwrap_or_default())
}

/// Loads `path`; `None` if it does not exist.
pub(crate) fn load_from(path: &Path) -> Result<Option<Config>> {
    let text = match std::fs::read(path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let text = Zeroizing::new(
        String::from_utf8(text.to_vec())
            .map_err(|_| anyhow!("bad config file {}: it is not UTF-8 text", path.display()))?,
    );
    let cfg: Config = toml::from_str(&text).map_err(|e| describe_error(path, &text, &e))?;
    if cfg.account.is_some() {
        refuse_if_readable_by_others(path, "a SIP password")?;
    } else if cfg.xmpp.as_ref().is_some_and(|x| x.password.is_some()) {
        refuse_if_readable_by_others(path, "an XMPP password")?;
    }
    Ok(Some(cfg))
}

#[cfg(unix)]
fn refuse_if_readable_by_others(path: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "refusing to use {}: it holds {what} but other users may read it \
             (mode {:04o}); make it private with `chmod 600 {}`",
            path.display(),
            mode & 0o7777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_readable_by_others(_path: &Path, _what: &str) -> Result<()> {
    Ok(())
}

/// "bad config file F, line N, key `a.b`: message".
fn describe_error(path: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let msg = e.message().trim();
    let Some(span) = e.span() else {
        return anyhow!("bad config file {}: {msg}", path.display());
    };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text
        .get(line_start..)
        .and_then(|r| r.lines().next())
        .unwrap_or("")
        .trim();
    // The table the line is in: the last `[header]` above it (or the line itself).
    let table = |s: &str| {
        s.trim()
            .strip_prefix('[')
            .and_then(|s| s.split(']').next())
            .map(|s| s.trim_matches(['[', ' ']).to_owned())
    };
    let key = if let Some(t) = table(line) {
        Some(t)
    } else if let Some((k, _)) = line.split_once('=') {
        let k = k.trim().trim_matches('"').to_owned();
        let section = before
            .get(..line_start)
            .unwrap_or("")
            .lines()
            .rev()
            .find_map(table);
        Some(match section {
            Some(s) if !s.is_empty() => format!("{s}.{k}"),
            _ => k,
        })
    } else {
        None
    };
    match key {
        Some(k) => anyhow!(
            "bad config file {}, line {line_no}, key `{k}`: {msg}",
            path.display()
        ),
        None => anyhow!("bad config file {}, line {line_no}: {msg}", path.display()),
    }
}

/// What the phone commands take from the configuration, after the command-line flags.
pub(crate) struct PhoneSettings {
    /// Local SIP address.
    pub sip: SocketAddr,
    /// Local media address.
    pub media: SocketAddr,
}

const DEFAULT_SIP: &str = "127.0.0.1:0";
const DEFAULT_MEDIA: &str = "127.0.0.1:0";

fn default_addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}

impl Config {
    /// The local addresses: the flag if given, else the file, else loopback on any port.
    pub(crate) fn addresses(
        &self,
        sip_flag: Option<SocketAddr>,
        media_flag: Option<SocketAddr>,
    ) -> PhoneSettings {
        PhoneSettings {
            sip: sip_flag
                .or(self.sip.listen)
                .unwrap_or_else(|| default_addr(DEFAULT_SIP)),
            media: media_flag
                .or(self.media.listen)
                .unwrap_or_else(|| default_addr(DEFAULT_MEDIA)),
        }
    }

    /// The ZRTP preferences: the defaults with each list the file names replaced.
    pub(crate) fn zrtp_prefs(&self) -> AlgoPrefs {
        let mut p = AlgoPrefs::default();
        let z = &self.zrtp;
        if let Some(v) = &z.hashes {
            p.hashes.clone_from(v);
        }
        if let Some(v) = &z.ciphers {
            p.ciphers.clone_from(v);
        }
        if let Some(v) = &z.auth_tags {
            p.auth_tags.clone_from(v);
        }
        if let Some(v) = &z.key_agreements {
            p.key_agreements.clone_from(v);
        }
        if let Some(v) = &z.sas_types {
            p.sas_types.clone_from(v);
        }
        p
    }

    /// Applies the file to a phone configuration (`allow_insecure_flag`: the command-line flag,
    /// which can only turn insecure calls on). Warns on stderr when insecure calls are allowed
    /// by the file.
    pub(crate) fn apply(
        &self,
        cfg: &mut sotto_call::phone::PhoneConfig,
        allow_insecure_flag: bool,
    ) -> Result<()> {
        if let Some(n) = &self.display_name {
            cfg.display_name = Some(n.clone());
        }
        if self.allow_insecure && !allow_insecure_flag {
            eprintln!(
                "sotto: warning: allow_insecure = true in {}: a call to a phone without ZRTP \
                 will connect UNENCRYPTED (it is shown as insecure throughout)",
                config_path().map_or_else(|_| FILE_NAME.into(), |p| p.display().to_string())
            );
        }
        cfg.allow_insecure = allow_insecure_flag || self.allow_insecure;
        if let Some(c) = &self.media.codecs {
            cfg.codecs.clone_from(c);
        }
        cfg.zrtp = self.zrtp_prefs();
        cfg.account = match &self.account {
            Some(a) => Some(a.to_account().with_context(|| {
                format!(
                    "the [account] in {}",
                    config_path().map_or_else(|_| FILE_NAME.into(), |p| p.display().to_string())
                )
            })?),
            None => None,
        };
        Ok(())
    }
}

impl AccountSection {
    /// The account for the phone (the registrar resolved now).
    pub(crate) fn to_account(&self) -> Result<sotto_call::phone::Account> {
        Ok(sotto_call::phone::Account {
            registrar: self.registrar_addr()?,
            aor: self.aor.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            expires: self.expires,
        })
    }

    /// The registrar's socket address (DNS resolved now; port 5060 if none was given).
    pub(crate) fn registrar_addr(&self) -> Result<SocketAddr> {
        let hostport = if self.registrar.parse::<SocketAddr>().is_ok()
            || (self.registrar.contains(':') && !self.registrar.ends_with(']'))
        {
            self.registrar.clone()
        } else {
            format!("{}:5060", self.registrar)
        };
        let mut addrs = hostport
            .to_socket_addrs()
            .with_context(|| format!("cannot find the registrar {hostport}"))?;
        addrs
            .next()
            .ok_or_else(|| anyhow!("the registrar {hostport} has no address"))
    }
}

impl Config {
    /// Where to send the INVITE for `uri` when no `--peer` was given: the registrar, if an
    /// account is configured and `uri` is in the account's domain (`sip:bob@example.org` with
    /// `aor = "sip:ana@example.org"`); `None` otherwise (direct call to the URI's host).
    pub(crate) fn via_registrar(&self, uri: &str) -> Option<SocketAddr> {
        let a = self.account.as_ref()?;
        let ours = domain_of(&a.aor.to_string())?;
        if domain_of(uri)?.eq_ignore_ascii_case(&ours) {
            a.registrar_addr().ok()
        } else {
            None
        }
    }
}

/// The host of a `sip:` URI string, without user, port or parameters.
fn domain_of(uri: &str) -> Option<String> {
    let rest = uri.split_once(':')?.1;
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split([';', '?', '>']).next()?;
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_owned())
}

/// The message for a local port that cannot be used: in use, or not ours to take.
pub(crate) fn bind_error(what: &str, at: SocketAddr, e: &std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow!(
            "cannot listen for {what} on {at}: the port is already in use (another sotto or \
             phone?); choose another with --{} or in {FILE_NAME}",
            what.to_ascii_lowercase()
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            anyhow!("cannot listen for {what} on {at}: this computer has no such address")
        }
        std::io::ErrorKind::PermissionDenied => anyhow!(
            "cannot listen for {what} on {at}: permission denied (ports below 1024 need privileges)"
        ),
        _ => anyhow!("cannot listen for {what} on {at}: {e}"),
    }
}

/// The commented default file `sotto config init` writes.
pub(crate) const DEFAULT_FILE: &str = r#"# sotto configuration. Every setting is optional: a commented line shows the default.
# Command-line flags override this file. Keep it private (sotto writes it mode 0600 and
# refuses to read a file holding a password that other users can read).

# The name shown to the people you call, instead of your generated pseudonym.
# display_name = "amber-heron-42"

# Allow a call to connect UNENCRYPTED when the other phone does not support ZRTP.
# Off by default: such calls are refused with the reason. If you turn it on, those calls
# are shown as insecure for their whole duration.
# allow_insecure = false

[sip]
# Where sotto listens for SIP (address:port). 0.0.0.0 to be reachable from other hosts.
# listen = "127.0.0.1:0"

[media]
# Where sotto sends and receives the call's audio (RTP, ZRTP).
# listen = "127.0.0.1:0"
# Codecs in order of preference: "opus", "pcmu", "pcma".
# codecs = ["opus", "pcmu", "pcma"]

[zrtp]
# Algorithm preferences, most preferred first (RFC 6189 names). Each list replaces the
# default list of its kind.
# key_agreements = ["X255", "E255", "X448", "EC25", "DH3k", "EC38"]
# hashes = ["S256", "S384"]
# ciphers = ["AES1", "AES3"]
# auth_tags = ["HS32", "HS80"]
# sas_types = ["B32", "B256"]

# An optional SIP account, to be reachable through a registrar (direct calls to
# sip:name@host:port need none). Uncomment the header and the keys together.
# [account]
# registrar = "sip.example.org:5060"
# aor = "sip:alice@example.org"
# username = "alice"
# password = "secret"
# expires = 3600

# An optional XMPP account for `sotto chat CONTACT` (private messages, OTR); the
# --account, --server, --direct-tls, --ca, --proxy and --password-file flags override it.
# The password: --password-file, else $SOTTO_XMPP_PASSWORD, else password_file here,
# else password here. Uncomment the header and the keys you need.
# [xmpp]
# account = "alice@example.org"
# server = "xmpp.example.org:5222"
# direct_tls = false
# ca = "/etc/ssl/my-server-ca.pem"
# proxy = "socks5://127.0.0.1:9050"
# password_file = "/home/alice/.config/sotto/xmpp-password"
"#;

/// `sotto config show|path|init`.
pub(crate) fn config(what: ConfigCommand) -> Result<ExitCode> {
    let path = config_path()?;
    match what {
        ConfigCommand::Path => println!("{}", path.display()),
        ConfigCommand::Init => {
            init(&path)?;
            println!("wrote {}", path.display());
        }
        ConfigCommand::Show => {
            let file = load_from(&path)?;
            let origin = if file.is_some() {
                "(from this file; unset keys show their defaults)"
            } else {
                "(no such file: these are the defaults; `sotto config init` writes one)"
            };
            println!("# {} {origin}", path.display());
            print!("{}", render(&file.unwrap_or_default()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the default file: the directory 0700, the file 0600, never over an existing file.
pub(crate) fn init(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = match o.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; it was not changed (edit it, or move it away first)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    std::io::Write::write_all(&mut f, DEFAULT_FILE.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn list<T>(v: &[T], name: impl Fn(&T) -> String) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{:?}", name(x))).collect();
    format!("[{}]", items.join(", "))
}

fn algo<T: std::fmt::Display>(a: &T) -> String {
    a.to_string().trim().to_owned()
}

/// The configuration in effect, as TOML, the password replaced by asterisks.
pub(crate) fn render(c: &Config) -> String {
    let d = c.addresses(None, None);
    let z = c.zrtp_prefs();
    let codecs = c
        .media
        .codecs
        .clone()
        .unwrap_or_else(|| vec![Codec::Opus, Codec::Pcmu, Codec::Pcma]);
    let mut s = String::new();
    match &c.display_name {
        Some(n) => {
            let _ = writeln!(s, "display_name = {n:?}");
        }
        None => s.push_str("# display_name: not set (your pseudonym is used)\n"),
    }
    let _ = writeln!(s, "allow_insecure = {}", c.allow_insecure);
    let _ = writeln!(s, "\n[sip]\nlisten = \"{}\"", d.sip);
    let _ = writeln!(
        s,
        "\n[media]\nlisten = \"{}\"\ncodecs = {}",
        d.media,
        list(&codecs, |c| codec_name(*c).to_owned())
    );
    let _ = writeln!(
        s,
        "\n[zrtp]\nkey_agreements = {}\nhashes = {}\nciphers = {}\nauth_tags = {}\nsas_types = {}",
        list(&z.key_agreements, algo),
        list(&z.hashes, algo),
        list(&z.ciphers, algo),
        list(&z.auth_tags, algo),
        list(&z.sas_types, algo),
    );
    match &c.account {
        Some(a) => {
            let _ = writeln!(
                s,
                "\n[account]\nregistrar = {:?}\naor = \"{}\"\nusername = {:?}\npassword = \"********\"\nexpires = {}",
                a.registrar, a.aor, a.username, a.expires
            );
        }
        None => s.push_str("\n# [account]: none (direct calls only)\n"),
    }
    match &c.xmpp {
        Some(x) => {
            let _ = writeln!(s, "\n[xmpp]\naccount = {:?}", x.account);
            if let Some(v) = &x.server {
                let _ = writeln!(s, "server = {v:?}");
            }
            let _ = writeln!(s, "direct_tls = {}", x.direct_tls);
            if let Some(v) = &x.ca {
                let _ = writeln!(s, "ca = {:?}", v.display().to_string());
            }
            if let Some(v) = &x.proxy {
                // Stream-isolation credentials (socks5://user:pass@host:port) are not shown.
                let shown = match v.split_once("://").zip(v.rsplit_once('@')) {
                    Some(((scheme, _), (_, host))) => format!("{scheme}://********@{host}"),
                    None => v.clone(),
                };
                let _ = writeln!(s, "proxy = {shown:?}");
            }
            if let Some(v) = &x.password_file {
                let _ = writeln!(s, "password_file = {:?}", v.display().to_string());
            }
            if x.password.is_some() {
                s.push_str("password = \"********\"\n");
            }
        }
        None => s.push_str("\n# [xmpp]: none (`sotto chat` needs --account)\n"),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e| describe_error(Path::new("/c/config.toml"), text, &e))
    }

    #[test]
    fn the_default_file_parses_to_the_defaults() {
        let c = parse(DEFAULT_FILE).unwrap();
        assert!(c.display_name.is_none() && !c.allow_insecure && c.account.is_none());
        assert_eq!(c.zrtp_prefs(), AlgoPrefs::default());
        // Every commented setting, uncommented, is valid and gives the same values.
        let uncommented: String = DEFAULT_FILE
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = ") || r.starts_with('['))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = parse(&uncommented).unwrap();
        assert_eq!(c.zrtp_prefs(), AlgoPrefs::default());
        assert_eq!(c.display_name.as_deref(), Some("amber-heron-42"));
        let x = c.xmpp.as_ref().unwrap();
        assert_eq!(x.account, "alice@example.org");
        assert_eq!(x.proxy.as_deref(), Some("socks5://127.0.0.1:9050"));
        assert!(x.password.is_none() && !x.direct_tls);
        let a = c.account.unwrap();
        assert_eq!(a.username, "alice");
        assert_eq!(a.password.as_str(), "secret");
        assert_eq!(a.expires, 3600);
        assert_eq!(a.aor.to_string(), "sip:alice@example.org");
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let e = parse("allow_insecure = false\n\n[sip]\nlisten = 5060\n").unwrap_err();
        let m = e.to_string();
        assert!(
            m.starts_with("bad config file /c/config.toml, line 4, key `sip.listen`: invalid type"),
            "{m}"
        );
        let e = parse("[zrtp]\nhashes = [\"S256\", \"MD5\"]\n").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("line 2, key `zrtp.hashes`"), "{m}");
        assert!(m.contains("\"MD5\""), "{m}");
        let e = parse("[media]\nlisen = \"127.0.0.1:4000\"\n").unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("line 2, key `media.lisen`: unknown field `lisen`"),
            "{m}"
        );
        let e = parse("[account]\nregistrar = \"r.example:5060\"\n").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("line 1, key `account`: missing field"), "{m}");
        let e = parse("display_name = \"\"\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("line 1, key `display_name`: the display name is empty")
        );
    }

    #[test]
    fn flags_override_the_file() {
        let c = parse("[sip]\nlisten = \"127.0.0.1:5070\"\n[media]\nlisten = \"127.0.0.1:4000\"\n")
            .unwrap();
        let a = c.addresses(None, None);
        assert_eq!(a.sip.port(), 5070);
        assert_eq!(a.media.port(), 4000);
        let a = c.addresses(Some("127.0.0.1:5999".parse().unwrap()), None);
        assert_eq!(a.sip.port(), 5999);
        assert_eq!(a.media.port(), 4000);
        let d = Config::default().addresses(None, None);
        assert_eq!(d.sip.to_string(), "127.0.0.1:0");
    }

    #[test]
    fn apply_sets_preferences_and_insecure_needs_a_yes() {
        let c = parse(
            "display_name = \"Ana\"\n[media]\ncodecs = [\"pcma\", \"OPUS\"]\n[zrtp]\nkey_agreements = [\"DH3k\"]\n",
        )
        .unwrap();
        let mut p = sotto_call::phone::PhoneConfig::new(
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            "sotto",
            sotto_proto::Zid([1; 12]),
        );
        c.apply(&mut p, false).unwrap();
        assert_eq!(p.display_name.as_deref(), Some("Ana"));
        assert_eq!(p.codecs, vec![Codec::Pcma, Codec::Opus]);
        assert_eq!(p.zrtp.key_agreements, vec![KeyAgreement::Dh3k]);
        assert!(!p.allow_insecure);
        c.apply(&mut p, true).unwrap();
        assert!(p.allow_insecure);
    }

    #[test]
    fn calls_in_the_account_domain_go_to_the_registrar() {
        let c = parse(
            "[account]\nregistrar = \"127.0.0.1:5070\"\naor = \"sip:ana@Example.org\"\n\
             username = \"ana\"\npassword = \"pw\"\n",
        )
        .unwrap();
        let reg = Some("127.0.0.1:5070".parse().unwrap());
        assert_eq!(c.via_registrar("sip:bob@example.org"), reg);
        assert_eq!(c.via_registrar("sip:bob@EXAMPLE.org;transport=udp"), reg);
        assert_eq!(c.via_registrar("sip:bob@192.0.2.7:5060"), None);
        assert_eq!(c.via_registrar("sip:bob@example.org.evil"), None);
        assert_eq!(Config::default().via_registrar("sip:bob@example.org"), None);
        assert_eq!(
            domain_of("sip:[2001:db8::1]:5060").as_deref(),
            Some("2001:db8::1")
        );
    }

    #[test]
    fn show_hides_the_password() {
        let c = parse(
            "[account]\nregistrar = \"127.0.0.1\"\naor = \"sip:a@example.org\"\nusername = \"a\"\npassword = \"hunter2\"\n",
        )
        .unwrap();
        let s = render(&c);
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("password = \"********\""), "{s}");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            c.account.unwrap().registrar_addr().unwrap().to_string(),
            "127.0.0.1:5060"
        );
        // The rendered text is itself a valid file with the same settings.
        let again = parse(&s.replace("********", "x")).unwrap();
        assert_eq!(again.zrtp_prefs(), AlgoPrefs::default());
    }

    const XMPP: &str = "[xmpp]\naccount = \"ana@example.org\"\nserver = \"xmpp.example.org:5223\"\n\
        direct_tls = true\nca = \"/etc/ca.pem\"\nproxy = \"socks5://iso:lation@127.0.0.1:9050\"\n\
        password = \"hunter2\"\n";

    #[test]
    fn the_xmpp_table_parses_and_show_hides_its_secrets() {
        let c = parse(XMPP).unwrap();
        let x = c.xmpp.as_ref().unwrap();
        assert_eq!(x.account, "ana@example.org");
        assert_eq!(x.server.as_deref(), Some("xmpp.example.org:5223"));
        assert!(x.direct_tls);
        assert_eq!(x.ca.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(x.password.as_deref().map(String::as_str), Some("hunter2"));
        let s = render(&c);
        assert!(!s.contains("hunter2") && !s.contains("lation"), "{s}");
        assert!(
            s.contains("\n[xmpp]\naccount = \"ana@example.org\"\n"),
            "{s}"
        );
        assert!(s.contains("password = \"********\""), "{s}");
        assert!(
            s.contains("proxy = \"socks5://********@127.0.0.1:9050\""),
            "{s}"
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        // The rendered text parses back to the same account.
        let again = parse(&s).unwrap();
        assert_eq!(again.xmpp.unwrap().server, x.server);
        // Only what is given; a file without [xmpp] says so.
        let c = parse("[xmpp]\naccount = \"b@example.net\"\npassword_file = \"/p\"\n").unwrap();
        let x = c.xmpp.as_ref().unwrap();
        assert!(x.server.is_none() && !x.direct_tls && x.proxy.is_none() && x.password.is_none());
        assert!(render(&Config::default()).contains("# [xmpp]: none"));
    }

    #[test]
    fn bad_xmpp_keys_name_the_line_and_the_key() {
        let cases = [
            (
                "[xmpp]\naccount = \"example.org\"\n",
                "line 2, key `xmpp.account`: the account must be a bare JID",
            ),
            (
                "[xmpp]\naccount = \"a@b/res\"\n",
                "line 2, key `xmpp.account`",
            ),
            (
                "[xmpp]\naccount = \"a@b\"\nserver = \"xmpp.example.org\"\n",
                "line 3, key `xmpp.server`: the server must be host:port",
            ),
            (
                "[xmpp]\naccount = \"a@b\"\nproxy = \"http://127.0.0.1:8080\"\n",
                "line 3, key `xmpp.proxy`: the proxy must be socks5://",
            ),
            (
                "[xmpp]\naccount = \"a@b\"\ndirect_tls = \"yes\"\n",
                "line 3, key `xmpp.direct_tls`: invalid type",
            ),
            (
                "[xmpp]\naccount = \"a@b\"\npasword = \"x\"\n",
                "line 3, key `xmpp.pasword`: unknown field",
            ),
            (
                "[xmpp]\nserver = \"h:5222\"\n",
                "key `xmpp`: missing field `account`",
            ),
            (
                "[xmpp]\naccount = \"a@b\"\npassword = \"x\"\npassword_file = \"/p\"\n",
                "key `xmpp`: give either password or password_file, not both",
            ),
        ];
        for (text, want) in cases {
            let m = parse(text).unwrap_err().to_string();
            assert!(m.starts_with("bad config file /c/config.toml, "), "{m}");
            assert!(m.contains(want), "{text:?}: {m}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_file_with_an_xmpp_password_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, XMPP).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let m = load_from(&path).unwrap_err().to_string();
        assert!(
            m.contains("it holds an XMPP password but other users may read it (mode 0644)"),
            "{m}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load_from(&path).unwrap().unwrap().xmpp.is_some());
        // A password_file (not the password itself) needs no private config file.
        std::fs::write(&path, "[xmpp]\naccount = \"a@b\"\npassword_file = \"/p\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_from(&path).unwrap().unwrap().xmpp.is_some());
    }
}
