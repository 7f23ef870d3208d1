//! Logins inside binary protocols found by their structure: NTLM in SMB session setups,
//! SCRAM user names in MongoDB `saslStart`, and Kerberos AS-REQ client names.

use super::ber::tlv;
use super::{Credential, LoginOutcome, StreamParser};

/// Client bytes kept while looking for a login.
const MAX_SCAN: usize = 64 * 1024;

/// Which binary protocol a [`BinaryParser`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryProtocol {
    /// SMB over TCP 445/139: NTLM `AUTHENTICATE_MESSAGE` in SESSION_SETUP.
    Smb,
    /// MongoDB: `n,,n=USER,r=` (SCRAM client-first-message) in `saslStart`.
    Mongo,
    /// Kerberos over TCP: AS-REQ behind a 4-byte length.
    Kerberos,
}

/// Scans a client stream for one login of its protocol.
#[derive(Debug)]
pub(crate) struct BinaryParser {
    protocol: BinaryProtocol,
    client: Vec<u8>,
    seen: Vec<String>,
    pending: Vec<Credential>,
}

impl BinaryParser {
    pub(crate) fn new(protocol: BinaryProtocol) -> Self {
        BinaryParser {
            protocol,
            client: Vec::new(),
            seen: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn push(&mut self, c: Credential) {
        let key = format!("{:?}{:?}", c.username, c.secret);
        if !self.seen.contains(&key) {
            self.seen.push(key);
            self.pending.push(c);
        }
    }
}

/// `n,,n=USER,r=` in a SCRAM client-first-message (RFC 5802), user name unescaped.
pub(crate) fn scram_user(data: &[u8]) -> Option<String> {
    let at = data.windows(5).position(|w| w == b"n,,n=")? + 5;
    let rest = &data[at..];
    let end = rest.windows(3).position(|w| w == b",r=")?;
    let user = std::str::from_utf8(&rest[..end]).ok()?;
    if user.is_empty() || user.len() > 256 {
        return None;
    }
    Some(user.replace("=2C", ",").replace("=3D", "="))
}

/// Client name and realm of a Kerberos AS-REQ (RFC 4120):
/// `[APPLICATION 10] SEQUENCE { [1] pvno, [2] msg-type, [3] padata?, [4] KDC-REQ-BODY {
/// [0] options, [1] cname PrincipalName { [0] type, [1] SEQUENCE OF string }, [2] realm } }`.
pub(crate) fn kerberos_as_req(msg: &[u8]) -> Option<Credential> {
    let (0x6a, body, _) = tlv(msg)? else {
        return None;
    };
    let (0x30, mut fields, _) = tlv(body)? else {
        return None;
    };
    // Find [4] req-body.
    let req_body = loop {
        let (tag, value, rest) = tlv(fields)?;
        if tag == 0xa4 {
            break value;
        }
        fields = rest;
    };
    let (0x30, mut items, _) = tlv(req_body)? else {
        return None;
    };
    let (mut names, mut realm) = (Vec::new(), String::new());
    while let Some((tag, value, rest)) = tlv(items) {
        match tag {
            0xa1 => {
                // PrincipalName SEQUENCE { [0] name-type, [1] SEQUENCE OF GeneralString }
                let (_, principal, _) = tlv(value)?;
                let mut p = principal;
                while let Some((t, v, r)) = tlv(p) {
                    if t == 0xa1 {
                        let (_, mut strings, _) = tlv(v)?;
                        while let Some((_, s, r2)) = tlv(strings) {
                            names.push(String::from_utf8_lossy(s).into_owned());
                            strings = r2;
                        }
                    }
                    p = r;
                }
            }
            0xa2 => {
                let (_, s, _) = tlv(value)?;
                realm = String::from_utf8_lossy(s).into_owned();
            }
            _ => {}
        }
        items = rest;
    }
    if names.is_empty() {
        return None;
    }
    Some(Credential {
        protocol: "kerberos",
        mechanism: "AS-REQ client name",
        username: Some(format!("{}@{realm}", names.join("/"))),
        secret: String::new(),
        outcome: LoginOutcome::Unknown,
    })
}

impl StreamParser for BinaryParser {
    fn client_data(&mut self, data: &[u8], _found: &mut Vec<Credential>) {
        if self.client.len() + data.len() > MAX_SCAN {
            return;
        }
        self.client.extend_from_slice(data);
        match self.protocol {
            BinaryProtocol::Smb => {
                if let Some((user, domain, nt)) = super::ntlm::authenticate_message(&self.client) {
                    let who = if domain.is_empty() {
                        user
                    } else {
                        format!("{domain}\\{user}")
                    };
                    self.push(Credential {
                        protocol: "smb",
                        mechanism: "NTLM",
                        username: Some(who),
                        secret: nt,
                        outcome: LoginOutcome::Unknown,
                    });
                    self.client.clear();
                }
            }
            BinaryProtocol::Mongo => {
                if let Some(user) = scram_user(&self.client) {
                    self.push(Credential {
                        protocol: "mongodb",
                        mechanism: "SCRAM user name",
                        username: Some(user),
                        secret: String::new(),
                        outcome: LoginOutcome::Unknown,
                    });
                    self.client.clear();
                }
            }
            BinaryProtocol::Kerberos => {
                let Some(len) = self
                    .client
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                else {
                    return;
                };
                if self.client.len() >= 4 + len {
                    if let Some(c) = kerberos_as_req(&self.client[4..4 + len]) {
                        self.push(c);
                    }
                    self.client.drain(..4 + len);
                }
            }
        }
    }

    fn server_data(&mut self, _data: &[u8], _found: &mut Vec<Credential>) {}

    fn gap(&mut self, _from_client: bool) {
        self.client.clear();
    }

    fn finish(&mut self, found: &mut Vec<Credential>) {
        found.append(&mut self.pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AS-REQ for alice@LAB.TEST, built field by field.
    pub(crate) fn as_req() -> Vec<u8> {
        fn wrap(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut v = vec![tag, body.len() as u8];
            v.extend_from_slice(body);
            v
        }
        let name = wrap(0x30, &wrap(0x1b, b"alice"));
        let principal = wrap(
            0x30,
            &[wrap(0xa0, &[0x02, 0x01, 0x01]), wrap(0xa1, &name)].concat(),
        );
        let body = wrap(
            0x30,
            &[
                wrap(0xa0, &[0x03, 0x05, 0x00, 0x40, 0x81, 0x00, 0x10]),
                wrap(0xa1, &principal),
                wrap(0xa2, &wrap(0x1b, b"LAB.TEST")),
            ]
            .concat(),
        );
        let req = wrap(
            0x30,
            &[
                wrap(0xa1, &[0x02, 0x01, 0x05]),
                wrap(0xa2, &[0x02, 0x01, 0x0a]),
                wrap(0xa4, &body),
            ]
            .concat(),
        );
        wrap(0x6a, &req)
    }

    #[test]
    fn kerberos_mongo_and_smb_logins() {
        let c = kerberos_as_req(&as_req()).unwrap();
        assert_eq!(c.username.as_deref(), Some("alice@LAB.TEST"));
        let mut tcp = (as_req().len() as u32).to_be_bytes().to_vec();
        tcp.extend_from_slice(&as_req());
        let mut p = BinaryParser::new(BinaryProtocol::Kerberos);
        let mut found = Vec::new();
        p.client_data(&tcp[..10], &mut found);
        p.client_data(&tcp[10..], &mut found);
        p.finish(&mut found);
        assert_eq!(found.len(), 1);

        assert_eq!(
            scram_user(b"\x05payload\x00n,,n=app=2Cuser,r=fyko+d2lbbFgONRv9qkxdawL").as_deref(),
            Some("app,user")
        );

        let mut p = BinaryParser::new(BinaryProtocol::Smb);
        let mut found = Vec::new();
        let mut smb = b"\x00\x00\x01\x00\xfeSMB header and SPNEGO wrapping ".to_vec();
        smb.extend_from_slice(&super::super::ntlm::tests::type3());
        p.client_data(&smb, &mut found);
        p.finish(&mut found);
        assert_eq!(found[0].username.as_deref(), Some("LAB\\alice"));
        assert_eq!(found[0].protocol, "smb");
    }
}
