//! Every SQLite database of a data directory, with its schema. `serve`
//! brings each one that exists to this binary's version before anything
//! opens it, and refuses to start when one was written by a newer pramaan,
//! naming the database and both versions: so a component that opens its
//! database only when first used (orders, the registry) or not at all
//! (the clock switched off) can never meet a newer file mid-run, and
//! read-only tools find every file current after one start.

use pramaan_config::Config;
use pramaan_db::{Mode, OpenError, Schema};
use std::path::PathBuf;

/// One database: where it is and its schema.
pub struct Database {
    pub path: PathBuf,
    pub schema: &'static Schema,
}

/// The SQLite databases this configuration uses (the catalog's and the
/// registry's only when they are kept in SQLite; the PostgreSQL stores
/// version themselves).
pub fn all(cfg: &Config) -> Vec<Database> {
    let mut v = Vec::new();
    if cfg.catalog_postgres().is_none() {
        v.push(Database {
            path: crate::options::vault_options(cfg).catalog_path(),
            schema: &pramaan_vault::catalog::schema::SCHEMA,
        });
    }
    v.extend([
        Database {
            path: crate::desk::desk_path(cfg),
            schema: &pramaan_desk::schema::SCHEMA,
        },
        Database {
            path: cfg.data_dir.join("orders.db"),
            schema: &pramaan_orders::schema::SCHEMA,
        },
        Database {
            path: pramaan_auth::store::path_in(&cfg.data_dir),
            schema: &pramaan_auth::schema::SCHEMA,
        },
        Database {
            path: crate::options::clock_options(cfg).db_path,
            schema: &pramaan_clock::schema::SCHEMA,
        },
        Database {
            path: crate::vasp::path(cfg),
            schema: &pramaan_vasp::store::SCHEMA,
        },
    ]);
    if let pramaan_registry::Backend::Sqlite(path) =
        pramaan_registry::RegistryOptions::from_config(cfg).backend
    {
        v.push(Database {
            path,
            schema: &pramaan_registry::store::sqlite::SCHEMA,
        });
    }
    v
}

/// Migrates every database of `cfg` that exists (a missing one is made by
/// its component when first used, as before).
pub fn migrate_existing(cfg: &Config) -> Result<(), OpenError> {
    for db in all(cfg) {
        if db.path.exists() {
            let (_conn, from) = pramaan_db::open_from(&db.path, db.schema, Mode::Write)?;
            if from < db.schema.latest() {
                tracing::info!(
                    database = db.schema.database,
                    from,
                    to = db.schema.latest(),
                    "schema migrated"
                );
            }
        }
    }
    Ok(())
}
