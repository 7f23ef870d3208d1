//! The gateway's most recent alerts, for corroboration: kept in arrival order (the oldest
//! leave first, by age or when there are too many) and found by source address, so that
//! verifying an alert looks at the alerts about its hosts rather than at every one held
//! (an alert storm keeps thousands, and each of its alerts is verified).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::time::Timestamp;

/// One alert, as much of it as corroboration needs.
pub(super) struct Recent {
    pub(super) ts: Timestamp,
    pub(super) detector: String,
    pub(super) src: Option<IpAddr>,
    pub(super) dst: Option<IpAddr>,
}

/// At most `max` recent alerts, oldest first, indexed by source address.
pub(super) struct RecentAlerts {
    alerts: VecDeque<Recent>,
    /// Sequence number of `alerts.front()` (the n-th alert pushed has number n - 1).
    first: u64,
    /// The sequence numbers of the alerts held, by source address, oldest first.
    by_src: HashMap<Option<IpAddr>, VecDeque<u64>>,
    max: usize,
}

impl RecentAlerts {
    pub(super) fn new(max: usize) -> Self {
        RecentAlerts {
            alerts: VecDeque::new(),
            first: 0,
            by_src: HashMap::new(),
            max,
        }
    }

    /// Adds the newest alert, making room by forgetting the oldest.
    pub(super) fn push(&mut self, alert: Recent) {
        if self.alerts.len() >= self.max {
            self.forget_oldest();
        }
        let seq = self.first + self.alerts.len() as u64;
        self.by_src.entry(alert.src).or_default().push_back(seq);
        self.alerts.push_back(alert);
    }

    /// Alerts held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Forgets the alerts older than `window` microseconds at `now`.
    pub(super) fn forget_older(&mut self, now: Timestamp, window: i64) {
        while self
            .alerts
            .front()
            .is_some_and(|r| now.micros_since(r.ts) > window)
        {
            self.forget_oldest();
        }
    }

    /// The alerts held whose source is `src`, oldest first.
    pub(super) fn from(&self, src: Option<IpAddr>) -> impl Iterator<Item = &Recent> {
        self.by_src
            .get(&src)
            .into_iter()
            .flatten()
            .filter_map(|&seq| {
                self.alerts
                    .get(usize::try_from(seq.checked_sub(self.first)?).ok()?)
            })
    }

    fn forget_oldest(&mut self) {
        let Some(oldest) = self.alerts.pop_front() else {
            return;
        };
        // The oldest alert is the oldest of its source's too.
        if let Entry::Occupied(mut seqs) = self.by_src.entry(oldest.src) {
            seqs.get_mut().pop_front();
            if seqs.get().is_empty() {
                seqs.remove();
            }
        }
        self.first += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Through pushes past the cap and forgetting by age, `from` finds exactly the
    /// alerts held with that source, in order, and the index holds nothing else.
    #[test]
    fn finds_by_source_what_a_scan_of_all_finds() {
        let mut recent = RecentAlerts::new(50);
        let hosts: Vec<Option<IpAddr>> = (0u8..7)
            .map(|i| (i > 0).then(|| IpAddr::from([10, 0, 0, i])))
            .collect();
        for n in 0..400u64 {
            let src = hosts[(n * 5 % 7) as usize];
            recent.push(Recent {
                ts: Timestamp::from_micros(n as i64 * 10),
                detector: format!("d{}", n % 3),
                src,
                dst: hosts[(n % 7) as usize],
            });
            if n % 37 == 0 {
                recent.forget_older(Timestamp::from_micros(n as i64 * 10), 200);
            }
            assert!(recent.alerts.len() <= 50);
            for &host in &hosts {
                let found: Vec<*const Recent> = recent.from(host).map(std::ptr::from_ref).collect();
                let scanned: Vec<*const Recent> = recent
                    .alerts
                    .iter()
                    .filter(|r| r.src == host)
                    .map(std::ptr::from_ref)
                    .collect();
                assert_eq!(found, scanned, "after alert {n}, source {host:?}");
            }
            let indexed: usize = recent.by_src.values().map(VecDeque::len).sum();
            assert_eq!(indexed, recent.alerts.len());
        }
    }
}
