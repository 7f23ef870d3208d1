//! Decode anomalies: what could not be decoded, as data.

use etherparse::err::Layer;
use etherparse::err::packet::SliceError;
use serde::Serialize;

/// What went wrong while decoding a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// The packet ends before the header or the length its header announces: malformed on
    /// the wire (the whole frame was captured).
    Truncated,
    /// The capture's snap length cut the packet inside a header: a capture artefact, not
    /// an attack, but the layer is still unreadable.
    SnapCut,
    /// A header field holds an impossible value (bad version, header length, ...).
    Malformed,
    /// A link type or address family the decoder does not handle.
    Unsupported,
}

/// The protocol layer an anomaly belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolLayer {
    /// Link layer (Ethernet, SLL, null/loop).
    Link,
    /// VLAN or MACsec tag.
    Vlan,
    /// ARP.
    Arp,
    /// IP, version not yet known.
    Ip,
    /// IPv4.
    Ipv4,
    /// IPv6 (including extension headers).
    Ipv6,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP.
    Icmpv4,
    /// ICMPv6.
    Icmpv6,
}

const KINDS: usize = 4;
const LAYERS: usize = 10;

/// `NAMES[kind][layer]`: the stable snake_case names, in declaration order.
const NAMES: [[&str; LAYERS]; KINDS] = [
    [
        "truncated_link",
        "truncated_vlan",
        "truncated_arp",
        "truncated_ip",
        "truncated_ipv4",
        "truncated_ipv6",
        "truncated_tcp",
        "truncated_udp",
        "truncated_icmpv4",
        "truncated_icmpv6",
    ],
    [
        "snap_cut_link",
        "snap_cut_vlan",
        "snap_cut_arp",
        "snap_cut_ip",
        "snap_cut_ipv4",
        "snap_cut_ipv6",
        "snap_cut_tcp",
        "snap_cut_udp",
        "snap_cut_icmpv4",
        "snap_cut_icmpv6",
    ],
    [
        "malformed_link",
        "malformed_vlan",
        "malformed_arp",
        "malformed_ip",
        "malformed_ipv4",
        "malformed_ipv6",
        "malformed_tcp",
        "malformed_udp",
        "malformed_icmpv4",
        "malformed_icmpv6",
    ],
    [
        "unsupported_link_type",
        "unsupported_vlan",
        "unsupported_arp",
        "unsupported_ip",
        "unsupported_ipv4",
        "unsupported_ipv6",
        "unsupported_tcp",
        "unsupported_udp",
        "unsupported_icmpv4",
        "unsupported_icmpv6",
    ],
];

/// Something in a packet that could not be decoded. `Copy`, allocation-free, counted by
/// the engine under its [`name`](DecodeAnomaly::name).
///
/// ```
/// use netsentinel_core::{AnomalyKind, DecodeAnomaly, ProtocolLayer};
/// let a = DecodeAnomaly::new(AnomalyKind::Malformed, ProtocolLayer::Tcp);
/// assert_eq!(a.name(), "malformed_tcp");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DecodeAnomaly {
    /// What went wrong.
    pub kind: AnomalyKind,
    /// Where.
    pub layer: ProtocolLayer,
}

impl DecodeAnomaly {
    /// An anomaly of `kind` at `layer`.
    pub const fn new(kind: AnomalyKind, layer: ProtocolLayer) -> Self {
        DecodeAnomaly { kind, layer }
    }

    /// The stable snake_case name, e.g. `truncated_ipv4`.
    pub fn name(self) -> &'static str {
        NAMES[self.kind as usize][self.layer as usize]
    }

    /// Every anomaly name, for reports that list all counters.
    pub fn all_names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().flat_map(|row| row.iter().copied())
    }

    pub(crate) fn from_slice_error(err: &SliceError, layer: Layer, snap_cut: bool) -> Self {
        let at = map_layer(layer);
        match err {
            SliceError::Len(_) => DecodeAnomaly::new(
                if snap_cut {
                    AnomalyKind::SnapCut
                } else {
                    AnomalyKind::Truncated
                },
                at,
            ),
            SliceError::LinuxSll(_) | SliceError::Macsec(_) => {
                DecodeAnomaly::new(AnomalyKind::Malformed, at)
            }
            SliceError::Ip(_) => DecodeAnomaly::new(AnomalyKind::Malformed, ProtocolLayer::Ip),
            SliceError::Ipv4(_) | SliceError::Ipv4Exts(_) => {
                DecodeAnomaly::new(AnomalyKind::Malformed, ProtocolLayer::Ipv4)
            }
            SliceError::Ipv6(_) | SliceError::Ipv6Exts(_) => {
                DecodeAnomaly::new(AnomalyKind::Malformed, ProtocolLayer::Ipv6)
            }
            SliceError::Tcp(_) => DecodeAnomaly::new(AnomalyKind::Malformed, ProtocolLayer::Tcp),
        }
    }
}

fn map_layer(layer: Layer) -> ProtocolLayer {
    match layer {
        Layer::LinuxSllHeader | Layer::Ethernet2Header | Layer::EtherPayload => ProtocolLayer::Link,
        Layer::VlanHeader | Layer::MacsecHeader | Layer::MacsecPacket => ProtocolLayer::Vlan,
        Layer::IpHeader => ProtocolLayer::Ip,
        Layer::Ipv4Header | Layer::Ipv4Packet | Layer::IpAuthHeader => ProtocolLayer::Ipv4,
        Layer::Ipv6Header
        | Layer::Ipv6Packet
        | Layer::Ipv6ExtHeader
        | Layer::Ipv6HopByHopHeader
        | Layer::Ipv6DestOptionsHeader
        | Layer::Ipv6RouteHeader
        | Layer::Ipv6FragHeader => ProtocolLayer::Ipv6,
        Layer::UdpHeader | Layer::UdpPayload => ProtocolLayer::Udp,
        Layer::TcpHeader => ProtocolLayer::Tcp,
        Layer::Icmpv4 | Layer::Icmpv4Timestamp | Layer::Icmpv4TimestampReply => {
            ProtocolLayer::Icmpv4
        }
        Layer::Icmpv6 => ProtocolLayer::Icmpv6,
        Layer::Arp => ProtocolLayer::Arp,
        // Layer is non_exhaustive in spirit: IGMP and anything new land on IP.
        _ => ProtocolLayer::Ip,
    }
}

impl Serialize for DecodeAnomaly {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
