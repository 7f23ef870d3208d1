//! Threat intelligence: indicator sets loaded from feed files, matched in constant time.
//!
//! Indicators: IP addresses (exact), networks (CIDR), domains (a listed domain also
//! matches its subdomains), and JA3 (MD5 hex) and JA4 TLS client fingerprints. Lookup cost does
//! not grow with feed size: exact sets are hash sets; networks are one hash set per prefix
//! length present (at most 33 for IPv4, 129 for IPv6); a domain is checked label by label
//! up the tree (at most `dns::MAX_LABELS` lookups).
//!
//! Feed formats ([`FeedFormat`]): plain lists (one indicator per line, `#` comments), CIDR
//! lists, hosts files (`0.0.0.0 bad.example`), abuse.ch CSV exports (every field that is an
//! address, a URL's host, or a JA3 hash), and Spamhaus DROP (`1.2.3.0/24 ; SBL123`).

#[cfg(feature = "intel-update")]
pub mod update;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// How a feed file is written.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    /// Guess from the content.
    #[default]
    Auto,
    /// One IP, CIDR, domain or JA3 hash per line; `#` starts a comment.
    Plain,
    /// Hosts file: an address, then one or more names.
    Hosts,
    /// abuse.ch CSV (Feodo Tracker, URLhaus, SSLBL, ThreatFox exports).
    AbuseChCsv,
    /// Spamhaus DROP / EDROP: `CIDR ; SBL id`, `;` comments.
    SpamhausDrop,
}

/// Why a feed could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntelError {
    /// The feed file could not be read.
    #[error("threat-intel feed {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What a lookup found: the indicator as listed and its feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntelMatch {
    /// The listed indicator (`203.0.113.0/24`, `evil.example`, ...).
    pub indicator: String,
    /// Its feed.
    pub feed: Arc<str>,
}

/// Counts of what a feed added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FeedStats {
    /// Addresses.
    pub ips: usize,
    /// Networks.
    pub networks: usize,
    /// Domains.
    pub domains: usize,
    /// JA3 hashes.
    pub ja3: usize,
    /// JA4 fingerprints.
    pub ja4: usize,
    /// Lines that were not an indicator (comments excluded).
    pub skipped: usize,
}

/// Indicator sets.
///
/// ```
/// use netsentinel_core::intel::{FeedFormat, IntelSet};
/// let mut set = IntelSet::default();
/// set.add_feed("demo", "203.0.113.0/24\nevil.example\n# comment\n", FeedFormat::Plain);
/// assert!(set.match_ip("203.0.113.50".parse().unwrap()).is_some());
/// assert_eq!(set.match_domain("www.evil.example").unwrap().indicator, "evil.example");
/// assert!(set.match_domain("example").is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct IntelSet {
    ips: HashMap<IpAddr, Arc<str>>,
    /// prefix length -> network address -> feed, per family.
    v4_nets: BTreeMap<u8, HashMap<u32, Arc<str>>>,
    v6_nets: BTreeMap<u8, HashMap<u128, Arc<str>>>,
    domains: HashMap<String, Arc<str>>,
    ja3: HashMap<String, Arc<str>>,
    ja4: HashMap<String, Arc<str>>,
}

fn is_domain(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && s.rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// A JA4 fingerprint: `t13d1516h2_8daaf6152771_e5627efa2ab1`.
fn is_ja4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('_').collect();
    parts.len() == 3
        && parts[0].len() == 10
        && matches!(parts[0].as_bytes()[0], b't' | b'q' | b'd')
        && parts[1..]
            .iter()
            .all(|p| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_md5_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The host of a URL (`http://host:port/path` → `host`).
fn url_host(s: &str) -> Option<&str> {
    let rest = s.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    Some(match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    })
}

impl IntelSet {
    /// Indicators in total.
    pub fn len(&self) -> usize {
        self.ips.len()
            + self.v4_nets.values().map(HashMap::len).sum::<usize>()
            + self.v6_nets.values().map(HashMap::len).sum::<usize>()
            + self.domains.len()
            + self.ja3.len()
            + self.ja4.len()
    }

    /// Whether there is no indicator.
    pub fn is_empty(&self) -> bool {
        // Asked for every packet: no sum over the prefix tables (the prefix tables are
        // looked at only while everything else is empty).
        self.ips.is_empty()
            && self.domains.is_empty()
            && self.ja3.is_empty()
            && self.ja4.is_empty()
            && self.v4_nets.values().all(HashMap::is_empty)
            && self.v6_nets.values().all(HashMap::is_empty)
    }

    /// Adds one indicator of any kind; `false` if `token` is none.
    pub fn add_indicator(&mut self, token: &str, feed: &Arc<str>, stats: &mut FeedStats) -> bool {
        let t = token.trim().trim_matches('"');
        if let Ok(ip) = t.parse::<IpAddr>() {
            self.ips.insert(ip, Arc::clone(feed));
            stats.ips += 1;
        } else if let Ok(net) = t.parse::<IpNet>() {
            let net = net.trunc();
            match net {
                IpNet::V4(n) => {
                    self.v4_nets
                        .entry(n.prefix_len())
                        .or_default()
                        .insert(u32::from(n.network()), Arc::clone(feed));
                }
                IpNet::V6(n) => {
                    self.v6_nets
                        .entry(n.prefix_len())
                        .or_default()
                        .insert(u128::from(n.network()), Arc::clone(feed));
                }
            }
            stats.networks += 1;
        } else if is_ja4(t) {
            self.ja4.insert(t.to_ascii_lowercase(), Arc::clone(feed));
            stats.ja4 += 1;
        } else if is_md5_hex(t) {
            self.ja3.insert(t.to_ascii_lowercase(), Arc::clone(feed));
            stats.ja3 += 1;
        } else if let Some(host) = url_host(t) {
            return self.add_indicator(host, feed, stats);
        } else if is_domain(t) {
            self.domains.insert(
                t.trim_end_matches('.').to_ascii_lowercase(),
                Arc::clone(feed),
            );
            stats.domains += 1;
        } else {
            return false;
        }
        true
    }

    /// Parses a feed's text and adds its indicators under `name`.
    pub fn add_feed(&mut self, name: &str, text: &str, format: FeedFormat) -> FeedStats {
        let feed: Arc<str> = Arc::from(name);
        let mut stats = FeedStats::default();
        let format = match format {
            FeedFormat::Auto => guess_format(text),
            f => f,
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty()
                || line.starts_with('#')
                || line.starts_with(';')
                || line.starts_with("//")
            {
                continue;
            }
            let added = match format {
                FeedFormat::Plain | FeedFormat::Auto => {
                    let token = line.split(['#', ' ', '\t']).next().unwrap_or("");
                    self.add_indicator(token, &feed, &mut stats)
                }
                FeedFormat::SpamhausDrop => {
                    let token = line.split(';').next().unwrap_or("").trim();
                    self.add_indicator(token, &feed, &mut stats)
                }
                FeedFormat::Hosts => {
                    let mut words = line.split_whitespace();
                    let _address = words.next();
                    let mut any = false;
                    for name in words.take_while(|w| !w.starts_with('#')) {
                        if name != "localhost" && is_domain(name) {
                            any |= self.add_indicator(name, &feed, &mut stats);
                        }
                    }
                    any
                }
                FeedFormat::AbuseChCsv => {
                    let mut any = false;
                    for field in line.split(',') {
                        let f = field.trim().trim_matches('"');
                        // Only fields that are clearly indicators: free text is skipped.
                        let indicator = f.parse::<IpAddr>().is_ok()
                            || url_host(f).is_some()
                            || is_md5_hex(f)
                            || (is_domain(f) && !f.contains('_'));
                        if indicator {
                            any |= self.add_indicator(f, &feed, &mut stats);
                        }
                    }
                    any
                }
            };
            if !added {
                stats.skipped += 1;
            }
        }
        stats
    }

    /// Reads a feed file.
    ///
    /// # Errors
    /// [`IntelError::Io`] when the file cannot be read.
    pub fn add_feed_file(
        &mut self,
        name: &str,
        path: &Path,
        format: FeedFormat,
    ) -> Result<FeedStats, IntelError> {
        let bytes = std::fs::read(path).map_err(|source| IntelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(self.add_feed(name, &String::from_utf8_lossy(&bytes), format))
    }

    /// The listing that covers an address, exact first, then the most specific network.
    pub fn match_ip(&self, ip: IpAddr) -> Option<IntelMatch> {
        if let Some(feed) = self.ips.get(&ip) {
            return Some(IntelMatch {
                indicator: ip.to_string(),
                feed: Arc::clone(feed),
            });
        }
        match ip {
            IpAddr::V4(v4) => {
                let a = u32::from(v4);
                self.v4_nets.iter().rev().find_map(|(&len, nets)| {
                    let mask = if len == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(len))
                    };
                    nets.get(&(a & mask)).map(|feed| IntelMatch {
                        indicator: format!("{}/{len}", std::net::Ipv4Addr::from(a & mask)),
                        feed: Arc::clone(feed),
                    })
                })
            }
            IpAddr::V6(v6) => {
                let a = u128::from(v6);
                self.v6_nets.iter().rev().find_map(|(&len, nets)| {
                    let mask = if len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - u32::from(len))
                    };
                    nets.get(&(a & mask)).map(|feed| IntelMatch {
                        indicator: format!("{}/{len}", std::net::Ipv6Addr::from(a & mask)),
                        feed: Arc::clone(feed),
                    })
                })
            }
        }
    }

    /// The listing that covers a name: the name itself or a parent domain.
    pub fn match_domain(&self, name: &str) -> Option<IntelMatch> {
        if self.domains.is_empty() {
            return None;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut candidate = name.as_str();
        loop {
            if let Some(feed) = self.domains.get(candidate) {
                return Some(IntelMatch {
                    indicator: candidate.to_string(),
                    feed: Arc::clone(feed),
                });
            }
            candidate = candidate.split_once('.')?.1;
            if !candidate.contains('.') {
                return None; // a bare TLD is never a listing
            }
        }
    }

    /// The listing of a JA4 fingerprint.
    pub fn match_ja4(&self, fingerprint: &str) -> Option<IntelMatch> {
        self.ja4.get(fingerprint).map(|feed| IntelMatch {
            indicator: fingerprint.to_string(),
            feed: Arc::clone(feed),
        })
    }

    /// The listing of a JA3 hash.
    pub fn match_ja3(&self, hash: &str) -> Option<IntelMatch> {
        self.ja3.get(hash).map(|feed| IntelMatch {
            indicator: hash.to_string(),
            feed: Arc::clone(feed),
        })
    }
}

/// Guesses a feed's format from its first meaningful lines.
fn guess_format(text: &str) -> FeedFormat {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take(20)
        .collect();
    if lines.iter().any(|l| l.starts_with(';')) || lines.iter().any(|l| l.contains(" ; SBL")) {
        return FeedFormat::SpamhausDrop;
    }
    if lines
        .iter()
        .any(|l| l.contains("\",\"") || l.matches(',').count() >= 2)
    {
        return FeedFormat::AbuseChCsv;
    }
    let hosts_like = lines.iter().filter(|l| {
        let mut w = l.split_whitespace();
        matches!((w.next(), w.next()), (Some(a), Some(b)) if a.parse::<IpAddr>().is_ok() && is_domain(b))
    });
    if hosts_like.count() * 2 > lines.len() {
        return FeedFormat::Hosts;
    }
    FeedFormat::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format() {
        let mut set = IntelSet::default();
        let drop = set.add_feed(
            "drop",
            "; Spamhaus DROP\n1.10.16.0/20 ; SBL256894\n2.56.192.0/22 ; SBL459831\n",
            FeedFormat::Auto,
        );
        assert_eq!(drop.networks, 2);
        assert!(
            set.match_ip("1.10.20.1".parse().unwrap())
                .is_some_and(|m| m.indicator == "1.10.16.0/20")
        );
        let hosts = set.add_feed(
            "hosts",
            "# ads\n0.0.0.0 tracker.bad.test\n127.0.0.1 localhost\n0.0.0.0 a.test b.test\n",
            FeedFormat::Auto,
        );
        assert_eq!(hosts.domains, 3);
        assert!(set.match_domain("x.tracker.bad.test").is_some());
        let csv = "# Feodo\n\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\"2024-01-01 00:00:00\",\"198.51.100.7\",\"443\",\"online\",\"2024-01-02\",\"QakBot\"\n";
        let feodo = set.add_feed("feodo", csv, FeedFormat::Auto);
        assert_eq!(feodo.ips, 1);
        let urlhaus = set.add_feed(
            "urlhaus",
            "\"1\",\"2024-01-01\",\"http://malware.example.net:8080/x.exe\",\"online\"\n",
            FeedFormat::AbuseChCsv,
        );
        assert_eq!(urlhaus.domains, 1);
        assert!(set.match_domain("malware.example.net").is_some());
        let ja3 = set.add_feed(
            "sslbl",
            "# ja3\n\"e7d705a3286e19ea42f587b344ee6865\",\"2019-01-01\",\"Tofsee\"\n",
            FeedFormat::AbuseChCsv,
        );
        assert_eq!(ja3.ja3, 1);
        assert!(set.match_ja3("e7d705a3286e19ea42f587b344ee6865").is_some());
        let ja4 = set.add_feed(
            "ja4db",
            "t13d1516h2_8daaf6152771_e5627efa2ab1\n",
            FeedFormat::Plain,
        );
        assert_eq!(ja4.ja4, 1);
        assert!(
            set.match_ja4("t13d1516h2_8daaf6152771_e5627efa2ab1")
                .is_some()
        );
        let plain = set.add_feed(
            "plain",
            "203.0.113.50\n2001:db8::/32\nnot an indicator here\n",
            FeedFormat::Plain,
        );
        assert_eq!((plain.ips, plain.networks), (1, 1));
        assert!(set.match_ip("2001:db8::1".parse().unwrap()).is_some());
        assert!(set.match_ip("192.0.2.1".parse().unwrap()).is_none());
    }

    #[test]
    fn lookup_cost_does_not_depend_on_feed_size() {
        // 100,000 networks of one prefix length are still one hash lookup per length.
        let mut set = IntelSet::default();
        let text: String = (0..100_000u32)
            .map(|i| format!("{}/24\n", std::net::Ipv4Addr::from(i << 8)))
            .collect();
        set.add_feed("big", &text, FeedFormat::Plain);
        assert_eq!(set.v4_nets.len(), 1);
        assert!(set.match_ip("0.1.134.9".parse().unwrap()).is_some());
    }
}
