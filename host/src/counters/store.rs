//! The SQLite side of the counters: connection settings, schema, and the few statements the
//! store runs. Nothing here knows about threads; [`super::writer`] owns the writing connection.
//!
//! Two tables hold counts. `counters` has the live rows, one per (label, tag, module, use case,
//! day). `drained` has the rows handed to the DS sync and not yet acknowledged, grouped by the
//! drain (`drains`) they were handed out in. A transaction is counted exactly once across both;
//! draining moves counts from the first to the second in one SQLite transaction. A third,
//! `shipped`, holds per key the total the DS has acknowledged: the DS keeps absolute day totals,
//! so a drain is shipped as `shipped + drained` and acknowledging it adds it to `shipped`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tracing::warn;

use super::error::CountersError;
use super::transaction::{CounterRow, Day, Key, UseCase};
use super::{Drain, DrainId};

/// The schema version this build writes (`PRAGMA user_version`).
pub(super) const SCHEMA_VERSION: i64 = 2;

/// Rows one drain holds at most: with 128-byte labels and tags, one sealed DS message stays
/// well under the DS's 256 KiB limit (each row is at most about 400 bytes of JSON, and sealing
/// adds two layers of base64).
pub(super) const MAX_DRAIN_ROWS: i64 = 250;

/// Days the acknowledged totals are kept (the DS takes late counts for about two months).
const SHIPPED_DAYS: i64 = 70;

/// Version 2: the acknowledged totals.
const SHIPPED_TABLE: &str = "
    CREATE TABLE IF NOT EXISTS shipped (
        label    TEXT    NOT NULL,
        tag      TEXT    NOT NULL,
        module   TEXT    NOT NULL,
        use_case TEXT    NOT NULL,
        day      INTEGER NOT NULL,
        total    INTEGER NOT NULL CHECK (total > 0),
        PRIMARY KEY (label, tag, module, use_case, day)
    ) WITHOUT ROWID;
";

/// How long a statement waits for a lock held by another connection (a second process on the
/// same file, or a checkpoint) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS counters (
        label    TEXT    NOT NULL,
        tag      TEXT    NOT NULL,
        module   TEXT    NOT NULL,
        use_case TEXT    NOT NULL,
        day      INTEGER NOT NULL,
        counter  INTEGER NOT NULL CHECK (counter > 0),
        PRIMARY KEY (label, tag, module, use_case, day)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS drains (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS drained (
        drain_id INTEGER NOT NULL,
        label    TEXT    NOT NULL,
        tag      TEXT    NOT NULL,
        module   TEXT    NOT NULL,
        use_case TEXT    NOT NULL,
        day      INTEGER NOT NULL,
        counter  INTEGER NOT NULL CHECK (counter > 0),
        PRIMARY KEY (drain_id, label, tag, module, use_case, day)
    ) WITHOUT ROWID;
";

const UPSERT: &str = "
    INSERT INTO counters (label, tag, module, use_case, day, counter)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (label, tag, module, use_case, day)
    DO UPDATE SET counter = counter + excluded.counter";

/// One connection to the counters database, with the path its errors name.
pub(super) struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path` for writing: WAL journal,
    /// `synchronous=FULL`, an integrity check, and the schema created or checked.
    pub(super) fn open_writer(path: &Path) -> Result<Self, CountersError> {
        let opening = |err| CountersError::opening(path, err);
        let conn = Connection::open(path).map_err(opening)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(opening)?;
        // The first statement that reads the file: a non-database fails here, as NotADatabase.
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(opening)?;
        if !mode.eq_ignore_ascii_case("wal") {
            warn!(path = %path.display(), mode, "counters database is not in WAL mode");
        }
        // FULL: every commit is fsynced before `record` returns, so a counted transaction
        // survives power loss too, not only a killed process (see the module docs).
        conn.pragma_update(None, "synchronous", "FULL").map_err(opening)?;
        let store = Self { conn, path: path.to_owned() };
        store.check_integrity()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens the existing database at `path` for reading only (snapshots). WAL lets it read a
    /// consistent state while the writer commits.
    pub(super) fn open_reader(path: &Path) -> Result<Self, CountersError> {
        let opening = |err| CountersError::opening(path, err);
        // No CREATE flag: the writer has just created the file, and a reader must never make one.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(opening)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(opening)?;
        conn.pragma_update(None, "query_only", true).map_err(opening)?;
        Ok(Self { conn, path: path.to_owned() })
    }

    /// Adds `counts` to the live counters in one transaction, one fsync.
    pub(super) fn add(&mut self, counts: &HashMap<Key, u64>) -> Result<(), CountersError> {
        let failed = |err| CountersError::storage(&self.path, "commit increments", err);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        {
            let mut upsert = tx.prepare_cached(UPSERT).map_err(failed)?;
            for (key, &count) in counts {
                upsert
                    .execute(params![
                        key.label,
                        key.tag,
                        key.module,
                        key.use_case.as_str(),
                        key.day.julian(),
                        i64::try_from(count).unwrap_or(i64::MAX),
                    ])
                    .map_err(failed)?;
            }
        }
        tx.commit().map_err(failed)
    }

    /// Every count not yet acknowledged by the DS, live or drained, one row per key.
    pub(super) fn snapshot(&self) -> Result<Vec<CounterRow>, CountersError> {
        self.rows(
            "SELECT label, tag, module, use_case, day, SUM(counter) FROM (
                 SELECT label, tag, module, use_case, day, counter FROM counters
                 UNION ALL
                 SELECT label, tag, module, use_case, day, counter FROM drained
             )
             GROUP BY label, tag, module, use_case, day
             ORDER BY day, label, tag, module, use_case",
            [],
            "read a snapshot",
        )
    }

    /// The oldest unacknowledged drain if there is one; otherwise moves every live row up to and
    /// including `last_day` into a new drain. `None` when there is nothing to ship.
    pub(super) fn drain_until(&mut self, last_day: Day) -> Result<Option<Drain>, CountersError> {
        let path = self.path.clone();
        let failed = |err| CountersError::storage(&path, "drain counters", err);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        let pending: Option<i64> =
            tx.query_row("SELECT MIN(id) FROM drains", [], |row| row.get(0)).map_err(failed)?;
        let id = match pending {
            Some(id) => id,
            None => {
                let due: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM counters WHERE day <= ?1)",
                        [last_day.julian()],
                        |row| row.get(0),
                    )
                    .map_err(failed)?;
                if !due {
                    return Ok(None);
                }
                // AUTOINCREMENT: an id is never handed out twice, even after acknowledged drains
                // are deleted, so the DS can use it to recognise a drain it already received.
                tx.execute("INSERT INTO drains (created_at) VALUES (unixepoch())", [])
                    .map_err(failed)?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO drained (drain_id, label, tag, module, use_case, day, counter)
                     SELECT ?1, label, tag, module, use_case, day, counter
                     FROM counters WHERE day <= ?2
                     ORDER BY day, label, tag, module, use_case LIMIT ?3",
                    params![id, last_day.julian(), MAX_DRAIN_ROWS],
                )
                .map_err(failed)?;
                tx.execute(
                    "DELETE FROM counters WHERE (label, tag, module, use_case, day) IN
                     (SELECT label, tag, module, use_case, day FROM drained WHERE drain_id = ?1)",
                    [id],
                )
                .map_err(failed)?;
                id
            }
        };
        let rows = rows_of(
            &tx,
            &self.path,
            "SELECT label, tag, module, use_case, day, counter FROM drained
             WHERE drain_id = ?1 ORDER BY day, label, tag, module, use_case",
            [id],
            "drain counters",
        )?;
        let totals = rows_of(
            &tx,
            &self.path,
            "SELECT d.label, d.tag, d.module, d.use_case, d.day, d.counter + COALESCE(s.total, 0)
             FROM drained d LEFT JOIN shipped s USING (label, tag, module, use_case, day)
             WHERE d.drain_id = ?1 ORDER BY d.day, d.label, d.tag, d.module, d.use_case",
            [id],
            "drain counters",
        )?;
        tx.commit().map_err(failed)?;
        let id = u64::try_from(id)
            .map_err(|_| CountersError::bad_row(&self.path, format!("drain id {id}")))?;
        Ok(Some(Drain { id: DrainId(id), rows, totals }))
    }

    /// Forgets drain `id` and its rows, if it is still there.
    pub(super) fn acknowledge(&mut self, id: DrainId) -> Result<bool, CountersError> {
        let path = self.path.clone();
        let failed = |err| CountersError::storage(&path, "acknowledge a drain", err);
        let id = i64::try_from(id.0).unwrap_or(i64::MAX);
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        tx.execute(
            "INSERT INTO shipped (label, tag, module, use_case, day, total)
             SELECT label, tag, module, use_case, day, counter FROM drained WHERE drain_id = ?1
             ON CONFLICT (label, tag, module, use_case, day)
             DO UPDATE SET total = total + excluded.total",
            [id],
        )
        .map_err(failed)?;
        tx.execute(
            "DELETE FROM shipped WHERE day < ?1",
            [i64::from(Day::today().julian()) - SHIPPED_DAYS],
        )
        .map_err(failed)?;
        tx.execute("DELETE FROM drained WHERE drain_id = ?1", [id]).map_err(failed)?;
        let known = tx.execute("DELETE FROM drains WHERE id = ?1", [id]).map_err(failed)?;
        tx.commit().map_err(failed)?;
        Ok(known > 0)
    }

    /// Forgets the acknowledged totals: a new device id starts from zero at the DS.
    pub(super) fn forget_shipped(&mut self) -> Result<(), CountersError> {
        self.conn
            .execute("DELETE FROM shipped", [])
            .map(|_| ())
            .map_err(|err| CountersError::storage(&self.path, "forget acknowledged totals", err))
    }

    /// Runs SQLite's quick integrity check, so a damaged file is reported at open, with its
    /// name, instead of failing some later increment.
    fn check_integrity(&self) -> Result<(), CountersError> {
        let problems =
            quick_check(&self.conn).map_err(|err| CountersError::opening(&self.path, err))?;
        if problems.iter().all(|line| line == "ok") {
            return Ok(());
        }
        Err(CountersError::Corrupt { path: self.path.clone(), detail: problems.join("; ") })
    }

    /// Creates the schema in a new file, accepts the current one, refuses a newer one.
    fn migrate(&self) -> Result<(), CountersError> {
        let opening = |err| CountersError::opening(&self.path, err);
        let found: i64 =
            self.conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(opening)?;
        match found {
            SCHEMA_VERSION => Ok(()),
            0 => self
                .conn
                .execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SCHEMA} {SHIPPED_TABLE} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(opening),
            1 => self
                .conn
                .execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SHIPPED_TABLE} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(opening),
            found => Err(CountersError::UnsupportedSchema {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            }),
        }
    }

    fn rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        operation: &'static str,
    ) -> Result<Vec<CounterRow>, CountersError> {
        rows_of(&self.conn, &self.path, sql, params, operation)
    }
}

/// The lines of `PRAGMA quick_check`: a single `ok`, or one line per problem found.
fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut check = conn.prepare("PRAGMA quick_check")?;
    let lines = check.query_map([], |row| row.get::<_, String>(0))?;
    lines.collect()
}

/// Runs `sql`, whose columns are (label, tag, module, use case, day, counter), and parses each
/// row; a row this store could not have written is reported as corruption.
fn rows_of(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: impl rusqlite::Params,
    operation: &'static str,
) -> Result<Vec<CounterRow>, CountersError> {
    let failed = |err| CountersError::storage(path, operation, err);
    let mut statement = conn.prepare_cached(sql).map_err(failed)?;
    let raw = statement
        .query_map(params, |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, i64>(5)?,
            ))
        })
        .map_err(failed)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    raw.into_iter()
        .map(|(label, tag, module, use_case, day, counter)| {
            let bad = |what: String| CountersError::bad_row(path, what);
            let use_case: UseCase = use_case
                .parse()
                .map_err(|err: super::transaction::ParseFieldError| bad(err.to_string()))?;
            let day = i32::try_from(day)
                .ok()
                .and_then(Day::from_julian)
                .ok_or_else(|| bad(format!("day number {day} out of range")))?;
            let counter =
                u64::try_from(counter).map_err(|_| bad(format!("negative counter {counter}")))?;
            let key = Key { label, tag, module, use_case, day };
            Ok(key.into_row(counter))
        })
        .collect()
}
