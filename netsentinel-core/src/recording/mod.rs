//! Keeping packets: the ring of recent packets and continuous recording.
//!
//! - [`PacketRing`]: the last `ring.max_packets` packets (default 150,000, and at most
//!   `ring.max_bytes` of data) in memory (by default for live capture only: `ring.mode`), exported on demand ("save the last five minutes":
//!   [`crate::Engine::save_last`], or from another thread with a [`RingHandle`]) and, with
//!   `ring.directory` set, automatically around each new incident
//!   (`ring.before_secs` before its first alert to `ring.after_secs` after).
//! - [`Recorder`]: every packet to pcap or pcapng files in `recording.directory`, rotated by
//!   size and by time, the oldest deleted beyond `recording.files_kept`.

mod recorder;
mod ring;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

pub use recorder::{Recorder, RecorderStats};
pub use ring::PacketRing;
pub use writer::CaptureFormat;

use crate::time::Timestamp;

/// Why packets could not be kept or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// A file or directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The capture writer failed.
    #[error("{path}: {message}")]
    Pcap {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// No packet kept falls in the asked span (none written).
    #[error("no packets kept in that time span (the oldest kept is from {})", .oldest.map_or_else(|| "-".to_string(), |t| t.to_string()))]
    Empty {
        /// The oldest packet the ring still holds.
        oldest: Option<Timestamp>,
    },
    /// The ring is off (`ring.enabled`), or the engine that held it is gone.
    #[error("the packet ring is not running")]
    NoRing,
}

impl RecordingError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        RecordingError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn pcap(path: &Path, e: pcap_file::PcapError) -> Self {
        RecordingError::Pcap {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// A capture file written from the ring.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exported {
    /// The file.
    pub path: PathBuf,
    /// Packets written.
    pub packets: u64,
    /// Packets of another link type than the file's, not written.
    pub skipped: u64,
    /// Size of the file.
    pub bytes: u64,
    /// Start of the span asked for.
    pub from: Timestamp,
    /// End of the span asked for.
    pub to: Timestamp,
}

/// When the engine keeps recent packets.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RingMode {
    /// For live capture ([`crate::Engine::run_threaded`]) only: a file already holds its
    /// packets, and copying every packet costs file analysis about a fifth of its speed.
    #[default]
    Live,
    /// Always, files included (incident captures of a file analysis; `analyze --data-dir`).
    Always,
    /// Never.
    Off,
}

/// Settings of the packet ring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RingConfig {
    /// When to keep recent packets in memory: `live` (live capture only), `always`, `off`.
    /// Default `live`.
    pub mode: RingMode,
    /// Most packets kept. Default 150000.
    pub max_packets: usize,
    /// Most bytes of packet data kept (in 1 MiB chunks). Default 268435456 (256 MiB).
    pub max_bytes: u64,
    /// Where incident captures go (`incident-ID-TIME.pcap`); none: no automatic capture.
    /// The CLI sets it to the data directory's `captures/` for `monitor` and
    /// `analyze --data-dir`.
    pub directory: Option<PathBuf>,
    /// Seconds of packets before an incident's first alert in its capture. Default 60.
    pub before_secs: u64,
    /// Seconds of packets after it; the capture is written once packet time passes this.
    /// Default 30.
    pub after_secs: u64,
    /// File format of captures written from the ring. Default `pcap`.
    pub format: CaptureFormat,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            mode: RingMode::Live,
            max_packets: 150_000,
            max_bytes: 256 * 1024 * 1024,
            directory: None,
            before_secs: 60,
            after_secs: 30,
            format: CaptureFormat::Pcap,
        }
    }
}

/// Settings of continuous recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    /// Write every packet to capture files. Default false (`monitor --record` turns it on).
    pub enabled: bool,
    /// Directory of the files; required when enabled (`monitor --record` uses the data
    /// directory's `captures/`).
    pub directory: Option<PathBuf>,
    /// File names: `PREFIX-TIME-N.pcap`. Default `netsentinel`.
    pub prefix: String,
    /// File format. Default `pcap`.
    pub format: CaptureFormat,
    /// A new file when the current one would pass this size in bytes. Default 104857600
    /// (100 MiB).
    pub file_max_bytes: u64,
    /// A new file when the current one spans this many seconds of packet time. Default 3600.
    pub file_max_secs: u64,
    /// Most files kept (the one being written included); the oldest are deleted. Default 24.
    pub files_kept: usize,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: false,
            directory: None,
            prefix: "netsentinel".into(),
            format: CaptureFormat::Pcap,
            file_max_bytes: 100 * 1024 * 1024,
            file_max_secs: 3600,
            files_kept: 24,
        }
    }
}

struct Request {
    secs: u64,
    path: PathBuf,
    reply: mpsc::Sender<Result<Exported, RecordingError>>,
}

/// Asks a running engine, from another thread, to save its recent packets.
///
/// The engine serves requests between packets (and when idle), so a save waits at most
/// for the packet being analysed.
#[derive(Clone)]
pub struct RingHandle {
    pending: Arc<AtomicBool>,
    /// The requests, and whether the engine is gone (then requests are refused at once).
    requests: Arc<parking_lot::Mutex<(Vec<Request>, bool)>>,
}

impl RingHandle {
    pub(crate) fn new() -> Self {
        RingHandle {
            pending: Arc::new(AtomicBool::new(false)),
            requests: Arc::new(parking_lot::Mutex::new((Vec::new(), false))),
        }
    }

    /// Asks for the last `secs` seconds of packets in `path`; the answer comes on the
    /// returned channel once the engine has written the file.
    pub fn save_last(
        &self,
        secs: u64,
        path: impl Into<PathBuf>,
    ) -> mpsc::Receiver<Result<Exported, RecordingError>> {
        let (reply, answer) = mpsc::channel();
        let mut requests = self.requests.lock();
        if requests.1 {
            let _ = reply.send(Err(RecordingError::NoRing));
            return answer;
        }
        requests.0.push(Request {
            secs,
            path: path.into(),
            reply,
        });
        self.pending.store(true, Ordering::Release);
        answer
    }

    /// Whether a request waits (one relaxed load: checked per packet).
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    /// Serves every waiting request from `ring`.
    pub(crate) fn serve(&self, ring: Option<&PacketRing>, format: CaptureFormat) {
        let requests = std::mem::take(&mut self.requests.lock().0);
        self.pending.store(false, Ordering::Release);
        for r in requests {
            let result = match ring {
                Some(ring) => ring.export_last(r.secs, &r.path, format),
                None => Err(RecordingError::NoRing),
            };
            // The asker may have stopped waiting: nothing to do then.
            let _ = r.reply.send(result);
        }
    }

    /// The engine is gone: waiting and later requests are refused.
    pub(crate) fn close(&self) {
        self.requests.lock().1 = true;
        self.serve(None, CaptureFormat::Pcap);
    }
}

#[cfg(test)]
mod tests;
