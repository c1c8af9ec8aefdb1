//! Browser-facing protections: every form POST refuses a missing, empty or foreign CSRF
//! token with a 4xx and changes nothing; every response (pages, API, assets, feeds,
//! redirects, errors) carries the security headers.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{csrf_of, declared_routes, expect_json, session_of, TestApp, ADMIN_PASSWORD};

/// Form POST routes that act for a logged-in user, each with its fields but the token.
/// `/login` and `/setup` have no session yet to bind a token to (SameSite covers them).
const FORMS: &[(&str, &str)] = &[
    ("/compose", "body=csrf+attempt+%23csrf&back=/"),
    ("/posts/1/react", "on=1"),
    ("/admin/users", "username=csrfmade&password=user-password-1&role=admin"),
    ("/my/feed-token", ""),
    ("/tags/db/follow", "on=1"),
    ("/incidents/INC-1/update", "status=resolved&severity=sev1"),
    ("/tags/db/curate", "action=describe&description=forged"),
    ("/insights", "title=forged+insight&tags=db&post=1"),
    ("/insights/1/update", "status=accepted"),
    ("/insights/1/evidence", "action=pin&incident=INC-1"),
    ("/insights/1/comments", "body=forged"),
    ("/notifications/read", ""),
    ("/logout", ""),
];

/// A browser: the session cookie, no bearer header, no redirects followed.
fn browser() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn form_post(app: &TestApp, token: &str, path: &str, body: String) -> reqwest::Response {
    browser()
        .post(app.url(path))
        .header("cookie", format!("i2i_session={token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// What the forms could change, read through the API.
async fn state_of(app: &TestApp, admin: &str, feed: &str) -> Value {
    let feed_status =
        app.client.get(app.url(&format!("/feeds/tags/db.atom?token={feed}"))).send().await.unwrap();
    json!({
        "timeline": app.get_json("/api/v1/timeline", admin).await["items"],
        "users": app.get_json("/api/v1/users", admin).await["items"],
        "my_tags": app.get_json("/api/v1/me/tags", admin).await,
        "incident": app.get_json("/api/v1/incidents/INC-1", admin).await,
        "tag": app.get_json("/api/v1/tags/db", admin).await,
        "insights": app.get_json("/api/v1/insights", admin).await["items"],
        "feed_status": feed_status.status().as_u16(),
        "session": app.get("/api/v1/users/me", admin).await.status().as_u16(),
    })
}

#[tokio::test]
async fn every_form_refuses_a_missing_or_foreign_csrf_token_and_changes_nothing() {
    let declared: Vec<String> = declared_routes()
        .into_iter()
        .filter(|(method, path)| {
            method == "POST" && !path.starts_with("/api/") && path != "/login" && path != "/setup"
        })
        .map(|(_, path)| path)
        .collect();
    let listed: Vec<String> = FORMS
        .iter()
        .map(|(path, _)| {
            path.replace("/1/", "/{id}/").replace("/db/", "/{name}/").replace("/INC-1/", "/{key}/")
        })
        .collect();
    for path in &declared {
        assert!(listed.contains(path), "form route {path} is not in the CSRF table");
    }

    let app = TestApp::spawn_with(|config| config.login_failures_per_minute = 0).await;
    let admin = app.setup_admin().await;
    app.create_post(&admin, json!({"body": "disk full #db", "incident": "INC-1"})).await;
    let feed = expect_json(app.post("/api/v1/me/feed-token", &admin, &json!({})).await, StatusCode::OK).await;
    let feed = feed["token"].as_str().unwrap().to_string();
    let (victim, victim_csrf) = session_of(&app, "admin", ADMIN_PASSWORD).await;
    // The attacker's own session (another user) and another session of the same user.
    let mallory = app.user(&admin, "mallory", "responder").await;
    let mallory_csrf = csrf_of(&app, &mallory).await;
    let (_, other_session_csrf) = session_of(&app, "admin", ADMIN_PASSWORD).await;
    assert_ne!(victim_csrf, other_session_csrf, "each session has its own form token");

    let before = state_of(&app, &victim, &feed).await;
    let mut problems = Vec::new();
    let mut tried = 0;
    for (path, fields) in FORMS {
        let join = |token: &str| {
            if fields.is_empty() {
                format!("_csrf={token}")
            } else {
                format!("{fields}&_csrf={token}")
            }
        };
        let attempts = [
            ("no token", fields.to_string()),
            ("empty token", join("")),
            ("another user's token", join(&mallory_csrf)),
            ("another session's token", join(&other_session_csrf)),
            ("a guessed token", join(&"0".repeat(victim_csrf.len()))),
        ];
        for (what, body) in attempts {
            let response = form_post(&app, &victim, path, body).await;
            tried += 1;
            if !response.status().is_client_error() {
                problems.push(format!("POST {path} with {what}: {}", response.status()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {tried} forged posts accepted:\n{}",
        problems.len(),
        problems.join("\n")
    );
    let after = state_of(&app, &victim, &feed).await;
    assert_eq!(before, after, "a refused form changed something");

    // The same forms with the session's own token work (logout last: it ends the session).
    for (path, fields) in FORMS {
        let body = if fields.is_empty() {
            format!("_csrf={victim_csrf}")
        } else {
            format!("{fields}&_csrf={victim_csrf}")
        };
        let response = form_post(&app, &victim, path, body).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "POST {path} with the right token");
    }
    assert_eq!(app.get("/api/v1/users/me", &victim).await.status(), StatusCode::UNAUTHORIZED);
    let timeline = app.get_json("/api/v1/timeline", &admin).await;
    assert_eq!(timeline["items"].as_array().unwrap().len(), 2, "the genuine compose posted");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = TestApp::spawn_with(|config| {
        config.max_request_bytes = 4096;
        config.login_failures_per_minute = 1;
    })
    .await;
    let admin = app.setup_admin().await;
    app.create_post(&admin, json!({"body": "disk full #db", "incident": "INC-1"})).await;
    let feed = expect_json(app.post("/api/v1/me/feed-token", &admin, &json!({})).await, StatusCode::OK).await;
    let feed = feed["token"].as_str().unwrap().to_string();
    let anonymous = browser();
    let client = &app.client;
    let requests = vec![
        ("page", client.get(app.url("/")).bearer_auth(&admin)),
        ("post page", client.get(app.url("/posts/1")).bearer_auth(&admin)),
        ("login page", anonymous.get(app.url("/login"))),
        ("redirect to login", anonymous.get(app.url("/trends"))),
        ("API", client.get(app.url("/api/v1/timeline")).bearer_auth(&admin)),
        (
            "API created",
            client.post(app.url("/api/v1/posts")).bearer_auth(&admin).json(&json!({"body": "x"})),
        ),
        ("API no content", client.delete(app.url("/api/v1/tags/db/follow")).bearer_auth(&admin)),
        ("openapi", anonymous.get(app.url("/api/openapi.json"))),
        ("health", anonymous.get(app.url("/healthz"))),
        ("stylesheet", anonymous.get(app.url("/assets/i2i.css"))),
        ("script", anonymous.get(app.url("/assets/app.js"))),
        ("missing asset", anonymous.get(app.url("/assets/nope.js"))),
        ("feed", anonymous.get(app.url(&format!("/feeds/tags/db.atom?token={feed}")))),
        ("feed 401", anonymous.get(app.url("/feeds/tags/db.atom"))),
        ("digest markdown", client.get(app.url("/digest.md")).bearer_auth(&admin)),
        ("stream", client.get(app.url("/api/v1/stream")).bearer_auth(&admin)),
        ("API 401", anonymous.get(app.url("/api/v1/timeline"))),
        (
            "API 403",
            anonymous
                .post(app.url("/api/v1/setup"))
                .json(&json!({"username": "x", "password": "password-x"})),
        ),
        ("API 404", client.get(app.url("/api/v1/posts/999")).bearer_auth(&admin)),
        ("API 400", client.get(app.url("/api/v1/posts/abc")).bearer_auth(&admin)),
        ("API 422", client.post(app.url("/api/v1/posts")).bearer_auth(&admin).json(&json!({"body": ""}))),
        (
            "API 413",
            client
                .post(app.url("/api/v1/posts"))
                .bearer_auth(&admin)
                .json(&json!({"body": "x".repeat(10_000)})),
        ),
        (
            "API malformed",
            client
                .post(app.url("/api/v1/posts"))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body("{"),
        ),
        ("unknown route", client.get(app.url("/no/such/page")).bearer_auth(&admin)),
        ("wrong method", client.put(app.url("/api/v1/timeline")).bearer_auth(&admin)),
        ("page 404", client.get(app.url("/posts/999")).bearer_auth(&admin)),
        (
            "page 403",
            client.post(app.url("/compose")).bearer_auth(&admin).form(&[("body", "x"), ("_csrf", "bad")]),
        ),
        ("form 400", client.post(app.url("/compose")).bearer_auth(&admin).form(&[("nothing", "x")])),
        (
            "login 401",
            anonymous.post(app.url("/login")).form(&[("username", "admin"), ("password", "wrong-one")]),
        ),
        (
            "login 429",
            anonymous
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"username": "admin", "password": "wrong-two"})),
        ),
    ];
    let mut problems = Vec::new();
    let count = requests.len();
    for (what, request) in requests {
        let response = request.send().await.unwrap();
        let headers = response.headers();
        let status = response.status();
        assert!(!status.is_server_error(), "{what}: {status}");
        let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !csp.contains("default-src 'self'") || !csp.contains("script-src 'self'") {
            problems.push(format!("{what} ({status}): Content-Security-Policy {csp:?}"));
        }
        if headers.get("x-content-type-options").and_then(|v| v.to_str().ok()) != Some("nosniff") {
            problems.push(format!("{what} ({status}): no X-Content-Type-Options: nosniff"));
        }
        if headers.get("referrer-policy").is_none() {
            problems.push(format!("{what} ({status}): no Referrer-Policy"));
        }
        if what == "login 429" {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the failure limit of 1 was reached");
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems in {count} responses:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
