//! What kind of device a device is, from the evidence its traffic left.
//!
//! Each piece of evidence supports one kind with a weight (how often it is right on its
//! own, by judgement: a DNS-SD printer service is strong, an HP vendor prefix is weak since
//! HP also makes laptops). A kind's confidence combines its evidence as independent
//! signals, `1 - Π(1 - w)`; the kind with the highest confidence wins, and its reasons are
//! kept. Below 0.3 the device stays `unknown`, with whatever weak reasons there were.
//!
//! Sources of the rules: DNS-SD service types (IANA service name registry, Apple's Bonjour
//! printing and AirPlay specs), LLDP (IEEE 802.1AB) and CDP capability bits, UPnP device
//! types, vendors' OUIs, and role from behaviour (forwarding external traffic, answering
//! connections) as Zeek's `known_hosts`/`known_services` and Sniffnet's device view
//! present them.

use serde::Serialize;

use super::{Device, NetworkEnvironment, OpenPort, PortProtocol};

/// Kinds of device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Routes between the local network and elsewhere.
    Gateway,
    /// A router inside the network.
    Router,
    /// A switch (bridge).
    Switch,
    /// A wireless access point.
    AccessPoint,
    /// A desktop computer, or a client whose form cannot be told.
    Workstation,
    /// A laptop.
    Laptop,
    /// A phone (mobile or VoIP) or tablet.
    Phone,
    /// Serves others.
    Server,
    /// A printer.
    Printer,
    /// A camera.
    Camera,
    /// A smart-home or embedded device.
    Iot,
    /// A TV, streamer or speaker.
    Media,
    /// Network-attached storage.
    Nas,
    /// A virtual machine or hypervisor.
    VirtualMachine,
    /// Not enough evidence.
    Unknown,
}

impl DeviceKind {
    /// Its name as in JSON (`access_point`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Gateway => "gateway",
            DeviceKind::Router => "router",
            DeviceKind::Switch => "switch",
            DeviceKind::AccessPoint => "access_point",
            DeviceKind::Workstation => "workstation",
            DeviceKind::Laptop => "laptop",
            DeviceKind::Phone => "phone",
            DeviceKind::Server => "server",
            DeviceKind::Printer => "printer",
            DeviceKind::Camera => "camera",
            DeviceKind::Iot => "iot",
            DeviceKind::Media => "media",
            DeviceKind::Nas => "nas",
            DeviceKind::VirtualMachine => "virtual_machine",
            DeviceKind::Unknown => "unknown",
        }
    }
}

/// A classification and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Classification {
    /// The kind.
    pub kind: DeviceKind,
    /// 0 to 1.
    pub confidence: f64,
    /// The evidence for it, strongest first.
    pub reasons: Vec<String>,
}

/// Below this the device is `unknown`.
const MIN_CONFIDENCE: f64 = 0.3;

/// Evidence gathered for each kind.
#[derive(Default)]
struct Evidence(Vec<(DeviceKind, f64, String)>);

impl Evidence {
    fn add(&mut self, kind: DeviceKind, weight: f64, reason: impl Into<String>) {
        self.0.push((kind, weight, reason.into()));
    }
}

const PRINTER_SERVICES: [&str; 5] = [
    "_ipp._tcp",
    "_ipps._tcp",
    "_printer._tcp",
    "_pdl-datastream._tcp",
    "_uscan._tcp",
];
const MEDIA_SERVICES: [&str; 6] = [
    "_googlecast._tcp",
    "_airplay._tcp",
    "_raop._tcp",
    "_spotify-connect._tcp",
    "_sonos._tcp",
    "_roku-rcp._tcp",
];
const IOT_SERVICES: [&str; 5] = [
    "_hap._tcp",
    "_hue._tcp",
    "_matter._tcp",
    "_esphomelib._tcp",
    "_miio._udp",
];
const NAS_SERVICES: [&str; 2] = ["_adisk._tcp", "_afpovertcp._tcp"];

/// Vendor name fragments (lower case) and the kind they suggest, with a weight.
const VENDOR_HINTS: [(&str, DeviceKind, f64); 22] = [
    ("vmware", DeviceKind::VirtualMachine, 0.8),
    ("pcs systemtechnik", DeviceKind::VirtualMachine, 0.8), // VirtualBox's 08:00:27
    ("xensource", DeviceKind::VirtualMachine, 0.8),
    ("parallels", DeviceKind::VirtualMachine, 0.8),
    ("hikvision", DeviceKind::Camera, 0.7),
    ("dahua", DeviceKind::Camera, 0.7),
    ("axis communications", DeviceKind::Camera, 0.7),
    ("synology", DeviceKind::Nas, 0.8),
    ("qnap", DeviceKind::Nas, 0.8),
    ("roku", DeviceKind::Media, 0.7),
    ("sonos", DeviceKind::Media, 0.7),
    ("espressif", DeviceKind::Iot, 0.6),
    ("tuya", DeviceKind::Iot, 0.7),
    ("shelly", DeviceKind::Iot, 0.7),
    ("signify", DeviceKind::Iot, 0.6),
    ("philips lighting", DeviceKind::Iot, 0.6),
    ("brother industries", DeviceKind::Printer, 0.5),
    ("seiko epson", DeviceKind::Printer, 0.5),
    ("lexmark", DeviceKind::Printer, 0.6),
    ("kyocera", DeviceKind::Printer, 0.5),
    ("polycom", DeviceKind::Phone, 0.6),
    ("yealink", DeviceKind::Phone, 0.6),
];

/// Host-name fragments (lower case) and the kind they suggest.
const NAME_HINTS: [(&str, DeviceKind); 12] = [
    ("iphone", DeviceKind::Phone),
    ("ipad", DeviceKind::Phone),
    ("android", DeviceKind::Phone),
    ("galaxy", DeviceKind::Phone),
    ("pixel", DeviceKind::Phone),
    ("macbook", DeviceKind::Laptop),
    ("laptop", DeviceKind::Laptop),
    ("thinkpad", DeviceKind::Laptop),
    ("printer", DeviceKind::Printer),
    ("nas", DeviceKind::Nas),
    ("desktop", DeviceKind::Workstation),
    ("camera", DeviceKind::Camera),
];

/// Ports whose service makes a host a server.
fn is_server_port(p: &OpenPort) -> bool {
    matches!(
        (p.protocol, p.port),
        (
            PortProtocol::Tcp,
            20..=25
                | 53
                | 80
                | 110
                | 143
                | 389
                | 443
                | 445
                | 465
                | 587
                | 636
                | 993
                | 995
                | 1433
                | 1521
                | 3306
                | 3389
                | 5432
                | 5900
                | 6379
                | 8080
                | 8443
                | 27017
        ) | (PortProtocol::Udp, 53 | 67 | 69 | 123 | 161 | 514)
    )
}

/// Classifies a device.
///
/// ```
/// use netsentinel_core::device::{classify, Device, DeviceKind, NetworkEnvironment};
/// use netsentinel_core::time::Timestamp;
/// let mut d = Device::new([0x00, 0x11, 0x32, 1, 2, 3], Timestamp::ZERO);
/// d.mdns_services.insert("_ipp._tcp".into());
/// let c = classify(&d, &NetworkEnvironment::default());
/// assert_eq!(c.kind, DeviceKind::Printer);
/// assert!(c.reasons[0].contains("_ipp._tcp"));
/// ```
pub fn classify(d: &Device, env: &NetworkEnvironment) -> Classification {
    use DeviceKind as K;
    let mut e = Evidence::default();

    // Behaviour: routing. A spoofing host sends from external addresses but receives
    // nothing for them; a gateway does both.
    // A host that relays traffic while claiming addresses other devices hold is a man in
    // the middle (ARP spoofing), not the network's gateway.
    if d.addresses_contested > 0 && d.forwarded_out >= 10 {
        e.add(
            K::Unknown,
            0.0,
            format!(
                "relays traffic while claiming {} address(es) of other active devices (a man in the middle?)",
                d.addresses_contested
            ),
        );
    } else if d.forwarded_out >= 10 && d.forwarded_in >= 10 {
        e.add(
            K::Gateway,
            0.8,
            format!(
                "forwards traffic both ways between local hosts and external addresses ({} packets out, {} in)",
                d.forwarded_out, d.forwarded_in
            ),
        );
    } else if d.relays_local && d.relayed_local >= 10 {
        e.add(
            K::Gateway,
            0.6,
            format!(
                "sends for more local addresses at once than one host holds ({} packets from addresses not its own): a router of a local subnet, or a bridge",
                d.relayed_local
            ),
        );
    }
    if d.addresses.iter().any(|a| env.dhcp_routers.contains(&a.ip)) {
        e.add(K::Gateway, 0.7, "named as router by DHCP");
    }
    if d.default_router {
        e.add(
            K::Gateway,
            0.8,
            "advertises itself as an IPv6 default router",
        );
    } else if d.router_advertisements > 0 {
        e.add(
            K::Router,
            0.7,
            "sends IPv6 router advertisements (not as a default router)",
        );
    }

    // Self-description: LLDP/CDP capabilities.
    if let Some(a) = &d.announcement {
        let proto = a.protocol.as_str();
        let has = |c: &str| a.capabilities.iter().any(|x| x == c);
        // Routing and bridging together is a layer-3 switch (a router does not bridge).
        let layer3_switch = has("router") && (has("bridge") || has("switch"));
        if layer3_switch {
            e.add(
                K::Switch,
                0.75,
                format!("{proto} capabilities router and bridge (a layer-3 switch)"),
            );
        }
        for cap in &a.capabilities {
            let kind = match cap.as_str() {
                "router" | "bridge" | "switch" if layer3_switch => continue,
                "router" => K::Router,
                "bridge" | "switch" => K::Switch,
                "wlan_ap" => K::AccessPoint,
                "telephone" => K::Phone,
                "camera" => K::Camera,
                "station" | "host" => K::Workstation,
                _ => continue,
            };
            // A telephone or station capability is specific; router+bridge boxes are
            // common, the router side usually the role that matters.
            let w = match kind {
                K::Phone | K::Camera | K::AccessPoint => 0.85,
                K::Router => 0.75,
                _ => 0.7,
            };
            e.add(kind, w, format!("{proto} capability {cap}"));
        }
        if a.capabilities.is_empty() {
            e.add(
                K::Switch,
                0.4,
                format!("sends {proto} announcements (network equipment)"),
            );
        }
    }

    // Self-description: DNS-SD services, SSDP.
    for s in &d.mdns_services {
        let s = s.as_str();
        let kind = if PRINTER_SERVICES.contains(&s) {
            Some((K::Printer, 0.85))
        } else if MEDIA_SERVICES.contains(&s) {
            Some((K::Media, 0.8))
        } else if IOT_SERVICES.contains(&s) {
            Some((K::Iot, 0.75))
        } else if NAS_SERVICES.contains(&s) {
            Some((K::Nas, 0.6))
        } else if s == "_rtsp._tcp" {
            Some((K::Camera, 0.5))
        } else if s == "_apple-mobdev2._tcp" {
            Some((K::Phone, 0.6))
        } else if s == "_workstation._tcp" {
            Some((K::Workstation, 0.5))
        } else {
            None
        };
        if let Some((k, w)) = kind {
            e.add(k, w, format!("announces mDNS service {s}"));
        }
    }
    for s in &d.ssdp {
        let l = s.to_ascii_lowercase();
        let kind = if l.contains("mediarenderer") || l.contains("roku") || l.contains("dial") {
            Some((K::Media, 0.6))
        } else if l.contains(":printer:") {
            Some((K::Printer, 0.7))
        } else if l.contains("digitalsecuritycamera") {
            Some((K::Camera, 0.7))
        } else if l.contains("internetgatewaydevice") {
            Some((K::Gateway, 0.6))
        } else if l.contains("mediaserver") {
            Some((K::Nas, 0.4))
        } else {
            None
        };
        if let Some((k, w)) = kind {
            e.add(k, w, format!("announces UPnP {s}"));
        }
    }

    // DHCP fingerprint and names.
    if let Some(vc) = d.dhcp.as_ref().and_then(|f| f.vendor_class.as_deref()) {
        let l = vc.to_ascii_lowercase();
        if l.starts_with("android-dhcp") {
            e.add(K::Phone, 0.7, format!("DHCP vendor class {vc}"));
        } else if l.starts_with("msft") {
            e.add(
                K::Workstation,
                0.5,
                format!("DHCP vendor class {vc} (Windows)"),
            );
        }
    }
    for n in &d.names {
        let l = n.name.to_ascii_lowercase();
        for (frag, kind) in NAME_HINTS {
            if l.contains(frag) {
                e.add(kind, 0.5, format!("host name {}", n.name));
                break;
            }
        }
    }

    // Vendor.
    if let Some(v) = d.vendor.name() {
        let l = v.to_ascii_lowercase();
        for (frag, kind, w) in VENDOR_HINTS {
            if l.contains(frag) {
                e.add(kind, w, format!("vendor {v}"));
            }
        }
    }

    // Behaviour: services answered, connections opened.
    let printing: Vec<u16> = d
        .open_ports
        .iter()
        .filter(|p| p.protocol == PortProtocol::Tcp && matches!(p.port, 515 | 631 | 9100))
        .map(|p| p.port)
        .collect();
    if !printing.is_empty() {
        e.add(
            K::Printer,
            0.6,
            format!("answers printing ports {printing:?}"),
        );
    }
    if d.open_ports
        .iter()
        .any(|p| p.protocol == PortProtocol::Tcp && p.port == 554)
    {
        e.add(K::Camera, 0.4, "answers RTSP (554)");
    }
    let serving: Vec<String> = d
        .open_ports
        .iter()
        .filter(|p| is_server_port(p))
        .map(|p| format!("{}/{}", p.port, p.protocol))
        .collect();
    if !serving.is_empty() {
        let w = if serving.len() >= 2 || d.clients >= 3 {
            0.7
        } else {
            0.5
        };
        e.add(
            K::Server,
            w,
            format!("answers {} for {} client(s)", serving.join(", "), d.clients),
        );
    }
    if d.dhcp_offers > 0 {
        e.add(K::Server, 0.4, "serves DHCP");
    }
    if d.destinations >= 1 && serving.is_empty() && d.forwarded_out == 0 {
        e.add(
            K::Workstation,
            if d.destinations >= 3 { 0.5 } else { 0.35 },
            format!(
                "opens connections to {} destination(s) and serves none",
                d.destinations
            ),
        );
    }
    if d.ttl.up_to_128 > d.ttl.up_to_64 && d.ttl.up_to_128 > d.ttl.up_to_255 && serving.is_empty() {
        e.add(K::Workstation, 0.3, "initial TTL 128 (Windows)");
    }

    decide(e)
}

fn decide(e: Evidence) -> Classification {
    let mut best: Option<(DeviceKind, f64)> = None;
    let mut kinds: Vec<DeviceKind> = e.0.iter().map(|(k, _, _)| *k).collect();
    kinds.sort();
    kinds.dedup();
    for k in kinds.into_iter().filter(|k| *k != DeviceKind::Unknown) {
        let miss: f64 =
            e.0.iter()
                .filter(|(kk, _, _)| *kk == k)
                .map(|(_, w, _)| 1.0 - w)
                .product();
        let conf = 1.0 - miss;
        if best.is_none_or(|(_, c)| conf > c) {
            best = Some((k, conf));
        }
    }
    match best {
        Some((kind, confidence)) if confidence >= MIN_CONFIDENCE => {
            let mut reasons: Vec<(f64, String)> =
                e.0.into_iter()
                    .filter(|(k, _, _)| *k == kind)
                    .map(|(_, w, r)| (w, r))
                    .collect();
            reasons.sort_by(|a, b| b.0.total_cmp(&a.0));
            Classification {
                kind,
                confidence: (confidence * 100.0).round() / 100.0,
                reasons: reasons.into_iter().map(|(_, r)| r).collect(),
            }
        }
        _ => Classification {
            kind: DeviceKind::Unknown,
            confidence: 0.0,
            reasons: e.0.into_iter().map(|(_, _, r)| r).collect(),
        },
    }
}
