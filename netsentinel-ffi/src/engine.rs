//! `NsEngine`: an engine with the built-in detectors, its records delivered to callbacks or
//! a bounded queue, optionally capturing live on a thread of its own.

use std::collections::VecDeque;
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use netsentinel_core::alert::json;
use netsentinel_core::detect::plaintext_credentials::CredentialStore;
use netsentinel_core::incident::Incident;
use netsentinel_core::recording::{RecordingError, RingHandle, RingMode};
use netsentinel_core::snapshot::SnapshotHandle;
use netsentinel_core::{
    Alert, AlertSink, Engine, EngineBuilder, EngineConfig, FileSource, LinkType, RawPacket,
    RunSummary, SinkError, StopHandle, Timestamp,
};

use crate::{NsResult, panic_message, set_error, str_arg, string_out};

/// Called with one record: `json` is a NUL-terminated JSON object of `len` bytes (without
/// the NUL), valid only during the call. `userdata` is what was registered with it.
pub type NsRecordCallback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, json: *const c_char, len: usize)>;

/// A registered callback and its userdata.
#[derive(Clone, Copy)]
struct Callback {
    function: unsafe extern "C" fn(*mut c_void, *const c_char, usize),
    userdata: *mut c_void,
}

// SAFETY: during live capture the callback is called from the engine's analysis thread;
// the header documents that the callback and its userdata must allow that.
unsafe impl Send for Callback {}

/// Where records go: a callback per kind when registered, else the bounded queue.
struct Delivery {
    lines: VecDeque<Vec<u8>>,
    max: usize,
    dropped: u64,
    on_alert: Option<Callback>,
    on_incident: Option<Callback>,
}

struct DeliverySink(Arc<parking_lot::Mutex<Delivery>>);

impl DeliverySink {
    fn deliver(
        &self,
        record: serde_json::Result<serde_json::Value>,
        callback: impl Fn(&Delivery) -> Option<Callback>,
    ) -> Result<(), SinkError> {
        let mut line = serde_json::to_vec(&record?)?;
        // Copied out: the callback runs without the lock held.
        let registered = callback(&self.0.lock());
        if let Some(cb) = registered {
            let len = line.len();
            line.push(0);
            // SAFETY: a function the caller registered with its userdata; the record is
            // NUL-terminated and lives through the call.
            unsafe { (cb.function)(cb.userdata, line.as_ptr().cast(), len) };
            return Ok(());
        }
        let mut d = self.0.lock();
        if d.lines.len() >= d.max {
            d.dropped += 1;
        } else {
            d.lines.push_back(line);
        }
        Ok(())
    }
}

impl AlertSink for DeliverySink {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.deliver(json::alert(alert), |d| d.on_alert)
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        self.deliver(json::incident(incident), |d| d.on_incident)
    }
}

const MAGIC: u64 = 0x4e53_454e_4749_4e45; // "NSENGINE"

/// Most records queued for `ns_engine_poll`; further ones are counted in
/// `ns_engine_dropped`.
const QUEUE_MAX: usize = 10_000;

/// How long a call waits for a live engine to answer (it answers between packets).
const LIVE_ANSWER_WAIT: Duration = Duration::from_secs(10);

/// What the engine is doing.
enum State {
    /// Ready for packets fed by the caller.
    Ready(Box<Engine>),
    /// Capturing live on its own thread; the engine comes back when it is stopped.
    #[cfg_attr(not(feature = "live"), allow(dead_code))] // Made by `start_live` only.
    Live(LiveRun),
    /// Lost to a panic on the capture thread (the handle is poisoned).
    Gone,
}

struct LiveRun {
    thread: std::thread::JoinHandle<(Box<Engine>, netsentinel_core::Result<RunSummary>)>,
    stop: StopHandle,
    snapshots: SnapshotHandle,
    ring: RingHandle,
}

impl LiveRun {
    /// Waits for the engine's thread to answer a request (it does between packets), but
    /// not past `LIVE_ANSWER_WAIT` nor once the thread has ended.
    fn ask<T>(&self, answer: mpsc::Receiver<T>) -> Result<T, NsResult> {
        let deadline = Instant::now() + LIVE_ANSWER_WAIT;
        loop {
            match answer.recv_timeout(Duration::from_millis(20)) {
                Ok(value) => return Ok(value),
                Err(RecvTimeoutError::Timeout)
                    if !self.thread.is_finished() && Instant::now() < deadline => {}
                Err(_) => {
                    set_error(
                        "the live capture has ended or does not answer: ns_engine_stop_live tells why",
                    );
                    return Err(NsResult::Source);
                }
            }
        }
    }
}

/// An engine with its built-in detectors. Opaque to C.
pub struct NsEngine {
    magic: u64,
    state: State,
    delivery: Arc<parking_lot::Mutex<Delivery>>,
    /// Credentials found, secrets in full, for `ns_vault_add_credentials`.
    credentials: CredentialStore,
    /// The summary of the last finished run.
    summary: Option<RunSummary>,
    poisoned: bool,
}

impl NsEngine {
    /// An engine of `config` with the detectors `detectors` adds (given the store for
    /// credentials found) and the delivery sink.
    pub(crate) fn build(
        config: EngineConfig,
        detectors: impl FnOnce(EngineBuilder, CredentialStore) -> EngineBuilder,
    ) -> netsentinel_core::Result<NsEngine> {
        let delivery = Arc::new(parking_lot::Mutex::new(Delivery {
            lines: VecDeque::new(),
            max: QUEUE_MAX,
            dropped: 0,
            on_alert: None,
            on_incident: None,
        }));
        let credentials = CredentialStore::default();
        let engine = detectors(Engine::builder(config), Arc::clone(&credentials))
            .sink(DeliverySink(Arc::clone(&delivery)))
            .build()?;
        Ok(NsEngine {
            magic: MAGIC,
            state: State::Ready(Box::new(engine)),
            delivery,
            credentials,
            summary: None,
            poisoned: false,
        })
    }

    /// The engine, unless it is capturing live.
    fn ready(&mut self) -> Result<&mut Engine, NsResult> {
        match &mut self.state {
            State::Ready(e) => Ok(e),
            State::Live(_) => {
                set_error("the engine is capturing live: ns_engine_stop_live first");
                Err(NsResult::Busy)
            }
            State::Gone => {
                set_error("the engine was lost to a panic on its capture thread");
                Err(NsResult::Poisoned)
            }
        }
    }

    /// The credentials found and not yet forgotten, oldest first.
    pub(crate) fn credentials(
        &self,
    ) -> Vec<netsentinel_core::detect::plaintext_credentials::CapturedCredential> {
        self.credentials.lock().clone()
    }

    /// Forgets the oldest `n` credentials (stored in a vault).
    pub(crate) fn forget_credentials(&self, n: usize) {
        let mut found = self.credentials.lock();
        let n = n.min(found.len());
        found.drain(..n);
    }
}

/// Runs `f` on the engine behind `ptr` with every check of the boundary.
pub(crate) fn with_engine(
    ptr: *mut NsEngine,
    f: impl FnOnce(&mut NsEngine) -> NsResult,
) -> NsResult {
    if ptr.is_null() {
        set_error("the engine pointer is NULL");
        return NsResult::NullArgument;
    }
    // SAFETY: non-NULL; the caller passes a pointer from `ns_engine_new` not yet freed,
    // used by one thread at a time (documented). The magic number catches some misuse.
    let e = unsafe { &mut *ptr };
    if e.magic != MAGIC {
        set_error("not an engine made by ns_engine_new (or already freed)");
        return NsResult::InvalidHandle;
    }
    if e.poisoned {
        set_error("the engine was poisoned by an earlier panic");
        return NsResult::Poisoned;
    }
    match catch_unwind(AssertUnwindSafe(|| f(e))) {
        Ok(r) => r,
        Err(p) => {
            e.poisoned = true;
            set_error(format!(
                "panic inside the engine: {}",
                panic_message(p.as_ref())
            ));
            NsResult::Panic
        }
    }
}

fn engine_error(e: &netsentinel_core::Error) -> NsResult {
    set_error(e);
    match e {
        netsentinel_core::Error::Config(_) => NsResult::Config,
        netsentinel_core::Error::Source(_) => NsResult::Source,
        _ => NsResult::Io,
    }
}

/// Makes an engine with the built-in detectors from a JSON configuration (`"{}"` for the
/// defaults; keys in docs/CONFIG.md) and stores it in `*out`. The engine keeps a packet
/// ring unless the configuration's `ring.mode` says `off`. Free it with `ns_engine_free`.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_new(
    config_json: *const c_char,
    out: *mut *mut NsEngine,
) -> NsResult {
    if out.is_null() {
        set_error("out is NULL");
        return NsResult::NullArgument;
    }
    let json = match str_arg(config_json, "config_json") {
        Ok(j) => j,
        Err(r) => return r,
    };
    let made = catch_unwind(|| -> Result<NsEngine, NsResult> {
        let mut config = EngineConfig::from_json(json).map_err(|e| {
            set_error(&e);
            NsResult::Config
        })?;
        // Packets fed through the C API are the caller's live traffic: keep a ring.
        if config.ring.mode == RingMode::Live {
            config.ring.mode = RingMode::Always;
        }
        NsEngine::build(config, |builder, credentials| {
            builder.builtin_detectors_storing_credentials(credentials)
        })
        .map_err(|e| engine_error(&e))
    });
    match made {
        Ok(Ok(engine)) => {
            // SAFETY: `out` is non-NULL and writable (checked / documented).
            unsafe { *out = Box::into_raw(Box::new(engine)) };
            NsResult::Ok
        }
        Ok(Err(r)) => r,
        Err(p) => {
            set_error(format!(
                "panic while making the engine: {}",
                panic_message(p.as_ref())
            ));
            NsResult::Panic
        }
    }
}

/// Frees an engine (stopping a live capture first). NULL is allowed and does nothing.
///
/// # Safety
/// `engine` is NULL or a pointer from `ns_engine_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_free(engine: *mut NsEngine) {
    if engine.is_null() {
        return;
    }
    // SAFETY: from `ns_engine_new` (Box::into_raw), not yet freed (documented).
    let mut boxed = unsafe { Box::from_raw(engine) };
    boxed.magic = 0;
    // Dropping runs detector and sink destructors: a panic there must not unwind into C.
    let _ = catch_unwind(AssertUnwindSafe(move || {
        if let State::Live(run) = std::mem::replace(&mut boxed.state, State::Gone) {
            run.stop.stop();
            let _ = run.thread.join();
        }
        drop(boxed);
    }));
}

/// Registers `callback` for alert records: from now on each alert goes to it (with
/// `userdata` first) instead of the poll queue. NULL unregisters. The callback runs on the
/// thread that analyses: the caller's during `ns_engine_feed`, `ns_engine_analyze_file`
/// and `ns_engine_finish`, the engine's own thread during live capture. It must not call
/// functions of this engine (copy what it needs and return).
///
/// # Safety
/// `engine` is from `ns_engine_new`; `callback` is NULL or a function that may be called
/// with `userdata` until it is replaced or the engine freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_set_alert_callback(
    engine: *mut NsEngine,
    callback: NsRecordCallback,
    userdata: *mut c_void,
) -> NsResult {
    set_callback(engine, callback, userdata, |d| &mut d.on_alert)
}

/// Registers `callback` for incident records (opened, escalated, closed), as
/// `ns_engine_set_alert_callback` does for alerts.
///
/// # Safety
/// As `ns_engine_set_alert_callback`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_set_incident_callback(
    engine: *mut NsEngine,
    callback: NsRecordCallback,
    userdata: *mut c_void,
) -> NsResult {
    set_callback(engine, callback, userdata, |d| &mut d.on_incident)
}

fn set_callback(
    engine: *mut NsEngine,
    callback: NsRecordCallback,
    userdata: *mut c_void,
    slot: impl FnOnce(&mut Delivery) -> &mut Option<Callback>,
) -> NsResult {
    with_engine(engine, |e| {
        *slot(&mut e.delivery.lock()) = callback.map(|function| Callback { function, userdata });
        NsResult::Ok
    })
}

/// Analyses one packet: `ts_micros` microseconds since the Unix epoch, `linktype` a pcap
/// `LINKTYPE_*` number (1 for Ethernet), `data` its `len` captured bytes.
///
/// # Safety
/// `engine` is from `ns_engine_new`; `data` points to `len` readable bytes (or is NULL with
/// `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_feed(
    engine: *mut NsEngine,
    ts_micros: i64,
    linktype: u32,
    data: *const u8,
    len: usize,
) -> NsResult {
    if data.is_null() && len > 0 {
        set_error("data is NULL");
        return NsResult::NullArgument;
    }
    let bytes: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: non-NULL and `len` readable bytes (documented).
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    with_engine(engine, |e| {
        let engine = match e.ready() {
            Ok(engine) => engine,
            Err(r) => return r,
        };
        let raw = RawPacket {
            ts: Timestamp::from_micros(ts_micros),
            data: bytes,
            orig_len: u32::try_from(len).unwrap_or(u32::MAX),
            link: LinkType::from_linktype(linktype),
        };
        match engine.process(&raw) {
            Ok(()) => NsResult::Ok,
            Err(err) => engine_error(&err),
        }
    })
}

/// Analyses a whole pcap or pcapng file, then ends the run as `ns_engine_finish` does.
/// The file is analysed on `analysis_threads` threads (configuration; default one per
/// core); records and callbacks come on the calling thread, the same as on one thread.
///
/// # Safety
/// `engine` is from `ns_engine_new`; `path` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_analyze_file(
    engine: *mut NsEngine,
    path: *const c_char,
) -> NsResult {
    let path = match str_arg(path, "path") {
        Ok(p) => p.to_string(),
        Err(r) => return r,
    };
    with_engine(engine, |e| {
        let engine = match e.ready() {
            Ok(engine) => engine,
            Err(r) => return r,
        };
        let mut source = match FileSource::open(Path::new(&path)) {
            Ok(s) => s,
            Err(err) => return engine_error(&err.into()),
        };
        let threads = engine.config().analysis_threads;
        match engine.run_parallel(&mut source, threads) {
            Ok(summary) => {
                e.summary = Some(summary);
                NsResult::Ok
            }
            Err(err) => engine_error(&err),
        }
    })
}

/// Ends the input: open flows end, detectors report what is still going on, incidents
/// close. Their records are delivered.
///
/// # Safety
/// `engine` is from `ns_engine_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_finish(engine: *mut NsEngine) -> NsResult {
    with_engine(engine, |e| {
        let engine = match e.ready() {
            Ok(engine) => engine,
            Err(r) => return r,
        };
        match engine.finish() {
            Ok(summary) => {
                e.summary = Some(summary);
                NsResult::Ok
            }
            Err(err) => engine_error(&err),
        }
    })
}

/// Moves waiting records (alerts and incidents without a registered callback, one JSON
/// object per line, each ending with `\n`) into `buf` of `len` bytes, as many whole lines
/// as fit, and NUL-terminates them; `*written` gets the bytes written (without the NUL).
/// With nothing waiting, `*written` is 0. When not even the next line fits, returns
/// `NS_RESULT_BUFFER_TOO_SMALL` with the size it needs (NUL included) in `*written` and
/// keeps it. Works during live capture too.
///
/// # Safety
/// `engine` is from `ns_engine_new`; `buf` points to `len` writable bytes; `written` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_poll(
    engine: *mut NsEngine,
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> NsResult {
    if buf.is_null() || written.is_null() {
        set_error("buf or written is NULL");
        return NsResult::NullArgument;
    }
    with_engine(engine, |e| {
        let mut d = e.delivery.lock();
        let mut n = 0usize;
        while let Some(line) = d.lines.front() {
            let need = line.len() + 1; // the line's '\n'
            if n + need + 1 > len {
                if n == 0 {
                    // SAFETY: `written` is writable (checked non-NULL, documented).
                    unsafe { *written = need + 1 };
                    set_error(format!("the next record needs {} bytes", need + 1));
                    return NsResult::BufferTooSmall;
                }
                break;
            }
            // SAFETY: n + need + 1 <= len bytes are writable at `buf`.
            unsafe {
                std::ptr::copy_nonoverlapping(line.as_ptr(), buf.cast::<u8>().add(n), line.len());
                *buf.add(n + line.len()) = b'\n' as c_char;
            }
            n += need;
            d.lines.pop_front();
        }
        if len > 0 {
            // SAFETY: n < len (every line left room for the NUL).
            unsafe { *buf.add(n) = 0 };
        }
        // SAFETY: `written` is writable.
        unsafe { *written = n };
        NsResult::Ok
    })
}

/// Records dropped because the poll queue was full (10,000 waiting), in `*dropped`.
///
/// # Safety
/// `engine` is from `ns_engine_new`; `dropped` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_dropped(engine: *mut NsEngine, dropped: *mut u64) -> NsResult {
    if dropped.is_null() {
        set_error("dropped is NULL");
        return NsResult::NullArgument;
    }
    with_engine(engine, |e| {
        // SAFETY: checked non-NULL, writable (documented).
        unsafe { *dropped = e.delivery.lock().dropped };
        NsResult::Ok
    })
}

/// A JSON picture of the engine now in `*out`: traffic statistics (packets, bytes,
/// protocols, top talkers), the 200 busiest live flows, the devices, the open incidents,
/// alerts written so far. Works during live capture (answered between packets). Free it
/// with `ns_string_free`.
///
/// # Safety
/// `engine` is from `ns_engine_new`; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_snapshot_json(
    engine: *mut NsEngine,
    out: *mut *mut c_char,
) -> NsResult {
    if out.is_null() {
        set_error("out is NULL");
        return NsResult::NullArgument;
    }
    with_engine(engine, |e| {
        let snapshot = match &e.state {
            State::Ready(engine) => engine.snapshot(),
            State::Live(run) => match run.ask(run.snapshots.request()) {
                Ok(s) => s,
                Err(r) => return r,
            },
            State::Gone => {
                set_error("the engine was lost to a panic on its capture thread");
                return NsResult::Poisoned;
            }
        };
        string_out(&snapshot, out)
    })
}

/// The summary of the last finished run (`ns_engine_analyze_file`, `ns_engine_finish` or
/// `ns_engine_stop_live`) as JSON in `*out`: packets, bytes, flows, alerts by detector and
/// severity, what the gateway did, capture drops. `NS_RESULT_EMPTY` before any run ended.
/// Free it with `ns_string_free`.
///
/// # Safety
/// `engine` is from `ns_engine_new`; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_summary_json(
    engine: *mut NsEngine,
    out: *mut *mut c_char,
) -> NsResult {
    if out.is_null() {
        set_error("out is NULL");
        return NsResult::NullArgument;
    }
    with_engine(engine, |e| match &e.summary {
        Some(summary) => string_out(summary, out),
        None => {
            set_error("no run has ended yet");
            NsResult::Empty
        }
    })
}

fn recording_error(err: RecordingError) -> NsResult {
    set_error(&err);
    match err {
        RecordingError::Empty { .. } => NsResult::Empty,
        RecordingError::NoRing => NsResult::NoRing,
        _ => NsResult::Io,
    }
}

/// Writes the last `secs` seconds of packets (packet time, up to the newest) to the pcap
/// file `path`, replacing it atomically. Works during live capture too.
///
/// # Safety
/// `engine` is from `ns_engine_new`; `path` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_save_last(
    engine: *mut NsEngine,
    secs: u64,
    path: *const c_char,
) -> NsResult {
    let path = match str_arg(path, "path") {
        Ok(p) => p.to_string(),
        Err(r) => return r,
    };
    with_engine(engine, |e| {
        let saved = match &e.state {
            State::Ready(engine) => engine.save_last(secs, Path::new(&path)),
            State::Live(run) => match run.ask(run.ring.save_last(secs, path)) {
                Ok(saved) => saved,
                Err(r) => return r,
            },
            State::Gone => {
                set_error("the engine was lost to a panic on its capture thread");
                return NsResult::Poisoned;
            }
        };
        match saved {
            Ok(_) => NsResult::Ok,
            Err(err) => recording_error(err),
        }
    })
}

/// Starts capturing on `interface` (`any` for all) on a thread of the engine's own, with the
/// configuration's `capture` settings (filter, snap length, buffer). Until
/// `ns_engine_stop_live`, records are delivered from that thread; poll, snapshot and save
/// calls work, feeding packets returns `NS_RESULT_BUSY`. Needs the library built with the
/// `live` feature (else `NS_RESULT_UNSUPPORTED`) and the right to capture (root or
/// CAP_NET_RAW; else `NS_RESULT_SOURCE`).
///
/// # Safety
/// `engine` is from `ns_engine_new`; `interface` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_start_live(
    engine: *mut NsEngine,
    interface: *const c_char,
) -> NsResult {
    let interface = match str_arg(interface, "interface") {
        Ok(i) => i.to_string(),
        Err(r) => return r,
    };
    with_engine(engine, |e| start_live(e, &interface))
}

#[cfg(feature = "live")]
fn start_live(e: &mut NsEngine, interface: &str) -> NsResult {
    if let Err(r) = e.ready() {
        return r;
    }
    let State::Ready(mut engine) = std::mem::replace(&mut e.state, State::Gone) else {
        return NsResult::Busy;
    };
    let source =
        match netsentinel_core::source::LiveSource::open(interface, &engine.config().capture) {
            Ok(s) => s,
            Err(err) => {
                e.state = State::Ready(engine);
                return engine_error(&err.into());
            }
        };
    let stop = engine.stop_handle();
    let snapshots = engine.snapshot_handle();
    let ring = engine.ring_handle();
    let thread = std::thread::Builder::new()
        .name("netsentinel-ffi-live".into())
        .spawn(move || {
            let result = engine.run_threaded(source);
            (engine, result)
        });
    match thread {
        Ok(thread) => {
            e.state = State::Live(LiveRun {
                thread,
                stop,
                snapshots,
                ring,
            });
            NsResult::Ok
        }
        Err(err) => {
            // The engine moved into the closure that failed to start: it is gone.
            e.poisoned = true;
            set_error(format!("cannot start the capture thread: {err}"));
            NsResult::Io
        }
    }
}

#[cfg(not(feature = "live"))]
fn start_live(_: &mut NsEngine, _: &str) -> NsResult {
    set_error("this library was built without live capture (cargo feature `live`)");
    NsResult::Unsupported
}

/// Stops a live capture and waits for its thread: the run finishes (open flows end,
/// detectors report, incidents close) and its summary is kept for
/// `ns_engine_summary_json`. The engine then takes fed packets again.
/// `NS_RESULT_NOT_RUNNING` when it was not capturing; `NS_RESULT_SOURCE` when the capture
/// had failed (the message says why).
///
/// # Safety
/// `engine` is from `ns_engine_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_stop_live(engine: *mut NsEngine) -> NsResult {
    with_engine(engine, |e| {
        if !matches!(e.state, State::Live(_)) {
            set_error("the engine is not capturing live");
            return NsResult::NotRunning;
        }
        let State::Live(run) = std::mem::replace(&mut e.state, State::Gone) else {
            return NsResult::NotRunning;
        };
        run.stop.stop();
        match run.thread.join() {
            Ok((engine, result)) => {
                e.state = State::Ready(engine);
                match result {
                    Ok(summary) => {
                        e.summary = Some(summary);
                        NsResult::Ok
                    }
                    Err(err) => engine_error(&err),
                }
            }
            Err(p) => {
                e.poisoned = true;
                set_error(format!(
                    "panic on the capture thread: {}",
                    panic_message(p.as_ref())
                ));
                NsResult::Panic
            }
        }
    })
}
