//! Helpers for the end-to-end tests: where the bundled data is, and running a capture.

pub mod config_reference;

use std::path::{Path, PathBuf};

use netsentinel_core::{CollectSink, Engine, EngineConfig, Error, FileSource, RunSummary};

/// `tests/data` in the repository.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// The lab captures (attacks, benign, credentials), sorted.
pub fn corpus_captures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["attacks", "benign", "credentials"] {
        let d = data_dir().join("corpus").join(dir);
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "pcap") {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// Runs a capture through an engine with default settings and a collecting sink.
///
/// # Errors
/// The engine's error for an unreadable capture.
pub fn run_capture(path: &Path, config: EngineConfig) -> Result<(RunSummary, CollectSink), Error> {
    let collected = std::sync::Arc::new(parking_lot_free::Shared::default());
    let sink = parking_lot_free::SharedSink(collected.clone());
    let mut source = FileSource::open(path)?;
    let mut engine = Engine::builder(config).sink(sink).build()?;
    let summary = engine.run(&mut source)?;
    let sink = collected.take();
    Ok((summary, sink))
}

/// Runs `source` with the built-in detectors `config` enables; returns the summary and
/// everything the sinks received (alerts, flows, incidents).
///
/// # Errors
/// The engine's error for a failing source or a bad configuration.
pub fn run_with_builtin_detectors(
    source: &mut dyn netsentinel_core::PacketSource,
    config: EngineConfig,
) -> Result<(RunSummary, CollectSink), Error> {
    let collected = std::sync::Arc::new(parking_lot_free::Shared::default());
    let sink = parking_lot_free::SharedSink(collected.clone());
    let mut engine = Engine::builder(config)
        .builtin_detectors()
        .sink(sink)
        .build()?;
    let summary = engine.run(source)?;
    Ok((summary, collected.take()))
}

/// Runs a capture with every built-in detector and returns the alerts.
///
/// # Errors
/// The engine's error for an unreadable capture.
pub fn alerts_with_builtin_detectors(path: &Path) -> Result<Vec<netsentinel_core::Alert>, Error> {
    alerts_with_config(path, EngineConfig::default())
}

/// Runs a capture with the built-in detectors `config` enables and returns the alerts.
///
/// # Errors
/// The engine's error for an unreadable capture or a bad configuration.
pub fn alerts_with_config(
    path: &Path,
    config: EngineConfig,
) -> Result<Vec<netsentinel_core::Alert>, Error> {
    let collected = std::sync::Arc::new(parking_lot_free::Shared::default());
    let sink = parking_lot_free::SharedSink(collected.clone());
    let mut source = FileSource::open(path)?;
    let mut engine = Engine::builder(config)
        .builtin_detectors()
        .sink(sink)
        .build()?;
    engine.run(&mut source)?;
    Ok(collected.take().alerts)
}

/// The captures the reference anomaly model learns from: the lab's benign capture A
/// (`scripts/lab/make-benign.sh`) and the corpus's four credential captures (ordinary
/// logins). Held out from it: `corpus/benign/benign_office.pcap` and `lab/benign_lab_b.pcap`.
pub fn ml_training_captures() -> Vec<PathBuf> {
    let mut out = vec![data_dir().join("lab/benign_lab_a.pcap")];
    for name in ["cred_ftp", "cred_http_basic", "cred_pop3", "cred_telnet"] {
        out.push(data_dir().join(format!("corpus/credentials/{name}.pcap")));
    }
    out
}

/// Trains the reference model (default settings) on [`ml_training_captures`] and saves
/// it as `model.json` in `dir`.
///
/// # Panics
/// When a bundled capture cannot be read or the model cannot be written.
pub fn train_reference_model(dir: &Path) -> PathBuf {
    use netsentinel_core::detect::ml_anomaly::FeatureCollector;
    use netsentinel_core::ml::SavedModel;
    let config = EngineConfig::default();
    let mut windows = Vec::new();
    for path in ml_training_captures() {
        let mut source = FileSource::open(&path).expect("bundled capture");
        windows.extend(FeatureCollector::collect(&mut source, &config).expect("bundled capture"));
    }
    let model = SavedModel::train(&windows, &config.detectors.ml_anomaly.train_params())
        .expect("enough windows");
    let path = dir.join("model.json");
    model.save(&path).expect("writable directory");
    path
}

/// The `ml_anomaly` alerts on a capture with a saved model (other settings default).
///
/// # Errors
/// The engine's error for an unreadable capture or model.
pub fn ml_alerts(capture: &Path, model: &Path) -> Result<Vec<netsentinel_core::Alert>, Error> {
    let mut config = EngineConfig::default();
    config.detectors.ml_anomaly.model_path = Some(model.to_path_buf());
    Ok(alerts_with_config(capture, config)?
        .into_iter()
        .filter(|a| a.detector == "ml_anomaly")
        .collect())
}

pub mod report;

/// A sink whose collected events can be read after the engine is done with it.
mod parking_lot_free {
    use std::sync::{Arc, Mutex};

    use netsentinel_core::{Alert, AlertSink, AnomalyEvent, CollectSink, Flow, SinkError};

    #[derive(Default)]
    pub struct Shared(Mutex<CollectSink>);

    impl Shared {
        pub fn take(&self) -> CollectSink {
            match self.0.lock() {
                Ok(mut g) => std::mem::take(&mut *g),
                Err(p) => std::mem::take(&mut *p.into_inner()),
            }
        }
    }

    pub struct SharedSink(pub Arc<Shared>);

    impl SharedSink {
        fn with(
            &self,
            f: impl FnOnce(&mut CollectSink) -> Result<(), SinkError>,
        ) -> Result<(), SinkError> {
            match self.0.0.lock() {
                Ok(mut g) => f(&mut g),
                Err(_) => Err(SinkError::Closed),
            }
        }
    }

    impl AlertSink for SharedSink {
        fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
            self.with(|s| s.alert(alert))
        }
        fn flow(&mut self, flow: &Flow) -> Result<(), SinkError> {
            self.with(|s| s.flow(flow))
        }
        fn anomaly(&mut self, event: &AnomalyEvent) -> Result<(), SinkError> {
            self.with(|s| s.anomaly(event))
        }
        fn incident(
            &mut self,
            incident: &netsentinel_core::incident::Incident,
        ) -> Result<(), SinkError> {
            self.with(|s| s.incident(incident))
        }
    }
}
