//! IP-to-MAC bindings learned from ARP, shared by the detectors.
//!
//! Every ARP packet's sender fields are a claim "this IP is at this MAC". The table keeps
//! the latest claim per IP and per MAC, so a detector can name the host behind a MAC: a
//! flood from spoofed source addresses still comes from one attacker's MAC, and that MAC
//! answers ARP for its real address. Bounded: at most `MAX_ENTRIES` entries per map, the
//! oldest forgotten first.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::decode::ArpView;
use crate::time::Timestamp;

/// Entries kept per direction.
const MAX_ENTRIES: usize = 65_536;

/// A MAC address.
pub type Mac = [u8; 6];

/// Formats a MAC as `02:10:00:00:00:42`.
pub fn mac_to_string(mac: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    )
}

/// Parses `02:10:00:00:00:42` (or with `-`).
///
/// ```
/// use netsentinel_core::neighbor::parse_mac;
/// assert_eq!(parse_mac("02-10-00-00-00-42"), Some([2, 0x10, 0, 0, 0, 0x42]));
/// assert_eq!(parse_mac("02:10:00"), None);
/// ```
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// The ARP-learned neighbour table.
// Cache-line aligned for the same reason as `FlowTable`: the parallel run's packet stage
// learns into the engine's table while the output stage works beside it.
#[derive(Clone, Debug, Default)]
#[repr(align(128))]
pub struct NeighborTable {
    by_ip: HashMap<Ipv4Addr, (Mac, Timestamp)>,
    by_mac: HashMap<Mac, (Ipv4Addr, Timestamp)>,
}

impl NeighborTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns from one ARP packet's sender fields (ignoring probes from 0.0.0.0).
    pub fn learn(&mut self, arp: &ArpView, now: Timestamp) {
        if arp.sender_ip.is_unspecified() || arp.sender_mac == [0; 6] {
            return;
        }
        if self.by_ip.len() >= MAX_ENTRIES && !self.by_ip.contains_key(&arp.sender_ip) {
            evict_oldest(&mut self.by_ip);
        }
        if self.by_mac.len() >= MAX_ENTRIES && !self.by_mac.contains_key(&arp.sender_mac) {
            evict_oldest(&mut self.by_mac);
        }
        self.by_ip.insert(arp.sender_ip, (arp.sender_mac, now));
        self.by_mac.insert(arp.sender_mac, (arp.sender_ip, now));
    }

    /// The MAC an IP was last claimed by.
    pub fn mac_of(&self, ip: Ipv4Addr) -> Option<Mac> {
        self.by_ip.get(&ip).map(|(m, _)| *m)
    }

    /// The IP a MAC last claimed.
    pub fn ip_of(&self, mac: &Mac) -> Option<Ipv4Addr> {
        self.by_mac.get(mac).map(|(ip, _)| *ip)
    }
}

fn evict_oldest<K: Copy + Ord + std::hash::Hash, V>(map: &mut HashMap<K, (V, Timestamp)>) {
    // Rare (only when full): a linear scan keeps the common path free of extra structure.
    // Ties go to the smallest key, not to the hash order, so every copy of the table (one
    // per thread in a parallel run) forgets the same entry.
    if let Some(k) = map
        .iter()
        .min_by_key(|(k, (_, t))| (*t, **k))
        .map(|(k, _)| *k)
    {
        map.remove(&k);
    }
}
