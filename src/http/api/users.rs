//! Users: first-admin setup, the current user, and admin-only management.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::audit::Actor;
use crate::app::users::{create_account, require, set_disabled, set_role};
use crate::app::users::{create_first_admin, hash_password};
use crate::app::views::{LoginView, UserList, UserView};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::users;
use crate::domain::rules::{parse_display_name, Role};
use crate::domain::time::format_ms;
use crate::error::{AppError, ErrorBody};
use crate::http::client::ClientAddr;
use crate::http::query::NoParams;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub username: String,
    pub password: String,
    pub display_name: Option<String>,
    /// Defaults to `responder` (ignored by setup, which always makes an admin).
    pub role: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub role: Option<String>,
    pub disabled: Option<bool>,
    pub display_name: Option<String>,
}

/// Create the first admin account; only works while there are no users.
#[utoipa::path(post, path = "/api/v1/setup", operation_id = "set_up_first_admin", request_body = NewUserRequest,
    responses((status = 201, body = LoginView), (status = 403, body = ErrorBody)))]
pub async fn setup(
    state: web::Data<AppState>,
    client: ClientAddr,
    body: web::Json<NewUserRequest>,
) -> Result<HttpResponse, AppError> {
    let NewUserRequest { username, password, display_name, .. } = body.into_inner();
    let issued = create_first_admin(&state, client, username, password, display_name).await?;
    Ok(HttpResponse::Created().insert_header(crate::http::NO_STORE).json(LoginView {
        token: issued.token,
        expires_at: format_ms(issued.expires_at),
        user: UserView::from(&issued.user),
    }))
}

/// The user of the token.
#[utoipa::path(get, path = "/api/v1/users/me", operation_id = "get_current_user", responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn me(auth: AuthUser, _params: web::Query<NoParams>) -> HttpResponse {
    HttpResponse::Ok().json(UserView::from(&auth.user))
}

/// All users (admins only).
#[utoipa::path(get, path = "/api/v1/users", operation_id = "list_users", responses((status = 200, body = UserList), (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthUser,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    auth.require_admin()?;
    let all = state.db.read(|conn| Ok(users::list(conn)?)).await?;
    Ok(HttpResponse::Ok().json(UserList { items: all.iter().map(UserView::from).collect() }))
}

/// Create a user (admins only).
#[utoipa::path(post, path = "/api/v1/users", operation_id = "create_user", request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    client: ClientAddr,
    auth: AuthUser,
    body: web::Json<NewUserRequest>,
) -> Result<HttpResponse, AppError> {
    auth.require_admin()?;
    let NewUserRequest { username, password, display_name, role } = body.into_inner();
    let role = role.as_deref().map(str::parse::<Role>).transpose()?.unwrap_or(Role::Responder);
    let hash = hash_password(password).await?;
    let by = Actor::user(&auth.user, client.text());
    let user = state
        .db
        .write(move |conn| create_account(conn, &by, &username, display_name.as_deref(), role, &hash))
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

/// Change a user's role, display name or disabled flag (admins only).
#[utoipa::path(patch, path = "/api/v1/users/{username}", operation_id = "update_user", request_body = UpdateUserRequest,
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    client: ClientAddr,
    auth: AuthUser,
    username: web::Path<String>,
    body: web::Json<UpdateUserRequest>,
) -> Result<HttpResponse, AppError> {
    auth.require_admin()?;
    let by = Actor::user(&auth.user, client.text());
    let username = username.into_inner();
    let body = body.into_inner();
    let role = body.role.as_deref().map(str::parse::<Role>).transpose()?;
    let display_name = body.display_name.as_deref().map(parse_display_name).transpose()?;
    let user = state
        .db
        .write(move |conn| {
            let mut user = require(conn, &username)?;
            if let Some(name) = &display_name {
                users::set_display_name(conn, user.id, name)?;
            }
            if let Some(role) = role {
                user = set_role(conn, &by, &user.username, role)?;
            }
            if let Some(disabled) = body.disabled {
                user = set_disabled(conn, &by, &user.username, disabled)?;
            }
            Ok(users::by_id(conn, user.id)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}
