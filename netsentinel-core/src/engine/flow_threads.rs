//! The parallel pipeline's flow threads: the flow table's shards shared out among threads.
//!
//! With flow threads the packet stage decodes each packet and notes the shard of its flow
//! (by key hash) instead of keeping the flow table itself. Each flow thread keeps whole
//! shards (shard `s` goes to thread `s % threads`) and, batch by batch, accounts the
//! packets of its shards and expires its shards on every tick. The packet stage then puts
//! what they did back in packet order: each packet gets its flow, ended flows go where a
//! single-thread run hands them on (after the packet that evicted them; on a tick, shard
//! by shard), and at the end of the input the flows of every shard end in creation order.
//! That is what a single-thread [`FlowTable`](crate::FlowTable) with the same shards does,
//! so the records are the same.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

use super::FINISH_BATCH;
use super::pipeline::{Batch, Event, NO_FLOW};
use crate::flow::{FinishOrder, Flow, FlowId, FlowKey, FlowShard, LiveCount, ShardRouter};
use crate::time::Timestamp;

/// `Batch::routes` of a packet without a flow.
pub(super) const NO_SHARD: u32 = u32::MAX;
/// Batches the packet stage has handed to the flow threads and not yet put back in order.
const IN_FLIGHT: usize = 2;

/// Where a packet's flow lives: its shard. (The key's hash in the shard's index is
/// left to the flow thread, which needs it only when the flow is not its previous one.)
#[derive(Clone, Copy, Debug)]
pub(super) struct Route {
    pub(super) shard: u32,
}

/// What a flow thread did with a packet of one of its shards.
#[derive(Clone, Copy, Debug)]
struct PacketDone {
    /// The packet's flow after it (index into `FlowsDone::flows`), or [`NO_FLOW`] when no
    /// detector looks at packets of its class.
    flow: u32,
    /// A flow ended to make room for this packet's (index), or [`NO_FLOW`].
    ended: u32,
    from_initiator: bool,
    created: bool,
}

/// What a flow thread did with one batch.
#[derive(Default)]
pub(super) struct FlowsDone {
    /// The packets of its shards, in batch order.
    packets: Vec<PacketDone>,
    /// Flows a tick ended: (tick number in the batch, shard, first index, count), in
    /// tick and shard order.
    tick_ends: Vec<(u32, u32, u32, u32)>,
    /// The flows the entries above refer to.
    flows: Vec<Flow>,
}

impl FlowsDone {
    fn clear(&mut self) {
        self.packets.clear();
        self.tick_ends.clear();
        self.flows.clear();
    }
}

/// To a flow thread.
pub(super) enum ToFlows {
    /// Account this batch, filling the (empty) record given along.
    Batch(Arc<Batch>, FlowsDone),
    /// The input ended: end every flow.
    Finish,
}

/// From a flow thread.
pub(super) enum FromFlows {
    Batch(FlowsDone),
    /// Flows ended at the end of the input, oldest first; `last` on the final chunk.
    Finished {
        flows: Vec<Flow>,
        last: bool,
    },
}

/// A flow thread: its shards, by shard number.
pub(super) struct FlowThread<'t> {
    shards: Vec<(u32, &'t mut FlowShard)>,
    /// This thread's position in `shards` of each shard number, `None` for others'.
    mine: Vec<Option<usize>>,
    /// Packet classes some detector looks at: only their packets carry a copy of the flow.
    wanted: [bool; 6],
    /// The hasher of the shards' indexes.
    hasher: foldhash::fast::RandomState,
}

impl<'t> FlowThread<'t> {
    /// Shares `shards` out among `threads` threads.
    pub(super) fn share_out(
        shards: &'t mut [FlowShard],
        threads: usize,
        wanted: [bool; 6],
    ) -> Vec<FlowThread<'t>> {
        let count = shards.len();
        let hasher = shards
            .first()
            .map(|s| s.hasher().clone())
            .unwrap_or_default();
        let mut out: Vec<FlowThread<'t>> = (0..threads)
            .map(|_| FlowThread {
                shards: Vec::new(),
                mine: vec![None; count],
                wanted,
                hasher: hasher.clone(),
            })
            .collect();
        for (s, shard) in shards.iter_mut().enumerate() {
            let t = &mut out[s % threads];
            t.mine[s] = Some(t.shards.len());
            t.shards.push((s as u32, shard));
        }
        out
    }

    /// Serves the packet stage until it hangs up.
    pub(super) fn run(mut self, from: Receiver<ToFlows>, to: SyncSender<FromFlows>) {
        for message in from {
            match message {
                ToFlows::Batch(batch, mut done) => {
                    self.batch(&batch, &mut done);
                    // The packet stage takes the batch back for itself once every flow
                    // thread has answered: let go of it first.
                    drop(batch);
                    if to.send(FromFlows::Batch(done)).is_err() {
                        return;
                    }
                }
                ToFlows::Finish => {
                    if !self.finish(&to) {
                        return;
                    }
                }
            }
        }
    }

    fn batch(&mut self, batch: &Batch, done: &mut FlowsDone) {
        let mut tick = 0u32;
        for event in &batch.events {
            match *event {
                Event::Packet { packet, class, .. } => {
                    let Some(route) = batch.routes.get(packet as usize) else {
                        continue;
                    };
                    let Some(&Some(at)) = self.mine.get(route.shard as usize) else {
                        continue;
                    };
                    let Some(pkt) = batch.packet(packet) else {
                        continue;
                    };
                    let Some(keyed) = FlowKey::from_packet(&pkt) else {
                        continue;
                    };
                    let shard = &mut *self.shards[at].1;
                    let id = FlowId(batch.first_packet + u64::from(packet) + 1);
                    let ended_at = done.flows.len() as u32;
                    let last = shard.last_is(&keyed.0);
                    let hash = || self.hasher.hash_one(keyed.0);
                    let u = shard.update(&pkt, keyed, last, hash, id, &mut done.flows);
                    let flow = if self.wanted[usize::from(class)] {
                        done.flows.push(shard.get(u.slot).clone());
                        done.flows.len() as u32 - 1
                    } else {
                        NO_FLOW
                    };
                    done.packets.push(PacketDone {
                        flow,
                        ended: if u.ended_one { ended_at } else { NO_FLOW },
                        from_initiator: u.from_initiator,
                        created: u.created,
                    });
                }
                Event::Tick(now) => {
                    for (s, shard) in &mut self.shards {
                        let first = done.flows.len() as u32;
                        let n = shard.expire(now, &mut done.flows) as u32;
                        if n > 0 {
                            done.tick_ends.push((tick, *s, first, n));
                        }
                    }
                    tick += 1;
                }
                _ => {}
            }
        }
    }

    /// Ends every flow of this thread's shards, oldest first, in chunks; `false` when the
    /// packet stage hung up.
    fn finish(&mut self, to: &SyncSender<FromFlows>) -> bool {
        for (_, shard) in &mut self.shards {
            shard.begin_finish();
        }
        let mut order = FinishOrder::new(self.shards.iter().map(|(_, s)| &**s).enumerate());
        loop {
            let mut flows = Vec::with_capacity(FINISH_BATCH);
            while flows.len() < FINISH_BATCH {
                let Some(at) = order.next() else { break };
                let shard = &mut *self.shards[at].1;
                shard.finish_next(&mut flows);
                order.ended(at, shard);
            }
            let last = order.is_done();
            if to.send(FromFlows::Finished { flows, last }).is_err() {
                return false;
            }
            if last {
                return true;
            }
        }
    }
}

/// The packet stage's side of the flow threads.
pub(super) struct FlowThreads<'e> {
    pub(super) router: ShardRouter,
    /// Packets accounted (the flow table's count: flow ids are packet numbers).
    pub(super) packets: &'e mut u64,
    live: &'e mut LiveCount,
    to: Vec<SyncSender<ToFlows>>,
    from: Vec<Receiver<FromFlows>>,
    in_flight: VecDeque<Arc<Batch>>,
    /// Emptied records, one set per batch, to hand out again.
    spare: Vec<Vec<FlowsDone>>,
    /// Per flow thread: where the put-back is in its records of the current batch.
    cursors: Vec<(usize, usize)>,
}

/// The flow threads hung up (one of them panicked; the thread scope re-raises it).
#[derive(Debug)]
pub(super) struct FlowThreadsGone;

impl<'e> FlowThreads<'e> {
    pub(super) fn new(
        router: ShardRouter,
        packets: &'e mut u64,
        live: &'e mut LiveCount,
        to: Vec<SyncSender<ToFlows>>,
        from: Vec<Receiver<FromFlows>>,
    ) -> Self {
        let threads = to.len();
        FlowThreads {
            router,
            packets,
            live,
            to,
            from,
            in_flight: VecDeque::new(),
            spare: Vec::new(),
            cursors: vec![(0, 0); threads],
        }
    }

    fn owner(&self, shard: u32) -> usize {
        shard as usize % self.to.len()
    }

    /// Hands `batch` to the flow threads; returns the oldest batch in flight, put back in
    /// order, once more than [`IN_FLIGHT`] are.
    pub(super) fn dispatch(&mut self, batch: Batch) -> Result<Option<Batch>, FlowThreadsGone> {
        let batch = Arc::new(batch);
        let mut records = self.spare.pop().unwrap_or_default();
        records.resize_with(self.to.len(), FlowsDone::default);
        for (tx, done) in self.to.iter().zip(records) {
            tx.send(ToFlows::Batch(Arc::clone(&batch), done))
                .map_err(|_| FlowThreadsGone)?;
        }
        self.in_flight.push_back(batch);
        if self.in_flight.len() > IN_FLIGHT {
            self.collect().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The oldest batch in flight, put back in order; `None` when none is.
    pub(super) fn next_done(&mut self) -> Result<Option<Batch>, FlowThreadsGone> {
        if self.in_flight.is_empty() {
            return Ok(None);
        }
        self.collect().map(Some)
    }

    fn collect(&mut self) -> Result<Batch, FlowThreadsGone> {
        let mut records = Vec::with_capacity(self.from.len());
        for rx in &self.from {
            match rx.recv() {
                Ok(FromFlows::Batch(done)) => records.push(done),
                _ => return Err(FlowThreadsGone),
            }
        }
        let shared = self.in_flight.pop_front().ok_or(FlowThreadsGone)?;
        // Every flow thread dropped its handle before answering.
        let mut batch = Arc::into_inner(shared).ok_or(FlowThreadsGone)?;
        self.put_back(&mut batch, &mut records);
        for r in &mut records {
            r.clear();
        }
        self.spare.push(records);
        Ok(batch)
    }

    /// Rewrites the batch's events with what the flow threads did: each packet's flow,
    /// and the flows ended before each point where alerts are handed on.
    fn put_back(&mut self, batch: &mut Batch, records: &mut [FlowsDone]) {
        // The flow threads' flows move into the batch, each thread's after the previous.
        let mut base = Vec::with_capacity(records.len());
        for r in records.iter_mut() {
            base.push(batch.flows.len() as u32);
            batch.flows.append(&mut r.flows);
        }
        for c in &mut self.cursors {
            *c = (0, 0);
        }
        let events = std::mem::take(&mut batch.events);
        let mut ended: Vec<u32> = Vec::new();
        let mut tick = 0u32;
        let mut tick_shards: Vec<(u32, usize, u32, u32)> = Vec::new();
        for event in &events {
            match *event {
                Event::Packet { packet, class, .. } => {
                    let route = batch.routes.get(packet as usize);
                    let done = route.filter(|r| r.shard != NO_SHARD).and_then(|r| {
                        let t = self.owner(r.shard);
                        let at = &mut self.cursors[t].0;
                        let d = records[t].packets.get(*at)?;
                        *at += 1;
                        Some((t, *d))
                    });
                    let Some((t, d)) = done else {
                        batch.events.push(*event);
                        continue;
                    };
                    self.live.packet(d.created, d.ended_one());
                    if d.ended != NO_FLOW {
                        ended.push(base[t] + d.ended);
                    }
                    let flow = if d.flow == NO_FLOW {
                        NO_FLOW
                    } else {
                        base[t] + d.flow
                    };
                    batch.events.push(Event::Packet {
                        packet,
                        flow,
                        from_initiator: d.from_initiator,
                        class,
                    });
                }
                Event::Tick(_) => {
                    batch.events.push(*event);
                    tick_shards.clear();
                    for (t, r) in records.iter().enumerate() {
                        let at = &mut self.cursors[t].1;
                        while let Some(&(k, shard, first, n)) = r.tick_ends.get(*at) {
                            if k != tick {
                                break;
                            }
                            tick_shards.push((shard, t, first, n));
                            *at += 1;
                        }
                    }
                    tick_shards.sort_unstable();
                    for &(_, t, first, n) in &tick_shards {
                        ended.extend((first..first + n).map(|i| base[t] + i));
                        self.live.ended(u64::from(n));
                    }
                    tick += 1;
                }
                Event::Drain(now) => {
                    for flow in ended.drain(..) {
                        batch.events.push(Event::FlowEnd { flow, now });
                    }
                    batch.events.push(*event);
                }
                _ => batch.events.push(*event),
            }
        }
    }

    /// The end of the input: every flow ends, in creation order across all shards, as
    /// `FlowTable::finish_some` in chunks of [`FINISH_BATCH`], each chunk followed by a
    /// point where alerts are handed on. `send` takes each full batch; `false` when the
    /// run is being abandoned.
    pub(super) fn finish(
        &mut self,
        batch: &mut Batch,
        now: Timestamp,
        mut send: impl FnMut(Batch) -> bool,
    ) -> Result<bool, FlowThreadsGone> {
        for tx in &self.to {
            tx.send(ToFlows::Finish).map_err(|_| FlowThreadsGone)?;
        }
        let mut heads: Vec<(VecDeque<Flow>, bool)> = (0..self.from.len())
            .map(|_| (VecDeque::new(), false))
            .collect();
        let mut in_chunk = 0;
        let mut chunks = 0;
        loop {
            for (t, (head, last)) in heads.iter_mut().enumerate() {
                while head.is_empty() && !*last {
                    match self.from[t].recv() {
                        Ok(FromFlows::Finished { flows, last: l }) => {
                            head.extend(flows);
                            *last = l;
                        }
                        _ => return Err(FlowThreadsGone),
                    }
                }
            }
            let oldest = heads
                .iter()
                .enumerate()
                .filter_map(|(t, (head, _))| head.front().map(|f| (f.id, t)))
                .min();
            let Some((_, t)) = oldest else { break };
            let Some(flow) = heads[t].0.pop_front() else {
                break;
            };
            batch.flows.push(flow);
            batch.events.push(Event::FlowEnd {
                flow: batch.flows.len() as u32 - 1,
                now,
            });
            self.live.ended(1);
            in_chunk += 1;
            if in_chunk == FINISH_BATCH {
                batch.events.push(Event::Drain(now));
                in_chunk = 0;
                chunks += 1;
                if !send(std::mem::take(batch)) {
                    return Ok(false);
                }
            }
        }
        if in_chunk > 0 || chunks == 0 {
            batch.events.push(Event::Drain(now));
        }
        Ok(true)
    }
}

impl PacketDone {
    fn ended_one(&self) -> bool {
        self.ended != NO_FLOW
    }
}
