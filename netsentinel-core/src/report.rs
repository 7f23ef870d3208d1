//! A self-contained HTML report of a run: one page, charts drawn as inline SVG, no scripts
//! or styles fetched from anywhere, so it opens offline and can be mailed as one file.
//!
//! Sections: the run in figures; bandwidth over time (stacked inbound, outbound, internal,
//! other); protocol breakdown; top talkers; the alert timeline (one lane per severity); the
//! incidents; the devices; the alerts.

use std::fmt::Write as _;

use crate::alert::{Alert, Severity};
use crate::device::DeviceReport;
use crate::engine::RunSummary;
use crate::incident::Incident;

/// What the report shows.
pub struct ReportInput<'a> {
    /// A title, such as the capture's file name.
    pub title: &'a str,
    /// The run summary.
    pub summary: &'a RunSummary,
    /// Alerts written.
    pub alerts: &'a [Alert],
    /// Incidents (final records).
    pub incidents: &'a [Incident],
    /// The devices.
    pub devices: &'a DeviceReport,
}

/// Most alerts listed in the table, and drawn on the timeline.
const MAX_LISTED: usize = 1000;
const MAX_POINTS: usize = 5000;
const WIDTH: f64 = 960.0;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Info => "#8aa0b4",
        Severity::Low => "#4c9be8",
        Severity::Medium => "#e8a33c",
        Severity::High => "#e4572e",
        Severity::Critical => "#a4133c",
    }
}

/// Stacked bars of bytes per time bin.
fn bandwidth_chart(s: &RunSummary) -> String {
    let bw = &s.traffic.bandwidth;
    let height = 220.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="chart-bandwidth" viewBox="0 0 {WIDTH} {}" role="img" aria-label="bandwidth over time">"#,
        height + 30.0
    );
    let (Some(first), Some(last)) = (bw.first(), bw.last()) else {
        svg.push_str(r#"<text x="10" y="20">no traffic</text></svg>"#);
        return svg;
    };
    let span = (last.second - first.second + 1).max(1);
    let bins = span.min(300);
    let per_bin = (span + bins - 1) / bins;
    let bins = usize::try_from((span + per_bin - 1) / per_bin).unwrap_or(1);
    let mut totals = vec![[0u64; 4]; bins];
    for b in bw {
        let i = usize::try_from((b.second - first.second) / per_bin).unwrap_or(0);
        if let Some(t) = totals.get_mut(i) {
            t[0] += b.inbound.bytes;
            t[1] += b.outbound.bytes;
            t[2] += b.internal.bytes;
            t[3] += b.other.bytes;
        }
    }
    let max = totals
        .iter()
        .map(|t| t.iter().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let bar = WIDTH / bins as f64;
    let colors = ["#2a9d8f", "#e76f51", "#457b9d", "#b8b8b8"];
    for (i, t) in totals.iter().enumerate() {
        let mut y = height;
        for (k, v) in t.iter().enumerate() {
            if *v == 0 {
                continue;
            }
            let h = *v as f64 / max * (height - 10.0);
            y -= h;
            let _ = write!(
                svg,
                r#"<rect x="{:.2}" y="{y:.2}" width="{:.2}" height="{h:.2}" fill="{}"/>"#,
                i as f64 * bar,
                (bar - 0.5).max(0.5),
                colors[k]
            );
        }
    }
    let per = per_bin as f64;
    let _ = write!(
        svg,
        r##"<text x="4" y="12" class="axis">peak {}/s</text><text x="4" y="{:.0}" class="axis">{}</text><text x="{:.0}" y="{:.0}" class="axis" text-anchor="end">{}</text>"##,
        esc(&human_bytes(max / per)),
        height + 22.0,
        esc(&crate::time::Timestamp::from_secs_micros(first.second, 0).to_string()[..19]),
        WIDTH - 4.0,
        height + 22.0,
        esc(&crate::time::Timestamp::from_secs_micros(last.second, 0).to_string()[..19]),
    );
    svg.push_str("</svg>");
    let _ = write!(
        svg,
        r#"<p class="legend"><span style="color:{}">■</span> inbound <span style="color:{}">■</span> outbound <span style="color:{}">■</span> internal <span style="color:{}">■</span> other; {} s per bar</p>"#,
        colors[0], colors[1], colors[2], colors[3], per_bin
    );
    svg
}

/// Horizontal bars: (label, value, text).
fn bar_chart(id: &str, label: &str, rows: &[(String, f64, String)]) -> String {
    let row_h = 22.0;
    let height = (rows.len().max(1) as f64) * row_h + 4.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}">"#,
        esc(label)
    );
    if rows.is_empty() {
        svg.push_str(r#"<text x="10" y="16">none</text>"#);
    }
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1.0);
    for (i, (name, v, text)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 2.0;
        let w = v / max * (WIDTH - 520.0);
        let _ = write!(
            svg,
            r##"<text x="200" y="{:.1}" text-anchor="end">{}</text><rect x="210" y="{y:.1}" width="{w:.2}" height="{:.1}" fill="#457b9d"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            y + 15.0,
            esc(name),
            row_h - 6.0,
            215.0 + w,
            y + 15.0,
            esc(text)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn timeline_chart(s: &RunSummary, alerts: &[Alert]) -> String {
    let lanes = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];
    let lane_h = 26.0;
    let height = lanes.len() as f64 * lane_h + 10.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="chart-alerts" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="alert timeline">"#
    );
    let (first, last) = match (s.traffic.first_seen, s.traffic.last_seen) {
        (Some(f), Some(l)) => (f, l),
        _ => (
            alerts.first().map(|a| a.timestamp).unwrap_or_default(),
            alerts.last().map(|a| a.timestamp).unwrap_or_default(),
        ),
    };
    let span = last.micros_since(first).max(1) as f64;
    for (i, sev) in lanes.iter().enumerate() {
        let y = i as f64 * lane_h + 5.0;
        let _ = write!(
            svg,
            r##"<rect x="90" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#f3f4f6"/><text x="84" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - 100.0,
            lane_h - 4.0,
            y + 16.0,
            sev.as_str()
        );
    }
    for a in alerts.iter().take(MAX_POINTS) {
        let lane = lanes.iter().position(|l| *l == a.severity).unwrap_or(4);
        let x = 95.0 + a.timestamp.micros_since(first) as f64 / span * (WIDTH - 110.0);
        let y = lane as f64 * lane_h + 5.0 + (lane_h - 4.0) / 2.0;
        let _ = write!(
            svg,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{}"><title>{} {}: {}</title></circle>"#,
            severity_color(a.severity),
            esc(&a.timestamp.to_string()),
            esc(&a.detector),
            esc(&a.message)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The report as one HTML page.
///
/// ```
/// use netsentinel_core::report::{ReportInput, html};
/// use netsentinel_core::device::DeviceInventory;
/// use netsentinel_core::RunSummary;
/// let summary = RunSummary::default();
/// let devices = DeviceInventory::new(Default::default()).report();
/// let page = html(&ReportInput { title: "empty <run>", summary: &summary, alerts: &[], incidents: &[], devices: &devices });
/// assert!(page.starts_with("<!DOCTYPE html>") && page.contains("empty &lt;run&gt;"));
/// assert!(page.contains(r#"id="chart-bandwidth""#));
/// ```
pub fn html(input: &ReportInput<'_>) -> String {
    let s = input.summary;
    let t = &s.traffic;
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>NetSentinel report: {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #1f2933; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }}
.figures {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.figure {{ background: #f3f4f6; padding: 8px 14px; border-radius: 6px; }}
.figure b {{ display: block; font-size: 18px; }}
svg.chart {{ width: 100%; height: auto; font-size: 12px; }}
.axis {{ fill: #52606d; }} .legend {{ color: #52606d; margin: 2px 0; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ text-align: left; padding: 3px 6px; border-bottom: 1px solid #eee; vertical-align: top; }}
.sev-critical {{ color: #a4133c; font-weight: bold; }} .sev-high {{ color: #e4572e; font-weight: bold; }}
.sev-medium {{ color: #b7791f; }} .sev-low {{ color: #2b6cb0; }} .sev-info {{ color: #52606d; }}
</style></head><body>
<h1>NetSentinel report: {title}</h1>
"#,
        title = esc(input.title)
    );
    let time = match (t.first_seen, t.last_seen) {
        (Some(f), Some(l)) => format!("{f} .. {l}"),
        _ => "-".into(),
    };
    let _ = write!(
        out,
        r#"<p>{}</p><div class="figures">
<div class="figure"><b>{}</b>packets</div><div class="figure"><b>{}</b>on the wire</div>
<div class="figure"><b>{:.1} s</b>duration</div><div class="figure"><b>{}</b>flows</div>
<div class="figure"><b>{}</b>alerts</div><div class="figure"><b>{}</b>incidents</div>
<div class="figure"><b>{}</b>devices</div></div>
"#,
        esc(&time),
        t.packets,
        esc(&human_bytes(t.bytes as f64)),
        t.duration_secs,
        s.flows.created,
        s.alerts,
        input.incidents.len(),
        input.devices.devices.len()
    );

    out.push_str("<h2>Bandwidth over time</h2>\n");
    out.push_str(&bandwidth_chart(s));

    out.push_str("\n<h2>Protocols</h2>\n");
    let mut protocols: Vec<(String, f64, String)> = t
        .transport
        .iter()
        .map(|(name, c)| {
            (
                (*name).to_string(),
                c.bytes as f64,
                format!("{} packets, {}", c.packets, human_bytes(c.bytes as f64)),
            )
        })
        .collect();
    protocols.sort_by(|a, b| b.1.total_cmp(&a.1));
    out.push_str("<p class=\"legend\">Transport</p>\n");
    out.push_str(&bar_chart(
        "chart-protocols",
        "transport protocols",
        &protocols,
    ));
    out.push_str("<p class=\"legend\">Applications (by well-known port)</p>\n");
    let apps: Vec<(String, f64, String)> = t
        .applications
        .iter()
        .take(12)
        .map(|(name, c)| {
            (
                (*name).to_string(),
                c.bytes as f64,
                format!("{} packets, {}", c.packets, human_bytes(c.bytes as f64)),
            )
        })
        .collect();
    out.push_str(&bar_chart("chart-applications", "applications", &apps));

    out.push_str("\n<h2>Top talkers</h2>\n");
    let talkers: Vec<(String, f64, String)> = t
        .top_talkers
        .iter()
        .take(12)
        .map(|h| {
            let total = (h.bytes_sent + h.bytes_received) as f64;
            (
                h.ip.to_string(),
                total,
                format!(
                    "{} sent, {} received, {} flows",
                    human_bytes(h.bytes_sent as f64),
                    human_bytes(h.bytes_received as f64),
                    h.flows
                ),
            )
        })
        .collect();
    out.push_str(&bar_chart("chart-talkers", "top talkers", &talkers));

    out.push_str("\n<h2>Alert timeline</h2>\n");
    out.push_str(&timeline_chart(s, input.alerts));

    let _ = write!(out, "\n<h2>Incidents ({})</h2>\n", input.incidents.len());
    if input.incidents.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str("<table id=\"incidents\"><tr><th>#</th><th>severity</th><th>stage</th><th>alerts</th><th>first .. last seen</th><th>what happened</th></tr>\n");
        for i in input.incidents {
            let _ = writeln!(
                out,
                r#"<tr><td>{}</td><td class="sev-{}">{}</td><td>{}</td><td>{}</td><td>{} ..<br>{}</td><td>{}</td></tr>"#,
                i.id,
                i.severity.as_str(),
                i.severity.as_str(),
                i.stage.as_str(),
                i.alert_count,
                esc(&i.first_seen.to_string()),
                esc(&i.last_seen.to_string()),
                esc(&i.narrative)
            );
        }
        out.push_str("</table>\n");
    }

    let _ = write!(
        out,
        "\n<h2>Devices ({})</h2>\n<table id=\"devices\"><tr><th>MAC</th><th>vendor</th><th>addresses</th><th>name</th><th>type</th><th>confidence</th></tr>\n",
        input.devices.devices.len()
    );
    for d in &input.devices.devices {
        let addresses: Vec<String> = d
            .device
            .addresses
            .iter()
            .map(|a| a.ip.to_string())
            .take(4)
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0} %</td></tr>",
            esc(&crate::neighbor::mac_to_string(&d.device.mac)),
            esc(&d.device.vendor.to_string()),
            esc(&addresses.join(", ")),
            esc(d.name.as_deref().unwrap_or("")),
            d.classification.kind.as_str(),
            d.classification.confidence * 100.0
        );
    }
    out.push_str("</table>\n");

    let _ = write!(out, "\n<h2>Alerts ({})</h2>\n", input.alerts.len());
    if input.alerts.len() > MAX_LISTED {
        let _ = writeln!(out, "<p>The first {MAX_LISTED} are listed.</p>");
    }
    out.push_str("<table id=\"alerts\"><tr><th>time</th><th>severity</th><th>detector</th><th>source</th><th>destination</th><th>message</th></tr>\n");
    for a in input.alerts.iter().take(MAX_LISTED) {
        let end = |ip: Option<std::net::IpAddr>, port: Option<u16>| match (ip, port) {
            (Some(ip), Some(p)) if p != 0 => format!("{ip}:{p}"),
            (Some(ip), _) => ip.to_string(),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            r#"<tr><td>{}</td><td class="sev-{}">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&a.timestamp.to_string()),
            a.severity.as_str(),
            a.severity.as_str(),
            esc(&a.detector),
            esc(&end(a.src_ip, a.src_port)),
            esc(&end(a.dst_ip, a.dst_port)),
            esc(&a.message)
        );
    }
    out.push_str("</table>\n");
    // Optional: marks each chart with its laid-out size, so a headless browser can show
    // that the charts rendered. The page needs no script to be read.
    out.push_str(
        "<script>for (const s of document.querySelectorAll('svg.chart')) { const r = s.getBoundingClientRect(); s.dataset.rendered = Math.round(r.width) + 'x' + Math.round(r.height) + ':' + s.childElementCount; }</script>\n",
    );
    let _ = write!(
        out,
        "<p class=\"legend\">Made by NetSentinel {}.</p>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}
