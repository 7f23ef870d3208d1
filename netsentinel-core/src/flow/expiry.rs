//! The expiry queue of one timeout class of a [`FlowShard`](super::shard::FlowShard): the
//! entry with the oldest time first, as a min-heap would give it, at the cost of a queue
//! for the entries pushed in order.
//!
//! Packet time only moves forward in nearly every capture, so nearly every entry is pushed
//! at or after the newest one: those go to the back of a sorted double-ended queue, and
//! only the others to a heap. Taking the oldest compares the two fronts. Under a flood of
//! new flows the table is full and every packet evicts the oldest flow: with a heap alone
//! that pop, a walk down a heap of every live flow's entry with a cache miss per level,
//! was the largest single cost of a SYN flood (11 % of one thread's time).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::time::Timestamp;

/// (time, slot, slot generation): ordered by time, then slot, then generation.
pub(super) type ExpiryEntry = (Timestamp, u32, u32);

/// A min-queue of [`ExpiryEntry`]s that yields them in the order a min-heap does.
#[derive(Debug, Default)]
pub(super) struct ExpiryQueue {
    /// Entries pushed in order: sorted, oldest at the front.
    in_order: VecDeque<ExpiryEntry>,
    /// Entries older than the newest in `in_order` when they were pushed.
    late: BinaryHeap<Reverse<ExpiryEntry>>,
}

impl ExpiryQueue {
    pub(super) fn push(&mut self, entry: ExpiryEntry) {
        if self.in_order.back().is_none_or(|&newest| entry >= newest) {
            self.in_order.push_back(entry);
        } else {
            self.late.push(Reverse(entry));
        }
    }

    /// The oldest entry.
    pub(super) fn peek(&self) -> Option<ExpiryEntry> {
        match (self.in_order.front(), self.late.peek()) {
            (Some(&a), Some(&Reverse(b))) => Some(a.min(b)),
            (Some(&a), None) => Some(a),
            (None, Some(&Reverse(b))) => Some(b),
            (None, None) => None,
        }
    }

    /// The `n`th entry (0: the first) of those pushed in order: the oldest but `n` unless
    /// late entries or stale ones come between. A guess for fetching ahead.
    pub(super) fn ahead(&self, n: usize) -> Option<ExpiryEntry> {
        self.in_order.get(n).copied()
    }

    /// Removes the oldest entry.
    pub(super) fn pop(&mut self) -> Option<ExpiryEntry> {
        let late_first = match (self.in_order.front(), self.late.peek()) {
            (Some(a), Some(Reverse(b))) => b < a,
            (a, _) => a.is_none(),
        };
        if late_first {
            self.late.pop().map(|Reverse(e)| e)
        } else {
            self.in_order.pop_front()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any mix of pushes (mostly in order, some late, many equal times) and pops gives
        /// what a min-heap gives.
        #[test]
        fn yields_what_a_min_heap_yields(
            ops in proptest::collection::vec((0u8..10, 0i64..4, 0u32..8, 0u32..3), 0..400),
        ) {
            let mut queue = ExpiryQueue::default();
            let mut heap = BinaryHeap::new();
            let mut now = 0i64;
            for (op, step, slot, generation) in ops {
                if op < 3 {
                    prop_assert_eq!(queue.pop(), heap.pop().map(|Reverse(e)| e));
                } else {
                    // Time mostly moves on; a late entry goes back up to three steps.
                    now += step;
                    let time = if op == 9 { now - step * 3 } else { now };
                    let entry = (Timestamp::from_micros(time), slot, generation);
                    queue.push(entry);
                    heap.push(Reverse(entry));
                }
                prop_assert_eq!(queue.peek(), heap.peek().map(|&Reverse(e)| e));
                // With nothing pushed late, the guess at the oldest is the oldest.
                if queue.late.is_empty() {
                    prop_assert_eq!(queue.ahead(0), queue.peek());
                }
            }
            while let Some(Reverse(e)) = heap.pop() {
                prop_assert_eq!(queue.pop(), Some(e));
            }
            prop_assert_eq!(queue.pop(), None);
        }
    }
}
