//! The audit log over HTTP: what gets recorded (and what never does), paging and filters,
//! and that only admins can read it.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, expect_json, TestApp, PASSWORD};

/// The audit entries of one action, newest first.
async fn entries(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let page = app.get_json(&format!("/api/v1/admin/audit?action={action}"), admin).await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn security_actions_are_recorded_with_actor_target_and_address() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let bob = app.user(&admin, "bob", "responder").await;

    let created = entries(&app, &admin, "user_created").await;
    assert_eq!(created.len(), 2, "the setup admin and bob: {created:?}");
    assert_eq!(created[0]["actor"], "admin");
    assert_eq!(created[0]["target"], "user:bob");
    assert_eq!(created[0]["detail"]["role"], "responder");

    let logins = entries(&app, &admin, "login").await;
    assert_eq!(logins[0]["actor"], "bob");
    assert_eq!(logins[0]["target"], "user:bob");
    assert_eq!(logins[0]["ip"], "127.0.0.1");
    assert!(logins[0]["at"].as_str().unwrap().ends_with('Z'));

    let secret = "hunter2-correct-horse-battery";
    assert_eq!(app.login("Bob", secret).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("nobody", secret).await.status(), StatusCode::UNAUTHORIZED);
    let failed = entries(&app, &admin, "login_failed").await;
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["target"], "user:nobody");
    assert_eq!(failed[0]["detail"]["reason"], "unknown_user");
    assert_eq!(failed[1]["target"], "user:bob");
    assert_eq!(failed[1]["detail"]["reason"], "wrong_password");
    assert_eq!(failed[1]["actor"], Value::Null);
    assert_eq!(failed[1]["ip"], "127.0.0.1");
    let everything = app.get("/api/v1/admin/audit?limit=200", &admin).await.text().await.unwrap();
    assert!(!everything.contains(secret), "a tried password is never recorded");
    assert!(!everything.contains(PASSWORD), "nor a right one");

    let role = app.patch("/api/v1/users/bob", &admin, &json!({"role": "designer"})).await;
    expect_json(role, StatusCode::OK).await;
    let changed = entries(&app, &admin, "role_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["actor"], "admin");
    assert_eq!(changed[0]["target"], "user:bob");
    assert_eq!(changed[0]["detail"], json!({"from": "responder", "to": "designer"}));

    let post = app.create_post(&bob, json!({"body": "a note an admin will remove"})).await;
    let own = app.create_post(&admin, json!({"body": "the admin's own note"})).await;
    let gone = app.delete(&format!("/api/v1/posts/{}", post["id"]), &admin).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let own_gone = app.delete(&format!("/api/v1/posts/{}", own["id"]), &admin).await;
    assert_eq!(own_gone.status(), StatusCode::NO_CONTENT);
    let deleted = entries(&app, &admin, "post_deleted").await;
    assert_eq!(deleted.len(), 1, "deleting one's own post is not recorded: {deleted:?}");
    assert_eq!(deleted[0]["actor"], "admin");
    assert_eq!(deleted[0]["target"], format!("post:{}", post["id"]));
    assert_eq!(deleted[0]["detail"]["author"], "bob");

    let logout = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(entries(&app, &admin, "logout").await[0]["actor"], "bob");

    let bob_again = expect_json(app.login("bob", PASSWORD).await, StatusCode::OK).await;
    let disable = app.patch("/api/v1/users/bob", &admin, &json!({"disabled": true})).await;
    expect_json(disable, StatusCode::OK).await;
    let disabled = entries(&app, &admin, "user_disabled").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["target"], "user:bob");
    assert_eq!(disabled[0]["detail"]["sessions_revoked"], 1);
    let bob_token = bob_again["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/users/me", bob_token).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_log_pages_newest_first_and_filters_by_action() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    for n in 0..5 {
        assert_eq!(app.login(&format!("ghost{n}"), "x-wrong-pass").await.status(), StatusCode::UNAUTHORIZED);
    }
    let first = app.get_json("/api/v1/admin/audit?action=login_failed&limit=2", &admin).await;
    let targets = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|e| e["target"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(targets(&first), ["user:ghost4", "user:ghost3"]);
    let next = first["next"].as_str().unwrap();
    let second =
        app.get_json(&format!("/api/v1/admin/audit?action=login_failed&limit=2&before={next}"), &admin).await;
    assert_eq!(targets(&second), ["user:ghost2", "user:ghost1"]);
    let all = app.get_json("/api/v1/admin/audit", &admin).await;
    let ids: Vec<i64> = all["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(all["next"], Value::Null);

    // Mistakes are 4xx in the one error shape.
    for (query, status) in [
        ("limit=201", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("action=bogus", StatusCode::UNPROCESSABLE_ENTITY),
        ("before=abc", StatusCode::BAD_REQUEST),
        ("colour=red", StatusCode::BAD_REQUEST),
    ] {
        expect_error(app.get(&format!("/api/v1/admin/audit?{query}"), &admin).await, status).await;
    }
}

#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let analyst = app.user(&admin, "ana", "analyst").await;
    let (code, _) = expect_error(app.get("/api/v1/admin/audit", &analyst).await, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "forbidden");
    let anonymous = app.client.get(app.url("/api/v1/admin/audit")).send().await.unwrap();
    let (code, _) = expect_error(anonymous, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "unauthorized");

    // The page: admins see it (linked from the users page), others get 403, visitors the login.
    let page = app.client.get(app.url("/admin/audit")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Audit log</h1>") && html.contains("user:ana"), "{html}");
    let filtered =
        app.client.get(app.url("/admin/audit?action=login")).bearer_auth(&admin).send().await.unwrap();
    let filtered = filtered.text().await.unwrap();
    assert!(filtered.contains("<td>login</td>") && !filtered.contains("<td>user_created</td>"), "{filtered}");
    assert!(filtered.contains("<option value=\"login\" selected>"));
    let users = app.client.get(app.url("/admin/users")).bearer_auth(&admin).send().await.unwrap();
    assert!(users.text().await.unwrap().contains("href=\"/admin/audit\""));
    let denied = app.client.get(app.url("/admin/audit")).bearer_auth(&analyst).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert!(denied.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let visitor = app.client.get(app.url("/admin/audit")).send().await.unwrap();
    assert_eq!(visitor.status(), StatusCode::SEE_OTHER);
    assert!(visitor.headers()["location"].to_str().unwrap().starts_with("/login"));
}
