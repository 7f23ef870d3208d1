//! Frame builders for tests, examples and benchmarks (feature `testutil`).
//!
//! Frames are built with etherparse's `PacketBuilder`, so tests state packets by their
//! fields instead of hex blobs.

use std::net::Ipv4Addr;
use std::path::Path;

use etherparse::PacketBuilder;

use crate::decode::TcpFlags;
use crate::time::Timestamp;

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// An Ethernet/IPv4/TCP frame with the given flags (a [`TcpFlags`] bit set) and payload,
/// sequence number 1000.
pub fn tcp_frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    tcp_segment(src, dst, sport, dport, flags, 1000, payload)
}

/// [`tcp_frame`] with a chosen sequence number.
pub fn tcp_segment(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(sport, dport, seq, 64240);
    if flags & TcpFlags::SYN != 0 {
        b = b.syn();
    }
    if flags & TcpFlags::ACK != 0 {
        b = b.ack(1);
    }
    if flags & TcpFlags::FIN != 0 {
        b = b.fin();
    }
    if flags & TcpFlags::RST != 0 {
        b = b.rst();
    }
    if flags & TcpFlags::PSH != 0 {
        b = b.psh();
    }
    if flags & TcpFlags::URG != 0 {
        b = b.urg(0);
    }
    let mut out = Vec::with_capacity(64 + payload.len());
    // Writing into a Vec cannot fail and the builder's sizes are within limits.
    b.write(&mut out, payload).unwrap_or_default();
    out
}

/// An Ethernet/IPv4/UDP frame.
pub fn udp_frame(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
        .ipv4(src.octets(), dst.octets(), 64)
        .udp(sport, dport);
    let mut out = Vec::with_capacity(64 + payload.len());
    b.write(&mut out, payload).unwrap_or_default();
    out
}

/// An Ethernet/IPv4/ICMP echo request (`reply = false`) or reply.
pub fn icmp_echo_frame(src: Ipv4Addr, dst: Ipv4Addr, reply: bool, seq: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC).ipv4(src.octets(), dst.octets(), 64);
    let b = if reply {
        b.icmpv4_echo_reply(7, seq)
    } else {
        b.icmpv4_echo_request(7, seq)
    };
    let mut out = Vec::new();
    b.write(&mut out, b"ping").unwrap_or_default();
    out
}

/// Writes Ethernet frames to a classic pcap file (microsecond timestamps).
///
/// # Errors
/// I/O errors from creating or writing the file.
pub fn write_pcap(path: &Path, frames: &[(Timestamp, Vec<u8>)]) -> std::io::Result<()> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let file = std::fs::File::create(path)?;
    let header = PcapHeader {
        datalink: pcap_file::DataLink::ETHERNET,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(file, header).map_err(std::io::Error::other)?;
    for (ts, data) in frames {
        let micros = u64::try_from(ts.as_micros()).unwrap_or(0);
        let pkt = PcapPacket::new(
            std::time::Duration::from_micros(micros),
            u32::try_from(data.len()).unwrap_or(u32::MAX),
            data,
        );
        w.write_packet(&pkt).map_err(std::io::Error::other)?;
    }
    Ok(())
}
