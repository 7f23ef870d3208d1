//! Shared machinery of the scan detectors: per key (a source, or a source and target), the
//! distinct values it touched (ports, hosts) within a window of packet time, how many of
//! those contacts were real use (a connection that carried data), and whether it was
//! already reported. Bounded in keys and in values per key.

use std::hash::Hash;

use crate::detect::{FastMap, FastSet};
use crate::time::Timestamp;

/// Values remembered per key; beyond this they are counted only.
const MAX_VALUES: usize = 8192;

/// One key's activity.
#[derive(Clone, Debug)]
pub(crate) struct Activity<V> {
    pub first: Timestamp,
    pub last: Timestamp,
    pub values: FastSet<V>,
    /// Distinct values beyond `MAX_VALUES`.
    pub overflow: u64,
    /// Values that saw real use (data exchanged), counted once each.
    pub used: FastSet<V>,
    /// Probe kinds seen, by name, with counts (scan types, protocols).
    pub kinds: Vec<(&'static str, u64)>,
    /// Distinct values when the start alert went out; `None` before it.
    pub alerted_at: Option<u64>,
}

impl<V> Activity<V> {
    pub fn distinct(&self) -> u64 {
        self.values.len() as u64 + self.overflow
    }

    pub fn used_ratio(&self) -> f64 {
        self.used.len() as f64 / self.distinct().max(1) as f64
    }

    /// The most frequent probe kind.
    pub fn main_kind(&self) -> &'static str {
        self.kinds
            .iter()
            .max_by_key(|(_, n)| *n)
            .map_or("unknown", |(k, _)| k)
    }

    pub fn duration_secs(&self) -> f64 {
        self.last.micros_since(self.first) as f64 / 1e6
    }

    /// Whether it was reported and touched more values since: what earns a summary when
    /// it ends.
    pub fn grew_since_alert(&self) -> bool {
        self.alerted_at.is_some_and(|n| self.distinct() > n)
    }
}

/// Activities removed from a tracker, oldest first (ties by key: the map's order is the
/// hash's, which changes from run to run).
pub(crate) type Ended<K, V> = Vec<(K, Activity<V>)>;

pub(crate) struct DistinctTracker<K, V> {
    keys: FastMap<K, Activity<V>>,
    window_micros: i64,
    max_keys: usize,
    /// Probes not tracked because `max_keys` was reached.
    pub untracked: u64,
}

impl<K: Hash + Eq + Copy + Ord, V: Hash + Eq + Copy + Ord> DistinctTracker<K, V> {
    pub fn new(window_secs: u64, max_keys: usize) -> Self {
        DistinctTracker {
            keys: FastMap::default(),
            window_micros: i64::try_from(window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            max_keys,
            untracked: 0,
        }
    }

    /// How full the tracker is, as table `name`.
    pub fn usage(&self, name: &'static str) -> super::TableUsage {
        super::TableUsage::new(name, self.keys.len(), self.max_keys, self.untracked)
    }

    /// Records a probe of `value` by `key`; returns the activity so far. An activity idle
    /// for longer than the window starts over (the caller reports it first, on tick).
    pub fn probe(
        &mut self,
        now: Timestamp,
        key: K,
        value: V,
        kind: &'static str,
    ) -> Option<&mut Activity<V>> {
        if self.keys.len() >= self.max_keys && !self.keys.contains_key(&key) {
            self.untracked += 1;
            return None;
        }
        let a = self.keys.entry(key).or_insert_with(|| Activity {
            first: now,
            last: now,
            values: FastSet::default(),
            overflow: 0,
            used: FastSet::default(),
            kinds: Vec::new(),
            alerted_at: None,
        });
        a.last = now;
        // Below the cap one insert does it (nothing when the value is there already).
        if a.values.len() < MAX_VALUES {
            a.values.insert(value);
        } else if !a.values.contains(&value) {
            a.overflow += 1;
        }
        match a.kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => a.kinds.push((kind, 1)),
        }
        Some(a)
    }

    /// Marks `value` as really used by `key` (a connection that carried data).
    pub fn used(&mut self, key: K, value: V) {
        if let Some(a) = self.keys.get_mut(&key)
            && a.used.len() < MAX_VALUES
        {
            a.used.insert(value);
        }
    }

    /// Removes and returns the activities idle for longer than the window at `now`.
    pub fn expire(&mut self, now: Timestamp) -> Ended<K, V> {
        let window = self.window_micros;
        let idle: Vec<K> = self
            .keys
            .iter()
            .filter(|(_, a)| now.micros_since(a.last) > window)
            .map(|(k, _)| *k)
            .collect();
        let mut out: Vec<(K, Activity<V>)> = idle
            .into_iter()
            .filter_map(|k| self.keys.remove(&k).map(|a| (k, a)))
            .collect();
        out.sort_unstable_by_key(|(k, a)| (a.first, *k));
        out
    }

    /// Removes every activity (end of input) and returns those `keep` picks: sorting the
    /// tens of thousands a flood leaves to report a few cost a tenth of a short run.
    pub fn drain_where(&mut self, keep: impl Fn(&Activity<V>) -> bool) -> Ended<K, V> {
        let mut out: Vec<(K, Activity<V>)> = self.keys.drain().filter(|(_, a)| keep(a)).collect();
        out.sort_unstable_by_key(|(k, a)| (a.first, *k));
        out
    }
}

/// Up to `n` values, sorted, for evidence.
pub(crate) fn sample<V: Ord + Copy>(values: &FastSet<V>, n: usize) -> Vec<V> {
    let mut v: Vec<V> = values.iter().copied().collect();
    v.sort_unstable();
    v.truncate(n);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys that started at the same time come out in key order, whatever order the hash
    /// map holds them in, and `drain_where` keeps only what it is asked for.
    #[test]
    fn ended_activities_are_ordered_by_start_then_key() {
        let t0 = Timestamp::from_secs_micros(100, 0);
        let t1 = Timestamp::from_secs_micros(101, 0);
        let mut tracker: DistinctTracker<u32, u16> = DistinctTracker::new(60, 1000);
        for key in (0..50u32).rev() {
            let start = if key % 10 == 0 { t1 } else { t0 };
            tracker.probe(start, key, 1, "syn");
            if let Some(a) = tracker.probe(start, key, 2, "syn") {
                // Reported at one value and grown since: every key but the odd ones.
                a.alerted_at = (key % 2 == 0).then_some(1);
            }
        }
        let ended = tracker.drain_where(Activity::grew_since_alert);
        let keys: Vec<u32> = ended.iter().map(|(k, _)| *k).collect();
        let mut expected: Vec<u32> = (0..50).filter(|k| k % 2 == 0 && k % 10 != 0).collect();
        expected.extend((0..50).filter(|k| k % 10 == 0));
        assert_eq!(keys, expected);
        assert!(tracker.drain_where(|_| true).is_empty());

        for key in (0..50u32).rev() {
            tracker.probe(t0, key, 1, "syn");
        }
        let idle = tracker.expire(Timestamp::from_secs_micros(200, 0));
        let keys: Vec<u32> = idle.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, (0..50).collect::<Vec<u32>>());
    }
}
