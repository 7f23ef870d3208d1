//! `plaintext_credentials`: user names and passwords sent in cleartext.
//!
//! **Detects** logins on reassembled TCP streams (so a password split across segments,
//! retransmitted or reordered is still read whole): FTP `USER`/`PASS`; POP3 `USER`/`PASS`,
//! `APOP`, `AUTH PLAIN`/`LOGIN`; IMAP `LOGIN`, `AUTHENTICATE PLAIN`/`LOGIN`; SMTP `AUTH
//! PLAIN`/`LOGIN`; Telnet login prompts (option negotiation skipped, line editing
//! applied); HTTP and RTSP Basic, Bearer and Digest (user name) authorization, API-key
//! headers, secrets in query strings and login forms; Redis `AUTH`; IRC `PASS` and
//! NickServ `IDENTIFY`; LDAP simple binds; PostgreSQL cleartext and MD5 passwords; NTLM
//! (user, domain and NetNTLM response) in HTTP; MySQL logins (cleartext plugin, or salt and
//! scrambled response); VNC challenge and response; SNMP v1/v2c community strings and SIP
//! Digest user names (UDP); NTLM in SMB session setups, MongoDB SCRAM user names and
//! Kerberos AS-REQ client names (TCP and UDP). In the
//! TCP streams, secrets in the payload either way: AWS keys,
//! GitHub, GitLab and Slack tokens, JSON Web Tokens, private key blocks, passwords in
//! URLs. Protocols are chosen by the server's port
//! (`*_ports`). One alert per login, with the server's verdict (accepted, rejected,
//! unknown); the same credential from the same client to the same service again within
//! `repeat_secs` (default an hour) is counted, not re-reported, and of rejected logins
//! only the first per client and service in that time is (a password-guessing run is
//! `brute_force`'s to report). Every login, repeated or not, goes to the store.
//!
//! Secrets are masked in the alert (`Su***42`); the full value goes only to the
//! credential store given with [`PlaintextCredentialsDetector::with_store`] (the vault).
//!
//! **False positives**: test accounts and anonymous FTP (`anonymous` / an e-mail address)
//! are real cleartext logins too; they are reported at low severity.
//!
//! **References**: MITRE ATT&CK T1040 (Network Sniffing), T1552 (Unsecured Credentials);
//! RFC 959, 1939, 3501, 4616, 4954, 854, 7617.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::{PacketView, TcpFlags};
use crate::flow::{Flow, FlowId};
use crate::forensics::{
    BinaryParser, BinaryProtocol, Credential, HttpParser, LdapParser, LineProtocol, LoginOutcome,
    MailParser, MysqlParser, PostgresParser, SecretScanner, StreamParser, TelnetParser, VncParser,
    kerberos_as_req, mask, sip_digest_user, snmp_community,
};
use crate::reassembly::{ReassemblyBudget, ReassemblyLimits, StreamEvent, TcpStream};
use crate::time::Timestamp;

/// Settings of `plaintext_credentials`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PlaintextCredentialsConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// FTP control ports. Default 21.
    pub ftp_ports: Vec<u16>,
    /// Telnet ports. Default 23.
    pub telnet_ports: Vec<u16>,
    /// POP3 ports. Default 110.
    pub pop3_ports: Vec<u16>,
    /// IMAP ports. Default 143.
    pub imap_ports: Vec<u16>,
    /// SMTP ports. Default 25, 587, 2525.
    pub smtp_ports: Vec<u16>,
    /// HTTP ports (RTSP is read the same way). Default 80, 8000, 8008, 8080, 8888, 3128,
    /// 554 (RTSP).
    pub http_ports: Vec<u16>,
    /// Redis ports. Default 6379.
    pub redis_ports: Vec<u16>,
    /// IRC ports. Default 6667.
    pub irc_ports: Vec<u16>,
    /// LDAP ports. Default 389.
    pub ldap_ports: Vec<u16>,
    /// PostgreSQL ports. Default 5432.
    pub postgres_ports: Vec<u16>,
    /// MySQL ports. Default 3306.
    pub mysql_ports: Vec<u16>,
    /// VNC ports. Default 5900 to 5903.
    pub vnc_ports: Vec<u16>,
    /// SIP ports (UDP). Default 5060.
    pub sip_ports: Vec<u16>,
    /// SMB ports. Default 445, 139.
    pub smb_ports: Vec<u16>,
    /// MongoDB ports. Default 27017.
    pub mongodb_ports: Vec<u16>,
    /// Kerberos ports (TCP and UDP). Default 88.
    pub kerberos_ports: Vec<u16>,
    /// SNMP ports (UDP; agents and trap receivers). Default 161, 162.
    pub snmp_ports: Vec<u16>,
    /// The same credential to the same service from the same client within this many
    /// seconds is counted, not reported again. Default 3,600.
    pub repeat_secs: u64,
    /// Most connections reassembled at once. Default 65,536.
    pub max_sessions: usize,
    /// Most out-of-order bytes buffered per direction. Default 256 KiB.
    pub max_buffer_per_stream: usize,
    /// Most out-of-order bytes buffered in all. Default 64 MiB.
    pub max_buffer_total: usize,
}

impl Default for PlaintextCredentialsConfig {
    fn default() -> Self {
        PlaintextCredentialsConfig {
            enabled: true,
            ftp_ports: vec![21],
            telnet_ports: vec![23],
            pop3_ports: vec![110],
            imap_ports: vec![143],
            smtp_ports: vec![25, 587, 2525],
            http_ports: vec![80, 8000, 8008, 8080, 8888, 3128, 554],
            redis_ports: vec![6379],
            irc_ports: vec![6667],
            ldap_ports: vec![389],
            postgres_ports: vec![5432],
            mysql_ports: vec![3306],
            vnc_ports: vec![5900, 5901, 5902, 5903],
            sip_ports: vec![5060],
            smb_ports: vec![445, 139],
            mongodb_ports: vec![27017],
            kerberos_ports: vec![88],
            snmp_ports: vec![161, 162],
            repeat_secs: 3_600,
            max_sessions: 65_536,
            max_buffer_per_stream: 256 * 1024,
            max_buffer_total: 64 * 1024 * 1024,
        }
    }
}

/// A credential with where and when it was seen: what the vault stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapturedCredential {
    /// When (packet time).
    pub timestamp: Timestamp,
    /// The client.
    pub client: IpAddr,
    /// The server.
    pub server: IpAddr,
    /// The server's port.
    pub server_port: u16,
    /// The credential, secret in full.
    pub credential: Credential,
}

/// Where full credentials go.
pub type CredentialStore = Arc<Mutex<Vec<CapturedCredential>>>;

/// A set of ports, one bit each.
struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    fn of<'a>(ports: impl Iterator<Item = &'a u16>) -> Self {
        let mut bits = Box::new([0u64; 1024]);
        for &p in ports {
            bits[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        PortSet(bits)
    }

    fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }
}

/// Most logins remembered for repeat suppression (older ones are forgotten first).
const MAX_REMEMBERED: usize = 65_536;

struct Session {
    client: TcpStream,
    server: TcpStream,
    parser: Box<dyn StreamParser>,
    protocol: &'static str,
    /// Secrets in the client's and the server's bytes.
    secrets: [SecretScanner; 2],
}

/// Client, server, port, protocol, mechanism, user name, secret; rejected logins share one
/// key per service (user name and secret `None`), so a password-guessing run is one alert.
type RepeatKey = (
    IpAddr,
    IpAddr,
    u16,
    &'static str,
    &'static str,
    Option<String>,
    Option<String>,
);

/// The `plaintext_credentials` detector.
pub struct PlaintextCredentialsDetector {
    config: PlaintextCredentialsConfig,
    limits: ReassemblyLimits,
    budget: ReassemblyBudget,
    sessions: HashMap<FlowId, Session, foldhash::fast::RandomState>,
    sessions_refused: u64,
    /// Server ports with a TCP parser, and UDP ports read, as bit sets: asked for every
    /// packet, so a flow of no interest costs one bit test.
    tcp_ports: PortSet,
    udp_ports: PortSet,
    /// Logins stored, with when first stored and how often seen since.
    seen: HashMap<RepeatKey, (Timestamp, u64)>,
    /// Alerts raised, by login (or per service for rejected ones).
    alerted: HashMap<RepeatKey, (Timestamp, u64)>,
    store: Option<CredentialStore>,
}

impl PlaintextCredentialsDetector {
    /// A detector with these settings.
    pub fn new(config: &PlaintextCredentialsConfig) -> Self {
        PlaintextCredentialsDetector {
            limits: ReassemblyLimits {
                per_stream: config.max_buffer_per_stream,
                total: config.max_buffer_total,
            },
            config: config.clone(),
            budget: ReassemblyBudget::default(),
            sessions: HashMap::default(),
            sessions_refused: 0,
            tcp_ports: PortSet::of(
                [
                    &config.ftp_ports,
                    &config.telnet_ports,
                    &config.pop3_ports,
                    &config.imap_ports,
                    &config.smtp_ports,
                    &config.http_ports,
                    &config.redis_ports,
                    &config.irc_ports,
                    &config.ldap_ports,
                    &config.postgres_ports,
                    &config.mysql_ports,
                    &config.vnc_ports,
                    &config.smb_ports,
                    &config.mongodb_ports,
                    &config.kerberos_ports,
                ]
                .into_iter()
                .flatten(),
            ),
            udp_ports: PortSet::of(
                [
                    &config.snmp_ports,
                    &config.sip_ports,
                    &config.kerberos_ports,
                ]
                .into_iter()
                .flatten(),
            ),
            seen: HashMap::new(),
            alerted: HashMap::new(),
            store: None,
        }
    }

    /// Times a stream skipped ahead because a reassembly cap was hit, and connections not
    /// followed because `max_sessions` were open.
    pub fn limits_hit(&self) -> (u64, u64) {
        (self.budget.cap_hits, self.sessions_refused)
    }

    /// Also hands every newly reported credential, secret in full, to `store`.
    pub fn with_store(mut self, store: CredentialStore) -> Self {
        self.store = Some(store);
        self
    }

    fn parser_for(&self, port: u16) -> Option<(&'static str, Box<dyn StreamParser>)> {
        let c = &self.config;
        let line = |name, p| -> Option<(&'static str, Box<dyn StreamParser>)> {
            Some((name, Box::new(MailParser::new(p))))
        };
        if c.ftp_ports.contains(&port) {
            line("ftp", LineProtocol::Ftp)
        } else if c.pop3_ports.contains(&port) {
            line("pop3", LineProtocol::Pop3)
        } else if c.imap_ports.contains(&port) {
            line("imap", LineProtocol::Imap)
        } else if c.smtp_ports.contains(&port) {
            line("smtp", LineProtocol::Smtp)
        } else if c.redis_ports.contains(&port) {
            line("redis", LineProtocol::Redis)
        } else if c.irc_ports.contains(&port) {
            line("irc", LineProtocol::Irc)
        } else if c.telnet_ports.contains(&port) {
            Some(("telnet", Box::new(TelnetParser::new())))
        } else if c.ldap_ports.contains(&port) {
            Some(("ldap", Box::new(LdapParser::default())))
        } else if c.postgres_ports.contains(&port) {
            Some(("postgresql", Box::new(PostgresParser::default())))
        } else if c.mysql_ports.contains(&port) {
            Some(("mysql", Box::new(MysqlParser::default())))
        } else if c.vnc_ports.contains(&port) {
            Some(("vnc", Box::new(VncParser::default())))
        } else if c.smb_ports.contains(&port) {
            Some(("smb", Box::new(BinaryParser::new(BinaryProtocol::Smb))))
        } else if c.mongodb_ports.contains(&port) {
            Some((
                "mongodb",
                Box::new(BinaryParser::new(BinaryProtocol::Mongo)),
            ))
        } else if c.kerberos_ports.contains(&port) {
            Some((
                "kerberos",
                Box::new(BinaryParser::new(BinaryProtocol::Kerberos)),
            ))
        } else if c.http_ports.contains(&port) {
            Some(("http", Box::new(HttpParser::new())))
        } else {
            None
        }
    }

    fn report(
        &mut self,
        found: Vec<Credential>,
        flow: &Flow,
        now: Timestamp,
        cx: &mut Context<'_>,
    ) {
        let repeat =
            i64::try_from(self.config.repeat_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        for c in found {
            let rejected = c.outcome == LoginOutcome::Rejected;
            let login: RepeatKey = (
                flow.src_ip(),
                flow.dst_ip(),
                flow.dst_port,
                c.protocol,
                c.mechanism,
                c.username.clone(),
                Some(c.secret.clone()),
            );
            let alert_key: RepeatKey = if rejected {
                (login.0, login.1, login.2, login.3, "rejected", None, None)
            } else {
                login.clone()
            };
            let recent = |seen: &HashMap<RepeatKey, (Timestamp, u64)>, k: &RepeatKey| {
                seen.get(k)
                    .is_some_and(|(t, _)| now.micros_since(*t) < repeat)
            };
            for map in [&mut self.seen, &mut self.alerted] {
                if map.len() >= MAX_REMEMBERED {
                    map.retain(|_, (t, _)| now.micros_since(*t) < repeat);
                }
            }
            // The store gets each distinct login once per repeat interval...
            let new_login = !recent(&self.seen, &login);
            if new_login && let Some(store) = &self.store {
                store.lock().push(CapturedCredential {
                    timestamp: now,
                    client: flow.src_ip(),
                    server: flow.dst_ip(),
                    server_port: flow.dst_port,
                    credential: c.clone(),
                });
            }
            if new_login {
                self.seen.insert(login, (now, 1));
            } else if let Some((_, count)) = self.seen.get_mut(&login) {
                *count += 1;
            }
            // ... and a person one alert per login, or per run of rejected ones.
            if recent(&self.alerted, &alert_key) {
                continue;
            }
            self.alerted.insert(alert_key, (now, 1));
            let anonymous = c
                .username
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case("anonymous") || u == "ftp");
            // A login the server accepted is a live credential; one it refused, or whose
            // answer was not seen, less surely so.
            let severity = match (anonymous, c.outcome) {
                (true, _) => Severity::Low,
                (false, LoginOutcome::Accepted) => Severity::High,
                (false, _) => Severity::Medium,
            };
            let outcome = match c.outcome {
                LoginOutcome::Accepted => "accepted",
                LoginOutcome::Rejected => "rejected",
                LoginOutcome::Unknown => "outcome unknown",
            };
            let who = c.username.as_deref().unwrap_or("(no user name)");
            let secret = if c.secret.is_empty() {
                "(no secret in clear)".to_string()
            } else {
                mask(&c.secret)
            };
            let alert = Alert::new(
                now,
                "plaintext_credentials",
                severity,
                "credential-exposure",
                format!(
                    "{} credentials in cleartext: {who} / {secret} ({}, {outcome})",
                    c.protocol.to_ascii_uppercase(),
                    c.mechanism
                ),
            )
            .with_mitre("T1040")
            .with_flow(flow)
            .with_distinct(format!("{}:{}:{who}:{secret}", c.protocol, c.mechanism))
            .with_evidence("protocol", c.protocol)
            .with_evidence("mechanism", c.mechanism)
            .with_evidence("username", c.username.clone().unwrap_or_default())
            .with_evidence("secret_masked", secret)
            .with_evidence(
                "outcome",
                serde_json::to_value(c.outcome).unwrap_or_default(),
            );
            cx.emit(alert);
        }
    }
}

/// Feeds one stream's events to the parser and the secret scanner of that direction.
fn feed(
    parser: &mut dyn StreamParser,
    secrets: &mut SecretScanner,
    protocol: &'static str,
    from_client: bool,
    event: StreamEvent<'_>,
    found: &mut Vec<Credential>,
) {
    match event {
        StreamEvent::Data(d) => {
            if from_client {
                parser.client_data(d, found);
            } else {
                parser.server_data(d, found);
            }
            secrets.scan(protocol, d, found);
        }
        StreamEvent::Gap(_) => {
            parser.gap(from_client);
            secrets.reset();
        }
    }
}

impl Detector for PlaintextCredentialsDetector {
    fn id(&self) -> &'static str {
        "plaintext_credentials"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![TableUsage::new(
            "sessions",
            self.sessions.len(),
            self.config.max_sessions,
            self.sessions_refused,
        )]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::UDP | Interest::FLOW_END
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        if let (crate::decode::Transport::Udp { dst_port, .. }, Some(flow)) =
            (pkt.transport, cx.flow())
        {
            if !self.udp_ports.contains(dst_port) {
                return;
            }
            let found = if self.config.snmp_ports.contains(&dst_port) {
                snmp_community(pkt.payload).map(|(mechanism, community)| Credential {
                    protocol: "snmp",
                    mechanism,
                    username: None,
                    secret: community,
                    outcome: LoginOutcome::Unknown,
                })
            } else if self.config.sip_ports.contains(&dst_port) {
                sip_digest_user(pkt.payload)
            } else if self.config.kerberos_ports.contains(&dst_port) {
                kerberos_as_req(pkt.payload)
            } else {
                None
            };
            if let Some(c) = found {
                self.report(vec![c], flow, cx.now(), cx);
            }
            return;
        }
        let (Some(tcp), Some(flow)) = (pkt.tcp(), cx.flow()) else {
            return;
        };
        if !self.tcp_ports.contains(flow.dst_port) {
            return;
        }
        let from_client = cx.from_initiator();
        if !self.sessions.contains_key(&flow.id) {
            // A session starts with the first data, so handshakes that never carry any (a
            // SYN flood, a port scan) cost nothing. The stream then starts at that
            // segment's sequence number, as for a capture joined mid-connection.
            if pkt.payload.is_empty() {
                return;
            }
            let Some((protocol, parser)) = self.parser_for(flow.dst_port) else {
                return;
            };
            if self.sessions.len() >= self.config.max_sessions {
                self.sessions_refused += 1;
                return;
            }
            self.sessions.insert(
                flow.id,
                Session {
                    client: TcpStream::new(self.limits),
                    server: TcpStream::new(self.limits),
                    parser,
                    protocol,
                    secrets: Default::default(),
                },
            );
        }
        let Some(session) = self.sessions.get_mut(&flow.id) else {
            return;
        };
        let stream = if from_client {
            &mut session.client
        } else {
            &mut session.server
        };
        if tcp.flags.has(TcpFlags::SYN) {
            stream.syn(tcp.seq);
        }
        if pkt.payload.is_empty() {
            return;
        }
        let mut found = Vec::new();
        let parser = &mut session.parser;
        let protocol = session.protocol;
        let secrets = &mut session.secrets[usize::from(!from_client)];
        stream.segment(tcp.seq, pkt.payload, &mut self.budget, &mut |e| {
            feed(
                parser.as_mut(),
                secrets,
                protocol,
                from_client,
                e,
                &mut found,
            )
        });
        if !found.is_empty() {
            self.report(found, flow, cx.now(), cx);
        }
    }

    fn on_finish(&mut self, _now: Timestamp, _cx: &mut Context<'_>) {
        if self.budget.cap_hits > 0 || self.sessions_refused > 0 {
            tracing::warn!(
                reassembly_cap_hits = self.budget.cap_hits,
                sessions_refused = self.sessions_refused,
                "plaintext_credentials: memory caps were hit; some streams have gaps"
            );
        }
    }

    fn on_flow_end(&mut self, flow: &Flow, cx: &mut Context<'_>) {
        if !self.tcp_ports.contains(flow.dst_port) {
            return;
        }
        let Some(mut session) = self.sessions.remove(&flow.id) else {
            return;
        };
        let mut found = Vec::new();
        let parser = &mut session.parser;
        let protocol = session.protocol;
        let [client_secrets, server_secrets] = &mut session.secrets;
        session.client.finish(&mut self.budget, &mut |e| {
            feed(
                parser.as_mut(),
                client_secrets,
                protocol,
                true,
                e,
                &mut found,
            )
        });
        session.server.finish(&mut self.budget, &mut |e| {
            feed(
                parser.as_mut(),
                server_secrets,
                protocol,
                false,
                e,
                &mut found,
            )
        });
        parser.finish(&mut found);
        client_secrets.flush(protocol, &mut found);
        server_secrets.flush(protocol, &mut found);
        self.report(found, flow, cx.now(), cx);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::decode::TcpFlags as F;
    use crate::testutil::tcp_segment;
    use crate::{Engine, EngineConfig, LinkType, MemorySource};

    #[test]
    fn a_password_split_reordered_and_retransmitted_is_read_once() {
        let (c, s) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 9));
        let from_client = |flags, seq, data: &[u8]| tcp_segment(c, s, 40000, 21, flags, seq, data);
        let from_server = |flags, seq, data: &[u8]| tcp_segment(s, c, 21, 40000, flags, seq, data);
        let frames = vec![
            from_client(F::SYN, 5000, b""),
            from_server(F::SYN | F::ACK, 9000, b""),
            from_server(F::ACK | F::PSH, 9001, b"220 hi\r\n"),
            from_client(F::ACK | F::PSH, 5001, b"USER al"),
            from_client(F::ACK | F::PSH, 5008, b"ice\r\n"),
            from_server(F::ACK | F::PSH, 9009, b"331 pass?\r\n"),
            // "PASS Sunny-Meadow-42\r\n": the second half first, then both halves again.
            from_client(F::ACK | F::PSH, 5021, b"ny-Meadow-42\r\n"),
            from_client(F::ACK | F::PSH, 5013, b"PASS Sun"),
            from_client(F::ACK | F::PSH, 5013, b"PASS Sun"),
            from_client(F::ACK | F::PSH, 5021, b"ny-Meadow-42\r\n"),
            from_server(F::ACK | F::PSH, 9020, b"230 ok\r\n"),
        ];
        let mut source = MemorySource::new(LinkType::Ethernet);
        for (i, f) in frames.into_iter().enumerate() {
            source.push(Timestamp::from_micros(1_000 * i as i64), f);
        }
        let store: CredentialStore = Arc::new(Mutex::new(Vec::new()));
        let detector = PlaintextCredentialsDetector::new(&PlaintextCredentialsConfig::default())
            .with_store(store.clone());
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let seen = alerts.clone();
        let mut engine = Engine::builder(EngineConfig::default())
            .detector(detector)
            .sink(crate::FnSink(move |a: &Alert| seen.lock().push(a.clone())))
            .build()
            .unwrap();
        engine.run(&mut source).unwrap();
        drop(engine);
        let alerts = alerts.lock();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(
            alerts[0]
                .message
                .contains("alice / Su***42 (USER/PASS, accepted)")
        );
        let store = store.lock();
        assert_eq!(store.len(), 1);
        assert_eq!(store[0].credential.secret, "Sunny-Meadow-42");
        assert_eq!(store[0].server_port, 21);
    }
}
