//! MySQL logins: the `HandshakeResponse41` after the server greeting. With the
//! `mysql_clear_password` plugin the password itself is on the wire; with the hashing
//! plugins (`mysql_native_password`, `caching_sha2_password`) the scrambled response and
//! the server's salt are kept (crackable offline). A client asking for TLS (`SSLRequest`)
//! ends the parsing: what follows is encrypted. The server's OK or ERR packet gives the
//! verdict.

use super::{Credential, LoginOutcome, StreamParser};

const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;
const CLIENT_PLUGIN_AUTH_LENENC: u32 = 0x20_0000;
const MAX_PACKET: usize = 64 * 1024;

/// Parser of one MySQL connection's login.
#[derive(Debug, Default)]
pub(crate) struct MysqlParser {
    client: Vec<u8>,
    server: Vec<u8>,
    salt: Vec<u8>,
    greeted: bool,
    answered: bool,
    pending: Option<Credential>,
    done: bool,
}

/// Complete MySQL packets (3-byte length, sequence byte, payload) removed from `buf`.
fn packets(buf: &mut Vec<u8>) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = usize::from(buf[0]) | usize::from(buf[1]) << 8 | usize::from(buf[2]) << 16;
        if len > MAX_PACKET {
            return None;
        }
        if buf.len() < 4 + len {
            break;
        }
        out.push(buf.drain(..4 + len).skip(4).collect());
    }
    Some(out)
}

fn cstr(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = b.iter().position(|&c| c == 0)?;
    Some((&b[..end], &b[end + 1..]))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl MysqlParser {
    fn greeting(&mut self, p: &[u8]) {
        // 0x0a, version NUL, connection id (4), salt part 1 (8), filler, ..., salt part 2.
        if p.first() != Some(&0x0a) {
            self.done = true;
            return;
        }
        let Some((_, rest)) = cstr(&p[1..]) else {
            return;
        };
        if let Some(part1) = rest.get(4..12) {
            self.salt = part1.to_vec();
            // After filler(1) caps(2) charset(1) status(2) caps(2) len(1) reserved(10).
            if let Some(part2) = rest.get(31..).and_then(cstr) {
                self.salt.extend_from_slice(part2.0);
            }
        }
        self.greeted = true;
    }

    fn response(&mut self, p: &[u8]) {
        self.answered = true;
        let Some(caps) = p
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return;
        };
        if caps & CLIENT_SSL != 0 && p.len() <= 32 {
            self.done = true; // TLS from here on
            return;
        }
        let Some((user, rest)) = p.get(32..).and_then(cstr) else {
            return;
        };
        let (auth, rest): (&[u8], &[u8]) =
            if caps & CLIENT_PLUGIN_AUTH_LENENC != 0 || caps & CLIENT_SECURE_CONNECTION != 0 {
                // A one-byte length covers every real auth response (under 251 bytes).
                let Some((&n, rest)) = rest.split_first() else {
                    return;
                };
                let n = usize::from(n);
                if rest.len() < n {
                    return;
                }
                (&rest[..n], &rest[n..])
            } else {
                match cstr(rest) {
                    Some(x) => x,
                    None => return,
                }
            };
        let mut rest = rest;
        if caps & CLIENT_CONNECT_WITH_DB != 0
            && let Some((_, r)) = cstr(rest)
        {
            rest = r;
        }
        let plugin = if caps & CLIENT_PLUGIN_AUTH != 0 {
            cstr(rest).map(|(p, _)| p).unwrap_or(b"")
        } else {
            b""
        };
        let (mechanism, secret) = if plugin == b"mysql_clear_password" {
            let pass = auth.strip_suffix(&[0]).unwrap_or(auth);
            (
                "mysql_clear_password",
                String::from_utf8_lossy(pass).into_owned(),
            )
        } else if auth.is_empty() {
            ("empty password", String::new())
        } else {
            (
                "scrambled password (salt:response)",
                format!("{}:{}", hex(&self.salt), hex(auth)),
            )
        };
        self.pending = Some(Credential {
            protocol: "mysql",
            mechanism,
            username: Some(String::from_utf8_lossy(user).into_owned()),
            secret,
            outcome: LoginOutcome::Unknown,
        });
    }
}

impl StreamParser for MysqlParser {
    fn client_data(&mut self, data: &[u8], _found: &mut Vec<Credential>) {
        if self.done || self.answered {
            return;
        }
        self.client.extend_from_slice(data);
        match packets(&mut self.client) {
            Some(list) => {
                if let Some(first) = list.first()
                    && self.greeted
                {
                    self.response(first);
                }
            }
            None => self.done = true,
        }
    }

    fn server_data(&mut self, data: &[u8], found: &mut Vec<Credential>) {
        if self.done {
            return;
        }
        self.server.extend_from_slice(data);
        let Some(list) = packets(&mut self.server) else {
            self.done = true;
            return;
        };
        for p in list {
            if !self.greeted {
                self.greeting(&p);
                continue;
            }
            let verdict = match p.first() {
                Some(0x00) => Some(LoginOutcome::Accepted),
                Some(0xff) => Some(LoginOutcome::Rejected),
                _ => None, // auth switch or more data: wait
            };
            if let Some(v) = verdict
                && let Some(mut c) = self.pending.take()
            {
                c.outcome = v;
                found.push(c);
                self.done = true;
            }
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

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len();
        let mut p = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
        p.extend_from_slice(payload);
        p
    }

    fn greeting() -> Vec<u8> {
        let mut g = vec![0x0a];
        g.extend_from_slice(b"8.0.36\0");
        g.extend_from_slice(&[1, 0, 0, 0]); // connection id
        g.extend_from_slice(b"abcdefgh"); // salt 1
        g.push(0);
        g.extend_from_slice(&[0xff, 0xf7, 0x21, 0x02, 0x00, 0xff, 0xdf, 21]);
        g.extend_from_slice(&[0; 10]);
        g.extend_from_slice(b"ijklmnopqrst\0");
        g.extend_from_slice(b"mysql_native_password\0");
        packet(0, &g)
    }

    fn response(plugin: &str, auth: &[u8]) -> Vec<u8> {
        let caps = CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB | 0x200;
        let mut r = caps.to_le_bytes().to_vec();
        r.extend_from_slice(&[0, 0, 0, 1, 33]);
        r.extend_from_slice(&[0; 23]);
        r.extend_from_slice(b"webapp\0");
        r.push(auth.len() as u8);
        r.extend_from_slice(auth);
        r.extend_from_slice(b"shop\0");
        r.extend_from_slice(plugin.as_bytes());
        r.push(0);
        packet(1, &r)
    }

    fn run(resp: Vec<u8>, verdict: u8) -> Vec<Credential> {
        let mut p = MysqlParser::default();
        let mut found = Vec::new();
        p.server_data(&greeting(), &mut found);
        p.client_data(&resp, &mut found);
        p.server_data(&packet(2, &[verdict, 0, 0, 2, 0, 0, 0]), &mut found);
        p.finish(&mut found);
        found
    }

    #[test]
    fn clear_password_plugin_and_scrambled_response() {
        let f = run(response("mysql_clear_password", b"My-Sql-Pw\0"), 0x00);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].username.as_deref(), Some("webapp"));
        assert_eq!(f[0].secret, "My-Sql-Pw");
        assert_eq!(f[0].outcome, LoginOutcome::Accepted);
        let f = run(response("mysql_native_password", &[0xaa; 20]), 0xff);
        assert_eq!(f[0].mechanism, "scrambled password (salt:response)");
        assert!(
            f[0].secret
                .starts_with("6162636465666768696a6b6c6d6e6f7071727374:aaaa")
        );
        assert_eq!(f[0].outcome, LoginOutcome::Rejected);
    }

    #[test]
    fn ssl_request_stops_parsing() {
        let caps = CLIENT_SSL | CLIENT_SECURE_CONNECTION;
        let mut r = caps.to_le_bytes().to_vec();
        r.extend_from_slice(&[0; 28]);
        let f = run(packet(1, &r), 0x00);
        assert!(f.is_empty());
    }
}
