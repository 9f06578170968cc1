//! SIP URIs (RFC 3261 §19.1) and other absolute URIs, with IPv6 references.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Result, SipError};
use crate::grammar::{Params, is_unreserved};

/// The host part of a SIP URI or Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, as written (compare case-insensitively).
    Domain(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 reference (`[...]` on the wire).
    V6(Ipv6Addr),
}

impl Host {
    /// Parses a host: `[v6]`, dotted IPv4 or a hostname.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| SipError::malformed("IPv6 reference"))?;
            return inner
                .parse()
                .map(Host::V6)
                .map_err(|_| SipError::malformed("IPv6 reference"));
        }
        if s.is_empty() || s.len() > 255 {
            return Err(SipError::malformed("host"));
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && let Ok(a) = s.parse()
        {
            return Ok(Host::V4(a));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(SipError::malformed("host"));
        }
        Ok(Host::Domain(s.to_owned()))
    }

    /// The address, if the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
            Host::Domain(_) => None,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, escapes kept as on the wire.
    pub user: Option<String>,
    /// The password part (deprecated, kept for fidelity).
    pub password: Option<String>,
    /// The host.
    pub host: Host,
    /// The port, if given.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params,
    /// URI headers (`?Subject=x&Priority=urgent`), escapes kept.
    pub headers: Vec<(String, String)>,
}

impl SipUri {
    /// A plain `sip:user@host[:port]`.
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> Self {
        Self {
            secure: false,
            user: user.map(str::to_owned),
            password: None,
            host,
            port,
            params: Params::default(),
            headers: Vec::new(),
        }
    }

    fn parse_after_scheme(secure: bool, s: &str) -> Result<Self> {
        let (userinfo, rest) = match s.find('@') {
            Some(i) => (Some(s.get(..i).unwrap_or("")), s.get(i + 1..).unwrap_or("")),
            None => (None, s),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.find(':') {
                    Some(i) => (
                        ui.get(..i).unwrap_or(""),
                        Some(ui.get(i + 1..).unwrap_or("")),
                    ),
                    None => (ui, None),
                };
                if u.is_empty() || !valid_chars(u, "&=+$,;?/") {
                    return Err(SipError::malformed("URI user"));
                }
                if let Some(p) = p
                    && !valid_chars(p, "&=+$,")
                {
                    return Err(SipError::malformed("URI password"));
                }
                (Some(u.to_owned()), p.map(str::to_owned))
            }
        };
        let (hostport, rest) = split_at_any(rest, &[';', '?']);
        let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
            let end = after
                .find(']')
                .ok_or_else(|| SipError::malformed("IPv6 reference"))?;
            let host = Host::parse(hostport.get(..end + 2).unwrap_or(""))?;
            let tail = after.get(end + 1..).unwrap_or("");
            (host, parse_port(tail)?)
        } else {
            match hostport.rfind(':') {
                Some(i) => (
                    Host::parse(hostport.get(..i).unwrap_or(""))?,
                    parse_port(hostport.get(i..).unwrap_or(""))?,
                ),
                None => (Host::parse(hostport)?, None),
            }
        };
        let (params_str, headers_str) = match rest.find('?') {
            Some(i) => (
                rest.get(..i).unwrap_or(""),
                Some(rest.get(i + 1..).unwrap_or("")),
            ),
            None => (rest, None),
        };
        let mut params = Vec::new();
        if !params_str.is_empty() {
            let p = params_str
                .strip_prefix(';')
                .ok_or_else(|| SipError::malformed("URI parameters"))?;
            for part in p.split(';') {
                let (n, v) = match part.find('=') {
                    Some(i) => (
                        part.get(..i).unwrap_or(""),
                        Some(part.get(i + 1..).unwrap_or("")),
                    ),
                    None => (part, None),
                };
                if n.is_empty() || !valid_chars(n, "[]/:&+$") {
                    return Err(SipError::malformed("URI parameter"));
                }
                if let Some(v) = v
                    && (v.is_empty() || !valid_chars(v, "[]/:&+$"))
                {
                    return Err(SipError::malformed("URI parameter"));
                }
                params.push((n.to_owned(), v.map(str::to_owned)));
                if params.len() > 64 {
                    return Err(SipError::malformed("too many URI parameters"));
                }
            }
        }
        let mut headers = Vec::new();
        if let Some(h) = headers_str {
            for part in h.split('&') {
                let (n, v) = part
                    .split_once('=')
                    .ok_or_else(|| SipError::malformed("URI header"))?;
                if n.is_empty() || !valid_chars(n, "[]/?:+$") || !valid_chars(v, "[]/?:+$") {
                    return Err(SipError::malformed("URI header"));
                }
                headers.push((n.to_owned(), v.to_owned()));
            }
        }
        Ok(Self {
            secure,
            user,
            password,
            host,
            port,
            params: Params(params),
            headers,
        })
    }
}

fn parse_port(tail: &str) -> Result<Option<u16>> {
    if tail.is_empty() {
        return Ok(None);
    }
    let digits = tail
        .strip_prefix(':')
        .ok_or_else(|| SipError::malformed("URI port"))?;
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SipError::malformed("URI port"));
    }
    digits
        .parse()
        .map(Some)
        .map_err(|_| SipError::malformed("URI port"))
}

fn split_at_any<'a>(s: &'a str, seps: &[char]) -> (&'a str, &'a str) {
    match s.find(|c| seps.contains(&c)) {
        Some(i) => (s.get(..i).unwrap_or(""), s.get(i..).unwrap_or("")),
        None => (s, ""),
    }
}

/// unreserved / escaped / the extra characters given.
fn valid_chars(s: &str, extra: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return false;
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii() && (is_unreserved(c as char) || extra.contains(c as char))) {
            return false;
        }
        i += 1;
    }
    true
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

/// Any URI that can appear in SIP: a SIP URI, or another absolute URI kept as text
/// (`tel:`, `http:`, `im:`...; RFC 4475 §3.3.2 requires accepting unknown schemes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` / `sips:`.
    Sip(SipUri),
    /// Any other scheme.
    Other {
        /// The scheme, lower-cased.
        scheme: String,
        /// Everything after the colon.
        rest: String,
    },
}

impl Uri {
    /// Parses an absolute URI. The caller has already cut it out of its context.
    pub fn parse(s: &str) -> Result<Self> {
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| SipError::malformed("URI scheme"))?;
        let mut chars = scheme.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(SipError::malformed("URI scheme"));
        }
        if rest.is_empty()
            || rest
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == '"')
        {
            return Err(SipError::malformed("URI"));
        }
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "sip" => SipUri::parse_after_scheme(false, rest).map(Uri::Sip),
            "sips" => SipUri::parse_after_scheme(true, rest).map(Uri::Sip),
            _ => Ok(Uri::Other {
                scheme,
                rest: rest.to_owned(),
            }),
        }
    }

    /// The SIP URI, if this is one.
    pub fn sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(s) => Some(s),
            Uri::Other { .. } => None,
        }
    }

    /// The SIP URI, mutably, if this is one.
    pub fn sip_mut(&mut self) -> Option<&mut SipUri> {
        match self {
            Uri::Sip(s) => Some(s),
            Uri::Other { .. } => None,
        }
    }
}

impl From<SipUri> for Uri {
    fn from(u: SipUri) -> Self {
        Uri::Sip(u)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(s) => s.fmt(f),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

impl std::str::FromStr for Uri {
    type Err = SipError;
    fn from_str(s: &str) -> Result<Self> {
        Uri::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_reference_and_port() {
        let u = Uri::parse("sip:alice@[2001:db8::10]:5070;transport=tcp;lr").unwrap();
        let s = u.sip().unwrap();
        assert_eq!(s.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(s.port, Some(5070));
        assert_eq!(s.params.value("transport"), Some("tcp"));
        assert!(s.params.has("lr"));
        assert_eq!(
            u.to_string(),
            "sip:alice@[2001:db8::10]:5070;transport=tcp;lr"
        );
    }

    #[test]
    fn user_with_semicolon_and_headers() {
        // RFC 4475 §3.1.1.9 (semiuri): a ';' in the user part.
        let u = Uri::parse("sip:user;par=u%40example.net@example.com?Subject=hi&Priority=urgent")
            .unwrap();
        let s = u.sip().unwrap();
        assert_eq!(s.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(s.headers.len(), 2);
    }

    #[test]
    fn rejects_bad() {
        for bad in [
            "sip:",
            "sip:u@",
            "sip:host:99999",
            "sip:a b",
            "sip:[::1",
            "sip:h;",
            "sip:h;=x",
            "1sip:x",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            Uri::parse("tel:+1-555-1212").unwrap(),
            Uri::Other { .. }
        ));
    }
}
