//! Any bytes, cut into Ethernet frames, through the whole engine (flows, statistics,
//! every built-in detector, the gateway, incidents, sinks): never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netsentinel_core::{CollectSink, Engine, EngineConfig, LinkType, RawPacket, Timestamp};

fuzz_target!(|data: &[u8]| {
    let mut config = EngineConfig::default();
    config.flow.max_flows = 16; // exercise eviction
    let Ok(mut engine) = Engine::builder(config).builtin_detectors().sink(CollectSink::new()).build() else {
        return;
    };
    // Each frame: 1 length byte, 1 time step byte, then that many bytes.
    let mut rest = data;
    let mut ts = Timestamp::from_micros(1_000_000);
    while let [len, step, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (frame, next) = tail.split_at(n);
        ts = ts.add_micros(i64::from(*step) * 100_000);
        let raw = RawPacket { ts, data: frame, orig_len: frame.len() as u32, link: LinkType::Ethernet };
        if engine.process(&raw).is_err() {
            return;
        }
        rest = next;
    }
    let _ = engine.finish();
});
