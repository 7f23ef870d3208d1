//! Enrichment: who the endpoints of an alert are.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::device::{DeviceInventory, classify};
use crate::process::ProcessLookup;
use crate::traffic::LocalNetworks;

/// Which side of the network an address is on (no GeoIP: inside or outside only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// In `traffic.local_networks` (by default the private, link-local and loopback ranges).
    Internal,
    /// Anywhere else.
    External,
    /// A multicast or broadcast group.
    Group,
}

impl Side {
    /// The side of `ip`.
    pub fn of(ip: IpAddr, local: &LocalNetworks) -> Side {
        let group = match ip {
            IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
            IpAddr::V6(v6) => v6.is_multicast(),
        };
        if group {
            Side::Group
        } else if local.contains(ip) {
            Side::Internal
        } else {
            Side::External
        }
    }
}

/// What is known about one endpoint of an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointContext {
    /// Inside or outside.
    pub side: Side,
    /// The device holding the address, when discovery has seen it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Its vendor (IEEE registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Its host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its type (`gateway`, `server`, ...), as classified when the alert was raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_kind: Option<String>,
    /// A threat-intelligence match seen earlier for this address (`feed: indicator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat_intel: Option<String>,
}

/// The local process that owned the alert's connection (live capture on this host).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertProcess {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// Executable path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl AlertProcess {
    /// The process of a lookup that found one.
    pub fn from_lookup(lookup: &ProcessLookup) -> Option<AlertProcess> {
        match lookup {
            ProcessLookup::Found(p) => Some(AlertProcess {
                pid: p.pid,
                name: p.name.clone(),
                exe: p.exe.as_ref().map(|e| e.display().to_string()),
                user: p.user.clone(),
            }),
            ProcessLookup::Unknown { .. } => None,
        }
    }
}

/// Who the endpoints of an alert are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertContext {
    /// The source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<EndpointContext>,
    /// The destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<EndpointContext>,
    /// The local process of the alert's flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<AlertProcess>,
}

/// Describes `ip` from the inventory and the threat-intelligence memory.
pub(super) fn endpoint(
    ip: IpAddr,
    devices: Option<&DeviceInventory>,
    local: &LocalNetworks,
    threat_intel: Option<&str>,
) -> EndpointContext {
    let mut out = EndpointContext {
        side: Side::of(ip, local),
        mac: None,
        vendor: None,
        name: None,
        device_kind: None,
        threat_intel: threat_intel.map(str::to_string),
    };
    if let Some(inv) = devices
        && let Some(d) = inv.by_ip(ip)
    {
        out.mac = Some(crate::neighbor::mac_to_string(&d.mac));
        out.vendor = Some(d.vendor.to_string());
        out.name = d.name().map(str::to_string);
        out.device_kind = Some(classify(d, inv.environment()).kind.as_str().to_string());
    }
    out
}
