//! Traffic statistics: totals, bandwidth per second, protocol breakdown, top talkers and
//! top ports.
//!
//! Per packet only cheap counters are touched (totals, layer counts, the current second's
//! bucket). Host, port and application figures are accumulated per flow when the flow ends,
//! and a [`TrafficReport`] adds the still-live flows, so the figures are exact without a
//! per-packet host lookup.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::decode::{DecodeAnomaly, Network, PacketView, Transport};
use crate::detect::FastMap;
use crate::flow::Flow;
use crate::time::Timestamp;

/// Settings for traffic statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrafficConfig {
    /// Networks counted as local when splitting bandwidth into in/out. Default: the private,
    /// loopback, link-local and CGNAT ranges (RFC 1918, 6598, 3927, 4193, 4291).
    #[schemars(with = "Vec<String>")]
    pub local_networks: Vec<IpNet>,
    /// Entries in top-talker and top-port lists. Default 10.
    pub top_n: usize,
    /// Most hosts tracked for top talkers; flows of further hosts are counted in
    /// `hosts_untracked`. Default 100,000.
    pub max_hosts: usize,
    /// Seconds of per-second bandwidth history kept. Default 86,400 (one day).
    pub bandwidth_history_secs: u64,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        let nets = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "169.254.0.0/16",
            "127.0.0.0/8",
            "fc00::/7",
            "fe80::/10",
            "::1/128",
        ];
        TrafficConfig {
            // The literals above are valid CIDR; a failure would drop the entry, not panic.
            local_networks: nets.iter().filter_map(|n| n.parse().ok()).collect(),
            top_n: 10,
            max_hosts: 100_000,
            bandwidth_history_secs: 86_400,
        }
    }
}

/// Packet and byte counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counter {
    /// Packets.
    pub packets: u64,
    /// Bytes on the wire.
    pub bytes: u64,
}

impl Counter {
    fn add(&mut self, bytes: u64) {
        self.packets += 1;
        self.bytes += bytes;
    }
    fn add_counts(&mut self, packets: u64, bytes: u64) {
        self.packets += packets;
        self.bytes += bytes;
    }
}

/// Traffic in one second of packet time, split by direction relative to the local networks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BandwidthSecond {
    /// Seconds since the epoch.
    pub second: i64,
    /// From outside to a local address.
    pub inbound: Counter,
    /// From a local address to outside.
    pub outbound: Counter,
    /// Between local addresses (including broadcast and multicast from local hosts).
    pub internal: Counter,
    /// Neither end local, or no IP layer.
    pub other: Counter,
}

/// One host's traffic, from its flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HostTraffic {
    /// The address.
    pub ip: IpAddr,
    /// Packets sent.
    pub packets_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Packets received.
    pub packets_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Flows it took part in.
    pub flows: u64,
}

impl HostTraffic {
    /// Bytes sent and received.
    pub fn bytes(&self) -> u64 {
        self.bytes_sent + self.bytes_received
    }
}

/// One service port's traffic (the responder's port of each flow).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortTraffic {
    /// `TCP` or `UDP`.
    pub protocol: String,
    /// The port.
    pub port: u16,
    /// The application usually found on it.
    pub app: Option<&'static str>,
    /// Flows.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A snapshot of the traffic statistics, ready to print or serialise.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrafficReport {
    /// Packets seen.
    pub packets: u64,
    /// Bytes on the wire.
    pub bytes: u64,
    /// Time of the first packet.
    pub first_seen: Option<Timestamp>,
    /// Time of the last packet.
    pub last_seen: Option<Timestamp>,
    /// Seconds from first to last packet.
    pub duration_secs: f64,
    /// Network layer breakdown (`ipv4`, `ipv6`, `arp`, `other`, `undecoded`).
    pub network: BTreeMap<&'static str, Counter>,
    /// Transport breakdown (`tcp`, `udp`, `icmp`, `icmpv6`, `other`).
    pub transport: BTreeMap<&'static str, Counter>,
    /// Application breakdown guessed from well-known ports, largest first.
    pub applications: Vec<(&'static str, Counter)>,
    /// Hosts by bytes sent plus received, largest first.
    pub top_talkers: Vec<HostTraffic>,
    /// Service ports by bytes, largest first.
    pub top_ports: Vec<PortTraffic>,
    /// Per-second bandwidth (only seconds with traffic).
    pub bandwidth: Vec<BandwidthSecond>,
    /// Decode anomalies by name.
    pub decode_anomalies: BTreeMap<&'static str, u64>,
    /// IP fragments seen.
    pub fragments: u64,
    /// Flows whose hosts were not tracked because `max_hosts` was reached.
    pub hosts_untracked: u64,
}

/// Well-known service ports and their application names (IANA; common de facto ports).
const APPS: &[(u8, u16, &str)] = &[
    (6, 20, "ftp-data"),
    (6, 21, "ftp"),
    (6, 22, "ssh"),
    (6, 23, "telnet"),
    (6, 25, "smtp"),
    (6, 53, "dns"),
    (17, 53, "dns"),
    (17, 67, "dhcp"),
    (17, 68, "dhcp"),
    (17, 69, "tftp"),
    (6, 80, "http"),
    (6, 88, "kerberos"),
    (17, 88, "kerberos"),
    (6, 110, "pop3"),
    (17, 123, "ntp"),
    (6, 135, "msrpc"),
    (17, 137, "netbios-ns"),
    (17, 138, "netbios-dgm"),
    (6, 139, "netbios-ssn"),
    (6, 143, "imap"),
    (17, 161, "snmp"),
    (17, 162, "snmp-trap"),
    (6, 179, "bgp"),
    (6, 389, "ldap"),
    (17, 389, "ldap"),
    (6, 443, "https"),
    (17, 443, "quic"),
    (6, 445, "smb"),
    (6, 465, "smtps"),
    (17, 500, "ike"),
    (17, 514, "syslog"),
    (6, 554, "rtsp"),
    (6, 587, "smtp-submission"),
    (6, 636, "ldaps"),
    (6, 853, "dns-over-tls"),
    (6, 993, "imaps"),
    (6, 995, "pop3s"),
    (6, 1433, "mssql"),
    (17, 1194, "openvpn"),
    (6, 1883, "mqtt"),
    (17, 1900, "ssdp"),
    (6, 3306, "mysql"),
    (6, 3389, "rdp"),
    (17, 3478, "stun"),
    (17, 4500, "ipsec-nat-t"),
    (6, 5060, "sip"),
    (17, 5060, "sip"),
    (17, 5353, "mdns"),
    (17, 5355, "llmnr"),
    (6, 5432, "postgresql"),
    (6, 5900, "vnc"),
    (6, 6379, "redis"),
    (6, 6667, "irc"),
    (6, 8080, "http-alt"),
    (6, 8443, "https-alt"),
    (6, 9200, "elasticsearch"),
    (6, 11211, "memcached"),
    (6, 27017, "mongodb"),
    (17, 51820, "wireguard"),
];

/// The application usually found on a TCP (6) or UDP (17) port.
///
/// ```
/// assert_eq!(netsentinel_core::traffic::app_for_port(6, 22), Some("ssh"));
/// assert_eq!(netsentinel_core::traffic::app_for_port(17, 22), None);
/// ```
pub fn app_for_port(protocol: u8, port: u16) -> Option<&'static str> {
    APPS.iter()
        .find(|(p, n, _)| *p == protocol && *n == port)
        .map(|(_, _, name)| *name)
}

/// The application of a flow: the responder's port first, then the initiator's.
pub fn app_for_flow(flow: &Flow) -> Option<&'static str> {
    app_for_port(flow.key.protocol, flow.dst_port)
        .or_else(|| app_for_port(flow.key.protocol, flow.src_port))
}

#[derive(Clone, Copy, Debug, Default)]
struct PortCounter {
    flows: u64,
    packets: u64,
    bytes: u64,
}

/// Which addresses are on the local network: the configured networks, plus broadcast and
/// multicast, which never leave it. Kept as (network, mask) integers so a test is a few
/// integer operations.
#[derive(Clone, Debug, Default)]
pub struct LocalNetworks {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl LocalNetworks {
    /// A matcher for `networks`.
    pub fn new(networks: &[IpNet]) -> Self {
        let mut m = LocalNetworks::default();
        for net in networks {
            match net {
                IpNet::V4(n) => m.v4.push((u32::from(n.network()), u32::from(n.netmask()))),
                IpNet::V6(n) => {
                    m.v6.push((u128::from(n.network()), u128::from(n.netmask())))
                }
            }
        }
        m
    }

    /// Whether `ip` is local.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => {
                let a = u32::from(v4);
                v4.is_multicast()
                    || v4.is_broadcast()
                    || self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(v6) => {
                let a = u128::from(v6);
                v6.is_multicast() || self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }
}

/// Accumulates traffic statistics. Feed it every packet ([`TrafficStats::packet`]) and
/// every ended flow ([`TrafficStats::flow_ended`]).
///
/// ```
/// use netsentinel_core::{TrafficConfig, TrafficStats};
/// let stats = TrafficStats::new(TrafficConfig::default());
/// let report = stats.report(std::iter::empty());
/// assert_eq!(report.packets, 0);
/// ```
#[derive(Debug)]
pub struct TrafficStats {
    config: TrafficConfig,
    per_packet: PacketCounts,
    per_flow: FlowCounts,
}

/// What [`TrafficStats::packet`] counts, apart from what ended flows count: the parallel
/// run keeps each on another thread. Aligned so that the two never share a cache line.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct PacketCounts {
    local: LocalNetworks,
    bandwidth_history_secs: u64,
    packets: u64,
    bytes: u64,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    network: [Counter; 5],
    transport: [Counter; 5],
    bandwidth: VecDeque<BandwidthSecond>,
    anomalies: HashMap<DecodeAnomaly, u64>,
    fragments: u64,
}

/// What [`TrafficStats::flow_ended`] counts (see [`PacketCounts`]).
#[derive(Clone, Debug)]
#[repr(align(128))]
pub(crate) struct FlowCounts {
    max_hosts: usize,
    hosts: FastMap<IpAddr, HostTraffic>,
    hosts_untracked: u64,
    ports: FastMap<(u8, u16), PortCounter>,
    apps: FastMap<&'static str, Counter>,
}

const NETWORK_NAMES: [&str; 5] = ["ipv4", "ipv6", "arp", "other", "undecoded"];
const TRANSPORT_NAMES: [&str; 5] = ["tcp", "udp", "icmp", "icmpv6", "other"];

impl TrafficStats {
    /// Empty statistics.
    pub fn new(config: TrafficConfig) -> Self {
        TrafficStats {
            per_packet: PacketCounts {
                local: LocalNetworks::new(&config.local_networks),
                bandwidth_history_secs: config.bandwidth_history_secs,
                packets: 0,
                bytes: 0,
                first_seen: None,
                last_seen: None,
                network: [Counter::default(); 5],
                transport: [Counter::default(); 5],
                bandwidth: VecDeque::new(),
                anomalies: HashMap::new(),
                fragments: 0,
            },
            per_flow: FlowCounts {
                max_hosts: config.max_hosts,
                hosts: FastMap::default(),
                hosts_untracked: 0,
                ports: FastMap::default(),
                apps: FastMap::default(),
            },
            config,
        }
    }

    /// Whether an address is on a local network (or is broadcast/multicast, which never
    /// leaves the local network).
    pub fn is_local(&self, ip: IpAddr) -> bool {
        self.per_packet.local.contains(ip)
    }

    /// The local networks matcher.
    pub fn local_networks(&self) -> &LocalNetworks {
        &self.per_packet.local
    }

    /// Counts one packet.
    pub fn packet(&mut self, pkt: &PacketView<'_>) {
        self.per_packet.packet(pkt);
    }

    /// Counts an ended flow into host, port and application figures.
    pub fn flow_ended(&mut self, flow: &Flow) {
        self.per_flow.flow_ended(flow);
    }

    /// What [`packet`](Self::packet) counts and what [`flow_ended`](Self::flow_ended)
    /// counts, to be kept by two threads.
    pub(crate) fn parts_mut(&mut self) -> (&mut PacketCounts, &mut FlowCounts) {
        (&mut self.per_packet, &mut self.per_flow)
    }
}

impl PacketCounts {
    /// Counts one packet.
    pub(crate) fn packet(&mut self, pkt: &PacketView<'_>) {
        let bytes = u64::from(pkt.wire_len);
        self.packets += 1;
        self.bytes += bytes;
        if self.first_seen.is_none() {
            self.first_seen = Some(pkt.ts);
        }
        if self.last_seen.is_none_or(|l| pkt.ts > l) {
            self.last_seen = Some(pkt.ts);
        }
        let net = match pkt.network {
            Network::Ip(ip) if ip.src.is_ipv4() => 0,
            Network::Ip(_) => 1,
            Network::Arp(_) => 2,
            Network::Other { .. } => 3,
            Network::None => 4,
        };
        self.network[net].add(bytes);
        let tr = match pkt.transport {
            Transport::Tcp(_) => Some(0),
            Transport::Udp { .. } => Some(1),
            Transport::Icmpv4 { .. } => Some(2),
            Transport::Icmpv6 { .. } => Some(3),
            Transport::Other => Some(4),
            Transport::None => None,
        };
        if let Some(tr) = tr {
            self.transport[tr].add(bytes);
        }
        if let Some(a) = pkt.anomaly {
            *self.anomalies.entry(a).or_insert(0) += 1;
        }
        let direction = match pkt.ip() {
            Some(ip) => {
                if ip.fragment != crate::decode::Fragment::None {
                    self.fragments += 1;
                }
                match (self.local.contains(ip.src), self.local.contains(ip.dst)) {
                    (true, true) => 2,
                    (true, false) => 1,
                    (false, true) => 0,
                    (false, false) => 3,
                }
            }
            None => 3,
        };
        let bucket = self.bucket(pkt.ts.as_secs());
        match direction {
            0 => bucket.inbound.add(bytes),
            1 => bucket.outbound.add(bytes),
            2 => bucket.internal.add(bytes),
            _ => bucket.other.add(bytes),
        }
    }

    /// The bandwidth second `second`: most packets fall in the second of the one before,
    /// found here without a call.
    #[inline]
    fn bucket(&mut self, second: i64) -> &mut BandwidthSecond {
        if self.bandwidth.back().is_some_and(|b| b.second == second) {
            let last = self.bandwidth.len() - 1;
            return &mut self.bandwidth[last];
        }
        self.new_bucket(second)
    }

    /// [`bucket`](Self::bucket) for a packet in another second than the one before.
    #[cold]
    fn new_bucket(&mut self, second: i64) -> &mut BandwidthSecond {
        let history = i64::try_from(self.bandwidth_history_secs).unwrap_or(i64::MAX);
        let newest = self.bandwidth.back().map(|b| b.second);
        if newest.is_none_or(|n| second > n) {
            self.bandwidth.push_back(BandwidthSecond {
                second,
                ..Default::default()
            });
            while self
                .bandwidth
                .front()
                .is_some_and(|f| second.saturating_sub(f.second) >= history)
            {
                self.bandwidth.pop_front();
            }
        } else {
            // Out-of-order timestamp: find its second, or fold it into the oldest kept.
            let pos = self.bandwidth.iter().rposition(|b| b.second <= second);
            match pos {
                Some(i) if self.bandwidth[i].second == second => {}
                Some(i) => self.bandwidth.insert(
                    i + 1,
                    BandwidthSecond {
                        second,
                        ..Default::default()
                    },
                ),
                None => {}
            }
            let i = self
                .bandwidth
                .iter()
                .rposition(|b| b.second <= second)
                .unwrap_or(0);
            return &mut self.bandwidth[i];
        }
        let last = self.bandwidth.len() - 1;
        &mut self.bandwidth[last]
    }
}

impl FlowCounts {
    /// Counts an ended flow into host, port and application figures.
    pub(crate) fn flow_ended(&mut self, flow: &Flow) {
        let FlowCounts {
            max_hosts,
            hosts,
            hosts_untracked,
            ports,
            apps,
        } = self;
        let sides = [
            (flow.src_ip(), &flow.to_server, &flow.to_client),
            (flow.dst_ip(), &flow.to_client, &flow.to_server),
        ];
        for (ip, sent, received) in sides {
            let len = hosts.len();
            let entry = match hosts.get_mut(&ip) {
                Some(e) => e,
                None if len < *max_hosts => hosts.entry(ip).or_insert(HostTraffic {
                    ip,
                    packets_sent: 0,
                    bytes_sent: 0,
                    packets_received: 0,
                    bytes_received: 0,
                    flows: 0,
                }),
                None => {
                    *hosts_untracked += 1;
                    continue;
                }
            };
            entry.packets_sent += sent.packets;
            entry.bytes_sent += sent.bytes;
            entry.packets_received += received.packets;
            entry.bytes_received += received.bytes;
            entry.flows += 1;
        }
        let proto = flow.key.protocol;
        if proto == 6 || proto == 17 {
            let c = ports.entry((proto, flow.dst_port)).or_default();
            c.flows += 1;
            c.packets += flow.packets();
            c.bytes += flow.bytes();
        }
        let app = app_for_flow(flow).unwrap_or(match proto {
            6 => "tcp-other",
            17 => "udp-other",
            1 | 58 => "icmp",
            _ => "ip-other",
        });
        apps.entry(app)
            .or_default()
            .add_counts(flow.packets(), flow.bytes());
    }
}

impl TrafficStats {
    /// A report of everything so far, counting `live_flows` as if they had ended now.
    pub fn report<'f>(&self, live_flows: impl Iterator<Item = &'f Flow>) -> TrafficReport {
        let mut flows = self.per_flow.clone();
        for f in live_flows {
            flows.flow_ended(f);
        }
        let FlowCounts {
            hosts,
            hosts_untracked: untracked,
            ports,
            apps,
            ..
        } = flows;
        let top_n = self.config.top_n;
        let top_talkers = first_sorted(hosts.into_values().collect(), top_n, |a, b| {
            b.bytes().cmp(&a.bytes()).then(a.ip.cmp(&b.ip))
        });
        let top_ports: Vec<PortTraffic> = ports
            .into_iter()
            .map(|((proto, port), c)| PortTraffic {
                protocol: crate::flow::protocol_name(proto),
                port,
                app: app_for_port(proto, port),
                flows: c.flows,
                packets: c.packets,
                bytes: c.bytes,
            })
            .collect();
        let top_ports = first_sorted(top_ports, top_n, |a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then(a.port.cmp(&b.port))
                .then(a.protocol.cmp(&b.protocol))
        });
        let mut applications: Vec<(&'static str, Counter)> = apps.into_iter().collect();
        applications.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
        let p = &self.per_packet;
        let duration_secs = match (p.first_seen, p.last_seen) {
            (Some(f), Some(l)) => l.micros_since(f) as f64 / 1e6,
            _ => 0.0,
        };
        TrafficReport {
            packets: p.packets,
            bytes: p.bytes,
            first_seen: p.first_seen,
            last_seen: p.last_seen,
            duration_secs,
            network: named(&NETWORK_NAMES, &p.network),
            transport: named(&TRANSPORT_NAMES, &p.transport),
            applications,
            top_talkers,
            top_ports,
            bandwidth: p.bandwidth.iter().copied().collect(),
            decode_anomalies: p.anomalies.iter().map(|(a, n)| (a.name(), *n)).collect(),
            fragments: p.fragments,
            hosts_untracked: untracked,
        }
    }
}

fn named(names: &[&'static str; 5], counters: &[Counter; 5]) -> BTreeMap<&'static str, Counter> {
    names
        .iter()
        .zip(counters)
        .filter(|(_, c)| c.packets > 0)
        .map(|(n, c)| (*n, *c))
        .collect()
}

/// The first `n` of `items` in `order`, sorted; what sorting all and keeping `n` gives when
/// `order` ranks no two items equal, without sorting all: a report of 100,000 hosts (a
/// flood) shows ten, and the live dashboard asks for one every second.
pub(crate) fn first_sorted<T>(
    mut items: Vec<T>,
    n: usize,
    order: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    if n == 0 {
        items.clear();
    } else if n < items.len() {
        // After this the first n are the n first in `order`, in no particular order.
        items.select_nth_unstable_by(n - 1, &order);
        items.truncate(n);
    }
    items.sort_by(order);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The partial selection gives what a full sort cut to `n` gives, ties included
        /// (broken by position, as the report's orders break them by key).
        #[test]
        fn first_sorted_is_the_sorted_prefix(
            values in proptest::collection::vec(0u8..8, 0..200),
            n in 0usize..210,
        ) {
            let items: Vec<(u8, usize)> = values.into_iter().zip(0..).collect();
            let order = |a: &(u8, usize), b: &(u8, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
            let mut expected = items.clone();
            expected.sort_by(order);
            expected.truncate(n);
            proptest::prop_assert_eq!(first_sorted(items, n, order), expected);
        }
    }

    #[test]
    fn local_networks_and_scoped_addresses() {
        let s = TrafficStats::new(TrafficConfig::default());
        for local in [
            "10.1.2.3",
            "192.168.0.1",
            "172.31.255.255",
            "fe80::1",
            "224.0.0.251",
            "255.255.255.255",
            "ff02::fb",
        ] {
            assert!(s.is_local(local.parse().unwrap()), "{local}");
        }
        for remote in ["8.8.8.8", "172.32.0.1", "203.0.113.50", "2001:db8::1"] {
            assert!(!s.is_local(remote.parse().unwrap()), "{remote}");
        }
        let custom = TrafficStats::new(TrafficConfig {
            local_networks: vec!["203.0.113.0/24".parse().unwrap()],
            ..TrafficConfig::default()
        });
        assert!(custom.is_local("203.0.113.9".parse().unwrap()));
        assert!(!custom.is_local("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bandwidth_seconds_take_late_packets_and_forget_the_oldest() {
        use crate::decode::decode;
        use crate::source::{LinkType, RawPacket};
        let frame = crate::testutil::udp_frame(
            "10.0.0.2".parse().unwrap(),
            "203.0.113.5".parse().unwrap(),
            40000,
            443,
            b"x",
        );
        let mut s = TrafficStats::new(TrafficConfig {
            bandwidth_history_secs: 4,
            ..TrafficConfig::default()
        });
        let seconds = |s: &TrafficStats| -> Vec<(i64, u64)> {
            let report = s.report(std::iter::empty());
            report
                .bandwidth
                .iter()
                .map(|b| (b.second, b.outbound.packets))
                .collect()
        };
        let send_at = |s: &mut TrafficStats, second| {
            let raw = RawPacket {
                ts: Timestamp::from_secs_micros(second, 0),
                data: &frame,
                orig_len: frame.len() as u32,
                link: LinkType::Ethernet,
            };
            s.packet(&decode(&raw));
        };
        // In order, a second skipped, one late into the gap, one older than all kept.
        for second in [10, 10, 12, 11, 9] {
            send_at(&mut s, second);
        }
        let oldest_takes_older = [(10, 3), (11, 1), (12, 1)];
        assert_eq!(seconds(&s), oldest_takes_older);
        send_at(&mut s, 14);
        let four_seconds_kept = [(11, 1), (12, 1), (14, 1)];
        assert_eq!(seconds(&s), four_seconds_kept);
    }
}
