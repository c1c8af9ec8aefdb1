//! The insights board: proposing from notes, roles, evidence and notifications, status
//! moves, live counts over a tag group and a saved search, comments, the Markdown and CSV
//! exports, and the one-click forms of the pages.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, expect_json, session_of, TestApp, PASSWORD};

const HOUR: i64 = 3_600_000;

async fn create(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post("/api/v1/insights", token, &body).await
}

fn ids_of(list: &Value, field: &str) -> Vec<i64> {
    list[field].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn an_insight_carries_evidence_counts_status_and_discussion_from_notes_to_a_document() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let dana = app.user(&admin, "dana", "designer").await;
    let rory = app.user(&admin, "rory", "responder").await;
    let sam = app.user(&admin, "sam", "responder").await;
    let day = (i2i::db::now_ms().div_euclid(24 * HOUR) - 3) * 24 * HOUR;
    app.import_note(
        "rory",
        "reset link expired before the user opened it #password-reset",
        "INC-1",
        day + HOUR,
    );
    app.import_note("rory", "second expired reset link today #password-reset", "INC-2", day + 2 * HOUR);
    app.import_note("sam", "user gave up on the reset mail #pwreset", "INC-3", day + 24 * HOUR + HOUR);
    app.import_note("sam", "token refresh loop #sso", "INC-3", day + 24 * HOUR + 2 * HOUR);
    let timeline = app.get_json("/api/v1/timeline?limit=10", &admin).await;
    let id_of = |needle: &str| {
        timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["body"].as_str().unwrap().contains(needle))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (rory_first, rory_second, sam_reset) =
        (id_of("before the user"), id_of("second expired"), id_of("gave up"));
    expect_json(
        app.patch("/api/v1/tags/pwreset", &dana, &json!({"alias_of": "password-reset"})).await,
        StatusCode::OK,
    )
    .await;

    // A responder proposes from their own notes, not from someone else's.
    let own = create(&app, &rory, json!({"title": "Reset links expire", "posts": [rory_first]})).await;
    let own = expect_json(own, StatusCode::CREATED).await;
    assert_eq!((own["status"].as_str(), own["owner"].as_str()), (Some("proposed"), Some("rory")));
    assert_eq!(ids_of(&own, "pinned_posts"), vec![rory_first]);
    let others = create(&app, &rory, json!({"title": "Not mine", "posts": [sam_reset]})).await;
    expect_error(others, StatusCode::FORBIDDEN).await;
    let bad = create(&app, &dana, json!({"title": "  ", "tags": ["password-reset"]})).await;
    expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let unknown = create(&app, &dana, json!({"title": "x", "tags": ["never-used"]})).await;
    expect_error(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    let syntax = create(&app, &dana, json!({"title": "x", "query": "reset AND ("})).await;
    expect_error(syntax, StatusCode::BAD_REQUEST).await;
    // A saved search that parses alone but not with the tags added is refused up front.
    let words: Vec<String> = (0..99).map(|i| format!("w{i}")).collect();
    let long = json!({"title": "x", "query": words.join(" "), "tags": ["sso", "password-reset"]});
    let (_, refused_long) =
        expect_error(create(&app, &dana, long).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(refused_long["error"]["field"], "query", "{refused_long}");
    assert!(
        app.get_json("/api/v1/insights", &dana).await["items"].as_array().unwrap().len() == 1,
        "nothing stored"
    );

    // A designer's insight defined by the tag: its group (the alias too) counts, live.
    let body = json!({"title": "Password resets fail", "problem": "Users cannot finish a reset.",
                      "tags": ["#pwreset"], "incidents": ["INC-1"]});
    let insight = expect_json(create(&app, &dana, body).await, StatusCode::CREATED).await;
    let id = insight["id"].as_i64().unwrap();
    assert_eq!(insight["tags"], json!(["password-reset"]), "an alias defines its canonical tag");
    assert_eq!(
        (insight["posts"].as_i64(), insight["incidents"].as_i64(), insight["responders"].as_i64()),
        (Some(3), Some(3), Some(2))
    );
    let history: Vec<(String, i64)> = insight["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["day"].as_str().unwrap().to_string(), d["posts"].as_i64().unwrap()))
        .collect();
    let first_day: String = i2i::domain::time::format_ms(day).chars().take(10).collect();
    let second_day: String = i2i::domain::time::format_ms(day + 24 * HOUR).chars().take(10).collect();
    assert_eq!(history, vec![(first_day, 2), (second_day, 1)]);
    assert_eq!(insight["pinned_incidents"][0]["key"], "INC-1");

    // Pinning someone's note tells them, once; a responder cannot pin to another's insight.
    let pin = |post: i64| json!({"post": post});
    expect_json(
        app.post(&format!("/api/v1/insights/{id}/evidence"), &dana, &pin(sam_reset)).await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.post(&format!("/api/v1/insights/{id}/evidence"), &dana, &pin(sam_reset)).await,
        StatusCode::OK,
    )
    .await;
    let refused = app.post(&format!("/api/v1/insights/{id}/evidence"), &rory, &pin(rory_second)).await;
    expect_error(refused, StatusCode::FORBIDDEN).await;
    let told = app.get_json("/api/v1/me/notifications", &sam).await;
    assert_eq!(told["unread"], 1, "{told}");
    assert_eq!(told["items"][0]["insight_title"], "Password resets fail");
    assert_eq!(
        (told["items"][0]["post_id"].as_i64(), told["items"][0]["by"].as_str()),
        (Some(sam_reset), Some("dana"))
    );
    assert_eq!(app.get_json("/api/v1/me/notifications", &rory).await["unread"], 0);
    let read = app.get_json("/api/v1/me/notifications?mark_read=true", &sam).await;
    assert_eq!(read["unread"], 1, "the list says what was new when it was fetched");
    assert_eq!(app.get_json("/api/v1/me/notifications", &sam).await["unread"], 0);

    // A live post in the alias's spelling joins the counts at once.
    app.create_post(&rory, json!({"body": "another expired link #pwreset", "incident": "INC-4"})).await;
    let now = app.get_json(&format!("/api/v1/insights/{id}"), &rory).await;
    assert_eq!((now["posts"].as_i64(), now["incidents"].as_i64()), (Some(4), Some(4)));

    // Status: responders cannot move it; dismissing needs a reason; moves follow the rules.
    let path = format!("/api/v1/insights/{id}");
    let by_responder =
        app.patch(&format!("/api/v1/insights/{id}"), &rory, &json!({"status": "accepted"})).await;
    expect_error(by_responder, StatusCode::FORBIDDEN).await;
    expect_error(
        app.patch(&path, &dana, &json!({"status": "dismissed"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_error(app.patch(&path, &dana, &json!({"status": "done"})).await, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    let dismissed = expect_json(
        app.patch(&path, &dana, &json!({"status": "dismissed", "dismissed_reason": "duplicate"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(dismissed["dismissed_reason"], "duplicate");
    expect_error(
        app.patch(&path, &dana, &json!({"status": "accepted"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_json(app.patch(&path, &dana, &json!({"status": "proposed"})).await, StatusCode::OK).await;
    let accepted = expect_json(
        app.patch(&path, &dana, &json!({"status": "accepted", "owner": "dana"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (accepted["status"].as_str(), accepted["dismissed_reason"].as_str()),
        (Some("accepted"), None)
    );

    // Anyone comments; the Markdown export carries the evidence with links.
    let said = json!({"body": "Seen it three times this week"});
    expect_json(app.post(&format!("/api/v1/insights/{id}/comments"), &sam, &said).await, StatusCode::CREATED)
        .await;
    let response = app.get(&format!("/api/v1/insights/{id}/markdown"), &rory).await;
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/markdown"));
    let base = app.url("");
    let text = response.text().await.unwrap();
    assert!(text.starts_with("# Password resets fail\n"), "{text}");
    assert!(text.contains("- Status: **accepted**"), "{text}");
    assert!(text.contains(&format!("[#password-reset]({base}/tags/password-reset)")), "{text}");
    assert!(text.contains("4 notes from 2 responders across 4 incidents"), "{text}");
    assert!(text.contains("[@sam on ") && text.contains(&format!("]({base}/posts/{sam_reset}), [INC-3]({base}/incidents/INC-3): user gave up on the reset mail #pwreset")), "{text}");
    assert!(text.contains(&format!("[INC-1]({base}/incidents/INC-1)")), "{text}");
    assert!(text.contains("- @sam ("), "{text}");

    // An insight defined by a saved search counts what the index finds within its tags.
    let narrow = json!({"title": "=HYPERLINK(\"x\")", "tags": ["password-reset"], "query": "expired"});
    let narrow = expect_json(create(&app, &dana, narrow).await, StatusCode::CREATED).await;
    let narrow_id = narrow["id"].as_i64().unwrap();
    let mut counted = narrow["posts"].as_i64();
    for _ in 0..600 {
        if counted == Some(3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        counted = app.get_json(&format!("/api/v1/insights/{narrow_id}"), &dana).await["posts"].as_i64();
    }
    assert_eq!(counted, Some(3), "expired: two of rory's imported notes and his live one");

    // The board, and its CSV with live counts (a formula-looking title is defused).
    let board = app.get_json("/api/v1/insights?status=accepted", &sam).await;
    assert_eq!(board["items"].as_array().unwrap().len(), 1);
    assert_eq!(board["items"][0]["id"], id);
    expect_error(app.get("/api/v1/insights?status=done", &sam).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let csv = app.get("/api/v1/insights.csv", &sam).await.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,title,status,owner,tags,posts,incidents,responders,evidence,updated_at,url")
    );
    assert!(
        csv.contains(&format!("{id},Password resets fail,accepted,dana,password-reset,4,4,2,2,")),
        "{csv}"
    );
    assert!(csv.contains(&format!("{narrow_id},\"'=HYPERLINK(\"\"x\"\")\",proposed")), "{csv}");
    expect_error(app.get("/api/v1/insights/999", &sam).await, StatusCode::NOT_FOUND).await;

    // Unpinning: curators only; gone from the evidence; a second unpin is a 404.
    let note = format!("/api/v1/insights/{id}/evidence/posts/{sam_reset}");
    expect_error(app.delete(&note, &rory).await, StatusCode::FORBIDDEN).await;
    assert_eq!(app.delete(&note, &dana).await.status(), StatusCode::NO_CONTENT);
    expect_error(app.delete(&note, &dana).await, StatusCode::NOT_FOUND).await;
    let incident = format!("/api/v1/insights/{id}/evidence/incidents/INC-1");
    assert_eq!(app.delete(&incident, &dana).await.status(), StatusCode::NO_CONTENT);
    let after = app.get_json(&format!("/api/v1/insights/{id}"), &dana).await;
    assert!(!ids_of(&after, "pinned_posts").contains(&sam_reset), "{after}");
    assert_eq!(after["pinned_incidents"], json!([]));
}

#[tokio::test]
async fn the_pages_create_an_insight_in_one_click_from_a_selection_and_show_it() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.user(&admin, "dana", "designer").await;
    let rory = app.user(&admin, "rory", "responder").await;
    let first =
        app.create_post(&rory, json!({"body": "printer queue stuck #printing", "incident": "INC-9"})).await;
    let second = app.create_post(&rory, json!({"body": "printer driver again #printing"})).await;
    let (first_id, second_id) = (first["id"].as_i64().unwrap(), second["id"].as_i64().unwrap());
    // The insight below is defined by a search: let the index have both notes first.
    let indexed =
        app.search_until(&rory, "printer", std::time::Duration::from_secs(30), |a| a["total"] == 2).await;
    assert_eq!(indexed["total"], 2);
    let (token, csrf) = session_of(&app, "dana", PASSWORD).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = format!("_csrf={csrf}&title=printer&query=printer&post={first_id}&post={second_id}");
    let created = client
        .post(app.url("/insights"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let id: i64 = location.trim_start_matches("/insights/").parse().unwrap();
    let view = app.get_json(&format!("/api/v1/insights/{id}"), &token).await;
    assert_eq!(ids_of(&view, "pinned_posts"), vec![first_id, second_id]);
    assert_eq!(app.get_json("/api/v1/me/notifications", &rory).await["unread"], 2);

    let page = client.get(app.url(&location)).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<h1 id=\"insight-title\">printer</h1>"), "{page}");
    assert!(page.contains("class=\"n-posts\">2<"), "{page}");
    assert!(page.contains(&format!("data-post=\"{first_id}\"")), "{page}");
    let board =
        client.get(app.url("/insights")).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
    assert!(board.contains(&format!("<a href=\"/insights/{id}\">printer</a>")), "{board}");

    // The responder sees on the timeline that a note of theirs became evidence.
    let (rory_token, rory_csrf) = session_of(&app, "rory", PASSWORD).await;
    let home = client.get(app.url("/")).bearer_auth(&rory_token).send().await.unwrap().text().await.unwrap();
    assert!(
        home.contains(&format!(
            "is evidence in <bdi><a href=\"/insights/{id}\">printer</a></bdi>, pinned by @dana"
        )),
        "{home}"
    );
    let read = client
        .post(app.url("/notifications/read"))
        .bearer_auth(&rory_token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("_csrf={rory_csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::SEE_OTHER);
    let home = client.get(app.url("/")).bearer_auth(&rory_token).send().await.unwrap().text().await.unwrap();
    assert!(!home.contains("is evidence in"), "{home}");
}

#[derive(diesel::QueryableByName)]
struct TagIncidents {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn on_the_shared_notes_an_insight_by_tag_counts_the_incidents_sql_counts_and_charts_the_tag_history() {
    let Some(data) = crate::helpers::shared_data() else { return };
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let pattern = regex::Regex::new(r"INC-\d+").unwrap();
    let file = std::io::BufReader::new(std::fs::File::open(data).unwrap());
    i2i::transfer::import(&app.db(), &pattern, file, |_, _| {}).unwrap();
    // The tag on the most distinct incidents, and that number, straight from SQL.
    let top = app
        .db()
        .read_blocking(|conn| {
            use diesel::RunQueryDsl;
            let sql = "SELECT t.key AS key, COUNT(DISTINCT p.incident_id) AS n FROM posts p \
                       JOIN post_tags pt ON pt.post_id = p.id JOIN tags t ON t.id = pt.tag_id \
                       WHERE p.deleted_at IS NULL GROUP BY t.key ORDER BY n DESC, t.key LIMIT 1";
            Ok(i2i::on_backend!(conn, c => diesel::sql_query(sql).load::<TagIncidents>(c))?)
        })
        .unwrap();
    let (tag, incidents) = (top[0].key.clone(), top[0].n);
    assert!(incidents > 10, "#{tag} spans only {incidents} incidents");

    let body = json!({"title": format!("#{tag} keeps coming back"), "tags": [tag]});
    let insight = expect_json(create(&app, &admin, body).await, StatusCode::CREATED).await;
    assert_eq!(insight["incidents"].as_i64(), Some(incidents), "#{tag}");
    let tag_view = app.get_json(&format!("/api/v1/tags/{tag}"), &admin).await;
    assert_eq!(
        (insight["posts"].as_i64(), insight["incidents"].as_i64()),
        (tag_view["posts"].as_i64(), tag_view["incidents"].as_i64())
    );

    // The insight's daily history is the tag's daily history (its days with notes).
    let days: Vec<(String, i64)> = insight["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["day"].as_str().unwrap().to_string(), d["posts"].as_i64().unwrap()))
        .collect();
    let first = i2i::domain::time::parse_timestamp("day", &days[0].0).unwrap();
    let last = i2i::domain::time::parse_timestamp("day", &days[days.len() - 1].0).unwrap();
    const DAY: i64 = 86_400_000;
    let mut from = first;
    let mut history = Vec::new();
    while from <= last {
        let to = (from + 1_000 * DAY).min(last + DAY);
        let path = format!(
            "/api/v1/tags/{tag}/history?interval=day&from={}&to={}",
            i2i::domain::time::format_ms(from),
            i2i::domain::time::format_ms(to)
        );
        let chunk = app.get_json(&path.replace('+', "%2B"), &admin).await;
        for point in chunk["points"].as_array().unwrap() {
            let posts = point["posts"].as_i64().unwrap();
            if posts > 0 {
                history.push((point["t"].as_str().unwrap().chars().take(10).collect::<String>(), posts));
            }
        }
        from = to;
    }
    assert_eq!(days, history, "#{tag}");
    assert_eq!(days.iter().map(|d| d.1).sum::<i64>(), insight["posts"].as_i64().unwrap());
    eprintln!("#{tag}: {incidents} incidents, {} notes over {} days", insight["posts"], days.len());
}
