//! Any bytes through one application-layer parser, chosen by the first byte: DNS (message
//! and records), TLS ClientHello, DHCP, SSDP, NetBIOS name service and datagrams, LLDP,
//! CDP. None may panic; what they return is bounded by the input.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use netsentinel_core::decode::{dns, tls};
use netsentinel_core::device::{dhcp, discovery, netbios, ssdp};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let src = Ipv4Addr::new(10, 0, 0, 7);
    match selector % 9 {
        0 => {
            if let Some(m) = dns::parse(input) {
                assert!(m.addresses.len() <= dns::MAX_ADDRESSES);
                assert!(m.qname.len() <= input.len() * 4);
            }
        }
        1 => {
            if let Some((_, records)) = dns::records(input) {
                assert!(records.len() <= input.len());
            }
        }
        2 => {
            let _ = tls::parse_client_hello(input);
        }
        3 => {
            let _ = dhcp::parse(input);
        }
        4 => {
            let _ = ssdp::parse(input);
        }
        5 => {
            let names = netbios::names_from_nbns(input, src);
            assert!(names.len() <= input.len());
        }
        6 => {
            let _ = netbios::name_from_datagram(input, src);
        }
        7 => {
            let _ = discovery::parse_lldp(input);
        }
        _ => {
            let _ = discovery::parse_cdp(input);
            let _ = discovery::ethernet_payload(input);
        }
    }
});
