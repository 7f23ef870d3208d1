//! Issue 3 acceptance: every attack capture makes the
//! detector its truth file names fire with the right attacker and victim, the benign
//! capture raises nothing of medium severity or above, and floods give a handful of
//! alerts, not one per packet.

use std::net::IpAddr;

use netsentinel_core::{Alert, Engine, EngineConfig, Severity};
use netsentinel_tests::data_dir;

fn alerts_for(capture: &std::path::Path) -> Vec<Alert> {
    netsentinel_tests::alerts_with_builtin_detectors(capture).unwrap()
}

use netsentinel_tests::report::expected_detector;

#[test]
fn attack_captures_fire_their_detector_with_attacker_and_victim() {
    let corpus = data_dir().join("corpus");
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.md")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(corpus.join("attacks")).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "pcap") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let detector = expected_detector(&manifest, &name).expect("capture listed in MANIFEST.md");
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("truth.json")).unwrap(),
        )
        .unwrap();
        let attacker: IpAddr = truth["attacker"]["ip"].as_str().unwrap().parse().unwrap();
        let victims: Vec<IpAddr> = truth["victims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().parse().unwrap())
            .collect();
        let alerts = alerts_for(&path);
        let hit = alerts.iter().find(|a| {
            a.detector == detector
                && a.src_ip == Some(attacker)
                && a.dst_ip.is_some_and(|d| victims.contains(&d))
        });
        assert!(
            hit.is_some(),
            "{name}: no `{detector}` alert from {attacker} to {victims:?}; got {:#?}",
            alerts
                .iter()
                .map(|a| (&a.detector, a.src_ip, a.dst_ip, &a.message))
                .collect::<Vec<_>>()
        );
        checked += 1;
    }
    assert_eq!(checked, 12, "every attack capture is checked");
}

#[test]
fn benign_capture_raises_nothing_medium_or_above() {
    let alerts = alerts_for(&data_dir().join("corpus/benign/benign_office.pcap"));
    let serious: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.severity >= Severity::Medium)
        .collect();
    assert!(serious.is_empty(), "{serious:#?}");
}

#[test]
fn floods_give_a_handful_of_alerts_that_say_how_big() {
    for (capture, detector, packets) in [
        ("flood_syn", "syn_flood", 20_000u64),
        ("flood_icmp", "icmp_flood", 10_000),
    ] {
        let alerts = alerts_for(&data_dir().join(format!("corpus/attacks/{capture}.pcap")));
        let mine: Vec<&Alert> = alerts.iter().filter(|a| a.detector == detector).collect();
        assert!(
            !mine.is_empty() && mine.len() <= 5,
            "{capture}: {} alerts",
            mine.len()
        );
        let biggest = mine
            .iter()
            .filter_map(|a| a.evidence.get("packets").and_then(|v| v.as_u64()))
            .max()
            .unwrap_or(0);
        assert_eq!(
            biggest, packets,
            "{capture}: the summary counts the whole flood"
        );
    }
}

fn run_frames(frames: Vec<(netsentinel_core::Timestamp, Vec<u8>)>) -> Vec<Alert> {
    let mut source: netsentinel_core::MemorySource = frames.into_iter().collect();
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink_side = std::sync::Arc::clone(&out);
    let mut engine = Engine::builder(EngineConfig::default())
        .builtin_detectors()
        .sink(netsentinel_core::FnSink(move |a: &Alert| {
            if let Ok(mut v) = sink_side.lock() {
                v.push(a.clone());
            }
        }))
        .build()
        .unwrap();
    engine.run(&mut source).unwrap();
    let alerts = out.lock().unwrap();
    alerts.clone()
}

#[test]
fn spoofed_udp_flood_fires_but_a_busy_dns_server_does_not() {
    use netsentinel_core::Timestamp;
    use netsentinel_core::testutil::udp_frame;
    use std::net::Ipv4Addr;
    let victim = Ipv4Addr::new(10, 0, 0, 10);
    // 6,000 datagrams in one second from spoofed sources, never answered.
    let flood: Vec<_> = (0..6000u32)
        .map(|i| {
            let src = Ipv4Addr::from(0xc612_0000 | i);
            (
                Timestamp::from_micros(1_000_000 + i64::from(i) * 166),
                udp_frame(src, victim, 1024 + (i % 50_000) as u16, 9, b"xxxxxxxx"),
            )
        })
        .collect();
    let alerts = run_frames(flood);
    assert!(
        alerts
            .iter()
            .any(|a| a.detector == "udp_flood" && a.dst_ip == Some(victim.into())),
        "{alerts:#?}"
    );

    // 6,000 queries a second to a resolver, each answered right away.
    let resolver = Ipv4Addr::new(10, 0, 0, 53);
    let mut busy = Vec::new();
    for i in 0..6000u32 {
        let client = Ipv4Addr::from(0x0a00_0100 | (i % 200));
        let port = 20_000 + (i % 40_000) as u16;
        let t = 1_000_000 + i64::from(i) * 166;
        busy.push((
            Timestamp::from_micros(t),
            udp_frame(client, resolver, port, 53, b"query"),
        ));
        busy.push((
            Timestamp::from_micros(t + 50),
            udp_frame(resolver, client, 53, port, b"answer"),
        ));
    }
    let alerts = run_frames(busy);
    assert!(
        !alerts.iter().any(|a| a.detector == "udp_flood"),
        "{alerts:#?}"
    );
}

#[test]
fn detection_report_is_current() {
    let fresh = netsentinel_tests::report::detection_report();
    let path = netsentinel_tests::data_dir().join("../../docs/DETECTION.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        fresh == committed,
        "docs/DETECTION.md is stale: run `cargo run -q -p netsentinel-tests --bin detection-report > docs/DETECTION.md`"
    );
}

/// A DNS message: one question, then A answers for `addrs` with `ttl`.
fn dns_message(
    id: u16,
    name: &str,
    response: bool,
    rcode: u8,
    addrs: &[[u8; 4]],
    ttl: u32,
) -> Vec<u8> {
    let flags: u16 = if response {
        0x8180 | u16::from(rcode)
    } else {
        0x0100
    };
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    for a in addrs {
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&[0, 4]);
        m.extend_from_slice(a);
    }
    m
}

#[test]
fn suspicious_dns_nxdomain_burst_fast_flux_and_abused_tld() {
    use netsentinel_core::Timestamp;
    use netsentinel_core::testutil::udp_frame;
    use std::net::Ipv4Addr;
    let client = Ipv4Addr::new(10, 0, 0, 20);
    let resolver = Ipv4Addr::new(10, 0, 0, 1);
    let mut frames = Vec::new();
    let mut t = 1_000_000i64;
    // 25 generated-looking names, all NXDOMAIN.
    for i in 0..25u16 {
        let name = format!(
            "x{:x}qzkw{:x}vbn{}.com",
            u32::from(i) * 7919,
            u32::from(i) * 104_729,
            i
        );
        frames.push((
            Timestamp::from_micros(t),
            udp_frame(
                resolver,
                client,
                53,
                40_000 + i,
                &dns_message(i, &name, true, 3, &[], 0),
            ),
        ));
        t += 100_000;
    }
    // One name answered with 12 different addresses, TTL 60.
    for i in 0..12u8 {
        let msg = dns_message(
            100 + u16::from(i),
            "flux.example.net",
            true,
            0,
            &[[198, 51, 100, i]],
            60,
        );
        frames.push((
            Timestamp::from_micros(t),
            udp_frame(resolver, client, 53, 41_000 + u16::from(i), &msg),
        ));
        t += 100_000;
    }
    // A query under .tk.
    let q = dns_message(200, "www.free-prizes.tk", false, 0, &[], 0);
    frames.push((
        Timestamp::from_micros(t),
        udp_frame(client, resolver, 42_000, 53, &q),
    ));
    let alerts = run_frames(frames);
    let kind = |k: &str| {
        alerts
            .iter()
            .find(|a| a.detector == "suspicious_dns" && a.evidence["kind"] == k)
            .unwrap_or_else(|| panic!("no {k} in {alerts:#?}"))
    };
    assert_eq!(kind("nxdomain_burst").severity, Severity::High);
    assert_eq!(kind("nxdomain_burst").src_ip, Some(client.into()));
    // Reported when the tenth address arrives.
    assert_eq!(kind("fast_flux").evidence["addresses"], 10);
    assert_eq!(kind("abused_tld").severity, Severity::Low);
}

#[test]
fn threat_intel_matches_addresses_and_dns_names_from_a_feed_file() {
    let dir = std::env::temp_dir().join(format!("ns-intel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let feed = dir.join("feed.txt");
    std::fs::write(&feed, "# lab indicators\n203.0.113.0/24\nexfil-dns.test\n").unwrap();
    let mut config = EngineConfig::default();
    config.detectors.threat_intel.feeds =
        vec![netsentinel_core::detect::threat_intel::FeedConfig {
            name: "lab".into(),
            path: feed.clone(),
            format: netsentinel_core::intel::FeedFormat::Auto,
            url: None,
        }];
    let run = |capture: &str| -> Vec<Alert> {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let side = std::sync::Arc::clone(&out);
        let mut engine = Engine::builder(config.clone())
            .builtin_detectors()
            .sink(netsentinel_core::FnSink(move |a: &Alert| {
                side.lock().unwrap().push(a.clone())
            }))
            .build()
            .unwrap();
        let mut src =
            netsentinel_core::FileSource::open(netsentinel_tests::data_dir().join(capture))
                .unwrap();
        engine.run(&mut src).unwrap();
        let v = out.lock().unwrap();
        v.iter()
            .filter(|a| a.detector == "threat_intel")
            .cloned()
            .collect()
    };
    let beacon = run("corpus/attacks/beacon_http.pcap");
    assert_eq!(
        beacon.len(),
        1,
        "one alert per (host, indicator): {beacon:#?}"
    );
    assert_eq!(beacon[0].evidence["indicator"], "203.0.113.0/24");
    assert_eq!(beacon[0].src_ip, Some("10.10.0.20".parse().unwrap()));
    let tunnel = run("corpus/attacks/dns_tunnel_dig.pcap");
    assert!(
        tunnel
            .iter()
            .any(|a| a.evidence["matched_on"] == "dns query"
                && a.evidence["indicator"] == "exfil-dns.test")
    );
    // A feed that cannot be read stops the build with the key and the file named.
    config.detectors.threat_intel.feeds[0].path = dir.join("missing.txt");
    let err = Engine::builder(config.clone())
        .builtin_detectors()
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("missing.txt"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn port_scan_names_connect_xmas_ack_and_udp_scans() {
    use netsentinel_core::testutil::{tcp_frame, udp_frame};
    use netsentinel_core::{TcpFlags, Timestamp};
    use std::net::Ipv4Addr;
    let (scanner, target) = (Ipv4Addr::new(10, 0, 0, 66), Ipv4Addr::new(10, 0, 0, 10));
    let scan = |kind: &str| -> Vec<(Timestamp, Vec<u8>)> {
        let mut frames = Vec::new();
        for (i, port) in (1000..1030u16).enumerate() {
            let t = 1_000_000 + i as i64 * 10_000;
            let ts = |d: i64| Timestamp::from_micros(t + d);
            match kind {
                "connect" => {
                    frames.push((
                        ts(0),
                        tcp_frame(scanner, target, 40_000 + port, port, TcpFlags::SYN, b""),
                    ));
                    frames.push((
                        ts(1),
                        tcp_frame(
                            target,
                            scanner,
                            port,
                            40_000 + port,
                            TcpFlags::SYN | TcpFlags::ACK,
                            b"",
                        ),
                    ));
                    frames.push((
                        ts(2),
                        tcp_frame(scanner, target, 40_000 + port, port, TcpFlags::ACK, b""),
                    ));
                    frames.push((
                        ts(3),
                        tcp_frame(
                            scanner,
                            target,
                            40_000 + port,
                            port,
                            TcpFlags::RST | TcpFlags::ACK,
                            b"",
                        ),
                    ));
                }
                "xmas" => frames.push((
                    ts(0),
                    tcp_frame(
                        scanner,
                        target,
                        50_000,
                        port,
                        TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG,
                        b"",
                    ),
                )),
                "ack" => frames.push((
                    ts(0),
                    tcp_frame(scanner, target, 50_000, port, TcpFlags::ACK, b""),
                )),
                _ => frames.push((ts(0), udp_frame(scanner, target, 50_000, port, b""))),
            }
        }
        frames
    };
    for kind in ["connect", "xmas", "ack", "udp"] {
        let alerts = run_frames(scan(kind));
        let hit = alerts
            .iter()
            .find(|a| a.detector == "port_scan")
            .unwrap_or_else(|| panic!("{kind}: {alerts:#?}"));
        assert_eq!(hit.evidence["scan_type"], kind, "{kind}: {hit:#?}");
        assert_eq!(hit.src_ip, Some(scanner.into()));
        assert_eq!(hit.dst_ip, Some(target.into()));
    }
}

/// An ARP reply frame: `ip` is at `mac`, sent from `mac`, to `to_ip`.
fn arp_reply(mac: [u8; 6], ip: [u8; 4], to_ip: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&to_ip);
    f
}

#[test]
fn arp_lease_change_is_quiet_but_a_live_conflict_alarms() {
    use netsentinel_core::Timestamp;
    let old = [2, 0, 0, 0, 0, 0x14];
    let new = [2, 0, 0, 0, 0, 0x99];
    let ip = [10, 0, 0, 20];
    let peer = [10, 0, 0, 1];
    let secs = |s: i64| Timestamp::from_micros(s * 1_000_000);
    // The old card answers, falls silent for ten minutes, then a new card takes the address.
    let lease = vec![
        (secs(1), arp_reply(old, ip, peer)),
        (secs(601), arp_reply(new, ip, peer)),
        (secs(602), arp_reply(new, ip, peer)),
    ];
    let alerts = run_frames(lease);
    assert!(
        !alerts.iter().any(|a| a.detector == "arp_spoof"),
        "{alerts:#?}"
    );
    // Both MACs alive, and the newcomer also claims the gateway: spoofing.
    let conflict = vec![
        (secs(1), arp_reply(old, ip, peer)),
        (secs(2), arp_reply([2, 0, 0, 0, 0, 1], peer, ip)),
        (secs(3), arp_reply(new, [10, 0, 0, 66], peer)),
        (secs(4), arp_reply(new, ip, peer)),
        (secs(5), arp_reply(new, peer, ip)),
        (secs(6), arp_reply(old, ip, peer)),
    ];
    let alerts = run_frames(conflict);
    let spoof: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.detector == "arp_spoof")
        .collect();
    assert!(
        spoof
            .iter()
            .any(|a| a.src_ip == Some("10.0.0.66".parse().unwrap())
                && a.dst_ip == Some("10.0.0.20".parse().unwrap())),
        "{spoof:#?}"
    );
    assert!(
        spoof
            .iter()
            .any(|a| a.dst_ip == Some("10.0.0.1".parse().unwrap())),
        "{spoof:#?}"
    );
}

#[test]
fn iodine_style_null_queries_are_a_dns_tunnel() {
    use netsentinel_core::Timestamp;
    use netsentinel_core::testutil::udp_frame;
    use std::net::Ipv4Addr;
    let (client, resolver) = (Ipv4Addr::new(10, 0, 0, 20), Ipv4Addr::new(10, 0, 0, 1));
    // iodine encodes upstream data in the query name and polls with NULL records.
    let frames: Vec<_> = (0..40u16)
        .map(|i| {
            let label = format!("paaab{:0>50}", format!("{:x}", u64::from(i) * 0x9e37_79b9));
            let mut q = dns_message(i, &format!("{label}.t1.tunnel.example"), false, 0, &[], 0);
            let n = q.len();
            q[n - 3] = 10; // qtype NULL
            (
                Timestamp::from_micros(1_000_000 + i64::from(i) * 50_000),
                udp_frame(client, resolver, 53_000, 53, &q),
            )
        })
        .collect();
    let alerts = run_frames(frames);
    let hit = alerts
        .iter()
        .find(|a| a.detector == "dns_tunnel")
        .expect("dns_tunnel");
    assert_eq!(hit.evidence["domain"], "tunnel.example");
    assert_eq!(hit.src_ip, Some(client.into()));
}
