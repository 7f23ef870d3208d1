use std::net::Ipv4Addr;

use super::*;
use crate::decode::decode;
use crate::source::{LinkType, RawPacket};
use crate::testutil::{icmp_echo_frame, tcp_frame, udp_frame};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const S: u8 = TcpFlags::SYN;
const SA: u8 = TcpFlags::SYN | TcpFlags::ACK;
const AK: u8 = TcpFlags::ACK;
const FA: u8 = TcpFlags::FIN | TcpFlags::ACK;

fn feed(table: &mut FlowTable, secs: f64, frame: &[u8]) -> Option<FlowHandle> {
    let raw = RawPacket {
        ts: Timestamp::from_micros((secs * 1e6) as i64),
        data: frame,
        orig_len: frame.len() as u32,
        link: LinkType::Ethernet,
    };
    table.update(&decode(&raw))
}

fn ended(table: &mut FlowTable) -> Vec<Flow> {
    let mut v = Vec::new();
    table.take_ended(&mut v);
    v
}

#[test]
fn both_directions_share_one_flow_and_handshake_establishes() {
    let mut t = FlowTable::new(FlowConfig::default());
    let h1 = feed(&mut t, 0.0, &tcp_frame(A, B, 5000, 80, S, b"")).unwrap();
    assert!(h1.created && h1.from_initiator);
    let h2 = feed(&mut t, 0.1, &tcp_frame(B, A, 80, 5000, SA, b"")).unwrap();
    assert!(!h2.created && !h2.from_initiator);
    assert_eq!(t.get(h2).tcp_state, TcpState::HalfOpen);
    let h3 = feed(&mut t, 0.2, &tcp_frame(A, B, 5000, 80, AK, b"GET")).unwrap();
    let f = t.get(h3);
    assert_eq!(f.tcp_state, TcpState::Established);
    assert_eq!(f.to_server.packets, 2);
    assert_eq!(f.to_client.packets, 1);
    assert_eq!(f.to_server.payload_bytes, 3);
    assert_eq!((f.src_ip(), f.src_port), (A.into(), 5000));
    assert_eq!(t.stats().active, 1);
}

#[test]
fn fin_close_then_syn_reuse_starts_a_new_flow() {
    let mut t = FlowTable::new(FlowConfig::default());
    for (i, (src, dst, sp, dp, fl)) in [
        (A, B, 5000, 80, S),
        (B, A, 80, 5000, SA),
        (A, B, 5000, 80, AK),
        (A, B, 5000, 80, FA),
        (B, A, 80, 5000, FA),
    ]
    .into_iter()
    .enumerate()
    {
        feed(
            &mut t,
            i as f64 * 0.01,
            &tcp_frame(src, dst, sp, dp, fl, b""),
        );
    }
    let last = feed(&mut t, 0.06, &tcp_frame(A, B, 5000, 80, AK, b"")).unwrap();
    assert_eq!(t.get(last).tcp_state, TcpState::ClosedFin);
    let again = feed(&mut t, 1.0, &tcp_frame(A, B, 5000, 80, S, b"")).unwrap();
    assert!(again.created);
    let done = ended(&mut t);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].end_reason, FlowEndReason::Reused);
    assert_eq!(done[0].packets(), 6);
    assert_ne!(done[0].id, t.get(again).id);
}

#[test]
fn rst_answer_is_closed_by_rst() {
    let mut t = FlowTable::new(FlowConfig::default());
    feed(&mut t, 0.0, &tcp_frame(A, B, 5000, 81, S, b""));
    let h = feed(
        &mut t,
        0.0,
        &tcp_frame(B, A, 81, 5000, TcpFlags::RST | AK, b""),
    )
    .unwrap();
    assert_eq!(t.get(h).tcp_state, TcpState::ClosedRst);
}

#[test]
fn idle_timeouts_differ_per_protocol() {
    let cfg = FlowConfig {
        udp_timeout_secs: 10,
        tcp_new_timeout_secs: 100,
        ..FlowConfig::default()
    };
    let mut t = FlowTable::new(cfg);
    feed(&mut t, 0.0, &udp_frame(A, B, 1111, 53, b"q"));
    feed(&mut t, 0.0, &tcp_frame(A, B, 5000, 80, S, b""));
    // 11 s later only the UDP flow has timed out.
    feed(&mut t, 11.0, &udp_frame(A, B, 2222, 53, b"q"));
    assert!(ended(&mut t).is_empty(), "update does not expire");
    t.expire(Timestamp::from_micros(11_000_000));
    let done = ended(&mut t);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].key.protocol, 17);
    assert_eq!(done[0].end_reason, FlowEndReason::Timeout);
    t.expire(Timestamp::from_micros(101_000_000));
    assert_eq!(ended(&mut t).len(), 2);
}

#[test]
fn cap_evicts_and_counts() {
    let cfg = FlowConfig {
        max_flows: 3,
        ..FlowConfig::default()
    };
    let mut t = FlowTable::new(cfg);
    for port in 0..10u16 {
        feed(
            &mut t,
            f64::from(port),
            &tcp_frame(A, B, 1000 + port, 80, S, b""),
        );
    }
    assert_eq!(t.stats().active, 3);
    assert_eq!(t.stats().evicted, 7);
    let done = ended(&mut t);
    assert_eq!(done.len(), 7);
    assert!(done.iter().all(|f| f.end_reason == FlowEndReason::Evicted));
    // The oldest went first.
    assert_eq!(done[0].src_port, 1000);
}

#[test]
fn eviction_spares_established_connections() {
    let cfg = FlowConfig {
        max_flows: 2,
        ..FlowConfig::default()
    };
    let mut t = FlowTable::new(cfg);
    feed(&mut t, 0.0, &tcp_frame(A, B, 5000, 22, S, b""));
    feed(&mut t, 0.0, &tcp_frame(B, A, 22, 5000, SA, b""));
    feed(&mut t, 0.0, &tcp_frame(A, B, 5000, 22, AK, b""));
    for port in 0..5u16 {
        feed(&mut t, 1.0, &tcp_frame(A, B, 6000 + port, 80, S, b""));
    }
    assert!(t.iter().any(|f| f.dst_port == 22));
}

#[test]
fn icmp_echo_request_and_reply_are_one_flow() {
    let mut t = FlowTable::new(FlowConfig::default());
    let a = feed(&mut t, 0.0, &icmp_echo_frame(A, B, false, 1)).unwrap();
    let b = feed(&mut t, 0.0, &icmp_echo_frame(B, A, true, 1)).unwrap();
    assert!(a.created && !b.created);
    let f = t.get(b);
    assert_eq!(f.packets(), 2);
    assert_eq!((f.src_port, f.dst_port), (8, 0));
    assert_eq!(
        f.community_id(),
        community_id(0, B.into(), A.into(), 1, 0, 0),
        "reply direction gives the same id"
    );
}

#[test]
fn finish_ends_all_in_creation_order() {
    let mut t = FlowTable::new(FlowConfig::default());
    feed(&mut t, 0.0, &udp_frame(A, B, 3, 4, b""));
    feed(&mut t, 0.0, &udp_frame(A, B, 1, 2, b""));
    t.finish();
    let done = ended(&mut t);
    assert_eq!(done.iter().map(|f| f.id.0).collect::<Vec<_>>(), vec![1, 2]);
    assert!(
        done.iter()
            .all(|f| f.end_reason == FlowEndReason::EndOfCapture)
    );
    assert_eq!(t.stats().active, 0);
}

#[test]
fn bytes_per_flow_stays_small() {
    // Recorded in docs/BENCHMARKS.md; a regression here doubles the memory of a flood.
    let n = FlowTable::bytes_per_flow();
    eprintln!("bytes per flow: {n} (Flow {})", size_of::<Flow>());
    assert!(n <= 200, "{n} bytes per flow");
}
