//! Device discovery against tshark's decoding of the same captures
//! (`tests/data/devices/expected.tsv`, written by `regen-tshark.py` there).

use std::collections::BTreeMap;
use std::path::Path;

use netsentinel_core::device::{DeviceKind, DeviceReport, Vendor};
use netsentinel_core::neighbor::mac_to_string;
use netsentinel_core::{Engine, EngineConfig, FileSource};
use netsentinel_tests::data_dir;

fn report(path: &Path) -> DeviceReport {
    let mut engine = Engine::builder(EngineConfig::default()).build().unwrap();
    let mut source = FileSource::open(path).unwrap();
    engine.run(&mut source).unwrap();
    engine.devices().report()
}

/// The organisation's first word, lower case: Wireshark's vendor names and the IEEE
/// registry's differ in suffixes and renames ("PCS Computer Systems GmbH" against
/// "PCS Systemtechnik GmbH" for VirtualBox's 08:00:27).
fn first_word(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_lowercase()
}

#[test]
fn devices_match_tshark() {
    let expected = std::fs::read_to_string(data_dir().join("devices/expected.tsv")).unwrap();
    let mut reports: BTreeMap<String, DeviceReport> = BTreeMap::new();
    let mut checked = (0, 0, 0);
    for line in expected.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let [file, mac, vendor, names, kind] = f[..] else {
            panic!("bad line {line}");
        };
        let r = reports
            .entry(file.to_string())
            .or_insert_with(|| report(&data_dir().join(file)));
        let Some(d) = r
            .devices
            .iter()
            .find(|d| mac_to_string(&d.device.mac) == mac)
        else {
            panic!("{file}: device {mac} not found");
        };
        let what = format!("{file} {mac}");
        if vendor != "-" {
            let ours = d
                .device
                .vendor
                .name()
                .unwrap_or_else(|| panic!("{what}: no vendor, tshark {vendor}"));
            assert_eq!(
                first_word(ours),
                first_word(vendor),
                "{what}: vendor {ours} against {vendor}"
            );
            checked.0 += 1;
        } else if u8::from_str_radix(&mac[..2], 16).unwrap() & 2 != 0 {
            assert_eq!(d.device.vendor, Vendor::LocallyAdministered, "{what}");
        }
        if names != "-" {
            for n in names.split(',') {
                assert!(
                    d.device
                        .names
                        .iter()
                        .any(|h| h.name.eq_ignore_ascii_case(n)),
                    "{what}: name {n} not among {:?}",
                    d.device.names
                );
                checked.1 += 1;
            }
        }
        if kind != "-" {
            assert_eq!(
                d.classification.kind.as_str(),
                kind,
                "{what}: type, reasons {:?}",
                d.classification.reasons
            );
            assert!(d.classification.kind != DeviceKind::Unknown);
            checked.2 += 1;
        }
    }
    // Every row was read: 21 vendors, 9 names, 54 types in the committed file.
    assert_eq!(checked, (21, 9, 54));
}

/// IPv6 prefixes from router advertisements (tshark: icmpv6.opt.prefix / prefix.length).
#[test]
fn advertised_ipv6_prefixes() {
    let r = report(&data_dir().join("malformed/tcpdump-tests/icmpv6-ra-pref64.pcap"));
    let subnets: Vec<&str> = r.environment.subnets.iter().map(String::as_str).collect();
    assert_eq!(subnets, ["2001:db8:cc:dd::/64", "2a00:f480:cc:dd::/64"]);
}

#[test]
fn lab_environment_from_traffic() {
    let r = report(&data_dir().join("corpus/benign/benign_office.pcap"));
    let env = &r.environment;
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(r.gateways, vec![ip("10.10.0.1")]);
    assert_eq!(env.dhcp_servers, vec![ip("10.10.0.1")]);
    assert!(env.dns_servers.contains(&ip("10.10.0.1")));
    assert!(env.subnets.contains("10.10.0.0/24"), "{:?}", env.subnets);
    let server = r
        .devices
        .iter()
        .find(|d| d.device.current_ip() == Some(ip("10.10.0.10")))
        .unwrap();
    let ports: Vec<u16> = server.device.open_ports.iter().map(|p| p.port).collect();
    assert_eq!(ports, vec![22, 80, 443]);
    let pc = r
        .devices
        .iter()
        .find(|d| d.device.current_ip() == Some(ip("10.10.0.20")))
        .unwrap();
    let fp = pc.device.dhcp.as_ref().unwrap();
    assert_eq!(fp.parameter_request_list, "1,3,6,12,15,28,42");
    assert_eq!(fp.vendor_class.as_deref(), Some("udhcp 1.35.0"));
}
