//! TLS ClientHello: server name (SNI) and the JA3 fingerprint, with written limits.
//!
//! Parses only the first handshake record of a client's stream (RFC 8446 §4.1.2; RFC 6066
//! §3 for SNI). JA3 (Salesforce, 2017) is the MD5 of
//! `version,ciphers,extensions,curves,point_formats` in decimal, dash-separated, GREASE
//! values (RFC 8701) removed.

use md5::{Digest, Md5};

/// What a ClientHello tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// The server name asked for, lowercase.
    pub server_name: Option<String>,
    /// The JA3 string.
    pub ja3: String,
    /// MD5 of `ja3`, lowercase hex.
    pub ja3_hash: String,
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn join(v: &[u16]) -> String {
    v.iter().map(u16::to_string).collect::<Vec<_>>().join("-")
}

/// Parses a ClientHello at the start of a TCP payload; `None` when it is not one or is
/// cut short.
///
/// ```
/// use netsentinel_core::decode::tls::parse_client_hello;
/// assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n"), None);
/// ```
pub fn parse_client_hello(p: &[u8]) -> Option<ClientHello> {
    // Record: type 22 (handshake), version, length; handshake: type 1 (ClientHello).
    if *p.first()? != 22 || *p.get(5)? != 1 {
        return None;
    }
    let body = p.get(9..)?;
    let version = u16_at(body, 0)?;
    let mut i = 2 + 32; // version, random
    let sid_len = usize::from(*body.get(i)?);
    i += 1 + sid_len;
    let cs_len = usize::from(u16_at(body, i)?);
    i += 2;
    let ciphers: Vec<u16> = body
        .get(i..i + cs_len)?
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .filter(|c| !is_grease(*c))
        .collect();
    i += cs_len;
    let comp_len = usize::from(*body.get(i)?);
    i += 1 + comp_len;
    let mut extensions = Vec::new();
    let mut curves = Vec::new();
    let mut formats = Vec::new();
    let mut server_name = None;
    if let Some(ext_total) = u16_at(body, i) {
        i += 2;
        let end = i + usize::from(ext_total);
        // At most 64 extensions: a loop guard for hostile input.
        for _ in 0..64 {
            if i + 4 > end {
                break;
            }
            let ty = u16_at(body, i)?;
            let len = usize::from(u16_at(body, i + 2)?);
            let data = body.get(i + 4..i + 4 + len)?;
            i += 4 + len;
            if is_grease(ty) {
                continue;
            }
            extensions.push(ty);
            match ty {
                0 => {
                    // server_name_list: length, then (type 0, length, name).
                    if data.get(2) == Some(&0)
                        && let Some(n) = u16_at(data, 3)
                        && let Some(name) = data.get(5..5 + usize::from(n))
                    {
                        server_name = std::str::from_utf8(name).ok().map(str::to_ascii_lowercase);
                    }
                }
                10 => {
                    curves = data
                        .get(2..)?
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .filter(|c| !is_grease(*c))
                        .collect();
                }
                11 => formats = data.get(1..)?.iter().map(|&b| u16::from(b)).collect(),
                _ => {}
            }
        }
    }
    let ja3 = format!(
        "{version},{},{},{},{}",
        join(&ciphers),
        join(&extensions),
        join(&curves),
        join(&formats)
    );
    let digest = Md5::digest(ja3.as_bytes());
    let ja3_hash = digest.iter().map(|b| format!("{b:02x}")).collect();
    Some(ClientHello {
        server_name,
        ja3,
        ja3_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello: TLS 1.2, two ciphers (one GREASE), SNI "example.com",
    /// supported groups [29, 23], point formats [0].
    fn hello() -> Vec<u8> {
        let mut exts = Vec::new();
        let name = b"example.com";
        let mut sni = vec![0, (name.len() + 3) as u8, 0, 0, name.len() as u8];
        sni.extend_from_slice(name);
        exts.extend_from_slice(&[0, 0, 0, sni.len() as u8]);
        exts.extend_from_slice(&sni);
        exts.extend_from_slice(&[0, 10, 0, 6, 0, 4, 0, 29, 0, 23]);
        exts.extend_from_slice(&[0, 11, 0, 2, 1, 0]);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0u8; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 4, 0x0a, 0x0a, 0xc0, 0x2f]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn sni_and_ja3() {
        let h = parse_client_hello(&hello()).unwrap();
        assert_eq!(h.server_name.as_deref(), Some("example.com"));
        assert_eq!(h.ja3, "771,49199,0-10-11,29-23,0");
        assert_eq!(h.ja3_hash.len(), 32);
    }

    #[test]
    fn every_prefix_is_refused_or_parsed_without_panic() {
        let h = hello();
        for n in 0..h.len() {
            let _ = parse_client_hello(&h[..n]);
        }
    }
}
