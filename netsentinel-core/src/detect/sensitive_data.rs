//! `sensitive_data`: payment card numbers, national identity numbers and bulk e-mail
//! addresses crossing the network in cleartext.
//!
//! **Detects**, in TCP and UDP payloads to or from the cleartext ports listed in `ports`
//! (HTTP, mail, FTP, Telnet, LDAP, databases, syslog by default; encrypted ports carry
//! nothing readable):
//! - card numbers: 13 to 19 digits, alone or in groups split by single spaces or dashes,
//!   that pass the Luhn check *and* start with an issuer prefix in use (Visa, Mastercard,
//!   American Express, Discover, JCB, Diners, UnionPay) *and* either are written in the
//!   4-4-4-4 style or stand near a card word (`card`, `cc`, `pan`, `visa`, `cvv`,
//!   `expir`...). Order numbers and timestamps rarely pass all three;
//! - national and financial identifiers: US Social Security numbers written `AAA-GG-SSSS`,
//!   without the never-issued ranges (area 000, 666 or 900+, group 00, serial 0000); UK
//!   National Insurance numbers (valid prefix letters, near "national insurance" or
//!   "NINO"); IBANs that pass the ISO 13616 mod-97 check with their country's length;
//! - e-mail address volumes: `min_emails` (default 20) distinct addresses in one flow, as
//!   a customer list leaving in a response or an upload.
//!
//! One alert per flow and kind, with the count; values are masked (`4111 **** **** 1111`,
//! `***-**-6789`).
//!
//! **False positives**: test card numbers in developer traffic (the well-known ones pass
//! Luhn on purpose), mailing-list traffic for the e-mail volume.
//!
//! **References**: PCI DSS 4.0 requirement 4 (protect cardholder data in transmission);
//! ISO/IEC 7812 (issuer prefixes, Luhn); MITRE ATT&CK T1048 (Exfiltration Over
//! Unencrypted Non-C2 Protocol).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use regex::bytes::Regex;
use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::PacketView;
use crate::flow::{Flow, FlowId};

/// Settings of `sensitive_data`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SensitiveDataConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Ports (either end) whose payloads are read.
    pub ports: Vec<u16>,
    /// Distinct e-mail addresses in one flow that make an alert. Default 20.
    pub min_emails: usize,
    /// Most flows tracked at once. Default 65,536.
    pub max_flows: usize,
}

impl Default for SensitiveDataConfig {
    fn default() -> Self {
        SensitiveDataConfig {
            enabled: true,
            // HTTP, FTP, SMTP, POP3, IMAP, Telnet, LDAP, syslog, MySQL, PostgreSQL, Redis,
            // MongoDB, Elasticsearch.
            ports: vec![
                80, 8000, 8080, 8888, 21, 25, 587, 110, 143, 23, 389, 514, 3306, 5432, 6379, 27017,
                9200,
            ],
            min_emails: 20,
            max_flows: 65_536,
        }
    }
}

/// What was found in one flow so far.
#[derive(Debug, Default)]
struct FlowFindings {
    cards: HashSet<String>,
    ssns: HashSet<String>,
    /// Other identifiers: (kind, value).
    ids: HashSet<(&'static str, String)>,
    reported_ids: bool,
    emails: HashSet<Vec<u8>>,
    reported_cards: bool,
    reported_ssns: bool,
    reported_emails: bool,
}

/// The `sensitive_data` detector.
pub struct SensitiveDataDetector {
    config: SensitiveDataConfig,
    /// `config.ports` as a bit set: asked twice for every TCP and UDP packet.
    ports: Box<[u64; 1024]>,
    flows: HashMap<FlowId, FlowFindings, foldhash::fast::RandomState>,
    /// Keys turned away by full tables, per table.
    turned_away: [u64; 4],
}

struct Patterns {
    card: Regex,
    card_context: Regex,
    ssn: Regex,
    email: Regex,
    nino: Regex,
    nino_context: Regex,
    iban: Regex,
}

/// A pattern over bytes with ASCII classes and word boundaries: a Unicode `\b` makes the
/// regex engine fall back to its slow PikeVM on any non-ASCII byte of the payload.
fn ascii(pattern: &str) -> Result<Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .build()
}

fn patterns() -> Option<&'static Patterns> {
    static P: OnceLock<Option<Patterns>> = OnceLock::new();
    P.get_or_init(|| {
        Some(Patterns {
            // Digit runs with optional single space/dash separators, not inside longer runs.
            card: ascii(r"(?:^|[^0-9])((?:[0-9][ \-]?){12,18}[0-9])(?:[^0-9]|$)").ok()?,
            card_context: ascii(
                r"(?i)card|\bcc|\bpan\b|visa|master|amex|cvv|cvc|expir|payment|credit",
            )
            .ok()?,
            ssn: ascii(r"(?:^|[^0-9\-])([0-9]{3})-([0-9]{2})-([0-9]{4})(?:[^0-9\-]|$)").ok()?,
            nino: ascii(
                r"\b([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?([0-9]{2}) ?([0-9]{2}) ?([0-9]{2}) ?([A-D])\b",
            )
            .ok()?,
            nino_context: ascii(r"(?i)national.?insurance|\bnino\b|\bni.?number").ok()?,
            iban: ascii(r"\b([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)\b")
                .ok()?,
            email: ascii(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}").ok()?,
        })
    })
    .as_ref()
}

/// The Luhn (mod 10) check of ISO/IEC 7812.
///
/// ```
/// use netsentinel_core::detect::sensitive_data::luhn;
/// assert!(luhn("4111111111111111"));
/// assert!(!luhn("4111111111111112"));
/// ```
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        let Some(d) = (c as char).to_digit(10) else {
            return false;
        };
        sum += if i % 2 == 1 {
            let d2 = d * 2;
            if d2 > 9 { d2 - 9 } else { d2 }
        } else {
            d
        };
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Whether the number starts with an issuer prefix in use, at a length that issuer uses.
fn known_issuer(d: &str) -> bool {
    let n = d.len();
    let p = |k: usize| d.get(..k).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    (d.starts_with('4') && matches!(n, 13 | 16 | 19))
        || ((51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4))) && n == 16
        || matches!(p(2), 34 | 37) && n == 15
        || (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3))) && (16..=19).contains(&n)
        || (3528..=3589).contains(&p(4)) && (16..=19).contains(&n)
        || ((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38)) && (14..=19).contains(&n)
        || p(2) == 62 && (16..=19).contains(&n)
}

/// Lengths of IBANs by country (ISO 13616 registry, common countries).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "DE" => 22,
        "GB" | "IE" => 22,
        "FR" | "IT" | "MC" => 27,
        "ES" | "SE" | "SK" | "CZ" => 24,
        "NL" => 18,
        "BE" => 16,
        "AT" | "LU" | "EE" | "LT" => 20,
        "CH" | "LI" | "LV" => 21,
        "PL" | "HU" | "CY" => 28,
        "PT" => 25,
        "DK" | "FI" | "FO" | "GL" => 18,
        "NO" => 15,
        "GR" => 27,
        "RO" => 24,
        "SI" => 19,
        "HR" => 21,
        "BG" => 22,
        _ => return None,
    })
}

/// The ISO 13616 check: country code and check digits moved to the end, letters as
/// numbers (A = 10), the whole mod 97 equals 1.
///
/// ```
/// use netsentinel_core::detect::sensitive_data::iban_valid;
/// assert!(iban_valid("GB82 WEST 1234 5698 7654 32"));
/// assert!(!iban_valid("GB82 WEST 1234 5698 7654 33"));
/// ```
pub fn iban_valid(text: &str) -> bool {
    let iban: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(country) = iban.get(..2) else {
        return false;
    };
    if iban_length(country) != Some(iban.len()) || !iban.is_ascii() {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem = 0u32;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// One high-severity alert for the masked values of one kind found in a flow (at most five
/// shown, all counted).
fn emit_masked(
    cx: &mut Context<'_>,
    flow: &Flow,
    kind: &'static str,
    what: &str,
    mut shown: Vec<String>,
) {
    let count = shown.len();
    shown.sort();
    shown.truncate(5);
    cx.emit(
        Alert::new(
            cx.now(),
            "sensitive_data",
            Severity::High,
            "sensitive-data",
            format!("{what} in cleartext: {count} ({})", shown.join(", ")),
        )
        .with_mitre("T1048")
        .with_flow(flow)
        .with_distinct(kind)
        .with_evidence("kind", kind)
        .with_evidence("count", count)
        .with_evidence("masked", shown),
    );
}

/// `4111 **** **** 1111`: the first and last four digits.
fn mask_card(d: &str) -> String {
    let n = d.len();
    format!("{} **** **** {}", &d[..4.min(n)], &d[n.saturating_sub(4)..])
}

impl SensitiveDataDetector {
    /// A detector with these settings.
    pub fn new(config: &SensitiveDataConfig) -> Self {
        let mut ports = Box::new([0u64; 1024]);
        for &p in &config.ports {
            ports[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        SensitiveDataDetector {
            config: config.clone(),
            ports,
            flows: HashMap::default(),
            turned_away: [0; 4],
        }
    }

    fn scan(payload: &[u8], f: &mut FlowFindings) {
        let Some(p) = patterns() else {
            return;
        };
        for caps in p.card.captures_iter(payload) {
            let Some(m) = caps.get(1) else { continue };
            let raw = m.as_bytes();
            let digits: String = raw
                .iter()
                .filter(|b| b.is_ascii_digit())
                .map(|&b| b as char)
                .collect();
            if !(13..=19).contains(&digits.len()) || !luhn(&digits) || !known_issuer(&digits) {
                continue;
            }
            let grouped = raw.len() == 19
                && raw.iter().enumerate().all(|(i, b)| {
                    if i % 5 == 4 {
                        *b == b' ' || *b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            let lo = m.start().saturating_sub(64);
            let hi = (m.end() + 64).min(payload.len());
            if grouped || p.card_context.is_match(&payload[lo..hi]) {
                f.cards.insert(digits);
            }
        }
        for caps in p.ssn.captures_iter(payload) {
            let part = |i| {
                caps.get(i)
                    .and_then(|m| std::str::from_utf8(m.as_bytes()).ok())
                    .and_then(|s| s.parse::<u32>().ok())
            };
            let (Some(area), Some(group), Some(serial)) = (part(1), part(2), part(3)) else {
                continue;
            };
            if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
                continue;
            }
            f.ssns.insert(format!("{area:03}-{group:02}-{serial:04}"));
        }
        for caps in p.nino.captures_iter(payload) {
            let Some(m) = caps.get(0) else { continue };
            let prefix = caps.get(1).map(|m| m.as_bytes()).unwrap_or(b"");
            // Prefixes never issued.
            if matches!(
                prefix,
                b"BG" | b"GB" | b"NK" | b"KN" | b"TN" | b"NT" | b"ZZ"
            ) {
                continue;
            }
            let lo = m.start().saturating_sub(64);
            let hi = (m.end() + 64).min(payload.len());
            if p.nino_context.is_match(&payload[lo..hi]) {
                let value: String = String::from_utf8_lossy(m.as_bytes())
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                f.ids.insert(("uk_nino", value));
            }
        }
        for caps in p.iban.captures_iter(payload) {
            let Some(m) = caps.get(1) else { continue };
            let text = String::from_utf8_lossy(m.as_bytes());
            if iban_valid(&text) {
                let value: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                f.ids.insert(("iban", value));
            }
        }
        if f.emails.len() < 10_000 {
            for m in p.email.find_iter(payload) {
                f.emails.insert(m.as_bytes().to_ascii_lowercase());
            }
        }
    }

    fn report(&mut self, flow: &Flow, cx: &mut Context<'_>) {
        let min_emails = self.config.min_emails;
        let Some(f) = self.flows.get_mut(&flow.id) else {
            return;
        };
        if !f.reported_cards && !f.cards.is_empty() {
            f.reported_cards = true;
            let shown = f.cards.iter().map(|c| mask_card(c)).collect();
            emit_masked(cx, flow, "payment_card", "payment card numbers", shown);
        }
        if !f.reported_ssns && !f.ssns.is_empty() {
            f.reported_ssns = true;
            let shown = f
                .ssns
                .iter()
                .map(|s| format!("***-**-{}", &s[s.len() - 4..]))
                .collect();
            emit_masked(cx, flow, "us_ssn", "US Social Security numbers", shown);
        }
        if !f.reported_ids && !f.ids.is_empty() {
            f.reported_ids = true;
            let shown = f
                .ids
                .iter()
                .map(|(kind, v)| {
                    let tail: String = v
                        .chars()
                        .rev()
                        .take(4)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    format!("{kind} {}***{tail}", &v[..2.min(v.len())])
                })
                .collect();
            emit_masked(
                cx,
                flow,
                "identifiers",
                "national or bank identifiers",
                shown,
            );
        }
        if !f.reported_emails && f.emails.len() >= min_emails {
            f.reported_emails = true;
            cx.emit(
                Alert::new(
                    cx.now(),
                    "sensitive_data",
                    Severity::Medium,
                    "sensitive-data",
                    format!(
                        "{} distinct e-mail addresses in one cleartext flow",
                        f.emails.len()
                    ),
                )
                .with_mitre("T1048")
                .with_flow(flow)
                .with_distinct("email_addresses")
                .with_evidence("kind", "email_addresses")
                .with_evidence("count", f.emails.len()),
            );
        }
    }
}

impl Detector for SensitiveDataDetector {
    fn id(&self) -> &'static str {
        "sensitive_data"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![TableUsage::new(
            "flows",
            self.flows.len(),
            self.config.max_flows,
            self.turned_away[0],
        )]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::UDP | Interest::FLOW_END
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        if pkt.payload.is_empty() {
            return;
        }
        let (sport, dport) = pkt.ports();
        let watched = |p: u16| self.ports[usize::from(p >> 6)] & (1 << (p & 63)) != 0;
        if !watched(sport) && !watched(dport) {
            return;
        }
        let Some(flow) = cx.flow() else {
            return;
        };
        if !self.flows.contains_key(&flow.id) && self.flows.len() >= self.config.max_flows {
            self.turned_away[0] += 1;
            return;
        }
        let f = self.flows.entry(flow.id).or_default();
        Self::scan(pkt.payload, f);
        self.report(flow, cx);
    }

    fn on_flow_end(&mut self, flow: &Flow, _cx: &mut Context<'_>) {
        if !self.flows.is_empty() {
            self.flows.remove(&flow.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(text: &[u8]) -> FlowFindings {
        let mut f = FlowFindings::default();
        SensitiveDataDetector::scan(text, &mut f);
        f
    }

    #[test]
    fn cards_need_luhn_issuer_and_context_or_grouping() {
        let f = findings(b"POST /pay card_number=4111111111111111&cvv=123");
        assert_eq!(f.cards.len(), 1);
        let f = findings(b"{\"order\": \"4111 1111 1111 1111\"}");
        assert_eq!(f.cards.len(), 1, "4-4-4-4 grouping is context enough");
        assert!(
            findings(b"order=4111111111111111").cards.is_empty(),
            "no context"
        );
        assert!(
            findings(b"card=4111111111111112").cards.is_empty(),
            "Luhn fails"
        );
        assert!(
            findings(b"card=9111111111111119").cards.is_empty(),
            "no issuer starts with 9"
        );
        assert!(
            findings(b"card=41111111111111110000").cards.is_empty(),
            "part of a longer digit run"
        );
        let amex = findings(b"Payment: amex 378282246310005");
        assert_eq!(amex.cards.len(), 1);
        assert_eq!(mask_card("378282246310005"), "3782 **** **** 0005");
    }

    #[test]
    fn one_alert_per_flow_and_kind_with_masked_values() {
        use crate::decode::TcpFlags as F;
        use crate::testutil::tcp_segment;
        use crate::{Engine, EngineConfig, FnSink, LinkType, MemorySource, Timestamp};
        use parking_lot::Mutex;
        use std::net::Ipv4Addr;
        use std::sync::Arc;
        let (c, s) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 9));
        let mut source = MemorySource::new(LinkType::Ethernet);
        let bodies: [&[u8]; 3] = [
            b"POST /checkout HTTP/1.1\r\n\r\ncard=4111111111111111",
            b"&card2=5555 5555 5555 4444",
            b"&ssn=123-45-6789",
        ];
        let mut seq = 1000;
        for (i, b) in bodies.iter().enumerate() {
            source.push(
                Timestamp::from_micros(i as i64 * 1000),
                tcp_segment(c, s, 40000, 80, F::ACK | F::PSH, seq, b),
            );
            seq += b.len() as u32;
        }
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let seen = alerts.clone();
        let mut engine = Engine::builder(EngineConfig::default())
            .detector(SensitiveDataDetector::new(&SensitiveDataConfig::default()))
            .sink(FnSink(move |a: &Alert| seen.lock().push(a.clone())))
            .build()
            .unwrap();
        engine.run(&mut source).unwrap();
        drop(engine);
        let alerts = alerts.lock();
        let kinds: Vec<(&str, u64)> = alerts
            .iter()
            .map(|a| {
                (
                    a.evidence["kind"].as_str().unwrap(),
                    a.evidence["count"].as_u64().unwrap(),
                )
            })
            .collect();
        // The first card raises the alert; the second, later, is not a second alert.
        assert_eq!(kinds, [("payment_card", 1), ("us_ssn", 1)]);
        let text = serde_json::to_string(&*alerts).unwrap();
        assert!(text.contains("4111 **** **** 1111") && text.contains("***-**-6789"));
        assert!(!text.contains("4111111111111111") && !text.contains("123-45-6789"));
    }

    #[test]
    fn ninos_need_context_and_ibans_their_checksum() {
        let f = findings(b"national insurance no: JG 10 37 67 A; ref AB123456D; example QQ123456C");
        let kinds: Vec<&str> = f.ids.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            ["uk_nino", "uk_nino"],
            "both near the context words; QQ is never issued"
        );
        assert!(findings(b"ticket AB123456C").ids.is_empty(), "no context");
        assert!(
            findings(b"national insurance GB123456A").ids.is_empty(),
            "never-issued prefix"
        );
        let f = findings(b"pay to DE89 3704 0044 0532 0130 00 today");
        assert!(
            f.ids
                .contains(&("iban", "DE89370400440532013000".to_string()))
        );
        assert!(
            findings(b"DE89 3704 0044 0532 0130 01").ids.is_empty(),
            "checksum"
        );
    }

    #[test]
    fn ssns_skip_never_issued_ranges_and_emails_are_counted() {
        let f =
            findings(b"ssn=123-45-6789; old=000-12-3456; 666-12-3456; 900-12-3456; 123-00-4567");
        assert_eq!(f.ssns.len(), 1);
        assert!(f.ssns.contains("123-45-6789"));
        assert!(
            findings(b"date 2026-11-25 phone 555-123-4567")
                .ssns
                .is_empty()
        );
        let list: String = (0..25).map(|i| format!("user{i}@corp.example, ")).collect();
        let f = findings(list.as_bytes());
        assert_eq!(f.emails.len(), 25);
    }
}
