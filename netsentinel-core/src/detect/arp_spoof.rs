//! `arp_spoof`: ARP cache poisoning and gratuitous-ARP storms.
//!
//! **Detects**
//! - an IP address claimed in ARP by a second MAC while the MAC that held it is still
//!   active (it sent ARP within `lease_grace_secs`, default 300 s of packet time). Of the
//!   two, the spoofer is the MAC that also claims other addresses (arpspoof and ettercap
//!   claim the victim's and the gateway's), or else the newcomer;
//! - unsolicited ARP replies (no request for that address from that host in the last
//!   `request_memory_secs`, default 5 s), counted as evidence;
//! - ARP whose sender MAC differs from the Ethernet source MAC, counted as evidence;
//! - gratuitous ARP storms: more than `gratuitous_per_sec` (default 20) gratuitous
//!   announcements from one MAC in a second.
//!
//! An address that moves to a new MAC after the old one went quiet for the grace period
//! is an ordinary change (new lease, replaced NIC): no alarm. MACs in `trusted_macs`
//! (HSRP/VRRP virtual MACs, a failover pair) never alarm. One alert per (spoofer MAC,
//! claimed address), then a summary with the counts when the input ends.
//!
//! **False positives**: proxy ARP, multi-homed hosts that answer for several addresses,
//! failover pairs not listed in `trusted_macs`.
//!
//! **References**: RFC 826, RFC 5227 (IPv4 address conflict detection); MITRE ATT&CK
//! T1557.002 (Adversary-in-the-Middle: ARP Cache Poisoning).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::{Network, PacketView};
use crate::neighbor::{Mac, mac_to_string, parse_mac};
use crate::time::Timestamp;

/// Settings of `arp_spoof`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ArpSpoofConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// A MAC silent in ARP for this long may lose its address without alarm. Default 300.
    pub lease_grace_secs: u64,
    /// How long a request is remembered to tell solicited replies. Default 5.
    pub request_memory_secs: u64,
    /// Gratuitous announcements per second from one MAC that make a storm. Default 20.
    pub gratuitous_per_sec: u64,
    /// MACs (`aa:bb:cc:dd:ee:ff`) whose claims never alarm. Default none.
    pub trusted_macs: Vec<String>,
    /// Most entries in each of its tables (addresses, MACs, pending requests, spoofing
    /// cases); further ones are counted, not kept. Default 65,536.
    pub max_bindings: usize,
}

impl Default for ArpSpoofConfig {
    fn default() -> Self {
        ArpSpoofConfig {
            enabled: true,
            lease_grace_secs: 300,
            request_memory_secs: 5,
            gratuitous_per_sec: 20,
            trusted_macs: Vec::new(),
            max_bindings: 65_536,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Binding {
    mac: Mac,
}

/// What one MAC did in ARP.
#[derive(Clone, Debug, Default)]
struct MacActivity {
    last_seen: Timestamp,
    claimed: HashSet<Ipv4Addr>,
    unsolicited_replies: u64,
    mismatched_source: u64,
    gratuitous_second: i64,
    gratuitous_in_second: u64,
    storm_reported: bool,
}

/// A spoofing case, reported once when found and summarised at the end.
#[derive(Clone, Debug)]
struct Case {
    victim_mac: Mac,
    first: Timestamp,
    last: Timestamp,
    spoofed_claims: u64,
}

/// The `arp_spoof` detector.
pub struct ArpSpoofDetector {
    cfg: ArpSpoofConfig,
    trusted: HashSet<Mac>,
    bindings: HashMap<Ipv4Addr, Binding>,
    macs: HashMap<Mac, MacActivity>,
    /// (requester IP, requested IP) -> time of the request.
    requests: HashMap<(Ipv4Addr, Ipv4Addr), Timestamp>,
    /// (spoofer MAC, claimed IP) -> case.
    cases: HashMap<(Mac, Ipv4Addr), Case>,
    /// Keys turned away by full tables: requests, bindings, MACs, cases.
    turned_away: [u64; 4],
}

impl ArpSpoofDetector {
    /// A detector with `config`. Unparseable `trusted_macs` entries are ignored (the
    /// configuration is validated before it gets here).
    pub fn new(config: &ArpSpoofConfig) -> Self {
        ArpSpoofDetector {
            trusted: config
                .trusted_macs
                .iter()
                .filter_map(|m| parse_mac(m))
                .collect(),
            cfg: config.clone(),
            bindings: HashMap::new(),
            macs: HashMap::new(),
            requests: HashMap::new(),
            cases: HashMap::new(),
            turned_away: [0; 4],
        }
    }

    fn secs(s: u64) -> i64 {
        i64::try_from(s.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
    }

    /// The spoofer's own address: one it claims that no other MAC holds.
    fn home_ip(&self, mac: &Mac) -> Option<Ipv4Addr> {
        let activity = self.macs.get(mac)?;
        let mut own: Vec<Ipv4Addr> = activity
            .claimed
            .iter()
            .copied()
            .filter(|ip| {
                self.bindings.get(ip).is_some_and(|b| b.mac == *mac)
                    && !self.cases.keys().any(|(m, v)| m == mac && v == ip)
            })
            .collect();
        own.sort_unstable();
        own.first().copied()
    }

    fn alert(
        &self,
        now: Timestamp,
        spoofer: Mac,
        victim_ip: Ipv4Addr,
        case: &Case,
        summary: bool,
    ) -> Alert {
        let activity = self.macs.get(&spoofer).cloned().unwrap_or_default();
        let home = self.home_ip(&spoofer);
        let who = match home {
            Some(ip) => format!("{} ({ip})", mac_to_string(&spoofer)),
            None => mac_to_string(&spoofer),
        };
        let message = if summary {
            format!(
                "ARP spoofing of {victim_ip} by {who}: {} forged claims over {:.1} s",
                case.spoofed_claims,
                case.last.micros_since(case.first) as f64 / 1e6
            )
        } else {
            format!(
                "ARP spoofing: {who} claims {victim_ip}, which belongs to {}",
                mac_to_string(&case.victim_mac)
            )
        };
        let mut claimed: Vec<String> = activity.claimed.iter().map(ToString::to_string).collect();
        claimed.sort();
        Alert::new(
            now,
            "arp_spoof",
            Severity::High,
            "man_in_the_middle",
            message,
        )
        .with_mitre("T1557.002")
        .with_endpoints(
            home.map(IpAddr::V4),
            None,
            Some(IpAddr::V4(victim_ip)),
            None,
        )
        .with_evidence("spoofer_mac", mac_to_string(&spoofer))
        .with_evidence("legitimate_mac", mac_to_string(&case.victim_mac))
        .with_evidence("claimed_ips", claimed)
        .with_evidence("forged_claims", case.spoofed_claims)
        .with_evidence("unsolicited_replies", activity.unsolicited_replies)
        .with_evidence("sender_mac_mismatches", activity.mismatched_source)
        .with_evidence("phase", if summary { "ended" } else { "started" })
    }
}

impl Detector for ArpSpoofDetector {
    fn id(&self) -> &'static str {
        "arp_spoof"
    }

    fn interest(&self) -> Interest {
        Interest::ARP | Interest::TICK
    }

    fn tables(&self) -> Vec<TableUsage> {
        let cap = self.cfg.max_bindings;
        let t = &self.turned_away;
        vec![
            TableUsage::new("requests", self.requests.len(), cap, t[0]),
            TableUsage::new("bindings", self.bindings.len(), cap, t[1]),
            TableUsage::new("macs", self.macs.len(), cap, t[2]),
            TableUsage::new("cases", self.cases.len(), cap, t[3]),
        ]
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let Network::Arp(arp) = pkt.network else {
            return;
        };
        let now = pkt.ts;
        let (ip, mac) = (arp.sender_ip, arp.sender_mac);
        if ip.is_unspecified() || mac == [0; 6] {
            return; // RFC 5227 probe
        }
        let memory = Self::secs(self.cfg.request_memory_secs);
        if arp.operation == 1 {
            if self.requests.len() < self.cfg.max_bindings {
                self.requests.insert((ip, arp.target_ip), now);
            } else {
                self.turned_away[0] += 1;
            }
        }
        // A flood of made-up sender MACs must not grow the table without bound.
        if self.macs.len() >= self.cfg.max_bindings && !self.macs.contains_key(&mac) {
            self.turned_away[2] += 1;
            return;
        }
        let activity = self.macs.entry(mac).or_default();
        activity.last_seen = now;
        if activity.claimed.len() < 1024 {
            activity.claimed.insert(ip);
        }
        if pkt.src_mac.is_some_and(|src| src != mac) {
            activity.mismatched_source += 1;
        }
        if arp.operation == 2 {
            let asked = self
                .requests
                .get(&(arp.target_ip, ip))
                .is_some_and(|t| now.micros_since(*t) <= memory);
            if !asked {
                activity.unsolicited_replies += 1;
            }
        }
        // Gratuitous announcements: sender and target address are the same.
        if arp.target_ip == ip {
            let second = now.as_secs();
            if activity.gratuitous_second != second {
                activity.gratuitous_second = second;
                activity.gratuitous_in_second = 0;
            }
            activity.gratuitous_in_second += 1;
            if activity.gratuitous_in_second > self.cfg.gratuitous_per_sec
                && !activity.storm_reported
            {
                activity.storm_reported = true;
                let n = activity.gratuitous_in_second;
                cx.emit(
                    Alert::new(
                        now,
                        "arp_spoof",
                        Severity::Medium,
                        "man_in_the_middle",
                        format!(
                            "gratuitous ARP storm from {}: {n} in one second",
                            mac_to_string(&mac)
                        ),
                    )
                    .with_mitre("T1557.002")
                    .with_endpoints(Some(IpAddr::V4(ip)), None, None, None)
                    .with_evidence("gratuitous_per_second", n)
                    .with_evidence("mac", mac_to_string(&mac)),
                );
            }
        }
        let Some(old) = self.bindings.get(&ip).copied() else {
            if self.bindings.len() < self.cfg.max_bindings {
                self.bindings.insert(ip, Binding { mac });
            } else {
                self.turned_away[1] += 1;
            }
            return;
        };
        if old.mac == mac {
            return;
        }
        let grace = Self::secs(self.cfg.lease_grace_secs);
        let old_active = self
            .macs
            .get(&old.mac)
            .is_some_and(|a| now.micros_since(a.last_seen) < grace);
        if !old_active || self.trusted.contains(&mac) || self.trusted.contains(&old.mac) {
            // A new lease or a replaced card: the address simply moves.
            self.bindings.insert(ip, Binding { mac });
            return;
        }
        // Two live MACs claim one address. The spoofer claims more addresses.
        let claims = |m: &Mac| self.macs.get(m).map_or(0, |a| a.claimed.len());
        let (spoofer, legit) = if claims(&old.mac) > claims(&mac) {
            (old.mac, mac)
        } else {
            (mac, old.mac)
        };
        if spoofer == old.mac {
            // The first binding seen was the forged one: hand the address to its owner.
            self.bindings.insert(ip, Binding { mac: legit });
        }
        let is_new = !self.cases.contains_key(&(spoofer, ip));
        if is_new && self.cases.len() >= self.cfg.max_bindings {
            self.turned_away[3] += 1;
            return;
        }
        let case = self.cases.entry((spoofer, ip)).or_insert(Case {
            victim_mac: legit,
            first: now,
            last: now,
            spoofed_claims: 0,
        });
        case.last = now;
        case.spoofed_claims += 1;
        if is_new {
            let case = case.clone();
            cx.emit(self.alert(now, spoofer, ip, &case, false));
        }
    }

    fn on_tick(&mut self, now: Timestamp, _cx: &mut Context<'_>) {
        let memory = Self::secs(self.cfg.request_memory_secs);
        self.requests.retain(|_, t| now.micros_since(*t) <= memory);
    }

    fn on_finish(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        let mut cases: Vec<((Mac, Ipv4Addr), Case)> =
            self.cases.iter().map(|(k, c)| (*k, c.clone())).collect();
        cases.sort_by_key(|(k, c)| (c.first, *k));
        for ((spoofer, ip), case) in cases {
            cx.emit(self.alert(now, spoofer, ip, &case, true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_macs() {
        assert_eq!(
            parse_mac("02:10:00:00:00:42"),
            Some([2, 0x10, 0, 0, 0, 0x42])
        );
        assert_eq!(
            parse_mac("02-10-00-00-00-42"),
            Some([2, 0x10, 0, 0, 0, 0x42])
        );
        assert_eq!(parse_mac("02:10:00:00:00"), None);
        assert_eq!(parse_mac("02:10:00:00:00:42:00"), None);
        assert_eq!(parse_mac("zz:10:00:00:00:42"), None);
    }
}
