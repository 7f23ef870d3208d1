//! The network itself, as its traffic shows it: subnets, gateways, DNS and DHCP servers.
//! In live mode the host's own view (routing table, resolver configuration) is added by
//! [`HostView::read`].

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::dhcp::DhcpMessage;

/// Most entries kept per list.
const MAX_ENTRIES: usize = 64;

/// What traffic said about the network. Gateways are added from the devices at report
/// time ([`super::DeviceReport::gateways`]); the rest is learned as packets pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkEnvironment {
    /// Subnets DHCP servers handed out (address and mask of their offers), as
    /// `10.0.0.0/24`, and IPv6 prefixes routers advertised.
    pub subnets: BTreeSet<String>,
    /// Routers named by DHCP (option 3).
    pub dhcp_routers: BTreeSet<IpAddr>,
    /// DNS servers: local hosts seen answering DNS, and those DHCP names (option 6).
    pub dns_servers: BTreeSet<IpAddr>,
    /// DHCP servers in the order first seen (option 54, else the reply's source).
    pub dhcp_servers: Vec<IpAddr>,
    /// DHCP servers already reported as rogue.
    #[serde(skip)]
    rogue_reported: BTreeSet<IpAddr>,
}

impl NetworkEnvironment {
    pub(super) fn add_dns_server(&mut self, ip: IpAddr) {
        if self.dns_servers.len() < MAX_ENTRIES {
            self.dns_servers.insert(ip);
        }
    }

    pub(super) fn add_dhcp_offer(&mut self, m: &DhcpMessage, server: IpAddr) {
        if !self.dhcp_servers.contains(&server) && self.dhcp_servers.len() < MAX_ENTRIES {
            self.dhcp_servers.push(server);
        }
        for r in &m.routers {
            if self.dhcp_routers.len() < MAX_ENTRIES {
                self.dhcp_routers.insert(IpAddr::V4(*r));
            }
        }
        for d in &m.dns_servers {
            self.add_dns_server(IpAddr::V4(*d));
        }
        if let (Some(ip), Some(mask)) = (m.your_ip, m.subnet_mask) {
            let bits = u32::from(mask);
            // A valid mask is ones then zeros.
            if bits.leading_ones() + bits.trailing_zeros() == 32 {
                let net = Ipv4Addr::from(u32::from(ip) & bits);
                self.add_subnet(format!("{net}/{}", bits.leading_ones()));
            }
        }
    }

    pub(super) fn add_subnet(&mut self, subnet: String) {
        if self.subnets.len() < MAX_ENTRIES {
            self.subnets.insert(subnet);
        }
    }

    /// Whether `server` is reported as rogue for the first time.
    pub(super) fn note_rogue(&mut self, server: IpAddr) -> bool {
        self.rogue_reported.len() < MAX_ENTRIES && self.rogue_reported.insert(server)
    }
}

/// The capturing host's own configuration (Linux): default gateways from
/// `/proc/net/route` and name servers from `/etc/resolv.conf`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostView {
    /// Default gateways, with their interface.
    pub default_gateways: Vec<(String, Ipv4Addr)>,
    /// `nameserver` lines.
    pub dns_servers: Vec<IpAddr>,
}

impl HostView {
    /// Reads the host's files; what cannot be read is left empty.
    pub fn read() -> Self {
        HostView {
            default_gateways: std::fs::read_to_string("/proc/net/route")
                .map(|t| parse_route_table(&t))
                .unwrap_or_default(),
            dns_servers: std::fs::read_to_string("/etc/resolv.conf")
                .map(|t| parse_resolv_conf(&t))
                .unwrap_or_default(),
        }
    }
}

/// Default routes of `/proc/net/route` (destination 0, gateway in little-endian hex).
pub fn parse_route_table(text: &str) -> Vec<(String, Ipv4Addr)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, gw) = (f.first()?, f.get(1)?, f.get(2)?);
            if *dest != "00000000" {
                return None;
            }
            let gw = u32::from_str_radix(gw, 16).ok()?;
            let ip = Ipv4Addr::from(gw.swap_bytes());
            (!ip.is_unspecified()).then(|| (iface.to_string(), ip))
        })
        .collect()
}

/// `nameserver` addresses of a resolv.conf.
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_files_parse() {
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                     eth0\t00000000\t010A0A0A\t0003\t0\t0\t0\t00000000\n\
                     eth0\t000A0A0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert_eq!(
            parse_route_table(route),
            vec![("eth0".to_string(), Ipv4Addr::new(10, 10, 10, 1))]
        );
        let resolv = "# x\nsearch lab\nnameserver 10.10.0.1\nnameserver fe80::1%eth0\n";
        assert_eq!(
            parse_resolv_conf(resolv),
            vec![
                "10.10.0.1".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }
}
