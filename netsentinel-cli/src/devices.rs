//! `netsentinel devices`: the device inventory of a capture as a table or JSON.

use std::io::Write;
use std::path::Path;

use netsentinel_core::device::DeviceReport;
use netsentinel_core::{Engine, FileSource};

/// Output of `devices`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DevicesFormat {
    /// A table, then the network environment.
    Text,
    /// One JSON document: devices (with classification and reasons) and environment.
    Json,
}

/// Reads `file` through the engine (no detectors) and returns its device report.
pub fn inventory(file: &Path, config: Option<&Path>) -> anyhow::Result<DeviceReport> {
    let config = super::load_config(config)?;
    let mut engine = Engine::builder(config).build()?;
    let mut source = super::ProgressSource::new(FileSource::open(file)?);
    let result = engine.run(&mut source);
    source.finish();
    result?;
    Ok(engine.devices().report())
}

/// Writes the report.
pub fn write(
    out: &mut dyn Write,
    report: &DeviceReport,
    format: DevicesFormat,
) -> anyhow::Result<()> {
    if format == DevicesFormat::Json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<17}  {:<15}  {:<20}  {:<24}  {:<18}  {:<28}  {:>10}  {:>10}",
        "MAC", "IP", "NAME", "VENDOR", "TYPE", "OS (TTL)", "SENT", "RECEIVED"
    )?;
    for r in &report.devices {
        let d = &r.device;
        let ip = d
            .current_ip()
            .map(|i| i.to_string())
            .unwrap_or_else(|| "-".into());
        let kind = format!(
            "{} {:.0}%",
            r.classification.kind.as_str(),
            r.classification.confidence * 100.0
        );
        writeln!(
            out,
            "{:<17}  {:<15}  {:<20}  {:<24}  {:<18}  {:<28}  {:>10}  {:>10}",
            netsentinel_core::neighbor::mac_to_string(&d.mac),
            ip,
            clip(r.name.as_deref().unwrap_or("-"), 20),
            clip(&d.vendor.to_string(), 24),
            kind,
            clip(r.os_family.unwrap_or("-"), 28),
            d.bytes_out,
            d.bytes_in,
        )?;
        if !r.classification.reasons.is_empty() {
            writeln!(
                out,
                "{:>19}why: {}",
                "",
                r.classification.reasons.join("; ")
            )?;
        }
        if !d.open_ports.is_empty() {
            let ports: Vec<String> = d
                .open_ports
                .iter()
                .map(|p| format!("{}/{}", p.port, p.protocol))
                .collect();
            writeln!(out, "{:>19}answers: {}", "", ports.join(" "))?;
        }
    }
    let env = &report.environment;
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    writeln!(out)?;
    writeln!(
        out,
        "devices: {}{}",
        report.devices.len(),
        if report.untracked > 0 {
            format!(" ({} more not tracked)", report.untracked)
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "gateways: {}",
        list(report.gateways.iter().map(ToString::to_string).collect())
    )?;
    writeln!(
        out,
        "routers named by DHCP: {}",
        list(env.dhcp_routers.iter().map(ToString::to_string).collect())
    )?;
    writeln!(
        out,
        "DNS servers: {}",
        list(env.dns_servers.iter().map(ToString::to_string).collect())
    )?;
    writeln!(
        out,
        "DHCP servers: {}",
        list(env.dhcp_servers.iter().map(ToString::to_string).collect())
    )?;
    writeln!(
        out,
        "subnets from DHCP: {}",
        list(env.subnets.iter().cloned().collect())
    )?;
    Ok(())
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}
