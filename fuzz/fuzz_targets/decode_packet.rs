//! Any bytes, as a frame of any link type: decoding never panics, and the fast path gives
//! exactly the reference (etherparse lax) result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netsentinel_core::{LinkType, RawPacket, Timestamp, decode, decode_reference};

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

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(selector) % LINKS.len()];
    // Half the inputs claim a longer wire length, as a snap-length cut would.
    let orig_len = frame.len() as u32 + u32::from(selector & 0x80 != 0) * 100;
    let raw = RawPacket { ts: Timestamp::ZERO, data: frame, orig_len, link };
    assert_eq!(decode(&raw), decode_reference(&raw));
});
