//! TLS ClientHello: server name (SNI) and the JA3 fingerprint, with written limits.
//!
//! Parses only the first handshake record of a client's stream (RFC 8446 §4.1.2; RFC 6066
//! §3 for SNI). JA3 (Salesforce, 2017) is the MD5 of
//! `version,ciphers,extensions,curves,point_formats` in decimal, dash-separated, GREASE
//! values (RFC 8701) removed. JA4 (FoxIO, 2023) is `a_b_c`: protocol, highest version,
//! SNI present, cipher and extension counts and the first ALPN's first and last
//! characters; then the first 12 hex digits of SHA-256 of the sorted ciphers, and of the
//! sorted extensions (without SNI and ALPN) followed by the signature algorithms.

use md5::{Digest, Md5};
use sha2::Sha256;

/// What a ClientHello tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// The server name asked for, lowercase.
    pub server_name: Option<String>,
    /// The JA3 string.
    pub ja3: String,
    /// MD5 of `ja3`, lowercase hex.
    pub ja3_hash: String,
    /// The JA4 fingerprint (TCP).
    pub ja4: String,
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
    let mut versions: Vec<u16> = Vec::new();
    let mut alpn: Option<Vec<u8>> = None;
    let mut sig_algs: Vec<u16> = Vec::new();
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
                13 => {
                    sig_algs = data
                        .get(2..)?
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                }
                16 => {
                    // protocol_name_list: length, then (length, name)...; the first name.
                    let n = usize::from(*data.get(2)?);
                    alpn = data.get(3..3 + n).map(<[u8]>::to_vec);
                }
                43 => {
                    versions = data
                        .get(1..)?
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .filter(|v| !is_grease(*v))
                        .collect();
                }
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
    let ja4 = ja4(&Ja4Input {
        version: versions.iter().copied().max().unwrap_or(version),
        has_sni: extensions.contains(&0),
        ciphers: &ciphers,
        extensions: &extensions,
        alpn: alpn.as_deref(),
        sig_algs: &sig_algs,
    });
    Some(ClientHello {
        server_name,
        ja3,
        ja3_hash,
        ja4,
    })
}

struct Ja4Input<'a> {
    version: u16,
    has_sni: bool,
    ciphers: &'a [u16],
    extensions: &'a [u16],
    alpn: Option<&'a [u8]>,
    sig_algs: &'a [u16],
}

/// First 12 hex digits of SHA-256, or twelve zeros for an empty list.
fn sha256_12(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".into();
    }
    Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex_list(v: &[u16]) -> String {
    v.iter()
        .map(|x| format!("{x:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn ja4(i: &Ja4Input<'_>) -> String {
    let version = match i.version {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        _ => "00",
    };
    let alpn = match i.alpn {
        Some(a) if !a.is_empty() => {
            let (f, l) = (a[0], a[a.len() - 1]);
            if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                format!("{}{}", f as char, l as char)
            } else {
                // Non-alphanumeric: the first hex digit of the first byte, last of the last.
                let hf = format!("{f:02x}");
                let hl = format!("{l:02x}");
                format!("{}{}", &hf[..1], &hl[1..])
            }
        }
        _ => "00".into(),
    };
    let a = format!(
        "t{version}{}{:02}{:02}{alpn}",
        if i.has_sni { 'd' } else { 'i' },
        i.ciphers.len().min(99),
        i.extensions.len().min(99)
    );
    let mut ciphers = i.ciphers.to_vec();
    ciphers.sort_unstable();
    let b = sha256_12(&hex_list(&ciphers));
    let mut exts: Vec<u16> = i
        .extensions
        .iter()
        .copied()
        .filter(|e| *e != 0 && *e != 16)
        .collect();
    exts.sort_unstable();
    let mut c_text = hex_list(&exts);
    if !i.sig_algs.is_empty() && !c_text.is_empty() {
        c_text.push('_');
        c_text.push_str(&hex_list(i.sig_algs));
    }
    let c = sha256_12(&c_text);
    format!("{a}_{b}_{c}")
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
        // a: TCP, TLS 1.2, SNI present, 1 cipher (GREASE removed), 3 extensions, no ALPN.
        assert!(h.ja4.starts_with("t12d010300_"), "{}", h.ja4);
        // b: sha256("c02f") truncated.
        let b = &h.ja4[11..23];
        assert_eq!(b, &sha256_12("c02f"));
        assert_eq!(h.ja4.len(), "t12d010300_".len() + 12 + 1 + 12);
    }

    #[test]
    fn ja4_reference_example() {
        // The example of FoxIO's JA4 README: t13d1516h2_8daaf6152771_e5627efa2ab1.
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let extensions = [
            0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d, 0x0012, 0x0033,
            0x002d, 0x002b, 0x001b, 0x0015, 0x4469,
        ];
        let sig_algs = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let fp = ja4(&Ja4Input {
            version: 0x0304,
            has_sni: true,
            ciphers: &ciphers,
            extensions: &extensions,
            alpn: Some(b"h2"),
            sig_algs: &sig_algs,
        });
        assert_eq!(fp, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn every_prefix_is_refused_or_parsed_without_panic() {
        let h = hello();
        for n in 0..h.len() {
            let _ = parse_client_hello(&h[..n]);
        }
    }
}
