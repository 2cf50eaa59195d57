//! The vault's ledger: every committed record is a leaf of one Merkle tree
//! (`pramaan-ledger`), whose tiles of level ≥ 1 are kept beside the segments
//! and whose signed checkpoint is published every `ledger.checkpoint_interval`.
//!
//! # Data flow
//!
//! ```text
//! writer ──(frames of each fsynced batch)──► ledger thread ──► Appender (compact edge, in memory)
//!                                             every interval, when the size changed:
//!                                             1. tiles of level ≥ 1 ──► tile/... (the vault's object store)
//!                                             2. signed checkpoint  ──► checkpoint (same store)
//!                                             3. (once per history_interval) ──► catalog history
//!                                             4. superseded partial tiles deleted
//! ```
//!
//! The writer hands over the buffer of frames it has just made durable (and
//! gets an empty one back), so its hot loop does no hashing: the ledger thread
//! hashes each frame's canonical encoding, `SHA-256(0x00 || canonical)`.
//! Level 0 is never stored; proofs recompute it from the records
//! ([`leaves::RecordSource`]).
//!
//! # What a crash leaves
//!
//! | crash between | left behind | at start |
//! |---|---|---|
//! | fsync and the ledger thread hashing the batch | nothing of the ledger | the records are in the WAL: `catch_up` hashes them |
//! | 1 and 2 (tiles written, checkpoint not) | tiles of a tree larger than the published checkpoint; the checkpoint's own partial tiles are still there (deletes wait for step 4) | `Appender::recover` at the checkpoint's size reads its partial tiles, checks the root, `catch_up`s; the next publish writes the same tiles again |
//! | inside 2 | the old or the new `checkpoint` object, never a mix (an object put is atomic; the local store writes a temporary file, syncs it, renames it, syncs the directory) | as above, at whichever size is there |
//! | 2 and 3 | a checkpoint not in the history | nothing to do: the history is a sample |
//! | 3 and 4 | partial tiles superseded by wider ones | deleted after the first publish at start |
//!
//! A stored checkpoint that does not verify with the node's key, covers more
//! records than are stored, or whose root differs from the tree rebuilt from
//! the records, stops the start with an error naming it: records it covers
//! were changed or lost, and that must be looked at by a person.
//!
//! # A missing checkpoint
//!
//! An empty vault gets a signed checkpoint of size 0 at its first open,
//! before the writer takes anything, so from then on every vault has a
//! checkpoint object or a kept one in the history. Records with neither is
//! what deleting the checkpoints leaves (after altering segments, say):
//! rebuilding and signing a tree over them would sign over the alteration.
//! So every open (`serve`, every command, read-only ones too) refuses,
//! naming the missing object and the records present
//! ([`LedgerFault::NoCheckpoint`]), unless the operator asks for it with
//! `pramaan ledger rebuild --reason "..."` ([`RebuildRequest`]): the rebuild
//! is kept in the catalog (`ledger_rebuilds`) before the tree is built,
//! recorded in the ledger as a `pramaan:ledger` record once the writer
//! runs, and shown in status for good.

pub mod history;
pub mod leaves;
pub mod proofs;
pub mod verify;

pub use history::{LedgerCatalog, LedgerRebuild, StoredCheckpoint};
pub use leaves::RecordSource;
pub use pramaan_ledger::checkpoint::origin_for;

use crate::{Vault, VaultError};
use pramaan_ledger::note::Note;
use pramaan_ledger::tiles::{full_tile_root, TileId, TILE_WIDTH};
use pramaan_ledger::{
    Appender, Checkpoint, Hash, HashReader, KeyError, LeafHashes, SignerKey, TileHashReader,
    TileStore, VerifierKey, Verifiers,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self as std_mpsc, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The object holding the latest signed checkpoint (beside `tile/`).
pub const CHECKPOINT_OBJECT: &str = crate::objects::CHECKPOINT;

/// The peer of the ledger's own records (a rebuild).
pub const LEDGER_PEER: &str = "pramaan:ledger";

/// An operator's request to rebuild the tree over stored records whose
/// checkpoints are missing (`pramaan ledger rebuild`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebuildRequest {
    /// Who asks (the operating-system user).
    pub by: String,
    /// Why, in the operator's words (required, kept for good).
    pub reason: String,
}

/// Batches of frames waiting for the ledger thread (the writer blocks when
/// the ledger falls this far behind).
const FEED_DEPTH: usize = 16;

/// Frame buffers larger than this are freed after use instead of recycled:
/// a recycled buffer keeps its capacity, so a few large batches (after a
/// stall) would otherwise keep `2 × FEED_DEPTH` buffers at their largest
/// size for good (the soak's resident memory crept up this way).
const SPARE_MAX_BYTES: usize = 1 << 20;

/// The ledger's settings, from the `[ledger]` and `[node]` configuration.
#[derive(Clone, Debug)]
pub struct LedgerOptions {
    /// The Ed25519 signing key (created at first start).
    pub key_file: PathBuf,
    /// The checkpoint origin and key name: [`origin_for`] the organisation and node.
    pub origin: String,
    pub checkpoint_interval: Duration,
    pub history_interval: Duration,
}

impl LedgerOptions {
    /// Defaults: the key in `<data_dir>/ledger/node.key`, origin `pramaan/node`.
    pub fn new(data_dir: &Path) -> LedgerOptions {
        LedgerOptions {
            key_file: data_dir.join("ledger").join("node.key"),
            origin: origin_for("pramaan", "node"),
            checkpoint_interval: Duration::from_secs(5),
            history_interval: Duration::from_secs(60),
        }
    }

    /// Where the public verifier key is written: beside the key, `.vkey`.
    pub fn vkey_file(&self) -> PathBuf {
        vkey_path(&self.key_file)
    }
}

/// `node.key` → `node.vkey`.
pub fn vkey_path(key_file: &Path) -> PathBuf {
    key_file.with_extension("vkey")
}

/// What can go wrong with the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerFault {
    #[error("ledger signing key: {0}")]
    Key(#[from] KeyError),
    #[error(
        "the ledger signing key {} is named {name:?}, but this node's checkpoints are for {origin:?} \
         (node.organisation or node.name changed?): restore the old names, or move the key away to start \
         a new log with a new key",
        path.display()
    )]
    KeyName {
        path: PathBuf,
        name: String,
        origin: String,
    },
    #[error("no node key to verify checkpoints with: neither {} nor {} can be read", key.display(), vkey.display())]
    NoVerifier { key: PathBuf, vkey: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the stored checkpoint ({place}) is not valid: {reason}")]
    BadCheckpoint { place: String, reason: String },
    #[error(
        "the checkpoint ({place}) says the tree of {size} records has root {expected}, but the tree rebuilt \
         from the stored records has root {computed}: records it covers were changed or lost"
    )]
    RootMismatch {
        place: String,
        size: u64,
        expected: String,
        computed: String,
    },
    #[error("the checkpoint ({place}) covers {size} records but only {committed} are stored: records were lost")]
    Lost {
        place: String,
        size: u64,
        committed: u64,
    },
    #[error(
        "no checkpoint: {place} is missing and the catalog keeps no checkpoint history, but {committed} \
         records are stored. Checkpoints are not rebuilt silently (someone who altered the records could \
         have deleted them to get a fresh signature): run `pramaan verify`, find out what happened, and \
         restore the checkpoint from a backup, or run `pramaan ledger rebuild --reason \"...\"`, which signs \
         a new tree over the records as they are now and records that it did, for good"
    )]
    NoCheckpoint { place: String, committed: u64 },
    #[error("{0}")]
    Refused(String),
    #[error("ledger: {0}")]
    Tree(#[from] pramaan_ledger::LedgerError),
}

fn b64(h: &Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// The ledger part of `pramaan status` and `GET /api/v1/status`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LedgerStatus {
    /// The checkpoint's origin line (organisation and node).
    pub origin: String,
    pub checkpoint_size: Option<u64>,
    /// Base64, as in the checkpoint.
    pub checkpoint_root: Option<String>,
    /// Committed records the latest checkpoint does not cover yet (they are
    /// covered by the next one, within `ledger.checkpoint_interval`).
    pub records_not_in_checkpoint: u64,
    pub public_key_file: String,
    pub errors_since_start: u64,
    /// Every rebuild of the tree over records whose checkpoints were missing
    /// (`pramaan ledger rebuild`), oldest first; kept for good.
    pub rebuilds: Vec<LedgerRebuild>,
    /// Why the checkpoint could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A published checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub size: u64,
    pub root: Hash,
    /// The signed note.
    pub note: Arc<str>,
}

impl Published {
    /// Parses a signed checkpoint (syntax only; signatures are not checked).
    pub fn parse(note: &[u8]) -> Result<Published, String> {
        let n = Note::parse(note).map_err(|e| e.to_string())?;
        let cp = Checkpoint::parse(n.text()).map_err(|e| e.to_string())?;
        let text = std::str::from_utf8(note).map_err(|e| e.to_string())?;
        Ok(Published {
            size: cp.size,
            root: cp.root,
            note: Arc::from(text),
        })
    }
}

/// The ledger's shared state: where its objects are, the latest checkpoint.
pub struct LedgerState {
    opts: LedgerOptions,
    /// The vault's object store: tiles and the checkpoint beside the segments.
    objects: crate::objects::Objects,
    tiles: Arc<dyn TileStore + Send + Sync>,
    read_only: bool,
    latest: RwLock<Option<Published>>,
    /// Held while a checkpoint object is written (publish, co-sign).
    publish: Mutex<()>,
    /// Asks the ledger thread to publish a checkpoint now.
    publish_requested: AtomicBool,
    /// Level-0 tiles kept by [`preserve_boundaries`]: index → width (cached
    /// by the vault that writes them; listed afresh by a read-only one).
    level0: Mutex<Option<Arc<BTreeMap<u64, u16>>>>,
    /// Errors since start (for status and metrics).
    pub errors: AtomicU64,
    /// The catalog's `ledger_rebuilds`, read at open and after a rebuild.
    rebuilds: RwLock<Vec<LedgerRebuild>>,
}

impl std::fmt::Debug for LedgerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerState")
            .field("origin", &self.opts.origin)
            .field("objects", &self.objects)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// The tile store of a vault whose objects are in the local directory
/// `objects_dir`: `tile/...` and `checkpoint` in the same store as the
/// segments ([`crate::objects`]), whose puts are durable when they return,
/// so a checkpoint is never published before the tiles it needs.
pub fn tile_store(objects_dir: &Path) -> Result<Arc<dyn TileStore + Send + Sync>, VaultError> {
    Ok(Arc::new(crate::objects::Objects::local(objects_dir)?))
}

impl LedgerState {
    /// The state for a vault opened with `opts` (`None` when the ledger is off).
    pub(crate) fn open(
        opts: &crate::VaultOptions,
        read_only: bool,
        catalog: &dyn crate::Catalog,
        objects: &crate::objects::Objects,
    ) -> Result<Option<Arc<LedgerState>>, VaultError> {
        let Some(lo) = &opts.ledger else {
            return Ok(None);
        };
        let rebuilds = catalog.rebuilds()?;
        Ok(Some(Arc::new(LedgerState {
            opts: lo.clone(),
            tiles: Arc::new(objects.clone()),
            objects: objects.clone(),
            read_only,
            latest: RwLock::new(None),
            publish: Mutex::new(()),
            publish_requested: AtomicBool::new(false),
            level0: Mutex::new(None),
            errors: AtomicU64::new(0),
            rebuilds: RwLock::new(rebuilds),
        })))
    }

    /// Refuses records without any checkpoint (see the module docs): for a
    /// read-only open, which does not recover the tree.
    pub(crate) fn check_present(
        &self,
        catalog: &dyn crate::Catalog,
        committed: u64,
    ) -> Result<(), VaultError> {
        if committed == 0
            || self
                .tiles
                .get(CHECKPOINT_OBJECT)
                .map_err(LedgerFault::from)?
                .is_some()
        {
            return Ok(());
        }
        if catalog.last_checkpoint()?.is_some() {
            return Ok(());
        }
        Err(LedgerFault::NoCheckpoint {
            place: self.checkpoint_place(),
            committed,
        }
        .into())
    }

    /// Every rebuild of the tree over records whose checkpoints were missing.
    pub fn rebuilds(&self) -> Vec<LedgerRebuild> {
        self.rebuilds.read().expect("rebuilds lock").clone()
    }

    pub fn options(&self) -> &LedgerOptions {
        &self.opts
    }

    pub fn origin(&self) -> &str {
        &self.opts.origin
    }

    /// The store of tiles and checkpoints.
    pub fn tiles(&self) -> Arc<dyn TileStore + Send + Sync> {
        self.tiles.clone()
    }

    /// Where the checkpoint object is, for messages.
    pub fn checkpoint_place(&self) -> String {
        self.objects.place(CHECKPOINT_OBJECT)
    }

    /// The latest published checkpoint: kept in memory by the vault that
    /// publishes, read from the store by a read-only one (the server may be
    /// publishing beside it).
    pub fn latest(&self) -> Result<Option<Published>, LedgerFault> {
        if self.read_only {
            return read_published(&*self.tiles, &self.checkpoint_place());
        }
        Ok(self.latest.read().expect("latest lock").clone())
    }

    /// What `status` shows about the ledger: the latest checkpoint, how far it
    /// trails the committed records, the public key's file and errors since start.
    pub fn status(&self, committed: u64) -> LedgerStatus {
        let (checkpoint, problem) = match self.latest() {
            Ok(p) => (p, None),
            Err(e) => (None, Some(e.to_string())),
        };
        LedgerStatus {
            origin: self.opts.origin.clone(),
            checkpoint_size: checkpoint.as_ref().map(|c| c.size),
            checkpoint_root: checkpoint.as_ref().map(|c| b64(&c.root)),
            records_not_in_checkpoint: committed
                .saturating_sub(checkpoint.as_ref().map_or(0, |c| c.size)),
            public_key_file: self.opts.vkey_file().display().to_string(),
            errors_since_start: self.errors.load(Ordering::Relaxed),
            rebuilds: self.rebuilds(),
            problem,
        }
    }

    /// The level-0 tiles kept at the edges of deleted ranges: index → width.
    pub fn preserved_level0(&self) -> Arc<BTreeMap<u64, u16>> {
        let mut cached = self.level0.lock().expect("level0 lock");
        if !self.read_only {
            if let Some(m) = cached.as_ref() {
                return m.clone();
            }
        }
        let listed = Arc::new(list_level0(&self.objects));
        *cached = Some(listed.clone());
        listed
    }

    /// A [`RecordSource`] over `snap` that knows the preserved level-0 tiles.
    pub fn record_source(
        &self,
        snap: crate::Snapshot,
        store: Arc<dyn object_store::ObjectStore>,
        handle: tokio::runtime::Handle,
    ) -> RecordSource {
        RecordSource::new(
            snap,
            store,
            self.tiles.clone(),
            handle,
            self.preserved_level0(),
        )
    }

    fn set_latest(&self, p: Published) {
        *self.latest.write().expect("latest lock") = Some(p);
    }

    /// The node's public key: from the signing key when it is readable,
    /// else from the `.vkey` file beside it.
    pub fn node_verifier(&self) -> Result<VerifierKey, LedgerFault> {
        node_verifier(&self.opts.key_file)
    }
}

/// The node's public key for `key_file`: derived from the signing key when
/// this process may read it, else read from the `.vkey` file beside it.
pub fn node_verifier(key_file: &Path) -> Result<VerifierKey, LedgerFault> {
    if let Ok(k) = SignerKey::read_file(key_file) {
        return Ok(k.verifier());
    }
    let vkey = vkey_path(key_file);
    match std::fs::read_to_string(&vkey) {
        Ok(text) => Ok(VerifierKey::parse(text.trim())?),
        Err(_) => Err(LedgerFault::NoVerifier {
            key: key_file.to_owned(),
            vkey,
        }),
    }
}

/// Why a checkpoint whose first line (its origin) is not `origin` is not
/// this node's; `None` when it names this node.
fn foreign(note: &[u8], origin: &str) -> Option<String> {
    let theirs = note.split(|&b| b == b'\n').next().unwrap_or_default();
    let theirs = String::from_utf8_lossy(theirs);
    (!theirs.is_empty() && theirs != origin).then(|| {
        format!(
            "it is the checkpoint of `{}`, not of this node (`{origin}`): another node writes to \
             this store, or this node's name changed; give each node its own storage.url prefix \
             and catalog",
            theirs.chars().take(200).collect::<String>()
        )
    })
}

/// Refuses a store whose checkpoint is another node's, before anything is
/// recovered: recovery would delete that node's segments, which this
/// node's catalog does not name, as orphans. A checkpoint of the origin
/// this node's own key names is this node's, renamed: the ledger says so
/// when it opens.
pub async fn refuse_foreign_store(
    objects: &crate::objects::Objects,
    lo: &LedgerOptions,
) -> Result<(), LedgerFault> {
    let place = objects.place(CHECKPOINT_OBJECT);
    // A missing or unreadable checkpoint is judged where the ledger opens.
    let Ok(Some(note)) = objects.get(CHECKPOINT_OBJECT).await else {
        return Ok(());
    };
    let Some(reason) = foreign(&note, &lo.origin) else {
        return Ok(());
    };
    let ours = node_verifier(&lo.key_file).is_ok_and(|k| foreign(&note, k.name()).is_none());
    if ours {
        return Ok(());
    }
    Err(LedgerFault::BadCheckpoint { place, reason })
}

/// Reads the `checkpoint` object (syntax only).
fn read_published(tiles: &dyn TileStore, place: &str) -> Result<Option<Published>, LedgerFault> {
    let Some(bytes) = tiles.get(CHECKPOINT_OBJECT)? else {
        return Ok(None);
    };
    Published::parse(&bytes)
        .map(Some)
        .map_err(|reason| LedgerFault::BadCheckpoint {
            place: place.to_owned(),
            reason,
        })
}

/// Writes `data` to `path` through a synced temporary file and a rename.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), LedgerFault> {
    use std::io::Write;
    let io = |source| LedgerFault::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(&tmp).map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Loads the node's signing key, creating it (mode 0600) and its `.vkey`
/// beside it at first start. Refuses a key that group or others can read,
/// and one whose name is not this node's origin.
pub fn load_or_create_key(opts: &LedgerOptions) -> Result<SignerKey, LedgerFault> {
    let path = &opts.key_file;
    let exists = std::fs::symlink_metadata(path).is_ok();
    let key = if exists {
        SignerKey::read_file(path)?
    } else {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|source| LedgerFault::Io {
                    path: dir.to_owned(),
                    source,
                })?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
                }
            }
        }
        let key = SignerKey::generate(&opts.origin)?;
        key.write_new_file(path)?;
        if let Some(dir) = path.parent() {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        key
    };
    if key.name() != opts.origin {
        return Err(LedgerFault::KeyName {
            path: path.clone(),
            name: key.name().to_owned(),
            origin: opts.origin.clone(),
        });
    }
    let vkey = key.verifier().to_vkey();
    let vpath = opts.vkey_file();
    let current = std::fs::read_to_string(&vpath).unwrap_or_default();
    if current.trim() != vkey {
        write_atomic(&vpath, format!("{vkey}\n").as_bytes(), 0o644)?;
    }
    if !exists {
        tracing::info!(
            key = %path.display(),
            verifier_key = %vpath.display(),
            vkey = %vkey,
            "created this node's checkpoint signing key; keep it secret and backed up, and give auditors \
             the public verifier key"
        );
    }
    Ok(key)
}

/// The writer's side of the channel to the ledger thread.
pub(crate) struct Feed {
    tx: std_mpsc::SyncSender<Batch>,
    spare: std_mpsc::Receiver<Vec<u8>>,
}

struct Batch {
    first_seq: u64,
    frames: Vec<u8>,
}

impl Feed {
    /// Hands the frames of a batch that is now durable to the ledger thread,
    /// leaving an empty buffer (a recycled one when available) in `frames`.
    pub(crate) fn committed(&self, first_seq: u64, frames: &mut Vec<u8>) {
        let spare = match self.spare.try_recv() {
            Ok(mut v) => {
                v.clear();
                v
            }
            // Sized for a batch like this one; it grows if the next is larger.
            Err(_) => Vec::with_capacity(frames.len().min(SPARE_MAX_BYTES)),
        };
        let full = std::mem::replace(frames, spare);
        let _ = self.tx.send(Batch {
            first_seq,
            frames: full,
        });
    }
}

/// Recovers the tree at open (see the module docs) and starts the ledger
/// thread. `committed` is the number of records in the vault.
pub(crate) async fn start(
    state: Arc<LedgerState>,
    vault: Vault,
    committed: u64,
) -> Result<(Feed, JoinHandle<()>), VaultError> {
    let handle = tokio::runtime::Handle::current();
    let (st, v, h) = (state.clone(), vault.clone(), handle.clone());
    let recovered = tokio::task::spawn_blocking(move || recover(&st, &v, &h, committed))
        .await
        .map_err(|e| {
            VaultError::Ledger(LedgerFault::Refused(format!(
                "ledger recovery panicked: {e}"
            )))
        })??;
    let (tx, rx) = std_mpsc::sync_channel::<Batch>(FEED_DEPTH);
    let (spare_tx, spare) = std_mpsc::sync_channel::<Vec<u8>>(FEED_DEPTH);
    let worker = Worker {
        state,
        vault,
        app: recovered.app,
        key: recovered.key,
        published: recovered.published,
        last_history: None,
        broken: false,
        cleaned: false,
        hashes: Vec::new(),
    };
    let thread = std::thread::Builder::new()
        .name("pramaan-ledger".into())
        .spawn(move || worker.run(rx, spare_tx))
        .map_err(VaultError::io(Path::new("thread")))?;
    Ok((Feed { tx, spare }, thread))
}

struct Recovered {
    app: Appender,
    key: SignerKey,
    published: Option<Published>,
}

fn recover(
    state: &LedgerState,
    vault: &Vault,
    handle: &tokio::runtime::Handle,
    committed: u64,
) -> Result<Recovered, VaultError> {
    let key = load_or_create_key(&state.opts)?;
    let place = state.checkpoint_place();
    let mut stored = latest_checkpoint(state, vault, &key)?;
    let rebuild = vault.options().ledger_rebuild.as_ref();
    if let (Some(_), Some((_, place))) = (rebuild, &stored) {
        return Err(LedgerFault::Refused(format!(
            "not rebuilding the ledger: there is a checkpoint ({place}); `pramaan ledger rebuild` only \
             replaces missing checkpoints"
        ))
        .into());
    }
    let snap = handle.block_on(vault.snapshot());
    let leaves = state.record_source(snap, vault.store(), handle.clone());
    let started = Instant::now();
    let mut rebuilt = false;
    let mut app = match (&stored, rebuild) {
        (None, _) if committed == 0 => {
            if rebuild.is_some() {
                return Err(LedgerFault::Refused(
                    "not rebuilding the ledger: the vault holds no records".into(),
                )
                .into());
            }
            // A new vault: its checkpoint of size 0, signed before the writer
            // takes anything, so that a vault with records and no checkpoint
            // is never a crash before the first publish.
            let app = Appender::new();
            let p = sign_and_put(state, &key, 0, app.root())?;
            stored = Some((p, place.clone()));
            app
        }
        (None, None) => {
            return Err(LedgerFault::NoCheckpoint {
                place: place.clone(),
                committed,
            }
            .into())
        }
        (None, Some(req)) => {
            begin_rebuild(state, vault, req, committed)?;
            rebuilt = true;
            Appender::new()
        }
        (Some((cp, place)), _) => tree_at_checkpoint(state, &leaves, cp, place, committed)?,
    };
    app.catch_up(&leaves, committed)
        .map_err(LedgerFault::from)?;
    if rebuilt {
        // Published at once, with its place in the history, so that the
        // next open finds it whatever happens to this process.
        let p = sign_and_put(state, &key, app.size(), app.root())?;
        vault.catalog().add_checkpoint(&StoredCheckpoint {
            size: p.size,
            note: p.note.to_string(),
            published_at_ns: pramaan_core::time::now_ns(),
        })?;
        stored = Some((p, place.clone()));
    }
    if committed > 0 {
        tracing::info!(
            size = app.size(),
            from_checkpoint = stored.as_ref().map(|(p, _)| p.size),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "ledger recovered"
        );
    }
    let published = stored.map(|(p, _)| p);
    if let Some(p) = &published {
        state.set_latest(p.clone());
    }
    Ok(Recovered {
        app,
        key,
        published,
    })
}

/// The latest signed checkpoint and where it was found: the object, else
/// the newest in the history (the object is written first, so it is never
/// older; when it is, the history wins, said in the log).
fn latest_checkpoint(
    state: &LedgerState,
    vault: &Vault,
    key: &SignerKey,
) -> Result<Option<(Published, String)>, VaultError> {
    let known = Verifiers::new([key.verifier()]);
    let place = state.checkpoint_place();
    let mut stored: Option<(Published, String)> = None;
    if let Some(bytes) = state
        .tiles
        .get(CHECKPOINT_OBJECT)
        .map_err(LedgerFault::from)?
    {
        stored = Some((
            open_checkpoint(&bytes, &state.opts.origin, &known, &place)?,
            place,
        ));
    }
    if let Some(h) = vault.catalog().last_checkpoint()? {
        if stored.as_ref().is_none_or(|(p, _)| p.size < h.size) {
            let place = format!("checkpoint history, size {}", h.size);
            if stored.is_some() {
                tracing::warn!(object = %state.checkpoint_place(), "the checkpoint object is older than the history; recovering from the history");
            }
            stored = Some((
                open_checkpoint(h.note.as_bytes(), &state.opts.origin, &known, &place)?,
                place,
            ));
        }
    }
    Ok(stored)
}

/// Records without a checkpoint, and `pramaan ledger rebuild` asked: the
/// rebuild is kept in the catalog before anything is built (a crash after
/// this leaves the row, and the record is appended at the next open).
fn begin_rebuild(
    state: &LedgerState,
    vault: &Vault,
    req: &RebuildRequest,
    committed: u64,
) -> Result<(), VaultError> {
    let at_ns = pramaan_core::time::now_ns();
    vault.catalog().add_rebuild(&LedgerRebuild {
        id: 0,
        at_ns,
        at: pramaan_core::time::rfc3339_ist(at_ns),
        by: req.by.clone(),
        reason: req.reason.clone(),
        records: committed,
        seq: None,
    })?;
    *state.rebuilds.write().expect("rebuilds lock") = vault.catalog().rebuilds()?;
    tracing::warn!(
        records = committed,
        by = %req.by,
        reason = %req.reason,
        "rebuilding the ledger over the stored records as they are now (its checkpoints are missing)"
    );
    Ok(())
}

/// The tree at the checkpoint's size, from the tiles and the records; its
/// root must be the checkpoint's, and the vault must hold every record the
/// checkpoint covers.
fn tree_at_checkpoint(
    state: &LedgerState,
    leaves: &RecordSource,
    cp: &Published,
    place: &str,
    committed: u64,
) -> Result<Appender, VaultError> {
    if cp.size > committed {
        return Err(LedgerFault::Lost {
            place: place.to_owned(),
            size: cp.size,
            committed,
        }
        .into());
    }
    let app = Appender::recover(&*state.tiles, leaves, cp.size).map_err(|e| {
        LedgerFault::BadCheckpoint {
            place: place.to_owned(),
            reason: format!(
                "the tree at its size cannot be rebuilt from the tiles and records: {e}"
            ),
        }
    })?;
    if app.root() != cp.root {
        return Err(LedgerFault::RootMismatch {
            place: place.to_owned(),
            size: cp.size,
            expected: b64(&cp.root),
            computed: b64(&app.root()),
        }
        .into());
    }
    Ok(app)
}

/// Signs the checkpoint of the tree `(size, root)` and writes the
/// `checkpoint` object (before the ledger thread runs).
fn sign_and_put(
    state: &LedgerState,
    key: &SignerKey,
    size: u64,
    root: Hash,
) -> Result<Published, LedgerFault> {
    let note = Checkpoint::new(state.opts.origin.clone(), size, root)
        .and_then(|cp| cp.sign(key))
        .map_err(|e| LedgerFault::Refused(format!("signing the checkpoint of size {size}: {e}")))?
        .to_string();
    let _guard = state.publish.lock().expect("publish lock");
    state.tiles.put(CHECKPOINT_OBJECT, note.as_bytes())?;
    Ok(Published {
        size,
        root,
        note: Arc::from(note.as_str()),
    })
}

/// Appends a `pramaan:ledger` record for every rebuild that has none yet
/// (the one this open did, or one a crash interrupted), and notes its
/// sequence number. Called by [`Vault::open`] once the writer runs.
pub(crate) async fn record_rebuilds(state: &LedgerState, vault: &Vault) -> Result<(), VaultError> {
    let pending: Vec<LedgerRebuild> = state
        .rebuilds()
        .into_iter()
        .filter(|r| r.seq.is_none())
        .collect();
    for r in pending {
        let body = serde_json::json!({
            "action": "ledger.rebuilt",
            "by": r.by,
            "reason": r.reason,
            "records": r.records,
            "at": r.at,
            "note": "the checkpoints were missing; the tree was rebuilt over the records as they were \
                     and signed anew by `pramaan ledger rebuild`",
        });
        let range = vault
            .append(
                pramaan_core::Transport::Internal,
                Arc::from(LEDGER_PEER),
                vec![bytes::Bytes::from(body.to_string())],
            )
            .await
            .map_err(|e| {
                LedgerFault::Refused(format!(
                    "appending the record of ledger rebuild {}: {e}",
                    r.id
                ))
            })?;
        vault.catalog().set_rebuild_seq(r.id, range.first)?;
    }
    *state.rebuilds.write().expect("rebuilds lock") = vault.catalog().rebuilds()?;
    Ok(())
}

fn open_checkpoint(
    bytes: &[u8],
    origin: &str,
    known: &Verifiers,
    place: &str,
) -> Result<Published, LedgerFault> {
    let opened =
        Checkpoint::open(bytes, origin, known).map_err(|e| LedgerFault::BadCheckpoint {
            place: place.to_owned(),
            reason: foreign(bytes, origin)
                .map(|f| format!("{f} ({e})"))
                .unwrap_or_else(|| format!("{e} (checked with the node key)")),
        })?;
    Ok(Published {
        size: opened.checkpoint.size,
        root: opened.checkpoint.root,
        note: Arc::from(String::from_utf8_lossy(bytes).as_ref()),
    })
}

struct Worker {
    state: Arc<LedgerState>,
    vault: Vault,
    app: Appender,
    key: SignerKey,
    published: Option<Published>,
    last_history: Option<Instant>,
    /// A batch arrived out of sequence: stop publishing rather than sign a wrong tree.
    broken: bool,
    /// Partial tiles left over from before the start have been deleted.
    cleaned: bool,
    /// The leaf hashes of the batch being absorbed (reused).
    hashes: Vec<Hash>,
}

impl Worker {
    fn run(mut self, rx: std_mpsc::Receiver<Batch>, spare: std_mpsc::SyncSender<Vec<u8>>) {
        let interval = self.state.opts.checkpoint_interval;
        // Publish at once when the recovered tree is not the published one.
        let mut next = Instant::now();
        loop {
            // Wake up now and then to see whether a checkpoint was asked for.
            let wait = next
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50));
            if self.state.publish_requested.swap(false, Ordering::AcqRel) {
                next = Instant::now();
            }
            match rx.recv_timeout(wait) {
                Ok(batch) => {
                    self.absorb(&batch);
                    if batch.frames.capacity() <= SPARE_MAX_BYTES {
                        let _ = spare.try_send(batch.frames);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // Clean shutdown: the writer has stopped; publish what it wrote.
                    self.publish(true);
                    return;
                }
            }
            if Instant::now() >= next {
                if self.published.as_ref().map(|p| p.size) != Some(self.app.size())
                    || self.app.needs_flush()
                {
                    self.publish(false);
                }
                next = Instant::now() + interval;
                if !self.cleaned
                    && !self.app.needs_flush()
                    && self.published.as_ref().map(|p| p.size) == Some(self.app.size())
                {
                    // The store now holds exactly the published tree's tiles
                    // and whatever an interrupted flush left before the start.
                    self.cleaned = true;
                    remove_stale_partials(&self.state.objects, &self.app.current_partials());
                }
            }
        }
    }

    fn absorb(&mut self, batch: &Batch) {
        if self.broken {
            return;
        }
        if batch.first_seq != self.app.size() {
            self.broken = true;
            self.state.errors.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("pramaan_ledger_errors_total").increment(1);
            tracing::error!(
                expected = self.app.size(),
                got = batch.first_seq,
                "the ledger received records out of sequence; no more checkpoints are published until restart"
            );
            return;
        }
        let data = &batch.frames;
        let mut off = 0usize;
        let bodies = std::iter::from_fn(|| {
            if off + 8 > data.len() {
                return None;
            }
            let len = u32::from_be_bytes(data[off..off + 4].try_into().expect("4 bytes")) as usize;
            let body = &data[off + 8..off + 8 + len];
            off += 8 + len;
            Some(body)
        });
        // Leaves and interior nodes several at a time: SHA-256 is nearly all
        // of this thread's work, and interleaved it runs faster (sha_lanes).
        self.hashes.clear();
        pramaan_ledger::merkle::leaf_hashes(bodies, &mut self.hashes);
        self.app.append_many(&self.hashes);
    }

    /// Tiles, then the checkpoint, then the history row, then the deletes.
    fn publish(&mut self, at_shutdown: bool) {
        if self.broken {
            return;
        }
        let started = Instant::now();
        let tiles = self.state.tiles.clone();
        let _guard = self.state.publish.lock().expect("publish lock");
        let changed = self.published.as_ref().map(|p| p.size) != Some(self.app.size());
        // 1. Tiles first: a checkpoint is never published before its tiles.
        if self.app.needs_flush() {
            if let Err(e) = self.app.write_tiles(&*tiles) {
                self.fail("writing ledger tiles", &e);
                return;
            }
        }
        if changed {
            // 2. The signed checkpoint.
            let (size, root) = (self.app.size(), self.app.root());
            let note = match Checkpoint::new(self.state.opts.origin.clone(), size, root)
                .and_then(|cp| cp.sign(&self.key))
            {
                Ok(n) => n.to_string(),
                Err(e) => {
                    self.fail("signing a checkpoint", &e);
                    return;
                }
            };
            if let Err(e) = tiles.put(CHECKPOINT_OBJECT, note.as_bytes()) {
                self.fail("writing the checkpoint", &e);
                return;
            }
            let p = Published {
                size,
                root,
                note: Arc::from(note.as_str()),
            };
            self.state.set_latest(p.clone());
            self.published = Some(p);
            metrics::counter!("pramaan_checkpoints_published_total").increment(1);
            metrics::gauge!("pramaan_ledger_size").set(size as f64);
        }
        // 3. The history: one row per interval, and the last one at shutdown.
        let due = self
            .last_history
            .is_none_or(|t| t.elapsed() >= self.state.opts.history_interval);
        if let Some(p) = self.state.latest().ok().flatten() {
            if (changed && due) || at_shutdown {
                let row = StoredCheckpoint {
                    size: p.size,
                    note: p.note.to_string(),
                    published_at_ns: pramaan_core::time::now_ns(),
                };
                match self.vault.catalog().add_checkpoint(&row) {
                    Ok(()) => self.last_history = Some(Instant::now()),
                    Err(e) => self.fail("keeping a checkpoint in the history", &e),
                }
            }
        }
        drop(_guard);
        // 4. Partial tiles that the published tiles replace.
        if let Err(e) = self.app.delete_superseded(&*tiles) {
            tracing::warn!(error = %e, "could not delete superseded partial tiles; will retry");
        }
        metrics::histogram!("pramaan_checkpoint_publish_seconds")
            .record(started.elapsed().as_secs_f64());
    }

    fn fail(&self, what: &str, e: &dyn std::fmt::Display) {
        self.state.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("pramaan_ledger_errors_total").increment(1);
        tracing::error!(error = %e, "{what} failed; retrying at the next checkpoint");
    }
}

/// Every object under `tile/` in the store, as `(key, size)`, sorted by key.
pub fn list_tile_objects(
    objects: &crate::objects::Objects,
) -> Result<Vec<(String, u64)>, object_store::Error> {
    objects.list_blocking(crate::objects::TILES)
}

/// The level-0 tiles in the store (kept by [`preserve_boundaries`]):
/// index → width, the widest when there are several.
fn list_level0(objects: &crate::objects::Objects) -> BTreeMap<u64, u16> {
    let mut out = BTreeMap::new();
    let objects = match objects.list_blocking(&format!("{}/0", crate::objects::TILES)) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "could not list the kept level-0 tiles");
            return out;
        }
    };
    for (path, _) in objects {
        if let Ok(t) = TileId::parse(&path) {
            if t.level == 0 {
                let w = out.entry(t.index).or_insert(0);
                *w = (*w).max(t.width);
            }
        }
    }
    out
}

/// Deletes partial tiles of level ≥ 1 other than `current` (left by a flush
/// that a crash interrupted) and the temporary files that releases before
/// the object store left after an interrupted tile write
/// (`.<name>.tmp-<pid>-<n>`).
fn remove_stale_partials(objects: &crate::objects::Objects, current: &[TileId]) {
    let Ok(listed) = list_tile_objects(objects) else {
        return;
    };
    for (path, _) in listed {
        let stale = match TileId::parse(&path) {
            Ok(t) => t.level >= 1 && !t.is_full() && !current.contains(&t),
            Err(_) => path
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with('.') && n.contains(".tmp-")),
        };
        if stale {
            match objects.delete_blocking(&path) {
                Ok(()) => tracing::info!(tile = %path, "removed a leftover partial tile"),
                Err(e) => {
                    tracing::warn!(tile = %path, error = %e, "could not remove a leftover partial tile")
                }
            }
        }
    }
}

/// Before retention deletes the segment holding records `seq_min..=seq_max`:
/// keeps the level-0 tiles (leaf hashes) that straddle the range's edges, so
/// that proofs of the records kept on either side, and the recovery of the
/// tree's right edge, still work once the records are gone. Tiles wholly
/// inside the range are not needed: their level-1 entries (which are kept)
/// stand for them.
///
/// A tile that is complete is kept whole (`tile/0/N`), after checking its
/// root against the stored level-1 tile. A tile still growing at the right
/// edge of the tree (a quiet node, or a very short window) is kept as wide as
/// the records now allow (`tile/0/N.p/W`), after checking the latest
/// checkpoint's root; a later call widens it. First waits (up to 30 s) for a
/// checkpoint that covers the whole range, asking the ledger thread to
/// publish one at once, so the level-1 entries of the tiles inside the
/// range are stored.
///
/// Idempotent. Call it while the segment is still in the catalog and in what
/// searches see (before `retire_segment` and `forget_segments`). Returns the
/// tiles kept.
pub async fn preserve_boundaries(
    vault: &Vault,
    seq_min: u64,
    seq_max: u64,
) -> Result<Vec<String>, VaultError> {
    let Some(state) = vault.ledger().cloned() else {
        return Ok(Vec::new());
    };
    let refuse = |m: String| VaultError::Ledger(LedgerFault::Refused(m));
    if seq_min > seq_max {
        return Err(refuse(format!("the range {seq_min}..={seq_max} is empty")));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let size = state.latest()?.map_or(0, |p| p.size);
        if size > seq_max {
            break;
        }
        if state.read_only || vault.committed() <= seq_max || Instant::now() > deadline {
            return Err(refuse(format!(
                "records up to {seq_max} are not covered by a checkpoint yet (the latest is of size {size}); \
                 not deleting them"
            )));
        }
        state.publish_requested.store(true, Ordering::Release);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let snap = vault.snapshot().await;
    // The hashes kept for the edges come from the store's own bytes.
    let store = vault.objects().origin();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let src = state.record_source(snap, store, handle);
        let kept = preserve_blocking(&state, &src, seq_min, seq_max);
        // Whatever happened, list the kept tiles afresh next time.
        *state.level0.lock().expect("level0 lock") = None;
        kept
    })
    .await
    .map_err(|e| refuse(format!("preserving level-0 tiles panicked: {e}")))?
}

fn preserve_blocking(
    state: &LedgerState,
    src: &RecordSource,
    seq_min: u64,
    seq_max: u64,
) -> Result<Vec<String>, VaultError> {
    let refuse = |m: String| VaultError::Ledger(LedgerFault::Refused(m));
    let width = TILE_WIDTH as u64;
    let mut indexes = Vec::new();
    if !seq_min.is_multiple_of(width) {
        indexes.push(seq_min / width);
    }
    if !(seq_max + 1).is_multiple_of(width) && !indexes.contains(&(seq_max / width)) {
        indexes.push(seq_max / width);
    }
    let latest = state
        .latest()?
        .ok_or_else(|| refuse("no checkpoint has been published yet".into()))?;
    let reader = TileHashReader::new(&*state.tiles, src, latest.size);
    let mut out = Vec::new();
    for index in indexes {
        let lo = index * width;
        let hi = ((index + 1) * width).min(src.upto());
        let leaves = src.leaf_hashes(lo, hi).map_err(LedgerFault::from)?;
        let tile = TileId::new(0, index, leaves.len() as u16).map_err(LedgerFault::from)?;
        if tile.is_full() && hi <= latest.size {
            let root = full_tile_root(&leaves).map_err(LedgerFault::from)?;
            let expected = reader.node(8, index).map_err(LedgerFault::from)?;
            if root != expected {
                return Err(refuse(format!(
                    "records {lo}..{hi} do not match the ledger (their root is {}, the level-1 tile says {}); \
                     not keeping their hashes: run `pramaan verify`",
                    b64(&root),
                    b64(&expected)
                )));
            }
        } else {
            let root = reader.tree_root(latest.size).map_err(LedgerFault::from)?;
            if root != latest.root {
                return Err(refuse(format!(
                    "the records do not give the latest checkpoint's root (size {}); not keeping their \
                     hashes: run `pramaan verify`",
                    latest.size
                )));
            }
        }
        let path = tile.path();
        let bytes = pramaan_ledger::tiles::tile_bytes(&leaves);
        if state
            .tiles
            .get(&path)
            .map_err(LedgerFault::from)?
            .as_deref()
            != Some(&bytes[..])
        {
            state.tiles.put(&path, &bytes).map_err(LedgerFault::from)?;
        }
        // Narrower copies of the same tile are prefixes of this one.
        if let Some(&old) = state.preserved_level0().get(&index) {
            if old != tile.width {
                if let Ok(t) = TileId::new(0, index, old) {
                    let _ = state.tiles.delete(&t.path());
                }
            }
        }
        out.push(path);
    }
    Ok(out)
}
