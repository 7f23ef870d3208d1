//! The credential vault: credentials found on the wire, encrypted at rest.
//!
//! File layout (version 1):
//!
//! ```text
//! "NSVAULT\0" | u32 LE body length | body (JSON) | SHA-256 of everything before it
//! ```
//!
//! The body holds the key derivation settings (Argon2id, with the salt and the memory,
//! time and parallelism costs, at or above OWASP's minimum of 19 MiB, 2 passes, 1 lane),
//! a key check (a known text sealed with the key) and the records, each sealed on its own
//! with AES-256-GCM under a fresh random 96-bit nonce, its position in the file as
//! associated data (so records cannot be reordered or moved between vaults unnoticed).
//!
//! Opening tells apart, with one error each: a damaged or altered file (the checksum,
//! then each record's authentication tag), a wrong passphrase (the key check), and a file
//! of another kind or version. Writes go to a temporary file beside the vault (mode 0600),
//! flushed, then renamed over it: an interrupted write leaves the old vault as it was.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::detect::plaintext_credentials::CapturedCredential;
use crate::forensics::{LoginOutcome, mask};
use crate::time::Timestamp;

const MAGIC: &[u8; 8] = b"NSVAULT\0";
const FORMAT_VERSION: u32 = 1;
const KEY_CHECK: &[u8] = b"netsentinel vault key check";
/// Largest body accepted (a vault of about a million credentials).
const MAX_BODY: usize = 1 << 30;

/// Why a vault operation failed. Nothing is changed on disk when one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The vault file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `init` on a path that already holds a file.
    #[error("{path}: a file is already there; not overwriting it")]
    Exists {
        /// The vault file.
        path: PathBuf,
    },
    /// Not a vault, or one of a newer format.
    #[error("{path}: not a NetSentinel vault of a version this build reads ({reason})")]
    Foreign {
        /// The vault file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The file was damaged or altered (checksum or authentication tag mismatch).
    #[error("{path}: vault damaged or tampered with: {reason}")]
    Tampered {
        /// The vault file.
        path: PathBuf,
        /// Where.
        reason: String,
    },
    /// The passphrase does not open this vault.
    #[error("{path}: wrong passphrase")]
    WrongPassphrase {
        /// The vault file.
        path: PathBuf,
    },
    /// An empty passphrase.
    #[error("the vault passphrase must not be empty")]
    EmptyPassphrase,
}

/// Argon2id settings, stored in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Random salt, base64.
    pub salt: String,
}

impl KdfParams {
    /// OWASP's Argon2id minimum (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane.
    fn owasp_minimum(salt: &[u8]) -> Self {
        KdfParams {
            algorithm: "argon2id".into(),
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            salt: b64(salt),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    ciphertext: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Body {
    format: String,
    kdf: KdfParams,
    key_check: Sealed,
    records: Vec<Sealed>,
}

/// One credential in the vault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultRecord {
    /// When it was seen (packet time).
    pub timestamp: Timestamp,
    /// Client address.
    pub client: String,
    /// Server address.
    pub server: String,
    /// Server port.
    pub server_port: u16,
    /// Protocol.
    pub protocol: String,
    /// Mechanism.
    pub mechanism: String,
    /// User name, if any.
    pub username: Option<String>,
    /// The secret, in full.
    pub secret: String,
    /// `accepted`, `rejected` or `unknown`.
    pub outcome: String,
}

impl VaultRecord {
    /// The secret masked for display.
    pub fn masked_secret(&self) -> String {
        mask(&self.secret)
    }
}

impl From<&CapturedCredential> for VaultRecord {
    fn from(c: &CapturedCredential) -> Self {
        VaultRecord {
            timestamp: c.timestamp,
            client: c.client.to_string(),
            server: c.server.to_string(),
            server_port: c.server_port,
            protocol: c.credential.protocol.into(),
            mechanism: c.credential.mechanism.into(),
            username: c.credential.username.clone(),
            secret: c.credential.secret.clone(),
            outcome: match c.credential.outcome {
                LoginOutcome::Accepted => "accepted",
                LoginOutcome::Rejected => "rejected",
                LoginOutcome::Unknown => "unknown",
            }
            .into(),
        }
    }
}

/// An open vault: its records decrypted in memory, the key derived.
///
/// ```
/// use netsentinel_core::vault::{Vault, VaultError, VaultRecord};
/// # let dir = std::env::temp_dir().join(format!("ns-vault-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("creds.vault");
/// let mut vault = Vault::create(&path, "correct horse")?;
/// vault.append(&[VaultRecord {
///     timestamp: netsentinel_core::Timestamp::ZERO,
///     client: "10.0.0.5".into(), server: "10.0.0.9".into(), server_port: 21,
///     protocol: "ftp".into(), mechanism: "USER/PASS".into(),
///     username: Some("alice".into()), secret: "Sunny-Meadow-42".into(),
///     outcome: "accepted".into(),
/// }])?;
/// let again = Vault::open(&path, "correct horse")?;
/// assert_eq!(again.records()[0].secret, "Sunny-Meadow-42");
/// assert!(matches!(Vault::open(&path, "wrong"), Err(VaultError::WrongPassphrase { .. })));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), VaultError>(())
/// ```
pub struct Vault {
    path: PathBuf,
    kdf: KdfParams,
    cipher: Aes256Gcm,
    key_check: Sealed,
    sealed: Vec<Sealed>,
    records: Vec<VaultRecord>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("records", &self.records.len())
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn derive_key(passphrase: &str, kdf: &KdfParams) -> Result<[u8; 32], String> {
    if kdf.algorithm != "argon2id" {
        return Err(format!("key derivation {:?}", kdf.algorithm));
    }
    let salt = base64::engine::general_purpose::STANDARD
        .decode(&kdf.salt)
        .map_err(|e| format!("salt: {e}"))?;
    let params = argon2::Params::new(kdf.memory_kib, kdf.iterations, kdf.parallelism, Some(32))
        .map_err(|e| format!("argon2 settings: {e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), &salt, &mut key)
        .map_err(|e| format!("argon2: {e}"))?;
    Ok(key)
}

fn seal(cipher: &Aes256Gcm, plaintext: &[u8], aad: &[u8]) -> Sealed {
    let nonce: [u8; 12] = rand::random();
    // Encryption fails only for inputs beyond AES-GCM's 64 GiB limit.
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    Sealed {
        nonce: b64(&nonce),
        ciphertext: b64(&ciphertext),
    }
}

fn open_sealed(cipher: &Aes256Gcm, sealed: &Sealed, aad: &[u8]) -> Option<Vec<u8>> {
    let engine = base64::engine::general_purpose::STANDARD;
    let nonce: [u8; 12] = engine.decode(&sealed.nonce).ok()?.try_into().ok()?;
    let ciphertext = engine.decode(&sealed.ciphertext).ok()?;
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &ciphertext,
                aad,
            },
        )
        .ok()
}

fn record_aad(index: usize) -> Vec<u8> {
    format!("netsentinel vault record {index}").into_bytes()
}

impl Vault {
    /// Creates an empty vault at `path` (which must not exist yet).
    ///
    /// # Errors
    /// [`VaultError::Exists`], [`VaultError::EmptyPassphrase`], [`VaultError::Io`].
    pub fn create(path: &Path, passphrase: &str) -> Result<Self, VaultError> {
        if passphrase.is_empty() {
            return Err(VaultError::EmptyPassphrase);
        }
        if path.exists() {
            return Err(VaultError::Exists {
                path: path.to_path_buf(),
            });
        }
        let salt: [u8; 16] = rand::random();
        let kdf = KdfParams::owasp_minimum(&salt);
        let key = derive_key(passphrase, &kdf).map_err(|reason| VaultError::Foreign {
            path: path.to_path_buf(),
            reason,
        })?;
        let cipher = Aes256Gcm::new(&key.into());
        let key_check = seal(&cipher, KEY_CHECK, b"key check");
        let vault = Vault {
            path: path.to_path_buf(),
            kdf,
            cipher,
            key_check,
            sealed: Vec::new(),
            records: Vec::new(),
        };
        vault.write()?;
        Ok(vault)
    }

    /// Opens and decrypts the vault at `path`.
    ///
    /// # Errors
    /// [`VaultError::Io`], [`VaultError::Foreign`], [`VaultError::Tampered`],
    /// [`VaultError::WrongPassphrase`]. The file is never modified.
    pub fn open(path: &Path, passphrase: &str) -> Result<Self, VaultError> {
        let bytes = std::fs::read(path).map_err(|source| VaultError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let tampered = |reason: &str| VaultError::Tampered {
            path: path.to_path_buf(),
            reason: reason.into(),
        };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(VaultError::Foreign {
                path: path.to_path_buf(),
                reason: "no vault header".into(),
            });
        }
        let len_end = MAGIC.len() + 4;
        let body_len = bytes
            .get(MAGIC.len()..len_end)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| tampered("cut short"))? as usize;
        if body_len > MAX_BODY || bytes.len() != len_end + body_len + 32 {
            return Err(tampered("length does not match the file size"));
        }
        let (signed, checksum) = bytes.split_at(len_end + body_len);
        if Sha256::digest(signed).as_slice() != checksum {
            return Err(tampered("checksum mismatch"));
        }
        let body: Body = serde_json::from_slice(&signed[len_end..])
            .map_err(|e| tampered(&format!("body: {e}")))?;
        let version_ok = body.format == format!("netsentinel-vault-{FORMAT_VERSION}");
        if !version_ok {
            return Err(VaultError::Foreign {
                path: path.to_path_buf(),
                reason: format!("format {:?}", body.format),
            });
        }
        let key = derive_key(passphrase, &body.kdf).map_err(|reason| VaultError::Foreign {
            path: path.to_path_buf(),
            reason,
        })?;
        let cipher = Aes256Gcm::new(&key.into());
        if open_sealed(&cipher, &body.key_check, b"key check").as_deref() != Some(KEY_CHECK) {
            return Err(VaultError::WrongPassphrase {
                path: path.to_path_buf(),
            });
        }
        let mut records = Vec::with_capacity(body.records.len());
        for (i, sealed) in body.records.iter().enumerate() {
            let plain = open_sealed(&cipher, sealed, &record_aad(i))
                .ok_or_else(|| tampered(&format!("record {i} fails authentication")))?;
            records.push(
                serde_json::from_slice(&plain)
                    .map_err(|e| tampered(&format!("record {i}: {e}")))?,
            );
        }
        Ok(Vault {
            path: path.to_path_buf(),
            kdf: body.kdf,
            cipher,
            key_check: body.key_check,
            sealed: body.records,
            records,
        })
    }

    /// The records, oldest first.
    pub fn records(&self) -> &[VaultRecord] {
        &self.records
    }

    /// Records whose user name, protocol, server, client or mechanism contains `needle`
    /// (case-insensitive), with their positions.
    pub fn search<'a>(&'a self, needle: &str) -> impl Iterator<Item = (usize, &'a VaultRecord)> {
        let needle = needle.to_lowercase();
        self.records.iter().enumerate().filter(move |(_, r)| {
            [
                r.username.as_deref().unwrap_or(""),
                &r.protocol,
                &r.server,
                &r.client,
                &r.mechanism,
            ]
            .iter()
            .any(|f| f.to_lowercase().contains(&needle))
        })
    }

    /// The key derivation settings in the file.
    pub fn kdf(&self) -> &KdfParams {
        &self.kdf
    }

    /// Appends records and rewrites the file atomically.
    ///
    /// # Errors
    /// [`VaultError::Io`]; the vault on disk and in memory is unchanged then.
    pub fn append(&mut self, records: &[VaultRecord]) -> Result<(), VaultError> {
        let before = self.sealed.len();
        for (i, r) in records.iter().enumerate() {
            // Serialising a record of strings and numbers cannot fail.
            let plain = serde_json::to_vec(r).unwrap_or_default();
            let sealed = seal(&self.cipher, &plain, &record_aad(before + i));
            self.sealed.push(sealed);
        }
        if let Err(e) = self.write() {
            self.sealed.truncate(before);
            return Err(e);
        }
        self.records.extend_from_slice(records);
        Ok(())
    }

    fn write(&self) -> Result<(), VaultError> {
        let io = |source| VaultError::Io {
            path: self.path.clone(),
            source,
        };
        let body = Body {
            format: format!("netsentinel-vault-{FORMAT_VERSION}"),
            kdf: self.kdf.clone(),
            key_check: self.key_check.clone(),
            records: self.sealed.clone(),
        };
        let json = serde_json::to_vec(&body).map_err(|e| io(std::io::Error::other(e)))?;
        let len = u32::try_from(json.len()).map_err(|e| io(std::io::Error::other(e)))?;
        let mut bytes = Vec::with_capacity(json.len() + 44);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&json);
        let checksum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&checksum);
        crate::fsutil::write_atomic(&self.path, &bytes, true).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u16) -> VaultRecord {
        VaultRecord {
            timestamp: Timestamp::from_micros(i64::from(i)),
            client: "10.0.0.5".into(),
            server: "10.0.0.9".into(),
            server_port: 110,
            protocol: "pop3".into(),
            mechanism: "USER/PASS".into(),
            username: Some(format!("user{i}")),
            secret: format!("secret-{i}"),
            outcome: "accepted".into(),
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ns-vault-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn every_flipped_byte_is_detected_and_the_file_is_left_alone() {
        let d = dir("flip");
        let path = d.join("v");
        let mut v = Vault::create(&path, "pw").unwrap();
        v.append(&[record(1), record(2)]).unwrap();
        let good = std::fs::read(&path).unwrap();
        let flipped = d.join("flipped");
        // Every byte position (quick: the checksum is checked before the key is derived).
        for pos in 0..good.len() {
            let mut bad = good.clone();
            bad[pos] ^= 0x01;
            std::fs::write(&flipped, &bad).unwrap();
            let err = Vault::open(&flipped, "pw").unwrap_err();
            assert!(
                matches!(
                    err,
                    VaultError::Tampered { .. } | VaultError::Foreign { .. }
                ),
                "byte {pos}: {err}"
            );
            assert_eq!(std::fs::read(&flipped).unwrap(), bad);
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn wrong_passphrase_is_its_own_error_and_changes_nothing() {
        let d = dir("pw");
        let path = d.join("v");
        let mut v = Vault::create(&path, "right").unwrap();
        v.append(&[record(1)]).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = Vault::open(&path, "wrong").unwrap_err();
        assert!(matches!(err, VaultError::WrongPassphrase { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(matches!(
            Vault::create(&path, "x"),
            Err(VaultError::Exists { .. })
        ));
        assert!(matches!(
            Vault::create(&d.join("other"), ""),
            Err(VaultError::EmptyPassphrase)
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn interrupted_write_leaves_the_old_vault_readable() {
        let d = dir("crash");
        let path = d.join("v");
        let mut v = Vault::create(&path, "pw").unwrap();
        v.append(&[record(1)]).unwrap();
        // A write killed before its rename leaves a partial temporary file behind.
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&tmp, &good[..good.len() / 2]).unwrap();
        let reopened = Vault::open(&path, "pw").unwrap();
        assert_eq!(reopened.records(), &[record(1)]);
        // The next write succeeds beside the leftover and keeps everything.
        let mut reopened = reopened;
        reopened.append(&[record(2)]).unwrap();
        assert_eq!(Vault::open(&path, "pw").unwrap().records().len(), 2);
        // A write that cannot happen (directory gone) fails and keeps memory as it was.
        let gone = d.join("gone");
        std::fs::create_dir_all(&gone).unwrap();
        let mut lost = Vault::create(&gone.join("v"), "pw").unwrap();
        std::fs::remove_dir_all(&gone).unwrap();
        assert!(matches!(
            lost.append(&[record(3)]),
            Err(VaultError::Io { .. })
        ));
        assert!(lost.records().is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn records_cannot_be_reordered_and_search_finds_by_user() {
        let d = dir("order");
        let path = d.join("v");
        let mut v = Vault::create(&path, "pw").unwrap();
        v.append(&[record(1), record(2)]).unwrap();
        assert_eq!(v.search("USER2").map(|(i, _)| i).collect::<Vec<_>>(), [1]);
        // Swap the two sealed records and fix the checksum: authentication still fails.
        let mut swapped = Vault::open(&path, "pw").unwrap();
        swapped.sealed.swap(0, 1);
        swapped.write().unwrap();
        let err = Vault::open(&path, "pw").unwrap_err();
        assert!(matches!(err, VaultError::Tampered { .. }), "{err}");
        assert_eq!(record(7).masked_secret(), "se***-7");
        let _ = std::fs::remove_dir_all(&d);
    }
}
