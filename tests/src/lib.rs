//! Helpers for the end-to-end tests: where the bundled data is, and running a capture.

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

/// Runs a capture with every built-in detector and returns the alerts.
///
/// # Errors
/// The engine's error for an unreadable capture.
pub fn alerts_with_builtin_detectors(path: &Path) -> Result<Vec<netsentinel_core::Alert>, Error> {
    let collected = std::sync::Arc::new(parking_lot_free::Shared::default());
    let sink = parking_lot_free::SharedSink(collected.clone());
    let mut source = FileSource::open(path)?;
    let mut engine = Engine::builder(EngineConfig::default())
        .builtin_detectors()
        .sink(sink)
        .build()?;
    engine.run(&mut source)?;
    Ok(collected.take().alerts)
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
    }
}
