//! VNC (RFB, RFC 6143) "VNC Authentication": the server's 16-byte challenge and the
//! client's DES response. Not the password, but with both an offline guess is quick
//! (the password is at most eight characters), so the pair goes to the vault. The server's
//! SecurityResult gives the verdict. RFB 3.3 (server picks the type) and 3.7/3.8 (client
//! picks from a list) are read.

use super::{Credential, LoginOutcome, StreamParser};

/// Handshake bytes kept per side; a VNC Authentication handshake is under 64.
const MAX_HANDSHAKE: usize = 256;

/// Parser of one RFB connection's handshake.
#[derive(Debug, Default)]
pub(crate) struct VncParser {
    client: Vec<u8>,
    server: Vec<u8>,
    reported: bool,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl VncParser {
    /// Reads both handshakes from the start; `Some` once the exchange is complete enough.
    fn try_read(&self) -> Option<Credential> {
        let (s, c) = (&self.server[..], &self.client[..]);
        let version = s.get(..12)?;
        if !version.starts_with(b"RFB ") {
            return None;
        }
        let minor = std::str::from_utf8(&version[8..11])
            .ok()?
            .parse::<u32>()
            .ok()?;
        let (challenge_at, response_at) = if minor >= 7 {
            // Server: count, types; client: version, chosen type.
            let n = usize::from(*s.get(12)?);
            let chosen = *c.get(12)?;
            if chosen != 2 || !s.get(13..13 + n)?.contains(&2) {
                return None;
            }
            (13 + n, 13)
        } else {
            let kind = u32::from_be_bytes(s.get(12..16)?.try_into().ok()?);
            if kind != 2 {
                return None;
            }
            (16, 12)
        };
        let challenge = s.get(challenge_at..challenge_at + 16)?;
        let response = c.get(response_at..response_at + 16)?;
        let outcome = match s.get(challenge_at + 16..challenge_at + 20) {
            Some([0, 0, 0, 0]) => LoginOutcome::Accepted,
            Some(_) => LoginOutcome::Rejected,
            None => LoginOutcome::Unknown,
        };
        Some(Credential {
            protocol: "vnc",
            mechanism: "VNC challenge-response (challenge:response)",
            username: None,
            secret: format!("{}:{}", hex(challenge), hex(response)),
            outcome,
        })
    }
}

impl StreamParser for VncParser {
    fn client_data(&mut self, data: &[u8], _found: &mut Vec<Credential>) {
        if self.client.len() < MAX_HANDSHAKE {
            self.client.extend_from_slice(data);
        }
    }

    fn server_data(&mut self, data: &[u8], found: &mut Vec<Credential>) {
        if self.server.len() < MAX_HANDSHAKE {
            self.server.extend_from_slice(data);
        }
        if !self.reported
            && let Some(c) = self
                .try_read()
                .filter(|c| c.outcome != LoginOutcome::Unknown)
        {
            self.reported = true;
            found.push(c);
        }
    }

    fn gap(&mut self, _from_client: bool) {
        self.reported = true; // offsets are lost
    }

    fn finish(&mut self, found: &mut Vec<Credential>) {
        if !self.reported
            && let Some(c) = self.try_read()
        {
            self.reported = true;
            found.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfb_38_vnc_auth_with_result() {
        let mut p = VncParser::default();
        let mut found = Vec::new();
        p.server_data(b"RFB 003.008\n", &mut found);
        p.client_data(b"RFB 003.008\n", &mut found);
        p.server_data(&[2, 1, 2], &mut found); // None, VNC Authentication
        p.client_data(&[2], &mut found);
        p.server_data(&[0x11; 16], &mut found);
        p.client_data(&[0x22; 16], &mut found);
        assert!(found.is_empty());
        p.server_data(&[0, 0, 0, 0], &mut found);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].secret,
            format!("{}:{}", "11".repeat(16), "22".repeat(16))
        );
        assert_eq!(found[0].outcome, LoginOutcome::Accepted);
    }

    #[test]
    fn rfb_33_and_no_auth() {
        let mut p = VncParser::default();
        let mut found = Vec::new();
        p.server_data(b"RFB 003.003\n\x00\x00\x00\x02", &mut found);
        p.client_data(b"RFB 003.003\n", &mut found);
        p.server_data(&[7; 16], &mut found);
        p.client_data(&[9; 16], &mut found);
        p.server_data(&[0, 0, 0, 1], &mut found);
        assert_eq!(found[0].outcome, LoginOutcome::Rejected);
        let mut p = VncParser::default();
        p.server_data(b"RFB 003.008\n\x01\x01", &mut found);
        p.client_data(b"RFB 003.008\n\x01", &mut found);
        p.finish(&mut found);
        assert_eq!(found.len(), 1, "security type None: nothing to report");
    }
}
