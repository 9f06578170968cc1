//! TCP framing: any byte stream, cut anywhere, never panics the StreamDecoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_sip::StreamDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let mut d = StreamDecoder::new();
    for piece in rest.chunks(usize::from(cut).max(1)) {
        d.push(piece);
        while let Ok(Some(_)) = d.next_message() {}
    }
});
