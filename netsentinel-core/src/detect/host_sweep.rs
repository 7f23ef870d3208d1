//! `host_sweep`: horizontal scans and ping sweeps, one source probing many hosts on the
//! same port.
//!
//! **Detects** a source opening new flows to at least `min_hosts` (default 10) distinct
//! hosts on one (protocol, port), or sending ICMP echo requests to as many hosts, each
//! probe at most `window_secs` (default 60 s of packet time) after the previous. For TCP
//! and UDP at most `max_used_ratio` (default 0.3) of those hosts may have exchanged data
//! with the source: browsing many web servers is use, a sweep touches and leaves. One
//! alert when the threshold is crossed, one summary with the final host count when the
//! sweep goes idle or the input ends.
//!
//! **False positives**: network monitoring that pings or probes every host (a true sweep,
//! by someone you trust), service discovery clients.
//!
//! **References**: nmap host discovery (nmap.org/book/man-host-discovery.html); MITRE
//! ATT&CK T1046 (Network Service Discovery) and T1018 (Remote System Discovery).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::distinct::{Activity, DistinctTracker, Ended, sample};
use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::{PacketView, Transport};
use crate::time::Timestamp;

/// Thresholds of `host_sweep`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HostSweepConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Distinct hosts on one port (or pinged) that make a sweep. Default 10.
    pub min_hosts: u64,
    /// Longest gap between probes, in seconds of packet time. Default 60.
    pub window_secs: u64,
    /// Highest share of swept hosts that may have exchanged data. Default 0.3.
    pub max_used_ratio: f64,
    /// Most (source, port) keys tracked at once. Default 65,536.
    pub max_keys: usize,
}

impl Default for HostSweepConfig {
    fn default() -> Self {
        HostSweepConfig {
            enabled: true,
            min_hosts: 10,
            window_secs: 60,
            max_used_ratio: 0.3,
            max_keys: 65_536,
        }
    }
}

/// ICMP echo sweeps use this pseudo protocol/port key.
const PING: (u8, u16) = (1, 0);

/// The `host_sweep` detector.
pub struct HostSweepDetector {
    cfg: HostSweepConfig,
    /// (source, protocol, port) -> hosts probed.
    sweeps: DistinctTracker<(IpAddr, u8, u16), IpAddr>,
}

impl HostSweepDetector {
    /// A detector with `config`.
    pub fn new(config: &HostSweepConfig) -> Self {
        HostSweepDetector {
            sweeps: DistinctTracker::new(config.window_secs, config.max_keys),
            cfg: config.clone(),
        }
    }

    fn alert(
        now: Timestamp,
        (src, proto, port): (IpAddr, u8, u16),
        a: &Activity<IpAddr>,
        ended: bool,
    ) -> Alert {
        let hosts: Vec<String> = sample(&a.values, 32)
            .iter()
            .map(ToString::to_string)
            .collect();
        let what = if (proto, port) == PING {
            "ping sweep".to_string()
        } else {
            format!("{} sweep of port {port}", crate::flow::protocol_name(proto))
        };
        let first = sample(&a.values, 1).first().copied();
        let message = format!(
            "{what} by {src}{}: {} hosts in {:.2} s",
            if ended { " ended" } else { "" },
            a.distinct(),
            a.duration_secs()
        );
        let port = ((proto, port) != PING).then_some(port);
        Alert::new(
            now,
            "host_sweep",
            Severity::Medium,
            "reconnaissance",
            message,
        )
        .with_mitre(if port.is_some() { "T1046" } else { "T1018" })
        .with_endpoints(Some(src), None, first, port)
        .with_evidence("hosts", a.distinct())
        .with_evidence("sample_hosts", hosts)
        .with_evidence("hosts_with_data", a.used.len())
        .with_evidence(
            "duration_secs",
            (a.duration_secs() * 1000.0).round() / 1000.0,
        )
        .with_evidence("phase", if ended { "ended" } else { "started" })
    }

    fn report_ended(ended: Ended<(IpAddr, u8, u16), IpAddr>, now: Timestamp, cx: &mut Context<'_>) {
        for (key, a) in ended {
            if a.grew_since_alert() {
                cx.emit(Self::alert(now, key, &a, true));
            }
        }
    }
}

impl Detector for HostSweepDetector {
    fn id(&self) -> &'static str {
        "host_sweep"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![self.sweeps.usage("keys")]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::UDP | Interest::ICMP | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(ip), Some(flow)) = (pkt.ip(), cx.flow()) else {
            return;
        };
        let src = flow.src_ip();
        let (key, host, used_ratio_applies) = match pkt.transport {
            Transport::Icmpv4 { icmp_type: 8, .. } | Transport::Icmpv6 { icmp_type: 128, .. } => {
                ((ip.src, PING.0, PING.1), ip.dst, false)
            }
            Transport::Tcp(_) | Transport::Udp { .. } => {
                let key = (src, flow.key.protocol, flow.dst_port);
                if flow.packets() > 1 {
                    // Data from the initiator, or a UDP answer with data: real use.
                    // Only the first data of each direction is looked at: once per flow.
                    let len = pkt.payload.len() as u64;
                    let tcp_data = flow.key.protocol == 6
                        && cx.from_initiator()
                        && flow.to_server.payload_bytes == len;
                    let udp_answer = flow.key.protocol == 17
                        && !cx.from_initiator()
                        && flow.to_client.payload_bytes == len;
                    if len > 0 && (tcp_data || udp_answer) {
                        self.sweeps.used(key, flow.dst_ip());
                    }
                    return;
                }
                (key, flow.dst_ip(), true)
            }
            _ => return,
        };
        let kind = if used_ratio_applies { "probe" } else { "echo" };
        let (min_hosts, max_used) = (self.cfg.min_hosts, self.cfg.max_used_ratio);
        let Some(a) = self.sweeps.probe(pkt.ts, key, host, kind) else {
            return;
        };
        let quiet_enough = !used_ratio_applies || a.used_ratio() <= max_used;
        if a.alerted_at.is_none() && a.distinct() >= min_hosts && quiet_enough {
            a.alerted_at = Some(a.distinct());
            let snapshot = a.clone();
            cx.emit(Self::alert(pkt.ts, key, &snapshot, false));
        }
    }

    fn on_tick(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        Self::report_ended(self.sweeps.expire(now), now, cx);
    }

    fn on_finish(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        Self::report_ended(self.sweeps.drain_where(Activity::grew_since_alert), now, cx);
    }
}
