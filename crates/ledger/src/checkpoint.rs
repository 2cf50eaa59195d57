//! C2SP tlog-checkpoint: the signed tree head.
//!
//! ```text
//! <origin>
//! <tree size, decimal, no leading zeros>
//! <root hash, padded standard base64>
//! [extension lines, each non-empty]
//! ```
//!
//! carried as the text of a [signed note](crate::note) whose signature is by a
//! key named like the origin. pramaan's origin names the organisation and the
//! node: see [`origin_for`].

use crate::note::{self, Note, NoteError, SignerKey, VerifiedNote, Verifiers};
use crate::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// What is wrong with a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    #[error("checkpoint origin {0:?} has a control character")]
    BadOrigin(String),
    #[error("checkpoint has {0} line(s); it needs origin, size and root hash")]
    TooFewLines(usize),
    #[error("checkpoint text does not end with a newline")]
    MissingNewline,
    #[error("checkpoint tree size {0:?} is not a decimal number without leading zeros")]
    BadSize(String),
    #[error("checkpoint root hash {0:?} is not the base64 of 32 bytes")]
    BadRoot(String),
    #[error("checkpoint extension line {0} is empty")]
    EmptyExtension(usize),
    #[error("checkpoint extension line {0:?} has a control character")]
    BadExtension(String),
    #[error("checkpoint is for origin {found:?}, expected {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A tree head: origin, size and root, plus optional extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Opaque extension lines (not recommended by C2SP; pramaan writes none).
    pub extensions: Vec<String>,
}

/// The origin line (and signing key name) for a node of an organisation:
/// `<organisation>/<node>`, with white space, `+`, `/` and control characters
/// in either part replaced by `-` so it is also a valid key name. Empty parts
/// become `pramaan` and `node`.
pub fn origin_for(organisation: &str, node: &str) -> String {
    fn clean(s: &str, default: &str) -> String {
        let s = s.trim();
        if s.is_empty() {
            return default.to_owned();
        }
        s.chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() || c == '+' || c == '/' {
                    '-'
                } else {
                    c
                }
            })
            .collect()
    }
    format!("{}/{}", clean(organisation, "pramaan"), clean(node, "node"))
}

fn check_line(s: &str) -> bool {
    !s.chars().any(|c| c.is_control())
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Checkpoint, CheckpointError> {
        let origin = origin.into();
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if !check_line(&origin) {
            return Err(CheckpointError::BadOrigin(origin));
        }
        Ok(Checkpoint {
            origin,
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The note text: `origin\nsize\nbase64(root)\n` and extension lines.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root));
        for ext in &self.extensions {
            s.push_str(ext);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint note text (the signed text, not the whole note).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::MissingNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooFewLines(lines.len()));
        }
        let origin = lines[0];
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if !check_line(origin) {
            return Err(CheckpointError::BadOrigin(origin.to_owned()));
        }
        let size_s = lines[1];
        let size_ok = !size_s.is_empty()
            && size_s.bytes().all(|b| b.is_ascii_digit())
            && (size_s == "0" || !size_s.starts_with('0'));
        let size: u64 = size_ok
            .then(|| size_s.parse().ok())
            .flatten()
            .ok_or_else(|| CheckpointError::BadSize(size_s.to_owned()))?;
        let root_s = lines[2];
        let root: Hash = B64
            .decode(root_s)
            .ok()
            .and_then(|v| v.try_into().ok())
            .filter(|r: &Hash| B64.encode(r) == root_s)
            .ok_or_else(|| CheckpointError::BadRoot(root_s.to_owned()))?;
        let mut extensions = Vec::new();
        for (i, ext) in lines[3..].iter().enumerate() {
            if ext.is_empty() {
                return Err(CheckpointError::EmptyExtension(i + 1));
            }
            if !check_line(ext) {
                return Err(CheckpointError::BadExtension((*ext).to_owned()));
            }
            extensions.push((*ext).to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The signed note of this checkpoint, signed by `key` (whose name should
    /// be the origin). Co-signers add theirs with [`Note::sign`] or
    /// [`Note::add_signature`].
    pub fn sign(&self, key: &SignerKey) -> Result<Note, CheckpointError> {
        for ext in &self.extensions {
            if ext.is_empty() {
                return Err(CheckpointError::EmptyExtension(0));
            }
            if !check_line(ext) {
                return Err(CheckpointError::BadExtension(ext.clone()));
            }
        }
        let mut note = Note::new(self.to_text())?;
        note.sign(key)?;
        Ok(note)
    }

    /// Parses and verifies a signed checkpoint: the note must verify against
    /// `known` (at least one known signature, no bad ones), its text must be a
    /// checkpoint, and its origin must be `origin`.
    pub fn open(msg: &[u8], origin: &str, known: &Verifiers) -> Result<SignedCheckpoint, CheckpointError> {
        let (note, verified) = note::open(msg, known)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(SignedCheckpoint {
            checkpoint,
            note,
            verified,
        })
    }
}

/// A checkpoint whose note verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: Note,
    pub verified: VerifiedNote,
}
