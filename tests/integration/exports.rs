//! What leaves i2i for other programs stays inert there: CSV cells are never formulas,
//! Markdown user text is never markup, absolute links never take a scheme or host from an
//! untrusted header, and bidi overrides in user text never reorder what a page shows.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_json, TestApp, PASSWORD};

/// Cells of a CSV document, parsed as a spreadsheet would split them.
fn cells(body: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn the_search_csv_export_neutralises_formulas() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    for body in [
        "=HYPERLINK(\"http://evil.example\",\"x\") #csvcell",
        "+1 more #csvcell",
        "-2+3 #csvcell",
        "@admin #csvcell",
    ] {
        app.create_post(&admin, json!({ "body": body })).await;
    }
    app.search_until(&admin, "#csvcell", std::time::Duration::from_secs(30), |a| a["total"] == 4).await;
    let response = app.get("/api/v1/search/export?q=%23csvcell&format=csv", &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let rows = cells(&response.text().await.unwrap());
    assert_eq!(rows[0], ["id", "created_at", "author", "incident", "tags", "body"]);
    assert_eq!(rows.len(), 5, "{rows:?}");
    for row in &rows[1..] {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a formula cell: {cell:?} in {row:?}"
            );
        }
        assert!(row[5].starts_with('\''), "the body is kept, as text: {row:?}");
    }
}

/// Markdown that would act: an image, a link, raw HTML.
const MARKDOWN_PAYLOAD: &str =
    "![x](http://evil.example/p.png) [click](javascript:alert(1)) <img src=x onerror=alert(2)>";

#[tokio::test]
async fn the_digest_markdown_escapes_bodies_and_display_names() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let created = app
        .post(
            "/api/v1/users",
            &admin,
            &json!({"username": "mallory", "password": PASSWORD, "display_name": MARKDOWN_PAYLOAD}),
        )
        .await;
    expect_json(created, StatusCode::CREATED).await;
    let login = expect_json(app.login("mallory", PASSWORD).await, StatusCode::OK).await;
    let mallory = login["token"].as_str().unwrap().to_string();
    let post = app.create_post(&mallory, json!({"body": format!("{MARKDOWN_PAYLOAD} #digestmd")})).await;
    expect_json(app.post("/api/v1/tags/digestmd/follow", &admin, &json!({})).await, StatusCode::OK).await;
    let reacted = app.post(&format!("/api/v1/posts/{}/reactions", post["id"]), &admin, &json!({})).await;
    expect_json(reacted, StatusCode::OK).await;

    let response = app.get("/digest.md", &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let markdown = response.text().await.unwrap();
    assert!(markdown.contains("evil.example"), "the note is in the digest: {markdown}");
    for raw in ["![x]", "[click](", "<img"] {
        // Escaped, the same characters are preceded by a backslash and render as text.
        let unescaped = markdown.match_indices(raw).any(|(at, _)| !markdown[..at].ends_with('\\'));
        assert!(!unescaped, "{raw:?} raw in the digest:\n{markdown}");
    }
    let html = app.get("/digest.html", &admin).await.text().await.unwrap();
    assert!(html.contains("evil.example"), "the note is in the HTML digest");
    assert!(!html.contains("<img"), "raw HTML in the HTML digest:\n{html}");
}

/// Every absolute link of an Atom document.
fn links(feed: &str) -> Vec<String> {
    feed.split("href=\"").skip(1).map(|rest| rest.split('"').next().unwrap_or_default().to_string()).collect()
}

async fn feed_with_forged_headers(app: &TestApp, admin: &str) -> String {
    app.create_post(admin, json!({"body": "a linked note #feedlinks"})).await;
    let token = expect_json(app.post("/api/v1/me/feed-token", admin, &json!({})).await, StatusCode::OK).await;
    let token = token["token"].as_str().unwrap();
    let response = reqwest::Client::new()
        .get(app.url(&format!("/feeds/tags/feedlinks.atom?token={token}")))
        .header("X-Forwarded-Proto", "javascript")
        .header("X-Forwarded-Host", "evil.example")
        .header("Forwarded", "proto=javascript;host=evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn forwarded_headers_do_not_choose_feed_links_unless_trusted() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let feed = feed_with_forged_headers(&app, &admin).await;
    let found = links(&feed);
    assert!(!found.is_empty(), "{feed}");
    for link in &found {
        assert!(link.starts_with(&app.url("/")), "a link not to this server: {link}\n{feed}");
    }
    // Behind a trusted proxy the forwarded host is believed, but never a scheme besides
    // http and https.
    let trusting = TestApp::spawn_with(|config| config.trust_forwarded_for = true).await;
    let admin = trusting.setup_admin().await;
    let feed = feed_with_forged_headers(&trusting, &admin).await;
    for link in links(&feed) {
        assert!(link.starts_with("http://") || link.starts_with("https://"), "scheme of {link}");
    }
}

#[tokio::test]
async fn public_url_sets_every_absolute_link() {
    let app = TestApp::spawn_with(|config| config.public_url = Some("https://i2i.example.com/".into())).await;
    let admin = app.setup_admin().await;
    let feed = feed_with_forged_headers(&app, &admin).await;
    let found = links(&feed);
    assert!(!found.is_empty(), "{feed}");
    for link in &found {
        assert!(link.starts_with("https://i2i.example.com/"), "{link}\n{feed}");
        assert!(!link.starts_with("https://i2i.example.com//"), "{link}");
    }
    let board = app.get("/api/v1/insights.csv", &admin).await.text().await.unwrap();
    assert!(!board.contains("127.0.0.1"), "{board}");
}

#[tokio::test]
async fn bidi_overrides_in_user_text_are_inert_on_pages() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let spoof = "invoice\u{202E}fdp.exe\u{2066}x\u{2069}";
    let created = app
        .post(
            "/api/v1/users",
            &admin,
            &json!({"username": "spoofer", "password": PASSWORD, "display_name": spoof}),
        )
        .await;
    expect_json(created, StatusCode::CREATED).await;
    let login = expect_json(app.login("spoofer", PASSWORD).await, StatusCode::OK).await;
    let spoofer = login["token"].as_str().unwrap().to_string();
    let incident = app.post("/api/v1/incidents", &admin, &json!({"key": "INC-7", "title": spoof})).await;
    expect_json(incident, StatusCode::CREATED).await;
    let post: Value =
        app.create_post(&spoofer, json!({"body": format!("{spoof} #bidi"), "incident": "INC-7"})).await;
    let id = post["id"].as_i64().unwrap();
    // The API returns the text as written: only its display is made inert.
    assert_eq!(post["body"].as_str().unwrap(), format!("{spoof} #bidi"));
    for path in ["/".to_string(), format!("/posts/{id}"), "/users/spoofer".into(), "/incidents/INC-7".into()]
    {
        let page = app.get(&path, &admin).await.text().await.unwrap();
        assert!(page.contains("invoicefdp.exex"), "{path} shows the text");
        for control in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
            '\u{2069}',
        ] {
            assert!(!page.contains(control), "{path} has U+{:04X}", control as u32);
        }
        assert!(page.contains("<bdi>"), "{path} isolates user text");
    }
}
