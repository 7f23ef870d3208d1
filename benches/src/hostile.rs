//! Hostile traffic for the memory bounds: every pattern makes as many distinct keys as it
//! can for one kind of table (flows, scan trackers, DNS names, fragments), so a table
//! without a cap would grow with the capture.

use std::net::Ipv4Addr;

use netsentinel_core::testutil::{tcp_frame, udp_frame};
use netsentinel_core::{TcpFlags, Timestamp};

use crate::Lcg;

/// Packet time of packet `i`: 2 µs apart from a fixed start.
fn at(i: usize) -> Timestamp {
    Timestamp::from_micros(1_700_000_000_000_000 + i as i64 * 2)
}

/// Distinct addresses: the counter spread over the space by an odd multiplier.
fn spread(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(i.wrapping_mul(2_654_435_761) | 1)
}

/// Port-scan storm: `packets` SYNs from 5,000 sources at once, each sweeping the ports of
/// its own target in 10.0/16 (interleaved, so every scan is in progress together): every
/// source is a scan tracker key, every probe a flow, every source an alert.
pub fn scan_storm(packets: usize) -> Vec<(Timestamp, Vec<u8>)> {
    const SOURCES: usize = 5_000;
    (0..packets)
        .map(|i| {
            let n = (i % SOURCES) as u32;
            let src = spread(n);
            let dst = Ipv4Addr::new(10, 0, (n >> 8) as u8, n as u8);
            let port = ((i / SOURCES) % 65_535) as u16 + 1;
            (at(i), tcp_frame(src, dst, 40_000, port, TcpFlags::SYN, b""))
        })
        .collect()
}

/// A DNS query for `name` (TXT) with id `id`.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 16, 0, 1]);
    q
}

/// DNS tunnel with `packets` unique names: 100 clients, each query a new 48-hex-character
/// label under one of 1,000 domains, from a new source port.
pub fn dns_unique_names(packets: usize) -> Vec<(Timestamp, Vec<u8>)> {
    let mut rng = Lcg::new(13);
    let resolver = Ipv4Addr::new(10, 0, 0, 53);
    (0..packets)
        .map(|i| {
            let client = Ipv4Addr::new(10, 0, 1, (i % 100) as u8 + 1);
            let label: String = (0..6).map(|_| format!("{:08x}", rng.next_u32())).collect();
            let name = format!("{label}.t{}.example.com", i % 1000);
            let sport = 1024 + (i % 60_000) as u16;
            let query = dns_query(i as u16, &name);
            (at(i), udp_frame(client, resolver, sport, 53, &query))
        })
        .collect()
}

/// Fragment flood: `packets` first fragments (more-fragments set, offset 0) of UDP
/// datagrams with random IP ids from random sources, never completed.
pub fn fragment_flood(packets: usize) -> Vec<(Timestamp, Vec<u8>)> {
    let mut rng = Lcg::new(17);
    let victim = Ipv4Addr::new(10, 0, 0, 10);
    (0..packets)
        .map(|i| {
            let src = spread(rng.next_u32());
            let mut frame = udp_frame(src, victim, 5000, 9, &[0x55; 64]);
            // IPv4 header at 14: id at 18..20, flags/offset at 20..22, checksum at 24..26.
            let id = (rng.next_u32() as u16).to_be_bytes();
            frame[18..20].copy_from_slice(&id);
            frame[20] = 0x20; // more fragments
            frame[21] = 0;
            frame[24..26].copy_from_slice(&[0, 0]);
            let sum = ipv4_checksum(&frame[14..34]);
            frame[24..26].copy_from_slice(&sum.to_be_bytes());
            (at(i), frame)
        })
        .collect()
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Tiny flows: `packets` one-datagram UDP flows, every one with its own source, destination
/// and ports, across internal and external addresses.
pub fn tiny_flows(packets: usize) -> Vec<(Timestamp, Vec<u8>)> {
    let mut rng = Lcg::new(19);
    (0..packets)
        .map(|i| {
            let src = if i % 2 == 0 {
                Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8)
            } else {
                spread(rng.next_u32())
            };
            let dst = spread(rng.next_u32());
            let sport = (rng.next_u32() % 60_000) as u16 + 1024;
            let dport = (rng.next_u32() % 60_000) as u16 + 1024;
            (at(i), udp_frame(src, dst, sport, dport, b"x"))
        })
        .collect()
}
