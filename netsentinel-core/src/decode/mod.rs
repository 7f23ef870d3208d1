//! Packet decoding: link layer to transport, zero-copy, with etherparse.
//!
//! [`decode`] turns a [`RawPacket`] into a [`PacketView`] that borrows the packet's bytes.
//! It never fails and never panics: whatever cannot be decoded is described by a
//! [`DecodeAnomaly`] on the view, and the layers decoded before the problem stay usable.
//! The engine counts every anomaly by name.
//!
//! Decoded: Ethernet II, 802.1Q/802.1ad (QinQ) VLAN tags, Linux cooked capture v1 and v2,
//! raw IP, BSD null/loop; ARP; IPv4 (fragments marked), IPv6 with extension headers; TCP,
//! UDP, ICMP and ICMPv6. Application protocols are parsed later, by the modules that need them.

mod anomaly;
mod detached;
pub mod dns;
mod fast;
pub mod tls;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    EtherType, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice,
};

pub use anomaly::{AnomalyKind, DecodeAnomaly, ProtocolLayer};
pub(crate) use detached::DetachedView;

use crate::source::{LinkType, RawPacket};
use crate::time::Timestamp;

/// TCP header flags as one byte (CWR ECE URG ACK PSH RST SYN FIN, high to low bit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }

    /// The flags as text in tcpdump's order, e.g. `"SA"` for SYN+ACK, `""` for none.
    pub fn to_letters(self) -> String {
        const LETTERS: [(u8, char); 8] = [
            (TcpFlags::FIN, 'F'),
            (TcpFlags::SYN, 'S'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, 'A'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'C'),
        ];
        LETTERS
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|(_, c)| *c)
            .collect()
    }
}

/// The decoded TCP header fields detectors use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpView {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Flags.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Receive window (unscaled).
    pub window: u16,
}

/// The transport layer of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Not decoded: no IP layer, a later fragment, or an anomaly before it.
    None,
    /// TCP.
    Tcp(TcpView),
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// ICMP for IPv4.
    Icmpv4 {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
    /// ICMPv6.
    Icmpv6 {
        /// ICMPv6 type.
        icmp_type: u8,
        /// ICMPv6 code.
        code: u8,
    },
    /// Another IP protocol (IGMP, GRE, ESP, ...) carried as payload.
    Other,
}

/// Fragmentation state of an IPv4 or IPv6 packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fragment {
    /// A whole datagram.
    #[default]
    None,
    /// The first fragment (offset 0, more fragments follow): it holds the transport header.
    First,
    /// A later fragment: no transport header.
    Later,
}

/// The IP header fields detectors use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpView {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number of the payload (after IPv6 extension headers).
    pub protocol: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// Fragmentation state.
    pub fragment: Fragment,
}

/// An ARP packet for IPv4 over Ethernet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpView {
    /// 1 = request, 2 = reply.
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: [u8; 6],
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: [u8; 6],
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// The network layer of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// Nothing decoded at this layer (anomaly before it, or unsupported link type).
    None,
    /// IPv4 or IPv6.
    Ip(IpView),
    /// ARP (IPv4 over Ethernet).
    Arp(ArpView),
    /// Another EtherType (LLDP, 802.3 LLC frames, ...), kept undecoded.
    Other {
        /// The EtherType or 802.3 length value.
        ether_type: u16,
    },
}

/// A decoded packet. Borrows the captured bytes.
///
/// Invariant: `transport` is only set when `network` is [`Network::Ip`]; `payload` is the
/// transport payload (TCP/UDP/ICMP data), or the IP payload for other protocols, or empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketView<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Length on the wire.
    pub wire_len: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Link type of `data`.
    pub link: LinkType,
    /// Source MAC address (Ethernet, or the SLL sender when it is 6 bytes).
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC address (Ethernet only).
    pub dst_mac: Option<[u8; 6]>,
    /// VLAN ids: outer tag in the high 16 bits, inner (QinQ) in the low; 0 when untagged.
    pub vlan: u32,
    /// Network layer.
    pub network: Network,
    /// Transport layer.
    pub transport: Transport,
    /// Application payload.
    pub payload: &'a [u8],
    /// What could not be decoded, if anything.
    pub anomaly: Option<DecodeAnomaly>,
}

impl<'a> PacketView<'a> {
    fn empty(raw: &RawPacket<'a>) -> Self {
        PacketView {
            ts: raw.ts,
            wire_len: raw.orig_len,
            data: raw.data,
            link: raw.link,
            src_mac: None,
            dst_mac: None,
            vlan: 0,
            network: Network::None,
            transport: Transport::None,
            payload: &[],
            anomaly: None,
        }
    }

    /// The IP layer, if any.
    pub fn ip(&self) -> Option<&IpView> {
        match &self.network {
            Network::Ip(ip) => Some(ip),
            _ => None,
        }
    }

    /// The TCP header, if any.
    pub fn tcp(&self) -> Option<&TcpView> {
        match &self.transport {
            Transport::Tcp(t) => Some(t),
            _ => None,
        }
    }

    /// Application payload length on the wire: the captured payload plus what the
    /// capture's snap length cut off the end of the frame (headers are assumed whole, as
    /// they are whenever the transport decoded).
    pub fn wire_payload_len(&self) -> u64 {
        let cut = u64::from(self.wire_len).saturating_sub(self.data.len() as u64);
        if self.payload.is_empty() && cut > 0 && matches!(self.transport, Transport::None) {
            return 0;
        }
        self.payload.len() as u64 + cut
    }

    /// Source and destination ports for TCP and UDP; `(0, 0)` otherwise.
    pub fn ports(&self) -> (u16, u16) {
        match self.transport {
            Transport::Tcp(t) => (t.src_port, t.dst_port),
            Transport::Udp { src_port, dst_port } => (src_port, dst_port),
            _ => (0, 0),
        }
    }
}

/// Decodes one packet. Never fails: problems are reported in [`PacketView::anomaly`].
///
/// ```
/// use netsentinel_core::{decode, LinkType, RawPacket, Timestamp};
/// // An Ethernet frame whose IPv4 header is cut after 4 bytes.
/// let frame = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, 0x45, 0, 0, 40];
/// let raw = RawPacket { ts: Timestamp::ZERO, data: &frame, orig_len: 18, link: LinkType::Ethernet };
/// let view = decode(&raw);
/// assert_eq!(view.anomaly.unwrap().name(), "truncated_ipv4");
/// ```
pub fn decode<'a>(raw: &RawPacket<'a>) -> PacketView<'a> {
    decode_with(raw, true)
}

/// Decodes one packet with etherparse's lax whole-packet slicer only, skipping the fast
/// path. Same result as [`decode`], several times slower: it is the reference the fast
/// path is tested against.
pub fn decode_reference<'a>(raw: &RawPacket<'a>) -> PacketView<'a> {
    decode_with(raw, false)
}

fn decode_with<'a>(raw: &RawPacket<'a>, fast_path: bool) -> PacketView<'a> {
    let mut view = PacketView::empty(raw);
    let snap_cut = (raw.data.len() as u64) < u64::from(raw.orig_len);
    let link = match link_layer(raw, &mut view, snap_cut) {
        Ok(link) => link,
        Err(anomaly) => {
            view.anomaly = Some(anomaly);
            return view;
        }
    };
    // The common case (IPv4/IPv6 without extension headers or fragments, well-formed TCP,
    // UDP or ICMP) is decoded with etherparse's per-header slices; everything else goes
    // through its lax whole-packet slicer, which is several times slower because it moves
    // large structs around but knows every corner case.
    if fast_path
        && link.vlan_tags <= MAX_FAST_VLAN_TAGS
        && fast::network(&mut view, link.ether_type, link.payload)
    {
        return view;
    }
    let sliced = match link.ether_type {
        None => match ip_from(link.payload, snap_cut) {
            Ok(p) => p,
            Err(a) => {
                view.anomaly = Some(a);
                return view;
            }
        },
        Some(et) if raw.link == LinkType::Ethernet => {
            // Let etherparse see the VLAN tags too (it reports their anomalies).
            match LaxSlicedPacket::from_ethernet(raw.data) {
                Ok(p) => p,
                Err(_) => LaxSlicedPacket::from_ether_type(EtherType(et), link.payload),
            }
        }
        Some(et) => LaxSlicedPacket::from_ether_type(EtherType(et), link.payload),
    };
    view.vlan = 0;
    fill_from_sliced(&mut view, &sliced, snap_cut);
    view
}

/// The link layer's result: the network protocol and its bytes.
struct LinkLayer<'a> {
    /// EtherType of the payload; `None` for raw IP (version from the first nibble).
    ether_type: Option<u16>,
    payload: &'a [u8],
    /// VLAN tags walked.
    vlan_tags: usize,
}

/// Most VLAN tags the reference slicer walks (etherparse's `LINK_EXTS_CAP`); deeper stacks
/// take the lax path so both decoders agree (found by fuzzing).
const MAX_FAST_VLAN_TAGS: usize = 3;

const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// Parses the link layer (and up to two VLAN tags), filling MACs and VLAN ids.
fn link_layer<'a>(
    raw: &RawPacket<'a>,
    view: &mut PacketView<'a>,
    snap_cut: bool,
) -> Result<LinkLayer<'a>, DecodeAnomaly> {
    let data = raw.data;
    let cut = || DecodeAnomaly::new(truncation_kind(snap_cut), ProtocolLayer::Link);
    match raw.link {
        LinkType::Ethernet => {
            let (Some(dst), Some(src), Some(et), Some(mut payload)) = (
                data.get(0..6),
                data.get(6..12),
                data.get(12..14),
                data.get(14..),
            ) else {
                return Err(cut());
            };
            view.dst_mac = dst.try_into().ok();
            view.src_mac = src.try_into().ok();
            let mut ether_type = u16::from_be_bytes([et[0], et[1]]);
            let mut tags = 0;
            let mut walked = 0;
            while matches!(
                ether_type,
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
            ) {
                let Some(tag) = payload.get(..4) else {
                    return Err(DecodeAnomaly::new(
                        truncation_kind(snap_cut),
                        ProtocolLayer::Vlan,
                    ));
                };
                // Keep the outer two tags; deeper stacks are rare and still land in one flow.
                if tags < 2 {
                    let vid = u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff;
                    view.vlan |= u32::from(vid) << (16 * (1 - tags));
                    tags += 1;
                }
                ether_type = u16::from_be_bytes([tag[2], tag[3]]);
                payload = &payload[4..];
                walked += 1;
            }
            Ok(LinkLayer {
                ether_type: Some(ether_type),
                payload,
                vlan_tags: walked,
            })
        }
        LinkType::LinuxSll => {
            // packet type (2), ARPHRD (2), address length (2), address (8), protocol (2)
            let Some(header) = data.get(..16) else {
                return Err(cut());
            };
            if u16::from_be_bytes([header[4], header[5]]) == 6 {
                view.src_mac = header[6..12].try_into().ok();
            }
            Ok(LinkLayer {
                ether_type: Some(u16::from_be_bytes([header[14], header[15]])),
                payload: &data[16..],
                vlan_tags: 0,
            })
        }
        LinkType::LinuxSll2 => {
            // protocol (2), reserved (2), ifindex (4), ARPHRD (2), packet type (1),
            // address length (1), address (8)
            let Some(header) = data.get(..20) else {
                return Err(cut());
            };
            if header[11] == 6 {
                view.src_mac = header[12..18].try_into().ok();
            }
            Ok(LinkLayer {
                ether_type: Some(u16::from_be_bytes([header[0], header[1]])),
                payload: &data[20..],
                vlan_tags: 0,
            })
        }
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => Ok(LinkLayer {
            ether_type: None,
            payload: data,
            vlan_tags: 0,
        }),
        LinkType::Null | LinkType::Loop => {
            let Some(family) = data.get(..4) else {
                return Err(cut());
            };
            let family: [u8; 4] = [family[0], family[1], family[2], family[3]];
            // DLT_NULL is in the writer's byte order, so accept either; DLT_LOOP is big endian.
            let af = if raw.link == LinkType::Loop {
                u32::from_be_bytes(family)
            } else {
                let le = u32::from_le_bytes(family);
                if le <= 0xffff {
                    le
                } else {
                    u32::from_be_bytes(family)
                }
            };
            // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD),
            // 28 (FreeBSD), 30 (macOS).
            let ether_type = match af {
                2 => EtherType::IPV4.0,
                10 | 24 | 28 | 30 => EtherType::IPV6.0,
                _ => {
                    return Err(DecodeAnomaly::new(
                        AnomalyKind::Unsupported,
                        ProtocolLayer::Link,
                    ));
                }
            };
            Ok(LinkLayer {
                ether_type: Some(ether_type),
                payload: &data[4..],
                vlan_tags: 0,
            })
        }
        LinkType::Other(_) => Err(DecodeAnomaly::new(
            AnomalyKind::Unsupported,
            ProtocolLayer::Link,
        )),
    }
}

/// Finds the IPv6 fragment header in an extension header chain.
///
/// Walked by hand: etherparse's `Ipv6ExtensionSliceIter` assumes a completely parsed chain
/// and reads out of bounds on a chain that lax parsing cut short (found by tcpdump's
/// malformed test captures).
fn ipv6_fragment(first: Option<u8>, mut rest: &[u8]) -> Fragment {
    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const AUTH: u8 = 51;
    const DEST_OPTS: u8 = 60;
    let Some(mut next) = first else {
        return Fragment::None;
    };
    // RFC 8200 allows each header once (destination options twice); 8 bounds the walk.
    for _ in 0..8 {
        let (Some(&nh), Some(&len)) = (rest.first(), rest.get(1)) else {
            return Fragment::None;
        };
        let header_len = match next {
            FRAGMENT => {
                let Some(off) = rest.get(2..4) else {
                    return Fragment::None;
                };
                let offset = u16::from_be_bytes([off[0], off[1]]) >> 3;
                let more = off[1] & 1 != 0;
                return if offset != 0 {
                    Fragment::Later
                } else if more {
                    Fragment::First
                } else {
                    Fragment::None
                };
            }
            AUTH => (usize::from(len) + 2) * 4,
            HOP_BY_HOP | ROUTING | DEST_OPTS => (usize::from(len) + 1) * 8,
            _ => return Fragment::None,
        };
        next = nh;
        rest = rest.get(header_len..).unwrap_or(&[]);
    }
    Fragment::None
}

fn truncation_kind(snap_cut: bool) -> AnomalyKind {
    if snap_cut {
        AnomalyKind::SnapCut
    } else {
        AnomalyKind::Truncated
    }
}

fn ip_from(data: &[u8], snap_cut: bool) -> Result<LaxSlicedPacket<'_>, DecodeAnomaly> {
    LaxSlicedPacket::from_ip(data).map_err(|e| {
        use etherparse::err::ip::LaxHeaderSliceError;
        match e {
            LaxHeaderSliceError::Len(_) => {
                DecodeAnomaly::new(truncation_kind(snap_cut), ProtocolLayer::Ip)
            }
            LaxHeaderSliceError::Content(_) => {
                DecodeAnomaly::new(AnomalyKind::Malformed, ProtocolLayer::Ip)
            }
        }
    })
}

fn fill_from_sliced<'a>(view: &mut PacketView<'a>, p: &LaxSlicedPacket<'a>, snap_cut: bool) {
    if let Some(LinkSlice::Ethernet2(eth)) = &p.link {
        view.src_mac = Some(eth.source());
        view.dst_mac = Some(eth.destination());
    }
    let mut tags = 0u32;
    for ext in &p.link_exts {
        if let LaxLinkExtSlice::Vlan(v) = ext {
            // Keep the outer two tags; deeper stacks are rare and still land in one flow.
            if tags < 2 {
                view.vlan = (view.vlan << 16) | u32::from(v.vlan_identifier().value());
                tags += 1;
            }
        }
    }
    if tags == 1 {
        view.vlan <<= 16;
    }
    match &p.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let fragment = if h.fragments_offset().value() != 0 {
                Fragment::Later
            } else if h.more_fragments() {
                Fragment::First
            } else {
                Fragment::None
            };
            view.network = Network::Ip(IpView {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                protocol: ip.payload().ip_number.0,
                ttl: h.ttl(),
                fragment,
            });
            view.payload = ip.payload().payload;
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let exts = ip.extensions();
            let fragment = ipv6_fragment(exts.first_header().map(|n| n.0), exts.slice());
            view.network = Network::Ip(IpView {
                src: IpAddr::V6(Ipv6Addr::from(h.source())),
                dst: IpAddr::V6(Ipv6Addr::from(h.destination())),
                protocol: ip.payload().ip_number.0,
                ttl: h.hop_limit(),
                fragment,
            });
            view.payload = ip.payload().payload;
        }
        Some(LaxNetSlice::Arp(arp)) => {
            let ipv4_over_ethernet = arp.hw_addr_size() == 6 && arp.proto_addr_size() == 4;
            if ipv4_over_ethernet {
                let mac = |b: &[u8]| -> [u8; 6] { b.try_into().unwrap_or([0; 6]) };
                let ip = |b: &[u8]| -> Ipv4Addr {
                    <[u8; 4]>::try_from(b)
                        .map(Ipv4Addr::from)
                        .unwrap_or(Ipv4Addr::UNSPECIFIED)
                };
                view.network = Network::Arp(ArpView {
                    operation: arp.operation().0,
                    sender_mac: mac(arp.sender_hw_addr()),
                    sender_ip: ip(arp.sender_protocol_addr()),
                    target_mac: mac(arp.target_hw_addr()),
                    target_ip: ip(arp.target_protocol_addr()),
                });
            } else {
                view.network = Network::Other {
                    ether_type: EtherType::ARP.0,
                };
            }
        }
        None => {
            if p.stop_err.is_none() {
                let ether_type = match p.ether_payload() {
                    Some(payload) => payload.ether_type.0,
                    None => 0,
                };
                view.network = Network::Other { ether_type };
            }
        }
    }
    match &p.transport {
        Some(TransportSlice::Tcp(tcp)) => {
            let mut flags = 0u8;
            for (set, bit) in [
                (tcp.fin(), TcpFlags::FIN),
                (tcp.syn(), TcpFlags::SYN),
                (tcp.rst(), TcpFlags::RST),
                (tcp.psh(), TcpFlags::PSH),
                (tcp.ack(), TcpFlags::ACK),
                (tcp.urg(), TcpFlags::URG),
                (tcp.ece(), TcpFlags::ECE),
                (tcp.cwr(), TcpFlags::CWR),
            ] {
                if set {
                    flags |= bit;
                }
            }
            view.transport = Transport::Tcp(TcpView {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                flags: TcpFlags(flags),
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                window: tcp.window_size(),
            });
            view.payload = tcp.payload();
        }
        Some(TransportSlice::Udp(udp)) => {
            view.transport = Transport::Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
            };
            view.payload = udp.payload();
        }
        Some(TransportSlice::Icmpv4(icmp)) => {
            view.transport = Transport::Icmpv4 {
                icmp_type: icmp.type_u8(),
                code: icmp.code_u8(),
            };
            view.payload = icmp.payload();
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            view.transport = Transport::Icmpv6 {
                icmp_type: icmp.type_u8(),
                code: icmp.code_u8(),
            };
            view.payload = icmp.payload();
        }
        Some(_) => view.transport = Transport::Other,
        None => {
            if let Network::Ip(ip) = &view.network {
                let has_transport_parser = matches!(ip.protocol, 1 | 6 | 17 | 58);
                if !has_transport_parser || ip.fragment == Fragment::Later {
                    view.transport = Transport::Other;
                }
            }
        }
    }
    if let Some((err, layer)) = &p.stop_err {
        let mut anomaly = DecodeAnomaly::from_slice_error(err, *layer, snap_cut);
        if anomaly.layer == ProtocolLayer::Ip {
            // etherparse stops before it knows the version; the first nibble tells.
            let version = p
                .ether_payload()
                .and_then(|e| e.payload.first())
                .map(|b| b >> 4);
            anomaly.layer = match version {
                Some(4) => ProtocolLayer::Ipv4,
                Some(6) => ProtocolLayer::Ipv6,
                _ => ProtocolLayer::Ip,
            };
        }
        view.anomaly = Some(anomaly);
    }
}

#[cfg(test)]
mod tests;
