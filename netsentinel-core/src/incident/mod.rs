//! Incidents: related alerts grouped, their kill-chain stage tracked, escalations named.
//!
//! Every alert that passed the suppression rules reaches the [`Correlator`], written or
//! counted as a repeat. An alert belongs to its **subject**: the local host for command and
//! control and exfiltration (the host that is compromised), otherwise the source (the
//! attacker), or the destination when the source is unknown (a flood from spoofed
//! addresses). It joins the open incident of its subject; an alert without a source joins
//! an incident whose hosts include its destination; otherwise an alert of at least
//! `incidents.open_min_severity` opens a new incident. An incident closes after
//! `incidents.idle_secs` of packet time without alerts, and at the end of the input.
//!
//! Escalation chains, each named once per incident and target:
//!
//! | chain | when | severity at least |
//! |---|---|---|
//! | `reconnaissance_to_attack` | a scan or sweep, then brute force, spoofing or another attack on the same target | high |
//! | `attack_to_compromise` | an attack, then a successful login (credentials `accepted`) on the same target | critical |
//! | `threat_intel_to_exfiltration` | a threat-intelligence match, then exfiltration (data upload, sensitive data, DNS tunnel) from the same host | critical |
//! | `beaconing_to_exfiltration` | periodic beaconing, then exfiltration from the same host | high |
//!
//! Sinks receive an incident when it opens, each time it escalates (a new chain or a
//! higher severity) and when it closes ([`IncidentUpdate`]); the `id` stays the same.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Severity};
use crate::time::Timestamp;
use crate::traffic::LocalNetworks;

/// Settings of the incident correlator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentConfig {
    /// Correlate alerts into incidents. Default true.
    pub enabled: bool,
    /// Least severity of an alert that opens an incident (`info` to `critical`); weaker
    /// alerts only join open ones. Default `medium`.
    #[schemars(with = "String")]
    pub open_min_severity: Severity,
    /// Seconds of packet time without a new alert after which an incident closes.
    /// Default 1800.
    pub idle_secs: u64,
    /// Most incidents open at once; when full, the one idle longest is closed early
    /// (counted as `closed_early`). Default 10000.
    pub max_open: usize,
    /// Most alerts listed in one incident; further ones are counted. Default 50.
    pub max_alerts_listed: usize,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            enabled: true,
            open_min_severity: Severity::Medium,
            idle_secs: 1800,
            max_open: 10_000,
            max_alerts_listed: 50,
        }
    }
}

/// Kill-chain stage of an alert, in order of progress for the first five.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Something unusual, not placed on the chain (ML anomaly, new device).
    Anomaly,
    /// A weakness exposed (cleartext service or credentials) with no attack seen.
    Exposure,
    /// Scans and sweeps.
    Reconnaissance,
    /// Brute force, spoofing, rogue services: attempts to get in or in between.
    Attack,
    /// A successful login after an attack.
    Compromise,
    /// Beaconing, threat-intelligence contact, DNS tunnels and suspicious DNS.
    CommandAndControl,
    /// Data leaving.
    Exfiltration,
    /// Floods: denial of service.
    Impact,
}

impl Stage {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Anomaly => "anomaly",
            Stage::Exposure => "exposure",
            Stage::Reconnaissance => "reconnaissance",
            Stage::Attack => "attack",
            Stage::Compromise => "compromise",
            Stage::CommandAndControl => "command_and_control",
            Stage::Exfiltration => "exfiltration",
            Stage::Impact => "impact",
        }
    }

    /// The stage of an alert: by built-in detector id, else by its category.
    pub fn of(alert: &Alert) -> Stage {
        match alert.detector.as_str() {
            "port_scan" | "host_sweep" | "tcp_anomaly" => Stage::Reconnaissance,
            "brute_force" | "arp_spoof" => Stage::Attack,
            "device" if alert.severity >= Severity::High => Stage::Attack,
            "beaconing" | "threat_intel" | "suspicious_dns" | "dns_tunnel" => {
                Stage::CommandAndControl
            }
            "data_exfil" | "sensitive_data" => Stage::Exfiltration,
            "syn_flood" | "udp_flood" | "icmp_flood" => Stage::Impact,
            "insecure_service" | "plaintext_credentials" => Stage::Exposure,
            "ml_anomaly" | "device" => Stage::Anomaly,
            _ => match alert.category.as_str() {
                "reconnaissance" => Stage::Reconnaissance,
                "credential_access" | "brute_force" | "spoofing" => Stage::Attack,
                "command_and_control" => Stage::CommandAndControl,
                "exfiltration" => Stage::Exfiltration,
                "denial_of_service" => Stage::Impact,
                _ => Stage::Anomaly,
            },
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named escalation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainKind {
    /// Scan, then attack on the same target.
    ReconnaissanceToAttack,
    /// Attack, then successful login on the same target.
    AttackToCompromise,
    /// Threat-intelligence match, then exfiltration from the same host.
    ThreatIntelToExfiltration,
    /// Beaconing, then exfiltration from the same host.
    BeaconingToExfiltration,
}

impl ChainKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainKind::ReconnaissanceToAttack => "reconnaissance_to_attack",
            ChainKind::AttackToCompromise => "attack_to_compromise",
            ChainKind::ThreatIntelToExfiltration => "threat_intel_to_exfiltration",
            ChainKind::BeaconingToExfiltration => "beaconing_to_exfiltration",
        }
    }

    fn severity(self) -> Severity {
        match self {
            ChainKind::ReconnaissanceToAttack | ChainKind::BeaconingToExfiltration => {
                Severity::High
            }
            ChainKind::AttackToCompromise | ChainKind::ThreatIntelToExfiltration => {
                Severity::Critical
            }
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            ChainKind::ReconnaissanceToAttack => "reconnaissance then attack",
            ChainKind::AttackToCompromise => "attack then successful login",
            ChainKind::ThreatIntelToExfiltration => "threat-intelligence contact then exfiltration",
            ChainKind::BeaconingToExfiltration => "beaconing then exfiltration",
        }
    }
}

/// One escalation found in an incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// Which chain.
    pub chain: ChainKind,
    /// Packet time of the alert that completed it.
    pub at: Timestamp,
    /// Detector of the earlier step.
    pub from_detector: String,
    /// Detector of the later step.
    pub to_detector: String,
    /// The target (or the host data left from).
    pub target: Option<IpAddr>,
}

/// An alert as listed in an incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRef {
    /// Packet time.
    pub timestamp: Timestamp,
    /// Detector id.
    pub detector: String,
    /// Severity as written.
    pub severity: Severity,
    /// Kill-chain stage.
    pub stage: Stage,
    /// Source.
    pub src_ip: Option<IpAddr>,
    /// Destination.
    pub dst_ip: Option<IpAddr>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// The alert's message.
    pub message: String,
}

/// Why sinks are given an incident now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentUpdate {
    /// It was just opened.
    Opened,
    /// A new escalation chain, or its severity rose.
    Escalated,
    /// No alert for `incidents.idle_secs`, or the input ended: this is its final state.
    Closed,
}

/// Related alerts about one subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Number of the incident, from 1, unique within a run (with `first_seen` across runs).
    pub id: u64,
    /// Why this record was written.
    pub update: IncidentUpdate,
    /// Highest alert severity, raised by escalation chains.
    pub severity: Severity,
    /// The furthest kill-chain stage reached.
    pub stage: Stage,
    /// Stages in the order first reached.
    pub stages: Vec<Stage>,
    /// The attacker, or the affected host for command and control and exfiltration.
    pub subject: Option<IpAddr>,
    /// Other hosts involved (targets, peers), at most 64.
    pub hosts: BTreeSet<IpAddr>,
    /// Packet time of the first alert.
    pub first_seen: Timestamp,
    /// Packet time of the last alert.
    pub last_seen: Timestamp,
    /// Alerts that joined, repeats included.
    pub alert_count: u64,
    /// Detectors that contributed.
    pub detectors: BTreeSet<String>,
    /// Escalations, in order found.
    pub chains: Vec<Escalation>,
    /// One line a person can read.
    pub narrative: String,
    /// The written alerts, at most `incidents.max_alerts_listed`.
    pub alerts: Vec<AlertRef>,
    /// Written alerts not listed because of that bound.
    pub alerts_not_listed: u64,
    /// The capture of its packets written from the packet ring (`ring.directory`), once
    /// written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
}

/// What the correlator did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IncidentStats {
    /// Incidents opened.
    pub opened: u64,
    /// Escalation chains found.
    pub escalations: u64,
    /// Incidents closed early because `incidents.max_open` were open.
    pub closed_early: u64,
    /// Alerts below `open_min_severity` that matched no open incident.
    pub uncorrelated: u64,
}

/// One step kept for chain checks.
struct Step {
    stage: Stage,
    detector: String,
    dst: Option<IpAddr>,
}

const MAX_HOSTS: usize = 64;
const MAX_STEPS: usize = 64;

struct Open {
    incident: Incident,
    steps: Vec<Step>,
    /// Opened by an alert without a source: the subject is the victim.
    victim_keyed: bool,
    /// Attackers of a victim-keyed incident, also keys of `by_subject`.
    aliases: Vec<IpAddr>,
}

/// Groups alerts into incidents (see the [module](self) documentation).
///
/// ```
/// use netsentinel_core::incident::{ChainKind, Correlator, IncidentConfig};
/// use netsentinel_core::{Alert, Severity, Timestamp, TrafficConfig};
/// use netsentinel_core::traffic::LocalNetworks;
///
/// let local = LocalNetworks::new(&TrafficConfig::default().local_networks);
/// let mut correlator = Correlator::new(IncidentConfig::default());
/// let (attacker, target) = ("10.0.0.66".parse().ok(), "10.0.0.10".parse().ok());
/// let scan = Alert::new(Timestamp::from_secs_micros(0, 0), "port_scan", Severity::Medium, "reconnaissance", "scan")
///     .with_endpoints(attacker, None, target, None);
/// let brute = Alert::new(Timestamp::from_secs_micros(60, 0), "brute_force", Severity::Medium, "credential_access", "ssh")
///     .with_endpoints(attacker, None, target, Some(22));
/// correlator.observe(&scan, true, &local);
/// let update = correlator.observe(&brute, true, &local).unwrap();
/// assert_eq!(update.chains[0].chain, ChainKind::ReconnaissanceToAttack);
/// assert_eq!(update.severity, Severity::High);
/// ```
pub struct Correlator {
    config: IncidentConfig,
    open: HashMap<u64, Open>,
    by_subject: HashMap<IpAddr, u64>,
    /// Closed for room, not yet handed out.
    closed_early: Vec<Incident>,
    next_id: u64,
    stats: IncidentStats,
}

impl Correlator {
    /// A correlator with no incidents.
    pub fn new(config: IncidentConfig) -> Self {
        Correlator {
            config,
            open: HashMap::new(),
            by_subject: HashMap::new(),
            closed_early: Vec::new(),
            next_id: 1,
            stats: IncidentStats::default(),
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> &IncidentStats {
        &self.stats
    }

    /// Records the capture file of an open incident; false when it is no longer open.
    pub fn set_capture(&mut self, id: u64, capture: String) -> bool {
        match self.open.get_mut(&id) {
            Some(o) => {
                o.incident.capture = Some(capture);
                true
            }
            None => false,
        }
    }

    /// Incidents open now.
    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values().map(|o| &o.incident)
    }

    /// Takes one alert (`written`: it went to the sinks; false for a repeat). Returns the
    /// incident when it was opened or escalated by this alert, for the sinks.
    pub fn observe(
        &mut self,
        alert: &Alert,
        written: bool,
        local: &LocalNetworks,
    ) -> Option<Incident> {
        if !self.config.enabled {
            return None;
        }
        let stage = Stage::of(alert);
        let subject = subject(alert, stage, local);
        let found = subject
            .and_then(|s| self.by_subject.get(&s).copied())
            .or_else(|| {
                // An attack on the victim of an incident opened without a known source (a
                // spoofed flood), or an alert without a source on a host an incident
                // already involves.
                let dst = alert.dst_ip?;
                let no_source = alert.src_ip.is_none();
                self.open
                    .iter()
                    .filter(|(_, o)| {
                        (o.victim_keyed && o.incident.subject == Some(dst))
                            || (no_source
                                && (o.incident.hosts.contains(&dst)
                                    || o.incident.subject == Some(dst)))
                    })
                    // Ties to the newest incident, not to the hash order: a run must give
                    // the same incidents every time.
                    .max_by_key(|(id, o)| (o.incident.last_seen, **id))
                    .map(|(id, _)| *id)
            });
        if let (Some(id), Some(src)) = (found, alert.src_ip)
            && let Some(o) = self.open.get_mut(&id)
            && o.victim_keyed
            && !self.by_subject.contains_key(&src)
            && o.aliases.len() < MAX_HOSTS
        {
            // The attacker of a victim's incident is now known: its next alerts join it.
            self.by_subject.insert(src, id);
            o.aliases.push(src);
        }
        let (id, opened) = match found {
            Some(id) => (id, false),
            None => {
                if alert.severity < self.config.open_min_severity {
                    self.stats.uncorrelated += 1;
                    return None;
                }
                let victim_keyed = alert.src_ip.is_none()
                    && !matches!(stage, Stage::CommandAndControl | Stage::Exfiltration);
                (
                    self.open_incident(alert, stage, subject, victim_keyed),
                    true,
                )
            }
        };
        let max_listed = self.config.max_alerts_listed;
        let o = self.open.get_mut(&id)?;
        let before = (o.incident.severity, o.incident.chains.len());
        let new_chains = o.add(alert, stage, written, max_listed);
        self.stats.escalations += new_chains as u64;
        let o = self.open.get(&id)?;
        if opened {
            let mut snapshot = o.incident.clone();
            snapshot.update = IncidentUpdate::Opened;
            Some(snapshot)
        } else if (o.incident.severity, o.incident.chains.len()) != before {
            let mut snapshot = o.incident.clone();
            snapshot.update = IncidentUpdate::Escalated;
            Some(snapshot)
        } else {
            None
        }
    }

    fn open_incident(
        &mut self,
        alert: &Alert,
        stage: Stage,
        subject: Option<IpAddr>,
        victim_keyed: bool,
    ) -> u64 {
        if self.open.len() >= self.config.max_open.max(1)
            && let Some(oldest) = self
                .open
                .iter()
                .min_by_key(|(id, o)| (o.incident.last_seen, **id))
                .map(|(id, _)| *id)
        {
            // Its final record goes out with the next `close_idle` or `close_all`.
            self.stats.closed_early += 1;
            if let Some(o) = self.remove(oldest) {
                self.closed_early.push(o);
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.stats.opened += 1;
        let incident = Incident {
            id,
            update: IncidentUpdate::Opened,
            severity: alert.severity,
            stage,
            stages: Vec::new(),
            subject,
            hosts: BTreeSet::new(),
            first_seen: alert.timestamp,
            last_seen: alert.timestamp,
            alert_count: 0,
            detectors: BTreeSet::new(),
            chains: Vec::new(),
            narrative: String::new(),
            alerts: Vec::new(),
            alerts_not_listed: 0,
            capture: None,
        };
        if let Some(s) = subject {
            self.by_subject.insert(s, id);
        }
        self.open.insert(
            id,
            Open {
                incident,
                steps: Vec::new(),
                victim_keyed,
                aliases: Vec::new(),
            },
        );
        id
    }

    fn remove(&mut self, id: u64) -> Option<Incident> {
        let o = self.open.remove(&id)?;
        for ip in o.incident.subject.iter().chain(&o.aliases) {
            if self.by_subject.get(ip) == Some(&id) {
                self.by_subject.remove(ip);
            }
        }
        let mut incident = o.incident;
        incident.update = IncidentUpdate::Closed;
        Some(incident)
    }

    /// Closes incidents idle for `incidents.idle_secs` at packet time `now` (and those
    /// closed early for room), oldest first.
    pub fn close_idle(&mut self, now: Timestamp) -> Vec<Incident> {
        let idle = i64::try_from(self.config.idle_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        let mut ids: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, o)| now.micros_since(o.incident.last_seen) >= idle)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        let mut out = std::mem::take(&mut self.closed_early);
        out.extend(ids.into_iter().filter_map(|id| self.remove(id)));
        out
    }

    /// Closes every open incident (the input ended), by id.
    pub fn close_all(&mut self) -> Vec<Incident> {
        let mut ids: Vec<u64> = self.open.keys().copied().collect();
        ids.sort_unstable();
        let mut out = std::mem::take(&mut self.closed_early);
        out.extend(ids.into_iter().filter_map(|id| self.remove(id)));
        out
    }
}

/// Whose incident an alert belongs to.
fn subject(alert: &Alert, stage: Stage, local: &LocalNetworks) -> Option<IpAddr> {
    if matches!(stage, Stage::CommandAndControl | Stage::Exfiltration) {
        let local_end = [alert.src_ip, alert.dst_ip]
            .into_iter()
            .flatten()
            .find(|ip| local.contains(*ip));
        if local_end.is_some() {
            return local_end;
        }
    }
    alert.src_ip.or(alert.dst_ip)
}

/// Whether an alert reports a successful login.
fn login_succeeded(alert: &Alert) -> bool {
    let ev = &alert.evidence;
    ev.get("outcome")
        .and_then(|v| v.as_str())
        .is_some_and(|o| matches!(o, "accepted" | "success" | "succeeded"))
        || ev.get("succeeded").and_then(|v| v.as_bool()) == Some(true)
}

fn exfiltration_capable(alert: &Alert) -> bool {
    matches!(
        alert.detector.as_str(),
        "data_exfil" | "sensitive_data" | "dns_tunnel"
    ) || alert.category == "exfiltration"
}

impl Open {
    /// Adds an alert; returns how many new chains it completed.
    fn add(&mut self, alert: &Alert, stage: Stage, written: bool, max_listed: usize) -> usize {
        let inc = &mut self.incident;
        inc.alert_count += 1;
        inc.last_seen = inc.last_seen.max(alert.timestamp);
        inc.first_seen = inc.first_seen.min(alert.timestamp);
        inc.detectors.insert(alert.detector.clone());
        for ip in [alert.src_ip, alert.dst_ip].into_iter().flatten() {
            if Some(ip) != inc.subject && inc.hosts.len() < MAX_HOSTS {
                inc.hosts.insert(ip);
            }
        }
        if written {
            if inc.alerts.len() < max_listed {
                inc.alerts.push(AlertRef {
                    timestamp: alert.timestamp,
                    detector: alert.detector.clone(),
                    severity: alert.severity,
                    stage,
                    src_ip: alert.src_ip,
                    dst_ip: alert.dst_ip,
                    dst_port: alert.dst_port,
                    message: alert.message.clone(),
                });
            } else {
                inc.alerts_not_listed += 1;
            }
            inc.severity = inc.severity.max(alert.severity);
        }

        // Chains: this alert as the later step of an earlier one.
        let mut found: Vec<(ChainKind, String)> = Vec::new();
        let dst = alert.dst_ip;
        let same_target = |s: &Step| s.dst.is_none() || s.dst == dst;
        if stage == Stage::Attack
            && let Some(s) = self
                .steps
                .iter()
                .find(|s| s.stage == Stage::Reconnaissance && same_target(s))
        {
            found.push((ChainKind::ReconnaissanceToAttack, s.detector.clone()));
        }
        if login_succeeded(alert)
            && let Some(s) = self
                .steps
                .iter()
                .find(|s| s.stage == Stage::Attack && s.dst == dst)
        {
            found.push((ChainKind::AttackToCompromise, s.detector.clone()));
        }
        if exfiltration_capable(alert) {
            if let Some(s) = self.steps.iter().find(|s| s.detector == "threat_intel") {
                found.push((ChainKind::ThreatIntelToExfiltration, s.detector.clone()));
            }
            if let Some(s) = self.steps.iter().find(|s| s.detector == "beaconing") {
                found.push((ChainKind::BeaconingToExfiltration, s.detector.clone()));
            }
        }
        let target = if matches!(
            found.first().map(|f| f.0),
            Some(ChainKind::ThreatIntelToExfiltration | ChainKind::BeaconingToExfiltration)
        ) {
            inc.subject
        } else {
            dst
        };
        let mut added = 0;
        for (chain, from) in found {
            if inc
                .chains
                .iter()
                .any(|c| c.chain == chain && c.target == target)
            {
                continue;
            }
            inc.chains.push(Escalation {
                chain,
                at: alert.timestamp,
                from_detector: from,
                to_detector: alert.detector.clone(),
                target,
            });
            inc.severity = inc.severity.max(chain.severity());
            added += 1;
        }

        let effective = if inc
            .chains
            .iter()
            .any(|c| c.chain == ChainKind::AttackToCompromise && c.at == alert.timestamp)
        {
            Stage::Compromise
        } else {
            stage
        };
        if !inc.stages.contains(&effective) {
            inc.stages.push(effective);
        }
        inc.stage = furthest(&inc.stages);
        if self.steps.len() < MAX_STEPS
            && !self
                .steps
                .iter()
                .any(|s| s.stage == effective && s.detector == alert.detector && s.dst == dst)
        {
            self.steps.push(Step {
                stage: effective,
                detector: alert.detector.clone(),
                dst,
            });
        }
        inc.narrative = narrative(inc, &self.steps);
        added
    }
}

/// The furthest stage on the chain (impact and the off-chain stages rank below the chain's
/// later steps only when nothing on the chain was reached).
fn furthest(stages: &[Stage]) -> Stage {
    let on_chain = stages
        .iter()
        .copied()
        .filter(|s| {
            matches!(
                s,
                Stage::Reconnaissance
                    | Stage::Attack
                    | Stage::Compromise
                    | Stage::CommandAndControl
                    | Stage::Exfiltration
            )
        })
        .max();
    on_chain
        .or_else(|| stages.iter().copied().max())
        .unwrap_or(Stage::Anomaly)
}

fn narrative(inc: &Incident, steps: &[Step]) -> String {
    let who = inc
        .subject
        .map_or_else(|| "unknown source".to_string(), |s| s.to_string());
    let mut parts: Vec<String> = Vec::new();
    for stage in &inc.stages {
        let mut detectors: Vec<&str> = Vec::new();
        let mut targets: Vec<String> = Vec::new();
        for s in steps.iter().filter(|s| s.stage == *stage) {
            if !detectors.contains(&s.detector.as_str()) {
                detectors.push(&s.detector);
            }
            if let Some(d) = s.dst
                && Some(d) != inc.subject
            {
                let d = d.to_string();
                if !targets.contains(&d) && targets.len() < 3 {
                    targets.push(d);
                }
            }
        }
        let mut part = format!("{stage} ({})", detectors.join(", "));
        if !targets.is_empty() {
            part.push_str(&format!(" on {}", targets.join(", ")));
        }
        parts.push(part);
    }
    let mut line = format!("{who}: {}", parts.join(" -> "));
    if !inc.chains.is_empty() {
        let chains: Vec<String> = inc
            .chains
            .iter()
            .map(|c| match c.target {
                Some(t) => format!("{} ({t})", c.chain.phrase()),
                None => c.chain.phrase().to_string(),
            })
            .collect();
        line.push_str(&format!("; escalation: {}", chains.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests;
