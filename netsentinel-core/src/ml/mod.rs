//! Statistics and machine learning: Welford's online mean and variance, and the Isolation
//! Forest. Written here on ndarray and rand, not taken from an ML crate.

mod iforest;
mod welford;

pub use iforest::{ForestParams, IsolationForest, ModelError, average_path_length};
pub use welford::Welford;
