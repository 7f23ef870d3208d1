//! Isolation Forest fit and scoring (see docs/BENCHMARKS.md and docs/ML.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use netsentinel_benches::Lcg;
use netsentinel_core::ml::{ForestParams, IsolationForest};

fn data(rows: usize, cols: usize) -> Array2<f64> {
    let mut rng = Lcg::new(9);
    Array2::from_shape_fn((rows, cols), |_| {
        f64::from(rng.next_u32()) / f64::from(u32::MAX)
    })
}

fn iforest(c: &mut Criterion) {
    let rows = 100_000;
    let x = data(rows, 20);
    let mut g = c.benchmark_group("iforest");
    g.sample_size(10);
    for threads in [1, 0] {
        let params = ForestParams {
            threads,
            ..ForestParams::default()
        };
        let label = if threads == 1 {
            "1_thread"
        } else {
            "all_cores"
        };
        g.throughput(Throughput::Elements(100));
        g.bench_function(format!("fit_100_trees_{label}"), |b| {
            b.iter(|| black_box(IsolationForest::fit(x.view(), &params).expect("fit")))
        });
        let forest = IsolationForest::fit(x.view(), &params).expect("fit");
        g.throughput(Throughput::Elements(rows as u64));
        g.bench_function(format!("score_100k_rows_{label}"), |b| {
            b.iter(|| black_box(forest.score_batch(x.view()).expect("score")))
        });
    }
    g.finish();
}

criterion_group!(benches, iforest);
criterion_main!(benches);
