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
    pub fn new(
        origin: impl Into<String>,
        size: u64,
        root: Hash,
    ) -> Result<Checkpoint, CheckpointError> {
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
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for ext in &self.extensions {
            s.push_str(ext);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint note text (the signed text, not the whole note).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingNewline)?;
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
        for (i, ext) in self.extensions.iter().enumerate() {
            if ext.is_empty() {
                return Err(CheckpointError::EmptyExtension(i + 1));
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
    pub fn open(
        msg: &[u8],
        origin: &str,
        known: &Verifiers,
    ) -> Result<SignedCheckpoint, CheckpointError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::SignerKey;

    fn root() -> Hash {
        crate::merkle::leaf_hash(b"x")
    }

    #[test]
    fn round_trip() {
        let mut cp = Checkpoint::new("example.org/node", 12345, root()).unwrap();
        assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
        cp.extensions.push("ext one".into());
        assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
        let empty = Checkpoint::new("o", 0, crate::merkle::empty_root()).unwrap();
        assert_eq!(
            empty.to_text(),
            "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        );
        assert_eq!(Checkpoint::parse(&empty.to_text()).unwrap(), empty);
    }

    #[test]
    fn malformed_bodies() {
        let r = B64.encode(root());
        let cases = [
            (format!("o\n1\n{r}"), CheckpointError::MissingNewline),
            ("o\n1\n".to_string(), CheckpointError::TooFewLines(2)),
            (format!("\n1\n{r}\n"), CheckpointError::EmptyOrigin),
            (
                format!("o\n01\n{r}\n"),
                CheckpointError::BadSize("01".into()),
            ),
            (
                format!("o\n+1\n{r}\n"),
                CheckpointError::BadSize("+1".into()),
            ),
            (
                format!("o\n-1\n{r}\n"),
                CheckpointError::BadSize("-1".into()),
            ),
            (format!("o\n\n{r}\n"), CheckpointError::BadSize("".into())),
            (
                format!("o\n18446744073709551616\n{r}\n"),
                CheckpointError::BadSize("18446744073709551616".into()),
            ),
            (
                format!("o\n1\n{}\n", &r[..43]),
                CheckpointError::BadRoot(r[..43].into()),
            ),
            (
                "o\n1\nAAAA\n".to_string(),
                CheckpointError::BadRoot("AAAA".into()),
            ),
            (format!("o\n1\n{r}\n\n"), CheckpointError::EmptyExtension(1)),
            (
                format!("o\n1\n{r}\na\tb\n"),
                CheckpointError::BadExtension("a\tb".into()),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Checkpoint::parse(&text), Err(want), "{text:?}");
        }
        // Non-canonical base64 (stray low bits in the last character) and
        // unpadded base64 are refused.
        for bad in [
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
        ] {
            assert_eq!(
                Checkpoint::parse(&format!("o\n1\n{bad}\n")),
                Err(CheckpointError::BadRoot(bad.into()))
            );
        }
        assert_eq!(
            Checkpoint::new("", 1, root()),
            Err(CheckpointError::EmptyOrigin)
        );
        assert!(Checkpoint::new("a\nb", 1, root()).is_err());
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_for("Acme Bank Ltd", "node-1"),
            "Acme-Bank-Ltd/node-1"
        );
        assert_eq!(origin_for("", ""), "pramaan/node");
        assert_eq!(origin_for("a+b/c", " web 01 "), "a-b-c/web-01");
        assert_eq!(origin_for("भारत", "n"), "भारत/n");
        for o in [
            origin_for("Acme Bank", "x y"),
            origin_for("\u{a0}x", "y\u{2028}"),
        ] {
            assert!(crate::note::is_valid_name(&o), "{o:?}");
        }
    }

    #[test]
    fn sign_and_open_with_a_cosigner() {
        let origin = origin_for("Acme", "node-1");
        let node = SignerKey::generate(&origin).unwrap();
        let auditor = SignerKey::generate("auditor.example").unwrap();
        let cp = Checkpoint::new(origin.clone(), 7, root()).unwrap();
        let mut note = cp.sign(&node).unwrap();
        note.sign(&auditor).unwrap();
        let msg = note.to_bytes();
        let known = Verifiers::new([node.verifier(), auditor.verifier()]);
        let opened = Checkpoint::open(&msg, &origin, &known).unwrap();
        assert_eq!(opened.checkpoint, cp);
        opened
            .verified
            .require([&node.verifier(), &auditor.verifier()])
            .unwrap();
        // Only the auditor's key known: still a valid checkpoint.
        Checkpoint::open(&msg, &origin, &Verifiers::new([auditor.verifier()])).unwrap();
        // Wrong origin.
        assert!(matches!(
            Checkpoint::open(&msg, "other", &known),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        // A signed note whose text is not a checkpoint.
        let mut n = Note::new("just text\n").unwrap();
        n.sign(&node).unwrap();
        assert!(matches!(
            Checkpoint::open(&n.to_bytes(), &origin, &known),
            Err(CheckpointError::TooFewLines(1))
        ));
        // Tampering with the size breaks the node's signature.
        let tampered = String::from_utf8(msg)
            .unwrap()
            .replacen("\n7\n", "\n8\n", 1);
        assert!(matches!(
            Checkpoint::open(tampered.as_bytes(), &origin, &known),
            Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
        ));
    }
}
