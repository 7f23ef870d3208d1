//! `threat_intel`: traffic that matches threat-intelligence feeds.
//!
//! **Detects** matches against the indicators of the configured feeds (see
//! [`crate::intel`] for formats and matching): the remote address of every new flow
//! (exact and CIDR), names asked in DNS queries, the HTTP `Host` header and the TLS server
//! name (SNI) of a client's first data (a listed domain matches its subdomains), and the
//! JA3 and JA4 fingerprints of TLS ClientHellos. One alert per (host, indicator), naming
//! the feed.
//!
//! **False positives**: stale feed entries, shared hosting and CDN addresses listed
//! because one tenant misbehaved; the evidence names the feed so it can be judged.
//!
//! Feeds are read from files at start; `netsentinel intel update` (feature
//! `intel-update`) downloads those with a `url`.
//!
//! **References**: abuse.ch (Feodo Tracker, URLhaus, SSLBL), Spamhaus DROP, JA3
//! (github.com/salesforce/ja3); MITRE ATT&CK T1071 (Application Layer Protocol) and T1573
//! (Encrypted Channel).

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::config::ConfigError;
use crate::decode::{PacketView, Transport, tls};
use crate::intel::{FeedFormat, IntelMatch, IntelSet};

/// One feed file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Name shown in alerts.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its format. Default `auto`.
    #[serde(default)]
    pub format: FeedFormat,
    /// Where `netsentinel intel update` downloads it from (https). Default none.
    #[serde(default)]
    pub url: Option<String>,
}

/// Settings of `threat_intel`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ThreatIntelConfig {
    /// Run the detector. Default true (it matches nothing until feeds are configured).
    pub enabled: bool,
    /// Feed files. Default none.
    pub feeds: Vec<FeedConfig>,
    /// Most (host, indicator) pairs reported. Default 65,536.
    pub max_reported: usize,
}

impl Default for ThreatIntelConfig {
    fn default() -> Self {
        ThreatIntelConfig {
            enabled: true,
            feeds: Vec::new(),
            max_reported: 65_536,
        }
    }
}

/// The `threat_intel` detector.
pub struct ThreatIntelDetector {
    set: IntelSet,
    max_reported: usize,
    reported: HashSet<(IpAddr, String)>,
    /// Matches not reported because `reported` was full.
    turned_away: u64,
}

/// The value of an HTTP request's `Host` header.
fn http_host(p: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(p.get(..p.len().min(4096))?).ok()?;
    text.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("host").then(|| v.trim())
        })
        .map(|h| h.rsplit_once(':').map_or(h, |(host, _)| host))
}

impl ThreatIntelDetector {
    /// A detector with `config`'s feeds loaded.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the feed file that cannot be read.
    pub fn new(config: &ThreatIntelConfig) -> Result<Self, ConfigError> {
        let mut set = IntelSet::default();
        for feed in &config.feeds {
            set.add_feed_file(&feed.name, &feed.path, feed.format)
                .map_err(|e| ConfigError::Invalid {
                    key: "detectors.threat_intel.feeds".into(),
                    reason: e.to_string(),
                })?;
        }
        Ok(Self::with_set(set, config.max_reported))
    }

    /// A detector over an indicator set built elsewhere.
    pub fn with_set(set: IntelSet, max_reported: usize) -> Self {
        ThreatIntelDetector {
            set,
            max_reported,
            reported: HashSet::new(),
            turned_away: 0,
        }
    }

    fn report(
        &mut self,
        cx: &mut Context<'_>,
        host: IpAddr,
        remote: IpAddr,
        port: Option<u16>,
        what: &str,
        m: IntelMatch,
    ) {
        let key = (host, m.indicator.clone());
        if self.reported.contains(&key) {
            return;
        }
        if self.reported.len() >= self.max_reported {
            self.turned_away += 1;
            return;
        }
        self.reported.insert(key);
        let mitre = if what.starts_with("ja") {
            "T1573"
        } else {
            "T1071"
        };
        let mut alert = Alert::new(
            cx.now(),
            "threat_intel",
            Severity::High,
            "threat_intel",
            format!(
                "{host}: {what} matches {} from feed {}",
                m.indicator, m.feed
            ),
        )
        .with_mitre(mitre)
        .with_endpoints(Some(host), None, Some(remote), port)
        .with_evidence("indicator", m.indicator)
        .with_evidence("feed", m.feed.to_string())
        .with_evidence("matched_on", what.to_string());
        if let Some(flow) = cx.flow() {
            alert.flow_id = Some(flow.id);
            alert.community_id = Some(flow.community_id());
            alert.protocol = Some(flow.key.protocol);
        }
        cx.emit(alert);
    }
}

impl Detector for ThreatIntelDetector {
    fn id(&self) -> &'static str {
        "threat_intel"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![TableUsage::new(
            "reported",
            self.reported.len(),
            self.max_reported,
            self.turned_away,
        )]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::UDP | Interest::ICMP | Interest::OTHER_IP
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        if self.set.is_empty() {
            return;
        }
        let (Some(ip), Some(flow)) = (pkt.ip(), cx.flow()) else {
            return;
        };
        let (client, server, port) = (flow.src_ip(), flow.dst_ip(), flow.dst_port);
        if flow.packets() == 1 {
            for (host, remote) in [(client, server), (server, client)] {
                if let Some(m) = self.set.match_ip(remote) {
                    self.report(cx, host, remote, Some(port), "address", m);
                }
            }
        }
        // Names: DNS queries, then the client's first data (HTTP Host, TLS ClientHello).
        if let Transport::Udp { dst_port: 53, .. } = pkt.transport
            && let Some(msg) = cx.dns(pkt.payload)
            && !msg.is_response
            && let Some(m) = self.set.match_domain(&msg.qname)
        {
            self.report(cx, ip.src, ip.dst, Some(53), "dns query", m);
            return;
        }
        let first_data = cx.from_initiator()
            && !pkt.payload.is_empty()
            && flow.to_server.payload_bytes == pkt.payload.len() as u64;
        if !first_data || pkt.tcp().is_none() {
            return;
        }
        if let Some(hello) = tls::parse_client_hello(pkt.payload) {
            if let Some(m) = hello
                .server_name
                .as_deref()
                .and_then(|n| self.set.match_domain(n))
            {
                self.report(cx, client, server, Some(port), "tls server name", m);
            }
            if let Some(m) = self.set.match_ja3(&hello.ja3_hash) {
                self.report(cx, client, server, Some(port), "ja3", m);
            }
            if let Some(m) = self.set.match_ja4(&hello.ja4) {
                self.report(cx, client, server, Some(port), "ja4", m);
            }
        } else if let Some(m) = http_host(pkt.payload).and_then(|h| self.set.match_domain(h)) {
            self.report(cx, client, server, Some(port), "http host", m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header() {
        assert_eq!(
            http_host(b"GET / HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n"),
            Some("evil.example")
        );
        assert_eq!(
            http_host(b"GET / HTTP/1.1\r\nhost:a.b\r\n\r\n"),
            Some("a.b")
        );
        assert_eq!(
            http_host(b"GET / HTTP/1.1\r\n\r\nHost: body.example\r\n"),
            None
        );
    }
}
