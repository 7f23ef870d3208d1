//! Detectors: what looks at the traffic.
//!
//! A [`Detector`] sees every packet it declared an [`Interest`] in, with the packet's flow;
//! it may also act when a flow ends and on a periodic tick in packet time. It reports by
//! pushing [`Alert`]s into the engine-owned buffer through [`Context::emit`]; it never sees
//! the sinks, so a detector is testable with nothing but a `Context`.
//!
//! Call order per packet: decode, flow table update, then detectors in registration order.
//! Flows that end (timeout, eviction, reuse, end of capture) are passed to
//! [`Detector::on_flow_end`] after the dispatch of the packet whose arrival ended them.
//! Ticks fire every `tick_interval_ms` of packet time, before the packet that crosses it.

pub mod arp_spoof;
pub mod beaconing;
pub mod brute_force;
pub mod data_exfil;
pub mod device;
mod distinct;
pub mod dns_tunnel;
mod flood;
pub mod host_sweep;
pub mod icmp_flood;
pub mod insecure_service;
pub mod ml_anomaly;
pub mod plaintext_credentials;
pub mod port_scan;
pub mod sensitive_data;
pub mod suspicious_dns;
pub mod syn_flood;
pub mod tcp_anomaly;
pub mod threat_intel;
pub mod udp_flood;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub use flood::{FloodConfig, FloodDefaults};

/// Maps and sets on the per-packet path: foldhash instead of SipHash (no key here comes
/// with a HashDoS budget that the caps do not already bound).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// See [`FastMap`].
pub(crate) type FastSet<V> = std::collections::HashSet<V, foldhash::fast::RandomState>;

use crate::alert::Alert;
use crate::config::ConfigError;
use crate::decode::PacketView;
use crate::decode::dns::{DnsMessage, DnsOnce};
use crate::device::DeviceInventory;
use crate::flow::Flow;
use crate::neighbor::NeighborTable;
use crate::time::Timestamp;
use crate::traffic::LocalNetworks;

/// The traffic a detector wants to see; asked once when the engine is built.
///
/// ```
/// use netsentinel_core::Interest;
/// let i = Interest::TCP | Interest::FLOW_END;
/// assert!(i.contains(Interest::TCP));
/// assert!(!i.contains(Interest::UDP));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interest(u32);

impl Interest {
    /// No packets.
    pub const NONE: Interest = Interest(0);
    /// TCP packets.
    pub const TCP: Interest = Interest(1);
    /// UDP packets.
    pub const UDP: Interest = Interest(1 << 1);
    /// ICMP and ICMPv6 packets.
    pub const ICMP: Interest = Interest(1 << 2);
    /// ARP packets.
    pub const ARP: Interest = Interest(1 << 3);
    /// Other IP packets (other protocols, later fragments).
    pub const OTHER_IP: Interest = Interest(1 << 4);
    /// Non-IP, non-ARP frames and undecodable packets.
    pub const NON_IP: Interest = Interest(1 << 5);
    /// Flow-end events.
    pub const FLOW_END: Interest = Interest(1 << 6);
    /// Periodic ticks.
    pub const TICK: Interest = Interest(1 << 7);
    /// Reads the device inventory ([`Context::devices`]). Not an event: a detector that
    /// declares it is given the inventory, and in a parallel run
    /// ([`Engine::run_parallel`](crate::Engine::run_parallel)) it runs on the thread that
    /// keeps the inventory instead of a detector thread.
    pub const DEVICES: Interest = Interest(1 << 8);
    /// Every packet of any kind.
    pub const ALL_PACKETS: Interest = Interest(0x3f);
    /// Everything.
    pub const ALL: Interest = Interest(0x1ff);

    /// Whether all bits of `other` are set.
    pub fn contains(self, other: Interest) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub fn intersects(self, other: Interest) -> bool {
        self.0 & other.0 != 0
    }

    /// The packet class bit of a decoded packet.
    pub fn of_packet(pkt: &PacketView<'_>) -> Interest {
        use crate::decode::{Network, Transport};
        match (&pkt.network, &pkt.transport) {
            (Network::Ip(_), Transport::Tcp(_)) => Interest::TCP,
            (Network::Ip(_), Transport::Udp { .. }) => Interest::UDP,
            (Network::Ip(_), Transport::Icmpv4 { .. } | Transport::Icmpv6 { .. }) => Interest::ICMP,
            (Network::Ip(_), _) => Interest::OTHER_IP,
            (Network::Arp(_), _) => Interest::ARP,
            _ => Interest::NON_IP,
        }
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

/// What a detector may see and do during one call.
pub struct Context<'e> {
    now: Timestamp,
    flow: Option<&'e Flow>,
    from_initiator: bool,
    neighbors: &'e NeighborTable,
    local: &'e LocalNetworks,
    out: &'e mut Vec<Alert>,
    devices: Option<&'e DeviceInventory>,
    dns: Option<&'e DnsOnce<'e>>,
}

impl<'e> Context<'e> {
    /// A context; the engine makes these, tests may too.
    pub fn new(
        now: Timestamp,
        flow: Option<&'e Flow>,
        from_initiator: bool,
        neighbors: &'e NeighborTable,
        local: &'e LocalNetworks,
        out: &'e mut Vec<Alert>,
    ) -> Self {
        Context {
            now,
            flow,
            from_initiator,
            neighbors,
            local,
            out,
            devices: None,
            dns: None,
        }
    }

    /// The same context with the engine's device inventory.
    pub fn with_devices(mut self, devices: &'e DeviceInventory) -> Self {
        self.devices = Some(devices);
        self
    }

    /// Gives (or takes away) the device inventory: the engine calls every detector of an
    /// event with one context, and only those that read the inventory see it.
    pub(crate) fn set_devices(&mut self, devices: Option<&'e DeviceInventory>) {
        self.devices = devices;
    }

    /// Gives the packet's DNS message, parsed once for every detector that asks
    /// ([`dns`](Self::dns)).
    pub(crate) fn set_dns(&mut self, dns: Option<&'e DnsOnce<'e>>) {
        self.dns = dns;
    }

    /// The DNS message in `payload` (a UDP payload, or a TCP one after its 2-byte length),
    /// as [`dns::parse`](crate::decode::dns::parse). Within the engine a packet's message
    /// is parsed once however many detectors ask, and lent; otherwise it is parsed here.
    ///
    /// ```
    /// use netsentinel_core::detect::Context;
    /// use netsentinel_core::traffic::LocalNetworks;
    /// use netsentinel_core::{NeighborTable, Timestamp};
    /// let q = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
    ///          7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1];
    /// let (neighbors, local, mut out) = (NeighborTable::default(), LocalNetworks::default(), vec![]);
    /// let cx = Context::new(Timestamp::default(), None, true, &neighbors, &local, &mut out);
    /// assert_eq!(cx.dns(&q).unwrap().qname, "example.com");
    /// ```
    pub fn dns(&self, payload: &[u8]) -> Option<Cow<'e, DnsMessage>> {
        match self.dns {
            Some(once) if once.is_of(payload) => once.get().map(Cow::Borrowed),
            _ => crate::decode::dns::parse(payload).map(Cow::Owned),
        }
    }

    /// Alerts emitted through this context so far, with those before it.
    pub(crate) fn alerts_emitted(&self) -> usize {
        self.out.len()
    }

    /// The device inventory, for a detector that declared [`Interest::DEVICES`] (tests
    /// may not give one).
    pub fn devices(&self) -> Option<&'e DeviceInventory> {
        self.devices
    }

    /// Whether an address is on the local network (`traffic.local_networks`).
    pub fn is_local(&self, ip: std::net::IpAddr) -> bool {
        self.local.contains(ip)
    }

    /// IP-to-MAC bindings learned from ARP so far.
    pub fn neighbors(&self) -> &'e NeighborTable {
        self.neighbors
    }

    /// Packet time now.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The current packet's flow, after this packet was counted.
    pub fn flow(&self) -> Option<&'e Flow> {
        self.flow
    }

    /// Whether the current packet went from the flow's initiator to its responder.
    pub fn from_initiator(&self) -> bool {
        self.from_initiator
    }

    /// Reports an alert. An alert about this call's flow is given the flow's local process,
    /// when one was identified.
    pub fn emit(&mut self, mut alert: Alert) {
        if let Some(flow) = self.flow
            && alert.flow_id == Some(flow.id)
            && let Some(p) = flow
                .process
                .as_deref()
                .and_then(crate::gateway::AlertProcess::from_lookup)
        {
            alert.context.get_or_insert_default().process = Some(p);
        }
        self.out.push(alert);
    }
}

/// Something that looks at traffic and raises alerts.
///
/// ```
/// use netsentinel_core::{Alert, Context, Detector, Interest, PacketView, Severity};
///
/// /// Flags any packet to TCP port 23.
/// struct TelnetSeen;
/// impl Detector for TelnetSeen {
///     fn id(&self) -> &'static str { "telnet_seen" }
///     fn interest(&self) -> Interest { Interest::TCP }
///     fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
///         if pkt.tcp().is_some_and(|t| t.dst_port == 23) {
///             let alert = Alert::new(cx.now(), self.id(), Severity::Low, "policy", "telnet in use");
///             cx.emit(alert);
///         }
///     }
/// }
/// ```
pub trait Detector: Send {
    /// Stable snake_case id: used in alerts, configuration, EVE and the FFI.
    fn id(&self) -> &'static str;

    /// What to be called for. Asked once, when the engine is built.
    fn interest(&self) -> Interest {
        Interest::ALL
    }

    /// A packet of interest.
    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>);

    /// A flow ended.
    fn on_flow_end(&mut self, _flow: &Flow, _cx: &mut Context<'_>) {}

    /// Periodic tick in packet time.
    fn on_tick(&mut self, _now: Timestamp, _cx: &mut Context<'_>) {}

    /// The input ended (end of file, capture stopped): report what is still open, such as
    /// an attack in progress. Called once, after the last tick, for every detector.
    fn on_finish(&mut self, _now: Timestamp, _cx: &mut Context<'_>) {}

    /// How full each of the detector's bounded tables is, for the run summary: hostile
    /// traffic fills tables to their caps, and what they turn away is counted there.
    fn tables(&self) -> Vec<TableUsage> {
        Vec::new()
    }
}

/// How full one bounded table of a detector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TableUsage {
    /// The table's name, e.g. `pairs`.
    pub table: &'static str,
    /// Entries held now.
    pub entries: usize,
    /// Most entries it holds (its configured cap).
    pub capacity: usize,
    /// Keys not tracked (or reports not made) because it was full.
    pub turned_away: u64,
}

impl TableUsage {
    /// A table of `entries` out of `capacity`, having turned `turned_away` keys away.
    pub fn new(table: &'static str, entries: usize, capacity: usize, turned_away: u64) -> Self {
        TableUsage {
            table,
            entries,
            capacity,
            turned_away,
        }
    }
}

/// Settings of every built-in detector, one key per detector id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorsConfig {
    /// `port_scan`.
    pub port_scan: port_scan::PortScanConfig,
    /// `host_sweep`.
    pub host_sweep: host_sweep::HostSweepConfig,
    /// `arp_spoof`.
    pub arp_spoof: arp_spoof::ArpSpoofConfig,
    /// `beaconing`.
    pub beaconing: beaconing::BeaconingConfig,
    /// `brute_force`.
    pub brute_force: brute_force::BruteForceConfig,
    /// `data_exfil`.
    pub data_exfil: data_exfil::DataExfilConfig,
    /// `dns_tunnel`.
    pub dns_tunnel: dns_tunnel::DnsTunnelConfig,
    /// `suspicious_dns`.
    pub suspicious_dns: suspicious_dns::SuspiciousDnsConfig,
    /// `insecure_service`.
    pub insecure_service: insecure_service::InsecureServiceConfig,
    /// `syn_flood`.
    pub syn_flood: syn_flood::SynFloodConfig,
    /// `icmp_flood`.
    pub icmp_flood: icmp_flood::IcmpFloodConfig,
    /// `tcp_anomaly`.
    pub tcp_anomaly: tcp_anomaly::TcpAnomalyConfig,
    /// `threat_intel`.
    pub threat_intel: threat_intel::ThreatIntelConfig,
    /// `udp_flood`.
    pub udp_flood: udp_flood::UdpFloodConfig,
    /// `ml_anomaly`.
    pub ml_anomaly: ml_anomaly::MlAnomalyConfig,
    /// `plaintext_credentials`.
    pub plaintext_credentials: plaintext_credentials::PlaintextCredentialsConfig,
    /// `sensitive_data`.
    pub sensitive_data: sensitive_data::SensitiveDataConfig,
    /// `device`.
    pub device: device::DeviceDetectorConfig,
}

/// The built-in detectors that `config` enables, in a fixed order. This one list is the
/// registry: a detector not named here is not built in.
///
/// # Errors
/// [`ConfigError::Invalid`] when a detector's data cannot be loaded (a threat-intel feed
/// file or an anomaly model that cannot be read).
pub fn builtin(config: &DetectorsConfig) -> Result<Vec<Box<dyn Detector>>, ConfigError> {
    builtin_storing_credentials(config, None)
}

/// [`builtin`], with the credential detector also handing every credential it reports,
/// secret in full, to `credentials` (for the vault) when that is given.
///
/// # Errors
/// As [`builtin`].
pub fn builtin_storing_credentials(
    config: &DetectorsConfig,
    credentials: Option<plaintext_credentials::CredentialStore>,
) -> Result<Vec<Box<dyn Detector>>, ConfigError> {
    let mut out: Vec<Box<dyn Detector>> = Vec::new();
    if config.port_scan.enabled {
        out.push(Box::new(port_scan::PortScanDetector::new(
            &config.port_scan,
        )));
    }
    if config.host_sweep.enabled {
        out.push(Box::new(host_sweep::HostSweepDetector::new(
            &config.host_sweep,
        )));
    }
    if config.arp_spoof.enabled {
        out.push(Box::new(arp_spoof::ArpSpoofDetector::new(
            &config.arp_spoof,
        )));
    }
    if config.beaconing.enabled {
        out.push(Box::new(beaconing::BeaconingDetector::new(
            &config.beaconing,
        )));
    }
    if config.brute_force.enabled {
        out.push(Box::new(brute_force::BruteForceDetector::new(
            &config.brute_force,
        )));
    }
    if config.data_exfil.enabled {
        out.push(Box::new(data_exfil::DataExfilDetector::new(
            &config.data_exfil,
        )));
    }
    if config.dns_tunnel.enabled {
        out.push(Box::new(dns_tunnel::DnsTunnelDetector::new(
            &config.dns_tunnel,
        )));
    }
    if config.suspicious_dns.enabled {
        out.push(Box::new(suspicious_dns::SuspiciousDnsDetector::new(
            &config.suspicious_dns,
        )));
    }
    if config.insecure_service.enabled {
        out.push(Box::new(insecure_service::InsecureServiceDetector::new(
            &config.insecure_service,
        )));
    }
    if config.syn_flood.enabled {
        out.push(Box::new(syn_flood::SynFloodDetector::new(
            &config.syn_flood,
        )));
    }
    if config.icmp_flood.enabled {
        out.push(Box::new(icmp_flood::IcmpFloodDetector::new(
            &config.icmp_flood,
        )));
    }
    if config.tcp_anomaly.enabled {
        out.push(Box::new(tcp_anomaly::TcpAnomalyDetector::new(
            &config.tcp_anomaly,
        )));
    }
    if config.udp_flood.enabled {
        out.push(Box::new(udp_flood::UdpFloodDetector::new(
            &config.udp_flood,
        )));
    }
    if config.threat_intel.enabled {
        out.push(Box::new(threat_intel::ThreatIntelDetector::new(
            &config.threat_intel,
        )?));
    }
    if config.plaintext_credentials.enabled {
        let detector =
            plaintext_credentials::PlaintextCredentialsDetector::new(&config.plaintext_credentials);
        out.push(Box::new(match credentials {
            Some(store) => detector.with_store(store),
            None => detector,
        }));
    }
    if config.sensitive_data.enabled {
        out.push(Box::new(sensitive_data::SensitiveDataDetector::new(
            &config.sensitive_data,
        )));
    }
    if config.device.enabled {
        out.push(Box::new(device::DeviceDetector::new(&config.device)));
    }
    if config.ml_anomaly.enabled {
        out.push(Box::new(ml_anomaly::MlAnomalyDetector::new(
            &config.ml_anomaly,
        )?));
    }
    Ok(out)
}
