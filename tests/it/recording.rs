//! The packet ring and incident captures on corpus captures.

use std::path::Path;

use netsentinel_core::incident::IncidentUpdate;
use netsentinel_core::recording::{CaptureFormat, RingMode};
use netsentinel_core::source::{PacketSource, Recv};
use netsentinel_core::{Engine, EngineConfig, FileSource, Timestamp};
use netsentinel_tests::{data_dir, run_with_builtin_detectors};

/// Every packet of a capture: (time, original length, bytes).
fn packets(path: &Path) -> Vec<(Timestamp, u32, Vec<u8>)> {
    let mut source = FileSource::open(path).unwrap();
    let mut out = Vec::new();
    while let Recv::Packet(p) = source.next_packet().unwrap() {
        out.push((p.ts, p.orig_len, p.data.to_vec()));
    }
    out
}

#[test]
fn a_saved_span_holds_exactly_the_packets_of_that_span_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for capture in [
        "corpus/attacks/beacon_http.pcap",
        "corpus/benign/benign_office.pcap",
    ] {
        let original = data_dir().join(capture);
        let all = packets(&original);
        let mut config = EngineConfig::default();
        config.ring.mode = RingMode::Always;
        let mut engine = Engine::builder(config).builtin_detectors().build().unwrap();
        engine
            .run(&mut FileSource::open(&original).unwrap())
            .unwrap();
        // The middle half of the capture, bounds on packet times.
        let (first, last) = (all[0].0, all[all.len() - 1].0);
        let quarter = last.micros_since(first) / 4;
        let (from, to) = (all[all.len() / 4].0, first.add_micros(3 * quarter));
        let out = dir.path().join("span.pcap");
        let ring = engine.ring().unwrap();
        let done = ring.export(from, to, &out, CaptureFormat::Pcap).unwrap();
        let want: Vec<_> = all
            .iter()
            .filter(|p| p.0 >= from && p.0 <= to)
            .cloned()
            .collect();
        let got = packets(&out);
        assert!(
            want.len() > 10,
            "{capture}: {} packets in the span",
            want.len()
        );
        assert_eq!(got.len(), want.len(), "{capture}");
        assert!(
            got == want,
            "{capture}: exported packets differ from the original's"
        );
        assert_eq!(done.packets as usize, want.len());
        // The whole file is in the ring (fewer than 150,000 packets): the last N seconds
        // reach back exactly N seconds from the newest packet.
        let last10 = engine
            .save_last(10, &dir.path().join("last10.pcap"))
            .unwrap();
        let want10 = all
            .iter()
            .filter(|p| p.0 >= last.add_micros(-10_000_000))
            .count();
        assert_eq!(last10.packets as usize, want10, "{capture}");
    }
}

#[test]
fn an_incident_gets_a_capture_of_its_packets() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::default();
    config.ring.directory = Some(dir.path().to_path_buf());
    config.ring.mode = RingMode::Always;
    let path = data_dir().join("corpus/attacks/brute_ssh.pcap");
    let (summary, out) =
        run_with_builtin_detectors(&mut FileSource::open(&path).unwrap(), config.clone()).unwrap();
    assert_eq!(summary.captures.incident_captures, 1);
    let closed = out
        .incidents
        .iter()
        .find(|i| i.update == IncidentUpdate::Closed)
        .unwrap();
    let file = closed
        .capture
        .as_deref()
        .expect("the closed incident names its capture");
    let got = packets(Path::new(file));
    // Its span: from 60 s before the first alert to 30 s after.
    let from = closed.first_seen.add_micros(-60_000_000);
    let to = closed.first_seen.add_micros(30_000_000);
    let want: Vec<_> = packets(&path)
        .into_iter()
        .filter(|p| p.0 >= from && p.0 <= to)
        .collect();
    assert!(!want.is_empty());
    assert!(got == want, "{} packets, want {}", got.len(), want.len());
}
