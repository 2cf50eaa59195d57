//! What can stop `serve` from starting, each naming what and where.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Vault(#[from] pramaan_vault::VaultError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the user store: {0}")]
    Auth(#[from] pramaan_auth::AuthError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Database(#[from] pramaan_db::OpenError),
}
