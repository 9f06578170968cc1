//! SOCKS5 client handshake (RFC 1928) with optional username/password (RFC 1929).
//!
//! The destination is always sent as ATYP=DOMAINNAME (or as the IP literal it already is),
//! so the proxy resolves the name: with Tor, no DNS query leaves this machine. The byte
//! builders and the reply parser are pure functions (tested against the RFC layouts and
//! fuzzed); [`handshake`] drives them over a stream.

use crate::XmppError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const VER: u8 = 5;
/// RFC 1928 §3 method: no authentication required.
pub const METHOD_NONE: u8 = 0x00;
/// RFC 1928 §3 method: username/password (RFC 1929).
pub const METHOD_USERPASS: u8 = 0x02;
/// RFC 1928 §3: no acceptable methods.
pub const METHOD_UNACCEPTABLE: u8 = 0xFF;

fn perr(s: impl Into<String>) -> XmppError {
    XmppError::Proxy(s.into())
}

/// Version identifier/method selection message (RFC 1928 §3): we offer "no auth" only, or
/// username/password only when credentials are configured (so a proxy cannot downgrade
/// us to unauthenticated, which would break Tor stream isolation).
pub fn greeting(with_auth: bool) -> Vec<u8> {
    if with_auth {
        vec![VER, 1, METHOD_USERPASS]
    } else {
        vec![VER, 1, METHOD_NONE]
    }
}

/// Check the proxy's method selection (RFC 1928 §3) against what we offered.
pub fn check_method_choice(reply: [u8; 2], with_auth: bool) -> Result<u8, XmppError> {
    let [ver, method] = reply;
    if ver != VER {
        return Err(perr(format!("not a SOCKS5 proxy (version {ver})")));
    }
    let wanted = if with_auth {
        METHOD_USERPASS
    } else {
        METHOD_NONE
    };
    if method == METHOD_UNACCEPTABLE {
        return Err(perr("proxy accepts none of our authentication methods"));
    }
    if method != wanted {
        return Err(perr(format!(
            "proxy chose method {method:#04x} we did not offer"
        )));
    }
    Ok(method)
}

/// Username/password request (RFC 1929 §2): `01 ULEN UNAME PLEN PASSWD`.
pub fn auth_request(user: &str, pass: &str) -> Result<Vec<u8>, XmppError> {
    let (u, p) = (user.as_bytes(), pass.as_bytes());
    let ulen = u8::try_from(u.len())
        .map_err(|_| XmppError::Misuse("SOCKS5 username longer than 255 bytes".into()))?;
    let plen = u8::try_from(p.len())
        .map_err(|_| XmppError::Misuse("SOCKS5 password longer than 255 bytes".into()))?;
    if ulen == 0 {
        return Err(XmppError::Misuse("SOCKS5 username is empty".into()));
    }
    let mut v = Vec::with_capacity(3 + u.len() + p.len());
    v.push(1);
    v.push(ulen);
    v.extend_from_slice(u);
    v.push(plen);
    v.extend_from_slice(p);
    Ok(v)
}

/// Check the RFC 1929 §2 status reply: `01 00` is success.
pub fn check_auth_reply(reply: [u8; 2]) -> Result<(), XmppError> {
    match reply {
        [1, 0] => Ok(()),
        [1, _] => Err(perr("proxy rejected the username/password")),
        _ => Err(perr("malformed username/password reply")),
    }
}

/// CONNECT request (RFC 1928 §4): `05 01 00 ATYP DST.ADDR DST.PORT`. An IP literal goes as
/// ATYP 1 or 4; any other host as ATYP 3 (DOMAINNAME), unresolved.
pub fn connect_request(host: &str, port: u16) -> Result<Vec<u8>, XmppError> {
    let mut v = vec![VER, 1, 0];
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        v.push(1);
        v.extend_from_slice(&ip.octets());
    } else if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::Ipv6Addr>()
    {
        v.push(4);
        v.extend_from_slice(&ip.octets());
    } else {
        let len = u8::try_from(host.len())
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| {
                XmppError::Misuse("host name must be 1..=255 bytes for SOCKS5".into())
            })?;
        v.push(3);
        v.push(len);
        v.extend_from_slice(host.as_bytes());
    }
    v.extend_from_slice(&port.to_be_bytes());
    Ok(v)
}

/// Parse (a prefix of) the CONNECT reply (RFC 1928 §6). `Ok(None)`: need more bytes;
/// `Ok(Some(n))`: success, the reply is the first `n` bytes; `Err`: refused or malformed.
pub fn parse_connect_reply(buf: &[u8]) -> Result<Option<usize>, XmppError> {
    let (Some(&ver), Some(&rep)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if ver != VER {
        return Err(perr(format!("bad reply version {ver}")));
    }
    if rep != 0 {
        return Err(perr(reply_text(rep)));
    }
    let Some(&atyp) = buf.get(3) else {
        return Ok(None);
    };
    let addr_len = match atyp {
        1 => 4,
        4 => 16,
        3 => match buf.get(4) {
            Some(&l) => 1 + usize::from(l),
            None => return Ok(None),
        },
        other => return Err(perr(format!("bad address type {other} in reply"))),
    };
    let total = 4 + addr_len + 2;
    Ok((buf.len() >= total).then_some(total))
}

/// RFC 1928 §6 reply field meanings.
pub fn reply_text(rep: u8) -> String {
    let s = match rep {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => return format!("unknown reply code {rep:#04x}"),
    };
    s.to_owned()
}

/// Run the client side of the handshake on `s` (already connected to the proxy) for
/// `host:port`. On success the stream carries the tunnelled connection.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    host: &str,
    port: u16,
    auth: Option<(&str, &str)>,
) -> Result<(), XmppError> {
    let io = |e: std::io::Error| perr(format!("I/O with the proxy: {e}"));
    let connect = connect_request(host, port)?;
    s.write_all(&greeting(auth.is_some())).await.map_err(io)?;
    let mut two = [0u8; 2];
    s.read_exact(&mut two).await.map_err(io)?;
    check_method_choice(two, auth.is_some())?;
    if let Some((u, p)) = auth {
        let req = zeroize::Zeroizing::new(auth_request(u, p)?);
        s.write_all(&req).await.map_err(io)?;
        s.read_exact(&mut two).await.map_err(io)?;
        check_auth_reply(two)?;
    }
    s.write_all(&connect).await.map_err(io)?;
    let mut buf = Vec::with_capacity(32);
    loop {
        if parse_connect_reply(&buf)?.is_some() {
            // The reply is complete; nothing after it belongs to SOCKS (we read byte-wise).
            return Ok(());
        }
        let b = s.read_u8().await.map_err(io)?;
        buf.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1928_greetings_and_method_choice() {
        // §3: VER NMETHODS METHODS.
        assert_eq!(greeting(false), [0x05, 0x01, 0x00]);
        assert_eq!(greeting(true), [0x05, 0x01, 0x02]);
        assert_eq!(check_method_choice([5, 0], false).unwrap(), 0);
        assert_eq!(check_method_choice([5, 2], true).unwrap(), 2);
        assert!(check_method_choice([5, 0xFF], false).is_err());
        assert!(
            check_method_choice([5, 0], true).is_err(),
            "downgrade to no-auth refused"
        );
        assert!(check_method_choice([4, 0], false).is_err());
    }

    #[test]
    fn rfc1928_connect_request_domainname() {
        // §4/§5: VER CMD RSV ATYP=3 len name port(network order).
        assert_eq!(
            connect_request("xmpp.example.org", 5222).unwrap(),
            [&[5, 1, 0, 3, 16][..], b"xmpp.example.org", &[0x14, 0x66]].concat()
        );
        assert_eq!(
            connect_request("127.0.0.1", 5223).unwrap(),
            [5, 1, 0, 1, 127, 0, 0, 1, 0x14, 0x67]
        );
        let v6 = connect_request("[::1]", 1).unwrap();
        assert_eq!(v6.len(), 4 + 16 + 2);
        assert_eq!(v6[3], 4);
        assert!(connect_request("", 1).is_err());
        assert!(connect_request(&"a".repeat(256), 1).is_err());
        // A .onion name stays a name.
        assert_eq!(connect_request("abc.onion", 5222).unwrap()[3], 3);
    }

    #[test]
    fn rfc1929_auth_request_and_reply() {
        assert_eq!(
            auth_request("me", "pw").unwrap(),
            [1, 2, b'm', b'e', 2, b'p', b'w']
        );
        assert!(auth_request("", "pw").is_err());
        assert!(auth_request("u", &"p".repeat(256)).is_err());
        assert!(check_auth_reply([1, 0]).is_ok());
        assert!(check_auth_reply([1, 1]).is_err());
    }

    #[test]
    fn rfc1928_replies() {
        let ok4 = [5, 0, 0, 1, 10, 0, 0, 1, 0x1F, 0x90];
        for n in 0..ok4.len() {
            assert_eq!(parse_connect_reply(&ok4[..n]).unwrap(), None, "prefix {n}");
        }
        assert_eq!(parse_connect_reply(&ok4).unwrap(), Some(10));
        let okname = [&[5, 0, 0, 3, 3][..], b"abc", &[0, 80]].concat();
        assert_eq!(parse_connect_reply(&okname).unwrap(), Some(10));
        assert_eq!(parse_connect_reply(&[5, 0, 0, 4]).unwrap(), None);
        let e = parse_connect_reply(&[5, 5, 0, 1]).unwrap_err();
        assert!(e.to_string().contains("connection refused"));
        assert!(parse_connect_reply(&[5, 0, 0, 9]).is_err());
        assert!(parse_connect_reply(&[1, 0]).is_err());
    }

    #[tokio::test]
    async fn handshake_over_an_in_memory_pipe() {
        let (mut c, mut p) = tokio::io::duplex(256);
        let proxy = tokio::spawn(async move {
            let mut g = [0u8; 3];
            p.read_exact(&mut g).await.unwrap();
            assert_eq!(g, [5, 1, 2]);
            p.write_all(&[5, 2]).await.unwrap();
            let mut a = [0u8; 7];
            p.read_exact(&mut a).await.unwrap();
            assert_eq!(a, [1, 2, b'u', b'1', 2, b'p', b'1']);
            p.write_all(&[1, 0]).await.unwrap();
            let mut r = [0u8; 5 + 9 + 2];
            p.read_exact(&mut r).await.unwrap();
            assert_eq!(&r[..5], &[5, 1, 0, 3, 9]);
            assert_eq!(&r[5..14], b"sotto.tst");
            p.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0, b'X'])
                .await
                .unwrap();
            p
        });
        handshake(&mut c, "sotto.tst", 5222, Some(("u1", "p1")))
            .await
            .unwrap();
        let _p = proxy.await.unwrap();
        // The byte after the reply is the tunnel's first byte, not eaten by the handshake.
        assert_eq!(c.read_u8().await.unwrap(), b'X');
    }
}
