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

fn keys_of(page: &Value, field: &str) -> Vec<Vec<String>> {
    page[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut tags: Vec<String> = p["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string())
                .collect();
            tags.sort();
            tags
        })
        .collect()
}

fn rollups_of(app: &TestApp) -> i2i::trends::rollups::Snapshot {
    app.db().read_blocking(|conn| Ok(i2i::trends::rollups::snapshot(conn)?)).unwrap()
}

#[tokio::test]
async fn merging_an_alias_makes_one_tag_everywhere_and_unmerging_restores_the_exact_counts() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let designer = app.user(&admin, "dana", "designer").await;
    let responder = app.user(&admin, "rory", "responder").await;
    let end = (i2i::db::now_ms().div_euclid(HOUR) - 1) * HOUR;
    app.import_note("ann", "locked out after the change #pwreset", "INC-1", end - 5 * HOUR);
    app.import_note("bob", "reset link expired #password-reset", "INC-2", end - 4 * HOUR);
    app.import_note("cy", "both spellings #PwReset #password-reset #sso", "INC-3", end - 3 * HOUR);
    app.import_note("dee", "token refresh fails #sso", "INC-1", end - 2 * HOUR);
    let before = rollups_of(&app);
    let at = i2i::domain::time::format_ms(end);
    let recurring = format!("/api/v1/trends/recurring?window=24h&at={at}");
    let separate = app.get_json(&recurring, &admin).await;
    let separate_pw =
        separate["items"].as_array().unwrap().iter().find(|i| i["tag"]["name"] == "pwreset").cloned();
    assert_eq!(separate_pw.unwrap()["incidents"], 2, "{separate}");

    // Only curators merge; a tag is not merged into itself; both tags must exist.
    let merge = json!({"alias_of": "#password-reset"});
    expect_error(app.patch("/api/v1/tags/pwreset", &responder, &merge).await, StatusCode::FORBIDDEN).await;
    let itself = app.patch("/api/v1/tags/pwreset", &designer, &json!({"alias_of": "PWRESET"})).await;
    expect_error(itself, StatusCode::UNPROCESSABLE_ENTITY).await;
    let nowhere = app.patch("/api/v1/tags/pwreset", &designer, &json!({"alias_of": "never-used"})).await;
    expect_error(nowhere, StatusCode::NOT_FOUND).await;
    let empty = app.patch("/api/v1/tags/pwreset", &designer, &json!({"alias_of": " # "})).await;
    expect_error(empty, StatusCode::UNPROCESSABLE_ENTITY).await;
    // A follower of the alias follows the merged tag afterwards.
    expect_json(app.post("/api/v1/tags/pwreset/follow", &responder, &json!({})).await, StatusCode::OK).await;
    assert_eq!(rollups_of(&app), before, "a refused merge changed the rollups");

    let merged =
        expect_json(app.patch("/api/v1/tags/pwreset", &designer, &merge).await, StatusCode::OK).await;
    assert_eq!(merged["alias_of"], "password-reset");
    // Three posts carry one spelling or both: counted once each.
    assert_eq!((merged["posts"].as_i64(), merged["incidents"].as_i64()), (Some(3), Some(3)), "{merged}");
    let canonical = app.get_json("/api/v1/tags/password-reset", &responder).await;
    assert_eq!(canonical["aliases"], json!(["pwreset"]));
    assert_eq!(canonical["posts"], 3);
    let followed = app.get_json("/api/v1/me/tags", &responder).await;
    assert_eq!(
        followed["items"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect::<Vec<_>>(),
        vec![json!("password-reset")],
        "{followed}"
    );
    // A tag with aliases of its own is not merged as a group (un-merging could not undo it).
    let grouped = app.patch("/api/v1/tags/password-reset", &designer, &json!({"alias_of": "sso"})).await;
    let (_, body) = expect_error(grouped, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("#pwreset"), "{body}");

    // Timelines of either name hold the whole group; each post keeps its own spelling.
    for name in ["pwreset", "password-reset"] {
        let page = app.get_json(&format!("/api/v1/timeline?tag={name}"), &responder).await;
        let mut tags = keys_of(&page, "items");
        tags.sort();
        let expected: Vec<Vec<String>> = vec![
            vec!["password-reset".into()],
            vec!["password-reset".into(), "pwreset".into(), "sso".into()],
            vec!["pwreset".into()],
        ];
        assert_eq!(tags, expected, "timeline of #{name}");
    }
    // Search: #pwreset finds both spellings, and so does #password-reset.
    for query in ["#pwreset", "#password-reset"] {
        let found = app
            .search_until(&responder, query, std::time::Duration::from_secs(30), |a| a["total"] == 3)
            .await;
        assert_eq!(found["total"], 3, "{query}: {found}");
    }
    let without = app
        .search_until(&responder, "#sso -#pwreset", std::time::Duration::from_secs(30), |a| a["total"] == 1)
        .await;
    assert_eq!(without["total"], 1, "{without}");

    // Trends count one tag: three incidents, and the alias is gone from them.
    let combined = app.get_json(&recurring, &admin).await;
    let names_now = names(&combined);
    assert!(!names_now.contains(&"pwreset".to_string()), "{combined}");
    let pw =
        combined["items"].as_array().unwrap().iter().find(|i| i["tag"]["name"] == "password-reset").unwrap();
    assert_eq!((pw["incidents"].as_i64(), pw["posts"].as_i64()), (Some(3), Some(3)), "{combined}");
    let history = app.get_json("/api/v1/tags/pwreset/history?interval=day", &responder).await;
    let total: i64 = history["points"].as_array().unwrap().iter().map(|p| p["posts"].as_i64().unwrap()).sum();
    assert_eq!(total, 3, "{history}");

    // A live post in the alias's spelling counts for the canonical tag, exactly as a
    // rebuild from the posts would count it.
    app.create_post(&responder, json!({"body": "still seeing it #pwreset"})).await;
    let live = rollups_of(&app);
    app.db().write_blocking(|conn| Ok(i2i::trends::rollups::rebuild(conn)?)).unwrap();
    assert_eq!(rollups_of(&app), live, "live upkeep and rebuild disagree under a merge");
    let post_count = app.get_json("/api/v1/tags/password-reset", &responder).await["posts"].as_i64();
    assert_eq!(post_count, Some(4));

    // Suggestions offer the canonical tag for the alias's prefix, saying why.
    let suggested = app.get_json("/api/v1/tags?prefix=pwr", &responder).await;
    let first = &suggested["items"][0];
    assert_eq!(
        (first["name"].as_str(), first["alias"].as_str()),
        (Some("password-reset"), Some("pwreset")),
        "{suggested}"
    );

    // Un-merging gives each its own counts back: with the live post removed again, the
    // rollups are exactly those from before the merge.
    let unmerged = expect_json(
        app.patch("/api/v1/tags/pwreset", &designer, &json!({"alias_of": null})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(unmerged["alias_of"], Value::Null);
    let live_id = app.get_json("/api/v1/timeline?tag=pwreset&limit=1", &responder).await["items"][0]["id"]
        .as_i64()
        .unwrap();
    let deleted = app.delete(&format!("/api/v1/posts/{live_id}"), &responder).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(rollups_of(&app), before, "merge then un-merge did not restore the rollups");
    assert_eq!(app.get_json(&recurring, &admin).await["items"], separate["items"]);

    // Both changes are in the audit log.
    let audit = app.get_json("/api/v1/admin/audit?limit=10", &admin).await;
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"tag_merged") && actions.contains(&"tag_unmerged"), "{audit}");
}
