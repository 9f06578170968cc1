//! Character classes and a non-panicking scanner over header text (RFC 3261 §25.1).

use crate::error::{Result, SipError};

/// `token` characters: alphanum and `-.!%*_+`'~`.
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// `word` characters (Call-ID): token plus `()<>:\"/[]?{}`.
pub(crate) fn is_word_char(c: char) -> bool {
    is_token_char(c) || "()<>:\\\"/[]?{}".contains(c)
}

/// `unreserved` = alphanum / mark.
pub(crate) fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

/// A scanner over a header value. Every method checks bounds; nothing panics.
#[derive(Debug, Clone)]
pub(crate) struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    pub(crate) fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn slice_from(&self, start: usize) -> &'a str {
        self.s.get(start..self.pos).unwrap_or("")
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest().is_empty()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, c: char, what: &'static str) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(SipError::malformed(what))
        }
    }

    /// Skips linear white space (folding was already turned into spaces).
    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r' | '\n')) {
            self.pos += 1;
        }
    }

    /// `SWS sep SWS`: eats white space, the separator, white space. False if absent.
    pub(crate) fn eat_sep(&mut self, c: char) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.eat(c) {
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    pub(crate) fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.slice_from(start)
    }

    pub(crate) fn token(&mut self, what: &'static str) -> Result<&'a str> {
        let t = self.take_while(is_token_char);
        if t.is_empty() {
            Err(SipError::malformed(what))
        } else {
            Ok(t)
        }
    }

    /// A quoted-string; returns the content with quoted-pairs kept escaped (as on the wire).
    pub(crate) fn quoted_string(&mut self, what: &'static str) -> Result<&'a str> {
        self.expect('"', what)?;
        let start = self.pos;
        loop {
            match self.bump() {
                None => return Err(SipError::malformed(what)),
                Some('"') => break,
                Some('\\') => {
                    // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                    match self.bump() {
                        Some(c) if (c as u32) <= 0x7f && c != '\r' && c != '\n' => {}
                        _ => return Err(SipError::malformed(what)),
                    }
                }
                Some(_) => {}
            }
        }
        Ok(self.s.get(start..self.pos.saturating_sub(1)).unwrap_or(""))
    }
}

/// Removes the quoted-pair escapes from the content of a quoted string.
pub(crate) fn unescape_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes `s` as a quoted-string, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits a header value at top-level commas (outside quotes and angle brackets).
pub(crate) fn split_commas(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut in_angle = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            ',' if !in_quote && !in_angle => {
                out.push(s.get(start..i).unwrap_or("").trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s.get(start..).unwrap_or("").trim());
    out
}

/// Parses a decimal number of at most `max` value; leading zeros allowed.
pub(crate) fn parse_u64_max(s: &str, max: u64, what: &'static str) -> Result<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 40 {
        return Err(SipError::malformed(what));
    }
    let v: u64 = s
        .trim_start_matches('0')
        .parse::<u64>()
        .or_else(|_| {
            if s.bytes().all(|b| b == b'0') {
                Ok(0)
            } else {
                Err(())
            }
        })
        .map_err(|()| SipError::malformed(what))?;
    if v > max {
        Err(SipError::malformed(what))
    } else {
        Ok(v)
    }
}

/// Parameters (`;name=value` lists) of URIs and headers, in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// The value of parameter `name` (case-insensitive): `Some(None)` for a flag parameter.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The value of `name`, with surrounding quotes removed, if it has one.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten().map(|v| {
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
    }

    /// Whether parameter `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets (replacing) parameter `name`.
    pub fn set(&mut self, name: &str, value: Option<String>) {
        if let Some(p) = self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            p.1 = value;
        } else {
            self.0.push((name.to_owned(), value));
        }
    }

    /// Removes parameter `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Header parameters: `*( SEMI generic-param )` where value is token / host / quoted-string.
    pub(crate) fn parse_header_params(sc: &mut Scanner<'_>) -> Result<Self> {
        let mut out = Vec::new();
        while sc.eat_sep(';') {
            let name = sc.token("header parameter name")?;
            let value = if sc.eat_sep('=') {
                if sc.peek() == Some('"') {
                    let start = sc.pos();
                    sc.quoted_string("header parameter value")?;
                    Some(sc.slice_from(start).to_owned())
                } else {
                    // token / host (IPv6 in `received` has colons, maybe brackets)
                    let v = sc.take_while(|c| is_token_char(c) || c == ':' || c == '[' || c == ']');
                    if v.is_empty() {
                        return Err(SipError::malformed("header parameter value"));
                    }
                    Some(v.to_owned())
                }
            } else {
                None
            };
            out.push((name.to_owned(), value));
            if out.len() > 64 {
                return Err(SipError::malformed("too many parameters"));
            }
        }
        Ok(Self(out))
    }
}

impl std::fmt::Display for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}
