//! Exporting an order's evidence bundle: a file, not JSON, so
//! [`ExportOrder`] answers a [`Bundle`] (an open file) through its own
//! `run` with the same checks as an [`crate::Operation`]. The API streams
//! it as `application/zip`; the CLI copies it where the user asked.

use super::store_error;
use crate::{App, AppError, Caller};
use pramaan_core::time::now_ns;
use pramaan_orders::bundle::SystemInfo;
use pramaan_orders::export::{self, ExportError, Exported};
use pramaan_orders::store::Order;
use pramaan_orders::{Action, Scope, SubscriberBinding};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Writes the bundle of an order and records the export.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportOrder {
    pub reference: String,
}

/// An exported bundle on its way out: its file, open and already unlinked
/// (nothing is left behind however the download ends), to be streamed
/// rather than read into memory, as a bundle may be gigabytes.
pub struct Bundle {
    /// The reference, made safe for a file name (without `.zip`).
    pub name: String,
    pub file: tokio::fs::File,
    pub len: u64,
}

/// How often an export waits for the checkpoint covering its records (the
/// order's own ledger records, or lines still arriving, are in the next one).
const CHECKPOINT_TRIES: u32 = 20;
const CHECKPOINT_WAIT: Duration = Duration::from_millis(500);

impl ExportOrder {
    pub const METHOD: &'static str = "POST";
    pub const ROUTE: &'static str = "/api/v1/orders/export";

    /// The bundle, once the order is marked exported by `who`.
    pub async fn run(self, app: &App, who: &Caller) -> Result<Bundle, AppError> {
        app.authorise_route(who, Self::METHOD, Self::ROUTE)?;
        let r = app.orders().register()?;
        let order = r.get(&self.reference).map_err(store_error)?;
        // The rules are checked before any personal data is read.
        pramaan_orders::state::next(&order.facts(), Action::Export, &who.name)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let (subscribers, bindings) = if order.scope.names_subscribers() {
            (
                subscribers(app, &order, &who.name).await?,
                bindings(app, &order.scope).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let system = SystemInfo {
            software: format!("pramaan {}", env!("CARGO_PKG_VERSION")),
            origin: app
                .vault()
                .ledger()
                .map(|l| l.origin().to_owned())
                .unwrap_or_default(),
            exported_by: who.name.clone(),
            exported_at_ns: now_ns(),
        };
        let dir = app.vault().options().data_dir.join("tmp");
        std::fs::create_dir_all(&dir).map_err(AppError::internal)?;
        let out = dir.join(format!("export-{}.zip", now_ns()));
        let mut tries = 0;
        let e: Exported = loop {
            tries += 1;
            let res = export::export(
                app.vault(),
                &order,
                subscribers.clone(),
                &bindings,
                system.clone(),
                &out,
                &|_| {},
            )
            .await;
            match res {
                Err(ExportError::NotYetCheckpointed { .. } | ExportError::Tree(_))
                    if tries < CHECKPOINT_TRIES =>
                {
                    tokio::time::sleep(CHECKPOINT_WAIT).await;
                }
                Err(e @ ExportError::NotYetCheckpointed { .. }) => {
                    let _ = std::fs::remove_file(&out);
                    return Err(AppError::NotNow(e.to_string()));
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&out);
                    return Err(AppError::internal(e));
                }
                Ok(e) => break e,
            }
        };
        let file = tokio::fs::File::open(&out).await;
        let _ = std::fs::remove_file(&out);
        let file = file.map_err(AppError::internal)?;
        let len = file.metadata().await.map_err(AppError::internal)?.len();
        // Everything the answer needs is ready before the order is marked
        // exported: nothing after this step can fail.
        r.act(
            &order.reference,
            Action::Export,
            &who.name,
            now_ns(),
            serde_json::json!({
                "records": e.records,
                "checkpoint_size": e.manifest.checkpoint_size,
                "manifest": e.manifest.files,
            }),
        )
        .await
        .map_err(store_error)?;
        Ok(Bundle {
            name: bundle_file_name(&order.reference),
            file,
            len,
        })
    }
}

/// The registered data of the order's subscribers (those not registered
/// are left out); one audit record per subscriber, in one ledger write,
/// before anything is decrypted.
async fn subscribers(
    app: &App,
    order: &Order,
    by: &str,
) -> Result<Vec<serde_json::Value>, AppError> {
    let reg = app.registry().get().await.map_err(AppError::internal)?;
    let purpose = format!("order {}", order.reference);
    let ids: Vec<&str> = order.scope.subscribers.iter().map(String::as_str).collect();
    let reads = reg
        .read_subscribers(&ids, &purpose, by, Vec::new())
        .await
        .map_err(AppError::internal)?;
    Ok(reads
        .subscribers
        .into_iter()
        .flatten()
        .map(|s| s.to_json())
        .collect())
}

/// The IP bindings of the order's subscribers overlapping its window: they
/// decide which log lines the subscriber selector takes, and they are
/// `bindings.ndjson` in the bundle.
async fn bindings(app: &App, scope: &Scope) -> Result<Vec<SubscriberBinding>, AppError> {
    let store = app.binding_store().await.map_err(AppError::internal)?;
    let mut out = Vec::new();
    for s in &scope.subscribers {
        let found = store
            .of_subscriber(s, scope.from_ns, scope.to_ns)
            .await
            .map_err(AppError::internal)?;
        for b in found {
            // Stored as IPv6; an IPv4 binding is a mapped address.
            let (ip, prefix) = if b.net.is_v4() {
                let a = std::net::Ipv4Addr::from(b.net.bits as u32);
                (std::net::IpAddr::V4(a), b.net.len.saturating_sub(96))
            } else {
                (std::net::IpAddr::V6(b.net.bits.into()), b.net.len)
            };
            out.push(SubscriberBinding {
                subscriber: b.subscriber,
                ip,
                prefix,
                ports: ((b.port_lo, b.port_hi) != (0, u16::MAX)).then_some((b.port_lo, b.port_hi)),
                from_ns: b.start_ns,
                to_ns: (!b.open).then_some(b.end_ns),
            });
        }
    }
    Ok(out)
}

/// The bundle's file name (without `.zip`): the reference with every
/// character other than ASCII letters, digits, `.`, `_` and `-` made `-`, so
/// that it is a valid `Content-Disposition` and a safe file name whatever the
/// reference holds.
fn bundle_file_name(reference: &str) -> String {
    let name: String = reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.trim_matches(['-', '.']).is_empty() {
        "order".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bundle_name_is_plain_ascii_whatever_the_reference() {
        assert_eq!(
            super::bundle_file_name("CERT-In/2026/042"),
            "CERT-In-2026-042"
        );
        assert_eq!(super::bundle_file_name("a\r\nb\"c"), "a--b-c");
        assert_eq!(super::bundle_file_name("आदेश"), "order");
        assert_eq!(super::bundle_file_name("../.."), "order");
    }
}
