//! What to do with each incoming top-level element, decided without I/O (so it can be
//! tested and fuzzed): an event for the owner, a reply to the server, or an IQ response to
//! hand to the request that waits for it.

use crate::XmppEvent;
use crate::stanza::{self, NS_PING, NS_ROSTER, ReceivedHints};
use crate::xml::{Element, NS_CLIENT};

/// The decision for one incoming element.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled {
    /// Nothing to do (chat states, unknown elements, presence types we do not show...).
    Ignored,
    /// Report this to the owner.
    Event(XmppEvent),
    /// Send this reply; report the event too, if any.
    Reply(Element, Option<XmppEvent>),
    /// An IQ `result`/`error` for request `id`. `from_own_account` says whether it came
    /// from our own account or server (no `from`, our bare JID, or our domain), which is
    /// the only valid sender for requests sent without `to` (RFC 6120 §8.1.2.1).
    Response {
        /// The `id` attribute.
        id: String,
        /// The `from` attribute (empty if absent).
        from: String,
        /// See above.
        from_own_account: bool,
    },
}

/// Decide what to do with `e`, received on the stream of `own_jid` (full JID) at `domain`.
/// Never logs message bodies.
pub fn handle_stanza(e: &Element, own_jid: &str, domain: &str) -> Handled {
    if e.ns() != NS_CLIENT {
        return Handled::Ignored;
    }
    match e.name() {
        "message" => on_message(e),
        "presence" => on_presence(e),
        "iq" => on_iq(e, own_jid, domain),
        _ => Handled::Ignored,
    }
}

fn on_message(m: &Element) -> Handled {
    let Some(from) = m.get_attr("from") else {
        return Handled::Ignored;
    };
    let ty = m.get_attr("type").unwrap_or("normal");
    if ty == "error" {
        let condition = stanza::error_condition(m).unwrap_or_else(|| "undefined-condition".into());
        return Handled::Event(XmppEvent::MessageError {
            from: from.to_owned(),
            condition,
        });
    }
    if ty != "chat" && ty != "normal" {
        return Handled::Ignored;
    }
    let Some(body) = m.get_child("body", NS_CLIENT) else {
        return Handled::Ignored; // chat states, receipts...: nothing to show
    };
    Handled::Event(XmppEvent::Message {
        from: from.to_owned(),
        body: body.text_content(),
        hints: ReceivedHints::of(m),
    })
}

fn on_presence(p: &Element) -> Handled {
    let Some(from) = p.get_attr("from") else {
        return Handled::Ignored;
    };
    let from = from.to_owned();
    match p.get_attr("type") {
        None => Handled::Event(XmppEvent::Presence {
            from,
            available: true,
        }),
        Some("unavailable") => Handled::Event(XmppEvent::Presence {
            from,
            available: false,
        }),
        Some("subscribe") => Handled::Event(XmppEvent::SubscriptionRequest {
            from: stanza::bare(&from).to_owned(),
        }),
        Some(_) => Handled::Ignored,
    }
}

fn on_iq(iq: &Element, own_jid: &str, domain: &str) -> Handled {
    let ty = iq.get_attr("type").unwrap_or("");
    let from = iq.get_attr("from").unwrap_or("");
    let from_own_account = from.is_empty()
        || from.eq_ignore_ascii_case(stanza::bare(own_jid))
        || from.eq_ignore_ascii_case(domain);
    match ty {
        "result" | "error" => Handled::Response {
            id: iq.get_attr("id").unwrap_or("").to_owned(),
            from: from.to_owned(),
            from_own_account,
        },
        "get" | "set" => {
            if ty == "set"
                && let Some(q) = iq.get_child("query", NS_ROSTER)
            {
                if !from_own_account {
                    // A "roster push" from someone else is an attack (RFC 6121 §2.1.6).
                    return Handled::Reply(
                        stanza::iq_error(iq, "cancel", "service-unavailable", None),
                        None,
                    );
                }
                let items = stanza::roster_items(q);
                return Handled::Reply(stanza::iq_result(iq), Some(XmppEvent::Roster(items)));
            }
            if ty == "get" && iq.has_child("ping", NS_PING) {
                return Handled::Reply(stanza::iq_result(iq), None);
            }
            if let Some(offer) = stanza::file_offer(iq) {
                return Handled::Reply(
                    offer.refusal,
                    Some(XmppEvent::FileOfferRefused {
                        from: from.to_owned(),
                        what: offer.what,
                    }),
                );
            }
            // RFC 6120 §8.4: an IQ get/set we do not understand.
            Handled::Reply(
                stanza::iq_error(iq, "cancel", "service-unavailable", None),
                None,
            )
        }
        // RFC 6120 §8.2.3: an IQ without a valid type gets bad-request.
        _ => Handled::Reply(stanza::iq_error(iq, "modify", "bad-request", None), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "me@x.org/r";

    fn iq(ty: &str, from: Option<&str>, child: Element) -> Element {
        let mut e = Element::new("iq", NS_CLIENT)
            .attr("type", ty)
            .attr("id", "i1")
            .child(child);
        if let Some(f) = from {
            e.set_attr("from", f);
        }
        e
    }

    #[test]
    fn roster_push_only_from_own_account_rfc6121_2_1_6() {
        let q = Element::new("query", NS_ROSTER).child(
            Element::new("item", NS_ROSTER)
                .attr("jid", "a@y")
                .attr("subscription", "both"),
        );
        for from in [None, Some("me@x.org"), Some("x.org")] {
            let Handled::Reply(r, Some(XmppEvent::Roster(items))) =
                handle_stanza(&iq("set", from, q.clone()), ME, "x.org")
            else {
                panic!("{from:?}")
            };
            assert_eq!(r.get_attr("type"), Some("result"));
            assert_eq!(items.len(), 1);
        }
        let Handled::Reply(r, None) = handle_stanza(&iq("set", Some("eve@evil/x"), q), ME, "x.org")
        else {
            panic!()
        };
        assert_eq!(
            stanza::error_condition(&r).as_deref(),
            Some("service-unavailable")
        );
        assert_eq!(r.get_attr("to"), Some("eve@evil/x"));
    }

    #[test]
    fn unknown_iq_and_bad_type() {
        let Handled::Reply(r, None) = handle_stanza(
            &iq(
                "get",
                Some("a@b/c"),
                Element::new("query", "jabber:iq:version"),
            ),
            ME,
            "x.org",
        ) else {
            panic!()
        };
        assert_eq!(
            stanza::error_condition(&r).as_deref(),
            Some("service-unavailable")
        );
        let Handled::Reply(r, None) = handle_stanza(
            &iq("bogus", Some("a@b/c"), Element::new("q", "u:x")),
            ME,
            "x.org",
        ) else {
            panic!()
        };
        assert_eq!(stanza::error_condition(&r).as_deref(), Some("bad-request"));
        assert_eq!(
            handle_stanza(
                &iq("result", Some("a@b/c"), Element::new("q", "u:x")),
                ME,
                "x.org"
            ),
            Handled::Response {
                id: "i1".into(),
                from: "a@b/c".into(),
                from_own_account: false
            }
        );
    }

    #[test]
    fn messages_presence_and_errors() {
        let m = Element::new("message", NS_CLIENT)
            .attr("from", "a@b/c")
            .attr("type", "chat")
            .child(Element::new("body", NS_CLIENT).text("hi"));
        assert!(
            matches!(handle_stanza(&m, ME, "x.org"), Handled::Event(XmppEvent::Message { body, .. }) if body == "hi")
        );
        let gc = m.clone().attr("type", "groupchat");
        assert_eq!(handle_stanza(&gc, ME, "x.org"), Handled::Ignored);
        let no_from =
            Element::new("message", NS_CLIENT).child(Element::new("body", NS_CLIENT).text("x"));
        assert_eq!(handle_stanza(&no_from, ME, "x.org"), Handled::Ignored);
        let err = Element::new("message", NS_CLIENT)
            .attr("from", "z@b")
            .attr("type", "error")
            .child(
                Element::new("error", NS_CLIENT)
                    .attr("type", "cancel")
                    .child(Element::new("item-not-found", stanza::NS_STANZAS)),
            );
        assert_eq!(
            handle_stanza(&err, ME, "x.org"),
            Handled::Event(XmppEvent::MessageError {
                from: "z@b".into(),
                condition: "item-not-found".into()
            })
        );
        let sub = Element::new("presence", NS_CLIENT)
            .attr("from", "a@b/c")
            .attr("type", "subscribe");
        assert_eq!(
            handle_stanza(&sub, ME, "x.org"),
            Handled::Event(XmppEvent::SubscriptionRequest { from: "a@b".into() })
        );
        let other_ns = Element::new("message", "jabber:server").attr("from", "a@b");
        assert_eq!(handle_stanza(&other_ns, ME, "x.org"), Handled::Ignored);
    }
}
