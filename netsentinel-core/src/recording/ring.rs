//! The packet ring: the most recent packets, for "save the last five minutes".

use std::collections::VecDeque;
use std::path::Path;

use super::writer::{CaptureFormat, PacketWriter};
use super::{Exported, RecordingError};
use crate::source::{LinkType, RawPacket};
use crate::time::Timestamp;

/// Packet bytes are kept in chunks of this size (a larger packet gets a chunk of its own),
/// so that keeping a packet is a copy, not an allocation, and forgetting old packets frees
/// whole chunks.
const CHUNK: usize = 1 << 20;

#[derive(Clone, Copy, Debug)]
struct Entry {
    ts: Timestamp,
    orig_len: u32,
    link: LinkType,
    chunk: u64,
    start: u32,
    len: u32,
}

struct Chunk {
    seq: u64,
    data: Vec<u8>,
}

/// The most recent packets, bounded by count and by bytes.
///
/// ```
/// use netsentinel_core::recording::PacketRing;
/// use netsentinel_core::{LinkType, RawPacket, Timestamp};
/// let mut ring = PacketRing::new(3, 1 << 20);
/// for i in 0..5 {
///     let data = [i as u8; 60];
///     ring.push(&RawPacket { ts: Timestamp::from_secs_micros(i, 0), data: &data, orig_len: 60, link: LinkType::Ethernet });
/// }
/// assert_eq!(ring.len(), 3, "the two oldest were forgotten");
/// assert_eq!(ring.oldest(), Some(Timestamp::from_secs_micros(2, 0)));
/// ```
pub struct PacketRing {
    max_packets: usize,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    chunks: VecDeque<Chunk>,
    next_chunk: u64,
    spare: Option<Vec<u8>>,
    newest: Option<Timestamp>,
    evicted: u64,
}

impl PacketRing {
    /// A ring keeping at most `max_packets` packets and about `max_bytes` of packet data
    /// (counted in whole chunks of 1 MiB, so at least one chunk).
    pub fn new(max_packets: usize, max_bytes: u64) -> Self {
        PacketRing {
            max_packets: max_packets.max(1),
            max_bytes: max_bytes.max(CHUNK as u64),
            entries: VecDeque::new(),
            chunks: VecDeque::new(),
            next_chunk: 0,
            spare: None,
            newest: None,
            evicted: 0,
        }
    }

    /// Packets kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of memory held for packet data.
    pub fn bytes_held(&self) -> u64 {
        self.chunks.iter().map(|c| c.data.capacity() as u64).sum()
    }

    /// Packets forgotten to stay within the bounds.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Time of the oldest packet kept.
    pub fn oldest(&self) -> Option<Timestamp> {
        self.entries.front().map(|e| e.ts)
    }

    /// Time of the newest packet seen.
    pub fn newest(&self) -> Option<Timestamp> {
        self.newest
    }

    /// Keeps a copy of `pkt`, forgetting the oldest packets as needed.
    pub fn push(&mut self, pkt: &RawPacket<'_>) {
        let len = pkt.data.len();
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.data.capacity() - c.data.len() >= len);
        if !fits {
            let data = match self.spare.take() {
                Some(mut v) if v.capacity() >= len => {
                    v.clear();
                    v
                }
                _ => Vec::with_capacity(CHUNK.max(len)),
            };
            self.chunks.push_back(Chunk {
                seq: self.next_chunk,
                data,
            });
            self.next_chunk += 1;
        }
        let Some(chunk) = self.chunks.back_mut() else {
            return;
        };
        let start = chunk.data.len();
        chunk.data.extend_from_slice(pkt.data);
        self.entries.push_back(Entry {
            ts: pkt.ts,
            orig_len: pkt.orig_len,
            link: pkt.link,
            chunk: chunk.seq,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(len).unwrap_or(u32::MAX),
        });
        if self.newest.is_none_or(|n| pkt.ts > n) {
            self.newest = Some(pkt.ts);
        }
        while self.entries.len() > self.max_packets || (self.bytes_over() && self.chunks.len() > 1)
        {
            self.evict_one();
        }
    }

    fn bytes_over(&self) -> bool {
        // Chunks are 1 MiB (or one large packet): counting them is cheap enough.
        (self.chunks.len() as u64).saturating_mul(CHUNK as u64) > self.max_bytes
    }

    fn evict_one(&mut self) {
        let Some(e) = self.entries.pop_front() else {
            return;
        };
        self.evicted += 1;
        let next_chunk = self.entries.front().map(|n| n.chunk);
        // The chunk is free once no kept packet points into it; a standard-size chunk is
        // kept for reuse.
        if next_chunk != Some(e.chunk)
            && self.chunks.front().is_some_and(|c| c.seq == e.chunk)
            && let Some(c) = self.chunks.pop_front()
            && c.data.capacity() == CHUNK
        {
            self.spare = Some(c.data);
        }
    }

    fn data(&self, e: &Entry) -> &[u8] {
        let first = self.chunks.front().map_or(0, |c| c.seq);
        let Some(c) = usize::try_from(e.chunk - first)
            .ok()
            .and_then(|i| self.chunks.get(i))
        else {
            return &[];
        };
        let start = e.start as usize;
        c.data.get(start..start + e.len as usize).unwrap_or(&[])
    }

    /// Every packet kept with `from <= time <= to`, in arrival order.
    pub fn packets_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = RawPacket<'_>> {
        self.entries
            .iter()
            .filter(move |e| e.ts >= from && e.ts <= to)
            .map(|e| RawPacket {
                ts: e.ts,
                data: self.data(e),
                orig_len: e.orig_len,
                link: e.link,
            })
    }

    /// Writes the packets with `from <= time <= to` to `path`, atomically (a temporary file
    /// beside it, renamed when complete). The link type of a pcap file is that of the first
    /// packet written.
    ///
    /// # Errors
    /// [`RecordingError::Empty`] when no packet kept is in the span (no file is written),
    /// [`RecordingError::Io`] / [`RecordingError::Pcap`] when writing fails.
    pub fn export(
        &self,
        from: Timestamp,
        to: Timestamp,
        path: &Path,
        format: CaptureFormat,
    ) -> Result<Exported, RecordingError> {
        let mut packets = self.packets_between(from, to).peekable();
        let Some(first) = packets.peek() else {
            return Err(RecordingError::Empty {
                oldest: self.oldest(),
            });
        };
        let tmp = crate::fsutil::temporary_beside(path);
        let mut w = PacketWriter::create(&tmp, format, first.link)?;
        let result = packets.try_for_each(|p| w.write(p.ts, p.orig_len, p.link, p.data));
        let (written, skipped, bytes) = (w.packets, w.skipped, w.bytes);
        let result = result.and_then(|()| w.finish());
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, path).map_err(|e| RecordingError::io(path, e))?;
        Ok(Exported {
            path: path.to_path_buf(),
            packets: written,
            skipped,
            bytes,
            from,
            to,
        })
    }

    /// Writes the last `secs` seconds (of packet time, up to the newest packet) to `path`.
    ///
    /// # Errors
    /// As [`export`](Self::export).
    pub fn export_last(
        &self,
        secs: u64,
        path: &Path,
        format: CaptureFormat,
    ) -> Result<Exported, RecordingError> {
        let Some(newest) = self.newest else {
            return Err(RecordingError::Empty { oldest: None });
        };
        let span = i64::try_from(secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        self.export(newest.add_micros(-span), newest, path, format)
    }
}
