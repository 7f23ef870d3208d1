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
fn flows_still_to_end_at_end_of_capture_are_listed() {
    let mut t = FlowTable::new(FlowConfig::default());
    for port in 1..=5 {
        feed(&mut t, 0.0, &udp_frame(A, B, port, 53, b""));
    }
    assert!(t.finish_some(2));
    assert_eq!(ended(&mut t).len(), 2);
    let listed: Vec<u64> = t.iter().map(|f| f.id.0).collect();
    assert_eq!(listed.len() as u64, t.stats().active);
    assert_eq!(listed.len(), 3);
    // A packet between two calls starts a new flow, listed too, and is not ended by them.
    feed(&mut t, 1.0, &udp_frame(A, B, 1, 53, b""));
    assert_eq!(t.iter().count(), 4);
    assert!(!t.finish_some(10));
    assert_eq!(ended(&mut t).len(), 3);
    assert_eq!(t.iter().map(|f| f.id.0).collect::<Vec<_>>(), vec![6]);
    t.finish();
    assert_eq!(ended(&mut t).len(), 1);
    assert_eq!(t.iter().count(), 0);
}

#[test]
fn a_flow_is_numbered_by_the_packet_that_created_it() {
    let mut t = FlowTable::new(FlowConfig::default());
    assert!(
        feed(&mut t, 0.0, &[0u8; 6]).is_none(),
        "no IP layer, no flow"
    );
    let first = feed(&mut t, 0.0, &udp_frame(A, B, 1, 53, b"q")).unwrap();
    feed(&mut t, 0.0, &udp_frame(B, A, 53, 1, b"a"));
    let second = feed(&mut t, 0.0, &udp_frame(A, B, 2, 53, b"q")).unwrap();
    assert_eq!((t.get(first).id, t.get(second).id), (FlowId(2), FlowId(4)));
}

/// Sixteen shards of two flows each: every shard evicts among its own flows, the table
/// never holds more than its cap, and the end of capture still goes in creation order.
#[test]
fn shards_share_the_cap_and_end_flows_in_creation_order() {
    let config = FlowConfig {
        max_flows: 32,
        shards: 16,
        ..FlowConfig::default()
    };
    let mut t = FlowTable::new(config);
    assert_eq!(t.shard_count(), 16);
    for port in 0..200u16 {
        feed(
            &mut t,
            f64::from(port),
            &udp_frame(A, B, 1000 + port, 53, b"q"),
        );
        assert!(t.stats().active <= 32);
    }
    let stats = t.stats();
    assert_eq!(stats.created, 200);
    assert_eq!(stats.evicted, 200 - stats.active);
    assert_eq!(stats.peak_active, stats.active);
    // Evicting within a shard ends a flow younger than the table's oldest: with one
    // global order only the oldest would go. Here 200 flows over 16 shards fill each.
    assert!(stats.active > 16, "{stats:?}");
    ended(&mut t);
    t.finish();
    let ids: Vec<u64> = ended(&mut t).iter().map(|f| f.id.0).collect();
    assert_eq!(ids.len() as u64, stats.active);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

/// Which flows share a shard does not depend on the table (whose index hashes with a
/// seed of its own): two tables given the same packets end the same flows the same way,
/// which a parallel run relies on.
#[test]
fn every_table_splits_flows_alike() {
    let config = FlowConfig {
        max_flows: 24,
        shards: 8,
        ..FlowConfig::default()
    };
    let run = || {
        let mut t = FlowTable::new(config.clone());
        let mut done = Vec::new();
        for i in 0..300u16 {
            let frame = udp_frame(
                A,
                Ipv4Addr::from(0x0a00_0100 + u32::from(i % 50)),
                i,
                53,
                b"",
            );
            feed(&mut t, f64::from(i) / 10.0, &frame);
            if i % 20 == 0 {
                t.expire(Timestamp::from_micros(i64::from(i) * 100_000));
            }
            t.take_ended(&mut done);
        }
        t.finish();
        t.take_ended(&mut done);
        done.iter()
            .map(|f| (f.id, f.key, f.end_reason))
            .collect::<Vec<_>>()
    };
    let first = run();
    assert!(first.iter().any(|f| f.2 == FlowEndReason::Evicted));
    assert_eq!(first, run());
}

#[test]
fn bytes_per_flow_stays_small() {
    // Recorded in docs/BENCHMARKS.md; a regression here doubles the memory of a flood.
    let n = FlowTable::bytes_per_flow();
    eprintln!("bytes per flow: {n} (Flow {})", size_of::<Flow>());
    assert!(n <= 200, "{n} bytes per flow");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Random packets among a few endpoints, with a small cap and short timeouts, so flows
    /// are created, found, reused, evicted and timed out in every order: at every step no
    /// two live flows share a key, the live count is what the table says and within its
    /// cap, and in the end every packet is counted in exactly one flow.
    #[test]
    fn every_packet_lands_in_exactly_one_flow(
        max_flows in 1usize..24,
        shards in 0usize..5,
        packets in proptest::collection::vec(
            (0u8..6, 0u8..6, 0u16..4, 0u8..4, 0u8..3, 0u32..4_000_000),
            1..300,
        ),
    ) {
        let config = FlowConfig {
            max_flows,
            tcp_established_timeout_secs: 3,
            tcp_new_timeout_secs: 1,
            tcp_closed_timeout_secs: 1,
            udp_timeout_secs: 2,
            icmp_timeout_secs: 1,
            shards,
            ..FlowConfig::default()
        };
        let mut table = FlowTable::new(config);
        let mut done = Vec::new();
        let mut now = 0i64;
        let mut with_flow = 0u64;
        for (src, dst, port, flags, kind, gap) in packets {
            now += i64::from(gap);
            let (src, dst) = (Ipv4Addr::new(10, 0, 0, src), Ipv4Addr::new(10, 0, 0, dst));
            let frame = match kind {
                0 => tcp_frame(src, dst, 5000 + port, 80, [S, SA, AK, FA][usize::from(flags)], b""),
                1 => udp_frame(src, dst, 5000 + port, 53, b"q"),
                _ => icmp_echo_frame(src, dst, flags % 2 == 0, port),
            };
            if flags == 3 && kind == 1 {
                table.expire(Timestamp::from_micros(now));
            }
            if feed(&mut table, now as f64 / 1e6, &frame).is_some() {
                with_flow += 1;
            }
            table.take_ended(&mut done);
            let live: Vec<&Flow> = table.iter().collect();
            proptest::prop_assert_eq!(live.len() as u64, table.stats().active);
            proptest::prop_assert!(live.len() <= max_flows);
            let peak = table.stats().peak_active;
            proptest::prop_assert!(live.len() as u64 <= peak && peak <= max_flows as u64);
            let keys: std::collections::HashSet<FlowKey> = live.iter().map(|f| f.key).collect();
            proptest::prop_assert_eq!(keys.len(), live.len(), "two live flows share a key");
        }
        table.finish();
        table.take_ended(&mut done);
        proptest::prop_assert_eq!(table.stats().active, 0);
        proptest::prop_assert_eq!(done.iter().map(Flow::packets).sum::<u64>(), with_flow);
        let ids: std::collections::HashSet<FlowId> = done.iter().map(|f| f.id).collect();
        proptest::prop_assert_eq!(ids.len(), done.len());
    }
}
