//! NetBIOS names (RFC 1001/1002): the name service (UDP 137) and the datagram service
//! (UDP 138, browser announcements), where Windows and Samba hosts say their names.

use std::net::Ipv4Addr;

use crate::decode::dns;

/// Decodes a first-level encoded NetBIOS name (32 letters `A`-`P`, two per byte): the name
/// without its padding and the suffix byte (0x00 workstation, 0x20 file server, ...).
pub fn decode_name(encoded: &str) -> Option<(String, u8)> {
    let label = encoded.split('.').next()?.as_bytes();
    if label.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in label.chunks_exact(2).enumerate() {
        let hi = pair[0].to_ascii_uppercase().checked_sub(b'A')?;
        let lo = pair[1].to_ascii_uppercase().checked_sub(b'A')?;
        if hi > 15 || lo > 15 {
            return None;
        }
        bytes[i] = (hi << 4) | lo;
    }
    let name: String = bytes[..15]
        .iter()
        .map(|&b| b as char)
        .collect::<String>()
        .trim_end()
        .to_string();
    let printable = !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    printable.then_some((name, bytes[15]))
}

/// Names a name-service message registers or answers for `src`, the sender's address: NB
/// records whose address is the sender's own (registrations, refreshes, answers about
/// itself), workstation (0x00) or server (0x20) names only.
pub fn names_from_nbns(payload: &[u8], src: Ipv4Addr) -> Vec<String> {
    let Some((_, records)) = dns::records(payload) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.rtype == 0x20) {
        // NB rdata: 2 flag bytes then an IPv4 address, repeated.
        let own = r
            .rdata
            .chunks_exact(6)
            .any(|c| Ipv4Addr::new(c[2], c[3], c[4], c[5]) == src);
        if let Some((name, suffix)) = decode_name(&r.name)
            && own
            && matches!(suffix, 0x00 | 0x20)
            && !out.contains(&name)
        {
            out.push(name);
        }
    }
    out
}

/// The source name of a datagram-service message (browser announcements and the like) sent
/// by `src`: the header names its source address, which must be the sender's.
pub fn name_from_datagram(payload: &[u8], src: Ipv4Addr) -> Option<String> {
    let header = payload.get(..14)?;
    // Direct unique/group/broadcast datagrams (0x10-0x12) carry a source name at 14.
    if !(0x10..=0x12).contains(&header[0])
        || Ipv4Addr::new(header[4], header[5], header[6], header[7]) != src
    {
        return None;
    }
    if *payload.get(14)? != 32 {
        return None;
    }
    let encoded = std::str::from_utf8(payload.get(15..47)?).ok()?;
    decode_name(encoded).map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First-level encoding of `name` padded to 15 with `suffix`.
    fn encode(name: &str, suffix: u8) -> String {
        let mut b = [b' '; 16];
        b[..name.len()].copy_from_slice(name.as_bytes());
        b[15] = suffix;
        b.iter()
            .flat_map(|&x| [(b'A' + (x >> 4)) as char, (b'A' + (x & 15)) as char])
            .collect()
    }

    #[test]
    fn registration_names_its_sender() {
        let enc = encode("DESKTOP-7", 0x00);
        assert_eq!(decode_name(&enc), Some(("DESKTOP-7".into(), 0)));
        // Registration request: no question... one additional NB record for 10.0.0.5.
        let mut m = vec![0x12, 0x34, 0x29, 0x10, 0, 0, 0, 0, 0, 0, 0, 1];
        m.push(32);
        m.extend_from_slice(enc.as_bytes());
        m.push(0);
        m.extend_from_slice(&[0, 0x20, 0, 1, 0, 0, 0x0e, 0x10, 0, 6, 0, 0, 10, 0, 0, 5]);
        let src = Ipv4Addr::new(10, 0, 0, 5);
        assert_eq!(names_from_nbns(&m, src), vec!["DESKTOP-7".to_string()]);
        assert!(names_from_nbns(&m, Ipv4Addr::new(10, 0, 0, 6)).is_empty());
        let mut d = vec![0x11, 0x02, 0, 1, 10, 0, 0, 5, 0, 138, 0, 0, 0, 0, 32];
        d.extend_from_slice(enc.as_bytes());
        d.push(0);
        assert_eq!(name_from_datagram(&d, src).as_deref(), Some("DESKTOP-7"));
    }
}
