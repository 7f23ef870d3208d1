//! Statistics and machine learning: Welford's online mean and variance, per-host traffic
//! features, and the Isolation Forest. Written here on ndarray and rand, not taken from an
//! ML crate. The learning period and the scoring of live windows are in the `ml_anomaly`
//! detector ([`crate::detect::ml_anomaly`]).

mod baseline;
mod features;
mod iforest;
mod model;
mod welford;

pub use baseline::{BaselineBasis, Baselines, ColumnStats, Contribution, Deviation};
pub use features::{
    FEATURE_DIRECTION, FEATURE_FLOORS, FEATURE_LOG_SCALE, FEATURE_NAMES, FEATURE_VERSION, FEATURES,
    FeatureExtractor, FeatureVector, from_model_scale, model_scale,
};
pub use iforest::{ForestParams, IsolationForest, ModelError, average_path_length};
pub use model::{
    MODEL_FORMAT, MODEL_FORMAT_VERSION, ModelFileError, SavedModel, TrainParams, forest_input,
};
pub use welford::Welford;
