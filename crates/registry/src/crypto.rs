//! Encryption at rest: each subscriber's personal fields are sealed with its
//! own random 256-bit data key (XChaCha20-Poly1305, random 192-bit nonce, the
//! external id as associated data so a sealed blob cannot be moved to another
//! row). The data key is stored wrapped (sealed) by the master key, tagged
//! with the master key's id. Erasing a subscriber deletes the wrapped key
//! with the row: without it the ciphertext is noise (crypto-shredding).
//!
//! The master key is 32 random bytes, written as 64 hex digits: a file
//! (created readable by its owner only at first use) or an environment
//! variable. Rotation re-wraps every data key under a new master key; the
//! personal ciphertext is not touched.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const NONCE: usize = 24;
const AAD_DATA_KEY: &[u8] = b"pramaan-registry/data-key/v1\0";
const AAD_PERSONAL: &[u8] = b"pramaan-registry/personal/v1\0";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("master key {what}: expected 64 hex digits (32 bytes)")]
    BadKey { what: String },
    #[error("master key file {path} can be read by group or others (mode {mode:o}); make it 0600")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("environment variable {0} (registry.master_key_env) is not set")]
    EnvUnset(String),
    #[error(
        "the data key of subscriber {id} is wrapped by master key {key_id}, which is not loaded"
    )]
    UnknownMasterKey { id: String, key_id: String },
    #[error("decryption failed for subscriber {0}: wrong key or the stored bytes were altered")]
    Decrypt(String),
    #[error("encryption failed")]
    Encrypt,
}

/// A 256-bit master key and its id (first 16 hex digits of its SHA-256).
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        let id = hex::encode(&Sha256::digest(key)[..8]);
        MasterKey { key, id }
    }

    pub fn generate() -> Self {
        let k = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut b = [0u8; 32];
        b.copy_from_slice(&k);
        Self::from_bytes(b)
    }

    pub fn from_hex(s: &str, what: &str) -> Result<Self, CryptoError> {
        let bad = || CryptoError::BadKey {
            what: what.to_owned(),
        };
        let v = hex::decode(s.trim()).map_err(|_| bad())?;
        let b: [u8; 32] = v.try_into().map_err(|_| bad())?;
        Ok(Self::from_bytes(b))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.key)
    }

    /// Reads a key file, refusing one that group or others can read.
    pub fn read_file(path: &Path) -> Result<Self, CryptoError> {
        let io = |source| CryptoError::Io {
            path: path.to_owned(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(CryptoError::Permissions {
                    path: path.to_owned(),
                    mode: mode & 0o777,
                });
            }
        }
        let s = std::fs::read_to_string(path).map_err(io)?;
        Self::from_hex(&s, &format!("file {}", path.display()))
    }

    /// Writes the key to `path` (mode 0600, fsync'd, directory too); fails
    /// if the file exists.
    pub fn write_new_file(&self, path: &Path) -> Result<(), CryptoError> {
        use std::io::Write;
        let io = |source| CryptoError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(path).map_err(io)?;
        f.write_all(format!("{}\n", self.to_hex()).as_bytes())
            .map_err(io)?;
        f.sync_all().map_err(io)?;
        sync_dir(path).map_err(io)?;
        Ok(())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.key))
    }
}

pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            d.sync_all()?;
        }
    }
    Ok(())
}

/// The master keys loaded (the current one, and during a rotation the next).
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: MasterKey,
    others: HashMap<String, MasterKey>,
}

/// A subscriber's data key, unwrapped (kept in memory only).
pub struct DataKey([u8; 32]);

fn seal(cipher: &XChaCha20Poly1305, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ct = cipher
        .encrypt(&nonce, Payload { msg: plain, aad })
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(NONCE + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (n, ct) = sealed.split_at(NONCE);
    cipher
        .decrypt(XNonce::from_slice(n), Payload { msg: ct, aad })
        .ok()
}

fn aad(prefix: &[u8], id: &str) -> Vec<u8> {
    let mut a = prefix.to_vec();
    a.extend_from_slice(id.as_bytes());
    a
}

impl KeyRing {
    pub fn new(current: MasterKey) -> Self {
        KeyRing {
            current,
            others: HashMap::new(),
        }
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// Keeps `old` for unwrapping while `new` becomes current.
    pub fn rotate_to(&mut self, new: MasterKey) {
        let old = std::mem::replace(&mut self.current, new);
        self.others.insert(old.id.clone(), old);
    }

    /// Adds a key that can unwrap (not current).
    pub fn add(&mut self, k: MasterKey) {
        if k.id != self.current.id {
            self.others.insert(k.id.clone(), k);
        }
    }

    fn by_id(&self, key_id: &str) -> Option<&MasterKey> {
        if self.current.id == key_id {
            Some(&self.current)
        } else {
            self.others.get(key_id)
        }
    }

    pub fn new_data_key() -> DataKey {
        let k = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut b = [0u8; 32];
        b.copy_from_slice(&k);
        DataKey(b)
    }

    /// The data key wrapped by the current master key: (key id, wrapped bytes).
    pub fn wrap(&self, id: &str, dk: &DataKey) -> Result<(String, Vec<u8>), CryptoError> {
        let w = seal(&self.current.cipher(), &aad(AAD_DATA_KEY, id), &dk.0)?;
        Ok((self.current.id.clone(), w))
    }

    pub fn unwrap_key(
        &self,
        id: &str,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<DataKey, CryptoError> {
        let mk = self
            .by_id(key_id)
            .ok_or_else(|| CryptoError::UnknownMasterKey {
                id: id.to_owned(),
                key_id: key_id.to_owned(),
            })?;
        let plain = open(&mk.cipher(), &aad(AAD_DATA_KEY, id), wrapped)
            .ok_or_else(|| CryptoError::Decrypt(id.to_owned()))?;
        let b: [u8; 32] = plain
            .try_into()
            .map_err(|_| CryptoError::Decrypt(id.to_owned()))?;
        Ok(DataKey(b))
    }
}

impl DataKey {
    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.0))
    }

    pub fn seal(&self, id: &str, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal(&self.cipher(), &aad(AAD_PERSONAL, id), plain)
    }

    pub fn open(&self, id: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open(&self.cipher(), &aad(AAD_PERSONAL, id), sealed)
            .ok_or_else(|| CryptoError::Decrypt(id.to_owned()))
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        // Best effort: the compiler may have copied it, but do not leave it lying here.
        self.0 = [0u8; 32];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_seal_rotate() {
        let mut ring = KeyRing::new(MasterKey::generate());
        let dk = KeyRing::new_data_key();
        let (kid, w) = ring.wrap("7", &dk).unwrap();
        let sealed = dk.seal("7", b"Saanvi Nair").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"Saanvi"));
        // Bound to the id.
        assert!(ring.unwrap_key("8", &kid, &w).is_err());
        let dk2 = ring.unwrap_key("7", &kid, &w).unwrap();
        assert!(dk2.open("8", &sealed).is_err());
        assert_eq!(dk2.open("7", &sealed).unwrap(), b"Saanvi Nair");
        ring.rotate_to(MasterKey::generate());
        let (kid2, w2) = ring.wrap("7", &dk2).unwrap();
        assert_ne!(kid, kid2);
        assert!(ring.unwrap_key("7", &kid2, &w2).is_ok());
        assert!(ring.unwrap_key("7", &kid, &w).is_ok());
        let fresh = KeyRing::new(ring.current().clone());
        assert!(matches!(
            fresh.unwrap_key("7", &kid, &w),
            Err(CryptoError::UnknownMasterKey { .. })
        ));
    }
}
