//! Live capture through libpcap (feature `live`).

use std::net::IpAddr;

use pcap::{Active, Capture, Device};

use super::{LinkType, PacketSource, RawPacket, Recv, SourceError, SourceStats};
use crate::config::CaptureConfig;
use crate::time::Timestamp;

/// A capture interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Name to pass to [`LiveSource::open`].
    pub name: String,
    /// libpcap's description, if any.
    pub description: Option<String>,
    /// Addresses of the interface.
    pub addresses: Vec<IpAddr>,
    /// Whether the interface is up.
    pub up: bool,
    /// Whether it is a loopback interface.
    pub loopback: bool,
}

/// The interfaces libpcap can capture on.
///
/// # Errors
/// [`SourceError::Capture`] with libpcap's message.
pub fn interfaces() -> Result<Vec<Interface>, SourceError> {
    let devices = Device::list().map_err(|e| SourceError::Capture {
        interface: "(listing interfaces)".into(),
        message: e.to_string(),
    })?;
    Ok(devices
        .into_iter()
        .map(|d| Interface {
            up: d.flags.is_up(),
            loopback: d.flags.is_loopback(),
            addresses: d.addresses.iter().map(|a| a.addr).collect(),
            description: d.desc,
            name: d.name,
        })
        .collect())
}

/// Re-exported so callers can configure a capture without naming the config module.
pub type LiveConfig = CaptureConfig;

/// Packets from a network interface.
///
/// Timestamps are the kernel's capture times. The capture is non-blocking: when no packet
/// is waiting the source sleeps a few milliseconds and yields [`Recv::Idle`], so the engine
/// runs its periodic work and sees a stop request on a quiet network.
pub struct LiveSource {
    name: String,
    capture: Capture<Active>,
    /// How long to sleep when no packet is waiting, before reporting [`Recv::Idle`].
    idle_wait: std::time::Duration,
    link: LinkType,
    received: u64,
    last_stats: SourceStats,
    /// The source was idle: refresh the kernel's counters on the next call.
    stats_due: bool,
}

impl LiveSource {
    /// Opens `interface` (`any` for all interfaces: Linux cooked frames) with the snap
    /// length, promiscuous mode, read timeout and BPF filter of `config`.
    ///
    /// # Errors
    /// [`SourceError::Capture`] when the interface cannot be opened (not found, no
    /// permission), the filter does not compile, or the link type is not supported.
    pub fn open(interface: &str, config: &CaptureConfig) -> Result<Self, SourceError> {
        let err = |e: pcap::Error| SourceError::Capture {
            interface: interface.to_string(),
            message: e.to_string(),
        };
        let snaplen = i32::try_from(config.snaplen).unwrap_or(i32::MAX);
        let timeout = i32::try_from(config.read_timeout_ms).unwrap_or(i32::MAX);
        let mut capture = Capture::from_device(interface)
            .map_err(err)?
            .promisc(config.promiscuous)
            .snaplen(snaplen)
            .timeout(timeout)
            .immediate_mode(true)
            .buffer_size(
                i32::try_from(u64::from(config.buffer_mib.max(1)) << 20).unwrap_or(i32::MAX),
            )
            .open()
            .map_err(err)?
            // Non-blocking: libpcap's read timeout only starts once a packet arrives, so a
            // blocking read on a silent interface would never return and never see a stop.
            .setnonblock()
            .map_err(err)?;
        if let Some(filter) = &config.bpf_filter {
            capture.filter(filter, true).map_err(err)?;
        }
        let linktype = capture.get_datalink().0;
        let link = LinkType::from_linktype(u32::try_from(linktype).unwrap_or(u32::MAX));
        if !link.is_supported() {
            return Err(SourceError::Capture {
                interface: interface.to_string(),
                message: format!("unsupported link type {linktype}"),
            });
        }
        Ok(LiveSource {
            name: interface.to_string(),
            capture,
            // Short enough for low latency, long enough not to spin a core.
            idle_wait: std::time::Duration::from_millis(u64::from(
                config.read_timeout_ms.clamp(1, 5),
            )),
            link,
            received: 0,
            last_stats: SourceStats::default(),
            stats_due: false,
        })
    }

    fn refresh_stats(&mut self) {
        if let Ok(s) = self.capture.stats() {
            self.last_stats = SourceStats {
                received: self.received,
                dropped: u64::from(s.dropped) + u64::from(s.if_dropped),
            };
        }
    }
}

impl PacketSource for LiveSource {
    fn next_packet(&mut self) -> Result<Recv<'_>, SourceError> {
        if self.received.is_multiple_of(4096) || self.stats_due {
            self.stats_due = false;
            self.refresh_stats();
        }
        match self.capture.next_packet() {
            Ok(p) => {
                self.received += 1;
                let ts = Timestamp::from_secs_micros(
                    p.header.ts.tv_sec,
                    u32::try_from(p.header.ts.tv_usec).unwrap_or(0).min(999_999),
                );
                Ok(Recv::Packet(RawPacket {
                    ts,
                    data: p.data,
                    orig_len: p.header.len,
                    link: self.link,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Non-blocking mode: nothing waiting right now. The next call brings the
                // kernel's drop count up to date (the packet borrow forbids it here).
                self.stats_due = true;
                std::thread::sleep(self.idle_wait);
                Ok(Recv::Idle)
            }
            Err(pcap::Error::NoMorePackets) => Ok(Recv::Eof),
            Err(e) => Err(SourceError::Capture {
                interface: self.name.clone(),
                message: e.to_string(),
            }),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn stats(&self) -> SourceStats {
        SourceStats {
            received: self.received,
            dropped: self.last_stats.dropped,
        }
    }
}
