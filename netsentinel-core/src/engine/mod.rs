//! The engine: source -> decode -> flows and statistics -> detectors -> sinks.
//!
//! Files are analysed on the calling thread ([`Engine::run`]) or on several
//! ([`Engine::run_parallel`], the same records in the same order): nothing is dropped and
//! the result is deterministic. Live sources use [`Engine::run_threaded`]: a capture thread
//! copies packets into a bounded queue and never blocks; when the analysis falls behind,
//! packets are dropped and counted (`queue_drops`). Programs that get packets elsewhere
//! push them with [`Engine::process`] and end with [`Engine::finish`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TrySendError};
use std::time::{Duration, Instant};

use serde::Serialize;

mod flow_threads;
mod handoff;
mod output;
mod pipeline;
pub(crate) mod table_move;

use output::Output;

use crate::alert::{Alert, AlertSink};
use crate::config::EngineConfig;
use crate::decode::decode;
use crate::decode::dns::DnsOnce;
use crate::detect::plaintext_credentials::CredentialStore;
use crate::detect::{Context, Detector, Interest};
use crate::device::DeviceInventory;
use crate::error::Result;
use crate::flow::{Flow, FlowLookahead, FlowTable, FlowTableStats};
use crate::gateway::{AlertGateway, GatewayStats, Whitelist};
use crate::incident::{Correlator, Incident, IncidentStats};
use crate::neighbor::NeighborTable;
use crate::process::{ProcessResolver, SocketProtocol};
use crate::recording::{
    Exported, PacketRing, Recorder, RecorderStats, RecordingError, RingHandle, RingMode,
};
use crate::source::{LinkType, PacketSource, RawPacket, Recv, SourceError, SourceStats};
use crate::time::Timestamp;
use crate::traffic::{LocalNetworks, TrafficReport, TrafficStats};

/// What a run produced, besides the alerts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// Traffic statistics.
    pub traffic: TrafficReport,
    /// Flow table counters.
    pub flows: FlowTableStats,
    /// Alerts written to the sinks (after the gateway's rules, whitelist and
    /// de-duplication; `gateway` counts the rest).
    pub alerts: u64,
    /// Alerts written per detector id.
    pub alerts_by_detector: BTreeMap<String, u64>,
    /// What the alert gateway did: alerts received, written, repeated, suppressed.
    pub gateway: GatewayStats,
    /// Incidents opened, escalations found.
    pub incidents: IncidentStats,
    /// The source's own counters (received, kernel drops).
    pub source: SourceStats,
    /// Packets dropped because the analysis queue was full (live capture only).
    pub queue_drops: u64,
    /// Anomaly events not written because `anomaly_events_per_kind` was reached (still counted
    /// in `traffic.decode_anomalies`).
    pub anomaly_events_suppressed: u64,
    /// Devices found, by type (`gateway`, `server`, ...; [`Engine::devices`] has them all).
    pub devices_by_kind: BTreeMap<String, u64>,
    /// The packet ring and the recorder.
    pub captures: CaptureStats,
    /// Every bounded detector table, keyed `detector.table`: how full it ended and how many
    /// keys it turned away when full (non-zero means the cap was hit; raise it if the
    /// traffic is real).
    pub tables: BTreeMap<String, crate::detect::TableUsage>,
}

/// What the packet ring and the recorder did in a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CaptureStats {
    /// Packets in the ring at the end.
    pub ring_packets: u64,
    /// Packets the ring forgot to stay within its bounds.
    pub ring_evicted: u64,
    /// Incident captures written (`ring.directory`).
    pub incident_captures: u64,
    /// Continuous recording, when on.
    pub recording: Option<RecorderStats>,
    /// Why recording stopped, if a write failed (analysis went on).
    pub recording_error: Option<String>,
}

/// Stops a running engine from another thread.
#[derive(Clone, Debug)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks the engine to stop after the current packet.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    config: EngineConfig,
    error: Option<crate::config::ConfigError>,
    detectors: Vec<Box<dyn Detector>>,
    sinks: Vec<Box<dyn AlertSink>>,
    processes: Option<Box<dyn ProcessResolver>>,
    inventory: Option<DeviceInventory>,
    whitelist: Option<Whitelist>,
}

impl EngineBuilder {
    /// Starts from a baseline whitelist learned earlier ([`Whitelist::load`]) instead of
    /// learning a new one.
    pub fn whitelist(mut self, whitelist: Whitelist) -> Self {
        self.whitelist = Some(whitelist);
        self
    }

    /// Starts from a known device inventory (one [`DeviceInventory::load`]ed from an
    /// earlier run) instead of an empty one.
    pub fn device_inventory(mut self, inventory: DeviceInventory) -> Self {
        self.inventory = Some(inventory);
        self
    }

    /// Names the local process of every new TCP/UDP flow with `resolver` (live capture on
    /// this host: [`crate::process::ProcfsResolver`] on Linux). The answer is on
    /// [`Flow::process`] and in flow output.
    pub fn process_resolver(mut self, resolver: Box<dyn ProcessResolver>) -> Self {
        self.processes = Some(resolver);
        self
    }

    /// Adds a detector; detectors run in the order added.
    pub fn detector(mut self, d: impl Detector + 'static) -> Self {
        self.detectors.push(Box::new(d));
        self
    }

    /// Adds the built-in detectors the configuration enables (`config.detectors`). A
    /// failure to load their data (a threat-intel feed file) is reported by
    /// [`build`](Self::build).
    pub fn builtin_detectors(mut self) -> Self {
        match crate::detect::builtin(&self.config.detectors) {
            Ok(list) => self.detectors.extend(list),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// [`builtin_detectors`](Self::builtin_detectors), with the credential detector also
    /// handing every credential it reports, secret in full, to `credentials` (what
    /// [`crate::vault::Vault::append`] stores). Alerts stay masked.
    pub fn builtin_detectors_storing_credentials(mut self, credentials: CredentialStore) -> Self {
        match crate::detect::builtin_storing_credentials(&self.config.detectors, Some(credentials))
        {
            Ok(list) => self.detectors.extend(list),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// Adds a boxed detector.
    pub fn boxed_detector(mut self, d: Box<dyn Detector>) -> Self {
        self.detectors.push(d);
        self
    }

    /// Adds a sink; every sink gets every event.
    pub fn sink(mut self, s: impl AlertSink + 'static) -> Self {
        self.sinks.push(Box::new(s));
        self
    }

    /// Adds a boxed sink.
    pub fn boxed_sink(mut self, s: Box<dyn AlertSink>) -> Self {
        self.sinks.push(s);
        self
    }

    /// Validates the configuration and builds the engine.
    ///
    /// # Errors
    /// [`crate::Error::Config`] when the configuration is invalid.
    pub fn build(self) -> Result<Engine> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        self.config.validate()?;
        let dispatch = Dispatch::new(self.detectors.iter().map(|d| d.interest()));
        let tick_micros =
            i64::try_from(self.config.tick_interval_ms.saturating_mul(1000)).unwrap_or(i64::MAX);
        let recorder = match (
            &self.config.recording.directory,
            self.config.recording.enabled,
        ) {
            (Some(dir), true) => Some(Recorder::new(dir, self.config.recording.clone()).map_err(
                |e| crate::config::ConfigError::Invalid {
                    key: "recording.directory".into(),
                    reason: e.to_string(),
                },
            )?),
            _ => None,
        };
        let ring = (self.config.ring.mode == RingMode::Always)
            .then(|| PacketRing::new(self.config.ring.max_packets, self.config.ring.max_bytes));
        Ok(Engine {
            ring,
            ring_handle: RingHandle::new(),
            snapshots: crate::snapshot::SnapshotHandle::default(),
            recorder,
            capture_stats: CaptureStats::default(),
            out: Output::new(
                AlertGateway::new(
                    self.config.gateway.clone(),
                    self.config.baseline.clone(),
                    self.whitelist,
                ),
                Correlator::new(self.config.incidents.clone()),
                self.sinks,
                self.config.anomaly_events_per_kind,
            ),
            local: LocalNetworks::new(&self.config.traffic.local_networks),
            flows: FlowTable::new(self.config.flow.clone()),
            traffic: TrafficStats::new(self.config.traffic.clone()),
            neighbors: NeighborTable::new(),
            devices: self
                .inventory
                .unwrap_or_else(|| DeviceInventory::new(self.config.devices.clone())),
            processes: self.processes,
            detectors: self.detectors,
            dispatch,
            alerts: Vec::new(),
            ended: Vec::new(),
            tick_micros,
            next_tick: None,
            last_ts: None,
            packet_number: 0,
            stop: Arc::new(AtomicBool::new(false)),
            table_moves: table_move::TableMoves::default(),
            batch_packets: pipeline::BATCH_PACKETS,
            queue_drops: 0,
            source_stats: SourceStats::default(),
            config: self.config,
        })
    }
}

/// The analysis engine.
///
/// ```
/// use netsentinel_core::{CollectSink, Engine, EngineConfig, LinkType, MemorySource, Timestamp};
/// let mut source = MemorySource::new(LinkType::Ethernet);
/// source.push(Timestamp::from_micros(1), vec![0u8; 10]); // too short for Ethernet
/// let mut engine = Engine::builder(EngineConfig::default()).sink(CollectSink::new()).build()?;
/// let summary = engine.run(&mut source)?;
/// assert_eq!(summary.traffic.packets, 1);
/// assert_eq!(summary.traffic.decode_anomalies.len(), 1);
/// # Ok::<(), netsentinel_core::Error>(())
/// ```
pub struct Engine {
    config: EngineConfig,
    flows: FlowTable,
    traffic: TrafficStats,
    neighbors: NeighborTable,
    devices: DeviceInventory,
    processes: Option<Box<dyn ProcessResolver>>,
    /// `traffic.local_networks`, for the stages that do not hold the traffic statistics.
    local: LocalNetworks,
    out: Output,
    ring: Option<PacketRing>,
    ring_handle: RingHandle,
    snapshots: crate::snapshot::SnapshotHandle,
    recorder: Option<Recorder>,
    capture_stats: CaptureStats,
    detectors: Vec<Box<dyn Detector>>,
    dispatch: Dispatch,
    alerts: Vec<Alert>,
    ended: Vec<Flow>,
    tick_micros: i64,
    next_tick: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    packet_number: u64,
    stop: Arc<AtomicBool>,
    /// When a parallel run on two threads moves the flow table between its stages.
    pub(crate) table_moves: table_move::TableMoves,
    /// Packets per batch of a parallel run: fewer in tests, so that short captures make
    /// many batches (and table moves) too.
    pub(crate) batch_packets: usize,
    queue_drops: u64,
    source_stats: SourceStats,
}

/// Which detectors [`Engine::call_detectors`] calls.
#[derive(Clone, Copy)]
enum Calls {
    /// Those that asked for ticks.
    Tick,
    /// Those that asked for ended flows.
    FlowEnd,
    /// All of them (the end of the input).
    Every,
}

/// Flows ended at a time by [`Engine::finish`]: ending a million flows at once would copy
/// them all before any is handed on.
const FINISH_BATCH: usize = 4096;

/// One call of a detector: its index into a list, and whether it reads the device
/// inventory ([`Interest::DEVICES`]), kept together because every call needs both.
#[derive(Clone, Copy, Debug)]
struct Call {
    detector: usize,
    devices: bool,
}

/// Which detectors to call for each kind of event, in list order.
#[derive(Default)]
struct Dispatch {
    /// Per packet class, in [`Interest`] bit order ([`class_index`]).
    packet: [Vec<Call>; 6],
    flow_end: Vec<Call>,
    tick: Vec<Call>,
    /// Every detector (the end of the input).
    every: Vec<Call>,
}

impl Dispatch {
    /// From the detectors' interests, in their order.
    fn new(interests: impl Iterator<Item = Interest>) -> Self {
        const CLASSES: [Interest; 6] = [
            Interest::TCP,
            Interest::UDP,
            Interest::ICMP,
            Interest::ARP,
            Interest::OTHER_IP,
            Interest::NON_IP,
        ];
        let mut d = Dispatch::default();
        for (i, interest) in interests.enumerate() {
            let call = Call {
                detector: i,
                devices: interest.contains(Interest::DEVICES),
            };
            for (c, class) in CLASSES.iter().enumerate() {
                if interest.contains(*class) {
                    d.packet[c].push(call);
                }
            }
            if interest.contains(Interest::FLOW_END) {
                d.flow_end.push(call);
            }
            if interest.contains(Interest::TICK) {
                d.tick.push(call);
            }
            d.every.push(call);
        }
        d
    }
}

fn class_index(i: Interest) -> usize {
    match i {
        Interest::TCP => 0,
        Interest::UDP => 1,
        Interest::ICMP => 2,
        Interest::ARP => 3,
        Interest::OTHER_IP => 4,
        _ => 5,
    }
}

impl Engine {
    /// A builder with `config`.
    pub fn builder(config: EngineConfig) -> EngineBuilder {
        EngineBuilder {
            config,
            error: None,
            detectors: Vec::new(),
            sinks: Vec::new(),
            processes: None,
            inventory: None,
            whitelist: None,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// A handle that stops [`run`](Self::run) or [`run_threaded`](Self::run_threaded) from
    /// another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(Arc::clone(&self.stop))
    }

    /// Live flows now.
    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.flows.iter()
    }

    /// The devices seen so far and what traffic said about the network.
    pub fn devices(&self) -> &DeviceInventory {
        &self.devices
    }

    /// The alert gateway: its statistics and the baseline whitelist.
    pub fn gateway(&self) -> &AlertGateway {
        &self.out.gateway
    }

    /// Incidents open now.
    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.out.correlator.open()
    }

    /// The ring of recent packets, when `ring.mode` keeps one for this run.
    pub fn ring(&self) -> Option<&PacketRing> {
        self.ring.as_ref()
    }

    /// A handle that asks this engine, from another thread, to save its recent packets
    /// while it runs.
    pub fn ring_handle(&self) -> RingHandle {
        self.ring_handle.clone()
    }

    /// A handle that asks this engine for [`Snapshot`](crate::snapshot::Snapshot)s from
    /// another thread while it runs (a live display).
    pub fn snapshot_handle(&self) -> crate::snapshot::SnapshotHandle {
        self.snapshots.clone()
    }

    /// A picture of the engine now: traffic, the busiest flows, devices, open incidents.
    pub fn snapshot(&self) -> crate::snapshot::Snapshot {
        crate::snapshot::take(
            self.last_ts,
            self.traffic.report(self.flows.iter()),
            self.flows.iter(),
            &self.devices,
            self.out.alert_count,
            self.out.correlator.open().cloned().collect(),
            self.ring.as_ref().map_or(0, |r| r.len() as u64),
        )
    }

    fn serve_snapshots(&mut self) {
        let snapshots = self.snapshots.clone();
        snapshots.serve(|| self.snapshot());
    }

    /// Writes the last `secs` seconds of packets (packet time, up to the newest) to `path`
    /// in the `ring.format`.
    ///
    /// # Errors
    /// [`RecordingError::NoRing`] when there is no ring (`ring.mode`: `live` keeps one for
    /// [`run_threaded`](Self::run_threaded) only), [`RecordingError::Empty`] when it
    /// holds nothing of that span, I/O errors writing the file.
    pub fn save_last(&self, secs: u64, path: &std::path::Path) -> Result<Exported, RecordingError> {
        self.ring
            .as_ref()
            .ok_or(RecordingError::NoRing)?
            .export_last(secs, path, self.config.ring.format)
    }

    /// A traffic report as of now (live flows included).
    pub fn traffic_report(&self) -> TrafficReport {
        self.traffic.report(self.flows.iter())
    }

    /// Analyses one packet.
    ///
    /// # Errors
    /// [`crate::Error::Sink`] when a sink fails.
    pub fn process(&mut self, raw: &RawPacket<'_>) -> Result<()> {
        self.packet_number += 1;
        self.keep(raw);
        let pkt = decode(raw);
        match self.next_tick {
            None => self.next_tick = Some(pkt.ts.add_micros(self.tick_micros)),
            Some(t) if pkt.ts >= t => {
                self.tick_at(pkt.ts)?;
            }
            Some(_) => {}
        }
        if self.last_ts.is_none_or(|l| pkt.ts > l) {
            self.last_ts = Some(pkt.ts);
        }
        self.traffic.packet(&pkt);
        // Parsed at most once, by the first that asks: the baseline or a detector.
        let dns = DnsOnce::new(pkt.payload);
        self.out.packet(&pkt, &dns);
        if let Some(a) = pkt.anomaly {
            self.out.anomaly_event(&pkt, a, self.packet_number)?;
        }
        if let crate::decode::Network::Arp(arp) = &pkt.network {
            self.neighbors.learn(arp, pkt.ts);
        }
        self.devices.observe(&pkt, &self.local);
        let handle = self.flows.update(&pkt);
        if let (Some(h), Some(resolver)) = (handle, self.processes.as_mut())
            && h.created
        {
            identify_process(resolver.as_mut(), self.flows.get_mut(h));
        }
        let class = class_index(Interest::of_packet(&pkt));
        if !self.dispatch.packet[class].is_empty() {
            let (flow, from_initiator) = match handle {
                Some(h) => (Some(self.flows.get(h)), h.from_initiator),
                None => (None, true),
            };
            // One context for every call: only the inventory differs between detectors.
            let mut cx = Context::new(
                pkt.ts,
                flow,
                from_initiator,
                &self.neighbors,
                &self.local,
                &mut self.alerts,
            );
            cx.set_dns(Some(&dns));
            for call in &self.dispatch.packet[class] {
                cx.set_devices(call.devices.then_some(&self.devices));
                self.detectors[call.detector].on_packet(&pkt, &mut cx);
            }
        }
        self.drain(pkt.ts)
    }

    /// The ring and the recorder take their copy; waiting save requests are served.
    fn keep(&mut self, raw: &RawPacket<'_>) {
        if let Some(ring) = self.ring.as_mut() {
            ring.push(raw);
        }
        if let Some(recorder) = self.recorder.as_mut()
            && let Err(e) = recorder.write(raw)
        {
            // A full disk must not stop the analysis: recording stops, and says why.
            tracing::warn!("recording stopped: {e}");
            self.capture_stats.recording = Some(recorder.stats().clone());
            self.capture_stats.recording_error = Some(e.to_string());
            self.recorder = None;
        }
        if self.ring_handle.has_pending() {
            self.ring_handle
                .serve(self.ring.as_ref(), self.config.ring.format);
        }
        if self.snapshots.has_pending() {
            self.serve_snapshots();
        }
    }

    /// Writes the incident captures that are due at `now` (all of them with `all`).
    fn write_incident_captures(&mut self, now: Timestamp, all: bool) {
        let pending = &mut self.out.pending_captures;
        let (Some(ring), Some(dir)) = (self.ring.as_ref(), self.config.ring.directory.as_ref())
        else {
            pending.clear();
            return;
        };
        let mut i = 0;
        while i < pending.len() {
            if !all && now < pending[i].to {
                i += 1;
                continue;
            }
            let c = pending.swap_remove(i);
            let path = dir.join(format!(
                "incident-{}-{}.{}",
                c.incident,
                c.from.as_secs(),
                self.config.ring.format.extension()
            ));
            match ring.export(c.from, c.to, &path, self.config.ring.format) {
                Ok(done) => {
                    self.capture_stats.incident_captures += 1;
                    tracing::info!(
                        incident = c.incident,
                        packets = done.packets,
                        file = %path.display(),
                        "incident capture written"
                    );
                    self.out
                        .correlator
                        .set_capture(c.incident, path.display().to_string());
                }
                Err(RecordingError::Empty { .. }) => {}
                Err(e) => tracing::warn!(incident = c.incident, "incident capture: {e}"),
            }
        }
    }

    /// Runs a tick at `now`: flow expiry and detectors' periodic work. The engine ticks by
    /// itself as packet time passes; call this when no packets arrive (live idle).
    ///
    /// # Errors
    /// [`crate::Error::Sink`] when a sink fails.
    pub fn tick(&mut self, now: Timestamp) -> Result<()> {
        self.tick_at(now)
    }

    fn tick_at(&mut self, now: Timestamp) -> Result<()> {
        // One tick per call even after a long gap: detectors read `now`, not a tick count.
        self.next_tick = Some(now.add_micros(self.tick_micros));
        self.flows.expire(now);
        if !self.out.pending_captures.is_empty() {
            self.write_incident_captures(now, false);
        }
        self.out.close_idle(now)?;
        self.call_detectors(Calls::Tick, now, None, |d, cx| d.on_tick(now, cx));
        self.drain(now)
    }

    /// Calls `call` on the detectors `calls` names, in registration order, each with a
    /// context for `now` and `flow` (and the device inventory if it reads it).
    fn call_detectors(
        &mut self,
        calls: Calls,
        now: Timestamp,
        flow: Option<&Flow>,
        mut call: impl FnMut(&mut dyn Detector, &mut Context<'_>),
    ) {
        let Engine {
            detectors,
            dispatch,
            neighbors,
            local,
            alerts,
            devices,
            ..
        } = self;
        let which = match calls {
            Calls::Tick => &dispatch.tick,
            Calls::FlowEnd => &dispatch.flow_end,
            Calls::Every => &dispatch.every,
        };
        let mut cx = Context::new(now, flow, true, neighbors, local, alerts);
        for c in which {
            cx.set_devices(c.devices.then_some(&*devices));
            call(detectors[c.detector].as_mut(), &mut cx);
        }
    }

    /// Hands ended flows to detectors, statistics and sinks; alerts to sinks.
    fn drain(&mut self, now: Timestamp) -> Result<()> {
        self.flows.take_ended(&mut self.ended);
        if !self.ended.is_empty() {
            let ended = std::mem::take(&mut self.ended);
            for f in &ended {
                self.traffic.flow_ended(f);
                self.call_detectors(Calls::FlowEnd, now, Some(f), |d, cx| d.on_flow_end(f, cx));
                self.out.flow_ended(f, &self.local)?;
            }
            self.ended = ended;
            self.ended.clear();
        }
        if !self.alerts.is_empty() {
            let mut alerts = std::mem::take(&mut self.alerts);
            let captures = (self.ring.is_some() && self.config.ring.directory.is_some())
                .then_some(&self.config.ring);
            let result =
                self.out
                    .pass_alerts(&mut alerts, &self.devices, &self.local, now, captures);
            alerts.clear();
            self.alerts = alerts;
            result?;
        }
        Ok(())
    }

    /// Ends the run: every live flow ends, a last tick runs, the summary goes to the sinks
    /// and they are flushed. The engine can be reused afterwards for a new run.
    ///
    /// # Errors
    /// [`crate::Error::Sink`] when a sink fails.
    pub fn finish(&mut self) -> Result<RunSummary> {
        let now = self.last_ts.unwrap_or_default();
        // In batches: ending a million flows at once would copy them all before any is
        // handed on.
        while self.flows.finish_some(FINISH_BATCH) {
            self.drain(now)?;
        }
        self.drain(now)?;
        if self.last_ts.is_some() {
            self.tick_at(now)?;
            self.call_detectors(Calls::Every, now, None, |d, cx| d.on_finish(now, cx));
            self.drain(now)?;
        }
        self.close_run(now)
    }

    /// The end of [`finish`](Self::finish) once every detector has finished: captures
    /// due, incidents closed, the summary to the sinks.
    fn close_run(&mut self, now: Timestamp) -> Result<RunSummary> {
        // The input ended: captures not yet due are written with what there is.
        self.write_incident_captures(now, true);
        if self.ring_handle.has_pending() {
            self.ring_handle
                .serve(self.ring.as_ref(), self.config.ring.format);
        }
        self.out.close_all()?;
        if let Some(recorder) = self.recorder.as_mut() {
            if let Err(e) = recorder.finish() {
                tracing::warn!("recording: {e}");
                self.capture_stats.recording_error = Some(e.to_string());
            }
            self.capture_stats.recording = Some(recorder.stats().clone());
        }
        self.capture_stats.ring_packets = self.ring.as_ref().map_or(0, |r| r.len() as u64);
        self.capture_stats.ring_evicted = self.ring.as_ref().map_or(0, PacketRing::evicted);
        let summary = RunSummary {
            traffic: self.traffic.report(self.flows.iter()),
            flows: self.flows.stats(),
            alerts: self.out.alert_count,
            alerts_by_detector: self.out.alerts_by_detector.clone(),
            gateway: self.out.gateway.stats().clone(),
            incidents: self.out.correlator.stats().clone(),
            source: self.source_stats,
            queue_drops: self.queue_drops,
            anomaly_events_suppressed: self.out.anomaly_events_suppressed,
            devices_by_kind: self.devices.devices().fold(BTreeMap::new(), |mut m, d| {
                let kind = crate::device::classify(d, self.devices.environment()).kind;
                *m.entry(kind.as_str().to_string()).or_insert(0) += 1;
                m
            }),
            captures: self.capture_stats.clone(),
            tables: self
                .detectors
                .iter()
                .flat_map(|d| {
                    let id = d.id();
                    d.tables()
                        .into_iter()
                        .map(move |t| (format!("{id}.{}", t.table), t))
                })
                .chain(std::iter::once((
                    "devices.inventory".to_string(),
                    crate::detect::TableUsage::new(
                        "inventory",
                        self.devices.devices().count(),
                        self.config.devices.max_devices,
                        self.devices.untracked(),
                    ),
                )))
                .collect(),
        };
        for s in &mut self.out.sinks {
            s.summary(&summary)?;
            s.flush()?;
        }
        Ok(summary)
    }

    /// Reads `source` to its end (or until stopped) on this thread, then
    /// [`finish`](Self::finish)es.
    ///
    /// # Errors
    /// [`crate::Error::Source`] when the source fails (the packets before the failure
    /// were analysed, but no summary is produced), [`crate::Error::Sink`] when a sink fails.
    pub fn run<S: PacketSource + ?Sized>(&mut self, source: &mut S) -> Result<RunSummary> {
        // When the source went quiet (wall clock), for idle ticks of live sources. Taken at
        // the first idle read, which comes within one read timeout of the last packet:
        // reading the clock per packet would slow files down.
        let mut quiet_since: Option<Instant> = None;
        let mut lookahead = FlowLookahead::default();
        loop {
            if self.packet_number.is_multiple_of(1024) && self.stop.load(Ordering::Relaxed) {
                break;
            }
            lookahead.before_next(&self.flows, &*source);
            match source.next_packet()? {
                Recv::Packet(p) => {
                    quiet_since = None;
                    self.process(&p)?;
                }
                Recv::Idle => {
                    // A quiet live source: the packet-count check above may not come round.
                    if self.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let now = Instant::now();
                    let since = *quiet_since.get_or_insert(now);
                    self.idle_tick(since, now)?;
                }
                Recv::Eof => break,
            }
        }
        self.source_stats = source.stats();
        self.finish()
    }

    /// A tick when no packet came: packet time is advanced by the wall time since the last
    /// packet arrived, so timeouts still fire on a quiet network.
    fn idle_tick(&mut self, last_packet_at: Instant, now: Instant) -> Result<()> {
        if self.ring_handle.has_pending() {
            self.ring_handle
                .serve(self.ring.as_ref(), self.config.ring.format);
        }
        if self.snapshots.has_pending() {
            self.serve_snapshots();
        }
        let Some(last) = self.last_ts else {
            return Ok(());
        };
        let waited = now.saturating_duration_since(last_packet_at);
        let now_ts = last.add_micros(i64::try_from(waited.as_micros()).unwrap_or(i64::MAX));
        if self.next_tick.is_none_or(|t| now_ts >= t) {
            self.tick_at(now_ts)?;
        }
        Ok(())
    }

    /// Runs a source on its own capture thread, analysing on this one, until the source
    /// ends or [`StopHandle::stop`] is called. Packets are copied into a bounded queue of
    /// `capture.queue_packets`; when it is full the packet is dropped and counted in
    /// [`RunSummary::queue_drops`], so the capture never waits for analysis.
    ///
    /// # Errors
    /// [`crate::Error::Source`] when the source fails, [`crate::Error::Sink`] when a sink fails.
    pub fn run_threaded<S: PacketSource + 'static>(&mut self, mut source: S) -> Result<RunSummary> {
        if self.ring.is_none() && self.config.ring.mode == RingMode::Live {
            self.ring = Some(PacketRing::new(
                self.config.ring.max_packets,
                self.config.ring.max_bytes,
            ));
        }
        enum Msg {
            Packet {
                ts: Timestamp,
                orig_len: u32,
                link: LinkType,
                data: Vec<u8>,
            },
            End(SourceStats),
            Failed(SourceError, SourceStats),
        }
        let (tx, rx) = mpsc::sync_channel::<Msg>(self.config.capture.queue_packets);
        let drops = Arc::new(AtomicU64::new(0));
        let stop = Arc::clone(&self.stop);
        let capture_drops = Arc::clone(&drops);
        let capture = std::thread::Builder::new()
            .name("netsentinel-capture".into())
            .spawn(move || {
                let end = loop {
                    if stop.load(Ordering::Relaxed) {
                        break Msg::End(source.stats());
                    }
                    match source.next_packet() {
                        Ok(Recv::Packet(p)) => {
                            let msg = Msg::Packet {
                                ts: p.ts,
                                orig_len: p.orig_len,
                                link: p.link,
                                data: p.data.to_vec(),
                            };
                            match tx.try_send(msg) {
                                Ok(()) => {}
                                Err(TrySendError::Full(_)) => {
                                    capture_drops.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(TrySendError::Disconnected(_)) => return,
                            }
                        }
                        Ok(Recv::Idle) => {}
                        Ok(Recv::Eof) => break Msg::End(source.stats()),
                        Err(e) => break Msg::Failed(e, source.stats()),
                    }
                };
                // The end message waits for room: it must not be lost.
                let _ = tx.send(end);
            });
        let capture = match capture {
            Ok(handle) => handle,
            Err(e) => {
                return Err(SourceError::Capture {
                    interface: "capture thread".into(),
                    message: e.to_string(),
                }
                .into());
            }
        };
        let idle = Duration::from_millis(u64::from(self.config.capture.read_timeout_ms.max(1)));
        let mut last_packet_at = Instant::now();
        let outcome: Result<()> = loop {
            match rx.recv_timeout(idle) {
                Ok(Msg::Packet {
                    ts,
                    orig_len,
                    link,
                    data,
                }) => {
                    last_packet_at = Instant::now();
                    let raw = RawPacket {
                        ts,
                        data: &data,
                        orig_len,
                        link,
                    };
                    if let Err(e) = self.process(&raw) {
                        self.stop.store(true, Ordering::Relaxed);
                        break Err(e);
                    }
                }
                Ok(Msg::End(stats)) => {
                    self.source_stats = stats;
                    break Ok(());
                }
                Ok(Msg::Failed(e, stats)) => {
                    self.source_stats = stats;
                    break Err(e.into());
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.idle_tick(last_packet_at, Instant::now()) {
                        self.stop.store(true, Ordering::Relaxed);
                        break Err(e);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break Ok(()),
            }
        };
        drop(rx);
        // The capture thread ends on stop, end of source, or a closed queue.
        let _ = capture.join();
        self.queue_drops = drops.load(Ordering::Relaxed);
        outcome?;
        self.finish()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Whoever still waits for a save or a snapshot from this engine gets an answer.
        self.ring_handle.close();
        self.snapshots.close();
    }
}

/// Asks `resolver` for the process of a new TCP or UDP flow.
fn identify_process(resolver: &mut dyn ProcessResolver, flow: &mut Flow) {
    let protocol = match flow.key.protocol {
        6 => SocketProtocol::Tcp,
        17 => SocketProtocol::Udp,
        _ => return,
    };
    let a = std::net::SocketAddr::new(flow.src_ip(), flow.src_port);
    let b = std::net::SocketAddr::new(flow.dst_ip(), flow.dst_port);
    flow.process = Some(Box::new(resolver.lookup(protocol, a, b)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::PacketView;
    use crate::detect::{Context, Detector, Interest};
    use crate::source::MemorySource;
    use crate::testutil::udp_frame;

    /// A detector slower than the capture, so the queue fills.
    struct Slow;
    impl Detector for Slow {
        fn id(&self) -> &'static str {
            "slow"
        }
        fn interest(&self) -> Interest {
            Interest::ALL_PACKETS
        }
        fn on_packet(&mut self, _pkt: &PacketView<'_>, _cx: &mut Context<'_>) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn full_queue_drops_and_counts_instead_of_blocking() {
        let mut source = MemorySource::new(LinkType::Ethernet);
        let a = "10.0.0.1".parse().unwrap();
        let b = "10.0.0.2".parse().unwrap();
        for i in 0..500 {
            source.push(Timestamp::from_micros(i), udp_frame(a, b, 1000, 53, b"x"));
        }
        let mut config = EngineConfig::default();
        config.capture.queue_packets = 4;
        let mut engine = Engine::builder(config).detector(Slow).build().unwrap();
        let summary = engine.run_threaded(source).unwrap();
        assert!(summary.queue_drops > 0, "{summary:?}");
        assert_eq!(summary.traffic.packets + summary.queue_drops, 500);
        assert_eq!(summary.source.received, 500);
    }

    #[test]
    fn stop_handle_ends_a_run_on_a_quiet_source() {
        // A source that delivers five packets, then only idles: `run` must still stop.
        struct QuietAfterFive(u32, Vec<u8>);
        impl PacketSource for QuietAfterFive {
            fn next_packet(&mut self) -> Result<Recv<'_>, SourceError> {
                if self.0 < 5 {
                    self.0 += 1;
                    return Ok(Recv::Packet(RawPacket {
                        ts: Timestamp::from_micros(i64::from(self.0)),
                        data: &self.1,
                        orig_len: self.1.len() as u32,
                        link: LinkType::Ethernet,
                    }));
                }
                std::thread::sleep(Duration::from_millis(1));
                Ok(Recv::Idle)
            }
            fn name(&self) -> &str {
                "quiet"
            }
        }
        let frame = udp_frame(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            1,
            2,
            b"x",
        );
        let mut engine = Engine::builder(EngineConfig::default()).build().unwrap();
        let stop = engine.stop_handle();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            stop.stop();
        });
        let summary = engine.run(&mut QuietAfterFive(0, frame)).unwrap();
        t.join().unwrap();
        assert_eq!(summary.traffic.packets, 5);
    }

    #[test]
    fn stop_handle_ends_a_threaded_run() {
        // An endless source: stop must still end the run.
        struct Endless;
        impl PacketSource for Endless {
            fn next_packet(&mut self) -> Result<Recv<'_>, SourceError> {
                std::thread::sleep(Duration::from_millis(1));
                Ok(Recv::Idle)
            }
            fn name(&self) -> &str {
                "endless"
            }
        }
        let mut engine = Engine::builder(EngineConfig::default()).build().unwrap();
        let stop = engine.stop_handle();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            stop.stop();
        });
        let summary = engine.run_threaded(Endless).unwrap();
        t.join().unwrap();
        assert_eq!(summary.traffic.packets, 0);
    }
}
