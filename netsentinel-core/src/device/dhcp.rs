//! DHCPv4 messages (RFC 2131, options RFC 2132): what a client says about itself and what a
//! server says about the network.

use std::net::Ipv4Addr;

/// Message type (option 53).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhcpKind {
    /// DHCPDISCOVER (1).
    Discover,
    /// DHCPOFFER (2).
    Offer,
    /// DHCPREQUEST (3).
    Request,
    /// DHCPACK (5).
    Ack,
    /// DHCPINFORM (8).
    Inform,
    /// Any other type, or plain BOOTP without option 53.
    Other(u8),
}

/// The parts of a DHCP message device discovery uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhcpMessage {
    /// BOOTREQUEST (client to server) rather than BOOTREPLY.
    pub from_client: bool,
    /// Message type, when option 53 is present.
    pub kind: Option<DhcpKind>,
    /// The client's hardware address (Ethernet only).
    pub client_mac: Option<[u8; 6]>,
    /// `ciaddr`: the client's current address, if any.
    pub client_ip: Option<Ipv4Addr>,
    /// `yiaddr`: the address the server gives.
    pub your_ip: Option<Ipv4Addr>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 81's domain name.
    pub fqdn: Option<String>,
    /// Option 55, in the client's order: with option 60 a fingerprint of the DHCP stack.
    pub parameter_request_list: Vec<u8>,
    /// Option 60.
    pub vendor_class: Option<String>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
}

fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let a: [u8; 4] = b.get(..4)?.try_into().ok()?;
    let ip = Ipv4Addr::from(a);
    (!ip.is_unspecified()).then_some(ip)
}

fn ipv4_list(b: &[u8]) -> Vec<Ipv4Addr> {
    b.chunks_exact(4).filter_map(ipv4).take(8).collect()
}

/// Printable text of an option: control bytes dropped, at most 64 characters.
fn text(b: &[u8]) -> Option<String> {
    let s: String = String::from_utf8_lossy(b)
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let s = s.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Parses the UDP payload of a DHCP message; `None` when it is not one (no magic cookie).
///
/// ```
/// use netsentinel_core::device::dhcp::{parse, DhcpKind};
/// let mut m = vec![0u8; 240];
/// m[0] = 1; // BOOTREQUEST
/// m[1] = 1; m[2] = 6; // Ethernet
/// m[28..34].copy_from_slice(&[0x00, 0x1b, 0x21, 1, 2, 3]);
/// m[236..240].copy_from_slice(&[99, 130, 83, 99]);
/// m.extend_from_slice(&[53, 1, 1, 12, 4, b'p', b'c', b'-', b'7', 55, 3, 1, 3, 6, 255]);
/// let d = parse(&m).unwrap();
/// assert_eq!(d.kind, Some(DhcpKind::Discover));
/// assert_eq!(d.hostname.as_deref(), Some("pc-7"));
/// assert_eq!(d.parameter_request_list, vec![1, 3, 6]);
/// ```
pub fn parse(msg: &[u8]) -> Option<DhcpMessage> {
    let fixed = msg.get(..240)?;
    if fixed[236..240] != [99, 130, 83, 99] {
        return None;
    }
    let mut d = DhcpMessage {
        from_client: fixed[0] == 1,
        client_mac: (fixed[1] == 1 && fixed[2] == 6)
            .then(|| fixed[28..34].try_into().ok())
            .flatten(),
        client_ip: ipv4(&fixed[12..16]),
        your_ip: ipv4(&fixed[16..20]),
        ..DhcpMessage::default()
    };
    let mut rest = &msg[240..];
    while let Some((&code, tail)) = rest.split_first() {
        match code {
            0 => {
                rest = tail;
                continue;
            }
            255 => break,
            _ => {}
        }
        let Some((&len, tail)) = tail.split_first() else {
            break;
        };
        let Some(value) = tail.get(..usize::from(len)) else {
            break;
        };
        rest = &tail[usize::from(len)..];
        match code {
            1 => d.subnet_mask = ipv4(value),
            3 => d.routers = ipv4_list(value),
            6 => d.dns_servers = ipv4_list(value),
            12 => d.hostname = text(value),
            53 => {
                d.kind = value.first().map(|&t| match t {
                    1 => DhcpKind::Discover,
                    2 => DhcpKind::Offer,
                    3 => DhcpKind::Request,
                    5 => DhcpKind::Ack,
                    8 => DhcpKind::Inform,
                    t => DhcpKind::Other(t),
                })
            }
            54 => d.server_id = ipv4(value),
            55 => d.parameter_request_list = value.to_vec(),
            60 => d.vendor_class = text(value),
            81 => d.fqdn = fqdn(value),
            _ => {}
        }
    }
    Some(d)
}

/// Option 81 (RFC 4702): flags, two obsolete bytes, then the name, in DNS wire format when
/// flag E is set, otherwise as ASCII.
fn fqdn(value: &[u8]) -> Option<String> {
    let (&flags, rest) = value.split_first()?;
    let name = rest.get(2..)?;
    if flags & 0x04 == 0 {
        return text(name);
    }
    let mut labels = Vec::new();
    let mut rest = name;
    while let Some((&len, tail)) = rest.split_first() {
        if len == 0 || len > 63 {
            break;
        }
        let label = tail.get(..usize::from(len))?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        rest = &tail[usize::from(len)..];
    }
    text(labels.join(".").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_options_and_cut_messages() {
        let mut m = vec![0u8; 240];
        m[0] = 2;
        m[16..20].copy_from_slice(&[10, 0, 0, 7]);
        m[236..240].copy_from_slice(&[99, 130, 83, 99]);
        m.extend_from_slice(&[53, 1, 5, 54, 4, 10, 0, 0, 1, 1, 4, 255, 255, 255, 0]);
        m.extend_from_slice(&[3, 4, 10, 0, 0, 1, 6, 8, 10, 0, 0, 1, 9, 9, 9, 9]);
        m.extend_from_slice(&[81, 9, 0x04, 0, 0, 2, b'p', b'c', 1, b'x', 0, 255]);
        let d = parse(&m).unwrap();
        assert!(!d.from_client);
        assert_eq!(d.kind, Some(DhcpKind::Ack));
        assert_eq!(d.your_ip, Some(Ipv4Addr::new(10, 0, 0, 7)));
        assert_eq!(d.server_id, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(d.routers, vec![Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(d.dns_servers.len(), 2);
        assert_eq!(d.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(d.fqdn.as_deref(), Some("pc.x"));
        for n in 0..m.len() {
            let _ = parse(&m[..n]);
        }
        assert_eq!(parse(&m[..239]), None);
    }
}
