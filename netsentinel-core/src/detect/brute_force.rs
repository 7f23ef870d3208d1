//! `brute_force`: password guessing against one authentication service.
//!
//! **Detects**, per (client, server, port):
//! - plaintext failure replies from the server: FTP `530`, Telnet `Login incorrect`,
//!   POP3 `-ERR`, IMAP tagged `NO`, SMTP `535`, HTTP `401`; `min_failures` (default 5)
//!   within `window_secs` (default 120 s of packet time) fire;
//! - for services whose login is encrypted or binary (SSH, RDP, SMB, VNC, databases, and
//!   the plaintext ones too), the connection pattern: `min_connections` (default 6) new
//!   connections within the window. Tools such as hydra try several passwords per SSH
//!   connection but still need many connections over a run.
//!
//! One alert when a threshold is crossed (high when failures were seen, medium for the
//! connection pattern alone), then a summary with the totals when the client goes quiet
//! for the window or the input ends.
//!
//! **False positives**: scripts that open a new SSH connection per command in a tight loop;
//! mail clients retrying a wrong saved password (a real problem, if not an attack).
//!
//! **References**: RFC 959 (FTP 530), RFC 1939 (POP3), RFC 3501 (IMAP), RFC 4954 (SMTP
//! 535), RFC 7235 (HTTP 401); MITRE ATT&CK T1110.001 (Brute Force: Password Guessing).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Context, Detector, Interest, TableUsage};
use crate::alert::{Alert, Severity};
use crate::decode::{PacketView, TcpFlags};
use crate::time::Timestamp;

/// Thresholds of `brute_force`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForceConfig {
    /// Run the detector. Default true.
    pub enabled: bool,
    /// Failure replies within the window that fire. Default 5.
    pub min_failures: usize,
    /// New connections to an authentication service within the window that fire.
    /// Default 6.
    pub min_connections: usize,
    /// Sliding window, in seconds of packet time. Default 120.
    pub window_secs: u64,
    /// Most (client, server, port) keys tracked. Default 65,536.
    pub max_keys: usize,
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        BruteForceConfig {
            enabled: true,
            min_failures: 5,
            min_connections: 6,
            window_secs: 120,
            max_keys: 65_536,
        }
    }
}

/// The authentication service on a TCP port, if it is one.
fn service(port: u16) -> Option<&'static str> {
    Some(match port {
        21 => "ftp",
        22 => "ssh",
        23 => "telnet",
        25 | 587 => "smtp",
        80 | 8000 | 8080 => "http",
        110 => "pop3",
        143 => "imap",
        445 => "smb",
        465 => "smtps",
        993 => "imaps",
        995 => "pop3s",
        1433 => "mssql",
        1521 => "oracle",
        3306 => "mysql",
        3389 => "rdp",
        5432 => "postgresql",
        5900 => "vnc",
        6379 => "redis",
        27017 => "mongodb",
        _ => return None,
    })
}

/// Whether a server reply says the login failed, for the service's protocol.
fn is_failure(service: &str, reply: &[u8]) -> bool {
    let starts = |p: &[u8]| reply.starts_with(p);
    let contains = |p: &[u8]| reply.windows(p.len()).any(|w| w == p);
    match service {
        "ftp" => starts(b"530") || contains(b"\r\n530"),
        "telnet" => contains(b"Login incorrect") || contains(b"Authentication failure"),
        "pop3" => starts(b"-ERR"),
        // A tagged NO: "a001 NO ...".
        "imap" => reply
            .split(|&b| b == b' ')
            .nth(1)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"NO")),
        "smtp" => starts(b"535") || contains(b"\r\n535"),
        "http" => starts(b"HTTP/1.1 401") || starts(b"HTTP/1.0 401"),
        _ => false,
    }
}

/// Web ports are in `service` for the 401 check only: browsers open many connections.
fn counts_connections(service: &str) -> bool {
    service != "http"
}

#[derive(Clone, Debug)]
struct Attempts {
    first: Timestamp,
    last: Timestamp,
    connections: VecDeque<Timestamp>,
    failures: VecDeque<Timestamp>,
    total_connections: u64,
    total_failures: u64,
    /// Totals when the start alert went out.
    alerted_at: Option<(u64, u64)>,
}

/// The `brute_force` detector.
pub struct BruteForceDetector {
    cfg: BruteForceConfig,
    keys: HashMap<(IpAddr, IpAddr, u16), Attempts>,
    /// Keys turned away by full tables, per table.
    turned_away: [u64; 4],
}

impl BruteForceDetector {
    /// A detector with `config`.
    pub fn new(config: &BruteForceConfig) -> Self {
        BruteForceDetector {
            cfg: config.clone(),
            keys: HashMap::new(),
            turned_away: [0; 4],
        }
    }

    fn window(&self) -> i64 {
        i64::try_from(self.cfg.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
    }

    fn alert(
        now: Timestamp,
        (client, server, port): (IpAddr, IpAddr, u16),
        a: &Attempts,
        ended: bool,
    ) -> Alert {
        let svc = service(port).unwrap_or("tcp");
        let severity = if a.total_failures > 0 {
            Severity::High
        } else {
            Severity::Medium
        };
        let message = format!(
            "{} brute force against {server}:{port} from {client}{}: {} failed logins, {} connections in {:.0} s",
            svc.to_uppercase(),
            if ended { " ended" } else { "" },
            a.total_failures,
            a.total_connections,
            a.last.micros_since(a.first) as f64 / 1e6
        );
        Alert::new(now, "brute_force", severity, "credential_access", message)
            .with_mitre("T1110.001")
            .with_endpoints(Some(client), None, Some(server), Some(port))
            .with_evidence("service", svc)
            .with_evidence("failed_logins", a.total_failures)
            .with_evidence("connections", a.total_connections)
            .with_evidence("phase", if ended { "ended" } else { "started" })
    }

    fn report_idle(&mut self, now: Timestamp, all: bool, cx: &mut Context<'_>) {
        let window = self.window();
        let mut done: Vec<((IpAddr, IpAddr, u16), Attempts)> = Vec::new();
        self.keys.retain(|k, a| {
            let keep = !all && now.micros_since(a.last) <= window;
            if !keep {
                done.push((*k, a.clone()));
            }
            keep
        });
        done.sort_by_key(|(k, a)| (a.first, *k));
        for (k, a) in done {
            if a.alerted_at
                .is_some_and(|(c, f)| a.total_connections > c || a.total_failures > f)
            {
                cx.emit(Self::alert(now, k, &a, true));
            }
        }
    }
}

impl Detector for BruteForceDetector {
    fn id(&self) -> &'static str {
        "brute_force"
    }

    fn tables(&self) -> Vec<TableUsage> {
        vec![TableUsage::new(
            "keys",
            self.keys.len(),
            self.cfg.max_keys,
            self.turned_away[0],
        )]
    }

    fn interest(&self) -> Interest {
        Interest::TCP | Interest::TICK
    }

    fn on_packet(&mut self, pkt: &PacketView<'_>, cx: &mut Context<'_>) {
        let (Some(tcp), Some(flow)) = (pkt.tcp(), cx.flow()) else {
            return;
        };
        let port = flow.dst_port;
        let Some(svc) = service(port) else {
            return;
        };
        let new_connection = cx.from_initiator()
            && tcp.flags.has(TcpFlags::SYN)
            && !tcp.flags.has(TcpFlags::ACK)
            && flow.to_server.packets == 1
            && counts_connections(svc);
        let failure =
            !cx.from_initiator() && !pkt.payload.is_empty() && is_failure(svc, pkt.payload);
        if !new_connection && !failure {
            return;
        }
        let key = (flow.src_ip(), flow.dst_ip(), port);
        if self.keys.len() >= self.cfg.max_keys && !self.keys.contains_key(&key) {
            self.turned_away[0] += 1;
            return;
        }
        let window = self.window();
        let now = pkt.ts;
        let a = self.keys.entry(key).or_insert_with(|| Attempts {
            first: now,
            last: now,
            connections: VecDeque::new(),
            failures: VecDeque::new(),
            total_connections: 0,
            total_failures: 0,
            alerted_at: None,
        });
        a.last = now;
        if new_connection {
            a.connections.push_back(now);
            a.total_connections += 1;
        }
        if failure {
            a.failures.push_back(now);
            a.total_failures += 1;
        }
        for q in [&mut a.connections, &mut a.failures] {
            while q.front().is_some_and(|t| now.micros_since(*t) > window) {
                q.pop_front();
            }
            // Only the count within the window matters; a cap keeps memory bounded.
            while q.len() > 4096 {
                q.pop_front();
            }
        }
        let fire = a.failures.len() >= self.cfg.min_failures
            || a.connections.len() >= self.cfg.min_connections;
        if fire && a.alerted_at.is_none() {
            a.alerted_at = Some((a.total_connections, a.total_failures));
            let snapshot = a.clone();
            cx.emit(Self::alert(now, key, &snapshot, false));
        }
    }

    fn on_tick(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        self.report_idle(now, false, cx);
    }

    fn on_finish(&mut self, now: Timestamp, cx: &mut Context<'_>) {
        self.report_idle(now, true, cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_replies_per_protocol() {
        assert!(is_failure("ftp", b"530 Login incorrect.\r\n"));
        assert!(!is_failure("ftp", b"230 Login successful.\r\n"));
        assert!(is_failure(
            "pop3",
            b"-ERR [AUTH] Authentication failed.\r\n"
        ));
        assert!(!is_failure("pop3", b"+OK Logged in.\r\n"));
        assert!(is_failure(
            "imap",
            b"a001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
        ));
        assert!(!is_failure("imap", b"a001 OK Logged in\r\n"));
        assert!(is_failure(
            "smtp",
            b"535 5.7.8 Error: authentication failed\r\n"
        ));
        assert!(is_failure("http", b"HTTP/1.1 401 Unauthorized\r\n"));
        assert!(!is_failure("http", b"HTTP/1.1 200 OK\r\n"));
        assert!(is_failure("telnet", b"\r\nLogin incorrect\r\n"));
    }
}
