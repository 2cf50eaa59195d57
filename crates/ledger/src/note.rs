//! C2SP signed notes with Ed25519 keys, compatible with Go's
//! `golang.org/x/mod/sumdb/note`.
//!
//! ```text
//! <text, ending in a newline>
//! <blank line>
//! — <key name> <base64(key ID (4 bytes, big-endian) || Ed25519 signature)>
//! — <another key name> <…>
//! ```
//!
//! * The signature covers the text including its final newline, not the blank
//!   line.
//! * The key ID is `SHA-256(name || 0x0A || 0x01 || public key)[:4]`.
//! * Verifier keys are written `<name>+<key ID hex>+<base64(0x01 || public key)>`
//!   and signer keys `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || seed)>`.
//! * A note must be valid UTF-8, have no control characters but newline, and
//!   end in signature lines. When verifying, signatures by unknown keys are
//!   ignored, a signature by a known key that fails makes the whole note
//!   invalid, and at least one known key must have signed.
//!
//! A note may carry several signatures: the node's own and co-signatures, e.g.
//! an auditor's. [`Note::verify`] reports which known keys signed;
//! [`VerifiedNote::require`] checks that a given set of keys all did.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

/// Largest note accepted, in bytes.
pub const MAX_NOTE_SIZE: usize = 1_000_000;
/// Most signature lines accepted in one note (Go's limit; C2SP asks for ≥ 16).
pub const MAX_SIGNATURES: usize = 100;
/// Signature type byte of Ed25519 in key IDs and encoded keys.
pub const ALG_ED25519: u8 = 0x01;

/// What is wrong with a note, or with its signatures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    #[error("note is {len} bytes, more than the {max} allowed")]
    TooLong { len: usize, max: usize },
    #[error("note is not valid UTF-8 (at byte {offset})")]
    NotUtf8 { offset: usize },
    #[error("note has control character 0x{byte:02x} at byte {offset}; only newline is allowed")]
    ControlCharacter { offset: usize, byte: u8 },
    #[error("note text does not end with a newline")]
    MissingNewline,
    #[error("note has no blank line before its signatures")]
    NoSignatureBlock,
    #[error("note has no signature lines")]
    NoSignatures,
    #[error("signature line {line}: {reason}")]
    BadSignatureLine { line: usize, reason: &'static str },
    #[error("note has more than {max} signatures")]
    TooManySignatures { max: usize },
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    InvalidName(String),
    #[error("signature by {name}+{key_id:08x} does not verify")]
    InvalidSignature { name: String, key_id: u32 },
    #[error("more than one known key is {name}+{key_id:08x}")]
    AmbiguousKey { name: String, key_id: u32 },
    #[error("note has no signature by a known key ({unknown} unknown signature(s))")]
    NoKnownSignature { unknown: usize },
    #[error("note is not signed by required key {name}+{key_id:08x}")]
    MissingSignature { name: String, key_id: u32 },
}

/// What is wrong with a key, a key string or a key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("malformed {kind} key: {reason}")]
    Malformed {
        kind: &'static str,
        reason: &'static str,
    },
    #[error("unknown key algorithm 0x{0:02x} (only Ed25519, 0x01, is supported)")]
    UnknownAlgorithm(u8),
    #[error("key ID {stated:08x} does not match the key (it hashes to {actual:08x})")]
    IdMismatch { stated: u32, actual: u32 },
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    InvalidName(String),
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is open to group or others (mode {mode:o}); a signing key must be mode 0600 or 0400",
        path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
}

/// Whether `name` may name a key: non-empty, no Unicode white space, no `+`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_whitespace) && !name.contains('+')
}

/// `SHA-256(name || 0x0A || encoded key)[:4]` as a big-endian `u32`, where the
/// encoded key is the signature type byte followed by the public key.
pub fn key_id(name: &str, encoded_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n']);
    h.update(encoded_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn ed25519_key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut encoded = [0u8; 33];
    encoded[0] = ALG_ED25519;
    encoded[1..].copy_from_slice(public.as_bytes());
    key_id(name, &encoded)
}

/// A public key that checks signatures: name, key ID and Ed25519 key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({})", self.to_vkey())
    }
}

impl VerifierKey {
    /// Parses `<name>+<key ID hex>+<base64(0x01 || public key)>`.
    pub fn parse(vkey: &str) -> Result<VerifierKey, KeyError> {
        let bad = |reason| KeyError::Malformed {
            kind: "verifier",
            reason,
        };
        let (name, rest) = vkey.split_once('+').ok_or(bad("expected name+id+key"))?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or(bad("expected name+id+key"))?;
        if !is_valid_name(name) {
            return Err(KeyError::InvalidName(name.to_owned()));
        }
        let id = parse_key_id(id_hex).ok_or(bad("key ID is not 8 hex digits"))?;
        let encoded = B64.decode(key_b64).map_err(|_| bad("key is not base64"))?;
        let (&alg, key) = encoded.split_first().ok_or(bad("empty key"))?;
        if alg != ALG_ED25519 {
            return Err(KeyError::UnknownAlgorithm(alg));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("Ed25519 public key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not an Ed25519 public key"))?;
        let actual = key_id(name, &encoded);
        if actual != id {
            return Err(KeyError::IdMismatch { stated: id, actual });
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// A verifier key from a name and a raw Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<VerifierKey, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::InvalidName(name.to_owned()));
        }
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| KeyError::Malformed {
            kind: "verifier",
            reason: "not an Ed25519 public key",
        })?;
        Ok(VerifierKey {
            name: name.to_owned(),
            id: ed25519_key_id(name, &key),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The `<name>+<key ID hex>+<base64(0x01 || public key)>` string.
    pub fn to_vkey(&self) -> String {
        let mut encoded = vec![ALG_ED25519];
        encoded.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(encoded))
    }

    /// Whether `signature` is a valid Ed25519 signature of `msg` by this key
    /// (strict verification: no small-order keys or non-canonical encodings).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerifierKey::parse(s)
    }
}

fn parse_key_id(hex: &str) -> Option<u32> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// A private key that signs notes. Its `Debug` output hides the key, and the
/// key material is wiped from memory when it is dropped.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    id: u32,
    key: SigningKey,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignerKey({}+{:08x}, private key hidden)",
            self.name, self.id
        )
    }
}

impl SignerKey {
    /// A new random key named `name`, from the operating system's randomness.
    pub fn generate(name: &str) -> Result<SignerKey, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut seed[..]).map_err(|e| KeyError::Random(e.to_string()))?;
        SignerKey::from_seed(name, &seed)
    }

    /// The key whose Ed25519 seed (private key) is `seed`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<SignerKey, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::InvalidName(name.to_owned()));
        }
        let key = SigningKey::from_bytes(seed);
        Ok(SignerKey {
            name: name.to_owned(),
            id: ed25519_key_id(name, &key.verifying_key()),
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || seed)>`.
    pub fn parse(skey: &str) -> Result<SignerKey, KeyError> {
        let bad = |reason| KeyError::Malformed {
            kind: "signer",
            reason,
        };
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(bad("does not start with PRIVATE+KEY+"))?;
        let (name, rest) = rest.split_once('+').ok_or(bad("expected name+id+key"))?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or(bad("expected name+id+key"))?;
        if !is_valid_name(name) {
            return Err(KeyError::InvalidName(name.to_owned()));
        }
        let id = parse_key_id(id_hex).ok_or(bad("key ID is not 8 hex digits"))?;
        let encoded = Zeroizing::new(B64.decode(key_b64).map_err(|_| bad("key is not base64"))?);
        let (&alg, seed) = encoded.split_first().ok_or(bad("empty key"))?;
        if alg != ALG_ED25519 {
            return Err(KeyError::UnknownAlgorithm(alg));
        }
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.try_into()
                .map_err(|_| bad("Ed25519 private key is not 32 bytes"))?,
        );
        let key = SignerKey::from_seed(name, &seed)?;
        // The ID is a hash of the public key, so check it after deriving that.
        if key.id != id {
            return Err(KeyError::IdMismatch {
                stated: id,
                actual: key.id,
            });
        }
        Ok(key)
    }

    /// The `PRIVATE+KEY+…` string. Keep it secret.
    pub fn to_skey(&self) -> Zeroizing<String> {
        let mut encoded = Zeroizing::new(vec![ALG_ED25519]);
        encoded.extend_from_slice(self.key.as_bytes());
        let mut b64 = B64.encode(encoded.as_slice());
        let s = format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.id, b64);
        b64.zeroize();
        Zeroizing::new(s)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The matching public key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The signature line this key makes for `text` (which must be a valid
    /// note text: see [`Note::new`]).
    pub fn sign(&self, text: &str) -> Result<Signature, NoteError> {
        check_text(text.as_bytes())?;
        Ok(Signature {
            name: self.name.clone(),
            key_id: self.id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        })
    }

    /// Writes the `PRIVATE+KEY+…` string and a newline to a new file, readable
    /// and writable by its owner only (mode 0600 on Unix). Refuses to replace
    /// an existing file.
    pub fn write_new_file(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        let io_err = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io_err)?;
        let mut line = self.to_skey();
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(())
    }

    /// Reads a key written by [`SignerKey::write_new_file`] (or by Go's
    /// `note.GenerateKey` and saved by hand). On Unix, refuses a file that
    /// group or others may read or write.
    pub fn read_file(path: &Path) -> Result<SignerKey, KeyError> {
        let io_err = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(io_err)?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: path.to_owned(),
                    mode: mode & 0o7777,
                });
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io_err)?);
        SignerKey::parse(text.trim_end_matches(['\n', '\r']))
    }
}

/// One signature line: key name, key ID and the signature bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    pub name: String,
    pub key_id: u32,
    pub signature: Vec<u8>,
}

impl Signature {
    /// `— <name> <base64(key ID || signature)>\n`.
    pub fn to_line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}\n", self.name, B64.encode(raw))
    }

    /// Parses one signature line without its newline; `line` is its number in
    /// the signature block, from 1, for error messages.
    fn parse_line(text: &str, line: usize) -> Result<Signature, NoteError> {
        let bad = |reason| NoteError::BadSignatureLine { line, reason };
        let rest = text
            .strip_prefix("\u{2014} ")
            .ok_or(bad("does not start with an em dash (U+2014) and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(bad("no space between key name and signature"))?;
        if !is_valid_name(name) {
            return Err(bad("invalid key name"));
        }
        let raw = B64
            .decode(b64)
            .map_err(|_| bad("signature is not padded standard base64"))?;
        if raw.len() < 5 {
            return Err(bad("signature is shorter than a key ID and one byte"));
        }
        Ok(Signature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        })
    }
}

/// Checks a note or a note text: size, UTF-8, control characters.
fn check_bytes(msg: &[u8]) -> Result<&str, NoteError> {
    if msg.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLong {
            len: msg.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    let text = std::str::from_utf8(msg).map_err(|e| NoteError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    if let Some(offset) = msg.iter().position(|&b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter {
            offset,
            byte: msg[offset],
        });
    }
    Ok(text)
}

fn check_text(text: &[u8]) -> Result<&str, NoteError> {
    let text = check_bytes(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::MissingNewline);
    }
    Ok(text)
}

/// A note text with its signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<Signature>,
}

impl Note {
    /// An unsigned note with this text, which must end in a newline and be
    /// free of control characters other than newline.
    pub fn new(text: impl Into<String>) -> Result<Note, NoteError> {
        let text = text.into();
        check_text(text.as_bytes())?;
        Ok(Note {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note, checking its syntax only (see [`Note::verify`]).
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        let msg = check_bytes(msg)?;
        // The text ends at the last blank line; the signature block follows.
        let split = msg.rfind("\n\n").ok_or(if msg.ends_with('\n') {
            NoteError::NoSignatureBlock
        } else {
            NoteError::MissingNewline
        })?;
        let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::MissingNewline);
        };
        let mut signatures = Vec::new();
        for (i, line) in sigs.split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            signatures.push(Signature::parse_line(line, i + 1)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, with its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signatures, in note order.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// Signs the note with `key`, replacing any signature by the same key name
    /// and ID; the new signature goes last.
    pub fn sign(&mut self, key: &SignerKey) -> Result<(), NoteError> {
        let sig = key.sign(&self.text)?;
        self.add_signature(sig)
    }

    /// Adds a signature made elsewhere (a co-signature), replacing any by the
    /// same key name and ID. It is not checked here: [`Note::verify`] does.
    pub fn add_signature(&mut self, sig: Signature) -> Result<(), NoteError> {
        if !is_valid_name(&sig.name) {
            return Err(NoteError::InvalidName(sig.name));
        }
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// The signed note: text, blank line, one line per signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Checks the signatures against `known` keys. Signatures by unknown keys
    /// (name and ID not both matching a known key) are ignored; a signature
    /// by a known key that does not verify fails the whole note; at least one
    /// known key must have signed. Repeated signatures count once.
    pub fn verify(&self, known: &Verifiers) -> Result<VerifiedNote, NoteError> {
        let mut verified = Vec::new();
        let mut unknown = Vec::new();
        let mut seen = HashSet::new();
        for sig in &self.signatures {
            match known.find(&sig.name, sig.key_id)? {
                Some(key) => {
                    if !seen.insert((sig.name.as_str(), sig.key_id)) {
                        continue;
                    }
                    if !key.verify(self.text.as_bytes(), &sig.signature) {
                        return Err(NoteError::InvalidSignature {
                            name: sig.name.clone(),
                            key_id: sig.key_id,
                        });
                    }
                    verified.push(sig.clone());
                }
                None => {
                    if !unknown.contains(sig) {
                        unknown.push(sig.clone());
                    }
                }
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature {
                unknown: unknown.len(),
            });
        }
        Ok(VerifiedNote { verified, unknown })
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            f.write_str(&sig.to_line())?;
        }
        Ok(())
    }
}

/// Parses a signed note and verifies it against `known` keys.
pub fn open(msg: &[u8], known: &Verifiers) -> Result<(Note, VerifiedNote), NoteError> {
    let note = Note::parse(msg)?;
    let verified = note.verify(known)?;
    Ok((note, verified))
}

/// The outcome of [`Note::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    /// Signatures by known keys, all verified.
    pub verified: Vec<Signature>,
    /// Signatures by keys not in the set, not checked.
    pub unknown: Vec<Signature>,
}

impl VerifiedNote {
    /// Whether `key` is among the verified signers.
    pub fn is_signed_by(&self, key: &VerifierKey) -> bool {
        self.verified
            .iter()
            .any(|s| s.name == key.name && s.key_id == key.id)
    }

    /// Checks that every key in `required` signed (e.g. the node and its
    /// auditor). The keys must have been among the known keys given to
    /// [`Note::verify`].
    pub fn require<'a>(
        &self,
        required: impl IntoIterator<Item = &'a VerifierKey>,
    ) -> Result<(), NoteError> {
        for key in required {
            if !self.is_signed_by(key) {
                return Err(NoteError::MissingSignature {
                    name: key.name.clone(),
                    key_id: key.id,
                });
            }
        }
        Ok(())
    }
}

/// A set of known verifier keys.
#[derive(Clone, Debug, Default)]
pub struct Verifiers {
    keys: Vec<VerifierKey>,
}

impl Verifiers {
    pub fn new(keys: impl IntoIterator<Item = VerifierKey>) -> Verifiers {
        let mut v = Verifiers::default();
        for k in keys {
            v.add(k);
        }
        v
    }

    /// Adds a key (a second copy of the same key is ignored).
    pub fn add(&mut self, key: VerifierKey) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    pub fn keys(&self) -> &[VerifierKey] {
        &self.keys
    }

    /// The key with this name and ID, if known. Two different keys with the
    /// same name and ID make the lookup fail rather than guess.
    fn find(&self, name: &str, key_id: u32) -> Result<Option<&VerifierKey>, NoteError> {
        let mut found = None;
        for k in &self.keys {
            if k.name == name && k.id == key_id {
                if found.is_some() {
                    return Err(NoteError::AmbiguousKey {
                        name: name.to_owned(),
                        key_id,
                    });
                }
                found = Some(k);
            }
        }
        Ok(found)
    }
}

impl FromIterator<VerifierKey> for Verifiers {
    fn from_iter<I: IntoIterator<Item = VerifierKey>>(iter: I) -> Self {
        Verifiers::new(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify() {
        let a = SignerKey::generate("example.org/pramaan/node-1").unwrap();
        let b = SignerKey::generate("example.org/pramaan/node-1").unwrap();
        assert_ne!(a.verifier().public_key(), b.verifier().public_key());
        let mut n = Note::new("hello\n").unwrap();
        n.sign(&a).unwrap();
        let (_, v) = open(&n.to_bytes(), &Verifiers::new([a.verifier()])).unwrap();
        assert!(v.is_signed_by(&a.verifier()));
        // Same name, other key: unknown (IDs differ), so not accepted.
        assert!(matches!(
            open(&n.to_bytes(), &Verifiers::new([b.verifier()])),
            Err(NoteError::NoKnownSignature { unknown: 1 })
        ));
        // Round trips of the key strings.
        assert_eq!(
            SignerKey::parse(&a.to_skey()).unwrap().verifier(),
            a.verifier()
        );
        assert_eq!(
            VerifierKey::parse(&a.verifier().to_vkey()).unwrap(),
            a.verifier()
        );
        assert!(!format!("{a:?}").contains(&a.to_skey()[20..]));
        assert!(SignerKey::generate("bad name").is_err());
        assert!(SignerKey::generate("a+b").is_err());
        assert!(SignerKey::generate("").is_err());
    }

    #[test]
    fn ambiguous_keys_are_refused() {
        // Two different keys can only share name and ID by a (rigged) collision;
        // build one by hand.
        let a = SignerKey::from_seed("n", &[1; 32]).unwrap();
        let b = SignerKey::from_seed("n", &[2; 32]).unwrap();
        let mut fake = b.verifier();
        fake.id = a.key_id();
        let mut n = Note::new("x\n").unwrap();
        n.sign(&a).unwrap();
        assert!(matches!(
            n.verify(&Verifiers::new([a.verifier(), fake])),
            Err(NoteError::AmbiguousKey { .. })
        ));
        // The same key twice is just one key.
        n.verify(&Verifiers::new([a.verifier(), a.verifier()]))
            .unwrap();
    }

    #[test]
    fn key_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.key");
        let key = SignerKey::generate("example.org/node").unwrap();
        key.write_new_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", key.to_skey().as_str()));
        let back = SignerKey::read_file(&path).unwrap();
        assert_eq!(back.verifier(), key.verifier());
        // Never overwrites.
        assert!(matches!(
            key.write_new_file(&path),
            Err(KeyError::Io { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                SignerKey::read_file(&path),
                Err(KeyError::Permissions { mode: 0o644, .. })
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
            SignerKey::read_file(&path).unwrap();
        }
        assert!(matches!(
            SignerKey::read_file(&dir.path().join("missing")),
            Err(KeyError::Io { .. })
        ));
    }

    #[test]
    fn texts_are_checked() {
        assert_eq!(Note::new("no newline"), Err(NoteError::MissingNewline));
        assert_eq!(
            Note::new("tab\there\n"),
            Err(NoteError::ControlCharacter { offset: 3, byte: 9 })
        );
        assert!(Note::new("ok\n\nwith blank line\n").is_ok());
        let key = SignerKey::from_seed("k", &[7; 32]).unwrap();
        assert!(key.sign("no newline").is_err());
    }
}
