use super::*;
use crate::source::{FileSource, LinkType, PacketSource, RawPacket, Recv};

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ns-recording-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Packet `i`: 1 ms apart, its number in its bytes, sizes varying from 60 to 1,459.
fn packet(i: u32) -> (Timestamp, Vec<u8>) {
    let len = 60 + (i as usize * 37) % 1400;
    let mut data = vec![(i % 251) as u8; len];
    data[..4].copy_from_slice(&i.to_be_bytes());
    (
        Timestamp::from_micros(1_700_000_000_000_000 + i64::from(i) * 1000),
        data,
    )
}

fn raw(p: &(Timestamp, Vec<u8>)) -> RawPacket<'_> {
    RawPacket {
        ts: p.0,
        data: &p.1,
        orig_len: p.1.len() as u32 + 3,
        link: LinkType::Ethernet,
    }
}

/// Every packet of the capture files, in order: (time, original length, bytes).
fn read_all(files: &[PathBuf]) -> Vec<(Timestamp, u32, Vec<u8>)> {
    let mut out = Vec::new();
    for f in files {
        let mut source = FileSource::open(f).unwrap();
        while let Recv::Packet(p) = source.next_packet().unwrap() {
            out.push((p.ts, p.orig_len, p.data.to_vec()));
        }
    }
    out
}

fn capture_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_ring_keeps_within_its_byte_bound_and_exports_a_span_exactly() {
    let packets: Vec<_> = (0..20_000).map(packet).collect();
    let mut ring = PacketRing::new(150_000, 4 << 20);
    for p in &packets {
        ring.push(&raw(p));
    }
    assert!(ring.bytes_held() <= 4 << 20, "{}", ring.bytes_held());
    assert!(ring.evicted() > 0 && ring.len() + ring.evicted() as usize == packets.len());
    // The newest packets are those kept.
    let first_kept = packets.len() - ring.len();
    assert_eq!(ring.oldest(), Some(packets[first_kept].0));

    let dir = temp("span");
    let (from, to) = (packets[first_kept + 100].0, packets[first_kept + 600].0);
    let file = dir.join("span.pcap");
    let done = ring.export(from, to, &file, CaptureFormat::Pcap).unwrap();
    assert_eq!(done.packets, 501);
    let got = read_all(&[file]);
    let want: Vec<_> = packets[first_kept + 100..=first_kept + 600]
        .iter()
        .map(|p| (p.0, p.1.len() as u32 + 3, p.1.clone()))
        .collect();
    assert!(got == want, "the exported packets differ");
    // Nothing kept in the span: an error, and no file.
    let none = dir.join("none.pcap");
    let err = ring
        .export(packets[0].0, packets[1].0, &none, CaptureFormat::Pcap)
        .unwrap_err();
    assert!(matches!(err, RecordingError::Empty { .. }), "{err}");
    assert!(!none.exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn recording_rotates_by_size_without_losing_or_repeating_a_packet() {
    let dir = temp("rotate");
    let packets: Vec<_> = (0..5_000).map(packet).collect();
    for format in [CaptureFormat::Pcap, CaptureFormat::Pcapng] {
        let sub = dir.join(format.extension());
        let config = RecordingConfig {
            enabled: true,
            directory: Some(sub.clone()),
            format,
            file_max_bytes: 64 * 1024,
            files_kept: 1000,
            ..RecordingConfig::default()
        };
        let mut recorder = Recorder::new(&sub, config).unwrap();
        for p in &packets {
            recorder.write(&raw(p)).unwrap();
        }
        recorder.finish().unwrap();
        let files = capture_files(&sub);
        assert!(files.len() > 50, "{format:?}: {} files", files.len());
        for f in &files {
            let len = std::fs::metadata(f).unwrap().len();
            assert!(len <= 64 * 1024, "{f:?}: {len} bytes");
        }
        let got = read_all(&files);
        let want: Vec<_> = packets
            .iter()
            .map(|p| (p.0, p.1.len() as u32 + 3, p.1.clone()))
            .collect();
        assert_eq!(got.len(), want.len(), "{format:?}");
        assert!(got == want, "{format:?}: packets differ across rotations");
        assert_eq!(recorder.stats().packets, 5_000);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn recording_rotates_by_time_and_keeps_a_bounded_number_of_files() {
    let dir = temp("time");
    let config = RecordingConfig {
        enabled: true,
        directory: Some(dir.clone()),
        file_max_secs: 1,
        files_kept: 3,
        ..RecordingConfig::default()
    };
    let mut recorder = Recorder::new(&dir, config).unwrap();
    // 10 s of packets, 1 ms apart: ten one-second files, the newest three kept.
    for i in 0..10_000 {
        recorder.write(&raw(&packet(i))).unwrap();
    }
    recorder.finish().unwrap();
    let files = capture_files(&dir);
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(recorder.stats().files_started, 10);
    assert_eq!(recorder.stats().files_deleted, 7);
    let got = read_all(&files);
    assert_eq!(got.len(), 3000);
    assert_eq!(got[0].0, packet(7000).0, "the last three seconds are kept");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_handle_saves_from_another_thread_and_is_answered_after_the_engine_is_gone() {
    use crate::{Engine, EngineConfig, MemorySource};
    let dir = temp("handle");
    let mut source = MemorySource::new(LinkType::Ethernet);
    for i in 0..3000 {
        let (ts, data) = packet(i);
        source.push(ts, data);
    }
    let mut config = EngineConfig::default();
    config.ring.mode = RingMode::Always;
    let mut engine = Engine::builder(config).build().unwrap();
    let handle = engine.ring_handle();
    let file = dir.join("last.pcap");
    // Asked before the run: served on its first packet, so it holds that one packet.
    let early = handle.save_last(300, &file);
    engine.run(&mut source).unwrap();
    let done = early.recv().unwrap().unwrap();
    assert_eq!(done.packets, 1);
    // The library call on the engine's own thread: the last second is 1,001 packets
    // (both ends included, 1 ms apart).
    let last = engine.save_last(1, &dir.join("second.pcap")).unwrap();
    assert_eq!(last.packets, 1001);
    drop(engine);
    let late = handle.save_last(300, dir.join("late.pcap"));
    assert!(matches!(late.recv().unwrap(), Err(RecordingError::NoRing)));
    std::fs::remove_dir_all(&dir).ok();
}
