//! SOCKS5 replies from a proxy (RFC 1928 §6, RFC 1929) never panic, and a parsed reply
//! length is never beyond the bytes given; request builders stay well-formed for any host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_xmpp::socks5;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = socks5::parse_connect_reply(data) {
        assert!(n <= data.len() && n >= 7); // shortest: ATYP 3 with an empty name
    }
    if let [a, b, ..] = data {
        let _ = socks5::check_method_choice([*a, *b], a & 1 == 1);
        let _ = socks5::check_auth_reply([*a, *b]);
    }
    let host = String::from_utf8_lossy(data);
    if let Ok(req) = socks5::connect_request(&host, 5222) {
        assert_eq!(&req[..3], &[5, 1, 0]);
        assert_eq!(&req[req.len() - 2..], &5222u16.to_be_bytes());
        if req[3] == 3 {
            assert_eq!(usize::from(req[4]), req.len() - 7);
        }
    }
});
