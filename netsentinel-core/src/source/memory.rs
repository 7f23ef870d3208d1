//! Frames held in memory.

use std::collections::VecDeque;

use super::{LinkType, PacketSource, RawPacket, Recv, SourceError, SourceStats};
use crate::time::Timestamp;

/// A queue of frames held in memory, all of one link type.
///
/// Used by tests and by programs that receive frames from elsewhere. Frames are delivered
/// in the order pushed; [`Recv::Eof`] once the queue is empty.
#[derive(Debug, Clone)]
pub struct MemorySource {
    link: LinkType,
    frames: VecDeque<(Timestamp, Vec<u8>)>,
    current: Option<(Timestamp, Vec<u8>)>,
    delivered: u64,
}

impl MemorySource {
    /// An empty source of `link` frames.
    pub fn new(link: LinkType) -> Self {
        MemorySource {
            link,
            frames: VecDeque::new(),
            current: None,
            delivered: 0,
        }
    }

    /// Appends one frame captured at `ts`.
    pub fn push(&mut self, ts: Timestamp, frame: Vec<u8>) {
        self.frames.push_back((ts, frame));
    }

    /// Frames not yet delivered.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether every frame has been delivered.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

impl FromIterator<(Timestamp, Vec<u8>)> for MemorySource {
    /// Ethernet frames from an iterator.
    fn from_iter<I: IntoIterator<Item = (Timestamp, Vec<u8>)>>(iter: I) -> Self {
        let mut src = MemorySource::new(LinkType::Ethernet);
        src.frames.extend(iter);
        src
    }
}

impl PacketSource for MemorySource {
    fn next_packet(&mut self) -> Result<Recv<'_>, SourceError> {
        self.current = self.frames.pop_front();
        match &self.current {
            None => Ok(Recv::Eof),
            Some((ts, data)) => {
                self.delivered += 1;
                Ok(Recv::Packet(RawPacket {
                    ts: *ts,
                    data,
                    orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
                    link: self.link,
                }))
            }
        }
    }

    fn name(&self) -> &str {
        "memory"
    }

    fn stats(&self) -> SourceStats {
        SourceStats {
            received: self.delivered,
            dropped: 0,
        }
    }
}
