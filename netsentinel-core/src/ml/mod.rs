//! Statistics and machine learning: Welford's online mean and variance, per-host traffic
//! features, and the Isolation Forest. Written here on ndarray and rand, not taken from an
//! ML crate. (The learning period and the `ml_anomaly` detector are still to come.)

mod features;
mod iforest;
mod model;
mod welford;

pub use features::{FEATURE_NAMES, FEATURE_VERSION, FEATURES, FeatureExtractor, FeatureVector};
pub use iforest::{ForestParams, IsolationForest, ModelError, average_path_length};
pub use model::{MODEL_FORMAT, MODEL_FORMAT_VERSION, ModelFileError, SavedModel};
pub use welford::Welford;
