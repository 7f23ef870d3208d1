//! Any bytes, cut into Ethernet frames, through the whole engine (flows, statistics,
//! every built-in detector, the gateway, incidents, sinks): never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netsentinel_core::testutil::frames_from_bytes;
use netsentinel_core::{CollectSink, Engine, EngineConfig};

fuzz_target!(|data: &[u8]| {
    let mut config = EngineConfig::default();
    config.flow.max_flows = 16; // exercise eviction
    let Ok(mut engine) = Engine::builder(config).builtin_detectors().sink(CollectSink::new()).build() else {
        return;
    };
    let _ = engine.run(&mut frames_from_bytes(data));
});
