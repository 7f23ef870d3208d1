//! The flow table: flows split over a fixed number of shards by key hash.
//!
//! The split does not depend on how many threads run: a single-thread run keeps the same
//! shards that a parallel run hands out to its flow threads, so both end the same flows at
//! the same moments (eviction picks within a shard, expiry goes shard by shard) and give
//! them the same ids (the number of the packet that created the flow). That is what lets
//! the parallel pipeline promise the single-thread result.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use serde::Serialize;

use super::shard::{FlowShard, ShardStats};
use super::{Flow, FlowConfig, FlowId, FlowKey, KeyBits};
use crate::decode::PacketView;
use crate::time::Timestamp;

/// Shards of a table whose configuration leaves the number to us (`FlowConfig::shards`
/// 0), at most: enough for the flow threads of a large machine.
const AUTO_SHARDS: usize = 16;
/// The seed of the hash that picks a flow's shard. Fixed, unlike the index's random one:
/// the shard decides which flows compete for room, so two runs over the same capture
/// (on any number of threads) must split the same way. Steering many flows into one
/// shard only crowds that shard, a sixteenth of the table; the index a shard probes
/// still hashes with a per-run random seed.
const SHARD_SEED: u64 = 0x6e73_2d66_6c6f_7773;

/// Flows the indexes of a new table have room for before they grow, in all: a larger
/// table starts at this and grows (rehashing) only when that many flows are live. Small,
/// as the indexes are written when allocated (see `index::empty_buckets`): at 1 << 18 a
/// run over the 145 KB demo capture took 16 ms and 15.5 MB, at 1 << 14 11 ms and 11.4 MB;
/// growing to the office mix's 270,000 live flows costs nothing measurable.
const INITIAL_INDEXED: usize = 1 << 14;

/// Flows per shard below which a table with an automatic shard count has fewer shards:
/// a small table gains nothing from the split, and its eviction order stays global.
const AUTO_FLOWS_PER_SHARD: usize = 4096;

/// A reference to a live flow, valid until the next call that changes the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowHandle {
    shard: u32,
    slot: u32,
    /// Whether the packet went from the initiator to the responder.
    pub from_initiator: bool,
    /// Whether this packet created the flow.
    pub created: bool,
}

/// Flow table counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FlowTableStats {
    /// Flows live now.
    pub active: u64,
    /// Most flows live at once.
    pub peak_active: u64,
    /// Flows created.
    pub created: u64,
    /// Flows ended by idle timeout.
    pub timed_out: u64,
    /// Flows ended because a new SYN reused their closed 4-tuple.
    pub reused: u64,
    /// Flows evicted because the table (a shard of it) was full (`max_flows`).
    pub evicted: u64,
    /// Flows still live when the capture ended.
    pub ended_at_eof: u64,
}

/// How many flows are live and the most there were, kept by whoever sees every change in
/// packet order: the table itself, or the parallel pipeline while its shards are out.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LiveCount {
    active: u64,
    peak: u64,
}

impl LiveCount {
    /// A packet was accounted: it `created` a flow, and `ended_one` to make room.
    pub(crate) fn packet(&mut self, created: bool, ended_one: bool) {
        if created && !ended_one {
            self.active += 1;
            self.peak = self.peak.max(self.active);
        }
    }

    /// `n` flows ended (timeout, end of capture).
    pub(crate) fn ended(&mut self, n: u64) {
        self.active = self.active.saturating_sub(n);
    }
}

/// Bidirectional flow table with exact idle expiry and a hard cap.
///
/// ```
/// use netsentinel_core::{FlowConfig, FlowTable};
/// let table = FlowTable::new(FlowConfig::default());
/// assert_eq!(table.stats().active, 0);
/// ```
// Cache-line aligned (two lines, fetched in pairs): in a parallel run the packet stage
// writes its counters for every packet while the output stage works on the fields around
// it in `Engine`; sharing a line with them made every packet wait (docs/BENCHMARKS.md,
// "sixth stop of the day").
#[repr(align(128))]
pub struct FlowTable {
    shards: Vec<FlowShard>,
    hasher: foldhash::fast::RandomState,
    /// Packets accounted: the next packet's number, less one, which a flow it creates
    /// takes as its id.
    packets: u64,
    live: LiveCount,
    /// The shard of the previous packet's flow.
    last_shard: usize,
    ended: Vec<Flow>,
    /// While the end of capture is under way ([`finish_some`](Self::finish_some)): which
    /// shard ends a flow next.
    finishing: Option<FinishOrder>,
}

/// A flow table taken apart for a parallel run: its shards, to be shared out among flow
/// threads, and what has to see every packet in order.
pub(crate) struct FlowTableParts<'t> {
    pub(crate) shards: &'t mut [FlowShard],
    pub(crate) router: ShardRouter,
    /// Packets accounted before the run (flow ids continue from here).
    pub(crate) packets: &'t mut u64,
    pub(crate) live: &'t mut LiveCount,
}

/// Which shard a packet's flow lives in.
#[derive(Clone)]
pub(crate) struct ShardRouter {
    shards: usize,
}

impl ShardRouter {
    /// The shard of the packet's flow; `None` for packets without an IP layer.
    pub(crate) fn shard(&self, pkt: &PacketView<'_>) -> Option<usize> {
        let (key, _) = FlowKey::from_packet(pkt)?;
        Some(shard_of(&key.bits(), self.shards))
    }
}

/// Where a flow key lives: its shard and its hash in the shard's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyPlace {
    shard: usize,
    hash: u64,
}

/// Finds where a flow key lives in one table, apart from the table ([`FlowTable::placer`]).
#[derive(Clone, Debug)]
pub(crate) struct KeyPlacer {
    hasher: foldhash::fast::RandomState,
    shards: usize,
}

impl KeyPlacer {
    /// As [`FlowTable::place`].
    pub(crate) fn place(&self, key: &KeyBits) -> KeyPlace {
        place(&self.hasher, self.shards, key)
    }
}

/// A key's place in a table of `shards` shards whose indexes hash with `hasher`.
fn place(hasher: &foldhash::fast::RandomState, shards: usize, key: &KeyBits) -> KeyPlace {
    KeyPlace {
        shard: shard_of(key, shards),
        hash: hasher.hash_one(key),
    }
}

/// The shard among `shards` of a flow key.
fn shard_of(key: &KeyBits, shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    let hash = foldhash::fast::FixedState::with_seed(SHARD_SEED).hash_one(key);
    ((u64::from(hash as u32) * shards as u64) >> 32) as usize
}

impl FlowTable {
    /// An empty table.
    pub fn new(config: FlowConfig) -> Self {
        let max_flows = config.max_flows.max(1);
        let count = if config.shards == 0 {
            (max_flows / AUTO_FLOWS_PER_SHARD).clamp(1, AUTO_SHARDS)
        } else {
            config.shards.min(max_flows)
        };
        let hasher = foldhash::fast::RandomState::default();
        // `max_flows` in all: the remainder goes one each to the first shards.
        let shards = (0..count)
            .map(|i| {
                let cap = max_flows / count + usize::from(i < max_flows % count);
                let indexed = cap.min(INITIAL_INDEXED / count);
                FlowShard::new(&config, cap, indexed, hasher.clone())
            })
            .collect();
        FlowTable {
            shards,
            hasher,
            packets: 0,
            live: LiveCount::default(),
            last_shard: 0,
            ended: Vec::new(),
            finishing: None,
        }
    }

    /// Counters.
    pub fn stats(&self) -> FlowTableStats {
        let mut sum = ShardStats::default();
        for s in &self.shards {
            let s = s.stats();
            sum.active += s.active;
            sum.created += s.created;
            sum.timed_out += s.timed_out;
            sum.reused += s.reused;
            sum.evicted += s.evicted;
            sum.ended_at_eof += s.ended_at_eof;
        }
        FlowTableStats {
            active: sum.active,
            peak_active: self.live.peak,
            created: sum.created,
            timed_out: sum.timed_out,
            reused: sum.reused,
            evicted: sum.evicted,
            ended_at_eof: sum.ended_at_eof,
        }
    }

    /// How many shards the table is split into (see `FlowConfig::shards`).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The flow behind a handle returned by [`update`](Self::update).
    pub fn get(&self, handle: FlowHandle) -> &Flow {
        self.shards[handle.shard as usize].get(handle.slot)
    }

    /// The flow behind a handle, to annotate it.
    pub fn get_mut(&mut self, handle: FlowHandle) -> &mut Flow {
        self.shards[handle.shard as usize].get_mut(handle.slot)
    }

    /// Live flows, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Flow> {
        self.shards.iter().flat_map(FlowShard::iter)
    }

    fn router(&self) -> ShardRouter {
        ShardRouter {
            shards: self.shards.len(),
        }
    }

    /// The table's shards and counters, for the parallel pipeline's flow threads.
    pub(crate) fn parts(&mut self) -> FlowTableParts<'_> {
        let router = self.router();
        FlowTableParts {
            shards: &mut self.shards,
            router,
            packets: &mut self.packets,
            live: &mut self.live,
        }
    }

    /// Where [`update`](Self::update) looks for a flow key, from the key's integers.
    pub(crate) fn place(&self, key: &KeyBits) -> KeyPlace {
        place(&self.hasher, self.shards.len(), key)
    }

    /// What finds [`place`](Self::place)s for this table on another thread.
    pub(crate) fn placer(&self) -> KeyPlacer {
        KeyPlacer {
            hasher: self.hasher.clone(),
            shards: self.shards.len(),
        }
    }

    /// Fetches into the cache the index bucket `update` will read first for a key at
    /// this [`place`](Self::place).
    pub(crate) fn prefetch_bucket(&self, place: KeyPlace) {
        if let Some(shard) = self.shards.get(place.shard) {
            shard.prefetch_bucket(place.hash);
        }
    }

    /// Fetches into the cache the flow at this place (see `FlowShard::prefetch_flow`).
    pub(crate) fn prefetch_flow(&self, place: KeyPlace) {
        if let Some(shard) = self.shards.get(place.shard) {
            shard.prefetch_flow(place.hash);
        }
    }

    /// Accounts one packet: finds or creates its flow. `None` for packets without an IP
    /// layer. A flow is numbered by the packet that created it: the n-th packet given to
    /// `update` creates flow n. Idle flows are not expired here but by
    /// [`expire`](Self::expire), which the engine calls on every tick: checking the list
    /// heads on every packet would touch cold memory for nothing.
    pub fn update(&mut self, pkt: &PacketView<'_>) -> Option<FlowHandle> {
        self.packets += 1;
        let keyed = FlowKey::from_packet(pkt)?;
        let hasher = &self.hasher;
        // A packet of the previous packet's flow needs no hash at all.
        let last = self.shards[self.last_shard].last_is(&keyed.0);
        let (shard, bits) = match last {
            Some(_) => (self.last_shard, None),
            None => {
                let bits = keyed.0.bits();
                (shard_of(&bits, self.shards.len()), Some(bits))
            }
        };
        self.last_shard = shard;
        let hash = || hasher.hash_one(bits.unwrap_or_else(|| keyed.0.bits()));
        let id = FlowId(self.packets);
        let u = self.shards[shard].update(pkt, keyed, last, hash, id, &mut self.ended);
        self.live.packet(u.created, u.ended_one);
        Some(FlowHandle {
            shard: shard as u32,
            slot: u.slot,
            from_initiator: u.from_initiator,
            created: u.created,
        })
    }

    /// Ends every flow idle for longer than its timeout at `now`, shard by shard.
    pub fn expire(&mut self, now: Timestamp) {
        let mut n = 0;
        for shard in &mut self.shards {
            n += shard.expire(now, &mut self.ended);
        }
        self.live.ended(n);
    }

    /// Ends every live flow (end of capture), in creation order.
    pub fn finish(&mut self) {
        while self.finish_some(usize::MAX) {}
    }

    /// Ends up to `max` live flows (end of capture), in creation order; `true` while
    /// flows remain. Lets the caller hand ended flows on in batches instead of holding a
    /// copy of the whole table at once. Every flow live at the first call is ending: a
    /// packet accounted between two calls starts a new flow.
    pub fn finish_some(&mut self, max: usize) -> bool {
        let order = self.finishing.get_or_insert_with(|| {
            for shard in &mut self.shards {
                shard.begin_finish();
            }
            FinishOrder::new(self.shards.iter().enumerate())
        });
        for _ in 0..max {
            let Some(at) = order.next() else { break };
            let shard = &mut self.shards[at];
            if shard.finish_next(&mut self.ended) == Some(true) {
                self.live.ended(1);
            }
            order.ended(at, shard);
        }
        if order.is_done() {
            self.finishing = None;
            return false;
        }
        true
    }

    /// Takes the flows ended since the last call, oldest end first.
    pub fn take_ended(&mut self, into: &mut Vec<Flow>) {
        into.append(&mut self.ended);
    }

    /// Approximate heap bytes held per flow slot (slab slot + index entry).
    pub fn bytes_per_flow() -> usize {
        FlowShard::bytes_per_flow()
    }
}

/// The order in which the end of capture ends flows across shards: oldest first, each
/// shard's list (from `FlowShard::begin_finish`) being oldest first already.
#[derive(Default)]
pub(crate) struct FinishOrder {
    /// (id of the flow next in line, position of its shard), least first.
    heads: BinaryHeap<Reverse<(FlowId, usize)>>,
}

impl FinishOrder {
    /// Starts on `shards`, given with their positions, each after `begin_finish`.
    pub(crate) fn new<'s>(shards: impl IntoIterator<Item = (usize, &'s FlowShard)>) -> Self {
        let heads = shards
            .into_iter()
            .filter_map(|(at, s)| s.next_to_finish().map(|id| Reverse((id, at))))
            .collect();
        FinishOrder { heads }
    }

    /// The position of the shard whose flow ends next; `None` when every list is done.
    /// The caller ends that flow (`FlowShard::finish_next`), then calls
    /// [`ended`](Self::ended).
    pub(crate) fn next(&self) -> Option<usize> {
        self.heads.peek().map(|Reverse((_, at))| *at)
    }

    /// The shard at `at`, returned by [`next`](Self::next), ended its flow.
    pub(crate) fn ended(&mut self, at: usize, shard: &FlowShard) {
        self.heads.pop();
        if let Some(id) = shard.next_to_finish() {
            self.heads.push(Reverse((id, at)));
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.heads.is_empty()
    }
}
