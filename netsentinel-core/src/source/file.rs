//! pcap and pcapng files, read with `pcap-file`.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pcap_file::pcap::PcapHeader;
use pcap_file::pcapng::Block;
use pcap_file::pcapng::PcapNgReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::{Endianness, PcapError, TsResolution};

use super::{LinkType, PacketSource, RawPacket, Recv, SourceError, SourceStats};
use crate::time::Timestamp;

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4], // microseconds, big endian
    [0xd4, 0xc3, 0xb2, 0xa1], // microseconds, little endian
    [0xa1, 0xb2, 0x3c, 0x4d], // nanoseconds, big endian
    [0x4d, 0x3c, 0xb2, 0xa1], // nanoseconds, little endian
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Counts bytes read so the source can report progress without seeking.
struct CountingReader {
    file: File,
    read: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Timestamp units of one pcapng interface.
#[derive(Clone, Copy, Debug)]
struct NgInterface {
    link: LinkType,
    /// `if_tsresol`: bit 7 clear = 10^-n seconds, set = 2^-n seconds. Default 6 (µs).
    tsresol: u8,
    /// `if_tsoffset` in seconds.
    tsoffset: i64,
}

impl NgInterface {
    fn from_idb(
        idb: &pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock<'_>,
    ) -> Self {
        let mut iface = NgInterface {
            link: LinkType::from_linktype(u32::from(idb.linktype)),
            tsresol: 6,
            tsoffset: 0,
        };
        for opt in &idb.options {
            match opt {
                InterfaceDescriptionOption::IfTsResol(r) => iface.tsresol = *r,
                InterfaceDescriptionOption::IfTsOffset(o) => {
                    iface.tsoffset = i64::try_from(*o).unwrap_or(0)
                }
                _ => {}
            }
        }
        iface
    }

    fn timestamp(&self, ticks: u64) -> Timestamp {
        let ticks = u128::from(ticks);
        let micros = if self.tsresol & 0x80 == 0 {
            let exp = u32::from(self.tsresol);
            if exp >= 6 {
                ticks / 10u128.saturating_pow(exp - 6)
            } else {
                ticks.saturating_mul(10u128.pow(6 - exp))
            }
        } else {
            let exp = u32::from(self.tsresol & 0x7f).min(127);
            ticks.saturating_mul(1_000_000) >> exp
        };
        let micros = i64::try_from(micros).unwrap_or(i64::MAX);
        Timestamp::from_micros(micros).add_micros(self.tsoffset.saturating_mul(1_000_000))
    }
}

/// Bytes read per `read()` call for classic pcap files: small enough that the records just
/// copied in are still in L2 cache when parsed (4 MiB chunks were measurably slower).
const READ_CHUNK: usize = 256 << 10;
/// Largest record accepted. libpcap caps snap lengths at 256 KiB; this leaves room for odd
/// writers while refusing a corrupt length before allocating for it.
const MAX_RECORD: usize = 64 << 20;

/// Classic pcap records parsed from our own read buffer.
///
/// pcap-file parses the file header; the 16-byte record headers are read here because
/// pcap-file's per-packet path refuses every packet cut by the snap length
/// (`orig_len > snaplen`) and costs about a tenth of the whole pipeline's time.
struct PcapRecords {
    file: CountingReader,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    big_endian: bool,
    nanos: bool,
    /// Records handed out by [`next`](Self::next).
    taken: u64,
    /// Where the last [`peek`](Self::peek) stopped: record number `.0` (counted as `taken`
    /// counts) starts at buffer offset `.1`. The engine peeks two records ahead before
    /// every packet; walking on from here passes one record where walking from the next
    /// one passed three.
    peeked: Cell<Option<(u64, usize)>>,
}

impl PcapRecords {
    /// Makes at least `need` unread bytes available; `false` at end of file.
    #[inline]
    fn fill(&mut self, need: usize) -> io::Result<bool> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        self.refill(need)
    }

    /// [`fill`](Self::fill) when the buffer runs short, once a quarter MiB: kept out of the
    /// path every record takes.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, need: usize) -> io::Result<bool> {
        self.buf.copy_within(self.start..self.end, 0);
        // The place a peek kept is an offset into the bytes just moved.
        self.peeked.set(None);
        self.end -= self.start;
        self.start = 0;
        let size = need.max(READ_CHUNK);
        if self.buf.len() < size {
            self.buf.resize(size, 0);
        }
        while self.end < need {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// The fields of the record header at `at`, in the file's byte order: seconds,
    /// fraction of a second, included length, original length. `None` unless the buffer
    /// holds all 16 bytes.
    fn header_at(&self, at: usize) -> Option<[u32; 4]> {
        let bytes: &[u8; 16] = self.buf.get(at..at.checked_add(16)?)?.try_into().ok()?;
        let field = |i: usize| [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]];
        // One test of the byte order for the four fields.
        Some(if self.big_endian {
            [0, 4, 8, 12].map(|i| u32::from_be_bytes(field(i)))
        } else {
            [0, 4, 8, 12].map(|i| u32::from_le_bytes(field(i)))
        })
    }

    /// The record `ahead` places after the next one, when the buffer holds it whole (the
    /// buffer is not filled for it). A record header that [`next`](Self::next) would refuse
    /// is not looked past.
    fn peek(&self, ahead: usize) -> Option<Record> {
        let target = self.taken.saturating_add(ahead as u64);
        let (mut n, mut at) = match self.peeked.get() {
            Some((n, at)) if (self.taken..=target).contains(&n) => (n, at),
            _ => (self.taken, self.start),
        };
        let found = loop {
            if self.end - at < 16 {
                break None;
            }
            let Some([secs, frac, incl, orig_len]) = self.header_at(at) else {
                break None;
            };
            let incl = incl as usize;
            if incl > MAX_RECORD || self.end - at - 16 < incl {
                break None;
            }
            if n == target {
                break Some(Record::at(at, [secs, frac, orig_len], incl));
            }
            at += 16 + incl;
            n += 1;
        };
        self.peeked.set(Some((n, at)));
        found
    }

    /// The packet of a record in the buffer.
    fn packet(&self, record: Record, link: LinkType) -> RawPacket<'_> {
        let Record {
            secs,
            frac,
            orig_len,
            data: range,
        } = record;
        let micros = if self.nanos { frac / 1000 } else { frac };
        let ts = Timestamp::from_secs_micros(i64::from(secs), micros.min(999_999));
        let incl = u32::try_from(range.len()).unwrap_or(u32::MAX);
        RawPacket {
            ts,
            data: &self.buf[range],
            // Some writers store orig_len < incl_len; the wire had at least incl_len.
            orig_len: orig_len.max(incl),
            link,
        }
    }

    /// The next record.
    fn next(&mut self) -> Result<Option<Record>, RecordError> {
        if !self.fill(16).map_err(RecordError::Io)? {
            return if self.end == self.start {
                Ok(None)
            } else {
                Err(RecordError::Truncated)
            };
        }
        let [secs, frac, incl, orig_len] = self.header_at(self.start).unwrap_or_default();
        let incl = incl as usize;
        if incl > MAX_RECORD {
            return Err(RecordError::TooLong(incl));
        }
        // (This may move the bytes: the record's place is taken after it.)
        if !self.fill(16 + incl).map_err(RecordError::Io)? {
            return Err(RecordError::Truncated);
        }
        let record = Record::at(self.start, [secs, frac, orig_len], incl);
        self.start += 16 + incl;
        self.taken += 1;
        Ok(Some(record))
    }
}

/// A record header's fields and where its bytes are in the buffer.
struct Record {
    secs: u32,
    /// Microseconds or nanoseconds, per the file's magic.
    frac: u32,
    orig_len: u32,
    data: std::ops::Range<usize>,
}

impl Record {
    /// The record whose header, at buffer offset `at`, has these times and original
    /// length and `incl` bytes of data.
    fn at(at: usize, [secs, frac, orig_len]: [u32; 3], incl: usize) -> Record {
        Record {
            secs,
            frac,
            orig_len,
            data: at + 16..at + 16 + incl,
        }
    }
}

enum RecordError {
    Io(io::Error),
    Truncated,
    TooLong(usize),
}

enum Reader {
    Pcap {
        records: PcapRecords,
        link: LinkType,
    },
    PcapNg {
        reader: PcapNgReader<CountingReader>,
        interfaces: Vec<NgInterface>,
    },
}

/// A pcap or pcapng file.
///
/// The format is recognised from the magic number, not the file name. Classic pcap files
/// with a link type the decoder does not understand are refused at open; in pcapng files,
/// packets of such interfaces are delivered with [`LinkType::Other`] and counted by the
/// decoder as `unsupported_link_type`. Classic pcap files are read through a buffer of
/// a quarter MiB, and [`PacketSource::peek`] shows the packets already in it (the engine
/// prefetches their flows); pcapng files show none.
///
/// ```no_run
/// use netsentinel_core::{FileSource, PacketSource, Recv};
/// let mut src = FileSource::open("capture.pcap")?;
/// while let Recv::Packet(p) = src.next_packet()? {
///     println!("{} {} bytes", p.ts, p.orig_len);
/// }
/// # Ok::<(), netsentinel_core::SourceError>(())
/// ```
pub struct FileSource {
    path: PathBuf,
    name: String,
    reader: Reader,
    packets: u64,
    total_bytes: u64,
    bytes_read: Arc<AtomicU64>,
    /// Holds a packet the reader handed out as owned data (never seen in practice).
    scratch: Vec<u8>,
}

impl FileSource {
    /// Opens a capture file and reads its header.
    ///
    /// # Errors
    /// [`SourceError::Io`] when the file cannot be read, [`SourceError::Empty`],
    /// [`SourceError::NotACapture`] for an unknown magic number, [`SourceError::Corrupt`] or
    /// [`SourceError::Truncated`] for a bad header, and [`SourceError::UnsupportedLinkType`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SourceError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| SourceError::Io {
            path: path.clone(),
            source,
        };
        let mut file = File::open(&path).map_err(io_err)?;
        let total_bytes = file.metadata().map_err(io_err)?.len();
        let mut magic = Vec::with_capacity(4);
        (&mut file)
            .take(4)
            .read_to_end(&mut magic)
            .map_err(io_err)?;
        if magic.is_empty() {
            return Err(SourceError::Empty { path });
        }
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let bytes_read = Arc::new(AtomicU64::new(0));
        let counting = CountingReader {
            file,
            read: Arc::clone(&bytes_read),
        };
        let header_err = |e: PcapError| map_pcap_error(&path, 0, e);
        let reader = if PCAP_MAGICS.iter().any(|m| magic == m) {
            let mut records = PcapRecords {
                file: counting,
                buf: Vec::new(),
                start: 0,
                end: 0,
                big_endian: false,
                nanos: false,
                taken: 0,
                peeked: Cell::new(None),
            };
            if !records.fill(24).map_err(io_err)? {
                return Err(SourceError::Truncated { path, packets: 0 });
            }
            let (_, header) = PcapHeader::from_slice(&records.buf[..24]).map_err(header_err)?;
            records.start = 24;
            records.big_endian = header.endianness == Endianness::Big;
            records.nanos = header.ts_resolution == TsResolution::NanoSecond;
            // The upper bits of the link-type field carry FCS information (LT_LINKTYPE).
            let linktype = u32::from(header.datalink) & 0x03ff_ffff;
            let link = LinkType::from_linktype(linktype);
            if !link.is_supported() {
                return Err(SourceError::UnsupportedLinkType { path, linktype });
            }
            Reader::Pcap { records, link }
        } else if magic == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(counting).map_err(header_err)?;
            Reader::PcapNg {
                reader,
                interfaces: Vec::new(),
            }
        } else {
            return Err(SourceError::NotACapture { path, magic });
        };
        Ok(FileSource {
            name: path.display().to_string(),
            path,
            reader,
            packets: 0,
            total_bytes,
            bytes_read,
            scratch: Vec::new(),
        })
    }

    /// The link type of a classic pcap file; `None` for pcapng (per interface).
    pub fn link_type(&self) -> Option<LinkType> {
        match &self.reader {
            Reader::Pcap { link, .. } => Some(*link),
            Reader::PcapNg { .. } => None,
        }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn map_pcap_error(path: &Path, packets: u64, err: PcapError) -> SourceError {
    match err {
        PcapError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            SourceError::Truncated {
                path: path.to_path_buf(),
                packets,
            }
        }
        PcapError::IncompleteBuffer => SourceError::Truncated {
            path: path.to_path_buf(),
            packets,
        },
        PcapError::IoError(source) => SourceError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => SourceError::Corrupt {
            path: path.to_path_buf(),
            packets,
            reason: other.to_string(),
        },
    }
}

impl PacketSource for FileSource {
    fn next_packet(&mut self) -> Result<Recv<'_>, SourceError> {
        let path = &self.path;
        let packets = self.packets;
        match &mut self.reader {
            Reader::Pcap { records, link } => {
                let record = match records.next() {
                    Ok(Some(r)) => r,
                    Ok(None) => return Ok(Recv::Eof),
                    Err(RecordError::Truncated) => {
                        return Err(SourceError::Truncated {
                            path: path.clone(),
                            packets,
                        });
                    }
                    Err(RecordError::TooLong(len)) => {
                        return Err(SourceError::Corrupt {
                            path: path.clone(),
                            packets,
                            reason: format!(
                                "record of {len} bytes exceeds the {MAX_RECORD}-byte limit"
                            ),
                        });
                    }
                    Err(RecordError::Io(source)) => {
                        return Err(SourceError::Io {
                            path: path.clone(),
                            source,
                        });
                    }
                };
                self.packets += 1;
                Ok(Recv::Packet(records.packet(record, *link)))
            }
            Reader::PcapNg { reader, interfaces } => {
                // The packet is copied into `scratch`: returning a borrow of the reader
                // from inside this loop is rejected by the borrow checker (NLL problem
                // case 3), and core forbids unsafe. Classic pcap stays zero-copy.
                let (iface, ticks, orig_len) = loop {
                    let block = match reader.next_block() {
                        None => return Ok(Recv::Eof),
                        Some(Err(e)) => return Err(map_pcap_error(path, packets, e)),
                        Some(Ok(block)) => block,
                    };
                    let unknown_interface = |id: u32| SourceError::Corrupt {
                        path: path.clone(),
                        packets,
                        reason: format!("packet refers to undeclared interface {id}"),
                    };
                    let (iface, ticks, orig_len, data) = match block {
                        Block::SectionHeader(_) => {
                            interfaces.clear();
                            continue;
                        }
                        Block::InterfaceDescription(idb) => {
                            interfaces.push(NgInterface::from_idb(&idb));
                            continue;
                        }
                        Block::EnhancedPacket(epb) => {
                            let iface = *interfaces
                                .get(epb.interface_id as usize)
                                .ok_or_else(|| unknown_interface(epb.interface_id))?;
                            // pcap-file stores the raw tick count as nanoseconds; the unit
                            // is really the interface's if_tsresol.
                            let ticks = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                            (iface, ticks, epb.original_len, epb.data)
                        }
                        Block::Packet(pb) => {
                            let iface = *interfaces
                                .get(usize::from(pb.interface_id))
                                .ok_or_else(|| unknown_interface(u32::from(pb.interface_id)))?;
                            (iface, pb.timestamp, pb.original_len, pb.data)
                        }
                        Block::SimplePacket(spb) => {
                            let iface = *interfaces.first().ok_or_else(|| unknown_interface(0))?;
                            // A simple packet block has no timestamp.
                            (iface, 0, spb.original_len, spb.data)
                        }
                        _ => continue,
                    };
                    self.scratch.clear();
                    self.scratch.extend_from_slice(&data);
                    break (iface, ticks, orig_len);
                };
                self.packets += 1;
                let data = self.scratch.as_slice();
                Ok(Recv::Packet(RawPacket {
                    ts: iface.timestamp(ticks),
                    orig_len: orig_len.max(u32::try_from(data.len()).unwrap_or(u32::MAX)),
                    data,
                    link: iface.link,
                }))
            }
        }
    }

    fn peek(&self, ahead: usize) -> Option<RawPacket<'_>> {
        match &self.reader {
            Reader::Pcap { records, link } => records.peek(ahead).map(|r| records.packet(r, *link)),
            // pcap-file's reader parses a block only as it hands it out.
            Reader::PcapNg { .. } => None,
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn stats(&self) -> SourceStats {
        SourceStats {
            received: self.packets,
            dropped: 0,
        }
    }

    fn progress(&self) -> Option<(u64, u64)> {
        Some((self.bytes_read.load(Ordering::Relaxed), self.total_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_tsresol_units() {
        let mk = |tsresol| NgInterface {
            link: LinkType::Ethernet,
            tsresol,
            tsoffset: 0,
        };
        assert_eq!(mk(6).timestamp(1_500_000).as_micros(), 1_500_000);
        assert_eq!(mk(9).timestamp(1_500_000_000).as_micros(), 1_500_000);
        assert_eq!(mk(3).timestamp(1_500).as_micros(), 1_500_000);
        // 2^-10 s ticks: 1024 ticks = 1 s.
        assert_eq!(mk(0x80 | 10).timestamp(1024).as_micros(), 1_000_000);
    }

    /// What `peek` shows is what `next_packet` then returns, as far as it shows anything;
    /// across a whole capture (so across read-buffer refills).
    #[test]
    fn peek_shows_the_packets_to_come() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/corpus/attacks/exfil_http.pcap"
        );
        let owned = |p: RawPacket<'_>| (p.ts, p.orig_len, p.data.to_vec());
        let mut source = FileSource::open(path).expect("bundled capture");
        // (packet number, what peek showed of it)
        type Shown = (usize, (Timestamp, u32, Vec<u8>));
        let mut promised: Vec<Shown> = Vec::new();
        let (mut read, mut shown) = (0, 0);
        loop {
            for ahead in 0..3 {
                if let Some(p) = source.peek(ahead) {
                    promised.push((read + ahead, owned(p)));
                    shown += 1;
                }
            }
            let Recv::Packet(p) = source.next_packet().expect("readable") else {
                break;
            };
            let got = owned(p);
            for (_, want) in promised.iter().filter(|(n, _)| *n == read) {
                assert_eq!(*want, got, "packet {read}");
            }
            promised.retain(|(n, _)| *n > read);
            read += 1;
        }
        assert!(promised.is_empty(), "peek showed packets past the end");
        assert!(shown > 2 * read, "{shown} shown for {read} packets");
    }

    /// `peek` walks on from where the last one stopped; it finds what a walk from the next
    /// record finds, in order, out of order and far ahead, across buffer refills.
    #[test]
    fn peek_resumes_its_walk_correctly() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/corpus/attacks/exfil_http.pcap"
        );
        let source = FileSource::open(path).expect("bundled capture");
        let Reader::Pcap { mut records, .. } = source.reader else {
            panic!("a classic pcap file");
        };
        // The walk from the next record, as `peek` did before it kept its place.
        let walked = |r: &PcapRecords, ahead: usize| {
            let mut at = r.start;
            for n in 0..=ahead {
                let incl = r.header_at(at).map_or(0, |h| h[2] as usize);
                if r.end - at < 16 || r.end - at - 16 < incl {
                    return None;
                }
                if n == ahead {
                    return Some(at + 16..at + 16 + incl);
                }
                at += 16 + incl;
            }
            None
        };
        let (mut read, mut found) = (0, 0);
        while let Ok(Some(_)) = records.next() {
            let order: &[usize] = match read % 3 {
                0 => &[0, 1, 2],
                1 => &[2, 0, 1, 3],
                _ => &[2, 40],
            };
            for &ahead in order {
                let want = walked(&records, ahead);
                found += usize::from(want.is_some());
                assert_eq!(
                    records.peek(ahead).map(|r| r.data),
                    want,
                    "{ahead} after {read}"
                );
            }
            read += 1;
        }
        assert!(
            read > 1000 && found > 2 * read,
            "{found} found for {read} records"
        );
    }
}
