//! Ready-made sinks.

use std::io::Write;

use super::{Alert, AlertSink, AnomalyEvent, SinkError, eve, json};
use crate::engine::RunSummary;
use crate::flow::Flow;
use crate::incident::Incident;

/// Writes our own JSON lines (see [`json`]): alerts, flows, anomalies, summary.
#[derive(Debug)]
pub struct JsonLinesSink<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// A sink writing to `out` (wrap files in a `BufWriter`).
    pub fn new(out: W) -> Self {
        JsonLinesSink { out }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, v: serde_json::Result<serde_json::Value>) -> Result<(), SinkError> {
        serde_json::to_writer(&mut self.out, &v?)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }
}

impl<W: Write + Send> AlertSink for JsonLinesSink<W> {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.line(json::alert(alert))
    }
    fn flow(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.line(json::flow(flow))
    }
    fn anomaly(&mut self, event: &AnomalyEvent) -> Result<(), SinkError> {
        self.line(json::anomaly(event))
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        self.line(json::incident(incident))
    }
    fn summary(&mut self, summary: &RunSummary) -> Result<(), SinkError> {
        self.line(json::summary(summary))
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.out.flush()?)
    }
}

/// Writes Suricata-EVE-compatible NDJSON (see [`eve`]).
///
/// ```
/// use netsentinel_core::{Alert, AlertSink, EveSink, Severity, Timestamp};
/// let mut sink = EveSink::new(Vec::new());
/// sink.alert(&Alert::new(Timestamp::ZERO, "demo", Severity::Low, "test", "hello")).unwrap();
/// let line = String::from_utf8(sink.into_inner()).unwrap();
/// assert!(line.contains(r#""event_type":"alert""#) && line.contains(r#""detector":"demo""#));
/// ```
#[derive(Debug)]
pub struct EveSink<W: Write + Send> {
    out: W,
    flows: bool,
}

impl<W: Write + Send> EveSink<W> {
    /// A sink writing alerts, flows, anomalies and stats to `out`.
    pub fn new(out: W) -> Self {
        EveSink { out, flows: true }
    }

    /// Whether to write `flow` events (default yes).
    pub fn with_flows(mut self, flows: bool) -> Self {
        self.flows = flows;
        self
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, v: &serde_json::Value) -> Result<(), SinkError> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }
}

impl<W: Write + Send> AlertSink for EveSink<W> {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.line(&eve::alert(alert))
    }
    fn flow(&mut self, flow: &Flow) -> Result<(), SinkError> {
        if self.flows {
            self.line(&eve::flow(flow))?;
        }
        Ok(())
    }
    fn anomaly(&mut self, event: &AnomalyEvent) -> Result<(), SinkError> {
        self.line(&eve::anomaly(event))
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        self.line(&eve::incident(incident))
    }
    fn summary(&mut self, summary: &RunSummary) -> Result<(), SinkError> {
        self.line(&eve::stats(summary))
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.out.flush()?)
    }
}

/// Writes one readable line per alert.
///
/// Format: `TIME  SEVERITY  DETECTOR  SRC -> DST  MESSAGE`.
#[derive(Debug)]
pub struct ConsoleSink<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> ConsoleSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        ConsoleSink { out }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

fn endpoint(ip: Option<std::net::IpAddr>, port: Option<u16>) -> String {
    match (ip, port) {
        (Some(ip), Some(p)) if p != 0 => format!("{ip}:{p}"),
        (Some(ip), _) => ip.to_string(),
        (None, _) => "-".into(),
    }
}

/// One readable line for an alert (no trailing newline).
pub fn alert_line(a: &Alert) -> String {
    format!(
        "{}  {:<8}  {:<20}  {} -> {}  {}",
        a.timestamp,
        a.severity.as_str().to_uppercase(),
        a.detector,
        endpoint(a.src_ip, a.src_port),
        endpoint(a.dst_ip, a.dst_port),
        a.message
    )
}

/// One readable line for an incident record (no trailing newline).
pub fn incident_line(i: &Incident) -> String {
    let update = match i.update {
        crate::incident::IncidentUpdate::Opened => "opened",
        crate::incident::IncidentUpdate::Escalated => "escalated",
        crate::incident::IncidentUpdate::Closed => "closed",
    };
    format!(
        "{}  {:<8}  INCIDENT #{} {update} ({} alert(s), stage {}): {}",
        i.last_seen,
        i.severity.as_str().to_uppercase(),
        i.id,
        i.alert_count,
        i.stage,
        i.narrative
    )
}

impl<W: Write + Send> AlertSink for ConsoleSink<W> {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        writeln!(self.out, "{}", alert_line(alert))?;
        Ok(())
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        writeln!(self.out, "{}", incident_line(incident))?;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.out.flush()?)
    }
}

/// Keeps every alert in memory (tests, embedding).
#[derive(Debug, Default, Clone)]
pub struct CollectSink {
    /// Alerts received, in order.
    pub alerts: Vec<Alert>,
    /// Flows received, in order.
    pub flows: Vec<Flow>,
    /// Anomaly events received.
    pub anomalies: Vec<AnomalyEvent>,
    /// Incident records received (opened, escalated, closed), in order.
    pub incidents: Vec<Incident>,
}

impl CollectSink {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }
}

impl AlertSink for CollectSink {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.alerts.push(alert.clone());
        Ok(())
    }
    fn flow(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.flows.push(flow.clone());
        Ok(())
    }
    fn anomaly(&mut self, event: &AnomalyEvent) -> Result<(), SinkError> {
        self.anomalies.push(event.clone());
        Ok(())
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        self.incidents.push(incident.clone());
        Ok(())
    }
}

/// Calls a closure for each alert.
///
/// ```
/// use netsentinel_core::FnSink;
/// let sink = FnSink(|alert: &netsentinel_core::Alert| println!("{}", alert.message));
/// # let _ = sink;
/// ```
pub struct FnSink<F>(pub F);

impl<F: FnMut(&Alert) + Send> AlertSink for FnSink<F> {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        (self.0)(alert);
        Ok(())
    }
}
