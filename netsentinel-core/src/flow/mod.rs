//! Bidirectional flows.
//!
//! A flow is the traffic between two endpoints (IP, port) over one IP protocol in one VLAN,
//! both directions together. [`FlowKey`] is canonical: both directions of a conversation
//! map to the same key. The [`FlowTable`] keeps per-direction counters, TCP state, and
//! ends flows on idle timeout, on TCP close, on reuse of a closed 4-tuple by a new SYN, on
//! eviction when the table is full, and at the end of the capture; each ended flow is
//! handed back as a [`Flow`] record.
//!
//! The table is split into shards by a hash of the flow key, whatever the number of
//! threads, so that a parallel run can give each flow thread whole shards and still end
//! the same flows at the same moments as a single-thread run.
//!
//! Cost: one index lookup per packet (two cache misses on a table larger than the cache:
//! the index bucket and the flow). Idle expiry runs on the engine's tick (every second of
//! packet time by default) and only looks at the tops of one heap per timeout class.

mod community_id;
mod expiry;
mod index;
mod prefetch;
mod shard;
mod table;

use std::hash::Hash;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use community_id::community_id;
pub(crate) use prefetch::FlowLookahead;
use prefetch::prefetch;
pub(crate) use shard::FlowShard;
pub(crate) use table::{FinishOrder, KeyPlace, KeyPlacer, LiveCount, ShardRouter};
pub use table::{FlowHandle, FlowTable, FlowTableStats};

use crate::decode::{PacketView, TcpFlags, Transport};
use crate::time::Timestamp;

/// A flow's identity, the same for both directions.
///
/// `(lo_ip, lo_port) <= (hi_ip, hi_port)`. For ICMP the ports are the type and code (or
/// counterpart type), as in Community ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FlowKey {
    /// The lower endpoint address.
    pub lo_ip: IpAddr,
    /// The higher endpoint address.
    pub hi_ip: IpAddr,
    /// Port of the lower endpoint.
    pub lo_port: u16,
    /// Port of the higher endpoint.
    pub hi_port: u16,
    /// IP protocol number.
    pub protocol: u8,
    /// VLAN ids (outer << 16 | inner), 0 when untagged.
    pub vlan: u32,
}

/// An address as 128 bits; IPv4 in the IPv4-mapped range, tagged in the top bit so it can
/// never equal a real IPv6 address.
fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => (1u128 << 127) | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.bits().hash(h);
    }
}

/// A [`FlowKey`] as plain integers, which is what it hashes as (so a key read straight from
/// packet bytes hashes the same without building addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyBits {
    /// The lower endpoint: [`ip_bits`] of its address, and its port.
    pub(crate) lo: (u128, u16),
    pub(crate) hi: (u128, u16),
    pub(crate) protocol: u8,
    pub(crate) vlan: u32,
}

impl std::hash::Hash for KeyBits {
    /// Three fixed-width writes instead of the derived per-field, length-prefixed ones:
    /// the key is hashed for every packet.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u128(self.lo.0);
        h.write_u128(self.hi.0);
        h.write_u64(
            (u64::from(self.lo.1) << 48)
                | (u64::from(self.hi.1) << 32)
                | (u64::from(self.protocol) << 24) ^ u64::from(self.vlan),
        );
    }
}

impl FlowKey {
    /// The key as the integers it hashes as.
    pub(crate) fn bits(&self) -> KeyBits {
        KeyBits {
            lo: (ip_bits(self.lo_ip), self.lo_port),
            hi: (ip_bits(self.hi_ip), self.hi_port),
            protocol: self.protocol,
            vlan: self.vlan,
        }
    }

    /// The key of a packet, and whether the packet travels from `lo` to `hi`.
    /// `None` for packets without an IP layer.
    pub fn from_packet(pkt: &PacketView<'_>) -> Option<(FlowKey, bool)> {
        let ip = pkt.ip()?;
        let (sport, dport) = match pkt.transport {
            Transport::Tcp(t) => (t.src_port, t.dst_port),
            Transport::Udp { src_port, dst_port } => (src_port, dst_port),
            Transport::Icmpv4 { icmp_type, code } | Transport::Icmpv6 { icmp_type, code } => {
                match community_id::icmp_ports(ip.protocol, icmp_type, code) {
                    Some((s, d, _)) => (s, d),
                    None => (0, 0),
                }
            }
            _ => (0, 0),
        };
        Some(FlowKey::oriented(
            (ip.src, sport),
            (ip.dst, dport),
            ip.protocol,
            pkt.vlan,
        ))
    }

    /// The key of a packet between two endpoints, and whether it travels from `lo` to `hi`.
    fn oriented(
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        protocol: u8,
        vlan: u32,
    ) -> (FlowKey, bool) {
        let forward = src <= dst;
        let ((lo_ip, lo_port), (hi_ip, hi_port)) = if forward { (src, dst) } else { (dst, src) };
        let key = FlowKey {
            lo_ip,
            hi_ip,
            lo_port,
            hi_port,
            protocol,
            vlan,
        };
        (key, forward)
    }
}

/// A flow's unique number within one engine run: the number of the packet that created it
/// (1 for the first packet of the run), so ids grow in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FlowId(pub u64);

/// Counters of one direction of a flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DirectionStats {
    /// Packets.
    pub packets: u64,
    /// Bytes on the wire (frame length, as tshark counts them).
    pub bytes: u64,
    /// Transport payload bytes captured.
    pub payload_bytes: u64,
    /// Union of the TCP flags seen in this direction.
    pub tcp_flags: u8,
}

/// Connection state of a TCP flow; [`TcpState::NotTcp`] for other protocols.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpState {
    /// Not a TCP flow.
    #[default]
    NotTcp,
    /// A SYN was sent and nothing answered yet.
    Attempted,
    /// SYN and SYN-ACK seen, the handshake's last ACK not yet.
    HalfOpen,
    /// The handshake completed.
    Established,
    /// Traffic seen without its handshake (the capture started mid-connection).
    Midstream,
    /// One side sent FIN.
    Closing,
    /// Both sides sent FIN.
    ClosedFin,
    /// A RST ended the connection.
    ClosedRst,
}

impl TcpState {
    /// Whether the connection has ended (FIN both ways, or RST).
    pub fn is_closed(self) -> bool {
        matches!(self, TcpState::ClosedFin | TcpState::ClosedRst)
    }
}

/// Why a flow record was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowEndReason {
    /// Still active (a snapshot, not an end).
    Active,
    /// No packet for the protocol's idle timeout.
    Timeout,
    /// A new SYN reused the 4-tuple of a closed connection.
    Reused,
    /// Evicted because the table was full.
    Evicted,
    /// The capture ended.
    EndOfCapture,
}

/// A bidirectional flow and its counters. The initiator is the endpoint that sent the first
/// packet (or the SYN, when the first packet seen was a SYN-ACK).
///
/// Serialised with `src_ip` and `dst_ip` (initiator and responder addresses) beside the
/// fields below.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// Unique id within the run.
    pub id: FlowId,
    /// Canonical key.
    pub key: FlowKey,
    /// Whether the initiator is the key's `lo` endpoint (addresses are not stored twice:
    /// a smaller flow is a faster and smaller flow table).
    pub initiator_is_lo: bool,
    /// Initiator port (ICMP: type of the first packet).
    pub src_port: u16,
    /// Responder port (ICMP: code of the first packet).
    pub dst_port: u16,
    /// First packet time.
    pub first_seen: Timestamp,
    /// Last packet time.
    pub last_seen: Timestamp,
    /// Initiator to responder.
    pub to_server: DirectionStats,
    /// Responder to initiator.
    pub to_client: DirectionStats,
    /// TCP state.
    pub tcp_state: TcpState,
    /// Packets that were IP fragments.
    pub fragments: u32,
    /// Why the flow ended.
    pub end_reason: FlowEndReason,
    /// The local process that owns it, when the engine has a process resolver (live
    /// capture on this host): asked once, at the flow's first packet.
    pub process: Option<Box<crate::process::ProcessLookup>>,
}

impl Serialize for Flow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Flow", 15)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("src_ip", &self.src_ip())?;
        st.serialize_field("src_port", &self.src_port)?;
        st.serialize_field("dst_ip", &self.dst_ip())?;
        st.serialize_field("dst_port", &self.dst_port)?;
        st.serialize_field("protocol", &self.key.protocol)?;
        st.serialize_field("vlan", &self.key.vlan)?;
        st.serialize_field("first_seen", &self.first_seen)?;
        st.serialize_field("last_seen", &self.last_seen)?;
        st.serialize_field("to_server", &self.to_server)?;
        st.serialize_field("to_client", &self.to_client)?;
        st.serialize_field("tcp_state", &self.tcp_state)?;
        st.serialize_field("fragments", &self.fragments)?;
        st.serialize_field("end_reason", &self.end_reason)?;
        if let Some(p) = &self.process {
            st.serialize_field("process", p)?;
        }
        st.end()
    }
}

impl Flow {
    /// Initiator address.
    pub fn src_ip(&self) -> IpAddr {
        if self.initiator_is_lo {
            self.key.lo_ip
        } else {
            self.key.hi_ip
        }
    }

    /// Responder address.
    pub fn dst_ip(&self) -> IpAddr {
        if self.initiator_is_lo {
            self.key.hi_ip
        } else {
            self.key.lo_ip
        }
    }

    /// The Community ID v1 (seed 0) of the flow.
    pub fn community_id(&self) -> String {
        self.community_id_seeded(0)
    }

    /// The Community ID v1 with a seed.
    pub fn community_id_seeded(&self, seed: u16) -> String {
        community_id(
            seed,
            self.src_ip(),
            self.dst_ip(),
            self.key.protocol,
            self.src_port,
            self.dst_port,
        )
    }

    /// Packets in both directions.
    pub fn packets(&self) -> u64 {
        self.to_server.packets + self.to_client.packets
    }

    /// Bytes in both directions.
    pub fn bytes(&self) -> u64 {
        self.to_server.bytes + self.to_client.bytes
    }

    /// Duration from first to last packet, in microseconds.
    pub fn duration_micros(&self) -> i64 {
        self.last_seen.micros_since(self.first_seen)
    }

    /// The protocol name for output (`TCP`, `UDP`, `ICMP`, `IPv6-ICMP`, or the number).
    pub fn protocol_name(&self) -> String {
        protocol_name(self.key.protocol)
    }

    /// Advances the TCP state machine with a packet; `from_initiator` is its direction.
    fn track_tcp(&mut self, flags: TcpFlags, from_initiator: bool) {
        use TcpState::*;
        let f = flags;
        if f.has(TcpFlags::RST) {
            self.tcp_state = ClosedRst;
            return;
        }
        self.tcp_state = match self.tcp_state {
            NotTcp => {
                if f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK) {
                    Attempted
                } else if f.has(TcpFlags::SYN | TcpFlags::ACK) {
                    HalfOpen
                } else if f.has(TcpFlags::FIN) {
                    Closing
                } else {
                    Midstream
                }
            }
            Attempted if f.has(TcpFlags::SYN | TcpFlags::ACK) && !from_initiator => HalfOpen,
            HalfOpen if from_initiator && f.has(TcpFlags::ACK) && !f.has(TcpFlags::SYN) => {
                if f.has(TcpFlags::FIN) {
                    Closing
                } else {
                    Established
                }
            }
            Established | Midstream if f.has(TcpFlags::FIN) => Closing,
            Closing
                if f.has(TcpFlags::FIN)
                    && self.to_server.tcp_flags & TcpFlags::FIN != 0
                    && self.to_client.tcp_flags & TcpFlags::FIN != 0 =>
            {
                ClosedFin
            }
            s => s,
        };
    }
}

/// Output name of an IP protocol number, as Suricata's EVE writes it.
pub fn protocol_name(protocol: u8) -> String {
    match protocol {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "IPv6-ICMP".into(),
        2 => "IGMP".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        132 => "SCTP".into(),
        n => format!("{n:03}"),
    }
}

/// Flow table limits and idle timeouts (packet time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FlowConfig {
    /// Most flows kept at once, shared out among the shards (see `shards`); when a
    /// shard is full, its least valuable flow (closed, then least recently active) is
    /// evicted and counted. Default 1,000,000 (about 250 MB; see docs/BENCHMARKS.md for bytes per flow).
    pub max_flows: usize,
    /// Idle timeout of established TCP connections. Default 600 s.
    pub tcp_established_timeout_secs: u64,
    /// Idle timeout of TCP connections not (yet) established. Default 30 s.
    pub tcp_new_timeout_secs: u64,
    /// How long a closed (FIN/RST) TCP connection lingers for late packets. Default 10 s.
    pub tcp_closed_timeout_secs: u64,
    /// Idle timeout of UDP flows. Default 120 s.
    pub udp_timeout_secs: u64,
    /// Idle timeout of ICMP flows. Default 30 s.
    pub icmp_timeout_secs: u64,
    /// Idle timeout of other IP protocols. Default 60 s.
    pub other_timeout_secs: u64,
    /// Parts the table is split into by flow hash, each with `max_flows / shards` of the
    /// cap and evicting among its own flows; a parallel run gives each flow thread whole
    /// shards. 0 (the default): 16, fewer for tables under 65,536 flows (one per 4,096).
    /// The result of a run does not depend on the thread count, only on this.
    pub shards: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 1_000_000,
            tcp_established_timeout_secs: 600,
            tcp_new_timeout_secs: 30,
            tcp_closed_timeout_secs: 10,
            udp_timeout_secs: 120,
            icmp_timeout_secs: 30,
            other_timeout_secs: 60,
            shards: 0,
        }
    }
}

#[cfg(test)]
mod tests;
