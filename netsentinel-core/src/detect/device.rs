//! `device`: news about the devices on the network, from the engine's device inventory
//! ([`crate::device`]).
//!
//! **Detects**
//! - `new_device` (info): a MAC first seen after the inventory's settling period
//!   (`devices.settle_secs`, default 300 s of packet time): the devices present at the
//!   start are the known population, later arrivals are news;
//! - `address_moved` (low): a local address now used by another MAC (a replaced machine,
//!   a new DHCP lease, or a host relaying someone else's traffic as in ARP spoofing, which
//!   `arp_spoof` judges). Once per (address, new MAC);
//! - `rogue_dhcp_server` (high): a DHCP server other than the trusted ones
//!   (`devices.trusted_dhcp_servers`, else the first server seen) offered or acknowledged
//!   an address. Once per server.
//!
//! **False positives**: a second, legitimate DHCP server (failover pair) not listed as
//! trusted; the first server seen being the rogue one when no server is configured (then
//! the real one is reported instead, which still shows there are two).
//!
//! **References**: MITRE ATT&CK T1557.003 (DHCP spoofing); RFC 2131.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest};
use crate::alert::{Alert, Severity};
use crate::device::DeviceEvent;
use crate::neighbor::mac_to_string;
use crate::time::Timestamp;

/// Settings of `device`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceDetectorConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Report `new_device`. Default true.
    pub new_device: bool,
    /// Report `address_moved`. Default true.
    pub address_moved: bool,
}

impl Default for DeviceDetectorConfig {
    fn default() -> Self {
        DeviceDetectorConfig {
            enabled: true,
            new_device: true,
            address_moved: true,
        }
    }
}

/// The `device` detector.
pub struct DeviceDetector {
    cfg: DeviceDetectorConfig,
    /// Next inventory event to read.
    cursor: u64,
}

impl DeviceDetector {
    /// A detector with `config`.
    pub fn new(config: &DeviceDetectorConfig) -> Self {
        DeviceDetector {
            cfg: config.clone(),
            cursor: 0,
        }
    }

    fn alert(&self, e: &DeviceEvent) -> Option<Alert> {
        let vendor = |v: &crate::device::Vendor| v.to_string();
        Some(match e {
            DeviceEvent::NewDevice {
                ts,
                mac,
                vendor: v,
                ip,
            } => {
                if !self.cfg.new_device {
                    return None;
                }
                let at = ip.map(|ip| format!(" at {ip}")).unwrap_or_default();
                Alert::new(
                    *ts,
                    "device",
                    Severity::Info,
                    "new_device",
                    format!("new device {} ({}){at}", mac_to_string(mac), vendor(v)),
                )
                .with_endpoints(*ip, None, None, None)
                .with_distinct(format!("new_device:{}", mac_to_string(mac)))
                .with_evidence("mac", mac_to_string(mac))
                .with_evidence("vendor", vendor(v))
            }
            DeviceEvent::AddressMoved {
                ts,
                ip,
                old_mac,
                new_mac,
                old_vendor,
                new_vendor,
            } => {
                if !self.cfg.address_moved {
                    return None;
                }
                Alert::new(
                    *ts,
                    "device",
                    Severity::Low,
                    "address_moved",
                    format!(
                        "{ip} moved from {} ({}) to {} ({})",
                        mac_to_string(old_mac),
                        vendor(old_vendor),
                        mac_to_string(new_mac),
                        vendor(new_vendor)
                    ),
                )
                .with_endpoints(Some(*ip), None, None, None)
                .with_distinct(format!("address_moved:{}", mac_to_string(new_mac)))
                .with_evidence("old_mac", mac_to_string(old_mac))
                .with_evidence("new_mac", mac_to_string(new_mac))
            }
            DeviceEvent::RogueDhcpServer {
                ts,
                server,
                mac,
                trusted,
            } => {
                let trusted: Vec<String> = trusted.iter().map(IpAddr::to_string).collect();
                Alert::new(
                    *ts,
                    "device",
                    Severity::High,
                    "rogue_dhcp_server",
                    format!(
                        "DHCP server {server} ({}) answers clients besides the trusted {}",
                        mac_to_string(mac),
                        if trusted.is_empty() {
                            "none".to_string()
                        } else {
                            trusted.join(", ")
                        }
                    ),
                )
                .with_mitre("T1557.003")
                .with_endpoints(Some(*server), Some(67), None, Some(68))
                .with_distinct("rogue_dhcp_server")
                .with_evidence("server_mac", mac_to_string(mac))
                .with_evidence("trusted", trusted)
            }
        })
    }

    fn drain(&mut self, cx: &mut Context<'_>) {
        let Some(devices) = cx.devices() else {
            return;
        };
        let (events, next) = devices.events_since(self.cursor);
        let alerts: Vec<Alert> = events.filter_map(|e| self.alert(e)).collect();
        self.cursor = next;
        for a in alerts {
            cx.emit(a);
        }
    }
}

impl Detector for DeviceDetector {
    fn id(&self) -> &'static str {
        "device"
    }

    fn interest(&self) -> Interest {
        Interest::TICK | Interest::DEVICES
    }

    fn on_packet(&mut self, _pkt: &crate::decode::PacketView<'_>, _cx: &mut Context<'_>) {}

    fn on_tick(&mut self, _now: Timestamp, cx: &mut Context<'_>) {
        self.drain(cx);
    }

    fn on_finish(&mut self, _now: Timestamp, cx: &mut Context<'_>) {
        self.drain(cx);
    }
}
