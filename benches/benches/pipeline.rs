//! Throughput of decoding, decoding + flow table, and the whole engine replaying a pcap
//! file from the page cache, in packets per second (see docs/BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netsentinel_core::{
    Engine, EngineConfig, FileSource, FlowConfig, FlowTable, LinkType, RawPacket, decode,
};

const PACKETS: usize = 1_000_000;

/// Frames packed back to back in one buffer, as a capture file's read buffer holds them
/// (one allocation per frame would measure the allocator's scatter, not the decoder).
fn pack(
    frames: &[(netsentinel_core::Timestamp, Vec<u8>)],
) -> (Vec<u8>, Vec<(netsentinel_core::Timestamp, usize, usize)>) {
    let mut buf = Vec::new();
    let mut index = Vec::with_capacity(frames.len());
    for (ts, d) in frames {
        index.push((*ts, buf.len(), d.len()));
        buf.extend_from_slice(d);
    }
    (buf, index)
}

fn raws<'a>(
    buf: &'a [u8],
    index: &[(netsentinel_core::Timestamp, usize, usize)],
) -> Vec<RawPacket<'a>> {
    index
        .iter()
        .map(|&(ts, start, len)| RawPacket {
            ts,
            data: &buf[start..start + len],
            orig_len: len as u32,
            link: LinkType::Ethernet,
        })
        .collect()
}

fn pipeline(c: &mut Criterion) {
    let frames = netsentinel_benches::office_mix(PACKETS, 20_000);
    let (buf, index) = pack(&frames);
    let raw = raws(&buf, &index);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(PACKETS as u64));
    g.sample_size(10);

    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for p in &raw {
                n += decode(p).payload.len();
            }
            black_box(n)
        })
    });

    g.bench_function("decode_flows", |b| {
        b.iter(|| {
            let mut table = FlowTable::new(FlowConfig::default());
            let mut ended = Vec::new();
            let mut next_expiry = raw[0].ts.add_micros(1_000_000);
            for p in &raw {
                let view = decode(p);
                black_box(table.update(&view));
                // Expire once a second of packet time, as the engine's tick does.
                if view.ts >= next_expiry {
                    table.expire(view.ts);
                    table.take_ended(&mut ended);
                    ended.clear();
                    next_expiry = view.ts.add_micros(1_000_000);
                }
            }
            table.finish();
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
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
