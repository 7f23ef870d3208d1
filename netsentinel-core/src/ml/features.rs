//! Traffic features per local host and time window (packet time), the input of the
//! anomaly model.
//!
//! The columns are fixed, named and versioned ([`FEATURE_VERSION`], [`FEATURE_NAMES`]): a
//! model saved with one version refuses vectors of another. One vector per local host
//! that sent or received traffic in the window.

use std::net::IpAddr;

// Hashed once or more per packet: a fast hash (foldhash), seeded per process.
use crate::detect::{FastMap, FastSet};

use serde::{Deserialize, Serialize};

use crate::decode::{PacketView, TcpFlags, Transport};
use crate::flow::{Flow, TcpState};
use crate::time::Timestamp;

/// Version of the feature layout; bump on any change of columns or their meaning.
pub const FEATURE_VERSION: u32 = 4;

/// The columns, in order.
pub const FEATURE_NAMES: [&str; 20] = [
    "bytes_per_sec",
    "packets_per_sec",
    "mean_packet_size",
    "unique_dst_ips",
    "unique_dst_ports",
    "syn_ratio",
    "failed_connection_ratio",
    "rst_ratio",
    "dns_queries_per_sec",
    "dst_port_entropy",
    "interarrival_mean_ms",
    "interarrival_std_ms",
    "payload_ratio",
    "in_out_asymmetry",
    "small_packet_ratio",
    "large_packet_ratio",
    "protocol_count",
    "encrypted_share",
    "icmp_share",
    "udp_share",
];

/// Number of columns.
pub const FEATURES: usize = FEATURE_NAMES.len();

/// Columns whose values are counts or rates spanning orders of magnitude. The model (forest
/// and baselines) sees them as `ln(1 + x)` ([`model_scale`]): their changes are ratios (a
/// host sending ten times its usual rate), and the forest's uniform split draws are not
/// spent on the empty stretch between ordinary hosts and one huge value.
pub const FEATURE_LOG_SCALE: [bool; FEATURES] = [
    true,  // bytes_per_sec
    true,  // packets_per_sec
    true,  // mean_packet_size
    true,  // unique_dst_ips
    true,  // unique_dst_ports
    false, // syn_ratio
    false, // failed_connection_ratio
    false, // rst_ratio
    true,  // dns_queries_per_sec
    false, // dst_port_entropy
    false, // interarrival_mean_ms (linear: near zero, a log scale would turn every
    false, // interarrival_std_ms   burst of back-to-back packets into a huge deviation)
    false, // payload_ratio
    false, // in_out_asymmetry
    false, // small_packet_ratio
    false, // large_packet_ratio
    true,  // protocol_count
    false, // encrypted_share
    false, // icmp_share
    false, // udp_share
];

/// Which way a column must move to point at an intrusion, for the baselines' z-scores:
/// `1` up only (more destinations, more SYNs, a larger ICMP share), `-1` down only
/// (packets closer together or more regular than usual), `0` either way (a change of
/// packet size, direction or payload share can be an attack both ways). A host quieter
/// than usual is not a finding.
pub const FEATURE_DIRECTION: [i8; FEATURES] = [
    1,  // bytes_per_sec
    1,  // packets_per_sec
    0,  // mean_packet_size
    1,  // unique_dst_ips
    1,  // unique_dst_ports
    1,  // syn_ratio
    1,  // failed_connection_ratio
    1,  // rst_ratio
    1,  // dns_queries_per_sec
    1,  // dst_port_entropy
    -1, // interarrival_mean_ms
    -1, // interarrival_std_ms
    0,  // payload_ratio
    0,  // in_out_asymmetry
    1,  // small_packet_ratio
    1,  // large_packet_ratio
    0,  // protocol_count
    0,  // encrypted_share
    1,  // icmp_share
    1,  // udp_share
];

/// The smallest difference that means something in each column, in the model's scale: a
/// floor under the standard deviation when a baseline turns a value into a z-score, so a
/// column that never varied while learning (say no RSTs at all) does not make any later
/// change look infinitely unusual. For the log-scale columns ln 2, a doubling; for ratios
/// five percentage points; a quarter bit of entropy; ten milliseconds between packets.
pub const FEATURE_FLOORS: [f64; FEATURES] = {
    let mut floors = [0.05; FEATURES];
    let mut i = 0;
    while i < FEATURES {
        if FEATURE_LOG_SCALE[i] {
            floors[i] = std::f64::consts::LN_2;
        }
        i += 1;
    }
    floors[9] = 0.25; // dst_port_entropy, in bits
    floors[10] = 10.0; // interarrival_mean_ms
    floors[11] = 10.0; // interarrival_std_ms
    floors
};

/// A window's values in the model's scale: [`FEATURE_LOG_SCALE`] columns as `ln(1 + x)`.
pub fn model_scale(values: &[f64; FEATURES]) -> [f64; FEATURES] {
    let mut out = *values;
    for (v, log) in out.iter_mut().zip(FEATURE_LOG_SCALE) {
        if log {
            *v = v.max(0.0).ln_1p();
        }
    }
    out
}

/// The inverse of [`model_scale`] for one column (for showing a baseline mean in the
/// column's own unit).
pub fn from_model_scale(column: usize, x: f64) -> f64 {
    if FEATURE_LOG_SCALE.get(column).copied().unwrap_or(false) {
        x.exp_m1()
    } else {
        x
    }
}

/// One host's features for one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureVector {
    /// The local host.
    pub host: IpAddr,
    /// Start of the window.
    pub window_start: Timestamp,
    /// Packets the host sent or received in the window (not a model column: it says how
    /// much evidence the values rest on).
    pub packets: u64,
    /// Values, in [`FEATURE_NAMES`] order.
    pub values: [f64; FEATURES],
}

/// Ports whose traffic counts as encrypted (TLS, SSH, IPsec, WireGuard, QUIC).
fn encrypted_port(port: u16) -> bool {
    matches!(
        port,
        22 | 443 | 465 | 500 | 636 | 853 | 993 | 995 | 4500 | 8443 | 51820
    )
}

/// Whether an address names one host (not multicast, broadcast or unspecified): only those
/// get feature vectors.
fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => !(v.is_multicast() || v.is_broadcast() || v.is_unspecified()),
        IpAddr::V6(v) => !(v.is_multicast() || v.is_unspecified()),
    }
}

#[derive(Clone, Debug, Default)]
struct HostWindow {
    bytes_out: u64,
    bytes_in: u64,
    packets: u64,
    payload_bytes: u64,
    dst_ips: FastSet<IpAddr>,
    dst_ports: FastMap<u16, u64>,
    syns: u64,
    tcp_packets: u64,
    rsts: u64,
    connections: u64,
    failed_connections: u64,
    dns_queries: u64,
    small: u64,
    large: u64,
    /// IP protocol numbers seen, as a 256-bit set.
    protocols: [u64; 4],
    encrypted_bytes: u64,
    icmp_packets: u64,
    udp_packets: u64,
    last_sent: Option<Timestamp>,
    gaps: crate::ml::Welford,
    /// The destination of the last packet sent, and packets to its port not yet added to
    /// `dst_ports`: a burst to one destination costs no hashing after its first packet.
    last_dst: Option<IpAddr>,
    last_port: Option<u16>,
    port_hits_pending: u64,
}

/// What a packet adds to the window of each local endpoint, sender or receiver.
struct Seen {
    len: u64,
    payload: u64,
    protocol: u8,
    encrypted: bool,
    tcp: bool,
    udp: bool,
    icmp: bool,
    rst: bool,
}

impl HostWindow {
    /// Counts a packet the host sent or received.
    fn count(&mut self, seen: &Seen) {
        self.packets += 1;
        self.payload_bytes += seen.payload;
        self.protocols[usize::from(seen.protocol >> 6)] |= 1 << (seen.protocol & 63);
        if seen.len < 100 {
            self.small += 1;
        } else if seen.len > 1000 {
            self.large += 1;
        }
        if seen.encrypted {
            self.encrypted_bytes += seen.len;
        }
        self.icmp_packets += u64::from(seen.icmp);
        self.udp_packets += u64::from(seen.udp);
        self.tcp_packets += u64::from(seen.tcp);
        self.rsts += u64::from(seen.rst);
    }

    /// Adds the pending hits of the last port to `dst_ports`.
    fn flush_port(&mut self) {
        if let Some(port) = self.last_port
            && self.port_hits_pending > 0
            && (self.dst_ports.len() < MAX_DISTINCT || self.dst_ports.contains_key(&port))
        {
            *self.dst_ports.entry(port).or_insert(0) += self.port_hits_pending;
        }
        self.port_hits_pending = 0;
    }
}

/// Most distinct destinations remembered per host and window (the counts saturate there).
const MAX_DISTINCT: usize = 4096;

/// Builds feature vectors from packets and ended flows.
///
/// ```
/// use netsentinel_core::ml::{FeatureExtractor, FEATURES};
/// let mut fx = FeatureExtractor::new(60);
/// assert!(fx.roll(netsentinel_core::Timestamp::ZERO).is_empty());
/// assert_eq!(FEATURES, 20);
/// ```
#[derive(Debug)]
pub struct FeatureExtractor {
    window_micros: i64,
    window_start: Option<Timestamp>,
    hosts: FastMap<IpAddr, HostWindow>,
    max_hosts: usize,
    /// Packets of hosts not counted because `max_hosts` hosts had a window already.
    untracked: u64,
}

impl FeatureExtractor {
    /// An extractor with windows of `window_secs` seconds of packet time.
    pub fn new(window_secs: u64) -> Self {
        FeatureExtractor {
            window_micros: i64::try_from(window_secs.max(1).saturating_mul(1_000_000))
                .unwrap_or(i64::MAX),
            window_start: None,
            hosts: FastMap::default(),
            max_hosts: 65_536,
            untracked: 0,
        }
    }

    /// Hosts with a window now, the most there may be, and packets of hosts turned away
    /// because that many had one.
    pub fn usage(&self) -> (usize, usize, u64) {
        (self.hosts.len(), self.max_hosts, self.untracked)
    }

    /// Whether `now` is past the current window (call [`roll`](Self::roll) then).
    pub fn window_over(&self, now: Timestamp) -> bool {
        self.window_start
            .is_some_and(|s| now.micros_since(s) >= self.window_micros)
    }

    /// Counts one packet for the local hosts among its endpoints (`is_local` decides).
    pub fn packet(&mut self, pkt: &PacketView<'_>, is_local: impl Fn(IpAddr) -> bool) {
        let Some(ip) = pkt.ip() else {
            return;
        };
        self.window_start.get_or_insert(pkt.ts);
        // What both endpoints count, worked out once.
        let (sport, dport) = pkt.ports();
        let (tcp, udp, icmp) = match pkt.transport {
            Transport::Tcp(_) => (true, false, false),
            Transport::Udp { .. } => (false, true, false),
            Transport::Icmpv4 { .. } | Transport::Icmpv6 { .. } => (false, false, true),
            _ => (false, false, false),
        };
        let flags = pkt.tcp().map(|t| t.flags);
        let seen = Seen {
            len: u64::from(pkt.wire_len),
            payload: pkt.wire_payload_len(),
            protocol: ip.protocol,
            encrypted: encrypted_port(sport) || encrypted_port(dport),
            tcp,
            udp,
            icmp,
            rst: flags.is_some_and(|f| f.has(TcpFlags::RST)),
        };
        if is_local(ip.src)
            && is_unicast(ip.src)
            && let Some(h) = self.window_of(ip.src)
        {
            h.count(&seen);
            h.bytes_out += seen.len;
            if h.last_dst != Some(ip.dst) {
                if h.dst_ips.len() < MAX_DISTINCT {
                    h.dst_ips.insert(ip.dst);
                }
                h.last_dst = Some(ip.dst);
            }
            if tcp || udp {
                if h.last_port != Some(dport) {
                    h.flush_port();
                    h.last_port = Some(dport);
                }
                h.port_hits_pending += 1;
            }
            if let Some(prev) = h.last_sent {
                h.gaps.push(pkt.ts.micros_since(prev) as f64 / 1000.0);
            }
            h.last_sent = Some(pkt.ts);
            if dport == 53 {
                h.dns_queries += 1;
            }
            if flags.is_some_and(|f| f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK)) {
                h.syns += 1;
            }
        }
        if is_local(ip.dst)
            && is_unicast(ip.dst)
            && let Some(h) = self.window_of(ip.dst)
        {
            h.count(&seen);
            h.bytes_in += seen.len;
        }
    }

    /// The window of local host `host`, opened if there is room (counted if not).
    fn window_of(&mut self, host: IpAddr) -> Option<&mut HostWindow> {
        let full = self.hosts.len() >= self.max_hosts;
        if full && !self.hosts.contains_key(&host) {
            self.untracked += 1;
            return None;
        }
        Some(self.hosts.entry(host).or_default())
    }

    /// Counts an ended TCP flow: a connection, failed unless its handshake completed.
    pub fn flow_ended(&mut self, flow: &Flow, is_local: impl Fn(IpAddr) -> bool) {
        if flow.key.protocol != 6 || !is_local(flow.src_ip()) {
            return;
        }
        if let Some(h) = self.hosts.get_mut(&flow.src_ip()) {
            h.connections += 1;
            let completed = matches!(
                flow.tcp_state,
                TcpState::Established
                    | TcpState::Closing
                    | TcpState::ClosedFin
                    | TcpState::Midstream
            ) || (flow.tcp_state == TcpState::ClosedRst
                && flow.to_server.payload_bytes > 0);
            if !completed {
                h.failed_connections += 1;
            }
        }
    }

    /// Ends the window: one vector per host seen, sorted by host; the next window starts
    /// at `now`.
    pub fn roll(&mut self, now: Timestamp) -> Vec<FeatureVector> {
        let Some(start) = self.window_start else {
            return Vec::new();
        };
        // Rates are per nominal window length (or the time actually covered, when ticks
        // came late), never per the few milliseconds of a window cut short by the end of
        // the input: ten packets at the end of a capture are not a thousand a second.
        let secs = (now.micros_since(start) as f64 / 1e6).max(self.window_micros as f64 / 1e6);
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let mut out: Vec<FeatureVector> = self
            .hosts
            .drain()
            .map(|(host, mut h)| {
                h.flush_port();
                let bytes = h.bytes_in + h.bytes_out;
                let port_total: u64 = h.dst_ports.values().sum();
                let port_entropy = if port_total == 0 {
                    0.0
                } else {
                    // Summed in a fixed order: floating-point addition is not associative,
                    // and the map's order is random, so the hash order would change the
                    // last digits (and a threshold decision on them) from run to run.
                    let mut counts: Vec<u64> = h.dst_ports.values().copied().collect();
                    counts.sort_unstable();
                    counts
                        .iter()
                        .map(|&c| {
                            let p = c as f64 / port_total as f64;
                            -p * p.log2()
                        })
                        .sum()
                };
                let values = [
                    bytes as f64 / secs,
                    h.packets as f64 / secs,
                    ratio(bytes, h.packets),
                    h.dst_ips.len() as f64,
                    h.dst_ports.len() as f64,
                    ratio(h.syns, h.tcp_packets),
                    ratio(h.failed_connections, h.connections),
                    ratio(h.rsts, h.tcp_packets),
                    h.dns_queries as f64 / secs,
                    port_entropy,
                    h.gaps.mean(),
                    h.gaps.std_dev(),
                    ratio(h.payload_bytes, bytes),
                    (h.bytes_out as f64 - h.bytes_in as f64) / (bytes as f64).max(1.0),
                    ratio(h.small, h.packets),
                    ratio(h.large, h.packets),
                    h.protocols.iter().map(|w| w.count_ones()).sum::<u32>() as f64,
                    ratio(h.encrypted_bytes, bytes),
                    ratio(h.icmp_packets, h.packets),
                    ratio(h.udp_packets, h.packets),
                ];
                FeatureVector {
                    host,
                    window_start: start,
                    packets: h.packets,
                    values,
                }
            })
            .collect();
        out.sort_by_key(|v| v.host);
        self.window_start = Some(now);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;
    use crate::source::{LinkType, RawPacket};
    use crate::testutil::{tcp_frame, udp_frame};
    use std::net::Ipv4Addr;

    #[test]
    fn scan_like_traffic_has_many_ports_and_syns() {
        let local = |ip: IpAddr| matches!(ip, IpAddr::V4(v) if v.octets()[0] == 10);
        let mut fx = FeatureExtractor::new(1);
        let me = Ipv4Addr::new(10, 0, 0, 66);
        let target = Ipv4Addr::new(10, 0, 0, 10);
        for port in 1..=100u16 {
            let f = tcp_frame(me, target, 40_000, port, TcpFlags::SYN, b"");
            let ts = Timestamp::from_micros(i64::from(port) * 1000);
            fx.packet(
                &decode(&RawPacket {
                    ts,
                    data: &f,
                    orig_len: f.len() as u32,
                    link: LinkType::Ethernet,
                }),
                local,
            );
        }
        let q = udp_frame(me, Ipv4Addr::new(8, 8, 8, 8), 5000, 53, b"query");
        fx.packet(
            &decode(&RawPacket {
                ts: Timestamp::from_micros(200_000),
                data: &q,
                orig_len: q.len() as u32,
                link: LinkType::Ethernet,
            }),
            local,
        );
        let v = fx.roll(Timestamp::from_micros(1_000_000));
        let scanner = v.iter().find(|f| f.host == IpAddr::V4(me)).unwrap();
        let col =
            |name: &str| scanner.values[FEATURE_NAMES.iter().position(|n| *n == name).unwrap()];
        assert_eq!(
            col("unique_dst_ports"),
            100.0,
            "ports 1 to 100; DNS is port 53 again"
        );
        assert_eq!(col("unique_dst_ips"), 2.0);
        assert!((col("syn_ratio") - 1.0).abs() < 1e-9);
        assert!(col("dst_port_entropy") > 6.0);
        assert!(
            (col("dns_queries_per_sec") - 2.0).abs() < 0.01,
            "the UDP query and the scan's SYN to port 53, per the 1 s window (0.999 s of it seen)"
        );
        assert_eq!(col("protocol_count"), 2.0);
        // The target is local too: it received, sent nothing.
        let victim = v.iter().find(|f| f.host == IpAddr::V4(target)).unwrap();
        assert_eq!(victim.values[13], -1.0, "all traffic inbound");
        assert!(fx.roll(Timestamp::from_micros(2_000_000)).is_empty());
    }
}
