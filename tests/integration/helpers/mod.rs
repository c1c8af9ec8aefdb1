//! `TestApp`: the real i2i server on port 0 with its own data directory and its own
//! database — a SQLite file, or a fresh PostgreSQL database when `I2I_TEST_POSTGRES_URL`
//! is set (dropped again when the test ends).

pub mod node;

use std::path::PathBuf;

use diesel::{Connection, PgConnection, RunQueryDsl};
use i2i::config::Config;
use i2i::db::Db;
use i2i::startup::Application;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "user-password-1";

/// The PostgreSQL database a test made, to drop afterwards.
struct PgScratch {
    admin_url: String,
    name: String,
}

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub database_url: String,
    pub config: Config,
    search: std::sync::Arc<i2i::search::SearchIndex>,
    _dir: Option<TempDir>,
    _pg: Option<PgScratch>,
}

/// A fresh database for one test: a SQLite file in `dir`, or a new PostgreSQL database
/// when `I2I_TEST_POSTGRES_URL` is set.
fn new_database(dir: &TempDir) -> (String, Option<PgScratch>) {
    match std::env::var("I2I_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("i2i_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin_url).expect("connect to I2I_TEST_POSTGRES_URL");
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create database");
            (i2i::db::with_database(&admin_url, &name), Some(PgScratch { admin_url, name }))
        }
        _ => (format!("sqlite://{}", dir.path().join("i2i.db").display()), None),
    }
}

/// A new, empty PostgreSQL database of its own (no migrations applied), dropped again when
/// this is dropped; `None` when the suite runs on SQLite.
pub struct PgDatabase {
    pub url: String,
    _scratch: PgScratch,
}

impl PgDatabase {
    pub fn create() -> Option<PgDatabase> {
        let dir = tempfile::tempdir().expect("temp dir");
        match new_database(&dir) {
            (url, Some(scratch)) => Some(PgDatabase { url, _scratch: scratch }),
            (_, None) => None,
        }
    }
}

/// A database (with migrations applied) and nothing else, for tests below the HTTP layer.
pub struct ScratchDb {
    pub db: Db,
    _dir: TempDir,
    _pg: Option<PgScratch>,
}

impl ScratchDb {
    pub fn new() -> ScratchDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, pg) = new_database(&dir);
        ScratchDb { db: Db::connect_for_tool(&url).expect("db"), _dir: dir, _pg: pg }
    }
}

impl Drop for PgScratch {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let dropped = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut conn);
            if let Err(err) = dropped {
                eprintln!("could not drop test database {}: {err}", self.name);
            }
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the app after `adjust` has changed its configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        i2i::telemetry::init("warn");
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, pg) = new_database(&dir);
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: Some(database_url.clone()),
            listen: "127.0.0.1:0".to_string(),
            jwt_secret: Some("test-secret-that-is-long-enough".to_string()),
            log: "warn".to_string(),
            ..Config::default()
        };
        adjust(&mut config);
        let app = Application::build(config.clone()).await.expect("app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let search = app.search();
        tokio::spawn(app.run_until_stopped());
        // Idle connections are dropped before the server's 5 s keep-alive closes them, so a
        // request never races a closing connection after a long pause.
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .cookie_store(true)
            .build()
            .expect("client");
        TestApp { address, client, database_url, config, search, _dir: Some(dir), _pg: pg }
    }

    /// Stops this app's indexer and gives it time to let go of the index.
    pub async fn stop_indexer(&self) {
        self.search.shutdown();
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    }

    /// Stops this app's indexer and starts a second server on the same data directory
    /// and database, as a restart would. The first keeps owning (and later removes) them.
    pub async fn restart(&self) -> TestApp {
        self.search.shutdown();
        let app = Application::build(self.config.clone()).await.expect("app restarts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let search = app.search();
        tokio::spawn(app.run_until_stopped());
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("client");
        TestApp {
            address,
            client,
            database_url: self.database_url.clone(),
            config: self.config.clone(),
            search,
            _dir: None,
            _pg: None,
        }
    }

    /// A client whose connections come from another loopback address (e.g. `127.0.0.2`),
    /// so the server sees a different peer: Linux routes all of 127.0.0.0/8 to `lo`.
    pub fn client_from(&self, address: &str) -> Client {
        Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .local_address(address.parse::<std::net::IpAddr>().expect("an IP address"))
            .build()
            .expect("client")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// A second handle on the app's database, as the CLI would open it.
    pub fn db(&self) -> Db {
        Db::connect_for_tool(&self.database_url).expect("db")
    }

    /// Imports one note (backdated to `at_ms`) through the path `i2i import` takes.
    pub fn import_note(&self, author: &str, body: &str, incident: &str, at_ms: i64) {
        let line = json!({"author": author, "body": body, "incident": incident,
                          "created_at": i2i::domain::time::format_ms(at_ms)});
        let pattern = regex::Regex::new(r"INC-\d+").unwrap();
        let report =
            i2i::transfer::import(&self.db(), &pattern, line.to_string().as_bytes(), |_, _| {}).unwrap();
        assert_eq!(report.imported, 1, "{line}");
    }

    /// Logs this app's client in through the login form (the session cookie is kept).
    pub async fn log_in_page(&self, username: &str, password: &str) {
        let response = self
            .client
            .post(self.url("/login"))
            .form(&[("username", username), ("password", password), ("next", "/")])
            .send()
            .await
            .expect("login form");
        assert!(
            response.status().is_redirection() || response.status().is_success(),
            "{}",
            response.status()
        );
    }

    /// Polls `/readyz` until it answers `status` (at most 60 s), returning the body.
    pub async fn readyz_until(&self, status: StatusCode) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let response = self.client.get(self.url("/readyz")).send().await.expect("readyz answers");
            let code = response.status();
            let body: Value = response.json().await.expect("readyz is JSON");
            if code == status {
                return body;
            }
            assert!(std::time::Instant::now() < deadline, "/readyz stayed {code} {body}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.patch(self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client.delete(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    /// GET expecting 200, returning the JSON.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let response = self.get(path, token).await;
        expect_json(response, StatusCode::OK).await
    }

    /// Creates the first admin through the setup endpoint; returns their token.
    pub async fn setup_admin(&self) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/setup"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD, "display_name": "Ada Admin"}))
            .send()
            .await
            .expect("setup");
        let body = expect_json(response, StatusCode::CREATED).await;
        body["token"].as_str().expect("token").to_string()
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login")
    }

    /// Creates a user with `role` (as admin) and returns their token.
    pub async fn user(&self, admin_token: &str, username: &str, role: &str) -> String {
        let response = self
            .post(
                "/api/v1/users",
                admin_token,
                &json!({"username": username, "password": PASSWORD, "role": role}),
            )
            .await;
        expect_json(response, StatusCode::CREATED).await;
        let login = expect_json(self.login(username, PASSWORD).await, StatusCode::OK).await;
        login["token"].as_str().expect("token").to_string()
    }

    /// Searches until `accept` is satisfied or `within` has passed; returns the last answer.
    pub async fn search_until(
        &self,
        token: &str,
        query: &str,
        within: std::time::Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let path =
                format!("/api/v1/search?{}", serde_urlencoded_query(&[("q", query), ("limit", "100")]));
            let response = self.get(&path, token).await;
            // 503 while the index is still opening: keep asking.
            if response.status() == StatusCode::SERVICE_UNAVAILABLE && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                continue;
            }
            let answer = expect_json(response, StatusCode::OK).await;
            if accept(&answer) || std::time::Instant::now() >= deadline {
                return answer;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Creates a post and returns its JSON.
    pub async fn create_post(&self, token: &str, body: Value) -> Value {
        expect_json(self.post("/api/v1/posts", token, &body).await, StatusCode::CREATED).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The server's threads outlive the test's runtime; stop the indexer polling a
        // database that is about to go away.
        self.search.shutdown();
    }
}

/// Asserts the status (printing the body when it differs) and returns the JSON body.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("body is not JSON ({err}): {text}"))
}

/// Asserts an error response of the one documented shape and returns its code.
pub async fn expect_error(response: Response, status: StatusCode) -> (String, Value) {
    let body = expect_json(response, status).await;
    let code =
        body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error.code in {body}")).to_string();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "no message in {body}");
    (code, body)
}

/// A query string from pairs, percent-encoded.
pub fn serde_urlencoded_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
        .collect::<Vec<_>>()
        .join("&")
}

/// The ids of a search answer's hits, in order.
pub fn hit_ids(answer: &Value) -> Vec<i64> {
    answer["hits"]
        .as_array()
        .map(|h| h.iter().filter_map(|x| x["post"]["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// The shared incident-notes data set, when it is beside the repository. CI must have it.
pub fn shared_data() -> Option<PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/incident-notes.jsonl");
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var("CI").is_err(), "CI must have ../shared/data/incident-notes.jsonl");
    eprintln!("skipping: {} is not here", path.display());
    None
}

/// The CSRF token of the session behind `token`, as the pages put it in their forms.
pub async fn csrf_of(app: &TestApp, token: &str) -> String {
    let page = app.client.get(app.url("/my")).bearer_auth(token).send().await.expect("GET /my");
    let html = page.text().await.expect("body");
    let start =
        html.find("name=\"_csrf\" value=\"").unwrap_or_else(|| panic!("no _csrf field in /my: {html}"));
    let rest = &html[start + "name=\"_csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

/// A fresh session (token and form token) for an existing user.
pub async fn session_of(app: &TestApp, username: &str, password: &str) -> (String, String) {
    let login = expect_json(app.login(username, password).await, StatusCode::OK).await;
    let token = login["token"].as_str().expect("token").to_string();
    let csrf = csrf_of(app, &token).await;
    (token, csrf)
}

/// The route table of `src/http/mod.rs` as `(METHOD, path template)`, parsed from the
/// source so a route added there is seen by the tests that must cover every route.
pub fn declared_routes() -> Vec<(String, String)> {
    let source = include_str!("../../../src/http/mod.rs");
    let route = regex::Regex::new(r#"\.route\("([^"]*)",\s*web::(get|post|patch|delete|put)\(\)"#).unwrap();
    let mut routes = Vec::new();
    let mut prefix = "";
    for line in source.lines() {
        if line.contains("web::scope(\"/api/v1\")") {
            prefix = "/api/v1";
        }
        if let Some(found) = route.captures(line) {
            routes.push((found[2].to_uppercase(), format!("{prefix}{}", &found[1])));
        }
        if line.contains(".default_service(") {
            prefix = "";
        }
    }
    assert!(routes.len() > 50, "parsed only {} routes from src/http/mod.rs", routes.len());
    routes
}
