use super::local::{DurableLocal, SYNCED};
use super::*;

/// What was synced under `root`, in order.
fn synced_under(root: &Path) -> Vec<PathBuf> {
    SYNCED
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.starts_with(root))
        .cloned()
        .collect()
}

fn canonical(dir: &tempfile::TempDir) -> PathBuf {
    std::fs::canonicalize(dir.path()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_syncs_the_file_then_every_directory_up_to_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = canonical(&dir);
    let store = DurableLocal::new(dir.path()).unwrap();
    let key = ObjPath::parse("segments/2026/12/06/12/a.parquet").unwrap();
    store
        .put(&key, PutPayload::from_static(b"abc"))
        .await
        .unwrap();
    let file = root.join("segments/2026/12/06/12/a.parquet");
    assert_eq!(std::fs::read(&file).unwrap(), b"abc");
    let want: Vec<PathBuf> = vec![
        file.clone(),
        root.join("segments/2026/12/06/12"),
        root.join("segments/2026/12/06"),
        root.join("segments/2026/12"),
        root.join("segments/2026"),
        root.join("segments"),
        root.clone(),
    ];
    assert_eq!(synced_under(&root), want);
    // A multipart upload is made durable when it completes.
    let key = ObjPath::parse("tile/1/000").unwrap();
    let mut up = store.put_multipart(&key).await.unwrap();
    up.put_part(PutPayload::from_static(b"xy")).await.unwrap();
    assert!(!synced_under(&root).contains(&root.join("tile/1/000")));
    up.complete().await.unwrap();
    let synced = synced_under(&root);
    assert!(synced.contains(&root.join("tile/1/000")), "{synced:?}");
    assert!(synced.ends_with(&[root.join("tile/1"), root.join("tile"), root.clone()]));
}

#[test]
fn without_a_runtime_the_local_store_works_inline() {
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    objects.put_blocking("checkpoint", b"note").unwrap();
    assert_eq!(
        objects.get_blocking("checkpoint").unwrap().as_deref(),
        Some(&b"note"[..])
    );
    assert!(synced_under(&canonical(&dir)).contains(&canonical(&dir).join("checkpoint")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_syncs_the_directory_and_removes_emptied_ones_but_never_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = canonical(&dir);
    let objects = Objects::local(dir.path()).unwrap();
    objects
        .put("segments/2026/12/06/12/a.parquet", Bytes::from_static(b"a"))
        .await
        .unwrap();
    objects
        .put("segments/2026/12/06/13/b.parquet", Bytes::from_static(b"b"))
        .await
        .unwrap();
    SYNCED.lock().unwrap().retain(|p| !p.starts_with(&root));
    objects
        .delete("segments/2026/12/06/12/a.parquet")
        .await
        .unwrap();
    assert!(!root.join("segments/2026/12/06/12").exists());
    assert!(root.join("segments/2026/12/06/13/b.parquet").exists());
    assert_eq!(synced_under(&root), vec![root.join("segments/2026/12/06")]);
    // Missing: no error.
    objects
        .delete("segments/2026/12/06/12/a.parquet")
        .await
        .unwrap();
    objects
        .delete("segments/2026/12/06/13/b.parquet")
        .await
        .unwrap();
    assert!(root.is_dir());
    assert!(std::fs::read_dir(&root).unwrap().next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_get_and_missing_objects() {
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    for (k, v) in [
        ("tile/1/001", &b"22"[..]),
        ("tile/1/000", b"1"),
        ("tile/0/x001/002.p/7", b"333"),
        ("checkpoint", b"c"),
        ("segments/a", b"s"),
    ] {
        objects.put(k, Bytes::copy_from_slice(v)).await.unwrap();
    }
    assert_eq!(
        objects.list("tile").await.unwrap(),
        vec![
            ("tile/0/x001/002.p/7".to_string(), 3),
            ("tile/1/000".to_string(), 1),
            ("tile/1/001".to_string(), 2),
        ]
    );
    assert!(objects.list("nothing/here").await.unwrap().is_empty());
    assert_eq!(objects.get("tile/1/002").await.unwrap(), None);
    // A "directory" that is a file: no such object either.
    assert_eq!(objects.get("tile/1/000/7").await.unwrap(), None);
    assert_eq!(
        objects.place("checkpoint"),
        dir.path().join("checkpoint").display().to_string()
    );
}

/// The ledger's tile store over the vault's objects: the same contract
/// `DirStore` had (round trip, replace, delete twice, no temporaries left,
/// nothing outside the root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_through_the_object_store() {
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    let o = objects.clone();
    // From a runtime worker: the bridge moves the worker's tasks away.
    let store: &dyn TileStore = &o;
    assert_eq!(store.get("tile/1/000").unwrap(), None);
    store.put("tile/1/x001/234.p/17", b"abc").unwrap();
    store.put("tile/1/x001/234.p/17", b"abcd").unwrap();
    assert_eq!(
        store.get("tile/1/x001/234.p/17").unwrap(),
        Some(b"abcd".to_vec())
    );
    store.delete("tile/1/x001/234.p/17").unwrap();
    store.delete("tile/1/x001/234.p/17").unwrap();
    assert_eq!(store.get("tile/1/x001/234.p/17").unwrap(), None);
    for bad in ["", "../x", "tile/../../x", "tile//0", "tile/./0"] {
        assert!(store.put(bad, b"x").is_err(), "{bad:?}");
        assert!(store.get(bad).is_err(), "{bad:?}");
    }
    assert!(!dir.path().parent().unwrap().join("x").exists());
    // From the blocking pool and from a thread of its own.
    let o = objects.clone();
    tokio::task::spawn_blocking(move || TileStore::put(&o, "tile/1/000", &[7u8; 32]))
        .await
        .unwrap()
        .unwrap();
    let o = objects.clone();
    let got = std::thread::spawn(move || TileStore::get(&o, "tile/1/000"))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(got, Some(vec![7u8; 32]));
    let leftovers: Vec<String> = objects
        .list("tile")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(leftovers, vec!["tile/1/000".to_string()]);
}

#[tokio::test]
async fn tiles_from_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    TileStore::put(&objects, "checkpoint", b"n").unwrap();
    assert_eq!(
        TileStore::get(&objects, "checkpoint").unwrap(),
        Some(b"n".to_vec())
    );
}
