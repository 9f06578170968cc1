//! Drives `sotto_proto::Reader` with a fuzzer-chosen program of reads over fuzzer-chosen bytes:
//! no sequence of reads may panic, and positions must stay consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_proto::Reader;

fuzz_target!(|input: &[u8]| {
    // The first half of the input is the program, the second the data.
    let (program, data) = input.split_at(input.len() / 2);
    let mut r = Reader::new(data);
    for &op in program {
        let before = r.remaining();
        let ok = match op % 9 {
            0 => r.u8().is_ok(),
            1 => r.u16().is_ok(),
            2 => r.u24().is_ok(),
            3 => r.u32().is_ok(),
            4 => r.u64().is_ok(),
            5 => r.take(usize::from(op / 9)).is_ok(),
            6 => r.take_array::<16>().is_ok(),
            7 => r.skip(usize::from(op)).is_ok(),
            _ => r.peek(usize::from(op / 9)).is_ok(),
        };
        assert!(r.remaining() <= before);
        if !ok {
            assert_eq!(r.remaining(), before, "a failed read must consume nothing");
        }
    }
    let left = r.remaining();
    assert_eq!(r.finish().is_ok(), left == 0);
});
