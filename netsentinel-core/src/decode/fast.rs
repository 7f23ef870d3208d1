//! The fast path: well-formed IPv4/IPv6 packets without extension headers or fragments,
//! decoded with etherparse's per-header slices. Anything unusual returns `false` and the
//! caller falls back to the lax whole-packet slicer, which classifies anomalies.

use std::net::{IpAddr, Ipv6Addr};

use etherparse::{Icmpv4Slice, Icmpv6Slice, Ipv4HeaderSlice, Ipv6HeaderSlice, TcpSlice, UdpSlice};

use super::{Fragment, IpView, Network, PacketView, TcpFlags, TcpView, Transport};

const IPV4: u16 = 0x0800;
const IPV6: u16 = 0x86dd;

/// Decodes the network and transport layers when the packet is ordinary. Writes `view` only
/// when it returns `true`.
pub(super) fn network<'a>(
    view: &mut PacketView<'a>,
    ether_type: Option<u16>,
    data: &'a [u8],
) -> bool {
    let version = match ether_type {
        Some(IPV4) => 4,
        Some(IPV6) => 6,
        Some(_) => return false,
        None => data.first().map_or(0, |b| b >> 4),
    };
    let (ip, ip_payload) = match version {
        4 => {
            let Ok(h) = Ipv4HeaderSlice::from_slice(data) else {
                return false;
            };
            // Fragments, and the authentication header (an IPv4 extension header to the
            // reference slicer, found by fuzzing): the lax path.
            if h.more_fragments() || h.fragments_offset().value() != 0 || h.protocol().0 == 51 {
                return false;
            }
            let header_len = h.slice().len();
            let total = usize::from(h.total_len());
            // Shorter than announced (cut by the snap length, or truncated): lax path.
            let Some(payload) = data.get(header_len..total) else {
                return false;
            };
            let ip = IpView {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                protocol: h.protocol().0,
                ttl: h.ttl(),
                fragment: Fragment::None,
            };
            (ip, payload)
        }
        6 => {
            let Ok(h) = Ipv6HeaderSlice::from_slice(data) else {
                return false;
            };
            let next = h.next_header().0;
            // Extension headers (hop-by-hop, routing, fragment, ESP, AH, destination
            // options, mobility, HIP, shim6, experimental) take the lax path.
            if matches!(
                next,
                0 | 43 | 44 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254
            ) {
                return false;
            }
            let len = usize::from(h.payload_length());
            // Zero announces a jumbogram (RFC 2675) or is damage: the lax path decides
            // (found by fuzzing: the fast path read an empty payload, the lax one the rest).
            if len == 0 {
                return false;
            }
            let Some(payload) = data.get(40..40 + len) else {
                return false;
            };
            let ip = IpView {
                src: IpAddr::V6(Ipv6Addr::from(h.source())),
                dst: IpAddr::V6(Ipv6Addr::from(h.destination())),
                protocol: next,
                ttl: h.hop_limit(),
                fragment: Fragment::None,
            };
            (ip, payload)
        }
        _ => return false,
    };
    let (transport, payload) = match ip.protocol {
        6 => {
            let Ok(tcp) = TcpSlice::from_slice(ip_payload) else {
                return false;
            };
            // The flags byte is the low byte of the 16 bits at offset 12 (data offset and
            // flags); TcpSlice::from_slice checked the header is there.
            let flags = tcp.header_slice().get(13).copied().unwrap_or(0);
            let view = TcpView {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                flags: TcpFlags(flags),
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                window: tcp.window_size(),
            };
            (Transport::Tcp(view), tcp.payload())
        }
        17 => {
            let Ok(udp) = UdpSlice::from_slice(ip_payload) else {
                return false;
            };
            let t = Transport::Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
            };
            (t, udp.payload())
        }
        1 if version == 4 => {
            let Ok(icmp) = Icmpv4Slice::from_slice(ip_payload) else {
                return false;
            };
            let t = Transport::Icmpv4 {
                icmp_type: icmp.type_u8(),
                code: icmp.code_u8(),
            };
            (t, icmp.payload())
        }
        58 if version == 6 => {
            let Ok(icmp) = Icmpv6Slice::from_slice(ip_payload) else {
                return false;
            };
            let t = Transport::Icmpv6 {
                icmp_type: icmp.type_u8(),
                code: icmp.code_u8(),
            };
            (t, icmp.payload())
        }
        // ICMP in the wrong IP version, and IGMP (which the reference slicer checks for
        // length: found by fuzzing): the lax path decides.
        1 | 58 | 2 => return false,
        _ => (Transport::Other, ip_payload),
    };
    view.network = Network::Ip(ip);
    view.transport = transport;
    view.payload = payload;
    true
}
