use super::*;
use crate::traffic::TrafficConfig;

fn local() -> LocalNetworks {
    LocalNetworks::new(&TrafficConfig::default().local_networks)
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs_micros(secs, 0)
}

fn alert(secs: i64, detector: &str, severity: Severity, src: Option<&str>, dst: &str) -> Alert {
    Alert::new(at(secs), detector, severity, "test", "test").with_endpoints(
        src.and_then(|s| s.parse().ok()),
        None,
        dst.parse().ok(),
        None,
    )
}

#[test]
fn scan_brute_force_login_is_one_incident_with_two_chains() {
    let l = local();
    let mut c = Correlator::new(IncidentConfig::default());
    let a = Some("10.0.0.66");
    let opened = c
        .observe(
            &alert(0, "port_scan", Severity::Medium, a, "10.0.0.10"),
            true,
            &l,
        )
        .unwrap();
    assert_eq!(opened.update, IncidentUpdate::Opened);
    // A scan of another host is the same attacker's incident, no escalation.
    assert!(
        c.observe(
            &alert(1, "port_scan", Severity::Medium, a, "10.0.0.11"),
            true,
            &l
        )
        .is_none()
    );
    let brute = alert(60, "brute_force", Severity::Medium, a, "10.0.0.10");
    let up = c.observe(&brute, true, &l).unwrap();
    assert_eq!(up.update, IncidentUpdate::Escalated);
    assert_eq!(up.severity, Severity::High);
    assert_eq!(up.chains[0].target, "10.0.0.10".parse().ok());
    let login = alert(90, "plaintext_credentials", Severity::High, a, "10.0.0.10")
        .with_evidence("outcome", "accepted");
    let up = c.observe(&login, true, &l).unwrap();
    let chains: Vec<ChainKind> = up.chains.iter().map(|c| c.chain).collect();
    assert_eq!(
        chains,
        [
            ChainKind::ReconnaissanceToAttack,
            ChainKind::AttackToCompromise
        ]
    );
    assert_eq!(
        (up.severity, up.stage),
        (Severity::Critical, Stage::Compromise)
    );
    assert!(
        up.narrative.contains("reconnaissance (port_scan)"),
        "{}",
        up.narrative
    );
    assert!(
        up.narrative.contains("compromise (plaintext_credentials)"),
        "{}",
        up.narrative
    );
    let closed = c.close_all();
    assert_eq!(closed.len(), 1);
    assert_eq!((closed[0].id, closed[0].alert_count), (1, 4));
    assert_eq!(c.stats().escalations, 2);
}

#[test]
fn an_attack_on_another_target_is_not_an_escalation() {
    let l = local();
    let mut c = Correlator::new(IncidentConfig::default());
    let a = Some("10.0.0.66");
    c.observe(
        &alert(0, "port_scan", Severity::Medium, a, "10.0.0.10"),
        true,
        &l,
    );
    c.observe(
        &alert(9, "brute_force", Severity::Medium, a, "10.0.0.99"),
        true,
        &l,
    );
    let open: Vec<&Incident> = c.open().collect();
    assert_eq!(open.len(), 1);
    assert!(open[0].chains.is_empty());
}

#[test]
fn exfiltration_after_threat_intel_or_beaconing_escalates_on_the_local_host() {
    let l = local();
    let mut c = Correlator::new(IncidentConfig::default());
    // Inbound threat-intel match: the subject is still the local host.
    let ti = alert(
        0,
        "threat_intel",
        Severity::High,
        Some("203.0.113.9"),
        "10.0.0.20",
    );
    let opened = c.observe(&ti, true, &l).unwrap();
    assert_eq!(opened.subject, "10.0.0.20".parse().ok());
    let exfil = alert(
        30,
        "data_exfil",
        Severity::High,
        Some("10.0.0.20"),
        "198.51.100.1",
    );
    let up = c.observe(&exfil, true, &l).unwrap();
    assert_eq!(up.chains[0].chain, ChainKind::ThreatIntelToExfiltration);
    assert_eq!(up.severity, Severity::Critical);

    let mut c = Correlator::new(IncidentConfig::default());
    c.observe(
        &alert(
            0,
            "beaconing",
            Severity::Medium,
            Some("10.0.0.30"),
            "198.51.100.7",
        ),
        true,
        &l,
    );
    let up = c
        .observe(
            &alert(
                99,
                "dns_tunnel",
                Severity::High,
                Some("10.0.0.30"),
                "10.0.0.1",
            ),
            true,
            &l,
        )
        .unwrap();
    assert_eq!(up.chains[0].chain, ChainKind::BeaconingToExfiltration);
    assert_eq!(up.stage, Stage::CommandAndControl);
}

#[test]
fn a_spoofed_flood_and_its_visible_source_are_one_incident() {
    let l = local();
    let mut c = Correlator::new(IncidentConfig::default());
    c.observe(
        &alert(0, "syn_flood", Severity::High, None, "10.0.0.10"),
        true,
        &l,
    );
    c.observe(
        &alert(
            1,
            "syn_flood",
            Severity::High,
            Some("10.0.0.66"),
            "10.0.0.10",
        ),
        true,
        &l,
    );
    // The source, now known, keeps joining the victim's incident.
    c.observe(
        &alert(
            2,
            "port_scan",
            Severity::Medium,
            Some("10.0.0.66"),
            "10.0.0.12",
        ),
        true,
        &l,
    );
    let closed = c.close_all();
    assert_eq!(closed.len(), 1, "{closed:#?}");
    assert_eq!(closed[0].alert_count, 3);
}

#[test]
fn incidents_close_when_idle_and_weak_alerts_do_not_open_them() {
    let l = local();
    let mut c = Correlator::new(IncidentConfig::default());
    assert!(
        c.observe(
            &alert(0, "device", Severity::Low, Some("10.0.0.5"), "10.0.0.6"),
            true,
            &l
        )
        .is_none()
    );
    assert_eq!(c.stats().uncorrelated, 1);
    c.observe(
        &alert(
            0,
            "port_scan",
            Severity::Medium,
            Some("10.0.0.5"),
            "10.0.0.6",
        ),
        true,
        &l,
    );
    // A weak alert joins the open incident.
    c.observe(
        &alert(10, "device", Severity::Low, Some("10.0.0.5"), "10.0.0.6"),
        false,
        &l,
    );
    assert!(c.close_idle(at(1000)).is_empty());
    let closed = c.close_idle(at(10 + 1800));
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].update, IncidentUpdate::Closed);
    assert_eq!(
        closed[0].alerts.len(),
        1,
        "the repeat is counted, not listed"
    );
    assert_eq!(closed[0].alert_count, 2);
    // Later alerts of the same subject open a new incident.
    let again = c
        .observe(
            &alert(
                5000,
                "port_scan",
                Severity::Medium,
                Some("10.0.0.5"),
                "10.0.0.6",
            ),
            true,
            &l,
        )
        .unwrap();
    assert_eq!(again.id, 2);
}

#[test]
fn open_incidents_are_bounded() {
    let l = local();
    let config = IncidentConfig {
        max_open: 8,
        ..IncidentConfig::default()
    };
    let mut c = Correlator::new(config);
    for i in 0..100u32 {
        let src = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        c.observe(
            &alert(
                i64::from(i),
                "port_scan",
                Severity::Medium,
                Some(&src),
                "10.9.0.1",
            ),
            true,
            &l,
        );
    }
    assert_eq!(c.open().count(), 8);
    assert_eq!(c.stats().closed_early, 92);
    assert!(c.by_subject.len() <= 8);
    // Every incident gets its final record.
    assert_eq!(c.close_all().len(), 100);
}
