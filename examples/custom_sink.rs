//! A sink of your own: tallies flows per application and prints them at the end.
//!
//! ```sh
//! cargo run -p netsentinel-examples --example custom_sink -- tests/data/demo.pcap
//! ```

use std::collections::BTreeMap;

use netsentinel_core::traffic::app_for_flow;
use netsentinel_core::{
    Alert, AlertSink, Engine, EngineConfig, FileSource, Flow, RunSummary, SinkError,
};

#[derive(Default)]
struct FlowsPerApp(BTreeMap<&'static str, u64>);

impl AlertSink for FlowsPerApp {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        println!("alert: {}", alert.message);
        Ok(())
    }

    fn flow(&mut self, flow: &Flow) -> Result<(), SinkError> {
        *self
            .0
            .entry(app_for_flow(flow).unwrap_or("other"))
            .or_insert(0) += 1;
        Ok(())
    }

    fn summary(&mut self, summary: &RunSummary) -> Result<(), SinkError> {
        println!("{} flows:", summary.flows.created);
        for (app, n) in &self.0 {
            println!("  {app:<12} {n}");
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/data/demo.pcap".into());
    let mut source = FileSource::open(&path)?;
    let mut engine = Engine::builder(EngineConfig::default())
        .sink(FlowsPerApp::default())
        .build()?;
    engine.run(&mut source)?;
    Ok(())
}
