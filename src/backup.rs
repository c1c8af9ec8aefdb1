//! `i2i backup` and `i2i restore` on SQLite: a consistent copy taken while the server runs
//! (`VACUUM INTO` reads one snapshot, so each transaction is wholly in it or not at all), and
//! its atomic return into place with the search index discarded so the next start rebuilds
//! it. On PostgreSQL both print the `pg_dump` / `pg_restore` commands instead.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::config::Config;
use crate::db::{sqlite_path, Backend};
use crate::lock::DataDirLock;

/// What a backup or a restore wrote.
#[derive(Debug)]
pub struct Summary {
    /// The file written: the backup, or the restored database.
    pub path: PathBuf,
    pub bytes: u64,
    /// Live (not deleted) posts in it.
    pub posts: i64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {} posts)", self.path.display(), human_bytes(self.bytes), self.posts)
    }
}

/// Writes a consistent copy of the SQLite database to `file`, safe while a server writes.
/// Refuses to replace an existing `file` unless `force`. The copy appears under its name only
/// once complete and checked (it is written beside it first, then renamed).
pub fn backup(config: &Config, file: &Path, force: bool) -> anyhow::Result<Summary> {
    let url = config.database_url();
    if Backend::of_url(&url)? == Backend::Postgres {
        eprintln!("{}", postgres_guidance(&url, file, &config.data_dir));
        anyhow::bail!("i2i does not back up PostgreSQL itself; run the pg_dump command above");
    }
    let database = PathBuf::from(sqlite_path(&url));
    // Opening a missing file would create an empty database and "back up" nothing.
    anyhow::ensure!(database.is_file(), "there is no database at {}", database.display());
    if file.exists() {
        anyhow::ensure!(!same_file(&database, file)?, "{} is the live database itself", file.display());
        anyhow::ensure!(force, "{} exists; pass --force to replace it", file.display());
    }
    let partial = beside(file, "partial")?;
    remove_if_exists(&partial)?;
    let outcome = write_backup(&database, &partial).and_then(|posts| {
        std::fs::rename(&partial, file).with_context(|| format!("renaming into {}", file.display()))?;
        sync_dir(parent_of(file))?;
        let bytes = std::fs::metadata(file)?.len();
        Ok(Summary { path: file.to_path_buf(), bytes, posts })
    });
    if outcome.is_err() {
        // Best effort: a leftover partial file is harmless but untidy.
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

/// `VACUUM INTO` from a plain connection (no pool, no migrations: a backup must not change
/// the database it copies), then fsync and a quick check of what was written.
fn write_backup(database: &Path, partial: &Path) -> anyhow::Result<i64> {
    let target = partial.to_str().context("the backup path is not valid UTF-8")?;
    let mut conn = open_sqlite(database)?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(target)
        .execute(&mut conn)
        .with_context(|| format!("copying {} into {}", database.display(), partial.display()))?;
    drop(conn);
    // SQLite writes the copy without syncing it; make it durable before it gets its name.
    File::open(partial)?.sync_all().context("syncing the backup")?;
    inspect(partial, Check::Quick).context("checking the backup just written")
}

/// Replaces the SQLite database by the backup `file`, with no server running (the data
/// directory lock is taken exclusively). Refuses a file that is not an i2i SQLite database,
/// and an existing database unless `force`. The search index is discarded first, so the next
/// start rebuilds it from the restored database instead of resuming from a checkpoint that
/// describes another one.
pub fn restore(config: &Config, file: &Path, force: bool) -> anyhow::Result<Summary> {
    let url = config.database_url();
    if Backend::of_url(&url)? == Backend::Postgres {
        eprintln!("{}", postgres_guidance(&url, file, &config.data_dir));
        anyhow::bail!("i2i does not restore PostgreSQL itself; run the pg_restore command above");
    }
    let database = PathBuf::from(sqlite_path(&url));
    // Only the main file is copied: committed pages still in a write-ahead log beside it
    // would be left behind.
    let wal = with_suffix(file, "-wal");
    if wal.metadata().is_ok_and(|m| m.len() > 0) {
        anyhow::bail!(
            "{} has a write-ahead log beside it ({}); make the backup with `i2i backup` instead",
            file.display(),
            wal.display()
        );
    }
    let posts =
        inspect(file, Check::Full).with_context(|| format!("{} cannot be restored", file.display()))?;
    let _lock = DataDirLock::exclusive(&config.data_dir)?;
    if database.exists() {
        anyhow::ensure!(!same_file(&database, file)?, "{} is the database itself", file.display());
        anyhow::ensure!(force, "{} exists; pass --force to replace it with the backup", database.display());
    }
    let dir = parent_of(&database);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let staged = beside(&database, "restoring")?;
    std::fs::copy(file, &staged)
        .with_context(|| format!("copying {} into {}", file.display(), dir.display()))?;
    File::open(&staged)?.sync_all().context("syncing the restored database")?;
    // The index goes before the database changes: a restore that dies in between leaves the
    // old database with no index, which is rebuilt, never a new database with a stale index.
    discard_index(&config.data_dir.join("index"))?;
    // A log left beside the old file would be replayed into the new one and corrupt it.
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_exists(&with_suffix(&database, suffix))?;
    }
    std::fs::rename(&staged, &database).with_context(|| format!("replacing {}", database.display()))?;
    sync_dir(dir)?;
    let bytes = std::fs::metadata(&database)?.len();
    Ok(Summary { path: database, bytes, posts })
}

/// Makes the next start rebuild the index. Removing `CURRENT` is the one atomic step after
/// which no generation is trusted (a start then builds a new one and deletes the rest), so a
/// restore that dies while deleting the generations leaves nothing a server would resume.
fn discard_index(root: &Path) -> anyhow::Result<()> {
    if !root.exists() {
        return Ok(());
    }
    remove_if_exists(&root.join(crate::search::CURRENT_FILE))?;
    sync_dir(root)?;
    std::fs::remove_dir_all(root).with_context(|| format!("removing the search index {}", root.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// `PRAGMA quick_check`: the structure, in one pass; for a file SQLite just wrote.
    Quick,
    /// `PRAGMA integrity_check`: also every index against its table; before a restore.
    Full,
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// Checks that `path` is a sound SQLite database with the i2i schema (no migration this
/// binary does not know); returns its number of live posts.
fn inspect(path: &Path, check: Check) -> anyhow::Result<i64> {
    let mut header = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(&header == b"SQLite format 3\0", "{} is not a SQLite database", path.display());
    let mut conn = open_sqlite(path)?;
    diesel::sql_query("PRAGMA query_only = ON").execute(&mut conn)?;
    let pragma = match check {
        Check::Quick => "SELECT quick_check AS value FROM pragma_quick_check",
        Check::Full => "SELECT integrity_check AS value FROM pragma_integrity_check",
    };
    let problems: Vec<String> = diesel::sql_query(pragma)
        .load::<TextRow>(&mut conn)
        .context("checking integrity")?
        .into_iter()
        .map(|row| row.value)
        .filter(|value| value != "ok")
        .collect();
    anyhow::ensure!(problems.is_empty(), "{} is damaged: {}", path.display(), problems.join("; "));
    if check == Check::Full {
        // Sound pages can still hold rows that point at nothing (a hand-edited file, one
        // copied with foreign keys off): a post whose author is missing breaks the timeline
        // and keeps the server degraded, so such a file is refused before it replaces anything.
        let dangling: Vec<String> = diesel::sql_query(
            "SELECT \"table\" || ' row ' || COALESCE(CAST(rowid AS TEXT), '?') || ' points at a missing ' \
             || parent AS value FROM pragma_foreign_key_check LIMIT 6",
        )
        .load::<TextRow>(&mut conn)
        .context("checking foreign keys")?
        .into_iter()
        .map(|row| row.value)
        .collect();
        anyhow::ensure!(
            dangling.is_empty(),
            "{} has rows that refer to rows it does not have: {}{}",
            path.display(),
            dangling.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
            if dangling.len() > 5 { "; …" } else { "" }
        );
    }
    let migrations_table: CountRow = diesel::sql_query(
        "SELECT COUNT(*) AS value FROM sqlite_master WHERE type = 'table' AND name = '__diesel_schema_migrations'",
    )
    .get_result(&mut conn)?;
    anyhow::ensure!(
        migrations_table.value == 1,
        "{} is not an i2i database (no migrations table)",
        path.display()
    );
    let applied: Vec<String> = diesel::sql_query("SELECT version AS value FROM __diesel_schema_migrations")
        .load::<TextRow>(&mut conn)?
        .into_iter()
        .map(|row| row.value)
        .collect();
    let known = crate::db::sqlite_migration_versions()?;
    let unknown: Vec<&String> = applied.iter().filter(|version| !known.contains(version)).collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "{} has migrations this i2i does not know ({unknown:?}): a newer version or another application wrote it",
        path.display()
    );
    // An older backup lacks later migrations, which the next start applies; but without the
    // first one there are no posts to count.
    anyhow::ensure!(
        known.first().is_some_and(|first| applied.contains(first)),
        "{} is not an i2i database (its first migration is missing)",
        path.display()
    );
    let posts: CountRow = diesel::sql_query("SELECT COUNT(*) AS value FROM posts WHERE deleted_at IS NULL")
        .get_result(&mut conn)?;
    Ok(posts.value)
}

fn open_sqlite(path: &Path) -> anyhow::Result<SqliteConnection> {
    let name = path.to_str().context("the database path is not valid UTF-8")?;
    let mut conn =
        SqliteConnection::establish(name).with_context(|| format!("opening {}", path.display()))?;
    // A server's group commit may hold the write lock for a moment; reads wait for it.
    diesel::sql_query("PRAGMA busy_timeout = 10000").execute(&mut conn)?;
    Ok(conn)
}

/// The shell commands that back up and restore a PostgreSQL database, from the configured
/// URL (without its password: pg_dump takes that from PGPASSWORD or ~/.pgpass).
pub fn postgres_guidance(url: &str, file: &Path, data_dir: &Path) -> String {
    let (plain, had_password) = without_password(url);
    let url = shell_quote(&plain);
    let file = shell_quote(&file.display().to_string());
    let index = shell_quote(&data_dir.join("index").display().to_string());
    let mut text = format!(
        "On PostgreSQL, back up and restore with PostgreSQL's own tools:\n\
         \n  back up (i2i may keep running; pg_dump reads one consistent snapshot):\n\
         \n    pg_dump -Fc -d {url} -f {file}\n\
         \n  restore (with every i2i node stopped), then let the search index rebuild:\n\
         \n    pg_restore --clean --if-exists --no-owner -d {url} {file}\n    rm -rf {index}\n"
    );
    if had_password {
        text.push_str("\n  (the password is left out of the URL: set PGPASSWORD or use ~/.pgpass)\n");
    }
    text
}

/// The URL with any password removed, and whether there was one.
fn without_password(url: &str) -> (String, bool) {
    if let (Some(scheme_end), Some(at)) = (url.find("://"), url.rfind('@')) {
        if at > scheme_end {
            let userinfo = &url[scheme_end + 3..at];
            if let Some(colon) = userinfo.find(':') {
                let user = &userinfo[..colon];
                return (format!("{}{}{}", &url[..scheme_end + 3], user, &url[at..]), true);
            }
        }
    }
    (url.to_string(), false)
}

/// Single-quotes `text` for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A hidden working file beside `path` (same directory, so the final rename is atomic).
fn beside(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let name = path.file_name().context("the path has no file name")?.to_string_lossy();
    Ok(parent_of(path).join(format!(".{name}.{what}-{}", std::process::id())))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn same_file(a: &Path, b: &Path) -> anyhow::Result<bool> {
    Ok(a.canonicalize()? == b.canonicalize()?)
}

fn remove_if_exists(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("removing {}", path.display())),
    }
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}

fn human_bytes(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{postgres_guidance, without_password};

    #[test]
    fn guidance_names_the_configured_database_without_its_password() {
        assert_eq!(
            without_password("postgres://i2i:s3cret@db.internal:5432/i2i"),
            ("postgres://i2i@db.internal:5432/i2i".to_string(), true)
        );
        let text =
            postgres_guidance("postgres://i2i:s3cret@db/i2i", Path::new("it's.dump"), Path::new("data"));
        assert!(text.contains("pg_dump -Fc -d 'postgres://i2i@db/i2i' -f 'it'\\''s.dump'"), "{text}");
        assert!(
            text.contains("pg_restore --clean --if-exists --no-owner -d 'postgres://i2i@db/i2i'"),
            "{text}"
        );
        assert!(text.contains("rm -rf 'data/index'"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("PGPASSWORD"), "{text}");
    }
}
