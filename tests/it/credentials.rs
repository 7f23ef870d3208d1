//! Issue 5 acceptance (credentials): the credential captures yield exactly the user names
//! and passwords their truth files list, once per login, with the protocol named; the
//! alerts never show a password in full; benign and lab captures yield none.

use std::sync::Arc;

use netsentinel_core::detect::plaintext_credentials::{
    CapturedCredential, PlaintextCredentialsConfig, PlaintextCredentialsDetector,
};
use netsentinel_core::{Engine, EngineConfig, FileSource, FnSink};
use netsentinel_tests::data_dir;
use parking_lot::Mutex;

fn run(capture: &std::path::Path) -> (Vec<CapturedCredential>, Vec<netsentinel_core::Alert>) {
    let store = Arc::new(Mutex::new(Vec::new()));
    let detector = PlaintextCredentialsDetector::new(&PlaintextCredentialsConfig::default())
        .with_store(store.clone());
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let sink_alerts = alerts.clone();
    // The detector's own output, one alert per login: the alert gateway would count a
    // repeated login with the same user and password as a repeat.
    let mut config = EngineConfig::default();
    config.gateway.enabled = false;
    let mut engine = Engine::builder(config)
        .detector(detector)
        .sink(FnSink(move |a: &netsentinel_core::Alert| {
            sink_alerts.lock().push(a.clone())
        }))
        .build()
        .unwrap();
    engine.run(&mut FileSource::open(capture).unwrap()).unwrap();
    drop(engine);
    let found = store.lock().clone();
    let alerts = alerts.lock().clone();
    (found, alerts)
}

#[test]
fn credential_captures_yield_exactly_their_truth() {
    for name in ["cred_ftp", "cred_http_basic", "cred_pop3", "cred_telnet"] {
        let path = data_dir().join(format!("corpus/credentials/{name}.pcap"));
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("truth.json")).unwrap(),
        )
        .unwrap();
        let mut expected: Vec<(String, String)> = truth["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["user"].as_str().unwrap().to_string(),
                    c["password"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        expected.sort();
        let (found, alerts) = run(&path);
        let protocol = name.trim_start_matches("cred_").split('_').next().unwrap();
        let mut got: Vec<(String, String)> = found
            .iter()
            .map(|c| {
                assert_eq!(c.credential.protocol, protocol, "{name}: {c:?}");
                (
                    c.credential.username.clone().unwrap_or_default(),
                    c.credential.secret.clone(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, expected, "{name}: stored credentials");
        // One alert per login, each naming protocol and user, none with the password.
        assert_eq!(alerts.len(), expected.len(), "{name}: {alerts:#?}");
        for a in &alerts {
            assert_eq!(a.detector, "plaintext_credentials");
            assert_eq!(a.evidence["protocol"], protocol);
            for (user, password) in &expected {
                assert!(a.message.contains(user.as_str()), "{}", a.message);
                let text = serde_json::to_string(a).unwrap();
                assert!(
                    !text.contains(password.as_str()),
                    "{name}: password shown: {text}"
                );
            }
        }
    }
}

#[test]
fn benign_and_lab_captures_yield_no_credentials() {
    for rel in [
        "corpus/benign/benign_office.pcap",
        "lab/benign_lab_a.pcap",
        "lab/benign_lab_b.pcap",
    ] {
        let (found, alerts) = run(&data_dir().join(rel));
        assert!(found.is_empty() && alerts.is_empty(), "{rel}: {found:?}");
    }
}

#[test]
fn password_guessing_is_one_rejected_alert_plus_the_hit() {
    let (found, alerts) = run(&data_dir().join("corpus/attacks/brute_ftp.pcap"));
    assert!(found.len() > 20, "every attempt is stored: {}", found.len());
    let rejected = alerts
        .iter()
        .filter(|a| a.evidence["outcome"] == "rejected")
        .count();
    assert_eq!(rejected, 1, "{alerts:#?}");
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.evidence["outcome"] == "accepted")
            .count(),
        1,
        "hydra's hit"
    );
}
