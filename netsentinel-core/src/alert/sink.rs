//! The sink trait.

use std::net::IpAddr;

use serde::Serialize;

use super::Alert;
use crate::decode::DecodeAnomaly;
use crate::engine::RunSummary;
use crate::flow::Flow;
use crate::incident::Incident;
use crate::time::Timestamp;

/// A packet that could not be fully decoded, as an output event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnomalyEvent {
    /// Packet time.
    pub timestamp: Timestamp,
    /// What could not be decoded.
    pub anomaly: DecodeAnomaly,
    /// 1-based index of the packet in its source.
    pub packet_number: u64,
    /// Source address, when the IP layer was decoded.
    pub src_ip: Option<IpAddr>,
    /// Destination address, when the IP layer was decoded.
    pub dst_ip: Option<IpAddr>,
}

/// Why a sink could not take an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising failed.
    #[error("serialising output: {0}")]
    Json(#[from] serde_json::Error),
    /// The receiver is gone (a channel sink whose reader hung up).
    #[error("output closed")]
    Closed,
}

/// Where alerts, flow records, anomalies and the final summary go.
///
/// Only [`alert`](AlertSink::alert) is required; the other events are ignored by default.
/// A sink error stops the engine run and is returned to its caller.
///
/// ```
/// use netsentinel_core::{Alert, AlertSink, SinkError};
/// struct Count(usize);
/// impl AlertSink for Count {
///     fn alert(&mut self, _alert: &Alert) -> Result<(), SinkError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
/// ```
pub trait AlertSink: Send {
    /// An alert.
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError>;

    /// A flow that ended.
    fn flow(&mut self, _flow: &Flow) -> Result<(), SinkError> {
        Ok(())
    }

    /// A decode anomaly.
    fn anomaly(&mut self, _event: &AnomalyEvent) -> Result<(), SinkError> {
        Ok(())
    }

    /// An incident opened, escalated or closed ([`Incident::update`] says which).
    fn incident(&mut self, _incident: &Incident) -> Result<(), SinkError> {
        Ok(())
    }

    /// The summary at the end of a run.
    fn summary(&mut self, _summary: &RunSummary) -> Result<(), SinkError> {
        Ok(())
    }

    /// Flushes buffered output.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

impl<S: AlertSink + ?Sized> AlertSink for &mut S {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        (**self).alert(alert)
    }
    fn flow(&mut self, flow: &Flow) -> Result<(), SinkError> {
        (**self).flow(flow)
    }
    fn anomaly(&mut self, event: &AnomalyEvent) -> Result<(), SinkError> {
        (**self).anomaly(event)
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        (**self).incident(incident)
    }
    fn summary(&mut self, summary: &RunSummary) -> Result<(), SinkError> {
        (**self).summary(summary)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
}

impl<S: AlertSink + ?Sized> AlertSink for Box<S> {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        (**self).alert(alert)
    }
    fn flow(&mut self, flow: &Flow) -> Result<(), SinkError> {
        (**self).flow(flow)
    }
    fn anomaly(&mut self, event: &AnomalyEvent) -> Result<(), SinkError> {
        (**self).anomaly(event)
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        (**self).incident(incident)
    }
    fn summary(&mut self, summary: &RunSummary) -> Result<(), SinkError> {
        (**self).summary(summary)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
}
