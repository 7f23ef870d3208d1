//! Where packets come from.
//!
//! A [`PacketSource`] lends one packet at a time ([`PacketSource::next_packet`]): the packet
//! borrows the source's buffer, so reading a file copies nothing. A source may also show
//! the packets it already holds ([`PacketSource::peek`]), which the engine uses to fetch
//! their flows into the cache early. Sources:
//!
//! - [`FileSource`]: pcap and pcapng files (any byte order, micro- or nanosecond
//!   timestamps, pcapng `if_tsresol`);
//! - [`MemorySource`]: frames held in memory (tests, embedding, the FFI push mode);
//! - `LiveSource` (cargo feature `live`): a network interface through libpcap.

mod file;
#[cfg(feature = "live")]
mod live;
mod memory;

use std::path::PathBuf;

use serde::Serialize;

pub use file::FileSource;
#[cfg(feature = "live")]
pub use live::{Interface, LiveConfig, LiveSource, interfaces};
pub use memory::MemorySource;

use crate::time::Timestamp;

/// The link-layer header type of a capture (the pcap `LINKTYPE_*` values we decode).
///
/// ```
/// use netsentinel_core::LinkType;
/// assert_eq!(LinkType::from_linktype(1), LinkType::Ethernet);
/// assert_eq!(LinkType::from_linktype(276), LinkType::LinuxSll2);
/// assert_eq!(LinkType::Ethernet.linktype(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1).
    Ethernet,
    /// `LINKTYPE_LINUX_SLL` (113): Linux cooked capture v1, what `any` gives.
    LinuxSll,
    /// `LINKTYPE_LINUX_SLL2` (276): Linux cooked capture v2.
    LinuxSll2,
    /// `LINKTYPE_RAW` (101) or DLT_RAW (12/14): a bare IPv4 or IPv6 packet.
    RawIp,
    /// `LINKTYPE_IPV4` (228).
    Ipv4,
    /// `LINKTYPE_IPV6` (229).
    Ipv6,
    /// `LINKTYPE_NULL` (0): BSD loopback, 4-byte address family in host byte order.
    Null,
    /// `LINKTYPE_LOOP` (108): OpenBSD loopback, address family in network byte order.
    Loop,
    /// Any other link type: packets are counted but not decoded.
    Other(u32),
}

impl LinkType {
    /// The link type for a pcap `LINKTYPE_*` / `DLT_*` number.
    pub fn from_linktype(value: u32) -> Self {
        match value {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            // 12 and 14 are the DLT_RAW values some BSDs write into files.
            101 | 12 | 14 => LinkType::RawIp,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            other => LinkType::Other(other),
        }
    }

    /// The pcap `LINKTYPE_*` number written into files.
    pub fn linktype(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::RawIp => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Null => 0,
            LinkType::Loop => 108,
            LinkType::Other(v) => v,
        }
    }

    /// Whether the decoder understands this link type.
    pub fn is_supported(self) -> bool {
        !matches!(self, LinkType::Other(_))
    }
}

/// One captured packet, borrowed from its source.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Captured bytes (may be shorter than `orig_len` when the snap length cut the frame).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// Link-layer type of `data`.
    pub link: LinkType,
}

/// Packet counts a source reports about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SourceStats {
    /// Packets delivered by the source.
    pub received: u64,
    /// Packets the capture mechanism dropped (kernel or interface), when known.
    pub dropped: u64,
}

/// The result of asking a source for its next packet.
#[derive(Debug)]
pub enum Recv<'a> {
    /// A packet.
    Packet(RawPacket<'a>),
    /// No packet arrived before the source's read timeout (live sources only).
    Idle,
    /// The source is exhausted (end of file, or the live capture was stopped).
    Eof,
}

/// Where packets come from.
///
/// Implement it to feed the engine from anything: a file, an interface, a ring buffer, a
/// socket. The packet borrows the source, so a source can hand out slices of its own buffer.
///
/// ```
/// use netsentinel_core::{LinkType, MemorySource, PacketSource, Recv, Timestamp};
/// let mut src = MemorySource::new(LinkType::Ethernet);
/// src.push(Timestamp::from_micros(1), vec![0u8; 60]);
/// assert!(matches!(src.next_packet().unwrap(), Recv::Packet(p) if p.data.len() == 60));
/// assert!(matches!(src.next_packet().unwrap(), Recv::Eof));
/// ```
pub trait PacketSource: Send {
    /// The next packet, [`Recv::Idle`] on a read timeout, or [`Recv::Eof`] at the end.
    ///
    /// # Errors
    /// A [`SourceError`] when the source cannot go on (I/O error, corrupt file). The
    /// packets already returned stay valid results.
    fn next_packet(&mut self) -> Result<Recv<'_>, SourceError>;

    /// The packet `ahead` places after the one [`next_packet`](Self::next_packet) will
    /// return next (0 is that one), when the source already holds it; `None` when it does
    /// not or cannot tell. Only a hint: the engine looks a couple of packets ahead to fetch
    /// their flows into the cache before it needs them. The default holds nothing.
    fn peek(&self, ahead: usize) -> Option<RawPacket<'_>> {
        let _ = ahead;
        None
    }

    /// A name for messages: the file path or interface name.
    fn name(&self) -> &str;

    /// Received and dropped packet counts.
    fn stats(&self) -> SourceStats {
        SourceStats::default()
    }

    /// How far through its input the source is, as (done, total) bytes, when it knows.
    fn progress(&self) -> Option<(u64, u64)> {
        None
    }
}

impl<S: PacketSource + ?Sized> PacketSource for &mut S {
    fn next_packet(&mut self) -> Result<Recv<'_>, SourceError> {
        (**self).next_packet()
    }
    fn peek(&self, ahead: usize) -> Option<RawPacket<'_>> {
        (**self).peek(ahead)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn stats(&self) -> SourceStats {
        (**self).stats()
    }
    fn progress(&self) -> Option<(u64, u64)> {
        (**self).progress()
    }
}

impl<S: PacketSource + ?Sized> PacketSource for Box<S> {
    fn next_packet(&mut self) -> Result<Recv<'_>, SourceError> {
        (**self).next_packet()
    }
    fn peek(&self, ahead: usize) -> Option<RawPacket<'_>> {
        (**self).peek(ahead)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn stats(&self) -> SourceStats {
        (**self).stats()
    }
    fn progress(&self) -> Option<(u64, u64)> {
        (**self).progress()
    }
}

/// Why a source could not deliver packets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{path}: empty file, not a capture")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file does not start with a pcap or pcapng magic number.
    #[error("{path}: not a pcap or pcapng file (magic {magic:02x?})")]
    NotACapture {
        /// The file.
        path: PathBuf,
        /// The first bytes of the file.
        magic: Vec<u8>,
    },
    /// The capture's header or a record is corrupt.
    #[error("{path}: corrupt capture after {packets} packets: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Packets read before the corruption.
        packets: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file ends in the middle of a record.
    #[error("{path}: truncated capture: file ends inside a record after {packets} packets")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Complete packets read.
        packets: u64,
    },
    /// The capture uses a link type the decoder does not understand.
    #[error("{path}: unsupported link type {linktype}")]
    UnsupportedLinkType {
        /// The file.
        path: PathBuf,
        /// The `LINKTYPE_*` value.
        linktype: u32,
    },
    /// The live capture failed (libpcap's message).
    #[error("capture on {interface}: {message}")]
    Capture {
        /// The interface.
        interface: String,
        /// libpcap's error text.
        message: String,
    },
}
