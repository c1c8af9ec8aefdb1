//! The HTTP layer: THE route table, extractor configuration and shared response headers.
//! Handlers are short: extract and authorise, call `domain`, map the result to a view.

pub mod api;
pub mod client;
pub mod extract;
pub mod guard;
pub mod openapi;
pub mod pages;
pub mod query;

use actix_web::{middleware::DefaultHeaders, web};

use crate::error::{bad_request, json_error, AppError};

/// `Cache-Control: no-store`, for every response that carries a credential (a login token,
/// the session cookie, a feed token): no browser cache or proxy may keep a copy of it.
pub const NO_STORE: (actix_web::http::header::HeaderName, &str) =
    (actix_web::http::header::CACHE_CONTROL, "no-store");

/// Every route of i2i.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use api::{admin, auth, health, incidents, insights, me, posts, search, stream, tags, trends, users};
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/api/openapi.json", web::get().to(openapi::document))
        .service(
            web::scope("/api/v1")
                .route("/setup", web::post().to(users::setup))
                .route("/auth/login", web::post().to(auth::login))
                .route("/auth/logout", web::post().to(auth::logout))
                .route("/users/me", web::get().to(users::me))
                .route("/users", web::get().to(users::list))
                .route("/users", web::post().to(users::create))
                .route("/users/{username}", web::patch().to(users::update))
                .route("/admin/audit", web::get().to(admin::audit))
                .route("/posts", web::post().to(posts::create))
                .route("/posts/{id}", web::get().to(posts::get))
                .route("/posts/{id}", web::patch().to(posts::edit))
                .route("/posts/{id}", web::delete().to(posts::delete))
                .route("/posts/{id}/thread", web::get().to(posts::thread))
                .route("/posts/{id}/reactions", web::post().to(posts::react))
                .route("/posts/{id}/reactions", web::delete().to(posts::unreact))
                .route("/posts/{id}/similar", web::get().to(search::similar))
                .route("/timeline", web::get().to(posts::timeline))
                .route("/search", web::get().to(search::search))
                .route("/search/export", web::get().to(search::export))
                .route("/incidents", web::post().to(incidents::create))
                .route("/incidents", web::get().to(incidents::list))
                .route("/incidents/{key}", web::get().to(incidents::get))
                .route("/incidents/{key}", web::patch().to(incidents::update))
                .route("/tags", web::get().to(me::suggestions))
                .route("/tags/{name}", web::get().to(tags::get))
                .route("/tags/{name}", web::patch().to(tags::update))
                .route("/tags/{name}/follow", web::post().to(me::follow))
                .route("/tags/{name}/follow", web::delete().to(me::unfollow))
                .route("/me/tags", web::get().to(me::my_tags))
                .route("/me/feed-token", web::post().to(me::feed_token))
                .route("/stream", web::get().to(stream::stream_posts))
                .route("/tags/{name}/history", web::get().to(trends::history))
                .route("/tags/{name}/related", web::get().to(trends::related))
                .route("/tags/{name}/rhythm", web::get().to(trends::rhythm))
                .route("/tags/{name}/distinctive", web::get().to(trends::tag_distinctive))
                .route("/incidents/{key}/distinctive", web::get().to(trends::incident_distinctive))
                .route("/trends/tags", web::get().to(trends::trending))
                .route("/trends/recurring", web::get().to(trends::recurring))
                .route("/trends/pairs", web::get().to(trends::pairs))
                .route("/insights", web::get().to(insights::list))
                .route("/insights", web::post().to(insights::create))
                .route("/insights.csv", web::get().to(insights::export_csv))
                .route("/insights/{id}", web::get().to(insights::get))
                .route("/insights/{id}", web::patch().to(insights::update))
                .route("/insights/{id}/evidence", web::post().to(insights::pin))
                .route("/insights/{id}/evidence/{kind}/{reference}", web::delete().to(insights::unpin))
                .route("/insights/{id}/comments", web::post().to(insights::comment))
                .route("/insights/{id}/markdown", web::get().to(insights::export_markdown))
                .route("/me/notifications", web::get().to(insights::my_notifications))
                .default_service(web::to(api_not_found)),
        )
        .route("/", web::get().to(pages::timeline::show))
        .route("/login", web::get().to(pages::session::login_form))
        .route("/login", web::post().to(pages::session::login))
        .route("/logout", web::post().to(pages::session::logout))
        .route("/setup", web::get().to(pages::session::setup_form))
        .route("/setup", web::post().to(pages::session::setup))
        .route("/compose", web::post().to(pages::timeline::compose_post))
        .route("/posts/{id}", web::get().to(pages::post::show))
        .route("/posts/{id}/react", web::post().to(pages::post::react))
        .route("/search", web::get().to(pages::search::show))
        .route("/trends", web::get().to(pages::trends::show))
        .route("/admin/users", web::get().to(pages::admin::users))
        .route("/admin/users", web::post().to(pages::admin::add_user))
        .route("/admin/audit", web::get().to(pages::admin::audit))
        .route("/my", web::get().to(pages::my::show))
        .route("/my/feed-token", web::post().to(pages::my::rotate_token))
        .route("/digest", web::get().to(pages::my::digest))
        .route("/digest.md", web::get().to(pages::my::digest_markdown))
        .route("/digest.html", web::get().to(pages::my::digest_html))
        .route("/tags/{name}/follow", web::post().to(pages::my::follow))
        .route("/tags/{name}/curate", web::post().to(pages::tag::curate))
        .route("/feeds/tags/{name}", web::get().to(pages::feeds::tag))
        .route("/feeds/incidents/{key}", web::get().to(pages::feeds::incident))
        .route("/feeds/search.atom", web::get().to(pages::feeds::search))
        .route("/fragments/posts/{id}", web::get().to(pages::post::fragment))
        .route("/tags/{name}", web::get().to(pages::tag::show))
        .route("/incidents", web::get().to(pages::incident::list))
        .route("/incidents/{key}", web::get().to(pages::incident::show))
        .route("/incidents/{key}/update", web::post().to(pages::incident::update))
        .route("/users/{username}", web::get().to(pages::user::show))
        .route("/insights", web::get().to(pages::insights::board_page))
        .route("/insights", web::post().to(pages::insights::create))
        .route("/insights.csv", web::get().to(api::insights::export_csv))
        .route("/insights/{id}", web::get().to(pages::insights::show))
        .route("/insights/{id}/update", web::post().to(pages::insights::update))
        .route("/insights/{id}/evidence", web::post().to(pages::insights::evidence))
        .route("/insights/{id}/comments", web::post().to(pages::insights::comment))
        .route("/insights/{id}/export.md", web::get().to(pages::insights::export_markdown))
        .route("/notifications/read", web::post().to(pages::insights::mark_read))
        .route("/assets/{path:.*}", web::get().to(pages::assets::serve))
        .default_service(web::to(api_not_found));
}

async fn api_not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound(format!("no route for {} {}", req.method(), req.path())))
}

/// JSON bodies: size-capped, and every failure is a 4xx in our error shape.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(|err, _req| json_error(err).into())
}

/// Form bodies (the pages), with the same cap.
pub fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default()
        .limit(limit)
        .error_handler(|err, _req| bad_request("malformed_form", err.to_string()).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match err {
            actix_web::error::QueryPayloadError::Deserialize(inner) => {
                format!("bad query parameters: {inner}")
            }
            other => other.to_string(),
        };
        bad_request("bad_query", message).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| bad_request("bad_path", err.to_string()).into())
}

/// Headers on every response: a strict Content-Security-Policy (no inline script or
/// style), no MIME sniffing, no framing, and no referrer leaking to other sites.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
}
