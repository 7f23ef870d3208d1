//! Differential: any bytes, cut into Ethernet frames (as `engine_feed`), give the same
//! sink transcript (every alert, flow, anomaly, incident and the summary, in order) on one
//! thread, on two (`Engine::run_parallel`: the output stage keeps the flow table), on three
//! (a detector thread) and on six (two flow threads with the flow table's four shards);
//! and again with batches of two packets, where on two threads the flow table moves
//! between the stages after every batch (inputs are far shorter than a run's batch).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netsentinel_core::EngineConfig;
use netsentinel_core::testutil::{
    Cuts, assert_same_transcript, frames_from_bytes, transcript, transcript_cut,
};

fuzz_target!(|data: &[u8]| {
    let mut config = EngineConfig::default();
    config.flow.max_flows = 16; // exercise eviction
    config.flow.shards = 4;
    let source = frames_from_bytes(data);
    let single = transcript(&config, 1, &mut source.clone());
    for threads in [2, 3, 6] {
        let parallel = transcript(&config, threads, &mut source.clone());
        assert_same_transcript("fuzz input", &single, threads, &parallel);
        let cuts = Cuts {
            batch_packets: 2,
            table_moves_every: Some(1),
        };
        let cut = transcript_cut(&config, threads, cuts, &mut source.clone());
        assert_same_transcript("fuzz input, batches of 2", &single, threads, &cut);
    }
});
