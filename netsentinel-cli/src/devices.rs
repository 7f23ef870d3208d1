//! `netsentinel devices`: the device inventory of a capture as a table or JSON.

use std::io::Write;
use std::path::Path;

use netsentinel_core::device::environment::HostView;
use netsentinel_core::device::{DeviceInventory, DeviceReport};
use netsentinel_core::{Engine, FileSource};

/// Output of `devices`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DevicesFormat {
    /// A table, then the network environment.
    Text,
    /// One JSON document: devices (with classification and reasons) and environment.
    Json,
}

/// Where packets come from.
pub struct Input<'a> {
    /// A capture file.
    pub file: Option<&'a Path>,
    /// Or a live interface (feature `live`).
    pub live: Option<&'a str>,
    /// How long to capture live.
    pub seconds: u64,
}

/// `netsentinel devices`: runs the engine (no detectors) over the input and prints the
/// inventory; with a data directory, starts from the saved one and saves it back.
pub fn run(
    input: Input<'_>,
    format: DevicesFormat,
    output: Option<&Path>,
    config: Option<&Path>,
    data_dir: Option<&Path>,
) -> anyhow::Result<()> {
    let config = super::load_config(config)?;
    // A live run keeps what it learns in the default data directory; a file is only
    // merged into an inventory when asked (an old capture should not rewrite it).
    let data_dir = data_dir.map(Path::to_path_buf).or_else(|| {
        input
            .live
            .and_then(|_| netsentinel_core::config::default_data_dir())
    });
    let store = data_dir.map(|d| d.join("devices.json"));
    let mut builder = Engine::builder(config.clone());
    if let Some(path) = &store {
        let (inventory, warning) = DeviceInventory::load_or_new(path, config.devices.clone())?;
        if let Some(w) = warning {
            eprintln!("warning: {w}");
        }
        builder = builder.device_inventory(inventory);
    }
    let mut engine = builder.build()?;
    let live_host = match (input.file, input.live) {
        (Some(file), _) => {
            let mut source = super::ProgressSource::new(FileSource::open(file)?);
            let result = engine.run_parallel(&mut source, config.analysis_threads);
            source.finish();
            result?;
            false
        }
        (None, Some(iface)) => {
            live(&mut engine, iface, &config, input.seconds)?;
            true
        }
        (None, None) => anyhow::bail!("give a capture file or --live IFACE"),
    };
    if let Some(path) = &store {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
        engine.devices().save(path)?;
    }
    let mut out = super::open_output(output)?;
    write(&mut out, &engine.devices().report(), format)?;
    if live_host && format == DevicesFormat::Text {
        let host = HostView::read();
        let gw: Vec<String> = host
            .default_gateways
            .iter()
            .map(|(iface, ip)| format!("{ip} ({iface})"))
            .collect();
        let dns: Vec<String> = host.dns_servers.iter().map(ToString::to_string).collect();
        writeln!(out, "this host's default gateways: {}", gw.join(", "))?;
        writeln!(out, "this host's DNS servers: {}", dns.join(", "))?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(feature = "live")]
fn live(
    engine: &mut Engine,
    iface: &str,
    config: &netsentinel_core::EngineConfig,
    seconds: u64,
) -> anyhow::Result<()> {
    let source = netsentinel_core::source::LiveSource::open(iface, &config.capture)?;
    let stop = engine.stop_handle();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(seconds));
        stop.stop();
    });
    engine.run_threaded(source)?;
    Ok(())
}

#[cfg(not(feature = "live"))]
fn live(
    _engine: &mut Engine,
    _iface: &str,
    _config: &netsentinel_core::EngineConfig,
    _seconds: u64,
) -> anyhow::Result<()> {
    anyhow::bail!("this netsentinel was built without live capture (feature `live`)")
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
        "{:<17}  {:<25}  {:<20}  {:<24}  {:<18}  {:<28}  {:>10}  {:>10}",
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
            "{:<17}  {:<25}  {:<20}  {:<24}  {:<18}  {:<28}  {:>10}  {:>10}",
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
        "subnets (DHCP, IPv6 router advertisements): {}",
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
