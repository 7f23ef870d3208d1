//! Any bytes as both sides of a TCP conversation with a well-known server port (FTP,
//! Telnet, SMTP, HTTP, POP3, IMAP, LDAP, SMB, MySQL, PostgreSQL, VNC, Redis, IRC, SIP,
//! MongoDB, RTSP, Kerberos), through reassembly and every built-in detector: the
//! credential and secret parsers see arbitrary streams, in order, out of order and with
//! gaps. Never panics.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use netsentinel_core::testutil::tcp_segment;
use netsentinel_core::{CollectSink, Engine, EngineConfig, LinkType, RawPacket, TcpFlags, Timestamp};

const PORTS: [u16; 18] = [
    21, 23, 25, 80, 110, 143, 389, 445, 3306, 5432, 5900, 6379, 6667, 5060, 27017, 554, 88, 8080,
];

fuzz_target!(|data: &[u8]| {
    let [port_byte, rest @ ..] = data else {
        return;
    };
    let port = PORTS[usize::from(*port_byte) % PORTS.len()];
    let mut config = EngineConfig::default();
    // Tables sized for a million flows cost more to make than the run: small ones here.
    config.flow.max_flows = 64;
    let Ok(mut engine) = Engine::builder(config)
        .builtin_detectors()
        .sink(CollectSink::new())
        .build()
    else {
        return;
    };
    let client = Ipv4Addr::new(10, 1, 0, 5);
    let server = Ipv4Addr::new(10, 1, 0, 9);
    let mut ts = Timestamp::from_micros(1_700_000_000_000_000);
    let feed = |engine: &mut Engine, frame: Vec<u8>, ts: Timestamp| {
        let raw = RawPacket { ts, data: &frame, orig_len: frame.len() as u32, link: LinkType::Ethernet };
        let _ = engine.process(&raw);
    };
    let syn = tcp_segment(client, server, 40000, port, TcpFlags::SYN, 0, b"");
    feed(&mut engine, syn, ts);
    let synack =
        tcp_segment(server, client, port, 40000, TcpFlags::SYN | TcpFlags::ACK, 0, b"");
    feed(&mut engine, synack, ts);
    // Each chunk: a control byte (bit 0: direction, bit 1: skip ahead to make a gap or a
    // reordering, bits 2-7: length / 4), then the payload.
    let (mut client_seq, mut server_seq) = (1u32, 1u32);
    let mut input = rest;
    while let [control, tail @ ..] = input {
        let len = (usize::from(control >> 2) * 4).min(tail.len());
        let (payload, next) = tail.split_at(len);
        input = next;
        ts = ts.add_micros(1000);
        let from_client = control & 1 == 0;
        let seq = if from_client { &mut client_seq } else { &mut server_seq };
        if control & 2 != 0 {
            *seq = seq.wrapping_add(len as u32 / 2 + 1);
        }
        let frame = if from_client {
            tcp_segment(client, server, 40000, port, TcpFlags::ACK | TcpFlags::PSH, *seq, payload)
        } else {
            tcp_segment(server, client, port, 40000, TcpFlags::ACK | TcpFlags::PSH, *seq, payload)
        };
        *seq = seq.wrapping_add(len as u32);
        feed(&mut engine, frame, ts);
    }
    let _ = engine.finish();
});
