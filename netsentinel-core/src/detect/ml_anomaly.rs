//! `ml_anomaly`: a local host whose traffic in a window is unlike what this network does,
//! by both the Isolation Forest and the baselines.
//!
//! **Detects** windows (`window_secs` of packet time, default 10) in which a local host's
//! [features](crate::ml::FEATURE_NAMES) score at or above the model's threshold in the
//! Isolation Forest *and* lie at least `z_threshold` (default 4) standard deviations from
//! the host's baseline in some column (or, for a host with too short a history, from the
//! same hour's or the whole network's). The two must agree: the forest alone knows
//! "rare", the baseline alone knows "different from before"; together they name what
//! changed, and the evidence lists the columns furthest from normal with their values,
//! the baseline means and z-scores.
//!
//! **Learning**: without a model (`model_path`), the detector first learns for
//! `learning_secs` of packet time (default two hours): every window goes into the
//! baselines and is kept (at most `max_training_windows`, none older than
//! `retention_secs`). Then the forest is fitted and detection starts; it is refitted every
//! `retrain_secs` (default a day) on the windows kept since, leaving out the ones it
//! flagged. A model trained offline (`netsentinel train`) starts detection at once.
//!
//! **False positives**: a host doing something new but legitimate (a backup, a large
//! download, a new service). Severity is medium, high when the forest score reaches
//! `high_score`; one alert per host per `cooldown_secs`.
//!
//! **References**: Liu, Ting and Zhou, "Isolation Forest" (ICDM 2008); Welford (1962).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::config::ConfigError;
use crate::decode::PacketView;
use crate::flow::Flow;
use crate::ml::{
    Baselines, FeatureExtractor, FeatureVector, ForestParams, SavedModel, TrainParams,
};
use crate::time::Timestamp;

/// Settings of `ml_anomaly`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MlAnomalyConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// A model file made by `netsentinel train`: detection starts at once, with its
    /// forest, baselines and window length. Default none (learn first).
    pub model_path: Option<PathBuf>,
    /// Where to write the model (forest and baselines) after every fit and refit, atomically,
    /// so that what a live run learned survives it; load it later with `model_path`.
    /// Default none.
    pub save_path: Option<PathBuf>,
    /// Feature window, in seconds of packet time. Default 10.
    pub window_secs: u64,
    /// Learning period before the first fit, in seconds of packet time. Default 7,200.
    pub learning_secs: u64,
    /// Fewest windows to fit on; learning goes on until there are this many. Default 100.
    pub min_training_windows: usize,
    /// Most windows kept for (re)training. Default 100,000.
    pub max_training_windows: usize,
    /// Oldest window kept for retraining, in seconds. Default 604,800 (a week).
    pub retention_secs: u64,
    /// Refit interval once detecting, in seconds of packet time. Default 86,400.
    pub retrain_secs: u64,
    /// Share of the training windows the forest may call unusual: its threshold is the
    /// training scores' `1 - contamination` quantile. Default 0.1. Not lower, even for
    /// clean training data: a window outside everything seen while learning isolates
    /// only about as fast as the most extreme training windows (splits are drawn within
    /// the training range, so it follows their branch), and a threshold near the very top
    /// of the training scores would miss it about half the time; the baseline's z-score is
    /// the stricter half of the agreement.
    pub contamination: f64,
    /// A fixed forest score threshold (0.5 to 1) used instead of the model's
    /// contamination-based one. Default none.
    pub score_threshold: Option<f64>,
    /// Smallest largest-|z| against the baseline for an alert. Default 4.
    pub z_threshold: f64,
    /// Windows a host's own (or an hour's) baseline needs before it is used. Default 10.
    pub min_baseline_windows: u64,
    /// Fewest packets a host must have sent or received in a window for an alert: a
    /// handful of packets makes ratios and means swing without meaning anything (one DHCP
    /// exchange is "100% large packets"). Such windows are still learned. Default 20.
    pub min_window_packets: u64,
    /// Forest score from which the alert is high rather than medium. Default 0.7.
    pub high_score: f64,
    /// Least time between two alerts for one host, in seconds. Default 600.
    pub cooldown_secs: u64,
    /// Most hosts with a baseline of their own. Default 65,536.
    pub max_hosts: usize,
    /// Forest settings (trees, sub-sample size, seed, extended, threads).
    pub forest: ForestParams,
}

impl Default for MlAnomalyConfig {
    fn default() -> Self {
        MlAnomalyConfig {
            enabled: true,
            model_path: None,
            save_path: None,
            window_secs: 10,
            learning_secs: 7_200,
            min_training_windows: 100,
            max_training_windows: 100_000,
            retention_secs: 604_800,
            retrain_secs: 86_400,
            contamination: 0.1,
            score_threshold: None,
            z_threshold: 4.0,
            min_baseline_windows: 10,
            min_window_packets: 20,
            high_score: 0.7,
            cooldown_secs: 600,
            max_hosts: 65_536,
            forest: ForestParams::default(),
        }
    }
}

impl MlAnomalyConfig {
    /// The training settings these values imply.
    pub fn train_params(&self) -> TrainParams {
        TrainParams {
            window_secs: self.window_secs,
            forest: self.forest.clone(),
            contamination: self.contamination,
            max_hosts: self.max_hosts,
        }
    }

    /// Checks values a run cannot work with.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if self.window_secs == 0 {
            return invalid("detectors.ml_anomaly.window_secs", "must be at least 1");
        }
        if !(0.0..=0.5).contains(&self.contamination) {
            return invalid(
                "detectors.ml_anomaly.contamination",
                "must be within 0 and 0.5",
            );
        }
        if self
            .score_threshold
            .is_some_and(|t| !(0.5..=1.0).contains(&t))
        {
            return invalid(
                "detectors.ml_anomaly.score_threshold",
                "must be within 0.5 and 1",
            );
        }
        if self.min_training_windows < 2 {
            return invalid(
                "detectors.ml_anomaly.min_training_windows",
                "must be at least 2",
            );
        }
        if self.forest.trees == 0 || self.forest.subsample < 2 {
            return invalid(
                "detectors.ml_anomaly.forest",
                "trees must be at least 1 and subsample at least 2",
            );
        }
        Ok(())
    }
}

/// The `ml_anomaly` detector.
pub struct MlAnomalyDetector {
    config: MlAnomalyConfig,
    features: FeatureExtractor,
    baselines: Baselines,
    model: Option<SavedModel>,
    learning_since: Option<Timestamp>,
    last_fit: Option<Timestamp>,
    kept: VecDeque<FeatureVector>,
    last_alert: HashMap<IpAddr, Timestamp>,
}

impl MlAnomalyDetector {
    /// A detector that learns first, or starts from `config.model_path`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when the settings are unusable or the model file cannot
    /// be loaded (the message says why: missing, corrupt, other feature version).
    pub fn new(config: &MlAnomalyConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let model = match &config.model_path {
            Some(path) => Some(SavedModel::load(path).map_err(|e| ConfigError::Invalid {
                key: "detectors.ml_anomaly.model_path".into(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        Ok(Self::with_model(config, model))
    }

    /// A detector starting from a model already in memory (`None`: learn first). The
    /// model's window length replaces `config.window_secs`.
    pub fn with_model(config: &MlAnomalyConfig, model: Option<SavedModel>) -> Self {
        let mut config = config.clone();
        let baselines = match &model {
            Some(m) => {
                config.window_secs = m.window_secs;
                m.baselines.clone()
            }
            None => Baselines::new(config.max_hosts),
        };
        MlAnomalyDetector {
            features: FeatureExtractor::new(config.window_secs),
            baselines,
            model,
            learning_since: None,
            last_fit: None,
            kept: VecDeque::new(),
            last_alert: HashMap::new(),
            config,
        }
    }

    /// Whether the forest is fitted and windows are being judged.
    pub fn is_detecting(&self) -> bool {
        self.model.is_some()
    }

    fn keep(&mut self, v: FeatureVector) {
        self.baselines.observe(&v);
        if self.kept.len() >= self.config.max_training_windows {
            self.kept.pop_front();
        }
        self.kept.push_back(v);
    }

    fn fit(&mut self, now: Timestamp) {
        let retention = micros(self.config.retention_secs);
        while self
            .kept
            .front()
            .is_some_and(|v| now.micros_since(v.window_start) > retention)
        {
            self.kept.pop_front();
        }
        if self.kept.len() < self.config.min_training_windows {
            return;
        }
        let windows: Vec<FeatureVector> = self.kept.iter().cloned().collect();
        match SavedModel::train(&windows, &self.config.train_params()) {
            Ok(mut model) => {
                // The live baselines have seen every window, not only the kept ones.
                model.baselines = self.baselines.clone();
                tracing::info!(
                    windows = windows.len(),
                    threshold = model.threshold,
                    "ml_anomaly: model fitted"
                );
                if let Some(path) = &self.config.save_path
                    && let Err(e) = model.save(path)
                {
                    tracing::warn!("ml_anomaly: model not saved: {e}");
                }
                self.model = Some(model);
                self.last_fit = Some(now);
            }
            Err(e) => tracing::warn!("ml_anomaly: fit failed: {e}"),
        }
    }

    fn judge(&mut self, windows: Vec<FeatureVector>, now: Timestamp, cx: &mut Context<'_>) {
        let cooldown = micros(self.config.cooldown_secs);
        // Every window of a roll is judged against the baselines as they were before it;
        // the normal ones are learned afterwards (a flood's victim must not become "normal"
        // just before its attacker's window of the same ten seconds is judged).
        let mut normal = Vec::with_capacity(windows.len());
        for v in windows {
            let Some(model) = &self.model else {
                self.learning_since.get_or_insert(v.window_start);
                normal.push(v);
                continue;
            };
            let score = model.score(&v);
            let threshold = self.config.score_threshold.unwrap_or(model.threshold);
            let deviation = self
                .baselines
                .deviation(&v, self.config.min_baseline_windows);
            let max_z = deviation.max_abs_z();
            tracing::debug!(
                host = %v.host,
                score,
                max_z,
                basis = deviation.basis.as_str(),
                "ml_anomaly window"
            );
            if score < threshold
                || max_z < self.config.z_threshold
                || v.packets < self.config.min_window_packets
            {
                normal.push(v);
                continue;
            }
            if self
                .last_alert
                .get(&v.host)
                .is_some_and(|t| now.micros_since(*t) < cooldown)
            {
                continue;
            }
            self.last_alert.insert(v.host, now);
            let top = deviation.top(&v.values, 3);
            let because: Vec<String> = top
                .iter()
                .map(|c| {
                    format!(
                        "{} {} (usually {})",
                        c.feature,
                        round(c.value),
                        round(c.baseline_mean)
                    )
                })
                .collect();
            let severity = if score >= self.config.high_score {
                Severity::High
            } else {
                Severity::Medium
            };
            let mut alert = Alert::new(
                now,
                "ml_anomaly",
                severity,
                "anomaly",
                format!(
                    "{}: traffic unlike this network's baseline (forest score {:.2}): {}",
                    v.host,
                    score,
                    because.join(", ")
                ),
            );
            alert.src_ip = Some(v.host);
            let alert = alert
                .with_evidence("score", score)
                .with_evidence("threshold", threshold)
                .with_evidence("max_abs_z", max_z)
                .with_evidence("baseline", deviation.basis.as_str())
                .with_evidence("baseline_windows", deviation.samples)
                .with_evidence("window_start", v.window_start.to_rfc3339())
                .with_evidence("window_secs", self.config.window_secs)
                .with_evidence(
                    "top_features",
                    serde_json::to_value(&top).unwrap_or_default(),
                );
            cx.emit(alert);
        }
        for v in normal {
            self.keep(v);
        }
        if self.model.is_none() {
            if self
                .learning_since
                .is_some_and(|since| now.micros_since(since) >= micros(self.config.learning_secs))
            {
                self.fit(now);
            }
        } else {
            let last = *self.last_fit.get_or_insert(now);
            if now.micros_since(last) >= micros(self.config.retrain_secs) {
                self.fit(now);
            }
        }
    }
}

/// Seconds as microseconds, saturating.
fn micros(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

/// Three significant decimals for messages.
fn round(x: f64) -> f64 {
    if x.abs() >= 100.0 {
        x.round()
    } else {
        (x * 1000.0).round() / 1000.0
    }
}

impl Detector for MlAnomalyDetector {
    fn id(&self) -> &'static str {
        "ml_anomaly"
    }

    fn tables(&self) -> Vec<TableUsage> {
        let (windows, max_windows, turned_away) = self.features.usage();
        vec![
            TableUsage::new("host_windows", windows, max_windows, turned_away),
            TableUsage::new(
                "baselines",
                self.baselines.hosts(),
                self.config.max_hosts,
                self.baselines.hosts_not_tracked(),
            ),
        ]
    }

    fn interest(&self) -> Interest {
        Interest::ALL_PACKETS | Interest::FLOW_END | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        self.features.packet(pkt, |ip| cx.is_local(ip));
    }

    fn on_flow_end(&mut self, flow: &Flow, cx: &mut Context<'_>) {
        self.features.flow_ended(flow, |ip| cx.is_local(ip));
    }

    fn on_tick(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        if self.features.window_over(now) {
            let windows = self.features.roll(now);
            self.judge(windows, now, cx);
        }
    }

    fn on_finish(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        let windows = self.features.roll(now);
        self.judge(windows, now, cx);
    }
}

/// A detector that only extracts feature windows, into a shared list: the input of
/// offline training (`netsentinel train`). Raises nothing.
pub struct FeatureCollector {
    features: FeatureExtractor,
    out: Arc<Mutex<Vec<FeatureVector>>>,
}

impl FeatureCollector {
    /// A collector of `window_secs` windows appending to `out`.
    pub fn new(window_secs: u64, out: Arc<Mutex<Vec<FeatureVector>>>) -> Self {
        FeatureCollector {
            features: FeatureExtractor::new(window_secs),
            out,
        }
    }

    /// Runs a whole source through an engine with `config` (flows, local networks, ticks)
    /// and this collector alone, and returns the windows, of
    /// `config.detectors.ml_anomaly.window_secs` seconds.
    ///
    /// # Errors
    /// As [`Engine::run`](crate::Engine::run): the source fails or the configuration is
    /// invalid.
    pub fn collect<S: crate::source::PacketSource + ?Sized>(
        source: &mut S,
        config: &crate::EngineConfig,
    ) -> crate::Result<Vec<FeatureVector>> {
        let out = Arc::new(Mutex::new(Vec::new()));
        let collector = FeatureCollector::new(config.detectors.ml_anomaly.window_secs, out.clone());
        let mut engine = crate::Engine::builder(config.clone())
            .detector(collector)
            .build()?;
        engine.run(source)?;
        drop(engine);
        Ok(std::mem::take(&mut *out.lock()))
    }
}

impl Detector for FeatureCollector {
    fn id(&self) -> &'static str {
        "feature_collector"
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        self.features.packet(pkt, |ip| cx.is_local(ip));
    }

    fn on_flow_end(&mut self, flow: &Flow, cx: &mut Context<'_>) {
        self.features.flow_ended(flow, |ip| cx.is_local(ip));
    }

    fn on_tick(&mut self, now: Timestamp, _cx: &mut Context<'_>) {
        if self.features.window_over(now) {
            let windows = self.features.roll(now);
            self.out.lock().extend(windows);
        }
    }

    fn on_finish(&mut self, now: Timestamp, _cx: &mut Context<'_>) {
        let windows = self.features.roll(now);
        self.out.lock().extend(windows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::FEATURES;
    use crate::neighbor::NeighborTable;
    use crate::traffic::LocalNetworks;

    /// A window of one host: packets per second and distinct ports set, the rest as a
    /// quiet workstation, each column with its own deterministic jitter from `i`.
    fn window(host: u8, t_secs: i64, pps: f64, ports: f64, i: u64) -> FeatureVector {
        let jitter = |k: u64| ((i * 7919 + k * k * 104_729) % 97) as f64 / 97.0;
        let mut values = [0.0; FEATURES];
        values[0] = pps * 600.0 * (1.0 + 0.3 * jitter(1));
        values[1] = pps * (1.0 + 0.3 * jitter(2));
        values[2] = 600.0 + 80.0 * jitter(3);
        values[3] = 2.0 + (jitter(4) * 3.0).floor();
        values[4] = ports + (jitter(5) * 2.0).floor();
        values[5] = 0.05 + 0.02 * jitter(6);
        values[12] = 0.6 + 0.1 * jitter(7);
        values[14] = 0.4 + 0.1 * jitter(8);
        values[16] = 2.0;
        FeatureVector {
            host: IpAddr::from([10, 0, 0, host]),
            window_start: Timestamp::from_micros(t_secs * 1_000_000),
            packets: (pps * 10.0) as u64,
            values,
        }
    }

    fn judge(d: &mut MlAnomalyDetector, windows: Vec<FeatureVector>, t_secs: i64) -> Vec<Alert> {
        let neighbors = NeighborTable::new();
        let local = LocalNetworks::new(&[]);
        let mut out = Vec::new();
        let now = Timestamp::from_micros(t_secs * 1_000_000);
        let mut cx = Context::new(now, None, false, &neighbors, &local, &mut out);
        d.judge(windows, now, &mut cx);
        out
    }

    #[test]
    fn learns_then_flags_what_both_forest_and_baseline_find_unusual() {
        let config = MlAnomalyConfig {
            learning_secs: 600,
            min_training_windows: 50,
            cooldown_secs: 60,
            ..MlAnomalyConfig::default()
        };
        let mut d = MlAnomalyDetector::new(&config).unwrap();
        let mut i = 0;
        let mut t = 0;
        while !d.is_detecting() {
            let batch = (1..=5)
                .map(|h| {
                    i += 1;
                    window(h, t, 10.0, 3.0, i)
                })
                .collect();
            assert!(judge(&mut d, batch, t).is_empty(), "nothing while learning");
            t += 10;
            assert!(t <= 700, "still learning after the learning period");
        }
        assert!(t >= 600);

        // An ordinary window: quiet.
        assert!(judge(&mut d, vec![window(1, t, 11.0, 3.0, 5)], t).is_empty());
        // Host 3 suddenly touches 900 ports at 400 packets a second: flagged, and the
        // evidence names the columns that moved.
        let alerts = judge(&mut d, vec![window(3, t, 400.0, 900.0, 6)], t + 10);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.src_ip, Some(IpAddr::from([10, 0, 0, 3])));
        assert_eq!(a.evidence["baseline"], "host");
        let top: Vec<&str> = a.evidence["top_features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["feature"].as_str().unwrap())
            .collect();
        assert!(top.contains(&"unique_dst_ports"), "{top:?}");
        assert!(top.contains(&"packets_per_sec"), "{top:?}");
        // The same values resting on a dozen packets are not enough for an alert.
        let mut thin = window(5, t, 400.0, 900.0, 6);
        thin.packets = 12;
        assert!(judge(&mut d, vec![thin], t + 10).is_empty());
        // Within the cooldown the same host is not reported again; another host is.
        assert!(judge(&mut d, vec![window(3, t, 400.0, 900.0, 7)], t + 20).is_empty());
        assert_eq!(
            judge(&mut d, vec![window(4, t, 400.0, 900.0, 8)], t + 20).len(),
            1
        );
        assert_eq!(
            judge(&mut d, vec![window(3, t, 400.0, 900.0, 9)], t + 100).len(),
            1,
            "after the cooldown"
        );
    }

    #[test]
    fn a_learned_model_is_saved_and_loads_back() {
        let dir = std::env::temp_dir().join(format!("ns-ml-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("learned.json");
        let config = MlAnomalyConfig {
            learning_secs: 100,
            min_training_windows: 20,
            save_path: Some(path.clone()),
            ..MlAnomalyConfig::default()
        };
        let mut d = MlAnomalyDetector::new(&config).unwrap();
        for i in 0..30u64 {
            let t = i as i64 * 10;
            judge(&mut d, vec![window((i % 3) as u8 + 1, t, 10.0, 3.0, i)], t);
        }
        assert!(d.is_detecting());
        let saved = SavedModel::load(&path).unwrap();
        assert_eq!(Some(&saved), d.model.as_ref());
        let reloaded = MlAnomalyDetector::new(&MlAnomalyConfig {
            model_path: Some(path),
            ..MlAnomalyConfig::default()
        })
        .unwrap();
        assert!(reloaded.is_detecting());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_model_in_memory_starts_detection_at_once_with_its_window() {
        let windows: Vec<FeatureVector> = (0..200)
            .map(|i| window((i % 4) as u8 + 1, i as i64 * 30, 10.0, 3.0, i))
            .collect();
        let params = TrainParams {
            window_secs: 30,
            ..MlAnomalyConfig::default().train_params()
        };
        let model = SavedModel::train(&windows, &params).unwrap();
        let mut d = MlAnomalyDetector::with_model(&MlAnomalyConfig::default(), Some(model));
        assert!(d.is_detecting());
        assert_eq!(d.config.window_secs, 30);
        // A host never seen is compared with all hosts at that hour, then the network.
        let alerts = judge(&mut d, vec![window(99, 0, 300.0, 500.0, 1)], 10);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].evidence["baseline"], "hour_of_day_and_network");
        let alerts = judge(&mut d, vec![window(98, 7200, 300.0, 500.0, 1)], 7210);
        assert_eq!(alerts[0].evidence["baseline"], "network");
        // A fixed threshold replaces the model's: at 0.99 the same window is not enough.
        d.config.score_threshold = Some(0.99);
        assert!(judge(&mut d, vec![window(97, 0, 300.0, 500.0, 1)], 20).is_empty());
    }

    #[test]
    fn invalid_settings_name_their_key() {
        for (config, key) in [
            (
                MlAnomalyConfig {
                    window_secs: 0,
                    ..MlAnomalyConfig::default()
                },
                "window_secs",
            ),
            (
                MlAnomalyConfig {
                    contamination: 0.7,
                    ..MlAnomalyConfig::default()
                },
                "contamination",
            ),
            (
                MlAnomalyConfig {
                    score_threshold: Some(0.2),
                    ..MlAnomalyConfig::default()
                },
                "score_threshold",
            ),
        ] {
            let err = MlAnomalyDetector::new(&config).err().unwrap();
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
