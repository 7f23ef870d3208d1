//! The baseline whitelist: what this network does normally, learned, reviewable, editable.
//!
//! During the learning period (`baseline.learning_secs` of packet time from the first packet)
//! the engine records every domain looked up, every external address talked to, every
//! service that answered (address, port, protocol) and every periodic pattern (a
//! `beaconing` alert raised while learning: source, destination, port). Nothing is built in.
//!
//! After the period, an alert matching what was learned is annotated, downgraded one
//! severity step, or suppressed (`baseline.policy`), with the reason in its verdict. The
//! whitelist only applies where "seen before" means something:
//!
//! | detector | matched against |
//! |---|---|
//! | `beaconing` | periodic patterns, then external addresses |
//! | `data_exfil` | external addresses |
//! | `suspicious_dns`, `dns_tunnel` | domains (the alert's domain, or a learned name under it) |
//! | `insecure_service` | services |
//!
//! Attacks (scans, floods, brute force, spoofing), threat-intelligence matches, credentials
//! and anomalies are never whitelisted: a scanner seen during learning is still a scanner.
//!
//! The whitelist is saved as pretty JSON (`whitelist.json` in the data directory) so a
//! person can read it and delete what should not be there; `netsentinel whitelist` lists
//! and edits it.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::detect::FastSet;
use crate::device::PortProtocol;
use crate::flow::Flow;
use crate::time::Timestamp;
use crate::traffic::LocalNetworks;

const FORMAT: &str = "netsentinel-whitelist";
const VERSION: u32 = 1;

/// What to do with an alert that matches the learned baseline.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WhitelistPolicy {
    /// Keep it as raised; only say in its verdict that it matched.
    Annotate,
    /// Lower its severity one step (high becomes medium), saying why.
    #[default]
    Downgrade,
    /// Do not write it (counted in the run summary as `whitelisted`).
    Suppress,
}

/// Settings of the baseline whitelist.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineConfig {
    /// Learn a whitelist and apply it. Default true.
    pub enabled: bool,
    /// Length of the learning period in seconds of packet time, from the first packet (or
    /// from the start of a whitelist file that has not finished learning). Default 7200.
    pub learning_secs: u64,
    /// What to do with alerts that match after learning. Default `downgrade`.
    pub policy: WhitelistPolicy,
    /// Most entries kept over all kinds; further ones are counted, not kept. Default 100000.
    pub max_entries: usize,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            enabled: true,
            learning_secs: 7200,
            policy: WhitelistPolicy::Downgrade,
            max_entries: 100_000,
        }
    }
}

/// A service that answered during learning.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LearnedService {
    /// The server's address.
    pub address: IpAddr,
    /// Its port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub protocol: PortProtocol,
}

impl std::fmt::Display for LearnedService {
    /// `ADDRESS:PORT/PROTOCOL` (`[v6]:PORT/PROTOCOL`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.address {
            IpAddr::V6(v6) => write!(f, "[{v6}]:{}/{}", self.port, self.protocol),
            v4 => write!(f, "{v4}:{}/{}", self.port, self.protocol),
        }
    }
}

/// A periodic connection pattern seen during learning.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeriodicPattern {
    /// The host that connects.
    pub src: IpAddr,
    /// Where to.
    pub dst: IpAddr,
    /// Destination port (0 when the alert had none).
    pub port: u16,
}

impl std::fmt::Display for PeriodicPattern {
    /// `SRC -> DST:PORT`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}:{}", self.src, self.dst, self.port)
    }
}

/// Why a whitelist file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WhitelistFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a whitelist (damaged, or another program's).
    #[error("{path}: not a NetSentinel whitelist: {message}")]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Written by a newer or older format.
    #[error("{path}: whitelist format version {found}, this build reads {VERSION}")]
    Version {
        /// The file.
        path: std::path::PathBuf,
        /// Its version.
        found: u32,
    },
}

/// What this network was seen doing during the learning period.
///
/// ```
/// use netsentinel_core::gateway::Whitelist;
/// let mut w = Whitelist::default();
/// w.domains.insert("updates.example.com".into());
/// assert!(w.knows_domain("example.com"));
/// assert!(!w.knows_domain("example.org"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Whitelist {
    /// `netsentinel-whitelist`.
    pub format: String,
    /// File format version.
    pub version: u32,
    /// Packet time learning started.
    pub learning_started: Option<Timestamp>,
    /// Packet time learning ended; none while learning.
    pub learning_ended: Option<Timestamp>,
    /// Names looked up in DNS.
    pub domains: BTreeSet<String>,
    /// External addresses local hosts talked to.
    pub external_addresses: BTreeSet<IpAddr>,
    /// Services that answered.
    pub services: BTreeSet<LearnedService>,
    /// Periodic patterns.
    pub periodic: BTreeSet<PeriodicPattern>,
    /// Entries not kept because `max_entries` was reached.
    #[serde(default)]
    pub not_kept: u64,
}

/// A whitelist's domains, external addresses and services again, in hash sets: a DNS
/// message asks about its name and an ended flow about its external peer and its service,
/// and a search of the sorted sets (up to `max_entries` of them) cost more than the rest
/// of learning put together. Made from the whitelist the run starts with and added to with
/// it, so a miss here is a miss there: a full whitelist is never searched (under a SYN
/// flood from random sources that search was 11 % of the time, under a DNS tunnel's
/// unique names 40 %).
#[derive(Debug, Default)]
pub(crate) struct KnownEntries {
    domains: FastSet<String>,
    external_addresses: FastSet<IpAddr>,
    services: FastSet<LearnedService>,
}

impl KnownEntries {
    /// The entries of `whitelist`.
    pub(crate) fn of(whitelist: &Whitelist) -> Self {
        KnownEntries {
            domains: whitelist.domains.iter().cloned().collect(),
            external_addresses: whitelist.external_addresses.iter().copied().collect(),
            services: whitelist.services.iter().cloned().collect(),
        }
    }
}

/// How an alert matched the whitelist, said so a person can check it.
pub(crate) type WhitelistMatch = String;

impl Default for Whitelist {
    fn default() -> Self {
        Whitelist::new()
    }
}

impl Whitelist {
    /// An empty whitelist, not yet learning.
    pub fn new() -> Self {
        Whitelist {
            format: FORMAT.into(),
            version: VERSION,
            learning_started: None,
            learning_ended: None,
            domains: BTreeSet::new(),
            external_addresses: BTreeSet::new(),
            services: BTreeSet::new(),
            periodic: BTreeSet::new(),
            not_kept: 0,
        }
    }

    /// Entries over all kinds.
    pub fn len(&self) -> usize {
        self.domains.len()
            + self.external_addresses.len()
            + self.services.len()
            + self.periodic.len()
    }

    /// Whether nothing was learned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry as (kind, text): `domain`, `external_address`, `service`
    /// (`ADDRESS:PORT/PROTOCOL`) and `periodic` (`SRC -> DST:PORT`), in that order.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::with_capacity(self.len());
        out.extend(self.domains.iter().map(|d| ("domain", d.clone())));
        out.extend(
            self.external_addresses
                .iter()
                .map(|a| ("external_address", a.to_string())),
        );
        out.extend(self.services.iter().map(|s| ("service", s.to_string())));
        out.extend(self.periodic.iter().map(|p| ("periodic", p.to_string())));
        out
    }

    /// Removes every entry whose text ([`entries`](Self::entries)) is `entry`; returns how
    /// many were removed.
    pub fn remove(&mut self, entry: &str) -> usize {
        let before = self.len();
        let entry = entry.trim();
        let matching: Vec<(&'static str, String)> = self
            .entries()
            .into_iter()
            .filter(|(_, text)| text == entry)
            .collect();
        for (kind, text) in matching {
            match kind {
                "domain" => {
                    self.domains.remove(&text);
                }
                "external_address" => {
                    self.external_addresses.retain(|a| a.to_string() != text);
                }
                "service" => self.services.retain(|s| s.to_string() != text),
                _ => self.periodic.retain(|p| p.to_string() != text),
            }
        }
        before - self.len()
    }

    /// Whether `domain` or a name under it was looked up during learning.
    pub fn knows_domain(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty() {
            return false;
        }
        let suffix = format!(".{domain}");
        self.domains
            .iter()
            .any(|d| *d == domain || d.ends_with(&suffix))
    }

    fn room(&mut self, max: usize) -> bool {
        if self.len() >= max {
            self.not_kept += 1;
            false
        } else {
            true
        }
    }

    /// Records a DNS query name. `known` is this whitelist's entries by hash.
    pub(crate) fn learn_domain(&mut self, name: &str, max: usize, known: &mut KnownEntries) {
        // Names come lowercase from the DNS parser: a copy only for one kept or to fix.
        let name = crate::decode::dns::without_trailing_dots(name);
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        if name.is_empty() || known.domains.contains(name.as_ref()) || !self.room(max) {
            return;
        }
        known.domains.insert(name.clone().into_owned());
        self.domains.insert(name.into_owned());
    }

    /// Records the external peer and the answering service of an ended flow. `known` is
    /// this whitelist's entries by hash.
    pub(crate) fn learn_flow(
        &mut self,
        flow: &Flow,
        local: &LocalNetworks,
        max: usize,
        known: &mut KnownEntries,
    ) {
        let (src, dst) = (flow.src_ip(), flow.dst_ip());
        for peer in [src, dst] {
            let external = super::Side::of(peer, local) == super::Side::External;
            let other_local = local.contains(if peer == src { dst } else { src });
            if external
                && other_local
                && !known.external_addresses.contains(&peer)
                && self.room(max)
            {
                self.external_addresses.insert(peer);
                known.external_addresses.insert(peer);
            }
        }
        // A service answered: a SYN-ACK for TCP (a reset is a closed port), any reply for UDP.
        let (protocol, answered) = match flow.key.protocol {
            6 => (PortProtocol::Tcp, flow.to_client.tcp_flags & 0x12 == 0x12),
            17 => (PortProtocol::Udp, flow.to_client.packets > 0),
            _ => return,
        };
        if !answered {
            return;
        }
        let service = LearnedService {
            address: dst,
            port: flow.dst_port,
            protocol,
        };
        if !known.services.contains(&service) && self.room(max) {
            self.services.insert(service.clone());
            known.services.insert(service);
        }
    }

    /// Records the pattern of a periodic-connection alert raised while learning.
    pub(crate) fn learn_alert(&mut self, alert: &Alert, max: usize) {
        if alert.detector != "beaconing" {
            return;
        }
        let (Some(src), Some(dst)) = (alert.src_ip, alert.dst_ip) else {
            return;
        };
        let p = PeriodicPattern {
            src,
            dst,
            port: alert.dst_port.unwrap_or(0),
        };
        if !self.periodic.contains(&p) && self.room(max) {
            self.periodic.insert(p);
        }
    }

    /// What in the whitelist `alert` matches, if anything (see the module table).
    pub(crate) fn matches(&self, alert: &Alert) -> Option<WhitelistMatch> {
        let external = |ip: Option<IpAddr>| {
            ip.filter(|ip| self.external_addresses.contains(ip))
                .map(|ip| format!("{ip} was talked to during the learning period"))
        };
        match alert.detector.as_str() {
            "beaconing" => {
                if let (Some(src), Some(dst)) = (alert.src_ip, alert.dst_ip) {
                    let p = PeriodicPattern {
                        src,
                        dst,
                        port: alert.dst_port.unwrap_or(0),
                    };
                    if self.periodic.contains(&p) {
                        return Some(format!(
                            "{src} -> {dst}:{} was periodic during the learning period",
                            p.port
                        ));
                    }
                }
                external(alert.dst_ip)
            }
            "data_exfil" => external(alert.dst_ip),
            "suspicious_dns" | "dns_tunnel" => {
                let domain = alert
                    .evidence
                    .get("domain")
                    .or_else(|| alert.evidence.get("name"))
                    .and_then(|v| v.as_str())?;
                self.knows_domain(domain)
                    .then(|| format!("{domain} was looked up during the learning period"))
            }
            "insecure_service" => {
                let (address, port) = (alert.dst_ip?, alert.dst_port?);
                let protocol = match alert.protocol {
                    Some(17) => PortProtocol::Udp,
                    _ => PortProtocol::Tcp,
                };
                let s = LearnedService {
                    address,
                    port,
                    protocol,
                };
                self.services.contains(&s).then(|| {
                    format!("{address}:{port}/{protocol} answered during the learning period")
                })
            }
            _ => None,
        }
    }

    /// Writes the whitelist atomically as pretty JSON.
    ///
    /// # Errors
    /// [`WhitelistFileError::Io`] when it cannot be written (the old file is kept).
    pub fn save(&self, path: &Path) -> Result<(), WhitelistFileError> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| WhitelistFileError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        crate::fsutil::write_atomic(path, &text, false).map_err(|source| WhitelistFileError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a whitelist file.
    ///
    /// # Errors
    /// [`WhitelistFileError`] naming the file and what is wrong; the file is not touched.
    pub fn load(path: &Path) -> Result<Whitelist, WhitelistFileError> {
        let text = std::fs::read(path).map_err(|source| WhitelistFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let corrupt = |message: String| WhitelistFileError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        let head: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if head.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(corrupt(format!("no \"format\": \"{FORMAT}\"")));
        }
        let found = head
            .get("version")
            .and_then(|v| v.as_u64())
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| corrupt("no version".into()))?;
        if found != VERSION {
            return Err(WhitelistFileError::Version {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_value(head).map_err(|e| corrupt(e.to_string()))
    }

    /// Loads `path`, or starts empty when there is none. A damaged or foreign file is moved
    /// aside to `PATH.corrupt-SECS` (never overwritten) and a warning saying so is returned
    /// with the empty whitelist.
    ///
    /// # Errors
    /// [`WhitelistFileError::Io`] when the file exists but cannot be read or moved aside.
    pub fn load_or_new(path: &Path) -> Result<(Whitelist, Option<String>), WhitelistFileError> {
        match Whitelist::load(path) {
            Ok(w) => Ok((w, None)),
            Err(WhitelistFileError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok((Whitelist::new(), None))
            }
            Err(e @ (WhitelistFileError::Corrupt { .. } | WhitelistFileError::Version { .. })) => {
                let aside =
                    crate::fsutil::move_aside(path).map_err(|source| WhitelistFileError::Io {
                        path: path.to_path_buf(),
                        source,
                    })?;
                let warning = format!(
                    "{e}; moved aside to {}, starting a new whitelist",
                    aside.display()
                );
                Ok((Whitelist::new(), Some(warning)))
            }
            Err(e) => Err(e),
        }
    }
}
