//! One shard of the flow table: a slab of flows, a hash index, and one expiry queue per
//! timeout class. The [`FlowTable`](super::FlowTable) splits flows over shards by key hash;
//! a shard sees only its own flows, so shards can be kept by different threads.
//!
//! A packet only touches its own flow (hash lookup, then the slot): no list is relinked per
//! packet, because relinking touches two neighbouring flows that are cold in cache and that
//! cost dominated the whole pipeline. Instead each class keeps an expiry queue
//! ([`ExpiryQueue`], oldest first) of (time, slot) entries whose time is at most the
//! flow's `last_seen`; expiry takes entries that look old, ends the flow if it really is
//! idle, and otherwise pushes it back with its current `last_seen`. Expiry is therefore
//! exact at tick granularity, and a busy flow costs one queue operation per timeout
//! period, not one per packet.

use std::hash::BuildHasher;

use super::expiry::{ExpiryEntry, ExpiryQueue};
use super::index::{FlowIndex, fingerprint};
use super::{DirectionStats, Flow, FlowConfig, FlowEndReason, FlowId, FlowKey, TcpState};
use crate::decode::{Fragment, PacketView, TcpFlags, Transport};
use crate::time::Timestamp;

/// Timeout classes; each has its own expiry queue so expiry only ever looks at its oldest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Class {
    TcpEstablished = 0,
    TcpNew = 1,
    TcpClosed = 2,
    Udp = 3,
    Icmp = 4,
    Other = 5,
}
const CLASSES: usize = 6;

/// How many ends ahead [`FlowShard::finish_next`] fetches the flow it will end.
const FINISH_AHEAD: usize = 8;

impl Class {
    fn of(flow: &Flow) -> Class {
        match flow.key.protocol {
            6 => match flow.tcp_state {
                TcpState::Established | TcpState::Midstream | TcpState::Closing => {
                    Class::TcpEstablished
                }
                TcpState::ClosedFin | TcpState::ClosedRst => Class::TcpClosed,
                TcpState::NotTcp | TcpState::Attempted | TcpState::HalfOpen => Class::TcpNew,
            },
            17 => Class::Udp,
            1 | 58 => Class::Icmp,
            _ => Class::Other,
        }
    }
}

struct Slot {
    flow: Flow,
    class: Class,
    /// Bumped whenever the slot is freed, so expiry entries of a dead flow are recognised.
    generation: u32,
    live: bool,
}

impl Slot {
    /// Fields spread over the slot such that one of them starts in each cache line the
    /// slot spans, wherever the slab puts it: 160 bytes span three or four lines, and an
    /// update reads all of them (the key, the counters, the state and liveness at the
    /// end). Fetching the first fields only left the last line out for every slot on a
    /// slab that starts 16 bytes into a line, as glibc's large allocations do, and each
    /// packet waited for it (5 % of a single-thread run). The compiler lays the fields
    /// out; a test checks the spread.
    fn spread_fields(&self) -> (&DirectionStats, &FlowId, &FlowKey, &bool) {
        (
            &self.flow.to_server,
            &self.flow.id,
            &self.flow.key,
            &self.live,
        )
    }
}

/// What [`FlowShard::update`] did with a packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShardUpdate {
    pub(crate) slot: u32,
    /// Whether the packet went from the initiator to the responder.
    pub(crate) from_initiator: bool,
    /// Whether this packet created the flow.
    pub(crate) created: bool,
    /// Whether making room for it ended another flow (eviction or reuse).
    pub(crate) ended_one: bool,
}

/// A shard's counters (see [`FlowTableStats`](super::FlowTableStats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ShardStats {
    pub(super) active: u64,
    pub(super) created: u64,
    pub(super) timed_out: u64,
    pub(super) reused: u64,
    pub(super) evicted: u64,
    pub(super) ended_at_eof: u64,
}

/// Part of a flow table, with exact idle expiry and a hard cap of its own.
///
/// Aligned to two cache lines: the shards sit side by side in the table, and from four
/// threads on, neighbouring shards belong to different flow threads that write their
/// counters for every packet; unaligned, the end of one shared a line with the start of
/// the next (376 bytes each). Two lines because the CPU fetches lines in pairs.
#[repr(align(128))]
pub(crate) struct FlowShard {
    /// Slot indices by a fingerprint of their flow's key. The key compare reads the slot,
    /// which the update needs anyway, so a packet costs one cache miss into the index
    /// and one into the slab.
    index: FlowIndex,
    /// The table's per-run hasher for the index (the same in every shard, so a key is
    /// hashed once whichever shard holds it; the shard itself is picked by a fixed-seed
    /// hash, `table::shard_of`).
    hasher: foldhash::fast::RandomState,
    slots: Vec<Slot>,
    free: Vec<u32>,
    expiry: [ExpiryQueue; CLASSES],
    timeouts: [i64; CLASSES],
    max_flows: usize,
    /// Live flows still to end at the end of capture, as (id, slot), newest first.
    finishing: Vec<(FlowId, u32)>,
    /// The slot of the previous packet's flow (checked by key and liveness before use).
    last: Option<u32>,
    stats: ShardStats,
}

impl FlowShard {
    /// An empty shard holding at most `max_flows` flows, with an index sized for
    /// `indexed` of them before it grows.
    pub(super) fn new(
        config: &FlowConfig,
        max_flows: usize,
        indexed: usize,
        hasher: foldhash::fast::RandomState,
    ) -> Self {
        let us = |secs: u64| i64::try_from(secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let mut timeouts = [0i64; CLASSES];
        timeouts[Class::TcpEstablished as usize] = us(config.tcp_established_timeout_secs);
        timeouts[Class::TcpNew as usize] = us(config.tcp_new_timeout_secs);
        timeouts[Class::TcpClosed as usize] = us(config.tcp_closed_timeout_secs);
        timeouts[Class::Udp as usize] = us(config.udp_timeout_secs);
        timeouts[Class::Icmp as usize] = us(config.icmp_timeout_secs);
        timeouts[Class::Other as usize] = us(config.other_timeout_secs);
        let max_flows = max_flows.max(1);
        FlowShard {
            index: FlowIndex::with_capacity(indexed),
            hasher,
            // Capacity is only reserved address space until used; it saves the copy (and the
            // transient double footprint) of growing a large table.
            slots: Vec::with_capacity(max_flows.min(u32::MAX as usize)),
            free: Vec::new(),
            expiry: Default::default(),
            timeouts,
            max_flows,
            finishing: Vec::new(),
            last: None,
            stats: ShardStats::default(),
        }
    }

    /// What this shard's index hashes keys with (the same for every shard of a table).
    pub(crate) fn hasher(&self) -> &foldhash::fast::RandomState {
        &self.hasher
    }

    pub(super) fn stats(&self) -> ShardStats {
        self.stats
    }

    pub(crate) fn get(&self, slot: u32) -> &Flow {
        &self.slots[slot as usize].flow
    }

    pub(super) fn get_mut(&mut self, slot: u32) -> &mut Flow {
        &mut self.slots[slot as usize].flow
    }

    /// Live flows, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Flow> {
        // While the end of capture is ending flows, those still to end are no longer
        // indexed (the index was cleared for them) but are live.
        self.index
            .slots()
            .chain(self.finishing.iter().map(|&(_, slot)| slot))
            .map(|slot| &self.slots[slot as usize])
            .filter(|s| s.live)
            .map(|s| &s.flow)
    }

    /// Fetches into the cache the index bucket `update` will read first for `hash`.
    pub(super) fn prefetch_bucket(&self, hash: u64) {
        self.index.prefetch(fingerprint(hash));
    }

    /// Fetches into the cache the flow of this key hash, found through the index (whose
    /// bucket [`prefetch_bucket`](Self::prefetch_bucket) should have fetched a packet
    /// earlier). The slot is picked by fingerprint alone: reading it to compare keys would
    /// wait for the very memory read this is meant to start early.
    pub(super) fn prefetch_flow(&self, hash: u64) {
        if let Some(slot) = self.index.first_candidate(fingerprint(hash)) {
            self.prefetch_slot(slot);
        }
    }

    /// Fetches slot `slot` into the cache, every line of it (a hint; see
    /// [`super::prefetch`]).
    fn prefetch_slot(&self, slot: u32) {
        if let Some(s) = self.slots.get(slot as usize) {
            let (a, b, c, d) = s.spread_fields();
            super::prefetch(a);
            super::prefetch(b);
            super::prefetch(c);
            super::prefetch(d);
        }
    }

    /// The slot of the previous packet's flow here when that flow is `key`'s: packets
    /// come in bursts per flow (a TCP window, a DNS query and its answer), and such a
    /// packet needs neither a hash nor the index.
    pub(crate) fn last_is(&self, key: &FlowKey) -> Option<u32> {
        self.last.filter(|&slot| {
            let s = &self.slots[slot as usize];
            s.live && s.flow.key == *key
        })
    }

    /// Accounts one packet of flow `key`: finds or creates its flow; a created flow gets
    /// `id`. `last` is [`last_is`](Self::last_is) of the key, `hash` gives the key's hash,
    /// asked for only when the index is used. A flow ended to make room goes to `ended`.
    pub(crate) fn update(
        &mut self,
        pkt: &PacketView<'_>,
        (key, lo_to_hi): (FlowKey, bool),
        last: Option<u32>,
        hash: impl FnOnce() -> u64,
        id: FlowId,
        ended: &mut Vec<Flow>,
    ) -> ShardUpdate {
        let tcp_flags = match pkt.transport {
            Transport::Tcp(t) => Some(t.flags),
            _ => None,
        };
        let mut hash = Some(hash);
        let mut fp_known = None;
        let mut fp =
            || *fp_known.get_or_insert_with(|| fingerprint(hash.take().map_or(0, |h| h())));
        let mut created = false;
        let mut ended_one = false;
        let found = last.or_else(|| {
            let fp = fp();
            let slots = &self.slots;
            self.index.find(fp, |i| slots[i as usize].flow.key == key)
        });
        let slot = match found {
            Some(slot) => {
                let syn_only =
                    tcp_flags.is_some_and(|f| f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK));
                if syn_only && self.slots[slot as usize].flow.tcp_state.is_closed() {
                    let fp = fp();
                    self.stats.reused += 1;
                    self.end(slot, FlowEndReason::Reused, ended);
                    created = true;
                    ended_one = true;
                    self.create(key, fp, lo_to_hi, pkt, tcp_flags, id)
                } else {
                    slot
                }
            }
            None => {
                let fp = fp();
                if self.index.len() >= self.max_flows {
                    ended_one = self.evict_one(ended);
                }
                created = true;
                self.create(key, fp, lo_to_hi, pkt, tcp_flags, id)
            }
        };
        self.last = Some(slot);
        let s = &mut self.slots[slot as usize];
        let from_initiator = lo_to_hi == s.flow.initiator_is_lo;
        let flow = &mut s.flow;
        if pkt.ts > flow.last_seen {
            flow.last_seen = pkt.ts;
        }
        let dir: &mut DirectionStats = if from_initiator {
            &mut flow.to_server
        } else {
            &mut flow.to_client
        };
        dir.packets += 1;
        dir.bytes += u64::from(pkt.wire_len);
        dir.payload_bytes += pkt.payload.len() as u64;
        if let Some(flags) = tcp_flags {
            dir.tcp_flags |= flags.0;
            flow.track_tcp(flags, from_initiator);
        }
        if pkt.ip().is_some_and(|ip| ip.fragment != Fragment::None) {
            flow.fragments += 1;
        }
        let class = Class::of(flow);
        if class != s.class {
            s.class = class;
            self.expiry[class as usize].push((pkt.ts, slot, s.generation));
        }
        ShardUpdate {
            slot,
            from_initiator,
            created,
            ended_one,
        }
    }

    /// Ends every flow idle for longer than its timeout at `now`, into `ended`; returns
    /// how many.
    pub(crate) fn expire(&mut self, now: Timestamp, ended: &mut Vec<Flow>) -> u64 {
        let mut count = 0;
        for c in 0..CLASSES {
            let timeout = self.timeouts[c];
            while let Some((since, slot, generation)) = self.expiry[c].peek() {
                if now.micros_since(since) <= timeout {
                    break;
                }
                self.expiry[c].pop();
                let s = &self.slots[slot as usize];
                if !s.live || s.generation != generation || s.class as usize != c {
                    continue; // stale: the flow ended or moved to another class
                }
                let last = s.flow.last_seen;
                if now.micros_since(last) > timeout {
                    self.stats.timed_out += 1;
                    count += 1;
                    self.end(slot, FlowEndReason::Timeout, ended);
                } else {
                    self.expiry[c].push((last, slot, generation));
                }
            }
        }
        count
    }

    /// Starts ending every live flow (end of capture): [`finish_next`](Self::finish_next)
    /// then ends them one by one, oldest first. A packet accounted in between starts a
    /// new flow, which this does not end.
    pub(crate) fn begin_finish(&mut self) {
        // One sequential pass over the slab, then a sort of small (id, slot) pairs:
        // sorting slot numbers by a key read from each slot would miss the cache on
        // every comparison.
        let mut live: Vec<(FlowId, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, s)| (s.flow.id, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        // Descending, so popping from the back yields the oldest first.
        live.sort_unstable_by(|a, b| b.cmp(a));
        self.finishing = live;
        if !self.finishing.is_empty() {
            // All of them end: one clear instead of a lookup (two cache misses) per flow.
            self.index.clear();
            self.last = None;
        }
    }

    /// The id of the flow [`finish_next`](Self::finish_next) ends next.
    pub(crate) fn next_to_finish(&self) -> Option<FlowId> {
        self.finishing.last().map(|&(id, _)| id)
    }

    /// Ends the oldest flow still to end at the end of capture, into `ended`:
    /// `Some(true)` when it ended one, `Some(false)` when that flow had ended meanwhile
    /// (evicted), `None` when none is left.
    pub(crate) fn finish_next(&mut self, ended: &mut Vec<Flow>) -> Option<bool> {
        let (_, slot) = self.finishing.pop()?;
        // Creation order is not slot order once freed slots were taken again: the flow
        // a few ends ahead is fetched now, so each end does not wait on memory.
        if let Some(&(_, ahead)) = self
            .finishing
            .len()
            .checked_sub(FINISH_AHEAD)
            .and_then(|i| self.finishing.get(i))
        {
            self.prefetch_slot(ahead);
        }
        if !self.slots[slot as usize].live {
            return Some(false);
        }
        self.stats.ended_at_eof += 1;
        self.retire(slot, FlowEndReason::EndOfCapture, ended);
        Some(true)
    }

    /// Approximate heap bytes held per flow slot (slab slot + index entry).
    pub(super) fn bytes_per_flow() -> usize {
        // An 8-byte bucket at up to half load.
        let index = 2 * size_of::<u64>();
        // At least one expiry entry per flow.
        size_of::<Slot>() + index + size_of::<ExpiryEntry>()
    }

    fn create(
        &mut self,
        key: FlowKey,
        fp: u32,
        lo_to_hi: bool,
        pkt: &PacketView<'_>,
        tcp_flags: Option<TcpFlags>,
        id: FlowId,
    ) -> u32 {
        // A SYN-ACK first means the SYN was missed: its receiver is the initiator.
        let syn_ack_first = tcp_flags.is_some_and(|f| f.has(TcpFlags::SYN | TcpFlags::ACK));
        let initiator_is_lo = lo_to_hi != syn_ack_first;
        let (src_port, dst_port) = if initiator_is_lo {
            (key.lo_port, key.hi_port)
        } else {
            (key.hi_port, key.lo_port)
        };
        let (src_port, dst_port) = match pkt.transport {
            // ICMP keys hold (type, counterpart); the record keeps what the packet said.
            Transport::Icmpv4 { icmp_type, code } | Transport::Icmpv6 { icmp_type, code }
                if !syn_ack_first =>
            {
                (u16::from(icmp_type), u16::from(code))
            }
            _ => (src_port, dst_port),
        };
        let flow = Flow {
            id,
            key,
            initiator_is_lo,
            src_port,
            dst_port,
            first_seen: pkt.ts,
            last_seen: pkt.ts,
            to_server: DirectionStats::default(),
            to_client: DirectionStats::default(),
            tcp_state: TcpState::NotTcp,
            fragments: 0,
            end_reason: FlowEndReason::Active,
            process: None,
        };
        let class = Class::of_new(key.protocol);
        let index = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.flow = flow;
                s.class = class;
                s.live = true;
                i
            }
            None => {
                self.slots.push(Slot {
                    flow,
                    class,
                    generation: 0,
                    live: true,
                });
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let generation = self.slots[index as usize].generation;
        self.expiry[class as usize].push((pkt.ts, index, generation));
        self.index.insert(fp, index);
        self.stats.created += 1;
        self.stats.active += 1;
        index
    }

    /// Evicts the least valuable flow: closed connections first, then the least recently
    /// active not-established flow, then the least recently active established one.
    /// `false` when there was none to evict.
    fn evict_one(&mut self, ended: &mut Vec<Flow>) -> bool {
        const ORDER: [&[Class]; 3] = [
            &[Class::TcpClosed],
            &[Class::TcpNew, Class::Udp, Class::Icmp, Class::Other],
            &[Class::TcpEstablished],
        ];
        for group in ORDER {
            if let Some((class, slot)) = self.least_recent(group) {
                self.stats.evicted += 1;
                self.end(slot, FlowEndReason::Evicted, ended);
                self.prefetch_next_victims(class, slot);
                return true;
            }
        }
        false
    }

    /// A full table under a flood of new flows evicts on every packet, each time the
    /// oldest flow of the same class as the last: its slot and then its index bucket
    /// (found from its key) were two reads from memory in a row. Fetched ahead like a
    /// packet's flow: the slot of the victim after next now, and the bucket of the next
    /// one, whose slot was fetched the time before.
    fn prefetch_next_victims(&self, class: usize, ended: u32) {
        let [next, after_next] = self.upcoming_victims(class, ended);
        if let Some((slot, _)) = after_next {
            self.prefetch_slot(slot);
        }
        if let Some((slot, generation)) = next
            && let Some(s) = self.slots.get(slot as usize)
            && s.live
            && s.generation == generation
        {
            self.prefetch_bucket(self.hasher.hash_one(s.flow.key));
        }
    }

    /// After evicting the flow in slot `ended` from `class`: the slots (and generations)
    /// of the next victim and the one after, as the class's expiry queue orders them (a
    /// guess: late and refreshed entries can come between). The victim just ended is
    /// usually still first in the queue ([`least_recent`](Self::least_recent) leaves it
    /// there, to be dropped as stale next time): the next ones come after it.
    fn upcoming_victims(&self, class: usize, ended: u32) -> [Option<(u32, u32)>; 2] {
        let queue = &self.expiry[class];
        let next = usize::from(queue.ahead(0).is_some_and(|(_, slot, _)| slot == ended));
        [next, next + 1].map(|n| {
            queue
                .ahead(n)
                .map(|(_, slot, generation)| (slot, generation))
        })
    }

    /// The live flow with the oldest `last_seen` among `classes`, and its class, cleaning
    /// stale expiry entries and refreshing outdated ones on the way.
    fn least_recent(&mut self, classes: &[Class]) -> Option<(usize, u32)> {
        loop {
            // The class whose oldest entry is oldest.
            let (c, (since, slot, generation)) = classes
                .iter()
                .filter_map(|&c| self.expiry[c as usize].peek().map(|e| (c as usize, e)))
                .min_by_key(|(_, (since, _, _))| *since)?;
            let s = &self.slots[slot as usize];
            if !s.live || s.generation != generation || s.class as usize != c {
                self.expiry[c].pop();
                continue;
            }
            let last = s.flow.last_seen;
            if last > since {
                self.expiry[c].pop();
                self.expiry[c].push((last, slot, generation));
                continue;
            }
            return Some((c, slot));
        }
    }

    /// Ends a live flow: out of the index, then [`retire`](Self::retire).
    fn end(&mut self, slot: u32, reason: FlowEndReason, ended: &mut Vec<Flow>) {
        let fp = fingerprint(self.hasher.hash_one(self.slots[slot as usize].flow.key));
        self.index.remove(fp, slot);
        self.retire(slot, reason, ended);
    }

    /// Ends a live flow that is no longer indexed: frees its slot and hands on a copy.
    fn retire(&mut self, slot: u32, reason: FlowEndReason, ended: &mut Vec<Flow>) {
        let s = &mut self.slots[slot as usize];
        s.flow.end_reason = reason;
        s.live = false;
        s.generation = s.generation.wrapping_add(1);
        ended.push(s.flow.clone());
        self.free.push(slot);
        self.stats.active -= 1;
    }
}

impl Class {
    fn of_new(protocol: u8) -> Class {
        match protocol {
            6 => Class::TcpNew,
            17 => Class::Udp,
            1 | 58 => Class::Icmp,
            _ => Class::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::decode::decode;
    use crate::flow::FlowTable;
    use crate::source::{LinkType, RawPacket};
    use crate::testutil::udp_frame;

    /// Whatever the slot's place in its cache line (the slab's start and the slot size
    /// decide it), the fields the prefetch fetches start in every line the slot spans.
    #[test]
    fn a_slot_prefetch_fetches_every_line_of_the_slot() {
        let (a, b) = (
            std::net::Ipv4Addr::new(10, 0, 0, 1),
            std::net::Ipv4Addr::new(10, 0, 0, 2),
        );
        let frame = udp_frame(a, b, 40000, 53, b"q");
        let raw = RawPacket {
            ts: Timestamp::from_micros(1),
            data: &frame,
            orig_len: frame.len() as u32,
            link: LinkType::Ethernet,
        };
        let mut table = FlowTable::new(FlowConfig::default());
        let handle = table
            .update(&decode(&raw))
            .expect("an IP packet has a flow");
        let slot = Slot {
            flow: table.get(handle).clone(),
            class: Class::Udp,
            generation: 0,
            live: true,
        };
        fn address<T>(value: &T) -> usize {
            std::ptr::from_ref(value) as usize
        }
        let (f1, f2, f3, f4) = slot.spread_fields();
        let fetched = [address(f1), address(f2), address(f3), address(f4)]
            .map(|field| field - address(&slot));
        for into_line in (0..64).step_by(align_of::<Slot>()) {
            let spanned: BTreeSet<usize> = (into_line..into_line + size_of::<Slot>())
                .map(|byte| byte / 64)
                .collect();
            let reached: BTreeSet<usize> = fetched
                .iter()
                .map(|offset| (into_line + offset) / 64)
                .collect();
            assert_eq!(
                reached, spanned,
                "a slot starting {into_line} bytes into a line"
            );
        }
    }

    /// Under a flood that fills the shard, the victim fetched ahead after each eviction is
    /// the one the next eviction ends (the one just ended, still first in the queue, is
    /// passed over).
    #[test]
    fn the_victim_fetched_ahead_is_the_next_one_evicted() {
        let hasher = foldhash::fast::RandomState::default();
        let mut shard = FlowShard::new(&FlowConfig::default(), 4, 4, hasher.clone());
        let mut ended = Vec::new();
        let mut predicted = None;
        let mut checked = 0;
        for i in 0..40u32 {
            let src = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            let frame = udp_frame(src, std::net::Ipv4Addr::new(10, 9, 9, 9), 5000, 53, b"q");
            let raw = RawPacket {
                ts: Timestamp::from_micros(i64::from(i) + 1),
                data: &frame,
                orig_len: frame.len() as u32,
                link: LinkType::Ethernet,
            };
            let pkt = decode(&raw);
            let key = FlowKey::from_packet(&pkt).expect("a UDP packet has a key");
            let id = FlowId(u64::from(i) + 1);
            let update = shard.update(&pkt, key, None, || hasher.hash_one(key.0), id, &mut ended);
            assert!(shard.index.len() <= 4, "evicted flows leave the index");
            if !update.ended_one {
                continue;
            }
            // The new flow took the slot of the flow it evicted.
            if let Some(next) = predicted {
                assert_eq!(next, update.slot, "packet {i}");
                checked += 1;
            }
            predicted =
                shard.upcoming_victims(Class::Udp as usize, update.slot)[0].map(|(slot, _)| slot);
        }
        assert_eq!(checked, 35);
    }
}
