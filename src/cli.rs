//! The command line: `serve` (default), `migrate`, `user …`, `import`, `export`, `reindex`,
//! `backup`, `restore`. Flags override the configuration file and environment.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::audit::Actor;
use crate::app::users;
use crate::config::Config;
use crate::db::{Backend, Db};
use crate::domain::rules::{self, Role};
use crate::lock::DataDirLock;

const SETTINGS_HELP: &str = "\
Settings (defaults → i2i.toml → I2I_* environment → flags):
  data_dir                   I2I_DATA_DIR                   ./i2i-data  SQLite file and index
  database_url               I2I_DATABASE_URL               sqlite://<data_dir>/i2i.db  or postgres://user@host/db
  listen                     I2I_LISTEN                     127.0.0.1:8080
  jwt_secret                 I2I_JWT_SECRET                 generated once, kept in the database
  token_ttl_hours            I2I_TOKEN_TTL_HOURS            168  lifetime of a login token
  incident_pattern           I2I_INCIDENT_PATTERN           INC-\\d+  incident keys recognised in post text
  max_request_bytes          I2I_MAX_REQUEST_BYTES          65536  largest accepted request body
  secure_cookies             I2I_SECURE_COOKIES             false  set true when served over HTTPS
  log                        I2I_LOG                        info  log filter (RUST_LOG wins)
  login_per_minute           I2I_LOGIN_PER_MINUTE           30  login attempts per client address (0 = no limit)
  login_failures_per_minute  I2I_LOGIN_FAILURES_PER_MINUTE  5  failed logins per username (0 = no limit)
  posts_per_minute           I2I_POSTS_PER_MINUTE           600  new posts per user (0 = no limit)
  trust_forwarded_for        I2I_TRUST_FORWARDED_FOR        false  client address from X-Forwarded-For (behind a proxy only)
  trends_warm_seconds        I2I_TRENDS_WARM_SECONDS        15  keep the default trend views computed (0 = only when asked)
  public_url                 I2I_PUBLIC_URL                 unset  https://i2i.example.com: base of absolute links in feeds and exports
  header_timeout_secs        I2I_HEADER_TIMEOUT_SECS        5  time to send a request's head (else 408)
  body_timeout_secs          I2I_BODY_TIMEOUT_SECS          10  time to send a request's body after its head (else 408, closed)
  keep_alive_secs            I2I_KEEP_ALIVE_SECS            5  idle keep-alive connections closed after this (0 = no keep-alive)
  disconnect_timeout_secs    I2I_DISCONNECT_TIMEOUT_SECS    1  time a closing connection gets to shut down cleanly
  max_connections            I2I_MAX_CONNECTIONS            10000  connections served at once (the open-file limit is raised to its maximum)
  sqlite_max_page_count      I2I_SQLITE_MAX_PAGE_COUNT      0  cap on the SQLite file, in 4 KiB pages; past it writes answer 503 storage_full (0 = none)";

#[derive(Debug, Parser)]
#[command(name = "i2i", version, about = "Incident to Insight: an insight feed for IT operations", after_help = SETTINGS_HELP)]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, default_value = "i2i.toml")]
    config: PathBuf,
    /// Data directory (overrides data_dir).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL (overrides database_url).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Address to listen on when serving (overrides listen).
    #[arg(long, global = true)]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    #[command(after_help = SETTINGS_HELP)]
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Import posts from JSON lines ({author, body, incident, created_at}); idempotent.
    Import {
        /// The .jsonl file ("-" for standard input).
        file: PathBuf,
        /// Use the bulk path: the same result, written a chunk of lines at a time.
        #[arg(long)]
        bulk: bool,
    },
    /// Rebuild the search index from the database into a fresh directory and swap it in
    /// (a running server switches to it by itself).
    Reindex,
    /// Trend rollups.
    #[command(subcommand)]
    Trends(TrendsCommand),
    /// Export live posts as JSON lines in the import format.
    Export {
        /// Output file (standard output when omitted).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Write a consistent copy of the SQLite database, safe while the server runs
    /// (on PostgreSQL: prints the pg_dump command to use instead).
    Backup {
        /// The backup file to write.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Put a backup in place of the SQLite database, with the server stopped; the search index
    /// is rebuilt on the next start (on PostgreSQL: prints the pg_restore command instead).
    Restore {
        /// The backup file (written by `i2i backup`).
        file: PathBuf,
        /// Replace the existing database.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TrendsCommand {
    /// Recompute every trend rollup from the posts table.
    Rebuild,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is prompted for, or read from stdin.
    Add {
        name: String,
        #[arg(long, default_value = "responder")]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Change a user's role.
    SetRole { name: String, role: Role },
    /// Disable a user and revoke their sessions.
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Set a user's password (prompted, or from stdin).
    SetPassword {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        Role::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    crate::memory::limit_malloc_arenas();
    crate::db::sqlite_multi_thread_mode();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(&cli.config)?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    if let Some(url) = cli.database_url {
        config.database_url = Some(url);
    }
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    crate::telemetry::init(&config.log);
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        restore_default_sigpipe();
    }
    // Everything that opens the data directory (or, on SQLite, the database in it) holds its
    // lock shared, so a restore cannot swap the files underneath. The server takes its own
    // in `startup`; a restore takes it exclusively.
    let uses_data_dir = match command {
        Command::Serve | Command::Restore { .. } => false,
        Command::Reindex => true,
        _ => Backend::of_url(&config.database_url())? == Backend::Sqlite,
    };
    let _lock = if uses_data_dir { Some(DataDirLock::shared(&config.data_dir)?) } else { None };
    match command {
        Command::Serve => serve(config),
        Command::Backup { file, force } => {
            let started = std::time::Instant::now();
            let summary = crate::backup::backup(&config, &file, force)?;
            println!("backed up to {summary} in {:.1}s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Restore { file, force } => {
            let summary = crate::backup::restore(&config, &file, force)?;
            println!(
                "restored {} into {summary}; the search index is rebuilt from it on the next start",
                file.display()
            );
            Ok(())
        }
        Command::Migrate => {
            let db = Db::connect_for_tool(&config.database_url())?;
            println!(
                "migrations applied; database {} is up to date",
                crate::db::redact(&config.database_url())
            );
            drop(db);
            Ok(())
        }
        Command::User(command) => user(&Db::connect_for_tool(&config.database_url())?, command),
        Command::Import { file, bulk } => {
            // Run from the wrong directory, the default data directory is a fresh `./i2i-data`:
            // say where the posts go before writing any.
            eprintln!(
                "importing into {} (data dir {})",
                describe_database(&config.database_url()),
                absolute(&config.data_dir).display()
            );
            let db = Db::connect_for_tool(&config.database_url())?;
            let pattern = regex::Regex::new(&config.incident_pattern)?;
            let started = std::time::Instant::now();
            let report = crate::transfer::import_file(&db, &pattern, &file, bulk, &config.data_dir)?;
            eprintln!("took {:.1}s", started.elapsed().as_secs_f64());
            for (phase, seconds) in &report.phases {
                eprintln!("  {phase}: {seconds:.1}s");
            }
            println!("{report}");
            Ok(())
        }
        Command::Reindex => {
            let db = Db::connect_for_tool(&config.database_url())?;
            let started = std::time::Instant::now();
            let count = crate::search::reindex::reindex(&db, &config.data_dir)?;
            println!("indexed {count} posts in {:.1}s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Trends(TrendsCommand::Rebuild) => {
            let db = Db::connect_for_tool(&config.database_url())?;
            let counted = db.write_blocking(|conn| Ok(crate::trends::rollups::rebuild(conn)?))?;
            println!("trend rollups rebuilt from {counted} posts");
            Ok(())
        }
        Command::Export { output } => {
            let db = Db::connect_for_tool(&config.database_url())?;
            let count = match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    crate::transfer::export(&db, std::io::BufWriter::new(file))?
                }
                None => crate::transfer::export(&db, std::io::BufWriter::new(std::io::stdout().lock()))?,
            };
            eprintln!("exported {count} posts");
            Ok(())
        }
    }
}

/// `path` made absolute against the working directory (unchanged if that cannot be read).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A database URL for people to read: a SQLite file by its absolute path, any other URL
/// without its password.
fn describe_database(url: &str) -> String {
    match Backend::of_url(url) {
        Ok(Backend::Sqlite) if crate::db::sqlite_path(url) != ":memory:" => {
            format!("sqlite://{}", absolute(Path::new(crate::db::sqlite_path(url))).display())
        }
        _ => crate::db::redact(url),
    }
}

/// Gives a command-line command the ordinary behaviour of a Unix tool on a closed pipe: the
/// Rust runtime ignores SIGPIPE, so `println!` to a reader that went away (`i2i user list |
/// head`) panicked with "Broken pipe"; with the default disposition the process just ends.
/// The server keeps ignoring it: a client hanging up must never stop it.
fn restore_default_sigpipe() {
    // SAFETY: a signal's disposition is process-wide state outside Rust's; setting it to the
    // default installs no handler that could run Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    match crate::startup::raise_open_files_limit() {
        // Each connection holds a file, and the database, the index and the log hold more.
        Ok(files) if (files as usize) < config.max_connections + 256 => tracing::warn!(
            open_files = files,
            max_connections = config.max_connections,
            "the open-file limit is below max_connections; raise it (ulimit -n) or lower max_connections"
        ),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "could not raise the open-file limit"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(async move {
        let app = crate::startup::Application::build(config).await?;
        app.run_until_stopped().await?;
        Ok(())
    });
    // Dropping a runtime waits for every blocking task without limit; a request stuck in
    // one must not keep a stopping process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    outcome
}

/// Reads a password from stdin's first line, or prompts twice on a terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password("password: ")?;
    let second = rpassword::prompt_password("again: ")?;
    anyhow::ensure!(first == second, "the passwords differ");
    Ok(first)
}

fn user(db: &Db, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name, role, display_name, password_stdin } => {
            let password = read_password(password_stdin)?;
            rules::check_password(&password)?;
            let hash = crate::auth::password::hash_now(&password)?;
            let user = db.write_blocking(|conn| {
                users::create_account(conn, &Actor::cli(), &name, display_name.as_deref(), role, &hash)
            })?;
            println!("created {} ({})", user.username, user.role);
        }
        UserCommand::List => {
            let all = db.read_blocking(|conn| Ok(crate::db::users::list(conn)?))?;
            println!("{:<24} {:<10} {:<9} display name", "username", "role", "status");
            for user in all {
                let status = match (user.is_disabled(), user.password_hash.is_some()) {
                    (true, _) => "disabled",
                    (false, false) => "no-login",
                    (false, true) => "active",
                };
                println!("{:<24} {:<10} {:<9} {}", user.username, user.role, status, user.display_name);
            }
        }
        UserCommand::SetRole { name, role } => {
            let user = db.write_blocking(|conn| users::set_role(conn, &Actor::cli(), &name, role))?;
            println!("{} is now {}", user.username, user.role);
        }
        UserCommand::Disable { name } => {
            let user = db.write_blocking(|conn| users::set_disabled(conn, &Actor::cli(), &name, true))?;
            println!("{} is disabled and logged out", user.username);
        }
        UserCommand::Enable { name } => {
            let user = db.write_blocking(|conn| users::set_disabled(conn, &Actor::cli(), &name, false))?;
            println!("{} is enabled", user.username);
        }
        UserCommand::SetPassword { name, password_stdin } => {
            let password = read_password(password_stdin)?;
            rules::check_password(&password)?;
            let hash = crate::auth::password::hash_now(&password)?;
            db.write_blocking(|conn| users::set_password(conn, &Actor::cli(), &name, &hash))?;
            println!("password changed; existing sessions revoked");
        }
    }
    Ok(())
}
