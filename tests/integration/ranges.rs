//! Times at the edges: the one range of note times (1970-01-01 to a day from now) is enforced
//! by both imports and by the incident API, and search date filters beyond what the index can
//! hold (2262-04-11) give the answer the range implies instead of overflowing.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_json, hit_ids, serde_urlencoded_query, TestApp};

const SOON: Duration = Duration::from_secs(30);

#[tokio::test]
async fn search_date_filters_beyond_the_index_range_give_the_implied_answer() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let post = app.create_post(&admin, json!({"body": "quarterly certificate rotation #pki"})).await;
    let id = post["id"].as_i64().unwrap();
    app.search_until(&admin, "certificate", SOON, |a| hit_ids(a) == vec![id]).await;
    // Every note lies between 1970 and tomorrow, so a bound far outside means the same as
    // "no bound" or "nothing". These used to overflow tantivy's i64 nanoseconds.
    let cases: &[(&str, bool)] = &[
        ("certificate after:2263", false),
        ("certificate after:2262-04-12", false),
        ("certificate after:9999-12-31T23:59:59Z", false),
        ("certificate during:2300", false),
        ("certificate before:9999", true),
        ("certificate before:2263-01-01T00:00:00Z", true),
        ("certificate after:1600", true),
        ("certificate after:0000-01-01", true),
        ("certificate before:1600", false),
        ("certificate during:1600-02", false),
        ("certificate after:1600 before:9999", true),
    ];
    let mut wrong = Vec::new();
    for (query, found) in cases {
        let path = format!("/api/v1/search?{}", serde_urlencoded_query(&[("q", query)]));
        let answer = expect_json(app.get(&path, &admin).await, StatusCode::OK).await;
        let expected = if *found { vec![id] } else { vec![] };
        if hit_ids(&answer) != expected {
            wrong.push(format!("{query}: {:?}, expected {expected:?}", hit_ids(&answer)));
        }
        // The export runs the same query through the same plan.
        let path =
            format!("/api/v1/search/export?{}", serde_urlencoded_query(&[("q", query), ("format", "jsonl")]));
        let response = app.get(&path, &admin).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let rows = response.text().await.unwrap().lines().count();
        if rows != usize::from(*found) {
            wrong.push(format!("export {query}: {rows} rows"));
        }
    }
    assert!(wrong.is_empty(), "misanswered:\n{}", wrong.join("\n"));
}

/// Runs `i2i import [--bulk] file` against the app's database; returns (stdout, stderr).
fn import(app: &TestApp, bulk: bool, file: &std::path::Path) -> (String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_i2i"));
    command.args(["--database-url", &app.database_url, "--data-dir"]).arg(app.data_dir()).arg("import");
    if bulk {
        command.arg("--bulk");
    }
    let output = command.arg(file).env("I2I_LOG", "warn").output().expect("run i2i");
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "i2i import failed: {err} {out}");
    (out.to_string(), err.to_string())
}

#[tokio::test]
async fn import_refuses_notes_dated_outside_1970_to_tomorrow_line_by_line() {
    let line = |body: &str, at: &str| json!({"author": "ann", "body": body, "created_at": at}).to_string();
    let in_two_days = i2i::domain::time::format_ms(i2i::db::now_ms() + 2 * 24 * 3_600_000);
    let lines = [
        line("from the year three thousand #future", "3000-01-01T00:00:00Z"),
        line("fine #present", "2024-05-01T10:00:00Z"),
        line("victorian #past", "1900-01-01"),
        line("a second before the epoch #past", "1969-12-31T23:59:59Z"),
        line("skewed clock #future", &in_two_days),
        line("the epoch itself #present", "1970-01-01T00:00:00Z"),
    ];
    for bulk in [false, true] {
        let app = TestApp::spawn().await;
        let admin = app.setup_admin().await;
        let file = app.data_dir().join("dates.jsonl");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let (report, errors) = import(&app, bulk, &file);
        assert!(
            report.contains("imported 2 posts, skipped 0 already imported, rejected 4 lines"),
            "bulk {bulk}: {report} {errors}"
        );
        for line_no in [1, 3, 4, 5] {
            let said = errors.lines().find(|l| l.starts_with(&format!("line {line_no}:")));
            let said = said.unwrap_or_else(|| panic!("bulk {bulk}: line {line_no} not reported in {errors}"));
            assert!(
                said.contains("created_at must fall between 1970-01-01T00:00:00Z and one day from now"),
                "bulk {bulk}: {said}"
            );
        }
        // Nothing from the future tops the timeline or becomes a tag's last_seen.
        let timeline = app.get_json("/api/v1/timeline", &admin).await;
        let bodies: Vec<&str> =
            timeline["items"].as_array().unwrap().iter().map(|p| p["body"].as_str().unwrap()).collect();
        assert_eq!(bodies, ["fine #present", "the epoch itself #present"], "bulk {bulk}");
        expect_json(app.get("/api/v1/tags/present", &admin).await, StatusCode::OK).await;
        assert_eq!(
            app.get("/api/v1/tags/future", &admin).await.status(),
            StatusCode::NOT_FOUND,
            "bulk {bulk}"
        );
        assert_eq!(app.get("/api/v1/tags/past", &admin).await.status(), StatusCode::NOT_FOUND, "bulk {bulk}");
    }
}

#[tokio::test]
async fn the_incident_api_refuses_start_times_outside_the_range() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let tomorrow_and_more = i2i::domain::time::format_ms(i2i::db::now_ms() + 25 * 3_600_000);
    for (n, at) in ["3000-01-01T00:00:00Z", "1900-01-01", tomorrow_and_more.as_str()].iter().enumerate() {
        let body = json!({"key": format!("INC-{}", 90 + n), "title": "t", "started_at": at});
        let (code, error) = expect_error(
            app.post("/api/v1/incidents", &admin, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(code, "validation_failed", "{error}");
        assert_eq!(error["error"]["field"], "started_at", "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains("between 1970-01-01T00:00:00Z and one day from now"), "{message}");
    }
    let fine = json!({"key": "INC-99", "title": "t", "started_at": "1970-01-01T00:00:00Z"});
    expect_json(app.post("/api/v1/incidents", &admin, &fine).await, StatusCode::CREATED).await;
    let list = app.get_json("/api/v1/incidents", &admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
}
