//! Invariants of the vault under random workloads: nothing acknowledged is
//! lost, nothing is stored twice, sequence numbers are dense, and a search
//! returns exactly the stored bytes, across seals and restarts.

use bytes::Bytes;
use pramaan_core::Transport;
use pramaan_vault::search::{self, hits};
use pramaan_vault::{Query, Vault, VaultOptions};
use proptest::prelude::*;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Step {
    Append(Vec<Vec<u8>>),
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 1..60).prop_map(Step::Append),
        1 => Just(Step::Restart),
    ]
}

async fn everything(vault: &Vault) -> Vec<(u64, Vec<u8>)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let v = vault.clone();
    let task = tokio::spawn(async move {
        search::search(
            &v,
            &Query {
                limit: 0,
                ..Default::default()
            },
            tx,
        )
        .await
    });
    let mut out = Vec::new();
    while let Some(b) = rx.recv().await {
        out.extend(hits(&b).into_iter().map(|h| (h.seq, h.raw_bytes())));
    }
    task.await.unwrap().unwrap();
    out
}

async fn stop(vault: Vault, workers: pramaan_vault::Workers) {
    vault.shutdown(workers).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn nothing_lost_nothing_duplicated(steps in proptest::collection::vec(step(), 1..12), seal_rows in 1u64..80) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let mut opts = VaultOptions::new(dir.path());
            opts.seal_max_rows = seal_rows;
            opts.wal_file_bytes = 2048;
            let (mut vault, mut workers) = Vault::open(opts.clone()).await.unwrap();
            let mut model: Vec<Vec<u8>> = Vec::new();
            for s in steps {
                match s {
                    Step::Append(lines) => {
                        let r = vault
                            .append(Transport::Tcp, Arc::from("10.0.0.1:514"), lines.iter().cloned().map(Bytes::from).collect())
                            .await
                            .unwrap();
                        assert_eq!(r.first, model.len() as u64);
                        assert_eq!(r.last, (model.len() + lines.len() - 1) as u64);
                        model.extend(lines);
                    }
                    Step::Restart => {
                        stop(vault, workers).await;
                        (vault, workers) = Vault::open(opts.clone()).await.unwrap();
                    }
                }
                let got = everything(&vault).await;
                let want: Vec<(u64, Vec<u8>)> = model.iter().cloned().enumerate().map(|(i, l)| (i as u64, l)).collect();
                assert_eq!(got, want);
            }
            stop(vault, workers).await;
        });
    }
}
