//! OTR fragments (v3 `?OTR|s|r,k,n,piece,` and v2 `?OTR,k,n,piece,`) and their reassembly
//! never panic; lines are fed in order to one reassembly buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_otr::text::{self, Classified, Reassembly};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let mut re = Reassembly::default();
    for line in s.split('\n') {
        if let Ok(Classified::Fragment(f)) = text::classify(line) {
            if let Some(whole) = re.push(&f) {
                let _ = text::classify(&whole);
            }
        }
    }
    // Splitting never panics and stays within the size asked for.
    let max = 40 + (data.first().copied().unwrap_or(0) as usize);
    if let Ok(frags) = text::fragment(&s, max, Some((0x100, 0x200))) {
        assert!(frags.iter().all(|f| f.len() <= max || frags.len() == 1));
    }
});
