//! Every input fuzzing ever failed on, replayed with the check of its target: the files in
//! `tests/data/fuzz/<target>/` (named for what they found). `decode_packet`: the first
//! byte picks the link type as in `fuzz/fuzz_targets/decode_packet.rs`, and the fast
//! decoder must equal the reference one.

use std::path::Path;

use netsentinel_core::{LinkType, RawPacket, Timestamp, decode, decode_reference};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/fuzz")
        .join(target);
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn decode_packet_regressions() {
    const LINKS: [LinkType; 8] = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::RawIp,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Null,
        LinkType::Loop,
    ];
    let found = inputs("decode_packet");
    assert!(!found.is_empty());
    for (name, data) in found {
        let Some((&selector, frame)) = data.split_first() else {
            continue;
        };
        let raw = RawPacket {
            ts: Timestamp::ZERO,
            data: frame,
            orig_len: frame.len() as u32 + u32::from(selector & 0x80 != 0) * 100,
            link: LINKS[usize::from(selector) % LINKS.len()],
        };
        assert_eq!(decode(&raw), decode_reference(&raw), "{name}");
    }
}
