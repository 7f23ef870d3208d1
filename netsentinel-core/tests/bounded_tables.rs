//! Hostile traffic against small caps: every table stays within its cap, and the caps the
//! traffic reaches count what they turned away in the run summary (`tables`, flow
//! evictions, untracked hosts) instead of growing. The RSS side of the same bounds, at
//! full size and default caps, is `benches/memory.sh` (docs/BENCHMARKS.md).

use std::net::Ipv4Addr;

use netsentinel_core::testutil::{tcp_segment, udp_frame};
use netsentinel_core::{
    CollectSink, Engine, EngineConfig, LinkType, RawPacket, RunSummary, TcpFlags, Timestamp,
};

const CAP: usize = 16;

fn config() -> EngineConfig {
    let cap = CAP;
    let json = format!(
        r#"{{
        "flow": {{"max_flows": 64}},
        "traffic": {{"max_hosts": 64}},
        "devices": {{"max_devices": {cap}}},
        "gateway": {{"max_keys": {cap}}},
        "detectors": {{
            "port_scan": {{"max_pairs": {cap}}},
            "host_sweep": {{"max_keys": {cap}}},
            "arp_spoof": {{"max_bindings": {cap}}},
            "beaconing": {{"max_keys": {cap}}},
            "brute_force": {{"max_keys": {cap}}},
            "data_exfil": {{"max_pairs": {cap}}},
            "dns_tunnel": {{"max_keys": {cap}}},
            "suspicious_dns": {{"max_keys": {cap}}},
            "insecure_service": {{"max_reported": {cap}}},
            "syn_flood": {{"max_targets": {cap}}},
            "icmp_flood": {{"max_targets": {cap}}},
            "udp_flood": {{"max_targets": {cap}}},
            "tcp_anomaly": {{"max_keys": {cap}}},
            "plaintext_credentials": {{"max_sessions": {cap}}},
            "sensitive_data": {{"max_flows": {cap}}}
        }}
    }}"#
    );
    EngineConfig::from_json(&json).unwrap()
}

fn arp_reply(mac: [u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// A DNS query for `name`, or its NXDOMAIN answer.
fn dns(id: u16, name: &str, answer: bool) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    let flags = if answer { [0x81, 0x83] } else { [0x01, 0x00] };
    m.extend_from_slice(&flags);
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 16, 0, 1]);
    m
}

/// Many keys for every kind of table, a few packets each.
fn hostile() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let resolver = Ipv4Addr::new(10, 0, 0, 53);
    for i in 0..400u32 {
        let n = (i % 250) as u8;
        let attacker = Ipv4Addr::new(10, 66, (i / 250) as u8, n);
        let target = Ipv4Addr::new(10, 0, 1, n);
        // Scans and SYN floods: a source per (source, target) pair, many ports each.
        for port in 1..=12u16 {
            frames.push(tcp_segment(
                attacker,
                target,
                40000,
                port,
                TcpFlags::SYN,
                1,
                b"",
            ));
        }
        // Sweeps: one source, one port, many hosts.
        frames.push(tcp_segment(
            Ipv4Addr::new(10, 77, 0, 1),
            Ipv4Addr::new(10, 2, (i / 250) as u8, n),
            40000,
            445,
            TcpFlags::SYN,
            1,
            b"",
        ));
        // UDP floods and tiny flows to many targets.
        for k in 0..4u16 {
            frames.push(udp_frame(attacker, target, 5000 + k, 9000 + k, b"x"));
        }
        // DNS: unique names under many domains, answered NXDOMAIN, from many clients.
        let client = Ipv4Addr::new(10, 3, (i / 250) as u8, n);
        let name = format!("{:08x}{:08x}.t{i}.example.com", i * 7919, i * 104_729);
        frames.push(udp_frame(
            client,
            resolver,
            1000 + i as u16,
            53,
            &dns(i as u16, &name, false),
        ));
        frames.push(udp_frame(
            resolver,
            client,
            53,
            1000 + i as u16,
            &dns(i as u16, &name, true),
        ));
        // ARP: made-up MACs claiming addresses.
        let mac = [0x02, 0x55, (i >> 8) as u8, i as u8, 0, 1];
        frames.push(arp_reply(
            mac,
            Ipv4Addr::new(10, 4, (i / 250) as u8, n),
            target,
        ));
        // Telnet logins to many servers: insecure service reports and reassembly sessions.
        let server = Ipv4Addr::new(10, 5, (i / 250) as u8, n);
        frames.push(tcp_segment(
            client,
            server,
            41000,
            23,
            TcpFlags::SYN,
            0,
            b"",
        ));
        frames.push(tcp_segment(
            server,
            client,
            23,
            41000,
            TcpFlags::SYN | TcpFlags::ACK,
            0,
            b"",
        ));
        frames.push(tcp_segment(
            server,
            client,
            23,
            41000,
            TcpFlags::ACK | TcpFlags::PSH,
            1,
            b"login: ",
        ));
        frames.push(tcp_segment(
            client,
            server,
            41000,
            23,
            TcpFlags::ACK | TcpFlags::PSH,
            1,
            b"root\r\n",
        ));
        // Impossible flags from many sources.
        frames.push(tcp_segment(
            attacker,
            target,
            7,
            7,
            TcpFlags::SYN | TcpFlags::FIN,
            1,
            b"",
        ));
    }
    frames
}

fn run() -> RunSummary {
    let mut engine = Engine::builder(config())
        .builtin_detectors()
        .sink(CollectSink::new())
        .build()
        .unwrap();
    let mut ts = Timestamp::from_micros(1_700_000_000_000_000);
    for frame in hostile() {
        ts = ts.add_micros(50);
        let raw = RawPacket {
            ts,
            data: &frame,
            orig_len: frame.len() as u32,
            link: LinkType::Ethernet,
        };
        engine.process(&raw).unwrap();
    }
    engine.finish().unwrap()
}

#[test]
fn hostile_traffic_fills_tables_to_their_caps_and_is_counted() {
    let summary = run();
    let tables = &summary.tables;
    for (name, t) in tables {
        assert!(
            t.entries <= t.capacity,
            "{name}: {} entries over its cap of {}",
            t.entries,
            t.capacity
        );
    }
    // Every table this traffic reaches turned keys away, counted.
    for name in [
        "port_scan.pairs",
        "host_sweep.keys",
        "syn_flood.targets",
        "udp_flood.targets",
        "dns_tunnel.keys",
        "suspicious_dns.nxdomain_clients",
        "arp_spoof.macs",
        "insecure_service.reported",
        "plaintext_credentials.sessions",
        "tcp_anomaly.seen",
        "devices.inventory",
    ] {
        let t = tables
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {:?}", tables.keys()));
        assert!(t.turned_away > 0, "{name}: {t:?}");
        assert_eq!(t.capacity, CAP, "{name}");
    }
    assert!(summary.flows.evicted > 0, "{:?}", summary.flows);
    assert!(summary.flows.peak_active <= 64);
    assert!(summary.traffic.hosts_untracked > 0);
    assert!(summary.gateway.dedup_table_full > 0 || summary.gateway.received <= CAP as u64);
}
