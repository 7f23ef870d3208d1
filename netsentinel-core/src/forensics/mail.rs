//! Line-based login protocols: FTP, POP3, IMAP, SMTP, Redis and IRC.
//!
//! Client commands seen: `USER`/`PASS` (FTP, POP3), `APOP` (POP3: user name and a digest,
//! no password), `LOGIN` (IMAP, quoted or atom arguments), SASL `AUTH`/`AUTHENTICATE`
//! `PLAIN` (initial response or after a continuation) and `LOGIN` (user and password as
//! two base64 lines), Redis `AUTH [user] password` (inline or as a RESP array), IRC `PASS`
//! with the following `NICK`, and `IDENTIFY` to NickServ. The server's next final reply
//! gives the verdict.

use super::lines::LineBuffer;
use super::{Credential, LoginOutcome, StreamParser, base64_decode, sasl_plain};

/// Which protocol the lines are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineProtocol {
    Ftp,
    Pop3,
    Imap,
    Smtp,
    Redis,
    Irc,
}

impl LineProtocol {
    fn name(self) -> &'static str {
        match self {
            LineProtocol::Ftp => "ftp",
            LineProtocol::Pop3 => "pop3",
            LineProtocol::Imap => "imap",
            LineProtocol::Smtp => "smtp",
            LineProtocol::Redis => "redis",
            LineProtocol::Irc => "irc",
        }
    }

    /// The verdict in a server line, or `None` for an intermediate reply (FTP 331, SASL
    /// continuations, IMAP untagged data).
    fn verdict(self, line: &str) -> Option<LoginOutcome> {
        let l = line.trim_start();
        match self {
            LineProtocol::Ftp | LineProtocol::Smtp => match l.as_bytes().first() {
                Some(b'2') => Some(LoginOutcome::Accepted),
                Some(b'4' | b'5') => Some(LoginOutcome::Rejected),
                _ => None,
            },
            LineProtocol::Pop3 => {
                if l.starts_with("+OK") {
                    Some(LoginOutcome::Accepted)
                } else if l.starts_with("-ERR") {
                    Some(LoginOutcome::Rejected)
                } else {
                    None
                }
            }
            LineProtocol::Redis => {
                if l.starts_with("+OK") {
                    Some(LoginOutcome::Accepted)
                } else if l.starts_with('-') {
                    Some(LoginOutcome::Rejected)
                } else {
                    None
                }
            }
            LineProtocol::Irc => {
                // ":server 001 nick :Welcome", ":server 464 nick :Password incorrect".
                let code = l.split_ascii_whitespace().nth(1).unwrap_or("");
                match code {
                    "001" => Some(LoginOutcome::Accepted),
                    "464" | "465" => Some(LoginOutcome::Rejected),
                    _ if l.starts_with("ERROR") => Some(LoginOutcome::Rejected),
                    _ => None,
                }
            }
            LineProtocol::Imap => {
                if l.starts_with('*') || l.starts_with('+') {
                    return None;
                }
                let mut words = l.split_ascii_whitespace();
                let _tag = words.next();
                match words.next().map(str::to_ascii_uppercase).as_deref() {
                    Some("OK") => Some(LoginOutcome::Accepted),
                    Some("NO" | "BAD") => Some(LoginOutcome::Rejected),
                    _ => None,
                }
            }
        }
    }
}

/// Where a SASL exchange is.
#[derive(Debug)]
enum Sasl {
    None,
    /// `AUTH PLAIN` sent without the initial response: the next client line is it.
    Plain,
    /// `AUTH LOGIN`: the next client line is the base64 user name.
    LoginUser,
    /// ... then the base64 password.
    LoginPass(String),
    /// `CRAM-MD5`: after the server's challenge, the base64 `user digest`.
    CramMd5,
}

/// Parser of FTP, POP3, IMAP or SMTP.
#[derive(Debug)]
pub(crate) struct MailParser {
    protocol: LineProtocol,
    client: LineBuffer,
    server: LineBuffer,
    user: Option<String>,
    sasl: Sasl,
    pending: Vec<Credential>,
    /// Redis RESP array being read: arguments still expected, and those read.
    resp: Option<(usize, Vec<String>)>,
    /// IRC `PASS` waiting for its `NICK`.
    irc_pass: Option<String>,
}

impl MailParser {
    pub(crate) fn new(protocol: LineProtocol) -> Self {
        MailParser {
            protocol,
            client: LineBuffer::default(),
            server: LineBuffer::default(),
            user: None,
            sasl: Sasl::None,
            pending: Vec::new(),
            resp: None,
            irc_pass: None,
        }
    }

    /// A Redis command as its words (from a RESP array or an inline command).
    fn redis_command(&mut self, words: &[String]) {
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("AUTH"))
        {
            match words {
                [_, pass] => self.found("AUTH", None, pass.clone()),
                [_, user, pass] => self.found("AUTH", Some(user.clone()), pass.clone()),
                _ => {}
            }
        }
    }

    /// One line of a Redis client stream: RESP (`*N`, `$len`, argument) or inline.
    fn redis_line(&mut self, line: &str) {
        if let Some((left, mut args)) = self.resp.take() {
            if line.starts_with('$') {
                self.resp = Some((left, args));
                return;
            }
            args.push(line.to_string());
            if left <= 1 {
                self.redis_command(&args);
            } else {
                self.resp = Some((left - 1, args));
            }
            return;
        }
        if let Some(n) = line.strip_prefix('*').and_then(|n| n.parse::<usize>().ok()) {
            if (1..=64).contains(&n) {
                self.resp = Some((n, Vec::new()));
            }
            return;
        }
        let words: Vec<String> = line.split_ascii_whitespace().map(str::to_string).collect();
        self.redis_command(&words);
    }

    fn found(&mut self, mechanism: &'static str, username: Option<String>, secret: String) {
        self.pending.push(Credential {
            protocol: self.protocol.name(),
            mechanism,
            username,
            secret,
            outcome: LoginOutcome::Unknown,
        });
    }

    fn client_line(&mut self, raw: &[u8]) {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim();
        match self.protocol {
            LineProtocol::Redis => return self.redis_line(line),
            LineProtocol::Irc => return self.irc_line(line),
            _ => {}
        }
        // A pending SASL step takes the whole line.
        match std::mem::replace(&mut self.sasl, Sasl::None) {
            Sasl::Plain => {
                if let Some((user, pass)) = sasl_plain(line) {
                    self.found("AUTH PLAIN", Some(user), pass);
                }
                return;
            }
            Sasl::LoginUser => {
                if let Some(user) = base64_decode(line) {
                    self.sasl = Sasl::LoginPass(String::from_utf8_lossy(&user).into_owned());
                }
                return;
            }
            Sasl::CramMd5 => {
                if let Some(raw) = base64_decode(line) {
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    if let Some((user, digest)) = text.rsplit_once(' ') {
                        self.found("AUTH CRAM-MD5", Some(user.to_string()), digest.to_string());
                    }
                }
                return;
            }
            Sasl::LoginPass(user) => {
                if let Some(pass) = base64_decode(line) {
                    let pass = String::from_utf8_lossy(&pass).into_owned();
                    self.found("AUTH LOGIN", Some(user), pass);
                }
                return;
            }
            Sasl::None => {}
        }
        let mut words = line.split_ascii_whitespace();
        let first = words.next().unwrap_or("");
        // IMAP commands come after a tag.
        let (verb, mut args) = if self.protocol == LineProtocol::Imap {
            (words.next().unwrap_or(""), words)
        } else {
            (first, words)
        };
        match verb.to_ascii_uppercase().as_str() {
            "USER" if self.protocol != LineProtocol::Imap => {
                self.user = args.next().map(str::to_string);
            }
            "PASS" if self.protocol != LineProtocol::Imap => {
                let rest = line.get(5..).unwrap_or("").to_string();
                let user = self.user.take();
                self.found("USER/PASS", user, rest);
            }
            "APOP" if self.protocol == LineProtocol::Pop3 => {
                // A digest, not the password: worth knowing (the user name is in clear).
                let user = args.next().map(str::to_string);
                let digest = args.next().unwrap_or("").to_string();
                self.found("APOP", user, digest);
            }
            "LOGIN" if self.protocol == LineProtocol::Imap => {
                let rest = line
                    .split_ascii_whitespace()
                    .skip(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                let fields = imap_strings(&rest);
                if let [user, pass, ..] = fields.as_slice() {
                    self.found("LOGIN", Some(user.clone()), pass.clone());
                }
            }
            "AUTH" | "AUTHENTICATE" => {
                let mechanism = args.next().unwrap_or("").to_ascii_uppercase();
                let initial = args.next();
                match (mechanism.as_str(), initial) {
                    ("PLAIN", Some(b64)) if b64 != "=" => {
                        if let Some((user, pass)) = sasl_plain(b64) {
                            self.found("AUTH PLAIN", Some(user), pass);
                        }
                    }
                    ("PLAIN", _) => self.sasl = Sasl::Plain,
                    ("LOGIN", Some(b64)) => {
                        if let Some(user) = base64_decode(b64) {
                            self.sasl =
                                Sasl::LoginPass(String::from_utf8_lossy(&user).into_owned());
                        }
                    }
                    ("LOGIN", None) => self.sasl = Sasl::LoginUser,
                    ("CRAM-MD5", _) => self.sasl = Sasl::CramMd5,
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

impl MailParser {
    fn irc_line(&mut self, line: &str) {
        let mut words = line.splitn(2, ' ');
        let verb = words.next().unwrap_or("").to_ascii_uppercase();
        let rest = words.next().unwrap_or("").trim();
        match verb.as_str() {
            "PASS" => self.irc_pass = Some(rest.trim_start_matches(':').to_string()),
            "NICK" => {
                if let Some(pass) = self.irc_pass.take() {
                    let nick = rest.trim_start_matches(':').to_string();
                    self.found("PASS", Some(nick), pass);
                }
            }
            "PRIVMSG" | "NS" | "NICKSERV" => {
                // PRIVMSG NickServ :IDENTIFY [account] password
                let text = if verb == "PRIVMSG" {
                    match rest.split_once(' ') {
                        Some((target, text)) if target.eq_ignore_ascii_case("nickserv") => {
                            text.trim_start_matches(':')
                        }
                        _ => return,
                    }
                } else {
                    rest
                };
                let parts: Vec<&str> = text.split_ascii_whitespace().collect();
                match parts.as_slice() {
                    [cmd, pass] if cmd.eq_ignore_ascii_case("IDENTIFY") => {
                        self.found("NickServ IDENTIFY", None, (*pass).to_string());
                    }
                    [cmd, user, pass] if cmd.eq_ignore_ascii_case("IDENTIFY") => {
                        self.found(
                            "NickServ IDENTIFY",
                            Some((*user).to_string()),
                            (*pass).to_string(),
                        );
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// IMAP astrings: quoted strings (with `\"` and `\\` escapes) or atoms.
fn imap_strings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(e) = chars.next() {
                            s.push(e);
                        }
                    }
                    '"' => break,
                    c => s.push(c),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    out
}

impl StreamParser for MailParser {
    fn client_data(&mut self, data: &[u8], _found: &mut Vec<Credential>) {
        let mut lines = Vec::new();
        self.client.push(data, |l| lines.push(l.to_vec()));
        for l in lines {
            self.client_line(&l);
        }
    }

    fn server_data(&mut self, data: &[u8], found: &mut Vec<Credential>) {
        let protocol = self.protocol;
        let mut verdicts = Vec::new();
        self.server.push(data, |l| {
            if let Some(v) = protocol.verdict(&String::from_utf8_lossy(l)) {
                verdicts.push(v);
            }
        });
        for v in verdicts {
            // A final reply settles every login sent before it.
            if !self.pending.is_empty() {
                for mut c in self.pending.drain(..) {
                    c.outcome = v;
                    found.push(c);
                }
            }
        }
    }

    fn gap(&mut self, from_client: bool) {
        if from_client {
            self.client.reset();
            self.sasl = Sasl::None;
        } else {
            self.server.reset();
        }
    }

    fn finish(&mut self, found: &mut Vec<Credential>) {
        found.append(&mut self.pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(protocol: LineProtocol, exchange: &[(bool, &str)]) -> Vec<Credential> {
        let mut p = MailParser::new(protocol);
        let mut found = Vec::new();
        for (client, text) in exchange {
            if *client {
                p.client_data(text.as_bytes(), &mut found);
            } else {
                p.server_data(text.as_bytes(), &mut found);
            }
        }
        p.finish(&mut found);
        found
    }

    fn one(found: &[Credential]) -> (&str, Option<&str>, &str, LoginOutcome) {
        assert_eq!(found.len(), 1, "{found:?}");
        let c = &found[0];
        (c.mechanism, c.username.as_deref(), &c.secret, c.outcome)
    }

    #[test]
    fn ftp_user_pass_with_verdict() {
        let f = run(
            LineProtocol::Ftp,
            &[
                (false, "220 ready\r\n"),
                (true, "USER alice\r\n"),
                (false, "331 Please specify the password.\r\n"),
                (true, "PASS Sunny-Meadow-42\r\n"),
                (false, "230 Login successful.\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            (
                "USER/PASS",
                Some("alice"),
                "Sunny-Meadow-42",
                LoginOutcome::Accepted
            )
        );
        let f = run(
            LineProtocol::Ftp,
            &[
                (true, "USER bob\r\nPASS wrong pass\r\n"),
                (false, "530 Login incorrect.\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            (
                "USER/PASS",
                Some("bob"),
                "wrong pass",
                LoginOutcome::Rejected
            )
        );
    }

    #[test]
    fn pop3_auth_plain_after_continuation_and_apop() {
        let f = run(
            LineProtocol::Pop3,
            &[
                (true, "AUTH PLAIN\r\n"),
                (false, "+ \r\n"),
                (true, "AGNhcm9sAFBvcDMtU2VjcmV0IQ==\r\n"),
                (false, "+OK Logged in.\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            (
                "AUTH PLAIN",
                Some("carol"),
                "Pop3-Secret!",
                LoginOutcome::Accepted
            )
        );
        let f = run(
            LineProtocol::Pop3,
            &[
                (true, "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
                (false, "-ERR\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            (
                "APOP",
                Some("mrose"),
                "c4c9334bac560ecc979e58001b3e22fb",
                LoginOutcome::Rejected
            )
        );
    }

    #[test]
    fn imap_login_quoted_and_authenticate_login() {
        let f = run(
            LineProtocol::Imap,
            &[
                (true, "a1 LOGIN \"dave\" \"pa ss\\\"word\"\r\n"),
                (false, "* CAPABILITY IMAP4rev1\r\na1 OK LOGIN completed\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            ("LOGIN", Some("dave"), "pa ss\"word", LoginOutcome::Accepted)
        );
        let f = run(
            LineProtocol::Imap,
            &[
                (true, "a2 AUTHENTICATE LOGIN\r\n"),
                (false, "+ VXNlcm5hbWU6\r\n"),
                (true, "ZXZl\r\n"),
                (false, "+ UGFzc3dvcmQ6\r\n"),
                (true, "c2VjcmV0\r\n"),
                (false, "a2 NO authentication failed\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            ("AUTH LOGIN", Some("eve"), "secret", LoginOutcome::Rejected)
        );
    }

    #[test]
    fn cram_md5_gives_user_and_digest() {
        // RFC 2195's example: tim / "tanstaaftanstaaf" answers the challenge with this.
        let f = run(
            LineProtocol::Smtp,
            &[
                (true, "AUTH CRAM-MD5\r\n"),
                (
                    false,
                    "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
                ),
                (true, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"),
                (false, "235 ok\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            (
                "AUTH CRAM-MD5",
                Some("tim"),
                "b913a602c7eda7a495b4e6e7334d3890",
                LoginOutcome::Accepted
            )
        );
    }

    #[test]
    fn redis_auth_as_resp_array_and_inline_acl() {
        let f = run(
            LineProtocol::Redis,
            &[
                (true, "*2\r\n$4\r\nAUTH\r\n$11\r\nfoobared-42\r\n"),
                (false, "+OK\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            ("AUTH", None, "foobared-42", LoginOutcome::Accepted)
        );
        let f = run(
            LineProtocol::Redis,
            &[
                (true, "AUTH app s3cr3t\r\n"),
                (false, "-WRONGPASS invalid username-password pair\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            ("AUTH", Some("app"), "s3cr3t", LoginOutcome::Rejected)
        );
    }

    #[test]
    fn irc_pass_nick_and_nickserv_identify() {
        let f = run(
            LineProtocol::Irc,
            &[
                (true, "PASS :hunter2\r\nNICK zoe\r\nUSER zoe 0 * :Zoe\r\n"),
                (false, ":irc.lab 001 zoe :Welcome to the lab IRC\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            ("PASS", Some("zoe"), "hunter2", LoginOutcome::Accepted)
        );
        let f = run(
            LineProtocol::Irc,
            &[(true, "PRIVMSG NickServ :IDENTIFY zoe n1ckpass\r\n")],
        );
        assert_eq!(
            one(&f),
            (
                "NickServ IDENTIFY",
                Some("zoe"),
                "n1ckpass",
                LoginOutcome::Unknown
            )
        );
    }

    #[test]
    fn smtp_auth_plain_initial_response_and_unanswered_login() {
        let f = run(
            LineProtocol::Smtp,
            &[
                (true, "EHLO me\r\n"),
                (false, "250-mail\r\n250 AUTH PLAIN LOGIN\r\n"),
                (true, "AUTH PLAIN AGZyYW5rAGxldG1laW4=\r\n"),
                (false, "235 2.7.0 Authentication successful\r\n"),
            ],
        );
        assert_eq!(
            one(&f),
            (
                "AUTH PLAIN",
                Some("frank"),
                "letmein",
                LoginOutcome::Accepted
            )
        );
        // The capture ends before the verdict.
        let f = run(
            LineProtocol::Smtp,
            &[(true, "AUTH LOGIN Z3JhY2U=\r\naHVudGVy\r\n")],
        );
        assert_eq!(
            one(&f),
            ("AUTH LOGIN", Some("grace"), "hunter", LoginOutcome::Unknown)
        );
    }
}
