//! The alert gateway and incident correlation on the lab captures.

use std::path::Path;

use netsentinel_core::incident::{ChainKind, Incident, IncidentUpdate};
use netsentinel_core::source::{PacketSource, Recv};
use netsentinel_core::{EngineConfig, FileSource, MemorySource, Severity, Timestamp};
use netsentinel_tests::{data_dir, run_with_builtin_detectors};

/// The packets of several captures merged in time order, as `mergecap` does.
fn merged(captures: &[&str]) -> MemorySource {
    let mut frames: Vec<(Timestamp, Vec<u8>)> = Vec::new();
    for c in captures {
        let path = data_dir().join("corpus/attacks").join(c);
        let mut source = FileSource::open(Path::new(&path)).unwrap();
        while let Recv::Packet(p) = source.next_packet().unwrap() {
            frames.push((p.ts, p.data.to_vec()));
        }
    }
    frames.sort_by_key(|f| f.0);
    frames.into_iter().collect()
}

/// Final records, one per incident.
fn closed(incidents: &[Incident]) -> Vec<&Incident> {
    incidents
        .iter()
        .filter(|i| i.update == IncidentUpdate::Closed)
        .collect()
}

#[test]
fn a_scan_then_brute_force_on_the_same_target_is_one_escalating_incident() {
    // nmap's SYN scan of 10.10.0.10, then hydra against its FTP server a minute later (the
    // two lab captures merged in time order), which ends with the password found.
    let (summary, out) = run_with_builtin_detectors(
        &mut merged(&["scan_syn.pcap", "brute_ftp.pcap"]),
        EngineConfig::default(),
    )
    .unwrap();
    let finals = closed(&out.incidents);
    assert_eq!(finals.len(), 1, "{:#?}", out.incidents);
    let incident = finals[0];
    assert_eq!(incident.subject, "10.10.0.66".parse().ok());
    let chains: Vec<ChainKind> = incident.chains.iter().map(|c| c.chain).collect();
    assert_eq!(
        chains,
        [
            ChainKind::ReconnaissanceToAttack,
            ChainKind::AttackToCompromise
        ]
    );
    for c in &incident.chains {
        assert_eq!(c.target, "10.10.0.10".parse().ok());
    }
    assert_eq!(incident.severity, Severity::Critical);
    assert!(incident.detectors.contains("port_scan") && incident.detectors.contains("brute_force"));
    assert!(
        incident.narrative.contains("escalation"),
        "{}",
        incident.narrative
    );
    // Every record of it has the same id: opened, escalated twice, closed.
    assert!(out.incidents.iter().all(|i| i.id == incident.id));
    assert_eq!(out.incidents[0].update, IncidentUpdate::Opened);
    assert_eq!(summary.incidents.escalations, 2);

    // The same with SSH: reconnaissance then attack, no login seen.
    let (_, out) = run_with_builtin_detectors(
        &mut merged(&["scan_syn.pcap", "brute_ssh.pcap"]),
        EngineConfig::default(),
    )
    .unwrap();
    let finals = closed(&out.incidents);
    assert_eq!(finals.len(), 1, "{:#?}", out.incidents);
    let chains: Vec<ChainKind> = finals[0].chains.iter().map(|c| c.chain).collect();
    assert_eq!(chains, [ChainKind::ReconnaissanceToAttack]);
}

#[test]
fn a_flood_of_20000_packets_gives_a_few_alerts_and_one_incident() {
    for capture in ["flood_icmp.pcap", "flood_syn.pcap"] {
        let (summary, out) =
            run_with_builtin_detectors(&mut merged(&[capture]), EngineConfig::default()).unwrap();
        assert!(summary.traffic.packets >= 20_000, "{capture}");
        assert!(
            (1..=3).contains(&out.alerts.len()),
            "{capture}: {:#?}",
            out.alerts
        );
        assert_eq!(
            closed(&out.incidents).len(),
            1,
            "{capture}: {:#?}",
            out.incidents
        );
        // Nothing lost: every alert raised is written or counted.
        let g = &summary.gateway;
        assert_eq!(
            g.received,
            g.written + g.repeats + g.suppressed_by_rules + g.whitelisted
        );
        assert_eq!(g.written, out.alerts.len() as u64);
    }
}

#[test]
fn written_alerts_carry_their_context_and_verdict() {
    let (_, out) = run_with_builtin_detectors(
        &mut merged(&["scan_syn.pcap", "brute_ftp.pcap"]),
        EngineConfig::default(),
    )
    .unwrap();
    let brute = out
        .alerts
        .iter()
        .find(|a| a.detector == "brute_force")
        .unwrap();
    let cx = brute.context.as_ref().unwrap();
    let dst = cx.dst.as_ref().unwrap();
    assert_eq!(dst.device_kind.as_deref(), Some("server"), "{cx:#?}");
    assert!(dst.mac.is_some() && dst.vendor.is_some());
    let v = brute.verdict.as_ref().unwrap();
    let factors: Vec<&str> = v.factors.iter().map(|f| f.factor.as_str()).collect();
    // The scan came first: corroboration; and the capture is younger than the learning period.
    assert!(factors.contains(&"corroboration"), "{factors:?}");
    assert!(factors.contains(&"baseline_learning"), "{factors:?}");
    assert!(v.confidence > 0.5 && v.confidence < 1.0);
}

#[test]
fn with_the_gateway_off_detectors_output_reaches_sinks_unchanged() {
    let mut config = EngineConfig::default();
    config.gateway.enabled = false;
    let (summary, out) =
        run_with_builtin_detectors(&mut merged(&["flood_icmp.pcap"]), config).unwrap();
    assert!(
        out.alerts
            .iter()
            .all(|a| a.verdict.is_none() && a.context.is_none())
    );
    assert_eq!(summary.gateway.received, 0);
}
