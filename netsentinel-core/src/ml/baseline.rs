//! What normal looks like for this network: Welford statistics of every feature column,
//! per local host, per hour of the day (packet time, UTC) and overall.
//!
//! Statistics are kept in the model's scale ([`model_scale`]): counts and rates as
//! `ln(1 + x)`, so their z-scores measure ratios.
//!
//! A vector is judged against the most specific baseline that has seen enough windows: its
//! own host's, else the same hour of the day across hosts, else the whole network's. A host
//! never seen while learning (a new machine, an attacker's laptop) is so compared with what
//! hosts here usually do.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::features::{
    FEATURE_DIRECTION, FEATURE_FLOORS, FEATURE_NAMES, FEATURES, FeatureVector, from_model_scale,
    model_scale,
};
use super::welford::Welford;

/// Statistics of each feature column over a set of windows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    columns: Vec<Welford>,
}

impl ColumnStats {
    fn push(&mut self, values: &[f64; FEATURES]) {
        if self.columns.len() != FEATURES {
            self.columns = vec![Welford::default(); FEATURES];
        }
        for (w, &x) in self.columns.iter_mut().zip(values) {
            w.push(x);
        }
    }

    /// Windows seen.
    pub fn count(&self) -> u64 {
        self.columns.first().map_or(0, Welford::count)
    }

    /// The statistics of one column (in [`FEATURE_NAMES`] order).
    pub fn column(&self, index: usize) -> Option<&Welford> {
        self.columns.get(index)
    }
}

/// Which baseline a vector was compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineBasis {
    /// The host's own history.
    Host,
    /// All hosts at this hour of the day and at all hours, the milder per column.
    HourOfDay,
    /// All hosts at all hours.
    Network,
}

impl BaselineBasis {
    /// Name used in alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineBasis::Host => "host",
            BaselineBasis::HourOfDay => "hour_of_day_and_network",
            BaselineBasis::Network => "network",
        }
    }
}

/// How far one vector is from its baseline, column by column.
#[derive(Clone, Debug, PartialEq)]
pub struct Deviation {
    /// The baseline used.
    pub basis: BaselineBasis,
    /// Windows in that baseline.
    pub samples: u64,
    /// `(value - mean) / max(std, floor)` per column in the model's scale, where `floor`
    /// is the column's [`FEATURE_FLOORS`] entry; 0 where the baseline is empty.
    pub z: [f64; FEATURES],
    /// The baseline's mean per column, back in the column's unit (for log-scale columns
    /// the geometric mean of `1 + x`, minus one: the typical value).
    pub mean: [f64; FEATURES],
}

/// One column's share in a deviation, for evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contribution {
    /// Column name.
    pub feature: &'static str,
    /// The value in this window.
    pub value: f64,
    /// The baseline mean.
    pub baseline_mean: f64,
    /// The z-score.
    pub z: f64,
}

impl Deviation {
    /// How far column `i` moved in the direction that points at an intrusion
    /// ([`FEATURE_DIRECTION`]): the z-score, its negation, or its absolute value; never
    /// negative.
    pub fn suspicious_z(&self, i: usize) -> f64 {
        let z = self.z.get(i).copied().unwrap_or(0.0);
        match FEATURE_DIRECTION.get(i) {
            Some(1) => z.max(0.0),
            Some(-1) => (-z).max(0.0),
            _ => z.abs(),
        }
    }

    /// The largest [`suspicious_z`](Self::suspicious_z) over the columns.
    pub fn max_abs_z(&self) -> f64 {
        (0..FEATURES).fold(0.0, |m, i| m.max(self.suspicious_z(i)))
    }

    /// The `n` columns furthest from the baseline in a suspicious direction, furthest
    /// first.
    pub fn top(&self, values: &[f64; FEATURES], n: usize) -> Vec<Contribution> {
        let mut idx: Vec<usize> = (0..FEATURES).collect();
        idx.sort_by(|&a, &b| self.suspicious_z(b).total_cmp(&self.suspicious_z(a)));
        idx.into_iter()
            .take(n)
            .filter(|&i| self.suspicious_z(i) > 0.0)
            .map(|i| Contribution {
                feature: FEATURE_NAMES[i],
                value: values[i],
                baseline_mean: self.mean[i],
                z: self.z[i],
            })
            .collect()
    }
}

/// Per-host, per-hour-of-day and network-wide baselines.
///
/// ```
/// use netsentinel_core::ml::{Baselines, BaselineBasis, FeatureVector, FEATURES};
/// use netsentinel_core::Timestamp;
/// let host = "10.0.0.5".parse().unwrap();
/// let mut b = Baselines::new(1024);
/// for i in 0..20 {
///     let mut values = [0.0; FEATURES];
///     values[1] = 10.0 + f64::from(i % 3); // packets per second: 10 to 12
///     b.observe(&FeatureVector { host, window_start: Timestamp::ZERO, packets: 100, values });
/// }
/// let mut odd = [0.0; FEATURES];
/// odd[1] = 500.0;
/// let d = b.deviation(&FeatureVector { host, window_start: Timestamp::ZERO, packets: 5000, values: odd }, 10);
/// assert_eq!(d.basis, BaselineBasis::Host);
/// assert!(d.z[1] > 5.0); // about log2(501 / 12): five doublings above normal
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    hosts: HashMap<IpAddr, ColumnStats>,
    hours: Vec<ColumnStats>,
    network: ColumnStats,
    max_hosts: usize,
    hosts_not_tracked: u64,
}

impl Baselines {
    /// Empty baselines keeping at most `max_hosts` per-host entries (windows of further
    /// hosts still count in the hourly and network baselines).
    pub fn new(max_hosts: usize) -> Self {
        Baselines {
            hosts: HashMap::new(),
            hours: vec![ColumnStats::default(); 24],
            network: ColumnStats::default(),
            max_hosts,
            hosts_not_tracked: 0,
        }
    }

    fn hour_of(v: &FeatureVector) -> usize {
        let secs = v.window_start.as_micros().div_euclid(1_000_000);
        (secs.div_euclid(3600).rem_euclid(24)) as usize
    }

    /// Adds one window as normal.
    pub fn observe(&mut self, v: &FeatureVector) {
        if self.hours.len() != 24 {
            self.hours = vec![ColumnStats::default(); 24];
        }
        let values = model_scale(&v.values);
        self.hours[Self::hour_of(v)].push(&values);
        self.network.push(&values);
        if let Some(h) = self.hosts.get_mut(&v.host) {
            h.push(&values);
        } else if self.hosts.len() < self.max_hosts {
            self.hosts.entry(v.host).or_default().push(&values);
        } else {
            self.hosts_not_tracked += 1;
        }
    }

    /// Windows seen in all.
    pub fn windows(&self) -> u64 {
        self.network.count()
    }

    /// Hosts with a baseline of their own.
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// Windows of hosts that found the per-host table full.
    pub fn hosts_not_tracked(&self) -> u64 {
        self.hosts_not_tracked
    }

    /// The baseline of one host, if it has one.
    pub fn host(&self, host: IpAddr) -> Option<&ColumnStats> {
        self.hosts.get(&host)
    }

    /// Compares a vector with its host's baseline when that holds at least `min_samples`
    /// windows. Otherwise with both the same hour's baseline (when it holds that many) and
    /// the network's, keeping per column the milder deviation: a host without a history is
    /// unusual only if it is unusual for this hour *and* for the network at large (an
    /// hour learned from a few quiet windows alone would make any traffic look odd).
    pub fn deviation(&self, v: &FeatureVector, min_samples: u64) -> Deviation {
        let values = model_scale(&v.values);
        let against = |stats: &ColumnStats| {
            let mut z = [0.0; FEATURES];
            let mut mean = [0.0; FEATURES];
            for i in 0..FEATURES {
                let Some(w) = stats.column(i).filter(|w| w.count() > 0) else {
                    continue;
                };
                mean[i] = from_model_scale(i, w.mean());
                let spread = w.std_dev().max(FEATURE_FLOORS[i]);
                z[i] = (values[i] - w.mean()) / spread;
            }
            (z, mean)
        };
        if let Some(h) = self.hosts.get(&v.host).filter(|h| h.count() >= min_samples) {
            let (z, mean) = against(h);
            return Deviation {
                basis: BaselineBasis::Host,
                samples: h.count(),
                z,
                mean,
            };
        }
        let (mut z, mut mean) = against(&self.network);
        let hour = self
            .hours
            .get(Self::hour_of(v))
            .filter(|h| h.count() >= min_samples);
        let Some(hour) = hour else {
            return Deviation {
                basis: BaselineBasis::Network,
                samples: self.network.count(),
                z,
                mean,
            };
        };
        let (hz, hmean) = against(hour);
        for i in 0..FEATURES {
            if hz[i].abs() < z[i].abs() {
                z[i] = hz[i];
                mean[i] = hmean[i];
            }
        }
        Deviation {
            basis: BaselineBasis::HourOfDay,
            samples: hour.count().min(self.network.count()),
            z,
            mean,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn vector(host: &str, hour: i64, pps: f64) -> FeatureVector {
        let mut values = [0.0; FEATURES];
        values[1] = pps;
        FeatureVector {
            host: host.parse().unwrap(),
            window_start: Timestamp::from_micros(hour * 3600 * 1_000_000),
            packets: 100,
            values,
        }
    }

    #[test]
    fn most_specific_baseline_with_enough_windows_is_used() {
        let mut b = Baselines::new(1);
        for i in 0..30 {
            b.observe(&vector("10.0.0.1", 9, 100.0 + f64::from(i % 5)));
        }
        // A second host does not fit in the per-host table; it still counts elsewhere.
        for _ in 0..5 {
            b.observe(&vector("10.0.0.2", 9, 1.0));
        }
        assert_eq!(b.hosts(), 1);
        assert_eq!(b.hosts_not_tracked(), 5);
        assert_eq!(b.windows(), 35);

        let own = b.deviation(&vector("10.0.0.1", 9, 102.0), 10);
        assert_eq!(own.basis, BaselineBasis::Host);
        assert!(own.max_abs_z() < 1.0);

        let other = b.deviation(&vector("10.0.0.2", 9, 1.0), 10);
        assert_eq!(other.basis, BaselineBasis::HourOfDay);
        let night = b.deviation(&vector("10.0.0.9", 3, 1.0), 10);
        assert_eq!(night.basis, BaselineBasis::Network);
        assert_eq!(night.samples, 35);
    }

    #[test]
    fn floors_keep_constant_columns_finite_and_top_names_the_cause() {
        let mut b = Baselines::new(16);
        for _ in 0..10 {
            b.observe(&vector("10.0.0.1", 0, 5.0));
        }
        // packets_per_sec never varied: its floor, a doubling (on the log scale), is the
        // spread, so the z-score counts doublings: 1 + 25 against 1 + 5.
        let d = b.deviation(&vector("10.0.0.1", 0, 25.0), 5);
        assert!((d.z[1] - (26.0f64 / 6.0).log2()).abs() < 1e-9, "{}", d.z[1]);
        let top = d.top(&vector("10.0.0.1", 0, 25.0).values, 3);
        assert_eq!(top.len(), 1, "other columns did not move: {top:?}");
        assert_eq!(top[0].feature, "packets_per_sec");
        assert!((top[0].baseline_mean - 5.0).abs() < 1e-9);
    }

    #[test]
    fn round_trips_through_json() {
        let mut b = Baselines::new(4);
        b.observe(&vector("10.0.0.1", 1, 3.0));
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Baselines>(&text).unwrap(), b);
    }
}
