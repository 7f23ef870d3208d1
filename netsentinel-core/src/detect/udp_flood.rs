//! `udp_flood`: UDP floods against one target.
//!
//! **Detects** a target receiving UDP datagrams faster than `rate_pps` (default 2,000/s)
//! in a window of packet time, with at least `min_flagged_ratio` (default 0.9) of them
//! unanswered: their flow has carried nothing back from the target (a later answer
//! takes them off the count). The reply condition
//! keeps busy legitimate UDP (QUIC downloads, video calls, DNS servers), where the target
//! talks back, out. One alert when the flood starts, one when it ends with its size.
//!
//! **False positives**: one-way UDP by design at high rates: syslog or NetFlow export to a
//! collector, multicast video. Raise `rate_pps` or disable for such collectors.
//!
//! **References**: MITRE ATT&CK T1498.001 (Network Denial of Service: Direct Network
//! Flood); US-CERT TA14-017A (UDP-based amplification).

use super::flood::{FloodConfig, FloodDefaults, FloodKind, FloodTracker};
use super::{Context, Detector, Interest, TableUsage};
use crate::decode::{PacketView, Transport};
use crate::time::Timestamp;

/// Configuration: `rate_pps` default 2,000, `min_flagged_ratio` (share of unanswered
/// datagrams) default 0.9; the rest as [`FloodConfig`].
pub type UdpFloodConfig = FloodConfig<UdpFloodDefaults>;

/// The defaults of [`UdpFloodConfig`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UdpFloodDefaults;

impl FloodDefaults for UdpFloodDefaults {
    const RATE_PPS: u64 = 2000;
    const FLAGGED_PERMILLE: u32 = 900;
}

const KIND: FloodKind = FloodKind {
    detector: "udp_flood",
    name: "UDP flood",
    unit: "datagrams",
    flagged_as: Some("unanswered_ratio"),
    mitre: "T1498.001",
};

/// The `udp_flood` detector.
pub struct UdpFloodDetector {
    tracker: FloodTracker,
}

impl UdpFloodDetector {
    /// A detector with `config`.
    pub fn new(config: &UdpFloodConfig) -> Self {
        UdpFloodDetector {
            tracker: FloodTracker::new(config.into()),
        }
    }
}

impl Detector for UdpFloodDetector {
    fn id(&self) -> &'static str {
        KIND.detector
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![self.tracker.usage()]
    }

    fn interest(&self) -> Interest {
        Interest::UDP | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(ip), Transport::Udp { dst_port, .. }) = (pkt.ip(), pkt.transport) else {
            return;
        };
        // A datagram is unanswered until its flow carries one back from the target: the
        // first packet of a direction answers the other direction's packets so far.
        let (here, back) = match cx.flow() {
            Some(f) if cx.from_initiator() => (f.to_server.packets, f.to_client.packets),
            Some(f) => (f.to_client.packets, f.to_server.packets),
            None => (1, 0),
        };
        if here == 1 && back > 0 {
            self.tracker.unflag(ip.src, back);
        }
        let event = self.tracker.observe(
            pkt.ts,
            ip.dst,
            ip.src,
            pkt.src_mac,
            Some(dst_port),
            back == 0,
        );
        FloodTracker::report_started(&KIND, event, cx);
    }

    fn on_tick(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        self.tracker.report_quiet(&KIND, now, cx);
    }

    fn on_finish(&mut self, _now: Timestamp, cx: &mut Context<'_>) {
        self.tracker.report_all(&KIND, cx);
    }
}
