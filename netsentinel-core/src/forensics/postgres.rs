//! PostgreSQL logins (frontend/backend protocol 3.0): the user from the startup message,
//! and the `PasswordMessage` after the server asked for a cleartext password
//! (AuthenticationCleartextPassword) or an MD5 hash (AuthenticationMD5Password, then the
//! hash is what is kept: crackable offline). SCRAM exchanges reveal only the user name
//! and are not reported. The server's AuthenticationOk or ErrorResponse gives the verdict.

use super::{Credential, LoginOutcome, StreamParser};

/// Largest message buffered.
const MAX_MESSAGE: usize = 64 * 1024;

/// Parser of one PostgreSQL connection's login.
#[derive(Debug, Default)]
pub(crate) struct PostgresParser {
    client: Vec<u8>,
    server: Vec<u8>,
    /// The startup message has been read.
    started: bool,
    user: Option<String>,
    /// Password type asked for: 3 cleartext, 5 MD5.
    asked: Option<u32>,
    pending: Option<Credential>,
    done: bool,
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

impl PostgresParser {
    fn client_message(&mut self, kind: Option<u8>, body: &[u8]) {
        match kind {
            None => {
                // Startup: protocol version, then key NUL value NUL pairs.
                if be32(body) != Some(196_608) {
                    return; // SSLRequest, cancel, or not PostgreSQL
                }
                self.started = true;
                let mut parts = body[4..].split(|&b| b == 0);
                while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
                    if k == b"user" {
                        self.user = Some(String::from_utf8_lossy(v).into_owned());
                    }
                }
            }
            Some(b'p') => {
                let secret = body.strip_suffix(&[0]).unwrap_or(body);
                let mechanism = match self.asked {
                    Some(3) => "cleartext password",
                    Some(5) => "MD5 password hash",
                    _ => return,
                };
                self.pending = Some(Credential {
                    protocol: "postgresql",
                    mechanism,
                    username: self.user.clone(),
                    secret: String::from_utf8_lossy(secret).into_owned(),
                    outcome: LoginOutcome::Unknown,
                });
            }
            _ => {}
        }
    }

    fn server_message(&mut self, kind: u8, body: &[u8], found: &mut Vec<Credential>) {
        match (kind, be32(body)) {
            (b'R', Some(0)) => {
                if let Some(mut c) = self.pending.take() {
                    c.outcome = LoginOutcome::Accepted;
                    found.push(c);
                }
                self.done = true;
            }
            (b'R', Some(code @ (3 | 5))) => self.asked = Some(code),
            (b'E', _) => {
                if let Some(mut c) = self.pending.take() {
                    c.outcome = LoginOutcome::Rejected;
                    found.push(c);
                }
            }
            _ => {}
        }
    }
}

impl StreamParser for PostgresParser {
    fn client_data(&mut self, data: &[u8], _found: &mut Vec<Credential>) {
        if self.done {
            return;
        }
        self.client.extend_from_slice(data);
        loop {
            // Before the startup message, messages have no type byte.
            let head = if self.started { 1 } else { 0 };
            let Some(len) = self.client.get(head..).and_then(be32) else {
                break;
            };
            let total = head + len as usize;
            if (len as usize) < 4 || total > MAX_MESSAGE {
                self.client.clear();
                self.done = true;
                break;
            }
            if self.client.len() < total {
                break;
            }
            let msg: Vec<u8> = self.client.drain(..total).collect();
            let kind = if self.started { Some(msg[0]) } else { None };
            self.client_message(kind, &msg[head + 4..]);
        }
    }

    fn server_data(&mut self, data: &[u8], found: &mut Vec<Credential>) {
        if self.done {
            return;
        }
        self.server.extend_from_slice(data);
        // A single 'N' or 'S' answers an SSLRequest before any message.
        if !self.started
            && matches!(self.server.first(), Some(b'N' | b'S'))
            && self.server.len() == 1
        {
            self.server.clear();
            return;
        }
        while let Some(len) = self.server.get(1..).and_then(be32) {
            let total = 1 + len as usize;
            if (len as usize) < 4 || total > MAX_MESSAGE {
                self.server.clear();
                self.done = true;
                return;
            }
            if self.server.len() < total {
                break;
            }
            let msg: Vec<u8> = self.server.drain(..total).collect();
            self.server_message(msg[0], &msg[5..], found);
        }
    }

    fn gap(&mut self, _from_client: bool) {
        self.done = true;
    }

    fn finish(&mut self, found: &mut Vec<Credential>) {
        found.extend(self.pending.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn startup(user: &str) -> Vec<u8> {
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for (k, v) in [("user", user), ("database", "app")] {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut m = (body.len() as u32 + 4).to_be_bytes().to_vec();
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn cleartext_and_md5_logins_with_verdicts() {
        let mut p = PostgresParser::default();
        let mut found = Vec::new();
        let s = startup("appuser");
        p.client_data(&s[..5], &mut found);
        p.client_data(&s[5..], &mut found);
        p.server_data(&msg(b'R', &3u32.to_be_bytes()), &mut found);
        p.client_data(&msg(b'p', b"Pg-Pass-1\0"), &mut found);
        p.server_data(&msg(b'R', &0u32.to_be_bytes()), &mut found);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].username.as_deref(), Some("appuser"));
        assert_eq!(found[0].secret, "Pg-Pass-1");
        assert_eq!(found[0].mechanism, "cleartext password");
        assert_eq!(found[0].outcome, LoginOutcome::Accepted);

        let mut p = PostgresParser::default();
        let mut found = Vec::new();
        p.client_data(&startup("bob"), &mut found);
        let mut md5 = 5u32.to_be_bytes().to_vec();
        md5.extend_from_slice(&[1, 2, 3, 4]);
        p.server_data(&msg(b'R', &md5), &mut found);
        p.client_data(
            &msg(b'p', b"md53175bce1d3201d16594cebf9d7eb3f9d\0"),
            &mut found,
        );
        p.server_data(&msg(b'E', b"SFATAL\0"), &mut found);
        assert_eq!(found[0].mechanism, "MD5 password hash");
        assert_eq!(found[0].outcome, LoginOutcome::Rejected);
    }

    #[test]
    fn scram_reports_nothing() {
        let mut p = PostgresParser::default();
        let mut found = Vec::new();
        p.client_data(&startup("carol"), &mut found);
        p.server_data(&msg(b'R', &10u32.to_be_bytes()), &mut found);
        p.client_data(&msg(b'p', b"SCRAM-SHA-256\0...."), &mut found);
        p.finish(&mut found);
        assert!(found.is_empty());
    }
}
