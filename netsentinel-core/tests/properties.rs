//! Property tests: Welford equals two-pass statistics (and merging equals the whole),
//! flow keys and Community IDs do not depend on direction, config round-trips, captures
//! written as pcap or pcapng read back the same.

use std::net::{IpAddr, Ipv4Addr};

use netsentinel_core::ml::Welford;
use netsentinel_core::testutil::{tcp_frame, udp_frame};
use netsentinel_core::{
    EngineConfig, FlowKey, LinkType, RawPacket, Timestamp, community_id, decode,
};
use proptest::prelude::*;

fn two_pass(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (mean, xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
}

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-9 * scale.max(1.0)
}

proptest! {
    #[test]
    fn welford_equals_two_pass(xs in prop::collection::vec(-1e6f64..1e6, 1..400), split in 0usize..400) {
        let mut w = Welford::default();
        xs.iter().for_each(|&x| w.push(x));
        let (mean, var) = two_pass(&xs);
        let scale = xs.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        prop_assert!(close(w.mean(), mean, scale));
        prop_assert!(close(w.population_variance(), var, scale * scale));
        let k = split.min(xs.len());
        let (mut a, mut b) = (Welford::default(), Welford::default());
        xs[..k].iter().for_each(|&x| a.push(x));
        xs[k..].iter().for_each(|&x| b.push(x));
        a.merge(&b);
        prop_assert_eq!(a.count(), w.count());
        prop_assert!(close(a.mean(), w.mean(), scale));
        prop_assert!(close(a.population_variance(), w.population_variance(), scale * scale));
    }

    #[test]
    fn flow_key_is_the_same_both_ways(a in any::<u32>(), b in any::<u32>(), pa in any::<u16>(), pb in any::<u16>(), tcp in any::<bool>()) {
        let (ia, ib) = (Ipv4Addr::from(a), Ipv4Addr::from(b));
        let frames = if tcp {
            (tcp_frame(ia, ib, pa, pb, 0x02, b""), tcp_frame(ib, ia, pb, pa, 0x12, b""))
        } else {
            (udp_frame(ia, ib, pa, pb, b"x"), udp_frame(ib, ia, pb, pa, b"y"))
        };
        let raw = |d: &[u8]| decode(&RawPacket { ts: Timestamp::ZERO, data: d, orig_len: d.len() as u32, link: LinkType::Ethernet }).to_owned_key();
        let (k1, fwd1) = raw(&frames.0);
        let (k2, fwd2) = raw(&frames.1);
        prop_assert_eq!(k1, k2);
        // Exactly one direction is lo -> hi, unless both endpoints are equal.
        if (ia, pa) != (ib, pb) {
            prop_assert_ne!(fwd1, fwd2);
        }
    }

    #[test]
    fn community_id_ignores_direction(a in any::<u32>(), b in any::<u32>(), pa in any::<u16>(), pb in any::<u16>(), proto in prop::sample::select(vec![6u8, 17, 132])) {
        let (ia, ib) = (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)));
        prop_assert_eq!(community_id(0, ia, ib, proto, pa, pb), community_id(0, ib, ia, proto, pb, pa));
    }

    #[test]
    fn config_round_trips(max_flows in 1usize..10_000_000, tick in 1u64..100_000, top in 1usize..1000) {
        let mut cfg = EngineConfig::default();
        cfg.flow.max_flows = max_flows;
        cfg.tick_interval_ms = tick;
        cfg.traffic.top_n = top;
        let text = serde_json::to_string(&cfg).unwrap();
        prop_assert_eq!(EngineConfig::from_json(&text).unwrap(), cfg);
    }
}

/// The flow key of a decoded packet (helper so the property reads plainly).
trait OwnedKey {
    fn to_owned_key(&self) -> (FlowKey, bool);
}

impl OwnedKey for netsentinel_core::PacketView<'_> {
    fn to_owned_key(&self) -> (FlowKey, bool) {
        FlowKey::from_packet(self).expect("an IP packet")
    }
}

/// One written packet: time, captured bytes, wire length beyond them.
type Packet = (i64, Vec<u8>, u32);

fn packets() -> impl Strategy<Value = Vec<Packet>> {
    prop::collection::vec(
        (
            0i64..4_000_000_000_000_000,
            prop::collection::vec(any::<u8>(), 0..300),
            0u32..2000,
        ),
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Packets written as pcap and as pcapng (through the ring's export) read back the same:
    /// times (microseconds), bytes, wire lengths, link type, order.
    #[test]
    fn pcap_and_pcapng_round_trip(mut packets in packets(), ng in any::<bool>()) {
        use netsentinel_core::recording::{CaptureFormat, PacketRing};
        use netsentinel_core::{FileSource, PacketSource, Recv};
        packets.sort_by_key(|p| p.0);
        let mut ring = PacketRing::new(1000, 1 << 20);
        for (ts, data, extra) in &packets {
            ring.push(&RawPacket {
                ts: Timestamp::from_micros(*ts),
                data,
                orig_len: data.len() as u32 + extra,
                link: LinkType::Ethernet,
            });
        }
        let format = if ng { CaptureFormat::Pcapng } else { CaptureFormat::Pcap };
        let dir = std::env::temp_dir().join(format!("ns-prop-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("round.{}", format.extension()));
        ring.export(Timestamp::ZERO, Timestamp::from_micros(i64::MAX), &path, format).unwrap();
        let mut source = FileSource::open(&path).unwrap();
        let mut read = Vec::new();
        while let Recv::Packet(p) = source.next_packet().unwrap() {
            prop_assert_eq!(p.link, LinkType::Ethernet);
            read.push((p.ts.as_micros(), p.data.to_vec(), p.orig_len - p.data.len() as u32));
        }
        std::fs::remove_dir_all(&dir).ok();
        prop_assert_eq!(read, packets);
    }
}
