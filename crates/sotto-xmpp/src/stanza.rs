//! Building the stanzas we send and classifying the ones we receive (RFC 6120 §8,
//! RFC 6121, and the XEPs named on each item).

use crate::xml::{Element, NS_CLIENT};

/// XEP-0334 message processing hints.
pub const NS_HINTS: &str = "urn:xmpp:hints";
/// XEP-0280 message carbons (for `<private/>`).
pub const NS_CARBONS: &str = "urn:xmpp:carbons:2";
/// XEP-0380 explicit message encryption.
pub const NS_EME: &str = "urn:xmpp:eme:0";
/// The XEP-0380 namespace value that names OTR.
pub const NS_OTR: &str = "urn:xmpp:otr:0";
/// RFC 6121 roster.
pub const NS_ROSTER: &str = "jabber:iq:roster";
/// RFC 6120 stanza error conditions.
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// XEP-0095/0096 stream initiation (file transfer offers).
pub const NS_SI: &str = "http://jabber.org/protocol/si";
/// XEP-0096 SI file transfer profile.
pub const NS_SI_FILE: &str = "http://jabber.org/protocol/si/profile/file-transfer";
/// XEP-0166 Jingle.
pub const NS_JINGLE: &str = "urn:xmpp:jingle:1";
/// XEP-0066 out-of-band data, IQ form (a file push).
pub const NS_IQ_OOB: &str = "jabber:iq:oob";
/// XEP-0199 ping.
pub const NS_PING: &str = "urn:xmpp:ping";

/// Hints to put on an outgoing message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageHints {
    /// An OTR message: add XEP-0334 `<no-copy/><no-store/><no-permanent-store/>`, XEP-0280
    /// `<private/>` and XEP-0380 `<encryption namespace="urn:xmpp:otr:0" name="OTR"/>`, so
    /// that carbons and archives keep nothing.
    pub otr: bool,
}

/// Which privacy hints an incoming message carried.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceivedHints {
    /// XEP-0334 `<no-copy/>`.
    pub no_copy: bool,
    /// XEP-0334 `<no-store/>`.
    pub no_store: bool,
    /// XEP-0334 `<no-permanent-store/>`.
    pub no_permanent_store: bool,
    /// XEP-0280 `<private/>`.
    pub private: bool,
    /// XEP-0380 `<encryption namespace=.../>`: the namespace, if any.
    pub encryption: Option<String>,
}

impl ReceivedHints {
    /// `true` if every hint [`MessageHints { otr: true }`](MessageHints) adds is present.
    pub fn is_otr(&self) -> bool {
        self.no_copy
            && self.no_store
            && self.no_permanent_store
            && self.private
            && self.encryption.as_deref() == Some(NS_OTR)
    }

    /// The hints found on `msg`.
    pub fn of(msg: &Element) -> Self {
        ReceivedHints {
            no_copy: msg.has_child("no-copy", NS_HINTS),
            no_store: msg.has_child("no-store", NS_HINTS),
            no_permanent_store: msg.has_child("no-permanent-store", NS_HINTS),
            private: msg.has_child("private", NS_CARBONS),
            encryption: msg
                .get_child("encryption", NS_EME)
                .and_then(|e| e.get_attr("namespace"))
                .map(str::to_owned),
        }
    }
}

/// One roster entry (RFC 6121 §2.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterItem {
    /// The contact's bare JID.
    pub jid: String,
    /// The user-assigned name, if any.
    pub name: Option<String>,
    /// `none`, `to`, `from`, `both` or `remove`.
    pub subscription: String,
}

/// `<message type='chat'>` with a body and, for OTR, the privacy hints.
pub fn message(id: &str, to: &str, body: &str, hints: MessageHints) -> Element {
    let mut m = Element::new("message", NS_CLIENT)
        .attr("to", to)
        .attr("type", "chat")
        .attr("id", id)
        .child(Element::new("body", NS_CLIENT).text(body));
    if hints.otr {
        m = m
            .child(Element::new("no-copy", NS_HINTS))
            .child(Element::new("no-store", NS_HINTS))
            .child(Element::new("no-permanent-store", NS_HINTS))
            .child(Element::new("private", NS_CARBONS))
            .child(
                Element::new("encryption", NS_EME)
                    .attr("namespace", NS_OTR)
                    .attr("name", "OTR"),
            );
    }
    m
}

/// Broadcast presence: available (`<presence/>`) or `type='unavailable'`.
pub fn presence(available: bool) -> Element {
    let p = Element::new("presence", NS_CLIENT);
    if available {
        p
    } else {
        p.attr("type", "unavailable")
    }
}

/// A subscription stanza (RFC 6121 §3): `kind` is `subscribe`, `subscribed`,
/// `unsubscribe` or `unsubscribed`.
pub fn subscription(to: &str, kind: &str) -> Element {
    Element::new("presence", NS_CLIENT)
        .attr("to", to)
        .attr("type", kind)
}

/// Roster get (RFC 6121 §2.1.3).
pub fn roster_get(id: &str) -> Element {
    Element::new("iq", NS_CLIENT)
        .attr("type", "get")
        .attr("id", id)
        .child(Element::new("query", NS_ROSTER))
}

/// An empty `type='result'` answer to `req`.
pub fn iq_result(req: &Element) -> Element {
    let mut r = Element::new("iq", NS_CLIENT)
        .attr("type", "result")
        .attr("id", req.get_attr("id").unwrap_or(""));
    if let Some(from) = req.get_attr("from") {
        r.set_attr("to", from);
    }
    r
}

/// A `type='error'` answer to `req` (RFC 6120 §8.3): error `kind` (`cancel`, `modify`...),
/// defined `condition`, optional human `text`.
pub fn iq_error(req: &Element, kind: &str, condition: &str, text: Option<&str>) -> Element {
    let mut err = Element::new("error", NS_CLIENT)
        .attr("type", kind)
        .child(Element::new(condition, NS_STANZAS));
    if let Some(t) = text {
        err = err.child(
            Element::new("text", NS_STANZAS)
                .attr("xml:lang", "en")
                .text(t),
        );
    }
    let mut r = Element::new("iq", NS_CLIENT)
        .attr("type", "error")
        .attr("id", req.get_attr("id").unwrap_or(""))
        .child(err);
    if let Some(from) = req.get_attr("from") {
        r.set_attr("to", from);
    }
    r
}

/// The defined condition of a stanza's `<error/>` (RFC 6120 §8.3.3), if any.
pub fn error_condition(stanza: &Element) -> Option<String> {
    stanza
        .get_child("error", NS_CLIENT)
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == NS_STANZAS && c.name() != "text")
        })
        .map(|c| c.name().to_owned())
}

/// Items of a roster `<query/>` (result or push).
pub fn roster_items(query: &Element) -> Vec<RosterItem> {
    query
        .children()
        .filter(|c| c.is("item", NS_ROSTER))
        .filter_map(|item| {
            Some(RosterItem {
                jid: item.get_attr("jid")?.to_owned(),
                name: item.get_attr("name").map(str::to_owned),
                subscription: item.get_attr("subscription").unwrap_or("none").to_owned(),
            })
        })
        .collect()
}

/// A file offer found in an IQ request, and how to refuse it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOffer {
    /// For display: protocol and file name if given.
    pub what: String,
    /// The answer to send.
    pub refusal: Element,
}

/// If `iq` (a get/set) offers a file, describe it and build its refusal:
/// - XEP-0096 SI: `<forbidden/>` with "Offer Declined" (XEP-0095 §3.2);
/// - XEP-0234 Jingle file transfer: `<service-unavailable/>`, what XEP-0166 §6.3.2 says a
///   responder without Jingle support returns (we do not do Jingle at all);
/// - XEP-0066 `jabber:iq:oob`: `<not-acceptable/>` (XEP-0066 §3.2, recipient rejects).
pub fn file_offer(iq: &Element) -> Option<FileOffer> {
    if let Some(si) = iq.get_child("si", NS_SI) {
        let name = si
            .get_child("file", NS_SI_FILE)
            .and_then(|f| f.get_attr("name"))
            .unwrap_or("?");
        return Some(FileOffer {
            what: format!("XEP-0096 file transfer: {name}"),
            refusal: iq_error(iq, "cancel", "forbidden", Some("Offer Declined")),
        });
    }
    if let Some(j) = iq.get_child("jingle", NS_JINGLE) {
        let ft = j
            .children()
            .filter(|c| c.is("content", NS_JINGLE))
            .find_map(|c| {
                c.children().find(|d| {
                    d.name() == "description"
                        && d.ns().starts_with("urn:xmpp:jingle:apps:file-transfer")
                })
            });
        if let Some(desc) = ft {
            let name = desc
                .children()
                .find(|f| f.name() == "file")
                .and_then(|f| f.children().find(|n| n.name() == "name"))
                .map(Element::text_content)
                .unwrap_or_else(|| "?".to_owned());
            return Some(FileOffer {
                what: format!("XEP-0234 Jingle file transfer: {name}"),
                refusal: iq_error(iq, "cancel", "service-unavailable", None),
            });
        }
    }
    if let Some(q) = iq.get_child("query", NS_IQ_OOB) {
        let url = q
            .get_child("url", NS_IQ_OOB)
            .map(Element::text_content)
            .unwrap_or_default();
        return Some(FileOffer {
            what: format!("XEP-0066 out-of-band file: {url}"),
            refusal: iq_error(iq, "modify", "not-acceptable", None),
        });
    }
    None
}

/// The bare part of a JID (`user@domain/res` → `user@domain`).
pub fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otr_message_carries_all_hints_and_round_trips() {
        let m = message("m1", "bob@x.org", "?OTR:AAMD", MessageHints { otr: true });
        let xml = m.to_stream_xml().unwrap();
        assert_eq!(
            xml,
            "<message to='bob@x.org' type='chat' id='m1'><body>?OTR:AAMD</body>\
             <no-copy xmlns='urn:xmpp:hints'/><no-store xmlns='urn:xmpp:hints'/>\
             <no-permanent-store xmlns='urn:xmpp:hints'/><private xmlns='urn:xmpp:carbons:2'/>\
             <encryption xmlns='urn:xmpp:eme:0' namespace='urn:xmpp:otr:0' name='OTR'/></message>"
        );
        assert!(ReceivedHints::of(&m).is_otr());
        let plain = message("m2", "bob@x.org", "hi", MessageHints::default());
        assert_eq!(ReceivedHints::of(&plain), ReceivedHints::default());
        assert!(!ReceivedHints::of(&plain).is_otr());
    }

    #[test]
    fn iq_error_shape_rfc6120_8_3() {
        let req = Element::new("iq", NS_CLIENT)
            .attr("type", "set")
            .attr("id", "q1")
            .attr("from", "eve@x/y")
            .child(Element::new("query", "urn:example"));
        let e = iq_error(&req, "cancel", "service-unavailable", None);
        assert_eq!(
            e.to_stream_xml().unwrap(),
            "<iq type='error' id='q1' to='eve@x/y'><error type='cancel'>\
             <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        );
        assert_eq!(error_condition(&e).as_deref(), Some("service-unavailable"));
        assert!(file_offer(&req).is_none());
    }

    #[test]
    fn file_offers_are_recognised_and_refused() {
        let si = Element::new("iq", NS_CLIENT)
            .attr("type", "set")
            .attr("id", "s")
            .child(
                Element::new("si", NS_SI)
                    .attr("profile", NS_SI_FILE)
                    .child(Element::new("file", NS_SI_FILE).attr("name", "leak.pdf")),
            );
        let o = file_offer(&si).unwrap();
        assert!(o.what.contains("leak.pdf"));
        assert_eq!(error_condition(&o.refusal).as_deref(), Some("forbidden"));

        let jingle = Element::new("iq", NS_CLIENT)
            .attr("type", "set")
            .attr("id", "j")
            .child(
                Element::new("jingle", NS_JINGLE)
                    .attr("action", "session-initiate")
                    .child(
                        Element::new("content", NS_JINGLE).child(
                            Element::new("description", "urn:xmpp:jingle:apps:file-transfer:5")
                                .child(
                                    Element::new("file", "urn:xmpp:jingle:apps:file-transfer:5")
                                        .child(
                                            Element::new(
                                                "name",
                                                "urn:xmpp:jingle:apps:file-transfer:5",
                                            )
                                            .text("a.zip"),
                                        ),
                                ),
                        ),
                    ),
            );
        let o = file_offer(&jingle).unwrap();
        assert!(o.what.contains("a.zip"));
        assert_eq!(
            error_condition(&o.refusal).as_deref(),
            Some("service-unavailable")
        );

        let oob = Element::new("iq", NS_CLIENT)
            .attr("type", "set")
            .attr("id", "o")
            .child(
                Element::new("query", NS_IQ_OOB)
                    .child(Element::new("url", NS_IQ_OOB).text("http://x/y")),
            );
        assert_eq!(
            error_condition(&file_offer(&oob).unwrap().refusal).as_deref(),
            Some("not-acceptable")
        );
    }

    #[test]
    fn roster_items_skip_entries_without_jid() {
        let q = Element::new("query", NS_ROSTER)
            .child(
                Element::new("item", NS_ROSTER)
                    .attr("jid", "a@x")
                    .attr("subscription", "both")
                    .attr("name", "A"),
            )
            .child(Element::new("item", NS_ROSTER))
            .child(Element::new("item", NS_ROSTER).attr("jid", "b@x"));
        let items = roster_items(&q);
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0],
            RosterItem {
                jid: "a@x".into(),
                name: Some("A".into()),
                subscription: "both".into()
            }
        );
        assert_eq!(items[1].subscription, "none");
        assert_eq!(bare("a@x/r/s"), "a@x");
    }
}
