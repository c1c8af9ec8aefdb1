//! The curated tag vocabulary: designers, analysts and admins describe a tag, give it a
//! type and hide noise tags from trends; responders may not; every change is audited.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, expect_json, TestApp};

const HOUR: i64 = 3_600_000;

fn names(view: &Value) -> Vec<String> {
    view["items"].as_array().unwrap().iter().map(|i| i["tag"]["name"].as_str().unwrap().to_string()).collect()
}

fn pair_names(view: &Value) -> Vec<(String, String)> {
    view["strongest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["a"]["name"].as_str().unwrap().to_string(), p["b"]["name"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn curators_describe_type_and_hide_tags_and_trends_leave_hidden_ones_out() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let designer = app.user(&admin, "dana", "designer").await;
    let responder = app.user(&admin, "rory", "responder").await;
    let end = (i2i::db::now_ms().div_euclid(HOUR) - 1) * HOUR;
    for (n, author) in ["ann", "bob", "cy"].iter().enumerate() {
        let at = end - (n as i64 + 2) * HOUR;
        app.import_note(author, "banner up again #degraded #sso", &format!("INC-{n}"), at);
    }
    let at = i2i::domain::time::format_ms(end);
    let recurring = format!("/api/v1/trends/recurring?window=24h&at={at}");
    let pairs = format!("/api/v1/trends/pairs?window=24h&min=1&at={at}");
    let mut before = names(&app.get_json(&recurring, &admin).await);
    before.sort();
    assert_eq!(before, vec!["degraded", "sso"]);
    assert_eq!(pair_names(&app.get_json(&pairs, &admin).await), vec![("degraded".into(), "sso".into())]);

    let patch = json!({"description": "  the status banner says degraded ", "kind": "Symptom", "hidden_from_trends": true});
    let refused = app.patch("/api/v1/tags/degraded", &responder, &patch).await;
    expect_error(refused, StatusCode::FORBIDDEN).await;
    let bad = app.patch("/api/v1/tags/degraded", &designer, &json!({"kind": "two words"})).await;
    let (code, _) = expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "validation_failed");
    let missing = app.patch("/api/v1/tags/never-used", &designer, &json!({"description": "x"})).await;
    expect_error(missing, StatusCode::NOT_FOUND).await;

    let curated =
        expect_json(app.patch("/api/v1/tags/degraded", &designer, &patch).await, StatusCode::OK).await;
    assert_eq!(curated["description"], "the status banner says degraded");
    assert_eq!(curated["kind"], "symptom");
    assert_eq!(curated["hidden_from_trends"], true);
    assert!(curated["curated_at"].is_string(), "{curated}");
    assert_eq!(app.get_json("/api/v1/tags/degraded", &responder).await, curated);

    // Trends leave it out at once (the remembered answers are recomputed).
    assert_eq!(names(&app.get_json(&recurring, &admin).await), vec!["sso"]);
    assert!(pair_names(&app.get_json(&pairs, &admin).await).is_empty());

    // Showing it again brings it back; the description stays; a null type clears the type.
    let shown = app
        .patch("/api/v1/tags/degraded", &designer, &json!({"hidden_from_trends": false, "kind": null}))
        .await;
    let shown = expect_json(shown, StatusCode::OK).await;
    assert_eq!(shown["description"], "the status banner says degraded");
    assert_eq!(shown["kind"], Value::Null);
    assert_eq!(shown["hidden_from_trends"], false);
    let mut after = names(&app.get_json(&recurring, &admin).await);
    after.sort();
    assert_eq!(after, before);

    // The tag page shows the description, as text.
    let marked = json!({"description": "banner <b>degraded</b>", "kind": "symptom"});
    expect_json(app.patch("/api/v1/tags/degraded", &designer, &marked).await, StatusCode::OK).await;
    app.log_in_page("admin", crate::helpers::ADMIN_PASSWORD).await;
    let page = app.client.get(app.url("/tags/degraded")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("banner &lt;b&gt;degraded&lt;/b&gt;"), "description missing or unescaped");
    assert!(page.contains("Type: <strong>symptom</strong>"));

    // Who changed what, and when (newest first).
    let audit = app.get_json("/api/v1/admin/audit?action=tag_curated", &admin).await;
    let events = audit["items"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{audit}");
    assert!(events.iter().all(|e| e["actor"] == "dana" && e["target"] == "tag:degraded"), "{audit}");
    let detail = events[1]["detail"].to_string();
    assert!(detail.contains("hidden_from_trends") && detail.contains("kind"), "{detail}");
    assert!(events[2]["detail"].to_string().contains("description"), "{}", events[2]);
}
