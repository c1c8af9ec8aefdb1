//! The web experience's server side: live events that resume without loss or repeats, tag
//! suggestions, following, the digest, Atom feeds, incident updates and user admin.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, expect_json, TestApp, ADMIN_PASSWORD};

/// Reads server-sent events until `want` `post` events arrived (or 10 s passed); returns
/// the post bodies and the id of the last event seen.
async fn read_events(response: &mut reqwest::Response, want: usize) -> (Vec<String>, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = String::new();
    let mut bodies = Vec::new();
    let mut last_id = String::new();
    while bodies.len() < want && Instant::now() < deadline {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await;
        let Ok(Ok(Some(bytes))) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let mut kind = "";
            let mut data = "";
            for line in event.lines() {
                if let Some(id) = line.strip_prefix("id: ") {
                    last_id = id.to_string();
                } else if let Some(k) = line.strip_prefix("event: ") {
                    kind = k;
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d;
                }
            }
            if kind == "post" {
                let post: Value = serde_json::from_str(data).unwrap();
                bodies.push(post["body"].as_str().unwrap().to_string());
            }
        }
    }
    (bodies, last_id)
}

async fn open_stream(app: &TestApp, token: &str, query: &str, last_id: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(&format!("/api/v1/stream{query}"))).bearer_auth(token);
    if let Some(id) = last_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response
}

#[tokio::test]
async fn live_events_resume_after_a_disconnect_without_loss_or_repeats() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.create_post(&admin, json!({"body": "before anyone listened #live"})).await;
    let mut stream = open_stream(&app, &admin, "?tag=live", None).await;
    app.create_post(&admin, json!({"body": "one #live"})).await;
    app.create_post(&admin, json!({"body": "not for this stream #other"})).await;
    app.create_post(&admin, json!({"body": "two #live"})).await;
    let (bodies, last_id) = read_events(&mut stream, 2).await;
    assert_eq!(bodies, vec!["one #live", "two #live"], "only new posts with the tag");
    drop(stream);

    // Missed while disconnected.
    app.create_post(&admin, json!({"body": "three #live"})).await;
    app.create_post(&admin, json!({"body": "four #live"})).await;
    let mut resumed = open_stream(&app, &admin, "?tag=live", Some(&last_id)).await;
    let (bodies, _) = read_events(&mut resumed, 2).await;
    assert_eq!(bodies, vec!["three #live", "four #live"], "exactly the missed posts, none twice");

    let bad = app
        .client
        .get(app.url("/api/v1/stream"))
        .bearer_auth(&admin)
        .header("Last-Event-ID", "nonsense")
        .send()
        .await
        .unwrap();
    expect_error(bad, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn tag_suggestions_come_from_prefix_co_occurrence_and_the_incident() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.create_post(&admin, json!({"body": "#password-reset #sso loop"})).await;
    app.create_post(&admin, json!({"body": "#password-reset again"})).await;
    app.create_post(&admin, json!({"body": "#passkeys pilot"})).await;
    app.create_post(&admin, json!({"body": "#printers", "incident": "INC-3"})).await;
    let prefix = app.get_json("/api/v1/tags?prefix=pass", &admin).await;
    let names: Vec<&str> =
        prefix["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["password-reset", "passkeys"], "most used first");
    assert_eq!(prefix["items"][0]["posts"], 2);
    let goes_with = app.get_json("/api/v1/tags?prefix=&with=password-reset", &admin).await;
    assert_eq!(
        goes_with["items"][0],
        json!({"name": "sso", "display": "sso", "posts": 1, "reason": "goes-with", "description": "", "alias": null})
    );
    let incident = app.get_json("/api/v1/tags?incident=INC-3", &admin).await;
    assert_eq!(incident["items"][0]["name"], "printers");
    assert_eq!(incident["items"][0]["reason"], "incident");
    // A curated description comes with the suggestion.
    let described = json!({"description": "self-service password resets"});
    expect_json(app.patch("/api/v1/tags/password-reset", &admin, &described).await, StatusCode::OK).await;
    let prefix = app.get_json("/api/v1/tags?prefix=pass", &admin).await;
    assert_eq!(prefix["items"][0]["description"], "self-service password resets");
    assert_eq!(prefix["items"][1]["description"], "");
}

#[tokio::test]
async fn following_feeds_and_the_digest() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let bob = app.user(&admin, "bob", "designer").await;
    let post = app.create_post(&admin, json!({"body": "VPN drops every hour #vpn #newthing"})).await;
    app.create_post(&admin, json!({"body": "VPN client crash #vpn"})).await;
    app.post(&format!("/api/v1/posts/{}/reactions", post["id"]), &bob, &json!({})).await;

    let followed =
        expect_json(app.post("/api/v1/tags/VPN/follow", &bob, &json!({})).await, StatusCode::OK).await;
    assert_eq!(followed, json!({"tag": "vpn", "following": true}));
    assert_eq!(
        app.get_json("/api/v1/me/tags", &bob).await["items"],
        json!([{"name": "vpn", "display": "vpn"}])
    );

    // Feeds need the reader's token; a rotated token stops working.
    let token = expect_json(app.post("/api/v1/me/feed-token", &bob, &json!({})).await, StatusCode::OK).await
        ["token"]
        .as_str()
        .unwrap()
        .to_string();
    let feed = app.client.get(app.url(&format!("/feeds/tags/vpn.atom?token={token}"))).send().await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    assert!(feed.headers()["content-type"].to_str().unwrap().starts_with("application/atom+xml"));
    let xml = feed.text().await.unwrap();
    assert_eq!(xml.matches("<entry>").count(), 2);
    assert!(xml.contains("<content type=\"text\">VPN drops every hour #vpn #newthing</content>"));
    let search_feed =
        app.client.get(app.url(&format!("/feeds/search.atom?q=crash&token={token}"))).send().await.unwrap();
    assert_eq!(search_feed.status(), StatusCode::OK);
    let incidentless = app
        .client
        .get(app.url(&format!("/feeds/incidents/INC-404.atom?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(incidentless.status(), StatusCode::NOT_FOUND);
    app.post("/api/v1/me/feed-token", &bob, &json!({})).await;
    let stale = app.client.get(app.url(&format!("/feeds/tags/vpn.atom?token={token}"))).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let none = app.client.get(app.url("/feeds/tags/vpn.atom")).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);

    // The digest page and its Markdown export.
    let markdown =
        app.client.get(app.url("/digest.md")).bearer_auth(&bob).send().await.unwrap().text().await.unwrap();
    assert!(markdown.contains("- #vpn: 2 notes this week (0 the week before)"), "{markdown}");
    assert!(markdown.contains("#newthing"), "new around the followed tag: {markdown}");
    assert!(markdown.contains("VPN drops every hour #vpn #newthing (+1 × 1)"), "{markdown}");
    let html =
        app.client.get(app.url("/digest.html")).bearer_auth(&bob).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("#vpn</a>: 2 notes this week"));

    let unfollowed = expect_json(app.delete("/api/v1/tags/vpn/follow", &bob).await, StatusCode::OK).await;
    assert_eq!(unfollowed["following"], false);
    assert_eq!(app.get_json("/api/v1/me/tags", &bob).await["items"], json!([]));
}

#[tokio::test]
async fn only_an_incidents_responders_or_an_admin_change_it_from_its_page() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.user(&admin, "rita", "responder").await;
    app.user(&admin, "otto", "responder").await;
    let rita = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let otto = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (client, name) in [(&rita, "rita"), (&otto, "otto")] {
        client
            .post(app.url("/login"))
            .form(&[("username", name), ("password", crate::helpers::PASSWORD)])
            .send()
            .await
            .unwrap();
    }
    let page = rita.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let csrf = |html: &str| {
        let start = html.find("name=\"_csrf\" value=\"").unwrap() + 20;
        html[start..start + html[start..].find('"').unwrap()].to_string()
    };
    rita.post(app.url("/compose"))
        .form(&[("body", "on it #db"), ("incident", "INC-5"), ("back", "/"), ("_csrf", &csrf(&page))])
        .send()
        .await
        .unwrap();
    let incident_page = rita.get(app.url("/incidents/INC-5")).send().await.unwrap().text().await.unwrap();
    assert!(incident_page.contains("Update incident"), "a responder on the incident sees the form");
    let update = rita
        .post(app.url("/incidents/INC-5/update"))
        .form(&[("status", "monitoring"), ("severity", "sev2"), ("_csrf", &csrf(&incident_page))])
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), StatusCode::SEE_OTHER);
    let incident = app.get_json("/api/v1/incidents/INC-5", &admin).await;
    assert_eq!(
        (incident["status"].as_str(), incident["severity"].as_str()),
        (Some("monitoring"), Some("sev2"))
    );

    let otto_page = otto.get(app.url("/incidents/INC-5")).send().await.unwrap().text().await.unwrap();
    assert!(!otto_page.contains("Update incident"));
    let refused = otto
        .post(app.url("/incidents/INC-5/update"))
        .form(&[("status", "closed"), ("severity", ""), ("_csrf", &csrf(&otto_page))])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // The admin's users page: admins only; a bad role comes back as a message.
    assert_eq!(otto.get(app.url("/admin/users")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    app.client
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let admin_page = app.client.get(app.url("/admin/users")).send().await.unwrap().text().await.unwrap();
    assert!(admin_page.contains("rita") && admin_page.contains("otto"));
    let added = app
        .client
        .post(app.url("/admin/users"))
        .form(&[
            ("username", "dora"),
            ("password", "designer-pass"),
            ("role", "designer"),
            ("_csrf", &csrf(&admin_page)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        expect_json(app.login("dora", "designer-pass").await, StatusCode::OK).await["user"]["role"],
        "designer"
    );
}
