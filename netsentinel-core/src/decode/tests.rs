use super::*;
use etherparse::PacketBuilder;

fn raw(data: &[u8], link: LinkType) -> RawPacket<'_> {
    RawPacket {
        ts: Timestamp::from_micros(5),
        data,
        orig_len: data.len() as u32,
        link,
    }
}

fn tcp_frame(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 22, 1000, 512)
        .syn();
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

#[test]
fn ethernet_ipv4_tcp() {
    let frame = tcp_frame(b"hi");
    let v = decode(&raw(&frame, LinkType::Ethernet));
    assert_eq!(v.anomaly, None);
    assert_eq!(v.src_mac, Some([1, 2, 3, 4, 5, 6]));
    let ip = v.ip().unwrap();
    assert_eq!(ip.src, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(ip.protocol, 6);
    let tcp = v.tcp().unwrap();
    assert_eq!((tcp.src_port, tcp.dst_port), (40000, 22));
    assert!(tcp.flags.has(TcpFlags::SYN));
    assert_eq!(tcp.flags.to_letters(), "S");
    assert_eq!(v.payload, b"hi");
}

#[test]
fn qinq_vlan_ids_are_kept() {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .double_vlan(
            etherparse::VlanId::try_new(100).unwrap(),
            etherparse::VlanId::try_new(7).unwrap(),
        )
        .ipv6([1; 16], [2; 16], 9)
        .udp(53, 5353);
    let mut frame = Vec::new();
    b.write(&mut frame, b"x").unwrap();
    let v = decode(&raw(&frame, LinkType::Ethernet));
    assert_eq!(v.anomaly, None, "{v:?}");
    assert_eq!(v.vlan, (100 << 16) | 7);
    assert_eq!(v.ports(), (53, 5353));
}

#[test]
fn single_vlan_sits_in_high_half() {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .single_vlan(etherparse::VlanId::try_new(42).unwrap())
        .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 3)
        .udp(1, 2);
    let mut frame = Vec::new();
    b.write(&mut frame, b"").unwrap();
    assert_eq!(decode(&raw(&frame, LinkType::Ethernet)).vlan, 42 << 16);
}

#[test]
fn every_prefix_of_a_frame_decodes_without_panic() {
    let frame = tcp_frame(b"payload");
    for n in 0..frame.len() {
        let v = decode(&raw(&frame[..n], LinkType::Ethernet));
        if n < 14 + 20 + 20 {
            assert!(v.anomaly.is_some(), "prefix {n} should be an anomaly");
        }
    }
}

#[test]
fn snap_cut_is_distinguished_from_truncation() {
    let frame = tcp_frame(b"");
    let cut = &frame[..40];
    let mut r = raw(cut, LinkType::Ethernet);
    r.orig_len = frame.len() as u32;
    assert_eq!(decode(&r).anomaly.unwrap().name(), "snap_cut_tcp");
    assert_eq!(
        decode(&raw(cut, LinkType::Ethernet))
            .anomaly
            .unwrap()
            .name(),
        "truncated_tcp"
    );
}

#[test]
fn linux_sll_and_sll2() {
    let frame = tcp_frame(b"");
    let ip = &frame[14..];
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(ip);
    let v = decode(&raw(&sll, LinkType::LinuxSll));
    assert_eq!(v.anomaly, None);
    assert_eq!(v.src_mac, Some([1, 2, 3, 4, 5, 6]));
    assert_eq!(v.ports(), (40000, 22));

    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 9, 9, 9, 9, 9, 9, 0, 0,
    ];
    sll2.extend_from_slice(ip);
    let v = decode(&raw(&sll2, LinkType::LinuxSll2));
    assert_eq!(v.anomaly, None);
    assert_eq!(v.src_mac, Some([9; 6]));
    assert_eq!(v.ports(), (40000, 22));
}

#[test]
fn null_loop_and_raw() {
    let frame = tcp_frame(b"");
    let ip = &frame[14..];
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(ip);
    assert_eq!(decode(&raw(&null, LinkType::Null)).ports(), (40000, 22));
    let mut lo = 2u32.to_be_bytes().to_vec();
    lo.extend_from_slice(ip);
    assert_eq!(decode(&raw(&lo, LinkType::Loop)).ports(), (40000, 22));
    assert_eq!(decode(&raw(ip, LinkType::RawIp)).ports(), (40000, 22));
    let mut bad = 99u32.to_le_bytes().to_vec();
    bad.extend_from_slice(ip);
    assert_eq!(
        decode(&raw(&bad, LinkType::Null)).anomaly.unwrap().name(),
        "unsupported_link_type"
    );
}

#[test]
fn arp_request() {
    // Real ARP request from the corpus' arp_spoof.pcap layout: who-has 10.10.0.1 tell 10.10.0.20.
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x20, 0x08, 0x06]);
    frame.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x20, 10, 10, 0, 20]);
    frame.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 10, 0, 1]);
    let v = decode(&raw(&frame, LinkType::Ethernet));
    let Network::Arp(arp) = v.network else {
        panic!("not arp: {v:?}")
    };
    assert_eq!(arp.operation, 1);
    assert_eq!(arp.sender_ip, Ipv4Addr::new(10, 10, 0, 20));
    assert_eq!(arp.target_ip, Ipv4Addr::new(10, 10, 0, 1));
    assert_eq!(arp.sender_mac, [2, 0, 0, 0, 0, 0x20]);
}

#[test]
fn ipv4_fragments_are_marked() {
    let frame = tcp_frame(b"0123456789");
    let mut later = frame.clone();
    // Set fragment offset to 8 (in 8-byte units).
    later[14 + 6] = 0x00;
    later[14 + 7] = 0x08;
    let v = decode(&raw(&later, LinkType::Ethernet));
    assert_eq!(v.ip().unwrap().fragment, Fragment::Later);
    assert_eq!(v.transport, Transport::Other);
    let mut first = frame.clone();
    first[14 + 6] = 0x20; // MF
    let v = decode(&raw(&first, LinkType::Ethernet));
    assert_eq!(v.ip().unwrap().fragment, Fragment::First);
}

#[test]
fn other_ethertype_is_not_an_anomaly() {
    let mut frame = vec![1u8; 12];
    frame.extend_from_slice(&[0x88, 0xcc]); // LLDP
    frame.extend_from_slice(&[0u8; 30]);
    let v = decode(&raw(&frame, LinkType::Ethernet));
    assert_eq!(v.anomaly, None);
    assert_eq!(v.network, Network::Other { ether_type: 0x88cc });
}

#[test]
fn ipv6_fragment_header_is_found_by_the_safe_walker() {
    // Hop-by-hop (8 bytes, next = fragment), then a fragment header with offset 0 and M set.
    let mut chain = vec![44, 0, 0, 0, 0, 0, 0, 0];
    chain.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0, 1]);
    assert_eq!(ipv6_fragment(Some(0), &chain), Fragment::First);
    chain[10] = 0x00;
    chain[11] = 0x08; // offset 1
    assert_eq!(ipv6_fragment(Some(0), &chain), Fragment::Later);
    // A chain cut short is not a fragment and does not read past the end.
    assert_eq!(ipv6_fragment(Some(0), &chain[..9]), Fragment::None);
    assert_eq!(ipv6_fragment(Some(44), &[]), Fragment::None);
}
