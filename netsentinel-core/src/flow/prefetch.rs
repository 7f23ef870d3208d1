//! Fetching flows into the cache a couple of packets before they are needed.
//!
//! On a flow table larger than the cache every packet waits on two memory reads in a row:
//! its index bucket, then (knowing the slot from the bucket) its flow. A source that
//! already holds the next packets ([`PacketSource::peek`]) lets the engine start both reads
//! early: the bucket two packets ahead, the flow one packet ahead (its bucket fetched the
//! round before). The CPU's prefetch instruction does not wait, so the reads overlap with
//! the work on the packets in between. The results are unchanged whatever is fetched.

use super::table::{KeyPlace, KeyPlacer};
use super::{FlowTable, KeyBits};
use crate::source::{LinkType, PacketSource, RawPacket};

/// Asks the CPU to fetch the cache line holding `value`, without waiting for it: a hint
/// with no effect on results. A no-op on targets other than x86-64.
#[inline]
pub(super) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(value);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// The engine's look ahead of the packet it is about to read.
#[derive(Debug, Default)]
pub(crate) struct FlowLookahead {
    /// The key hash of the packet after the next one, found in the previous round (the
    /// packet two ahead then, one ahead now).
    one_ahead: Option<KeyPlace>,
}

impl FlowLookahead {
    /// Call before each [`PacketSource::next_packet`]: fetches the index bucket of the
    /// packet two after the next one, and the flow of the packet after the next one.
    pub(crate) fn before_next<S: PacketSource + ?Sized>(&mut self, flows: &FlowTable, source: &S) {
        let two_ahead = source
            .peek(2)
            .and_then(|p| common_key(&p))
            .map(|key| flows.place(&key));
        self.before(flows, two_ahead);
    }

    /// As [`before_next`](Self::before_next), for packets held elsewhere: call before each
    /// packet with the [`place_of`](KeyPlacer::place_of) the one two after it.
    pub(crate) fn before(&mut self, flows: &FlowTable, two_ahead: Option<KeyPlace>) {
        if let Some(place) = two_ahead {
            flows.prefetch_bucket(place);
        }
        if let Some(place) = self.one_ahead {
            flows.prefetch_flow(place);
        }
        self.one_ahead = two_ahead;
    }
}

impl KeyPlacer {
    /// Where the flow of a common packet lives, read straight from its bytes (`None` for
    /// other packets; see [`common_key`]).
    pub(crate) fn place_of(&self, raw: &RawPacket<'_>) -> Option<KeyPlace> {
        common_key(raw).map(|key| self.place(&key))
    }
}

const IPV4: u16 = 0x0800;
const IPV6: u16 = 0x86dd;
const TCP: u8 = 6;
const UDP: u8 = 17;

/// The flow key of the common packet, read straight from its bytes: untagged Ethernet,
/// IPv4 or IPv6 (no extension header), TCP or UDP, and IPv4 fragments of any protocol
/// (keyed without ports, as the decoder keys them: a flood of fragments is a flood of
/// flows). `None` for anything else. Looking ahead, a full decode would cost more than the
/// fetch saves; a key that differs from the decoder's (a malformed packet) only fetches
/// the wrong line.
fn common_key(raw: &RawPacket<'_>) -> Option<KeyBits> {
    if raw.link != LinkType::Ethernet {
        return None;
    }
    let data = raw.data;
    let ether_type = u16::from_be_bytes(data.get(12..14)?.try_into().ok()?);
    let ip = data.get(14..)?;
    // Addresses as `ip_bits` makes them: IPv4 tagged in the top bit.
    let (src, dst, protocol, transport) = match ether_type {
        IPV4 => {
            let header_len = usize::from(*ip.first()? & 0x0f) * 4;
            let flags_offset = u16::from_be_bytes(ip.get(6..8)?.try_into().ok()?);
            if ip[0] >> 4 != 4 || header_len < 20 {
                return None;
            }
            let tag = 1u128 << 127;
            let src = u32::from_be_bytes(ip.get(12..16)?.try_into().ok()?);
            let dst = u32::from_be_bytes(ip.get(16..20)?.try_into().ok()?);
            // A fragment (more fragments, or an offset) is not decoded past IP, the first
            // one included: its key has no ports.
            if flags_offset & 0x3fff != 0 {
                let (src, dst) = ((tag | u128::from(src), 0), (tag | u128::from(dst), 0));
                return Some(KeyBits::of(src, dst, ip[9]));
            }
            let transport = ip.get(header_len..)?;
            (
                tag | u128::from(src),
                tag | u128::from(dst),
                ip[9],
                transport,
            )
        }
        IPV6 => {
            let src = u128::from_be_bytes(ip.get(8..24)?.try_into().ok()?);
            let dst = u128::from_be_bytes(ip.get(24..40)?.try_into().ok()?);
            (src, dst, ip[6], ip.get(40..)?)
        }
        _ => return None,
    };
    let header_len = match protocol {
        TCP => 20,
        UDP => 8,
        _ => return None,
    };
    let ports = transport.get(..header_len)?;
    let src = (src, u16::from_be_bytes([ports[0], ports[1]]));
    let dst = (dst, u16::from_be_bytes([ports[2], ports[3]]));
    Some(KeyBits::of(src, dst, protocol))
}

impl KeyBits {
    /// The key of an untagged packet from `src` to `dst` (address bits and port).
    fn of(src: (u128, u16), dst: (u128, u16), protocol: u8) -> KeyBits {
        // The bits order addresses of one family as `IpAddr` does, so lo and hi are the
        // key's.
        let (lo, hi) = if src <= dst { (src, dst) } else { (dst, src) };
        KeyBits {
            lo,
            hi,
            protocol,
            vlan: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;
    use crate::flow::FlowKey;
    use crate::source::{FileSource, Recv};

    /// A placer finds the places its table finds, on another thread.
    #[test]
    fn a_placer_finds_what_its_table_finds() {
        use crate::flow::FlowConfig;
        use crate::testutil::udp_frame;
        let table = FlowTable::new(FlowConfig::default());
        let placer = table.placer();
        let placed = std::thread::scope(|s| {
            s.spawn(|| {
                (0u16..64)
                    .map(|port| {
                        let a = std::net::Ipv4Addr::new(10, 0, 0, 1);
                        let b = std::net::Ipv4Addr::new(10, 0, 1, port as u8);
                        let frame = udp_frame(a, b, 1000 + port, 53, b"q");
                        let raw = RawPacket {
                            ts: crate::time::Timestamp::from_micros(1),
                            data: &frame,
                            orig_len: frame.len() as u32,
                            link: LinkType::Ethernet,
                        };
                        let key = common_key(&raw).map(|k| table.place(&k));
                        (placer.place_of(&raw), key)
                    })
                    .collect::<Vec<_>>()
            })
            .join()
            .expect("placer thread")
        });
        assert!(
            placed.windows(2).any(|w| w[0].0 != w[1].0),
            "64 flows in one place"
        );
        for (by_placer, by_table) in placed {
            assert!(by_placer.is_some());
            assert_eq!(by_placer, by_table);
        }
    }

    /// On every well-formed packet of the bundled captures that it reads, the quick key is
    /// the decoder's.
    #[test]
    fn common_key_is_the_decoders_key() {
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data"
        ))];
        let mut paths = vec![];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).expect("bundled test data").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    paths.push(path);
                }
            }
        }
        let mut compared = 0;
        for path in paths {
            let Ok(mut source) = FileSource::open(&path) else {
                continue;
            };
            while let Ok(Recv::Packet(p)) = source.next_packet() {
                let view = decode(&p);
                // On a malformed packet (the decoder reports an anomaly) the quick key may
                // differ: that only fetches a useless line.
                if let (Some(key), None) = (common_key(&p), view.anomaly) {
                    let decoded = FlowKey::from_packet(&view).map(|(k, _)| k.bits());
                    assert_eq!(Some(key), decoded, "{}", path.display());
                    compared += 1;
                }
            }
        }
        eprintln!("{compared} packets compared");
        assert!(compared > 10_000, "only {compared} packets compared");
    }

    /// IPv4 fragments, first and later, of UDP, TCP and ICMP: the quick key is the
    /// decoder's (one without ports).
    #[test]
    fn a_fragments_quick_key_is_the_decoders_key() {
        use crate::testutil::{icmp_echo_frame, tcp_frame, udp_frame};
        use std::net::Ipv4Addr;
        let (a, b) = (Ipv4Addr::new(198, 51, 100, 7), Ipv4Addr::new(10, 0, 0, 10));
        let frames = [
            udp_frame(a, b, 5000, 9, &[0x55; 64]),
            tcp_frame(b, a, 80, 40_000, crate::decode::TcpFlags::SYN, b"x"),
            icmp_echo_frame(a, b, false, 8),
        ];
        let mut compared = 0;
        for frame in frames {
            // More fragments at offset 0, then the last one at offset 8 (64 bytes in).
            for flags_offset in [0x2000u16, 0x0008] {
                let mut frame = frame.clone();
                frame[20..22].copy_from_slice(&flags_offset.to_be_bytes());
                let raw = RawPacket {
                    ts: crate::time::Timestamp::from_micros(1),
                    data: &frame,
                    orig_len: frame.len() as u32,
                    link: LinkType::Ethernet,
                };
                let view = decode(&raw);
                assert_ne!(
                    view.ip().map(|ip| ip.fragment),
                    Some(crate::decode::Fragment::None)
                );
                let decoded = FlowKey::from_packet(&view).map(|(k, _)| k.bits());
                assert_eq!(common_key(&raw), decoded, "{flags_offset:#06x}");
                assert!(decoded.is_some_and(|k| k.lo.1 == 0 && k.hi.1 == 0));
                compared += 1;
            }
        }
        assert_eq!(compared, 6);
    }
}
