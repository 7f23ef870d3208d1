//! TCP reassembly throughput (see docs/BENCHMARKS.md): one 16 MiB stream cut into
//! 1,448-byte segments, delivered in order, and with every 8 segments sent in reverse
//! order (each group waits in the buffer until its first segment arrives), plus a copy of
//! every tenth segment retransmitted.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netsentinel_benches::Lcg;
use netsentinel_core::reassembly::{ReassemblyBudget, ReassemblyLimits, StreamEvent, TcpStream};

const MSS: usize = 1448;

fn stream(len: usize) -> Vec<u8> {
    let mut rng = Lcg::new(3);
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

/// (offset, length) of every segment, in sending order.
fn order(len: usize, reorder: bool) -> Vec<(usize, usize)> {
    let segs: Vec<(usize, usize)> = (0..len)
        .step_by(MSS)
        .map(|o| (o, MSS.min(len - o)))
        .collect();
    if !reorder {
        return segs;
    }
    let mut out = Vec::with_capacity(segs.len() * 11 / 10);
    for (g, group) in segs.chunks(8).enumerate() {
        out.extend(group.iter().rev().copied());
        if g % 10 == 0 {
            out.push(group[0]);
        }
    }
    out
}

fn reassembly(c: &mut Criterion) {
    let len = 16 << 20;
    let data = stream(len);
    let mut g = c.benchmark_group("reassembly");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(len as u64));
    for (name, reorder) in [("in_order_16MiB", false), ("reordered_16MiB", true)] {
        let segments = order(len, reorder);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut budget = ReassemblyBudget::default();
                let mut s = TcpStream::new(ReassemblyLimits::default());
                s.syn(999);
                let mut delivered = 0usize;
                let mut sink = |e: StreamEvent<'_>| {
                    if let StreamEvent::Data(d) = e {
                        delivered += d.len();
                    }
                };
                for &(o, l) in &segments {
                    s.segment(
                        1000u32.wrapping_add(o as u32),
                        &data[o..o + l],
                        &mut budget,
                        &mut sink,
                    );
                }
                s.finish(&mut budget, &mut sink);
                black_box(delivered)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, reassembly);
criterion_main!(benches);
