//! Storage: one connection type over SQLite and PostgreSQL, the pools, embedded migrations,
//! and one module per table family. Model functions take the connection first and return
//! `QueryResult`; callers in async code go through [`Db::read`] / [`Db::write`], which run
//! them on the blocking thread pool.

pub mod audit;
pub mod changes;
pub mod follows;
pub mod incidents;
pub mod posts;
pub mod schema;
pub mod sessions;
pub mod tags;
pub mod users;
pub mod writer;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend; everything portable is written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

/// Runs the same diesel code on the concrete connection inside a [`DbConn`], for the few
/// statements (`RETURNING`, upserts) the common subset does not cover.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Pg($c) => $body,
        }
    };
}

/// Which backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite://") || url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            anyhow::bail!("database url must start with sqlite:// or postgres://, got {url:?}")
        }
    }
}

/// Page cache of the one SQLite writer connection. SQLite's default (2 MiB) is far smaller
/// than the indexes a write touches (the import key index alone is ~70 bytes a post), so
/// with it every commit spills and re-reads pages: ~50 `pwrite`s a post in a bulk import.
pub const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// Page cache of each SQLite reader; reads also go through the OS page cache.
const READER_CACHE_KIB: i64 = 16 * 1024;

/// Per-connection SQLite settings. Each pragma is its own statement: SQLite ignores
/// everything after the first statement of a batch sent through `sql_query`.
#[derive(Debug)]
struct SqlitePragmas {
    cache_kib: i64,
}

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(_) = conn {
            let cache = format!("PRAGMA cache_size = -{}", self.cache_kib);
            for pragma in [
                "PRAGMA busy_timeout = 10000",
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
                cache.as_str(),
            ] {
                diesel::sql_query(pragma).execute(conn).map_err(diesel::r2d2::Error::QueryError)?;
            }
        }
        Ok(())
    }
}

/// The database handle kept in the app state: a small read pool and a write pool. On SQLite
/// the write pool has one connection, so writers queue in the process instead of fighting
/// over the file lock.
#[derive(Clone)]
pub struct Db {
    read: Pool<ConnectionManager<DbConn>>,
    write: Pool<ConnectionManager<DbConn>>,
    backend: Backend,
    /// The server's group commit on SQLite; `None` for PostgreSQL (where writers do not
    /// queue on one lock) and for command-line runs.
    queue: Option<writer::WriteQueue>,
}

impl Db {
    /// Opens the pools for the server (creating the SQLite file's folder if needed) and
    /// applies migrations.
    pub fn connect(url: &str) -> anyhow::Result<Db> {
        Db::open(url, true)
    }

    /// Opens small pools for a command-line run. They keep no idle connections warm: r2d2
    /// opens those on background threads, and a process that exits while one is inside
    /// libpq's TLS setup crashes as OpenSSL is torn down.
    pub fn connect_for_tool(url: &str) -> anyhow::Result<Db> {
        Db::open(url, false)
    }

    fn open(url: &str, server: bool) -> anyhow::Result<Db> {
        let backend = Backend::of_url(url)?;
        let conn_url = match backend {
            Backend::Sqlite => {
                let path = sqlite_path(url);
                if let Some(parent) = Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent)
                            .with_context(|| format!("creating {}", parent.display()))?;
                    }
                }
                path.to_string()
            }
            Backend::Postgres => url.to_string(),
        };
        let (read_size, write_size) = match (backend, server) {
            (Backend::Sqlite, _) => (4, 1),
            (Backend::Postgres, true) => (8, 8),
            (Backend::Postgres, false) => (2, 2),
        };
        let min_idle = if server { 1 } else { 0 };
        // How long a request waits for a connection. A server on PostgreSQL answers 503 within
        // 3 s while the database is unreachable instead of holding requests for half a minute;
        // SQLite's pools only ever wait for each other, which can take longer under load.
        let wait = match (backend, server) {
            (Backend::Postgres, true) => Duration::from_secs(3),
            _ => Duration::from_secs(30),
        };
        let build = |size: u32, cache_kib: i64| {
            Pool::builder()
                .max_size(size)
                .min_idle(Some(min_idle))
                .connection_timeout(wait)
                .connection_customizer(Box::new(SqlitePragmas { cache_kib }))
                .build(ConnectionManager::<DbConn>::new(conn_url.clone()))
        };
        // The write pool comes first so migrations (and WAL mode) are in place before readers.
        let write =
            build(write_size, WRITER_CACHE_KIB).with_context(|| format!("connecting to {}", redact(url)))?;
        let db_for_migrations = write.get().context("getting a connection for migrations")?;
        drop(db_for_migrations);
        let db = Db { read: write.clone(), write, backend, queue: None };
        db.migrate()?;
        let read = build(read_size, READER_CACHE_KIB).context("opening the read pool")?;
        let queue = match (backend, server) {
            (Backend::Sqlite, true) => Some(writer::WriteQueue::start(db.write.clone())?),
            _ => None,
        };
        Ok(Db { read, queue, ..db })
    }

    /// Transactions run by the group-commit writer, if this handle has one.
    pub fn write_batches(&self) -> Option<u64> {
        self.queue.as_ref().map(writer::WriteQueue::batches)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending embedded migrations for this backend.
    pub fn migrate(&self) -> anyhow::Result<usize> {
        let mut conn = self.write.get()?;
        let migrations = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let applied = conn
            .run_pending_migrations(migrations)
            .map_err(|err| anyhow::anyhow!("running migrations: {err}"))?;
        Ok(applied.len())
    }

    /// Runs `f` with a read connection on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    {
        let pool = self.read.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// Runs `f` in a write transaction: on the server's SQLite, in the next group commit;
    /// otherwise in its own transaction on the blocking pool.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    {
        if let Some(queue) = &self.queue {
            return queue.write(f).await;
        }
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f)).await?
    }

    /// The synchronous form of [`Db::write`], for the CLI.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError>,
    {
        let mut conn = self.write.get()?;
        write_transaction(&mut conn, f)
    }

    /// On SQLite, copies the write-ahead log into the database file and truncates it: after
    /// a bulk load it would otherwise keep its high-water size (as large as the load) on
    /// disk. A no-op on PostgreSQL.
    pub fn truncate_wal(&self) -> Result<(), AppError> {
        let mut conn = self.write.get()?;
        if let DbConn::Sqlite(c) = &mut *conn {
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(c)?;
        }
        Ok(())
    }

    /// The synchronous form of [`Db::read`], for the CLI.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError>,
    {
        let mut conn = self.read.get()?;
        f(&mut conn)
    }
}

/// The versions of the SQLite migrations this binary carries, as diesel records them in
/// `__diesel_schema_migrations`; a database that has applied others is not ours.
pub fn sqlite_migration_versions() -> anyhow::Result<Vec<String>> {
    let migrations =
        diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
            .map_err(|err| anyhow::anyhow!("listing migrations: {err}"))?;
    Ok(migrations.iter().map(|migration| migration.name().version().to_string()).collect())
}

/// Runs `f` in a transaction that takes the write lock up front. On SQLite a deferred
/// transaction that later upgrades to a writer fails with SQLITE_BUSY at once, ignoring
/// busy_timeout, so writes always `BEGIN IMMEDIATE`.
pub fn write_transaction<T, F>(conn: &mut DbConn, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConn) -> Result<T, AppError>,
{
    match conn {
        DbConn::Sqlite(inner) => AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?,
        DbConn::Pg(_) => <DbConn as Connection>::TransactionManager::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback_err) = <DbConn as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::error!(error = %rollback_err, "rollback failed");
            }
            Err(err)
        }
    }
}

/// The file path inside a `sqlite://` URL.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url)
}

/// A URL safe to log: the password, if any, replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Milliseconds since the Unix epoch, the time unit stored everywhere.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
