//! A detector of your own, plugged into the engine.
//!
//! Counts SYNs per destination port and reports a port once it got SYNs from 10 or more
//! distinct sources within a run.
//!
//! ```sh
//! cargo run -p netsentinel-examples --example custom_detector -- tests/data/demo.pcap
//! ```

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use netsentinel_core::{
    Alert, ConsoleSink, Context, Detector, Engine, EngineConfig, FileSource, Interest, PacketView,
    Severity, TcpFlags,
};

/// Reports a TCP port that many distinct hosts try to open.
struct PopularPort {
    sources: HashMap<u16, HashSet<IpAddr>>,
    reported: HashSet<u16>,
}

impl Detector for PopularPort {
    fn id(&self) -> &'static str {
        "popular_port"
    }

    fn interest(&self) -> Interest {
        Interest::TCP
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(tcp), Some(ip)) = (pkt.tcp(), pkt.ip()) else {
            return;
        };
        if !tcp.flags.has(TcpFlags::SYN) || tcp.flags.has(TcpFlags::ACK) {
            return;
        }
        let seen = self.sources.entry(tcp.dst_port).or_default();
        seen.insert(ip.src);
        let hosts = seen.len();
        if hosts >= 10 && self.reported.insert(tcp.dst_port) {
            let alert = Alert::new(
                cx.now(),
                self.id(),
                Severity::Info,
                "inventory",
                format!("port {} opened by {hosts} hosts", tcp.dst_port),
            )
            .with_evidence("port", tcp.dst_port);
            cx.emit(alert);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/data/demo.pcap".into());
    let mut source = FileSource::open(&path)?;
    let mut engine = Engine::builder(EngineConfig::default())
        .detector(PopularPort {
            sources: HashMap::new(),
            reported: HashSet::new(),
        })
        .sink(ConsoleSink::new(std::io::stdout()))
        .build()?;
    let summary = engine.run(&mut source)?;
    println!(
        "{} packets, {} alerts",
        summary.traffic.packets, summary.alerts
    );
    Ok(())
}
