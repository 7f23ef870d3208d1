//! C ABI for the NetSentinel engine.
//!
//! Conventions (after rustls-ffi): every function returns an [`NsResult`] code (fixed
//! numbers, never reused) unless it cannot fail; out-values go through pointer arguments;
//! `ns_*_free` accepts NULL; no panic crosses the boundary (a caught panic returns
//! `NS_RESULT_PANIC`, and the engine it happened in refuses further use with
//! `NS_RESULT_POISONED`); the message of the last error on this thread is in
//! [`ns_last_error`].
//!
//! Thread safety: an `NsEngine` is used by one thread at a time (calls on one engine from
//! two threads at once are not allowed); different engines may be used from different
//! threads. `ns_version`, `ns_abi_version`, `ns_result_str` and `ns_last_error` may be
//! called from any thread at any time.
//!
//! What exists so far: engines from a JSON configuration, packets fed one by one or a
//! capture file analysed, alerts and incidents drained as JSON lines from a bounded
//! queue, a JSON snapshot (traffic, busiest flows, devices, open incidents), saving the
//! last seconds of packets. Callbacks, live capture and the vault are not in the C API yet.
#![allow(unsafe_code)] // An exported C ABI is made of raw pointers and `no_mangle`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use netsentinel_core::alert::json;
use netsentinel_core::incident::Incident;
use netsentinel_core::recording::{RecordingError, RingMode};
use netsentinel_core::{
    Alert, AlertSink, Engine, EngineConfig, FileSource, LinkType, RawPacket, SinkError, Timestamp,
};

/// The ABI version: bumped on every incompatible change of the C API.
pub const NS_ABI_VERSION: u32 = 2;

static VERSION: &str = concat!("netsentinel-ffi/", env!("CARGO_PKG_VERSION"), "\0");

/// Result codes. The numbers are fixed: new codes get new numbers.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsResult {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// The engine handle is not one this library made (or was freed).
    InvalidHandle = 2,
    /// A panic was caught inside the library; the engine is poisoned.
    Panic = 3,
    /// The engine was poisoned by an earlier panic and refuses further use.
    Poisoned = 4,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 5,
    /// The configuration JSON is invalid (the message names the key).
    Config = 6,
    /// The capture could not be read.
    Source = 7,
    /// Writing output failed.
    Io = 8,
    /// The caller's buffer is too small for the next record (nothing was lost; the needed
    /// size is in `*written`).
    BufferTooSmall = 9,
    /// No packets kept in the asked span.
    Empty = 10,
    /// The engine keeps no packet ring (`ring.mode`).
    NoRing = 11,
}

/// A static NUL-terminated description of `result`. Never free it.
#[unsafe(no_mangle)]
pub extern "C" fn ns_result_str(result: NsResult) -> *const c_char {
    let s: &'static str = match result {
        NsResult::Ok => "ok\0",
        NsResult::NullArgument => "a required argument was NULL\0",
        NsResult::InvalidHandle => "not a valid engine handle\0",
        NsResult::Panic => "internal error (panic caught); the engine is poisoned\0",
        NsResult::Poisoned => "the engine was poisoned by an earlier panic\0",
        NsResult::InvalidUtf8 => "a string argument is not valid UTF-8\0",
        NsResult::Config => "invalid configuration\0",
        NsResult::Source => "the capture could not be read\0",
        NsResult::Io => "writing output failed\0",
        NsResult::BufferTooSmall => "the buffer is too small for the next record\0",
        NsResult::Empty => "no packets kept in that span\0",
        NsResult::NoRing => "the engine keeps no packet ring\0",
    };
    s.as_ptr().cast()
}

thread_local! {
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn set_error(message: impl std::fmt::Display) {
    LAST_ERROR.with(|e| {
        let mut v = message.to_string().into_bytes();
        v.retain(|&b| b != 0);
        *e.borrow_mut() = v;
    });
}

/// Copies the message of the last error on this thread, NUL-terminated and cut to fit, into
/// `buf` of `len` bytes; returns the message's full length (without the NUL), 0 when there
/// was none. `buf` may be NULL to ask for the length only.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_last_error(buf: *mut c_char, len: usize) -> usize {
    LAST_ERROR.with(|e| {
        let e = e.borrow();
        if !buf.is_null() && len > 0 {
            let n = e.len().min(len - 1);
            // SAFETY: the caller gives `len` writable bytes at `buf`; n + 1 <= len.
            unsafe {
                std::ptr::copy_nonoverlapping(e.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
        }
        e.len()
    })
}

/// The library version as a static NUL-terminated string, e.g. `netsentinel-ffi/0.1.0`.
/// Never free it.
#[unsafe(no_mangle)]
pub extern "C" fn ns_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// The ABI version of this library.
#[unsafe(no_mangle)]
pub extern "C" fn ns_abi_version() -> u32 {
    NS_ABI_VERSION
}

/// Alert and incident records waiting for `ns_engine_poll`, bounded.
struct Queue {
    lines: VecDeque<Vec<u8>>,
    max: usize,
    dropped: u64,
}

struct QueueSink(Arc<parking_lot::Mutex<Queue>>);

impl QueueSink {
    fn push(&self, v: serde_json::Result<serde_json::Value>) -> Result<(), SinkError> {
        let line = serde_json::to_vec(&v?)?;
        let mut q = self.0.lock();
        if q.lines.len() >= q.max {
            q.dropped += 1;
        } else {
            q.lines.push_back(line);
        }
        Ok(())
    }
}

impl AlertSink for QueueSink {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.push(json::alert(alert))
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        self.push(json::incident(incident))
    }
}

const MAGIC: u64 = 0x4e53_454e_4749_4e45; // "NSENGINE"

/// An engine with its built-in detectors. Opaque to C.
pub struct NsEngine {
    magic: u64,
    engine: Engine,
    queue: Arc<parking_lot::Mutex<Queue>>,
    poisoned: bool,
}

/// Most records queued for `ns_engine_poll`; further ones are counted in
/// `ns_engine_dropped`.
const QUEUE_MAX: usize = 10_000;

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f` on the engine behind `ptr` with every check of the boundary.
fn with_engine(ptr: *mut NsEngine, f: impl FnOnce(&mut NsEngine) -> NsResult) -> NsResult {
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

/// A `&str` from a C string argument.
fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, NsResult> {
    if p.is_null() {
        set_error(format!("{what} is NULL"));
        return Err(NsResult::NullArgument);
    }
    // SAFETY: non-NULL, and the caller passes a NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| {
        set_error(format!("{what} is not valid UTF-8"));
        NsResult::InvalidUtf8
    })
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
        let queue = Arc::new(parking_lot::Mutex::new(Queue {
            lines: VecDeque::new(),
            max: QUEUE_MAX,
            dropped: 0,
        }));
        let engine = Engine::builder(config)
            .builtin_detectors()
            .sink(QueueSink(Arc::clone(&queue)))
            .build()
            .map_err(|e| engine_error(&e))?;
        Ok(NsEngine {
            magic: MAGIC,
            engine,
            queue,
            poisoned: false,
        })
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

/// Frees an engine. NULL is allowed and does nothing.
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
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
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
        let raw = RawPacket {
            ts: Timestamp::from_micros(ts_micros),
            data: bytes,
            orig_len: u32::try_from(len).unwrap_or(u32::MAX),
            link: LinkType::from_linktype(linktype),
        };
        match e.engine.process(&raw) {
            Ok(()) => NsResult::Ok,
            Err(err) => engine_error(&err),
        }
    })
}

/// Analyses a whole pcap or pcapng file, then ends the run as `ns_engine_finish` does.
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
        let mut source = match FileSource::open(Path::new(&path)) {
            Ok(s) => s,
            Err(err) => return engine_error(&err.into()),
        };
        match e.engine.run(&mut source) {
            Ok(_) => NsResult::Ok,
            Err(err) => engine_error(&err),
        }
    })
}

/// Ends the input: open flows end, detectors report what is still going on, incidents
/// close. Their records join the queue.
///
/// # Safety
/// `engine` is from `ns_engine_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_engine_finish(engine: *mut NsEngine) -> NsResult {
    with_engine(engine, |e| match e.engine.finish() {
        Ok(_) => NsResult::Ok,
        Err(err) => engine_error(&err),
    })
}

/// Moves waiting records (alerts and incidents, one JSON object per line, each ending with
/// `\n`) into `buf` of `len` bytes, as many whole lines as fit, and NUL-terminates them;
/// `*written` gets the bytes written (without the NUL). With nothing waiting, `*written` is
/// 0. When not even the next line fits, returns `NS_RESULT_BUFFER_TOO_SMALL` with the size
/// it needs (NUL included) in `*written` and keeps it.
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
        let mut q = e.queue.lock();
        let mut n = 0usize;
        let mut result = NsResult::Ok;
        while let Some(line) = q.lines.front() {
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
            q.lines.pop_front();
            result = NsResult::Ok;
        }
        if len > 0 {
            // SAFETY: n < len (every line left room for the NUL).
            unsafe { *buf.add(n) = 0 };
        }
        // SAFETY: `written` is writable.
        unsafe { *written = n };
        result
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
        unsafe { *dropped = e.queue.lock().dropped };
        NsResult::Ok
    })
}

/// A JSON picture of the engine now in `*out`: traffic statistics, the 200 busiest live
/// flows, the devices, the open incidents, alerts written so far. Free it with
/// `ns_string_free`.
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
        let text = match serde_json::to_vec(&e.engine.snapshot()) {
            Ok(t) => t,
            Err(err) => {
                set_error(err);
                return NsResult::Io;
            }
        };
        // JSON text has no NUL byte.
        match std::ffi::CString::new(text) {
            Ok(c) => {
                // SAFETY: `out` is writable (checked non-NULL, documented).
                unsafe { *out = c.into_raw() };
                NsResult::Ok
            }
            Err(err) => {
                set_error(err);
                NsResult::Io
            }
        }
    })
}

/// Frees a string this library returned. NULL is allowed and does nothing.
///
/// # Safety
/// `s` is NULL or a string from this library not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: made by CString::into_raw in this library, not yet freed (documented).
        drop(unsafe { std::ffi::CString::from_raw(s) });
    }
}

/// Writes the last `secs` seconds of packets fed (packet time, up to the newest) to the pcap
/// file `path`, replacing it atomically.
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
        match e.engine.save_last(secs, Path::new(&path)) {
            Ok(_) => NsResult::Ok,
            Err(err) => {
                set_error(&err);
                match err {
                    RecordingError::Empty { .. } => NsResult::Empty,
                    RecordingError::NoRing => NsResult::NoRing,
                    _ => NsResult::Io,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests;
