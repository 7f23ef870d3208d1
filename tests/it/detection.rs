//! Issue 3 acceptance: every attack capture makes the
//! detector its truth file names fire with the right attacker and victim, the benign
//! capture raises nothing of medium severity or above, and floods give a handful of
//! alerts, not one per packet.

use std::net::IpAddr;

use netsentinel_core::{Alert, CollectSink, Engine, EngineConfig, FileSource, Severity};
use netsentinel_tests::data_dir;

fn alerts_for(capture: &std::path::Path) -> Vec<Alert> {
    let collected = std::sync::Arc::new(std::sync::Mutex::new(CollectSink::new()));
    let sink_side = std::sync::Arc::clone(&collected);
    let sink = netsentinel_core::FnSink(move |a: &Alert| {
        if let Ok(mut s) = sink_side.lock() {
            s.alerts.push(a.clone());
        }
    });
    let mut source = FileSource::open(capture).unwrap();
    let mut engine = Engine::builder(EngineConfig::default())
        .builtin_detectors()
        .sink(sink)
        .build()
        .unwrap();
    engine.run(&mut source).unwrap();
    let sink = collected.lock().unwrap();
    sink.alerts.clone()
}

/// The expected detector of each attack capture, from MANIFEST.md's table.
fn expected_detector(manifest: &str, capture: &str) -> Option<String> {
    manifest
        .lines()
        .find(|l| l.starts_with(&format!("| attacks/{capture}.pcap")))
        .and_then(|l| l.split('`').nth(1))
        .map(str::to_string)
}

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
