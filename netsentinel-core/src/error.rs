//! The crate's error type.

use crate::alert::SinkError;
use crate::config::ConfigError;
use crate::source::SourceError;

/// Any error the engine returns. Each variant wraps the error of one module boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading packets failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Writing output failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
