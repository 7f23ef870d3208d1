//! Which local process owns a connection (live capture on this host).
//!
//! A [`ProcessResolver`] maps a flow's endpoints to the process whose socket they are. The
//! engine asks once per new flow ([`crate::EngineBuilder::process_resolver`]) and keeps the
//! answer on the flow ([`crate::flow::Flow::process`]). The Linux resolver,
//! [`ProcfsResolver`], reads the socket tables (`/proc/net/tcp`, `tcp6`, `udp`, `udp6`:
//! endpoints to socket inode and owner uid), finds the process holding the inode among
//! `/proc/PID/fd/*`, and reads its name (`comm`), executable (`exe`) and user; the
//! executable's SHA-256 lets a person verify it is the program it claims to be. Other
//! systems can implement the trait (Windows: `GetExtendedTcpTable`; macOS: `proc_pidinfo`).
//!
//! What cannot be known is said: the socket is of another host, another network
//! namespace, or already closed ([`Unknown::NoSocket`]); the process could not be read
//! ([`Unknown::Unreadable`], without root for other users' processes); or the lookups are
//! rate-limited during a storm of new flows ([`Unknown::RateLimited`]).
//!
//! The socket tables are those of the network namespace the resolver runs in: run the
//! capture in the namespace whose processes it should name.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A process that owns a socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Its name (`comm`, at most 15 characters on Linux).
    pub name: String,
    /// Its executable, when readable.
    pub exe: Option<PathBuf>,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's user name, when known.
    pub user: Option<String>,
    /// SHA-256 of the executable file, lower-case hex, when readable.
    pub exe_sha256: Option<String>,
}

/// Why the process of a connection is not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unknown {
    /// No socket of this host (in this network namespace) has these endpoints: another
    /// host's connection, or one already closed.
    NoSocket,
    /// The socket was found but not the process holding it, or the process could not be
    /// read (permissions: root reads every process).
    Unreadable,
    /// Too many lookups in a short time (a flood of new flows); this one was skipped.
    RateLimited,
    /// This system has no resolver.
    Unsupported,
}

/// The answer for one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProcessLookup {
    /// The owner.
    Found(Arc<ProcessInfo>),
    /// Not known, and why.
    Unknown {
        /// Why.
        reason: Unknown,
    },
}

/// Transport of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Finds the process of a connection.
pub trait ProcessResolver: Send {
    /// The process owning the socket of a flow between `a` and `b` (either may be the
    /// local end).
    fn lookup(&mut self, protocol: SocketProtocol, a: SocketAddr, b: SocketAddr) -> ProcessLookup;
}

/// The resolver for this operating system: [`ProcfsResolver`] on Linux, none elsewhere
/// (yet).
pub fn system_resolver() -> Option<Box<dyn ProcessResolver>> {
    if cfg!(target_os = "linux") {
        Some(Box::new(ProcfsResolver::new()))
    } else {
        None
    }
}

/// A socket table entry: endpoints, inode and owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketEntry {
    /// Local endpoint.
    pub local: SocketAddr,
    /// Remote endpoint (unspecified for listening and unconnected sockets).
    pub remote: SocketAddr,
    /// Socket inode.
    pub inode: u64,
    /// Owner's uid.
    pub uid: u32,
}

/// Parses one `/proc/net/{tcp,udp}{,6}` table. Addresses are hex in the kernel's byte
/// order (each 32-bit word little-endian on little-endian machines); lines that do not
/// parse are skipped.
///
/// ```
/// use netsentinel_core::process::parse_socket_table;
/// let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
///    0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0";
/// let s = parse_socket_table(t);
/// assert_eq!(s[0].local, "127.0.0.1:8080".parse().unwrap());
/// assert_eq!(s[0].remote, "127.0.0.1:50000".parse().unwrap());
/// assert_eq!((s[0].inode, s[0].uid), (4242, 1000));
/// ```
pub fn parse_socket_table(text: &str) -> Vec<SocketEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(SocketEntry {
                local: parse_endpoint(f.get(1)?)?,
                remote: parse_endpoint(f.get(2)?)?,
                uid: f.get(7)?.parse().ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

fn parse_endpoint(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::from(u32::from_str_radix(addr, 16).ok()?.to_le_bytes()),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::from(bytes)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// A listening socket: bound address, inode, owner uid.
type Listener = (IpAddr, u64, u32);

/// Reads `/proc`. See the module documentation.
#[derive(Debug)]
pub struct ProcfsResolver {
    proc_root: PathBuf,
    sockets: HashMap<(SocketProtocol, SocketAddr, SocketAddr), (u64, u32)>,
    /// Listening (and unconnected UDP) sockets: bound address, inode, uid, per port.
    listeners: HashMap<(SocketProtocol, u16), Vec<Listener>>,
    /// This host's own addresses (a listener on 0.0.0.0 serves only these).
    local_addresses: std::collections::HashSet<IpAddr>,
    inode_pid: HashMap<u64, u32>,
    refreshed: Option<Instant>,
    min_refresh: Duration,
    users: HashMap<u32, String>,
    hashes: HashMap<(PathBuf, u64, i64), String>,
    processes: HashMap<(u32, u64), Arc<ProcessInfo>>,
}

impl Default for ProcfsResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcfsResolver {
    /// A resolver reading `/proc`, refreshing its tables at most every 50 ms.
    pub fn new() -> Self {
        Self::with_root("/proc".into())
    }

    /// A resolver reading another proc tree (tests).
    pub fn with_root(proc_root: PathBuf) -> Self {
        ProcfsResolver {
            proc_root,
            sockets: HashMap::new(),
            listeners: HashMap::new(),
            local_addresses: Default::default(),
            inode_pid: HashMap::new(),
            refreshed: None,
            min_refresh: Duration::from_millis(50),
            users: std::fs::read_to_string("/etc/passwd")
                .map(|t| parse_passwd(&t))
                .unwrap_or_default(),
            hashes: HashMap::new(),
            processes: HashMap::new(),
        }
    }

    fn refresh(&mut self) {
        self.sockets.clear();
        self.listeners.clear();
        for (file, proto) in [
            ("tcp", SocketProtocol::Tcp),
            ("tcp6", SocketProtocol::Tcp),
            ("udp", SocketProtocol::Udp),
            ("udp6", SocketProtocol::Udp),
        ] {
            let Ok(text) = std::fs::read_to_string(self.proc_root.join("net").join(file)) else {
                continue;
            };
            for e in parse_socket_table(&text) {
                let local = unmap(e.local);
                if e.remote.ip().is_unspecified() {
                    self.listeners
                        .entry((proto, local.port()))
                        .or_default()
                        .push((local.ip(), e.inode, e.uid));
                } else {
                    self.sockets
                        .insert((proto, local, unmap(e.remote)), (e.inode, e.uid));
                }
            }
        }
        self.local_addresses.clear();
        if let Ok(t) = std::fs::read_to_string(self.proc_root.join("net/fib_trie")) {
            self.local_addresses.extend(parse_fib_trie_local(&t));
        }
        if let Ok(t) = std::fs::read_to_string(self.proc_root.join("net/if_inet6")) {
            self.local_addresses.extend(parse_if_inet6(&t));
        }
        self.inode_pid.clear();
        let Ok(procs) = std::fs::read_dir(&self.proc_root) else {
            return;
        };
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                if let Ok(target) = std::fs::read_link(fd.path())
                    && let Some(inode) = target
                        .to_str()
                        .and_then(|t| t.strip_prefix("socket:["))
                        .and_then(|t| t.strip_suffix(']'))
                        .and_then(|t| t.parse::<u64>().ok())
                {
                    self.inode_pid.entry(inode).or_insert(pid);
                }
            }
        }
        self.refreshed = Some(Instant::now());
    }

    /// Whether the tables may be read again (not within `min_refresh` of the last read).
    fn stale(&self) -> bool {
        self.refreshed
            .is_none_or(|t| t.elapsed() >= self.min_refresh)
    }

    fn find_socket(
        &self,
        protocol: SocketProtocol,
        a: SocketAddr,
        b: SocketAddr,
    ) -> Option<(u64, u32)> {
        let (a, b) = (unmap(a), unmap(b));
        self.sockets
            .get(&(protocol, a, b))
            .or_else(|| self.sockets.get(&(protocol, b, a)))
            .copied()
            // A connection not yet accepted (the server's SYN-ACK time) or a UDP server:
            // the listening socket of the server's port, if that end is this host.
            .or_else(|| self.listener(protocol, b))
            .or_else(|| self.listener(protocol, a))
    }

    fn listener(&self, protocol: SocketProtocol, end: SocketAddr) -> Option<(u64, u32)> {
        self.listeners
            .get(&(protocol, end.port()))?
            .iter()
            .find(|(bound, _, _)| {
                *bound == end.ip()
                    || (bound.is_unspecified() && self.local_addresses.contains(&end.ip()))
            })
            .map(|&(_, inode, uid)| (inode, uid))
    }

    fn process(&mut self, pid: u32, uid: u32) -> Option<Arc<ProcessInfo>> {
        let dir = self.proc_root.join(pid.to_string());
        // Keyed by start time too: a pid can be reused by a new process.
        let started = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1;
                after.split_whitespace().nth(19)?.parse::<u64>().ok()
            })
            .unwrap_or(0);
        if let Some(p) = self.processes.get(&(pid, started)) {
            return Some(Arc::clone(p));
        }
        let name = std::fs::read_to_string(dir.join("comm"))
            .ok()?
            .trim()
            .to_string();
        let exe = std::fs::read_link(dir.join("exe")).ok();
        let exe_sha256 = exe.as_ref().and_then(|e| self.hash(e));
        let info = Arc::new(ProcessInfo {
            pid,
            name,
            user: self.users.get(&uid).cloned(),
            uid,
            exe,
            exe_sha256,
        });
        if self.processes.len() >= 4096 {
            self.processes.clear();
        }
        self.processes.insert((pid, started), Arc::clone(&info));
        Some(info)
    }

    /// SHA-256 of a file, cached by path, size and modification time.
    fn hash(&mut self, path: &PathBuf) -> Option<String> {
        use sha2::Digest;
        let meta = std::fs::metadata(path).ok()?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        let key = (path.clone(), meta.len(), mtime);
        if let Some(h) = self.hashes.get(&key) {
            return Some(h.clone());
        }
        use std::io::Read;
        let mut file = std::fs::File::open(path).ok()?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.hashes.insert(key, hex.clone());
        Some(hex)
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`, so v4 traffic finds dual-stack sockets.
fn unmap(s: SocketAddr) -> SocketAddr {
    match s.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), s.port()),
            None => s,
        },
        IpAddr::V4(_) => s,
    }
}

/// This host's IPv4 addresses: the `/32 host LOCAL` entries of `/proc/net/fib_trie`.
fn parse_fib_trie_local(text: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut last: Option<IpAddr> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(ip) = t.strip_prefix("|-- ") {
            last = ip.parse().ok();
        } else if t.starts_with("/32 host LOCAL")
            && let Some(ip) = last
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

/// This host's IPv6 addresses: `/proc/net/if_inet6` (32 hex digits, network order).
fn parse_if_inet6(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let hex = l.split_whitespace().next()?;
            u128::from_str_radix(hex, 16)
                .ok()
                .map(|v| IpAddr::from(v.to_be_bytes()))
        })
        .collect()
}

fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, (*f.first()?).to_string()))
        })
        .collect()
}

impl ProcessResolver for ProcfsResolver {
    fn lookup(&mut self, protocol: SocketProtocol, a: SocketAddr, b: SocketAddr) -> ProcessLookup {
        let mut found = self.find_socket(protocol, a, b);
        if found.is_none() {
            // A socket newer than the tables: read them again, but not in a storm.
            if !self.stale() {
                return ProcessLookup::Unknown {
                    reason: Unknown::RateLimited,
                };
            }
            self.refresh();
            found = self.find_socket(protocol, a, b);
        }
        let Some((inode, uid)) = found else {
            return ProcessLookup::Unknown {
                reason: Unknown::NoSocket,
            };
        };
        let pid = match self.inode_pid.get(&inode) {
            Some(&pid) => Some(pid),
            // The socket is newer than the fd scan: scan again, rate-limited as above.
            None if self.stale() => {
                self.refresh();
                self.inode_pid.get(&inode).copied()
            }
            None => None,
        };
        match pid.and_then(|pid| self.process(pid, uid)) {
            Some(p) => ProcessLookup::Found(p),
            None => ProcessLookup::Unknown {
                reason: Unknown::Unreadable,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_and_mapped_endpoints() {
        let t = "header\n 0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 99\n \
                 1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000200007F:C350 01 0 0 0 0 7 0 100\n \
                 2: garbage\n";
        let s = parse_socket_table(t);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].local, "[::1]:22".parse().unwrap());
        assert!(s[0].remote.ip().is_unspecified());
        assert_eq!(unmap(s[1].local), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(unmap(s[1].remote), "127.0.0.2:50000".parse().unwrap());
        assert_eq!(
            parse_passwd("root:x:0:0:root:/root:/bin/bash\n")[&0],
            "root"
        );
        let fib = "Local:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.1.0.0\n        /24 link UNICAST\n     |-- 10.1.0.7\n        /32 host LOCAL\n";
        assert_eq!(parse_fib_trie_local(fib), vec![IpAddr::from([10, 1, 0, 7])]);
        let v6 = "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n";
        assert_eq!(
            parse_if_inet6(v6),
            vec!["fe80::fc:ff:fe00:1".parse::<IpAddr>().unwrap()]
        );
    }

    /// This test process's own listening socket is found, and named as this process.
    #[cfg(target_os = "linux")]
    #[test]
    fn finds_its_own_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(local).unwrap();
        let mut r = ProcfsResolver::new();
        match r.lookup(SocketProtocol::Tcp, client.local_addr().unwrap(), local) {
            ProcessLookup::Found(p) => {
                assert_eq!(p.pid, std::process::id());
                assert_eq!(p.exe.as_deref(), std::env::current_exe().ok().as_deref());
                assert_eq!(p.exe_sha256.as_ref().map(String::len), Some(64));
            }
            other => panic!("{other:?}"),
        }
        let nobody: SocketAddr = "198.51.100.1:1".parse().unwrap();
        let other: SocketAddr = "198.51.100.2:2".parse().unwrap();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            r.lookup(SocketProtocol::Tcp, nobody, other),
            ProcessLookup::Unknown {
                reason: Unknown::NoSocket
            }
        );
    }
}
