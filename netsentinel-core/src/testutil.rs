//! Frame builders for tests, examples and benchmarks (feature `testutil`).
//!
//! Frames are built with etherparse's `PacketBuilder`, so tests state packets by their
//! fields instead of hex blobs.

use std::net::Ipv4Addr;
use std::path::Path;

use etherparse::PacketBuilder;

use crate::decode::TcpFlags;
use crate::time::Timestamp;

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// An Ethernet/IPv4/TCP frame with the given flags (a [`TcpFlags`] bit set) and payload,
/// sequence number 1000.
pub fn tcp_frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    tcp_segment(src, dst, sport, dport, flags, 1000, payload)
}

/// [`tcp_frame`] with a chosen sequence number.
pub fn tcp_segment(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(sport, dport, seq, 64240);
    if flags & TcpFlags::SYN != 0 {
        b = b.syn();
    }
    if flags & TcpFlags::ACK != 0 {
        b = b.ack(1);
    }
    if flags & TcpFlags::FIN != 0 {
        b = b.fin();
    }
    if flags & TcpFlags::RST != 0 {
        b = b.rst();
    }
    if flags & TcpFlags::PSH != 0 {
        b = b.psh();
    }
    if flags & TcpFlags::URG != 0 {
        b = b.urg(0);
    }
    let mut out = Vec::with_capacity(64 + payload.len());
    // Writing into a Vec cannot fail and the builder's sizes are within limits.
    b.write(&mut out, payload).unwrap_or_default();
    out
}

/// An Ethernet/IPv4/UDP frame.
pub fn udp_frame(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv4(src.octets(), dst.octets(), 64)
        .udp(sport, dport);
    let mut out = Vec::with_capacity(64 + payload.len());
    b.write(&mut out, payload).unwrap_or_default();
    out
}

/// An Ethernet/IPv4/ICMP echo request (`reply = false`) or reply.
pub fn icmp_echo_frame(src: Ipv4Addr, dst: Ipv4Addr, reply: bool, seq: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC).ipv4(src.octets(), dst.octets(), 64);
    let b = if reply {
        b.icmpv4_echo_reply(7, seq)
    } else {
        b.icmpv4_echo_request(7, seq)
    };
    let mut out = Vec::new();
    b.write(&mut out, b"ping").unwrap_or_default();
    out
}

/// Writes Ethernet frames to a classic pcap file (microsecond timestamps).
///
/// # Errors
/// I/O errors from creating or writing the file.
pub fn write_pcap(path: &Path, frames: &[(Timestamp, Vec<u8>)]) -> std::io::Result<()> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let file = std::fs::File::create(path)?;
    let header = PcapHeader {
        datalink: pcap_file::DataLink::ETHERNET,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(file, header).map_err(std::io::Error::other)?;
    for (ts, data) in frames {
        let micros = u64::try_from(ts.as_micros()).unwrap_or(0);
        let pkt = PcapPacket::new(
            std::time::Duration::from_micros(micros),
            u32::try_from(data.len()).unwrap_or(u32::MAX),
            data,
        );
        w.write_packet(&pkt).map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// A sink that writes down every call it gets, one JSON line each (`alert {...}`,
/// `flow {...}`, `incident {...}`, `anomaly {...}`, `summary {...}`), for tests that
/// compare whole runs. Clones share one transcript.
#[derive(Clone, Default)]
pub struct TranscriptSink(std::sync::Arc<parking_lot::Mutex<Vec<String>>>);

impl TranscriptSink {
    fn push(&self, kind: &str, value: &impl serde::Serialize) {
        let json = serde_json::to_string(value).unwrap_or_else(|e| format!("unserialisable: {e}"));
        self.0.lock().push(format!("{kind} {json}"));
    }

    /// The calls so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().clone()
    }
}

impl crate::alert::AlertSink for TranscriptSink {
    fn alert(&mut self, alert: &crate::alert::Alert) -> Result<(), crate::alert::SinkError> {
        self.push("alert", alert);
        Ok(())
    }
    fn flow(&mut self, flow: &crate::flow::Flow) -> Result<(), crate::alert::SinkError> {
        self.push("flow", flow);
        Ok(())
    }
    fn anomaly(
        &mut self,
        event: &crate::alert::AnomalyEvent,
    ) -> Result<(), crate::alert::SinkError> {
        self.push("anomaly", event);
        Ok(())
    }
    fn incident(
        &mut self,
        incident: &crate::incident::Incident,
    ) -> Result<(), crate::alert::SinkError> {
        self.push("incident", incident);
        Ok(())
    }
    fn summary(
        &mut self,
        summary: &crate::engine::RunSummary,
    ) -> Result<(), crate::alert::SinkError> {
        self.push("summary", summary);
        Ok(())
    }
}

/// Analyses `source` with the built-in detectors of `config` on `threads` threads (1:
/// [`Engine::run`](crate::Engine::run), more: [`Engine::run_parallel`](crate::Engine::run_parallel)):
/// what the sinks got, and the summary or the error's message.
pub fn transcript(
    config: &crate::config::EngineConfig,
    threads: usize,
    source: &mut dyn crate::source::PacketSource,
) -> (Vec<String>, Result<crate::engine::RunSummary, String>) {
    transcript_with(config, threads, None, source)
}

/// How a parallel run under test cuts up its work: knobs that must change no record, set
/// to find where they would.
#[derive(Clone, Copy, Debug)]
pub struct Cuts {
    /// Packets per batch between the pipeline's stages (256 in a run): a few make short
    /// captures cross many batch ends.
    pub batch_packets: usize,
    /// On two threads, move the flow table between the stages after every this many
    /// batches (a run moves it only when that makes it faster).
    pub table_moves_every: Option<u32>,
}

/// [`transcript`] of a parallel run cut up as `cuts` says: the records must be the same
/// however the work is cut.
pub fn transcript_cut(
    config: &crate::config::EngineConfig,
    threads: usize,
    cuts: Cuts,
    source: &mut dyn crate::source::PacketSource,
) -> (Vec<String>, Result<crate::engine::RunSummary, String>) {
    transcript_with(config, threads, Some(cuts), source)
}

fn transcript_with(
    config: &crate::config::EngineConfig,
    threads: usize,
    cuts: Option<Cuts>,
    source: &mut dyn crate::source::PacketSource,
) -> (Vec<String>, Result<crate::engine::RunSummary, String>) {
    let sink = TranscriptSink::default();
    let engine = crate::Engine::builder(config.clone())
        .builtin_detectors()
        .sink(sink.clone())
        .build();
    let mut engine = match engine {
        Ok(e) => e,
        Err(e) => return (Vec::new(), Err(e.to_string())),
    };
    if let Some(cuts) = cuts {
        engine.batch_packets = cuts.batch_packets.max(1);
        if let Some(every) = cuts.table_moves_every {
            engine.table_moves = crate::engine::table_move::TableMoves::Every(every);
        }
    }
    let result = if threads <= 1 {
        engine.run(source)
    } else {
        engine.run_parallel(source, threads)
    };
    (sink.lines(), result.map_err(|e| e.to_string()))
}

/// Panics, naming the first difference, unless the two [`transcript`]s are equal.
pub fn assert_same_transcript(
    name: &str,
    single: &(Vec<String>, Result<crate::engine::RunSummary, String>),
    threads: usize,
    parallel: &(Vec<String>, Result<crate::engine::RunSummary, String>),
) {
    assert!(
        single.1 == parallel.1,
        "{name}: summary or error differs on {threads} threads"
    );
    for (i, (a, b)) in single.0.iter().zip(&parallel.0).enumerate() {
        if a != b {
            // Around the first difference only: one record can be a whole incident.
            let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            let from = at.saturating_sub(150);
            let window = |s: &str| {
                s.get(from..(at + 150).min(s.len()))
                    .unwrap_or(s)
                    .to_string()
            };
            panic!(
                "{name}: record {i} differs on {threads} threads, at byte {at}:\n{}\n{}",
                window(a),
                window(b)
            );
        }
    }
    assert_eq!(
        single.0.len(),
        parallel.0.len(),
        "{name}: record counts differ on {threads} threads"
    );
}

/// Ethernet frames cut from arbitrary bytes, as the fuzz targets read them: each frame is
/// one length byte, one time-step byte (tenths of a second), then that many bytes.
pub fn frames_from_bytes(data: &[u8]) -> crate::source::MemorySource {
    let mut source = crate::source::MemorySource::new(crate::source::LinkType::Ethernet);
    let mut rest = data;
    let mut ts = Timestamp::from_micros(1_000_000);
    while let [len, step, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (frame, next) = tail.split_at(n);
        ts = ts.add_micros(i64::from(*step) * 100_000);
        source.push(ts, frame.to_vec());
        rest = next;
    }
    source
}
