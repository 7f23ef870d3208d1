//! BER-encoded protocols: LDAP simple binds (TCP) and SNMP v1/v2c community strings (UDP).
//!
//! A minimal BER reader (tag, definite length up to four bytes, value), enough for the
//! fixed message shapes read here; anything else is skipped.

use super::{Credential, LoginOutcome, StreamParser};

/// Largest LDAP message buffered.
const MAX_MESSAGE: usize = 64 * 1024;

/// One TLV: (tag, value, rest), or `None` if cut short or malformed.
pub(crate) fn tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Total length of the TLV at the start of `data`, if its header is complete.
fn tlv_len(data: &[u8]) -> Option<usize> {
    let first = *data.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let bytes = data.get(2..2 + n)?;
    let len = bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some(2 + n + len)
}

/// SNMP v1/v2c: the community string of a message, and its version name.
///
/// `SEQUENCE { INTEGER version, OCTET STRING community, PDU }`.
pub(crate) fn snmp_community(payload: &[u8]) -> Option<(&'static str, String)> {
    let (0x30, body, _) = tlv(payload)? else {
        return None;
    };
    let (0x02, version, rest) = tlv(body)? else {
        return None;
    };
    let version = match version {
        [0] => "SNMPv1 community",
        [1] => "SNMPv2c community",
        _ => return None,
    };
    let (0x04, community, rest) = tlv(rest)? else {
        return None;
    };
    // A PDU must follow (context tags 0xa0 to 0xa8), or this is not SNMP.
    if !matches!(rest.first(), Some(0xa0..=0xa8)) {
        return None;
    }
    Some((version, String::from_utf8_lossy(community).into_owned()))
}

/// LDAP simple binds on one connection.
#[derive(Debug, Default)]
pub(crate) struct LdapParser {
    client: Vec<u8>,
    server: Vec<u8>,
    pending: Vec<Credential>,
    lost: bool,
}

/// Complete messages at the start of `buf`, removed from it.
fn messages(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(len) = tlv_len(buf) {
        if len > MAX_MESSAGE {
            buf.clear();
            break;
        }
        if buf.len() < len {
            break;
        }
        out.push(buf.drain(..len).collect());
    }
    if buf.len() > MAX_MESSAGE {
        buf.clear();
    }
    out
}

impl StreamParser for LdapParser {
    fn client_data(&mut self, data: &[u8], _found: &mut Vec<Credential>) {
        if self.lost {
            return;
        }
        self.client.extend_from_slice(data);
        for msg in messages(&mut self.client) {
            // SEQUENCE { messageID, [APPLICATION 0] BindRequest { version, name, [0] simple } }
            let Some((0x30, body, _)) = tlv(&msg) else {
                continue;
            };
            let Some((0x02, _, rest)) = tlv(body) else {
                continue;
            };
            let Some((0x60, bind, _)) = tlv(rest) else {
                continue;
            };
            let Some((0x02, _, rest)) = tlv(bind) else {
                continue;
            };
            let Some((0x04, name, rest)) = tlv(rest) else {
                continue;
            };
            if let Some((0x80, password, _)) = tlv(rest)
                && !password.is_empty()
            {
                self.pending.push(Credential {
                    protocol: "ldap",
                    mechanism: "simple bind",
                    username: Some(String::from_utf8_lossy(name).into_owned()),
                    secret: String::from_utf8_lossy(password).into_owned(),
                    outcome: LoginOutcome::Unknown,
                });
            }
        }
    }

    fn server_data(&mut self, data: &[u8], found: &mut Vec<Credential>) {
        if self.lost {
            return;
        }
        self.server.extend_from_slice(data);
        for msg in messages(&mut self.server) {
            // SEQUENCE { messageID, [APPLICATION 1] BindResponse { ENUMERATED resultCode, ... } }
            let result = tlv(&msg)
                .filter(|(t, _, _)| *t == 0x30)
                .and_then(|(_, body, _)| tlv(body).map(|(_, _, rest)| rest))
                .and_then(|rest| tlv(rest).filter(|(t, _, _)| *t == 0x61))
                .and_then(|(_, resp, _)| tlv(resp).filter(|(t, _, _)| *t == 0x0a))
                .map(|(_, code, _)| code.first().copied().unwrap_or(0xff));
            if let Some(code) = result
                && !self.pending.is_empty()
            {
                let outcome = if code == 0 {
                    LoginOutcome::Accepted
                } else {
                    LoginOutcome::Rejected
                };
                let mut c = self.pending.remove(0);
                c.outcome = outcome;
                found.push(c);
            }
        }
    }

    fn gap(&mut self, _from_client: bool) {
        // Message boundaries are lost with the bytes.
        self.lost = true;
        self.client.clear();
        self.server.clear();
    }

    fn finish(&mut self, found: &mut Vec<Credential>) {
        found.append(&mut self.pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4511 BindRequest, message 1, "cn=admin,dc=lab,dc=test" / "Adm1n-pw".
    fn bind_request() -> Vec<u8> {
        let name = b"cn=admin,dc=lab,dc=test";
        let pass = b"Adm1n-pw";
        let mut bind = vec![0x02, 0x01, 0x03, 0x04, name.len() as u8];
        bind.extend_from_slice(name);
        bind.extend_from_slice(&[0x80, pass.len() as u8]);
        bind.extend_from_slice(pass);
        let mut body = vec![0x02, 0x01, 0x01, 0x60, bind.len() as u8];
        body.extend_from_slice(&bind);
        let mut msg = vec![0x30, body.len() as u8];
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn ldap_simple_bind_split_with_verdict() {
        let req = bind_request();
        let mut p = LdapParser::default();
        let mut found = Vec::new();
        p.client_data(&req[..7], &mut found);
        p.client_data(&req[7..], &mut found);
        // BindResponse: success (0).
        p.server_data(
            &[
                0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
            ],
            &mut found,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].username.as_deref(),
            Some("cn=admin,dc=lab,dc=test")
        );
        assert_eq!(found[0].secret, "Adm1n-pw");
        assert_eq!(found[0].outcome, LoginOutcome::Accepted);
    }

    #[test]
    fn snmp_get_request_community_and_garbage() {
        // GetRequest (v2c, community "public") for sysDescr.0, as net-snmp sends it.
        let pkt = [
            0x30, 0x29, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0,
            0x1c, 0x02, 0x04, 0x12, 0x34, 0x56, 0x78, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30,
            0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05,
            0x00,
        ];
        assert_eq!(
            snmp_community(&pkt),
            Some(("SNMPv2c community", "public".to_string()))
        );
        assert_eq!(snmp_community(&pkt[..10]), None);
        assert_eq!(
            snmp_community(b"\x30\x03\x02\x01\x03"),
            None,
            "v3 has no community"
        );
        assert_eq!(tlv(&[0x04, 0x85, 1, 2, 3, 4, 5]), None, "five length bytes");
    }
}
