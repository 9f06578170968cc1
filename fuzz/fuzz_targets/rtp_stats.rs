//! Drives the receiver statistics, sequence extender and RFC 4733 receiver with arbitrary
//! packets: none of them may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_proto::Ssrc;
use sotto_rtp::{DtmfReceiver, ReceiverStats, SeqExtender};

fuzz_target!(|data: &[u8]| {
    let mut stats = ReceiverStats::new(Ssrc(1), 48_000, 0);
    let mut ext = SeqExtender::new();
    let mut dtmf = DtmfReceiver::new();
    for chunk in data.chunks_exact(10) {
        let arrival = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let seq = u16::from_be_bytes([chunk[4], chunk[5]]);
        let ts = u32::from_be_bytes([chunk[6], chunk[7], chunk[8], chunk[9]]);
        stats.on_packet_units(arrival, seq, ts);
        let _ = ext.extend(seq);
        let _ = dtmf.on_packet(ts, &chunk[4..8]);
        if seq % 7 == 0 {
            let _ = stats.report_block(0, 0);
        }
    }
});
