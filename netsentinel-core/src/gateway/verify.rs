//! Verification: how far to believe an alert, from independent factors, each with its reason.
//!
//! The score starts from the detector's severity (info 0.2, low 0.35, medium 0.5, high 0.65,
//! critical 0.8) and moves with what else is known:
//!
//! | factor | weight | when |
//! |---|---|---|
//! | `corroboration` | +0.1 per other detector, at most +0.3 | other detectors alerted on the same source, or the same pair of hosts, within `gateway.corroboration_window_secs` |
//! | `repetition` | +0.05 per earlier alert of this key, at most +0.2 | the same detector raised it between the same hosts before |
//! | `threat_intel` | +0.15 | an endpoint matched threat intelligence earlier |
//! | `new_device` | +0.1 | the source device joined less than 10 minutes before, after the known devices settled (`devices.settle_secs`) |
//! | `target_role` | +0.05 | an attack or scan aimed at a device answering services (a server) |
//! | `source_role` | -0.1 | a scan, sweep, flood or DNS alert from the network's gateway or a router, which relay and probe by design |
//! | `baseline_learning` | -0.1 | the baseline is still learning what is normal |
//! | `baseline_match` | -0.25 | the alert matches the learned whitelist |
//!
//! The result is kept between 0.01 and 0.99; the weights are judgement, not fitted to any
//! capture, and every applied factor is listed in the verdict.

use serde::{Deserialize, Serialize};

use crate::alert::Severity;

/// One factor of an alert's confidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    /// Which factor (see the table in [`crate::gateway`]).
    pub factor: String,
    /// What it added (negative: took away).
    pub weight: f64,
    /// Why, for a person.
    pub detail: String,
}

/// What the gateway concluded about an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// 0 to 1: how likely the alert is a real problem worth a look.
    pub confidence: f64,
    /// The factors, in the order applied.
    pub factors: Vec<Factor>,
    /// Alerts of this key (detector, source, destination) counted as repeats and not written
    /// since the previous one that was.
    pub repeats_since_last: u64,
    /// The learned-baseline match, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The detector's own severity when the baseline policy lowered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgraded_from: Option<Severity>,
}

impl Verdict {
    /// A verdict starting from `severity`'s base score.
    pub(super) fn new(severity: Severity) -> Self {
        let base = match severity {
            Severity::Info => 0.2,
            Severity::Low => 0.35,
            Severity::Medium => 0.5,
            Severity::High => 0.65,
            Severity::Critical => 0.8,
        };
        Verdict {
            confidence: base,
            factors: Vec::new(),
            repeats_since_last: 0,
            baseline: None,
            downgraded_from: None,
        }
    }

    /// Applies a factor.
    pub(super) fn add(&mut self, factor: &str, weight: f64, detail: String) {
        let weight = (weight * 100.0).round() / 100.0;
        self.confidence += weight;
        self.factors.push(Factor {
            factor: factor.into(),
            weight,
            detail,
        });
    }

    /// Clamps and rounds the score (two decimals).
    pub(super) fn settle(&mut self) {
        self.confidence = (self.confidence.clamp(0.01, 0.99) * 100.0).round() / 100.0;
    }
}
