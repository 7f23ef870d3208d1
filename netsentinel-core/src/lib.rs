//! NetSentinel: network monitoring and intrusion detection.
//!
//! # Brief overview
//!
//! - [`PacketSource`]: where packets come from ([`FileSource`] for pcap/pcapng,
//!   [`MemorySource`], `LiveSource` with the `live` feature).
//! - [`decode()`] turns a [`RawPacket`] into a zero-copy [`PacketView`]; what cannot be
//!   decoded becomes a counted [`DecodeAnomaly`], never a panic.
//! - [`FlowTable`] tracks bidirectional [`Flow`]s with Community IDs, TCP state, idle
//!   timeouts and a hard cap; [`TrafficStats`] keeps bandwidth, protocol breakdown, top talkers.
//! - [`Detector`]s look at packets, flow ends and ticks and emit [`Alert`]s.
//! - [`AlertSink`]s receive alerts, flows, anomalies and the final [`RunSummary`]
//!   ([`JsonLinesSink`], [`EveSink`], [`ConsoleSink`], [`CollectSink`], [`FnSink`]).
//! - [`Engine`] ties them together: `Engine::builder(config).detector(..).sink(..).build()`,
//!   then [`Engine::run`] on a source ([`Engine::run_parallel`] on several threads, with
//!   the same output), or [`Engine::process`] packet by packet.
//!
//! ```no_run
//! use netsentinel_core::{Engine, EngineConfig, EveSink, FileSource};
//! let mut source = FileSource::open("capture.pcap")?;
//! let mut engine = Engine::builder(EngineConfig::default())
//!     .sink(EveSink::new(std::io::stdout()))
//!     .build()?;
//! let summary = engine.run(&mut source)?;
//! eprintln!("{} packets, {} flows", summary.traffic.packets, summary.flows.created);
//! # Ok::<(), netsentinel_core::Error>(())
//! ```
//!
//! Time always comes from the packets ([`Timestamp`]), so a capture replays the same way
//! every time.

// One module allows unsafe code, for SIMD gathers and loads: `ml::iforest::avx512` (the
// Isolation Forest's vector walk), every block with its safety argument.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod alert;
pub mod config;
pub mod datadir;
pub mod decode;
pub mod detect;
pub mod device;
pub mod engine;
pub mod error;
pub mod flow;
pub mod forensics;
pub mod fsutil;
pub mod gateway;
pub mod incident;
pub mod intel;
pub mod ml;
pub mod neighbor;
pub mod process;
pub mod reassembly;
pub mod recording;
pub mod report;
pub mod snapshot;
pub mod source;
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;
pub mod time;
pub mod traffic;
pub mod vault;

pub use alert::sinks::{CollectSink, ConsoleSink, EveSink, FnSink, JsonLinesSink};
pub use alert::{Alert, AlertSink, AnomalyEvent, Severity, SinkError};
pub use config::{CaptureConfig, ConfigError, EngineConfig};
pub use decode::{
    AnomalyKind, ArpView, DecodeAnomaly, Fragment, IpView, Network, PacketView, ProtocolLayer,
    TcpFlags, TcpView, Transport, decode, decode_reference,
};
pub use detect::{Context, Detector, DetectorsConfig, Interest, TableUsage};
pub use engine::{Engine, EngineBuilder, RunSummary, StopHandle};
pub use error::{Error, Result};
pub use flow::{
    DirectionStats, Flow, FlowConfig, FlowEndReason, FlowId, FlowKey, FlowTable, FlowTableStats,
    TcpState, community_id,
};
pub use neighbor::NeighborTable;
pub use source::{
    FileSource, LinkType, MemorySource, PacketSource, RawPacket, Recv, SourceError, SourceStats,
};
pub use time::Timestamp;
pub use traffic::{TrafficConfig, TrafficReport, TrafficStats};
