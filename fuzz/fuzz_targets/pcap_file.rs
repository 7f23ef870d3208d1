//! Any bytes as a capture file (pcap or pcapng, recognised by magic): opening and reading
//! it never panics, never allocates without bound, and every packet decodes; what
//! `peek` shows of the packets to come is what `next_packet` then returns; the whole
//! engine (which looks ahead with `peek` to prefetch flows) runs the file without a panic.
//! Seeded with the malformed tcpdump captures.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netsentinel_core::{
    CollectSink, Engine, EngineConfig, FileSource, PacketSource, RawPacket, Recv, Timestamp,
    decode,
};

/// What a packet is, owned.
type Shown = (Timestamp, u32, Vec<u8>);

fn owned(p: &RawPacket<'_>) -> Shown {
    (p.ts, p.orig_len, p.data.to_vec())
}

fuzz_target!(|data: &[u8]| {
    // The reader takes a path: one scratch file per fuzzing process, in memory.
    let path = std::env::temp_dir().join(format!("ns-fuzz-pcap-{}", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(mut source) = FileSource::open(&path) else {
        return;
    };
    // (packet number, what peek showed of it)
    let mut promised: Vec<(usize, Shown)> = Vec::new();
    for read in 0..10_000 {
        // In order, out of order and far ahead: the source walks on from its last look
        // only when that is on the way.
        let order: &[usize] = match read % 3 {
            0 => &[0, 1, 2],
            1 => &[2, 0, 1, 3],
            _ => &[2, 40],
        };
        for &ahead in order {
            if let Some(p) = source.peek(ahead) {
                promised.push((read + ahead, owned(&p)));
            }
        }
        match source.next_packet() {
            Ok(Recv::Packet(p)) => {
                let got = owned(&p);
                for (_, want) in promised.iter().filter(|(n, _)| *n == read) {
                    assert!(*want == got, "peek showed another packet {read}");
                }
                promised.retain(|(n, _)| *n > read);
                let _ = decode(&p);
            }
            Ok(Recv::Idle) => {}
            Ok(Recv::Eof) | Err(_) => break,
        }
    }
    let _ = source.stats();

    let Ok(mut source) = FileSource::open(&path) else {
        return;
    };
    let mut config = EngineConfig::default();
    config.flow.max_flows = 16; // exercise eviction
    if let Ok(mut engine) = Engine::builder(config)
        .builtin_detectors()
        .sink(CollectSink::new())
        .build()
    {
        let _ = engine.run(&mut source);
    }
});
