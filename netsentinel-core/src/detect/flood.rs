//! Shared machinery of the flood detectors: per-target packet rates in tumbling windows of
//! packet time, with an attack that starts when a window crosses the threshold and ends
//! after a quiet period. The target (victim) is the key, so spoofed random sources do not
//! spread the count, and the map of targets is bounded.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Severity};
use crate::detect::{Context, FastMap, FastSet};
use crate::neighbor::{Mac, mac_to_string};
use crate::time::Timestamp;

/// The per-detector defaults of a [`FloodConfig`].
pub trait FloodDefaults: Clone + std::fmt::Debug + PartialEq + Default {
    /// Default `rate_pps`.
    const RATE_PPS: u64;
    /// Default `min_flagged_ratio`, in thousandths.
    const FLAGGED_PERMILLE: u32;
}

/// Thresholds of a flood detector. The type parameter carries the detector's defaults of
/// `rate_pps` and `min_flagged_ratio`, so a partial configuration falls back to the right
/// ones: see `SynFloodConfig`, `IcmpFloodConfig`, `UdpFloodConfig`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, bound = "")]
pub struct FloodConfig<D: FloodDefaults> {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Packets per second to one target that make a flood (counted per window).
    pub rate_pps: u64,
    /// Length of a counting window, in milliseconds of packet time. Default 1000.
    pub window_ms: u64,
    /// Seconds without flood traffic after which the attack is reported as ended.
    /// Default 5.
    pub quiet_secs: u64,
    /// Most targets tracked at once; further targets are not tracked. Default 65,536.
    pub max_targets: usize,
    /// Distinct sources remembered per attack (beyond this they are only counted).
    /// Default 100,000.
    pub max_sources: usize,
    /// Share of a window's packets that must show the detector's signature (half-open SYN,
    /// unanswered datagram) for the window to count as a flood; 0 to not require it.
    pub min_flagged_ratio: f64,
    #[serde(skip)]
    defaults: std::marker::PhantomData<D>,
}

impl<D: FloodDefaults> Default for FloodConfig<D> {
    fn default() -> Self {
        FloodConfig {
            enabled: true,
            rate_pps: D::RATE_PPS,
            window_ms: 1000,
            quiet_secs: 5,
            max_targets: 65_536,
            max_sources: 100_000,
            min_flagged_ratio: f64::from(D::FLAGGED_PERMILLE) / 1000.0,
            defaults: std::marker::PhantomData,
        }
    }
}

/// The thresholds the tracker works with, whatever the detector's config type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FloodParams {
    rate_pps: u64,
    window_ms: u64,
    quiet_secs: u64,
    max_targets: usize,
    max_sources: usize,
    pub min_flagged_ratio: f64,
}

impl<D: FloodDefaults> From<&FloodConfig<D>> for FloodParams {
    fn from(c: &FloodConfig<D>) -> Self {
        FloodParams {
            rate_pps: c.rate_pps,
            window_ms: c.window_ms,
            quiet_secs: c.quiet_secs,
            max_targets: c.max_targets,
            max_sources: c.max_sources,
            min_flagged_ratio: c.min_flagged_ratio,
        }
    }
}

impl FloodParams {
    fn window_micros(&self) -> i64 {
        i64::try_from(self.window_ms.max(1).saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    fn threshold(&self) -> u64 {
        (self.rate_pps.saturating_mul(self.window_ms.max(1)) / 1000).max(1)
    }
}

/// A flood in progress or ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Attack {
    pub target: IpAddr,
    pub start: Timestamp,
    pub last_seen: Timestamp,
    pub packets: u64,
    /// Packets that matched the detector's extra condition (half-open, unanswered).
    pub flagged: u64,
    pub sources: FastSet<IpAddr>,
    pub sources_overflow: bool,
    pub peak_pps: u64,
    /// A source seen (for single-source floods: the attacker).
    pub first_source: IpAddr,
    pub target_port: Option<u16>,
    /// The source MAC of every packet, when they all share one (spoofed IPs, one sender).
    pub mac: Option<Mac>,
}

impl Attack {
    pub fn source_count(&self) -> String {
        let n = count(self.sources.len() as u64);
        if self.sources_overflow {
            format!("{n}+")
        } else {
            n
        }
    }

    /// The attacker when one source sent it all, else `None` (spoofed or distributed).
    pub fn single_source(&self) -> Option<IpAddr> {
        (self.sources.len() == 1 && !self.sources_overflow).then_some(self.first_source)
    }

    pub fn duration_secs(&self) -> f64 {
        self.last_seen.micros_since(self.start) as f64 / 1e6
    }
}

/// One MAC seen so far, or several.
#[derive(Clone, Copy, Debug, PartialEq)]
enum MacSeen {
    Nothing,
    One(Mac),
    Several,
}

impl MacSeen {
    fn add(&mut self, mac: Option<Mac>) {
        *self = match (*self, mac) {
            (MacSeen::Nothing, Some(m)) => MacSeen::One(m),
            (MacSeen::One(a), Some(m)) if a != m => MacSeen::Several,
            (MacSeen::One(a), None) => MacSeen::One(a),
            (s, _) => s,
        };
    }
    fn one(self) -> Option<Mac> {
        match self {
            MacSeen::One(m) => Some(m),
            _ => None,
        }
    }
}

struct TargetState {
    /// Distinct destination ports this window (counted up to `SCAN_PORTS + 1`).
    window_ports: FastSet<u16>,
    window_macs: MacSeen,
    attack_macs: MacSeen,
    window_start: Timestamp,
    window_packets: u64,
    window_flagged: u64,
    window_sources: FastSet<IpAddr>,
    attack: Option<Attack>,
}

/// Per-target rates and attacks.
pub(crate) struct FloodTracker {
    cfg: FloodParams,
    targets: FastMap<IpAddr, TargetState>,
    /// Targets not tracked because `max_targets` was reached.
    pub untracked: u64,
}

/// What an observation changed.
pub(crate) enum FloodEvent {
    None,
    /// The window crossed the threshold: an attack starts.
    Started(Attack),
}

/// Sources kept per window before an attack starts (enough to tell spoofed from single).
const WINDOW_SOURCES: usize = 4096;

/// One source hitting more distinct ports than this in a window is scanning, not
/// flooding: that is `port_scan`'s to report.
const SCAN_PORTS: usize = 32;

impl FloodTracker {
    pub fn new(cfg: FloodParams) -> Self {
        FloodTracker {
            cfg,
            targets: FastMap::default(),
            untracked: 0,
        }
    }

    /// How full the targets table is.
    pub fn usage(&self) -> super::TableUsage {
        super::TableUsage::new(
            "targets",
            self.targets.len(),
            self.cfg.max_targets,
            self.untracked,
        )
    }

    /// Counts one packet to `target`. `flagged` marks packets that show the attack's
    /// signature (half-open SYN, unanswered datagram); `require_flagged` is the share of
    /// flagged packets a window needs before it counts as a flood.
    pub fn observe(
        &mut self,
        now: Timestamp,
        target: IpAddr,
        source: IpAddr,
        mac: Option<Mac>,
        port: Option<u16>,
        flagged: bool,
    ) -> FloodEvent {
        let require_flagged = self.cfg.min_flagged_ratio;
        let window = self.cfg.window_micros();
        let threshold = self.cfg.threshold();
        let max_sources = self.cfg.max_sources;
        let len = self.targets.len();
        let st = match self.targets.get_mut(&target) {
            Some(st) => st,
            None if len < self.cfg.max_targets => {
                self.targets.entry(target).or_insert(TargetState {
                    window_ports: FastSet::default(),
                    window_macs: MacSeen::Nothing,
                    attack_macs: MacSeen::Nothing,
                    window_start: now,
                    window_packets: 0,
                    window_flagged: 0,
                    window_sources: FastSet::default(),
                    attack: None,
                })
            }
            None => {
                self.untracked += 1;
                return FloodEvent::None;
            }
        };
        if now.micros_since(st.window_start) >= window {
            if let Some(a) = &mut st.attack {
                let pps = st.window_packets.saturating_mul(1_000_000) / window.max(1) as u64;
                a.peak_pps = a.peak_pps.max(pps);
            }
            st.window_start = now;
            st.window_packets = 0;
            st.window_flagged = 0;
            st.window_sources.clear();
            st.window_macs = MacSeen::Nothing;
            st.window_ports.clear();
        }
        st.window_packets += 1;
        st.window_flagged += u64::from(flagged);
        st.window_macs.add(mac);
        if let Some(a) = &mut st.attack {
            st.attack_macs.add(mac);
            a.mac = st.attack_macs.one();
            a.packets += 1;
            a.flagged += u64::from(flagged);
            a.last_seen = now;
            if a.sources.len() < max_sources {
                a.sources.insert(source);
            } else if !a.sources_overflow && !a.sources.contains(&source) {
                // Once over, always over: a random-source flood would otherwise look up
                // every packet's source in the full set (a cache miss each).
                a.sources_overflow = true;
            }
            return FloodEvent::None;
        }
        if st.window_sources.len() < WINDOW_SOURCES {
            st.window_sources.insert(source);
        }
        if let Some(p) = port
            && st.window_ports.len() <= SCAN_PORTS
        {
            st.window_ports.insert(p);
        }
        let scanning = st.window_sources.len() == 1 && st.window_ports.len() > SCAN_PORTS;
        let enough = st.window_packets >= threshold
            && !scanning
            && st.window_flagged as f64 >= require_flagged * st.window_packets as f64;
        if !enough {
            return FloodEvent::None;
        }
        let elapsed = now.micros_since(st.window_start).max(1);
        let attack = Attack {
            target,
            start: st.window_start,
            last_seen: now,
            packets: st.window_packets,
            flagged: st.window_flagged,
            sources_overflow: st.window_sources.len() >= WINDOW_SOURCES,
            sources: std::mem::take(&mut st.window_sources),
            peak_pps: st.window_packets.saturating_mul(1_000_000) / elapsed as u64,
            first_source: source,
            target_port: port,
            mac: st.window_macs.one(),
        };
        st.attack_macs = st.window_macs;
        st.attack = Some(attack.clone());
        FloodEvent::Started(attack)
    }

    /// `n` packets counted as flagged turned out not to be (a SYN whose handshake
    /// completed, datagrams the target answered).
    pub fn unflag(&mut self, target: IpAddr, n: u64) {
        if let Some(st) = self.targets.get_mut(&target) {
            st.window_flagged = st.window_flagged.saturating_sub(n);
            if let Some(a) = &mut st.attack {
                a.flagged = a.flagged.saturating_sub(n);
            }
        }
    }

    /// Attacks quiet for `quiet_secs` at `now` end and are returned; idle targets are
    /// forgotten.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Attack> {
        let quiet =
            i64::try_from(self.cfg.quiet_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let window = self.cfg.window_micros();
        let mut ended = Vec::new();
        self.targets.retain(|_, st| {
            if let Some(a) = &st.attack {
                if now.micros_since(a.last_seen) >= quiet {
                    ended.extend(st.attack.take());
                }
                return st.attack.is_some() || now.micros_since(st.window_start) < 2 * window;
            }
            now.micros_since(st.window_start) < 2 * window
        });
        ended.sort_by_key(|a| (a.start, a.target));
        ended
    }

    /// Every attack still going, ended now (end of input).
    pub fn finish(&mut self) -> Vec<Attack> {
        let mut ended: Vec<Attack> = self
            .targets
            .values_mut()
            .filter_map(|st| st.attack.take())
            .collect();
        ended.sort_by_key(|a| (a.start, a.target));
        ended
    }
}

/// Thousands separators for counts in messages.
pub(crate) fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How a flood detector words its alerts.
pub(crate) struct FloodKind {
    pub detector: &'static str,
    /// "SYN flood", "ICMP flood", ...
    pub name: &'static str,
    /// What is counted: "SYNs", "echo requests", "datagrams".
    pub unit: &'static str,
    /// Name of the `flagged` share in evidence ("half_open_ratio", "unanswered_ratio").
    pub flagged_as: Option<&'static str>,
    pub mitre: &'static str,
}

/// The attacker: the only source address, or else the host behind the one source MAC
/// (spoofed addresses from one machine on the LAN), as ARP named it.
fn attacker(a: &Attack, cx: &Context<'_>) -> Option<IpAddr> {
    a.single_source()
        .or_else(|| a.mac.and_then(|m| cx.neighbors().ip_of(&m)).map(IpAddr::V4))
}

fn evidence(kind: &FloodKind, a: &Attack, alert: Alert) -> Alert {
    let mut alert = alert
        .with_evidence("packets", a.packets)
        .with_evidence("distinct_sources", a.source_count())
        .with_evidence("peak_pps", a.peak_pps)
        .with_evidence(
            "duration_secs",
            (a.duration_secs() * 1000.0).round() / 1000.0,
        )
        .with_evidence("spoofed_sources", a.single_source().is_none());
    if let Some(name) = kind.flagged_as {
        let ratio = a.flagged as f64 / a.packets.max(1) as f64;
        alert = alert.with_evidence(name, (ratio * 1000.0).round() / 1000.0);
    }
    if let Some(m) = a.mac {
        alert = alert.with_evidence("source_mac", mac_to_string(&m));
    }
    alert
}

/// The alert when a flood starts (`ended` false) or ends (quiet period, or end of input),
/// saying how big it was.
pub(crate) fn report(kind: &FloodKind, a: &Attack, ended: bool, cx: &mut Context<'_>) {
    let who = attacker(a, cx);
    let message = if ended {
        format!(
            "{} against {} ended: {} {} over {:.2} s from {} source(s), peak {}/s",
            kind.name,
            a.target,
            count(a.packets),
            kind.unit,
            a.duration_secs(),
            a.source_count(),
            count(a.peak_pps)
        )
    } else {
        format!(
            "{} against {}: {} {} in {:.2} s from {} source(s)",
            kind.name,
            a.target,
            count(a.packets),
            kind.unit,
            a.duration_secs(),
            a.source_count()
        )
    };
    let alert = Alert::new(
        cx.now(),
        kind.detector,
        Severity::High,
        "denial_of_service",
        message,
    )
    .with_mitre(kind.mitre)
    .with_endpoints(who, None, Some(a.target), a.target_port);
    let alert =
        evidence(kind, a, alert).with_evidence("phase", if ended { "ended" } else { "started" });
    cx.emit(alert);
}

impl FloodTracker {
    /// A detector's `on_tick`: reports the attacks that went quiet.
    pub fn report_quiet(&mut self, kind: &FloodKind, now: Timestamp, cx: &mut Context<'_>) {
        for a in self.tick(now) {
            report(kind, &a, true, cx);
        }
    }

    /// A detector's `on_finish`: reports every attack still going.
    pub fn report_all(&mut self, kind: &FloodKind, cx: &mut Context<'_>) {
        for a in self.finish() {
            report(kind, &a, true, cx);
        }
    }

    /// Reports the start of an attack, if the observation started one.
    pub fn report_started(kind: &FloodKind, event: FloodEvent, cx: &mut Context<'_>) {
        if let FloodEvent::Started(a) = event {
            report(kind, &a, false, cx);
        }
    }
}
