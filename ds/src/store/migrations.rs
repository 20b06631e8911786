//! The schema's versioned migrations, compiled into the binary and applied at start (sqlx's
//! migrator: each applied once, in order, recorded in `_sqlx_migrations` with a checksum, under
//! a lock so several DS processes starting together do not race). One folder per backend,
//! because the DDL differs in column types; the queries do not.

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType};

use super::Backend;

/// (version, description, SQLite text, PostgreSQL text), in order.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "operators",
        include_str!("../../migrations/sqlite/0001_operators.sql"),
        include_str!("../../migrations/postgres/0001_operators.sql"),
    ),
    (
        2,
        "devices",
        include_str!("../../migrations/sqlite/0002_devices.sql"),
        include_str!("../../migrations/postgres/0002_devices.sql"),
    ),
    (
        3,
        "counter archive",
        include_str!("../../migrations/sqlite/0003_counter_archive.sql"),
        include_str!("../../migrations/postgres/0003_counter_archive.sql"),
    ),
    (
        4,
        "tls keystores",
        include_str!("../../migrations/sqlite/0004_tls_keystores.sql"),
        include_str!("../../migrations/postgres/0004_tls_keystores.sql"),
    ),
    (
        5,
        "retired label names",
        include_str!("../../migrations/sqlite/0005_retired_label_names.sql"),
        include_str!("../../migrations/postgres/0005_retired_label_names.sql"),
    ),
    (
        6,
        "module rollouts",
        include_str!("../../migrations/sqlite/0006_module_rollouts.sql"),
        include_str!("../../migrations/postgres/0006_module_rollouts.sql"),
    ),
    (
        7,
        "oidc sessions",
        include_str!("../../migrations/sqlite/0007_oidc_sessions.sql"),
        include_str!("../../migrations/postgres/0007_oidc_sessions.sql"),
    ),
    (
        8,
        "device os version",
        include_str!("../../migrations/sqlite/0008_device_os_version.sql"),
        include_str!("../../migrations/postgres/0008_device_os_version.sql"),
    ),
];

/// The migrations of one backend, as sqlx's migrator reads them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Embedded(pub(super) Backend);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sqlite, postgres)| {
                    let sql = match self.0 {
                        Backend::Sqlite => sqlite,
                        Backend::Postgres => postgres,
                    };
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}
