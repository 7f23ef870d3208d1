//! Statistics and machine learning. So far: Welford's online mean and variance.

mod welford;

pub use welford::Welford;
