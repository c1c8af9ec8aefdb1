//! Configuration: built-in defaults, then `i2i.toml`, then `I2I_*` environment variables.
//! Nothing here is global; the loaded [`Config`] is passed to whoever needs it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Every setting, with its default. The README's table lists the same names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the SQLite file, the search index and the generated JWT secret live.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`; default `sqlite://<data_dir>/i2i.db`.
    pub database_url: Option<String>,
    /// Address and port to listen on.
    pub listen: String,
    /// Secret for signing tokens; when unset one is generated and kept in `<data_dir>/jwt-secret`.
    pub jwt_secret: Option<String>,
    /// How long a login token stays valid, in hours.
    pub token_ttl_hours: u64,
    /// Regular expression that finds incident keys written in a post body.
    pub incident_pattern: String,
    /// Largest accepted request body, in bytes.
    pub max_request_bytes: usize,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Log filter, e.g. `info` or `i2i=debug,actix_web=info`.
    pub log: String,
    /// Login attempts (successful or not) per client address per minute; 0 = no limit.
    pub login_per_minute: u32,
    /// Failed logins per username per minute, from any address; 0 = no limit.
    pub login_failures_per_minute: u32,
    /// New posts (and replies) per user per minute; 0 = no limit.
    pub posts_per_minute: u32,
    /// Take the client address from the last `X-Forwarded-For` entry (the one the reverse
    /// proxy in front of i2i appended) instead of the connection's peer. Only set this
    /// behind such a proxy: otherwise any client can claim any address.
    pub trust_forwarded_for: bool,
    /// Seconds between checks that the default trend views (the Trends page, the trend API
    /// without parameters) are computed for the current data, so nobody waits for one;
    /// 0 = compute them only when asked.
    pub trends_warm_seconds: u64,
    /// The address users reach i2i at (`https://i2i.example.com`), for absolute links in
    /// feeds, exports and digests. When unset they are built from the request: its `Host`,
    /// or behind a trusted proxy (`trust_forwarded_for`) the forwarded host and scheme.
    pub public_url: Option<String>,
    /// Caps the SQLite file at this many pages (of 4 KiB); beyond it writes are refused as
    /// on a full disk (503 `storage_full`). 0 = no cap. Ignored on PostgreSQL.
    pub sqlite_max_page_count: u64,
    /// Seconds a client has to send a request's head (line and headers); later: 408.
    pub header_timeout_secs: u64,
    /// Seconds a client has, from the end of the head, to send the whole body; later: 408
    /// and the connection is closed (a slowly trickled body holds nothing for long).
    pub body_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open; 0 turns keep-alive off.
    pub keep_alive_secs: u64,
    /// Seconds a closing connection may take to be shut down cleanly before it is dropped.
    pub disconnect_timeout_secs: u64,
    /// Connections served at once (over all workers); more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("i2i-data"),
            database_url: None,
            listen: "127.0.0.1:8080".to_string(),
            jwt_secret: None,
            token_ttl_hours: 168,
            incident_pattern: r"INC-\d+".to_string(),
            max_request_bytes: 64 * 1024,
            secure_cookies: false,
            log: "info,tantivy=warn".to_string(),
            login_per_minute: 30,
            login_failures_per_minute: 5,
            posts_per_minute: 600,
            trust_forwarded_for: false,
            trends_warm_seconds: 15,
            public_url: None,
            sqlite_max_page_count: 0,
            header_timeout_secs: 5,
            body_timeout_secs: 10,
            keep_alive_secs: 5,
            disconnect_timeout_secs: 1,
            max_connections: 10_000,
        }
    }
}

/// Setting names, for the environment filter and `--help`.
pub const SETTINGS: &[&str] = &[
    "data_dir",
    "database_url",
    "listen",
    "jwt_secret",
    "token_ttl_hours",
    "incident_pattern",
    "max_request_bytes",
    "secure_cookies",
    "log",
    "login_per_minute",
    "login_failures_per_minute",
    "posts_per_minute",
    "trust_forwarded_for",
    "trends_warm_seconds",
    "public_url",
    "sqlite_max_page_count",
    "header_timeout_secs",
    "body_timeout_secs",
    "keep_alive_secs",
    "disconnect_timeout_secs",
    "max_connections",
];

impl Config {
    /// Loads defaults, then the TOML file (if it exists), then `I2I_<SETTING>` variables.
    pub fn load(file: &Path) -> anyhow::Result<Config> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("I2I_").only(SETTINGS))
            .extract()
            .context("reading configuration")?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings that could otherwise fail only later, at the first request.
    pub fn validate(&self) -> anyhow::Result<()> {
        regex::Regex::new(&self.incident_pattern).context("incident_pattern is not a valid regex")?;
        if let Some(url) = &self.public_url {
            check_public_url(url)?;
        }
        Ok(())
    }

    /// `public_url` without a trailing `/`, ready to have a path appended; `None` when unset.
    pub fn public_base(&self) -> Option<&str> {
        self.public_url.as_deref().map(|url| url.trim_end_matches('/'))
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("i2i.db").display()),
        }
    }

    /// The token secret when configured (`jwt_secret`), checked for length.
    pub fn configured_jwt_secret(&self) -> anyhow::Result<Option<Vec<u8>>> {
        match &self.jwt_secret {
            Some(secret) => {
                anyhow::ensure!(secret.len() >= 16, "jwt_secret must be at least 16 characters");
                Ok(Some(secret.as_bytes().to_vec()))
            }
            None => Ok(None),
        }
    }

    /// The secret an earlier version generated into `<data_dir>/jwt-secret`, if there is
    /// one: adopted into the database so tokens it signed stay valid.
    pub fn legacy_jwt_secret(&self) -> anyhow::Result<Option<String>> {
        let path = self.data_dir.join("jwt-secret");
        let Ok(existing) = std::fs::read_to_string(&path) else { return Ok(None) };
        let trimmed = existing.trim();
        anyhow::ensure!(
            trimmed.len() >= 32,
            "{} is too short; delete it to generate a new one",
            path.display()
        );
        Ok(Some(trimmed.to_string()))
    }
}

/// A `public_url` must be an absolute http or https URL with a host and nothing a link
/// could not be appended to: no credentials, query or fragment.
fn check_public_url(raw: &str) -> anyhow::Result<()> {
    // The url crate, as reqwest re-exports it.
    let url = reqwest::Url::parse(raw).with_context(|| format!("public_url {raw:?} is not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "public_url must start with http:// or https://, not {}:",
        url.scheme()
    );
    anyhow::ensure!(url.host_str().is_some_and(|h| !h.is_empty()), "public_url {raw:?} has no host");
    anyhow::ensure!(
        url.username().is_empty() && url.password().is_none(),
        "public_url must not carry a user or password"
    );
    anyhow::ensure!(
        url.query().is_none() && url.fragment().is_none() && !raw.contains(['?', '#']),
        "public_url {raw:?} must not have a query or fragment"
    );
    anyhow::ensure!(!raw.chars().any(|c| c.is_whitespace() || c.is_control()), "public_url has spaces in it");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn defaults_then_file_then_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("i2i.toml", "listen = \"0.0.0.0:9000\"\ntoken_ttl_hours = 2\n")?;
            jail.set_env("I2I_TOKEN_TTL_HOURS", "5");
            jail.set_env("I2I_TEST_POSTGRES_URL", "ignored");
            let config = Config::load(Path::new("i2i.toml")).map_err(|e| e.to_string())?;
            assert_eq!(config.listen, "0.0.0.0:9000");
            assert_eq!(config.token_ttl_hours, 5);
            assert_eq!(config.database_url(), "sqlite://i2i-data/i2i.db");
            jail.set_env("I2I_PUBLIC_URL", "https://i2i.example.com/");
            let config = Config::load(Path::new("i2i.toml")).map_err(|e| e.to_string())?;
            assert_eq!(config.public_base(), Some("https://i2i.example.com"));
            Ok(())
        });
    }

    #[test]
    fn public_url_is_an_http_url_to_append_paths_to() {
        for good in ["http://i2i.local:8080", "https://i2i.example.com/", "https://example.com/i2i"] {
            assert!(check_public_url(good).is_ok(), "{good}");
        }
        for bad in [
            "javascript://x/",
            "ftp://example.com",
            "example.com",
            "https://example.com/?a=1",
            "https://example.com/#top",
            "https://user:pw@example.com",
            "https:///",
        ] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
    }
}
