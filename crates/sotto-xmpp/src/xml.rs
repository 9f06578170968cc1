//! A small element tree, its serialiser, and the XMPP stream framer on top of `rxml`.
//!
//! The stream is one long XML document (RFC 6120 §4): `<stream:stream>` opens it, each
//! child of the root is a top-level element (a stanza, `<stream:features/>`, SASL or TLS
//! negotiation element). [`StreamParser`] feeds bytes to `rxml`'s restricted, namespace-aware
//! parser and hands out [`StreamEvent`]s; everything below depth 1 is collected into an
//! [`Element`]. Size and nesting are bounded so a hostile server cannot make us buffer
//! without limit.

use crate::XmppError;
use rxml::{Parse, WithOptions};

/// `jabber:client`, the default namespace of a client stream.
pub const NS_CLIENT: &str = "jabber:client";
/// The stream namespace (`stream:` prefix).
pub const NS_STREAM: &str = "http://etherx.jabber.org/streams";
/// The `xml:` namespace (for `xml:lang`).
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Largest top-level element we accept, in bytes of XML.
pub const MAX_STANZA_BYTES: usize = 1 << 20;
/// Deepest nesting we accept below the stream root.
pub const MAX_DEPTH: usize = 32;

/// A node in an element's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (already unescaped).
    Text(String),
}

/// An XML element: namespace, local name, attributes (no namespace, except `xml:lang`),
/// content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    name: String,
    ns: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Element {
    /// A new empty element `<name xmlns=ns/>`.
    pub fn new(name: &str, ns: &str) -> Self {
        Element {
            name: name.to_owned(),
            ns: ns.to_owned(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Builder: set attribute `name` (replacing an earlier value). Use `xml:lang` for the
    /// language attribute.
    #[must_use]
    pub fn attr(mut self, name: &str, value: &str) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Builder: append a child element.
    #[must_use]
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder: append text.
    #[must_use]
    pub fn text(mut self, text: &str) -> Self {
        self.children.push(Node::Text(text.to_owned()));
        self
    }

    /// Set attribute `name` to `value`.
    pub fn set_attr(&mut self, name: &str, value: &str) {
        if let Some(a) = self.attrs.iter_mut().find(|(n, _)| n == name) {
            a.1 = value.to_owned();
        } else {
            self.attrs.push((name.to_owned(), value.to_owned()));
        }
    }

    /// Local name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Namespace URI.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// `true` if this is `{ns}name`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// Value of attribute `name`, if present.
    pub fn get_attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All attributes, in document order.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Child elements, in order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// All content nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.children
    }

    /// First child `{ns}name`.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|c| c.is(name, ns))
    }

    /// `true` if a child `{ns}name` exists.
    pub fn has_child(&self, name: &str, ns: &str) -> bool {
        self.get_child(name, ns).is_some()
    }

    /// Concatenated direct text content.
    pub fn text_content(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }

    /// Serialise, declaring `xmlns` where it differs from `parent_ns`.
    ///
    /// Characters not allowed in XML 1.0 (most C0 controls, U+FFFE, U+FFFF) are replaced by
    /// U+FFFD so that user text can never break the stream. Names that are not simple
    /// ASCII XML names are an error ([`XmppError::Misuse`]).
    pub fn write_to(&self, parent_ns: &str, out: &mut String) -> Result<(), XmppError> {
        check_name(&self.name)?;
        out.push('<');
        out.push_str(&self.name);
        if self.ns != parent_ns {
            out.push_str(" xmlns='");
            escape_into(&self.ns, true, out);
            out.push('\'');
        }
        for (n, v) in &self.attrs {
            if n != "xml:lang" {
                check_name(n)?;
            }
            out.push(' ');
            out.push_str(n);
            out.push_str("='");
            escape_into(v, true, out);
            out.push('\'');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return Ok(());
        }
        out.push('>');
        for c in &self.children {
            match c {
                Node::Element(e) => e.write_to(&self.ns, out)?,
                Node::Text(t) => escape_into(t, false, out),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
        Ok(())
    }

    /// Serialise as a top-level element of a `jabber:client` stream.
    pub fn to_stream_xml(&self) -> Result<String, XmppError> {
        let mut s = String::new();
        self.write_to(NS_CLIENT, &mut s)?;
        Ok(s)
    }
}

fn check_name(name: &str) -> Result<(), XmppError> {
    let ok = name.bytes().enumerate().all(|(i, b)| {
        b.is_ascii_alphabetic()
            || b == b'_'
            || (i > 0 && (b.is_ascii_digit() || b == b'-' || b == b'.'))
    });
    if ok && !name.is_empty() {
        Ok(())
    } else {
        Err(XmppError::Misuse(format!("not an XML name: {name:?}")))
    }
}

/// Escape `s` for XML text (or an attribute value in single or double quotes).
pub fn escape_into(s: &str, attr: bool, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' if attr => out.push_str("&apos;"),
            '"' if attr => out.push_str("&quot;"),
            '\t' | '\n' | '\r' if attr => {
                // Attribute-value normalisation would turn these into spaces.
                out.push_str(&format!("&#{};", u32::from(c)));
            }
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// What the stream framer produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// The server's `<stream:stream ...>` header; its (non-namespace) attributes.
    Header(Vec<(String, String)>),
    /// A complete top-level element (stanza, features, negotiation element, stream error).
    Element(Element),
    /// `</stream:stream>`: the server closed the stream.
    End,
}

/// Incremental XMPP stream framer: bytes in, [`StreamEvent`]s out. Create a new one at each
/// stream (re)start (after TLS and after SASL, RFC 6120 §5.4.3.3, §6.4.6).
pub struct StreamParser {
    parser: rxml::Parser,
    stack: Vec<Element>,
    in_root: bool,
    /// A `<` was seen at the start of the document (rxml would otherwise wait for the end
    /// of leading junk such as an HTTP response before complaining).
    started: bool,
    ended: bool,
    stanza_bytes: usize,
}

impl Default for StreamParser {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for StreamParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamParser")
            .field("depth", &self.stack.len())
            .field("in_root", &self.in_root)
            .finish_non_exhaustive()
    }
}

fn proto(what: impl std::fmt::Display) -> XmppError {
    XmppError::Protocol(what.to_string())
}

impl StreamParser {
    /// A framer for a fresh stream.
    pub fn new() -> Self {
        let opts = rxml::parser::Options {
            max_token_length: 64 * 1024,
            ..Default::default()
        };
        StreamParser {
            parser: rxml::Parser::with_options(opts),
            stack: Vec::new(),
            in_root: false,
            started: false,
            ended: false,
            stanza_bytes: 0,
        }
    }

    /// Feed bytes from the wire; returns the events completed by them. Bytes may split
    /// anywhere (even inside a UTF-8 sequence). Any error is fatal for the stream.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<StreamEvent>, XmppError> {
        let mut out = Vec::new();
        let mut buf = data;
        if !self.started {
            match data.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'<') => self.started = true,
                Some(_) => return Err(proto("not an XML stream")),
                None => {}
            }
        }
        loop {
            if self.ended {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(out);
                }
                return Err(proto("data after the end of the stream"));
            }
            let before = buf.len();
            let ev = match self.parser.parse(&mut buf, false) {
                Ok(Some(ev)) => ev,
                Ok(None) => return Ok(out),
                Err(rxml::error::EndOrError::NeedMoreData) => {
                    self.count(before - buf.len())?;
                    return Ok(out);
                }
                Err(rxml::error::EndOrError::Error(e)) => {
                    return Err(proto(format!("malformed XML: {e}")));
                }
            };
            self.count(before - buf.len())?;
            if let Some(e) = self.handle(ev)? {
                out.push(e);
            }
        }
    }

    fn count(&mut self, n: usize) -> Result<(), XmppError> {
        if !self.stack.is_empty() {
            self.stanza_bytes = self.stanza_bytes.saturating_add(n);
            if self.stanza_bytes > MAX_STANZA_BYTES {
                return Err(proto("top-level element larger than 1 MiB"));
            }
        }
        Ok(())
    }

    fn handle(&mut self, ev: rxml::Event) -> Result<Option<StreamEvent>, XmppError> {
        match ev {
            rxml::Event::XmlDeclaration(..) => Ok(None),
            rxml::Event::StartElement(_, (ns, name), attrs) => {
                let mut a = Vec::new();
                for ((ans, aname), v) in attrs.into_iter() {
                    if ans.is_none() {
                        a.push((aname.as_str().to_owned(), v.to_string()));
                    } else if ans.as_str() == NS_XML {
                        a.push((format!("xml:{}", aname.as_str()), v.to_string()));
                    }
                }
                if !self.in_root {
                    if name.as_str() != "stream" || ns.as_str() != NS_STREAM {
                        return Err(proto("the stream does not start with <stream:stream>"));
                    }
                    self.in_root = true;
                    return Ok(Some(StreamEvent::Header(a)));
                }
                if self.stack.len() >= MAX_DEPTH {
                    return Err(proto("elements nested too deeply"));
                }
                if self.stack.is_empty() {
                    self.stanza_bytes = 0;
                }
                self.stack.push(Element {
                    name: name.as_str().to_owned(),
                    ns: ns.as_str().to_owned(),
                    attrs: a,
                    children: Vec::new(),
                });
                Ok(None)
            }
            rxml::Event::EndElement(_) => match self.stack.pop() {
                None => {
                    self.ended = true;
                    Ok(Some(StreamEvent::End))
                }
                Some(done) => match self.stack.last_mut() {
                    Some(parent) => {
                        parent.children.push(Node::Element(done));
                        Ok(None)
                    }
                    None => Ok(Some(StreamEvent::Element(done))),
                },
            },
            rxml::Event::Text(_, text) => {
                if let Some(top) = self.stack.last_mut() {
                    if let Some(Node::Text(prev)) = top.children.last_mut() {
                        prev.push_str(text.as_str());
                    } else {
                        top.children.push(Node::Text(text.to_string()));
                    }
                }
                // Text directly under the root: whitespace keepalives; ignored.
                Ok(None)
            }
        }
    }
}

/// The opening of a client stream to `domain` (RFC 6120 §4.2), with the XML declaration.
pub fn stream_header(domain: &str, from: &str) -> String {
    let mut s = String::from("<?xml version='1.0'?><stream:stream to='");
    escape_into(domain, true, &mut s);
    s.push_str("' from='");
    escape_into(from, true, &mut s);
    s.push_str(
        "' version='1.0' xml:lang='en' xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    s
}

/// The closing tag of our stream.
pub const STREAM_END: &str = "</stream:stream>";

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='example.org' version='1.0'>";

    #[test]
    fn frames_header_stanzas_and_end_byte_by_byte() {
        let doc = format!(
            "{HEADER}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features> \
             <message from='a@b/c' type='chat'><body>h&#xe9;llo &amp; &lt;bye&gt; \u{1F600}</body></message></stream:stream>"
        );
        let mut p = StreamParser::new();
        let mut evs = Vec::new();
        for b in doc.as_bytes() {
            evs.extend(p.feed(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(evs.len(), 4);
        let StreamEvent::Header(h) = &evs[0] else {
            panic!()
        };
        assert!(h.contains(&("id".into(), "abc".into())));
        let StreamEvent::Element(f) = &evs[1] else {
            panic!()
        };
        assert!(f.is("features", NS_STREAM));
        assert!(
            f.get_child("starttls", "urn:ietf:params:xml:ns:xmpp-tls")
                .unwrap()
                .has_child("required", "urn:ietf:params:xml:ns:xmpp-tls")
        );
        let StreamEvent::Element(m) = &evs[2] else {
            panic!()
        };
        assert!(m.is("message", NS_CLIENT));
        assert_eq!(m.get_attr("from"), Some("a@b/c"));
        assert_eq!(
            m.get_child("body", NS_CLIENT).unwrap().text_content(),
            "héllo & <bye> \u{1F600}"
        );
        assert_eq!(evs[3], StreamEvent::End);
    }

    #[test]
    fn rejects_bad_roots_dtds_and_oversize() {
        assert!(StreamParser::new().feed(b"<foo/>").is_err());
        assert!(
            StreamParser::new()
                .feed(b"HTTP/1.1 400 Bad Request\r\n")
                .is_err()
        );
        assert!(StreamParser::new().feed(b"  \n").unwrap().is_empty());
        assert!(
            StreamParser::new()
                .feed(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>")
                .is_err()
        );
        let mut p = StreamParser::new();
        p.feed(HEADER.as_bytes()).unwrap();
        p.feed(b"<message><body>").unwrap();
        let chunk = vec![b'a'; 64 * 1024];
        let mut res = Ok(Vec::new());
        for _ in 0..20 {
            res = p.feed(&chunk);
            if res.is_err() {
                break;
            }
        }
        assert!(matches!(res, Err(XmppError::Protocol(_))));
        let mut p = StreamParser::new();
        p.feed(HEADER.as_bytes()).unwrap();
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(p.feed(deep.as_bytes()).is_err());
        // Undeclared prefix, mismatched tags: errors, not panics.
        let mut p = StreamParser::new();
        p.feed(HEADER.as_bytes()).unwrap();
        assert!(p.feed(b"<x:y/>").is_err());
        let mut p = StreamParser::new();
        p.feed(HEADER.as_bytes()).unwrap();
        assert!(p.feed(b"<a></b>").is_err());
    }

    #[test]
    fn serialiser_round_trips_through_the_parser() {
        let el = Element::new("message", NS_CLIENT)
            .attr("to", "b@x'\"<y>")
            .attr("xml:lang", "fr")
            .child(Element::new("body", NS_CLIENT).text("a\u{0}b & c\t\n<d> ü"))
            .child(Element::new("no-store", "urn:xmpp:hints"));
        let xml = el.to_stream_xml().unwrap();
        assert!(!xml.contains('\u{0}'));
        let mut p = StreamParser::new();
        p.feed(HEADER.as_bytes()).unwrap();
        let evs = p.feed(xml.as_bytes()).unwrap();
        let StreamEvent::Element(back) = &evs[0] else {
            panic!()
        };
        assert_eq!(back.get_attr("to"), Some("b@x'\"<y>"));
        assert_eq!(back.get_attr("xml:lang"), Some("fr"));
        assert_eq!(
            back.get_child("body", NS_CLIENT).unwrap().text_content(),
            "a\u{FFFD}b & c\t\n<d> ü"
        );
        assert!(back.has_child("no-store", "urn:xmpp:hints"));
        assert!(Element::new("bad name", NS_CLIENT).to_stream_xml().is_err());
        assert!(
            Element::new("x", NS_CLIENT)
                .attr("a b", "c")
                .to_stream_xml()
                .is_err()
        );
    }

    #[test]
    fn whitespace_keepalives_between_stanzas_are_ignored() {
        let mut p = StreamParser::new();
        p.feed(HEADER.as_bytes()).unwrap();
        assert!(p.feed(b"   \n ").unwrap().is_empty());
        assert_eq!(p.feed(b"<presence/> ").unwrap().len(), 1);
    }
}
