//! Synthetic captures for benchmarks: deterministic, no randomness from the OS.

use std::net::Ipv4Addr;

pub mod hostile;

use netsentinel_core::TcpFlags;
use netsentinel_core::Timestamp;
use netsentinel_core::testutil::{icmp_echo_frame, tcp_frame, udp_frame};

/// A small deterministic generator (64-bit LCG, Knuth's MMIX constants).
pub struct Lcg(u64);

impl Lcg {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Lcg(seed)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 32) as u32
    }
}

/// A traffic mix like an office uplink: `packets` frames over `flows` concurrent TCP
/// connections (handshake, data both ways, FIN close; each connection's packets come in
/// bursts of 1 to 8, like a TCP window), DNS over UDP (a query and its answer, a new flow
/// each), and pings; one packet every 20 µs of packet time.
pub fn office_mix(packets: usize, flows: u32) -> Vec<(Timestamp, Vec<u8>)> {
    let mut rng = Lcg::new(42);
    let mut out = Vec::with_capacity(packets);
    let payload = vec![0x41u8; 1200];
    let mut t = 1_700_000_000_000_000i64;
    let mut conn_step = vec![0u32; flows as usize];
    let mut conn_gen = vec![0u16; flows as usize];
    let mut burst: Option<(usize, u32)> = None;
    while out.len() + 1 < packets {
        t += 20;
        let ts = Timestamp::from_micros(t);
        let r = rng.next_u32();
        let frame = match r % 100 {
            0..=79 => {
                let c = match burst {
                    Some((c, left)) if left > 0 => {
                        burst = Some((c, left - 1));
                        c
                    }
                    _ => {
                        let c = (rng.next_u32() % flows) as usize;
                        burst = Some((c, rng.next_u32() % 8));
                        c
                    }
                };
                let client = Ipv4Addr::from(0x0a00_0000 | (c as u32 % 250 + 2));
                let server = Ipv4Addr::from(0xcb00_7100 | (c as u32 % 200 + 1));
                let sport = 10_000 + (c as u16 % 50_000) + conn_gen[c];
                let step = conn_step[c];
                conn_step[c] = (step + 1) % 24;
                if conn_step[c] == 0 {
                    conn_gen[c] = conn_gen[c].wrapping_add(1);
                }
                let (from_client, flags, len) = match step {
                    0 => (true, TcpFlags::SYN, 0),
                    1 => (false, TcpFlags::SYN | TcpFlags::ACK, 0),
                    2 => (true, TcpFlags::ACK, 0),
                    21 => (true, TcpFlags::FIN | TcpFlags::ACK, 0),
                    22 => (false, TcpFlags::FIN | TcpFlags::ACK, 0),
                    23 => (true, TcpFlags::ACK, 0),
                    s if s % 3 == 0 => (true, TcpFlags::ACK | TcpFlags::PSH, 200),
                    _ => (false, TcpFlags::ACK, 1200),
                };
                if from_client {
                    tcp_frame(client, server, sport, 443, flags, &payload[..len])
                } else {
                    tcp_frame(server, client, 443, sport, flags, &payload[..len])
                }
            }
            80..=94 => {
                // A DNS query and its answer: one flow of two packets.
                let client = Ipv4Addr::from(0x0a00_0000 | (r % 250 + 2));
                let sport = 30_000 + (rng.next_u32() % 30_000) as u16;
                let resolver = Ipv4Addr::new(10, 0, 0, 1);
                out.push((
                    ts,
                    udp_frame(client, resolver, sport, 53, b"query-name-example-com"),
                ));
                t += 20;
                udp_frame(resolver, client, 53, sport, &payload[..120])
            }
            _ => icmp_echo_frame(
                Ipv4Addr::new(10, 0, 0, 5),
                Ipv4Addr::new(10, 0, 0, 1),
                r.is_multiple_of(2),
                r as u16,
            ),
        };
        out.push((ts, frame));
    }
    out
}

/// A SYN flood from `sources` distinct spoofed IPv4 sources to one victim, one SYN each.
pub fn spoofed_syn_flood(sources: u32) -> Vec<(Timestamp, Vec<u8>)> {
    let mut rng = Lcg::new(7);
    let victim = Ipv4Addr::new(10, 10, 0, 10);
    (0..sources)
        .map(|i| {
            // Distinct sources: the counter spread over the address space by an odd multiplier.
            let src = Ipv4Addr::from(i.wrapping_mul(2_654_435_761) | 1);
            let sport = 1024 + (rng.next_u32() % 60_000) as u16;
            let ts = Timestamp::from_micros(1_700_000_000_000_000 + i64::from(i) * 2);
            (ts, tcp_frame(src, victim, sport, 80, TcpFlags::SYN, b""))
        })
        .collect()
}
