//! Cross-site request forgery: a request authenticated by the session cookie (which a
//! browser attaches to a request another site makes it send) changes nothing unless it
//! carries the session's CSRF token in `X-CSRF-Token`: every state-changing API route of
//! the role table, also those without a body. Bearer requests need no token. (The pages'
//! forms carry it in their `_csrf` field: `web::every_form_refuses_a_missing_or_foreign_csrf_token…`.)

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json, session_of, TestApp, ADMIN_PASSWORD};
use crate::roles::{class_of, Row, TABLE};

/// Index of the admin's expectation in a row of the role table.
const ADMIN: usize = 4;

/// The state-changing rows of the API that act for a logged-in user (setup and login
/// authenticate nobody).
fn api_changes() -> impl Iterator<Item = &'static Row> {
    TABLE.iter().filter(|row| {
        row.method != "GET"
            && row.template.starts_with("/api/")
            && !matches!(row.template, "/api/v1/setup" | "/api/v1/auth/login")
    })
}

/// Sends `row` as the admin with only the session cookie, and the CSRF header if given.
async fn send_with_cookie(
    app: &TestApp,
    row: &Row,
    body: &str,
    cookie: &str,
    csrf: Option<&str>,
) -> reqwest::Response {
    let method = Method::from_bytes(row.method.as_bytes()).expect("method");
    // A client of its own: no cookie store, no bearer header.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request =
        client.request(method, app.url(row.path)).header("cookie", format!("i2i_session={cookie}"));
    if let Some(token) = csrf {
        request = request.header("x-csrf-token", token);
    }
    request = match body.split_at_checked(1) {
        Some(("J", json)) => {
            request.header("content-type", "application/json").body(json.replace("{role}", "admin"))
        }
        Some(("F", form)) => request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.replace("{role}", "admin")),
        _ => request,
    };
    request.send().await.expect("request")
}

/// What a forged request could have changed, read with the bearer token.
async fn snapshot(app: &TestApp, token: &str, feed: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in [
        "/api/v1/users",
        "/api/v1/posts/1",
        "/api/v1/posts/2",
        "/api/v1/timeline",
        "/api/v1/incidents",
        "/api/v1/tags/db",
        "/api/v1/me/tags",
        "/api/v1/insights",
        "/api/v1/me/notifications",
        "/api/v1/admin/audit",
    ] {
        let response = app.client.get(app.url(path)).bearer_auth(token).send().await.expect(path);
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        seen.push(json!({"path": path, "status": status.as_u16(), "body": body}));
    }
    // The feed token still reads (rotating it is one of the forged requests).
    let feed_status =
        reqwest::get(app.url(&format!("/feeds/tags/db.atom?token={feed}"))).await.unwrap().status();
    seen.push(json!({"feed": feed_status.as_u16()}));
    seen
}

#[tokio::test]
async fn cookie_requests_to_the_api_change_nothing_without_the_csrf_header() {
    let app = TestApp::spawn_with(|config| {
        config.login_per_minute = 0;
        config.login_failures_per_minute = 0;
    })
    .await;
    let admin = app.setup_admin().await;
    app.user(&admin, "rita", "responder").await;
    app.create_post(&admin, json!({"body": "disk full on #db", "incident": "INC-1"})).await;
    app.create_post(&admin, json!({"body": "to be deleted #db"})).await;
    let (token, csrf) = session_of(&app, "admin", ADMIN_PASSWORD).await;
    let feed = expect_json(app.post("/api/v1/me/feed-token", &token, &json!({})).await, StatusCode::OK).await;
    let feed = feed["token"].as_str().unwrap().to_string();
    let rows: Vec<&Row> = api_changes().collect();
    assert!(rows.len() >= 15, "only {} state-changing API rows", rows.len());

    let before = snapshot(&app, &token, &feed).await;
    let mut wrong = Vec::new();
    for row in &rows {
        for (what, header) in [("no token", None), ("a wrong token", Some("not-the-token"))] {
            let response = send_with_cookie(&app, row, row.body, &token, header).await;
            if response.status() != StatusCode::FORBIDDEN {
                wrong.push(format!("{} {} with {what}: {}", row.method, row.path, response.status()));
            }
        }
    }
    assert!(wrong.is_empty(), "forged cookie requests not refused:\n{}", wrong.join("\n"));
    assert_eq!(snapshot(&app, &token, &feed).await, before, "a refused request changed something");

    // With the token in the header, every route works as the role table says for an admin
    // (the session of the logout row ends last: it is the last API row of the table).
    let mut wrong = Vec::new();
    for row in &rows {
        let response = send_with_cookie(&app, row, row.body, &token, Some(&csrf)).await;
        let expected = row.expect.as_bytes()[ADMIN] as char;
        if class_of(&response) != expected {
            wrong.push(format!(
                "{} {}: expected {expected}, got {}",
                row.method,
                row.path,
                response.status()
            ));
        }
    }
    assert!(wrong.is_empty(), "cookie requests with the CSRF header refused:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn bearer_requests_need_no_csrf_token() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let post = app.create_post(&admin, json!({"body": "bearer note #db"})).await;
    let path = format!("/api/v1/posts/{}/reactions", post["id"]);
    let response = reqwest::Client::new().post(app.url(&path)).bearer_auth(&admin).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let response =
        reqwest::Client::new().post(app.url("/api/v1/auth/logout")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}
