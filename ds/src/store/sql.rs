//! [`Store`] over sqlx's Any driver: one SQL text (numbered `$n` parameters, which SQLite reads
//! too), two backends. Times are integer seconds and flags 0/1 integers so that both decode
//! the same way.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use t1c_ds_protocol::platform::Os;

use super::migrations::Embedded;
use super::*;

/// The SQLite settings every connection gets: WAL so readers never wait for the writer, a busy
/// timeout instead of an immediate "database is locked", and enforced foreign keys.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

impl SqlStore {
    /// Opens the database at `url` (`sqlite://<path>` or `postgres://...`), creating an SQLite
    /// file when missing, and applies the migrations.
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`], [`StoreError::Database`] when it cannot connect,
    /// [`StoreError::Migration`] when the schema cannot be brought up to date.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let options = AnyConnectOptions::from_str(&url).map_err(database)?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(options).await.map_err(database)?;
        let migrator = sqlx::migrate::Migrator::new(Embedded(backend))
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        migrator.run(&pool).await.map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(Self { pool, backend })
    }

    /// Closes every connection (at shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn database(err: sqlx::Error) -> StoreError {
    // PostgreSQL refuses text holding NUL (SQLSTATE 22021) before it looks anything up. No
    // stored value holds NUL (the API refuses control characters in what it stores), so the
    // object asked for does not exist; a 503 would wrongly say "retry later".
    if let sqlx::Error::Database(db) = &err
        && db.code().as_deref() == Some("22021")
    {
        return StoreError::NotFound;
    }
    StoreError::Database(err.to_string())
}

/// Maps a write's failure: a unique violation is a conflict on `what`, a foreign-key violation
/// names a missing parent.
fn write_error(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Refused("the object it belongs to does not exist")
        }
        _ => database(err),
    }
}

fn flag(value: bool) -> i64 {
    i64::from(value)
}

fn get<'r, T>(row: &'r AnyRow, column: &str, table: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(|e| {
        tracing::error!(table, column, "cannot decode a stored value: {e}");
        StoreError::Corrupt(table)
    })
}

fn get_list(row: &AnyRow, column: &str, table: &'static str) -> Result<Vec<String>, StoreError> {
    let text: String = get(row, column, table)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt(table))
}

fn list_text(values: &[String]) -> String {
    serde_json::Value::from(values.to_vec()).to_string()
}

fn to_u32(value: u32) -> i64 {
    i64::from(value)
}

/// `LIKE` pattern for "contains", with `%`, `_` and `\` escaped. Not lowercased here: the
/// query lowers both sides with the database's `LOWER`, which on SQLite folds ASCII only, so
/// that a name is always found by its own text.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A `WHERE` clause from a filter, with its parameters (numbered from 1).
fn where_clause(
    filter: &Filter,
    org_column: Option<&str>,
    name_column: &str,
) -> (String, Vec<String>) {
    let mut conditions = Vec::new();
    let mut binds = Vec::new();
    if let (Some(org), Some(column)) = (&filter.organisation_id, org_column) {
        binds.push(org.clone());
        conditions.push(format!("{column} = ${}", binds.len()));
    }
    if let Some(name) = &filter.name_contains {
        binds.push(contains_pattern(name));
        conditions.push(format!("LOWER({name_column}) LIKE LOWER(${}) ESCAPE '\\'", binds.len()));
    }
    if conditions.is_empty() {
        (String::new(), binds)
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), binds)
    }
}

impl SqlStore {
    /// Runs `SELECT <columns> FROM <table> <where> ORDER BY <order> LIMIT OFFSET` and the
    /// matching count.
    async fn page(
        &self,
        table: &str,
        columns: &str,
        (clause, binds): (String, Vec<String>),
        order: &str,
        paging: Paging,
    ) -> Result<(Vec<AnyRow>, u64), StoreError> {
        let limit = paging.limit.clamp(1, Paging::MAX_LIMIT);
        let sql = format!(
            "SELECT {columns} FROM {table}{clause} ORDER BY {order} LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        let mut query = sqlx::query(&sql);
        for bind in &binds {
            query = query.bind(bind.clone());
        }
        let rows = query
            .bind(to_u32(limit))
            .bind(to_u32(paging.offset))
            .fetch_all(&self.pool)
            .await
            .map_err(database)?;
        let count_sql = format!("SELECT COUNT(*) FROM {table}{clause}");
        let mut count = sqlx::query(&count_sql);
        for bind in &binds {
            count = count.bind(bind.clone());
        }
        let total: i64 =
            count.fetch_one(&self.pool).await.map_err(database)?.try_get(0).map_err(database)?;
        Ok((rows, u64::try_from(total).unwrap_or(0)))
    }
}

async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    object_kind: &str,
    object_id: &str,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, object_kind, object_id, organisation_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.at)
    .bind(event.actor.clone())
    .bind(event.action)
    .bind(object_kind.to_owned())
    .bind(object_id.to_owned())
    .bind(event.organisation_id.clone())
    .bind(event.detail.to_string())
    .execute(&mut **tx)
    .await
    .map_err(database)?;
    Ok(())
}

const ORGANISATION_COLUMNS: &str = "id, name, created_at, updated_at";

fn organisation(row: &AnyRow) -> Result<Organisation, StoreError> {
    const T: &str = "organisations";
    Ok(Organisation {
        id: get(row, "id", T)?,
        name: get(row, "name", T)?,
        created_at: get(row, "created_at", T)?,
        updated_at: get(row, "updated_at", T)?,
    })
}

const LABEL_COLUMNS: &str =
    "id, organisation_id, name, application, domains, tags, created_at, updated_at";

fn label(row: &AnyRow) -> Result<Label, StoreError> {
    const T: &str = "labels";
    Ok(Label {
        id: get(row, "id", T)?,
        organisation_id: get(row, "organisation_id", T)?,
        name: get(row, "name", T)?,
        application: get(row, "application", T)?,
        domains: get_list(row, "domains", T)?,
        tags: get_list(row, "tags", T)?,
        created_at: get(row, "created_at", T)?,
        updated_at: get(row, "updated_at", T)?,
    })
}

const KEY_COLUMNS: &str =
    "id, label_id, version_id, hash, hint, created_at, expires_at, revoked_at";

fn api_key(row: &AnyRow) -> Result<ApiKey, StoreError> {
    const T: &str = "api_keys";
    let label_id: Option<String> = get(row, "label_id", T)?;
    let version_id: Option<String> = get(row, "version_id", T)?;
    let owner = match (label_id, version_id) {
        (Some(label), None) => KeyOwner::Label(label),
        (None, Some(version)) => KeyOwner::Version(version),
        _ => return Err(StoreError::Corrupt(T)),
    };
    let hash: Vec<u8> = get(row, "hash", T)?;
    Ok(ApiKey {
        id: get(row, "id", T)?,
        owner,
        hash: hash.try_into().map_err(|_| StoreError::Corrupt(T))?,
        hint: get(row, "hint", T)?,
        created_at: get(row, "created_at", T)?,
        expires_at: get(row, "expires_at", T)?,
        revoked_at: get(row, "revoked_at", T)?,
    })
}

const DEVICE_COLUMNS: &str = "id, signing_key, encryption_key, installed_with, version, os, os_version, arch, state, labels, browsers, \
     modules, failed_installs, registered_at, last_seen, revoked_at";

fn device(row: &AnyRow) -> Result<Device, StoreError> {
    const T: &str = "devices";
    let json = |column: &str| -> Result<String, StoreError> { get(row, column, T) };
    Ok(Device {
        id: get(row, "id", T)?,
        signing_key: get(row, "signing_key", T)?,
        encryption_key: get(row, "encryption_key", T)?,
        installed_with: get(row, "installed_with", T)?,
        version: get(row, "version", T)?,
        os: get(row, "os", T)?,
        os_version: get(row, "os_version", T)?,
        arch: get(row, "arch", T)?,
        state: get(row, "state", T)?,
        labels: get_list(row, "labels", T)?,
        browsers: get_list(row, "browsers", T)?,
        modules: serde_json::from_str(&json("modules")?).map_err(|_| StoreError::Corrupt(T))?,
        failed_installs: serde_json::from_str(&json("failed_installs")?)
            .map_err(|_| StoreError::Corrupt(T))?,
        registered_at: get(row, "registered_at", T)?,
        last_seen: get(row, "last_seen", T)?,
        revoked_at: get(row, "revoked_at", T)?,
    })
}

/// Keeps the names of the labels about to be deleted (by `column` = `value`): a label's name is
/// the subject its usage is counted under, so no other label may ever take it.
async fn retire_label_names(
    conn: &mut sqlx::AnyConnection,
    column: &str,
    value: &str,
    at: i64,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO retired_label_names (name, organisation_id, retired_at) \
         SELECT name, organisation_id, $2 FROM labels WHERE {column} = $1 ON CONFLICT (name) DO NOTHING"
    );
    sqlx::query(&sql)
        .bind(value.to_owned())
        .bind(at)
        .execute(&mut *conn)
        .await
        .map_err(database)?;
    Ok(())
}

/// Updates a device's record after a sync, on `conn`.
async fn record_sync_on(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    r: &DeviceReport,
) -> Result<(), StoreError> {
    let result = sqlx::query(
        "UPDATE devices SET version = $1, os = $2, arch = $3, state = $4, labels = $5, browsers = $6, modules = $7, \
         failed_installs = $8, last_seen = $9, os_version = $11 WHERE id = $10",
    )
    .bind(r.version.clone())
    .bind(r.os.clone())
    .bind(r.arch.clone())
    .bind(r.state.clone())
    .bind(list_text(&r.labels))
    .bind(list_text(&r.browsers))
    .bind(json_text(&r.modules)?)
    .bind(json_text(&r.failed_installs)?)
    .bind(r.seen_at)
    .bind(id.to_owned())
    .bind(r.os_version.clone())
    .execute(&mut *conn)
    .await
    .map_err(database)?;
    touched(result)
}

/// Notes a message id on `conn`; `false` for a replay.
async fn note_message_on(
    conn: &mut sqlx::AnyConnection,
    device_id: &str,
    message_id: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "INSERT INTO seen_messages (device_id, message_id, seen_at) VALUES ($1, $2, $3) ON CONFLICT (device_id, message_id) DO NOTHING",
    )
    .bind(device_id.to_owned())
    .bind(message_id.to_owned())
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(database)?;
    Ok(result.rows_affected() == 1)
}

/// Upserts a counter batch on `conn` (inside the caller's transaction): per key, the total of
/// the highest sequence number wins.
async fn store_counters_on(
    conn: &mut sqlx::AnyConnection,
    device_id: &str,
    batch: &t1c_ds_protocol::counters::CounterBatch,
    at: i64,
) -> Result<(), StoreError> {
    let seq = i64::try_from(batch.seq)
        .map_err(|_| StoreError::Refused("sequence number out of range"))?;
    for row in &batch.rows {
        let total = i64::try_from(row.total)
            .map_err(|_| StoreError::Refused("counter total out of range"))?;
        sqlx::query(
            "INSERT INTO device_counters (device_id, day, label, tag, module, use_case, total, seq, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (device_id, day, label, tag, module, use_case) DO UPDATE \
             SET total = excluded.total, seq = excluded.seq, received_at = excluded.received_at \
             WHERE device_counters.seq < excluded.seq",
        )
        .bind(device_id.to_owned())
        .bind(row.day.clone())
        .bind(row.label.clone())
        .bind(row.tag.clone())
        .bind(row.module.clone())
        .bind(row.use_case.as_str())
        .bind(total)
        .bind(seq)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map_err(write_error("counter"))?;
    }
    Ok(())
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|_| StoreError::Corrupt("json"))
}

const USER_COLUMNS: &str = "id, username, password_hash, role, organisation_id, created_at";

fn user(row: &AnyRow) -> Result<User, StoreError> {
    const T: &str = "users";
    let role: String = get(row, "role", T)?;
    Ok(User {
        id: get(row, "id", T)?,
        username: get(row, "username", T)?,
        password_hash: get(row, "password_hash", T)?,
        role: role.parse()?,
        organisation_id: get(row, "organisation_id", T)?,
        created_at: get(row, "created_at", T)?,
    })
}

fn publisher_key(row: &AnyRow) -> Result<PublisherKey, StoreError> {
    const T: &str = "publisher_keys";
    Ok(PublisherKey {
        id: get(row, "id", T)?,
        name: get(row, "name", T)?,
        public_key: get(row, "public_key", T)?,
        created_at: get(row, "created_at", T)?,
        revoked_at: get(row, "revoked_at", T)?,
    })
}

fn signing_key(row: &AnyRow) -> Result<SigningKeyRecord, StoreError> {
    const T: &str = "signing_keys";
    Ok(SigningKeyRecord {
        kid: get(row, "kid", T)?,
        generation: get(row, "generation", T)?,
        algorithm: get(row, "algorithm", T)?,
        private_pkcs8: get(row, "private_pkcs8", T)?,
        public_jwk: get(row, "public_jwk", T)?,
        created_at: get(row, "created_at", T)?,
        activates_at: get(row, "activates_at", T)?,
        published_until: get(row, "published_until", T)?,
    })
}

impl SqlStore {
    async fn installers_of(&self, version_id: &str) -> Result<Vec<Installer>, StoreError> {
        let rows =
            sqlx::query("SELECT os, source FROM installers WHERE version_id = $1 ORDER BY os")
                .bind(version_id.to_owned())
                .fetch_all(&self.pool)
                .await
                .map_err(database)?;
        rows.iter()
            .map(|row| {
                let os: String = get(row, "os", "installers")?;
                Ok(Installer {
                    os: os.parse::<Os>().map_err(|_| StoreError::Corrupt("installers"))?,
                    source: get(row, "source", "installers")?,
                })
            })
            .collect()
    }

    async fn version_row(&self, row: &AnyRow) -> Result<Version, StoreError> {
        const T: &str = "versions";
        let id: String = get(row, "id", T)?;
        Ok(Version {
            installers: self.installers_of(&id).await?,
            id,
            recommended: get::<i64>(row, "recommended", T)? != 0,
            mandatory: get::<i64>(row, "mandatory", T)? != 0,
            allowed: get::<i64>(row, "allowed", T)? != 0,
            created_at: get(row, "created_at", T)?,
            updated_at: get(row, "updated_at", T)?,
        })
    }

    /// Runs `select` (whose `$1` and `$2` are the bounds of `range`), narrowed to `labels` when
    /// given (none at all: no rows), then `tail` (grouping and order): the usage queries.
    async fn counter_rows(
        &self,
        select: &str,
        range: (&str, &str),
        labels: Option<&[String]>,
        tail: &str,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut sql = String::from(select);
        let mut binds = vec![range.0.to_owned(), range.1.to_owned()];
        if let Some(labels) = labels {
            if labels.is_empty() {
                return Ok(Vec::new());
            }
            let placeholders: Vec<String> = labels
                .iter()
                .map(|label| {
                    binds.push(label.clone());
                    format!("${}", binds.len())
                })
                .collect();
            sql.push_str(&format!(" AND label IN ({})", placeholders.join(", ")));
        }
        sql.push_str(tail);
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = query.bind(bind);
        }
        query.fetch_all(&self.pool).await.map_err(database)
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        self.pool.begin().await.map_err(database)
    }
}

/// Fails with [`StoreError::NotFound`] when a statement touched no row.
fn touched(result: sqlx::any::AnyQueryResult) -> Result<(), StoreError> {
    if result.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(database)?;
        Ok(())
    }

    async fn create_organisation(
        &self,
        org: &Organisation,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO organisations (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(org.id.clone())
        .bind(org.name.clone())
        .bind(org.created_at)
        .bind(org.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(write_error("an organisation with this name"))?;
        record(&mut tx, "organisation", &org.id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn organisation(&self, id: &str) -> Result<Organisation, StoreError> {
        let sql = format!("SELECT {ORGANISATION_COLUMNS} FROM organisations WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        organisation(&row.ok_or(StoreError::NotFound)?)
    }

    async fn organisations(
        &self,
        filter: &Filter,
        paging: Paging,
    ) -> Result<Listed<Organisation>, StoreError> {
        let clause = where_clause(filter, Some("id"), "name");
        let (rows, total) =
            self.page("organisations", ORGANISATION_COLUMNS, clause, "name, id", paging).await?;
        Ok(Listed { items: rows.iter().map(organisation).collect::<Result<_, _>>()?, total })
    }

    async fn rename_organisation(
        &self,
        id: &str,
        name: &str,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<Organisation, StoreError> {
        let mut tx = self.begin().await?;
        let result =
            sqlx::query("UPDATE organisations SET name = $1, updated_at = $2 WHERE id = $3")
                .bind(name.to_owned())
                .bind(at)
                .bind(id.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(write_error("an organisation with this name"))?;
        touched(result)?;
        record(&mut tx, "organisation", id, audit).await?;
        tx.commit().await.map_err(database)?;
        self.organisation(id).await
    }

    async fn delete_organisation(&self, id: &str, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        retire_label_names(&mut tx, "organisation_id", id, audit.at).await?;
        // Keys belong to labels; the cascade would reach them, but say it explicitly.
        sqlx::query("DELETE FROM api_keys WHERE label_id IN (SELECT id FROM labels WHERE organisation_id = $1)")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        let result = sqlx::query("DELETE FROM organisations WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        touched(result)?;
        record(&mut tx, "organisation", id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn create_label(&self, l: &Label, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // One statement, so the name check cannot race the insert (and SQLite's first statement
        // in the transaction is a write, which waits for the lock instead of failing).
        let inserted = sqlx::query(
            "INSERT INTO labels (id, organisation_id, name, application, domains, tags, created_at, updated_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
             WHERE NOT EXISTS (SELECT 1 FROM retired_label_names WHERE name = $3)",
        )
        .bind(l.id.clone())
        .bind(l.organisation_id.clone())
        .bind(l.name.clone())
        .bind(l.application.clone())
        .bind(list_text(&l.domains))
        .bind(list_text(&l.tags))
        .bind(l.created_at)
        .bind(l.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(write_error("a label with this name"))?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict("a label with this name, now or before,"));
        }
        record(&mut tx, "label", &l.id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn label(&self, id: &str) -> Result<Label, StoreError> {
        let sql = format!("SELECT {LABEL_COLUMNS} FROM labels WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        label(&row.ok_or(StoreError::NotFound)?)
    }

    async fn labels(&self, filter: &Filter, paging: Paging) -> Result<Listed<Label>, StoreError> {
        let clause = where_clause(filter, Some("organisation_id"), "name");
        let (rows, total) = self.page("labels", LABEL_COLUMNS, clause, "name, id", paging).await?;
        Ok(Listed { items: rows.iter().map(label).collect::<Result<_, _>>()?, total })
    }

    async fn update_label(&self, l: &Label, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "UPDATE labels SET name = $1, application = $2, domains = $3, tags = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(l.name.clone())
        .bind(l.application.clone())
        .bind(list_text(&l.domains))
        .bind(list_text(&l.tags))
        .bind(l.updated_at)
        .bind(l.id.clone())
        .execute(&mut *tx)
        .await
        .map_err(write_error("a label with this name"))?;
        touched(result)?;
        record(&mut tx, "label", &l.id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn delete_label(&self, id: &str, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        retire_label_names(&mut tx, "id", id, audit.at).await?;
        sqlx::query("DELETE FROM api_keys WHERE label_id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        let result = sqlx::query("DELETE FROM labels WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        touched(result)?;
        record(&mut tx, "label", id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn put_version(&self, v: &Version, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO versions (id, recommended, mandatory, allowed, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET recommended = excluded.recommended, \
             mandatory = excluded.mandatory, allowed = excluded.allowed, updated_at = excluded.updated_at",
        )
        .bind(v.id.clone())
        .bind(flag(v.recommended))
        .bind(flag(v.mandatory))
        .bind(flag(v.allowed))
        .bind(v.created_at)
        .bind(v.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(write_error("version"))?;
        sqlx::query("DELETE FROM installers WHERE version_id = $1")
            .bind(v.id.clone())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        for installer in &v.installers {
            sqlx::query("INSERT INTO installers (version_id, os, source) VALUES ($1, $2, $3)")
                .bind(v.id.clone())
                .bind(installer.os.as_str())
                .bind(installer.source.clone())
                .execute(&mut *tx)
                .await
                .map_err(write_error("an installer for this platform"))?;
        }
        record(&mut tx, "version", &v.id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn version(&self, id: &str) -> Result<Version, StoreError> {
        let row = sqlx::query("SELECT id, recommended, mandatory, allowed, created_at, updated_at FROM versions WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        self.version_row(&row.ok_or(StoreError::NotFound)?).await
    }

    async fn versions(&self) -> Result<Vec<Version>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, recommended, mandatory, allowed, created_at, updated_at FROM versions",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        let mut versions = Vec::with_capacity(rows.len());
        for row in &rows {
            versions.push(self.version_row(row).await?);
        }
        Ok(versions)
    }

    async fn delete_version(&self, id: &str, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for statement in [
            "DELETE FROM api_keys WHERE version_id = $1",
            "DELETE FROM installers WHERE version_id = $1",
        ] {
            sqlx::query(statement).bind(id.to_owned()).execute(&mut *tx).await.map_err(database)?;
        }
        let result = sqlx::query("DELETE FROM versions WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        touched(result)?;
        record(&mut tx, "version", id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn create_api_key(
        &self,
        key: &ApiKey,
        max_active: usize,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (label_id, version_id, column, owner_id) = match &key.owner {
            KeyOwner::Label(id) => (Some(id.clone()), None, "label_id", id),
            KeyOwner::Version(id) => (None, Some(id.clone()), "version_id", id),
        };
        let mut tx = self.begin().await?;
        if self.backend == Backend::Postgres {
            // Two DS processes adding a key to one owner at once must not both pass the count:
            // under READ COMMITTED both statements could count from the same snapshot.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(owner_id.clone())
                .execute(&mut *tx)
                .await
                .map_err(database)?;
        }
        // The count and the insert are one statement, the first of the transaction: on SQLite
        // that statement takes the write lock before it reads (waiting on the busy timeout),
        // where a separate SELECT first would start a read transaction that cannot wait for
        // the lock when it later writes ("database is locked"), or could count a stale
        // snapshot.
        let max_active = i64::try_from(max_active).unwrap_or(i64::MAX);
        let insert = format!(
            "INSERT INTO api_keys (id, label_id, version_id, hash, hint, created_at, expires_at, revoked_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, NULL \
             WHERE (SELECT COUNT(*) FROM api_keys WHERE {column} = $8 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $6)) < $9"
        );
        let result = sqlx::query(&insert)
            .bind(key.id.clone())
            .bind(label_id)
            .bind(version_id)
            .bind(key.hash.to_vec())
            .bind(key.hint.clone())
            .bind(key.created_at)
            .bind(key.expires_at)
            .bind(owner_id.clone())
            .bind(max_active)
            .execute(&mut *tx)
            .await
            .map_err(write_error("this key"))?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Refused(
                "this owner already has the most active keys allowed: revoke one first",
            ));
        }
        record(&mut tx, "api_key", &key.id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn api_keys(&self, owner: &KeyOwner) -> Result<Vec<ApiKey>, StoreError> {
        let (column, id) = match owner {
            KeyOwner::Label(id) => ("label_id", id),
            KeyOwner::Version(id) => ("version_id", id),
        };
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE {column} = $1 ORDER BY created_at, id"
        );
        let rows =
            sqlx::query(&sql).bind(id.clone()).fetch_all(&self.pool).await.map_err(database)?;
        rows.iter().map(api_key).collect()
    }

    async fn api_key(&self, id: &str) -> Result<ApiKey, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        api_key(&row.ok_or(StoreError::NotFound)?)
    }

    async fn revoke_api_key(
        &self,
        id: &str,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(id.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(database)?;
        touched(result)?;
        record(&mut tx, "api_key", id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ResolvedKey>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(hash.to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?
        else {
            return Ok(None);
        };
        let key = api_key(&row)?;
        let label = match &key.owner {
            KeyOwner::Label(id) => Some(self.label(id).await?),
            KeyOwner::Version(_) => None,
        };
        Ok(Some(ResolvedKey { key, label }))
    }

    async fn create_publisher_key(
        &self,
        key: &PublisherKey,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO publisher_keys (id, name, public_key, created_at, revoked_at) VALUES ($1, $2, $3, $4, NULL)")
            .bind(key.id.clone())
            .bind(key.name.clone())
            .bind(key.public_key.clone())
            .bind(key.created_at)
            .execute(&mut *tx)
            .await
            .map_err(write_error("this publisher key"))?;
        record(&mut tx, "publisher_key", &key.id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn publisher_keys(&self) -> Result<Vec<PublisherKey>, StoreError> {
        let rows = sqlx::query("SELECT id, name, public_key, created_at, revoked_at FROM publisher_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(database)?;
        rows.iter().map(publisher_key).collect()
    }

    async fn revoke_publisher_key(
        &self,
        id: &str,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "UPDATE publisher_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        touched(result)?;
        record(&mut tx, "publisher_key", id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn create_user(&self, u: &User, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, organisation_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(u.id.clone())
        .bind(u.username.clone())
        .bind(u.password_hash.clone())
        .bind(u.role.as_str())
        .bind(u.organisation_id.clone())
        .bind(u.created_at)
        .execute(&mut *tx)
        .await
        .map_err(write_error("an account with this name"))?;
        record(&mut tx, "user", &u.id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn user(&self, id: &str) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        user(&row.ok_or(StoreError::NotFound)?)
    }

    async fn user_by_name(&self, username: &str) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row = sqlx::query(&sql)
            .bind(username.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        user(&row.ok_or(StoreError::NotFound)?)
    }

    async fn users(&self, filter: &Filter, paging: Paging) -> Result<Listed<User>, StoreError> {
        let clause = where_clause(filter, Some("organisation_id"), "username");
        let (rows, total) =
            self.page("users", USER_COLUMNS, clause, "username, id", paging).await?;
        Ok(Listed { items: rows.iter().map(user).collect::<Result<_, _>>()?, total })
    }

    async fn user_count(&self) -> Result<u64, StoreError> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(database)?
            .try_get(0)
            .map_err(database)?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    async fn delete_user(&self, id: &str, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        let result = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        touched(result)?;
        record(&mut tx, "user", id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn create_session(
        &self,
        token_hash: &[u8; 32],
        user_id: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash.to_vec())
            .bind(user_id.to_owned())
            .bind(created_at)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(write_error("session"))?;
        Ok(())
    }

    async fn session_user(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!(
            "SELECT {} FROM users u JOIN sessions s ON s.user_id = u.id WHERE s.token_hash = $1 AND s.expires_at > $2",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        );
        let row = sqlx::query(&sql)
            .bind(token_hash.to_vec())
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        row.as_ref().map(user).transpose()
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        for table in ["sessions", "oidc_sessions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE token_hash = $1"))
                .bind(token_hash.to_vec())
                .execute(&self.pool)
                .await
                .map_err(database)?;
        }
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let mut purged = 0;
        for table in ["sessions", "oidc_sessions", "oidc_logins"] {
            let result = sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(database)?;
            purged += result.rows_affected();
        }
        Ok(purged)
    }

    async fn create_oidc_login(
        &self,
        state_hash: &[u8; 32],
        login: &OidcLogin,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_logins (state_hash, nonce, code_verifier, redirect_uri, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state_hash.to_vec())
        .bind(login.nonce.clone())
        .bind(login.code_verifier.as_str().to_owned())
        .bind(login.redirect_uri.clone())
        .bind(login.created_at)
        .bind(login.expires_at)
        .execute(&self.pool)
        .await
        .map_err(write_error("a sign-in with this state"))?;
        Ok(())
    }

    async fn take_oidc_login(
        &self,
        state_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<OidcLogin>, StoreError> {
        const T: &str = "oidc_logins";
        let row = sqlx::query(
            "DELETE FROM oidc_logins WHERE state_hash = $1 \
             RETURNING nonce, code_verifier, redirect_uri, created_at, expires_at",
        )
        .bind(state_hash.to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?;
        let Some(row) = row else { return Ok(None) };
        let login = OidcLogin {
            nonce: get(&row, "nonce", T)?,
            code_verifier: zeroize::Zeroizing::new(get(&row, "code_verifier", T)?),
            redirect_uri: get(&row, "redirect_uri", T)?,
            created_at: get(&row, "created_at", T)?,
            expires_at: get(&row, "expires_at", T)?,
        };
        Ok((login.expires_at > now).then_some(login))
    }

    async fn create_oidc_session(
        &self,
        token_hash: &[u8; 32],
        session: &OidcSession,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oidc_sessions (token_hash, subject, username, role, organisation_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash.to_vec())
        .bind(session.subject.clone())
        .bind(session.username.clone())
        .bind(session.role.as_str())
        .bind(session.organisation_id.clone())
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .map_err(write_error("session"))?;
        Ok(())
    }

    async fn oidc_session(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<OidcSession>, StoreError> {
        const T: &str = "oidc_sessions";
        let row = sqlx::query(
            "SELECT subject, username, role, organisation_id, created_at, expires_at \
             FROM oidc_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?;
        let Some(row) = row else { return Ok(None) };
        let role: String = get(&row, "role", T)?;
        Ok(Some(OidcSession {
            subject: get(&row, "subject", T)?,
            username: get(&row, "username", T)?,
            role: role.parse().map_err(|_| StoreError::Corrupt(T))?,
            organisation_id: get(&row, "organisation_id", T)?,
            created_at: get(&row, "created_at", T)?,
            expires_at: get(&row, "expires_at", T)?,
        }))
    }

    async fn audit_log(
        &self,
        filter: &Filter,
        paging: Paging,
    ) -> Result<Listed<AuditEntry>, StoreError> {
        let clause = where_clause(filter, Some("organisation_id"), "action");
        let columns = "id, at, actor, action, object_kind, object_id, organisation_id, detail";
        let (rows, total) = self.page("audit_log", columns, clause, "id DESC", paging).await?;
        const T: &str = "audit_log";
        let items = rows
            .iter()
            .map(|row| {
                let detail: String = get(row, "detail", T)?;
                Ok(AuditEntry {
                    id: get(row, "id", T)?,
                    at: get(row, "at", T)?,
                    actor: get(row, "actor", T)?,
                    action: get(row, "action", T)?,
                    object_kind: get(row, "object_kind", T)?,
                    object_id: get(row, "object_id", T)?,
                    organisation_id: get(row, "organisation_id", T)?,
                    detail: serde_json::from_str(&detail).map_err(|_| StoreError::Corrupt(T))?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Listed { items, total })
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, generation, algorithm, private_pkcs8, public_jwk, created_at, activates_at, published_until \
             FROM signing_keys ORDER BY generation",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        rows.iter().map(signing_key).collect()
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, generation, algorithm, private_pkcs8, public_jwk, created_at, activates_at, published_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(key.kid.clone())
        .bind(key.generation)
        .bind(key.algorithm.clone())
        .bind(key.private_pkcs8.clone())
        .bind(key.public_jwk.clone())
        .bind(key.created_at)
        .bind(key.activates_at)
        .bind(key.published_until)
        .execute(&self.pool)
        .await
        .map_err(write_error("a signing key of this generation"))?;
        Ok(())
    }

    async fn retire_signing_key(&self, kid: &str, published_until: i64) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE signing_keys SET private_pkcs8 = NULL, published_until = $1 WHERE kid = $2",
        )
        .bind(published_until)
        .bind(kid.to_owned())
        .execute(&self.pool)
        .await
        .map_err(database)?;
        touched(result)
    }

    async fn purge_signing_keys(&self, now: i64) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM signing_keys WHERE published_until IS NOT NULL AND published_until < $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(database)?;
        Ok(result.rows_affected())
    }

    async fn protocol_keys(&self) -> Result<Vec<ProtocolKeysRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT generation, signing_kid, encryption_kid, private_keys, public_keys, created_at, activates_at, published_until \
             FROM device_protocol_keys ORDER BY generation",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        const T: &str = "device_protocol_keys";
        rows.iter()
            .map(|row| {
                Ok(ProtocolKeysRecord {
                    generation: get(row, "generation", T)?,
                    signing_kid: get(row, "signing_kid", T)?,
                    encryption_kid: get(row, "encryption_kid", T)?,
                    private_keys: get(row, "private_keys", T)?,
                    public_keys: get(row, "public_keys", T)?,
                    created_at: get(row, "created_at", T)?,
                    activates_at: get(row, "activates_at", T)?,
                    published_until: get(row, "published_until", T)?,
                })
            })
            .collect()
    }

    async fn add_protocol_keys(&self, keys: &ProtocolKeysRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO device_protocol_keys (generation, signing_kid, encryption_kid, private_keys, public_keys, created_at, activates_at, published_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(keys.generation)
        .bind(keys.signing_kid.clone())
        .bind(keys.encryption_kid.clone())
        .bind(keys.private_keys.clone())
        .bind(keys.public_keys.clone())
        .bind(keys.created_at)
        .bind(keys.activates_at)
        .bind(keys.published_until)
        .execute(&self.pool)
        .await
        .map_err(write_error("device-protocol keys of this generation"))?;
        Ok(())
    }

    async fn retire_protocol_keys(&self, generation: i64, until: i64) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE device_protocol_keys SET published_until = $1 WHERE generation = $2",
        )
        .bind(until)
        .bind(generation)
        .execute(&self.pool)
        .await
        .map_err(database)?;
        touched(result)
    }

    async fn purge_protocol_keys(&self, now: i64) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM device_protocol_keys WHERE published_until IS NOT NULL AND published_until < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(database)?;
        Ok(result.rows_affected())
    }

    async fn create_registration_token(
        &self,
        hash: &[u8; 32],
        version_id: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO registration_tokens (hash, version_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)")
            .bind(hash.to_vec())
            .bind(version_id.to_owned())
            .bind(created_at)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(write_error("registration token"))?;
        // Expired tokens are of no use to anyone: keep the table small.
        sqlx::query("DELETE FROM registration_tokens WHERE expires_at < $1")
            .bind(created_at - 86_400)
            .execute(&self.pool)
            .await
            .map_err(database)?;
        Ok(())
    }

    async fn consume_registration_token(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "UPDATE registration_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING version_id",
        )
        .bind(now)
        .bind(hash.to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?;
        row.map(|row| get(&row, "version_id", "registration_tokens")).transpose()
    }

    async fn create_device(&self, d: &Device) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO devices (id, signing_key, encryption_key, installed_with, version, os, arch, state, labels, browsers, \
             modules, failed_installs, registered_at, last_seen, revoked_at, os_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, $15)",
        )
        .bind(d.id.clone())
        .bind(d.signing_key.clone())
        .bind(d.encryption_key.clone())
        .bind(d.installed_with.clone())
        .bind(d.version.clone())
        .bind(d.os.clone())
        .bind(d.arch.clone())
        .bind(d.state.clone())
        .bind(list_text(&d.labels))
        .bind(list_text(&d.browsers))
        .bind(json_text(&d.modules)?)
        .bind(json_text(&d.failed_installs)?)
        .bind(d.registered_at)
        .bind(d.last_seen)
        .bind(d.os_version.clone())
        .execute(&self.pool)
        .await
        .map_err(write_error("a device with this id"))?;
        Ok(())
    }

    async fn device(&self, id: &str) -> Result<Device, StoreError> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        device(&row.ok_or(StoreError::NotFound)?)
    }

    async fn devices(&self, filter: &Filter, paging: Paging) -> Result<Listed<Device>, StoreError> {
        let clause =
            where_clause(&Filter { organisation_id: None, ..filter.clone() }, None, "version");
        let (rows, total) =
            self.page("devices", DEVICE_COLUMNS, clause, "last_seen DESC, id", paging).await?;
        Ok(Listed { items: rows.iter().map(device).collect::<Result<_, _>>()?, total })
    }

    async fn record_sync(&self, id: &str, r: &DeviceReport) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(database)?;
        record_sync_on(&mut conn, id, r).await
    }

    async fn note_message(
        &self,
        device_id: &str,
        message_id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(database)?;
        note_message_on(&mut conn, device_id, message_id, at).await
    }

    async fn store_counters(
        &self,
        device_id: &str,
        batch: &t1c_ds_protocol::counters::CounterBatch,
        at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        store_counters_on(&mut tx, device_id, batch, at).await?;
        tx.commit().await.map_err(database)
    }

    async fn apply_sync(
        &self,
        device_id: &str,
        message_id: &str,
        batch: &t1c_ds_protocol::counters::CounterBatch,
        report: &DeviceReport,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut tx = self.begin().await?;
        if !note_message_on(&mut tx, device_id, message_id, report.seen_at).await? {
            return Ok(None);
        }
        store_counters_on(&mut tx, device_id, batch, report.seen_at).await?;
        record_sync_on(&mut tx, device_id, report).await?;
        let mut newly_failed = Vec::new();
        for r in &report.rollouts {
            // Written only when the status changes, so `changed_at` is when it last did.
            let changed = sqlx::query(
                "INSERT INTO rollout_devices (rollout_id, device_id, status, reason, changed_at) \
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM rollouts WHERE id = $1) \
                 ON CONFLICT (rollout_id, device_id) DO UPDATE SET status = excluded.status, \
                 reason = excluded.reason, changed_at = excluded.changed_at \
                 WHERE rollout_devices.status <> excluded.status",
            )
            .bind(r.rollout_id.clone())
            .bind(device_id.to_owned())
            .bind(r.status.as_str())
            .bind(r.reason.clone())
            .bind(report.seen_at)
            .execute(&mut *tx)
            .await
            .map_err(database)?;
            if changed.rows_affected() > 0 && r.status == RolloutStatus::Failed {
                newly_failed.push(r.rollout_id.clone());
            }
        }
        tx.commit().await.map_err(database)?;
        Ok(Some(newly_failed))
    }

    async fn revoke_device(&self, id: &str, at: i64, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result =
            sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(id.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(database)?;
        touched(result)?;
        record(&mut tx, "device", id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn purge_messages(&self, before: i64) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM seen_messages WHERE seen_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(database)?;
        Ok(result.rows_affected())
    }

    async fn usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>, StoreError> {
        let rows = self
            .counter_rows(
                "SELECT day, label, tag, module, use_case, CAST(SUM(total) AS BIGINT) AS total \
                 FROM device_counters WHERE day >= $1 AND day <= $2",
                (&filter.from_day, &filter.to_day),
                filter.labels.as_deref(),
                " GROUP BY day, label, tag, module, use_case ORDER BY day, label, tag, module, use_case",
            )
            .await?;
        const T: &str = "device_counters";
        rows.iter()
            .map(|row| {
                Ok(UsageRow {
                    day: get(row, "day", T)?,
                    label: get(row, "label", T)?,
                    tag: get(row, "tag", T)?,
                    module: get(row, "module", T)?,
                    use_case: get(row, "use_case", T)?,
                    total: get(row, "total", T)?,
                })
            })
            .collect()
    }

    async fn close_month(&self, month: Month, now: i64) -> Result<bool, StoreError> {
        let (first, next) = (month.first_day(), month.next().first_day());
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO counter_months (month, closed_at) VALUES ($1, $2) ON CONFLICT (month) DO NOTHING",
        )
        .bind(month.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        // Waits for a fold of the previous month, whose closed rows are dropped below.
        sqlx::query("UPDATE counter_months SET closed_at = closed_at WHERE month = $1")
            .bind(month.previous().to_string())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        sqlx::query(
            "INSERT INTO closed_counters (device_id, day, label, tag, module, use_case, total, seq, received_at) \
             SELECT device_id, day, label, tag, module, use_case, total, seq, received_at \
             FROM device_counters WHERE day >= $1 AND day < $2",
        )
        .bind(first.clone())
        .bind(next.clone())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        // Only the versions copied: a row a sync changed meanwhile (PostgreSQL reads each
        // statement afresh) stays, and the next rollover folds it in as late data.
        sqlx::query(
            "DELETE FROM device_counters WHERE day >= $1 AND day < $2 AND EXISTS (\
             SELECT 1 FROM closed_counters c WHERE c.device_id = device_counters.device_id \
             AND c.day = device_counters.day AND c.label = device_counters.label \
             AND c.tag = device_counters.tag AND c.module = device_counters.module \
             AND c.use_case = device_counters.use_case AND c.seq = device_counters.seq)",
        )
        .bind(first.clone())
        .bind(next.clone())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        sqlx::query(
            "INSERT INTO counter_archive (month, label, tag, module, use_case, total, adjustment) \
             SELECT $1, label, tag, module, use_case, CAST(SUM(total) AS BIGINT), 0 \
             FROM closed_counters WHERE day >= $2 AND day < $3 GROUP BY label, tag, module, use_case",
        )
        .bind(month.to_string())
        .bind(first.clone())
        .bind(next)
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        sqlx::query("DELETE FROM closed_counters WHERE day < $1")
            .bind(first)
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        tx.commit().await.map_err(database)?;
        Ok(true)
    }

    async fn fold_late_counters(&self, month: Month) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        // The month's row lock serialises folds of one month and the next month's close.
        let closed =
            sqlx::query("UPDATE counter_months SET closed_at = closed_at WHERE month = $1")
                .bind(month.to_string())
                .execute(&mut *tx)
                .await
                .map_err(database)?;
        if closed.rows_affected() == 0 {
            return Ok(0);
        }
        let next_closed = sqlx::query("SELECT month FROM counter_months WHERE month = $1")
            .bind(month.next().to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(database)?
            .is_some();
        // What is deleted is exactly what is folded, whatever a concurrent sync does.
        let rows = sqlx::query(
            "DELETE FROM device_counters WHERE day >= $1 AND day < $2 \
             RETURNING device_id, day, label, tag, module, use_case, total, seq, received_at",
        )
        .bind(month.first_day())
        .bind(month.next().first_day())
        .fetch_all(&mut *tx)
        .await
        .map_err(database)?;
        const T: &str = "device_counters";
        for row in rows.iter().filter(|_| !next_closed) {
            let key: [String; 6] = [
                get(row, "device_id", T)?,
                get(row, "day", T)?,
                get(row, "label", T)?,
                get(row, "tag", T)?,
                get(row, "module", T)?,
                get(row, "use_case", T)?,
            ];
            let (total, seq, received_at): (i64, i64, i64) =
                (get(row, "total", T)?, get(row, "seq", T)?, get(row, "received_at", T)?);
            let mut query = sqlx::query(
                "SELECT total, seq FROM closed_counters WHERE device_id = $1 AND day = $2 \
                 AND label = $3 AND tag = $4 AND module = $5 AND use_case = $6",
            );
            for part in &key {
                query = query.bind(part.clone());
            }
            let before = query.fetch_optional(&mut *tx).await.map_err(database)?;
            let before_total = match &before {
                Some(b) if get::<i64>(b, "seq", "closed_counters")? >= seq => continue,
                Some(b) => get::<i64>(b, "total", "closed_counters")?,
                None => 0,
            };
            let mut query = sqlx::query(
                "INSERT INTO closed_counters (device_id, day, label, tag, module, use_case, total, seq, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (device_id, day, label, tag, module, use_case) DO UPDATE \
                 SET total = excluded.total, seq = excluded.seq, received_at = excluded.received_at",
            );
            for part in &key {
                query = query.bind(part.clone());
            }
            query
                .bind(total)
                .bind(seq)
                .bind(received_at)
                .execute(&mut *tx)
                .await
                .map_err(write_error("counter"))?;
            let [_, _, label, tag, module, use_case] = key;
            sqlx::query(
                "INSERT INTO counter_archive (month, label, tag, module, use_case, total, adjustment) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6) \
                 ON CONFLICT (month, label, tag, module, use_case) DO UPDATE \
                 SET adjustment = counter_archive.adjustment + excluded.adjustment",
            )
            .bind(month.to_string())
            .bind(label)
            .bind(tag)
            .bind(module)
            .bind(use_case)
            .bind(total - before_total)
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        }
        tx.commit().await.map_err(database)?;
        Ok(rows.len() as u64)
    }

    async fn oldest_counter_day(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT MIN(day) AS day FROM device_counters")
            .fetch_one(&self.pool)
            .await
            .map_err(database)?;
        get(&row, "day", "device_counters")
    }

    async fn closed_months(&self) -> Result<Vec<Month>, StoreError> {
        let rows = sqlx::query("SELECT month FROM counter_months ORDER BY month")
            .fetch_all(&self.pool)
            .await
            .map_err(database)?;
        rows.iter()
            .map(|row| {
                get::<String>(row, "month", "counter_months")?
                    .parse()
                    .map_err(|_| StoreError::Corrupt("counter_months"))
            })
            .collect()
    }

    async fn usage_months(&self, filter: &MonthFilter) -> Result<Vec<MonthRow>, StoreError> {
        let rows = self
            .counter_rows(
                "SELECT month, label, tag, module, use_case, total, adjustment FROM counter_archive \
                 WHERE month >= $1 AND month <= $2",
                (&filter.from_month, &filter.to_month),
                filter.labels.as_deref(),
                " ORDER BY month, label, tag, module, use_case",
            )
            .await?;
        const T: &str = "counter_archive";
        rows.iter()
            .map(|row| {
                Ok(MonthRow {
                    month: get(row, "month", T)?,
                    label: get(row, "label", T)?,
                    tag: get(row, "tag", T)?,
                    module: get(row, "module", T)?,
                    use_case: get(row, "use_case", T)?,
                    total: get(row, "total", T)?,
                    adjustment: get(row, "adjustment", T)?,
                })
            })
            .collect()
    }

    async fn create_tls_keystore(
        &self,
        k: &TlsKeystoreRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (kind, scope_id) = scope_columns(&k.scope);
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO tls_keystores (id, scope_kind, scope_id, dns_names, chain_pem, key_pem, not_after, fingerprint, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
        )
        .bind(k.id.clone())
        .bind(kind)
        .bind(scope_id)
        .bind(list_text(&k.dns_names))
        .bind(k.chain_pem.clone())
        .bind(k.key_pem.expose().to_owned())
        .bind(k.not_after)
        .bind(k.fingerprint.clone())
        .bind(k.created_at)
        .execute(&mut *tx)
        .await
        .map_err(write_error("this TLS keystore"))?;
        record(&mut tx, "tls_keystore", &k.id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn tls_keystores(&self) -> Result<Vec<TlsKeystoreRecord>, StoreError> {
        let sql = format!(
            "SELECT {TLS_KEYSTORE_COLUMNS} FROM tls_keystores ORDER BY not_after DESC, created_at DESC, id"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await.map_err(database)?;
        rows.iter().map(tls_keystore).collect()
    }

    async fn revoke_tls_keystore(
        &self,
        id: &str,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "UPDATE tls_keystores SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        touched(result)?;
        record(&mut tx, "tls_keystore", id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn create_bundle(
        &self,
        b: &BundleRecord,
        content: &[u8],
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO bundles (digest, module, version, signer, contract, capabilities, description, size, content, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(b.digest.clone())
        .bind(b.module.clone())
        .bind(b.version.clone())
        .bind(b.signer.clone())
        .bind(b.contract.clone())
        .bind(list_text(&b.capabilities))
        .bind(b.description.clone())
        .bind(b.size)
        .bind(content.to_vec())
        .bind(b.created_at)
        .execute(&mut *tx)
        .await
        .map_err(write_error("a bundle with this digest, or of this module and version,"))?;
        record(&mut tx, "bundle", &b.digest, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn bundles(
        &self,
        filter: &Filter,
        paging: Paging,
    ) -> Result<Listed<BundleRecord>, StoreError> {
        let clause = where_clause(filter, None, "module");
        let (rows, total) = self
            .page("bundles", BUNDLE_COLUMNS, clause, "created_at DESC, module, digest", paging)
            .await?;
        Ok(Listed { items: rows.iter().map(bundle).collect::<Result<_, _>>()?, total })
    }

    async fn bundle(&self, digest: &str) -> Result<BundleRecord, StoreError> {
        let sql = format!("SELECT {BUNDLE_COLUMNS} FROM bundles WHERE digest = $1");
        let row = sqlx::query(&sql)
            .bind(digest.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?
            .ok_or(StoreError::NotFound)?;
        bundle(&row)
    }

    async fn bundle_content(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let row = sqlx::query("SELECT content FROM bundles WHERE digest = $1")
            .bind(digest.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?
            .ok_or(StoreError::NotFound)?;
        get(&row, "content", "bundles")
    }

    async fn delete_bundle(&self, digest: &str, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "DELETE FROM bundles WHERE digest = $1 AND NOT EXISTS (SELECT 1 FROM rollouts WHERE bundle = $1)",
        )
        .bind(digest.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        if result.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM bundles WHERE digest = $1")
                .bind(digest.to_owned())
                .fetch_optional(&mut *tx)
                .await
                .map_err(database)?;
            return Err(match exists {
                Some(_) => StoreError::Refused("a rollout uses this bundle"),
                None => StoreError::NotFound,
            });
        }
        record(&mut tx, "bundle", digest, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn create_rollout(&self, r: &Rollout, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        bump_assignment_serial(&mut tx).await?;
        sqlx::query(
            "INSERT INTO rollouts (id, bundle, module, connector_versions, labels, organisations, percent, \
             failure_threshold, state, state_reason, counted_since, created_at, updated_at, sequence) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, value FROM assignment_serial WHERE id = 1",
        )
        .bind(r.id.clone())
        .bind(r.bundle.clone())
        .bind(r.module.clone())
        .bind(r.connector_versions.clone())
        .bind(list_text(&r.labels))
        .bind(list_text(&r.organisations))
        .bind(i64::from(r.percent))
        .bind(to_u32(r.failure_threshold))
        .bind(r.state.as_str())
        .bind(r.state_reason.clone())
        .bind(r.counted_since)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(write_error("a rollout with this id"))?;
        record(&mut tx, "rollout", &r.id, audit).await?;
        tx.commit().await.map_err(database)
    }

    async fn rollouts(&self) -> Result<Vec<Rollout>, StoreError> {
        let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts ORDER BY sequence");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await.map_err(database)?;
        rows.iter().map(rollout).collect()
    }

    async fn rollout(&self, id: &str) -> Result<Rollout, StoreError> {
        let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?
            .ok_or(StoreError::NotFound)?;
        rollout(&row)
    }

    async fn raise_rollout(
        &self,
        id: &str,
        percent: u8,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<Rollout, StoreError> {
        let mut tx = self.begin().await?;
        bump_assignment_serial(&mut tx).await?;
        let result = sqlx::query(
            "UPDATE rollouts SET percent = $1, updated_at = $2 \
             WHERE id = $3 AND percent < $1 AND state <> 'rolled_back'",
        )
        .bind(i64::from(percent))
        .bind(at)
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        let current = rollout_on(&mut tx, id).await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Refused(
                "a rollout's percentage only rises, and a rolled-back rollout does not change",
            ));
        }
        record(&mut tx, "rollout", id, audit).await?;
        tx.commit().await.map_err(database)?;
        Ok(current)
    }

    async fn set_rollout_state(
        &self,
        id: &str,
        from: &[RolloutState],
        to: RolloutState,
        reason: Option<&str>,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<Rollout, StoreError> {
        let mut tx = self.begin().await?;
        bump_assignment_serial(&mut tx).await?;
        let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let counted_since = if to == RolloutState::Active { "$4" } else { "counted_since" };
        let sql = format!(
            "UPDATE rollouts SET state = $1, state_reason = $2, updated_at = $4, counted_since = {counted_since} \
             WHERE id = $3 AND state IN ({})",
            states.join(", ")
        );
        let result = sqlx::query(&sql)
            .bind(to.as_str())
            .bind(reason.map(str::to_owned))
            .bind(id.to_owned())
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        let current = rollout_on(&mut tx, id).await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Refused("the rollout is not in a state this applies to"));
        }
        record(&mut tx, "rollout", id, audit).await?;
        tx.commit().await.map_err(database)?;
        Ok(current)
    }

    async fn pause_failing_rollouts(
        &self,
        ids: &[String],
        at: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut paused = Vec::new();
        for id in ids {
            // The serial first, as every rollout change does (one lock order: no deadlock);
            // dropped with the transaction when nothing is paused.
            let mut tx = self.begin().await?;
            bump_assignment_serial(&mut tx).await?;
            let result = sqlx::query(
                "UPDATE rollouts SET state = 'paused', state_reason = 'failure threshold reached', updated_at = $1 \
                 WHERE id = $2 AND state = 'active' AND failure_threshold > 0 AND failure_threshold <= \
                 (SELECT COUNT(*) FROM rollout_devices d WHERE d.rollout_id = rollouts.id \
                  AND d.status = 'failed' AND d.changed_at > rollouts.counted_since)",
            )
            .bind(at)
            .bind(id.clone())
            .execute(&mut *tx)
            .await
            .map_err(database)?;
            if result.rows_affected() == 0 {
                tx.rollback().await.map_err(database)?;
                continue;
            }
            let audit = AuditEvent {
                at,
                actor: "system".into(),
                action: "rollout.pause",
                organisation_id: None,
                detail: serde_json::json!({"id": id, "reason": "failure threshold reached"}),
            };
            record(&mut tx, "rollout", id, &audit).await?;
            tx.commit().await.map_err(database)?;
            paused.push(id.clone());
        }
        Ok(paused)
    }

    async fn rollout_progress(
        &self,
    ) -> Result<std::collections::HashMap<String, RolloutProgress>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.rollout_id, d.status, CAST(COUNT(*) AS BIGINT) AS n, \
             CAST(SUM(CASE WHEN d.changed_at > r.counted_since THEN 1 ELSE 0 END) AS BIGINT) AS recent \
             FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id GROUP BY d.rollout_id, d.status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        const T: &str = "rollout_devices";
        let mut progress: std::collections::HashMap<String, RolloutProgress> =
            std::collections::HashMap::new();
        for row in &rows {
            let id: String = get(row, "rollout_id", T)?;
            let status: String = get(row, "status", T)?;
            let n = u64::try_from(get::<i64>(row, "n", T)?).unwrap_or(0);
            let recent = u64::try_from(get::<i64>(row, "recent", T)?).unwrap_or(0);
            let entry = progress.entry(id).or_default();
            entry.assigned += n;
            match status.as_str() {
                "installed" => entry.installed += n,
                "failed" => {
                    entry.failed += n;
                    entry.failed_since_resume += recent;
                }
                _ => {}
            }
        }
        Ok(progress)
    }

    async fn assignment_serial(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT value FROM assignment_serial WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(database)?;
        get(&row, "value", "assignment_serial")
    }

    async fn devices_seen(
        &self,
        filter: &DeviceFilter,
        windows: &[i64],
    ) -> Result<Vec<u64>, StoreError> {
        let (clause, binds) = device_conditions(filter);
        let sql = format!("SELECT COUNT(*) FROM devices{clause}");
        let mut counts = Vec::with_capacity(windows.len());
        for &since in windows {
            let mut query = sqlx::query(&sql).bind(since);
            for bind in &binds {
                query = query.bind(bind.clone());
            }
            let count: i64 = query
                .fetch_one(&self.pool)
                .await
                .map_err(database)?
                .try_get(0)
                .map_err(database)?;
            counts.push(u64::try_from(count).unwrap_or(0));
        }
        Ok(counts)
    }

    async fn device_counts(
        &self,
        filter: &DeviceFilter,
        by: DeviceDimension,
    ) -> Result<Vec<DeviceCount>, StoreError> {
        let unknown = format!("COALESCE(os_version, '{UNKNOWN_OS_VERSION}')");
        let column = match by {
            DeviceDimension::Os => "os",
            DeviceDimension::OsVersion => unknown.as_str(),
            DeviceDimension::Arch => "arch",
            DeviceDimension::Version => "version",
            DeviceDimension::State => "state",
            // Grouped by the whole list (few distinct lists), split below.
            DeviceDimension::Browser => "browsers",
        };
        let (clause, binds) = device_conditions(filter);
        let sql = format!(
            "SELECT {column} AS bucket, COUNT(*) AS devices FROM devices{clause} GROUP BY {column}"
        );
        let mut query = sqlx::query(&sql).bind(filter.seen_since);
        for bind in &binds {
            query = query.bind(bind.clone());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(database)?;
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for row in &rows {
            let devices = u64::try_from(get::<i64>(row, "devices", "devices")?).unwrap_or(0);
            if by == DeviceDimension::Browser {
                for browser in get_list(row, "bucket", "devices")? {
                    *counts.entry(browser).or_default() += devices;
                }
            } else {
                *counts.entry(get(row, "bucket", "devices")?).or_default() += devices;
            }
        }
        let mut counts: Vec<DeviceCount> =
            counts.into_iter().map(|(value, devices)| DeviceCount { value, devices }).collect();
        counts.sort_by(|a, b| b.devices.cmp(&a.devices).then_with(|| a.value.cmp(&b.value)));
        Ok(counts)
    }

    async fn devices_matching(
        &self,
        filter: &DeviceFilter,
        paging: Paging,
    ) -> Result<Listed<Device>, StoreError> {
        let (clause, binds) = device_conditions(filter);
        let limit = paging.limit.clamp(1, Paging::MAX_LIMIT);
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices{clause} ORDER BY last_seen DESC, id LIMIT ${} OFFSET ${}",
            binds.len() + 2,
            binds.len() + 3
        );
        let mut query = sqlx::query(&sql).bind(filter.seen_since);
        for bind in &binds {
            query = query.bind(bind.clone());
        }
        let rows = query
            .bind(to_u32(limit))
            .bind(to_u32(paging.offset))
            .fetch_all(&self.pool)
            .await
            .map_err(database)?;
        let total = self.devices_seen(filter, &[filter.seen_since]).await?;
        Ok(Listed {
            items: rows.iter().map(device).collect::<Result<_, _>>()?,
            total: total.first().copied().unwrap_or(0),
        })
    }

    async fn usage_totals(
        &self,
        filter: &UsageFilter,
        by: UsageDimension,
        per: Period,
    ) -> Result<Vec<UsageTotal>, StoreError> {
        let period = match per {
            Period::Day => "day",
            Period::Month => "SUBSTR(day, 1, 7)",
        };
        let column = by.column();
        let rows = self
            .counter_rows(
                &format!(
                    "SELECT {period} AS period, {column} AS bucket, CAST(SUM(total) AS BIGINT) AS total \
                     FROM device_counters WHERE day >= $1 AND day <= $2"
                ),
                (&filter.from_day, &filter.to_day),
                filter.labels.as_deref(),
                &format!(" GROUP BY {period}, {column} ORDER BY {period}, {column}"),
            )
            .await?;
        rows.iter().map(|row| usage_total(row, "device_counters")).collect()
    }

    async fn archived_totals(
        &self,
        filter: &MonthFilter,
        by: UsageDimension,
    ) -> Result<Vec<UsageTotal>, StoreError> {
        let column = by.column();
        let rows = self
            .counter_rows(
                &format!(
                    "SELECT month AS period, {column} AS bucket, \
                     CAST(SUM(total + adjustment) AS BIGINT) AS total \
                     FROM counter_archive WHERE month >= $1 AND month <= $2"
                ),
                (&filter.from_month, &filter.to_month),
                filter.labels.as_deref(),
                &format!(" GROUP BY month, {column} ORDER BY month, {column}"),
            )
            .await?;
        rows.iter().map(|row| usage_total(row, "counter_archive")).collect()
    }
}

/// The `WHERE` clause of a device filter: `$1` is `seen_since`, the returned texts follow.
fn device_conditions(filter: &DeviceFilter) -> (String, Vec<String>) {
    let mut clause = String::from(" WHERE revoked_at IS NULL AND last_seen >= $1");
    let mut binds = Vec::new();
    if let Some(os_version) = &filter.os_version {
        if os_version == UNKNOWN_OS_VERSION {
            clause.push_str(" AND os_version IS NULL");
        } else {
            binds.push(os_version.clone());
            clause.push_str(&format!(" AND os_version = ${}", binds.len() + 1));
        }
    }
    for (column, value) in [
        ("os", &filter.os),
        ("arch", &filter.arch),
        ("version", &filter.version),
        ("state", &filter.state),
    ] {
        if let Some(value) = value {
            binds.push(value.clone());
            clause.push_str(&format!(" AND {column} = ${}", binds.len() + 1));
        }
    }
    if let Some(browser) = &filter.browser {
        // `browsers` is a JSON array of names: the name, quoted as JSON writes it.
        binds.push(contains_pattern(&serde_json::Value::from(browser.as_str()).to_string()));
        clause.push_str(&format!(" AND browsers LIKE ${} ESCAPE '\\'", binds.len() + 1));
    }
    (clause, binds)
}

fn usage_total(row: &AnyRow, table: &'static str) -> Result<UsageTotal, StoreError> {
    Ok(UsageTotal {
        period: get(row, "period", table)?,
        key: get(row, "bucket", table)?,
        total: get(row, "total", table)?,
    })
}

const TLS_KEYSTORE_COLUMNS: &str = "id, scope_kind, scope_id, dns_names, chain_pem, key_pem, not_after, fingerprint, created_at, revoked_at";

fn scope_columns(scope: &KeystoreScope) -> (&'static str, Option<String>) {
    match scope {
        KeystoreScope::Default => ("default", None),
        KeystoreScope::Version(id) => ("version", Some(id.clone())),
        KeystoreScope::Organisation(id) => ("organisation", Some(id.clone())),
    }
}

/// Moves the assignment serial on, first in a transaction (a write, so SQLite takes its lock).
async fn bump_assignment_serial(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE assignment_serial SET value = value + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await
        .map_err(database)?;
    Ok(())
}

async fn rollout_on(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<Rollout, StoreError> {
    let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_owned())
        .fetch_optional(&mut **tx)
        .await
        .map_err(database)?
        .ok_or(StoreError::NotFound)?;
    rollout(&row)
}

const BUNDLE_COLUMNS: &str =
    "digest, module, version, signer, contract, capabilities, description, size, created_at";

fn bundle(row: &AnyRow) -> Result<BundleRecord, StoreError> {
    const T: &str = "bundles";
    Ok(BundleRecord {
        digest: get(row, "digest", T)?,
        module: get(row, "module", T)?,
        version: get(row, "version", T)?,
        signer: get(row, "signer", T)?,
        contract: get(row, "contract", T)?,
        capabilities: get_list(row, "capabilities", T)?,
        description: get(row, "description", T)?,
        size: get(row, "size", T)?,
        created_at: get(row, "created_at", T)?,
    })
}

const ROLLOUT_COLUMNS: &str = "id, bundle, module, connector_versions, labels, organisations, percent, \
     failure_threshold, state, state_reason, counted_since, sequence, created_at, updated_at";

fn rollout(row: &AnyRow) -> Result<Rollout, StoreError> {
    const T: &str = "rollouts";
    let state: String = get(row, "state", T)?;
    Ok(Rollout {
        id: get(row, "id", T)?,
        bundle: get(row, "bundle", T)?,
        module: get(row, "module", T)?,
        connector_versions: get(row, "connector_versions", T)?,
        labels: get_list(row, "labels", T)?,
        organisations: get_list(row, "organisations", T)?,
        percent: u8::try_from(get::<i64>(row, "percent", T)?)
            .map_err(|_| StoreError::Corrupt(T))?,
        failure_threshold: u32::try_from(get::<i64>(row, "failure_threshold", T)?)
            .map_err(|_| StoreError::Corrupt(T))?,
        state: RolloutState::parse(&state).ok_or(StoreError::Corrupt(T))?,
        state_reason: get(row, "state_reason", T)?,
        counted_since: get(row, "counted_since", T)?,
        sequence: get(row, "sequence", T)?,
        created_at: get(row, "created_at", T)?,
        updated_at: get(row, "updated_at", T)?,
    })
}

fn tls_keystore(row: &AnyRow) -> Result<TlsKeystoreRecord, StoreError> {
    const T: &str = "tls_keystores";
    let kind: String = get(row, "scope_kind", T)?;
    let scope_id: Option<String> = get(row, "scope_id", T)?;
    let scope = match (kind.as_str(), scope_id) {
        ("default", _) => KeystoreScope::Default,
        ("version", Some(id)) => KeystoreScope::Version(id),
        ("organisation", Some(id)) => KeystoreScope::Organisation(id),
        _ => return Err(StoreError::Corrupt(T)),
    };
    Ok(TlsKeystoreRecord {
        id: get(row, "id", T)?,
        scope,
        dns_names: get_list(row, "dns_names", T)?,
        chain_pem: get(row, "chain_pem", T)?,
        key_pem: PrivateKeyPem::new(get(row, "key_pem", T)?),
        not_after: get(row, "not_after", T)?,
        fingerprint: get(row, "fingerprint", T)?,
        created_at: get(row, "created_at", T)?,
        revoked_at: get(row, "revoked_at", T)?,
    })
}
