//! `icmp_flood`: ICMP request floods against one target.
//!
//! **Detects** a target receiving ICMP requests (echo, timestamp, information, address
//! mask; ICMPv6 echo) faster than `rate_pps` (default 200/s) in a window of packet time.
//! Errors and replies are not counted (a reply storm is the reflector's view of someone
//! else's flood). One alert when the flood starts, one when it ends with its size. The
//! attacker is the single source address, or the host behind the one source MAC.
//!
//! **False positives**: aggressive monitoring pinging one host at hundreds per second;
//! `ping -f` on purpose.
//!
//! **References**: RFC 792; MITRE ATT&CK T1498.001 (Network Denial of Service: Direct
//! Network Flood).

use super::flood::{FloodConfig, FloodDefaults, FloodKind, FloodTracker};
use super::{Context, Detector, Interest, TableUsage};
use crate::decode::{PacketView, Transport};
use crate::time::Timestamp;

/// Configuration: `rate_pps` default 200; the rest as [`FloodConfig`].
pub type IcmpFloodConfig = FloodConfig<IcmpFloodDefaults>;

/// The defaults of [`IcmpFloodConfig`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IcmpFloodDefaults;

impl FloodDefaults for IcmpFloodDefaults {
    const RATE_PPS: u64 = 200;
    const FLAGGED_PERMILLE: u32 = 0;
}

const KIND: FloodKind = FloodKind {
    detector: "icmp_flood",
    name: "ICMP flood",
    unit: "ICMP requests",
    flagged_as: None,
    mitre: "T1498.001",
};

/// The `icmp_flood` detector.
pub struct IcmpFloodDetector {
    tracker: FloodTracker,
}

impl IcmpFloodDetector {
    /// A detector with `config`.
    pub fn new(config: &IcmpFloodConfig) -> Self {
        IcmpFloodDetector {
            tracker: FloodTracker::new(config.into()),
        }
    }
}

impl Detector for IcmpFloodDetector {
    fn id(&self) -> &'static str {
        KIND.detector
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![self.tracker.usage()]
    }

    fn interest(&self) -> Interest {
        Interest::ICMP | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let Some(ip) = pkt.ip() else {
            return;
        };
        let request = match pkt.transport {
            // echo, timestamp, information, address mask requests
            Transport::Icmpv4 { icmp_type, .. } => matches!(icmp_type, 8 | 13 | 15 | 17),
            Transport::Icmpv6 { icmp_type, .. } => icmp_type == 128,
            _ => false,
        };
        if !request {
            return;
        }
        let event = self
            .tracker
            .observe(pkt.ts, ip.dst, ip.src, pkt.src_mac, None, false);
        FloodTracker::report_started(&KIND, event, cx);
    }

    fn on_tick(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        self.tracker.report_quiet(&KIND, now, cx);
    }

    fn on_finish(&mut self, _now: Timestamp, cx: &mut Context<'_>) {
        self.tracker.report_all(&KIND, cx);
    }
}
