//! Telnet logins: the server's `login:` / `Password:` prompts, then what the client typed
//! up to Enter. Option negotiation (IAC sequences, RFC 854/855) is skipped in both
//! directions; backspace and delete edit the typed line. After the password, the server's
//! next words decide: `Login incorrect` or a new prompt rejects, anything else (banner,
//! shell prompt) accepts.

use super::{Credential, LoginOutcome, StreamParser};

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;

/// Longest typed line kept.
const MAX_TYPED: usize = 256;
/// Server text remembered to find prompts.
const TAIL: usize = 128;

#[derive(Debug, Default, PartialEq)]
enum IacState {
    #[default]
    Data,
    /// After IAC.
    Command,
    /// After IAC WILL/WONT/DO/DONT: one option byte follows.
    Option,
    /// Inside IAC SB ... IAC SE.
    Sub,
    /// IAC inside a subnegotiation.
    SubCommand,
}

/// Strips Telnet commands from a byte stream, keeping state across chunks.
#[derive(Debug, Default)]
struct IacFilter(IacState);

impl IacFilter {
    fn filter(&mut self, data: &[u8], mut keep: impl FnMut(u8)) {
        for &b in data {
            self.0 = match (&self.0, b) {
                (IacState::Data, IAC) => IacState::Command,
                (IacState::Data, b) => {
                    keep(b);
                    IacState::Data
                }
                (IacState::Command, IAC) => {
                    keep(IAC);
                    IacState::Data
                }
                (IacState::Command, SB) => IacState::Sub,
                (IacState::Command, 251..=254) => IacState::Option,
                (IacState::Command, _) | (IacState::Option, _) => IacState::Data,
                (IacState::Sub, IAC) => IacState::SubCommand,
                (IacState::Sub, _) => IacState::Sub,
                (IacState::SubCommand, SE) => IacState::Data,
                (IacState::SubCommand, _) => IacState::Sub,
            };
        }
    }
}

#[derive(Debug, PartialEq)]
enum Expect {
    Nothing,
    User,
    Password,
    /// A password was typed: the server's next words give the verdict.
    Verdict,
}

/// Parser of one Telnet connection.
#[derive(Debug)]
pub(crate) struct TelnetParser {
    client_iac: IacFilter,
    server_iac: IacFilter,
    server_tail: String,
    typed: Vec<u8>,
    /// The last byte typed was CR (a following LF or NUL belongs to it).
    after_cr: bool,
    expect: Expect,
    user: Option<String>,
    pending: Option<Credential>,
}

impl TelnetParser {
    pub(crate) fn new() -> Self {
        TelnetParser {
            client_iac: IacFilter::default(),
            server_iac: IacFilter::default(),
            server_tail: String::new(),
            typed: Vec::new(),
            after_cr: false,
            expect: Expect::Nothing,
            user: None,
            pending: None,
        }
    }

    fn line_typed(&mut self) {
        let line = String::from_utf8_lossy(&self.typed).trim().to_string();
        self.typed.clear();
        match self.expect {
            Expect::User => {
                self.user = Some(line);
                self.expect = Expect::Nothing;
            }
            Expect::Password => {
                self.pending = Some(Credential {
                    protocol: "telnet",
                    mechanism: "login prompt",
                    username: self.user.take(),
                    secret: line,
                    outcome: LoginOutcome::Unknown,
                });
                self.expect = Expect::Verdict;
                self.server_tail.clear();
            }
            _ => {}
        }
    }
}

/// What the end of the server's output asks for, if it is a prompt.
fn prompt(tail: &str) -> Option<Expect> {
    let t = tail.trim_end().to_ascii_lowercase();
    if t.ends_with("password:") {
        Some(Expect::Password)
    } else if t.ends_with("login:") || t.ends_with("username:") || t.ends_with("user name:") {
        Some(Expect::User)
    } else {
        None
    }
}

impl StreamParser for TelnetParser {
    fn client_data(&mut self, data: &[u8], _found: &mut Vec<Credential>) {
        let mut bytes = Vec::with_capacity(data.len());
        self.client_iac.filter(data, |b| bytes.push(b));
        for b in bytes {
            match b {
                b'\n' | 0 if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    self.line_typed();
                }
                0x08 | 0x7f => {
                    self.after_cr = false;
                    self.typed.pop();
                }
                b => {
                    self.after_cr = false;
                    if self.typed.len() < MAX_TYPED {
                        self.typed.push(b);
                    }
                }
            }
        }
    }

    fn server_data(&mut self, data: &[u8], found: &mut Vec<Credential>) {
        let mut text = Vec::with_capacity(data.len());
        self.server_iac.filter(data, |b| text.push(b));
        let text = String::from_utf8_lossy(&text);
        self.server_tail.push_str(&text);
        if self.server_tail.len() > TAIL {
            let mut cut = self.server_tail.len() - TAIL;
            while !self.server_tail.is_char_boundary(cut) {
                cut += 1;
            }
            self.server_tail.drain(..cut);
        }
        if self.expect == Expect::Verdict {
            let lower = self.server_tail.to_ascii_lowercase();
            let verdict = if lower.contains("incorrect")
                || lower.contains("failed")
                || lower.contains("denied")
                || prompt(&self.server_tail).is_some()
            {
                Some(LoginOutcome::Rejected)
            } else if self.server_tail.trim().len() >= 8 {
                Some(LoginOutcome::Accepted)
            } else {
                None
            };
            if let Some(v) = verdict
                && let Some(mut c) = self.pending.take()
            {
                c.outcome = v;
                found.push(c);
                self.expect = Expect::Nothing;
            }
        }
        if let Some(p) = prompt(&self.server_tail) {
            self.expect = p;
            self.typed.clear();
            self.server_tail.clear();
        }
    }

    fn gap(&mut self, from_client: bool) {
        if from_client {
            self.typed.clear();
        }
    }

    fn finish(&mut self, found: &mut Vec<Credential>) {
        found.extend(self.pending.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_with_negotiation_echo_and_a_typo() {
        let mut p = TelnetParser::new();
        let mut found = Vec::new();
        p.server_data(b"\xff\xfd\x18\xff\xfa\x18\x01\xff\xf0", &mut found);
        p.client_data(b"\xff\xfb\x18\xff\xfa\x18\x00XTERM\xff\xf0", &mut found);
        p.server_data(b"\r\nDebian GNU/Linux 12\r\nvm login: ", &mut found);
        for b in b"alicx\x7fe\r\0" {
            p.client_data(&[*b], &mut found);
            if *b != 0 && *b != b'\r' {
                p.server_data(&[*b], &mut found); // echo
            }
        }
        p.server_data(b"\r\nPassword: ", &mut found);
        p.client_data(b"Sunny-Meadow-42\r\n", &mut found);
        assert!(found.is_empty(), "verdict not seen yet");
        p.server_data(b"\r\n", &mut found);
        p.server_data(b"Linux vm 6.1 #1 SMP\r\nalice@vm:~$ ", &mut found);
        assert_eq!(found.len(), 1);
        let c = &found[0];
        assert_eq!(c.username.as_deref(), Some("alice"));
        assert_eq!(c.secret, "Sunny-Meadow-42");
        assert_eq!(c.outcome, LoginOutcome::Accepted);
    }

    #[test]
    fn rejected_login_then_second_try() {
        let mut p = TelnetParser::new();
        let mut found = Vec::new();
        p.server_data(b"login: ", &mut found);
        p.client_data(b"root\r\n", &mut found);
        p.server_data(b"Password: ", &mut found);
        p.client_data(b"toor\r\n", &mut found);
        p.server_data(b"\r\nLogin incorrect\r\nlogin: ", &mut found);
        p.client_data(b"root\r\n", &mut found);
        p.server_data(b"Password: ", &mut found);
        p.client_data(b"r00t\r\n", &mut found);
        p.finish(&mut found);
        let got: Vec<(&str, LoginOutcome)> = found
            .iter()
            .map(|c| (c.secret.as_str(), c.outcome))
            .collect();
        assert_eq!(
            got,
            vec![
                ("toor", LoginOutcome::Rejected),
                ("r00t", LoginOutcome::Unknown)
            ]
        );
    }
}
