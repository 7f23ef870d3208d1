//! The alert gateway: every alert passes it between the detectors and the sinks.
//!
//! In order, for each alert:
//! 1. **Suppression rules** (`gateway.suppress`): by detector, source, destination, either
//!    host (address or network), port, until an expiry time. A suppressed alert is not
//!    written; it is counted per rule in [`GatewayStats`].
//! 2. **Baseline whitelist** ([`whitelist`]): while learning, the alert is marked so; after,
//!    a match is annotated, downgraded or suppressed by `baseline.policy`, with the reason.
//! 3. **De-duplication and cooldown** per (detector, source, destination, destination port,
//!    and the alert's [`distinct`](crate::Alert::distinct) value such as a credential or
//!    the kind of finding): after an alert is
//!    written, the same key is counted as a repeat, not written, for `gateway.cooldown_secs`
//!    of packet time, unless its severity is higher or it is the detector's closing report
//!    of the attack (`evidence.phase = "ended"`, which carries the final size and is written
//!    once). The next alert written for the key says how many repeats it stands for.
//! 4. **Enrichment** ([`AlertContext`]): internal/external side, device MAC, vendor, name
//!    and type, the local process of the flow, earlier threat-intelligence matches.
//! 5. **Verification** ([`Verdict`]): a confidence score from independent factors, each
//!    listed with its reason (table in `verify.rs`, repeated in `docs/CONFIG.md`'s notes).
//!
//! Nothing is silently lost: [`GatewayStats`] (in the run summary) counts every alert
//! received, written, repeated, suppressed by each rule and whitelisted; repeats and
//! whitelisted alerts still reach the [incident correlator](crate::incident).

mod context;
mod recent;
mod verify;
pub mod whitelist;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use context::{AlertContext, AlertProcess, EndpointContext, Side};
use recent::{Recent, RecentAlerts};
pub use verify::{Factor, Verdict};
use whitelist::KnownEntries;
pub use whitelist::{BaselineConfig, Whitelist, WhitelistFileError, WhitelistPolicy};

use crate::alert::{Alert, Severity};
use crate::config::ConfigError;
use crate::device::{DeviceInventory, DeviceKind};
use crate::time::Timestamp;
use crate::traffic::LocalNetworks;

/// A rule that keeps matching alerts from being written.
///
/// Every field given must match; a rule with no field matches every alert.
///
/// ```
/// use netsentinel_core::gateway::SuppressionRule;
/// let rule: SuppressionRule = serde_json::from_str(
///     r#"{"detector": "port_scan", "src": "10.0.0.5/32", "expires": "2027-01-01T00:00:00Z",
///         "reason": "vulnerability scanner"}"#,
/// ).unwrap();
/// assert_eq!(rule.detector.as_deref(), Some("port_scan"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SuppressionRule {
    /// Detector id (`port_scan`, ...); none matches every detector.
    pub detector: Option<String>,
    /// Source address or network (`10.0.0.5`, `10.0.0.0/24`).
    #[schemars(with = "Option<String>")]
    #[serde(deserialize_with = "net_or_address")]
    pub src: Option<IpNet>,
    /// Destination address or network.
    #[schemars(with = "Option<String>")]
    #[serde(deserialize_with = "net_or_address")]
    pub dst: Option<IpNet>,
    /// Either endpoint's address or network.
    #[schemars(with = "Option<String>")]
    #[serde(deserialize_with = "net_or_address")]
    pub host: Option<IpNet>,
    /// Either endpoint's port.
    pub port: Option<u16>,
    /// When the rule stops applying (packet time, RFC 3339: `2026-12-31T00:00:00Z`); none:
    /// never.
    pub expires: Option<String>,
    /// Why the rule exists (shown with its count in the run summary).
    pub reason: String,
}

fn net_or_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<IpNet>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(Some(net));
    }
    text.parse::<IpAddr>()
        .map(|ip| Some(IpNet::from(ip)))
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not an address or network")))
}

/// Settings of the alert gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Pass alerts through the gateway. Off, alerts go to sinks exactly as the detectors
    /// raised them (no enrichment, verdict, de-duplication, rules or whitelist). Default true.
    pub enabled: bool,
    /// Seconds of packet time after a written alert during which alerts of the same
    /// detector between the same source, destination and port, about the same finding, are
    /// counted as repeats instead of written (a higher severity, and a detector's closing
    /// report of an attack, are still written). Default 600.
    pub cooldown_secs: u64,
    /// Seconds within which other detectors' alerts on the same hosts corroborate an alert.
    /// Default 900.
    pub corroboration_window_secs: u64,
    /// Most de-duplication keys remembered; when full, keys past their cooldown are
    /// forgotten, and if none is, the alert is written (counted as `dedup_table_full`).
    /// Default 65536.
    pub max_keys: usize,
    /// Suppression rules, applied before anything else.
    pub suppress: Vec<SuppressionRule>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            enabled: true,
            cooldown_secs: 600,
            corroboration_window_secs: 900,
            max_keys: 65_536,
            suppress: Vec::new(),
        }
    }
}

impl GatewayConfig {
    /// Checks every rule's expiry.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the rule's key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::Invalid {
                key: "gateway.max_keys".into(),
                reason: "must be at least 1".into(),
            });
        }
        for (i, r) in self.suppress.iter().enumerate() {
            if let Some(e) = &r.expires {
                e.parse::<Timestamp>()
                    .map_err(|reason| ConfigError::Invalid {
                        key: format!("gateway.suppress[{i}].expires").into(),
                        reason,
                    })?;
            }
        }
        Ok(())
    }
}

/// What the gateway did with alerts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GatewayStats {
    /// Alerts the detectors raised.
    pub received: u64,
    /// Alerts written to the sinks.
    pub written: u64,
    /// Repeats within a cooldown, counted instead of written.
    pub repeats: u64,
    /// Alerts suppressed by rules.
    pub suppressed_by_rules: u64,
    /// Per rule (its `reason`, or `rule N` when it has none): alerts it suppressed.
    pub rule_hits: BTreeMap<String, u64>,
    /// Alerts matching the learned baseline and suppressed by policy.
    pub whitelisted: u64,
    /// Alerts matching the learned baseline and lowered one severity step by policy.
    pub downgraded: u64,
    /// Alerts written without de-duplication because its table was full.
    pub dedup_table_full: u64,
}

/// What the gateway decided about one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Write it to the sinks (it has been enriched and verified).
    Write,
    /// A repeat within the cooldown: counted, not written.
    Repeat,
    /// Suppressed by a rule or by the whitelist policy: counted, not written.
    Suppressed,
}

struct Rule {
    rule: SuppressionRule,
    expires: Option<Timestamp>,
    label: String,
}

impl Rule {
    fn matches(&self, a: &Alert, now: Timestamp) -> bool {
        let r = &self.rule;
        let in_net = |net: &Option<IpNet>, ip: Option<IpAddr>| {
            net.as_ref()
                .is_none_or(|n| ip.is_some_and(|ip| n.contains(&ip)))
        };
        self.expires.is_none_or(|e| now < e)
            && r.detector.as_ref().is_none_or(|d| *d == a.detector)
            && in_net(&r.src, a.src_ip)
            && in_net(&r.dst, a.dst_ip)
            && r.host.as_ref().is_none_or(|n| {
                a.src_ip.is_some_and(|ip| n.contains(&ip))
                    || a.dst_ip.is_some_and(|ip| n.contains(&ip))
            })
            && r.port
                .is_none_or(|p| a.src_port == Some(p) || a.dst_port == Some(p))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct DedupKey {
    detector: String,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    dst_port: Option<u16>,
    distinct: Option<String>,
}

struct DedupEntry {
    last_written: Timestamp,
    severity: Severity,
    repeats_since_written: u64,
    total: u64,
    /// The last written alert was a closing report.
    closed: bool,
}

/// Most recent alerts kept for corroboration, and addresses remembered from threat
/// intelligence: bounds on what an alert storm can make the gateway hold.
const RECENT_MAX: usize = 4096;
const INTEL_MAX: usize = 4096;
const NEW_DEVICE_SECS: i64 = 600;

/// The alert gateway (see the [module](self) documentation).
///
/// ```
/// use netsentinel_core::gateway::{Admission, AlertGateway, BaselineConfig, GatewayConfig};
/// use netsentinel_core::{Alert, Severity, Timestamp, TrafficConfig};
/// use netsentinel_core::traffic::LocalNetworks;
///
/// let mut gateway = AlertGateway::new(GatewayConfig::default(), BaselineConfig::default(), None);
/// let local = LocalNetworks::new(&TrafficConfig::default().local_networks);
/// let scan = || Alert::new(Timestamp::ZERO, "port_scan", Severity::Medium, "reconnaissance", "scan")
///     .with_endpoints("10.0.0.66".parse().ok(), None, "10.0.0.10".parse().ok(), None);
/// assert_eq!(gateway.admit(&mut scan(), None, &local, Timestamp::ZERO), Admission::Write);
/// assert_eq!(gateway.admit(&mut scan(), None, &local, Timestamp::ZERO), Admission::Repeat);
/// assert_eq!(gateway.stats().repeats, 1);
/// ```
pub struct AlertGateway {
    config: GatewayConfig,
    rules: Vec<Rule>,
    baseline: BaselineConfig,
    whitelist: Whitelist,
    /// `whitelist`'s domains, addresses and services again, for lookups by hash (it only
    /// grows during a run, and only through learning).
    known: KnownEntries,
    dedup: HashMap<DedupKey, DedupEntry>,
    recent: RecentAlerts,
    intel: HashMap<IpAddr, String>,
    stats: GatewayStats,
}

impl AlertGateway {
    /// A gateway with a whitelist to apply (`None`: start learning a new one).
    /// Rules whose expiry does not parse never expire; [`GatewayConfig::validate`] refuses
    /// them first.
    pub fn new(
        config: GatewayConfig,
        baseline: BaselineConfig,
        whitelist: Option<Whitelist>,
    ) -> Self {
        let rules = config
            .suppress
            .iter()
            .enumerate()
            .map(|(i, r)| Rule {
                expires: r.expires.as_deref().and_then(|e| e.parse().ok()),
                label: if r.reason.is_empty() {
                    format!("rule {i}")
                } else {
                    r.reason.clone()
                },
                rule: r.clone(),
            })
            .collect();
        AlertGateway {
            config,
            rules,
            baseline,
            known: whitelist.as_ref().map(KnownEntries::of).unwrap_or_default(),
            whitelist: whitelist.unwrap_or_default(),
            dedup: HashMap::new(),
            recent: RecentAlerts::new(RECENT_MAX),
            intel: HashMap::new(),
            stats: GatewayStats::default(),
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> &GatewayStats {
        &self.stats
    }

    /// The whitelist learned or loaded.
    pub fn whitelist(&self) -> &Whitelist {
        &self.whitelist
    }

    /// Whether the gateway is on (`gateway.enabled`).
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Moves learning on to packet time `now`: starts it at the first call, ends it after
    /// `baseline.learning_secs`. Returns whether the baseline is learning.
    pub(crate) fn advance(&mut self, now: Timestamp) -> bool {
        if !self.baseline.enabled || self.whitelist.learning_ended.is_some() {
            return false;
        }
        let started = *self.whitelist.learning_started.get_or_insert(now);
        let secs = i64::try_from(self.baseline.learning_secs).unwrap_or(i64::MAX);
        if now.micros_since(started) >= secs.saturating_mul(1_000_000) {
            self.whitelist.learning_ended = Some(now);
            tracing::info!(
                entries = self.whitelist.len(),
                "baseline learning period over; the whitelist applies from now"
            );
            return false;
        }
        true
    }

    /// Whether the baseline is learning now.
    pub fn learning(&self) -> bool {
        self.baseline.enabled
            && self.whitelist.learning_started.is_some()
            && self.whitelist.learning_ended.is_none()
    }

    /// Records a DNS name looked up while learning.
    pub(crate) fn learn_domain(&mut self, name: &str) {
        let max = self.baseline.max_entries;
        self.whitelist.learn_domain(name, max, &mut self.known);
    }

    /// Records an ended flow while learning.
    pub(crate) fn learn_flow(&mut self, flow: &crate::flow::Flow, local: &LocalNetworks) {
        let max = self.baseline.max_entries;
        self.whitelist.learn_flow(flow, local, max, &mut self.known);
    }

    /// Decides about one alert at packet time `now`; when the answer is
    /// [`Admission::Write`] the alert has been enriched and carries its verdict.
    pub fn admit(
        &mut self,
        alert: &mut Alert,
        devices: Option<&DeviceInventory>,
        local: &LocalNetworks,
        now: Timestamp,
    ) -> Admission {
        self.stats.received += 1;
        if alert.detector == "threat_intel" {
            self.remember_intel(alert);
        }
        if let Some(rule) = self.rules.iter().find(|r| r.matches(alert, now)) {
            self.stats.suppressed_by_rules += 1;
            *self.stats.rule_hits.entry(rule.label.clone()).or_insert(0) += 1;
            return Admission::Suppressed;
        }

        let mut verdict = Verdict::new(alert.severity);
        if self.learning() {
            self.whitelist.learn_alert(alert, self.baseline.max_entries);
            verdict.add(
                "baseline_learning",
                -0.1,
                "the baseline is still learning what is normal on this network".into(),
            );
        } else if self.baseline.enabled
            && let Some(why) = self.whitelist.matches(alert)
        {
            match self.baseline.policy {
                WhitelistPolicy::Suppress => {
                    self.stats.whitelisted += 1;
                    self.record_recent(alert);
                    return Admission::Suppressed;
                }
                WhitelistPolicy::Downgrade => {
                    if let Some(lower) = lower(alert.severity) {
                        verdict.downgraded_from = Some(alert.severity);
                        alert.severity = lower;
                        self.stats.downgraded += 1;
                    }
                }
                WhitelistPolicy::Annotate => {}
            }
            verdict.add("baseline_match", -0.25, why.clone());
            verdict.baseline = Some(why);
        }

        let key = DedupKey {
            detector: alert.detector.clone(),
            src: alert.src_ip,
            dst: alert.dst_ip,
            dst_port: alert.dst_port,
            distinct: alert.distinct.clone(),
        };
        let closing = alert.evidence.get("phase").and_then(|p| p.as_str()) == Some("ended");
        let cooldown = i64::try_from(self.config.cooldown_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        let earlier = match self.dedup.get_mut(&key) {
            Some(e) => {
                let repeat = now.micros_since(e.last_written) < cooldown
                    && alert.severity <= e.severity
                    && (e.closed || !closing);
                if repeat {
                    e.repeats_since_written += 1;
                    e.total += 1;
                    self.stats.repeats += 1;
                    self.record_recent(alert);
                    return Admission::Repeat;
                }
                verdict.repeats_since_last = e.repeats_since_written;
                let total = e.total;
                e.total += 1;
                e.repeats_since_written = 0;
                e.last_written = now;
                e.severity = alert.severity;
                e.closed = closing;
                total
            }
            None => {
                if self.dedup.len() >= self.config.max_keys {
                    self.dedup
                        .retain(|_, e| now.micros_since(e.last_written) < cooldown);
                }
                if self.dedup.len() >= self.config.max_keys {
                    self.stats.dedup_table_full += 1;
                } else {
                    self.dedup.insert(
                        key,
                        DedupEntry {
                            last_written: now,
                            severity: alert.severity,
                            repeats_since_written: 0,
                            total: 1,
                            closed: closing,
                        },
                    );
                }
                0
            }
        };

        self.enrich(alert, devices, local);
        self.verify(alert, &mut verdict, earlier, devices, now);
        verdict.settle();
        alert.verdict = Some(Box::new(verdict));
        self.record_recent(alert);
        self.stats.written += 1;
        Admission::Write
    }

    fn remember_intel(&mut self, alert: &Alert) {
        let what = format!(
            "{}: {}",
            alert
                .evidence
                .get("feed")
                .and_then(|v| v.as_str())
                .unwrap_or("feed"),
            alert
                .evidence
                .get("indicator")
                .and_then(|v| v.as_str())
                .unwrap_or("indicator"),
        );
        for ip in [alert.src_ip, alert.dst_ip].into_iter().flatten() {
            if self.intel.len() >= INTEL_MAX && !self.intel.contains_key(&ip) {
                // Oldest-first is not tracked; forgetting everything keeps the bound simple
                // and costs only the enrichment of later alerts.
                self.intel.clear();
            }
            // Both ends are marked: the indicator and the local host that talked to it.
            self.intel.insert(ip, what.clone());
        }
    }

    fn record_recent(&mut self, alert: &Alert) {
        self.recent.push(Recent {
            ts: alert.timestamp,
            detector: alert.detector.clone(),
            src: alert.src_ip,
            dst: alert.dst_ip,
        });
    }

    fn enrich(&self, alert: &mut Alert, devices: Option<&DeviceInventory>, local: &LocalNetworks) {
        let intel_of = |ip: IpAddr| {
            if alert.detector == "threat_intel" {
                None
            } else {
                self.intel.get(&ip).map(String::as_str)
            }
        };
        let src = alert
            .src_ip
            .map(|ip| context::endpoint(ip, devices, local, intel_of(ip)));
        let dst = alert
            .dst_ip
            .map(|ip| context::endpoint(ip, devices, local, intel_of(ip)));
        let cx = alert.context.get_or_insert_default();
        cx.src = src;
        cx.dst = dst;
    }

    fn verify(
        &mut self,
        alert: &Alert,
        verdict: &mut Verdict,
        earlier: u64,
        devices: Option<&DeviceInventory>,
        now: Timestamp,
    ) {
        let window = i64::try_from(self.config.corroboration_window_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        self.recent.forget_older(now, window);
        // Other detectors' alerts from this alert's source, or between its two hosts
        // either way (the names are sorted and deduplicated: one found twice counts once).
        let (src, dst) = (alert.src_ip, alert.dst_ip);
        let mut others: Vec<&str> = self
            .recent
            .from(src)
            .filter(|r| src.is_some() || r.dst == dst)
            .chain(self.recent.from(dst).filter(|r| r.dst == src))
            .filter(|r| r.detector != alert.detector)
            .map(|r| r.detector.as_str())
            .collect();
        others.sort_unstable();
        others.dedup();
        if !others.is_empty() {
            let n = others.len().min(3);
            verdict.add(
                "corroboration",
                0.1 * n as f64,
                format!("also raised on these hosts by {}", others.join(", ")),
            );
        }
        if earlier > 0 {
            verdict.add(
                "repetition",
                0.05 * earlier.min(4) as f64,
                format!("raised {earlier} time(s) before between these hosts"),
            );
        }
        let cx = alert.context.as_deref();
        let intel = cx.and_then(|c| {
            [c.src.as_ref(), c.dst.as_ref()]
                .into_iter()
                .flatten()
                .find_map(|e| e.threat_intel.clone())
        });
        if let Some(what) = intel {
            verdict.add(
                "threat_intel",
                0.15,
                format!("an endpoint matched threat intelligence earlier ({what})"),
            );
        }
        let Some(inv) = devices else {
            return;
        };
        let scan_like = matches!(
            alert.detector.as_str(),
            "port_scan" | "host_sweep" | "tcp_anomaly" | "brute_force"
        );
        if let Some(d) = alert.src_ip.and_then(|ip| inv.by_ip(ip)) {
            let age = now.micros_since(d.first_seen) / 1_000_000;
            if age < NEW_DEVICE_SECS && inv.is_newcomer(d) {
                verdict.add(
                    "new_device",
                    0.1,
                    format!(
                        "the source device joined the network {age} s before (after the known devices settled)"
                    ),
                );
            }
            let infrastructure = matches!(
                alert.detector.as_str(),
                "port_scan"
                    | "host_sweep"
                    | "syn_flood"
                    | "udp_flood"
                    | "icmp_flood"
                    | "suspicious_dns"
                    | "dns_tunnel"
            );
            if infrastructure {
                let kind = crate::device::classify(d, inv.environment()).kind;
                if matches!(kind, DeviceKind::Gateway | DeviceKind::Router) {
                    verdict.add(
                        "source_role",
                        -0.1,
                        format!("the source is the network's {}", kind.as_str()),
                    );
                }
            }
        }
        if scan_like
            && let Some(d) = alert.dst_ip.and_then(|ip| inv.by_ip(ip))
            && !d.open_ports.is_empty()
        {
            verdict.add(
                "target_role",
                0.05,
                format!("the target answers {} service(s)", d.open_ports.len()),
            );
        }
    }
}

fn lower(s: Severity) -> Option<Severity> {
    match s {
        Severity::Info => None,
        Severity::Low => Some(Severity::Info),
        Severity::Medium => Some(Severity::Low),
        Severity::High => Some(Severity::Medium),
        Severity::Critical => Some(Severity::High),
    }
}

#[cfg(test)]
mod tests;
