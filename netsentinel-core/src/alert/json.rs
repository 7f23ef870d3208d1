//! NetSentinel's own JSON-lines output.
//!
//! # Wire format
//!
//! One JSON object per line. Every line has `"type"`: `alert`, `flow`, `anomaly`,
//! `incident` or `summary`, then the fields of [`Alert`], [`Flow`] plus its
//! `community_id`, [`AnomalyEvent`], [`Incident`] or
//! [`RunSummary`], serialised with serde under their Rust field names.
//! Alert lines carry `"detector": "<id>"` at the top level. Timestamps are integers:
//! microseconds since the Unix epoch.

use serde_json::{Value, json};

use super::{Alert, AnomalyEvent};
use crate::engine::RunSummary;
use crate::flow::Flow;
use crate::incident::Incident;

fn tagged(kind: &str, value: serde_json::Result<Value>) -> serde_json::Result<Value> {
    let mut v = value?;
    if let Value::Object(m) = &mut v {
        m.insert("type".into(), kind.into());
    }
    Ok(v)
}

/// The JSON object of an alert.
///
/// # Errors
/// Only if serde fails, which our types do not.
pub fn alert(a: &Alert) -> serde_json::Result<Value> {
    tagged("alert", serde_json::to_value(a))
}

/// The JSON object of a flow, with its community id.
///
/// # Errors
/// Only if serde fails.
pub fn flow(f: &Flow) -> serde_json::Result<Value> {
    let mut v = tagged("flow", serde_json::to_value(f))?;
    v["community_id"] = json!(f.community_id());
    Ok(v)
}

/// The JSON object of a decode anomaly.
///
/// # Errors
/// Only if serde fails.
pub fn anomaly(e: &AnomalyEvent) -> serde_json::Result<Value> {
    tagged("anomaly", serde_json::to_value(e))
}

/// The JSON object of an incident record.
///
/// # Errors
/// Only if serde fails.
pub fn incident(i: &Incident) -> serde_json::Result<Value> {
    tagged("incident", serde_json::to_value(i))
}

/// The JSON object of a run summary.
///
/// # Errors
/// Only if serde fails.
pub fn summary(s: &RunSummary) -> serde_json::Result<Value> {
    tagged("summary", serde_json::to_value(s))
}
