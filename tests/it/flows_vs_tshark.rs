//! Issue 2 acceptance: flow counts and per-flow packet and byte totals equal tshark's
//! conversations (`-z conv,tcp` / `-z conv,udp`, exact bytes from `tcp.stream` /
//! `udp.stream`, see tests/data/regen-tshark.sh) on every lab capture.

use std::net::IpAddr;
use std::path::Path;

use netsentinel_core::{EngineConfig, Flow};
use netsentinel_tests::{corpus_captures, run_capture};

#[derive(Debug)]
struct TsharkConv {
    proto: u8,
    a: (IpAddr, u16),
    b: (IpAddr, u16),
    frames_ab: u64,
    bytes_ab: u64,
    frames_ba: u64,
    bytes_ba: u64,
    first_micros: i64,
}

fn load_reference(capture: &Path) -> Vec<TsharkConv> {
    let tsv = capture.with_extension("tshark-flows.tsv");
    let text = std::fs::read_to_string(&tsv).unwrap_or_else(|e| panic!("{}: {e}", tsv.display()));
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let (secs, frac) = f[9].split_once('.').unwrap();
            let micros =
                secs.parse::<i64>().unwrap() * 1_000_000 + frac[..6].parse::<i64>().unwrap();
            TsharkConv {
                proto: if f[0] == "tcp" { 6 } else { 17 },
                a: (f[1].parse().unwrap(), f[2].parse().unwrap()),
                b: (f[3].parse().unwrap(), f[4].parse().unwrap()),
                frames_ab: f[5].parse().unwrap(),
                bytes_ab: f[6].parse().unwrap(),
                frames_ba: f[7].parse().unwrap(),
                bytes_ba: f[8].parse().unwrap(),
                first_micros: micros,
            }
        })
        .collect()
}

/// (packets, bytes) from `from` to the other end of `flow`.
fn sent_by(flow: &Flow, from: (IpAddr, u16)) -> (u64, u64) {
    if (flow.src_ip(), flow.src_port) == from {
        (flow.to_server.packets, flow.to_server.bytes)
    } else {
        (flow.to_client.packets, flow.to_client.bytes)
    }
}

#[test]
fn flows_match_tshark_conversations_on_every_lab_capture() {
    let captures = corpus_captures();
    assert!(
        captures.len() >= 17,
        "bundled captures missing: {captures:?}"
    );
    for capture in captures {
        let reference = load_reference(&capture);
        let (_, sink) = run_capture(&capture, EngineConfig::default()).unwrap();
        let ours: Vec<&Flow> = sink
            .flows
            .iter()
            .filter(|f| matches!(f.key.protocol, 6 | 17))
            .collect();
        let name = capture.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            ours.len(),
            reference.len(),
            "{name}: {} TCP/UDP flows, tshark has {} conversations",
            ours.len(),
            reference.len()
        );
        for conv in &reference {
            let endpoints = |f: &&&Flow| {
                let mine = [(f.src_ip(), f.src_port), (f.dst_ip(), f.dst_port)];
                f.key.protocol == conv.proto && mine.contains(&conv.a) && mine.contains(&conv.b)
            };
            let flow = ours
                .iter()
                .filter(endpoints)
                .min_by_key(|f| (f.first_seen.as_micros() - conv.first_micros).abs())
                .unwrap_or_else(|| panic!("{name}: no flow for {conv:?}"));
            assert_eq!(
                flow.first_seen.as_micros(),
                conv.first_micros,
                "{name}: start of {conv:?}"
            );
            assert_eq!(
                sent_by(flow, conv.a),
                (conv.frames_ab, conv.bytes_ab),
                "{name}: {conv:?}"
            );
            assert_eq!(
                sent_by(flow, conv.b),
                (conv.frames_ba, conv.bytes_ba),
                "{name}: {conv:?}"
            );
        }
    }
}

#[test]
fn conversation_tables_agree_with_the_exact_reference() {
    // The stored `-z conv` tables and the exact TSV come from the same tshark; this keeps
    // the two files honest (frame counts are exact in both).
    for capture in corpus_captures() {
        let reference = load_reference(&capture);
        for (proto, suffix) in [(6u8, "conv-tcp.txt"), (17, "conv-udp.txt")] {
            let table = std::fs::read_to_string(capture.with_extension(suffix)).unwrap();
            let mut conv: Vec<u64> = table
                .lines()
                .map(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    // A <-> B  frames bytes unit  frames bytes unit  total_frames ...
                    cols[9].parse::<u64>().unwrap()
                })
                .collect();
            let mut exact: Vec<u64> = reference
                .iter()
                .filter(|c| c.proto == proto)
                .map(|c| c.frames_ab + c.frames_ba)
                .collect();
            conv.sort_unstable();
            exact.sort_unstable();
            assert_eq!(conv, exact, "{}: {suffix}", capture.display());
        }
    }
}
