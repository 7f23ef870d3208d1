//! The `netsentinel` binary end to end: output formats and bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary, with its data directory (default configuration, device inventory) in a
/// temporary directory of this test run, not the user's home.
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netsentinel"));
    c.env(
        "NETSENTINEL_DATA_DIR",
        std::env::temp_dir().join(format!("ns-cli-data-{}", std::process::id())),
    );
    c
}

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

/// Runs `analyze` on `path` and returns (exit code, stdout, stderr).
fn analyze(path: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = bin()
        .arg("analyze")
        .arg(path)
        .args(extra)
        .output()
        .expect("run netsentinel");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line_error(path: &Path, stderr: &str, code: i32, what: &str) {
    assert_eq!(code, 2, "{what}: exit code; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{what}: one line: {stderr:?}");
    assert!(
        stderr.contains(&*path.to_string_lossy()),
        "{what}: names the file: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[test]
fn demo_text_summary() {
    let (code, out, err) = analyze(&data("demo.pcap"), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Packets   1076"), "{out}");
    assert!(out.contains("Top talkers"), "{out}");
    assert!(out.contains("Decode anomalies: 0"), "{out}");
}

#[test]
fn eve_output_has_suricata_fields() {
    let (code, out, err) = analyze(
        &data("corpus/credentials/cred_ftp.pcap"),
        &["--format", "eve"],
    );
    assert_eq!(code, 0, "{err}");
    let mut flows = 0;
    let mut incident_updates: Vec<String> = Vec::new();
    let mut stats = 0;
    let mut alerts = 0;
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(
            v["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with("+0000"))
        );
        match v["event_type"].as_str() {
            Some("flow") => {
                flows += 1;
                for key in [
                    "flow_id",
                    "community_id",
                    "src_ip",
                    "src_port",
                    "dest_ip",
                    "dest_port",
                    "proto",
                ] {
                    assert!(!v[key].is_null(), "flow lacks {key}: {line}");
                }
                assert!(v["community_id"].as_str().unwrap().starts_with("1:"));
            }
            Some("stats") => {
                stats += 1;
                assert_eq!(v["stats"]["decoder"]["pkts"], 35);
            }
            Some("alert") => {
                alerts += 1;
                for key in [
                    "flow_id",
                    "community_id",
                    "src_ip",
                    "dest_ip",
                    "dest_port",
                    "proto",
                ] {
                    assert!(!v[key].is_null(), "alert lacks {key}: {line}");
                }
                let signature = v["alert"]["signature"].as_str().unwrap_or("");
                match v["detector"].as_str() {
                    Some("insecure_service") => {
                        assert!(signature.contains("ftp"), "{line}");
                        assert_eq!(v["alert"]["severity"], 2);
                    }
                    Some("plaintext_credentials") => {
                        assert!(signature.contains("alice / Su***42"), "{line}");
                        assert!(!line.contains("Sunny-Meadow-42"), "secret in full: {line}");
                        assert_eq!(v["alert"]["severity"], 1);
                    }
                    other => panic!("unexpected detector {other:?}: {line}"),
                }
            }
            Some("incident") => {
                // The client's cleartext login: one incident, opened then closed.
                assert_eq!(v["incident"]["id"], 1, "{line}");
                assert_eq!(v["src_ip"], "10.10.0.20", "{line}");
                incident_updates.push(v["incident"]["update"].as_str().unwrap().to_string());
                assert!(
                    v["incident"]["narrative"]
                        .as_str()
                        .unwrap()
                        .contains("exposure")
                );
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!((flows, stats, alerts), (2, 1, 2));
    assert_eq!(incident_updates.first().map(String::as_str), Some("opened"));
    assert_eq!(incident_updates.last().map(String::as_str), Some("closed"));
}

#[test]
fn json_output_to_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.json");
    let (code, stdout, err) = analyze(
        &data("corpus/credentials/cred_ftp.pcap"),
        &["--format", "json", "--output", out_path.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&out_path).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["traffic"]["packets"], 35);
}

#[test]
fn not_a_capture_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.pcap");
    std::fs::write(&p, b"this is just text, not a capture\n").unwrap();
    let (code, _, err) = analyze(&p, &[]);
    assert_one_line_error(&p, &err, code, "text file");
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
}

#[test]
fn empty_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.pcap");
    std::fs::write(&p, b"").unwrap();
    let (code, _, err) = analyze(&p, &[]);
    assert_one_line_error(&p, &err, code, "empty file");
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn truncated_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.pcap");
    let full = std::fs::read(data("corpus/credentials/cred_ftp.pcap")).unwrap();
    std::fs::write(&p, &full[..full.len() - 10]).unwrap();
    let (code, _, err) = analyze(&p, &[]);
    assert_one_line_error(&p, &err, code, "truncated file");
    assert!(err.contains("truncated"), "{err}");
    // A header cut short too.
    std::fs::write(&p, &full[..12]).unwrap();
    let (code, _, err) = analyze(&p, &[]);
    assert_one_line_error(&p, &err, code, "truncated header");
}

#[test]
fn unknown_link_type_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("wifi.pcap");
    let mut bytes = std::fs::read(data("corpus/credentials/cred_ftp.pcap")).unwrap();
    // The link type is the last field of the 24-byte global header (little endian here).
    bytes[20..24].copy_from_slice(&147u32.to_le_bytes()); // LINKTYPE_USER0
    std::fs::write(&p, &bytes).unwrap();
    let (code, _, err) = analyze(&p, &[]);
    assert_one_line_error(&p, &err, code, "unknown link type");
    assert!(err.contains("unsupported link type 147"), "{err}");
}

#[test]
fn missing_file_and_bad_config_are_errors() {
    let p = data("no-such-file.pcap");
    let (code, _, err) = analyze(&p, &[]);
    assert_one_line_error(&p, &err, code, "missing file");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, r#"{"flow": {"max_flowz": 1}}"#).unwrap();
    let (code, _, err) = analyze(&data("demo.pcap"), &["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("max_flowz") && err.contains("config.json"),
        "{err}"
    );
}

/// `monitor` on loopback (feature `live`, root): sees the UDP datagrams this test sends to
/// 127.0.0.1 and writes them as an EVE flow.
#[cfg(feature = "live")]
#[test]
fn monitor_on_loopback_writes_eve_flow() {
    use std::net::UdpSocket;
    use std::time::Duration;
    let port = 45_912;
    let state = tempfile::tempdir().unwrap();
    let child = bin()
        .args(["monitor", "-i", "lo", "--headless", "--seconds", "2"])
        .args(["--filter", &format!("udp and port {port}")])
        .arg("--data-dir")
        .arg(state.path())
        .arg("--record")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A burst, as fast as the socket takes it: with libpcap's immediate mode and its
    // default 2 MiB buffer most of such a burst was lost (`capture.buffer_mib`; on `lo`,
    // whose MTU is 64 KiB, 64 MiB holds about a thousand packets).
    for _ in 0..500 {
        sock.send_to(b"hello", ("127.0.0.1", port)).unwrap();
    }
    // "Save the last five minutes", asked with SIGUSR1 while it runs.
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-USR1", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("lo") {
        eprintln!("skipping: cannot capture on lo here ({stderr}); run as root");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let flow = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event_type"] == "flow" && v["dest_port"] == port)
        .unwrap_or_else(|| panic!("no flow in {stdout}"));
    assert_eq!(flow["flow"]["pkts_toserver"], 500, "{stderr}");
    // The run kept its state and its diagnostics in the data directory.
    let root = state.path();
    for kept in [
        "devices.json",
        "whitelist.json",
        "alerts/alerts.jsonl",
        "incidents/incidents.jsonl",
    ] {
        assert!(root.join(kept).exists(), "{kept} missing");
    }
    let logs: Vec<String> = std::fs::read_dir(root.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(
        logs.iter().any(|l| l.contains("monitoring started")),
        "{logs:?}"
    );
    // The saved span and the recording both hold the burst.
    let count = |prefix: &str| -> Vec<usize> {
        std::fs::read_dir(root.join("captures"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .map(|e| {
                let mut source = netsentinel_core::FileSource::open(e.path()).unwrap();
                let mut n = 0;
                while let netsentinel_core::Recv::Packet(_) =
                    netsentinel_core::PacketSource::next_packet(&mut source).unwrap()
                {
                    n += 1;
                }
                n
            })
            .collect()
    };
    // The save holds what the engine had analysed when the signal came (on a loaded
    // machine it may not have reached the end of the burst yet); the recording holds all.
    let saved = count("last-5min-");
    assert!(
        saved.len() == 1 && (1..=500).contains(&saved[0]),
        "{saved:?} {stderr}"
    );
    assert_eq!(count("netsentinel-"), [500]);
}

#[test]
fn train_then_analyze_with_the_model() {
    let dir = std::env::temp_dir().join(format!("ns-cli-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("model.json");
    let out = bin()
        .arg("train")
        .arg(data("lab/benign_lab_a.pcap"))
        .arg(data("corpus/credentials/cred_ftp.pcap"))
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("windows of 10 s"), "{stdout}");

    let (code, out, err) = analyze(
        &data("corpus/attacks/scan_syn.pcap"),
        &["--format", "json", "--model", model.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"detector\":\"ml_anomaly\""), "{out}");

    // A model file that is not one: exit 2, one line naming the file, file untouched.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, b"[1, 2, 3]").unwrap();
    let (code, _, err) = analyze(&data("demo.pcap"), &["--model", bad.to_str().unwrap()]);
    assert_one_line_error(&bad, &err, code, "bad model");
    assert_eq!(std::fs::read(&bad).unwrap(), b"[1, 2, 3]");

    // Training on something that is not a capture fails cleanly and writes no model.
    let no_model = dir.join("none.json");
    let out = bin()
        .arg("train")
        .arg(&bad)
        .arg("--model")
        .arg(&no_model)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!no_model.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vault_init_store_list_export_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("creds.vault");
    let run = |args: &[&str], pass: Option<&str>| {
        let mut c = bin();
        c.args(args).env_remove("NETSENTINEL_VAULT_PASSPHRASE");
        if let Some(p) = pass {
            c.env("NETSENTINEL_VAULT_PASSPHRASE", p);
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let v = vault.to_str().unwrap();
    let (code, _, err) = run(&["vault", "init", "--vault", v], Some("s3cret pass"));
    assert_eq!(code, 0, "{err}");
    let ftp = data("corpus/credentials/cred_ftp.pcap");
    let (code, out, err) = run(
        &["analyze", ftp.to_str().unwrap(), "--vault", v],
        Some("s3cret pass"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("Sunny-Meadow-42"), "{out}");
    assert!(err.contains("1 credential(s) added"), "{err}");

    let (code, out, _) = run(&["vault", "list", "--vault", v], Some("s3cret pass"));
    assert_eq!(code, 0);
    assert!(out.contains("alice / Su***42"), "{out}");
    assert!(!out.contains("Sunny-Meadow-42"), "{out}");
    let (code, out, _) = run(&["vault", "export", "--vault", v], Some("s3cret pass"));
    assert_eq!(code, 0);
    let records: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(records[0]["secret"], "Sunny-Meadow-42");
    assert_eq!(records[0]["username"], "alice");

    let before = std::fs::read(&vault).unwrap();
    let (code, _, err) = run(&["vault", "list", "--vault", v], Some("wrong"));
    assert_eq!(code, 2);
    assert_eq!(err.trim(), format!("error: {v}: wrong passphrase"));
    let (code, _, err) = run(&["vault", "list", "--vault", v], None);
    assert_eq!(code, 2);
    assert!(err.contains("NETSENTINEL_VAULT_PASSPHRASE"), "{err}");
    // A wrong passphrase on analyze fails before the analysis and stores nothing.
    let (code, _, _) = run(
        &["analyze", ftp.to_str().unwrap(), "--vault", v],
        Some("wrong"),
    );
    assert_eq!(code, 2);
    assert_eq!(std::fs::read(&vault).unwrap(), before);
}

/// Runs `ip ARGS`; false when it fails.
#[cfg(all(feature = "live", target_os = "linux"))]
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Deletes the test's network namespaces however the test ends.
#[cfg(all(feature = "live", target_os = "linux"))]
struct Namespaces(Vec<String>);

#[cfg(all(feature = "live", target_os = "linux"))]
impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            ip(&["netns", "del", ns]);
        }
    }
}

/// Two network namespaces joined by a veth pair; a server in one, a client in the other
/// (this test binary again, in `netns_peer_helper`), and `monitor` capturing in the
/// client's namespace: the flow's record names the client's PID and executable. Needs
/// root and `ip` (iproute2); skips with a message otherwise.
#[cfg(all(feature = "live", target_os = "linux"))]
#[test]
fn monitor_names_the_process_of_a_flow_between_namespaces() {
    use std::time::Duration;
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root || !ip(&["-V"]) {
        eprintln!("skipping: needs root and iproute2 to make network namespaces");
        return;
    }
    let tag = std::process::id() % 100_000;
    let (a, b) = (format!("nsproc-a{tag}"), format!("nsproc-b{tag}"));
    let (va, vb) = (format!("vpa{tag}"), format!("vpb{tag}"));
    let _cleanup = Namespaces(vec![a.clone(), b.clone()]);
    let made = ip(&["netns", "add", &a])
        && ip(&["netns", "add", &b])
        && ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])
        && ip(&["link", "set", &va, "netns", &a])
        && ip(&["link", "set", &vb, "netns", &b])
        && ip(&["-n", &a, "addr", "add", "10.231.7.1/24", "dev", &va])
        && ip(&["-n", &b, "addr", "add", "10.231.7.2/24", "dev", &vb])
        && ip(&["-n", &a, "link", "set", &va, "up"])
        && ip(&["-n", &b, "link", "set", &vb, "up"])
        && ip(&["-n", &a, "link", "set", "lo", "up"])
        && ip(&["-n", &b, "link", "set", "lo", "up"]);
    if !made {
        eprintln!("skipping: cannot make network namespaces and a veth pair here");
        return;
    }
    let me = std::env::current_exe().unwrap();
    let peer = |ns: &str, role: &str| {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(&me)
            .args(["--exact", "netns_peer_helper", "--ignored", "--nocapture"])
            .env("NS_PEER", role)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut server = peer(&b, "listen 10.231.7.2:8080");
    let data_dir = std::env::temp_dir().join(format!("ns-netns-data-{tag}"));
    let monitor = Command::new("ip")
        .args(["netns", "exec", &a, env!("CARGO_BIN_EXE_netsentinel")])
        .args(["monitor", "-i", &va, "--format", "json", "--seconds", "4"])
        .arg("--data-dir")
        .arg(&data_dir)
        .env("NETSENTINEL_DATA_DIR", &data_dir)
        .args(["--filter", "tcp port 8080"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let devices = Command::new("ip")
        .args(["netns", "exec", &a, env!("CARGO_BIN_EXE_netsentinel")])
        .args([
            "devices",
            "--live",
            &va,
            "--seconds",
            "4",
            "--format",
            "json",
        ])
        .arg("--data-dir")
        .arg(data_dir.join("devices-live"))
        .env("NETSENTINEL_DATA_DIR", &data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut client = peer(&a, "connect 10.231.7.2:8080");
    let client_pid = client.id();
    assert!(client.wait().unwrap().success(), "client failed");
    let out = monitor.wait_with_output().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let flow = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "flow" && v["dst_port"] == 8080)
        .unwrap_or_else(|| panic!("no flow to 8080 in {stdout}\n{stderr}"));
    let process = &flow["process"];
    assert_eq!(process["status"], "found", "{flow}");
    assert_eq!(process["pid"], client_pid, "{flow}");
    let exe = std::fs::canonicalize(&me).unwrap();
    assert_eq!(process["exe"], exe.to_string_lossy().as_ref(), "{flow}");
    assert_eq!(process["user"], "root");
    assert_eq!(process["exe_sha256"].as_str().map(str::len), Some(64));
    // `devices --live` saw both ends, the server answering 8080.
    let out = devices.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let server = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["ip"] == "10.231.7.2")
        })
        .unwrap_or_else(|| panic!("no server device in {report}"));
    assert!(
        server["open_ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == 8080),
        "{server}"
    );
    // The live run kept its device inventory: both veth ends.
    let saved = std::fs::read_to_string(data_dir.join("devices.json")).unwrap();
    assert!(
        saved.contains("10.231.7.1") && saved.contains("10.231.7.2"),
        "{saved}"
    );
    std::fs::remove_dir_all(&data_dir).ok();
}

/// A peer for the namespace test: `NS_PEER="listen ADDR"` accepts one connection and
/// answers it, `NS_PEER="connect ADDR"` connects, sends and reads. Does nothing without
/// `NS_PEER` (it is `#[ignore]`d and only run by that test).
#[cfg(all(feature = "live", target_os = "linux"))]
#[test]
#[ignore = "a helper process for monitor_names_the_process_of_a_flow_between_namespaces"]
fn netns_peer_helper() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;
    let Ok(role) = std::env::var("NS_PEER") else {
        return;
    };
    let (what, addr) = role.split_once(' ').unwrap();
    let mut buf = [0u8; 64];
    match what {
        "listen" => {
            let listener = TcpListener::bind(addr).unwrap();
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"ok");
            std::thread::sleep(Duration::from_secs(1));
        }
        _ => {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"hello").unwrap();
            let _ = s.read(&mut buf);
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// `devices FILE`: the lab's devices with types, kept in a data directory across runs; a
/// damaged inventory is moved aside with a warning.
#[test]
fn devices_lists_and_keeps_the_inventory() {
    let dir = std::env::temp_dir().join(format!("ns-cli-devices-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |file: &str| {
        bin()
            .args(["devices", "--format", "json", "--data-dir"])
            .arg(&dir)
            .arg(data(file))
            .output()
            .unwrap()
    };
    let out = run("corpus/benign/benign_office.pcap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kind = |r: &serde_json::Value, mac: &str| {
        r["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["mac"] == mac)
            .map(|d| d["classification"]["kind"].clone())
    };
    assert_eq!(kind(&report, "02:10:00:00:00:01").unwrap(), "gateway");
    assert_eq!(kind(&report, "02:10:00:00:00:0a").unwrap(), "server");
    assert_eq!(report["gateways"][0], "10.10.0.1");
    // A second capture adds its devices to the saved ones.
    let out = run("corpus/attacks/scan_syn.pcap");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        kind(&report, "02:10:00:00:00:14").is_some(),
        "kept from the first run"
    );
    assert!(
        kind(&report, "02:10:00:00:00:42").is_some(),
        "added by the second"
    );
    // Damaged: moved aside, a warning, a fresh inventory.
    std::fs::write(dir.join("devices.json"), "{oops").unwrap();
    let out = run("corpus/attacks/scan_syn.pcap");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("moved aside"));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("devices.json.corrupt-")),
        "{names:?}"
    );
    let text = bin()
        .arg("devices")
        .arg(data("corpus/benign/benign_office.pcap"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("gateway") && text.contains("DHCP servers: 10.10.0.1"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// First run without `--config`: the defaults are written to the data directory's
/// config.json and used; an edit is read back; a bad key is refused by name, file kept.
#[test]
fn default_configuration_is_created_once_and_validated() {
    let dir = std::env::temp_dir().join(format!("ns-cli-cfg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_netsentinel"))
            .env("NETSENTINEL_DATA_DIR", &dir)
            .arg("analyze")
            .arg(data("demo.pcap"))
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stderr).contains("created"));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(written["flow"]["max_flows"], 1_000_000);
    let second = run();
    assert!(!String::from_utf8_lossy(&second.stderr).contains("created"));
    std::fs::write(
        dir.join("config.json"),
        r#"{"detectors": {"port_scan": {"min_portz": 3}}}"#,
    )
    .unwrap();
    let bad = run();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("min_portz"));
    assert!(
        std::fs::read_to_string(dir.join("config.json"))
            .unwrap()
            .contains("min_portz")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn analyze_keeps_alerts_incidents_and_the_whitelist_in_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let capture = data("corpus/credentials/cred_ftp.pcap");
    let run = || {
        bin()
            .args(["analyze", "--format", "json", "--data-dir"])
            .arg(&root)
            .arg(&capture)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let written = stdout
        .lines()
        .filter(|l| l.contains(r#""type":"alert""#))
        .count();
    let lines = |rel: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(root.join(rel))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let alerts = lines("alerts/alerts.jsonl");
    assert_eq!(alerts[0]["format"], "netsentinel-alerts");
    assert_eq!(alerts.len() - 1, written, "the log holds what was written");
    let incidents = lines("incidents/incidents.jsonl");
    assert_eq!(incidents[0]["format"], "netsentinel-incidents");
    assert_eq!(incidents.last().unwrap()["update"], "closed");
    // The FTP server answered while learning: the whitelist has it; a person removes it.
    let list = bin()
        .args(["whitelist", "--data-dir"])
        .arg(&root)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(list.contains("10.10.0.10:21/tcp"), "{list}");
    let removed = bin()
        .args(["whitelist", "--remove", "10.10.0.10:21/tcp", "--data-dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(removed.status.success());
    assert!(!String::from_utf8_lossy(&removed.stdout).contains("10.10.0.10:21/tcp"));
    let unknown = bin()
        .args(["whitelist", "--remove", "no.such.entry", "--data-dir"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));

    // A damaged whitelist is moved aside with a warning, the run goes on, and the logs
    // grow instead of being replaced.
    std::fs::write(root.join("whitelist.json"), b"{ half a file").unwrap();
    let out = run();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("moved aside"),
        "{stderr}"
    );
    let aside: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("whitelist.json.corrupt-")
        })
        .collect();
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), b"{ half a file");
    assert_eq!(lines("alerts/alerts.jsonl").len() - 1, 2 * written);
}

#[test]
fn the_html_report_renders_its_charts_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let out = bin()
        .args(["report", "-o"])
        .arg(&page)
        .arg(data("corpus/attacks/brute_ftp.pcap"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing is fetched from anywhere.
    for outside in ["http://", "https://", "src=", "<link"] {
        assert!(!html.contains(outside), "the page refers to {outside}");
    }
    let Ok(browser) = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
    else {
        eprintln!(
            "skipping the browser check: chromium is not installed (apt-get install chromium)"
        );
        return;
    };
    assert!(
        browser.status.success(),
        "{}",
        String::from_utf8_lossy(&browser.stderr)
    );
    let dom = String::from_utf8_lossy(&browser.stdout);
    // Each chart was laid out by the browser with a size and drawn elements.
    for chart in [
        "bandwidth",
        "protocols",
        "applications",
        "talkers",
        "alerts",
    ] {
        let at = dom
            .find(&format!("id=\"chart-{chart}\""))
            .unwrap_or_else(|| panic!("no {chart} chart"));
        let tag = &dom[at..at + dom[at..].find('>').unwrap()];
        let rendered = tag
            .split("data-rendered=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("{chart} not rendered: {tag}"));
        let (size, children) = rendered.split_once(':').unwrap();
        let (w, h) = size.split_once('x').unwrap();
        assert!(
            w.parse::<u32>().unwrap() > 300 && h.parse::<u32>().unwrap() > 10,
            "{chart}: {rendered}"
        );
        assert!(children.parse::<u32>().unwrap() > 0, "{chart}: {rendered}");
    }
    // The brute force and its incident are in the page.
    assert!(dom.contains("brute_force") && dom.contains("id=\"incidents\""));
    assert!(
        dom.matches("<circle").count() >= 2,
        "alert points on the timeline"
    );
}

/// Runs `tmux -L SOCKET ARGS` and returns its standard output.
#[cfg(all(feature = "live", target_os = "linux"))]
fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The dashboard, driven through tmux like a person would: `monitor` in one namespace of a
/// veth pair, pings and a port scan from the other, then keys to switch tabs, filter,
/// pause, save and quit, with the screen read back after each. Needs root, iproute2,
/// tmux, ping and nc; skips with a message otherwise.
#[cfg(all(feature = "live", target_os = "linux"))]
#[test]
fn dashboard_shows_live_traffic_and_answers_keys_under_tmux() {
    use std::time::Duration;
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !root || !ip(&["-V"]) || !have("tmux") || !have("ping") || !have("nc") {
        eprintln!("skipping: needs root, iproute2, tmux, ping and nc");
        return;
    }
    let tag = std::process::id() % 100_000;
    let (a, b) = (format!("nsdash-a{tag}"), format!("nsdash-b{tag}"));
    let (va, vb) = (format!("vda{tag}"), format!("vdb{tag}"));
    let _cleanup = Namespaces(vec![a.clone(), b.clone()]);
    let made = ip(&["netns", "add", &a])
        && ip(&["netns", "add", &b])
        && ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])
        && ip(&["link", "set", &va, "netns", &a])
        && ip(&["link", "set", &vb, "netns", &b])
        && ip(&["-n", &a, "addr", "add", "10.231.8.1/24", "dev", &va])
        && ip(&["-n", &b, "addr", "add", "10.231.8.2/24", "dev", &vb])
        && ip(&["-n", &a, "link", "set", &va, "up"])
        && ip(&["-n", &b, "link", "set", &vb, "up"]);
    if !made {
        eprintln!("skipping: cannot make network namespaces and a veth pair here");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let socket = format!("nsdash{tag}");
    let command = format!(
        "NETSENTINEL_DATA_DIR={d} ip netns exec {a} {bin} monitor -i {va} --data-dir {d} --save-minutes 1; sleep 30",
        d = state.path().display(),
        bin = env!("CARGO_BIN_EXE_netsentinel"),
    );
    struct Session(String);
    impl Drop for Session {
        fn drop(&mut self) {
            tmux(&self.0, &["kill-server"]);
        }
    }
    let _session = Session(socket.clone());
    tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "dash",
            "-x",
            "200",
            "-y",
            "50",
            &command,
        ],
    );
    let screen = || tmux(&socket, &["capture-pane", "-p", "-t", "dash"]);
    let keys = |k: &[&str]| {
        let mut args = vec!["send-keys", "-t", "dash"];
        args.extend_from_slice(k);
        tmux(&socket, &args);
        std::thread::sleep(Duration::from_millis(300));
    };
    // The screen is read until it shows what is expected (up to 15 s: a loaded machine
    // may take a few refreshes), then the test moves on.
    let until = |what: &str, ok: &dyn Fn(&str) -> bool| -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let s = screen();
            if ok(&s) {
                return s;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {s}");
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    // The engine answers snapshots once it runs, so the capture is open.
    until("the dashboard running", &|s| s.contains("live flows"));
    // Traffic from the other namespace: pings, then a scan of 200 ports (after one answered
    // ping, so that the neighbour is resolved before the scan starts).
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            &b,
            "ping",
            "-c",
            "1",
            "-W",
            "3",
            "10.231.8.1",
        ])
        .stdout(std::process::Stdio::null())
        .status();
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &b,
            "ping",
            "-c",
            "40",
            "-i",
            "0.1",
            "10.231.8.1",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            &b,
            "nc",
            "-z",
            "-w",
            "1",
            "10.231.8.1",
            "1-200",
        ])
        .output()
        .unwrap();

    until("the overview", &|s| {
        s.contains(&format!("NetSentinel on {va}"))
            && s.contains("Bandwidth")
            && s.contains("live flows")
            && s.contains("port_scan")
    });
    keys(&["2"]);
    until("the ping flow", &|s| {
        s.contains("Flows (busiest first)") && s.contains("10.231.8.2") && s.contains("ICMP")
    });
    keys(&["/", "i", "c", "m", "p", "Enter"]);
    let filtered = until("the filter", &|s| s.contains("filter: icmp"));
    assert!(
        !filtered.contains("TCP "),
        "the filter keeps ICMP rows only: {filtered}"
    );
    // Esc while typing a filter clears it (sent alone: Esc then a key reads as Alt-key).
    keys(&["/"]);
    keys(&["Escape"]);
    keys(&["5"]);
    until("the incident", &|s| {
        s.contains("Incidents") && s.contains("reconnaissance")
    });
    keys(&["6"]);
    until("the devices", &|s| {
        s.contains("Devices") && s.contains("10.231.8.2")
    });
    keys(&["p"]);
    until("pause", &|s| s.contains("PAUSED"));
    keys(&["p", "s"]);
    until("the save", &|s| {
        s.contains("saved ") && s.contains("packets to")
    });
    keys(&["q"]);
    let _ = ping.wait_with_output();
    // The monitor ended (the shell's `sleep` keeps the pane for reading) and printed its
    // summary; the saved capture is there.
    until("the summary after quitting", &|s| {
        s.contains("packets,") && s.contains("dropped by the queue")
    });
    let saved: Vec<_> = std::fs::read_dir(state.path().join("captures"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("last-1min-"))
        .collect();
    assert_eq!(saved.len(), 1);
}
