//! C ABI for the NetSentinel engine.
//!
//! Minimal so far: version queries. The full API (engine, callbacks, polling, vault) is
//! tracked by its own issue.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` exports are the point of this crate.

use std::ffi::c_char;

/// The ABI version: bumped on every incompatible change of the C API.
pub const NS_ABI_VERSION: u32 = 1;

static VERSION: &str = concat!("netsentinel-ffi/", env!("CARGO_PKG_VERSION"), "\0");

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_nul_terminated_and_matches_cargo() {
        // SAFETY: ns_version returns a pointer to a static NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(ns_version()) };
        assert_eq!(
            s.to_str().unwrap(),
            concat!("netsentinel-ffi/", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(ns_abi_version(), NS_ABI_VERSION);
    }
}
