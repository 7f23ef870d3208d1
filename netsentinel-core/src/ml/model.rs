//! Saved models: a versioned file holding a fitted forest, the baselines learned beside it
//! and the feature layout and window length they were learned with; and the training that
//! makes one from windows taken as normal.
//!
//! The file is JSON with a format tag and version, written atomically (temporary file,
//! flush, rename), so a crash never leaves half a model. Loading refuses, with an error
//! that says which: a file that is not JSON or not whole (`Corrupt`), a file of another
//! kind (`Foreign`), and a model of another feature layout (`FeatureVersion`). A refused
//! file is left exactly as it was.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::baseline::Baselines;
use super::features::{FEATURE_NAMES, FEATURE_VERSION, FEATURES, FeatureVector, model_scale};
use super::iforest::{ForestParams, IsolationForest, ModelError};

/// The format tag written in every model file.
pub const MODEL_FORMAT: &str = "netsentinel-model";
/// Version of the file layout.
pub const MODEL_FORMAT_VERSION: u32 = 2;

/// A model and what it needs to be used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// [`MODEL_FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// [`FEATURE_VERSION`] of the vectors it was fitted on.
    pub feature_version: u32,
    /// The feature names, in column order.
    pub feature_names: Vec<String>,
    /// Length of the feature windows, in seconds: rates and distinct counts mean
    /// something only for the window length they were learned with.
    pub window_secs: u64,
    /// Score at or above which a vector is anomalous: the training scores' `1 -
    /// contamination` quantile, and never below 0.5 (Liu et al.: scores well under 0.5 are
    /// normal).
    pub threshold: f64,
    /// Windows the forest was fitted on.
    pub training_windows: u64,
    /// The forest, fitted on [`forest_input`] of each window.
    pub forest: IsolationForest,
    /// Per-host, per-hour and network baselines of the same windows.
    pub baselines: Baselines,
}

/// The vector the forest is fitted on and scores: the features in the model's scale
/// ([`model_scale`]: counts and rates as `ln(1 + x)`).
pub fn forest_input(values: &[f64; FEATURES]) -> [f64; FEATURES] {
    model_scale(values)
}

/// How to train a model from windows.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainParams {
    /// Length of the windows given, in seconds.
    pub window_secs: u64,
    /// The forest's settings.
    pub forest: ForestParams,
    /// Share of the training windows expected to be anomalous (0 to 0.5); sets the
    /// threshold.
    pub contamination: f64,
    /// Most hosts with a baseline of their own.
    pub max_hosts: usize,
}

/// Why a model file could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON, cut short, or missing fields.
    #[error("{path}: corrupt model file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JSON file of another kind or a newer layout.
    #[error("{path}: not a NetSentinel model (format {found:?}, version {version})")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The format tag found.
        found: String,
        /// The layout version found.
        version: u32,
    },
    /// Fitted on another feature layout.
    #[error(
        "{path}: model uses feature version {found}, this build extracts version {expected}: retrain it"
    )]
    FeatureVersion {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version of this build.
        expected: u32,
    },
}

impl SavedModel {
    /// Fits a forest and baselines on windows taken as normal traffic.
    ///
    /// # Errors
    /// [`ModelError::InsufficientData`] with fewer than two windows;
    /// [`ModelError::InvalidParams`] for bad forest settings or contamination.
    pub fn train(windows: &[FeatureVector], params: &TrainParams) -> Result<Self, ModelError> {
        let rows: Vec<f64> = windows
            .iter()
            .flat_map(|v| forest_input(&v.values))
            .collect();
        let data =
            ndarray::Array2::from_shape_vec((windows.len(), FEATURES), rows).map_err(|e| {
                ModelError::InvalidParams {
                    reason: e.to_string(),
                }
            })?;
        let forest = IsolationForest::fit(data.view(), &params.forest)?;
        let threshold = forest
            .threshold_for_contamination(data.view(), params.contamination)?
            .max(0.5);
        let mut baselines = Baselines::new(params.max_hosts);
        for v in windows {
            baselines.observe(v);
        }
        Ok(SavedModel {
            format: MODEL_FORMAT.into(),
            format_version: MODEL_FORMAT_VERSION,
            feature_version: FEATURE_VERSION,
            feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            window_secs: params.window_secs,
            threshold,
            training_windows: windows.len() as u64,
            forest,
            baselines,
        })
    }

    /// The forest's anomaly score of one window.
    pub fn score(&self, v: &FeatureVector) -> f64 {
        let input = forest_input(&v.values);
        // The forest was fitted on FEATURES columns, so the dimension always matches.
        self.forest
            .score(ndarray::ArrayView1::from(&input[..]))
            .unwrap_or(0.0)
    }

    /// Writes the model atomically: a temporary file beside `path`, flushed, then renamed.
    ///
    /// # Errors
    /// [`ModelFileError::Io`]; the previous file at `path`, if any, is untouched then.
    pub fn save(&self, path: &Path) -> Result<(), ModelFileError> {
        let io = |source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec(self).map_err(|e| io(std::io::Error::other(e)))?;
        crate::fsutil::write_atomic(path, &json, false).map_err(io)
    }

    /// Reads and checks a model file.
    ///
    /// # Errors
    /// [`ModelFileError::Io`], [`ModelFileError::Corrupt`], [`ModelFileError::Foreign`] or
    /// [`ModelFileError::FeatureVersion`]; the file is never modified.
    pub fn load(path: &Path) -> Result<Self, ModelFileError> {
        let bytes = std::fs::read(path).map_err(|source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let corrupt = |reason: String| ModelFileError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let format = value
            .get("format")
            .and_then(|f| f.as_str())
            .unwrap_or("")
            .to_string();
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        if format != MODEL_FORMAT || version != MODEL_FORMAT_VERSION {
            return Err(ModelFileError::Foreign {
                path: path.to_path_buf(),
                found: format,
                version,
            });
        }
        let model: SavedModel =
            serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        if model.feature_version != FEATURE_VERSION {
            return Err(ModelFileError::FeatureVersion {
                path: path.to_path_buf(),
                found: model.feature_version,
                expected: FEATURE_VERSION,
            });
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(n: usize) -> Vec<FeatureVector> {
        (0..n)
            .map(|i| {
                // Distinct rows from a fixed LCG: values 0 to 100 in every column.
                let mut state = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let mut values = [0.0; FEATURES];
                for v in values.iter_mut() {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    *v = (state >> 40) as f64 / (1u64 << 24) as f64 * 100.0;
                }
                FeatureVector {
                    host: format!("10.0.0.{}", i % 5).parse().unwrap(),
                    window_start: crate::Timestamp::from_micros(i as i64 * 10_000_000),
                    packets: 100,
                    values,
                }
            })
            .collect()
    }

    fn params() -> TrainParams {
        TrainParams {
            window_secs: 10,
            forest: ForestParams {
                trees: 10,
                ..ForestParams::default()
            },
            contamination: 0.1,
            max_hosts: 100,
        }
    }

    fn model() -> SavedModel {
        SavedModel::train(&windows(300), &params()).unwrap()
    }

    #[test]
    fn training_sets_threshold_and_baselines() {
        let m = model();
        assert_eq!(m.training_windows, 300);
        assert_eq!(m.baselines.windows(), 300);
        assert_eq!(m.baselines.hosts(), 5);
        assert!(m.threshold >= 0.5 && m.threshold < 1.0, "{}", m.threshold);
        let typical = &windows(300)[17];
        let mut odd = typical.clone();
        odd.values = [1e9; FEATURES];
        assert!(
            m.score(&odd) > m.threshold,
            "{} {}",
            m.score(&odd),
            m.threshold
        );
        assert!(m.score(typical) < m.score(&odd));
        assert!(matches!(
            SavedModel::train(&windows(1), &params()),
            Err(ModelError::InsufficientData { .. })
        ));
    }

    #[test]
    fn round_trip_and_refusals_leave_files_alone() {
        let dir = std::env::temp_dir().join(format!("ns-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.json");
        let m = model();
        m.save(&path).unwrap();
        assert_eq!(SavedModel::load(&path).unwrap(), m);

        let cut = dir.join("cut.json");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(
            SavedModel::load(&cut),
            Err(ModelFileError::Corrupt { .. })
        ));
        assert_eq!(std::fs::read(&cut).unwrap(), &bytes[..bytes.len() / 2]);

        let foreign = dir.join("foreign.json");
        std::fs::write(
            &foreign,
            r#"{"format": "something-else", "format_version": 1}"#,
        )
        .unwrap();
        let err = SavedModel::load(&foreign).unwrap_err();
        assert!(matches!(err, ModelFileError::Foreign { .. }), "{err}");

        let mut old = m.clone();
        old.feature_version = FEATURE_VERSION + 1;
        let other = dir.join("other-features.json");
        old.save(&other).unwrap();
        let err = SavedModel::load(&other).unwrap_err();
        assert!(err.to_string().contains("retrain"), "{err}");

        // Saving into a directory that does not exist fails and creates nothing.
        let missing = dir.join("no/such/dir/model.json");
        assert!(matches!(m.save(&missing), Err(ModelFileError::Io { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
