//! A decoded packet apart from its bytes, so that one thread's decoding serves another.
//!
//! The parallel pipeline decodes every packet on its packet stage (the flow table needs
//! it) and hands the bytes on to the stages that run the detectors. Decoding again there
//! cost those stages about as much as all the statistics they keep; re-attaching the
//! layout decoded once costs a copy.

use super::PacketView;

/// What [`decode`](super::decode) found in a packet, without the borrow of its bytes:
/// [`attach`](Self::attach) to the same bytes gives the same view back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DetachedView {
    /// The view with empty `data` and `payload`.
    view: PacketView<'static>,
    /// Where `payload` starts in `data`.
    payload_start: u32,
    payload_len: u32,
}

impl DetachedView {
    /// `pkt` apart from its bytes.
    pub(crate) fn detach(pkt: &PacketView<'_>) -> Self {
        // The payload is a part of the packet's bytes (or an empty slice from anywhere):
        // its place is the distance between the two addresses.
        let start = (pkt.payload.as_ptr() as usize).wrapping_sub(pkt.data.as_ptr() as usize);
        let (payload_start, payload_len) = match u32::try_from(start) {
            Ok(s) if start.checked_add(pkt.payload.len()) <= Some(pkt.data.len()) => {
                (s, pkt.payload.len() as u32)
            }
            _ => (0, 0),
        };
        DetachedView {
            view: PacketView {
                ts: pkt.ts,
                wire_len: pkt.wire_len,
                data: &[],
                link: pkt.link,
                src_mac: pkt.src_mac,
                dst_mac: pkt.dst_mac,
                vlan: pkt.vlan,
                network: pkt.network,
                transport: pkt.transport,
                payload: &[],
                anomaly: pkt.anomaly,
            },
            payload_start,
            payload_len,
        }
    }

    /// The view again, over `data`: the bytes it was decoded from.
    pub(crate) fn attach<'a>(&self, data: &'a [u8]) -> PacketView<'a> {
        let start = self.payload_start as usize;
        let payload = data
            .get(start..start + self.payload_len as usize)
            .unwrap_or_default();
        PacketView {
            data,
            payload,
            ..self.view
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;
    use crate::source::{LinkType, RawPacket};
    use crate::testutil::{tcp_frame, udp_frame};
    use crate::time::Timestamp;
    use std::net::Ipv4Addr;

    #[test]
    fn attaching_gives_the_decoded_view_back() {
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let frames = [
            tcp_frame(a, b, 40000, 80, 0x18, b"GET / HTTP/1.1\r\n"),
            tcp_frame(a, b, 40000, 80, 0x02, b""),
            udp_frame(a, b, 5353, 53, b"\x12\x34query"),
            vec![0u8; 10],
            Vec::new(),
        ];
        for data in &frames {
            let raw = RawPacket {
                ts: Timestamp::from_micros(7),
                data,
                orig_len: data.len() as u32 + 4,
                link: LinkType::Ethernet,
            };
            let pkt = decode(&raw);
            let again = DetachedView::detach(&pkt).attach(data);
            assert_eq!(again, pkt);
            // The same bytes, not just equal ones (an empty payload may point anywhere).
            if !pkt.payload.is_empty() {
                assert_eq!(again.payload.as_ptr_range(), pkt.payload.as_ptr_range());
            }
        }
    }
}
