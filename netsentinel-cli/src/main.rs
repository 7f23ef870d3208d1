//! `netsentinel`: the command-line front end. Presentation only: argument parsing, output
//! formatting and the progress bar; all analysis lives in `netsentinel-core`.
//!
//! Exit codes: 0 success, 2 error (bad input, unreadable file, bad configuration).

#[cfg(feature = "live")]
mod dashboard;
mod devices;
mod summary;
mod vault;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use netsentinel_core::datadir::DataDir;
use netsentinel_core::incident::{Incident, IncidentUpdate};
use netsentinel_core::{
    Alert, AlertSink, Engine, EngineConfig, EveSink, FileSource, JsonLinesSink, PacketSource,
    RawPacket, Recv, SinkError, SourceError, SourceStats,
};
use parking_lot::Mutex;

#[derive(Parser)]
#[command(
    name = "netsentinel",
    version,
    about = "Network monitoring and intrusion detection"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A readable summary, then the alerts.
    Text,
    /// NetSentinel JSON lines: alerts, flows, anomalies, summary.
    Json,
    /// Suricata-EVE-compatible JSON lines.
    Eve,
}

/// `netsentinel analyze`.
#[derive(clap::Args)]
struct AnalyzeArgs {
    /// The capture file.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write output to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Engine configuration (JSON).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Anomaly model from `netsentinel train`: `ml_anomaly` judges every window with
    /// it from the start (instead of learning first).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Add the credentials found to this vault (made by `netsentinel vault init`);
    /// passphrase from NETSENTINEL_VAULT_PASSPHRASE or a prompt.
    #[arg(long)]
    vault: Option<PathBuf>,
    /// Keep state in this data directory: start from its device inventory and
    /// whitelist, append alerts and incidents to its logs, save what was learned.
    /// Files are analysed without one unless told.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Threads to analyse on (0: one per core); default: `analysis_threads` in the
    /// configuration, one per core unless set. The output is the same on any number.
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse a pcap or pcapng file.
    Analyze(AnalyzeArgs),
    /// Analyse a capture and write one self-contained HTML page: bandwidth, protocols, top
    /// talkers, alert timeline, incidents, devices, alerts.
    Report {
        /// The capture file.
        file: PathBuf,
        /// The HTML file to write (replaced atomically).
        #[arg(long, short)]
        output: PathBuf,
        /// Engine configuration (JSON).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The learned baseline whitelist: list it, or remove entries that should not be in it.
    Whitelist {
        /// Remove this entry (as listed, e.g. `example.com` or `10.0.0.5:22/tcp`); repeatable.
        #[arg(long)]
        remove: Vec<String>,
        /// Data directory. Default: $NETSENTINEL_DATA_DIR, else ~/.netsentinel.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// The encrypted credential vault.
    Vault {
        #[command(subcommand)]
        action: vault::VaultAction,
    },
    /// Learn what normal traffic looks like from captures of it, for `analyze --model`.
    Train {
        /// Captures of normal traffic (pcap or pcapng).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the model (replaced atomically). Default: `models/ml_anomaly.json`
        /// in the data directory, where `monitor` and `analyze --data-dir` find it.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Engine configuration (JSON): local networks, `detectors.ml_anomaly` window and
        /// forest settings.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The devices on the network: vendor, addresses, names, type and why, from a capture
    /// file or a live capture.
    Devices {
        /// The capture file (or `--live IFACE`).
        #[arg(required_unless_present = "live")]
        file: Option<PathBuf>,
        /// Capture live from this interface instead (feature `live`).
        #[arg(long, conflicts_with = "file")]
        live: Option<String>,
        /// Seconds to capture live. Default 30.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = devices::DevicesFormat::Text)]
        format: devices::DevicesFormat,
        /// Write output to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Engine configuration (JSON): local networks, `devices` settings.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Keep the inventory in DIR/devices.json: start from it and save it back
        /// (atomically; a damaged file is moved aside, not overwritten). Live runs use
        /// $NETSENTINEL_DATA_DIR, else ~/.netsentinel, unless told; files only when told.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Threat-intelligence feeds.
    #[cfg(feature = "intel-update")]
    Intel {
        #[command(subcommand)]
        action: IntelAction,
    },
    /// List capture interfaces.
    #[cfg(feature = "live")]
    Interfaces,
    /// Capture live from an interface: a live dashboard in a terminal, or (with
    /// `--headless`, or when standard output is not a terminal) alerts as they happen.
    #[cfg(feature = "live")]
    Monitor {
        /// Interface name (see `netsentinel interfaces`); `any` captures on all.
        #[arg(long, short)]
        interface: String,
        /// BPF filter (tcpdump syntax).
        #[arg(long)]
        filter: Option<String>,
        /// Bytes captured per packet (default from the configuration: 65535).
        #[arg(long)]
        snaplen: Option<u32>,
        /// Do not put the interface in promiscuous mode.
        #[arg(long)]
        no_promisc: bool,
        /// Output format of the line stream: `eve` (the default with `--headless`), `json`,
        /// or `text` alerts (the default when standard output is not a terminal).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Write output to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Engine configuration (JSON).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
        /// Keep state in this data directory (devices, whitelist, model, alert and
        /// incident logs, diagnostics, incident captures in `captures/`). Default:
        /// $NETSENTINEL_DATA_DIR, else ~/.netsentinel.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Record every packet to rotating capture files in the data directory's
        /// `captures/` (sizes, times and count under `recording` in the configuration).
        #[arg(long)]
        record: bool,
        /// Minutes of packets that SIGUSR1 (`kill -USR1 PID`) or the dashboard's `s` key
        /// saves from the ring to `captures/last-NmIN-TIME.pcap`. Default 5.
        #[arg(long, default_value_t = 5)]
        save_minutes: u64,
        /// No dashboard: write alerts (or JSON/EVE lines, `--format`) to standard output or
        /// `--output`.
        #[arg(long)]
        headless: bool,
    },
}

#[cfg(feature = "intel-update")]
#[derive(Subcommand)]
enum IntelAction {
    /// Download the configured feeds that have a `url` (conditional requests; a failed
    /// download keeps the old file).
    Update {
        /// Engine configuration (JSON) listing the feeds.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[cfg(feature = "intel-update")]
fn intel_update(config: Option<&Path>) -> anyhow::Result<()> {
    use netsentinel_core::intel::update::{UpdateOutcome, update_feed};
    let config = load_config(config)?;
    let mut failed = 0;
    for feed in &config.detectors.threat_intel.feeds {
        match update_feed(feed) {
            Ok(UpdateOutcome::Updated(n)) => println!("{}: updated, {n} bytes", feed.name),
            Ok(UpdateOutcome::NotModified) => println!("{}: not modified", feed.name),
            Ok(UpdateOutcome::NoUrl) => println!("{}: no url, kept", feed.name),
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} feed(s) not updated");
    Ok(())
}

/// Diagnostics on standard error, warnings and up unless RUST_LOG says otherwise
/// (`RUST_LOG=netsentinel_core=debug` shows, for one, every anomaly window's score); with
/// `log_dir` (live monitoring), also information and up in daily files there, at most
/// `files_kept` of them.
fn init_logging(log_dir: Option<(&Path, usize)>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        );
    let mut problem = None;
    let file = log_dir.and_then(|(dir, kept)| {
        let appender = tracing_appender::rolling::RollingFileAppender::builder()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("netsentinel")
            .filename_suffix("log")
            .max_log_files(kept.max(1))
            .build(dir);
        match appender {
            Ok(a) => Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(a)
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
            ),
            Err(e) => {
                problem = Some(format!("{}: {e}; not logging to files", dir.display()));
                None
            }
        }
    });
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
    if let Some(p) = problem {
        tracing::warn!("{p}");
    }
}

/// The data directory a live monitor keeps its logs in, when it has one.
fn monitor_log_dir(command: &Command) -> Option<(PathBuf, usize)> {
    #[cfg(feature = "live")]
    if let Command::Monitor { data_dir, .. } = command {
        let root = data_dir
            .clone()
            .or_else(netsentinel_core::config::default_data_dir)?;
        let kept = EngineConfig::default().storage.log_files_kept;
        return Some((root.join("logs"), kept));
    }
    let _ = command;
    None
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_dir = monitor_log_dir(&cli.command);
    init_logging(log_dir.as_ref().map(|(d, k)| (d.as_path(), *k)));
    let result = match cli.command {
        Command::Analyze(args) => analyze(&args),
        Command::Whitelist { remove, data_dir } => whitelist(&remove, data_dir.as_deref()),
        Command::Report {
            file,
            output,
            config,
        } => report(&file, &output, config.as_deref()),
        Command::Vault { action } => vault::run(action),
        Command::Devices {
            file,
            live,
            seconds,
            format,
            output,
            config,
            data_dir,
        } => devices::run(
            devices::Input {
                file: file.as_deref(),
                live: live.as_deref(),
                seconds,
            },
            format,
            output.as_deref(),
            config.as_deref(),
            data_dir.as_deref(),
        ),
        Command::Train {
            files,
            model,
            config,
        } => train(&files, model.as_deref(), config.as_deref()),
        #[cfg(feature = "intel-update")]
        Command::Intel {
            action: IntelAction::Update { config },
        } => intel_update(config.as_deref()),
        #[cfg(feature = "live")]
        Command::Interfaces => live::interfaces(),
        #[cfg(feature = "live")]
        Command::Monitor {
            interface,
            filter,
            snaplen,
            no_promisc,
            format,
            output,
            config,
            seconds,
            data_dir,
            record,
            save_minutes,
            headless,
        } => live::monitor(
            &interface,
            live::CaptureOptions {
                filter,
                snaplen,
                no_promisc,
            },
            format,
            output.as_deref(),
            config.as_deref(),
            seconds,
            live::Keep {
                data_dir: data_dir.as_deref(),
                record,
                save_minutes,
                headless,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`netsentinel ... | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `--config FILE`, else the data directory's `config.json`: created with the defaults on
/// first use (said on standard error), read and validated after. If it cannot be
/// created (no writable home), the defaults are used with a warning.
fn load_config(path: Option<&Path>) -> anyhow::Result<EngineConfig> {
    if let Some(p) = path {
        return Ok(EngineConfig::from_json_file(p)?);
    }
    let Some(dir) = netsentinel_core::config::default_data_dir() else {
        return Ok(EngineConfig::default());
    };
    let file = dir.join("config.json");
    match EngineConfig::load_or_create(&file) {
        Ok((config, created)) => {
            if created {
                eprintln!(
                    "created {} with the default configuration (keys: docs/CONFIG.md)",
                    file.display()
                );
            }
            Ok(config)
        }
        Err(e @ netsentinel_core::config::ConfigError::Io { .. }) if !file.exists() => {
            eprintln!("warning: {e}; using the default configuration");
            Ok(EngineConfig::default())
        }
        Err(e) => Err(e.into()),
    }
}

fn open_output(path: Option<&Path>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout())),
    })
}

/// The sink for a format; text collects alerts to print after the summary.
fn make_sink(
    format: Format,
    out: Box<dyn Write + Send>,
    collected: &Arc<Mutex<TextReport>>,
) -> Box<dyn AlertSink> {
    match format {
        Format::Json => Box::new(JsonLinesSink::new(out)),
        Format::Eve => Box::new(EveSink::new(out)),
        Format::Text => Box::new(TextSink(Arc::clone(collected))),
    }
}

/// What the text summary lists after the run.
#[derive(Default)]
struct TextReport {
    alerts: Vec<Alert>,
    /// Final records only.
    incidents: Vec<Incident>,
}

struct TextSink(Arc<Mutex<TextReport>>);

impl AlertSink for TextSink {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.0.lock().alerts.push(alert.clone());
        Ok(())
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        if incident.update == IncidentUpdate::Closed {
            self.0.lock().incidents.push(incident.clone());
        }
        Ok(())
    }
}

/// Starts `builder` from the data directory's state and logs there, showing what had to
/// be repaired.
fn attach_data_dir(
    dir: &DataDir,
    builder: netsentinel_core::EngineBuilder,
    config: &EngineConfig,
) -> anyhow::Result<netsentinel_core::EngineBuilder> {
    let (builder, warnings) = dir.attach(builder, config)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(builder)
}

/// `netsentinel report`: runs the built-in detectors over `file` and writes the HTML page.
fn report(file: &Path, output: &Path, config: Option<&Path>) -> anyhow::Result<()> {
    let config = load_config(config)?;
    let collected = Arc::new(Mutex::new(TextReport::default()));
    let threads = config.analysis_threads;
    let mut engine = Engine::builder(config)
        .builtin_detectors()
        .sink(TextSink(Arc::clone(&collected)))
        .build()?;
    let mut source = ProgressSource::new(FileSource::open(file)?);
    let result = engine.run_parallel(&mut source, threads);
    source.finish();
    let summary = result?;
    let devices = engine.devices().report();
    let collected = collected.lock();
    let title = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let page = netsentinel_core::report::html(&netsentinel_core::report::ReportInput {
        title: &title,
        summary: &summary,
        alerts: &collected.alerts,
        incidents: &collected.incidents,
        devices: &devices,
    });
    netsentinel_core::fsutil::write_atomic(output, page.as_bytes(), false)
        .with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "{}: {} packets, {} alerts, {} incidents, {} devices",
        output.display(),
        summary.traffic.packets,
        collected.alerts.len(),
        collected.incidents.len(),
        devices.devices.len()
    );
    Ok(())
}

/// `netsentinel whitelist`: lists the learned whitelist after removing what was asked.
fn whitelist(remove: &[String], data_dir: Option<&Path>) -> anyhow::Result<()> {
    use netsentinel_core::gateway::Whitelist;
    let root = data_dir
        .map(Path::to_path_buf)
        .or_else(netsentinel_core::config::default_data_dir)
        .context("no data directory: give --data-dir")?;
    let path = root.join("whitelist.json");
    if !path.exists() {
        println!("{}: no whitelist learned yet", path.display());
        return Ok(());
    }
    let mut w = Whitelist::load(&path)?;
    if !remove.is_empty() {
        for entry in remove {
            if w.remove(entry) == 0 {
                anyhow::bail!("`{entry}` is not in {}", path.display());
            }
        }
        w.save(&path)?;
    }
    let state = match (w.learning_started, w.learning_ended) {
        (_, Some(end)) => format!("learned until {end}"),
        (Some(start), None) => format!("learning since {start}"),
        (None, None) => "not started".to_string(),
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{}: {} entries, {state}", path.display(), w.len())?;
    for (kind, text) in w.entries() {
        writeln!(out, "{kind:<18} {text}")?;
    }
    if w.not_kept > 0 {
        writeln!(
            out,
            "({} entries not kept: baseline.max_entries reached)",
            w.not_kept
        )?;
    }
    Ok(())
}

/// Shows a progress bar on stderr while a file is read (only when stderr is a terminal).
struct ProgressSource<S> {
    inner: S,
    bar: Option<ProgressBar>,
    packets: u64,
}

impl<S: PacketSource> ProgressSource<S> {
    fn new(inner: S) -> Self {
        let bar = match inner.progress() {
            Some((_, total)) if io::stderr().is_terminal() => {
                let bar = ProgressBar::new(total);
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
                ) {
                    bar.set_style(style);
                }
                Some(bar)
            }
            _ => None,
        };
        ProgressSource {
            inner,
            bar,
            packets: 0,
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl<S: PacketSource> PacketSource for ProgressSource<S> {
    fn next_packet(&mut self) -> Result<Recv<'_>, SourceError> {
        self.packets += 1;
        if self.packets.is_multiple_of(8192)
            && let (Some(bar), Some((done, _))) = (&self.bar, self.inner.progress())
        {
            bar.set_position(done);
            bar.set_message(format!("{} packets", self.packets));
        }
        self.inner.next_packet()
    }
    fn peek(&self, ahead: usize) -> Option<RawPacket<'_>> {
        self.inner.peek(ahead)
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn stats(&self) -> SourceStats {
        self.inner.stats()
    }
    fn progress(&self) -> Option<(u64, u64)> {
        self.inner.progress()
    }
}

fn analyze(args: &AnalyzeArgs) -> anyhow::Result<()> {
    let (file, format, output) = (&args.file, args.format, args.output.as_deref());
    let (model, vault_path) = (args.model.as_deref(), args.vault.as_deref());
    let mut config = load_config(args.config.as_deref())?;
    if let Some(model) = model {
        config.detectors.ml_anomaly.enabled = true;
        config.detectors.ml_anomaly.model_path = Some(model.to_path_buf());
    }
    let mut opened = vault_path.map(vault::open_existing).transpose()?;
    // With a vault, the credential detector also hands the full credentials over.
    let store = Arc::new(Mutex::new(Vec::new()));
    let source = FileSource::open(file)?;
    let mut out = open_output(output)?;
    let collected = Arc::new(Mutex::new(TextReport::default()));
    let sink_out: Box<dyn Write + Send> = if format == Format::Text {
        Box::new(io::sink())
    } else {
        out
    };
    let data_dir = args
        .data_dir
        .as_deref()
        .map(|d| DataDir::open(d, config.storage.clone()))
        .transpose()?;
    if let Some(dir) = &data_dir {
        if model.is_none() {
            dir.use_model(&mut config, false);
        }
        if config.ring.directory.is_none() {
            config.ring.directory = Some(dir.captures_dir());
            // Incident captures of a file need the ring, which files do not keep by default.
            if config.ring.mode == netsentinel_core::recording::RingMode::Live {
                config.ring.mode = netsentinel_core::recording::RingMode::Always;
            }
        }
    }
    let mut builder = Engine::builder(config.clone());
    builder = if opened.is_some() {
        builder.builtin_detectors_storing_credentials(store.clone())
    } else {
        builder.builtin_detectors()
    };
    if let Some(dir) = &data_dir {
        builder = attach_data_dir(dir, builder, &config)?;
    }
    let mut engine = builder
        .boxed_sink(make_sink(format, sink_out, &collected))
        .build()?;
    let mut source = ProgressSource::new(source);
    let threads = args.threads.unwrap_or(config.analysis_threads);
    let result = engine.run_parallel(&mut source, threads);
    source.finish();
    let summary = result?;
    if let Some(dir) = &data_dir {
        dir.save(&engine)?;
    }
    drop(engine);
    if let (Some(v), Some(path)) = (opened.as_mut(), vault_path) {
        let found: Vec<netsentinel_core::vault::VaultRecord> =
            store.lock().iter().map(Into::into).collect();
        v.append(&found)?;
        eprintln!(
            "{}: {} credential(s) added, {} in all",
            path.display(),
            found.len(),
            v.records().len()
        );
    }
    if format == Format::Text {
        out = open_output(output)?;
        let report = collected.lock();
        summary::write_text(
            &mut out,
            &file.display().to_string(),
            &summary,
            &report.alerts,
            &report.incidents,
        )?;
        out.flush()?;
    }
    Ok(())
}

fn train(
    files: &[PathBuf],
    model_path: Option<&Path>,
    config: Option<&Path>,
) -> anyhow::Result<()> {
    use netsentinel_core::detect::ml_anomaly::FeatureCollector;
    use netsentinel_core::ml::SavedModel;
    let config = load_config(config)?;
    let model_path = match model_path {
        Some(p) => p.to_path_buf(),
        None => {
            let root = netsentinel_core::config::default_data_dir()
                .context("no data directory for the model: give --model")?;
            DataDir::open(&root, config.storage.clone())?.model_file()
        }
    };
    let model_path = model_path.as_path();
    let mut windows = Vec::new();
    for file in files {
        let mut source = ProgressSource::new(FileSource::open(file)?);
        let result = FeatureCollector::collect(&mut source, &config);
        source.finish();
        let found = result?;
        println!("{}: {} windows", file.display(), found.len());
        windows.extend(found);
    }
    let model = SavedModel::train(&windows, &config.detectors.ml_anomaly.train_params())
        .with_context(|| format!("training on {} windows", windows.len()))?;
    model.save(model_path)?;
    println!(
        "{}: {} windows of {} s, {} hosts with a baseline, threshold {:.3}",
        model_path.display(),
        model.training_windows,
        model.window_secs,
        model.baselines.hosts(),
        model.threshold
    );
    Ok(())
}

#[cfg(feature = "live")]
mod live {
    use std::time::Duration;

    use netsentinel_core::source::{LiveSource, interfaces as list_interfaces};
    use netsentinel_core::{ConsoleSink, Engine};

    use super::*;

    pub fn interfaces() -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        for i in list_interfaces()? {
            let addrs: Vec<String> = i.addresses.iter().map(|a| a.to_string()).collect();
            writeln!(
                out,
                "{:<16} {:<4} {:<9} {}  {}",
                i.name,
                if i.up { "up" } else { "down" },
                if i.loopback { "loopback" } else { "" },
                addrs.join(","),
                i.description.unwrap_or_default()
            )?;
        }
        Ok(())
    }

    /// Capture settings given on the command line (they override the configuration).
    pub struct CaptureOptions {
        pub filter: Option<String>,
        pub snaplen: Option<u32>,
        pub no_promisc: bool,
    }

    /// What a live run keeps.
    pub struct Keep<'a> {
        /// The data directory asked for (else the default one).
        pub data_dir: Option<&'a Path>,
        /// Record every packet.
        pub record: bool,
        /// Minutes SIGUSR1 saves.
        pub save_minutes: u64,
        /// No dashboard.
        pub headless: bool,
    }

    /// On SIGUSR1, saves the last `minutes` of packets from the ring into `dir`.
    fn save_on_signal(
        handle: netsentinel_core::recording::RingHandle,
        dir: PathBuf,
        minutes: u64,
    ) -> anyhow::Result<()> {
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGUSR1])
            .context("installing the SIGUSR1 handler")?;
        std::thread::Builder::new()
            .name("netsentinel-save".into())
            .spawn(move || {
                for _ in signals.forever() {
                    let stamp = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let path = dir.join(format!("last-{minutes}min-{stamp}.pcap"));
                    match handle.save_last(minutes.saturating_mul(60), &path).recv() {
                        Ok(Ok(done)) => {
                            tracing::info!(file = %path.display(), packets = done.packets, "saved on SIGUSR1");
                            eprintln!("saved {} packets to {}", done.packets, path.display());
                        }
                        Ok(Err(e)) => eprintln!("warning: saving the last {minutes} min: {e}"),
                        Err(_) => return,
                    }
                }
            })
            .context("starting the save thread")?;
        Ok(())
    }

    pub fn monitor(
        interface: &str,
        options: CaptureOptions,
        format: Option<Format>,
        output: Option<&Path>,
        config: Option<&Path>,
        seconds: Option<u64>,
        keep: Keep<'_>,
    ) -> anyhow::Result<()> {
        let data_dir = keep.data_dir;
        let mut config = load_config(config)?;
        if options.filter.is_some() {
            config.capture.bpf_filter = options.filter;
        }
        if let Some(snaplen) = options.snaplen {
            config.capture.snaplen = snaplen;
        }
        if options.no_promisc {
            config.capture.promiscuous = false;
        }
        config.validate()?;
        let source = LiveSource::open(interface, &config.capture)?;
        let dashboard = !keep.headless && io::stdout().is_terminal();
        let format = format.unwrap_or(if keep.headless {
            Format::Eve
        } else {
            Format::Text
        });
        // With the dashboard on the terminal, the stream goes to --output only.
        let sink: Option<Box<dyn AlertSink>> = if dashboard && output.is_none() {
            None
        } else {
            let out = open_output(output)?;
            Some(match format {
                Format::Text => Box::new(ConsoleSink::new(out)),
                Format::Json => Box::new(JsonLinesSink::new(out)),
                Format::Eve => Box::new(EveSink::new(out)),
            })
        };
        // Live monitoring keeps what it learns: the default data directory unless told.
        let data_dir = data_dir
            .map(Path::to_path_buf)
            .or_else(netsentinel_core::config::default_data_dir)
            .map(|d| DataDir::open(&d, config.storage.clone()))
            .transpose()?;
        if let Some(dir) = &data_dir {
            // The anomaly model lives there too: start from it, save every refit.
            dir.use_model(&mut config, true);
            if config.ring.directory.is_none() {
                config.ring.directory = Some(dir.captures_dir());
            }
            if keep.record {
                config.recording.enabled = true;
                if config.recording.directory.is_none() {
                    config.recording.directory = Some(dir.captures_dir());
                }
            }
        }
        anyhow::ensure!(
            !keep.record || config.recording.directory.is_some(),
            "--record needs a data directory or `recording.directory` in the configuration"
        );
        let mut builder = Engine::builder(config.clone()).builtin_detectors();
        if let Some(dir) = &data_dir {
            builder = super::attach_data_dir(dir, builder, &config)?;
        }
        tracing::info!(interface, "monitoring started");
        if config.capture.identify_processes
            && let Some(resolver) = netsentinel_core::process::system_resolver()
        {
            builder = builder.process_resolver(resolver);
        }
        if let Some(sink) = sink {
            builder = builder.boxed_sink(sink);
        }
        let feed = Arc::new(Mutex::new(crate::dashboard::Feed::default()));
        if dashboard {
            builder = builder.sink(crate::dashboard::DashboardSink(Arc::clone(&feed)));
        }
        let mut engine = builder.build()?;
        let stop = engine.stop_handle();
        if let Some(secs) = seconds {
            let stop = stop.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(secs));
                stop.stop();
            });
        }
        let stop_on_ctrl_c = stop.clone();
        ctrlc::set_handler(move || stop_on_ctrl_c.stop())
            .context("installing the Ctrl-C handler")?;
        let save_dir = config
            .ring
            .directory
            .clone()
            .or_else(|| data_dir.as_ref().map(DataDir::captures_dir));
        if let Some(dir) = &save_dir {
            save_on_signal(engine.ring_handle(), dir.clone(), keep.save_minutes)?;
        }
        let (engine, summary) = if dashboard {
            let controls = crate::dashboard::Controls {
                snapshots: engine.snapshot_handle(),
                ring: engine.ring_handle(),
                stop: stop.clone(),
                save: save_dir.map(|d| (d, keep.save_minutes)),
                interface: interface.to_string(),
            };
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let finished = Arc::clone(&done);
            // The engine on its own thread; this one draws.
            let analysis = std::thread::Builder::new()
                .name("netsentinel-engine".into())
                .spawn(move || {
                    let result = engine.run_threaded(source);
                    finished.store(true, std::sync::atomic::Ordering::Release);
                    (engine, result)
                })
                .context("starting the engine thread")?;
            let shown = crate::dashboard::run(controls, feed, &|| {
                done.load(std::sync::atomic::Ordering::Acquire)
            });
            stop.stop();
            let (engine, result) = analysis
                .join()
                .map_err(|_| anyhow::anyhow!("the engine thread panicked"))?;
            shown.context("drawing the dashboard")?;
            (engine, result?)
        } else {
            let summary = engine.run_threaded(source)?;
            (engine, summary)
        };
        if let Some(dir) = &data_dir {
            dir.save(&engine)?;
        }
        eprintln!(
            "{} packets, {} flows, {} alerts, {} dropped by the kernel, {} dropped by the queue",
            summary.traffic.packets,
            summary.flows.created,
            summary.alerts,
            summary.source.dropped,
            summary.queue_drops
        );
        Ok(())
    }
}
