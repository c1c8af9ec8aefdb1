//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/api/openapi.json`.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::api::{
    admin, auth, health, incidents, insights, me, posts, search, stream, tags, trends, users,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "i2i", description = "Incident to Insight: an insight feed for IT operations"),
    paths(
        health::healthz, health::readyz,
        auth::login, auth::logout,
        users::setup, users::me, users::list, users::create, users::update, admin::audit,
        posts::create, posts::get, posts::edit, posts::delete, posts::thread, posts::react, posts::unreact,
        posts::timeline,
        incidents::create, incidents::list, incidents::get, incidents::update,
        tags::get, tags::update,
        search::search, search::export, search::similar,
        trends::trending, trends::recurring, trends::pairs, trends::history, trends::related, trends::rhythm,
        trends::tag_distinctive, trends::incident_distinctive,
        me::suggestions, me::follow, me::unfollow, me::my_tags, me::feed_token, stream::stream_posts,
        insights::list, insights::create, insights::export_csv, insights::get, insights::update, insights::pin,
        insights::unpin, insights::comment, insights::export_markdown, insights::my_notifications,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// Declares the bearer token scheme every protected route uses.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// `GET /api/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
