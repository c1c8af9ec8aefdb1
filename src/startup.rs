//! Builds the application: opens the database (running migrations), loads the embedded
//! templates and binds the HTTP server. Tests use the same [`Application`] on port 0.
//!
//! Shutdown (SIGTERM or SIGINT, handled by actix): the server stops accepting, lets requests
//! in flight finish (at most [`SHUTDOWN_TIMEOUT`]), then the indexer applies what is committed
//! and stores its checkpoint (at most [`INDEXER_STOP_WITHIN`]) before the process exits.

use std::net::TcpListener;

use actix_web::{dev::Server, middleware, web, App, HttpServer};
use anyhow::Context;
use handlebars::Handlebars;
use regex::Regex;
use rust_embed::RustEmbed;

use crate::app_state::AppState;
use crate::auth::Keys;
use crate::config::Config;
use crate::db::Db;
use crate::limits::RateLimits;
use crate::lock::DataDirLock;
use crate::search::SearchIndex;
use crate::trends::memo::TrendMemo;
use std::sync::Arc;
use std::time::Duration;

/// Longest the server waits for requests in flight when asked to stop.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest it then waits for the indexer's final commit. With [`SHUTDOWN_TIMEOUT`] this
/// bounds a graceful stop well under ten seconds; a slower indexer is simply replayed from
/// the feed on the next start.
pub const INDEXER_STOP_WITHIN: Duration = Duration::from_secs(4);

/// Handlebars templates, embedded so the binary runs from any directory.
#[derive(RustEmbed)]
#[folder = "templates/"]
struct TemplateFiles;

/// Opening the state is wiring (templates, keys, the index), so it lives here rather than
/// beside the struct in `app_state`.
impl AppState {
    /// Opens the database and prepares keys and templates.
    pub fn open(config: Config) -> anyhow::Result<AppState> {
        config.validate()?;
        let db = Db::connect_capped(&config.database_url(), config.sqlite_max_page_count)?;
        let keys = Keys::new(&crate::auth::tokens::signing_secret(&config, &db)?);
        let incident_pattern = Regex::new(&config.incident_pattern).context("incident_pattern")?;
        let search = SearchIndex::new(&config.data_dir);
        let limits = RateLimits::new(&config);
        Ok(AppState {
            db,
            search,
            config,
            keys,
            templates: load_templates()?,
            incident_pattern,
            limits,
            trends: Arc::new(TrendMemo::default()),
        })
    }
}

/// Registers every embedded template under its path without `.hbs` (e.g. `pages/timeline`),
/// in strict mode so a misspelt field is an error instead of silently empty output.
pub fn load_templates() -> anyhow::Result<Handlebars<'static>> {
    let mut handlebars = Handlebars::new();
    handlebars.set_strict_mode(true);
    for path in TemplateFiles::iter() {
        let Some(name) = path.strip_suffix(".hbs") else {
            continue;
        };
        let file = TemplateFiles::get(&path).with_context(|| format!("template {path}"))?;
        let source =
            std::str::from_utf8(&file.data).with_context(|| format!("template {path} is not UTF-8"))?;
        handlebars.register_template_string(name, source).with_context(|| format!("template {path}"))?;
    }
    crate::http::pages::helpers::register(&mut handlebars);
    Ok(handlebars)
}

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    search: Arc<SearchIndex>,
    /// The task keeping the default trend views computed; stopped with the server.
    warmer: Option<tokio::task::JoinHandle<()>>,
    /// Held while serving, so `i2i restore` cannot replace the files underneath.
    _lock: DataDirLock,
}

impl Application {
    /// Opens everything and binds `config.listen` (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let listen = config.listen.clone();
        let lock = DataDirLock::shared(&config.data_dir)?;
        let state = tokio::task::spawn_blocking(move || AppState::open(config)).await??;
        let state = web::Data::new(state);
        let search = state.search.clone();
        crate::search::indexer::start(search.clone(), state.db.clone())?;
        let warm_every = Duration::from_secs(state.config.trends_warm_seconds);
        let (trends, db) = (state.trends.clone(), state.db.clone());
        let listener = TcpListener::bind(&listen).with_context(|| format!("binding {listen}"))?;
        let port = listener.local_addr()?.port();
        tracing::info!(address = %listener.local_addr()?, backend = ?state.db.backend(), "listening");
        let timeouts = Timeouts::of(&state.config);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(crate::http::json_config(state.config.max_request_bytes))
                .app_data(crate::http::form_config(state.config.max_request_bytes))
                .app_data(crate::http::query_config())
                .app_data(crate::http::path_config())
                .wrap(middleware::from_fn(crate::http::pages::html_errors))
                .wrap(crate::http::security_headers())
                .wrap(middleware::Compress::default())
                .wrap(tracing_actix())
                .wrap(middleware::from_fn(crate::http::guard::guard))
                .configure(crate::http::routes)
        })
        .client_request_timeout(timeouts.header)
        .keep_alive(timeouts.keep_alive)
        .client_disconnect_timeout(timeouts.disconnect)
        .max_connections(timeouts.per_worker)
        .workers(timeouts.workers)
        .listen(listener)?
        .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs())
        .run();
        // Started once nothing can fail any more, so no task outlives a server never built.
        let warmer = (!warm_every.is_zero()).then(|| crate::trends::warmer::start(trends, db, warm_every));
        Ok(Application { server, port, search, warmer, _lock: lock })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The search index, so its indexer can be stopped with the server.
    pub fn search(&self) -> Arc<SearchIndex> {
        self.search.clone()
    }

    /// Serves until the server is stopped (a signal), then stops the indexer and waits for
    /// its final commit, so a restart has nothing to replay.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(warmer) = &self.warmer {
            warmer.abort();
        }
        tracing::info!("server stopped; committing the search index");
        self.search.shutdown();
        let search = self.search.clone();
        let stopped = tokio::task::spawn_blocking(move || search.wait_stopped(INDEXER_STOP_WITHIN))
            .await
            .unwrap_or(false);
        if !stopped {
            tracing::warn!("the indexer did not finish in time; the next start replays the rest of the feed");
        }
        result
    }
}

/// Raises the soft limit on open files to the hard limit: each connection is a file, and
/// the common default soft limit (1024, or 512) is reached long before `max_connections`,
/// after which even `/healthz` cannot be accepted. Returns the limit now in force.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the one struct passed, which lives for
    // the call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit = raised;
        }
    }
    Ok(limit.rlim_cur)
}

/// The server's connection settings, from the configuration.
struct Timeouts {
    header: Duration,
    keep_alive: actix_web::http::KeepAlive,
    disconnect: Duration,
    workers: usize,
    /// `max_connections` shared out over the workers (actix counts per worker).
    per_worker: usize,
}

impl Timeouts {
    fn of(config: &Config) -> Timeouts {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let keep_alive = match config.keep_alive_secs {
            0 => actix_web::http::KeepAlive::Disabled,
            secs => actix_web::http::KeepAlive::Timeout(Duration::from_secs(secs)),
        };
        Timeouts {
            header: Duration::from_secs(config.header_timeout_secs),
            keep_alive,
            disconnect: Duration::from_secs(config.disconnect_timeout_secs),
            workers,
            per_worker: config.max_connections.div_ceil(workers).max(1),
        }
    }
}

/// One log line per request with method, path, status and duration. Feed URLs carry the
/// reader's credential as `?token=`, so query values named `token` are never written out.
fn tracing_actix() -> middleware::Logger {
    middleware::Logger::new("%{request}xi %s %Dms")
        .custom_request_replace("request", |req| {
            format!("{} {}", req.method(), redact_tokens(req.path(), req.query_string()))
        })
        .log_target("i2i::http")
}

/// `path?query` with the value of every `token` parameter replaced by `[redacted]`.
fn redact_tokens(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("token") => format!("{key}=[redacted]"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn feed_tokens_are_redacted_from_request_lines() {
        assert_eq!(
            super::redact_tokens("/feeds/tags/db.atom", "q=x&token=abc&TOKEN=d"),
            "/feeds/tags/db.atom?q=x&token=[redacted]&TOKEN=[redacted]"
        );
        assert_eq!(super::redact_tokens("/", ""), "/");
    }
}
