//! Throughput of decoding, decoding + flow table, and the whole engine replaying a pcap
//! file from the page cache, in packets per second (see docs/BENCHMARKS.md).
//!
//! The in-memory benches copy the packets through a 256 KiB buffer chunk by chunk before
//! working on them, as the file reader does: the decoder then sees cache-warm bytes, like
//! in a real replay, and the copy's cost is counted.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netsentinel_core::{
    Engine, EngineConfig, FileSource, FlowConfig, FlowTable, LinkType, RawPacket, Timestamp, decode,
};

const PACKETS: usize = 1_000_000;
const CHUNK: usize = 256 << 10;

/// Where a packet sits in its chunk: (time, offset, length).
type PacketIndex = Vec<(Timestamp, usize, usize)>;

/// Frames packed back to back in chunks of at most `CHUNK` bytes.
struct Packed {
    chunks: Vec<(Vec<u8>, PacketIndex)>,
}

fn pack(frames: &[(Timestamp, Vec<u8>)]) -> Packed {
    let mut chunks = Vec::new();
    let mut buf = Vec::with_capacity(CHUNK);
    let mut index = Vec::new();
    for (ts, d) in frames {
        if buf.len() + d.len() > CHUNK {
            chunks.push((std::mem::take(&mut buf), std::mem::take(&mut index)));
        }
        index.push((*ts, buf.len(), d.len()));
        buf.extend_from_slice(d);
    }
    chunks.push((buf, index));
    Packed { chunks }
}

/// Calls `f` on every packet, each chunk first copied into one reused read buffer.
fn replay(packed: &Packed, scratch: &mut Vec<u8>, mut f: impl FnMut(&RawPacket<'_>)) {
    for (bytes, index) in &packed.chunks {
        scratch.clear();
        scratch.extend_from_slice(bytes);
        for &(ts, start, len) in index {
            let raw = RawPacket {
                ts,
                data: &scratch[start..start + len],
                orig_len: len as u32,
                link: LinkType::Ethernet,
            };
            f(&raw);
        }
    }
}

fn pipeline(c: &mut Criterion) {
    let frames = netsentinel_benches::office_mix(PACKETS, 20_000);
    let packed = pack(&frames);
    let mut scratch = Vec::with_capacity(CHUNK);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(PACKETS as u64));
    g.sample_size(10);

    // The read-buffer copy alone: what the other in-memory benches spend before decoding,
    // standing in for the kernel's copy from the page cache.
    g.bench_function("copy_only", |b| {
        b.iter(|| {
            let mut n = 0usize;
            replay(&packed, &mut scratch, |p| n += p.data.len());
            black_box(n)
        })
    });

    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut n = 0usize;
            replay(&packed, &mut scratch, |p| n += decode(p).payload.len());
            black_box(n)
        })
    });

    g.bench_function("decode_flows", |b| {
        b.iter(|| {
            let mut table = FlowTable::new(FlowConfig::default());
            let mut ended = Vec::new();
            let mut next_expiry = Timestamp::ZERO;
            replay(&packed, &mut scratch, |p| {
                let view = decode(p);
                black_box(table.update(&view));
                // Expire once a second of packet time, as the engine's tick does.
                if view.ts >= next_expiry {
                    table.expire(view.ts);
                    table.take_ended(&mut ended);
                    ended.clear();
                    next_expiry = view.ts.add_micros(1_000_000);
                }
            });
            // End of capture in batches, as the engine does.
            while table.finish_some(4096) {
                table.take_ended(&mut ended);
                ended.clear();
            }
            table.take_ended(&mut ended);
            black_box(table.stats())
        })
    });

    let dir = std::env::temp_dir().join(format!("netsentinel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("office.pcap");
    netsentinel_core::testutil::write_pcap(&file, &frames).expect("write bench pcap");
    g.bench_function("engine_file_no_detectors", |b| {
        b.iter(|| {
            let mut source = FileSource::open(&file).expect("open");
            let mut engine = Engine::builder(EngineConfig::default())
                .build()
                .expect("engine");
            black_box(engine.run(&mut source).expect("run"))
        })
    });
    g.bench_function("engine_file_all_detectors", |b| {
        b.iter(|| {
            let mut source = FileSource::open(&file).expect("open");
            let mut engine = Engine::builder(EngineConfig::default())
                .builtin_detectors()
                .build()
                .expect("engine");
            black_box(engine.run(&mut source).expect("run"))
        })
    });
    // The same work on every core (`Engine::run_parallel`, what `analyze` does), and on
    // each thread count up to it: the scaling figures in docs/BENCHMARKS.md.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in 2..=cores.max(2) {
        g.bench_function(
            format!("engine_file_all_detectors_{threads}_threads"),
            |b| {
                b.iter(|| {
                    let mut source = FileSource::open(&file).expect("open");
                    let mut engine = Engine::builder(EngineConfig::default())
                        .builtin_detectors()
                        .build()
                        .expect("engine");
                    black_box(engine.run_parallel(&mut source, threads).expect("run"))
                })
            },
        );
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
