//! Any bytes as a capture file (pcap or pcapng, recognised by magic): opening and reading
//! it never panics, never allocates without bound, and every packet decodes. Seeded with
//! the malformed tcpdump captures.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netsentinel_core::{FileSource, PacketSource, Recv, decode};

fuzz_target!(|data: &[u8]| {
    // The reader takes a path: one scratch file per fuzzing process, in memory.
    let path = std::env::temp_dir().join(format!("ns-fuzz-pcap-{}", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(mut source) = FileSource::open(&path) else {
        return;
    };
    for _ in 0..10_000 {
        match source.next_packet() {
            Ok(Recv::Packet(p)) => {
                let _ = decode(&p);
            }
            Ok(Recv::Idle) => {}
            Ok(Recv::Eof) | Err(_) => break,
        }
    }
    let _ = source.stats();
});
