//! `port_scan`: vertical port scans, one source probing many ports of one target.
//!
//! **Detects** a source opening new flows to at least `min_ports` (default 20) distinct
//! ports of one target, each probe at most `window_secs` (default 60 s of packet time)
//! after the previous, where at most `max_used_ratio` (default 0.5) of those ports carried
//! data from the source: a scan touches ports and leaves, a client uses them. The scan
//! type comes from the probes' first packets: `syn` (half-open), `connect` (handshake
//! completed, then nothing sent), `fin`, `null`, `xmas`, `ack`, `udp`. One alert when the
//! threshold is crossed, one summary with the final port count when the scan goes idle
//! for `window_secs` or the input ends.
//!
//! **False positives**: passive-mode FTP and other protocols that open many data ports
//! are excluded by the data condition while they move data; a vulnerability scanner you
//! run yourself is a true positive.
//!
//! **References**: nmap's scan types (nmap.org/book/man-port-scanning-techniques.html);
//! MITRE ATT&CK T1046 (Network Service Discovery).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::distinct::{Activity, DistinctTracker, Ended, sample};
use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::{PacketView, TcpFlags, Transport};
use crate::flow::TcpState;
use crate::time::Timestamp;

/// Thresholds of `port_scan`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PortScanConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Distinct ports of one target that make a scan. Default 20.
    pub min_ports: u64,
    /// Longest gap between probes, in seconds of packet time. Default 60.
    pub window_secs: u64,
    /// Highest share of probed ports that may have carried data. Default 0.5.
    pub max_used_ratio: f64,
    /// Most (source, target) pairs tracked at once. Default 65,536.
    pub max_pairs: usize,
}

impl Default for PortScanConfig {
    fn default() -> Self {
        PortScanConfig {
            enabled: true,
            min_ports: 20,
            window_secs: 60,
            max_used_ratio: 0.5,
            max_pairs: 65_536,
        }
    }
}

/// The `port_scan` detector.
pub struct PortScanDetector {
    cfg: PortScanConfig,
    /// (source, target) -> (protocol, port) probed.
    pairs: DistinctTracker<(IpAddr, IpAddr), (u8, u16)>,
}

impl PortScanDetector {
    /// A detector with `config`.
    pub fn new(config: &PortScanConfig) -> Self {
        PortScanDetector {
            pairs: DistinctTracker::new(config.window_secs, config.max_pairs),
            cfg: config.clone(),
        }
    }

    fn alert(
        &self,
        now: Timestamp,
        (src, dst): (IpAddr, IpAddr),
        a: &Activity<(u8, u16)>,
        ended: bool,
    ) -> Alert {
        let kind = a.main_kind();
        let ports: Vec<u16> = sample(&a.values, 20).into_iter().map(|(_, p)| p).collect();
        let message = if ended {
            format!(
                "{} scan of {dst} by {src} ended: {} ports in {:.2} s",
                kind.to_uppercase(),
                a.distinct(),
                a.duration_secs()
            )
        } else {
            format!(
                "{} scan of {dst} by {src}: {} ports in {:.2} s",
                kind.to_uppercase(),
                a.distinct(),
                a.duration_secs()
            )
        };
        Alert::new(
            now,
            "port_scan",
            Severity::Medium,
            "reconnaissance",
            message,
        )
        .with_mitre("T1046")
        .with_endpoints(Some(src), None, Some(dst), None)
        .with_evidence("scan_type", kind)
        .with_evidence("ports", a.distinct())
        .with_evidence("sample_ports", ports)
        .with_evidence("ports_with_data", a.used.len())
        .with_evidence(
            "duration_secs",
            (a.duration_secs() * 1000.0).round() / 1000.0,
        )
        .with_evidence("phase", if ended { "ended" } else { "started" })
    }

    fn report_ended(
        &self,
        ended: Ended<(IpAddr, IpAddr), (u8, u16)>,
        now: Timestamp,
        cx: &mut Context<'_>,
    ) {
        for (key, a) in ended {
            // A summary only for scans that were reported and grew since.
            if a.grew_since_alert() {
                cx.emit(self.alert(now, key, &a, true));
            }
        }
    }
}

/// The scan type a flow's first TCP packet shows.
fn tcp_probe_kind(flags: TcpFlags) -> &'static str {
    const FIN_PSH_URG: u8 = TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG;
    match flags.0 & 0x3f {
        0 => "null",
        f if f == TcpFlags::SYN => "syn",
        f if f == TcpFlags::FIN => "fin",
        f if f == FIN_PSH_URG => "xmas",
        f if f == TcpFlags::ACK => "ack",
        _ => "other",
    }
}

impl Detector for PortScanDetector {
    fn id(&self) -> &'static str {
        "port_scan"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![self.pairs.usage("pairs")]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::UDP | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(ip), Some(flow)) = (pkt.ip(), cx.flow()) else {
            return;
        };
        let key = (flow.src_ip(), flow.dst_ip());
        let port = (flow.key.protocol, flow.dst_port);
        let first_packet = flow.packets() == 1;
        let kind = match pkt.transport {
            Transport::Tcp(t) if first_packet => tcp_probe_kind(t.flags),
            Transport::Udp { .. } if first_packet => "udp",
            Transport::Tcp(t) => {
                // A completed handshake with nothing sent after it is a connect() probe;
                // data from the initiator is real use.
                // The flow's first data from the initiator marks real use (once per flow:
                // later data packets skip the lookup).
                let first_data = !pkt.payload.is_empty()
                    && flow.to_server.payload_bytes == pkt.payload.len() as u64;
                if cx.from_initiator() && first_data {
                    self.pairs.used(key, port);
                } else if cx.from_initiator()
                    && t.flags.has(TcpFlags::ACK)
                    && flow.tcp_state == TcpState::Established
                    && flow.to_server.packets == 2
                    && let Some(a) = self.pairs.probe(pkt.ts, key, port, "connect")
                {
                    // Re-label: this probe was counted as `syn` on its first packet.
                    if let Some((_, n)) = a.kinds.iter_mut().find(|(k, _)| *k == "syn") {
                        *n = n.saturating_sub(1);
                    }
                }
                return;
            }
            Transport::Udp { .. } => {
                // The first answer with data from the target: the port is in real use.
                let first_answer = !pkt.payload.is_empty()
                    && flow.to_client.payload_bytes == pkt.payload.len() as u64;
                if !cx.from_initiator() && first_answer {
                    self.pairs.used(key, port);
                }
                return;
            }
            _ => return,
        };
        let _ = ip;
        let min_ports = self.cfg.min_ports;
        let max_used = self.cfg.max_used_ratio;
        let Some(a) = self.pairs.probe(pkt.ts, key, port, kind) else {
            return;
        };
        if a.alerted_at.is_none() && a.distinct() >= min_ports && a.used_ratio() <= max_used {
            a.alerted_at = Some(a.distinct());
            let snapshot = a.clone();
            cx.emit(self.alert(pkt.ts, key, &snapshot, false));
        }
    }

    fn on_tick(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        let ended = self.pairs.expire(now);
        self.report_ended(ended, now, cx);
    }

    fn on_finish(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        let ended = self.pairs.drain_where(Activity::grew_since_alert);
        self.report_ended(ended, now, cx);
    }
}
