//! Secrets in cleartext payloads: cloud and code-hosting keys, chat tokens, JSON Web
//! Tokens, private key blocks and passwords written into URLs.
//!
//! The patterns are the published token formats (each vendor documents its prefix and
//! alphabet), so a match is a real-looking credential, not a guess. Streams are scanned
//! in order with a short overlap between chunks, so a token split across segments is still
//! found, and each distinct secret is reported once per connection.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::{Credential, LoginOutcome};

/// Longest token matched (GitHub fine-grained tokens: 93 characters; a private key header
/// line: 40); the overlap kept between chunks.
const OVERLAP: usize = 128;

struct Pattern {
    mechanism: &'static str,
    regex: Regex,
    /// Capture group holding a user name, if any.
    user_group: Option<usize>,
    /// Capture group holding the secret (0 = the whole match).
    secret_group: usize,
}

fn patterns() -> &'static [Pattern] {
    static PATTERNS: OnceLock<Vec<Pattern>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let p = |mechanism, re: &str, user_group, secret_group| {
            // The expressions are fixed and tested; a failure here is a programming error
            // caught by the unit tests, so it is skipped rather than fatal at run time.
            // ASCII classes and word boundaries: payload is bytes, and a Unicode `\b` makes
            // the regex engine leave its DFAs for the (much slower) PikeVM on any non-ASCII
            // byte (found by fuzzing: binary streams scanned at a few kB/s).
            RegexBuilder::new(re).unicode(false).build().ok().map(|regex| Pattern {
                mechanism,
                regex,
                user_group,
                secret_group,
            })
        };
        [
            p("AWS access key", r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b", None, 1),
            p(
                "AWS secret key",
                r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})\b"#,
                None,
                1,
            ),
            p("GitHub token", r"\b(gh[pousr]_[A-Za-z0-9]{36})\b", None, 1),
            p("GitHub token", r"\b(github_pat_[A-Za-z0-9_]{82})\b", None, 1),
            p("GitLab token", r"\b(glpat-[A-Za-z0-9_\-]{20})\b", None, 1),
            p("Slack token", r"\b(xox[baprs]-[A-Za-z0-9\-]{10,72})\b", None, 1),
            p(
                "JSON Web Token",
                r"\b(eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})",
                None,
                1,
            ),
            p(
                "private key",
                r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----",
                None,
                1,
            ),
            p("Stripe secret key", r"\b((?:sk|rk)_live_[0-9A-Za-z]{24,99})\b", None, 1),
            p("Google API key", r"\b(AIza[0-9A-Za-z_\-]{35})", None, 1),
            p(
                "SendGrid API key",
                r"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})",
                None,
                1,
            ),
            p("npm token", r"\b(npm_[A-Za-z0-9]{36})\b", None, 1),
            p("PyPI token", r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,200})", None, 1),
            p(
                "Slack webhook",
                r"(https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32})",
                None,
                1,
            ),
            p(
                "password in URL",
                r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,15}://([^\s:/@]{1,64}):([^\s/@]{1,128})@[A-Za-z0-9.\-]",
                Some(1),
                2,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    })
}

/// All patterns in one automaton: one pass tells whether any could match, so ordinary
/// payload costs one scan, not one per pattern.
fn any_pattern() -> Option<&'static RegexSet> {
    static SET: OnceLock<Option<RegexSet>> = OnceLock::new();
    SET.get_or_init(|| {
        RegexSetBuilder::new(patterns().iter().map(|p| p.regex.as_str()))
            .unicode(false)
            .build()
            .ok()
    })
    .as_ref()
}

/// Scans one direction of a connection.
#[derive(Debug, Default)]
pub(crate) struct SecretScanner {
    tail: Vec<u8>,
    seen: HashSet<(&'static str, String)>,
}

impl SecretScanner {
    /// Scans the next bytes; new secrets are appended to `found` as credentials of
    /// `protocol`.
    pub(crate) fn scan(
        &mut self,
        protocol: &'static str,
        data: &[u8],
        found: &mut Vec<Credential>,
    ) {
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend_from_slice(data);
        self.matches(protocol, &buf, false, found);
        let keep = buf.len().min(OVERLAP);
        self.tail = buf.split_off(buf.len() - keep);
    }

    /// The stream ended: a secret at its very end counts too.
    pub(crate) fn flush(&mut self, protocol: &'static str, found: &mut Vec<Credential>) {
        let tail = std::mem::take(&mut self.tail);
        self.matches(protocol, &tail, true, found);
    }

    fn matches(
        &mut self,
        protocol: &'static str,
        buf: &[u8],
        at_end: bool,
        found: &mut Vec<Credential>,
    ) {
        let hits = match any_pattern() {
            Some(set) => set.matches(buf),
            None => return,
        };
        if !hits.matched_any() {
            return;
        }
        for (i, p) in patterns().iter().enumerate() {
            if !hits.matched(i) {
                continue;
            }
            for caps in p.regex.captures_iter(buf) {
                let Some(secret) = caps.get(p.secret_group) else {
                    continue;
                };
                // A match running into the end of what has arrived may continue in the
                // next segment: wait for it (the overlap keeps it).
                if !at_end && caps.get(0).is_some_and(|m| m.end() == buf.len()) {
                    continue;
                }
                let secret = String::from_utf8_lossy(secret.as_bytes()).into_owned();
                if !self.seen.insert((p.mechanism, secret.clone())) {
                    continue;
                }
                let username = p
                    .user_group
                    .and_then(|g| caps.get(g))
                    .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned());
                found.push(Credential {
                    protocol,
                    mechanism: p.mechanism,
                    username,
                    secret,
                    outcome: LoginOutcome::Unknown,
                });
            }
        }
    }

    /// Forgets the overlap (after a gap).
    pub(crate) fn reset(&mut self) {
        self.tail.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Vec<(&'static str, Option<String>, String)> {
        let mut s = SecretScanner::default();
        let mut found = Vec::new();
        for c in chunks {
            s.scan("http", c, &mut found);
        }
        s.flush("http", &mut found);
        found
            .into_iter()
            .map(|c| (c.mechanism, c.username, c.secret))
            .collect()
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(patterns().len(), 15);
    }

    #[test]
    fn vendor_tokens_split_across_chunks_are_found_once() {
        // AWS's documented example key id; GitHub and Slack formats with made-up values.
        let body = b"{\"aws_access_key_id\": \"AKIAIOSFODNN7EXAMPLE\", \
            \"aws_secret_access_key\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}\n\
            token=ghp_0123456789abcdefghijABCDEFGHIJ012345 slack=xoxb-1234567890-abcdefghij";
        let (a, b) = body.split_at(30);
        let found = scan(&[a, b, b"\nagain AKIAIOSFODNN7EXAMPLE"]);
        let mechanisms: Vec<&str> = found.iter().map(|f| f.0).collect();
        assert_eq!(
            mechanisms,
            [
                "AWS access key",
                "AWS secret key",
                "GitHub token",
                "Slack token"
            ]
        );
        assert_eq!(found[0].2, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(found[1].2, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    }

    #[test]
    fn more_vendor_formats() {
        // Shapes from each vendor's documentation, values made up.
        let text = "stripe=sk_live_4eC39HqLyjWDarjtT1zdp7dc \
            google=AIzaSyA1234567890abcdefghijklmnopqrstuv \
            sendgrid=SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG \
            npm=npm_abcdefghijklmnopqrstuvwxyz0123456789 \
            pypi=pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlsz \
            hook=https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF2/abcdefghijklmnopqrstuvwx \
            gitlab=glpat-abcdefghij0123456789 \
            github=github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi\n";
        let found = scan(&[text.as_bytes()]);
        let mut mechanisms: Vec<&str> = found.iter().map(|f| f.0).collect();
        mechanisms.sort_unstable();
        assert_eq!(
            mechanisms,
            [
                "GitHub token",
                "GitLab token",
                "Google API key",
                "PyPI token",
                "SendGrid API key",
                "Slack webhook",
                "Stripe secret key",
                "npm token"
            ]
        );
    }

    #[test]
    fn jwt_private_key_and_url_password() {
        let jwt = b"Authorization: x eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n";
        let found = scan(&[jwt]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "JSON Web Token");
        let found = scan(&[b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n"]);
        assert_eq!(found[0].0, "private key");
        assert_eq!(found[0].2, "OPENSSH PRIVATE KEY");
        let found = scan(&[b"git clone https://deploy:Tr0ub4dor@git.lab.test/repo.git"]);
        assert_eq!(
            found,
            [(
                "password in URL",
                Some("deploy".to_string()),
                "Tr0ub4dor".to_string()
            )]
        );
        // Ordinary text and URLs without passwords are quiet.
        assert!(scan(&[b"GET https://www.example.com/a:b/c?x=1 HTTP/1.1 AKIA123"]).is_empty());
    }
}
