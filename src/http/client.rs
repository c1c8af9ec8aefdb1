//! The [`ClientAddr`] extractor: the address a request came from, for rate limits and the
//! audit log. The connection's peer unless `trust_forwarded_for` says a proxy stands in front.
//! Also [`base_url`], the one place absolute links get their scheme and host.

use std::future::{ready, Ready};
use std::net::IpAddr;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};

use crate::app_state::AppState;
use crate::config::Config;
use crate::error::AppError;

/// The scheme and host that absolute links (feeds, exports, digests) start with, without a
/// trailing `/`. `public_url` when configured; otherwise the request's own scheme and `Host`,
/// or behind a trusted proxy (`trust_forwarded_for`) its `X-Forwarded-Proto` and
/// `X-Forwarded-Host`. A client-sent forwarded header is never believed otherwise, the scheme
/// is only ever `http` or `https`, and a host with anything but host characters is ignored.
pub fn base_url(config: &Config, req: &HttpRequest) -> String {
    if let Some(base) = config.public_base() {
        return base.to_string();
    }
    let direct_scheme = if req.app_config().secure() { "https" } else { "http" };
    let direct_host = req
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| req.uri().authority().map(|authority| authority.as_str()))
        .filter(|host| is_host(host))
        .unwrap_or_else(|| req.app_config().host());
    if !config.trust_forwarded_for {
        return format!("{direct_scheme}://{direct_host}");
    }
    let scheme = match last_entry(req, "x-forwarded-proto").map(|p| p.to_ascii_lowercase()).as_deref() {
        Some("https") => "https",
        Some("http") => "http",
        _ => direct_scheme,
    };
    let host = last_entry(req, "x-forwarded-host").filter(|host| is_host(host));
    format!("{scheme}://{}", host.as_deref().unwrap_or(direct_host))
}

/// The last comma-separated entry of the last `name` header: the one the proxy added.
fn last_entry(req: &HttpRequest, name: &str) -> Option<String> {
    let value = req.headers().get_all(name).last()?.to_str().ok()?;
    Some(value.rsplit(',').next()?.trim().to_string())
}

/// A host, optionally with a port (`name`, `1.2.3.4:80`, `[::1]:80`): nothing that could end
/// an attribute, start a path or carry a scheme of its own.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']'))
}

pub use crate::app::ClientAddr;

/// The last `X-Forwarded-For` entry: the address the trusted proxy itself saw and appended.
/// Earlier entries are whatever the client sent, so they are never believed.
fn forwarded_for(req: &HttpRequest) -> Option<IpAddr> {
    let mut last = None;
    for header in req.headers().get_all("x-forwarded-for") {
        if let Some(entry) = header.to_str().ok().and_then(|value| value.rsplit(',').next()) {
            last = Some(entry);
        }
    }
    last?.trim().parse().ok()
}

fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let trust = req.app_data::<web::Data<AppState>>().is_some_and(|state| state.config.trust_forwarded_for);
    let peer = req.peer_addr().map(|addr| addr.ip());
    if trust {
        return forwarded_for(req).or(peer);
    }
    peer
}

impl FromRequest for ClientAddr {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(ClientAddr(client_addr(req))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_proxys_entry_is_the_last_one() {
        let req = TestRequest::default()
            .insert_header(("X-Forwarded-For", "1.1.1.1, 10.0.0.9"))
            .append_header(("X-Forwarded-For", "203.0.113.7"))
            .to_http_request();
        assert_eq!(forwarded_for(&req), Some(IpAddr::from([203, 0, 113, 7])));
        let garbage = TestRequest::default().insert_header(("X-Forwarded-For", "nonsense")).to_http_request();
        assert_eq!(forwarded_for(&garbage), None);
    }

    #[test]
    fn links_take_forwarded_headers_only_from_a_trusted_proxy_and_only_http() {
        let forged = || {
            TestRequest::default()
                .insert_header(("Host", "i2i.local:8080"))
                .insert_header(("X-Forwarded-Proto", "javascript"))
                .insert_header(("X-Forwarded-Host", "evil.example"))
                .to_http_request()
        };
        let mut config = Config::default();
        assert_eq!(base_url(&config, &forged()), "http://i2i.local:8080");
        config.trust_forwarded_for = true;
        assert_eq!(base_url(&config, &forged()), "http://evil.example");
        let proxied = TestRequest::default()
            .insert_header(("X-Forwarded-Proto", "HTTPS"))
            .insert_header(("X-Forwarded-Host", "bad host/\"><x"))
            .insert_header(("Host", "i2i.internal"))
            .to_http_request();
        assert_eq!(base_url(&config, &proxied), "https://i2i.internal");
        config.public_url = Some("https://i2i.example.com/".into());
        assert_eq!(base_url(&config, &forged()), "https://i2i.example.com");
    }

    #[test]
    fn without_trust_the_header_is_ignored() {
        let req = TestRequest::default()
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "203.0.113.7"))
            .to_http_request();
        assert_eq!(client_addr(&req), Some(IpAddr::from([192, 0, 2, 1])));
    }
}
