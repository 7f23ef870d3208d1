//! Downloading feeds (feature `intel-update`): HTTPS, with conditional requests so an
//! unchanged feed is not downloaded again, and atomic replacement so a failed download
//! never damages the feed already on disk.
//!
//! Each feed with a `url` is fetched to its `path`; the validators the server sent
//! (`ETag`, `Last-Modified`) are kept beside it in `PATH.meta.json` and sent back next time
//! (`If-None-Match`, `If-Modified-Since`): a `304 Not Modified` leaves the file alone.
//! Plain `http://` is refused except to loopback addresses (tests, local mirrors): a feed
//! fetched in clear could be altered on the way.

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::detect::threat_intel::FeedConfig;

/// Largest feed accepted, in bytes (Spamhaus DROP is tens of KB, URLhaus dumps tens of MB).
pub const MAX_FEED_BYTES: u64 = 256 << 20;

/// What happened to one feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Downloaded and replaced, this many bytes.
    Updated(u64),
    /// The server said it has not changed.
    NotModified,
    /// The feed has no `url`: nothing to do.
    NoUrl,
}

/// Why a feed could not be updated. The file on disk is unchanged in every case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The URL is not https (or http to loopback).
    #[error("feed {feed}: refusing {url}: only https:// (or http:// to a loopback address)")]
    InsecureUrl {
        /// The feed.
        feed: String,
        /// Its URL.
        url: String,
    },
    /// The request failed (network, TLS, HTTP status).
    #[error("feed {feed}: {message}")]
    Fetch {
        /// The feed.
        feed: String,
        /// What failed.
        message: String,
    },
    /// The feed is larger than [`MAX_FEED_BYTES`].
    #[error("feed {feed}: larger than {MAX_FEED_BYTES} bytes")]
    TooLarge {
        /// The feed.
        feed: String,
    },
    /// Writing the file failed.
    #[error("feed {feed}: writing {path}: {source}")]
    Write {
        /// The feed.
        feed: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Validators kept from the last download.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Meta {
    etag: Option<String>,
    last_modified: Option<String>,
}

fn meta_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".meta.json");
    PathBuf::from(p)
}

fn allowed(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Fetches one feed if it has a URL.
///
/// # Errors
/// An [`UpdateError`]; the feed file and its validators are left as they were.
pub fn update_feed(feed: &FeedConfig) -> Result<UpdateOutcome, UpdateError> {
    let Some(url) = &feed.url else {
        return Ok(UpdateOutcome::NoUrl);
    };
    if !allowed(url) {
        return Err(UpdateError::InsecureUrl {
            feed: feed.name.clone(),
            url: url.clone(),
        });
    }
    let fetch_err = |message: String| UpdateError::Fetch {
        feed: feed.name.clone(),
        message,
    };
    let meta_file = meta_path(&feed.path);
    // Validators only count if the feed file they describe is still there.
    let meta: Meta = if feed.path.exists() {
        std::fs::read(&meta_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    } else {
        Meta::default()
    };
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let mut req = agent.get(url).set(
        "User-Agent",
        concat!("netsentinel/", env!("CARGO_PKG_VERSION")),
    );
    if let Some(etag) = &meta.etag {
        req = req.set("If-None-Match", etag);
    }
    if let Some(lm) = &meta.last_modified {
        req = req.set("If-Modified-Since", lm);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(fetch_err(format!("HTTP {code} {}", r.status_text())));
        }
        Err(e) => return Err(fetch_err(e.to_string())),
    };
    if resp.status() == 304 {
        return Ok(UpdateOutcome::NotModified);
    }
    let new_meta = Meta {
        etag: resp.header("ETag").map(str::to_string),
        last_modified: resp.header("Last-Modified").map(str::to_string),
    };
    let mut body = Vec::new();
    resp.into_reader()
        .take(MAX_FEED_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| fetch_err(e.to_string()))?;
    if body.len() as u64 > MAX_FEED_BYTES {
        return Err(UpdateError::TooLarge {
            feed: feed.name.clone(),
        });
    }
    let write_err = |path: &Path, source| UpdateError::Write {
        feed: feed.name.clone(),
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = feed.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    }
    crate::fsutil::write_atomic(&feed.path, &body, false).map_err(|e| write_err(&feed.path, e))?;
    let meta_json = serde_json::to_vec_pretty(&new_meta).unwrap_or_default();
    crate::fsutil::write_atomic(&meta_file, &meta_json, false)
        .map_err(|e| write_err(&meta_file, e))?;
    Ok(UpdateOutcome::Updated(body.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(allowed(
            "https://feodotracker.abuse.ch/downloads/ipblocklist.txt"
        ));
        assert!(allowed("http://127.0.0.1:8080/feed.txt"));
        assert!(allowed("http://localhost/feed.txt"));
        assert!(allowed("http://[::1]:9/feed"));
        assert!(!allowed("http://example.com/feed.txt"));
        assert!(!allowed("ftp://example.com/feed.txt"));
    }
}
