//! The end of the engine's path: alerts through the gateway and the correlator to the
//! sinks, flows and anomaly events to the sinks.
//!
//! Kept apart from the packet-side state (flows, traffic, detectors) so that a parallel run
//! can keep it on one thread while the packet side works on others; both runs call the
//! same code here, in the same order.

use std::collections::{BTreeMap, HashMap};

use crate::alert::{Alert, AlertSink, AnomalyEvent};
use crate::decode::dns::DnsOnce;
use crate::decode::{DecodeAnomaly, PacketView};
use crate::device::DeviceInventory;
use crate::error::Result;
use crate::flow::Flow;
use crate::gateway::{Admission, AlertGateway};
use crate::incident::{Correlator, Incident, IncidentUpdate};
use crate::recording::RingConfig;
use crate::time::Timestamp;
use crate::traffic::LocalNetworks;

/// An incident capture to write once packet time passes `to`.
pub(super) struct PendingCapture {
    pub(super) incident: u64,
    pub(super) from: Timestamp,
    pub(super) to: Timestamp,
}

/// Gateway, correlator, sinks and what they counted.
pub(super) struct Output {
    pub(super) gateway: AlertGateway,
    pub(super) correlator: Correlator,
    pub(super) sinks: Vec<Box<dyn AlertSink>>,
    /// Whether the baseline is still learning, as of the last packet.
    pub(super) learning: bool,
    pub(super) alert_count: u64,
    pub(super) alerts_by_detector: BTreeMap<String, u64>,
    anomaly_events: HashMap<DecodeAnomaly, u64>,
    anomaly_limit: u64,
    pub(super) anomaly_events_suppressed: u64,
    pub(super) pending_captures: Vec<PendingCapture>,
}

impl Output {
    pub(super) fn new(
        gateway: AlertGateway,
        correlator: Correlator,
        sinks: Vec<Box<dyn AlertSink>>,
        anomaly_limit: u64,
    ) -> Self {
        Output {
            gateway,
            correlator,
            sinks,
            learning: false,
            alert_count: 0,
            alerts_by_detector: BTreeMap::new(),
            anomaly_events: HashMap::new(),
            anomaly_limit,
            anomaly_events_suppressed: 0,
            pending_captures: Vec::new(),
        }
    }

    /// A packet arrived: the baseline's clock advances and, while it learns, the packet's
    /// DNS name is remembered.
    /// `dns` is the packet's DNS message, parsed if this is the first to ask.
    pub(super) fn packet(&mut self, pkt: &PacketView<'_>, dns: &DnsOnce<'_>) {
        self.learning = self.gateway.advance(pkt.ts);
        if self.learning {
            self.learn_dns(pkt, dns);
        }
    }

    /// Records the name of a DNS message for the baseline whitelist.
    fn learn_dns(&mut self, pkt: &PacketView<'_>, dns: &DnsOnce<'_>) {
        let crate::decode::Transport::Udp { src_port, dst_port } = pkt.transport else {
            return;
        };
        if ![src_port, dst_port].iter().any(|p| matches!(p, 53 | 5353)) {
            return;
        }
        if let Some(msg) = dns.get()
            && !msg.qname.is_empty()
        {
            self.gateway.learn_domain(&msg.qname);
        }
    }

    /// A decoding anomaly, written to the sinks up to `anomaly_events_per_kind` a kind.
    pub(super) fn anomaly_event(
        &mut self,
        pkt: &PacketView<'_>,
        anomaly: DecodeAnomaly,
        packet_number: u64,
    ) -> Result<()> {
        let n = self.anomaly_events.entry(anomaly).or_insert(0);
        if *n >= self.anomaly_limit {
            self.anomaly_events_suppressed += 1;
            return Ok(());
        }
        *n += 1;
        let event = AnomalyEvent {
            timestamp: pkt.ts,
            anomaly,
            packet_number,
            src_ip: pkt.ip().map(|i| i.src),
            dst_ip: pkt.ip().map(|i| i.dst),
        };
        for s in &mut self.sinks {
            s.anomaly(&event)?;
        }
        Ok(())
    }

    /// A flow ended (after the detectors saw it): the baseline learns it while learning,
    /// and the sinks get it.
    pub(super) fn flow_ended(&mut self, flow: &Flow, local: &LocalNetworks) -> Result<()> {
        if self.learning {
            self.gateway.learn_flow(flow, local);
        }
        for s in &mut self.sinks {
            s.flow(flow)?;
        }
        Ok(())
    }

    /// Closes the incidents idle at `now` and writes them.
    pub(super) fn close_idle(&mut self, now: Timestamp) -> Result<()> {
        for incident in self.correlator.close_idle(now) {
            self.write_incident(&incident)?;
        }
        Ok(())
    }

    /// Closes every open incident and writes them (end of a run).
    pub(super) fn close_all(&mut self) -> Result<()> {
        for incident in self.correlator.close_all() {
            self.write_incident(&incident)?;
        }
        Ok(())
    }

    fn write_incident(&mut self, incident: &Incident) -> Result<()> {
        for s in &mut self.sinks {
            s.incident(incident)?;
        }
        Ok(())
    }

    /// Alerts through the gateway and the correlator to the sinks. `captures` is the ring
    /// configuration when incident captures are written (a ring and a directory).
    pub(super) fn pass_alerts(
        &mut self,
        alerts: &mut [Alert],
        devices: &DeviceInventory,
        local: &LocalNetworks,
        now: Timestamp,
        captures: Option<&RingConfig>,
    ) -> Result<()> {
        for a in alerts {
            let admission = if self.gateway.enabled() {
                self.gateway.admit(a, Some(devices), local, now)
            } else {
                Admission::Write
            };
            if admission == Admission::Suppressed {
                continue;
            }
            let written = admission == Admission::Write;
            if written {
                self.alert_count += 1;
                *self
                    .alerts_by_detector
                    .entry(a.detector.clone())
                    .or_insert(0) += 1;
                for s in &mut self.sinks {
                    s.alert(a)?;
                }
            }
            if let Some(incident) = self.correlator.observe(a, written, local) {
                if incident.update == IncidentUpdate::Opened
                    && let Some(ring) = captures
                {
                    let secs =
                        |s: u64| i64::try_from(s.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
                    self.pending_captures.push(PendingCapture {
                        incident: incident.id,
                        from: incident.first_seen.add_micros(-secs(ring.before_secs)),
                        to: incident.first_seen.add_micros(secs(ring.after_secs)),
                    });
                }
                self.write_incident(&incident)?;
            }
        }
        Ok(())
    }
}
