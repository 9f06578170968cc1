//! Dialogs (RFC 3261 §12): identity, route set, CSeq spaces, remote target, in-dialog
//! requests, the ACK for a 2xx, and CANCEL (§9.1).

use crate::error::{Result, SipError};
use crate::headers::{CSeq, Method, NameAddr, Via};
use crate::message::{Request, Response};
use crate::uri::Uri;

/// Call-ID plus the two tags (§12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Early (from a 1xx with a To tag) or confirmed (from a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
}

/// One dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Identity.
    pub id: DialogId,
    /// State.
    pub state: DialogState,
    /// Our CSeq for the next request is `local_seq + 1`.
    pub local_seq: u32,
    /// The highest CSeq seen from the peer.
    pub remote_seq: Option<u32>,
    /// Our From/To address (with our tag).
    pub local_uri: NameAddr,
    /// The peer's address (with its tag).
    pub remote_uri: NameAddr,
    /// Where in-dialog requests go (the peer's Contact).
    pub remote_target: Uri,
    /// The route set (§12.1.1 / §12.1.2).
    pub route_set: Vec<NameAddr>,
    /// Our Contact.
    pub local_contact: NameAddr,
}

impl Dialog {
    /// UAC side (§12.1.2): from our INVITE and a 1xx-with-tag or 2xx response.
    pub fn uac(request: &Request, resp: &Response) -> Result<Self> {
        let from = request.headers.from()?;
        let to = resp.headers.to()?;
        let local_tag = from
            .tag()
            .ok_or(SipError::Misuse("request without From tag"))?
            .to_owned();
        let remote_tag = to
            .tag()
            .ok_or(SipError::PeerMisbehaved("response without To tag"))?
            .to_owned();
        let mut route_set = resp.headers.record_routes()?;
        route_set.reverse();
        let remote_target = resp
            .headers
            .contact()?
            .map(|c| c.uri)
            .or_else(|| (!resp.is_success()).then(|| request.uri.clone()))
            .ok_or(SipError::PeerMisbehaved("2xx without Contact"))?;
        let local_contact = request
            .headers
            .contact()?
            .ok_or(SipError::Misuse("request without Contact"))?;
        Ok(Self {
            id: DialogId {
                call_id: request.headers.call_id()?.to_owned(),
                local_tag,
                remote_tag,
            },
            state: if resp.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: request.headers.cseq()?.seq,
            remote_seq: None,
            local_uri: from,
            remote_uri: to,
            remote_target,
            route_set,
            local_contact,
        })
    }

    /// UAS side (§12.1.1): from the peer's INVITE, our To tag and our Contact.
    pub fn uas(request: &Request, local_tag: &str, local_contact: NameAddr) -> Result<Self> {
        let from = request.headers.from()?;
        let mut to = request.headers.to()?;
        to.set_tag(local_tag);
        let remote_tag = from.tag().unwrap_or("").to_owned();
        let remote_target = request
            .headers
            .contact()?
            .map(|c| c.uri)
            // RFC 2543 INVITEs may lack Contact (RFC 4475 §3.4): fall back to From.
            .unwrap_or_else(|| from.uri.clone());
        Ok(Self {
            id: DialogId {
                call_id: request.headers.call_id()?.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag,
            },
            state: DialogState::Early,
            local_seq: 0,
            remote_seq: Some(request.headers.cseq()?.seq),
            local_uri: to,
            remote_uri: from,
            remote_target,
            route_set: request.headers.record_routes()?,
            local_contact,
        })
    }

    /// The dialog id a request received from the peer belongs to (our tag is in To).
    pub fn id_of_incoming(req: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.headers.call_id().ok()?.to_owned(),
            local_tag: req.headers.to().ok()?.tag()?.to_owned(),
            remote_tag: req.headers.from().ok()?.tag().unwrap_or("").to_owned(),
        })
    }

    /// The dialog id a response to our request belongs to.
    pub fn id_of_response(resp: &Response) -> Option<DialogId> {
        Some(DialogId {
            call_id: resp.headers.call_id().ok()?.to_owned(),
            local_tag: resp.headers.from().ok()?.tag()?.to_owned(),
            remote_tag: resp.headers.to().ok()?.tag()?.to_owned(),
        })
    }

    /// A 2xx (or a later 1xx) to our INVITE or re-INVITE: confirms the dialog and refreshes
    /// the remote target (§12.2.1.2); the route set is fixed once confirmed.
    pub fn handle_response(&mut self, resp: &Response, to_invite: bool) -> Result<()> {
        if to_invite {
            if let Some(c) = resp.headers.contact()? {
                self.remote_target = c.uri;
            }
            if resp.is_success() && self.state == DialogState::Early {
                let mut rr = resp.headers.record_routes()?;
                rr.reverse();
                self.route_set = rr;
            }
        }
        if resp.is_success() {
            self.state = DialogState::Confirmed;
        }
        Ok(())
    }

    /// A request from the peer in this dialog (§12.2.2): checks CSeq order and refreshes the
    /// target on re-INVITE. An error means answer 500 (lower CSeq).
    pub fn handle_request(&mut self, req: &Request) -> Result<()> {
        let cseq = req.headers.cseq()?;
        if req.method != Method::Ack && req.method != Method::Cancel {
            if self.remote_seq.is_some_and(|r| cseq.seq < r) {
                return Err(SipError::PeerMisbehaved(
                    "CSeq lower than the last one in the dialog",
                ));
            }
            self.remote_seq = Some(cseq.seq);
        }
        if req.method == Method::Invite
            && let Some(c) = req.headers.contact()?
        {
            self.remote_target = c.uri;
        }
        Ok(())
    }

    /// A new in-dialog request (§12.2.1.1) with the given top Via. Takes the next local CSeq
    /// (except for ACK and CANCEL, which reuse a number and are built elsewhere).
    pub fn new_request(&mut self, method: Method, via: &Via) -> Request {
        self.local_seq = self.local_seq.wrapping_add(1).max(1);
        self.request_with_seq(method, via, self.local_seq)
    }

    /// The ACK for a 2xx to the INVITE with CSeq number `invite_seq` (§13.2.2.4).
    pub fn ack(&self, invite_seq: u32, via: &Via) -> Request {
        let mut ack = self.request_with_seq(Method::Ack, via, invite_seq);
        ack.headers.remove("Contact");
        ack
    }

    fn request_with_seq(&self, method: Method, via: &Via, seq: u32) -> Request {
        let strict = self
            .route_set
            .first()
            .is_some_and(|r| r.uri.sip().is_none_or(|s| !s.params.has("lr")));
        let (ruri, routes): (Uri, Vec<String>) = if strict {
            // Strict routing (§12.2.1.1): the first route becomes the Request-URI and the
            // remote target goes last.
            let first = self
                .route_set
                .first()
                .map(|r| r.uri.clone())
                .unwrap_or_else(|| self.remote_target.clone());
            let mut rs: Vec<String> = self
                .route_set
                .iter()
                .skip(1)
                .map(ToString::to_string)
                .collect();
            rs.push(format!("<{}>", self.remote_target));
            (first, rs)
        } else {
            (
                self.remote_target.clone(),
                self.route_set.iter().map(ToString::to_string).collect(),
            )
        };
        let mut r = Request::new(method.clone(), ruri);
        r.headers.push("Via", via.to_string());
        r.headers.push("Max-Forwards", "70");
        for rt in routes {
            r.headers.push("Route", rt);
        }
        r.headers.push("From", self.local_uri.to_string());
        r.headers.push("To", self.remote_uri.to_string());
        r.headers.push("Call-ID", self.id.call_id.clone());
        r.headers.push("CSeq", CSeq { seq, method }.to_string());
        r.headers.push("Contact", self.local_contact.to_string());
        r
    }
}

/// The CANCEL for a pending INVITE (§9.1): same Request-URI, Call-ID, To, From, CSeq number
/// and top Via (so the same branch), and the same Route headers.
pub fn build_cancel(invite: &Request) -> Result<Request> {
    let mut c = Request::new(Method::Cancel, invite.uri.clone());
    let via = invite
        .headers
        .get_list("Via")
        .next()
        .ok_or_else(|| SipError::malformed("missing Via"))?;
    c.headers.push("Via", via);
    c.headers.push("Max-Forwards", "70");
    for r in invite.headers.get_all("Route") {
        c.headers.push("Route", r);
    }
    c.headers
        .push("From", invite.headers.get("From").unwrap_or_default());
    c.headers
        .push("To", invite.headers.get("To").unwrap_or_default());
    c.headers.push("Call-ID", invite.headers.call_id()?);
    c.headers
        .push("CSeq", format!("{} CANCEL", invite.headers.cseq()?.seq));
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Host;

    fn invite() -> Request {
        Request::parse(
            b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKinv\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\nCall-ID: d1\r\n\
CSeq: 10 INVITE\r\nContact: <sip:alice@192.0.2.1>\r\nRoute: <sip:edge.example.com;lr>\r\n\r\n",
        )
        .unwrap()
    }

    fn via() -> Via {
        Via::new("UDP", Host::V4([192, 0, 2, 1].into()), None, "z9hG4bKnew")
    }

    #[test]
    fn uac_route_set_is_reversed_record_route_and_loose_routing() {
        // §12.1.2: route set = Record-Route in reverse; §12.2.1.1 loose routing.
        let inv = invite();
        let mut ok = inv.reply(200, "OK", Some("b"));
        ok.headers.push(
            "Record-Route",
            "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>",
        );
        ok.headers.push("Contact", "<sip:bob@192.0.2.2:5062>");
        let mut d = Dialog::uac(&inv, &ok).unwrap();
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(
            d.id,
            DialogId {
                call_id: "d1".into(),
                local_tag: "a".into(),
                remote_tag: "b".into()
            }
        );
        let bye = d.new_request(Method::Bye, &via());
        assert_eq!(bye.uri.to_string(), "sip:bob@192.0.2.2:5062");
        let routes = route_uris(&bye);
        assert_eq!(routes, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
        assert_eq!(bye.headers.cseq().unwrap().seq, 11);
        assert_eq!(bye.headers.to().unwrap().tag(), Some("b"));
        let ack = d.ack(10, &via());
        assert_eq!(ack.headers.cseq().unwrap().to_string(), "10 ACK");
        assert_eq!(d.local_seq, 11, "ACK takes no CSeq number");
    }

    /// The URIs of a request's Route headers, in order.
    fn route_uris(req: &Request) -> Vec<String> {
        req.headers
            .routes()
            .unwrap()
            .iter()
            .map(|r| r.uri.to_string())
            .collect()
    }

    #[test]
    fn strict_route_puts_first_route_in_request_uri() {
        let inv = invite();
        let mut ok = inv.reply(200, "OK", Some("b"));
        ok.headers.push("Record-Route", "<sip:strict.example.com>");
        ok.headers.push("Contact", "<sip:bob@192.0.2.2>");
        let mut d = Dialog::uac(&inv, &ok).unwrap();
        let bye = d.new_request(Method::Bye, &via());
        assert_eq!(bye.uri.to_string(), "sip:strict.example.com");
        let routes = route_uris(&bye);
        assert_eq!(routes, ["sip:bob@192.0.2.2"]);
    }

    #[test]
    fn uas_cseq_order_and_target_refresh() {
        let inv = invite();
        let mut d =
            Dialog::uas(&inv, "b", NameAddr::parse("<sip:bob@192.0.2.2>").unwrap()).unwrap();
        assert_eq!(d.remote_seq, Some(10));
        assert_eq!(d.local_uri.tag(), Some("b"));
        let mut reinv = inv.clone();
        reinv.headers.set("CSeq", "11 INVITE");
        reinv
            .headers
            .set("Contact", "<sip:alice@198.51.100.1:7000>");
        d.handle_request(&reinv).unwrap();
        assert_eq!(d.remote_target.to_string(), "sip:alice@198.51.100.1:7000");
        let mut old = inv.clone();
        old.method = Method::Bye;
        old.headers.set("CSeq", "9 BYE");
        assert!(
            d.handle_request(&old).is_err(),
            "lower CSeq is refused (500)"
        );
    }

    #[test]
    fn cancel_matches_the_invite() {
        // §9.1: same branch, Call-ID, From, To, CSeq number, Route.
        let inv = invite();
        let c = build_cancel(&inv).unwrap();
        assert_eq!(c.method, Method::Cancel);
        assert_eq!(c.uri, inv.uri);
        assert_eq!(c.headers.top_via().unwrap().branch(), Some("z9hG4bKinv"));
        assert_eq!(c.headers.cseq().unwrap().to_string(), "10 CANCEL");
        assert_eq!(c.headers.get("Route"), inv.headers.get("Route"));
        assert_eq!(c.headers.to().unwrap().tag(), None);
    }
}
