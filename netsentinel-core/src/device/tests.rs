use std::net::{IpAddr, Ipv4Addr};

use etherparse::PacketBuilder;

use super::*;
use crate::decode::decode;
use crate::source::{LinkType, RawPacket};

const PRINTER: Mac = [0x00, 0x11, 0x0a, 0, 0, 0x09]; // an HP MA-L
const PC: Mac = [0x98, 0xe7, 0x43, 0, 0, 0x05]; // Dell
const ROUTER: Mac = [0x00, 0x00, 0x0c, 0, 0, 0x01]; // Cisco
const ROGUE: Mac = [0x02, 0, 0, 0, 0, 0x66];

fn local() -> LocalNetworks {
    LocalNetworks::new(&["10.0.0.0/8".parse().unwrap()])
}

fn udp(
    src_mac: Mac,
    dst_mac: Mac,
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src, dst, ttl)
        .udp(ports.0, ports.1)
        .write(&mut f, payload)
        .unwrap();
    f
}

fn tcp(
    src_mac: Mac,
    dst_mac: Mac,
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    syn_ack: bool,
) -> Vec<u8> {
    let mut f = Vec::new();
    let b = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src, dst, 64)
        .tcp(ports.0, ports.1, 1, 1000)
        .syn();
    let b = if syn_ack { b.ack(1) } else { b };
    b.write(&mut f, &[]).unwrap();
    f
}

fn feed(inv: &mut DeviceInventory, secs: i64, frame: &[u8]) {
    let raw = RawPacket {
        ts: Timestamp::from_secs_micros(secs, 0),
        data: frame,
        orig_len: frame.len() as u32,
        link: LinkType::Ethernet,
    };
    inv.observe(&decode(&raw), &local());
}

fn dhcp(op: u8, kind: u8, client: Mac, yiaddr: [u8; 4], options: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; 240];
    m[0] = op;
    m[1] = 1;
    m[2] = 6;
    m[16..20].copy_from_slice(&yiaddr);
    m[28..34].copy_from_slice(&client);
    m[236..240].copy_from_slice(&[99, 130, 83, 99]);
    m.extend_from_slice(&[53, 1, kind]);
    m.extend_from_slice(options);
    m.push(255);
    m
}

fn events(inv: &DeviceInventory) -> Vec<DeviceEvent> {
    inv.events_since(0).0.cloned().collect()
}

#[test]
fn dhcp_names_fingerprints_and_rogue_servers() {
    let mut inv = DeviceInventory::new(DeviceConfig::default());
    let discover = dhcp(
        1,
        1,
        PC,
        [0; 4],
        &[
            12, 7, b'D', b'E', b'S', b'K', b'-', b'0', b'7', 55, 4, 1, 3, 6, 15, 60, 8, b'M', b'S',
            b'F', b'T', b' ', b'5', b'.', b'0',
        ],
    );
    feed(
        &mut inv,
        0,
        &udp(PC, [0xff; 6], [0; 4], [255; 4], (68, 67), 128, &discover),
    );
    let server_opts = [
        54, 4, 10, 0, 0, 1, 1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 0, 1, 6, 4, 10, 0, 0, 1,
    ];
    let offer = dhcp(2, 2, PC, [10, 0, 0, 5], &server_opts);
    feed(
        &mut inv,
        1,
        &udp(
            ROUTER,
            PC,
            [10, 0, 0, 1],
            [10, 0, 0, 5],
            (67, 68),
            255,
            &offer,
        ),
    );
    assert!(events(&inv).is_empty(), "{:?}", events(&inv));
    let rogue_offer = dhcp(2, 2, PC, [10, 0, 0, 99], &[54, 4, 10, 0, 0, 66]);
    for t in 2..4 {
        feed(
            &mut inv,
            t,
            &udp(
                ROGUE,
                PC,
                [10, 0, 0, 66],
                [10, 0, 0, 5],
                (67, 68),
                64,
                &rogue_offer,
            ),
        );
    }
    let pc = inv.get(&PC).unwrap();
    assert_eq!(pc.name(), Some("DESK-07"));
    assert_eq!(pc.names[0].source, NameSource::Dhcp);
    let fp = pc.dhcp.as_ref().unwrap();
    assert_eq!(fp.parameter_request_list, "1,3,6,15");
    assert_eq!(fp.vendor_class.as_deref(), Some("MSFT 5.0"));
    let env = inv.environment();
    assert_eq!(
        env.dhcp_servers,
        vec![IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 66])]
    );
    assert!(env.subnets.contains("10.0.0.0/24"));
    assert!(env.dns_servers.contains(&IpAddr::from([10, 0, 0, 1])));
    let rogue: Vec<_> = events(&inv)
        .into_iter()
        .filter(|e| matches!(e, DeviceEvent::RogueDhcpServer { .. }))
        .collect();
    assert_eq!(rogue.len(), 1, "once per server");
    let DeviceEvent::RogueDhcpServer {
        server,
        mac,
        trusted,
        ..
    } = &rogue[0]
    else {
        unreachable!()
    };
    assert_eq!((*server, *mac), (IpAddr::from([10, 0, 0, 66]), ROGUE));
    assert_eq!(trusted, &vec![IpAddr::from([10, 0, 0, 1])]);
    let report = inv.report();
    let router = report
        .devices
        .iter()
        .find(|r| r.device.mac == ROUTER)
        .unwrap();
    assert_eq!(router.device.vendor.name(), Some("Cisco Systems, Inc"));
    assert_eq!(router.os_family, Some("network equipment or Solaris"));
    // A configured trusted server makes the first one seen the rogue one, if not listed.
    let mut strict = DeviceInventory::new(DeviceConfig {
        trusted_dhcp_servers: vec![IpAddr::from([10, 0, 0, 66])],
        ..DeviceConfig::default()
    });
    feed(
        &mut strict,
        1,
        &udp(
            ROUTER,
            PC,
            [10, 0, 0, 1],
            [10, 0, 0, 5],
            (67, 68),
            255,
            &offer,
        ),
    );
    assert!(matches!(
        events(&strict)[..],
        [DeviceEvent::RogueDhcpServer { .. }]
    ));
}

#[test]
fn mdns_printer_is_classified_with_reasons() {
    let mut inv = DeviceInventory::new(DeviceConfig::default());
    // Announcement: PTR _ipp._tcp.local -> Office._ipp._tcp.local, SRV -> prn.local:631,
    // A prn.local -> 10.0.0.9.
    let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, 3, 0, 0, 0, 0];
    m.extend_from_slice(b"\x04_ipp\x04_tcp\x05local\x00");
    m.extend_from_slice(&[0, 12, 0, 1, 0, 0, 0, 120, 0, 9]);
    m.extend_from_slice(b"\x06Office\xc0\x0c");
    m.extend_from_slice(b"\x06Office\xc0\x0c");
    m.extend_from_slice(&[0, 33, 0x80, 1, 0, 0, 0, 120, 0, 12, 0, 0, 0, 0, 2, 0x77]);
    m.extend_from_slice(b"\x03prn\xc0\x16");
    m.extend_from_slice(b"\x03prn\xc0\x16");
    m.extend_from_slice(&[0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 10, 0, 0, 9]);
    feed(
        &mut inv,
        0,
        &udp(
            PRINTER,
            [1, 0, 0x5e, 0, 0, 0xfb],
            [10, 0, 0, 9],
            [224, 0, 0, 251],
            (5353, 5353),
            255,
            &m,
        ),
    );
    feed(
        &mut inv,
        1,
        &tcp(
            PRINTER,
            PC,
            [10, 0, 0, 9],
            [10, 0, 0, 5],
            (9100, 40000),
            true,
        ),
    );
    let r = inv.report();
    let p = &r.devices[0];
    assert_eq!(p.name.as_deref(), Some("prn"));
    assert!(
        p.device.mdns_services.contains("_ipp._tcp"),
        "{:?}",
        p.device.mdns_services
    );
    assert_eq!(p.classification.kind, DeviceKind::Printer);
    assert!(p.classification.confidence > 0.9);
    assert!(p.classification.reasons.iter().any(|r| r.contains("9100")));
    assert_eq!(p.device.vendor.name(), Some("Hewlett Packard"));
}

#[test]
fn roles_from_behaviour_and_moves() {
    let mut inv = DeviceInventory::new(DeviceConfig {
        settle_secs: 10,
        ..DeviceConfig::default()
    });
    // The router relays traffic for an external host both ways; the PC opens connections;
    // a server answers three clients.
    relay(&mut inv, ROUTER, 0);
    for c in 1..=3u8 {
        feed(
            &mut inv,
            1,
            &tcp(PRINTER, PC, [10, 0, 0, 9], [10, 0, 0, c], (22, 40000), true),
        );
    }
    let r = inv.report();
    let kind = |mac: Mac| {
        r.devices
            .iter()
            .find(|d| d.device.mac == mac)
            .unwrap()
            .classification
            .kind
    };
    assert_eq!(kind(ROUTER), DeviceKind::Gateway);
    assert_eq!(kind(PC), DeviceKind::Workstation);
    assert_eq!(kind(PRINTER), DeviceKind::Server);
    assert_eq!(
        r.gateways,
        Vec::<IpAddr>::new(),
        "the router used no local address"
    );
    // External addresses are not the router's own.
    assert!(inv.get(&ROUTER).unwrap().addresses.is_empty());
    // After the settling period a new MAC is news, with its first address.
    feed(
        &mut inv,
        5,
        &arp_reply(ROGUE, [10, 0, 0, 77], [10, 0, 0, 1]),
    );
    assert!(events(&inv).is_empty(), "inside the settling period");
    let late: Mac = [0x02, 0, 0, 0, 0, 0x99];
    feed(
        &mut inv,
        20,
        &arp_reply(late, [10, 0, 0, 78], [10, 0, 0, 1]),
    );
    // ARP moves an address: the late device now claims the PC's.
    feed(&mut inv, 21, &arp_reply(late, [10, 0, 0, 5], [10, 0, 0, 1]));
    // An IP packet relayed with the PC's address does not move it back or again.
    feed(
        &mut inv,
        22,
        &tcp(
            ROGUE,
            ROUTER,
            [10, 0, 0, 5],
            [203, 0, 113, 1],
            (40000, 443),
            false,
        ),
    );
    let ev = events(&inv);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(
        matches!(&ev[0], DeviceEvent::NewDevice { mac, ip: Some(ip), .. } if *mac == late && *ip == IpAddr::from([10, 0, 0, 78]))
    );
    assert!(
        matches!(&ev[1], DeviceEvent::AddressMoved { old_mac, new_mac, .. } if *old_mac == PC && *new_mac == late)
    );
    assert_eq!(inv.by_ip(IpAddr::from([10, 0, 0, 5])).unwrap().mac, late);
    let (_, next) = inv.events_since(0);
    assert_eq!(inv.events_since(next).0.count(), 0);
}

#[test]
fn netbios_ssdp_lldp_and_ptr_names() {
    let mut inv = DeviceInventory::new(DeviceConfig::default());
    // NetBIOS registration of WIN-PC by 10.0.0.5.
    let enc: String = {
        let mut b = [b' '; 16];
        b[..6].copy_from_slice(b"WIN-PC");
        b[15] = 0;
        b.iter()
            .flat_map(|&x| [(b'A' + (x >> 4)) as char, (b'A' + (x & 15)) as char])
            .collect()
    };
    let mut nb = vec![0x12, 0x34, 0x29, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 32];
    nb.extend_from_slice(enc.as_bytes());
    nb.extend_from_slice(&[0, 0, 0x20, 0, 1, 0, 0, 0x0e, 0x10, 0, 6, 0, 0, 10, 0, 0, 5]);
    feed(
        &mut inv,
        0,
        &udp(
            PC,
            [0xff; 6],
            [10, 0, 0, 5],
            [10, 255, 255, 255],
            (137, 137),
            128,
            &nb,
        ),
    );
    // SSDP announcement from the printer MAC.
    let ssdp = b"NOTIFY * HTTP/1.1\r\nNT: urn:schemas-upnp-org:device:MediaRenderer:1\r\nSERVER: Linux UPnP/1.0 Sonos/70.3\r\n\r\n";
    feed(
        &mut inv,
        1,
        &udp(
            PRINTER,
            [1, 0, 0x5e, 0x7f, 0xff, 0xfa],
            [10, 0, 0, 9],
            [239, 255, 255, 250],
            (1900, 1900),
            4,
            ssdp,
        ),
    );
    // A DNS answer naming 10.0.0.9.
    let mut ptr = vec![0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    ptr.extend_from_slice(b"\x019\x010\x010\x0210\x07in-addr\x04arpa\x00\x00\x0c\x00\x01");
    ptr.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, 10]);
    ptr.extend_from_slice(b"\x04tv-1\x03lan\x00");
    feed(
        &mut inv,
        2,
        &udp(
            ROUTER,
            PC,
            [10, 0, 0, 1],
            [10, 0, 0, 5],
            (53, 40000),
            64,
            &ptr,
        ),
    );
    // LLDP from a switch.
    let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
    lldp.extend_from_slice(&[0x00, 0x00, 0x0c, 0, 0, 0x02, 0x88, 0xcc]);
    lldp.extend_from_slice(&[
        0x0a, 6, b'c', b'o', b'r', b'e', b'-', b'1', 0x0e, 4, 0, 0x14, 0, 0x04, 0, 0,
    ]);
    feed(&mut inv, 3, &lldp);
    let pc = inv.get(&PC).unwrap();
    assert_eq!(pc.name(), Some("WIN-PC"));
    assert_eq!(pc.ttl.os_family(), Some("Windows"));
    let tv = inv
        .report()
        .devices
        .into_iter()
        .find(|r| r.device.mac == PRINTER)
        .unwrap();
    assert_eq!(tv.name.as_deref(), Some("tv-1.lan"));
    assert_eq!(tv.device.names[0].source, NameSource::DnsPtr);
    assert_eq!(tv.classification.kind, DeviceKind::Media);
    let sw = inv
        .report()
        .devices
        .into_iter()
        .find(|r| r.device.mac == [0x00, 0x00, 0x0c, 0, 0, 0x02])
        .unwrap();
    assert_eq!(sw.name.as_deref(), Some("core-1"));
    assert_eq!(sw.classification.kind, DeviceKind::Switch);
    assert!(
        inv.environment()
            .dns_servers
            .contains(&IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
    );
}

#[test]
fn device_cap_is_counted() {
    let mut inv = DeviceInventory::new(DeviceConfig {
        max_devices: 2,
        ..DeviceConfig::default()
    });
    for i in 0..5u8 {
        feed(
            &mut inv,
            0,
            &udp(
                [0x02, 0, 0, 0, 1, i],
                PC,
                [10, 0, 1, i],
                [10, 0, 0, 5],
                (5000, 5001),
                64,
                b"x",
            ),
        );
    }
    assert_eq!(inv.devices().count(), 2);
    assert_eq!(inv.untracked(), 3);
}

#[test]
fn saved_inventory_round_trips_and_bad_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("ns-inv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("devices.json");
    let mut inv = DeviceInventory::new(DeviceConfig::default());
    let discover = dhcp(1, 1, PC, [0; 4], &[12, 2, b'p', b'c', 55, 2, 1, 3]);
    feed(
        &mut inv,
        0,
        &udp(PC, [0xff; 6], [0; 4], [255; 4], (68, 67), 128, &discover),
    );
    feed(
        &mut inv,
        1,
        &tcp(
            PRINTER,
            PC,
            [10, 0, 0, 9],
            [10, 0, 0, 5],
            (9100, 40000),
            true,
        ),
    );
    let mut lldp = vec![
        0x01, 0x80, 0xc2, 0, 0, 0x0e, 0x00, 0x00, 0x0c, 0, 0, 0x02, 0x88, 0xcc,
    ];
    lldp.extend_from_slice(&[0x0a, 2, b's', b'w', 0x0e, 4, 0, 0x14, 0, 0x14, 0, 0]);
    feed(&mut inv, 2, &lldp);
    inv.save(&path).unwrap();
    let back = DeviceInventory::load(&path, DeviceConfig::default()).unwrap();
    assert_eq!(back.report(), inv.report());
    assert_eq!(
        back.by_ip(IpAddr::from([10, 0, 0, 9])).unwrap().mac,
        PRINTER
    );
    // Known devices: a new MAC is news at once, a known one is not.
    let mut back = back;
    feed(
        &mut back,
        3,
        &tcp(
            PC,
            PRINTER,
            [10, 0, 0, 5],
            [10, 0, 0, 9],
            (40001, 22),
            false,
        ),
    );
    feed(
        &mut back,
        3,
        &tcp(
            ROGUE,
            PRINTER,
            [10, 0, 0, 66],
            [10, 0, 0, 9],
            (40001, 22),
            false,
        ),
    );
    let ev = events(&back);
    assert!(
        matches!(&ev[..], [DeviceEvent::NewDevice { mac, .. }] if *mac == ROGUE),
        "{ev:?}"
    );
    // Damaged, foreign and future files are refused and left as they were.
    let good = std::fs::read(&path).unwrap();
    for (bytes, want) in [
        (
            good[..good.len() / 2].to_vec(),
            "not a NetSentinel device inventory",
        ),
        (
            b"{\"format\": \"other\"}".to_vec(),
            "not a NetSentinel device inventory",
        ),
        (
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("\"version\":1", "\"version\":9", 1)
                .into_bytes(),
            "version 9",
        ),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let err = DeviceInventory::load(&path, DeviceConfig::default()).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_damaged_inventory_is_moved_aside_not_overwritten() {
    let dir = std::env::temp_dir().join(format!("ns-inv-aside-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("devices.json");
    let (inv, warning) = DeviceInventory::load_or_new(&path, DeviceConfig::default()).unwrap();
    assert!(
        warning.is_none() && inv.devices().count() == 0,
        "missing file: empty, quiet"
    );
    std::fs::write(
        &path,
        b"{\"format\": \"netsentinel-devices\", \"version\": 1, \"devi",
    )
    .unwrap();
    let (_, warning) = DeviceInventory::load_or_new(&path, DeviceConfig::default()).unwrap();
    let warning = warning.expect("a warning");
    assert!(warning.contains("moved aside"), "{warning}");
    assert!(!path.exists());
    let aside: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(aside[0].path()).unwrap(),
        b"{\"format\": \"netsentinel-devices\", \"version\": 1, \"devi"
    );
    std::fs::remove_dir_all(&dir).ok();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Every parser takes any bytes without panicking, and so does the inventory on any
    /// frame (Ethernet, with the discovery protocols' EtherTypes and UDP ports).
    #[test]
    fn hostile_input(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), port in 0usize..7) {
        let _ = dhcp::parse(&bytes);
        let _ = discovery::parse_lldp(&bytes);
        let _ = discovery::parse_cdp(&bytes);
        let _ = discovery::ethernet_payload(&bytes);
        let _ = ssdp::parse(&bytes);
        let _ = netbios::names_from_nbns(&bytes, Ipv4Addr::new(10, 0, 0, 5));
        let _ = netbios::name_from_datagram(&bytes, Ipv4Addr::new(10, 0, 0, 5));
        if let Some((_, rrs)) = dns::records(&bytes) {
            for r in rrs {
                let _ = (r.target_name(&bytes), r.address(), r.txt_strings());
            }
        }
        let mut inv = DeviceInventory::new(DeviceConfig::default());
        let ports = [(68, 67), (67, 68), (5353, 5353), (1900, 1900), (137, 137), (138, 138), (53, 40000)];
        feed(&mut inv, 0, &udp(PC, ROUTER, [10, 0, 0, 5], [10, 0, 0, 1], ports[port], 64, &bytes));
        let mut frame = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e, 0x00, 0x00, 0x0c, 0, 0, 0x02, 0x88, 0xcc];
        frame.extend_from_slice(&bytes);
        feed(&mut inv, 1, &frame);
        let mut cdp = vec![0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc, 0x00, 0x00, 0x0c, 0, 0, 0x03, 0x01, 0x00];
        cdp.extend_from_slice(&[0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00]);
        cdp.extend_from_slice(&bytes);
        feed(&mut inv, 2, &cdp);
        let _ = inv.report();
    }
}

/// `mac` relays 12 connections between the PC and external addresses, both ways.
fn relay(inv: &mut DeviceInventory, mac: Mac, t: i64) {
    for i in 0..12u8 {
        feed(
            inv,
            t,
            &tcp(mac, PC, [203, 0, 113, i], [10, 0, 0, 5], (443, 40000), true),
        );
        feed(
            inv,
            t,
            &tcp(
                PC,
                mac,
                [10, 0, 0, 5],
                [203, 0, 113, i],
                (40000, 443),
                false,
            ),
        );
    }
}

fn arp_reply(mac: Mac, ip: [u8; 4], to: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(mac, [0xff; 6])
        .arp(
            etherparse::ArpPacket::new(
                etherparse::ArpHardwareId::ETHERNET,
                etherparse::EtherType::IPV4,
                etherparse::ArpOperation::REPLY,
                &mac,
                &ip,
                &[0; 6],
                &to,
            )
            .unwrap(),
        )
        .write(&mut f)
        .unwrap();
    f
}

/// Relaying traffic makes a gateway, unless the relay claims live hosts' addresses (ARP
/// spoofing); a new router taking over a quiet one's address is a gateway again.
#[test]
fn a_man_in_the_middle_is_not_the_gateway() {
    let mut inv = DeviceInventory::new(DeviceConfig::default());
    feed(
        &mut inv,
        0,
        &arp_reply(ROUTER, [10, 0, 0, 1], [10, 0, 0, 5]),
    );
    relay(&mut inv, ROUTER, 1);
    // The spoofer claims the router's address 2 s later, while the router is active.
    feed(&mut inv, 2, &arp_reply(ROGUE, [10, 0, 0, 1], [10, 0, 0, 5]));
    relay(&mut inv, ROGUE, 3);
    let r = inv.report();
    let of = |mac: Mac| {
        r.devices
            .iter()
            .find(|d| d.device.mac == mac)
            .unwrap()
            .classification
            .clone()
    };
    assert_eq!(of(ROUTER).kind, DeviceKind::Gateway);
    let spoofer = of(ROGUE);
    assert_eq!(spoofer.kind, DeviceKind::Unknown);
    assert!(
        spoofer.reasons[0].contains("man in the middle"),
        "{spoofer:?}"
    );
    // A replacement router, after the old one has been silent for ten minutes.
    let new_router: Mac = [0x00, 0x00, 0x0c, 0, 0, 0x07];
    let mut inv = DeviceInventory::new(DeviceConfig::default());
    feed(
        &mut inv,
        0,
        &arp_reply(ROUTER, [10, 0, 0, 1], [10, 0, 0, 5]),
    );
    feed(
        &mut inv,
        600,
        &arp_reply(new_router, [10, 0, 0, 1], [10, 0, 0, 5]),
    );
    relay(&mut inv, new_router, 601);
    let r = inv.report();
    let k = r
        .devices
        .iter()
        .find(|d| d.device.mac == new_router)
        .unwrap()
        .classification
        .kind;
    assert_eq!(k, DeviceKind::Gateway);
}

/// One MAC claiming thousands of addresses keeps 16 and indexes no more than those.
#[test]
fn address_index_stays_bounded() {
    let mut inv = DeviceInventory::new(DeviceConfig::default());
    for n in 0..5000u32 {
        let ip = (10u32 << 24 | n).to_be_bytes();
        feed(&mut inv, i64::from(n), &arp_reply(ROGUE, ip, [10, 0, 0, 1]));
    }
    assert_eq!(inv.get(&ROGUE).unwrap().addresses.len(), 16);
    assert_eq!(inv.by_ip.len(), 16);
    assert_eq!(
        inv.by_ip(IpAddr::from([10, 0, 19, 135])).unwrap().mac,
        ROGUE
    );
}

/// A MAC sending for many local addresses at once (a router of a routed subnet) keeps the
/// addresses it had and counts the rest as relayed; a host whose address changes now and
/// then keeps learning its new ones.
#[test]
fn a_relay_of_local_addresses_stops_taking_them() {
    let query = |from: Mac, to: Mac, src: [u8; 4], dst: [u8; 4], ttl: u8| {
        udp(from, to, src, dst, (5000, 53), ttl, b"")
    };
    let mut inv = DeviceInventory::new(DeviceConfig::default());
    for n in 0..40u8 {
        feed(
            &mut inv,
            1,
            &query(ROUTER, PC, [10, 1, 0, n], [10, 0, 0, 5], 63),
        );
    }
    let d = inv.get(&ROUTER).unwrap();
    assert!(d.relays_local);
    // 0..16 learned, the 17th pushed out 10.1.0.0 (in use) and was learned: a relay.
    let held: Vec<IpAddr> = d.addresses.iter().map(|a| a.ip).collect();
    let expected: Vec<IpAddr> = (1..17u8).map(|n| IpAddr::from([10, 1, 0, n])).collect();
    assert_eq!(held, expected);
    assert_eq!(d.relayed_local, 23);
    assert_eq!(d.ttl.up_to_64, 17);
    // Its own addresses still count as its own.
    feed(
        &mut inv,
        2,
        &query(ROUTER, PC, [10, 1, 0, 3], [10, 0, 0, 5], 63),
    );
    let d = inv.get(&ROUTER).unwrap();
    assert_eq!((d.relayed_local, d.ttl.up_to_64), (23, 18));
    assert_eq!(d.current_ip(), Some(IpAddr::from([10, 1, 0, 3])));
    let c = classify(d, &NetworkEnvironment::default());
    assert_eq!(c.kind, DeviceKind::Gateway, "{c:?}");

    // One address every two minutes: the oldest is idle when it is forgotten.
    let mut inv = DeviceInventory::new(DeviceConfig::default());
    for n in 0..40u8 {
        let frame = query(PC, ROUTER, [10, 2, 0, n], [10, 0, 0, 1], 64);
        feed(&mut inv, i64::from(n) * 120, &frame);
    }
    let d = inv.get(&PC).unwrap();
    assert!(!d.relays_local);
    assert_eq!(d.relayed_local, 0);
    assert_eq!(
        d.addresses.last().map(|a| a.ip),
        Some(IpAddr::from([10, 2, 0, 39]))
    );
}
