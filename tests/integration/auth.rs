//! Accounts, login tokens, revocation and roles.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_json, TestApp, ADMIN_PASSWORD, PASSWORD};

#[tokio::test]
async fn setup_creates_the_first_admin_only_once() {
    let app = TestApp::spawn().await;
    let token = app.setup_admin().await;
    let me = app.get_json("/api/v1/users/me", &token).await;
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["display_name"], "Ada Admin");

    let again = app
        .client
        .post(app.url("/api/v1/setup"))
        .json(&json!({"username": "mallory", "password": "mallory-password"}))
        .send()
        .await
        .unwrap();
    let (code, _) = expect_error(again, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "forbidden");
    assert_eq!(app.login("mallory", "mallory-password").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_gives_a_working_token_and_bad_credentials_the_same_401() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let login = expect_json(app.login("Admin", ADMIN_PASSWORD).await, StatusCode::OK).await;
    let token = login["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT has three parts");
    assert!(login["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(login["user"]["username"], "admin");
    assert_eq!(app.get_json("/api/v1/users/me", token).await["username"], "admin");

    let (_, wrong_password) =
        expect_error(app.login("admin", "not-the-password").await, StatusCode::UNAUTHORIZED).await;
    let (_, unknown_user) =
        expect_error(app.login("nobody", "not-the-password").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(wrong_password, unknown_user, "errors must not reveal which usernames exist");
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = TestApp::spawn().await;
    let token = app.setup_admin().await;
    let other = expect_json(app.login("admin", ADMIN_PASSWORD).await, StatusCode::OK).await;
    let other_token = other["token"].as_str().unwrap();
    let response = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (code, _) = expect_error(app.get("/api/v1/users/me", &token).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "unauthorized");
    // Only that session ended.
    assert_eq!(app.get("/api/v1/users/me", other_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_forged_and_missing_tokens_are_rejected() {
    let app = TestApp::spawn().await;
    let token = app.setup_admin().await;
    let login = expect_json(app.login("admin", ADMIN_PASSWORD).await, StatusCode::OK).await;
    let user_id = 1;
    // A token signed with the right key but already expired.
    let keys = i2i::auth::Keys::new(app.config.jwt_secret.as_ref().unwrap().as_bytes());
    let now = chrono::Utc::now().timestamp();
    let expired = keys
        .sign(&i2i::auth::tokens::Claims { sub: user_id, jti: "x".into(), iat: now - 100, exp: now - 10 })
        .unwrap();
    assert_eq!(app.get("/api/v1/users/me", &expired).await.status(), StatusCode::UNAUTHORIZED);
    // A valid-looking token signed with another key.
    let forged = i2i::auth::Keys::new(b"some-other-secret-entirely")
        .sign(&i2i::auth::tokens::Claims { sub: user_id, jti: "x".into(), iat: now, exp: now + 3600 })
        .unwrap();
    assert_eq!(app.get("/api/v1/users/me", &forged).await.status(), StatusCode::UNAUTHORIZED);
    // No token at all.
    let response = app.client.get(app.url("/api/v1/timeline")).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    expect_error(response, StatusCode::UNAUTHORIZED).await;
    assert!(login["token"].as_str().is_some() && !token.is_empty());
}

#[tokio::test]
async fn only_admins_manage_users_and_disabling_logs_out() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let responder = app.user(&admin, "rita", "responder").await;

    let attempt =
        app.post("/api/v1/users", &responder, &json!({"username": "x1", "password": PASSWORD})).await;
    expect_error(attempt, StatusCode::FORBIDDEN).await;
    expect_error(app.get("/api/v1/users", &responder).await, StatusCode::FORBIDDEN).await;

    let users = app.get_json("/api/v1/users", &admin).await;
    let names: Vec<_> = users["items"].as_array().unwrap().iter().map(|u| u["username"].clone()).collect();
    assert_eq!(names, vec![json!("admin"), json!("rita")]);

    let changed = app.patch("/api/v1/users/rita", &admin, &json!({"role": "designer"})).await;
    assert_eq!(expect_json(changed, StatusCode::OK).await["role"], "designer");

    let disabled = app.patch("/api/v1/users/rita", &admin, &json!({"disabled": true})).await;
    assert_eq!(expect_json(disabled, StatusCode::OK).await["disabled"], true);
    assert_eq!(app.get("/api/v1/users/me", &responder).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("rita", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

    // The last admin cannot lock everyone out.
    let demote = app.patch("/api/v1/users/admin", &admin, &json!({"role": "responder"})).await;
    expect_error(demote, StatusCode::CONFLICT).await;
    let bad_role = app.patch("/api/v1/users/rita", &admin, &json!({"role": "boss"})).await;
    let (code, body) = expect_error(bad_role, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "validation_failed");
    assert_eq!(body["error"]["field"], "role");
    let duplicate =
        app.post("/api/v1/users", &admin, &json!({"username": "RITA", "password": PASSWORD})).await;
    expect_error(duplicate, StatusCode::CONFLICT).await;
}
