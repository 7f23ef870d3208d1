use std::ffi::CString;

use super::*;
use netsentinel_core::EngineConfig;

fn config(json: &str) -> CString {
    CString::new(json).unwrap()
}

fn new_engine(json: &str) -> *mut NsEngine {
    let mut out = std::ptr::null_mut();
    let c = config(json);
    // SAFETY: valid string and out pointer.
    assert_eq!(unsafe { ns_engine_new(c.as_ptr(), &mut out) }, NsResult::Ok);
    out
}

fn last_error() -> String {
    let mut buf = vec![0 as c_char; 512];
    // SAFETY: buf has 512 writable bytes.
    unsafe { ns_last_error(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: ns_last_error NUL-terminates.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Drains the poll queue into lines.
fn poll_all(e: *mut NsEngine) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut buf = vec![0 as c_char; 4096];
    loop {
        let mut n = 0;
        // SAFETY: buf has buf.len() writable bytes.
        let r = unsafe { ns_engine_poll(e, buf.as_mut_ptr(), buf.len(), &mut n) };
        if r == NsResult::BufferTooSmall {
            buf = vec![0 as c_char; n];
            continue;
        }
        assert_eq!(r, NsResult::Ok);
        if n == 0 {
            return out;
        }
        // SAFETY: NUL-terminated by ns_engine_poll.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        out.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
    }
}

#[test]
fn version_is_nul_terminated_and_matches_cargo() {
    // SAFETY: ns_version returns a pointer to a static NUL-terminated string.
    let s = unsafe { CStr::from_ptr(ns_version()) };
    assert_eq!(
        s.to_str().unwrap(),
        concat!("netsentinel-ffi/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(ns_abi_version(), NS_ABI_VERSION);
}

#[test]
fn an_analysed_capture_is_polled_as_json_lines_and_the_last_seconds_saved() {
    let e = new_engine("{}");
    let path = CString::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/corpus/attacks/scan_syn.pcap"
    ))
    .unwrap();
    // SAFETY: valid engine and path.
    assert_eq!(
        unsafe { ns_engine_analyze_file(e, path.as_ptr()) },
        NsResult::Ok
    );
    let records = poll_all(e);
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "alert" && r["detector"] == "port_scan"),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "incident" && r["update"] == "closed")
    );
    let dir = std::env::temp_dir().join(format!("ns-ffi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = CString::new(dir.join("last.pcap").to_str().unwrap()).unwrap();
    // SAFETY: valid engine and path.
    assert_eq!(
        unsafe { ns_engine_save_last(e, 60, file.as_ptr()) },
        NsResult::Ok
    );
    assert!(dir.join("last.pcap").metadata().unwrap().len() > 24);
    let mut json = std::ptr::null_mut();
    // SAFETY: valid engine, writable out.
    assert_eq!(
        unsafe { ns_engine_snapshot_json(e, &mut json) },
        NsResult::Ok
    );
    // SAFETY: a NUL-terminated string from the library.
    let snapshot: serde_json::Value =
        serde_json::from_str(&unsafe { CStr::from_ptr(json) }.to_string_lossy()).unwrap();
    // SAFETY: from ns_engine_snapshot_json.
    unsafe { ns_string_free(json) };
    assert_eq!(snapshot["traffic"]["packets"], 2012, "{snapshot}");
    assert!(snapshot["devices"].as_array().unwrap().len() >= 2);
    let mut dropped = 99;
    // SAFETY: valid engine, writable out.
    assert_eq!(unsafe { ns_engine_dropped(e, &mut dropped) }, NsResult::Ok);
    assert_eq!(dropped, 0);
    // SAFETY: from ns_engine_new.
    unsafe { ns_engine_free(e) };
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_arguments_get_codes_and_messages_never_a_crash() {
    let mut out = std::ptr::null_mut();
    let bad = config(r#"{"flow": {"max_flow": 5}}"#);
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { ns_engine_new(bad.as_ptr(), &mut out) },
        NsResult::Config
    );
    assert!(last_error().contains("max_flow"), "{}", last_error());
    assert!(out.is_null());
    // SAFETY: NULL arguments are checked.
    unsafe {
        assert_eq!(
            ns_engine_new(std::ptr::null(), &mut out),
            NsResult::NullArgument
        );
        assert_eq!(
            ns_engine_feed(std::ptr::null_mut(), 0, 1, std::ptr::null(), 0),
            NsResult::NullArgument
        );
        ns_engine_free(std::ptr::null_mut());
    }
    let e = new_engine("{}");
    let missing = CString::new("/nonexistent/capture.pcap").unwrap();
    // SAFETY: valid engine and path.
    assert_eq!(
        unsafe { ns_engine_analyze_file(e, missing.as_ptr()) },
        NsResult::Source
    );
    assert!(last_error().contains("/nonexistent/capture.pcap"));
    // Nothing fed: nothing to save.
    let file = CString::new("/tmp/never.pcap").unwrap();
    // SAFETY: valid engine and path.
    assert_eq!(
        unsafe { ns_engine_save_last(e, 60, file.as_ptr()) },
        NsResult::Empty
    );
    // A buffer too small for one record says what it needs and keeps the record.
    let frame = netsentinel_core::testutil::tcp_segment(
        "10.0.0.66".parse().unwrap(),
        "10.0.0.10".parse().unwrap(),
        40000,
        23,
        netsentinel_core::TcpFlags::SYN | netsentinel_core::TcpFlags::FIN,
        1,
        b"",
    );
    // SAFETY: valid engine, frame bytes.
    assert_eq!(
        unsafe { ns_engine_feed(e, 1, 1, frame.as_ptr(), frame.len()) },
        NsResult::Ok
    );
    // SAFETY: valid engine.
    assert_eq!(unsafe { ns_engine_finish(e) }, NsResult::Ok);
    let mut small = [0 as c_char; 8];
    let mut n = 0;
    // SAFETY: 8 writable bytes.
    let r = unsafe { ns_engine_poll(e, small.as_mut_ptr(), small.len(), &mut n) };
    assert_eq!(r, NsResult::BufferTooSmall);
    assert!(n > 8);
    assert!(!poll_all(e).is_empty(), "the record was kept");
    // SAFETY: from ns_engine_new.
    unsafe { ns_engine_free(e) };
    for code in 0..=18 {
        // SAFETY: every code up to 18 is a valid NsResult.
        let r: NsResult = unsafe { std::mem::transmute::<u32, NsResult>(code) };
        // SAFETY: static NUL-terminated strings.
        assert!(
            !unsafe { CStr::from_ptr(ns_result_str(r)) }
                .to_bytes()
                .is_empty()
        );
    }
}

/// A detector that panics with its message on every packet.
struct Boom(&'static str);

impl netsentinel_core::Detector for Boom {
    fn id(&self) -> &'static str {
        "boom"
    }
    fn on_packet(
        &mut self,
        _: &netsentinel_core::PacketView<'_>,
        _: &mut netsentinel_core::Context<'_>,
    ) {
        panic!("{}", self.0);
    }
}

#[test]
fn a_panicking_detector_does_not_cross_the_boundary_and_poisons_its_engine() {
    let engine = NsEngine::build(EngineConfig::default(), |b, _| {
        b.detector(Boom("detector bug"))
    })
    .unwrap();
    let e = Box::into_raw(Box::new(engine));
    let frame = [0u8; 60];
    // SAFETY: valid engine and frame.
    let r = unsafe { ns_engine_feed(e, 1, 1, frame.as_ptr(), frame.len()) };
    assert_eq!(r, NsResult::Panic);
    assert!(last_error().contains("detector bug"), "{}", last_error());
    // SAFETY: as above.
    let r = unsafe { ns_engine_feed(e, 2, 1, frame.as_ptr(), frame.len()) };
    assert_eq!(r, NsResult::Poisoned);
    // SAFETY: from Box::into_raw.
    unsafe { ns_engine_free(e) };
}

#[test]
fn header_is_current() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .unwrap()
        .write(&mut generated);
    let path = format!("{crate_dir}/include/netsentinel.h");
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != generated && std::env::var_os("NS_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    assert!(
        committed == generated,
        "{path} is out of date: run NS_UPDATE_HEADER=1 cargo test -p netsentinel-ffi header_is_current"
    );
}

fn corpus(name: &str) -> CString {
    CString::new(format!(
        "{}/../tests/data/corpus/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn take_string(p: *mut c_char) -> serde_json::Value {
    // SAFETY: a NUL-terminated string from the library.
    let text = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: from the library, freed once.
    unsafe { ns_string_free(p) };
    serde_json::from_str(&text).unwrap()
}

/// Collects the records a callback gets.
unsafe extern "C" fn collect(userdata: *mut std::ffi::c_void, json: *const c_char, len: usize) {
    // SAFETY: userdata is the Vec registered below; json has len bytes and a NUL.
    let lines = unsafe { &mut *userdata.cast::<Vec<String>>() };
    let text = unsafe { CStr::from_ptr(json) }
        .to_string_lossy()
        .into_owned();
    assert_eq!(text.len(), len);
    lines.push(text);
}

#[test]
fn callbacks_get_their_records_and_the_queue_the_rest() {
    let capture = corpus("attacks/scan_syn.pcap");
    // The same capture with the queue only, for comparison.
    let reference = new_engine("{}");
    // SAFETY: valid engine and path.
    assert_eq!(
        unsafe { ns_engine_analyze_file(reference, capture.as_ptr()) },
        NsResult::Ok
    );
    let all = poll_all(reference);
    // SAFETY: from ns_engine_new.
    unsafe { ns_engine_free(reference) };

    let e = new_engine("{}");
    let mut alerts: Vec<String> = Vec::new();
    // SAFETY: valid engine; `alerts` outlives the engine's use of it (freed below first).
    unsafe {
        assert_eq!(
            ns_engine_set_alert_callback(e, Some(collect), (&raw mut alerts).cast()),
            NsResult::Ok
        );
        assert_eq!(ns_engine_analyze_file(e, capture.as_ptr()), NsResult::Ok);
    }
    let queued = poll_all(e);
    // SAFETY: from ns_engine_new.
    unsafe { ns_engine_free(e) };
    let alerts: Vec<serde_json::Value> = alerts
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!alerts.is_empty());
    assert!(alerts.iter().all(|a| a["type"] == "alert"));
    assert!(queued.iter().all(|r| r["type"] == "incident"));
    let expected_alerts: Vec<_> = all.iter().filter(|r| r["type"] == "alert").collect();
    assert_eq!(alerts.iter().collect::<Vec<_>>(), expected_alerts);
    assert_eq!(queued.len() + alerts.len(), all.len());
}

#[test]
fn the_summary_exists_after_a_run_and_live_calls_need_a_live_engine() {
    let e = new_engine("{}");
    let mut out = std::ptr::null_mut();
    // SAFETY: valid engine, writable out.
    unsafe {
        assert_eq!(ns_engine_summary_json(e, &mut out), NsResult::Empty);
        assert_eq!(ns_engine_stop_live(e), NsResult::NotRunning);
        assert_eq!(
            ns_engine_analyze_file(e, corpus("attacks/scan_syn.pcap").as_ptr()),
            NsResult::Ok
        );
        assert_eq!(ns_engine_summary_json(e, &mut out), NsResult::Ok);
    }
    let summary = take_string(out);
    assert_eq!(summary["traffic"]["packets"], 2012, "{summary}");
    let iface = CString::new("no-such-interface0").unwrap();
    // SAFETY: valid engine and string.
    let r = unsafe { ns_engine_start_live(e, iface.as_ptr()) };
    if cfg!(feature = "live") {
        assert_eq!(r, NsResult::Source, "{}", last_error());
        assert!(
            last_error().contains("no-such-interface0"),
            "{}",
            last_error()
        );
    } else {
        assert_eq!(r, NsResult::Unsupported);
    }
    // The engine is still usable after a failed start.
    // SAFETY: valid engine.
    assert_eq!(unsafe { ns_engine_finish(e) }, NsResult::Ok);
    // SAFETY: from ns_engine_new.
    unsafe { ns_engine_free(e) };
}

#[test]
fn the_vault_keeps_what_the_engine_found_and_tells_failures_apart() {
    let dir = std::env::temp_dir().join(format!("ns-ffi-vault-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = CString::new(dir.join("creds.vault").to_str().unwrap()).unwrap();
    let pass = CString::new("correct horse").unwrap();
    let e = new_engine("{}");
    let mut vault = std::ptr::null_mut();
    let mut added = 0usize;
    // SAFETY: valid pointers throughout.
    unsafe {
        assert_eq!(
            ns_engine_analyze_file(e, corpus("credentials/cred_ftp.pcap").as_ptr()),
            NsResult::Ok
        );
        assert_eq!(
            ns_vault_create(path.as_ptr(), pass.as_ptr(), &mut vault),
            NsResult::Ok
        );
        assert_eq!(ns_vault_add_credentials(vault, e, &mut added), NsResult::Ok);
        // Taken once: a second call adds nothing.
        let mut again = 99usize;
        assert_eq!(ns_vault_add_credentials(vault, e, &mut again), NsResult::Ok);
        assert_eq!(again, 0);
        ns_vault_free(vault);
        ns_engine_free(e);
    }
    assert!(added >= 1);
    let mut out = std::ptr::null_mut();
    // SAFETY: valid pointers.
    unsafe {
        let mut other = std::ptr::null_mut();
        assert_eq!(
            ns_vault_create(path.as_ptr(), pass.as_ptr(), &mut other),
            NsResult::AlreadyExists
        );
        let wrong = CString::new("wrong").unwrap();
        assert_eq!(
            ns_vault_open(path.as_ptr(), wrong.as_ptr(), &mut other),
            NsResult::WrongPassphrase
        );
        assert!(other.is_null());
        assert_eq!(
            ns_vault_open(path.as_ptr(), pass.as_ptr(), &mut vault),
            NsResult::Ok
        );
        assert_eq!(ns_vault_records_json(vault, &mut out), NsResult::Ok);
        ns_vault_free(vault);
    }
    let records = take_string(out);
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), added);
    assert_eq!(records[0]["protocol"], "ftp", "{records:?}");
    assert!(!records[0]["secret"].as_str().unwrap().is_empty());
    assert_ne!(records[0]["secret"], records[0]["masked_secret"]);
    // A damaged file: told apart from a wrong passphrase, and left as it was.
    let file = dir.join("creds.vault");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    let mut other = std::ptr::null_mut();
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { ns_vault_open(path.as_ptr(), pass.as_ptr(), &mut other) },
        NsResult::VaultDamaged
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    std::fs::remove_dir_all(&dir).ok();
}

/// Live capture on loopback: the engine's thread analyses datagrams sent to 127.0.0.1
/// while the caller polls and asks for snapshots. Needs the `live` feature and the right
/// to capture (root).
#[cfg(feature = "live")]
#[test]
fn live_capture_on_loopback_is_analysed_on_the_engines_thread() {
    let e = new_engine(r#"{"capture": {"bpf_filter": "udp and port 47999"}}"#);
    let lo = CString::new("lo").unwrap();
    // SAFETY: valid engine and string.
    let r = unsafe { ns_engine_start_live(e, lo.as_ptr()) };
    if r == NsResult::Source {
        eprintln!("skipping: cannot capture on lo here: {}", last_error());
        // SAFETY: from ns_engine_new.
        unsafe { ns_engine_free(e) };
        return;
    }
    assert_eq!(r, NsResult::Ok, "{}", last_error());
    let frame = [0u8; 60];
    // SAFETY: valid engine and frame.
    assert_eq!(
        unsafe { ns_engine_feed(e, 1, 1, frame.as_ptr(), frame.len()) },
        NsResult::Busy
    );
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seen = 0;
    for _ in 0..100 {
        for _ in 0..10 {
            socket.send_to(b"netsentinel", "127.0.0.1:47999").unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut out = std::ptr::null_mut();
        // SAFETY: valid engine, writable out.
        assert_eq!(
            unsafe { ns_engine_snapshot_json(e, &mut out) },
            NsResult::Ok,
            "{}",
            last_error()
        );
        seen = take_string(out)["traffic"]["packets"].as_u64().unwrap();
        if seen >= 10 {
            break;
        }
    }
    assert!(seen >= 10, "the live engine saw {seen} packets");
    let mut out = std::ptr::null_mut();
    // SAFETY: valid engine, writable out.
    unsafe {
        assert_eq!(ns_engine_stop_live(e), NsResult::Ok, "{}", last_error());
        assert_eq!(ns_engine_summary_json(e, &mut out), NsResult::Ok);
    }
    assert!(take_string(out)["traffic"]["packets"].as_u64().unwrap() >= seen);
    // SAFETY: from ns_engine_new.
    unsafe { ns_engine_free(e) };
}

/// The header's thread-safety promise: different engines on different threads at once,
/// and an engine made on one thread used on another.
#[test]
fn engines_on_different_threads_at_once_get_the_same_records() {
    struct Handle(*mut NsEngine);
    // SAFETY: the header allows moving a handle between threads, one user at a time.
    unsafe impl Send for Handle {}
    let capture = corpus("attacks/brute_ftp.pcap");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let handle = Handle(new_engine("{}"));
            let capture = capture.clone();
            std::thread::spawn(move || {
                let handle = handle;
                // SAFETY: valid engine and path; this thread is its only user.
                assert_eq!(
                    unsafe { ns_engine_analyze_file(handle.0, capture.as_ptr()) },
                    NsResult::Ok
                );
                let records = poll_all(handle.0);
                // SAFETY: from ns_engine_new.
                unsafe { ns_engine_free(handle.0) };
                records
            })
        })
        .collect();
    let results: Vec<Vec<serde_json::Value>> =
        workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(!results[0].is_empty());
    assert!(results.iter().all(|r| *r == results[0]));
}

/// A detector that panics on the engine's own capture thread: the panic stays on that
/// thread, `ns_engine_stop_live` reports it and the engine is refused afterwards.
#[cfg(feature = "live")]
#[test]
fn a_panic_on_the_live_thread_is_reported_and_poisons_the_engine() {
    let config =
        EngineConfig::from_json(r#"{"capture": {"bpf_filter": "udp and port 47997"}}"#).unwrap();
    let engine = NsEngine::build(config, |b, _| {
        b.detector(Boom("detector bug on the live thread"))
    })
    .unwrap();
    let e = Box::into_raw(Box::new(engine));
    let lo = CString::new("lo").unwrap();
    // SAFETY: valid engine and string.
    let r = unsafe { ns_engine_start_live(e, lo.as_ptr()) };
    if r == NsResult::Source {
        eprintln!("skipping: cannot capture on lo here: {}", last_error());
        // SAFETY: from Box::into_raw.
        unsafe { ns_engine_free(e) };
        return;
    }
    assert_eq!(r, NsResult::Ok);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut out = std::ptr::null_mut();
    // Until the capture thread has met a packet and died: then snapshots fail.
    for _ in 0..200 {
        socket.send_to(b"boom", "127.0.0.1:47997").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        // SAFETY: valid engine, writable out.
        match unsafe { ns_engine_snapshot_json(e, &mut out) } {
            NsResult::Ok => drop(take_string(out)),
            _ => break,
        }
    }
    // SAFETY: valid engine.
    assert_eq!(unsafe { ns_engine_stop_live(e) }, NsResult::Panic);
    assert!(last_error().contains("detector bug"), "{}", last_error());
    // SAFETY: valid engine, writable out.
    assert_eq!(
        unsafe { ns_engine_snapshot_json(e, &mut out) },
        NsResult::Poisoned
    );
    // SAFETY: from Box::into_raw.
    unsafe { ns_engine_free(e) };
}
