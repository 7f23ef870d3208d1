//! The flow table: a slab of flows, a hash index, and one LRU list per timeout class.

use std::collections::HashMap;

use serde::Serialize;

use super::{DirectionStats, Flow, FlowConfig, FlowEndReason, FlowId, FlowKey, TcpState};
use crate::decode::{Fragment, PacketView, TcpFlags, Transport};
use crate::time::Timestamp;

const NIL: u32 = u32::MAX;

/// Timeout classes; each has its own LRU list so expiry only ever looks at list heads.
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
    prev: u32,
    next: u32,
    class: Class,
    initiator_is_lo: bool,
}

/// A reference to a live flow, valid until the next call that changes the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowHandle {
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
    /// Flows evicted because the table was full (`max_flows`).
    pub evicted: u64,
    /// Flows still live when the capture ended.
    pub ended_at_eof: u64,
}

/// Bidirectional flow table with exact idle expiry and a hard cap.
///
/// ```
/// use netsentinel_core::{FlowConfig, FlowTable};
/// let table = FlowTable::new(FlowConfig::default());
/// assert_eq!(table.stats().active, 0);
/// ```
pub struct FlowTable {
    map: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    heads: [u32; CLASSES],
    tails: [u32; CLASSES],
    timeouts: [i64; CLASSES],
    max_flows: usize,
    next_id: u64,
    ended: Vec<Flow>,
    stats: FlowTableStats,
}

impl FlowTable {
    /// An empty table.
    pub fn new(config: FlowConfig) -> Self {
        let us = |secs: u64| i64::try_from(secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let mut timeouts = [0i64; CLASSES];
        timeouts[Class::TcpEstablished as usize] = us(config.tcp_established_timeout_secs);
        timeouts[Class::TcpNew as usize] = us(config.tcp_new_timeout_secs);
        timeouts[Class::TcpClosed as usize] = us(config.tcp_closed_timeout_secs);
        timeouts[Class::Udp as usize] = us(config.udp_timeout_secs);
        timeouts[Class::Icmp as usize] = us(config.icmp_timeout_secs);
        timeouts[Class::Other as usize] = us(config.other_timeout_secs);
        FlowTable {
            map: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            heads: [NIL; CLASSES],
            tails: [NIL; CLASSES],
            timeouts,
            max_flows: config.max_flows.max(1),
            next_id: 1,
            ended: Vec::new(),
            stats: FlowTableStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> FlowTableStats {
        self.stats
    }

    /// The flow behind a handle returned by [`update`](Self::update).
    pub fn get(&self, handle: FlowHandle) -> &Flow {
        &self.slots[handle.slot as usize].flow
    }

    /// Live flows, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Flow> {
        self.map.values().map(|&s| &self.slots[s as usize].flow)
    }

    /// Accounts one packet: finds or creates its flow. `None` for packets without an IP
    /// layer. Idle flows are not expired here but by [`expire`](Self::expire), which the
    /// engine calls on every tick: checking the list heads on every packet would touch
    /// cold memory for nothing.
    pub fn update(&mut self, pkt: &PacketView<'_>) -> Option<FlowHandle> {
        let (key, lo_to_hi) = FlowKey::from_packet(pkt)?;
        let tcp_flags = match pkt.transport {
            Transport::Tcp(t) => Some(t.flags),
            _ => None,
        };
        let mut created = false;
        let slot = match self.map.get(&key) {
            Some(&slot) => {
                let syn_only =
                    tcp_flags.is_some_and(|f| f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK));
                if syn_only && self.slots[slot as usize].flow.tcp_state.is_closed() {
                    self.stats.reused += 1;
                    self.end(slot, FlowEndReason::Reused);
                    created = true;
                    self.create(key, lo_to_hi, pkt, tcp_flags)
                } else {
                    slot
                }
            }
            None => {
                if self.map.len() >= self.max_flows {
                    self.evict_one();
                }
                created = true;
                self.create(key, lo_to_hi, pkt, tcp_flags)
            }
        };
        let s = &mut self.slots[slot as usize];
        let from_initiator = lo_to_hi == s.initiator_is_lo;
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
        self.touch(slot, class);
        Some(FlowHandle {
            slot,
            from_initiator,
            created,
        })
    }

    /// Ends every flow idle for longer than its timeout at `now`.
    pub fn expire(&mut self, now: Timestamp) {
        for c in 0..CLASSES {
            loop {
                let head = self.heads[c];
                if head == NIL {
                    break;
                }
                let last = self.slots[head as usize].flow.last_seen;
                if now.micros_since(last) <= self.timeouts[c] {
                    break;
                }
                self.stats.timed_out += 1;
                self.end(head, FlowEndReason::Timeout);
            }
        }
    }

    /// Ends every live flow (end of capture), in creation order.
    pub fn finish(&mut self) {
        let mut live: Vec<u32> = self.map.values().copied().collect();
        live.sort_by_key(|&s| self.slots[s as usize].flow.id);
        for slot in live {
            self.stats.ended_at_eof += 1;
            self.end(slot, FlowEndReason::EndOfCapture);
        }
    }

    /// Takes the flows ended since the last call, oldest end first.
    pub fn take_ended(&mut self, into: &mut Vec<Flow>) {
        into.append(&mut self.ended);
    }

    /// Approximate heap bytes held per flow slot (slab slot + index entry).
    pub fn bytes_per_flow() -> usize {
        // hashbrown: key + value + 1 control byte, at up to 87.5% load.
        let index = (size_of::<FlowKey>() + size_of::<u32>() + 1) * 8 / 7;
        size_of::<Slot>() + index
    }

    fn create(
        &mut self,
        key: FlowKey,
        lo_to_hi: bool,
        pkt: &PacketView<'_>,
        tcp_flags: Option<TcpFlags>,
    ) -> u32 {
        // A SYN-ACK first means the SYN was missed: its receiver is the initiator.
        let syn_ack_first = tcp_flags.is_some_and(|f| f.has(TcpFlags::SYN | TcpFlags::ACK));
        let initiator_is_lo = lo_to_hi != syn_ack_first;
        let (src_ip, src_port, dst_ip, dst_port) = if initiator_is_lo {
            (key.lo_ip, key.lo_port, key.hi_ip, key.hi_port)
        } else {
            (key.hi_ip, key.hi_port, key.lo_ip, key.lo_port)
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
            id: FlowId(self.next_id),
            key,
            src_ip,
            src_port,
            dst_ip,
            dst_port,
            first_seen: pkt.ts,
            last_seen: pkt.ts,
            to_server: DirectionStats::default(),
            to_client: DirectionStats::default(),
            tcp_state: TcpState::NotTcp,
            fragments: 0,
            end_reason: FlowEndReason::Active,
        };
        self.next_id += 1;
        let slot = Slot {
            flow,
            prev: NIL,
            next: NIL,
            class: Class::of_new(key.protocol),
            initiator_is_lo,
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).unwrap_or(NIL)
            }
        };
        self.link_tail(index);
        self.map.insert(key, index);
        self.stats.created += 1;
        self.stats.active += 1;
        self.stats.peak_active = self.stats.peak_active.max(self.stats.active);
        index
    }

    /// Evicts the least valuable flow: closed connections first, then the oldest
    /// not-established flow, then the oldest established one.
    fn evict_one(&mut self) {
        let head = |c: Class| self.heads[c as usize];
        let oldest = |classes: &[Class]| {
            classes
                .iter()
                .map(|&c| head(c))
                .filter(|&h| h != NIL)
                .min_by_key(|&h| self.slots[h as usize].flow.last_seen)
        };
        let victim = oldest(&[Class::TcpClosed])
            .or_else(|| oldest(&[Class::TcpNew, Class::Udp, Class::Icmp, Class::Other]))
            .or_else(|| oldest(&[Class::TcpEstablished]));
        if let Some(v) = victim {
            self.stats.evicted += 1;
            self.end(v, FlowEndReason::Evicted);
        }
    }

    fn end(&mut self, slot: u32, reason: FlowEndReason) {
        self.unlink(slot);
        let s = &mut self.slots[slot as usize];
        s.flow.end_reason = reason;
        self.map.remove(&s.flow.key);
        self.ended.push(s.flow.clone());
        self.free.push(slot);
        self.stats.active -= 1;
    }

    fn touch(&mut self, slot: u32, class: Class) {
        // Already the most recent in its class: nothing to move.
        if self.slots[slot as usize].class == class && self.tails[class as usize] == slot {
            return;
        }
        self.unlink(slot);
        self.slots[slot as usize].class = class;
        self.link_tail(slot);
    }

    fn link_tail(&mut self, slot: u32) {
        let c = self.slots[slot as usize].class as usize;
        let tail = self.tails[c];
        self.slots[slot as usize].prev = tail;
        self.slots[slot as usize].next = NIL;
        if tail == NIL {
            self.heads[c] = slot;
        } else {
            self.slots[tail as usize].next = slot;
        }
        self.tails[c] = slot;
    }

    fn unlink(&mut self, slot: u32) {
        let (prev, next, c) = {
            let s = &self.slots[slot as usize];
            (s.prev, s.next, s.class as usize)
        };
        if prev == NIL {
            self.heads[c] = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tails[c] = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        let s = &mut self.slots[slot as usize];
        s.prev = NIL;
        s.next = NIL;
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
