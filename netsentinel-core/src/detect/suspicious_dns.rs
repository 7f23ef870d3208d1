//! `suspicious_dns`: DNS behaviour of infected hosts.
//!
//! **Detects**
//! - NXDOMAIN bursts: a client receiving at least `nxdomain_min` (default 20) NXDOMAIN
//!   answers for distinct names within `window_secs` (default 60 s of packet time), as
//!   domain-generation-algorithm (DGA) malware does while it looks for its server. High
//!   severity when at least half the names look generated (long, high-entropy, few vowels
//!   or mixed digits), medium otherwise;
//! - fast flux: one name answered with at least `flux_min_addresses` (default 10) distinct
//!   addresses within the window, all with TTLs of at most `flux_max_ttl` (default 300 s);
//! - names under abused top-level domains (`abused_tlds`, default: the TLDs Spamhaus lists
//!   among the most abused), low severity, once per (client, domain).
//!
//! **False positives**: mistyped names in a script loop (NXDOMAIN burst), round-robin
//! CDNs with short TTLs (fast flux: raise `flux_min_addresses`), legitimate sites on cheap
//! TLDs.
//!
//! **References**: RFC 1035; Antonakakis et al., "From Throw-Away Traffic to Bots: Detecting
//! the Rise of DGA-Based Malware" (USENIX Security 2012); Spamhaus TLD reputation; MITRE
//! ATT&CK T1568.002 (Dynamic Resolution: Domain Generation Algorithms) and T1568.001 (Fast
//! Flux DNS).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::dns_tunnel::entropy;
use super::{Context, Detector, FastMap, FastSet, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::dns;
use crate::decode::{PacketView, Transport};
use crate::time::Timestamp;

/// Settings of `suspicious_dns`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SuspiciousDnsConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// NXDOMAIN answers for distinct names within the window that fire. Default 20.
    pub nxdomain_min: usize,
    /// Distinct addresses of one name within the window that make fast flux. Default 10.
    pub flux_min_addresses: usize,
    /// Highest TTL (seconds) of fast-flux answers. Default 300.
    pub flux_max_ttl: u32,
    /// Window, in seconds of packet time. Default 60.
    pub window_secs: u64,
    /// Top-level domains reported when queried (lowercase, without dot).
    pub abused_tlds: Vec<String>,
    /// Most clients and names tracked. Default 65,536.
    pub max_keys: usize,
}

impl Default for SuspiciousDnsConfig {
    fn default() -> Self {
        SuspiciousDnsConfig {
            enabled: true,
            nxdomain_min: 20,
            flux_min_addresses: 10,
            flux_max_ttl: 300,
            window_secs: 60,
            // Spamhaus "most abused TLDs" lists of recent years.
            abused_tlds: [
                "tk", "ml", "ga", "cf", "gq", "top", "xyz", "work", "click", "zip", "mov", "rest",
                "cam", "bar",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            max_keys: 65_536,
        }
    }
}

/// Whether a domain label looks machine-generated: long, high entropy, and few vowels or
/// digits mixed into letters.
pub fn looks_generated(label: &str) -> bool {
    let n = label.len();
    if n < 10 {
        return false;
    }
    let vowels = label.bytes().filter(|b| b"aeiou".contains(b)).count();
    let digits = label.bytes().filter(u8::is_ascii_digit).count();
    let vowel_ratio = vowels as f64 / n as f64;
    let digit_ratio = digits as f64 / n as f64;
    entropy(label) >= 3.2 && (vowel_ratio <= 0.3 || (0.2..0.9).contains(&digit_ratio))
}

#[derive(Clone, Debug)]
struct NxBurst {
    first: Timestamp,
    names: FastSet<String>,
    generated: usize,
    alerted: bool,
}

#[derive(Clone, Debug)]
struct Flux {
    first: Timestamp,
    addresses: FastSet<IpAddr>,
    max_ttl: u32,
    alerted: bool,
}

/// The `suspicious_dns` detector.
pub struct SuspiciousDnsDetector {
    cfg: SuspiciousDnsConfig,
    tlds: FastSet<String>,
    nx: FastMap<IpAddr, NxBurst>,
    flux: FastMap<String, Flux>,
    tld_reported: FastSet<(IpAddr, String)>,
    /// Keys turned away by full tables: NXDOMAIN clients, flux names, TLD reports.
    turned_away: [u64; 3],
}

impl SuspiciousDnsDetector {
    /// A detector with `config`.
    pub fn new(config: &SuspiciousDnsConfig) -> Self {
        SuspiciousDnsDetector {
            tlds: config
                .abused_tlds
                .iter()
                .map(|t| t.trim_start_matches('.').to_ascii_lowercase())
                .collect(),
            cfg: config.clone(),
            nx: FastMap::default(),
            flux: FastMap::default(),
            tld_reported: FastSet::default(),
            turned_away: [0; 3],
        }
    }

    fn window(&self) -> i64 {
        i64::try_from(self.cfg.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
    }

    /// The registered domain (last two labels) and the label before the TLD.
    fn split(name: &str) -> Option<(&str, &str, &str)> {
        let last_dot = dns::last_dot(name)?;
        let tld = &name[last_dot + 1..];
        let rest = &name[..last_dot];
        let (sld, base_start) = match dns::last_dot(rest) {
            Some(d) => (&rest[d + 1..], d + 1),
            None => (rest, 0),
        };
        Some((&name[base_start..], sld, tld))
    }

    fn on_query(
        &mut self,
        client: IpAddr,
        server: IpAddr,
        msg: &dns::DnsMessage,
        now: Timestamp,
        cx: &mut Context<'_>,
    ) {
        let Some((domain, _, tld)) = Self::split(&msg.qname) else {
            return;
        };
        if !self.tlds.contains(tld) {
            return;
        }
        if self.tld_reported.len() >= self.cfg.max_keys {
            self.turned_away[2] += 1;
            return;
        }
        if self.tld_reported.insert((client, domain.to_string())) {
            cx.emit(
                Alert::new(
                    now,
                    "suspicious_dns",
                    Severity::Low,
                    "suspicious_dns",
                    format!("{client} looked up {domain} under the often-abused .{tld} TLD"),
                )
                .with_mitre("T1071.004")
                .with_endpoints(Some(client), None, Some(server), Some(53))
                .with_distinct("abused_tld")
                .with_evidence("kind", "abused_tld")
                .with_evidence("domain", domain.to_string()),
            );
        }
    }

    fn on_response(
        &mut self,
        client: IpAddr,
        server: IpAddr,
        msg: &dns::DnsMessage,
        now: Timestamp,
        cx: &mut Context<'_>,
    ) {
        let window = self.window();
        const NXDOMAIN: u8 = 3;
        if msg.rcode == NXDOMAIN {
            if !self.nx.contains_key(&client) && self.nx.len() >= self.cfg.max_keys {
                self.turned_away[0] += 1;
                return;
            }
            let b = self.nx.entry(client).or_insert_with(|| NxBurst {
                first: now,
                names: FastSet::default(),
                generated: 0,
                alerted: false,
            });
            if now.micros_since(b.first) > window {
                *b = NxBurst {
                    first: now,
                    names: FastSet::default(),
                    generated: 0,
                    alerted: false,
                };
            }
            if b.names.len() < 4096 && b.names.insert(msg.qname.clone()) {
                let generated =
                    Self::split(&msg.qname).is_some_and(|(_, sld, _)| looks_generated(sld));
                b.generated += usize::from(generated);
            }
            if !b.alerted && b.names.len() >= self.cfg.nxdomain_min {
                b.alerted = true;
                let dga = b.generated * 2 >= b.names.len();
                let mut examples: Vec<&String> = b.names.iter().collect();
                examples.sort();
                examples.truncate(5);
                let alert = Alert::new(
                    now,
                    "suspicious_dns",
                    if dga {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    "suspicious_dns",
                    format!(
                        "{client}: {} NXDOMAIN answers in {:.0} s{}",
                        b.names.len(),
                        now.micros_since(b.first) as f64 / 1e6,
                        if dga {
                            ", names look generated (DGA)"
                        } else {
                            ""
                        }
                    ),
                )
                .with_mitre("T1568.002")
                .with_endpoints(Some(client), None, Some(server), Some(53))
                .with_distinct("nxdomain_burst")
                .with_evidence("kind", "nxdomain_burst")
                .with_evidence("nxdomain_names", b.names.len())
                .with_evidence("generated_looking", b.generated)
                .with_evidence(
                    "examples",
                    examples.into_iter().cloned().collect::<Vec<_>>(),
                );
                cx.emit(alert);
            }
            return;
        }
        if msg.addresses.is_empty() {
            return;
        }
        if !self.flux.contains_key(&msg.qname) && self.flux.len() >= self.cfg.max_keys {
            self.turned_away[1] += 1;
            return;
        }
        let f = self.flux.entry(msg.qname.clone()).or_insert_with(|| Flux {
            first: now,
            addresses: FastSet::default(),
            max_ttl: 0,
            alerted: false,
        });
        if now.micros_since(f.first) > window {
            *f = Flux {
                first: now,
                addresses: FastSet::default(),
                max_ttl: 0,
                alerted: false,
            };
        }
        for (addr, ttl) in &msg.addresses {
            if f.addresses.len() < 1024 {
                f.addresses.insert(*addr);
            }
            f.max_ttl = f.max_ttl.max(*ttl);
        }
        if !f.alerted
            && f.addresses.len() >= self.cfg.flux_min_addresses
            && f.max_ttl <= self.cfg.flux_max_ttl
        {
            f.alerted = true;
            let alert = Alert::new(
                now,
                "suspicious_dns",
                Severity::Medium,
                "suspicious_dns",
                format!(
                    "fast-flux name {}: {} addresses with TTL at most {} s",
                    msg.qname,
                    f.addresses.len(),
                    f.max_ttl
                ),
            )
            .with_mitre("T1568.001")
            .with_endpoints(Some(client), None, Some(server), Some(53))
            .with_distinct("fast_flux")
            .with_evidence("kind", "fast_flux")
            .with_evidence("name", msg.qname.clone())
            .with_evidence("addresses", f.addresses.len())
            .with_evidence("max_ttl", f.max_ttl);
            cx.emit(alert);
        }
    }
}

impl Detector for SuspiciousDnsDetector {
    fn id(&self) -> &'static str {
        "suspicious_dns"
    }

    fn tables(&self) -> Vec<TableUsage> {
        let (cap, t) = (self.cfg.max_keys, &self.turned_away);
        vec![
            TableUsage::new("nxdomain_clients", self.nx.len(), cap, t[0]),
            TableUsage::new("flux_names", self.flux.len(), cap, t[1]),
            TableUsage::new("tld_reports", self.tld_reported.len(), cap, t[2]),
        ]
    }

    fn interest(&self) -> Interest {
        Interest::UDP | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(ip), Transport::Udp { src_port, dst_port }) = (pkt.ip(), pkt.transport) else {
            return;
        };
        if src_port != 53 && dst_port != 53 {
            return;
        }
        let Some(msg) = cx.dns(pkt.payload) else {
            return;
        };
        match (msg.is_response, src_port == 53) {
            (false, _) if dst_port == 53 => self.on_query(ip.src, ip.dst, &msg, pkt.ts, cx),
            (true, true) => self.on_response(ip.dst, ip.src, &msg, pkt.ts, cx),
            _ => {}
        }
    }

    fn on_tick(&mut self, now: Timestamp, _cx: &mut Context<'_>) {
        let window = self.window();
        self.nx.retain(|_, b| now.micros_since(b.first) <= window);
        self.flux.retain(|_, f| now.micros_since(f.first) <= window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_looking_labels() {
        assert!(looks_generated("xjwqkzrtplmv"));
        assert!(looks_generated("a8f3k29dmq7x"));
        assert!(!looks_generated("wikipedia"));
        assert!(!looks_generated("stackoverflow"));
        assert!(!looks_generated("google"));
    }

    #[test]
    fn splits_registered_domain() {
        assert_eq!(
            SuspiciousDnsDetector::split("a.b.example.com"),
            Some(("example.com", "example", "com"))
        );
        assert_eq!(
            SuspiciousDnsDetector::split("example.tk"),
            Some(("example.tk", "example", "tk"))
        );
        assert_eq!(SuspiciousDnsDetector::split("localhost"), None);
    }
}
