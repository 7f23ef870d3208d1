//! A parallel run of the engine over a file: the same analysis as [`Engine::run`], spread
//! over threads, with the same result.
//!
//! Three kinds of stage, each working through the packets in capture order:
//! - the **packet stage** (one thread) reads the source, decodes, keeps the flow table
//!   and writes batches of events: a packet (its bytes and what the decoder found in them,
//!   so no other stage decodes it again) with a copy of its flow as it stood after that
//!   packet, a tick, a flow that ended, a point where the single-thread engine hands its
//!   alerts on; on two threads the output stage keeps the flow table instead and the
//!   packet stage the traffic statistics' packet counts (the output stage then runs every
//!   detector: the two threads' work is closer to even that way), except when the table
//!   moves back to the packet stage because the run goes faster so, as under a flood
//!   ([`super::table_move`]; the statistics' flow counts move with it);
//! - the **output stage** (the calling thread) keeps the traffic statistics and the device
//!   inventory, runs its share of the detectors (among them those that read the
//!   inventory), merges the alerts of every share back into registration order per event,
//!   and passes them through the gateway and the correlator to the sinks;
//! - with more than two threads, **detector threads** run the other shares on every batch
//!   and hand back each alert tagged with the event and the detector that raised it;
//! - from four threads on, **flow threads** ([`super::flow_threads`]) keep the flow table
//!   instead of the packet stage, each whole shards of it (the table is split by flow hash
//!   whatever the thread count), and the packet stage puts their work back in packet
//!   order before the batch goes on.
//!
//! Detectors are shared out by a rough cost estimate ([`cost`]); a share is a fixed set of
//! detectors for the whole run, because a detector's state is its own and must see every
//! event in order.
//!
//! Every detector sees exactly the calls, in the same order and with the same flow and
//! neighbour state, that it sees in a single-thread run, and the output stage hands the
//! sinks the same records in the same order; so the alerts, incidents, flows and summary
//! are those of [`Engine::run`] (the tests compare them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::flow_threads::{FlowThread, FlowThreads, FlowThreadsGone, NO_SHARD, Route};
use super::handoff;
use super::table_move::{self, Handoff, MovingTable, OutputSide, PacketSide};
use super::{Call, Dispatch, Engine, FINISH_BATCH, Output, RunSummary, class_index};
use crate::alert::Alert;
use crate::decode::dns::DnsOnce;
use crate::decode::{DetachedView, Network, PacketView, decode};
use crate::detect::{Context, Detector, Interest};
use crate::device::DeviceInventory;
use crate::error::Result;
use crate::flow::{Flow, FlowLookahead, FlowTable, KeyPlace, KeyPlacer};
use crate::neighbor::NeighborTable;
use crate::source::{PacketSource, RawPacket, Recv, SourceError, SourceStats};
use crate::time::Timestamp;
use crate::traffic::{FlowCounts, LocalNetworks, PacketCounts};

/// Packets per batch handed from the packet stage to the others. Small enough that the
/// batches in flight (`QUEUE_BATCHES` of them) fit in one core's L2 cache (2 MiB on the
/// machine measured), where the next stage finds them. On two threads, 2,000,000-packet
/// office mix, against 1,024 packets and 1 MiB (medians of interleaved runs, four rounds):
/// 1.41 -> 1.23 s, 1.27 -> 1.16 s, 1.20 -> 1.19 s, 1.17 -> 1.15 s; a few per cent at most
/// on a quiet machine, never slower, and 14 MiB fewer buffers. 128 packets were no better.
pub(super) const BATCH_PACKETS: usize = 256;
/// Bytes of packets per batch (a batch ends at whichever limit comes first).
const BATCH_BYTES: usize = 1 << 18;
/// Batches waiting between two stages at most.
const QUEUE_BATCHES: usize = 8;
/// `Event::Packet::flow` of a packet without a flow.
pub(super) const NO_FLOW: u32 = u32::MAX;

/// One packet in a [`Batch`]: where its bytes are, and what the packet stage decoded.
struct BatchPacket {
    view: DetachedView,
    start: usize,
    end: usize,
    /// Where its flow lives, found here for the output stage's flow prefetch.
    place: Option<KeyPlace>,
}

/// What happened, in the order the single-thread engine does it.
#[derive(Clone, Copy)]
pub(super) enum Event {
    /// A packet (index into `packets`) and its flow after it (index into `flows`).
    Packet {
        packet: u32,
        flow: u32,
        from_initiator: bool,
        class: u8,
    },
    /// A periodic tick.
    Tick(Timestamp),
    /// A flow ended (index into `flows`), handed on at `now`.
    FlowEnd { flow: u32, now: Timestamp },
    /// The alerts raised since the last drain go to the gateway at this time.
    Drain(Timestamp),
    /// The input ended: every detector's `on_finish`.
    Finish(Timestamp),
}

/// Events and the packets and flows they refer to.
#[derive(Default)]
pub(super) struct Batch {
    bytes: Vec<u8>,
    packets: Vec<BatchPacket>,
    pub(super) flows: Vec<Flow>,
    pub(super) events: Vec<Event>,
    /// With flow threads: each packet's route to its flow's shard.
    pub(super) routes: Vec<Route>,
    /// With flow threads: packets the flow table had accounted before this batch.
    pub(super) first_packet: u64,
    /// On two threads: whether the flow table moves after this batch.
    handoff: Handoff,
}

/// Batches the stages are done with go back to the packet stage to be filled again: a new
/// megabyte per batch would be page faults and zeroing for every packet.
#[derive(Clone)]
struct Recycler(SyncSender<Batch>);

impl Recycler {
    /// Hands `batch` back when this was its last holder.
    fn give_back(&self, batch: Arc<Batch>) {
        if let Some(mut b) = Arc::into_inner(batch) {
            b.bytes.clear();
            b.packets.clear();
            b.flows.clear();
            b.events.clear();
            b.routes.clear();
            b.handoff = Handoff::Stays;
            let _ = self.0.try_send(b);
        }
    }
}

impl Batch {
    /// Packet `packet`, decoded.
    pub(super) fn packet(&self, packet: u32) -> Option<PacketView<'_>> {
        let p = self.packets.get(packet as usize)?;
        Some(p.view.attach(self.bytes.get(p.start..p.end)?))
    }

    /// Where packet `packet`'s flow lives in the output stage's flow table (when it keeps
    /// it, and the packet is a common one).
    fn place(&self, packet: u32) -> Option<KeyPlace> {
        self.packets.get(packet as usize)?.place
    }

    fn flow(&self, index: u32) -> Option<&Flow> {
        self.flows.get(index as usize)
    }
}

/// The alerts one detector thread raised on one batch: `tags[i]` is (event, detector
/// registration index) of `alerts[i]`, in the order raised.
#[derive(Default)]
struct TaggedAlerts {
    tags: Vec<(u32, u32)>,
    alerts: Vec<Alert>,
}

/// Where the packet stage's packets are accounted in flows.
enum StageFlows<'e> {
    /// In the flow table, on the packet stage's own thread; with the traffic statistics'
    /// flow counts when they travel with the table (on two threads: see [`MovingTable`]).
    Table {
        table: &'e mut FlowTable,
        counts: Option<&'e mut FlowCounts>,
    },
    /// By flow threads, each keeping some of the table's shards.
    Threads(FlowThreads<'e>),
    /// By the output stage, which then runs every detector (on two threads; see
    /// [`OutputStage::flows`]): the packet stage only reads and decodes.
    Output,
}

/// The packet stage's share of the engine.
struct PacketStage<'e> {
    flows: StageFlows<'e>,
    neighbors: &'e mut NeighborTable,
    // The stage's own copies of the engine's clocks, written back when it ends: written
    // for every packet, they must not share a cache line with what the output stage
    // works on on the other core (see `OutputStage::packet_number`).
    next_tick: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    tick_micros: i64,
    /// Packet classes some detector looks at: only their packets carry a copy of the flow.
    wanted: [bool; 6],
    /// The traffic statistics' packet counts, when the output stage keeps the flow table
    /// (it then has the more work of the two).
    traffic: Option<&'e mut PacketCounts>,
    /// Finds where each packet's flow lives when the output stage keeps the flow table:
    /// hashing the key here is work the output stage is spared.
    placer: Option<KeyPlacer>,
    /// On two threads: moves the flow table between the stages ([`table_move`]).
    mover: Option<PacketSide<'e>>,
    /// A batch is full at this many packets ([`BATCH_PACKETS`] but in tests).
    batch_packets: usize,
    batch: Batch,
}

impl PacketStage<'_> {
    /// The packet's events, in the order of [`Engine::process`].
    fn packet(&mut self, raw: &RawPacket<'_>) {
        let start = self.batch.bytes.len();
        self.batch.bytes.extend_from_slice(raw.data);
        let packet = self.batch.packets.len() as u32;
        let pkt = decode(raw);
        if let Some(counts) = self.traffic.as_deref_mut() {
            counts.packet(&pkt);
        }
        self.batch.packets.push(BatchPacket {
            view: DetachedView::detach(&pkt),
            start,
            end: self.batch.bytes.len(),
            place: match self.flows {
                StageFlows::Output => self.placer.as_ref().and_then(|p| p.place_of(raw)),
                _ => None,
            },
        });
        match self.next_tick {
            None => self.next_tick = Some(pkt.ts.add_micros(self.tick_micros)),
            Some(t) if pkt.ts >= t => self.tick(pkt.ts),
            Some(_) => {}
        }
        if self.last_ts.is_none_or(|l| pkt.ts > l) {
            self.last_ts = Some(pkt.ts);
        }
        if let Network::Arp(arp) = &pkt.network {
            self.neighbors.learn(arp, pkt.ts);
        }
        let class = class_index(Interest::of_packet(&pkt));
        let (flow, from_initiator) = match &mut self.flows {
            StageFlows::Table { table, .. } => match table.update(&pkt) {
                Some(h) if self.wanted[class] => {
                    self.batch.flows.push(table.get(h).clone());
                    ((self.batch.flows.len() - 1) as u32, h.from_initiator)
                }
                _ => (NO_FLOW, true),
            },
            StageFlows::Output => (NO_FLOW, true),
            StageFlows::Threads(threads) => {
                // The flow threads fill in the flow; this notes where it lives.
                if packet == 0 {
                    self.batch.first_packet = *threads.packets;
                }
                *threads.packets += 1;
                let shard = threads.router.shard(&pkt).map_or(NO_SHARD, |s| s as u32);
                let route = Route { shard };
                self.batch.routes.push(route);
                (NO_FLOW, true)
            }
        };
        self.batch.events.push(Event::Packet {
            packet,
            flow,
            from_initiator,
            class: class as u8,
        });
        self.drain(pkt.ts);
    }

    /// A tick, as [`Engine::tick_at`] (flow threads expire their shards at the event).
    fn tick(&mut self, now: Timestamp) {
        self.next_tick = Some(now.add_micros(self.tick_micros));
        if let StageFlows::Table { table, .. } = &mut self.flows {
            table.expire(now);
        }
        self.batch.events.push(Event::Tick(now));
        self.drain(now);
    }

    /// Ended flows, then the point where their alerts go on, as [`Engine::drain`] (flow
    /// threads' ended flows are put in when the batch comes back from them).
    fn drain(&mut self, now: Timestamp) {
        if let StageFlows::Table { table, counts } = &mut self.flows {
            // Straight into the batch: most packets end no flow, and this costs nothing then.
            let first = self.batch.flows.len();
            table.take_ended(&mut self.batch.flows);
            for flow in first..self.batch.flows.len() {
                if let Some(counts) = counts.as_deref_mut() {
                    counts.flow_ended(&self.batch.flows[flow]);
                }
                let flow = flow as u32;
                self.batch.events.push(Event::FlowEnd { flow, now });
            }
        }
        self.batch.events.push(Event::Drain(now));
    }

    /// Hands a full batch on: to the other stages, or first to the flow threads (and on
    /// whichever batch they are done with). `false` when the run is being abandoned.
    fn ship(&mut self, batch: Batch, send: &mut impl FnMut(Batch) -> bool) -> bool {
        match &mut self.flows {
            StageFlows::Table { .. } | StageFlows::Output => send(batch),
            StageFlows::Threads(threads) => match threads.dispatch(batch) {
                Ok(Some(done)) => send(done),
                Ok(None) => true,
                Err(FlowThreadsGone) => false,
            },
        }
    }

    /// Every batch still with the flow threads, on to the other stages.
    fn flush(&mut self, send: &mut impl FnMut(Batch) -> bool) -> bool {
        let StageFlows::Threads(threads) = &mut self.flows else {
            return true;
        };
        loop {
            match threads.next_done() {
                Ok(Some(done)) => {
                    if !send(done) {
                        return false;
                    }
                }
                Ok(None) => return true,
                Err(FlowThreadsGone) => return false,
            }
        }
    }

    /// The end of the input, as [`Engine::finish`] up to its summary; `send` is called
    /// with each full batch.
    fn finish(&mut self, mut send: impl FnMut(Batch) -> bool) -> bool {
        let now = self.last_ts.unwrap_or_default();
        let mut batch = std::mem::take(&mut self.batch);
        // On two threads with the table on the output stage, the table comes here for the
        // end: ending every live flow (a million after a flood) and counting them was a
        // quarter of such a run on the output stage alone while this stage had nothing
        // left to do; here it overlaps with the output stage's work on the ended flows.
        let fetch = matches!(self.flows, StageFlows::Output);
        if fetch {
            batch.handoff = Handoff::ToPacket;
        }
        if !self.ship(batch, &mut send) || !self.flush(&mut send) {
            return false;
        }
        if fetch && !self.fetch_table() {
            return false;
        }
        match &mut self.flows {
            StageFlows::Table { .. } => loop {
                let more = match &mut self.flows {
                    StageFlows::Table { table, .. } => table.finish_some(FINISH_BATCH),
                    StageFlows::Threads(_) | StageFlows::Output => false,
                };
                self.drain(now);
                if !more {
                    break;
                }
                if !send(std::mem::take(&mut self.batch)) {
                    return false;
                }
            },
            StageFlows::Threads(threads) => match threads.finish(&mut self.batch, now, &mut send) {
                Ok(true) => {}
                Ok(false) | Err(FlowThreadsGone) => return false,
            },
            // Not reached: the table was fetched above.
            StageFlows::Output => return false,
        }
        if self.last_ts.is_some() {
            self.tick(now);
            self.batch.events.push(Event::Finish(now));
            self.batch.events.push(Event::Drain(now));
        }
        send(std::mem::take(&mut self.batch))
    }

    /// After a full batch, before it is sent: when the table is to move, gives it to the
    /// output stage (which takes it after this batch) or marks the batch for the output
    /// stage to hand it back. `Some(true)` when the stage must then wait for the table,
    /// `None` when the output stage is gone.
    fn plan_move(&mut self, batch: &mut Batch) -> Option<bool> {
        let Some(mover) = self.mover.as_mut() else {
            return Some(false);
        };
        if !mover.after_batch(batch.packets.len()) {
            return Some(false);
        }
        match std::mem::replace(&mut self.flows, StageFlows::Output) {
            StageFlows::Table { table, counts } => {
                batch.handoff = Handoff::ToOutput;
                mover.give(MovingTable { table, counts }).then_some(false)
            }
            StageFlows::Output => {
                batch.handoff = Handoff::ToPacket;
                Some(true)
            }
            threads @ StageFlows::Threads(_) => {
                self.flows = threads;
                Some(false)
            }
        }
    }

    /// Waits for the table the output stage hands back; `false` when it is gone.
    fn fetch_table(&mut self) -> bool {
        match self.mover.as_ref().and_then(PacketSide::take) {
            Some(MovingTable { table, counts }) => {
                self.flows = StageFlows::Table { table, counts };
                true
            }
            None => false,
        }
    }

    fn full(&self) -> bool {
        self.batch.packets.len() >= self.batch_packets || self.batch.bytes.len() >= BATCH_BYTES
    }

    /// The full batch out, a recycled (or new) one in.
    fn take(&mut self, recycled: &Receiver<Batch>) -> Batch {
        let next = recycled.try_recv().unwrap_or_else(|_| Batch {
            bytes: Vec::with_capacity(BATCH_BYTES + 65_536),
            packets: Vec::with_capacity(BATCH_PACKETS),
            flows: Vec::with_capacity(BATCH_PACKETS),
            events: Vec::with_capacity(3 * BATCH_PACKETS),
            routes: Vec::new(),
            first_packet: 0,
            handoff: Handoff::Stays,
        });
        std::mem::replace(&mut self.batch, next)
    }
}

/// Reads `source` to its end through the packet stage, sending each batch to every
/// receiver. `Ok(None)` when a receiver went away (the run is being abandoned).
fn read_packets<S: PacketSource + ?Sized>(
    stage: &mut PacketStage<'_>,
    source: &mut S,
    stop: &AtomicBool,
    to: &[SyncSender<Arc<Batch>>],
    recycled: &Receiver<Batch>,
) -> std::result::Result<Option<SourceStats>, SourceError> {
    let mut send = |batch: Batch| {
        let batch = Arc::new(batch);
        to.iter().all(|tx| handoff::send(tx, Arc::clone(&batch)))
    };
    let mut read: u64 = 0;
    let mut lookahead = FlowLookahead::default();
    loop {
        if read.is_multiple_of(1024) && stop.load(Ordering::Relaxed) {
            break;
        }
        if let StageFlows::Table { table, .. } = &stage.flows {
            lookahead.before_next(table, &*source);
        }
        match source.next_packet() {
            Ok(Recv::Packet(p)) => {
                read += 1;
                stage.packet(&p);
                if stage.full() {
                    let mut batch = stage.take(recycled);
                    let Some(wait_for_table) = stage.plan_move(&mut batch) else {
                        return Ok(None);
                    };
                    if !stage.ship(batch, &mut send) {
                        return Ok(None);
                    }
                    if wait_for_table && !stage.fetch_table() {
                        return Ok(None);
                    }
                }
            }
            Ok(Recv::Idle) => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok(Recv::Eof) => break,
            Err(e) => {
                // The packets before the failure are analysed, as in a single-thread run.
                let batch = std::mem::take(&mut stage.batch);
                if stage.ship(batch, &mut send) {
                    stage.flush(&mut send);
                }
                return Err(e);
            }
        }
    }
    Ok(stage.finish(send).then(|| source.stats()))
}

/// Some of the detectors, with what they need to run on a thread of their own.
struct DetectorGroup<'e> {
    members: Vec<Member<'e>>,
    /// Member positions per packet class, per flow end, per tick, in registration order.
    dispatch: Dispatch,
    /// This thread's copy of the ARP neighbour table, learned from the same packets.
    neighbors: NeighborTable,
    local: LocalNetworks,
    out: TaggedAlerts,
}

impl<'e> DetectorGroup<'e> {
    fn new(members: Vec<Member<'e>>, neighbors: NeighborTable, local: LocalNetworks) -> Self {
        let dispatch = Dispatch::new(members.iter().map(|(_, d, _)| d.interest()));
        DetectorGroup {
            members,
            dispatch,
            neighbors,
            local,
            out: TaggedAlerts::default(),
        }
    }

    /// Whether the event at `e` needs its packet decoded here.
    fn needs_packet(&self, event: Event) -> bool {
        matches!(event, Event::Packet { class, .. }
            if !self.dispatch.packet[class as usize].is_empty() || class as usize == class_index(Interest::ARP))
    }

    /// Runs this group's detectors on event `e` of `batch`; `pkt` is its packet, decoded,
    /// when [`needs_packet`](Self::needs_packet).
    fn event(
        &mut self,
        batch: &Batch,
        e: u32,
        pkt: Option<&PacketView<'_>>,
        dns: Option<&DnsOnce<'_>>,
        devices: Option<&DeviceInventory>,
    ) {
        match batch.events[e as usize] {
            Event::Packet {
                flow,
                from_initiator,
                class,
                ..
            } => {
                if let Some(pkt) = pkt {
                    let flow = batch.flow(flow).map(|f| (f, from_initiator));
                    self.packet(e, pkt, class, flow, dns, devices);
                }
            }
            Event::FlowEnd { flow, now } => {
                if let Some(flow) = batch.flow(flow) {
                    self.flow_end(e, flow, now, devices);
                }
            }
            Event::Tick(now) => {
                let (mut calls, dispatch, neighbors) = self.calls(e, devices);
                calls.run(&dispatch.tick, neighbors, CallAt::at(now), |d, cx| {
                    d.on_tick(now, cx);
                });
            }
            Event::Finish(now) => {
                let (mut calls, dispatch, neighbors) = self.calls(e, devices);
                calls.run(&dispatch.every, neighbors, CallAt::at(now), |d, cx| {
                    d.on_finish(now, cx);
                });
            }
            Event::Drain(_) => {}
        }
    }

    /// The detectors' calls for the packet of event `e` (of packet class `class`), with
    /// its flow after it and whether the packet came from the flow's initiator.
    fn packet(
        &mut self,
        e: u32,
        pkt: &PacketView<'_>,
        class: u8,
        flow: Option<(&Flow, bool)>,
        dns: Option<&DnsOnce<'_>>,
        devices: Option<&DeviceInventory>,
    ) {
        let (mut calls, dispatch, neighbors) = self.calls(e, devices);
        if let Network::Arp(arp) = &pkt.network {
            neighbors.learn(arp, pkt.ts);
        }
        // The output stage lends the message it may have parsed already.
        let own;
        let dns = match dns {
            Some(shared) => shared,
            None => {
                own = DnsOnce::new(pkt.payload);
                &own
            }
        };
        let at = CallAt {
            now: pkt.ts,
            flow: flow.map(|(f, _)| f),
            from_initiator: flow.is_none_or(|(_, from_initiator)| from_initiator),
            dns: Some(dns),
        };
        calls.run(&dispatch.packet[class as usize], neighbors, at, |d, cx| {
            d.on_packet(pkt, cx);
        });
    }

    /// The detectors' calls for `flow`, ended, handed on at `now` (event `e`).
    fn flow_end(&mut self, e: u32, flow: &Flow, now: Timestamp, devices: Option<&DeviceInventory>) {
        let (mut calls, dispatch, neighbors) = self.calls(e, devices);
        let at = CallAt {
            flow: Some(flow),
            ..CallAt::at(now)
        };
        calls.run(&dispatch.flow_end, neighbors, at, |d, cx| {
            d.on_flow_end(flow, cx);
        });
    }

    /// The group split into the calls for event `e`, its dispatch and its neighbour table.
    fn calls<'g>(
        &'g mut self,
        e: u32,
        devices: Option<&'g DeviceInventory>,
    ) -> (MemberCalls<'g, 'e>, &'g Dispatch, &'g mut NeighborTable) {
        let DetectorGroup {
            members,
            dispatch,
            neighbors,
            local,
            out,
        } = self;
        let calls = MemberCalls {
            members,
            out,
            e,
            local,
            devices,
        };
        (calls, dispatch, neighbors)
    }

    /// Every event of `batch`, in order.
    fn batch(&mut self, batch: &Batch) {
        for (e, &event) in batch.events.iter().enumerate() {
            if self.needs_packet(event) {
                let Event::Packet { packet, .. } = event else {
                    continue;
                };
                let pkt = batch.packet(packet);
                self.event(batch, e as u32, pkt.as_ref(), None, None);
            } else {
                self.event(batch, e as u32, None, None, None);
            }
        }
    }
}

/// One event's calls to some members of a [`DetectorGroup`], each alert tagged with the
/// event and the detector that raised it.
struct MemberCalls<'g, 'e> {
    members: &'g mut [Member<'e>],
    out: &'g mut TaggedAlerts,
    e: u32,
    local: &'g LocalNetworks,
    devices: Option<&'g DeviceInventory>,
}

/// What the detectors' context says about the event they are called for.
struct CallAt<'a> {
    now: Timestamp,
    flow: Option<&'a Flow>,
    from_initiator: bool,
    /// The packet's DNS message (packet events only).
    dns: Option<&'a DnsOnce<'a>>,
}

impl CallAt<'_> {
    /// An event at `now` without a packet or a flow.
    fn at(now: Timestamp) -> Self {
        CallAt {
            now,
            flow: None,
            from_initiator: true,
            dns: None,
        }
    }
}

impl MemberCalls<'_, '_> {
    /// Calls `call` on the members at positions `which`, in that order, with a context
    /// for the event `at`.
    fn run(
        &mut self,
        which: &[Call],
        neighbors: &NeighborTable,
        at: CallAt<'_>,
        mut call: impl FnMut(&mut dyn Detector, &mut Context<'_>),
    ) {
        let TaggedAlerts { tags, alerts } = &mut *self.out;
        let CallAt {
            now,
            flow,
            from_initiator,
            dns,
        } = at;
        let mut cx = Context::new(now, flow, from_initiator, neighbors, self.local, alerts);
        cx.set_dns(dns);
        for member in which {
            let Some((index, detector, reads_devices)) = self.members.get_mut(member.detector)
            else {
                continue;
            };
            let before = cx.alerts_emitted();
            cx.set_devices(self.devices.filter(|_| *reads_devices));
            call(detector.as_mut(), &mut cx);
            let raised = cx.alerts_emitted() - before;
            if raised > 0 {
                tags.extend(std::iter::repeat_n((self.e, *index), raised));
            }
        }
    }
}

/// Where the output stage is in one detector thread's alerts for the current batch.
struct Cursor {
    tags: Vec<(u32, u32)>,
    alerts: std::vec::IntoIter<Alert>,
    at: usize,
}

impl Cursor {
    fn new(tagged: TaggedAlerts) -> Self {
        Cursor {
            tags: tagged.tags,
            alerts: tagged.alerts.into_iter(),
            at: 0,
        }
    }

    /// The detector index of the next alert, when it belongs to event `e`.
    fn next_for(&self, e: u32) -> Option<u32> {
        self.tags.get(self.at).filter(|t| t.0 == e).map(|t| t.1)
    }
}

/// Moves the alerts of event `e` from every cursor into `into`, in detector registration
/// order (each cursor holds them in that order already).
fn merge_event(e: u32, cursors: &mut [Cursor], into: &mut Vec<Alert>) {
    loop {
        let next = cursors
            .iter()
            .enumerate()
            .filter_map(|(c, cur)| cur.next_for(e).map(|d| (d, c)))
            .min();
        let Some((detector, c)) = next else { return };
        let cur = &mut cursors[c];
        while cur.next_for(e) == Some(detector) {
            if let Some(a) = cur.alerts.next() {
                into.push(a);
            }
            cur.at += 1;
        }
    }
}

/// The output stage's share of the engine.
struct OutputStage<'e> {
    out: &'e mut Output,
    /// The traffic statistics' packet counts, unless the packet stage keeps them.
    traffic_packets: Option<&'e mut PacketCounts>,
    /// The traffic statistics' flow counts, unless they travel with the flow table and the
    /// packet stage has it (see [`MovingTable`]).
    traffic_flows: Option<&'e mut FlowCounts>,
    devices: &'e mut DeviceInventory,
    /// The stage's own packet count, written back when it ends. The engine's count, and
    /// its local networks (the stage reads `group.local` instead), share cache lines with
    /// the flow table and clocks the packet stage writes for every packet on the other
    /// core; using them there made every packet wait for the line to come back
    /// (`DeviceInventory::observe` took 2.7 times as long on two threads as on one).
    packet_number: u64,
    group: DetectorGroup<'e>,
    pending: Vec<Alert>,
    /// The flow table, kept here when there are no detector threads (a run on two
    /// threads): the packet stage then reads, decodes and counts packets, which leaves the
    /// two threads' work closer to even than with the table there, and no copy of each
    /// packet's flow crosses between the cores (docs/BENCHMARKS.md, "2026-11-28 (second
    /// stop)"). Under a flood the other way round is faster: then the table moves to the
    /// packet stage, between batches, for as long as that stays so ([`super::table_move`]).
    /// At the end of the input it goes to the packet stage, which ends the live flows.
    flows: Option<&'e mut FlowTable>,
    /// Flows the table ended, handed on at the next drain.
    ended: Vec<Flow>,
    /// The flows of the next packets, fetched ahead (with `flows`).
    lookahead: FlowLookahead,
}

impl OutputStage<'_> {
    /// One batch: its events in order, with the detector threads' alerts for it.
    fn batch(&mut self, batch: &Batch, tagged: Vec<TaggedAlerts>) -> Result<()> {
        let mut cursors: Vec<Cursor> = tagged.into_iter().map(Cursor::new).collect();
        for (e, &event) in batch.events.iter().enumerate() {
            let e = e as u32;
            match event {
                Event::Packet { packet, class, .. } => {
                    self.packet_number += 1;
                    if let Some(table) = self.flows.as_deref() {
                        self.lookahead.before(table, batch.place(packet + 2));
                    }
                    let Some(pkt) = batch.packet(packet) else {
                        continue;
                    };
                    if let Some(counts) = self.traffic_packets.as_deref_mut() {
                        counts.packet(&pkt);
                    }
                    let dns = DnsOnce::new(pkt.payload);
                    self.out.packet(&pkt, &dns);
                    if let Some(a) = pkt.anomaly {
                        self.out.anomaly_event(&pkt, a, self.packet_number)?;
                    }
                    self.devices.observe(&pkt, &self.group.local);
                    if let Some(table) = self.flows.as_deref_mut() {
                        let handle = table.update(&pkt);
                        if self.group.needs_packet(event) {
                            let flow = handle.map(|h| (table.get(h), h.from_initiator));
                            let devices = Some(&*self.devices);
                            self.group.packet(e, &pkt, class, flow, Some(&dns), devices);
                        }
                    } else if self.group.needs_packet(event) {
                        self.group
                            .event(batch, e, Some(&pkt), Some(&dns), Some(&*self.devices));
                    }
                    self.merge(e, &mut cursors);
                }
                Event::Tick(now) => {
                    if let Some(table) = self.flows.as_deref_mut() {
                        table.expire(now);
                    }
                    self.out.close_idle(now)?;
                    self.group.event(batch, e, None, None, Some(&*self.devices));
                    self.merge(e, &mut cursors);
                }
                Event::FlowEnd { flow, now } => {
                    if let Some(flow) = batch.flow(flow) {
                        self.flow_ended(e, flow, now, &mut cursors)?;
                    }
                }
                Event::Finish(_) => {
                    self.group.event(batch, e, None, None, Some(&*self.devices));
                    self.merge(e, &mut cursors);
                }
                Event::Drain(now) => {
                    self.end_flows(e, now, &mut cursors)?;
                    self.pass(now)?;
                }
            }
        }
        Ok(())
    }

    /// The flows this stage's table ended, handed on at `now` (event `e`), as
    /// [`Engine::drain`] does.
    fn end_flows(&mut self, e: u32, now: Timestamp, cursors: &mut Vec<Cursor>) -> Result<()> {
        let Some(table) = self.flows.as_deref_mut() else {
            return Ok(());
        };
        table.take_ended(&mut self.ended);
        if self.ended.is_empty() {
            return Ok(());
        }
        let ended = std::mem::take(&mut self.ended);
        let mut result = Ok(());
        for flow in &ended {
            result = self.flow_ended(e, flow, now, cursors);
            if result.is_err() {
                break;
            }
        }
        self.ended = ended;
        self.ended.clear();
        result
    }

    /// `flow`, ended, handed on at `now` (event `e`): the detectors' calls, then the
    /// statistics and the sinks.
    fn flow_ended(
        &mut self,
        e: u32,
        flow: &Flow,
        now: Timestamp,
        cursors: &mut Vec<Cursor>,
    ) -> Result<()> {
        self.group.flow_end(e, flow, now, Some(&*self.devices));
        self.merge(e, cursors);
        if let Some(counts) = self.traffic_flows.as_deref_mut() {
            counts.flow_ended(flow);
        }
        self.out.flow_ended(flow, &self.group.local)
    }

    /// The alerts raised since the last drain, through the gateway to the sinks at `now`.
    fn pass(&mut self, now: Timestamp) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut alerts = std::mem::take(&mut self.pending);
        let passed = self
            .out
            .pass_alerts(&mut alerts, self.devices, &self.group.local, now, None);
        alerts.clear();
        self.pending = alerts;
        passed
    }

    /// This thread's own detectors' alerts for `e` join the detector threads' ones.
    fn merge(&mut self, e: u32, cursors: &mut Vec<Cursor>) {
        if self.group.out.alerts.is_empty() {
            // On two threads there are no detector threads, and most events raise nothing.
            if !cursors.is_empty() {
                merge_event(e, cursors, &mut self.pending);
            }
            return;
        }
        cursors.push(Cursor::new(std::mem::take(&mut self.group.out)));
        merge_event(e, cursors, &mut self.pending);
        cursors.pop();
    }
}

/// One detector's place in a share: (registration index, detector, whether it reads the
/// device inventory).
type Member<'e> = (u32, &'e mut Box<dyn Detector>, bool);

/// The output stage's own work per packet (traffic statistics, device inventory, flow
/// records, merging), in [`cost`]'s units. Measured (callgrind per thread, 200,000-packet
/// office mix, 4 threads): at 6 the output stage ran 473 M instructions against the
/// detector thread's 198 M; at 48, 390 M against 283 M.
const OUTPUT_COST: u32 = 48;

/// Splits `detectors` (whose calls are `every`) into `shares` shares, balancing an
/// estimate of their cost. Share 0 is the output stage's: it takes the detectors that read
/// the device inventory, and its own work counts against it.
fn share_out<'e>(
    detectors: &'e mut [Box<dyn Detector>],
    every: &[Call],
    shares: usize,
) -> Vec<Vec<Member<'e>>> {
    let shares = shares.max(1);
    let mut out: Vec<Vec<Member<'e>>> = (0..shares).map(|_| Vec::new()).collect();
    let mut load = vec![0u32; shares];
    load[0] = OUTPUT_COST;
    let mut order: Vec<(u32, &'e mut Box<dyn Detector>)> = detectors
        .iter_mut()
        .enumerate()
        .map(|(i, d)| (i as u32, d))
        .collect();
    // Heaviest first onto the least loaded share; each share keeps registration order.
    order.sort_by_key(|(i, d)| (std::cmp::Reverse(cost(d.as_ref())), *i));
    for (i, d) in order {
        let reads = every.get(i as usize).is_some_and(|c| c.devices);
        let g = if reads {
            0
        } else {
            (0..shares).min_by_key(|&g| (load[g], g)).unwrap_or(0)
        };
        load[g] += cost(d.as_ref());
        out[g].push((i, d, reads));
    }
    for share in &mut out {
        share.sort_by_key(|(i, _, _)| *i);
    }
    out
}

/// A rough relative cost per packet of a detector, from what it looks at: payload
/// parsers and per-packet feature extraction cost most.
fn cost(d: &dyn Detector) -> u32 {
    match d.id() {
        "plaintext_credentials" | "sensitive_data" => 8,
        "ml_anomaly" | "data_exfil" | "dns_tunnel" | "suspicious_dns" => 4,
        _ => {
            let i = d.interest();
            2 + u32::from(i.contains(Interest::TCP)) + u32::from(i.contains(Interest::UDP))
        }
    }
}

impl Engine {
    /// Reads `source` to its end (or until stopped) like [`run`](Self::run), on
    /// `threads` threads (0: one per core), with the same alerts, incidents, flows and
    /// summary in the same order. For files: the source is read as fast as the stages
    /// take it, nothing is dropped.
    ///
    /// One thread reads, decodes and keeps the flow table; the calling thread keeps the
    /// statistics and device inventory, writes to the sinks and runs a share of the
    /// detectors; each further thread runs another share. On two threads the calling
    /// thread keeps the flow table too, unless the run goes faster with it on the reading
    /// thread (under a flood: it moves there and back as the traffic changes). From four
    /// threads on, about
    /// half of the threads beyond those two keep the flow table's shards instead (flows
    /// sharded by hash), the others run detector shares. With one thread, or when the
    /// engine keeps a packet ring, records, or names local processes (live-capture
    /// features), this is [`run`](Self::run).
    /// Snapshot requests ([`snapshot_handle`](Self::snapshot_handle)) are answered after
    /// the run.
    ///
    /// ```
    /// use netsentinel_core::{CollectSink, Engine, EngineConfig, LinkType, MemorySource, Timestamp};
    /// let mut source = MemorySource::new(LinkType::Ethernet);
    /// source.push(Timestamp::from_micros(1), vec![0u8; 10]); // too short for Ethernet
    /// let mut engine = Engine::builder(EngineConfig::default())
    ///     .builtin_detectors()
    ///     .sink(CollectSink::new())
    ///     .build()?;
    /// let summary = engine.run_parallel(&mut source, 2)?;
    /// assert_eq!(summary.traffic.packets, 1);
    /// # Ok::<(), netsentinel_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn run_parallel<S: PacketSource + ?Sized>(
        &mut self,
        source: &mut S,
        threads: usize,
    ) -> Result<RunSummary> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        if threads < 2 || self.ring.is_some() || self.recorder.is_some() || self.processes.is_some()
        {
            return self.run(source);
        }
        let source_end = self.pipeline(source, threads)?;
        self.source_stats = source_end;
        let now = self.last_ts.unwrap_or_default();
        self.close_run(now)
    }

    /// The stages of [`run_parallel`](Self::run_parallel) up to the summary, on `threads`
    /// threads: the packet stage, the calling thread (output stage and a share of the
    /// detectors), and a detector thread per further share.
    fn pipeline<S: PacketSource + ?Sized>(
        &mut self,
        source: &mut S,
        threads: usize,
    ) -> Result<SourceStats> {
        let Engine {
            flows,
            traffic,
            neighbors,
            devices,
            local,
            out,
            detectors,
            dispatch,
            tick_micros,
            next_tick,
            last_ts,
            packet_number,
            stop,
            table_moves,
            batch_packets,
            ..
        } = self;
        let replica = neighbors.clone();
        let wanted: [bool; 6] = std::array::from_fn(|c| !dispatch.packet[c].is_empty());
        let flow_threads = flow_thread_count(threads, flows.shard_count());
        let mut shares =
            share_out(detectors, &dispatch.every, threads - 1 - flow_threads).into_iter();
        let own = shares.next().unwrap_or_default();
        let mut flow_workers = Vec::new();
        let (traffic_packets, traffic_flows) = traffic.parts_mut();
        let mut traffic_packets = Some(traffic_packets);
        // With no detector threads the output stage keeps the table (see `OutputStage::flows`)
        // and the packet stage the packet counts.
        let (mut output_flows, mut stage_traffic, mut placer) = (None, None, None);
        let (mut packet_mover, mut output_mover) = (None, None);
        let stage_flows = if flow_threads == 0 && shares.len() == 0 {
            placer = Some(flows.placer());
            output_flows = Some(flows);
            stage_traffic = traffic_packets.take();
            let (p, o) = table_move::sides(*table_moves);
            (packet_mover, output_mover) = (Some(p), Some(o));
            StageFlows::Output
        } else if flow_threads == 0 {
            StageFlows::Table {
                table: flows,
                counts: None,
            }
        } else {
            let parts = flows.parts();
            let (mut to, mut from) = (Vec::new(), Vec::new());
            for worker in FlowThread::share_out(parts.shards, flow_threads, wanted) {
                let (tx, rx) = sync_channel(QUEUE_BATCHES);
                let (back_tx, back_rx) = sync_channel(QUEUE_BATCHES);
                flow_workers.push((worker, rx, back_tx));
                to.push(tx);
                from.push(back_rx);
            }
            StageFlows::Threads(FlowThreads::new(
                parts.router,
                parts.packets,
                parts.live,
                to,
                from,
            ))
        };
        let mut stage = PacketStage {
            flows: stage_flows,
            neighbors,
            next_tick: *next_tick,
            last_ts: *last_ts,
            tick_micros: *tick_micros,
            wanted,
            traffic: stage_traffic,
            placer,
            mover: packet_mover,
            batch_packets: *batch_packets,
            batch: Batch::default(),
        };
        let mut output = OutputStage {
            out,
            traffic_packets,
            traffic_flows: Some(traffic_flows),
            devices,
            packet_number: *packet_number,
            group: DetectorGroup::new(own, replica.clone(), local.clone()),
            pending: Vec::new(),
            flows: output_flows,
            ended: Vec::new(),
            lookahead: FlowLookahead::default(),
        };
        let stop: &AtomicBool = stop;
        let (recycle_tx, recycled) = sync_channel::<Batch>(2 * QUEUE_BATCHES + 2);
        let recycler = Recycler(recycle_tx);
        std::thread::scope(|scope| {
            for (n, (worker, rx, tx)) in flow_workers.into_iter().enumerate() {
                std::thread::Builder::new()
                    .name(format!("netsentinel-flows-{n}"))
                    .spawn_scoped(scope, move || worker.run(rx, tx))
                    .map_err(spawn_failed)?;
            }
            let mut to_stages = Vec::new();
            let mut from_detectors = Vec::new();
            for (n, share) in shares.enumerate() {
                let (tx, rx) = sync_channel::<Arc<Batch>>(QUEUE_BATCHES);
                let (alerts_tx, alerts_rx) = sync_channel::<TaggedAlerts>(QUEUE_BATCHES);
                let mut group = DetectorGroup::new(share, replica.clone(), local.clone());
                let recycler = recycler.clone();
                std::thread::Builder::new()
                    .name(format!("netsentinel-detect-{n}"))
                    .spawn_scoped(scope, move || {
                        while let Some(batch) = handoff::recv(&rx) {
                            group.batch(&batch);
                            if !handoff::send(&alerts_tx, std::mem::take(&mut group.out)) {
                                return;
                            }
                            recycler.give_back(batch);
                        }
                    })
                    .map_err(spawn_failed)?;
                to_stages.push(tx);
                from_detectors.push(alerts_rx);
            }
            let (tx, batches) = sync_channel::<Arc<Batch>>(QUEUE_BATCHES);
            to_stages.push(tx);
            let reader = std::thread::Builder::new()
                .name("netsentinel-packets".into())
                .spawn_scoped(scope, move || {
                    let read = read_packets(&mut stage, source, stop, &to_stages, &recycled);
                    (read, stage.next_tick, stage.last_ts)
                })
                .map_err(spawn_failed)?;
            let written = write_output(
                &mut output,
                batches,
                from_detectors,
                output_mover,
                &recycler,
            );
            *packet_number = output.packet_number;
            // The receivers are gone: the other stages end at their next send.
            let read = match reader.join() {
                Ok((read, stage_next_tick, stage_last_ts)) => {
                    *next_tick = stage_next_tick;
                    *last_ts = stage_last_ts;
                    read
                }
                Err(panic) => std::panic::resume_unwind(panic),
            };
            written?;
            match read {
                Ok(Some(stats)) => Ok(stats),
                Ok(None) => Err(crate::Error::Source(SourceError::Capture {
                    interface: "pipeline".into(),
                    message: "a detector thread ended early".into(),
                })),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// Flow threads for a run on `threads` threads: none below four (the packet stage keeps
/// the flow table; with two or three threads the detectors are the larger part), then
/// half of the threads beyond the packet and output stages, at most one per shard.
fn flow_thread_count(threads: usize, shards: usize) -> usize {
    if threads < 4 {
        0
    } else {
        ((threads - 2) / 2).clamp(1, shards.max(1))
    }
}

/// The output stage's loop: every batch, with each detector thread's alerts for it, and
/// the flow table taken or handed back after a batch that says so. (`mover` is dropped
/// when this returns, so a packet stage waiting for the table then stops.)
fn write_output<'e>(
    output: &mut OutputStage<'e>,
    batches: Receiver<Arc<Batch>>,
    from_detectors: Vec<Receiver<TaggedAlerts>>,
    mover: Option<OutputSide<'e>>,
    recycler: &Recycler,
) -> Result<()> {
    while let Some(batch) = handoff::recv(&batches) {
        let mut tagged = Vec::with_capacity(from_detectors.len());
        for rx in &from_detectors {
            match handoff::recv(rx) {
                Some(t) => tagged.push(t),
                // A detector thread panicked: the scope re-raises it.
                None => return Ok(()),
            }
        }
        output.batch(&batch, tagged)?;
        if let Some(mover) = &mover
            && !mover.after_batch(batch.handoff, &mut output.flows, &mut output.traffic_flows)
        {
            return Ok(());
        }
        recycler.give_back(batch);
    }
    Ok(())
}

fn spawn_failed(e: std::io::Error) -> crate::Error {
    crate::Error::Source(SourceError::Capture {
        interface: "pipeline".into(),
        message: format!("cannot start a thread: {e}"),
    })
}
