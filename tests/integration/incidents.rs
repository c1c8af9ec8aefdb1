//! Incidents and tag summaries.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_json, TestApp};

#[tokio::test]
async fn incidents_are_created_listed_updated_and_resolved() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let created = app
        .post(
            "/api/v1/incidents",
            &admin,
            &json!({"key": "INC-2041", "title": "SSO outage", "severity": "SEV2", "service": "login",
                    "started_at": "2024-03-01T08:00:00Z"}),
        )
        .await;
    assert_eq!(created.headers()["location"], "/api/v1/incidents/INC-2041");
    let incident = expect_json(created, StatusCode::CREATED).await;
    assert_eq!(incident["severity"], "sev2");
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["started_at"], "2024-03-01T08:00:00Z");
    assert!(incident["resolved_at"].is_null());

    let duplicate = app.post("/api/v1/incidents", &admin, &json!({"key": "INC-2041"})).await;
    expect_error(duplicate, StatusCode::CONFLICT).await;
    let bad = app.post("/api/v1/incidents", &admin, &json!({"key": "INC-1", "severity": "sev9"})).await;
    let (_, body) = expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["error"]["field"], "severity");
    app.post("/api/v1/incidents", &admin, &json!({"key": "INC-2", "service": "billing"})).await;

    let resolved = app
        .patch("/api/v1/incidents/INC-2041", &admin, &json!({"status": "resolved", "severity": null}))
        .await;
    let resolved = expect_json(resolved, StatusCode::OK).await;
    assert_eq!(resolved["status"], "resolved");
    assert!(resolved["resolved_at"].is_string());
    assert!(resolved["severity"].is_null());
    assert_eq!(resolved["service"], "login", "fields left out stay");

    let by_status = app.get_json("/api/v1/incidents?status=resolved", &admin).await;
    let keys: Vec<_> = by_status["items"].as_array().unwrap().iter().map(|i| i["key"].clone()).collect();
    assert_eq!(keys, vec![json!("INC-2041")]);
    let by_service = app.get_json("/api/v1/incidents?service=billing", &admin).await;
    assert_eq!(by_service["items"][0]["key"], "INC-2");

    let reopened = app.patch("/api/v1/incidents/INC-2041", &admin, &json!({"status": "monitoring"})).await;
    assert!(expect_json(reopened, StatusCode::OK).await["resolved_at"].is_null());
    expect_error(app.get("/api/v1/incidents/INC-404", &admin).await, StatusCode::NOT_FOUND).await;
    let unknown_field = app.patch("/api/v1/incidents/INC-2", &admin, &json!({"colour": "red"})).await;
    expect_error(unknown_field, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn a_tag_reports_posts_distinct_incidents_and_first_and_last_seen() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let lines = [
        json!({"author": "a", "body": "one #Webhooks", "incident": "X-1", "created_at": "2020-01-01T00:00:00Z"}),
        json!({"author": "b", "body": "two #webhooks", "incident": "X-1", "created_at": "2021-01-01T00:00:00Z"}),
        json!({"author": "a", "body": "three #webhooks", "incident": "X-2", "created_at": "2022-06-01T12:30:00Z"}),
        json!({"author": "a", "body": "four #webhooks", "incident": null, "created_at": "2019-01-01T00:00:00Z"}),
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect::<String>();
    let pattern = regex::Regex::new(r"INC-\d+").unwrap();
    i2i::transfer::import(&app.db(), &pattern, lines.as_bytes(), |_, _| {}).unwrap();

    let tag = app.get_json("/api/v1/tags/%23WEBHOOKS", &admin).await;
    assert_eq!(
        tag,
        json!({"name": "webhooks", "display": "Webhooks", "posts": 4, "incidents": 2,
               "first_seen": "2019-01-01T00:00:00Z", "last_seen": "2022-06-01T12:30:00Z",
               "description": "", "kind": null, "hidden_from_trends": false, "curated_at": null,
               "alias_of": null, "aliases": []})
    );
    expect_error(app.get("/api/v1/tags/never-used", &admin).await, StatusCode::NOT_FOUND).await;
    expect_error(app.get("/api/v1/tags/%231", &admin).await, StatusCode::NOT_FOUND).await;
    let imported = app.get_json("/api/v1/incidents/X-1", &admin).await;
    assert_eq!(imported["status"], "resolved", "imported history is not left open");
}
