//! `data_exfil`: large uploads from a local host to one external destination.
//!
//! **Detects** a local host sending at least `min_upload_bytes` (default 10 MB) to one
//! external address within `window_secs` (default 600 s of packet time), at least
//! `min_upload_ratio` (default 5) times what it received from there, and, once the host
//! has a history of at least three windows, at least `baseline_factor` (default 10) times
//! its usual upload per window. Local means `traffic.local_networks`. Volumes are counted
//! from flow counters in 256 KiB steps. One alert per (host, destination) and window, with
//! the volumes and the ratio.
//!
//! **False positives**: backups and uploads to cloud storage, video calls (a high ratio is
//! rare there), software publishing. Until a host has history the baseline condition
//! does not apply.
//!
//! **References**: MITRE ATT&CK T1048 (Exfiltration Over Alternative Protocol) and T1041
//! (Exfiltration Over C2 Channel).

use crate::detect::FastMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::PacketView;
use crate::ml::Welford;
use crate::time::Timestamp;

/// Thresholds of `data_exfil`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DataExfilConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Bytes uploaded to one destination within the window that can fire. Default
    /// 10,000,000.
    pub min_upload_bytes: u64,
    /// Window, in seconds of packet time. Default 600.
    pub window_secs: u64,
    /// Upload / download ratio that can fire. Default 5.
    pub min_upload_ratio: f64,
    /// With history, how many times the host's mean upload per window. Default 10.
    pub baseline_factor: f64,
    /// Most (host, destination) pairs tracked. Default 65,536.
    pub max_pairs: usize,
}

impl Default for DataExfilConfig {
    fn default() -> Self {
        DataExfilConfig {
            enabled: true,
            min_upload_bytes: 10_000_000,
            window_secs: 600,
            min_upload_ratio: 5.0,
            baseline_factor: 10.0,
            max_pairs: 65_536,
        }
    }
}

/// Granularity of the volume accounting, in bytes.
const CHUNK: u64 = 256 * 1024;

#[derive(Clone, Copy, Debug)]
struct Volume {
    window_start: Timestamp,
    up: u64,
    down: u64,
    alerted: bool,
}

/// The `data_exfil` detector.
pub struct DataExfilDetector {
    cfg: DataExfilConfig,
    pairs: FastMap<(IpAddr, IpAddr), Volume>,
    /// Keys turned away by full tables, per table.
    turned_away: [u64; 4],
    /// Per local host: upload per window, over the windows that ended.
    history: FastMap<IpAddr, Welford>,
    /// Per local host: upload in its current window (all destinations).
    current: FastMap<IpAddr, (Timestamp, u64)>,
}

impl DataExfilDetector {
    /// A detector with `config`.
    pub fn new(config: &DataExfilConfig) -> Self {
        DataExfilDetector {
            cfg: config.clone(),
            pairs: FastMap::default(),
            turned_away: [0; 4],
            history: FastMap::default(),
            current: FastMap::default(),
        }
    }

    fn window(&self) -> i64 {
        i64::try_from(self.cfg.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
    }
}

impl Detector for DataExfilDetector {
    fn id(&self) -> &'static str {
        "data_exfil"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![TableUsage::new(
            "pairs",
            self.pairs.len(),
            self.cfg.max_pairs,
            self.turned_away[0],
        )]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::UDP | Interest::OTHER_IP | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(ip), Some(flow)) = (pkt.ip(), cx.flow()) else {
            return;
        };
        // Volumes are taken from the flow's counters in chunks of `CHUNK` bytes: a packet
        // costs two comparisons, and only a packet that completes a chunk does the lookups.
        let sent = if cx.from_initiator() {
            flow.to_server.bytes
        } else {
            flow.to_client.bytes
        };
        let before = sent.saturating_sub(u64::from(pkt.wire_len));
        if sent / CHUNK == before / CHUNK {
            return;
        }
        let (src_local, dst_local) = (cx.is_local(ip.src), cx.is_local(ip.dst));
        let (host, remote, upload) = match (src_local, dst_local) {
            (true, false) => (ip.src, ip.dst, true),
            (false, true) => (ip.dst, ip.src, false),
            _ => return,
        };
        let bytes = (sent / CHUNK - before / CHUNK) * CHUNK;
        let window = self.window();
        let now = pkt.ts;
        if upload {
            let cur = self.current.entry(host).or_insert((now, 0));
            if now.micros_since(cur.0) > window {
                self.history.entry(host).or_default().push(cur.1 as f64);
                *cur = (now, 0);
            }
            cur.1 += bytes;
        }
        if self.pairs.len() >= self.cfg.max_pairs && !self.pairs.contains_key(&(host, remote)) {
            self.turned_away[0] += 1;
            return;
        }
        let v = self.pairs.entry((host, remote)).or_insert(Volume {
            window_start: now,
            up: 0,
            down: 0,
            alerted: false,
        });
        if now.micros_since(v.window_start) > window {
            *v = Volume {
                window_start: now,
                up: 0,
                down: 0,
                alerted: false,
            };
        }
        if upload {
            v.up += bytes;
        } else {
            v.down += bytes;
        }
        if v.alerted || !upload || v.up < self.cfg.min_upload_bytes {
            return;
        }
        // Downloads below one chunk are not in `v.down` yet; this flow's own reverse
        // bytes are exact.
        let reverse = if cx.from_initiator() {
            flow.to_client.bytes
        } else {
            flow.to_server.bytes
        };
        v.down = v.down.max(reverse);
        let ratio = v.up as f64 / v.down.max(1) as f64;
        if ratio < self.cfg.min_upload_ratio {
            return;
        }
        let baseline = self
            .history
            .get(&host)
            .filter(|w| w.count() >= 3)
            .map(Welford::mean);
        if baseline.is_some_and(|mean| (v.up as f64) < self.cfg.baseline_factor * mean) {
            return;
        }
        v.alerted = true;
        let v = *v;
        let mb = v.up as f64 / 1e6;
        let secs = now.micros_since(v.window_start) as f64 / 1e6;
        let mut alert = Alert::new(
            now,
            "data_exfil",
            Severity::High,
            "exfiltration",
            format!("{host} uploaded {mb:.1} MB to {remote} in {secs:.2} s ({ratio:.0}x what it received)"),
        )
        .with_mitre("T1048")
        .with_endpoints(Some(host), None, Some(remote), cx.flow().map(|f| f.dst_port))
        .with_evidence("bytes_up", v.up)
        .with_evidence("bytes_down", v.down)
        .with_evidence("upload_ratio", (ratio * 10.0).round() / 10.0)
        .with_evidence("window_secs", self.cfg.window_secs);
        if let Some(mean) = baseline {
            alert = alert.with_evidence("host_mean_upload_per_window", mean.round());
        }
        cx.emit(alert);
    }

    fn on_tick(&mut self, now: Timestamp, _cx: &mut Context<'_>) {
        let window = self.window();
        self.pairs
            .retain(|_, v| now.micros_since(v.window_start) <= window);
    }
}
