//! The text report of `analyze`.

use std::io::{self, Write};

use netsentinel_core::alert::sinks::alert_line;
use netsentinel_core::incident::Incident;
use netsentinel_core::{Alert, RunSummary};

/// Bytes as B, KiB, MiB, ... with one decimal.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Writes the summary, then the alerts and the incidents (their final records).
pub fn write_text(
    out: &mut dyn Write,
    name: &str,
    s: &RunSummary,
    alerts: &[Alert],
    incidents: &[Incident],
) -> io::Result<()> {
    let t = &s.traffic;
    writeln!(out, "Capture   {name}")?;
    writeln!(
        out,
        "Packets   {}    Bytes {} ({})    Duration {:.3} s",
        t.packets,
        t.bytes,
        human_bytes(t.bytes),
        t.duration_secs
    )?;
    if let (Some(first), Some(last)) = (t.first_seen, t.last_seen) {
        writeln!(out, "Time      {first} .. {last}")?;
    }
    writeln!(
        out,
        "Flows     {} (timed out {}, reused {}, evicted {}, peak {} live)",
        s.flows.created, s.flows.timed_out, s.flows.reused, s.flows.evicted, s.flows.peak_active
    )?;
    if !t.bandwidth.is_empty() {
        let secs = t.duration_secs.max(1.0);
        let total = |f: fn(&netsentinel_core::traffic::BandwidthSecond) -> u64| -> u64 {
            t.bandwidth.iter().map(f).sum()
        };
        let peak = t
            .bandwidth
            .iter()
            .map(|b| b.inbound.bytes + b.outbound.bytes + b.internal.bytes + b.other.bytes)
            .max()
            .unwrap_or(0);
        writeln!(
            out,
            "Bandwidth avg {}/s in, {}/s out, {}/s internal; peak second {}",
            human_bytes((total(|b| b.inbound.bytes) as f64 / secs) as u64),
            human_bytes((total(|b| b.outbound.bytes) as f64 / secs) as u64),
            human_bytes((total(|b| b.internal.bytes) as f64 / secs) as u64),
            human_bytes(peak)
        )?;
    }
    if !s.devices_by_kind.is_empty() {
        let total: u64 = s.devices_by_kind.values().sum();
        let kinds: Vec<String> = s
            .devices_by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        writeln!(
            out,
            "Devices   {total} ({}; `netsentinel devices` lists them)",
            kinds.join(", ")
        )?;
    }
    let full: Vec<String> = s
        .tables
        .iter()
        .filter(|(_, t)| t.turned_away > 0)
        .map(|(name, t)| format!("{name} (cap {}: {} turned away)", t.capacity, t.turned_away))
        .collect();
    if !full.is_empty() {
        writeln!(out, "Full      {}", full.join(", "))?;
    }
    let c = &s.captures;
    if c.incident_captures > 0 || c.recording.is_some() {
        let recorded = c
            .recording
            .as_ref()
            .map(|r| {
                format!(
                    ", {} packets recorded in {} file(s)",
                    r.packets, r.files_started
                )
            })
            .unwrap_or_default();
        writeln!(
            out,
            "Captures  {} incident capture(s){recorded}",
            c.incident_captures
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Protocols")?;
    for (name, c) in t.network.iter().chain(t.transport.iter()) {
        writeln!(
            out,
            "  {name:<12} {:>10} pkts {:>6.1}%  {:>12}",
            c.packets,
            pct(c.packets, t.packets),
            human_bytes(c.bytes)
        )?;
    }
    if !t.applications.is_empty() {
        writeln!(out, "Applications (by well-known port)")?;
        for (name, c) in t.applications.iter().take(10) {
            writeln!(
                out,
                "  {name:<16} {:>10} pkts  {:>12}",
                c.packets,
                human_bytes(c.bytes)
            )?;
        }
    }
    if !t.top_talkers.is_empty() {
        writeln!(out)?;
        writeln!(out, "Top talkers")?;
        writeln!(
            out,
            "  {:<40} {:>12} {:>12} {:>7}",
            "host", "sent", "received", "flows"
        )?;
        for h in &t.top_talkers {
            writeln!(
                out,
                "  {:<40} {:>12} {:>12} {:>7}",
                h.ip.to_string(),
                human_bytes(h.bytes_sent),
                human_bytes(h.bytes_received),
                h.flows
            )?;
        }
    }
    if !t.top_ports.is_empty() {
        writeln!(out, "Top ports")?;
        for p in &t.top_ports {
            writeln!(
                out,
                "  {:>5}/{:<4} {:<16} {:>7} flows {:>12}",
                p.port,
                p.protocol.to_lowercase(),
                p.app.unwrap_or("-"),
                p.flows,
                human_bytes(p.bytes)
            )?;
        }
    }
    writeln!(out)?;
    let anomalies: u64 = t.decode_anomalies.values().sum();
    writeln!(out, "Decode anomalies: {anomalies}")?;
    for (name, n) in &t.decode_anomalies {
        writeln!(out, "  {name:<24} {n}")?;
    }
    writeln!(out)?;
    let g = &s.gateway;
    if g.received > 0 {
        writeln!(
            out,
            "Alerts: {} ({} raised: {} repeats counted, {} suppressed by rules, {} whitelisted, {} downgraded)",
            alerts.len(),
            g.received,
            g.repeats,
            g.suppressed_by_rules,
            g.whitelisted,
            g.downgraded
        )?;
    } else {
        writeln!(out, "Alerts: {}", alerts.len())?;
    }
    for a in alerts {
        let confidence = a
            .verdict
            .as_ref()
            .map(|v| format!("  [confidence {:.2}]", v.confidence))
            .unwrap_or_default();
        writeln!(out, "  {}{confidence}", alert_line(a))?;
    }
    if !incidents.is_empty() {
        writeln!(out)?;
        writeln!(out, "Incidents: {}", incidents.len())?;
        for i in incidents {
            writeln!(
                out,
                "  #{} {:<8} {:<20} {} alert(s), {} .. {}",
                i.id,
                i.severity.as_str().to_uppercase(),
                i.stage.as_str(),
                i.alert_count,
                i.first_seen,
                i.last_seen
            )?;
            writeln!(out, "     {}", i.narrative)?;
        }
    }
    Ok(())
}
