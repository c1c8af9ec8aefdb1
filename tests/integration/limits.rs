//! Rate limits over HTTP: logins per client address, failed logins per username, posts per
//! user; each answers 429 with `Retry-After` and leaves other clients and users alone.

use reqwest::{Client, Response, StatusCode};
use serde_json::json;

use crate::helpers::{expect_error, expect_json, TestApp, ADMIN_PASSWORD, PASSWORD};

/// The `Retry-After` of a response, checked to be whole seconds within a minute.
fn retry_after(response: &Response) -> u64 {
    let header = response.headers().get("retry-after").expect("a Retry-After header");
    let seconds: u64 = header.to_str().unwrap().parse().expect("whole seconds");
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    seconds
}

async fn login_from(app: &TestApp, client: &Client, username: &str, password: &str) -> Response {
    client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn expect_rate_limited(response: Response) {
    let seconds = retry_after(&response);
    let (code, body) = expect_error(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(code, "rate_limited");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("{seconds} s")), "{message}");
}

#[tokio::test]
async fn logins_are_limited_per_address_and_other_addresses_are_not() {
    let app = TestApp::spawn_with(|config| {
        config.login_per_minute = 3;
        config.login_failures_per_minute = 0;
    })
    .await;
    let admin = app.setup_admin().await;
    app.user(&admin, "bob", "responder").await; // one login from 127.0.0.1
    assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.login("admin", "wrong-password").await.status(), StatusCode::UNAUTHORIZED);
    // The fourth attempt from this address, right or wrong, waits.
    expect_rate_limited(app.login("bob", PASSWORD).await).await;

    // The login page shares the limit and answers with the HTML error page.
    let page = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "bob"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&page);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("too many login attempts"));

    // Another address is not affected.
    let elsewhere = app.client_from("127.0.0.2");
    expect_json(login_from(&app, &elsewhere, "bob", PASSWORD).await, StatusCode::OK).await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_username_from_any_address() {
    let app = TestApp::spawn_with(|config| {
        config.login_per_minute = 0;
        config.login_failures_per_minute = 2;
    })
    .await;
    let admin = app.setup_admin().await;
    app.user(&admin, "bob", "responder").await;
    // Successful logins do not count.
    for _ in 0..4 {
        assert_eq!(app.login("bob", PASSWORD).await.status(), StatusCode::OK);
    }
    assert_eq!(app.login("admin", "guess-one").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("ADMIN", "guess-two").await.status(), StatusCode::UNAUTHORIZED);
    // Now even the right password waits, from this address and from another one.
    expect_rate_limited(app.login("admin", ADMIN_PASSWORD).await).await;
    let elsewhere = app.client_from("127.0.0.2");
    expect_rate_limited(login_from(&app, &elsewhere, "admin", ADMIN_PASSWORD).await).await;
    // Other usernames are not affected.
    assert_eq!(app.login("bob", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_client_address_comes_from_x_forwarded_for_only_when_trusted() {
    let untrusting = TestApp::spawn_with(|config| config.login_per_minute = 1).await;
    untrusting.setup_admin().await;
    let claim = |app: &TestApp, address: &str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", address)
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
    };
    assert_eq!(claim(&untrusting, "198.51.100.1").await.unwrap().status(), StatusCode::OK);
    // A client cannot escape the limit by claiming another address.
    expect_rate_limited(claim(&untrusting, "198.51.100.2").await.unwrap()).await;

    let behind_proxy = TestApp::spawn_with(|config| {
        config.login_per_minute = 1;
        config.trust_forwarded_for = true;
    })
    .await;
    behind_proxy.setup_admin().await;
    assert_eq!(claim(&behind_proxy, "198.51.100.1").await.unwrap().status(), StatusCode::OK);
    assert_eq!(claim(&behind_proxy, "198.51.100.2").await.unwrap().status(), StatusCode::OK);
    expect_rate_limited(claim(&behind_proxy, "198.51.100.2").await.unwrap()).await;
}

#[tokio::test]
async fn posting_is_limited_per_user_on_the_api_and_the_compose_form() {
    let app = TestApp::spawn_with(|config| config.posts_per_minute = 3).await;
    let admin = app.setup_admin().await;
    let alice = app.user(&admin, "alice", "responder").await;
    let bob = app.user(&admin, "bob", "responder").await;
    for n in 0..3 {
        app.create_post(&alice, json!({"body": format!("note {n} #limits")})).await;
    }
    expect_rate_limited(app.post("/api/v1/posts", &alice, &json!({"body": "one too many"})).await).await;
    // Bob has his own bucket.
    app.create_post(&bob, json!({"body": "bob is fine #limits"})).await;

    // The compose form shares alice's bucket and shows the HTML error page.
    let session =
        Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    let login = session
        .post(app.url("/login"))
        .form(&[("username", "alice"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let home = session.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let start = home.find("name=\"_csrf\" value=\"").unwrap() + "name=\"_csrf\" value=\"".len();
    let csrf = &home[start..start + home[start..].find('"').unwrap()];
    let composed = session
        .post(app.url("/compose"))
        .form(&[("body", "from the form"), ("incident", ""), ("back", "/"), ("_csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(composed.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&composed);
    assert!(composed.text().await.unwrap().contains("you are posting too fast"));
    let timeline = app.get_json("/api/v1/timeline?author=alice", &alice).await;
    assert_eq!(timeline["items"].as_array().unwrap().len(), 3, "nothing over the limit was saved");
}
