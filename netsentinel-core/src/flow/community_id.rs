//! Community ID flow hashing, version 1.
//!
//! Spec: <https://github.com/corelight/community-id-spec>. The hash is
//! `base64(sha1(seed:u16be ++ saddr ++ daddr ++ proto:u8 ++ 0:u8 ++ sport:u16be ++ dport:u16be))`
//! over the endpoint pair put in order, so both directions of a flow get the same ID. For
//! ICMP and ICMPv6 the "ports" are the type and code, or the type and its counterpart type
//! for request/response pairs (echo, timestamp, ...), which makes those flows two-way.

use std::net::IpAddr;

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// IP protocol numbers used here.
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// ICMPv4 request/response pairs (the spec's table).
fn icmpv4_counterpart(icmp_type: u8) -> Option<u8> {
    Some(match icmp_type {
        8 => 0,
        0 => 8,
        13 => 14,
        14 => 13,
        15 => 16,
        16 => 15,
        10 => 9,
        9 => 10,
        17 => 18,
        18 => 17,
        _ => return None,
    })
}

/// ICMPv6 request/response pairs (the spec's table).
fn icmpv6_counterpart(icmp_type: u8) -> Option<u8> {
    Some(match icmp_type {
        128 => 129,
        129 => 128,
        133 => 134,
        134 => 133,
        135 => 136,
        136 => 135,
        130 => 131,
        131 => 130,
        144 => 145,
        145 => 144,
        146 => 147,
        147 => 146,
        139 => 140,
        140 => 139,
        _ => return None,
    })
}

/// The (sport, dport, one_way) the spec assigns to an ICMP/ICMPv6 packet of `icmp_type`
/// and `code`; `None` for other protocols.
pub(crate) fn icmp_ports(proto: u8, icmp_type: u8, code: u8) -> Option<(u16, u16, bool)> {
    let counterpart = match proto {
        ICMP => icmpv4_counterpart(icmp_type),
        ICMPV6 => icmpv6_counterpart(icmp_type),
        _ => return None,
    };
    Some(match counterpart {
        Some(c) => (u16::from(icmp_type), u16::from(c), false),
        None => (u16::from(icmp_type), u16::from(code), true),
    })
}

fn ip_bytes(ip: &IpAddr) -> ([u8; 16], usize) {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (b, 4)
        }
        IpAddr::V6(v6) => (v6.octets(), 16),
    }
}

/// The Community ID v1 string (`1:...`) of a flow seen from `src` to `dst`.
///
/// For TCP, UDP and SCTP pass the ports; for ICMP/ICMPv6 pass the type as `sport` and the
/// code as `dport` (the counterpart mapping is applied here); for other protocols ports
/// are ignored.
///
/// ```
/// use netsentinel_core::community_id;
/// let id = community_id(0, "192.168.1.42".parse().unwrap(), "8.8.8.8".parse().unwrap(), 17, 4242, 53);
/// assert_eq!(id, "1:vTdrngJjlP5eZ9mw9JtnKyn99KM=");
/// ```
pub fn community_id(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
) -> String {
    let (mut sport, mut dport, one_way) = match proto {
        ICMP | ICMPV6 => {
            let t = u8::try_from(sport).unwrap_or(u8::MAX);
            let c = u8::try_from(dport).unwrap_or(u8::MAX);
            icmp_ports(proto, t, c).unwrap_or((sport, dport, true))
        }
        6 | 17 | 132 => (sport, dport, false),
        _ => (0, 0, false),
    };
    let has_ports = matches!(proto, ICMP | ICMPV6 | 6 | 17 | 132);
    let (mut s, slen) = ip_bytes(&src);
    let (mut d, dlen) = ip_bytes(&dst);
    let ordered = one_way || s[..slen] < d[..dlen] || (s == d && sport <= dport);
    if !ordered {
        std::mem::swap(&mut s, &mut d);
        std::mem::swap(&mut sport, &mut dport);
    }
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(&s[..slen]);
    h.update(&d[..dlen]);
    h.update([proto, 0]);
    if has_ports {
        h.update(sport.to_be_bytes());
        h.update(dport.to_be_bytes());
    }
    let digest = h.finalize();
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn spec_udp_vector_both_directions() {
        let want = "1:vTdrngJjlP5eZ9mw9JtnKyn99KM=";
        assert_eq!(
            community_id(0, ip("192.168.1.42"), ip("8.8.8.8"), 17, 4242, 53),
            want
        );
        assert_eq!(
            community_id(0, ip("8.8.8.8"), ip("192.168.1.42"), 17, 53, 4242),
            want
        );
    }

    #[test]
    fn icmp_echo_request_and_reply_share_an_id() {
        let a = community_id(0, ip("10.0.0.1"), ip("10.0.0.2"), 1, 8, 0);
        let b = community_id(0, ip("10.0.0.2"), ip("10.0.0.1"), 1, 0, 0);
        assert_eq!(a, b);
        let unreachable = community_id(0, ip("10.0.0.2"), ip("10.0.0.1"), 1, 3, 1);
        assert_ne!(a, unreachable);
    }

    #[test]
    fn seed_changes_the_id() {
        let a = community_id(0, ip("10.0.0.1"), ip("10.0.0.2"), 6, 1, 2);
        let b = community_id(1, ip("10.0.0.1"), ip("10.0.0.2"), 6, 1, 2);
        assert_ne!(a, b);
    }
}
