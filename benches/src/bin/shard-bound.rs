//! An upper bound for analysis sharded by flow hash, not an analysis:
//! `shard-bound FILE THREADS` runs THREADS engines with every built-in detector side by
//! side, each reading the whole file and keeping only the packets whose flow hashes to it
//! (packets without a flow go to the first), and prints each one's flows and the wall
//! time.
//!
//! The threads share nothing, so this is as fast as workers that each read, decode and
//! account their own share of the packets can be on a machine. It is not a correct run:
//! detectors that need a whole host (scans, sweeps, floods, the device inventory, the
//! Isolation Forest's per-host windows) see only the host's flows of their shard. Measured
//! against `netsentinel analyze --threads N` in docs/BENCHMARKS.md ("Multi-core").

use std::hash::BuildHasher;
use std::process::ExitCode;
use std::time::Instant;

use foldhash::fast::FixedState;
use netsentinel_core::{
    Engine, EngineConfig, FileSource, FlowKey, PacketSource, RawPacket, Recv, SourceError, decode,
};

/// The packets of one shard of a source's flows.
struct Shard<S> {
    inner: S,
    shard: u64,
    shards: u64,
    hasher: FixedState,
    /// The kept packet's bytes (the inner source's borrow ends with the loop turn).
    kept: Vec<u8>,
}

impl<S: PacketSource> PacketSource for Shard<S> {
    fn next_packet(&mut self) -> Result<Recv<'_>, SourceError> {
        loop {
            let kept = match self.inner.next_packet()? {
                Recv::Packet(p) => {
                    let shard = FlowKey::from_packet(&decode(&p))
                        .map_or(0, |(key, _)| self.hasher.hash_one(key) % self.shards);
                    (shard == self.shard).then(|| {
                        self.kept.clear();
                        self.kept.extend_from_slice(p.data);
                        (p.ts, p.orig_len, p.link)
                    })
                }
                Recv::Eof => return Ok(Recv::Eof),
                Recv::Idle => return Ok(Recv::Idle),
            };
            if let Some((ts, orig_len, link)) = kept {
                return Ok(Recv::Packet(RawPacket {
                    ts,
                    data: &self.kept,
                    orig_len,
                    link,
                }));
            }
        }
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(Ok(shards))) = (args.get(1), args.get(2).map(|n| n.parse::<u64>()))
    else {
        eprintln!("usage: shard-bound FILE THREADS");
        return ExitCode::from(2);
    };
    let shards = shards.max(1);
    let start = Instant::now();
    let failed = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..shards)
            .map(|shard| {
                scope.spawn(move || -> Result<u64, netsentinel_core::Error> {
                    let mut source = Shard {
                        inner: FileSource::open(path)?,
                        shard,
                        shards,
                        hasher: FixedState::with_seed(0),
                        kept: Vec::new(),
                    };
                    let mut engine = Engine::builder(EngineConfig::default())
                        .builtin_detectors()
                        .build()?;
                    Ok(engine.run(&mut source)?.flows.created)
                })
            })
            .collect();
        let mut failed = false;
        for (shard, run) in runs.into_iter().enumerate() {
            match run.join() {
                Ok(Ok(flows)) => eprintln!("shard {shard}: {flows} flows"),
                Ok(Err(e)) => {
                    eprintln!("shard {shard}: {e}");
                    failed = true;
                }
                Err(_) => {
                    eprintln!("shard {shard}: panicked");
                    failed = true;
                }
            }
        }
        failed
    });
    eprintln!("{shards} threads: {:.3} s", start.elapsed().as_secs_f64());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
