//! A parallel run gives what a single-thread run gives: every record the sinks receive
//! (alerts, incidents, flows, anomaly events, the summary), in the same order, for every
//! capture in the repository and for hostile traffic that fills the tables, on 2 to 5
//! threads.

use std::path::{Path, PathBuf};

use netsentinel_core::testutil::{
    Cuts, assert_same_transcript, tcp_segment, transcript, transcript_cut, udp_frame,
};
use netsentinel_core::{EngineConfig, FileSource, LinkType, MemorySource, TcpFlags, Timestamp};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

fn captures(dir: &Path, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            captures(&p, into);
        } else if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
            into.push(p);
        }
    }
}

#[test]
fn every_capture_in_the_repository_gives_the_same_records_on_more_threads() {
    let mut files = Vec::new();
    captures(&data().join("corpus"), &mut files);
    captures(&data().join("lab"), &mut files);
    files.push(data().join("demo.pcap"));
    captures(&data().join("malformed"), &mut files);
    assert!(files.len() > 100, "{} captures found", files.len());
    let config = EngineConfig::default();
    let mut records = 0;
    for file in &files {
        let name = file.display().to_string();
        let open = || FileSource::open(file);
        let Ok(mut source) = open() else {
            // Not a capture the reader accepts: both runs would fail the same way.
            continue;
        };
        let single = transcript(&config, 1, &mut source);
        records += single.0.len();
        // From 4 threads on, flow threads keep the flow table's shards (8: three of them).
        for threads in [2, 3, 5, 8] {
            let parallel = transcript(&config, threads, &mut open().unwrap());
            assert_same_transcript(&name, &single, threads, &parallel);
        }
        // Batches of a few packets, so that short captures cross batch ends too: on two
        // threads the flow table moving between the stages after every batch, on three
        // and five detector and flow threads catching up at every batch end.
        for threads in [2, 3, 5] {
            let cuts = Cuts {
                batch_packets: 3,
                table_moves_every: Some(1),
            };
            let cut = transcript_cut(&config, threads, cuts, &mut open().unwrap());
            let moving = if threads == 2 { ", table moving" } else { "" };
            let name = format!("{name} (batches of 3{moving})");
            assert_same_transcript(&name, &single, threads, &cut);
        }
    }
    assert!(records > 1000, "only {records} records compared");
}

/// Hostile traffic over small caps: evictions and full tables must happen the same way.
#[test]
fn traffic_that_fills_every_table_gives_the_same_records_on_more_threads() {
    let config = EngineConfig::from_json(
        r#"{
        "flow": {"max_flows": 64, "shards": 4},
        "traffic": {"max_hosts": 64},
        "devices": {"max_devices": 16},
        "gateway": {"max_keys": 16},
        "detectors": {
            "port_scan": {"max_pairs": 16},
            "host_sweep": {"max_keys": 16},
            "syn_flood": {"max_targets": 16},
            "udp_flood": {"max_targets": 16},
            "brute_force": {"max_keys": 16},
            "dns_tunnel": {"max_keys": 16},
            "suspicious_dns": {"max_keys": 16},
            "tcp_anomaly": {"max_keys": 16}
        }
    }"#,
    )
    .unwrap();
    let mut source = MemorySource::new(LinkType::Ethernet);
    let mut t = 0i64;
    for i in 0u32..30_000 {
        t += 700;
        let a = std::net::Ipv4Addr::from(0x0a00_0000 | (i % 300));
        let b = std::net::Ipv4Addr::from(0x0a01_0000 | (i * 7919 % 5000));
        let frame = match i % 4 {
            0 => tcp_segment(
                a,
                b,
                40_000 + (i % 1000) as u16,
                (i % 1024) as u16,
                TcpFlags::SYN,
                i,
                b"",
            ),
            1 => udp_frame(a, b, 5353, 53, format!("q{i}.example").as_bytes()),
            2 => tcp_segment(b, a, 22, 40_000, TcpFlags::RST | TcpFlags::ACK, i, b""),
            _ => udp_frame(a, b, 10_000, (i % 2000) as u16, &[0u8; 40]),
        };
        source.push(Timestamp::from_micros(t), frame);
    }
    let single = transcript(&config, 1, &mut source.clone());
    assert!(single.0.len() > 1000, "{} records", single.0.len());
    for threads in [2, 4, 6] {
        let parallel = transcript(&config, threads, &mut source.clone());
        assert_same_transcript("hostile", &single, threads, &parallel);
    }
    // Two threads, the flow table moving after every batch, every second, every third.
    for every in 1..=3 {
        let cuts = Cuts {
            batch_packets: 256,
            table_moves_every: Some(every),
        };
        let moving = transcript_cut(&config, 2, cuts, &mut source.clone());
        assert_same_transcript(
            &format!("hostile, moving every {every}"),
            &single,
            2,
            &moving,
        );
    }
}

/// More flows alive at the end than the engine ends in one round (4,096): on two threads
/// the output stage keeps the flow table and ends them itself, round by round.
#[test]
fn flows_alive_at_the_end_end_alike_on_more_threads() {
    let mut source = MemorySource::new(LinkType::Ethernet);
    for i in 0u32..10_000 {
        let a = std::net::Ipv4Addr::from(0x0a00_0000 | (i % 50));
        let b = std::net::Ipv4Addr::from(0xc633_6400 | (i % 200));
        let frame = if i % 3 == 0 {
            tcp_segment(
                a,
                b,
                30_000 + (i % 20_000) as u16,
                80,
                TcpFlags::SYN,
                i,
                b"",
            )
        } else {
            udp_frame(
                a,
                b,
                30_000 + (i % 20_000) as u16,
                4_000 + (i % 7) as u16,
                b"x",
            )
        };
        source.push(Timestamp::from_micros(i64::from(i) * 100), frame);
    }
    let config = EngineConfig::default();
    let single = transcript(&config, 1, &mut source.clone());
    assert!(single.0.len() > 9_000, "{} records", single.0.len());
    for threads in [2, 3] {
        let parallel = transcript(&config, threads, &mut source.clone());
        assert_same_transcript("alive at the end", &single, threads, &parallel);
    }
    // The flow table moving after every batch, or every sixth: 39 full batches leave it
    // on the packet stage at the end, then on the output stage.
    for every in [1, 6] {
        let cuts = Cuts {
            batch_packets: 256,
            table_moves_every: Some(every),
        };
        let moving = transcript_cut(&config, 2, cuts, &mut source.clone());
        let name = format!("alive at the end, moving every {every}");
        assert_same_transcript(&name, &single, 2, &moving);
    }
}

/// A source of `n` DNS packets, then an I/O error.
struct FailsAfter {
    n: u32,
    sent: u32,
    frame: Vec<u8>,
}

impl netsentinel_core::PacketSource for FailsAfter {
    fn next_packet(&mut self) -> Result<netsentinel_core::Recv<'_>, netsentinel_core::SourceError> {
        if self.sent == self.n {
            return Err(netsentinel_core::SourceError::Io {
                path: "test".into(),
                source: std::io::Error::other("disk gone"),
            });
        }
        self.sent += 1;
        Ok(netsentinel_core::Recv::Packet(
            netsentinel_core::RawPacket {
                ts: Timestamp::from_micros(i64::from(self.sent) * 1000),
                data: &self.frame,
                orig_len: self.frame.len() as u32,
                link: LinkType::Ethernet,
            },
        ))
    }
    fn name(&self) -> &str {
        "fails"
    }
}

#[test]
fn a_source_that_fails_ends_a_parallel_run_with_its_error_after_its_packets() {
    let frame = udp_frame(
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        4000,
        53,
        b"x",
    );
    let config = EngineConfig::default();
    let single = transcript(
        &config,
        1,
        &mut FailsAfter {
            n: 5000,
            sent: 0,
            frame: frame.clone(),
        },
    );
    assert!(
        single.1.as_ref().is_err_and(|e| e.contains("disk gone")),
        "{:?}",
        single.1
    );
    // 5: with a flow thread, whose batches in flight are put back before the error.
    for threads in [2, 3, 5] {
        let parallel = transcript(
            &config,
            threads,
            &mut FailsAfter {
                n: 5000,
                sent: 0,
                frame: frame.clone(),
            },
        );
        assert_same_transcript("failing source", &single, threads, &parallel);
    }
}

/// Takes `left` records, then fails.
struct FullDisk {
    left: usize,
}

impl netsentinel_core::AlertSink for FullDisk {
    fn alert(&mut self, _: &netsentinel_core::Alert) -> Result<(), netsentinel_core::SinkError> {
        self.spend()
    }
    fn flow(&mut self, _: &netsentinel_core::Flow) -> Result<(), netsentinel_core::SinkError> {
        self.spend()
    }
}

impl FullDisk {
    fn spend(&mut self) -> Result<(), netsentinel_core::SinkError> {
        if self.left == 0 {
            return Err(netsentinel_core::SinkError::Io(std::io::Error::other(
                "disk full",
            )));
        }
        self.left -= 1;
        Ok(())
    }
}

#[test]
fn a_failing_sink_ends_a_parallel_run_with_its_error_and_every_thread_stops() {
    let mut files = Vec::new();
    captures(&data().join("corpus/attacks"), &mut files);
    let file = files
        .iter()
        .find(|f| f.ends_with("scan_syn.pcap"))
        .expect("scan_syn.pcap in the corpus");
    for threads in [2, 4] {
        let mut engine = netsentinel_core::Engine::builder(EngineConfig::default())
            .builtin_detectors()
            .sink(FullDisk { left: 100 })
            .build()
            .unwrap();
        let result = engine.run_parallel(&mut FileSource::open(file).unwrap(), threads);
        let err = result.expect_err("the sink failed");
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}

/// One packet of a random conversation mix: (kind, host pair, port, flags, payload byte,
/// time step in ms).
type RandomPacket = (u8, (u8, u8), u16, u8, u8, u16);

fn frame_of(p: &RandomPacket) -> Vec<u8> {
    let (kind, (a, b), port, flags, byte, _) = *p;
    // A few hosts, so flows, scans and floods meet; some outside the local networks.
    let host = |n: u8| match n % 4 {
        3 => std::net::Ipv4Addr::new(203, 0, 113, n % 8),
        _ => std::net::Ipv4Addr::new(192, 168, 1, n % 16),
    };
    let (src, dst) = (host(a), host(b));
    let payload = vec![byte; usize::from(byte % 64)];
    match kind % 5 {
        0 | 1 => tcp_segment(
            src,
            dst,
            40_000 + port % 64,
            port % 1024,
            flags,
            u32::from(port),
            &payload,
        ),
        2 => tcp_segment(
            dst,
            src,
            port % 1024,
            40_000 + port % 64,
            flags,
            u32::from(port),
            &payload,
        ),
        3 => udp_frame(
            src,
            dst,
            5000 + port % 8,
            [53, 123, 161, 1900][usize::from(port % 4)],
            &payload,
        ),
        _ => netsentinel_core::testutil::icmp_echo_frame(src, dst, flags % 2 == 0, port),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any packet stream: the same transcript on 1 thread, on 3, and on 6 (two flow
    /// threads keeping four shards of a small table, so flows are evicted).
    #[test]
    fn random_traffic_gives_the_same_records_on_more_threads(
        packets in proptest::collection::vec(proptest::prelude::any::<RandomPacket>(), 1..600)
    ) {
        let mut source = MemorySource::new(LinkType::Ethernet);
        let mut t = 1_700_000_000_000_000i64;
        for p in &packets {
            t += i64::from(p.5 % 3000) * 1000;
            source.push(Timestamp::from_micros(t), frame_of(p));
        }
        let config = EngineConfig::default();
        let single = transcript(&config, 1, &mut source.clone());
        let parallel = transcript(&config, 3, &mut source.clone());
        assert_same_transcript("random traffic", &single, 3, &parallel);
        let mut small = EngineConfig::default();
        small.flow.max_flows = 24;
        small.flow.shards = 4;
        let single = transcript(&small, 1, &mut source.clone());
        let parallel = transcript(&small, 6, &mut source.clone());
        assert_same_transcript("random traffic, small table", &single, 6, &parallel);
    }
}
