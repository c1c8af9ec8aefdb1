//! Hostile markup in post bodies, display names, incident titles, search queries, URLs and
//! the login page's `next` renders as text: no payload appears unescaped in any page, the
//! digest or an Atom feed, and no link ever points at `javascript:`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_json, serde_urlencoded_query, TestApp, PASSWORD};

/// Each payload is dangerous only if it reaches HTML (or XML) as written.
const PAYLOADS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "</textarea><script>alert(2)</script>",
    "' onmouseover='alert(3)' x='",
    "<svg/onload=alert(4)>",
    "https://x.io/\"><script>alert(5)</script>",
    "]]></content><script>alert(6)</script>",
];

/// A page body is safe when no payload is in it as written and no link runs script.
fn unsafe_findings(what: &str, body: &str) -> Vec<String> {
    let mut found: Vec<String> =
        PAYLOADS.iter().filter(|p| body.contains(*p)).map(|p| format!("{what}: raw {p:?}")).collect();
    let lower = body.to_lowercase();
    for attribute in ["href=\"javascript:", "href='javascript:", "src=\"javascript:"] {
        if lower.contains(attribute) {
            found.push(format!("{what}: {attribute}"));
        }
    }
    found
}

#[tokio::test]
async fn hostile_markup_is_escaped_in_every_page_and_feed() {
    let app = TestApp::spawn_with(|config| config.posts_per_minute = 0).await;
    let admin = app.setup_admin().await;
    let mut post_ids = Vec::new();
    let mut users = Vec::new();
    for (index, payload) in PAYLOADS.iter().enumerate() {
        let key = format!("INC-{}", 100 + index);
        let incident = app
            .post("/api/v1/incidents", &admin, &json!({"key": key, "title": payload, "service": payload}))
            .await;
        expect_json(incident, StatusCode::CREATED).await;
        let username = format!("mallory{index}");
        let user = app
            .post(
                "/api/v1/users",
                &admin,
                &json!({"username": username, "password": PASSWORD, "display_name": payload}),
            )
            .await;
        expect_json(user, StatusCode::CREATED).await;
        let token = expect_json(app.login(&username, PASSWORD).await, StatusCode::OK).await;
        let token = token["token"].as_str().unwrap().to_string();
        let body = format!("{payload} javascript:alert(7) #xss #tag{index} @admin {key}");
        let post = app.create_post(&token, json!({"body": body, "incident": key})).await;
        let reply = app
            .create_post(&token, json!({"body": format!("re: {payload} #xss"), "reply_to": post["id"]}))
            .await;
        post_ids.push(post["id"].as_i64().unwrap());
        post_ids.push(reply["id"].as_i64().unwrap());
        users.push(username);
    }
    // Tags allow only letters, digits, `_` and `-`: markup can never be part of one.
    let tag_attempt = app.create_post(&admin, json!({"body": "#<script>alert(8)</script> #ok"})).await;
    let tags: Vec<_> = tag_attempt["tags"].as_array().unwrap().iter().map(|t| t.to_string()).collect();
    assert!(tags.iter().all(|t| !t.contains('<')), "a tag with markup: {tags:?}");
    expect_json(app.post("/api/v1/tags/xss/follow", &admin, &json!({})).await, StatusCode::OK).await;
    let feed = expect_json(app.post("/api/v1/me/feed-token", &admin, &json!({})).await, StatusCode::OK).await;
    let feed = feed["token"].as_str().unwrap().to_string();
    app.search_until(&admin, "xss", std::time::Duration::from_secs(30), |a| {
        a["total"].as_u64() >= Some(2 * PAYLOADS.len() as u64)
    })
    .await;

    let mut pages: Vec<String> = [
        "/",
        "/search?q=xss",
        "/tags/xss",
        "/incidents",
        "/trends",
        "/admin/users",
        "/admin/audit",
        "/my",
        "/digest",
        "/digest.html",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    for id in &post_ids {
        pages.push(format!("/posts/{id}"));
        pages.push(format!("/fragments/posts/{id}"));
    }
    for (index, payload) in PAYLOADS.iter().enumerate() {
        let query = serde_urlencoded_query(&[("q", payload)]);
        pages.push(format!("/search?{query}"));
        pages.push(format!("/incidents/INC-{}", 100 + index));
        pages.push(format!("/tags/tag{index}"));
        pages.push(format!("/users/{}", users[index]));
        pages.push(format!("/feeds/search.atom?{query}&token={feed}"));
        pages.push(format!("/feeds/incidents/INC-{}.atom?token={feed}", 100 + index));
        // A hostile path and query string reach the error page.
        pages.push(format!("/posts/{}", serde_urlencoded_query(&[("", payload)]).trim_start_matches('=')));
    }
    pages.push(format!("/feeds/tags/xss.atom?token={feed}"));
    pages.push(format!("/feeds/search.atom?q=xss&token={feed}"));

    let mut findings = Vec::new();
    let mut checked = 0;
    for path in &pages {
        let response = app.get(path, &admin).await;
        let status = response.status();
        assert!(!status.is_server_error(), "{path}: {status}");
        let body = response.text().await.unwrap();
        checked += 1;
        findings.extend(unsafe_findings(path, &body));
    }
    // The login page echoes `next` into its form.
    for payload in PAYLOADS {
        let next = format!("/{payload}");
        let path = format!("/login?{}", serde_urlencoded_query(&[("next", &next)]));
        let anonymous = reqwest::Client::new();
        let body = anonymous.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        checked += 1;
        findings.extend(unsafe_findings(&path, &body));
    }
    // Every page above showed the payloads somewhere (escaped), so the check had teeth.
    let home = app.get("/", &admin).await.text().await.unwrap();
    assert!(home.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the timeline shows the payload escaped");
    let feed_text =
        app.get(&format!("/feeds/tags/xss.atom?token={feed}"), &admin).await.text().await.unwrap();
    assert!(
        feed_text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the feed carries the payload escaped"
    );
    eprintln!("{} payloads x {checked} responses checked", PAYLOADS.len());
    assert!(checked > 60, "only {checked} responses");
    assert!(findings.is_empty(), "unescaped markup:\n{}", findings.join("\n"));
}
