//! `tcp_anomaly`: TCP packets no correct stack sends.
//!
//! **Detects**, per (source, target, kind), with one alert per `cooldown_secs` (default
//! 300 s of packet time) and a count in the evidence:
//! - impossible flag combinations: SYN+FIN, SYN+RST, FIN+RST, no flags at all (NULL),
//!   FIN+PSH+URG without ACK (XMAS), every flag set;
//! - land packets: source and destination address and port equal (the LAND attack);
//! - port 0 as source or destination;
//! - SYN carrying data (low severity: TCP Fast Open does this legitimately).
//!
//! **False positives**: TCP Fast Open (SYN with data), broken middleboxes; NULL and XMAS
//! probes are scans, which `port_scan` reports too.
//!
//! **References**: RFC 9293 (TCP), RFC 7413 (TCP Fast Open); CVE-1999-0016 (LAND);
//! MITRE ATT&CK T1046 for probe packets.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::{PacketView, TcpFlags};
use crate::time::Timestamp;

/// Settings of `tcp_anomaly`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TcpAnomalyConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// One alert per (source, target, kind) per this many seconds. Default 300.
    pub cooldown_secs: u64,
    /// Most (source, target, kind) keys remembered. Default 65,536.
    pub max_keys: usize,
}

impl Default for TcpAnomalyConfig {
    fn default() -> Self {
        TcpAnomalyConfig {
            enabled: true,
            cooldown_secs: 300,
            max_keys: 65_536,
        }
    }
}

/// What is wrong with a TCP packet, if anything, and how serious it is.
pub fn classify(
    flags: TcpFlags,
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    payload_len: usize,
) -> Option<(&'static str, Severity)> {
    const SYN: u8 = TcpFlags::SYN;
    const FIN: u8 = TcpFlags::FIN;
    const RST: u8 = TcpFlags::RST;
    let f = flags.0;
    let has = |m: u8| f & m == m;
    if src == dst {
        return Some(("land", Severity::High));
    }
    if src.1 == 0 || dst.1 == 0 {
        return Some(("port_zero", Severity::Medium));
    }
    if f & 0x3f == 0x3f {
        return Some(("all_flags", Severity::Medium));
    }
    if has(SYN | FIN) {
        return Some(("syn_fin", Severity::Medium));
    }
    if has(SYN | RST) {
        return Some(("syn_rst", Severity::Medium));
    }
    if has(FIN | RST) {
        return Some(("fin_rst", Severity::Medium));
    }
    if f & 0x3f == 0 {
        return Some(("null_flags", Severity::Medium));
    }
    let xmas = FIN | TcpFlags::PSH | TcpFlags::URG;
    if f & 0x3f == xmas {
        return Some(("xmas_flags", Severity::Medium));
    }
    if has(SYN) && !has(TcpFlags::ACK) && payload_len > 0 {
        return Some(("syn_with_data", Severity::Low));
    }
    None
}

#[derive(Clone, Copy, Debug)]
struct Seen {
    last_alert: Timestamp,
    count: u64,
    reported: u64,
    severity: Severity,
}

/// The `tcp_anomaly` detector.
pub struct TcpAnomalyDetector {
    cfg: TcpAnomalyConfig,
    seen: HashMap<(IpAddr, IpAddr, &'static str), Seen>,
    /// Keys turned away by full tables, per table.
    turned_away: [u64; 4],
}

impl TcpAnomalyDetector {
    /// A detector with `config`.
    pub fn new(config: &TcpAnomalyConfig) -> Self {
        TcpAnomalyDetector {
            cfg: config.clone(),
            seen: HashMap::new(),
            turned_away: [0; 4],
        }
    }

    fn alert(
        now: Timestamp,
        (src, dst, kind): (IpAddr, IpAddr, &'static str),
        s: &Seen,
        dst_port: Option<u16>,
    ) -> Alert {
        Alert::new(
            now,
            "tcp_anomaly",
            s.severity,
            "protocol_anomaly",
            format!(
                "TCP {} from {src} to {dst} ({} packets)",
                kind.replace('_', " "),
                s.count
            ),
        )
        .with_mitre("T1046")
        .with_endpoints(Some(src), None, Some(dst), dst_port)
        .with_distinct(kind)
        .with_evidence("anomaly", kind)
        .with_evidence("packets", s.count)
    }
}

impl Detector for TcpAnomalyDetector {
    fn id(&self) -> &'static str {
        "tcp_anomaly"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![TableUsage::new(
            "seen",
            self.seen.len(),
            self.cfg.max_keys,
            self.turned_away[0],
        )]
    }

    fn interest(&self) -> Interest {
        Interest::TCP
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(ip), Some(tcp)) = (pkt.ip(), pkt.tcp()) else {
            return;
        };
        let Some((kind, severity)) = classify(
            tcp.flags,
            (ip.src, tcp.src_port),
            (ip.dst, tcp.dst_port),
            pkt.payload.len(),
        ) else {
            return;
        };
        let key = (ip.src, ip.dst, kind);
        if !self.seen.contains_key(&key) && self.seen.len() >= self.cfg.max_keys {
            self.turned_away[0] += 1;
            return;
        }
        let cooldown =
            i64::try_from(self.cfg.cooldown_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let now = pkt.ts;
        let s = self.seen.entry(key).or_insert(Seen {
            last_alert: now,
            count: 0,
            reported: 0,
            severity,
        });
        s.count += 1;
        if s.reported == 0 || now.micros_since(s.last_alert) >= cooldown {
            s.last_alert = now;
            s.reported = s.count;
            let snapshot = *s;
            cx.emit(Self::alert(now, key, &snapshot, Some(tcp.dst_port)));
        }
    }

    fn on_finish(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        let mut open: Vec<((IpAddr, IpAddr, &'static str), Seen)> = self
            .seen
            .iter()
            .filter(|(_, s)| s.count > s.reported)
            .map(|(k, s)| (*k, *s))
            .collect();
        open.sort_by_key(|(k, _)| *k);
        for (key, s) in open {
            cx.emit(Self::alert(now, key, &s, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, port: u16) -> (IpAddr, u16) {
        (ip.parse().unwrap(), port)
    }

    #[test]
    fn classifies_impossible_packets() {
        let (a, b) = (ep("10.0.0.1", 4000), ep("10.0.0.2", 80));
        let c = |f: u8, len| classify(TcpFlags(f), a, b, len).map(|(k, _)| k);
        assert_eq!(c(TcpFlags::SYN | TcpFlags::FIN, 0), Some("syn_fin"));
        assert_eq!(c(TcpFlags::SYN | TcpFlags::RST, 0), Some("syn_rst"));
        assert_eq!(c(0, 0), Some("null_flags"));
        assert_eq!(
            c(TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG, 0),
            Some("xmas_flags")
        );
        assert_eq!(c(0x3f, 0), Some("all_flags"));
        assert_eq!(c(TcpFlags::SYN, 10), Some("syn_with_data"));
        assert_eq!(c(TcpFlags::SYN, 0), None);
        assert_eq!(c(TcpFlags::SYN | TcpFlags::ACK, 0), None);
        assert_eq!(c(TcpFlags::FIN | TcpFlags::ACK, 0), None);
        assert_eq!(
            classify(TcpFlags(TcpFlags::SYN), a, a, 0).map(|(k, _)| k),
            Some("land")
        );
        assert_eq!(
            classify(TcpFlags(TcpFlags::SYN), ep("10.0.0.1", 0), b, 0).map(|(k, _)| k),
            Some("port_zero")
        );
    }
}
