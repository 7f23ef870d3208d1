//! The flow table's hash index: slab slot numbers, found by a 32-bit fingerprint of the
//! flow key's hash.
//!
//! Why not `hashbrown::HashTable<u32>`: there a lookup reads a control byte and then, in
//! another cache line, the slot number, and then the slot itself: three cache misses per
//! packet on a table larger than the cache, the most expensive thing the engine did. Here
//! one 8-byte bucket holds the fingerprint and the slot number together, so a lookup
//! misses the cache once in the index and once in the slab, and a removal (which knows
//! its slot) never reads the slab at all.
//!
//! Open addressing with linear probing, at most half full, and backward-shift deletion
//! (no tombstones, so lookups stay short however many flows come and go). A bucket's home
//! is derived from its fingerprint alone, so growing never reads a key.

/// A bucket: 0 when empty, else `fingerprint << 32 | (slot + 1)`.
type Bucket = u64;

/// Slot numbers indexed by fingerprint.
pub(super) struct FlowIndex {
    buckets: Vec<Bucket>,
    /// `buckets.len() - 1` (the length is a power of two).
    mask: usize,
    len: usize,
}

/// The fingerprint of a 64-bit hash: its high half (the low half picks nothing here; the
/// home bucket comes from the fingerprint too, so it must be well mixed, as foldhash is).
pub(super) fn fingerprint(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// `n` empty buckets, written now. Zeroed memory straight from the allocator (`vec![0; n]`)
/// is untouched pages, and the read-ahead reads a bucket before an insert writes it: the
/// read maps the kernel's shared zero page, and the write then faults a second time to
/// replace it, which on a run with more than one thread also interrupts every other core
/// running the process to flush its view of the page (a TLB shootdown). That was 2 to 4 %
/// of the flow table's thread on two threads; writing the buckets here faults each page
/// once.
#[allow(
    clippy::slow_vector_initialization,
    reason = "writing the zeros is the point: `vec![0; n]` would leave the pages untouched"
)]
fn empty_buckets(n: usize) -> Vec<Bucket> {
    let mut buckets = Vec::with_capacity(n);
    buckets.resize(n, 0);
    buckets
}

impl FlowIndex {
    /// An index with room for `flows` entries before it grows.
    pub(super) fn with_capacity(flows: usize) -> Self {
        let buckets = (flows.max(8) * 2).next_power_of_two();
        FlowIndex {
            buckets: empty_buckets(buckets),
            mask: buckets - 1,
            len: 0,
        }
    }

    /// Entries held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn home(&self, fp: u32) -> usize {
        fp as usize & self.mask
    }

    /// Asks the CPU to fetch the home bucket of `fp` into the cache (a hint; see
    /// [`super::prefetch`]).
    pub(super) fn prefetch(&self, fp: u32) {
        if let Some(bucket) = self.buckets.get(self.home(fp)) {
            super::prefetch(bucket);
        }
    }

    /// The first slot with fingerprint `fp`, without reading the slab to confirm it: with
    /// 32-bit fingerprints almost always the one [`find`](Self::find) would return.
    pub(super) fn first_candidate(&self, fp: u32) -> Option<u32> {
        self.find(fp, |_| true)
    }

    /// The slot with fingerprint `fp` for which `is_it` says yes.
    pub(super) fn find(&self, fp: u32, mut is_it: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = self.home(fp);
        loop {
            let b = self.buckets[i];
            if b == 0 {
                return None;
            }
            if (b >> 32) as u32 == fp {
                let slot = (b as u32).wrapping_sub(1);
                if is_it(slot) {
                    return Some(slot);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `slot` under `fp` (the caller knows it is not there yet).
    pub(super) fn insert(&mut self, fp: u32, slot: u32) {
        if (self.len + 1) * 2 > self.buckets.len() {
            self.grow();
        }
        self.place(Self::bucket(fp, slot));
        self.len += 1;
    }

    /// Removes `slot`, indexed under `fp`; `false` when it was not there.
    pub(super) fn remove(&mut self, fp: u32, slot: u32) -> bool {
        let wanted = Self::bucket(fp, slot);
        let mut i = self.home(fp);
        loop {
            let b = self.buckets[i];
            if b == 0 {
                return false;
            }
            if b == wanted {
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward shift: pull later members of the probe run into the hole when the hole
        // lies between their home and where they sit, so no lookup meets a gap early.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let b = self.buckets[j];
            if b == 0 {
                break;
            }
            let home = self.home((b >> 32) as u32);
            // Distance from home to j and from home to the hole, going round the end.
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.buckets[hole] = b;
                hole = j;
            }
        }
        self.buckets[hole] = 0;
        self.len -= 1;
        true
    }

    /// Every slot held, in no particular order.
    pub(super) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        // An empty index (every flow ended) is not walked: it can be megabytes.
        let used = if self.len == 0 { 0 } else { self.buckets.len() };
        self.buckets[..used]
            .iter()
            .filter(|&&b| b != 0)
            .map(|&b| (b as u32).wrapping_sub(1))
    }

    /// Removes every entry.
    pub(super) fn clear(&mut self) {
        if self.len > 0 {
            self.buckets.fill(0);
            self.len = 0;
        }
    }

    fn bucket(fp: u32, slot: u32) -> Bucket {
        (u64::from(fp) << 32) | u64::from(slot.wrapping_add(1))
    }

    fn place(&mut self, b: Bucket) {
        let mut i = self.home((b >> 32) as u32);
        while self.buckets[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = b;
    }

    fn grow(&mut self) {
        let bigger = empty_buckets(self.buckets.len() * 2);
        let old = std::mem::replace(&mut self.buckets, bigger);
        self.mask = self.buckets.len() - 1;
        for b in old.into_iter().filter(|&b| b != 0) {
            self.place(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u32),
        Remove(usize),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct fingerprints, so probe runs collide, wrap and shift.
        prop_oneof![
            6 => (0u32..64).prop_map(|f| Op::Insert(f.wrapping_mul(0x9E37_79B9) | f)),
            4 => any::<usize>().prop_map(Op::Remove),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        /// The index holds exactly what a map from slot to fingerprint holds, through
        /// inserts, removals (with backward shifts round the end) and growth.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec(op(), 1..400)) {
            let mut index = FlowIndex::with_capacity(4);
            let mut model: HashMap<u32, u32> = HashMap::new();
            let mut next_slot = 0u32;
            for op in ops {
                match op {
                    Op::Insert(fp) => {
                        index.insert(fp, next_slot);
                        model.insert(next_slot, fp);
                        next_slot += 1;
                    }
                    Op::Remove(pick) => {
                        let mut live: Vec<_> = model.iter().map(|(&s, &f)| (s, f)).collect();
                        live.sort_unstable();
                        if let Some(&(slot, fp)) = live.get(pick % live.len().max(1)) {
                            prop_assert!(index.remove(fp, slot));
                            model.remove(&slot);
                            prop_assert!(!index.remove(fp, slot));
                        }
                    }
                    Op::Clear => {
                        index.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(index.len(), model.len());
                let mut held: Vec<u32> = index.slots().collect();
                held.sort_unstable();
                let mut expected: Vec<u32> = model.keys().copied().collect();
                expected.sort_unstable();
                prop_assert_eq!(held, expected);
                for (&slot, &fp) in &model {
                    prop_assert_eq!(index.find(fp, |s| s == slot), Some(slot));
                }
                if !model.values().any(|&f| f == 12345) {
                    prop_assert_eq!(index.find(12345, |_| true), None);
                }
            }
        }
    }

    #[test]
    fn a_fingerprint_can_hold_many_slots() {
        let mut index = FlowIndex::with_capacity(1);
        for slot in 0..100 {
            index.insert(7, slot);
        }
        assert_eq!(index.find(7, |s| s == 63), Some(63));
        assert!(index.remove(7, 63));
        assert_eq!(index.find(7, |s| s == 63), None);
        assert_eq!(index.find(7, |s| s == 99), Some(99));
        assert_eq!(index.len(), 99);
    }
}
