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
}

/// Activities removed from a tracker, oldest first.
pub(crate) type Ended<K, V> = Vec<(K, Activity<V>)>;

pub(crate) struct DistinctTracker<K, V> {
    keys: FastMap<K, Activity<V>>,
    window_micros: i64,
    max_keys: usize,
    /// Probes not tracked because `max_keys` was reached.
    pub untracked: u64,
}

impl<K: Hash + Eq + Copy, V: Hash + Eq + Copy + Ord> DistinctTracker<K, V> {
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
        if !self.keys.contains_key(&key) && self.keys.len() >= self.max_keys {
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
        if !a.values.contains(&value) {
            if a.values.len() < MAX_VALUES {
                a.values.insert(value);
            } else {
                a.overflow += 1;
            }
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
        out.sort_by_key(|(_, a)| a.first);
        out
    }

    /// Removes and returns every activity (end of input).
    pub fn drain(&mut self) -> Ended<K, V> {
        let mut out: Vec<(K, Activity<V>)> = self.keys.drain().collect();
        out.sort_by_key(|(_, a)| a.first);
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
