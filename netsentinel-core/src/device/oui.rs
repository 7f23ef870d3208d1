//! Vendor of a MAC address from the IEEE registry.
//!
//! The registry (MA-L 24-bit, MA-M 28-bit, MA-S and IAB 36-bit assignments) is embedded at
//! build time from `netsentinel-core/data/oui.tsv`, made from Debian's `ieee-data` package by
//! `scripts/oui/make-oui.py` (source and date in `netsentinel-core/data/SOURCES.md`). It is
//! parsed once, on the first lookup. The longest assignment wins: a 36-bit block inside a
//! 24-bit block registered to the IEEE itself names the block's real owner.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::neighbor::Mac;

const REGISTRY: &str = include_str!("../../data/oui.tsv");

/// What the address's first bits say about who made it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Vendor {
    /// A registered assignment's organisation.
    Registered(&'static str),
    /// The locally administered bit is set (virtual machines, containers, randomised
    /// phone addresses): no vendor can be known.
    LocallyAdministered,
    /// A group (multicast/broadcast) address.
    Group,
    /// Not in the registry.
    #[default]
    Unknown,
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Vendor::Registered(n) => n,
            Vendor::LocallyAdministered => "locally administered address",
            Vendor::Group => "group address",
            Vendor::Unknown => "unregistered",
        })
    }
}

impl Vendor {
    /// The organisation, when registered.
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Vendor::Registered(n) => Some(n),
            _ => None,
        }
    }
}

/// The registry: prefix value and bit length to organisation.
struct Registry {
    by_prefix: HashMap<(u64, u8), &'static str>,
}

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut by_prefix = HashMap::with_capacity(50_000);
        for line in REGISTRY.lines().filter(|l| !l.starts_with('#')) {
            let Some((hex, org)) = line.split_once('\t') else {
                continue;
            };
            let bits = match hex.len() {
                6 => 24,
                7 => 28,
                9 => 36,
                _ => continue,
            };
            if let Ok(value) = u64::from_str_radix(hex, 16) {
                by_prefix.insert((value, bits), org);
            }
        }
        Registry { by_prefix }
    })
}

/// The vendor of `mac`.
///
/// ```
/// use netsentinel_core::device::{vendor_of, Vendor};
/// assert_eq!(vendor_of(&[0x00, 0x00, 0x0c, 1, 2, 3]), Vendor::Registered("Cisco Systems, Inc"));
/// assert_eq!(vendor_of(&[0x02, 0x10, 0, 0, 0, 1]), Vendor::LocallyAdministered);
/// ```
pub fn vendor_of(mac: &Mac) -> Vendor {
    if mac[0] & 0x01 != 0 {
        return Vendor::Group;
    }
    if mac[0] & 0x02 != 0 {
        return Vendor::LocallyAdministered;
    }
    let value = mac.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
    let reg = registry();
    for bits in [36u8, 28, 24] {
        if let Some(org) = reg.by_prefix.get(&(value >> (48 - u32::from(bits)), bits)) {
            return Vendor::Registered(org);
        }
    }
    Vendor::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_assignment_wins() {
        // 70:B3:D5 is an IEEE Registration Authority MA-L holding MA-S blocks; 70:B3:D5:F2:F
        // is TELEPLATFORMS (ieee-data oui36.csv).
        assert_eq!(
            vendor_of(&[0x70, 0xb3, 0xd5, 0xf2, 0xf0, 0x01]),
            Vendor::Registered("TELEPLATFORMS")
        );
        assert_eq!(
            vendor_of(&[0x70, 0xb3, 0xd5, 0x00, 0x00, 0x01]).name(),
            Some("IEEE Registration Authority")
        );
        assert_eq!(vendor_of(&[0xff; 6]), Vendor::Group);
        assert_eq!(
            vendor_of(&[0x08, 0x00, 0x27, 0, 0, 1]).name(),
            Some("PCS Systemtechnik GmbH")
        );
    }
}
