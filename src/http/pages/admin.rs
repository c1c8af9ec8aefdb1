//! The admin pages: users (everyone with their role and status, and a form to add a user)
//! and the audit log.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{check_csrf, redirect, render, viewer};
use crate::app::audit::{load_page, Action, Actor, AuditRequest};
use crate::app::users::create_account;
use crate::app::users::hash_password;
use crate::app::views::{AuditEventView, UserView};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::users;
use crate::domain::rules::Role;
use crate::error::AppError;
use crate::http::client::ClientAddr;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub before: Option<String>,
}

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
    client: ClientAddr,
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
        let by = Actor::user(&auth.user, client.text());
        state.db.write(move |conn| create_account(conn, &by, &name, display.as_deref(), role, &hash)).await
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

/// `GET /admin/audit`: the audit log, newest first, filtered by action.
pub async fn audit(
    state: web::Data<AppState>,
    auth: AuthUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    auth.require_admin()?;
    // The form sends `action=` for "all".
    let action = query.action.clone().filter(|a| !a.is_empty());
    let request = AuditRequest { action: action.clone(), before: query.before.clone(), limit: None };
    let page = state.db.read(move |conn| load_page(conn, &request)).await?;
    // The detail object is shown as its JSON text.
    let events: Vec<_> = page
        .events
        .iter()
        .map(AuditEventView::from)
        .map(|view| {
            let detail = view.detail.to_string();
            let mut row = json!(view);
            row["detail"] = json!(detail);
            row
        })
        .collect();
    let older = page.next.map(|id| {
        let mut url = form_urlencoded::Serializer::new(String::from("/admin/audit?"));
        if let Some(action) = &action {
            url.append_pair("action", action);
        }
        url.append_pair("before", &id.to_string()).finish()
    });
    let actions: Vec<_> = Action::ALL
        .iter()
        .map(|a| json!({"name": a.as_str(), "selected": action.as_deref() == Some(a.as_str())}))
        .collect();
    let context = json!({
        "title": "Audit log",
        "viewer": viewer(Some(&auth)),
        "events": events,
        "actions": actions,
        "older": older,
    });
    render(&state, "pages/admin_audit", &context)
}
