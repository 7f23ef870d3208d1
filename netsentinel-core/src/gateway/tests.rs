use std::net::Ipv4Addr;

use super::*;
use crate::decode::TcpFlags;
use crate::traffic::TrafficConfig;

fn local() -> LocalNetworks {
    LocalNetworks::new(&TrafficConfig::default().local_networks)
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs_micros(secs, 0)
}

fn alert(secs: i64, detector: &str, severity: Severity, src: &str, dst: &str) -> Alert {
    Alert::new(at(secs), detector, severity, "test", "test").with_endpoints(
        src.parse().ok(),
        None,
        dst.parse().ok(),
        None,
    )
}

/// A gateway past its learning period with `whitelist`.
fn learned(policy: WhitelistPolicy, whitelist: Whitelist) -> AlertGateway {
    let baseline = BaselineConfig {
        policy,
        ..BaselineConfig::default()
    };
    let mut w = whitelist;
    w.learning_started = Some(at(0));
    w.learning_ended = Some(at(1));
    AlertGateway::new(GatewayConfig::default(), baseline, Some(w))
}

#[test]
fn repeats_within_the_cooldown_are_counted_not_written() {
    let mut g = AlertGateway::new(GatewayConfig::default(), BaselineConfig::default(), None);
    let l = local();
    let mut first = alert(0, "port_scan", Severity::Medium, "10.0.0.66", "10.0.0.10");
    assert_eq!(g.admit(&mut first, None, &l, at(0)), Admission::Write);
    for s in 1..5 {
        let mut again = alert(s, "port_scan", Severity::Medium, "10.0.0.66", "10.0.0.10");
        assert_eq!(g.admit(&mut again, None, &l, at(s)), Admission::Repeat);
    }
    // Another target, another detector, or a higher severity is news.
    let mut other = alert(5, "port_scan", Severity::Medium, "10.0.0.66", "10.0.0.11");
    assert_eq!(g.admit(&mut other, None, &l, at(5)), Admission::Write);
    let mut higher = alert(6, "port_scan", Severity::High, "10.0.0.66", "10.0.0.10");
    assert_eq!(g.admit(&mut higher, None, &l, at(6)), Admission::Write);
    assert_eq!(higher.verdict.as_ref().unwrap().repeats_since_last, 4);
    // After the cooldown (600 s) the same alert is written again.
    let mut later = alert(700, "port_scan", Severity::High, "10.0.0.66", "10.0.0.10");
    assert_eq!(g.admit(&mut later, None, &l, at(700)), Admission::Write);
    let s = g.stats();
    assert_eq!((s.received, s.written, s.repeats), (8, 4, 4));
}

#[test]
fn a_closing_report_and_a_distinct_finding_are_not_repeats() {
    let mut g = AlertGateway::new(GatewayConfig::default(), BaselineConfig::default(), None);
    let l = local();
    let flood = |secs, ended: bool| {
        alert(secs, "icmp_flood", Severity::High, "10.0.0.66", "10.0.0.10")
            .with_evidence("phase", if ended { "ended" } else { "started" })
    };
    assert_eq!(
        g.admit(&mut flood(0, false), None, &l, at(0)),
        Admission::Write
    );
    assert_eq!(
        g.admit(&mut flood(1, false), None, &l, at(1)),
        Admission::Repeat
    );
    assert_eq!(
        g.admit(&mut flood(2, true), None, &l, at(2)),
        Admission::Write
    );
    assert_eq!(
        g.admit(&mut flood(3, true), None, &l, at(3)),
        Admission::Repeat
    );
    let cred = |user: &str| {
        alert(
            4,
            "plaintext_credentials",
            Severity::Medium,
            "10.0.0.5",
            "10.0.0.9",
        )
        .with_distinct(format!("ftp:{user}"))
    };
    assert_eq!(
        g.admit(&mut cred("alice"), None, &l, at(4)),
        Admission::Write
    );
    assert_eq!(g.admit(&mut cred("bob"), None, &l, at(4)), Admission::Write);
    assert_eq!(
        g.admit(&mut cred("alice"), None, &l, at(5)),
        Admission::Repeat
    );
}

#[test]
fn suppression_rules_match_every_given_field_expire_and_are_counted() {
    let rule = |json: &str| serde_json::from_str::<SuppressionRule>(json).unwrap();
    let config = GatewayConfig {
        suppress: vec![
            rule(r#"{"detector": "port_scan", "src": "10.0.0.0/24", "reason": "scanner"}"#),
            rule(r#"{"host": "192.168.1.7", "expires": "1970-01-01T00:01:40Z"}"#),
            rule(r#"{"port": 8080, "dst": "10.9.9.9", "reason": "lab proxy"}"#),
        ],
        ..GatewayConfig::default()
    };
    config.validate().unwrap();
    let mut g = AlertGateway::new(config, BaselineConfig::default(), None);
    let l = local();
    let mut check = |mut a: Alert, secs: i64| g.admit(&mut a, None, &l, at(secs));
    use Admission::*;
    assert_eq!(
        check(
            alert(0, "port_scan", Severity::High, "10.0.0.66", "10.1.0.1"),
            0
        ),
        Suppressed
    );
    assert_eq!(
        check(
            alert(0, "host_sweep", Severity::High, "10.0.0.66", "10.1.0.1"),
            0
        ),
        Write
    );
    assert_eq!(
        check(
            alert(0, "port_scan", Severity::High, "10.0.1.66", "10.1.0.1"),
            0
        ),
        Write
    );
    // `host` matches either end, until it expires at 100 s.
    assert_eq!(
        check(
            alert(50, "brute_force", Severity::High, "10.2.0.1", "192.168.1.7"),
            50
        ),
        Suppressed
    );
    assert_eq!(
        check(
            alert(150, "data_exfil", Severity::High, "192.168.1.7", "8.8.8.8"),
            150
        ),
        Write
    );
    // Both `port` and `dst` must match.
    let proxy = |dst: &str| {
        alert(0, "beaconing", Severity::Medium, "10.3.0.1", dst).with_endpoints(
            "10.3.0.1".parse().ok(),
            Some(40000),
            dst.parse().ok(),
            Some(8080),
        )
    };
    assert_eq!(check(proxy("10.9.9.9"), 0), Suppressed);
    assert_eq!(check(proxy("10.9.9.8"), 0), Write);
    let s = g.stats();
    assert_eq!(s.suppressed_by_rules, 3);
    assert_eq!(s.rule_hits["scanner"], 1);
    assert_eq!(s.rule_hits["rule 1"], 1);
    assert_eq!(s.rule_hits["lab proxy"], 1);
    assert_eq!(s.received, s.written + s.suppressed_by_rules);
}

#[test]
fn a_bad_expiry_or_network_is_refused_naming_the_key() {
    let config: GatewayConfig =
        serde_json::from_str(r#"{"suppress": [{"expires": "next tuesday"}]}"#).unwrap();
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("gateway.suppress[0].expires"), "{err}");
    let err = serde_json::from_str::<GatewayConfig>(r#"{"suppress": [{"src": "10.0.0.300"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("10.0.0.300"), "{err}");
}

#[test]
fn the_whitelist_downgrades_suppresses_or_annotates_by_policy() {
    let mut w = Whitelist::new();
    w.external_addresses.insert("203.0.113.50".parse().unwrap());
    w.domains.insert("a.tunnel.example".into());
    let l = local();
    let exfil = || {
        alert(
            10,
            "data_exfil",
            Severity::High,
            "10.0.0.20",
            "203.0.113.50",
        )
    };

    let mut g = learned(WhitelistPolicy::Downgrade, w.clone());
    let mut a = exfil();
    assert_eq!(g.admit(&mut a, None, &l, at(10)), Admission::Write);
    assert_eq!(a.severity, Severity::Medium);
    let v = a.verdict.unwrap();
    assert_eq!(v.downgraded_from, Some(Severity::High));
    assert!(v.baseline.unwrap().contains("203.0.113.50"));
    assert!(v.factors.iter().any(|f| f.factor == "baseline_match"));

    let mut g = learned(WhitelistPolicy::Suppress, w.clone());
    assert_eq!(
        g.admit(&mut exfil(), None, &l, at(10)),
        Admission::Suppressed
    );
    assert_eq!(g.stats().whitelisted, 1);
    // Another destination, and an attack from a learned address, are not whitelisted.
    let mut other = alert(
        10,
        "data_exfil",
        Severity::High,
        "10.0.0.20",
        "198.51.100.1",
    );
    assert_eq!(g.admit(&mut other, None, &l, at(10)), Admission::Write);
    let mut scan = alert(10, "port_scan", Severity::High, "203.0.113.50", "10.0.0.20");
    assert_eq!(g.admit(&mut scan, None, &l, at(10)), Admission::Write);

    let mut g = learned(WhitelistPolicy::Annotate, w);
    let mut tunnel = alert(10, "dns_tunnel", Severity::High, "10.0.0.20", "10.0.0.1")
        .with_evidence("domain", "tunnel.example");
    assert_eq!(g.admit(&mut tunnel, None, &l, at(10)), Admission::Write);
    assert_eq!(tunnel.severity, Severity::High);
    assert!(tunnel.verdict.unwrap().baseline.is_some());
}

#[test]
fn learning_ends_after_its_period_and_records_periodic_patterns() {
    let baseline = BaselineConfig {
        learning_secs: 100,
        ..BaselineConfig::default()
    };
    let mut g = AlertGateway::new(GatewayConfig::default(), baseline, None);
    let l = local();
    assert!(g.advance(at(1000)));
    let beacon = |secs| {
        alert(
            secs,
            "beaconing",
            Severity::Medium,
            "10.0.0.20",
            "198.51.100.7",
        )
    };
    let mut a = beacon(1050);
    assert_eq!(g.admit(&mut a, None, &l, at(1050)), Admission::Write);
    assert!(a.verdict.unwrap().factors[0].factor == "baseline_learning");
    assert!(!g.advance(at(1100)), "learning ends after 100 s");
    assert_eq!(g.whitelist().learning_ended, Some(at(1100)));
    assert_eq!(g.whitelist().periodic.len(), 1);
    let mut later = beacon(2000);
    assert_eq!(g.admit(&mut later, None, &l, at(2000)), Admission::Write);
    assert_eq!(
        later.severity,
        Severity::Low,
        "downgraded: periodic while learning"
    );
}

#[test]
fn enrichment_names_sides_and_verification_counts_corroboration() {
    let mut g = AlertGateway::new(GatewayConfig::default(), BaselineConfig::default(), None);
    let l = local();
    let mut intel = alert(
        0,
        "threat_intel",
        Severity::High,
        "10.0.0.20",
        "203.0.113.9",
    )
    .with_evidence("feed", "lab")
    .with_evidence("indicator", "203.0.113.9");
    assert_eq!(g.admit(&mut intel, None, &l, at(0)), Admission::Write);
    let mut exfil = alert(5, "data_exfil", Severity::High, "10.0.0.20", "203.0.113.9");
    assert_eq!(g.admit(&mut exfil, None, &l, at(5)), Admission::Write);
    let cx = exfil.context.as_ref().unwrap();
    assert_eq!(cx.src.as_ref().unwrap().side, Side::Internal);
    let dst = cx.dst.as_ref().unwrap();
    assert_eq!(dst.side, Side::External);
    assert_eq!(dst.threat_intel.as_deref(), Some("lab: 203.0.113.9"));
    let v = exfil.verdict.as_ref().unwrap();
    let factors: Vec<&str> = v.factors.iter().map(|f| f.factor.as_str()).collect();
    assert!(
        factors.contains(&"corroboration") && factors.contains(&"threat_intel"),
        "{factors:?}"
    );
    // high 0.65, corroboration +0.1, threat intel +0.15 (no packets: not learning).
    assert_eq!(v.confidence, 0.9);
}

#[test]
fn the_dedup_table_stays_bounded() {
    let config = GatewayConfig {
        max_keys: 16,
        ..GatewayConfig::default()
    };
    let mut g = AlertGateway::new(config, BaselineConfig::default(), None);
    let l = local();
    for i in 0..1000u32 {
        let src = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        let mut a = alert(0, "port_scan", Severity::Medium, &src, "10.9.0.1");
        assert_eq!(g.admit(&mut a, None, &l, at(0)), Admission::Write);
    }
    assert!(g.dedup.len() <= 16);
    assert_eq!(g.stats().dedup_table_full, 1000 - 16);
    assert!(g.recent.len() <= RECENT_MAX);
}

/// The flow `client -> server:port` over TCP, answered with a SYN-ACK, as it ends.
fn answered_flow(client: Ipv4Addr, server: Ipv4Addr, port: u16) -> crate::flow::Flow {
    use crate::testutil::tcp_frame;
    let mut table = crate::flow::FlowTable::new(crate::flow::FlowConfig::default());
    let frames = [
        tcp_frame(client, server, 40000, port, TcpFlags::SYN, b""),
        tcp_frame(
            server,
            client,
            port,
            40000,
            TcpFlags::SYN | TcpFlags::ACK,
            b"",
        ),
    ];
    for frame in &frames {
        let raw = crate::source::RawPacket {
            ts: at(0),
            data: frame,
            orig_len: frame.len() as u32,
            link: crate::source::LinkType::Ethernet,
        };
        table.update(&crate::decode::decode(&raw));
    }
    table.finish();
    let mut ended = Vec::new();
    table.take_ended(&mut ended);
    ended.pop().expect("one flow")
}

#[test]
fn learning_keeps_each_flow_entry_once_and_counts_each_one_turned_away() {
    use crate::device::PortProtocol;
    use crate::gateway::whitelist::LearnedService;
    let client = Ipv4Addr::new(10, 0, 0, 20);
    let (known, full) = (
        Ipv4Addr::new(198, 51, 100, 7),
        Ipv4Addr::new(203, 0, 113, 9),
    );
    // A whitelist resumed from a file that holds one service already; room for three.
    let mut resumed = Whitelist::new();
    resumed.services.insert(LearnedService {
        address: known.into(),
        port: 443,
        protocol: PortProtocol::Tcp,
    });
    let baseline = BaselineConfig {
        max_entries: 3,
        ..BaselineConfig::default()
    };
    let mut g = AlertGateway::new(GatewayConfig::default(), baseline, Some(resumed));
    let l = local();
    assert!(g.advance(at(0)));
    for _ in 0..3 {
        g.learn_flow(&answered_flow(client, known, 443), &l);
    }
    let w = g.whitelist();
    assert_eq!((w.external_addresses.len(), w.services.len()), (1, 1));
    assert_eq!(w.not_kept, 0, "what is there already is not turned away");
    // The next server's address is the third entry; its service no longer fits, and is
    // turned away (and counted) each time, as before it was ever looked up quickly.
    for _ in 0..2 {
        g.learn_flow(&answered_flow(client, full, 80), &l);
    }
    let w = g.whitelist();
    assert_eq!((w.external_addresses.len(), w.services.len()), (2, 1));
    assert_eq!(w.not_kept, 2);
}

#[test]
fn learning_keeps_each_domain_once_and_counts_each_one_turned_away() {
    // A whitelist resumed from a file that is full already: two domains, room for two.
    let mut resumed = Whitelist::new();
    resumed.domains.insert("example.org".into());
    resumed.domains.insert("example.com".into());
    let baseline = BaselineConfig {
        max_entries: 2,
        ..BaselineConfig::default()
    };
    let mut g = AlertGateway::new(GatewayConfig::default(), baseline, Some(resumed));
    assert!(g.advance(at(0)));
    for name in ["example.org", "Example.ORG.", "example.com"] {
        g.learn_domain(name);
    }
    assert_eq!(
        g.whitelist().not_kept,
        0,
        "what is there already is not turned away"
    );
    // A new name is turned away and counted each time.
    for name in ["new.example.net", "new.example.net", "example.com"] {
        g.learn_domain(name);
    }
    let w = g.whitelist();
    assert_eq!(w.domains.len(), 2);
    assert_eq!(w.not_kept, 2);
}
