//! `syn_flood`: TCP SYN floods against one target.
//!
//! **Detects** a target receiving SYNs faster than `rate_pps` (default 500/s) in a window
//! of packet time, with at least `min_flagged_ratio` (default 0.8) of them half-open: their
//! handshake never completed. Spoofed random sources do not dilute the count, as the
//! target is the key. One alert when the flood starts, one when it ends (after
//! `quiet_secs` without flood traffic, or at the end of the input) with its size: packets,
//! distinct sources, peak rate, duration. The attacker is the single source address, or,
//! for spoofed sources, the host behind the one source MAC as ARP named it.
//!
//! **False positives**: a popular server right after an outage (reconnect storm) can cross
//! the rate, but its handshakes complete, which the half-open ratio excludes.
//!
//! **References**: RFC 4987 (TCP SYN flooding attacks); MITRE ATT&CK T1499.001 (Endpoint
//! Denial of Service: OS Exhaustion Flood).

use super::flood::{FloodConfig, FloodDefaults, FloodKind, FloodTracker};
use super::{Context, Detector, Interest, TableUsage};
use crate::decode::{PacketView, TcpFlags};
use crate::flow::TcpState;
use crate::time::Timestamp;

/// Configuration: `rate_pps` default 500, `min_flagged_ratio` (share of half-open SYNs)
/// default 0.8; the rest as [`FloodConfig`].
pub type SynFloodConfig = FloodConfig<SynFloodDefaults>;

/// The defaults of [`SynFloodConfig`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SynFloodDefaults;

impl FloodDefaults for SynFloodDefaults {
    const RATE_PPS: u64 = 500;
    const FLAGGED_PERMILLE: u32 = 800;
}

const KIND: FloodKind = FloodKind {
    detector: "syn_flood",
    name: "SYN flood",
    unit: "SYNs",
    flagged_as: Some("half_open_ratio"),
    mitre: "T1499.001",
};

/// The `syn_flood` detector.
pub struct SynFloodDetector {
    tracker: FloodTracker,
}

impl SynFloodDetector {
    /// A detector with `config`.
    pub fn new(config: &SynFloodConfig) -> Self {
        SynFloodDetector {
            tracker: FloodTracker::new(config.into()),
        }
    }
}

impl Detector for SynFloodDetector {
    fn id(&self) -> &'static str {
        KIND.detector
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![self.tracker.usage()]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(tcp), Some(ip)) = (pkt.tcp(), pkt.ip()) else {
            return;
        };
        let f = tcp.flags;
        if f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK) {
            let event = self.tracker.observe(
                pkt.ts,
                ip.dst,
                ip.src,
                pkt.src_mac,
                Some(tcp.dst_port),
                true,
            );
            FloodTracker::report_started(&KIND, event, cx);
        } else if f.has(TcpFlags::ACK) && !f.has(TcpFlags::SYN) && cx.from_initiator() {
            // The handshake's last ACK: that SYN was not half-open after all.
            if let Some(flow) = cx.flow()
                && flow.tcp_state == TcpState::Established
                && flow.to_server.packets == 2
            {
                self.tracker.unflag(ip.dst, 1);
            }
        }
    }

    fn on_tick(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        self.tracker.report_quiet(&KIND, now, cx);
    }

    fn on_finish(&mut self, _now: Timestamp, cx: &mut Context<'_>) {
        self.tracker.report_all(&KIND, cx);
    }
}
