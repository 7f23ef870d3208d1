//! `NsVault`: the encrypted credential vault (AES-256-GCM, key from Argon2id).

use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use netsentinel_core::vault::{Vault, VaultError, VaultRecord};

use crate::engine::with_engine;
use crate::{NsEngine, NsResult, panic_message, set_error, str_arg, string_out};

const MAGIC: u64 = 0x4e53_5641_554c_5421; // "NSVAULT!"

/// An open vault: its records decrypted in memory. Opaque to C.
pub struct NsVault {
    magic: u64,
    vault: Vault,
}

fn vault_error(e: &VaultError) -> NsResult {
    set_error(e);
    match e {
        VaultError::WrongPassphrase { .. } => NsResult::WrongPassphrase,
        VaultError::Tampered { .. } | VaultError::Foreign { .. } => NsResult::VaultDamaged,
        VaultError::Exists { .. } => NsResult::AlreadyExists,
        VaultError::EmptyPassphrase => NsResult::InvalidArgument,
        _ => NsResult::Io,
    }
}

/// Creates (`create` true: refuses an existing file) or opens the vault at `path` with
/// `passphrase` and stores it in `*out`. Deriving the key takes a moment on purpose
/// (Argon2id). `NS_RESULT_WRONG_PASSPHRASE`, `NS_RESULT_VAULT_DAMAGED` (altered, truncated
/// or not a vault) and `NS_RESULT_ALREADY_EXISTS` tell the failures apart; nothing on disk
/// changes when one is returned. Free it with `ns_vault_free`.
///
/// # Safety
/// `path` and `passphrase` are NUL-terminated strings; `out` is writable.
unsafe fn vault_new(
    path: *const c_char,
    passphrase: *const c_char,
    create: bool,
    out: *mut *mut NsVault,
) -> NsResult {
    if out.is_null() {
        set_error("out is NULL");
        return NsResult::NullArgument;
    }
    let (path, passphrase) = match (str_arg(path, "path"), str_arg(passphrase, "passphrase")) {
        (Ok(p), Ok(k)) => (p, k),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let made = catch_unwind(|| {
        if create {
            Vault::create(Path::new(path), passphrase)
        } else {
            Vault::open(Path::new(path), passphrase)
        }
    });
    match made {
        Ok(Ok(vault)) => {
            let boxed = Box::new(NsVault {
                magic: MAGIC,
                vault,
            });
            // SAFETY: `out` is non-NULL and writable (checked / documented).
            unsafe { *out = Box::into_raw(boxed) };
            NsResult::Ok
        }
        Ok(Err(e)) => vault_error(&e),
        Err(p) => {
            set_error(format!("panic in the vault: {}", panic_message(p.as_ref())));
            NsResult::Panic
        }
    }
}

/// Creates an empty vault at `path` (refusing an existing file) and stores it in `*out`.
///
/// # Safety
/// `path` and `passphrase` are NUL-terminated strings; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_vault_create(
    path: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut NsVault,
) -> NsResult {
    // SAFETY: the caller's guarantees are passed on.
    unsafe { vault_new(path, passphrase, true, out) }
}

/// Opens the vault at `path` and stores it in `*out`. `NS_RESULT_WRONG_PASSPHRASE` and
/// `NS_RESULT_VAULT_DAMAGED` (altered, truncated, not a vault) are told apart.
///
/// # Safety
/// `path` and `passphrase` are NUL-terminated strings; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_vault_open(
    path: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut NsVault,
) -> NsResult {
    // SAFETY: the caller's guarantees are passed on.
    unsafe { vault_new(path, passphrase, false, out) }
}

/// Runs `f` on the vault behind `ptr` with every check of the boundary.
fn with_vault(ptr: *mut NsVault, f: impl FnOnce(&mut NsVault) -> NsResult) -> NsResult {
    if ptr.is_null() {
        set_error("the vault pointer is NULL");
        return NsResult::NullArgument;
    }
    // SAFETY: non-NULL, from `ns_vault_open`/`ns_vault_create`, one thread at a time.
    let v = unsafe { &mut *ptr };
    if v.magic != MAGIC {
        set_error("not a vault made by ns_vault_open (or already freed)");
        return NsResult::InvalidHandle;
    }
    catch_unwind(AssertUnwindSafe(|| f(v))).unwrap_or_else(|p| {
        set_error(format!("panic in the vault: {}", panic_message(p.as_ref())));
        NsResult::Panic
    })
}

/// The vault's records as a JSON array in `*out`, each with `timestamp`, `client`,
/// `server`, `server_port`, `protocol`, `mechanism`, `username`, `secret` (in full),
/// `masked_secret` and `outcome`. Free it with `ns_string_free`.
///
/// # Safety
/// `vault` is from `ns_vault_open`/`ns_vault_create`; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_vault_records_json(
    vault: *mut NsVault,
    out: *mut *mut c_char,
) -> NsResult {
    if out.is_null() {
        set_error("out is NULL");
        return NsResult::NullArgument;
    }
    with_vault(vault, |v| {
        let rows: Vec<serde_json::Value> = v
            .vault
            .records()
            .iter()
            .map(|r| {
                let mut row = serde_json::to_value(r).unwrap_or_default();
                row["masked_secret"] = r.masked_secret().into();
                row
            })
            .collect();
        string_out(&rows, out)
    })
}

/// Adds to the vault the credentials `engine` has found since the last call (secrets in
/// full; alerts only carry them masked) and writes it (atomically: an interrupted write
/// keeps the old file). `*added` (may be NULL) gets how many.
///
/// # Safety
/// `vault` is from `ns_vault_open`/`ns_vault_create`; `engine` from `ns_engine_new`;
/// `added` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_vault_add_credentials(
    vault: *mut NsVault,
    engine: *mut NsEngine,
    added: *mut usize,
) -> NsResult {
    let mut found = Vec::new();
    let r = with_engine(engine, |e| {
        found = e.credentials();
        NsResult::Ok
    });
    if r != NsResult::Ok {
        return r;
    }
    let r = with_vault(vault, |v| {
        let records: Vec<VaultRecord> = found.iter().map(Into::into).collect();
        match v.vault.append(&records) {
            Ok(()) => NsResult::Ok,
            Err(e) => vault_error(&e),
        }
    });
    if r != NsResult::Ok {
        // Kept by the engine for the next try.
        return r;
    }
    with_engine(engine, |e| {
        e.forget_credentials(found.len());
        if !added.is_null() {
            // SAFETY: non-NULL and writable (documented).
            unsafe { *added = found.len() };
        }
        NsResult::Ok
    })
}

/// Frees a vault (its decrypted records are dropped). NULL is allowed and does nothing.
///
/// # Safety
/// `vault` is NULL or from `ns_vault_open`/`ns_vault_create`, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ns_vault_free(vault: *mut NsVault) {
    if vault.is_null() {
        return;
    }
    // SAFETY: from Box::into_raw in this module, not yet freed (documented).
    let mut boxed = unsafe { Box::from_raw(vault) };
    boxed.magic = 0;
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}
