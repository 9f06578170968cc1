//! Header fields: the raw list (names canonical, compact forms expanded) and typed views of the
//! headers sotto uses (RFC 3261 §20).

use std::fmt;

use crate::error::{Result, SipError};
use crate::grammar::{
    Params, Scanner, is_token_char, is_word_char, parse_u64_max, quote, split_commas,
    unescape_quoted,
};
use crate::uri::{Host, Uri};

/// A SIP method. Methods are case-sensitive (RFC 3261 §7.1); unknown ones are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE.
    Invite,
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// CANCEL.
    Cancel,
    /// OPTIONS.
    Options,
    /// REGISTER.
    Register,
    /// PRACK (RFC 3262).
    Prack,
    /// UPDATE (RFC 3311).
    Update,
    /// INFO (RFC 6086).
    Info,
    /// MESSAGE (RFC 3428).
    Message,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// REFER (RFC 3515).
    Refer,
    /// Any other token.
    Other(String),
}

impl Method {
    /// Parses a method token.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() || !s.chars().all(is_token_char) {
            return Err(SipError::malformed("method"));
        }
        Ok(match s {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "OPTIONS" => Self::Options,
            "REGISTER" => Self::Register,
            "PRACK" => Self::Prack,
            "UPDATE" => Self::Update,
            "INFO" => Self::Info,
            "MESSAGE" => Self::Message,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            "REFER" => Self::Refer,
            other => Self::Other(other.to_owned()),
        })
    }

    /// The method name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Register => "REGISTER",
            Self::Prack => "PRACK",
            Self::Update => "UPDATE",
            Self::Info => "INFO",
            Self::Message => "MESSAGE",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Refer => "REFER",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Full names for the compact forms (RFC 3261 §7.3.3 and the IANA registry).
const COMPACT: &[(char, &str)] = &[
    ('a', "Accept-Contact"),
    ('b', "Referred-By"),
    ('c', "Content-Type"),
    ('d', "Request-Disposition"),
    ('e', "Content-Encoding"),
    ('f', "From"),
    ('i', "Call-ID"),
    ('j', "Reject-Contact"),
    ('k', "Supported"),
    ('l', "Content-Length"),
    ('m', "Contact"),
    ('n', "Identity-Info"),
    ('o', "Event"),
    ('r', "Refer-To"),
    ('s', "Subject"),
    ('t', "To"),
    ('u', "Allow-Events"),
    ('v', "Via"),
    ('x', "Session-Expires"),
    ('y', "Identity"),
];

/// Canonical spelling of well-known header names, so lookups and emission are uniform.
const KNOWN: &[&str] = &[
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Expires",
    "From",
    "In-Reply-To",
    "Max-Forwards",
    "Min-Expires",
    "MIME-Version",
    "Organization",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "Record-Route",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "Server",
    "Subject",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
];

/// The canonical name of a header: compact forms expanded, known names in their RFC spelling,
/// unknown names as received (compared case-insensitively).
pub fn canonical_name(name: &str) -> std::borrow::Cow<'_, str> {
    match known_name(name) {
        Some(k) => std::borrow::Cow::Borrowed(k),
        None => std::borrow::Cow::Borrowed(name),
    }
}

/// The canonical spelling if `name` is a known header name or compact form.
fn known_name(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let lc = c.to_ascii_lowercase();
        return COMPACT
            .iter()
            .find(|(k, _)| *k == lc)
            .map(|(_, full)| *full);
    }
    KNOWN
        .iter()
        .chain(COMPACT.iter().map(|(_, f)| f))
        .find(|k| k.len() == name.len() && k.eq_ignore_ascii_case(name))
        .copied()
}

/// A header name to compare against, without allocating for known names.
fn lookup_name(name: &str) -> std::borrow::Cow<'static, str> {
    match known_name(name) {
        Some(k) => std::borrow::Cow::Borrowed(k),
        None => std::borrow::Cow::Owned(name.to_owned()),
    }
}

/// One header field line: canonical name and unfolded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name (canonical for known headers).
    pub name: String,
    /// The value with line folding replaced by single spaces and outer white space trimmed.
    pub value: String,
}

/// The header fields of a message, in order. Repeated headers stay separate lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// All values of header `name` (any spelling or compact form), one per line.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let canon = lookup_name(name);
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(&canon))
            .map(|h| h.value.as_str())
    }

    /// All values of a list header, split at top-level commas, across repeated lines.
    pub fn get_list<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        self.get_all(name)
            .flat_map(split_commas)
            .filter(|v| !v.is_empty())
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// How many lines header `name` occupies.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Appends a header line.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header {
            name: canonical_name(name).into_owned(),
            value: value.into(),
        });
    }

    /// Replaces every line of `name` with one line holding `value`.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let canon = canonical_name(name).into_owned();
        let value = value.into();
        if let Some(pos) = self
            .0
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(&canon))
        {
            self.0.retain(|h| !h.name.eq_ignore_ascii_case(&canon));
            let pos = pos.min(self.0.len());
            self.0.insert(pos, Header { name: canon, value });
        } else {
            self.0.push(Header { name: canon, value });
        }
    }

    /// Removes every line of `name`.
    pub fn remove(&mut self, name: &str) {
        let canon = canonical_name(name);
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(&canon));
    }

    /// Inserts a header line first (used for a new top Via).
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(
            0,
            Header {
                name: canonical_name(name).into_owned(),
                value: value.into(),
            },
        );
    }

    /// The Via header values, topmost first.
    pub fn vias(&self) -> Result<Vec<Via>> {
        self.get_list("Via").map(Via::parse).collect()
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Result<Via> {
        self.get_list("Via")
            .next()
            .ok_or_else(|| SipError::malformed("missing Via"))
            .and_then(Via::parse)
    }

    /// The From header.
    pub fn from(&self) -> Result<NameAddr> {
        NameAddr::parse(
            self.get("From")
                .ok_or_else(|| SipError::malformed("missing From"))?,
        )
    }

    /// The To header.
    pub fn to(&self) -> Result<NameAddr> {
        NameAddr::parse(
            self.get("To")
                .ok_or_else(|| SipError::malformed("missing To"))?,
        )
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Result<&str> {
        self.get("Call-ID")
            .ok_or_else(|| SipError::malformed("missing Call-ID"))
    }

    /// The CSeq.
    pub fn cseq(&self) -> Result<CSeq> {
        CSeq::parse(
            self.get("CSeq")
                .ok_or_else(|| SipError::malformed("missing CSeq"))?,
        )
    }

    /// Max-Forwards, if present.
    pub fn max_forwards(&self) -> Result<Option<u8>> {
        self.get("Max-Forwards")
            .map(|v| parse_u64_max(v.trim(), 255, "Max-Forwards").map(|n| n as u8))
            .transpose()
    }

    /// The Contact values (empty for none; `Contact: *` gives [`Contact::Star`]).
    pub fn contacts(&self) -> Result<Vec<Contact>> {
        self.get_list("Contact").map(Contact::parse).collect()
    }

    /// The first Contact's name-addr, if any.
    pub fn contact(&self) -> Result<Option<NameAddr>> {
        Ok(self.contacts()?.into_iter().find_map(|c| match c {
            Contact::Addr(a) => Some(a),
            Contact::Star => None,
        }))
    }

    /// Route values, in order.
    pub fn routes(&self) -> Result<Vec<NameAddr>> {
        self.get_list("Route").map(NameAddr::parse).collect()
    }

    /// Record-Route values, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>> {
        self.get_list("Record-Route").map(NameAddr::parse).collect()
    }

    /// Content-Type, if present.
    pub fn content_type(&self) -> Result<Option<ContentType>> {
        self.get("Content-Type").map(ContentType::parse).transpose()
    }

    /// Content-Length, if present. Several different values are an error (RFC 4475 §3.3.9).
    pub fn content_length(&self) -> Result<Option<usize>> {
        let mut out: Option<usize> = None;
        for v in self.get_all("Content-Length") {
            let n = parse_u64_max(v.trim(), 1 << 24, "Content-Length")? as usize;
            if out.is_some_and(|o| o != n) {
                return Err(SipError::malformed("conflicting Content-Length values"));
            }
            out = Some(n);
        }
        Ok(out)
    }

    /// Expires (delta-seconds), if present.
    pub fn expires(&self) -> Result<Option<u32>> {
        self.get("Expires")
            .map(|v| parse_u64_max(v.trim(), u64::from(u32::MAX), "Expires").map(|n| n as u32))
            .transpose()
    }

    /// Replaces the topmost Via value (which may share a line with others), keeping the rest.
    pub fn set_top_via(&mut self, top: &Via) {
        let Some(h) = self.0.iter_mut().find(|h| h.name == "Via") else {
            self.push_front("Via", top.to_string());
            return;
        };
        let mut value = top.to_string();
        for rest in split_commas(&h.value).into_iter().skip(1) {
            value.push_str(", ");
            value.push_str(rest);
        }
        h.value = value;
    }

    /// `Authorization` (or, with `proxy`, `Proxy-Authorization`) Digest credentials, if any.
    pub fn authorization(&self, proxy: bool) -> Result<Option<crate::auth::Authorization>> {
        let name = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        self.get(name)
            .map(crate::auth::Authorization::parse)
            .transpose()
    }

    /// Every `WWW-Authenticate` (or, with `proxy`, `Proxy-Authenticate`) Digest challenge sotto
    /// supports, in order; unsupported schemes and algorithms are skipped.
    pub fn challenges(&self, proxy: bool) -> Vec<crate::auth::Challenge> {
        let name = if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        self.get_all(name)
            .filter_map(|v| crate::auth::Challenge::parse(v).ok())
            .collect()
    }

    /// Checks every header sotto knows the grammar of. Used by the parser so that invalid
    /// messages are rejected once, at the edge.
    pub(crate) fn validate_known(&self) -> Result<()> {
        for h in &self.0 {
            let v = h.value.as_str();
            match h.name.as_str() {
                "Via" => {
                    for part in split_commas(v) {
                        Via::parse(part)?;
                    }
                }
                "From" | "To" => {
                    NameAddr::parse(v)?;
                }
                "Contact" => {
                    for part in split_commas(v) {
                        Contact::parse(part)?;
                    }
                }
                "Route" | "Record-Route" => {
                    for part in split_commas(v) {
                        NameAddr::parse(part)?;
                    }
                }
                "CSeq" => {
                    CSeq::parse(v)?;
                }
                "Call-ID" => validate_call_id(v)?,
                "Max-Forwards" => {
                    parse_u64_max(v, 255, "Max-Forwards")?;
                }
                "Expires" | "Min-Expires" => {
                    parse_u64_max(v, u64::from(u32::MAX), "Expires")?;
                }
                "Retry-After" => {
                    let n = v
                        .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
                        .next()
                        .unwrap_or("");
                    parse_u64_max(n, u64::from(u32::MAX), "Retry-After")?;
                }
                "Content-Type" => {
                    ContentType::parse(v)?;
                }
                "Date" => validate_date(v)?,
                "Warning" => {
                    for part in split_commas(v) {
                        let code = part.split(' ').next().unwrap_or("");
                        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                            return Err(SipError::malformed("Warning code"));
                        }
                    }
                }
                _ => {}
            }
        }
        self.content_length()?;
        Ok(())
    }
}

fn validate_call_id(v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.chars().all(|c| is_word_char(c) || c == '@')
        && v.matches('@').count() <= 1;
    if ok {
        Ok(())
    } else {
        Err(SipError::malformed("Call-ID"))
    }
}

/// RFC 3261 §20.17: `Date` is an RFC 1123 date that must be in GMT.
fn validate_date(v: &str) -> Result<()> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let ok = parts.len() == 6
        && parts
            .first()
            .is_some_and(|d| d.ends_with(',') && d.len() == 4)
        && parts
            .get(1)
            .is_some_and(|d| d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .get(3)
            .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
        && parts.get(4).is_some_and(|t| t.len() == 8)
        && parts.get(5) == Some(&"GMT");
    if ok {
        Ok(())
    } else {
        Err(SipError::malformed("Date"))
    }
}

/// A Via header value (RFC 3261 §20.42), with RFC 3581 `rport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport, upper-cased (`UDP`, `TCP`, `TLS`, `WS`...).
    pub transport: String,
    /// sent-by host.
    pub host: Host,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters (branch, received, rport, maddr, ttl...).
    pub params: Params,
}

/// The RFC 3261 branch magic cookie.
pub const BRANCH_MAGIC: &str = "z9hG4bK";

impl Via {
    /// A new Via for our own requests, with `;rport` (RFC 3581) and the given branch.
    pub fn new(transport: &str, host: Host, port: Option<u16>, branch: &str) -> Self {
        let mut params = Params::default();
        params.set("branch", Some(branch.to_owned()));
        params.set("rport", None);
        Self {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        }
    }

    /// Parses one Via value.
    pub fn parse(s: &str) -> Result<Self> {
        let mut sc = Scanner::new(s.trim());
        let name = sc.token("Via protocol")?;
        if !name.eq_ignore_ascii_case("SIP") || !sc.eat_sep('/') {
            return Err(SipError::malformed("Via protocol"));
        }
        let ver = sc.token("Via version")?;
        if ver != "2.0" || !sc.eat_sep('/') {
            return Err(SipError::malformed("Via version"));
        }
        let transport = sc.token("Via transport")?.to_ascii_uppercase();
        sc.skip_ws();
        let hp = sc.take_while(|c| !(c == ';' || c == ',' || c.is_whitespace()));
        let (host, port) = split_host_port(hp)?;
        let params = Params::parse_header_params(&mut sc)?;
        sc.skip_ws();
        if !sc.is_empty() {
            return Err(SipError::malformed("Via"));
        }
        if let Some(b) = params.get("branch")
            && b.is_none_or(str::is_empty)
        {
            return Err(SipError::malformed("Via branch"));
        }
        if let Some(r) = params.get("rport").flatten() {
            parse_u64_max(r, 65535, "Via rport")?;
        }
        Ok(Self {
            transport,
            host,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    /// The `received` parameter (§18.2.1).
    pub fn received(&self) -> Option<&str> {
        self.params.get("received").flatten()
    }

    /// `rport` (RFC 3581): `None` if absent, `Some(None)` if requested, `Some(Some(p))` if filled.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// Whether the transport is reliable (TCP, TLS, SCTP, WS/WSS).
    pub fn is_reliable(&self) -> bool {
        !self.transport.eq_ignore_ascii_case("UDP")
    }

    /// Server side of §18.2.1 and RFC 3581 §4: record the address the request came from.
    pub fn stamp_received(&mut self, source: std::net::SocketAddr) {
        let ip_host = Host::from(source.ip());
        if ip_host != self.host || self.params.has("rport") {
            self.params.set("received", Some(source.ip().to_string()));
        }
        if self.params.has("rport") {
            self.params.set("rport", Some(source.port().to_string()));
        }
    }

    /// Where to send a response to a request carrying this top Via (§18.2.2, RFC 3581 §4),
    /// for unreliable transports without maddr. `source` is the packet source, used when the
    /// names cannot be resolved here.
    pub fn response_target(&self, source: std::net::SocketAddr) -> std::net::SocketAddr {
        let ip = self
            .received()
            .and_then(|r| r.parse().ok())
            .or_else(|| self.host.ip())
            .unwrap_or(source.ip());
        let port = match self.rport() {
            Some(Some(p)) => p,
            Some(None) => source.port(),
            None => self.port.unwrap_or(5060),
        };
        // Never answer to an address nothing can listen on; use where the request came from.
        let ip = if ip.is_unspecified()
            || ip.is_multicast()
            || ip == std::net::IpAddr::from([255, 255, 255, 255])
        {
            source.ip()
        } else {
            ip
        };
        let port = if port == 0 { source.port() } else { port };
        std::net::SocketAddr::new(ip, port)
    }
}

fn split_host_port(hp: &str) -> Result<(Host, Option<u16>)> {
    let parse_port = |p: &str| parse_u64_max(p, 65535, "port").map(|n| Some(n as u16));
    if hp.starts_with('[') {
        let end = hp
            .find(']')
            .ok_or_else(|| SipError::malformed("IPv6 reference"))?;
        let host = Host::parse(hp.get(..=end).unwrap_or(""))?;
        let tail = hp.get(end + 1..).unwrap_or("");
        let port = match tail.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if tail.is_empty() => None,
            None => return Err(SipError::malformed("sent-by")),
        };
        Ok((host, port))
    } else {
        match hp.split_once(':') {
            Some((h, p)) => Ok((Host::parse(h)?, parse_port(p)?)),
            None => Ok((Host::parse(hp)?, None)),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// `name-addr` or `addr-spec` with header parameters: From, To, Contact, Route, Record-Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unescaped.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters (tag, expires, q, lr is a URI param...).
    pub params: Params,
}

impl NameAddr {
    /// A bare URI with no display name or parameters.
    pub fn new(uri: Uri) -> Self {
        Self {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    /// Parses one value.
    pub fn parse(s: &str) -> Result<Self> {
        let mut sc = Scanner::new(s.trim());
        let na = Self::parse_from(&mut sc)?;
        sc.skip_ws();
        if !sc.is_empty() {
            return Err(SipError::malformed("trailing characters after name-addr"));
        }
        Ok(na)
    }

    fn parse_from(sc: &mut Scanner<'_>) -> Result<Self> {
        sc.skip_ws();
        let display;
        let uri;
        if sc.peek() == Some('"') {
            display = Some(unescape_quoted(sc.quoted_string("display name")?));
            sc.skip_ws();
            uri = Self::angle_uri(sc)?;
        } else if sc.rest().contains('<') {
            // *(token LWS) "<"
            let start = sc.pos();
            sc.take_while(|c| is_token_char(c) || c == ' ' || c == '\t');
            let d = sc.slice_from(start).trim();
            if sc.peek() != Some('<') {
                return Err(SipError::malformed("display name"));
            }
            display = if d.is_empty() {
                None
            } else {
                Some(d.to_owned())
            };
            uri = Self::angle_uri(sc)?;
        } else {
            display = None;
            let text = sc.take_while(|c| !(c == ';' || c == ',' || c.is_whitespace()));
            if text.contains('?') {
                // §20: a URI with '?', ',' or ';' must be enclosed in angle brackets.
                return Err(SipError::malformed(
                    "addr-spec URI with headers must be in <>",
                ));
            }
            uri = Uri::parse(text)?;
        }
        let params = Params::parse_header_params(sc)?;
        Ok(Self {
            display,
            uri,
            params,
        })
    }

    fn angle_uri(sc: &mut Scanner<'_>) -> Result<Uri> {
        sc.expect('<', "name-addr")?;
        let text = sc.take_while(|c| c != '>');
        sc.expect('>', "name-addr")?;
        if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
            return Err(SipError::malformed("white space inside <>"));
        }
        Uri::parse(text)
    }

    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }

    /// Sets the `tag` parameter.
    pub fn set_tag(&mut self, tag: &str) {
        self.params.set("tag", Some(tag.to_owned()));
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", quote(d))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// A Contact value: an address, or `*` (REGISTER removal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `*`.
    Star,
    /// An address with parameters (expires, q...).
    Addr(NameAddr),
}

impl Contact {
    /// Parses one Contact value.
    pub fn parse(s: &str) -> Result<Self> {
        if s.trim() == "*" {
            Ok(Self::Star)
        } else {
            NameAddr::parse(s).map(Self::Addr)
        }
    }
}

/// CSeq (RFC 3261 §20.16): sequence number below 2^31 and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number.
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses a CSeq value.
    pub fn parse(s: &str) -> Result<Self> {
        let mut it = s.split_whitespace();
        let (Some(n), Some(m), None) = (it.next(), it.next(), it.next()) else {
            return Err(SipError::malformed("CSeq"));
        };
        let seq = parse_u64_max(n, (1 << 31) - 1, "CSeq number")? as u32;
        Ok(Self {
            seq,
            method: Method::parse(m)?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Content-Type (media type with parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// Type, lower-cased (`application`).
    pub mtype: String,
    /// Subtype, lower-cased (`sdp`).
    pub subtype: String,
    /// Parameters.
    pub params: Params,
}

impl ContentType {
    /// Parses a media-type.
    pub fn parse(s: &str) -> Result<Self> {
        let mut sc = Scanner::new(s.trim());
        let mtype = sc.token("media type")?.to_ascii_lowercase();
        if !sc.eat_sep('/') {
            return Err(SipError::malformed("media type"));
        }
        let subtype = sc.token("media subtype")?.to_ascii_lowercase();
        let params = Params::parse_header_params(&mut sc)?;
        sc.skip_ws();
        if !sc.is_empty() {
            return Err(SipError::malformed("media type"));
        }
        Ok(Self {
            mtype,
            subtype,
            params,
        })
    }

    /// Whether this is `application/sdp`.
    pub fn is_sdp(&self) -> bool {
        self.mtype == "application" && self.subtype == "sdp"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_names_expand() {
        assert_eq!(canonical_name("i"), "Call-ID");
        assert_eq!(canonical_name("M"), "Contact");
        assert_eq!(canonical_name("cALL-iD"), "Call-ID");
        assert_eq!(canonical_name("X-Foo"), "X-Foo");
    }

    #[test]
    fn via_with_ipv6_received_and_rport() {
        let v = Via::parse(
            "SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKabc;rport=5062;received=2001:db8::9",
        )
        .unwrap();
        assert_eq!(v.port, Some(5062));
        assert_eq!(v.rport(), Some(Some(5062)));
        assert_eq!(v.received(), Some("2001:db8::9"));
        assert_eq!(v.branch(), Some("z9hG4bKabc"));
        let src: std::net::SocketAddr = "[2001:db8::9]:7000".parse().unwrap();
        assert_eq!(
            v.response_target(src),
            "[2001:db8::9]:5062".parse().unwrap()
        );
    }

    #[test]
    fn rport_stamping_rfc3581() {
        // RFC 3581 §4: the server fills in rport and received.
        let mut v = Via::parse("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKx").unwrap();
        v.stamp_received("192.0.2.1:9988".parse().unwrap());
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 10.0.0.1:5060;rport=9988;branch=z9hG4bKx;received=192.0.2.1"
        );
        assert_eq!(
            v.response_target("192.0.2.1:9988".parse().unwrap()),
            "192.0.2.1:9988".parse().unwrap()
        );
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse("\"A \\\"B\\\"\" <sip:a@b.c;lr>;tag=x;q=0.5").unwrap();
        assert_eq!(a.display.as_deref(), Some("A \"B\""));
        assert_eq!(a.tag(), Some("x"));
        let b = NameAddr::parse("sip:a@b.c;tag=y").unwrap();
        assert_eq!(b.tag(), Some("y"));
        assert!(b.uri.sip().unwrap().params.0.is_empty());
        let c = NameAddr::parse("Alice Smith<sip:a@b.c>").unwrap();
        assert_eq!(c.display.as_deref(), Some("Alice Smith"));
        assert!(NameAddr::parse("Bell, Alexander <sip:a@b>").is_err());
        assert!(NameAddr::parse("\"unterminated <sip:a@b>").is_err());
    }
}
