//! Link-layer discovery: LLDP (IEEE 802.1AB) and Cisco's CDP, by which switches, routers,
//! access points and phones announce their name, model and role to their neighbours.

/// What a device announced about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Announcement {
    /// Which protocol.
    pub protocol: DiscoveryProtocol,
    /// LLDP system name or CDP device ID.
    pub name: Option<String>,
    /// LLDP system description or CDP software version (first line).
    pub description: Option<String>,
    /// CDP platform (the model).
    pub platform: Option<String>,
    /// The port it sent from (LLDP port ID/description or CDP port ID).
    pub port: Option<String>,
    /// Enabled capabilities, by name (`router`, `bridge`, `wlan_ap`, `telephone`, `station`,
    /// `switch`, `host`, ...).
    pub capabilities: Vec<String>,
}

/// LLDP or CDP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscoveryProtocol {
    /// IEEE 802.1AB.
    #[default]
    Lldp,
    /// Cisco Discovery Protocol.
    Cdp,
}

impl DiscoveryProtocol {
    /// `LLDP` or `CDP`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryProtocol::Lldp => "LLDP",
            DiscoveryProtocol::Cdp => "CDP",
        }
    }
}

/// The EtherType (or 802.3 length) and payload of an Ethernet frame, past any VLAN tags.
pub fn ethernet_payload(frame: &[u8]) -> Option<(u16, &[u8])> {
    let mut at = 12;
    loop {
        let t = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
        if matches!(t, 0x8100 | 0x88a8 | 0x9100) {
            at += 4;
            continue;
        }
        return Some((t, frame.get(at + 2..)?));
    }
}

/// Printable text: control bytes dropped, first line, at most 128 characters.
fn text(b: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(b);
    let line = s.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().filter(|c| !c.is_control()).take(128).collect())
}

const LLDP_CAPABILITIES: [(u16, &str); 8] = [
    (0x01, "other"),
    (0x02, "repeater"),
    (0x04, "bridge"),
    (0x08, "wlan_ap"),
    (0x10, "router"),
    (0x20, "telephone"),
    (0x40, "docsis"),
    (0x80, "station"),
];

/// Parses an LLDPDU (the payload of EtherType 0x88cc).
///
/// ```
/// use netsentinel_core::device::discovery::parse_lldp;
/// // System name "sw1" (type 5) and capabilities bridge+router, bridge enabled (type 7).
/// let pdu = [0x0a, 3, b's', b'w', b'1', 0x0e, 4, 0, 0x14, 0, 0x04, 0, 0];
/// let a = parse_lldp(&pdu).unwrap();
/// assert_eq!(a.name.as_deref(), Some("sw1"));
/// assert_eq!(a.capabilities, vec!["bridge".to_string()]);
/// ```
pub fn parse_lldp(pdu: &[u8]) -> Option<Announcement> {
    let mut a = Announcement {
        protocol: DiscoveryProtocol::Lldp,
        ..Announcement::default()
    };
    let mut rest = pdu;
    let mut seen = false;
    while rest.len() >= 2 {
        let head = u16::from_be_bytes([rest[0], rest[1]]);
        let (kind, len) = (head >> 9, usize::from(head & 0x1ff));
        let Some(value) = rest.get(2..2 + len) else {
            break;
        };
        rest = &rest[2 + len..];
        seen = true;
        match kind {
            0 => break,
            // Port ID: skip the subtype byte; a MAC-address port id is not text.
            2 if value.first() != Some(&3) => a.port = value.get(1..).and_then(text),
            4 => a.port = a.port.take().or_else(|| text(value)),
            5 => a.name = text(value),
            6 => a.description = text(value),
            7 if value.len() >= 4 => {
                let enabled = u16::from_be_bytes([value[2], value[3]]);
                a.capabilities = LLDP_CAPABILITIES
                    .iter()
                    .filter(|(bit, _)| enabled & bit != 0)
                    .map(|(_, n)| (*n).to_string())
                    .collect();
            }
            _ => {}
        }
    }
    seen.then_some(a)
}

const CDP_CAPABILITIES: [(u32, &str); 10] = [
    (0x001, "router"),
    (0x002, "bridge"),
    (0x004, "source_route_bridge"),
    (0x008, "switch"),
    (0x010, "host"),
    (0x020, "igmp"),
    (0x040, "repeater"),
    (0x080, "telephone"),
    (0x100, "remotely_managed"),
    (0x200, "camera"),
];

/// Parses a CDP frame's 802.2 payload (LLC AA-AA-03, SNAP 00000C/2000, then CDP).
///
/// ```
/// use netsentinel_core::device::discovery::parse_cdp;
/// let mut f = vec![0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00, 2, 180, 0, 0];
/// f.extend_from_slice(&[0, 1, 0, 7, b'r', b'1', b'x']); // device ID "r1x"
/// f.extend_from_slice(&[0, 4, 0, 8, 0, 0, 0, 0x09]); // router + switch
/// let a = parse_cdp(&f).unwrap();
/// assert_eq!(a.name.as_deref(), Some("r1x"));
/// assert_eq!(a.capabilities, vec!["router".to_string(), "switch".to_string()]);
/// ```
pub fn parse_cdp(llc: &[u8]) -> Option<Announcement> {
    if llc.get(..8)? != [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00] {
        return None;
    }
    let mut a = Announcement {
        protocol: DiscoveryProtocol::Cdp,
        ..Announcement::default()
    };
    let mut rest = llc.get(12..)?;
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if len < 4 {
            break;
        }
        let Some(value) = rest.get(4..len) else {
            break;
        };
        rest = &rest[len..];
        match kind {
            1 => a.name = text(value),
            3 => a.port = text(value),
            4 if value.len() >= 4 => {
                let caps = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                a.capabilities = CDP_CAPABILITIES
                    .iter()
                    .filter(|(bit, _)| caps & bit != 0)
                    .map(|(_, n)| (*n).to_string())
                    .collect();
            }
            5 => a.description = text(value),
            6 => a.platform = text(value),
            _ => {}
        }
    }
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_tags_are_skipped_and_cut_frames_refused() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0, 5, 0x88, 0xcc, 1, 2]);
        assert_eq!(ethernet_payload(&f), Some((0x88cc, &[1u8, 2][..])));
        assert_eq!(ethernet_payload(&f[..15]), None);
        let pdu = [0x0a, 3, b's', b'w', b'1', 0x0e, 4, 0, 0x14, 0, 0x04, 0, 0];
        for n in 0..pdu.len() {
            let _ = parse_lldp(&pdu[..n]);
        }
        assert_eq!(parse_cdp(&[0xaa, 0xaa, 0x03]), None);
    }
}
