use std::ffi::CString;

use super::*;

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
    for code in 0..=11 {
        // SAFETY: every code below 12 is a valid NsResult.
        let r: NsResult = unsafe { std::mem::transmute::<u32, NsResult>(code) };
        // SAFETY: static NUL-terminated strings.
        assert!(
            !unsafe { CStr::from_ptr(ns_result_str(r)) }
                .to_bytes()
                .is_empty()
        );
    }
}

#[test]
fn a_panicking_detector_does_not_cross_the_boundary_and_poisons_its_engine() {
    struct Boom;
    impl netsentinel_core::Detector for Boom {
        fn id(&self) -> &'static str {
            "boom"
        }
        fn on_packet(
            &mut self,
            _: &netsentinel_core::PacketView<'_>,
            _: &mut netsentinel_core::Context<'_>,
        ) {
            panic!("detector bug");
        }
    }
    let queue = Arc::new(parking_lot::Mutex::new(Queue {
        lines: VecDeque::new(),
        max: 10,
        dropped: 0,
    }));
    let engine = Engine::builder(EngineConfig::default())
        .detector(Boom)
        .build()
        .unwrap();
    let e = Box::into_raw(Box::new(NsEngine {
        magic: MAGIC,
        engine,
        queue,
        poisoned: false,
    }));
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
