//! Storage: one connection type over SQLite and PostgreSQL, the pools, embedded migrations,
//! and one module per table family. Model functions take the connection first and return
//! `QueryResult`; callers in async code go through [`Db::read`] / [`Db::write`], which run
//! them on the blocking thread pool.

pub mod aliases;
pub mod audit;
pub mod cached;
pub mod changes;
pub mod curation;
pub mod epoch;
pub mod follows;
pub mod incidents;
pub mod insights;
pub mod posts;
pub mod schema;
pub mod sessions;
pub mod settings;
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
/// The PostgreSQL advisory lock nodes take around migrations ("i2i" and a 1 in hex).
const MIGRATION_LOCK: i64 = 0x6932_6900_0001;

/// Puts SQLite in multi-thread mode for this process: no mutex around each connection. The
/// bundled library is built serialized, so every `sqlite3_step` and every column read took
/// and released the connection's mutex (7 % of a computed trend view, which reads 800,000
/// rollup rows). A diesel connection is never used by two threads at once (`Send`, not
/// `Sync`, and every statement borrows it mutably), which is all this mode asks. SQLite
/// takes it only before it first initialises, so call it first thing in `main`; afterwards
/// it is refused (with a warning) and the serialized default stays, which is merely slower.
pub fn sqlite_multi_thread_mode() {
    // SAFETY: sqlite3_config with SQLITE_CONFIG_MULTITHREAD takes no arguments. Called
    // before any connection exists; once SQLite has initialised it returns SQLITE_MISUSE and
    // changes nothing.
    let code = unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD) };
    if code != libsqlite3_sys::SQLITE_OK {
        eprintln!("warning: sqlite stays in serialized mode (code {code})");
    }
}

/// Per-connection SQLite settings. Each pragma is its own statement: SQLite ignores
/// everything after the first statement of a batch sent through `sql_query`.
#[derive(Debug)]
struct SqlitePragmas {
    cache_kib: i64,
    /// `sqlite_max_page_count`: the largest the file may grow, in pages; 0 for no cap.
    max_pages: u64,
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
            if self.max_pages > 0 {
                diesel::sql_query(format!("PRAGMA max_page_count = {}", self.max_pages))
                    .execute(conn)
                    .map_err(diesel::r2d2::Error::QueryError)?;
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
        Db::open(url, true, 0)
    }

    /// [`Db::connect`], with a SQLite file capped at `max_pages` pages (0: no cap), the
    /// `sqlite_max_page_count` setting: past it, writes fail as on a full disk.
    pub fn connect_capped(url: &str, max_pages: u64) -> anyhow::Result<Db> {
        Db::open(url, true, max_pages)
    }

    /// Opens small pools for a command-line run. They keep no idle connections warm: r2d2
    /// opens those on background threads, and a process that exits while one is inside
    /// libpq's TLS setup crashes as OpenSSL is torn down.
    pub fn connect_for_tool(url: &str) -> anyhow::Result<Db> {
        Db::open(url, false, 0)
    }

    fn open(url: &str, server: bool, max_pages: u64) -> anyhow::Result<Db> {
        let backend = Backend::of_url(url)?;
        if backend == Backend::Postgres {
            keep_openssl_until_exit();
            exit_without_library_teardown();
        }
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
                .connection_customizer(Box::new(SqlitePragmas { cache_kib, max_pages }))
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
    ///
    /// Several nodes may start at once on one PostgreSQL database: each takes the same
    /// advisory lock first, so one applies the migrations while the others wait, then find
    /// nothing pending. (On SQLite the file's write lock already serialises them.) A node
    /// that dies while holding the lock releases it with its connection.
    pub fn migrate(&self) -> anyhow::Result<usize> {
        let mut conn = self.write.get()?;
        let migrations = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        if let DbConn::Pg(pg) = &mut *conn {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .execute(pg)
                .context("waiting for the migration lock")?;
        }
        let applied = conn
            .run_pending_migrations(migrations)
            .map(|applied| applied.len())
            .map_err(|err| anyhow::anyhow!("running migrations: {err}"));
        if let DbConn::Pg(pg) = &mut *conn {
            // A failure here fails the start, and the process's exit releases the lock.
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(pg)
                .context("releasing the migration lock")?;
        }
        applied
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

/// Asks OpenSSL (loaded by libpq for TLS connections) not to free its global state in an
/// `atexit` handler. By default it does, and a process that exits while other threads still
/// use TLS connections (the pools', a server's workers, a test's server left running) has
/// those threads touch freed memory: glibc then aborts the exit with "malloc_consolidate():
/// unaligned fastbin chunk detected". The state is simply left to the exiting process.
/// Must run before libpq first initialises OpenSSL, so before the first connection; a
/// process without OpenSSL loaded is left alone. True when OpenSSL accepted.
fn keep_openssl_until_exit() -> bool {
    static ACCEPTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    /// `OPENSSL_INIT_NO_ATEXIT` from OpenSSL's `crypto.h` (1.1.1b and later).
    const OPENSSL_INIT_NO_ATEXIT: u64 = 0x0008_0000;
    *ACCEPTED.get_or_init(|| {
        // SAFETY: dlsym looks a symbol up in the libraries already loaded; when found it is
        // OpenSSL's `int OPENSSL_init_crypto(uint64_t, const OPENSSL_INIT_SETTINGS *)`, which
        // accepts a null settings pointer.
        unsafe {
            let symbol = libc::dlsym(libc::RTLD_DEFAULT, c"OPENSSL_init_crypto".as_ptr());
            if symbol.is_null() {
                return false;
            }
            let init: extern "C" fn(u64, *const libc::c_void) -> libc::c_int = std::mem::transmute(symbol);
            let accepted = init(OPENSSL_INIT_NO_ATEXIT, std::ptr::null()) == 1;
            if !accepted {
                tracing::warn!("OpenSSL refused OPENSSL_INIT_NO_ATEXIT");
            }
            accepted
        }
    })
}

/// Makes the process's exit skip the C libraries' teardown (their `atexit` handlers and
/// destructors, registered before this). libpq brings OpenSSL, Kerberos and GSSAPI, whose
/// teardown frees global state that threads still running at exit may be using: r2d2's
/// pool threads, an idle server's workers, a test's server left running. Glibc then aborts
/// the exit (SIGABRT "malloc_consolidate()", or SIGSEGV) after all work is done. The handler
/// runs first and ends the process with the exit status at once; Rust has flushed its
/// output by then, and every write was committed before. Glibc only; registered once.
fn exit_without_library_teardown() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            /// glibc: like `atexit`, but the handler is given the exit status.
            fn on_exit(
                function: extern "C" fn(libc::c_int, *mut libc::c_void),
                arg: *mut libc::c_void,
            ) -> libc::c_int;
        }
        extern "C" fn end_now(status: libc::c_int, _: *mut libc::c_void) {
            // SAFETY: _exit ends the process with `status`; nothing runs after it.
            unsafe { libc::_exit(status) }
        }
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: registers a handler with a static lifetime and no argument.
            if unsafe { on_exit(end_now, std::ptr::null_mut()) } != 0 {
                tracing::warn!("could not register the exit handler");
            }
        });
    }
}

/// Runs `f` in a transaction that takes the write lock up front. On SQLite a deferred
/// transaction that later upgrades to a writer fails with SQLITE_BUSY at once, ignoring
/// busy_timeout, so writes always `BEGIN IMMEDIATE`.
pub fn write_transaction<T, F>(conn: &mut DbConn, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConn) -> Result<T, AppError>,
{
    write_transaction_begun_in(conn, crate::domain::time::hour_of(now_ms()), f)
}

/// [`write_transaction`], for a transaction that began in `begun_hour`. One that commits in
/// a later hour may have written to the hour that has just ended (a post stamped at 10:59
/// that waited for a lock until 11:00) without counting as a write to the past, so it bumps
/// the rollup epoch as well: the trend memo trusts an ended hour's answers once a minute has
/// passed, and this keeps that true however long the commit waited.
fn write_transaction_begun_in<T, F>(conn: &mut DbConn, begun_hour: i64, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConn) -> Result<T, AppError>,
{
    match conn {
        DbConn::Sqlite(inner) => AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?,
        DbConn::Pg(_) => <DbConn as Connection>::TransactionManager::begin_transaction(conn)?,
    }
    let outcome = f(conn).and_then(|value| {
        if crate::domain::time::hour_of(now_ms()) != begun_hour {
            epoch::touch_past(conn)?;
        }
        Ok(value)
    });
    match outcome {
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

/// A PostgreSQL URL with its database name replaced (query parameters kept), for tools and
/// tests that create a database of their own beside the one configured.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let prefix = base.rsplit_once('/').map(|(prefix, _)| prefix).unwrap_or(base);
    format!("{prefix}/{name}{query}")
}

/// Milliseconds since the Unix epoch, the time unit stored everywhere.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use crate::db::epoch::epoch;
    use crate::domain::time::hour_of;

    /// A write that began in an earlier hour bumps the rollup epoch as it commits (so the
    /// trend memo recomputes windows that ended meanwhile); one within the hour does not.
    #[test]
    fn a_write_that_commits_in_a_later_hour_bumps_the_rollup_epoch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = super::Db::connect_for_tool(&format!("sqlite://{}", dir.path().join("e.db").display()))
            .expect("db");
        db.read_blocking(|conn| {
            let before = epoch(conn)?;
            let this_hour = hour_of(super::now_ms());
            super::write_transaction_begun_in(conn, this_hour - 1, |_| Ok(()))?;
            assert_eq!(epoch(conn)?, before + 1, "began in the hour before");
            super::write_transaction_begun_in(conn, this_hour, |_| Ok(()))?;
            assert_eq!(epoch(conn)?, before + 1, "began and committed in one hour");
            Ok(())
        })
        .expect("writes");
    }

    #[test]
    fn openssl_keeps_its_state_until_the_process_is_gone() {
        // This binary links libpq, which brings OpenSSL: the call must find it and be accepted,
        // or PostgreSQL processes go back to aborting at exit.
        assert!(super::keep_openssl_until_exit());
        assert!(super::keep_openssl_until_exit(), "a second call gives the first answer");
    }
}
