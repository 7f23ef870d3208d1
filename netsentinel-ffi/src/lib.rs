//! C ABI for the NetSentinel engine.
//!
//! Conventions (after rustls-ffi): every function returns an [`NsResult`] code (fixed
//! numbers, never reused) unless it cannot fail; out-values go through pointer arguments;
//! `ns_*_free` accepts NULL; no panic crosses the boundary (a caught panic returns
//! `NS_RESULT_PANIC`, and the engine it happened in refuses further use with
//! `NS_RESULT_POISONED`); the message of the last error on this thread is in
//! [`ns_last_error`].
//!
//! Thread safety: an `NsEngine` or `NsVault` handle is used by one thread at a time (calls
//! on one handle from two threads at once are not allowed; which thread does not matter);
//! different handles may be used from different threads at once. During live capture the
//! engine analyses on a thread of its own and calls the registered callbacks there; the
//! caller's calls on the handle (poll, snapshot, save, stop) stay one at a time.
//! `ns_version`, `ns_abi_version`, `ns_result_str`, `ns_last_error` and `ns_string_free`
//! may be called from any thread at any time.
//!
//! What the C API offers: engines from a JSON configuration; packets fed one by one, a
//! capture file analysed, or live capture on an interface (cargo feature `live`); alerts
//! and incidents delivered to callbacks or drained as JSON lines from a bounded queue with
//! a drop counter; JSON snapshots (traffic, flows, devices, open incidents) and run
//! summaries; the last seconds of packets saved as pcap; the credential vault (create,
//! open, list, add what an engine found).
#![allow(unsafe_code)] // An exported C ABI is made of raw pointers and `no_mangle`.

use std::cell::RefCell;
use std::ffi::{CStr, c_char};

/// The ABI version: bumped on every incompatible change of the C API.
pub const NS_ABI_VERSION: u32 = 3;

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
    /// The engine is capturing live: stop it first.
    Busy = 12,
    /// This library was built without the feature (live capture: cargo feature `live`).
    Unsupported = 13,
    /// The passphrase does not open this vault.
    WrongPassphrase = 14,
    /// The vault file is damaged, altered, or not a vault.
    VaultDamaged = 15,
    /// A file is already there (a new vault never overwrites one).
    AlreadyExists = 16,
    /// The engine is not capturing live.
    NotRunning = 17,
    /// An argument is out of range (an empty passphrase).
    InvalidArgument = 18,
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
        NsResult::Busy => "the engine is capturing live; stop it first\0",
        NsResult::Unsupported => "not supported by this build of the library\0",
        NsResult::WrongPassphrase => "wrong vault passphrase\0",
        NsResult::VaultDamaged => "the vault is damaged, altered, or not a vault\0",
        NsResult::AlreadyExists => "a file is already there\0",
        NsResult::NotRunning => "the engine is not capturing live\0",
        NsResult::InvalidArgument => "an argument is out of range\0",
    };
    s.as_ptr().cast()
}

thread_local! {
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn set_error(message: impl std::fmt::Display) {
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

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// A `&str` from a C string argument.
pub(crate) fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, NsResult> {
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

/// Serialises `value` as JSON into a new C string in `*out` (freed by `ns_string_free`).
pub(crate) fn string_out(value: &impl serde::Serialize, out: *mut *mut c_char) -> NsResult {
    let text = match serde_json::to_vec(value) {
        Ok(t) => t,
        Err(err) => {
            set_error(err);
            return NsResult::Io;
        }
    };
    // JSON text has no NUL byte (one inside a string is escaped).
    match std::ffi::CString::new(text) {
        Ok(c) => {
            // SAFETY: the callers check `out` is non-NULL; it is writable (documented).
            unsafe { *out = c.into_raw() };
            NsResult::Ok
        }
        Err(err) => {
            set_error(err);
            NsResult::Io
        }
    }
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

mod engine;
mod vault;

pub use engine::*;
pub use vault::*;

#[cfg(test)]
mod tests;
