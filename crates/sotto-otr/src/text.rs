//! The text layer of OTR: what travels over the IM network as a string.
//!
//! * query messages (`?OTRv23?`), whitespace tags, error messages (`?OTR Error:`);
//! * encoded binary messages (`?OTR:` base64 `.`);
//! * fragments: v3 `?OTR|sender|receiver,k,n,piece,` and v2 `?OTR,k,n,piece,`, and their
//!   reassembly (spec "Fragmentation").

use crate::OtrError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Whitespace tag base (spec "Tagged plaintext messages").
pub(crate) const WS_BASE: &str = " \t  \t\t\t\t \t \t \t  ";
/// Whitespace tag for version 1 (recognised, never used).
const WS_V1: &str = " \t \t  \t ";
/// Whitespace tag for version 2.
pub(crate) const WS_V2: &str = "  \t\t  \t ";
/// Whitespace tag for version 3.
pub(crate) const WS_V3: &str = "  \t\t  \t\t";

/// Versions offered by a peer (query message or whitespace tag).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Versions {
    /// Version 2 offered.
    pub v2: bool,
    /// Version 3 offered.
    pub v3: bool,
}

/// What a received text is, at the text layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A fragment of a larger message.
    Fragment(Fragment),
    /// An encoded binary OTR message (already base64-decoded).
    Encoded(Vec<u8>),
    /// An OTR error message, with the human text after `?OTR Error:`.
    Error(String),
    /// A query message offering these versions.
    Query(Versions),
    /// A plain message; the whitespace tag (if any) is removed and its versions reported.
    Plain {
        /// Text to show, without the tag.
        text: String,
        /// Versions from a whitespace tag, if one was present.
        tag: Option<Versions>,
    },
}

/// One fragment (spec "Fragmentation").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Sender instance tag (v3 fragments), `None` for v2 fragments.
    pub sender_tag: Option<u32>,
    /// Receiver instance tag (v3 fragments).
    pub receiver_tag: Option<u32>,
    /// Index, 1-based.
    pub k: u16,
    /// Total number of pieces.
    pub n: u16,
    /// The piece.
    pub piece: String,
}

/// Classify a received text.
pub fn classify(text: &str) -> Result<Classified, OtrError> {
    if let Some(rest) = text.strip_prefix("?OTR|") {
        return parse_fragment_v3(rest).map(Classified::Fragment);
    }
    if let Some(rest) = text.strip_prefix("?OTR,") {
        return parse_fragment_v2(rest).map(Classified::Fragment);
    }
    if let Some(start) = text.find("?OTR:") {
        let body = text.get(start + 5..).unwrap_or_default();
        let end = body
            .find('.')
            .ok_or(OtrError::Malformed("encoded message without '.'"))?;
        let b64 = body.get(..end).unwrap_or_default();
        let bytes = B64
            .decode(b64.trim())
            .map_err(|_| OtrError::Malformed("bad base64"))?;
        return Ok(Classified::Encoded(bytes));
    }
    if let Some(start) = text.find("?OTR Error:") {
        let msg = text.get(start + 11..).unwrap_or_default().trim();
        return Ok(Classified::Error(msg.to_owned()));
    }
    if let Some(v) = parse_query(text) {
        return Ok(Classified::Query(v));
    }
    let (text, tag) = strip_whitespace_tag(text);
    Ok(Classified::Plain { text, tag })
}

/// Find a query message: `?OTR?` (v1), `?OTRv23?`, `?OTR?v2?`.
fn parse_query(text: &str) -> Option<Versions> {
    let start = text.find("?OTR")?;
    let rest = text.get(start + 4..)?;
    let rest = if let Some(r) = rest.strip_prefix('?') {
        // "?OTR?" means v1; "?OTR?v2?" adds others.
        match r.strip_prefix('v') {
            Some(r2) => r2,
            None => return Some(Versions::default()),
        }
    } else {
        rest.strip_prefix('v')?
    };
    let end = rest.find('?')?;
    let digits = rest.get(..end)?;
    let mut v = Versions::default();
    for c in digits.chars() {
        match c {
            '2' => v.v2 = true,
            '3' => v.v3 = true,
            _ => {}
        }
    }
    Some(v)
}

/// Remove a whitespace tag from `text`, reporting the versions it offers.
fn strip_whitespace_tag(text: &str) -> (String, Option<Versions>) {
    let Some(pos) = text.find(WS_BASE) else {
        return (text.to_owned(), None);
    };
    let mut v = Versions::default();
    let mut end = pos + WS_BASE.len();
    while let Some(chunk) = text.get(end..end + 8) {
        match chunk {
            WS_V2 => v.v2 = true,
            WS_V3 => v.v3 = true,
            WS_V1 => {}
            _ => break,
        }
        end += 8;
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(text.get(..pos).unwrap_or_default());
    out.push_str(text.get(end..).unwrap_or_default());
    (out, Some(v))
}

/// A query message offering the given versions, with a human-readable explanation.
pub fn query_message(v: Versions) -> String {
    let mut s = String::from("?OTRv");
    if v.v2 {
        s.push('2');
    }
    if v.v3 {
        s.push('3');
    }
    s.push_str("?\nI would like to start an Off-the-Record private conversation, but your client does not support OTR.");
    s
}

/// The whitespace tag offering the given versions.
pub fn whitespace_tag(v: Versions) -> String {
    let mut s = String::from(WS_BASE);
    if v.v2 {
        s.push_str(WS_V2);
    }
    if v.v3 {
        s.push_str(WS_V3);
    }
    s
}

/// `?OTR:` + base64 + `.`
pub fn encode_message(bin: &[u8]) -> String {
    let mut s = String::from("?OTR:");
    s.push_str(&B64.encode(bin));
    s.push('.');
    s
}

fn parse_num_dec(s: &str) -> Result<u16, OtrError> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OtrError::Malformed("bad fragment number"));
    }
    s.parse::<u16>()
        .map_err(|_| OtrError::Malformed("bad fragment number"))
}

fn parse_k_n_piece(rest: &str) -> Result<(u16, u16, String), OtrError> {
    let mut it = rest.splitn(4, ',');
    let k = parse_num_dec(it.next().unwrap_or_default())?;
    let n = parse_num_dec(it.next().unwrap_or_default())?;
    let piece = it
        .next()
        .ok_or(OtrError::Malformed("fragment without piece"))?;
    let tail = it
        .next()
        .ok_or(OtrError::Malformed("fragment without final ','"))?;
    if !tail.trim().is_empty() {
        return Err(OtrError::Malformed("data after fragment"));
    }
    if k == 0 || n == 0 || k > n {
        return Err(OtrError::Malformed("fragment index out of range"));
    }
    Ok((k, n, piece.to_owned()))
}

fn parse_fragment_v2(rest: &str) -> Result<Fragment, OtrError> {
    let (k, n, piece) = parse_k_n_piece(rest)?;
    Ok(Fragment {
        sender_tag: None,
        receiver_tag: None,
        k,
        n,
        piece,
    })
}

fn parse_fragment_v3(rest: &str) -> Result<Fragment, OtrError> {
    let (tags, rest) = rest
        .split_once(',')
        .ok_or(OtrError::Malformed("fragment without ','"))?;
    let (s, r) = tags
        .split_once('|')
        .ok_or(OtrError::Malformed("fragment without receiver tag"))?;
    let hex = |x: &str| {
        if x.is_empty() || x.len() > 8 || !x.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(OtrError::Malformed("bad instance tag"));
        }
        u32::from_str_radix(x, 16).map_err(|_| OtrError::Malformed("bad instance tag"))
    };
    let sender = hex(s)?;
    let receiver = hex(r)?;
    let (k, n, piece) = parse_k_n_piece(rest)?;
    Ok(Fragment {
        sender_tag: Some(sender),
        receiver_tag: Some(receiver),
        k,
        n,
        piece,
    })
}

/// Split an encoded message into fragments of at most `max` characters each.
/// `tags` is `Some((sender, receiver))` for v3 fragments, `None` for v2.
pub fn fragment(
    encoded: &str,
    max: usize,
    tags: Option<(u32, u32)>,
) -> Result<Vec<String>, OtrError> {
    if encoded.len() <= max {
        return Ok(vec![encoded.to_owned()]);
    }
    // Worst-case header: "?OTR|xxxxxxxx|xxxxxxxx,kkkkk,nnnnn," + final ",".
    let overhead = if tags.is_some() { 36 } else { 18 };
    let piece_len = max
        .checked_sub(overhead)
        .filter(|l| *l > 0)
        .ok_or(OtrError::Misuse("fragment size too small"))?;
    // Encoded messages are ASCII (base64), so byte splitting is char splitting.
    if !encoded.is_ascii() {
        return Err(OtrError::Misuse("only encoded messages are fragmented"));
    }
    let n = encoded.len().div_ceil(piece_len);
    let n16 = u16::try_from(n).map_err(|_| OtrError::Misuse("message too long to fragment"))?;
    let mut out = Vec::with_capacity(n);
    for (i, chunk) in encoded.as_bytes().chunks(piece_len).enumerate() {
        let piece = core::str::from_utf8(chunk).map_err(|_| OtrError::Misuse("non-ASCII"))?;
        let k = i + 1;
        out.push(match tags {
            Some((s, r)) => format!("?OTR|{s:08x}|{r:08x},{k:05},{n16:05},{piece},"),
            None => format!("?OTR,{k},{n16},{piece},"),
        });
    }
    Ok(out)
}

/// Reassembly buffer for one sender (spec "Receiving Fragments").
#[derive(Debug, Default, Clone)]
pub struct Reassembly {
    buf: String,
    k: u16,
    n: u16,
}

/// Largest reassembled message we keep (bytes).
const MAX_REASSEMBLED: usize = 1 << 20;

impl Reassembly {
    /// Feed a fragment; returns the whole message once the last piece has arrived.
    pub fn push(&mut self, f: &Fragment) -> Option<String> {
        if f.k == 1 {
            self.buf.clear();
            self.buf.push_str(&f.piece);
            self.k = 1;
            self.n = f.n;
        } else if self.n == f.n && f.k == self.k.wrapping_add(1) && self.k != 0 {
            self.buf.push_str(&f.piece);
            self.k = f.k;
        } else {
            self.clear();
            return None;
        }
        if self.buf.len() > MAX_REASSEMBLED {
            self.clear();
            return None;
        }
        if self.k == self.n {
            let out = core::mem::take(&mut self.buf);
            self.clear();
            return Some(out);
        }
        None
    }

    /// Forget a partial message.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.k = 0;
        self.n = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_messages() {
        // Spec "Query Messages" examples.
        let q = |s: &str| parse_query(s);
        assert_eq!(q("?OTR?"), Some(Versions::default()));
        assert_eq!(
            q("?OTRv2?"),
            Some(Versions {
                v2: true,
                v3: false
            })
        );
        assert_eq!(q("?OTRv23?"), Some(Versions { v2: true, v3: true }));
        assert_eq!(
            q("?OTR?v2?"),
            Some(Versions {
                v2: true,
                v3: false
            })
        );
        assert_eq!(
            q("?OTRv24x?"),
            Some(Versions {
                v2: true,
                v3: false
            })
        );
        assert_eq!(q("?OTRv?"), Some(Versions::default()));
        assert_eq!(q("hello"), None);
        assert!(query_message(Versions { v2: true, v3: true }).starts_with("?OTRv23?"));
    }

    #[test]
    fn whitespace_tags() {
        let t = format!("hello{}{}{}", WS_BASE, WS_V2, WS_V3);
        let (text, tag) = strip_whitespace_tag(&t);
        assert_eq!(text, "hello");
        assert_eq!(tag, Some(Versions { v2: true, v3: true }));
        assert_eq!(whitespace_tag(Versions { v2: true, v3: true }).len(), 32);
        // The spec's tag bytes: base is 16 bytes, each version tag 8.
        assert_eq!(
            WS_BASE.as_bytes(),
            b"\x20\x09\x20\x20\x09\x09\x09\x09\x20\x09\x20\x09\x20\x09\x20\x20"
        );
        assert_eq!(WS_V3.as_bytes(), b"\x20\x20\x09\x09\x20\x20\x09\x09");
    }

    #[test]
    fn fragments_v3_and_v2() {
        let msg = encode_message(&[7u8; 200]);
        let frags = fragment(&msg, 60, Some((0x101, 0x2345))).unwrap();
        assert!(frags.len() > 1);
        assert!(frags.iter().all(|f| f.len() <= 60));
        assert!(frags[0].starts_with("?OTR|00000101|00002345,00001,"));
        let mut re = Reassembly::default();
        let mut got = None;
        for f in &frags {
            let Classified::Fragment(fr) = classify(f).unwrap() else {
                panic!("not a fragment")
            };
            assert_eq!(fr.sender_tag, Some(0x101));
            got = re.push(&fr);
        }
        assert_eq!(got.as_deref(), Some(msg.as_str()));

        let frags = fragment(&msg, 50, None).unwrap();
        assert!(frags[0].starts_with("?OTR,1,"));
        let mut got = None;
        for f in &frags {
            let Classified::Fragment(fr) = classify(f).unwrap() else {
                panic!("not a fragment")
            };
            got = re.push(&fr);
        }
        assert_eq!(got.as_deref(), Some(msg.as_str()));
        // Out-of-order piece discards the buffer.
        let Classified::Fragment(f1) = classify(&frags[0]).unwrap() else {
            panic!()
        };
        let Classified::Fragment(f3) = classify(&frags[2]).unwrap() else {
            panic!()
        };
        assert_eq!(re.push(&f1), None);
        assert_eq!(re.push(&f3), None);
        assert!(classify("?OTR,0,1,abc,").is_err());
        assert!(classify("?OTR,2,1,abc,").is_err());
    }
}
