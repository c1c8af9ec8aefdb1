//! The [`ClientAddr`] extractor: the address a request came from, for rate limits and the
//! audit log. The connection's peer unless `trust_forwarded_for` says a proxy stands in front.

use std::future::{ready, Ready};
use std::net::IpAddr;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use crate::error::AppError;
use crate::startup::AppState;

/// The scheme and host the request came to (as a proxy forwards them), for absolute links
/// in feeds and exports.
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// The client's address; `None` only when the connection has none (test requests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The address as the audit log stores it.
    pub fn text(&self) -> Option<String> {
        self.0.map(|address| address.to_string())
    }
}

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
    fn without_trust_the_header_is_ignored() {
        let req = TestRequest::default()
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "203.0.113.7"))
            .to_http_request();
        assert_eq!(client_addr(&req), Some(IpAddr::from([192, 0, 2, 1])));
    }
}
