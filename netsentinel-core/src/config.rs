//! Engine configuration.
//!
//! Plain data with serde and documented defaults. Unknown keys are refused with the key's
//! name, so a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::datadir::StorageConfig;
use crate::detect::DetectorsConfig;
use crate::device::DeviceConfig;
use crate::flow::FlowConfig;
use crate::gateway::{BaselineConfig, GatewayConfig};
use crate::incident::IncidentConfig;
use crate::recording::{RecordingConfig, RingConfig};
use crate::traffic::TrafficConfig;

/// Live-capture settings (used with the `live` feature).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// Bytes captured per packet. Default 65,535.
    pub snaplen: u32,
    /// Put the interface in promiscuous mode. Default true.
    pub promiscuous: bool,
    /// BPF filter expression (tcpdump syntax). Default none.
    pub bpf_filter: Option<String>,
    /// Read timeout in milliseconds, after which an idle tick runs. Default 200.
    pub read_timeout_ms: u32,
    /// Packets queued between the capture thread and the analysis thread; when full,
    /// packets are dropped and counted, capture never blocks. Default 65,536.
    pub queue_packets: usize,
    /// Name the local process of each new flow (Linux, from `/proc`; root sees every
    /// process). Default true.
    pub identify_processes: bool,
    /// Kernel capture buffer in MiB. Captures are delivered at once (libpcap's immediate
    /// mode), which on Linux gives every packet a slot of the snap length: the 2 MiB
    /// default holds about 30 and lost most of a 400-packet burst; 64 MiB holds about a
    /// thousand. Default 64.
    pub buffer_mib: u32,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            snaplen: 65_535,
            promiscuous: true,
            bpf_filter: None,
            read_timeout_ms: 200,
            queue_packets: 65_536,
            buffer_mib: 64,
            identify_processes: true,
        }
    }
}

/// The data directory for what NetSentinel keeps between runs (the device inventory, so
/// far): `$NETSENTINEL_DATA_DIR`, else `$HOME/.netsentinel`; `None` when neither is set.
///
/// ```
/// # // Reads the environment only.
/// let dir = netsentinel_core::config::default_data_dir();
/// assert!(dir.is_none_or(|d| d.is_absolute() || d.is_relative()));
/// ```
pub fn default_data_dir() -> Option<PathBuf> {
    match std::env::var_os("NETSENTINEL_DATA_DIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".netsentinel")),
    }
}

/// Everything the engine needs to know.
///
/// ```
/// use netsentinel_core::EngineConfig;
/// let cfg = EngineConfig::from_json(r#"{"flow": {"max_flows": 5000}}"#).unwrap();
/// assert_eq!(cfg.flow.max_flows, 5000);
/// assert_eq!(cfg.tick_interval_ms, 1000);
/// let err = EngineConfig::from_json(r#"{"flow": {"max_flow": 5}}"#).unwrap_err();
/// assert!(err.to_string().contains("max_flow"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Flow table limits and timeouts.
    pub flow: FlowConfig,
    /// Traffic statistics.
    pub traffic: TrafficConfig,
    /// Live capture.
    pub capture: CaptureConfig,
    /// Built-in detectors (used by [`EngineBuilder::builtin_detectors`](crate::EngineBuilder::builtin_detectors)).
    pub detectors: DetectorsConfig,
    /// Passive device discovery.
    pub devices: DeviceConfig,
    /// The alert gateway: suppression rules, de-duplication, enrichment, verification.
    pub gateway: GatewayConfig,
    /// The learned baseline whitelist.
    pub baseline: BaselineConfig,
    /// Incident correlation.
    pub incidents: IncidentConfig,
    /// Bounds on what the data directory keeps.
    pub storage: StorageConfig,
    /// The ring of recent packets and incident captures.
    pub ring: RingConfig,
    /// Continuous recording to rotating capture files.
    pub recording: RecordingConfig,
    /// Period of detector ticks and flow expiry, in milliseconds of packet time. Default 1000.
    pub tick_interval_ms: u64,
    /// Anomaly events written per anomaly name; further ones are only counted, so a
    /// malformed-packet flood cannot flood the output. Default 100.
    pub anomaly_events_per_kind: u64,
    /// Threads that analyse a capture file (`netsentinel analyze`, `report` and `devices`,
    /// the C API's `ns_engine_analyze_file`); 0 is one per core. The output is the same on any
    /// number ([`crate::Engine::run_parallel`]). Default 0.
    pub analysis_threads: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flow: FlowConfig::default(),
            traffic: TrafficConfig::default(),
            capture: CaptureConfig::default(),
            detectors: DetectorsConfig::default(),
            devices: DeviceConfig::default(),
            gateway: GatewayConfig::default(),
            baseline: BaselineConfig::default(),
            incidents: IncidentConfig::default(),
            storage: StorageConfig::default(),
            ring: RingConfig::default(),
            recording: RecordingConfig::default(),
            tick_interval_ms: 1000,
            anomaly_events_per_kind: 100,
            analysis_threads: 0,
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid configuration JSON (serde names the key or the position).
    #[error("{origin}: {message}")]
    Parse {
        /// The file, or `<string>`.
        origin: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("config key `{key}`: {reason}")]
    Invalid {
        /// Dotted key path.
        key: std::borrow::Cow<'static, str>,
        /// What is wrong.
        reason: String,
    },
}

impl EngineConfig {
    /// The JSON Schema of the configuration file (draft 2020-12), with every key's
    /// documentation as its `description`: for editors, and for `docs/CONFIG.md`.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(EngineConfig)).unwrap_or_default()
    }

    /// Parses and validates JSON text.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for bad JSON or unknown keys, [`ConfigError::Invalid`] for
    /// out-of-range values.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text, "<string>")
    }

    /// Reads, parses and validates a JSON file.
    ///
    /// # Errors
    /// As [`from_json`](Self::from_json), plus [`ConfigError::Io`].
    pub fn from_json_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The configuration at `path`, or, when there is no file there yet, the defaults,
    /// written there (pretty JSON, atomically) for the user to edit. The flag says whether
    /// the file was created. An existing file is never overwritten: if it is invalid, the
    /// error names the key and the file stays as it is.
    ///
    /// # Errors
    /// As [`from_json_file`](Self::from_json_file); [`ConfigError::Io`] when the defaults
    /// cannot be written.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), ConfigError> {
        match std::fs::metadata(path) {
            Ok(_) => Self::from_json_file(path).map(|c| (c, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let cfg = EngineConfig::default();
                let io = |source| ConfigError::Io {
                    path: path.to_path_buf(),
                    source,
                };
                let mut text =
                    serde_json::to_vec_pretty(&cfg).map_err(|e| io(std::io::Error::other(e)))?;
                text.push(b'\n');
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                crate::fsutil::write_atomic(path, &text, false).map_err(io)?;
                Ok((cfg, true))
            }
            Err(source) => Err(ConfigError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: EngineConfig = serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks value ranges.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                reason: reason.to_string(),
            })
        };
        if self.flow.max_flows == 0 {
            return invalid("flow.max_flows", "must be at least 1");
        }
        self.detectors.ml_anomaly.validate()?;
        self.gateway.validate()?;
        if self.flow.max_flows > u32::MAX as usize - 1 {
            return invalid("flow.max_flows", "must be below 4294967295");
        }
        if self.flow.shards > 256 {
            return invalid("flow.shards", "must be at most 256");
        }
        if self.tick_interval_ms == 0 {
            return invalid("tick_interval_ms", "must be at least 1");
        }
        if self.traffic.top_n == 0 {
            return invalid("traffic.top_n", "must be at least 1");
        }
        if self.capture.queue_packets == 0 {
            return invalid("capture.queue_packets", "must be at least 1");
        }
        if self.recording.enabled && self.recording.directory.is_none() {
            return invalid(
                "recording.directory",
                "is required when recording is enabled",
            );
        }
        if self.recording.file_max_bytes < 4096 {
            return invalid("recording.file_max_bytes", "must be at least 4096");
        }
        if self.recording.file_max_secs == 0 {
            return invalid("recording.file_max_secs", "must be at least 1");
        }
        if self.storage.log_max_bytes < 4096 {
            return invalid("storage.log_max_bytes", "must be at least 4096");
        }
        if self.capture.snaplen < 64 {
            return invalid("capture.snaplen", "must be at least 64 bytes");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_json() {
        let cfg = EngineConfig::default();
        let text = serde_json::to_string(&cfg).unwrap();
        assert_eq!(EngineConfig::from_json(&text).unwrap(), cfg);
        assert_eq!(EngineConfig::from_json("{}").unwrap(), cfg);
    }

    #[test]
    fn errors_name_the_key() {
        let e = EngineConfig::from_json(r#"{"flow": {"max_flows": 0}}"#).unwrap_err();
        assert!(e.to_string().contains("flow.max_flows"), "{e}");
        let e = EngineConfig::from_json(r#"{"tick_interval": 3}"#).unwrap_err();
        assert!(e.to_string().contains("tick_interval"), "{e}");
        let e = EngineConfig::from_json(r#"{"flow": {"max_flows": "many"}}"#).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn defaults_round_trip_and_are_written_once() {
        let text = serde_json::to_string_pretty(&EngineConfig::default()).unwrap();
        assert_eq!(
            EngineConfig::from_json(&text).unwrap(),
            EngineConfig::default()
        );
        let dir = std::env::temp_dir().join(format!("ns-cfg-{}", std::process::id()));
        let path = dir.join("sub").join("config.json");
        let (cfg, created) = EngineConfig::load_or_create(&path).unwrap();
        assert!(created && cfg == EngineConfig::default());
        // Edited by the user: read back, never rewritten; a bad edit names the key.
        std::fs::write(&path, r#"{"flow": {"max_flows": 7}}"#).unwrap();
        let (cfg, created) = EngineConfig::load_or_create(&path).unwrap();
        assert!(!created && cfg.flow.max_flows == 7);
        std::fs::write(&path, r#"{"flow": {"max_flowz": 7}}"#).unwrap();
        let err = EngineConfig::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("max_flowz"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            r#"{"flow": {"max_flowz": 7}}"#
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
