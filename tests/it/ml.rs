//! Issue 4 acceptance: a model trained on benign captures raises `ml_anomaly` on the flood
//! and scan captures and stays quiet on benign traffic it was not trained on.
//!
//! Training ([`netsentinel_tests::ml_training_captures`]): `tests/data/lab/benign_lab_a.pcap`
//! (made by `scripts/lab/make-benign.sh`) and the corpus's four credential captures
//! (ordinary logins). Held out: the corpus's `benign_office.pcap`, made by someone else
//! with other tools, and `benign_lab_b.pcap` (same lab, another seed and length). Every
//! setting is the default.

use std::net::IpAddr;

use netsentinel_core::{Alert, EngineConfig, Severity};
use netsentinel_tests::{alerts_with_config, data_dir, ml_alerts, train_reference_model};

#[test]
fn trained_model_flags_floods_and_scans_and_not_held_out_benign_traffic() {
    let dir = std::env::temp_dir().join(format!("ns-ml-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = train_reference_model(&dir);

    let attacker: IpAddr = "10.10.0.66".parse().unwrap();
    let mut report = Vec::new();
    for name in [
        "flood_syn",
        "flood_icmp",
        "scan_syn",
        "scan_fin",
        "scan_null",
        "scan_horizontal",
    ] {
        let alerts = ml_alerts(
            &data_dir().join(format!("corpus/attacks/{name}.pcap")),
            &model,
        )
        .unwrap();
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(data_dir().join(format!("corpus/attacks/{name}.truth.json")))
                .unwrap(),
        )
        .unwrap();
        let victims: Vec<IpAddr> = truth["victims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().parse().unwrap())
            .collect();
        let on_target = alerts.iter().any(|a| {
            a.severity >= Severity::Medium
                && a.src_ip
                    .is_some_and(|ip| ip == attacker || victims.contains(&ip))
        });
        assert!(
            on_target,
            "{name}: no ml_anomaly alert on the attacker or a victim: {alerts:#?}"
        );
        // The evidence says why: named features with their z-scores.
        let top = &alerts[0].evidence["top_features"];
        assert!(top[0]["feature"].is_string(), "{name}: {top}");
        assert!(top[0]["z"].as_f64().unwrap().abs() >= 4.0, "{name}: {top}");
        report.push(format!("{name}: {}", alerts[0].message));
    }

    for held_out in [
        data_dir().join("corpus/benign/benign_office.pcap"),
        data_dir().join("lab/benign_lab_b.pcap"),
    ] {
        let loud: Vec<Alert> = ml_alerts(&held_out, &model)
            .unwrap()
            .into_iter()
            .filter(|a| a.severity >= Severity::Medium)
            .collect();
        assert!(loud.is_empty(), "{}: {loud:#?}", held_out.display());
    }
    eprintln!("{}", report.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_model_nothing_fires_during_the_learning_period() {
    // Default settings learn for two hours of packet time; every corpus capture is
    // shorter, so even the floods raise no ml_anomaly alert yet.
    let alerts = alerts_with_config(
        &data_dir().join("corpus/attacks/flood_syn.pcap"),
        EngineConfig::default(),
    )
    .unwrap();
    assert!(alerts.iter().all(|a| a.detector != "ml_anomaly"));
}

#[test]
fn a_bad_model_file_is_a_clear_configuration_error() {
    let dir = std::env::temp_dir().join(format!("ns-ml-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.json");
    std::fs::write(&path, b"{\"format\": \"netsentinel-model\", \"format_ver").unwrap();
    let mut config = EngineConfig::default();
    config.detectors.ml_anomaly.model_path = Some(path.clone());
    let err = alerts_with_config(&data_dir().join("demo.pcap"), config).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("model_path") && text.contains("corrupt"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"{\"format\": \"netsentinel-model\", \"format_ver",
        "left as it was"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
