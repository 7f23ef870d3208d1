//! `insecure_service`: cleartext services in use.
//!
//! **Detects**, once per (server, port, service):
//! - login services without encryption carrying a session: Telnet (23), FTP (21, `220`
//!   banner), rlogin (513), rsh (514) — medium severity;
//! - cleartext logins on mail ports: `USER`/`PASS`/`AUTH`/`LOGIN` commands on POP3 (110),
//!   IMAP (143), SMTP (25, 587) — seen in clear means no STARTTLS came first — medium;
//! - HTTP requests carrying `Authorization: Basic` or `Digest` in clear, on any port —
//!   medium;
//! - SNMP version 1 or 2c (community strings in clear), TFTP, and VNC's RFB handshake in
//!   clear — low.
//!
//! The evidence names the client that used it and a printable excerpt of the banner or
//! command (never a password: commands are cut after their keyword).
//!
//! **False positives**: lab and legacy networks where these are accepted; anonymous FTP
//! mirrors.
//!
//! **References**: RFC 854 (Telnet), RFC 959 (FTP), RFC 2595 (STARTTLS for IMAP/POP3),
//! RFC 3207 (SMTP STARTTLS), RFC 7617 (HTTP Basic), RFC 3584 (SNMP v1/v2c); MITRE ATT&CK
//! T1040 (Network Sniffing), which cleartext services expose their users to.

use std::collections::HashSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::{PacketView, Transport};

/// Settings of `insecure_service`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct InsecureServiceConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Most (server, port, service) reported; further ones are not. Default 65,536.
    pub max_reported: usize,
}

impl Default for InsecureServiceConfig {
    fn default() -> Self {
        InsecureServiceConfig {
            enabled: true,
            max_reported: 65_536,
        }
    }
}

/// What a packet shows: (service, severity, excerpt) when it is cleartext use.
fn classify(
    pkt: &PacketView<'_>,
    server_port: u16,
    from_client: bool,
) -> Option<(&'static str, Severity, String)> {
    let p = pkt.payload;
    if p.is_empty() {
        return None;
    }
    let starts_ci =
        |prefix: &[u8]| p.len() >= prefix.len() && p[..prefix.len()].eq_ignore_ascii_case(prefix);
    let excerpt = |n: usize| -> String {
        p.iter()
            .take(n)
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect()
    };
    match pkt.transport {
        Transport::Tcp(_) => {
            if from_client {
                let http_method = [&b"GET "[..], b"POST ", b"PUT ", b"HEAD ", b"DELETE "]
                    .iter()
                    .any(|m| p.starts_with(m));
                if http_method {
                    let has = |needle: &[u8]| {
                        p.windows(needle.len())
                            .any(|w| w.eq_ignore_ascii_case(needle))
                    };
                    if has(b"\r\nAuthorization: Basic ") || has(b"\r\nAuthorization: Digest ") {
                        return Some((
                            "http_auth",
                            Severity::Medium,
                            "Authorization header".into(),
                        ));
                    }
                    return None;
                }
                if matches!(server_port, 110 | 143 | 25 | 587) {
                    // IMAP commands carry a tag first.
                    let cmd = if server_port == 143 {
                        p.splitn(3, |&b| b == b' ').nth(1).unwrap_or(&[])
                    } else {
                        p.split(|&b| b == b' ' || b == b'\r').next().unwrap_or(&[])
                    };
                    let login = [&b"USER"[..], b"PASS", b"AUTH", b"LOGIN", b"APOP"]
                        .iter()
                        .any(|k| cmd.eq_ignore_ascii_case(k));
                    if login {
                        let service = match server_port {
                            110 => "pop3",
                            143 => "imap",
                            _ => "smtp",
                        };
                        let keyword = String::from_utf8_lossy(cmd).to_uppercase();
                        return Some((service, Severity::Medium, format!("{keyword} in clear")));
                    }
                }
                return None;
            }
            match server_port {
                23 => Some(("telnet", Severity::Medium, excerpt(40))),
                21 if starts_ci(b"220") => Some(("ftp", Severity::Medium, excerpt(60))),
                513 => Some(("rlogin", Severity::Medium, excerpt(40))),
                514 => Some(("rsh", Severity::Medium, excerpt(40))),
                _ if p.starts_with(b"RFB 003.") => Some(("vnc", Severity::Low, excerpt(12))),
                _ => None,
            }
        }
        Transport::Udp { .. } if from_client => match server_port {
            // TFTP read or write request.
            69 if p.len() > 2 && p[0] == 0 && (p[1] == 1 || p[1] == 2) => {
                Some(("tftp", Severity::Low, "read/write request".into()))
            }
            // SNMP: SEQUENCE { INTEGER version (0 = v1, 1 = v2c), OCTET STRING community ... }
            161 | 162 => {
                let v = snmp_version(p)?;
                (v <= 1).then(|| {
                    (
                        "snmp_v1_v2c",
                        Severity::Low,
                        format!("SNMP v{}", if v == 0 { "1" } else { "2c" }),
                    )
                })
            }
            _ => None,
        },
        _ => None,
    }
}

/// The version field of an SNMP message, if the bytes are one.
fn snmp_version(p: &[u8]) -> Option<u8> {
    if *p.first()? != 0x30 {
        return None;
    }
    // Skip the SEQUENCE length (short or long form).
    let len_byte = *p.get(1)?;
    let mut i = 2 + if len_byte & 0x80 != 0 {
        usize::from(len_byte & 0x7f)
    } else {
        0
    };
    if *p.get(i)? != 0x02 || *p.get(i + 1)? != 0x01 {
        return None;
    }
    i += 2;
    p.get(i).copied()
}

/// The `insecure_service` detector.
pub struct InsecureServiceDetector {
    cfg: InsecureServiceConfig,
    reported: HashSet<(IpAddr, u16, &'static str)>,
    /// Keys turned away by full tables, per table.
    turned_away: [u64; 4],
}

impl InsecureServiceDetector {
    /// A detector with `config`.
    pub fn new(config: &InsecureServiceConfig) -> Self {
        InsecureServiceDetector {
            cfg: config.clone(),
            reported: HashSet::new(),
            turned_away: [0; 4],
        }
    }
}

impl Detector for InsecureServiceDetector {
    fn id(&self) -> &'static str {
        "insecure_service"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![TableUsage::new(
            "reported",
            self.reported.len(),
            self.cfg.max_reported,
            self.turned_away[0],
        )]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::UDP
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let Some(flow) = cx.flow() else {
            return;
        };
        // Only the first payload of each direction is examined: once per flow.
        let from_client = cx.from_initiator();
        let dir = if from_client {
            &flow.to_server
        } else {
            &flow.to_client
        };
        if pkt.payload.is_empty() || dir.payload_bytes != pkt.payload.len() as u64 {
            // Mail logins come after the greeting and capabilities: keep looking at the
            // client's lines on mail ports.
            let mail = matches!(flow.dst_port, 110 | 143 | 25 | 587) && from_client;
            if !mail || pkt.payload.is_empty() {
                return;
            }
        }
        let port = flow.dst_port;
        let Some((service, severity, excerpt)) = classify(pkt, port, from_client) else {
            return;
        };
        let server = flow.dst_ip();
        if self.reported.contains(&(server, port, service)) {
            return;
        }
        if self.reported.len() >= self.cfg.max_reported {
            self.turned_away[0] += 1;
            return;
        }
        self.reported.insert((server, port, service));
        let client = flow.src_ip();
        cx.emit(
            Alert::new(
                pkt.ts,
                "insecure_service",
                severity,
                "insecure_protocol",
                format!("cleartext {service} on {server}:{port}, used by {client}"),
            )
            .with_mitre("T1040")
            .with_flow(flow)
            .with_distinct(service)
            .with_evidence("service", service)
            .with_evidence("excerpt", excerpt),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_versions() {
        // v2c get-request with community "public".
        let v2c = [
            0x30, 0x29, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c',
        ];
        assert_eq!(snmp_version(&v2c), Some(1));
        let v3 = [0x30, 0x3e, 0x02, 0x01, 0x03];
        assert_eq!(snmp_version(&v3), Some(3));
        assert_eq!(snmp_version(b"hello"), None);
        assert_eq!(snmp_version(&[0x30]), None);
    }
}
