//! The data directory: what NetSentinel keeps between runs.
//!
//! ```text
//! ~/.netsentinel/            ($NETSENTINEL_DATA_DIR, or --data-dir)
//!   config.json              configuration (created with the defaults on first run)
//!   devices.json             device inventory            (versioned, atomic rewrite)
//!   whitelist.json           learned baseline whitelist  (versioned, atomic rewrite)
//!   models/ml_anomaly.json   the anomaly model: forest and per-host baselines
//!                            (versioned, atomic rewrite; `netsentinel train` writes it,
//!                            `monitor` loads it and saves every refit)
//!   alerts/alerts.jsonl      alerts written, one JSON line each    (append, rotated)
//!   incidents/incidents.jsonl incident records (opened, escalated, closed)
//!   logs/netsentinel.DATE.log diagnostics of live runs (daily files, bounded count)
//!   captures/                packet captures (kept by the ring buffer and recorder)
//! ```
//!
//! Whole files are replaced atomically ([`crate::fsutil::write_atomic`]): a crash leaves the
//! old file or the new one, never half of one. Logs are appended one line per `write`; a
//! crash can at worst cut the last line short, and the next [`EventLog::open`] moves that
//! fragment aside (`.torn-SECS`) and truncates the log to its last whole line. Every file
//! starts with its format name and version; a file of another format or version is moved
//! aside (`.corrupt-SECS`), never overwritten. Logs rotate at `storage.log_max_bytes` to
//! numbered files (`alerts.1.jsonl`, `alerts.2.jsonl`, ...); at most `storage.log_files_kept`
//! rotated files are kept, and none older than `storage.retention_days`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::{Alert, AlertSink, SinkError, json};
use crate::config::EngineConfig;
use crate::device::DeviceInventory;
use crate::engine::{Engine, EngineBuilder};
use crate::gateway::Whitelist;
use crate::incident::Incident;

/// Bounds on what the data directory keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Size at which a log (alerts, incidents) is rotated, in bytes. Default 67108864 (64 MiB).
    pub log_max_bytes: u64,
    /// Rotated files kept per log; older ones are deleted. Default 8.
    pub log_files_kept: usize,
    /// Rotated log files older than this many days are deleted. Default 90.
    pub retention_days: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            log_max_bytes: 64 * 1024 * 1024,
            log_files_kept: 8,
            retention_days: 90,
        }
    }
}

/// Why the data directory could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataDirError {
    /// A file or directory could not be created, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The device inventory could not be read or saved.
    #[error(transparent)]
    Devices(#[from] crate::device::InventoryFileError),
    /// The whitelist could not be read or saved.
    #[error(transparent)]
    Whitelist(#[from] crate::gateway::WhitelistFileError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The data directory's layout (see the [module](self) documentation).
///
/// ```
/// use netsentinel_core::datadir::{DataDir, StorageConfig};
/// let root = std::env::temp_dir().join(format!("ns-doc-datadir-{}", std::process::id()));
/// let dir = DataDir::open(&root, StorageConfig::default())?;
/// assert!(dir.whitelist_file().ends_with("whitelist.json"));
/// let mut sink = dir.sink()?;
/// # std::fs::remove_dir_all(&root).ok();
/// # Ok::<(), netsentinel_core::datadir::DataDirError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
    config: StorageConfig,
}

impl DataDir {
    /// Opens (and creates) the directory and its subdirectories, and deletes temporary
    /// files a killed process left behind.
    ///
    /// # Errors
    /// [`DataDirError::Io`] when they cannot be created.
    pub fn open(root: &Path, config: StorageConfig) -> Result<DataDir, DataDirError> {
        for sub in ["", "models", "alerts", "incidents", "logs", "captures"] {
            let d = root.join(sub);
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let dir = DataDir {
            root: root.to_path_buf(),
            config,
        };
        for f in [dir.config_file(), dir.devices_file(), dir.whitelist_file()] {
            crate::fsutil::remove_stale_temporaries(&f);
        }
        Ok(dir)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.json`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("config.json")
    }

    /// `devices.json`.
    pub fn devices_file(&self) -> PathBuf {
        self.root.join("devices.json")
    }

    /// `whitelist.json`.
    pub fn whitelist_file(&self) -> PathBuf {
        self.root.join("whitelist.json")
    }

    /// `models/`.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// `models/ml_anomaly.json`: the anomaly model kept here.
    pub fn model_file(&self) -> PathBuf {
        self.models_dir().join("ml_anomaly.json")
    }

    /// `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `captures/`.
    pub fn captures_dir(&self) -> PathBuf {
        self.root.join("captures")
    }

    /// Points `ml_anomaly` at the model kept here, unless the configuration names one: it
    /// starts from `models/ml_anomaly.json` when that exists, and with `keep_learning` (live
    /// monitoring) saves every fit and refit there.
    pub fn use_model(&self, config: &mut EngineConfig, keep_learning: bool) {
        let ml = &mut config.detectors.ml_anomaly;
        let file = self.model_file();
        if ml.model_path.is_none() && file.exists() {
            ml.model_path = Some(file.clone());
        }
        if keep_learning && ml.save_path.is_none() {
            ml.save_path = Some(file);
        }
    }

    /// Opens the alert log (`alerts/alerts.jsonl`), repairing a torn last line.
    ///
    /// # Errors
    /// [`DataDirError::Io`].
    pub fn alert_log(&self) -> Result<EventLog, DataDirError> {
        EventLog::open(&self.root.join("alerts"), "alerts", self.config.clone())
    }

    /// Opens the incident log (`incidents/incidents.jsonl`).
    ///
    /// # Errors
    /// [`DataDirError::Io`].
    pub fn incident_log(&self) -> Result<EventLog, DataDirError> {
        EventLog::open(
            &self.root.join("incidents"),
            "incidents",
            self.config.clone(),
        )
    }

    /// Prepares an engine to keep its state here: starts `builder` from the saved device
    /// inventory and whitelist (a damaged file is moved aside and a new one started) and
    /// adds the sink that logs alerts and incidents. Returns the builder and the warnings
    /// to show (files moved aside, logs repaired).
    ///
    /// # Errors
    /// [`DataDirError`] when a file exists but cannot be read or moved aside, or a log
    /// cannot be opened.
    pub fn attach(
        &self,
        builder: EngineBuilder,
        config: &EngineConfig,
    ) -> Result<(EngineBuilder, Vec<String>), DataDirError> {
        let mut warnings = Vec::new();
        let (inventory, w) =
            DeviceInventory::load_or_new(&self.devices_file(), config.devices.clone())?;
        warnings.extend(w);
        let (whitelist, w) = Whitelist::load_or_new(&self.whitelist_file())?;
        warnings.extend(w);
        let sink = self.sink()?;
        warnings.extend(sink.warnings().cloned());
        let builder = builder
            .device_inventory(inventory)
            .whitelist(whitelist)
            .sink(sink);
        Ok((builder, warnings))
    }

    /// Saves what `engine` learned: the device inventory and the whitelist (atomically).
    ///
    /// # Errors
    /// [`DataDirError`] when a file cannot be written (the old one is kept).
    pub fn save(&self, engine: &Engine) -> Result<(), DataDirError> {
        engine.devices().save(&self.devices_file())?;
        engine.gateway().whitelist().save(&self.whitelist_file())?;
        Ok(())
    }

    /// A sink keeping alerts and incident records in their logs.
    ///
    /// # Errors
    /// [`DataDirError::Io`] when a log cannot be opened.
    pub fn sink(&self) -> Result<DataDirSink, DataDirError> {
        Ok(DataDirSink {
            alerts: self.alert_log()?,
            incidents: self.incident_log()?,
        })
    }
}

const LOG_VERSION: u64 = 1;

/// An append-only JSON-lines log with a version header, rotation and retention.
#[derive(Debug)]
pub struct EventLog {
    dir: PathBuf,
    name: String,
    path: PathBuf,
    file: File,
    size: u64,
    config: StorageConfig,
    /// What [`open`](Self::open) had to repair or move aside, for the caller to show.
    pub warnings: Vec<String>,
}

impl EventLog {
    /// Opens `DIR/NAME.jsonl` for appending, creating it with its header. A torn last line
    /// is moved aside to `NAME.jsonl.torn-SECS` and cut off; a file without this log's
    /// header is moved aside whole. Rotated files past the limits are deleted.
    ///
    /// # Errors
    /// [`DataDirError::Io`].
    pub fn open(dir: &Path, name: &str, config: StorageConfig) -> Result<EventLog, DataDirError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(format!("{name}.jsonl"));
        let mut warnings = Vec::new();
        if path.exists() {
            repair(&path, name, &mut warnings)?;
        }
        let (file, size) = open_append(&path, name)?;
        let mut log = EventLog {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            path,
            file,
            size,
            config,
            warnings,
        };
        log.prune()?;
        Ok(log)
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line, rotating first when the file would pass
    /// `storage.log_max_bytes`.
    ///
    /// # Errors
    /// [`DataDirError::Io`].
    pub fn append(&mut self, record: &Value) -> Result<(), DataDirError> {
        let mut line = serde_json::to_vec(record).map_err(|e| DataDirError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        if self.size + line.len() as u64 > self.config.log_max_bytes
            && self.size > header_len(&self.name)
        {
            self.rotate()?;
        }
        // One write of the whole line: O_APPEND keeps it in one piece among writers, and a
        // crash can only cut it short, which `open` repairs.
        self.file.write_all(&line).map_err(io_err(&self.path))?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Flushes the log to disk.
    ///
    /// # Errors
    /// [`DataDirError::Io`].
    pub fn sync(&mut self) -> Result<(), DataDirError> {
        self.file.sync_data().map_err(io_err(&self.path))
    }

    /// Every record of the current file (header excluded), for tests and tools.
    ///
    /// # Errors
    /// [`DataDirError::Io`] when the file cannot be read or a line is not JSON.
    pub fn records(&self) -> Result<Vec<Value>, DataDirError> {
        read_records(&self.path)
    }

    /// Numbered rotated files, oldest first.
    pub fn rotated(&self) -> Vec<PathBuf> {
        let mut numbered: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let n = file
                    .strip_prefix(&format!("{}.", self.name))?
                    .strip_suffix(".jsonl")?
                    .parse::<u64>()
                    .ok()?;
                Some((n, e.path()))
            })
            .collect();
        numbered.sort();
        numbered.into_iter().map(|(_, p)| p).collect()
    }

    fn rotate(&mut self) -> Result<(), DataDirError> {
        self.file.sync_data().map_err(io_err(&self.path))?;
        let next = self
            .rotated()
            .last()
            .and_then(|p| {
                p.file_name()?
                    .to_string_lossy()
                    .strip_prefix(&format!("{}.", self.name))?
                    .strip_suffix(".jsonl")?
                    .parse::<u64>()
                    .ok()
            })
            .map_or(1, |n| n + 1);
        let to = self.dir.join(format!("{}.{next}.jsonl", self.name));
        std::fs::rename(&self.path, &to).map_err(io_err(&self.path))?;
        let (file, size) = open_append(&self.path, &self.name)?;
        self.file = file;
        self.size = size;
        self.prune()
    }

    /// Deletes rotated files beyond the count and age limits.
    fn prune(&mut self) -> Result<(), DataDirError> {
        let rotated = self.rotated();
        let excess = rotated.len().saturating_sub(self.config.log_files_kept);
        let max_age = Duration::from_secs(self.config.retention_days.saturating_mul(86_400));
        let now = SystemTime::now();
        for (i, p) in rotated.iter().enumerate() {
            let old = std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > max_age);
            if i < excess || old {
                std::fs::remove_file(p).map_err(io_err(p))?;
            }
        }
        Ok(())
    }
}

fn header(name: &str) -> Vec<u8> {
    let mut h = serde_json::to_vec(&serde_json::json!({
        "format": format!("netsentinel-{name}"),
        "version": LOG_VERSION,
    }))
    .unwrap_or_default();
    h.push(b'\n');
    h
}

fn header_len(name: &str) -> u64 {
    header(name).len() as u64
}

/// Opens `path` for appending, writing the header first into a new or empty file.
fn open_append(path: &Path, name: &str) -> Result<(File, u64), DataDirError> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))?;
    let mut size = file.metadata().map_err(io_err(path))?.len();
    if size == 0 {
        let h = header(name);
        file.write_all(&h).map_err(io_err(path))?;
        size = h.len() as u64;
    }
    Ok((file, size))
}

/// Checks the header and the last line of an existing log.
fn repair(path: &Path, name: &str, warnings: &mut Vec<String>) -> Result<(), DataDirError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len == 0 {
        return Ok(());
    }
    let expected = header(name);
    let mut first = vec![0u8; expected.len()];
    let header_ok = file.read_exact(&mut first).is_ok() && first == expected;
    if !header_ok {
        drop(file);
        let to = crate::fsutil::move_aside(path).map_err(io_err(path))?;
        warnings.push(format!(
            "{}: not a version {LOG_VERSION} netsentinel-{name} log; moved to {} and starting a new one",
            path.display(),
            to.display()
        ));
        return Ok(());
    }
    // Find the end of the last whole line, reading backwards in blocks.
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    let mut last_newline = None;
    while end > 0 && last_newline.is_none() {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
        file.read_exact(&mut block[..n]).map_err(io_err(path))?;
        last_newline = block[..n]
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|i| start + i as u64 + 1);
        end = start;
    }
    let keep = last_newline.unwrap_or(0);
    if keep < len {
        let mut fragment = Vec::new();
        file.seek(SeekFrom::Start(keep)).map_err(io_err(path))?;
        file.read_to_end(&mut fragment).map_err(io_err(path))?;
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut torn = path.as_os_str().to_owned();
        torn.push(format!(".torn-{secs}"));
        let torn = PathBuf::from(torn);
        crate::fsutil::write_atomic(&torn, &fragment, false).map_err(io_err(&torn))?;
        file.set_len(keep).map_err(io_err(path))?;
        file.sync_data().map_err(io_err(path))?;
        warnings.push(format!(
            "{}: its last line was cut short ({} bytes, an interrupted write); moved to {}",
            path.display(),
            fragment.len(),
            torn.display()
        ));
    }
    Ok(())
}

fn read_records(path: &Path) -> Result<Vec<Value>, DataDirError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    text.lines()
        .skip(1)
        .map(|l| {
            serde_json::from_str(l).map_err(|e| DataDirError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })
        })
        .collect()
}

/// Keeps alerts and incident records in the data directory's logs.
#[derive(Debug)]
pub struct DataDirSink {
    alerts: EventLog,
    incidents: EventLog,
}

impl DataDirSink {
    /// What opening the logs repaired or moved aside.
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.alerts.warnings.iter().chain(&self.incidents.warnings)
    }
}

fn sink_err(e: DataDirError) -> SinkError {
    match e {
        DataDirError::Io { source, .. } => SinkError::Io(source),
        other => SinkError::Io(std::io::Error::other(other.to_string())),
    }
}

impl AlertSink for DataDirSink {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.alerts.append(&json::alert(alert)?).map_err(sink_err)
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        self.incidents
            .append(&json::incident(incident)?)
            .map_err(sink_err)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.alerts.sync().map_err(sink_err)?;
        self.incidents.sync().map_err(sink_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ns-datadir-{tag}-{}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        d
    }

    #[test]
    fn a_torn_last_line_is_moved_aside_and_the_rest_kept() {
        let dir = temp("torn");
        let mut log = EventLog::open(&dir, "alerts", StorageConfig::default()).unwrap();
        for i in 0..3 {
            log.append(&serde_json::json!({ "n": i })).unwrap();
        }
        drop(log);
        // A write cut short by a crash.
        let path = dir.join("alerts.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"n": 3, "message": "cut sh"#).unwrap();
        drop(f);
        let mut log = EventLog::open(&dir, "alerts", StorageConfig::default()).unwrap();
        assert_eq!(log.warnings.len(), 1, "{:?}", log.warnings);
        assert_eq!(log.records().unwrap().len(), 3);
        log.append(&serde_json::json!({ "n": 4 })).unwrap();
        let ns: Vec<u64> = log
            .records()
            .unwrap()
            .iter()
            .map(|r| r["n"].as_u64().unwrap())
            .collect();
        assert_eq!(ns, [0, 1, 2, 4]);
        let torn: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".torn-"))
            .collect();
        assert_eq!(torn.len(), 1);
        assert_eq!(
            std::fs::read(torn[0].path()).unwrap(),
            br#"{"n": 3, "message": "cut sh"#
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_foreign_file_is_moved_aside_not_overwritten() {
        let dir = temp("foreign");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("alerts.jsonl"), b"someone else's notes\n").unwrap();
        let log = EventLog::open(&dir, "alerts", StorageConfig::default()).unwrap();
        assert_eq!(log.warnings.len(), 1);
        assert!(log.records().unwrap().is_empty());
        let aside: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
            .collect();
        assert_eq!(
            std::fs::read(aside[0].path()).unwrap(),
            b"someone else's notes\n"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn logs_rotate_at_their_size_and_keep_a_bounded_number_of_files() {
        let dir = temp("rotate");
        let config = StorageConfig {
            log_max_bytes: 1000,
            log_files_kept: 3,
            retention_days: 90,
        };
        let mut log = EventLog::open(&dir, "alerts", config).unwrap();
        let record = serde_json::json!({ "pad": "x".repeat(80) });
        for _ in 0..200 {
            log.append(&record).unwrap();
        }
        let rotated = log.rotated();
        assert_eq!(rotated.len(), 3, "{rotated:?}");
        let mut total = 0;
        for p in rotated
            .iter()
            .chain(std::iter::once(&log.path().to_path_buf()))
        {
            let len = std::fs::metadata(p).unwrap().len();
            assert!(len <= 1000, "{p:?}: {len}");
            total += len;
            // Each file is a whole log: header, then whole records.
            assert!(read_records(p).unwrap().iter().all(|r| r == &record));
        }
        assert!(total <= 4000);
        // The newest rotated file has the highest number.
        assert!(rotated[2].to_string_lossy().ends_with(".jsonl"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
