//! Issue 10: a parallel run gives the single-thread run's records, with every detector
//! doing real work: an anomaly model trained on the benign captures, a threat-intel feed
//! naming lab addresses, and a baseline that learns for the first 30 seconds and then
//! filters. (`netsentinel-core/tests/parallel.rs` covers every bundled capture with the
//! defaults, and hostile traffic over small caps.)

use netsentinel_core::testutil::{assert_same_transcript, transcript};
use netsentinel_core::{EngineConfig, FileSource};
use netsentinel_tests::{corpus_captures, data_dir, train_reference_model};

#[test]
fn every_lab_capture_gives_the_same_records_on_more_threads_with_model_feed_and_baseline() {
    let dir = std::env::temp_dir().join(format!("ns-parallel-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let feed = dir.join("feed.txt");
    std::fs::write(&feed, "10.10.0.66\n203.0.113.0/24\nexfil-dns.test\n").unwrap();
    let mut config = EngineConfig::default();
    config.detectors.ml_anomaly.model_path = Some(train_reference_model(&dir));
    config.detectors.threat_intel.feeds =
        vec![netsentinel_core::detect::threat_intel::FeedConfig {
            name: "lab".into(),
            path: feed,
            format: netsentinel_core::intel::FeedFormat::Auto,
            url: None,
        }];
    config.baseline.learning_secs = 30;
    let mut files = corpus_captures();
    files.push(data_dir().join("lab/benign_lab_a.pcap"));
    files.push(data_dir().join("lab/benign_lab_b.pcap"));
    let mut alerts = 0;
    for file in &files {
        let name = file.display().to_string();
        let single = transcript(&config, 1, &mut FileSource::open(file).unwrap());
        alerts += single.0.iter().filter(|r| r.starts_with("alert ")).count();
        for threads in [2, 4] {
            let parallel = transcript(&config, threads, &mut FileSource::open(file).unwrap());
            assert_same_transcript(&name, &single, threads, &parallel);
        }
    }
    assert!(alerts > 100, "only {alerts} alerts compared");
    let _ = std::fs::remove_dir_all(&dir);
}
