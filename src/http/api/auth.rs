//! `POST /api/v1/auth/login` and `/logout`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::views::{LoginView, UserView};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::domain::time::format_ms;
use crate::error::{AppError, ErrorBody};
use crate::http::client::ClientAddr;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Exchange a username and password for a token. Too many attempts from one address, or
/// too many failures for one username, answer 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "login", request_body = LoginRequest,
    responses((status = 200, body = LoginView), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn login(
    state: web::Data<AppState>,
    client: ClientAddr,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let LoginRequest { username, password } = body.into_inner();
    let issued = crate::app::login::log_in(&state, client, username, password).await?;
    Ok(HttpResponse::Ok().insert_header(crate::http::NO_STORE).json(LoginView {
        token: issued.token,
        expires_at: format_ms(issued.expires_at),
        user: UserView::from(&issued.user),
    }))
}

/// Revoke the token of this request.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logout", responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    state: web::Data<AppState>,
    client: ClientAddr,
    auth: AuthUser,
) -> Result<HttpResponse, AppError> {
    crate::app::login::log_out(&state, client, auth).await?;
    Ok(HttpResponse::NoContent().finish())
}
