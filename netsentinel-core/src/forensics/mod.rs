//! Forensics: credentials and secrets seen in cleartext on reassembled TCP streams.
//!
//! Each application protocol has a parser here that reads the client's and the server's
//! byte streams (after [reassembly](crate::reassembly)) and reports a [`Credential`] once
//! per login, with the server's verdict when it gives one. Secrets leave this module only
//! masked ([`mask`]) except in the [`Credential`] itself, which is meant for the vault.

mod ber;
mod binary;
mod http;
mod lines;
mod mail;
mod mysql;
mod ntlm;
mod postgres;
mod secrets;
mod telnet;
mod vnc;

use serde::Serialize;

pub(crate) use ber::{LdapParser, snmp_community};
pub(crate) use binary::{BinaryParser, BinaryProtocol, kerberos_as_req};
pub(crate) use http::HttpParser;
pub(crate) use mail::{LineProtocol, MailParser};
pub(crate) use mysql::MysqlParser;
pub(crate) use postgres::PostgresParser;
pub(crate) use secrets::SecretScanner;
pub(crate) use telnet::TelnetParser;
pub(crate) use vnc::VncParser;

/// Whether the server accepted a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginOutcome {
    /// The server said yes (FTP 230, POP3 +OK, IMAP OK, SMTP 235, HTTP 2xx/3xx, a shell).
    Accepted,
    /// The server said no (FTP 530, -ERR, NO, 535, HTTP 401/403, "Login incorrect").
    Rejected,
    /// No answer seen (the capture ended, or the protocol does not say).
    Unknown,
}

/// A credential seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// Protocol: `ftp`, `pop3`, `imap`, `smtp`, `http`, `telnet`.
    pub protocol: &'static str,
    /// How it was sent: `USER/PASS`, `AUTH PLAIN`, `HTTP Basic`, `login prompt`, ...
    pub mechanism: &'static str,
    /// User name, when the mechanism carries one.
    pub username: Option<String>,
    /// The secret (password, token, key) in full. Never print this: use [`mask`].
    pub secret: String,
    /// The server's verdict.
    pub outcome: LoginOutcome,
}

/// A secret masked for display: the first two and last two characters around `***` (a
/// secret of six characters or fewer shows only its first). `Sunny-Meadow-42` becomes
/// `Su***42`.
///
/// ```
/// use netsentinel_core::forensics::mask;
/// assert_eq!(mask("Sunny-Meadow-42"), "Su***42");
/// assert_eq!(mask("hunter"), "h***");
/// assert_eq!(mask(""), "***");
/// ```
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    match chars.len() {
        0 => "***".into(),
        1..=6 => format!("{}***", chars[0]),
        n => format!(
            "{}{}***{}{}",
            chars[0],
            chars[1],
            chars[n - 2],
            chars[n - 1]
        ),
    }
}

/// A parser of one TCP connection's two streams.
pub(crate) trait StreamParser: Send {
    /// Bytes from the client, in order.
    fn client_data(&mut self, data: &[u8], found: &mut Vec<Credential>);
    /// Bytes from the server, in order.
    fn server_data(&mut self, data: &[u8], found: &mut Vec<Credential>);
    /// Bytes lost in one direction: parsers resynchronise at the next line.
    fn gap(&mut self, from_client: bool);
    /// The connection ended: report what still waits for a verdict.
    fn finish(&mut self, found: &mut Vec<Credential>);
}

/// SIP requests with a Digest `Authorization`/`Proxy-Authorization`: the user name (the
/// response is a hash). `None` for anything else.
pub(crate) fn sip_digest_user(payload: &[u8]) -> Option<Credential> {
    let text = std::str::from_utf8(payload.get(..payload.len().min(4096))?).ok()?;
    let first = text.lines().next()?;
    if !first.ends_with("SIP/2.0") {
        return None;
    }
    let method = first.split(' ').next()?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        if name != "authorization" && name != "proxy-authorization" {
            return None;
        }
        let rest = value.trim().strip_prefix("Digest")?;
        let user = rest.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("username")
                .then(|| v.trim().trim_matches('"').to_string())
        })?;
        Some(Credential {
            protocol: "sip",
            mechanism: if method == "REGISTER" {
                "Digest REGISTER (user name)"
            } else {
                "Digest (user name)"
            },
            username: Some(user),
            secret: String::new(),
            outcome: LoginOutcome::Unknown,
        })
    })
}

/// Decodes standard base64 (padding optional), or `None`.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let t = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .ok()
}

/// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`, base64; (user, password).
pub(crate) fn sasl_plain(b64: &str) -> Option<(String, String)> {
    let raw = base64_decode(b64)?;
    let mut parts = raw.split(|&b| b == 0);
    let _authzid = parts.next()?;
    let user = parts.next()?;
    let pass = parts.next()?;
    Some((
        String::from_utf8_lossy(user).into_owned(),
        String::from_utf8_lossy(pass).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_plain_decodes_the_rfc_example_and_the_corpus_one() {
        assert_eq!(
            sasl_plain("AGNhcm9sAFBvcDMtU2VjcmV0IQ=="),
            Some(("carol".into(), "Pop3-Secret!".into()))
        );
        assert_eq!(sasl_plain("not base64!"), None);
        assert_eq!(sasl_plain("YWJj"), None, "no NUL separators");
    }

    #[test]
    fn sip_register_digest_user() {
        let msg = b"REGISTER sip:lab.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5\r\n\
            Authorization: Digest username=\"1001\", realm=\"lab.test\", nonce=\"x\", \
            uri=\"sip:lab.test\", response=\"0123\"\r\n\r\n";
        let c = sip_digest_user(msg).unwrap();
        assert_eq!(c.username.as_deref(), Some("1001"));
        assert_eq!(c.mechanism, "Digest REGISTER (user name)");
        assert!(sip_digest_user(b"SIP/2.0 200 OK\r\n\r\n").is_none());
    }

    #[test]
    fn masks_keep_secrets_unreadable() {
        assert_eq!(mask("hunter2"), "hu***r2");
        assert_eq!(mask("pässwörter"), "pä***er");
        assert!(!mask("Pop3-Secret!").contains("Secret"));
    }
}

#[cfg(test)]
mod hostile_input {
    use proptest::prelude::*;

    use super::*;

    fn parsers() -> Vec<Box<dyn StreamParser>> {
        vec![
            Box::new(MailParser::new(LineProtocol::Ftp)),
            Box::new(MailParser::new(LineProtocol::Pop3)),
            Box::new(MailParser::new(LineProtocol::Imap)),
            Box::new(MailParser::new(LineProtocol::Smtp)),
            Box::new(MailParser::new(LineProtocol::Redis)),
            Box::new(MailParser::new(LineProtocol::Irc)),
            Box::new(HttpParser::new()),
            Box::new(TelnetParser::new()),
            Box::new(LdapParser::default()),
            Box::new(PostgresParser::default()),
            Box::new(MysqlParser::default()),
            Box::new(VncParser::default()),
            Box::new(BinaryParser::new(BinaryProtocol::Smb)),
            Box::new(BinaryParser::new(BinaryProtocol::Mongo)),
            Box::new(BinaryParser::new(BinaryProtocol::Kerberos)),
        ]
    }

    /// Bytes biased towards what the parsers look for, so the fuzzing reaches past the
    /// first check.
    fn chunk() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            prop::sample::select(vec![
                b"USER a\r\nPASS b\r\n".to_vec(),
                b"AUTH PLAIN\r\n".to_vec(),
                b"a1 LOGIN \"x\" \"y\r\n".to_vec(),
                b"*2\r\n$4\r\nAUTH\r\n".to_vec(),
                b"GET / HTTP/1.1\r\nAuthorization: NTLM TlRMTVNTUAADAAAA\r\n\r\n".to_vec(),
                b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n".to_vec(),
                b"\xff\xfa\x18\xff\xff".to_vec(),
                b"login: ".to_vec(),
                b"Password: ".to_vec(),
                b"RFB 003.008\n".to_vec(),
                b"NTLMSSP\0\x03\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
                b"n,,n=".to_vec(),
                vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
                vec![0x6a, 0x81, 0x05, 0x30, 0x03, 0xa4, 0x01, 0x30],
                vec![0, 0, 0, 8, 0, 3, 0, 0],
                vec![0xff, 0xff, 0xff, 0x00, 0x0a],
            ]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn parsers_survive_arbitrary_streams(
            steps in prop::collection::vec((any::<bool>(), chunk(), any::<u8>()), 1..40)
        ) {
            for mut p in parsers() {
                let mut found = Vec::new();
                for (from_client, data, gap) in &steps {
                    if *gap == 0 {
                        p.gap(*from_client);
                    } else if *from_client {
                        p.client_data(data, &mut found);
                    } else {
                        p.server_data(data, &mut found);
                    }
                }
                p.finish(&mut found);
                for c in &found {
                    // Every credential names its protocol and masks to something short.
                    prop_assert!(!c.protocol.is_empty());
                    prop_assert!(mask(&c.secret).chars().count() <= 7);
                }
            }
            for (_, data, _) in &steps {
                let _ = snmp_community(data);
                let _ = sip_digest_user(data);
                let _ = kerberos_as_req(data);
                let mut s = SecretScanner::default();
                s.scan("http", data, &mut Vec::new());
            }
        }
    }
}
