//! `dns_tunnel`: data carried in DNS names (dnscat2, iodine, DNS exfiltration scripts).
//!
//! **Detects** a client asking about many distinct, data-like subdomains of one domain
//! (which catches iodine, whose queries are long encoded NULL/TXT/CNAME names):
//! within `window_secs` (default 300 s of packet time), at least `min_unique_subdomains`
//! (default 15) distinct suspicious subdomains of one base domain (its last two labels).
//! A subdomain is suspicious when it is long (`min_subdomain_len`, default 30 characters),
//! or has a label of 20+ characters with Shannon entropy of at least `min_entropy`
//! (default 3.5 bits per character), or is asked with a TXT, NULL or CNAME query (iodine,
//! dnscat2). Also fires on volume alone: `max_queries_per_domain` (default 1,000) queries
//! for one domain within the window. The evidence gives the base domain, counts, the
//! TXT/NULL share, the longest label and examples. One alert per (client, domain) and
//! window.
//!
//! **False positives**: anti-virus and reputation services that look up hashes in DNS
//! (long hex names under one domain), some CDNs; DKIM/SPF TXT lookups are short and few.
//!
//! **References**: RFC 1035; MITRE ATT&CK T1071.004 (Application Layer Protocol: DNS) and
//! T1048.003; iodine (code.kryo.se/iodine).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Context, Detector, FastMap, FastSet, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::{PacketView, Transport, dns};
use crate::time::Timestamp;

/// Thresholds of `dns_tunnel`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DnsTunnelConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Distinct suspicious subdomains of one domain that fire. Default 15.
    pub min_unique_subdomains: usize,
    /// A subdomain this long is suspicious. Default 30.
    pub min_subdomain_len: usize,
    /// Entropy (bits per character) that makes a 20+ character label suspicious.
    /// Default 3.5.
    pub min_entropy: f64,
    /// Window, in seconds of packet time. Default 300.
    pub window_secs: u64,
    /// Queries from one client for names under one domain within the window that fire
    /// on volume alone, however short the names. Default 1,000.
    pub max_queries_per_domain: u64,
    /// Most (client, domain) keys tracked. Default 65,536.
    pub max_keys: usize,
}

impl Default for DnsTunnelConfig {
    fn default() -> Self {
        DnsTunnelConfig {
            enabled: true,
            min_unique_subdomains: 15,
            min_subdomain_len: 30,
            min_entropy: 3.5,
            window_secs: 300,
            max_queries_per_domain: 1000,
            max_keys: 65_536,
        }
    }
}

/// Shannon entropy of a string, in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Subdomains kept per key (beyond this only counted).
const MAX_SUBDOMAINS: usize = 10_000;

#[derive(Clone, Debug)]
struct DomainActivity {
    first: Timestamp,
    queries: u64,
    txt_or_null: u64,
    suspicious: FastSet<String>,
    longest_label: usize,
    alerted: bool,
}

impl DomainActivity {
    fn new(now: Timestamp) -> Self {
        DomainActivity {
            first: now,
            queries: 0,
            txt_or_null: 0,
            suspicious: FastSet::default(),
            longest_label: 0,
            alerted: false,
        }
    }
}

/// The `dns_tunnel` detector.
pub struct DnsTunnelDetector {
    cfg: DnsTunnelConfig,
    keys: FastMap<(IpAddr, String), DomainActivity>,
    /// Keys turned away by full tables, per table.
    turned_away: [u64; 4],
}

impl DnsTunnelDetector {
    /// A detector with `config`.
    pub fn new(config: &DnsTunnelConfig) -> Self {
        DnsTunnelDetector {
            cfg: config.clone(),
            keys: FastMap::default(),
            turned_away: [0; 4],
        }
    }

    /// Whether a subdomain looks like carried data.
    fn suspicious(&self, sub: &str, qtype: u16) -> bool {
        const TXT: u16 = 16;
        const NULL: u16 = 10;
        const CNAME: u16 = 5;
        if matches!(qtype, TXT | NULL | CNAME) {
            return true;
        }
        if sub.len() >= self.cfg.min_subdomain_len {
            return true;
        }
        sub.split('.')
            .any(|l| l.len() >= 20 && entropy(l) >= self.cfg.min_entropy)
    }
}

/// The DNS payload of a packet to port 53 (TCP: after the 2-byte length).
fn dns_query_payload<'a>(pkt: &PacketView<'a>) -> Option<&'a [u8]> {
    match pkt.transport {
        Transport::Udp { dst_port: 53, .. } => Some(pkt.payload),
        Transport::Tcp(t) if t.dst_port == 53 && pkt.payload.len() > 2 => Some(&pkt.payload[2..]),
        _ => None,
    }
}

impl Detector for DnsTunnelDetector {
    fn id(&self) -> &'static str {
        "dns_tunnel"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![TableUsage::new(
            "keys",
            self.keys.len(),
            self.cfg.max_keys,
            self.turned_away[0],
        )]
    }

    fn interest(&self) -> Interest {
        Interest::UDP | Interest::TCP | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(ip), Some(payload)) = (pkt.ip(), dns_query_payload(pkt)) else {
            return;
        };
        let Some(msg) = cx.dns(payload) else {
            return;
        };
        if msg.is_response {
            return;
        }
        // Base domain = the last two labels; the rest is the subdomain.
        let name = msg.qname.as_str();
        let Some(last_dot) = dns::last_dot(name) else {
            return;
        };
        let Some(base_dot) = dns::last_dot(&name[..last_dot]) else {
            return;
        };
        let (sub, base) = (&name[..base_dot], &name[base_dot + 1..]);
        let key = (ip.src, base.to_string());
        if self.keys.len() >= self.cfg.max_keys && !self.keys.contains_key(&key) {
            self.turned_away[0] += 1;
            return;
        }
        let suspicious = self.suspicious(sub, msg.qtype);
        let window =
            i64::try_from(self.cfg.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let now = pkt.ts;
        let a = self
            .keys
            .entry(key.clone())
            .or_insert_with(|| DomainActivity::new(now));
        if now.micros_since(a.first) > window {
            *a = DomainActivity::new(now);
        }
        a.queries += 1;
        a.txt_or_null += u64::from(matches!(msg.qtype, 10 | 16));
        a.longest_label = a
            .longest_label
            .max(name.split('.').map(str::len).max().unwrap_or(0));
        if suspicious && a.suspicious.len() < MAX_SUBDOMAINS && !a.suspicious.contains(sub) {
            a.suspicious.insert(sub.to_string());
        }
        let by_names = a.suspicious.len() >= self.cfg.min_unique_subdomains;
        let by_volume = a.queries >= self.cfg.max_queries_per_domain;
        if a.alerted || !(by_names || by_volume) {
            return;
        }
        a.alerted = true;
        let mut examples: Vec<&String> = a.suspicious.iter().collect();
        examples.sort();
        examples.truncate(3);
        let (client, base) = &key;
        let alert = Alert::new(
            now,
            "dns_tunnel",
            Severity::High,
            "exfiltration",
            format!(
                "DNS tunnel from {client} through {base}: {} data-like subdomains in {} queries",
                a.suspicious.len(),
                a.queries
            ),
        )
        .with_mitre("T1071.004")
        .with_endpoints(Some(*client), None, Some(ip.dst), Some(53))
        .with_evidence("domain", base.clone())
        .with_evidence("unique_suspicious_subdomains", a.suspicious.len())
        .with_evidence("queries", a.queries)
        .with_evidence(
            "txt_or_null_share",
            ((a.txt_or_null as f64 / a.queries as f64) * 1000.0).round() / 1000.0,
        )
        .with_evidence("longest_label", a.longest_label)
        .with_evidence(
            "fired_on",
            if by_names {
                "data_like_names"
            } else {
                "query_volume"
            },
        )
        .with_evidence(
            "examples",
            examples.into_iter().cloned().collect::<Vec<_>>(),
        );
        cx.emit(alert);
    }

    fn on_tick(&mut self, now: Timestamp, _cx: &mut Context<'_>) {
        let window =
            i64::try_from(self.cfg.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        self.keys.retain(|_, a| now.micros_since(a.first) <= window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_random_and_plain_names() {
        assert!(entropy("eaqcaibaeaqcaibai5hfkichivhekusbjqqf") > 3.5);
        assert!(entropy("mail") < 2.1);
        assert_eq!(entropy(""), 0.0);
        assert_eq!(entropy("aaaa"), 0.0);
    }

    #[test]
    fn suspicious_subdomains() {
        let d = DnsTunnelDetector::new(&DnsTunnelConfig::default());
        assert!(d.suspicious("eaqcaibaeaqcaibaeaqcaibaeaqcaibai5hfkichivhekusbjqqf.1", 1));
        assert!(d.suspicious("p0123456789abcdef", 16));
        assert!(!d.suspicious("www", 1));
        assert!(!d.suspicious("api.v2", 28));
        assert!(d.suspicious("x", 5), "CNAME queries are an iodine mode");
    }
}
