//! Passive device discovery: every device on the local network, learned from its traffic
//! alone, with vendor, addresses, names, fingerprints, services and a classification.
//!
//! A device is a MAC address that sends frames. [`DeviceInventory::observe`] looks at every
//! packet once: counters and addresses for the sender (and bytes for a known receiver), and
//! for the few packets that carry self-descriptions a parser: DHCP (host name, option 55
//! fingerprint, vendor class, and the server's view of the network), mDNS (names and DNS-SD
//! service types), DNS PTR answers (names of local addresses), SSDP (UPnP server strings
//! and device types), NetBIOS (Windows and Samba names), LLDP and CDP (name, model and role
//! of network equipment). The initial TTL of packets a device originates hints at its OS.
//! [`classify()`] turns the evidence into a type with a confidence and the reasons.
//!
//! Addresses are attributed to a MAC only when they are local (`traffic.local_networks`, or
//! IPv6 link-local): a router's MAC carries every external address, which are not its own.
//! ARP from the device and DHCP acknowledgements attribute an address, and move it from
//! another MAC; an IP packet's source address only attributes an address nobody holds,
//! since relayed packets (a man in the middle) carry other hosts' addresses.
//! Bounded: at most `max_devices` devices (further MACs counted in
//! [`DeviceInventory::untracked`]), and per device at most 16 addresses, 8 names, 64
//! services and open ports.
//!
//! Events ([`DeviceEvent`]: new device, an address moving to another MAC, a DHCP server
//! other than the trusted ones) are kept in a bounded log that the `device` detector reads.

pub mod classify;
pub mod dhcp;
pub mod discovery;
pub mod environment;
pub mod netbios;
mod oui;
pub mod ssdp;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::decode::{Network, PacketView, TcpFlags, Transport, dns};
use crate::neighbor::{Mac, mac_to_string};
use crate::time::Timestamp;
use crate::traffic::LocalNetworks;

pub use classify::{Classification, DeviceKind, classify};
pub use environment::NetworkEnvironment;
pub use oui::{Vendor, vendor_of};

/// Settings of device discovery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    /// Most devices tracked; further MACs are counted, not kept. Default 10,000.
    pub max_devices: usize,
    /// Seconds of packet time after the first packet during which devices are the known
    /// population rather than news: `new_device` events start after it. Default 300.
    pub settle_secs: u64,
    /// DHCP servers that are expected. Empty (the default): the first server seen is
    /// trusted, any other one is reported as rogue.
    pub trusted_dhcp_servers: Vec<IpAddr>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            max_devices: 10_000,
            settle_secs: 300,
            trusted_dhcp_servers: Vec::new(),
        }
    }
}

const MAX_IPS: usize = 16;
/// A device seen within this long is active (its address is in use).
const ACTIVE_MICROS: i64 = 60_000_000;
const MAX_NAMES: usize = 8;
const MAX_SET: usize = 64;
const MAX_EVENTS: usize = 10_000;

/// Whether `ip` is one of `d`'s addresses; if so, it is the one in use now.
fn own_address(d: &mut Device, ip: IpAddr, now: Timestamp) -> bool {
    match d.addresses.iter().position(|a| a.ip == ip) {
        Some(k) => {
            d.addresses[k].last_seen = now;
            d.last_address = k;
            true
        }
        None => false,
    }
}

/// Serialises a MAC as text.
fn mac_text<S: serde::Serializer>(mac: &Mac, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mac_to_string(mac))
}

fn mac_from_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
    let s = String::deserialize(d)?;
    crate::neighbor::parse_mac(&s).ok_or_else(|| serde::de::Error::custom(format!("bad MAC {s}")))
}

/// An address a device used, with when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressUse {
    /// The address.
    pub ip: IpAddr,
    /// First packet time it was seen.
    pub first_seen: Timestamp,
    /// Last packet time it was seen.
    pub last_seen: Timestamp,
}

/// Where a host name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// DHCP option 12 or 81 from the device.
    Dhcp,
    /// An mDNS address record the device announced.
    Mdns,
    /// A NetBIOS name the device registered or announced.
    Netbios,
    /// A DNS PTR answer for one of its addresses.
    DnsPtr,
    /// Its LLDP system name.
    Lldp,
    /// Its CDP device ID.
    Cdp,
}

/// A host name and its source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostName {
    /// The name.
    pub name: String,
    /// Where it came from.
    pub source: NameSource,
}

/// The DHCP client's fingerprint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpFingerprint {
    /// Option 55 in order, comma-separated as fingerbank writes it (`1,3,6,15`).
    pub parameter_request_list: String,
    /// Option 60.
    pub vendor_class: Option<String>,
}

/// Initial TTLs of packets a device originated: the usual defaults are 64 (Linux, macOS,
/// iOS, Android, BSD), 128 (Windows) and 255 (network equipment, Solaris).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlCounts {
    /// Packets with TTL up to 64.
    pub up_to_64: u64,
    /// Packets with TTL 65 to 128.
    pub up_to_128: u64,
    /// Packets with TTL 129 to 255.
    pub up_to_255: u64,
}

impl TtlCounts {
    /// The OS family the most common initial TTL suggests.
    pub fn os_family(&self) -> Option<&'static str> {
        let best = [
            (self.up_to_64, "Linux/Unix (incl. macOS, iOS, Android)"),
            (self.up_to_128, "Windows"),
            (self.up_to_255, "network equipment or Solaris"),
        ]
        .into_iter()
        .max_by_key(|(n, _)| *n)?;
        (best.0 > 0).then_some(best.1)
    }
}

/// A service the device was seen answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpenPort {
    /// Transport.
    pub protocol: PortProtocol,
    /// Port.
    pub port: u16,
}

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl std::fmt::Display for PortProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
        })
    }
}

/// One device and what is known of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Its MAC address.
    #[serde(serialize_with = "mac_text", deserialize_with = "mac_from_text")]
    pub mac: Mac,
    /// Vendor from the IEEE registry (looked up again when a saved inventory is loaded).
    #[serde(skip_deserializing)]
    pub vendor: Vendor,
    /// Local addresses it used, oldest first.
    pub addresses: Vec<AddressUse>,
    /// Host names, in the order learned.
    pub names: Vec<HostName>,
    /// DHCP fingerprint, when it asked for an address.
    pub dhcp: Option<DhcpFingerprint>,
    /// DNS-SD service types it announced over mDNS (`_ipp._tcp`, ...).
    pub mdns_services: BTreeSet<String>,
    /// SSDP server strings and UPnP device types it announced.
    pub ssdp: BTreeSet<String>,
    /// LLDP or CDP announcement, the latest.
    pub announcement: Option<discovery::Announcement>,
    /// Initial TTLs of packets it originated.
    pub ttl: TtlCounts,
    /// Services it answered.
    pub open_ports: BTreeSet<OpenPort>,
    /// Distinct peers that connected to its services (up to 64 counted).
    pub clients: u32,
    /// Distinct destinations it opened TCP connections to (up to 64 counted).
    pub destinations: u32,
    /// Packets it sent from a non-local source address (forwarded for others).
    pub forwarded_out: u64,
    /// Packets it received for a non-local destination address (to be forwarded).
    pub forwarded_in: u64,
    /// DNS responses it sent.
    pub dns_answers: u64,
    /// DHCP offers and acknowledgements it sent.
    pub dhcp_offers: u64,
    /// IPv6 router advertisements it sent.
    #[serde(default)]
    pub router_advertisements: u64,
    /// Whether one of them offered it as a default router (router lifetime above 0).
    #[serde(default)]
    pub default_router: bool,
    /// Local addresses it claimed (in ARP or DHCP) while the device holding them was
    /// still active (seen in the last minute): a man in the middle, or an address
    /// conflict. A replaced machine's address, taken after it went quiet, does not count.
    #[serde(default)]
    pub addresses_contested: u64,
    /// Whether it sent from more local addresses at once than a host holds: it had to
    /// forget an address still in use (seen within the last minute) to learn another.
    /// Such a device relays for others (a router of a routed local subnet, a bridge, a
    /// NAT-less VPN concentrator); from then on a plain IP packet's source is no longer
    /// taken as its address (ARP and DHCP still are).
    #[serde(default)]
    pub relays_local: bool,
    /// Packets it sent from local addresses not its own: held by another device or, once
    /// it relays (see `relays_local`), any it does not hold.
    #[serde(default)]
    pub relayed_local: u64,
    /// First frame.
    pub first_seen: Timestamp,
    /// Last frame.
    pub last_seen: Timestamp,
    /// Bytes it sent.
    pub bytes_out: u64,
    /// Bytes sent to it (unicast).
    pub bytes_in: u64,
    /// Frames it sent.
    pub packets_out: u64,
    /// Index in `addresses` of the one used last.
    #[serde(skip)]
    last_address: usize,
    /// The peers counted in `clients` (kept so a saved inventory counts on correctly).
    #[serde(rename = "client_addresses")]
    client_set: BTreeSet<IpAddr>,
    /// The destinations counted in `destinations`.
    #[serde(rename = "destination_addresses")]
    destination_set: BTreeSet<IpAddr>,
}

impl Device {
    /// A device with nothing known but its MAC (and so its vendor).
    pub fn new(mac: Mac, now: Timestamp) -> Self {
        Device {
            mac,
            vendor: vendor_of(&mac),
            addresses: Vec::new(),
            names: Vec::new(),
            dhcp: None,
            mdns_services: BTreeSet::new(),
            ssdp: BTreeSet::new(),
            announcement: None,
            ttl: TtlCounts::default(),
            open_ports: BTreeSet::new(),
            clients: 0,
            destinations: 0,
            forwarded_out: 0,
            forwarded_in: 0,
            dns_answers: 0,
            dhcp_offers: 0,
            router_advertisements: 0,
            default_router: false,
            addresses_contested: 0,
            relays_local: false,
            relayed_local: 0,
            first_seen: now,
            last_seen: now,
            bytes_out: 0,
            bytes_in: 0,
            packets_out: 0,
            last_address: 0,
            client_set: BTreeSet::new(),
            destination_set: BTreeSet::new(),
        }
    }

    /// The first name learned, preferring the device's own words (DHCP, mDNS, NetBIOS,
    /// LLDP/CDP) over DNS PTR answers about it.
    pub fn name(&self) -> Option<&str> {
        self.names
            .iter()
            .find(|n| n.source != NameSource::DnsPtr)
            .or(self.names.first())
            .map(|n| n.name.as_str())
    }

    /// The addresses it uses now (seen last).
    pub fn current_ip(&self) -> Option<IpAddr> {
        self.addresses
            .iter()
            .max_by_key(|a| a.last_seen)
            .map(|a| a.ip)
    }

    fn add_name(&mut self, name: &str, source: NameSource) {
        let name = name.trim_end_matches('.');
        if name.is_empty()
            || self.names.len() >= MAX_NAMES
            || self.names.iter().any(|n| n.name.eq_ignore_ascii_case(name))
        {
            return;
        }
        self.names.push(HostName {
            name: name.to_string(),
            source,
        });
    }

    fn add_port(&mut self, protocol: PortProtocol, port: u16, client: IpAddr) {
        if self.open_ports.len() < MAX_SET {
            self.open_ports.insert(OpenPort { protocol, port });
        }
        if self.client_set.len() < MAX_SET && self.client_set.insert(client) {
            self.clients += 1;
        }
    }
}

/// A device with its classification, as reports show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceRecord {
    /// What was learned.
    #[serde(flatten)]
    pub device: Device,
    /// The name shown for it ([`Device::name`]).
    pub name: Option<String>,
    /// OS family from the initial TTL ([`TtlCounts::os_family`]).
    pub os_family: Option<&'static str>,
    /// Its type, confidence and reasons.
    pub classification: Classification,
}

/// Every device and the network environment, for output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceReport {
    /// Devices in the order first seen.
    pub devices: Vec<DeviceRecord>,
    /// What traffic said about the network.
    pub environment: NetworkEnvironment,
    /// Addresses of the devices classified as gateways.
    pub gateways: Vec<IpAddr>,
    /// MACs not tracked because `devices.max_devices` was reached.
    pub untracked: u64,
}

/// Why a saved inventory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not a device inventory, or damaged.
    #[error("{path}: not a NetSentinel device inventory ({reason})")]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Written by a version of NetSentinel that this one cannot read.
    #[error(
        "{path}: device inventory format version {found}; this NetSentinel reads version {expected}"
    )]
    Version {
        /// The file.
        path: std::path::PathBuf,
        /// Its version.
        found: u64,
        /// The version read here.
        expected: u32,
    },
}

/// First field of a saved inventory.
const FILE_FORMAT: &str = "netsentinel-devices";
/// Version of the saved inventory's layout.
const FILE_VERSION: u32 = 1;

/// A saved inventory.
#[derive(Serialize, Deserialize)]
struct InventoryFile {
    format: String,
    version: u32,
    devices: Vec<Device>,
    environment: NetworkEnvironment,
}

/// Something about the devices worth an alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DeviceEvent {
    /// A MAC not seen before, after the settling period.
    NewDevice {
        /// When.
        ts: Timestamp,
        /// The device.
        #[serde(serialize_with = "mac_text")]
        mac: Mac,
        /// Its vendor.
        vendor: Vendor,
        /// The address it first used, if any yet.
        ip: Option<IpAddr>,
    },
    /// A local address now used by another MAC.
    AddressMoved {
        /// When.
        ts: Timestamp,
        /// The address.
        ip: IpAddr,
        /// The MAC that used it before.
        #[serde(serialize_with = "mac_text")]
        old_mac: Mac,
        /// The MAC using it now.
        #[serde(serialize_with = "mac_text")]
        new_mac: Mac,
        /// The old MAC's vendor.
        old_vendor: Vendor,
        /// The new MAC's vendor.
        new_vendor: Vendor,
    },
    /// A DHCP server other than the trusted one(s) offered or acknowledged an address.
    RogueDhcpServer {
        /// When.
        ts: Timestamp,
        /// The server's address (option 54, else the packet's source).
        server: IpAddr,
        /// Its MAC.
        #[serde(serialize_with = "mac_text")]
        mac: Mac,
        /// The trusted server(s).
        trusted: Vec<IpAddr>,
    },
}

impl DeviceEvent {
    /// When it happened.
    pub fn ts(&self) -> Timestamp {
        match self {
            DeviceEvent::NewDevice { ts, .. }
            | DeviceEvent::AddressMoved { ts, .. }
            | DeviceEvent::RogueDhcpServer { ts, .. } => *ts,
        }
    }
}

/// The device inventory. See the module documentation.
///
/// ```
/// use netsentinel_core::device::{DeviceConfig, DeviceInventory};
/// use netsentinel_core::traffic::LocalNetworks;
/// use netsentinel_core::source::{LinkType, RawPacket};
/// use netsentinel_core::time::Timestamp;
/// let local = LocalNetworks::new(&["10.0.0.0/8".parse().unwrap()]);
/// let mut inv = DeviceInventory::new(DeviceConfig::default());
/// let mut frame = Vec::new();
/// etherparse::PacketBuilder::ethernet2([0, 0x0c, 0x29, 1, 2, 3], [0, 0x0c, 0x29, 4, 5, 6])
///     .ipv4([10, 0, 0, 5], [10, 0, 0, 1], 128)
///     .udp(40000, 53)
///     .write(&mut frame, b"")
///     .unwrap();
/// let raw = RawPacket { ts: Timestamp::from_micros(1), data: &frame, orig_len: frame.len() as u32, link: LinkType::Ethernet };
/// inv.observe(&netsentinel_core::decode::decode(&raw), &local);
/// let pc = inv.devices().next().unwrap();
/// assert_eq!(pc.vendor.name(), Some("VMware, Inc."));
/// assert_eq!(pc.current_ip(), Some("10.0.0.5".parse().unwrap()));
/// assert_eq!(pc.ttl.os_family(), Some("Windows"));
/// ```
#[derive(Debug)]
pub struct DeviceInventory {
    config: DeviceConfig,
    devices: Vec<Device>,
    by_mac: HashMap<Mac, usize, foldhash::fast::RandomState>,
    by_ip: HashMap<IpAddr, usize, foldhash::fast::RandomState>,
    /// The last sender and receiver looked up: consecutive frames mostly share them, and
    /// every frame passes here.
    last_src: Option<(Mac, usize)>,
    last_dst: Option<(Mac, usize)>,
    env: NetworkEnvironment,
    untracked: u64,
    settled_at: Option<Timestamp>,
    events: VecDeque<DeviceEvent>,
    /// Sequence number of `events[0]`.
    events_base: u64,
    moved_reported: BTreeSet<(IpAddr, Mac)>,
}

impl DeviceInventory {
    /// An empty inventory.
    pub fn new(config: DeviceConfig) -> Self {
        DeviceInventory {
            env: NetworkEnvironment::default(),
            config,
            devices: Vec::new(),
            by_mac: HashMap::default(),
            by_ip: HashMap::default(),
            last_src: None,
            last_dst: None,
            untracked: 0,
            settled_at: None,
            events: VecDeque::new(),
            events_base: 0,
            moved_reported: BTreeSet::new(),
        }
    }

    /// Writes the devices and the environment to `path` (JSON, versioned), atomically: a
    /// crash leaves the old file.
    ///
    /// # Errors
    /// [`InventoryFileError::Io`].
    pub fn save(&self, path: &std::path::Path) -> Result<(), InventoryFileError> {
        let file = InventoryFile {
            format: FILE_FORMAT.into(),
            version: FILE_VERSION,
            devices: self.devices.clone(),
            environment: self.env.clone(),
        };
        let io = |source| InventoryFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| io(std::io::Error::other(e)))?;
        crate::fsutil::write_atomic(path, &bytes, false).map_err(io)
    }

    /// Reads an inventory [`save`](Self::save)d before. Its devices are the known
    /// population: a MAC not among them is news at once (no settling period).
    ///
    /// # Errors
    /// [`InventoryFileError`]: unreadable, not an inventory, or another format version.
    /// The file is not changed.
    ///
    /// ```
    /// use netsentinel_core::device::{DeviceConfig, DeviceInventory};
    /// let path = std::env::temp_dir().join(format!("ns-doc-inv-{}.json", std::process::id()));
    /// DeviceInventory::new(DeviceConfig::default()).save(&path).unwrap();
    /// let inv = DeviceInventory::load(&path, DeviceConfig::default()).unwrap();
    /// assert_eq!(inv.devices().count(), 0);
    /// std::fs::write(&path, "{").unwrap();
    /// assert!(DeviceInventory::load(&path, DeviceConfig::default()).is_err());
    /// # std::fs::remove_file(&path).ok();
    /// ```
    pub fn load(path: &std::path::Path, config: DeviceConfig) -> Result<Self, InventoryFileError> {
        let text = std::fs::read(path).map_err(|source| InventoryFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let corrupt = |reason: String| InventoryFileError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if value["format"] != FILE_FORMAT {
            return Err(corrupt("no \"format\": \"netsentinel-devices\"".into()));
        }
        match value["version"].as_u64() {
            Some(v) if v == u64::from(FILE_VERSION) => {}
            found => {
                return Err(InventoryFileError::Version {
                    path: path.to_path_buf(),
                    found: found.unwrap_or(0),
                    expected: FILE_VERSION,
                });
            }
        }
        let file: InventoryFile =
            serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        let mut inv = DeviceInventory::new(config);
        inv.env = file.environment;
        for mut d in file.devices.into_iter().take(inv.config.max_devices) {
            if inv.by_mac.contains_key(&d.mac) {
                continue;
            }
            d.vendor = vendor_of(&d.mac);
            d.addresses.truncate(MAX_IPS);
            d.names.truncate(MAX_NAMES);
            let i = inv.devices.len();
            inv.by_mac.insert(d.mac, i);
            inv.devices.push(d);
        }
        // Each address to the device that used it last.
        let mut uses: Vec<(Timestamp, IpAddr, usize)> = inv
            .devices
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.addresses.iter().map(move |a| (a.last_seen, a.ip, i)))
            .collect();
        uses.sort();
        for (_, ip, i) in uses {
            inv.by_ip.insert(ip, i);
        }
        if !inv.devices.is_empty() {
            inv.settled_at = Some(Timestamp::ZERO);
        }
        Ok(inv)
    }

    /// [`load`](Self::load)s the inventory at `path`, or starts an empty one when there is
    /// none yet. A damaged or foreign file is moved aside to `PATH.corrupt-SECONDS` (never
    /// overwritten, never lost) and a warning saying so is returned with the empty
    /// inventory.
    ///
    /// # Errors
    /// [`InventoryFileError::Io`] when the file exists but cannot be read or moved aside.
    pub fn load_or_new(
        path: &std::path::Path,
        config: DeviceConfig,
    ) -> Result<(Self, Option<String>), InventoryFileError> {
        match Self::load(path, config.clone()) {
            Ok(inv) => Ok((inv, None)),
            Err(InventoryFileError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok((Self::new(config), None))
            }
            Err(e @ (InventoryFileError::Corrupt { .. } | InventoryFileError::Version { .. })) => {
                let aside =
                    crate::fsutil::move_aside(path).map_err(|source| InventoryFileError::Io {
                        path: path.to_path_buf(),
                        source,
                    })?;
                let warning = format!(
                    "{e}; moved aside to {}, starting an empty inventory",
                    aside.display()
                );
                Ok((Self::new(config), Some(warning)))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `device` appeared after the known population settled
    /// (`devices.settle_secs` after the first packet, or at once for a loaded inventory):
    /// a newcomer rather than part of the network as first seen.
    pub fn is_newcomer(&self, device: &Device) -> bool {
        self.settled_at.is_some_and(|t| device.first_seen >= t)
    }

    /// Every device, in the order first seen.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.iter()
    }

    /// The device with this MAC.
    pub fn get(&self, mac: &Mac) -> Option<&Device> {
        self.by_mac.get(mac).map(|&i| &self.devices[i])
    }

    /// The device using this local address most recently.
    pub fn by_ip(&self, ip: IpAddr) -> Option<&Device> {
        self.by_ip.get(&ip).map(|&i| &self.devices[i])
    }

    /// What was learned about the network itself.
    pub fn environment(&self) -> &NetworkEnvironment {
        &self.env
    }

    /// MACs not tracked because `max_devices` was reached.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Every device classified, with the environment.
    pub fn report(&self) -> DeviceReport {
        let devices: Vec<DeviceRecord> = self
            .devices
            .iter()
            .map(|d| DeviceRecord {
                name: d.name().map(str::to_string),
                os_family: d.ttl.os_family(),
                classification: classify(d, &self.env),
                device: d.clone(),
            })
            .collect();
        let gateways = devices
            .iter()
            .filter(|r| r.classification.kind == DeviceKind::Gateway)
            .filter_map(|r| r.device.current_ip())
            .collect();
        DeviceReport {
            devices,
            environment: self.env.clone(),
            gateways,
            untracked: self.untracked,
        }
    }

    /// Events with sequence number `from` on, and the number to ask from next time. Events
    /// older than the last 10,000 are gone.
    pub fn events_since(&self, from: u64) -> (impl Iterator<Item = &DeviceEvent>, u64) {
        let skip = from.saturating_sub(self.events_base) as usize;
        (
            self.events.iter().skip(skip),
            self.events_base + self.events.len() as u64,
        )
    }

    fn push_event(&mut self, e: DeviceEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.events_base += 1;
        }
        self.events.push_back(e);
    }

    /// Index of the device with `mac`, created if new and there is room.
    fn device_index(&mut self, mac: Mac, now: Timestamp) -> Option<usize> {
        if let Some(&i) = self.by_mac.get(&mac) {
            return Some(i);
        }
        if self.devices.len() >= self.config.max_devices {
            self.untracked += 1;
            return None;
        }
        let i = self.devices.len();
        self.devices.push(Device::new(mac, now));
        self.by_mac.insert(mac, i);
        if self.settled_at.is_some_and(|t| now >= t) {
            self.push_event(DeviceEvent::NewDevice {
                ts: now,
                mac,
                vendor: vendor_of(&mac),
                ip: None,
            });
        }
        Some(i)
    }

    /// Records that device `i` uses local address `ip`.
    fn attribute(&mut self, i: usize, ip: IpAddr, now: Timestamp) {
        let d = &mut self.devices[i];
        if !own_address(d, ip, now) {
            if d.addresses.len() >= MAX_IPS {
                // Forget the oldest address here and in the index (if it is still this
                // device's), so one MAC cycling through addresses cannot grow the index.
                let old = d.addresses.remove(0);
                if now.micros_since(old.last_seen) < ACTIVE_MICROS {
                    d.relays_local = true;
                }
                let old = old.ip;
                if self.by_ip.get(&old) == Some(&i) {
                    self.by_ip.remove(&old);
                }
            }
            let d = &mut self.devices[i];
            d.last_address = d.addresses.len();
            d.addresses.push(AddressUse {
                ip,
                first_seen: now,
                last_seen: now,
            });
            if let Some(DeviceEvent::NewDevice {
                ip: first @ None,
                mac,
                ..
            }) = self.events.back_mut()
                && *mac == d.mac
            {
                *first = Some(ip);
            }
        }
        match self.by_ip.insert(ip, i) {
            Some(old) if old != i => {
                if now.micros_since(self.devices[old].last_seen) < ACTIVE_MICROS {
                    self.devices[i].addresses_contested += 1;
                }
                let (old_mac, new_mac) = (self.devices[old].mac, self.devices[i].mac);
                if self.moved_reported.len() < MAX_EVENTS
                    && self.moved_reported.insert((ip, new_mac))
                {
                    self.push_event(DeviceEvent::AddressMoved {
                        ts: now,
                        ip,
                        old_mac,
                        new_mac,
                        old_vendor: vendor_of(&old_mac),
                        new_vendor: vendor_of(&new_mac),
                    });
                }
            }
            _ => {}
        }
    }

    /// Learns from one packet.
    pub fn observe(&mut self, pkt: &PacketView<'_>, local: &LocalNetworks) {
        let now = pkt.ts;
        if self.settled_at.is_none() {
            let settle = i64::try_from(self.config.settle_secs.saturating_mul(1_000_000));
            self.settled_at = Some(now.add_micros(settle.unwrap_or(i64::MAX)));
        }
        let Some(src_mac) = pkt.src_mac.filter(|m| m[0] & 1 == 0 && *m != [0; 6]) else {
            return;
        };
        let i = match self.last_src {
            Some((mac, i)) if mac == src_mac => i,
            _ => {
                let Some(i) = self.device_index(src_mac, now) else {
                    return;
                };
                self.last_src = Some((src_mac, i));
                i
            }
        };
        {
            let d = &mut self.devices[i];
            d.last_seen = now;
            d.bytes_out += u64::from(pkt.wire_len);
            d.packets_out += 1;
        }
        let dst = match (pkt.dst_mac, self.last_dst) {
            (Some(m), Some((last, j))) if m == last => Some(j),
            (Some(m), _) if m[0] & 1 == 0 => {
                let j = self.by_mac.get(&m).copied();
                if let Some(j) = j {
                    self.last_dst = Some((m, j));
                }
                j
            }
            _ => None,
        };
        if let Some(j) = dst {
            self.devices[j].bytes_in += u64::from(pkt.wire_len);
        }
        match &pkt.network {
            Network::Ip(ip) => {
                let src_local = is_local(local, ip.src);
                if src_local {
                    // An IP packet names its sender's address only weakly: a host relaying
                    // others' packets (a man in the middle, a bridge) sends them too. It
                    // attributes an address nobody holds; moves take ARP or DHCP.
                    let d = &mut self.devices[i];
                    // Fast path: the address it used last, already its own.
                    let same = match d.addresses.get_mut(d.last_address) {
                        Some(a) if a.ip == ip.src => {
                            a.last_seen = now;
                            true
                        }
                        _ => false,
                    };
                    // A relay's packets from addresses it does not hold are others'.
                    let own = same
                        || if d.relays_local {
                            own_address(d, ip.src, now)
                        } else {
                            self.by_ip.get(&ip.src).is_none_or(|&owner| owner == i)
                        };
                    if !own {
                        self.devices[i].relayed_local += 1;
                    } else {
                        if !same && !self.devices[i].relays_local {
                            self.attribute(i, ip.src, now);
                        }
                        // Its own packet: the TTL is as the OS set it (no router between).
                        let d = &mut self.devices[i];
                        match ip.ttl {
                            0..=64 => d.ttl.up_to_64 += 1,
                            65..=128 => d.ttl.up_to_128 += 1,
                            _ => d.ttl.up_to_255 += 1,
                        }
                    }
                } else if !ip.src.is_unspecified() {
                    self.devices[i].forwarded_out += 1;
                }
                if let Some(j) = dst
                    && !is_local(local, ip.dst)
                    && !ip.dst.is_multicast()
                {
                    self.devices[j].forwarded_in += 1;
                }
                self.transport(i, pkt, ip.src, ip.dst, src_local);
            }
            Network::Arp(arp) => {
                let ip = IpAddr::V4(arp.sender_ip);
                if arp.sender_mac == src_mac
                    && !arp.sender_ip.is_unspecified()
                    && is_local(local, ip)
                {
                    self.attribute(i, ip, now);
                }
            }
            Network::Other { ether_type } => {
                let announcement = match (*ether_type, discovery::ethernet_payload(pkt.data)) {
                    (0x88cc, Some((_, pdu))) => discovery::parse_lldp(pdu),
                    (len, Some((_, llc))) if len < 0x0600 => discovery::parse_cdp(llc),
                    _ => None,
                };
                if let Some(a) = announcement {
                    let d = &mut self.devices[i];
                    if let Some(name) = &a.name {
                        let source = if a.protocol == discovery::DiscoveryProtocol::Lldp {
                            NameSource::Lldp
                        } else {
                            NameSource::Cdp
                        };
                        d.add_name(name, source);
                    }
                    d.announcement = Some(a);
                }
            }
            Network::None => {}
        }
    }

    /// Transport-level evidence and the application parsers.
    fn transport(
        &mut self,
        i: usize,
        pkt: &PacketView<'_>,
        src: IpAddr,
        dst: IpAddr,
        src_local: bool,
    ) {
        match &pkt.transport {
            Transport::Tcp(t) => {
                let d = &mut self.devices[i];
                if t.flags.has(TcpFlags::SYN | TcpFlags::ACK) && src_local {
                    d.add_port(PortProtocol::Tcp, t.src_port, dst);
                } else if t.flags.has(TcpFlags::SYN)
                    && !t.flags.has(TcpFlags::ACK)
                    && src_local
                    && d.destination_set.len() < MAX_SET
                    && d.destination_set.insert(dst)
                {
                    d.destinations += 1;
                }
            }
            Transport::Udp {
                src_port, dst_port, ..
            } => {
                let (sp, dp) = (*src_port, *dst_port);
                let payload = pkt.payload;
                match (sp, dp) {
                    (67, 68) | (68, 67) | (67, 67) => self.dhcp(i, pkt.ts, src, payload),
                    (5353, _) | (_, 5353) => self.mdns(i, payload),
                    (1900, _) | (_, 1900) => {
                        if let Some(m) = ssdp::parse(payload) {
                            let d = &mut self.devices[i];
                            for s in [m.server, m.kind].into_iter().flatten() {
                                if d.ssdp.len() < MAX_SET && !m.is_search {
                                    d.ssdp.insert(s);
                                }
                            }
                        }
                    }
                    (137, _) => {
                        if let IpAddr::V4(s) = src {
                            for name in netbios::names_from_nbns(payload, s) {
                                self.devices[i].add_name(&name, NameSource::Netbios);
                            }
                        }
                    }
                    (138, 138) => {
                        if let IpAddr::V4(s) = src
                            && let Some(name) = netbios::name_from_datagram(payload, s)
                        {
                            self.devices[i].add_name(&name, NameSource::Netbios);
                        }
                    }
                    (53, _) => {
                        if src_local {
                            self.devices[i].dns_answers += 1;
                            self.env.add_dns_server(src);
                        }
                        self.dns_ptr_answers(payload);
                    }
                    _ => {}
                }
                if src_local && sp < 1024 && dp >= 1024 && sp != 53 {
                    self.devices[i].add_port(PortProtocol::Udp, sp, dst);
                } else if src_local && sp == 53 {
                    self.devices[i].add_port(PortProtocol::Udp, 53, dst);
                }
            }
            Transport::Icmpv6 { icmp_type: 134, .. } if src_local => {
                self.router_advertisement(i, pkt);
            }
            _ => {}
        }
    }

    /// An IPv6 router advertisement (RFC 4861 §4.2): the sender routes, a default router
    /// when its lifetime is above 0, and its prefix options are the link's subnets.
    fn router_advertisement(&mut self, i: usize, pkt: &PacketView<'_>) {
        // The lifetime is in the 8-byte ICMPv6 header, just before the payload (a
        // sub-slice of the frame); the payload starts with two timers, then options.
        let off = (pkt.payload.as_ptr() as usize).wrapping_sub(pkt.data.as_ptr() as usize);
        let Some(header) = off
            .checked_sub(8)
            .and_then(|start| pkt.data.get(start..off))
        else {
            return;
        };
        let lifetime = u16::from_be_bytes([header[6], header[7]]);
        let d = &mut self.devices[i];
        d.router_advertisements += 1;
        d.default_router |= lifetime > 0;
        let mut options = pkt.payload.get(8..).unwrap_or_default();
        while options.len() >= 8 {
            let len = usize::from(options[1]) * 8;
            let Some(opt) = options.get(..len).filter(|_| len > 0) else {
                break;
            };
            if opt[0] == 3
                && len == 32
                && let Ok(prefix) = <[u8; 16]>::try_from(&opt[16..32])
            {
                self.env
                    .add_subnet(format!("{}/{}", std::net::Ipv6Addr::from(prefix), opt[2]));
            }
            options = &options[len..];
        }
    }

    fn dhcp(&mut self, i: usize, now: Timestamp, src: IpAddr, payload: &[u8]) {
        let Some(m) = dhcp::parse(payload) else {
            return;
        };
        if m.from_client {
            // The client named in chaddr is usually the sender; a relay forwards for others.
            let Some(client) = m.client_mac.and_then(|mac| self.device_index(mac, now)) else {
                return;
            };
            let d = &mut self.devices[client];
            for name in [&m.hostname, &m.fqdn].into_iter().flatten() {
                d.add_name(name, NameSource::Dhcp);
            }
            if !m.parameter_request_list.is_empty() || m.vendor_class.is_some() {
                d.dhcp = Some(DhcpFingerprint {
                    parameter_request_list: m
                        .parameter_request_list
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    vendor_class: m.vendor_class.clone(),
                });
            }
            return;
        }
        // A server's reply: offers and acks say who serves and what the network is.
        if !matches!(m.kind, Some(dhcp::DhcpKind::Offer | dhcp::DhcpKind::Ack)) {
            return;
        }
        self.devices[i].dhcp_offers += 1;
        let server = m.server_id.map_or(src, IpAddr::V4);
        let mac = self.devices[i].mac;
        self.env.add_dhcp_offer(&m, server);
        let trusted = if self.config.trusted_dhcp_servers.is_empty() {
            self.env
                .dhcp_servers
                .first()
                .map(|s| vec![*s])
                .unwrap_or_default()
        } else {
            self.config.trusted_dhcp_servers.clone()
        };
        if !trusted.contains(&server) && self.env.note_rogue(server) {
            self.push_event(DeviceEvent::RogueDhcpServer {
                ts: now,
                server,
                mac,
                trusted,
            });
        }
        if let (Some(client), Some(ip)) = (m.client_mac, m.your_ip)
            && let Some(c) = self.device_index(client, now)
        {
            self.attribute(c, IpAddr::V4(ip), now);
        }
    }

    fn mdns(&mut self, i: usize, payload: &[u8]) {
        let Some((true, records)) = dns::records(payload) else {
            return;
        };
        let d = &mut self.devices[i];
        for r in &records {
            match r.rtype {
                // Address records: the device's own .local name.
                1 | 28 => {
                    if let Some(host) = r.name.strip_suffix(".local") {
                        d.add_name(host, NameSource::Mdns);
                    }
                }
                // PTR: a service type's instance; SRV: an instance's host.
                12 | 33 => {
                    let service = if r.rtype == 12 {
                        r.name.as_str()
                    } else {
                        &r.name
                    };
                    if let Some(kind) = service_type(service)
                        && d.mdns_services.len() < MAX_SET
                    {
                        d.mdns_services.insert(kind);
                    }
                    if r.rtype == 33
                        && let Some(target) = r.target_name(payload)
                        && let Some(host) = target.strip_suffix(".local")
                    {
                        d.add_name(host, NameSource::Mdns);
                    }
                }
                _ => {}
            }
        }
    }

    /// PTR answers name local addresses (`5.0.0.10.in-addr.arpa` -> `pc.lab`).
    fn dns_ptr_answers(&mut self, payload: &[u8]) {
        let Some((true, records)) = dns::records(payload) else {
            return;
        };
        for r in records.iter().filter(|r| r.rtype == 12) {
            if let (Some(ip), Some(target)) = (reverse_name_ip(&r.name), r.target_name(payload))
                && let Some(&i) = self.by_ip.get(&ip)
            {
                self.devices[i].add_name(&target, NameSource::DnsPtr);
            }
        }
    }
}

fn is_local(local: &LocalNetworks, ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_broadcast() && local.contains(ip),
        IpAddr::V6(v6) => v6.is_unicast_link_local() || local.contains(ip),
    }
}

/// The DNS-SD service type in a name (`_ipp._tcp` from `Printer._ipp._tcp.local`).
fn service_type(name: &str) -> Option<String> {
    let labels: Vec<&str> = name.split('.').collect();
    let proto = labels.iter().position(|l| *l == "_tcp" || *l == "_udp")?;
    let service = labels.get(proto.checked_sub(1)?)?;
    (service.starts_with('_') && *service != "_services")
        .then(|| format!("{service}.{}", labels[proto]))
}

/// The address of a reverse-lookup name (`4.3.2.1.in-addr.arpa` is 1.2.3.4).
fn reverse_name_ip(name: &str) -> Option<IpAddr> {
    let v4 = name.strip_suffix(".in-addr.arpa")?;
    let mut octets: Vec<u8> = v4
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if octets.len() != 4 {
        return None;
    }
    octets.reverse();
    Some(IpAddr::V4(Ipv4Addr::new(
        octets[0], octets[1], octets[2], octets[3],
    )))
}

#[cfg(test)]
mod tests;
