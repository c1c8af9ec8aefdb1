//! Logging: a `tracing` subscriber writing to stderr, filtered by `RUST_LOG` or the config.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // handlebars logs each render context at debug, and the context holds the session's
    // form token: whatever the filter, its logs stop at info.
    let filter = match "handlebars=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
