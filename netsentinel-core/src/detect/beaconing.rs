//! `beaconing`: periodic connections from one host to one destination, as command and
//! control implants make.
//!
//! **Detects** a (source, destination, port) whose connections start at regular
//! intervals: over its whole history (Welford statistics of the intervals, not a short
//! window) at least `min_connections` (default 12) connections, a mean interval between
//! `min_interval_secs` (default 1) and `max_interval_secs` (default 86,400), a coefficient
//! of variation of the intervals at most `max_interval_cv` (default 0.25: jitter of a
//! quarter of the period), and, once three connections have ended, steady sizes: bytes per
//! connection with a coefficient of variation at most `max_size_cv` (default 0.5).
//! Routine polling protocols are excluded by port: DNS, NTP, DHCP, NetBIOS, mDNS, SSDP,
//! LLMNR (`excluded_ports`). One alert per key when it first qualifies.
//!
//! **False positives**: software update checks, monitoring agents, mail clients polling
//! on a timer, keep-alive pings of chat apps. Listed in the evidence so a person can tell.
//!
//! **References**: MITRE ATT&CK T1071 (Application Layer Protocol) and T1029 (Scheduled
//! Transfer); RITA's beacon analysis (Active Countermeasures).

use crate::detect::FastMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::PacketView;
use crate::flow::Flow;
use crate::ml::Welford;
use crate::time::Timestamp;

/// Thresholds of `beaconing`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BeaconingConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Connections needed before judging. Default 12.
    pub min_connections: u64,
    /// Highest coefficient of variation of the intervals. Default 0.25.
    pub max_interval_cv: f64,
    /// Highest coefficient of variation of bytes per connection. Default 0.5.
    pub max_size_cv: f64,
    /// Shortest mean interval, in seconds. Default 1.
    pub min_interval_secs: f64,
    /// Longest mean interval, in seconds. Default 86,400.
    pub max_interval_secs: f64,
    /// Destination ports never considered (routine polling protocols).
    pub excluded_ports: Vec<u16>,
    /// Most keys tracked. Default 65,536.
    pub max_keys: usize,
}

impl Default for BeaconingConfig {
    fn default() -> Self {
        BeaconingConfig {
            enabled: true,
            min_connections: 12,
            max_interval_cv: 0.25,
            max_size_cv: 0.5,
            min_interval_secs: 1.0,
            max_interval_secs: 86_400.0,
            // DNS, DHCP, NTP, NetBIOS, SNMP traps, LLMNR, mDNS, SSDP.
            excluded_ports: vec![53, 67, 68, 123, 137, 138, 162, 1900, 5353, 5355],
            max_keys: 65_536,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Series {
    last_start: Option<Timestamp>,
    connections: u64,
    intervals: Welford,
    sizes: Welford,
    alerted: bool,
}

type Key = (IpAddr, IpAddr, u16, u8);

/// The `beaconing` detector.
pub struct BeaconingDetector {
    cfg: BeaconingConfig,
    series: FastMap<Key, Series>,
    /// Keys turned away by full tables, per table.
    turned_away: [u64; 4],
}

impl BeaconingDetector {
    /// A detector with `config`.
    pub fn new(config: &BeaconingConfig) -> Self {
        BeaconingDetector {
            cfg: config.clone(),
            series: FastMap::default(),
            turned_away: [0; 4],
        }
    }

    fn key(flow: &Flow) -> Key {
        (
            flow.src_ip(),
            flow.dst_ip(),
            flow.dst_port,
            flow.key.protocol,
        )
    }

    fn qualifies(&self, s: &Series) -> bool {
        let c = &self.cfg;
        let mean = s.intervals.mean() / 1e6;
        s.connections >= c.min_connections
            && mean >= c.min_interval_secs
            && mean <= c.max_interval_secs
            && s.intervals.coefficient_of_variation() <= c.max_interval_cv
            && (s.sizes.count() < 3 || s.sizes.coefficient_of_variation() <= c.max_size_cv)
    }
}

impl Detector for BeaconingDetector {
    fn id(&self) -> &'static str {
        "beaconing"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![TableUsage::new(
            "series",
            self.series.len(),
            self.cfg.max_keys,
            self.turned_away[0],
        )]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::UDP | Interest::FLOW_END
    }

    fn on_packet(&mut self, _pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let Some(flow) = cx.flow() else {
            return;
        };
        if flow.packets() != 1 || self.cfg.excluded_ports.contains(&flow.dst_port) {
            return;
        }
        let key = Self::key(flow);
        if self.series.len() >= self.cfg.max_keys && !self.series.contains_key(&key) {
            self.turned_away[0] += 1;
            return;
        }
        let now = cx.now();
        let s = self.series.entry(key).or_default();
        if let Some(prev) = s.last_start {
            s.intervals.push(now.micros_since(prev) as f64);
        }
        s.last_start = Some(now);
        s.connections += 1;
        if s.alerted {
            return;
        }
        let s = s.clone();
        if !self.qualifies(&s) {
            return;
        }
        if let Some(entry) = self.series.get_mut(&key) {
            entry.alerted = true;
        }
        let (src, dst, port, proto) = key;
        let period = s.intervals.mean() / 1e6;
        let jitter = s.intervals.std_dev() / 1e6;
        let mitre = if matches!(port, 80 | 443 | 8080 | 8443) {
            "T1071.001"
        } else {
            "T1071"
        };
        let alert = Alert::new(
            now,
            "beaconing",
            Severity::Medium,
            "command_and_control",
            format!(
                "{src} beacons to {dst}:{port} every {period:.1} s (±{jitter:.2} s) over {} connections",
                s.connections
            ),
        )
        .with_mitre(mitre)
        .with_endpoints(Some(src), None, Some(dst), Some(port))
        .with_evidence("connections", s.connections)
        .with_evidence("interval_mean_secs", (period * 1000.0).round() / 1000.0)
        .with_evidence("interval_std_secs", (jitter * 1000.0).round() / 1000.0)
        .with_evidence("interval_cv", (s.intervals.coefficient_of_variation() * 1000.0).round() / 1000.0)
        .with_evidence("bytes_mean", s.sizes.mean().round())
        .with_evidence("bytes_cv", (s.sizes.coefficient_of_variation() * 1000.0).round() / 1000.0)
        .with_evidence("protocol", crate::flow::protocol_name(proto));
        cx.emit(alert);
    }

    fn on_flow_end(&mut self, flow: &Flow, _cx: &mut Context<'_>) {
        if let Some(s) = self.series.get_mut(&Self::key(flow)) {
            s.sizes.push(flow.bytes() as f64);
        }
    }
}
