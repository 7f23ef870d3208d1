//! Saved models: a versioned file holding a fitted forest and the feature layout it was
//! fitted on.
//!
//! The file is JSON with a format tag and version, written atomically (temporary file,
//! flush, rename), so a crash never leaves half a model. Loading refuses, with an error
//! that says which: a file that is not JSON or not whole (`Corrupt`), a file of another
//! kind (`Foreign`), and a model of another feature layout (`FeatureVersion`). A refused
//! file is left exactly as it was.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::features::{FEATURE_NAMES, FEATURE_VERSION};
use super::iforest::IsolationForest;

/// The format tag written in every model file.
pub const MODEL_FORMAT: &str = "netsentinel-model";
/// Version of the file layout.
pub const MODEL_FORMAT_VERSION: u32 = 1;

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
    /// Score above which a vector is anomalous (from the training data's contamination).
    pub threshold: f64,
    /// The forest.
    pub forest: IsolationForest,
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
    /// Wraps a forest fitted on the current feature layout.
    pub fn new(forest: IsolationForest, threshold: f64) -> Self {
        SavedModel {
            format: MODEL_FORMAT.into(),
            format_version: MODEL_FORMAT_VERSION,
            feature_version: FEATURE_VERSION,
            feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            threshold,
            forest,
        }
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
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&json).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
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
        if format != MODEL_FORMAT || version == 0 || version > MODEL_FORMAT_VERSION {
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
    use crate::ml::ForestParams;
    use ndarray::Array2;

    fn model() -> SavedModel {
        let data = Array2::from_shape_fn((300, 3), |(i, j)| ((i * 7 + j * 13) % 29) as f64);
        let forest = IsolationForest::fit(
            data.view(),
            &ForestParams {
                trees: 10,
                ..ForestParams::default()
            },
        )
        .unwrap();
        SavedModel::new(forest, 0.6)
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
