//! Writing packets to pcap and pcapng files.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};

use super::RecordingError;
use crate::source::LinkType;
use crate::time::Timestamp;

/// File format of written captures.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CaptureFormat {
    /// Classic pcap, microsecond timestamps: one link type per file (packets of another
    /// link type are counted, not written).
    #[default]
    Pcap,
    /// pcapng: one interface per link type met.
    Pcapng,
}

impl CaptureFormat {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::Pcapng => "pcapng",
        }
    }
}

enum Inner {
    Pcap(PcapWriter<BufWriter<File>>, LinkType),
    PcapNg(PcapNgWriter<BufWriter<File>>, Vec<LinkType>),
}

/// Writes packets to a new capture file.
pub(crate) struct PacketWriter {
    inner: Inner,
    path: PathBuf,
    /// Bytes written so far (headers included).
    pub(crate) bytes: u64,
    /// Packets written.
    pub(crate) packets: u64,
    /// Packets not written because their link type differs from the file's (pcap only).
    pub(crate) skipped: u64,
}

const SNAPLEN: u32 = 262_144;

fn micros(ts: Timestamp) -> Duration {
    Duration::from_micros(u64::try_from(ts.as_micros()).unwrap_or(0))
}

impl PacketWriter {
    /// Creates `path` (truncating it) for packets of `link`.
    pub(crate) fn create(
        path: &Path,
        format: CaptureFormat,
        link: LinkType,
    ) -> Result<Self, RecordingError> {
        let io = |e| RecordingError::io(path, e);
        let file = BufWriter::with_capacity(256 * 1024, File::create(path).map_err(io)?);
        let (inner, bytes) = match format {
            CaptureFormat::Pcap => {
                let header = PcapHeader {
                    datalink: DataLink::from(link.linktype()),
                    snaplen: SNAPLEN,
                    ..PcapHeader::default()
                };
                let w = PcapWriter::with_header(file, header)
                    .map_err(|e| RecordingError::pcap(path, e))?;
                (Inner::Pcap(w, link), 24)
            }
            CaptureFormat::Pcapng => {
                let w = PcapNgWriter::new(file).map_err(|e| RecordingError::pcap(path, e))?;
                (Inner::PcapNg(w, Vec::new()), 28)
            }
        };
        Ok(PacketWriter {
            inner,
            path: path.to_path_buf(),
            bytes,
            packets: 0,
            skipped: 0,
        })
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes one packet of `len` bytes adds to the file.
    pub(crate) fn record_len(&self, len: usize) -> u64 {
        match self.inner {
            Inner::Pcap(..) => 16 + len as u64,
            // Block header, interface, timestamps, lengths, padding, trailing length.
            Inner::PcapNg(..) => 32 + len.next_multiple_of(4) as u64,
        }
    }

    /// Appends one packet.
    pub(crate) fn write(
        &mut self,
        ts: Timestamp,
        orig_len: u32,
        link: LinkType,
        data: &[u8],
    ) -> Result<(), RecordingError> {
        let len = self.record_len(data.len());
        match &mut self.inner {
            Inner::Pcap(w, file_link) => {
                if *file_link != link {
                    self.skipped += 1;
                    return Ok(());
                }
                let pkt = PcapPacket::new(micros(ts), orig_len.max(data.len() as u32), data);
                w.write_packet(&pkt)
                    .map_err(|e| RecordingError::pcap(&self.path, e))?;
            }
            Inner::PcapNg(w, links) => {
                let interface_id = match links.iter().position(|l| *l == link) {
                    Some(i) => i,
                    None => {
                        // pcap-file writes packet times in nanoseconds: say so, since
                        // without the option readers take microseconds.
                        let idb = InterfaceDescriptionBlock {
                            linktype: DataLink::from(link.linktype()),
                            snaplen: SNAPLEN,
                            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
                        };
                        self.bytes += 32;
                        w.write_pcapng_block(idb)
                            .map_err(|e| RecordingError::pcap(&self.path, e))?;
                        links.push(link);
                        links.len() - 1
                    }
                };
                let epb = EnhancedPacketBlock {
                    interface_id: u32::try_from(interface_id).unwrap_or(0),
                    timestamp: micros(ts),
                    original_len: orig_len.max(data.len() as u32),
                    data: Cow::Borrowed(data),
                    options: vec![],
                };
                w.write_pcapng_block(epb)
                    .map_err(|e| RecordingError::pcap(&self.path, e))?;
            }
        }
        self.bytes += len;
        self.packets += 1;
        Ok(())
    }

    /// Flushes and syncs the file to disk.
    pub(crate) fn finish(self) -> Result<(), RecordingError> {
        let path = self.path;
        let mut file = match self.inner {
            Inner::Pcap(w, _) => w.into_writer(),
            Inner::PcapNg(w, _) => w.into_inner(),
        };
        file.flush().map_err(|e| RecordingError::io(&path, e))?;
        let file = file
            .into_inner()
            .map_err(|e| RecordingError::io(&path, e.into_error()))?;
        file.sync_all().map_err(|e| RecordingError::io(&path, e))
    }
}
