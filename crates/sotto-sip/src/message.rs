//! SIP messages: parsing from a datagram or a stream, emitting, and building responses.

use std::fmt::Write as _;

use crate::error::{Malformed, Result, SipError};
use crate::grammar::is_token_char;
use crate::headers::{CSeq, Headers, Method, NameAddr, canonical_name};
use crate::uri::Uri;

/// Largest message sotto accepts (header section plus body).
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Most header lines sotto accepts in one message.
pub const MAX_HEADERS: usize = 256;

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The header fields.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=699.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// How the message arrived, which decides Content-Length handling (RFC 3261 §18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One datagram: Content-Length optional; a body shorter than it is an error, extra bytes
    /// after it are discarded.
    Datagram,
    /// A stream: Content-Length is mandatory and delimits the message.
    Stream,
}

impl Message {
    /// Parses one UDP datagram. Trailing bytes beyond Content-Length are discarded (§18.3).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        parse_message(bytes, Framing::Datagram).map(|(m, _)| m)
    }

    /// Parses a message from the start of `bytes`; returns it and the bytes it used.
    /// With [`Framing::Stream`], returns [`SipError::Incomplete`] until the whole message is there.
    pub fn parse_framed(bytes: &[u8], framing: Framing) -> Result<(Self, usize)> {
        parse_message(bytes, framing)
    }

    /// Encodes the message; Content-Length is always written from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }
}

/// A message as bytes: its start line, its headers with a Content-Length for `body`, and
/// `body`.
fn encode(mut start_line: String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    write_headers(&mut start_line, headers, body.len());
    let mut out = start_line.into_bytes();
    out.extend_from_slice(body);
    out
}

fn write_headers(out: &mut String, headers: &Headers, body_len: usize) {
    // Content-Length is always ours (the body's length), written where the first one was.
    let mut wrote_len = false;
    for h in &headers.0 {
        if h.name == "Content-Length" {
            if !wrote_len {
                let _ = write!(out, "Content-Length: {body_len}\r\n");
                wrote_len = true;
            }
            continue;
        }
        let _ = write!(out, "{}: {}\r\n", h.name, h.value);
    }
    if !wrote_len {
        let _ = write!(out, "Content-Length: {body_len}\r\n");
    }
    out.push_str("\r\n");
}

impl Request {
    /// A request with no headers yet.
    pub fn new(method: Method, uri: Uri) -> Self {
        Self {
            method,
            uri,
            headers: Headers::default(),
            body: Vec::new(),
        }
    }

    /// Encodes the request.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(
            format!("{} {} SIP/2.0\r\n", self.method, self.uri),
            &self.headers,
            &self.body,
        )
    }

    /// Parses a request (datagram framing); a response is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        match Message::parse(bytes)? {
            Message::Request(r) => Ok(r),
            Message::Response(_) => Err(SipError::malformed("expected a request")),
        }
    }

    /// The transaction key of this request (§17.2.3): top Via branch + sent-by + method, with
    /// ACK matching INVITE.
    pub fn branch(&self) -> Option<String> {
        self.headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_owned))
    }

    /// Builds a response (§8.2.6): copies Via, From, To, Call-ID, CSeq; adds `to_tag` to To if
    /// the To has no tag and the status is above 100.
    pub fn reply(&self, status: u16, reason: &str, to_tag: Option<&str>) -> Response {
        let mut r = Response::try_reply_raw_with_tag(&self.headers, status, reason, to_tag);
        if r.headers.get("To").is_none() {
            r.headers
                .push("To", self.headers.get("To").unwrap_or_default());
        }
        r
    }
}

impl Response {
    /// Encodes the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(
            format!("SIP/2.0 {} {}\r\n", self.status, self.reason),
            &self.headers,
            &self.body,
        )
    }

    /// Parses a response (datagram framing); a request is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        match Message::parse(bytes)? {
            Message::Response(r) => Ok(r),
            Message::Request(_) => Err(SipError::malformed("expected a response")),
        }
    }

    /// Whether the status is 1xx.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub(crate) fn try_reply_raw(headers: &Headers, status: u16, reason: &str) -> Option<Self> {
        // A stateless error reply needs a To tag; derive it from the Call-ID and branch so
        // retransmissions get the same one (§8.2.6.2 only requires that it be stable).
        headers.get("Call-ID")?;
        headers.get("CSeq")?;
        headers.get("From")?;
        headers.get("To")?;
        headers.get("Via")?;
        let seed = format!(
            "{}|{}",
            headers.get("Call-ID").unwrap_or(""),
            headers.get("Via").unwrap_or("")
        );
        let digest = <md5::Md5 as md5::Digest>::digest(seed.as_bytes());
        let tag = hex::encode(digest.get(..6).unwrap_or(&[]));
        Some(Self::try_reply_raw_with_tag(
            headers,
            status,
            reason,
            Some(&tag),
        ))
    }

    fn try_reply_raw_with_tag(
        headers: &Headers,
        status: u16,
        reason: &str,
        to_tag: Option<&str>,
    ) -> Self {
        let mut h = Headers::default();
        for v in headers.get_all("Via") {
            h.push("Via", v);
        }
        if let Some(v) = headers.get("From") {
            h.push("From", v);
        }
        if let Some(v) = headers.get("To") {
            let has_tag = NameAddr::parse(v)
                .map(|a| a.tag().is_some())
                .unwrap_or(true);
            match to_tag {
                Some(t) if status > 100 && !has_tag => h.push("To", format!("{v};tag={t}")),
                _ => h.push("To", v),
            }
        }
        if let Some(v) = headers.get("Call-ID") {
            h.push("Call-ID", v);
        }
        if let Some(v) = headers.get("CSeq") {
            h.push("CSeq", v);
        }
        Self {
            status,
            reason: reason.to_owned(),
            headers: h,
            body: Vec::new(),
        }
    }
}

/// Finds the end of the header section: returns (header text length, body start).
fn find_header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i) == Some(&b'\n') {
            match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(b'\n'), _) => return Some((i, i + 2)),
                (Some(b'\r'), Some(b'\n')) => return Some((i, i + 3)),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn parse_message(bytes: &[u8], framing: Framing) -> Result<(Message, usize)> {
    // §7.5: ignore CRLFs before the start line (keep-alives on streams).
    let lead = bytes
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    let rest = bytes.get(lead..).unwrap_or(&[]);
    let (hdr_len, body_start) = match find_header_end(rest) {
        Some(found) => found,
        None if framing == Framing::Stream && rest.len() < MAX_MESSAGE_LEN => {
            return Err(SipError::Incomplete);
        }
        // A datagram whose last header line lacks the empty line after it: the datagram's end
        // ends the header section (tolerated; the body is empty).
        None if framing == Framing::Datagram && rest.ends_with(b"\n") => {
            (rest.len().saturating_sub(1), rest.len())
        }
        None => return Err(SipError::malformed("no end of header section")),
    };
    if hdr_len > MAX_MESSAGE_LEN {
        return Err(SipError::malformed_status("message too large", 513));
    }
    let head = std::str::from_utf8(rest.get(..hdr_len).unwrap_or(&[]))
        .map_err(|_| SipError::malformed("header section is not UTF-8"))?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().unwrap_or("");
    let is_request = !start.starts_with("SIP/");
    let headers = parse_header_lines(lines)?;
    // From here on a malformed request can be answered (400/505).
    let with_partial = |e: SipError| -> SipError {
        match e {
            SipError::Malformed(mut m) if is_request => {
                m.partial = Some(headers.clone());
                SipError::Malformed(m)
            }
            other => other,
        }
    };
    // The start line first, so an unknown SIP version gets its 505 (§8.2.2 / §21.5.6).
    let request_line = if is_request {
        Some(parse_request_line(start).map_err(with_partial)?)
    } else {
        None
    };
    headers.validate_known().map_err(with_partial)?;
    let body_avail = rest.get(body_start..).unwrap_or(&[]);
    let content_length = headers.content_length().map_err(with_partial)?;
    let body_len = match (content_length, framing) {
        (Some(n), _) if n > MAX_MESSAGE_LEN => {
            return Err(with_partial(SipError::malformed_status(
                "body too large",
                413,
            )));
        }
        (Some(n), Framing::Datagram) if n > body_avail.len() => {
            return Err(with_partial(SipError::malformed(
                "body shorter than Content-Length",
            )));
        }
        (Some(n), Framing::Stream) if n > body_avail.len() => return Err(SipError::Incomplete),
        (Some(n), _) => n,
        (None, Framing::Datagram) => body_avail.len(),
        (None, Framing::Stream) => {
            return Err(with_partial(SipError::malformed(
                "missing Content-Length on a stream",
            )));
        }
    };
    let body = body_avail.get(..body_len).unwrap_or(&[]).to_vec();
    let used = lead + body_start + body_len;
    let msg = if let Some((method, uri)) = request_line {
        let req = Request {
            method,
            uri,
            headers,
            body,
        };
        validate_request(&req).map_err(|e| match e {
            SipError::Malformed(mut m) => {
                m.partial = Some(req.headers.clone());
                SipError::Malformed(m)
            }
            other => other,
        })?;
        Message::Request(req)
    } else {
        let (status, reason) = parse_status_line(start)?;
        let resp = Response {
            status,
            reason,
            headers,
            body,
        };
        validate_response(&resp)?;
        Message::Response(resp)
    };
    Ok((msg, used))
}

fn parse_header_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Headers> {
    let mut out: Vec<crate::headers::Header> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // Folding (§7.3.1): the continuation joins the previous value with one space.
            let last = out
                .last_mut()
                .ok_or_else(|| SipError::malformed("folded line without a header"))?;
            let cont = line.trim();
            if !cont.is_empty() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(cont);
            }
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| SipError::malformed("header line without colon"))?;
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(SipError::malformed("header name"));
        }
        out.push(crate::headers::Header {
            name: canonical_name(name).into_owned(),
            value: value.trim_matches([' ', '\t']).to_owned(),
        });
        if out.len() > MAX_HEADERS {
            return Err(SipError::malformed_status("too many header fields", 513));
        }
    }
    Ok(Headers(out))
}

fn check_version(v: &str) -> Result<()> {
    let Some(rest) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and_then(|_| v.get(4..))
    else {
        return Err(SipError::malformed("SIP-Version"));
    };
    let Some((maj, min)) = rest.split_once('.') else {
        return Err(SipError::malformed("SIP-Version"));
    };
    let digits = |s: &str| !s.is_empty() && s.len() < 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(maj) || !digits(min) {
        return Err(SipError::malformed("SIP-Version"));
    }
    if rest != "2.0" {
        return Err(SipError::malformed_status("SIP version not supported", 505));
    }
    Ok(())
}

/// `Method SP Request-URI SP SIP-Version`, single spaces (RFC 4475 §3.1.2.9/10).
fn parse_request_line(line: &str) -> Result<(Method, Uri)> {
    let mut parts = line.split(' ');
    let (Some(m), Some(u), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SipError::malformed("Request-Line"));
    };
    let method = Method::parse(m)?;
    check_version(v)?;
    if u.starts_with('<') {
        return Err(SipError::malformed("Request-URI in <>"));
    }
    let uri = Uri::parse(u)?;
    if let Uri::Sip(s) = &uri
        && !s.headers.is_empty()
    {
        // §19.1.1 table: headers are not allowed in a Request-URI.
        return Err(SipError::malformed("headers in Request-URI"));
    }
    Ok((method, uri))
}

fn parse_status_line(line: &str) -> Result<(u16, String)> {
    let (v, rest) = line
        .split_once(' ')
        .ok_or_else(|| SipError::malformed("Status-Line"))?;
    check_version(v)?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SipError::malformed("Status-Code"));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| SipError::malformed("Status-Code"))?;
    if !(100..=699).contains(&status) {
        return Err(SipError::malformed("Status-Code"));
    }
    if reason.chars().any(|c| c.is_control() && c != '\t') {
        return Err(SipError::malformed("Reason-Phrase"));
    }
    Ok((status, reason.to_owned()))
}

/// §8.1.1 / §8.2: the mandatory headers, present once each, CSeq method matching.
fn validate_common(h: &Headers) -> Result<CSeq> {
    for name in ["To", "From", "Call-ID", "CSeq"] {
        match h.count(name) {
            0 => return Err(SipError::malformed("missing mandatory header")),
            1 => {}
            _ => return Err(SipError::malformed("mandatory header repeated")),
        }
    }
    if h.get_list("Via").next().is_none() {
        return Err(SipError::malformed("missing Via"));
    }
    if h.count("Max-Forwards") > 1 {
        return Err(SipError::malformed("Max-Forwards repeated"));
    }
    h.cseq()
}

fn validate_request(r: &Request) -> Result<()> {
    let cseq = validate_common(&r.headers)?;
    if cseq.method != r.method {
        return Err(SipError::malformed(
            "CSeq method does not match the Request-Line",
        ));
    }
    Ok(())
}

fn validate_response(r: &Response) -> Result<()> {
    validate_common(&r.headers).map(|_| ())
}

/// Splits a byte stream (TCP, later TLS) into messages, framed by Content-Length (§18.3).
#[derive(Debug, Default)]
pub struct StreamDecoder {
    buf: Vec<u8>,
}

impl StreamDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` if more bytes are needed. After an error the
    /// stream cannot be re-synchronised; the driver should close the connection (§18.3).
    pub fn next_message(&mut self) -> Result<Option<Message>> {
        let lead = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        if lead == self.buf.len() {
            self.buf.clear();
            return Ok(None);
        }
        match parse_message(&self.buf, Framing::Stream) {
            Ok((m, used)) => {
                self.buf.drain(..used.min(self.buf.len()));
                Ok(Some(m))
            }
            Err(SipError::Incomplete) => Ok(None),
            Err(e) => {
                self.buf.clear();
                Err(e)
            }
        }
    }
}

/// A new branch parameter value: the magic cookie plus 16 random hex digits (§8.1.1.7).
pub fn new_branch(rng: &mut dyn sotto_proto::crypto::Random) -> String {
    format!(
        "{BRANCH}{}",
        random_hex(rng, 8),
        BRANCH = crate::headers::BRANCH_MAGIC
    )
}

/// `n` random bytes as hex (tags, Call-IDs, cnonces).
pub fn random_hex(rng: &mut dyn sotto_proto::crypto::Random, n: usize) -> String {
    let mut b = vec![0u8; n];
    rng.fill(&mut b);
    hex::encode(b)
}

impl Malformed {
    /// The status that should answer this error.
    pub fn status(&self) -> u16 {
        self.status
    }
}
