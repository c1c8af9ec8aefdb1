//! The admin's user page: everyone with their role and status, and a form to add a user.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{check_csrf, redirect, render, viewer};
use crate::auth::AuthUser;
use crate::db::users;
use crate::domain::rules::Role;
use crate::domain::users::create_user;
use crate::error::AppError;
use crate::http::api::users::hash_password;
use crate::http::views::UserView;
use crate::startup::AppState;

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    pub username: String,
    pub display_name: Option<String>,
    pub password: String,
    pub role: String,
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

async fn page(
    state: &web::Data<AppState>,
    auth: &AuthUser,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let all = state.db.read(|conn| Ok(users::list(conn)?)).await?;
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let context = json!({
        "title": "Users",
        "viewer": viewer(Some(auth)),
        "users": all.iter().map(UserView::from).collect::<Vec<_>>(),
        "roles": roles,
        "error": error,
    });
    render(state, "pages/admin_users", &context)
}

/// `GET /admin/users`.
pub async fn users(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, AppError> {
    auth.require_admin()?;
    page(&state, &auth, None).await
}

/// `POST /admin/users`: adds a user; a mistake shows the page again with the reason.
pub async fn add_user(
    state: web::Data<AppState>,
    auth: AuthUser,
    form: web::Form<NewUserForm>,
) -> Result<HttpResponse, AppError> {
    auth.require_admin()?;
    check_csrf(&auth, &form.csrf)?;
    let form = form.into_inner();
    let outcome = async {
        let role = form.role.parse::<Role>()?;
        let hash = hash_password(form.password.clone()).await?;
        let display = form.display_name.clone().filter(|d| !d.trim().is_empty());
        let name = form.username.clone();
        state.db.write(move |conn| create_user(conn, &name, display.as_deref(), role, Some(&hash))).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(redirect("/admin/users")),
        Err(AppError::Validation { message, .. }) | Err(AppError::Conflict(message)) => {
            let mut response = page(&state, &auth, Some(message)).await?;
            *response.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        Err(other) => Err(other),
    }
}
