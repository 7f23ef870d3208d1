//! HTTP/1.x requests: `Authorization` (Basic, Bearer, Digest user name), API keys in
//! headers and query strings, and login forms posted as
//! `application/x-www-form-urlencoded`. The status of the matching response gives the
//! verdict (401 and 403 reject; 2xx and 3xx accept).

use super::lines::LineBuffer;
use super::{Credential, LoginOutcome, StreamParser, base64_decode};

/// Largest request head or form body read.
const MAX_HEAD: usize = 16 * 1024;

/// Header names that carry API keys.
const KEY_HEADERS: [&str; 5] = [
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
    "private-token",
];

/// Query and form field names that carry secrets, and those that carry user names.
const SECRET_FIELDS: [&str; 9] = [
    "password",
    "passwd",
    "pass",
    "pwd",
    "api_key",
    "apikey",
    "access_token",
    "token",
    "secret",
];
const USER_FIELDS: [&str; 6] = ["username", "user", "login", "email", "user_name", "name"];

#[derive(Debug)]
enum ClientState {
    /// Reading a request head.
    Head(Vec<u8>),
    /// Reading a form body of this many bytes more.
    Form(usize, Vec<u8>),
    /// Skipping a body of this many bytes more.
    Skip(usize),
    /// Lost sync (chunked upload, gap): wait for the connection to end.
    Lost,
}

/// Parser of one HTTP/1.x connection.
#[derive(Debug)]
pub(crate) struct HttpParser {
    client: ClientState,
    server: LineBuffer,
    /// Per request, in order: the credentials it carried (maybe none).
    pending: std::collections::VecDeque<Vec<Credential>>,
}

impl HttpParser {
    pub(crate) fn new() -> Self {
        HttpParser {
            client: ClientState::Head(Vec::new()),
            server: LineBuffer::default(),
            pending: Default::default(),
        }
    }

    fn request(&mut self, head: &[u8]) -> Option<usize> {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
        let request_line = lines.next()?;
        let mut parts = request_line.split(' ');
        let method = parts.next()?.to_string();
        let target = parts.next()?.to_string();
        let version = parts.next()?;
        let protocol = if version.starts_with("HTTP/1.") {
            "http"
        } else if version.starts_with("RTSP/1.") {
            "rtsp"
        } else {
            return None;
        };
        let mut found = Vec::new();
        let mut body_len = 0usize;
        let mut form = false;
        let mut chunked = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            match name.as_str() {
                "authorization" | "proxy-authorization" => {
                    authorization(protocol, value, &mut found)
                }
                "content-length" => body_len = value.parse().unwrap_or(0),
                "content-type" => {
                    form = value
                        .to_ascii_lowercase()
                        .starts_with("application/x-www-form-urlencoded");
                }
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                n if KEY_HEADERS.contains(&n) && !value.is_empty() => {
                    found.push(http(protocol, "API key header", None, value.to_string()))
                }
                _ => {}
            }
        }
        if let Some((_, query)) = target.split_once('?') {
            fields(protocol, query, "query string", &mut found);
        }
        self.pending.push_back(found);
        if chunked {
            return None;
        }
        if method.eq_ignore_ascii_case("POST") && form && body_len <= MAX_HEAD {
            self.client = ClientState::Form(body_len, Vec::new());
        } else {
            self.client = ClientState::Skip(body_len);
        }
        Some(body_len)
    }
}

fn http(
    protocol: &'static str,
    mechanism: &'static str,
    username: Option<String>,
    secret: String,
) -> Credential {
    Credential {
        protocol,
        mechanism,
        username,
        secret,
        outcome: LoginOutcome::Unknown,
    }
}

fn authorization(protocol: &'static str, value: &str, found: &mut Vec<Credential>) {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            if let Some(raw) = base64_decode(rest) {
                let text = String::from_utf8_lossy(&raw);
                if let Some((user, pass)) = text.split_once(':') {
                    found.push(http(protocol, "HTTP Basic", Some(user.into()), pass.into()));
                }
            }
        }
        "bearer" if !rest.trim().is_empty() => {
            found.push(http(protocol, "HTTP Bearer", None, rest.trim().into()));
        }
        "ntlm" | "negotiate" => {
            // Negotiate may carry NTLM inside SPNEGO; the message is found by its signature.
            if let Some(raw) = base64_decode(rest)
                && let Some((user, domain, nt)) = super::ntlm::authenticate_message(&raw)
            {
                let who = if domain.is_empty() {
                    user
                } else {
                    format!("{domain}\\{user}")
                };
                found.push(http(protocol, "NTLM", Some(who), nt));
            }
        }
        "digest" => {
            // Only the user name is in clear; the response is a hash.
            let user = rest.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("username")).then(|| v.trim().trim_matches('"'))
            });
            if let Some(user) = user {
                found.push(http(
                    protocol,
                    "HTTP Digest",
                    Some(user.into()),
                    String::new(),
                ));
            }
        }
        _ => {}
    }
}

/// `a=b&c=d`, percent-decoded; one credential for the secret fields, with the user name
/// field if any.
fn fields(
    protocol: &'static str,
    text: &str,
    mechanism: &'static str,
    found: &mut Vec<Credential>,
) {
    let mut user = None;
    let mut secrets = Vec::new();
    for pair in text.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k).to_ascii_lowercase();
        let v = percent_decode(v);
        if v.is_empty() {
            continue;
        }
        if SECRET_FIELDS.contains(&k.as_str()) {
            secrets.push(v);
        } else if USER_FIELDS.contains(&k.as_str()) && user.is_none() {
            user = Some(v);
        }
    }
    for s in secrets {
        found.push(http(protocol, mechanism, user.clone(), s));
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl StreamParser for HttpParser {
    fn client_data(&mut self, mut data: &[u8], _found: &mut Vec<Credential>) {
        while !data.is_empty() {
            match &mut self.client {
                ClientState::Lost => return,
                ClientState::Skip(n) => {
                    let take = (*n).min(data.len());
                    *n -= take;
                    data = &data[take..];
                    if *n == 0 {
                        self.client = ClientState::Head(Vec::new());
                    }
                }
                ClientState::Form(n, body) => {
                    let take = (*n).min(data.len());
                    body.extend_from_slice(&data[..take]);
                    *n -= take;
                    data = &data[take..];
                    if *n == 0 {
                        let text = String::from_utf8_lossy(body).into_owned();
                        let mut found = Vec::new();
                        fields("http", &text, "form POST", &mut found);
                        if let Some(last) = self.pending.back_mut() {
                            last.extend(found);
                        }
                        self.client = ClientState::Head(Vec::new());
                    }
                }
                ClientState::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(data);
                    let end = head
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|p| p + 4);
                    match end {
                        Some(end) => {
                            let consumed = end - before;
                            data = &data[consumed..];
                            let head = std::mem::take(head);
                            if self.request(&head[..end]).is_none() {
                                self.client = ClientState::Lost;
                            }
                        }
                        None => {
                            if head.len() > MAX_HEAD {
                                self.client = ClientState::Lost;
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    fn server_data(&mut self, data: &[u8], found: &mut Vec<Credential>) {
        let mut statuses = Vec::new();
        self.server.push(data, |line| {
            if let Some(rest) = line
                .strip_prefix(b"HTTP/1.")
                .or_else(|| line.strip_prefix(b"RTSP/1."))
                && let Some(code) = rest.get(2..5)
                && let Ok(code) = std::str::from_utf8(code).unwrap_or("").parse::<u16>()
            {
                statuses.push(code);
            }
        });
        for code in statuses {
            if code == 100 {
                continue;
            }
            let Some(creds) = self.pending.pop_front() else {
                continue;
            };
            let outcome = match code {
                200..=399 => LoginOutcome::Accepted,
                401 | 403 | 407 => LoginOutcome::Rejected,
                _ => LoginOutcome::Unknown,
            };
            found.extend(creds.into_iter().map(|mut c| {
                c.outcome = outcome;
                c
            }));
        }
    }

    fn gap(&mut self, from_client: bool) {
        if from_client {
            self.client = ClientState::Lost;
        } else {
            self.server.reset();
        }
    }

    fn finish(&mut self, found: &mut Vec<Credential>) {
        found.extend(self.pending.drain(..).flatten());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(exchange: &[(bool, &[u8])]) -> Vec<Credential> {
        let mut p = HttpParser::new();
        let mut found = Vec::new();
        for (client, data) in exchange {
            if *client {
                p.client_data(data, &mut found);
            } else {
                p.server_data(data, &mut found);
            }
        }
        p.finish(&mut found);
        found
    }

    #[test]
    fn basic_auth_split_across_segments_with_verdict() {
        let f = run(&[
            (
                true,
                b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Ym9iOmh1",
            ),
            (true, b"bnRlcjI=\r\nAccept: */*\r\n\r\n"),
            (false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
        ]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].mechanism, "HTTP Basic");
        assert_eq!(f[0].username.as_deref(), Some("bob"));
        assert_eq!(f[0].secret, "hunter2");
        assert_eq!(f[0].outcome, LoginOutcome::Accepted);
    }

    #[test]
    fn form_post_bearer_api_keys_and_pipelining() {
        let body = b"username=alice%40lab.test&password=p%40ss+word&remember=1";
        let mut req = format!(
            "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        req.extend_from_slice(
            b"GET /api?api_key=K123&x=1 HTTP/1.1\r\nAuthorization: Bearer tok.en\r\nX-Api-Key: abc\r\n\r\n",
        );
        let f = run(&[
            (true, &req),
            (
                false,
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            ),
        ]);
        let summary: Vec<(&str, Option<&str>, &str, LoginOutcome)> = f
            .iter()
            .map(|c| {
                (
                    c.mechanism,
                    c.username.as_deref(),
                    c.secret.as_str(),
                    c.outcome,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "form POST",
                    Some("alice@lab.test"),
                    "p@ss word",
                    LoginOutcome::Rejected
                ),
                ("HTTP Bearer", None, "tok.en", LoginOutcome::Accepted),
                ("API key header", None, "abc", LoginOutcome::Accepted),
                ("query string", None, "K123", LoginOutcome::Accepted),
            ]
        );
    }

    #[test]
    fn ntlm_type3_gives_domain_user_and_response() {
        use base64::Engine as _;
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(super::super::ntlm::tests::type3());
        let req = format!("GET /intranet HTTP/1.1\r\nAuthorization: NTLM {b64}\r\n\r\n");
        let f = run(&[(true, req.as_bytes()), (false, b"HTTP/1.1 200 OK\r\n\r\n")]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].mechanism, "NTLM");
        assert_eq!(f[0].username.as_deref(), Some("LAB\\alice"));
        assert!(f[0].secret.starts_with("000102"));
        assert_eq!(f[0].outcome, LoginOutcome::Accepted);
    }

    #[test]
    fn rtsp_basic_auth_names_rtsp() {
        let f = run(&[
            (
                true,
                b"DESCRIBE rtsp://10.0.0.7/cam RTSP/1.0\r\nCSeq: 2\r\nAuthorization: Basic YWRtaW46Y2FtLXB3\r\n\r\n",
            ),
            (false, b"RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n"),
        ]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].protocol, "rtsp");
        assert_eq!(f[0].username.as_deref(), Some("admin"));
        assert_eq!(f[0].secret, "cam-pw");
        assert_eq!(f[0].outcome, LoginOutcome::Accepted);
    }

    #[test]
    fn digest_gives_the_user_name_only_and_garbage_is_ignored() {
        let f = run(&[(
            true,
            b"GET / HTTP/1.1\r\nAuthorization: Digest username=\"mufasa\", realm=\"x\", response=\"6629\"\r\n\r\n",
        )]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].username.as_deref(), Some("mufasa"));
        assert_eq!(f[0].secret, "");
        assert!(run(&[(true, b"\x16\x03\x01 binary TLS\r\n\r\n")]).is_empty());
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
