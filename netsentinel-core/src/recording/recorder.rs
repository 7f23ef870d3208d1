//! Continuous recording to rotating capture files.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use super::writer::PacketWriter;
use super::{RecordingConfig, RecordingError};
use crate::source::RawPacket;
use crate::time::Timestamp;

/// What the recorder did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RecorderStats {
    /// Packets written.
    pub packets: u64,
    /// Files started.
    pub files_started: u64,
    /// Old files deleted to keep `recording.files_kept`.
    pub files_deleted: u64,
    /// Packets not written: another link type than their pcap file's.
    pub skipped: u64,
}

/// Writes every packet to capture files in a directory, starting a new file when the
/// current one reaches `recording.file_max_bytes` or spans `recording.file_max_secs` of
/// packet time, and deleting the oldest files beyond `recording.files_kept`.
///
/// A rotation closes the file after its last packet and opens the next before writing the
/// packet that did not fit, so every packet is in exactly one file.
pub struct Recorder {
    config: RecordingConfig,
    dir: PathBuf,
    current: Option<(PacketWriter, Timestamp)>,
    closed: VecDeque<PathBuf>,
    seq: u64,
    stats: RecorderStats,
}

impl Recorder {
    /// A recorder writing into `dir` (created). Files already there with this recorder's
    /// prefix count toward `files_kept`, oldest (by name) deleted first.
    ///
    /// # Errors
    /// [`RecordingError::Io`] when the directory cannot be created or read.
    pub fn new(dir: &Path, config: RecordingConfig) -> Result<Self, RecordingError> {
        std::fs::create_dir_all(dir).map_err(|e| RecordingError::io(dir, e))?;
        let prefix = format!("{}-", config.prefix);
        let mut existing: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| RecordingError::io(dir, e))?
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(&prefix) && (name.ends_with(".pcap") || name.ends_with(".pcapng"))
            })
            .map(|e| e.path())
            .collect();
        existing.sort();
        Ok(Recorder {
            config,
            dir: dir.to_path_buf(),
            current: None,
            closed: existing.into(),
            seq: 0,
            stats: RecorderStats::default(),
        })
    }

    /// What it did so far.
    pub fn stats(&self) -> &RecorderStats {
        &self.stats
    }

    /// The file being written, if any.
    pub fn current_file(&self) -> Option<&Path> {
        self.current.as_ref().map(|(w, _)| w.path())
    }

    /// Writes one packet, rotating first when it is due.
    ///
    /// # Errors
    /// [`RecordingError`] when a file cannot be written, closed or deleted.
    pub fn write(&mut self, pkt: &RawPacket<'_>) -> Result<(), RecordingError> {
        let max_micros =
            i64::try_from(self.config.file_max_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let due = self.current.as_ref().is_some_and(|(w, started)| {
            (w.packets > 0 && w.bytes + w.record_len(pkt.data.len()) > self.config.file_max_bytes)
                || pkt.ts.micros_since(*started) >= max_micros
        });
        if due {
            self.rotate()?;
        }
        if self.current.is_none() {
            self.start(pkt)?;
        }
        if let Some((w, _)) = self.current.as_mut() {
            let skipped = w.skipped;
            w.write(pkt.ts, pkt.orig_len, pkt.link, pkt.data)?;
            if w.skipped == skipped {
                self.stats.packets += 1;
            } else {
                self.stats.skipped += 1;
            }
        }
        Ok(())
    }

    fn start(&mut self, pkt: &RawPacket<'_>) -> Result<(), RecordingError> {
        // `2026-11-24T20:24:08.348040+0000` -> `20261124T202408`
        let stamp: String = pkt.ts.to_rfc3339()[..19]
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .collect();
        let path = loop {
            self.seq += 1;
            let p = self.dir.join(format!(
                "{}-{stamp}-{:04}.{}",
                self.config.prefix,
                self.seq,
                self.config.format.extension()
            ));
            if !p.exists() {
                break p;
            }
        };
        let w = PacketWriter::create(&path, self.config.format, pkt.link)?;
        self.stats.files_started += 1;
        self.current = Some((w, pkt.ts));
        self.prune()
    }

    /// Closes the current file; the next packet starts a new one.
    ///
    /// # Errors
    /// [`RecordingError`] when flushing or deleting fails.
    pub fn rotate(&mut self) -> Result<(), RecordingError> {
        if let Some((w, _)) = self.current.take() {
            let path = w.path().to_path_buf();
            w.finish()?;
            self.closed.push_back(path);
        }
        self.prune()
    }

    fn prune(&mut self) -> Result<(), RecordingError> {
        // The file being written counts toward the cap.
        let open = usize::from(self.current.is_some());
        while self.closed.len() + open > self.config.files_kept.max(1) {
            let Some(old) = self.closed.pop_front() else {
                break;
            };
            match std::fs::remove_file(&old) {
                Ok(()) => self.stats.files_deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RecordingError::io(&old, e)),
            }
        }
        Ok(())
    }

    /// Closes the current file (flushed and synced).
    ///
    /// # Errors
    /// [`RecordingError`] when flushing fails.
    pub fn finish(&mut self) -> Result<(), RecordingError> {
        self.rotate()
    }
}
