//! Alerts and where they go.
//!
//! An [`Alert`] is what a detector reports: when, which detector, how severe, between whom,
//! a one-line message and structured evidence. Alerts go to [`AlertSink`]s; ready sinks are
//! in [`sinks`]. The output formats are documented where they are written: [`json`] (our own
//! records) and [`eve`] (Suricata-EVE-compatible).

pub mod eve;
pub mod json;
mod sink;
pub mod sinks;

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use sink::{AlertSink, AnomalyEvent, SinkError};

use crate::flow::{Flow, FlowId};
use crate::gateway::{AlertContext, Verdict};
use crate::time::Timestamp;

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing, not a problem by itself.
    Info,
    /// Suspicious, probably harmless.
    Low,
    /// Suspicious: look at it.
    Medium,
    /// An attack or a serious exposure.
    High,
    /// An attack that succeeded or is doing damage now.
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Suricata's numeric severity (1 is the most severe).
    pub fn eve_level(self) -> u8 {
        match self {
            Severity::Critical | Severity::High => 1,
            Severity::Medium => 2,
            Severity::Low => 3,
            Severity::Info => 4,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            other => {
                return Err(format!(
                    "unknown severity `{other}` (info, low, medium, high, critical)"
                ));
            }
        })
    }
}

/// One alert.
///
/// ```
/// use netsentinel_core::{Alert, Severity, Timestamp};
/// let alert = Alert::new(Timestamp::ZERO, "port_scan", Severity::High, "reconnaissance", "SYN scan of 1000 ports")
///     .with_mitre("T1046")
///     .with_endpoints("10.0.0.66".parse().ok(), None, "10.0.0.10".parse().ok(), None)
///     .with_evidence("ports", 1000);
/// assert_eq!(alert.detector, "port_scan");
/// assert_eq!(alert.evidence["ports"], 1000);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Packet time of the alert.
    pub timestamp: Timestamp,
    /// Stable snake_case id of the detector that raised it.
    pub detector: String,
    /// Severity.
    pub severity: Severity,
    /// Category, e.g. `reconnaissance`, `denial_of_service`, `credential_exposure`.
    pub category: String,
    /// MITRE ATT&CK technique id, e.g. `T1046`.
    pub mitre_technique: Option<String>,
    /// Source (attacker) address.
    pub src_ip: Option<IpAddr>,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination (target) address.
    pub dst_ip: Option<IpAddr>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// IP protocol number.
    pub protocol: Option<u8>,
    /// The flow the alert is about.
    pub flow_id: Option<FlowId>,
    /// Community ID of that flow.
    pub community_id: Option<String>,
    /// One line a person can read.
    pub message: String,
    /// Structured evidence (counts, ports, names): why the detector fired.
    pub evidence: Map<String, Value>,
    /// What sets this alert apart from others of its detector between the same hosts (a
    /// credential's user and masked secret, a kind of sensitive data): the gateway never
    /// counts alerts with different values as repeats of each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<String>,
    /// Who the endpoints are (device, side, process, threat intelligence): filled by the
    /// [alert gateway](crate::gateway); the process is taken from the alert's flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Box<AlertContext>>,
    /// How far to believe the alert and what the gateway did to it: filled by the
    /// [alert gateway](crate::gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Box<Verdict>>,
}

impl Alert {
    /// An alert with no endpoints and no evidence yet.
    pub fn new(
        timestamp: Timestamp,
        detector: impl Into<String>,
        severity: Severity,
        category: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Alert {
            timestamp,
            detector: detector.into(),
            severity,
            category: category.into(),
            mitre_technique: None,
            src_ip: None,
            src_port: None,
            dst_ip: None,
            dst_port: None,
            protocol: None,
            flow_id: None,
            community_id: None,
            message: message.into(),
            evidence: Map::new(),
            distinct: None,
            context: None,
            verdict: None,
        }
    }

    /// Sets the MITRE ATT&CK technique.
    pub fn with_mitre(mut self, technique: impl Into<String>) -> Self {
        self.mitre_technique = Some(technique.into());
        self
    }

    /// Sets source and destination.
    pub fn with_endpoints(
        mut self,
        src_ip: Option<IpAddr>,
        src_port: Option<u16>,
        dst_ip: Option<IpAddr>,
        dst_port: Option<u16>,
    ) -> Self {
        self.src_ip = src_ip;
        self.src_port = src_port;
        self.dst_ip = dst_ip;
        self.dst_port = dst_port;
        self
    }

    /// Ties the alert to a flow: endpoints, protocol, flow id and community id.
    pub fn with_flow(mut self, flow: &Flow) -> Self {
        self.src_ip = Some(flow.src_ip());
        self.src_port = Some(flow.src_port);
        self.dst_ip = Some(flow.dst_ip());
        self.dst_port = Some(flow.dst_port);
        self.protocol = Some(flow.key.protocol);
        self.flow_id = Some(flow.id);
        self.community_id = Some(flow.community_id());
        self
    }

    /// Sets what makes this alert distinct from others of its detector between the same
    /// hosts (see [`Alert::distinct`]).
    pub fn with_distinct(mut self, distinct: impl Into<String>) -> Self {
        self.distinct = Some(distinct.into());
        self
    }

    /// Adds one evidence field.
    pub fn with_evidence(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.evidence.insert(key.into(), value.into());
        self
    }
}
