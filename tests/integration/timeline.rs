//! Timeline filters and keyset pagination, including tied timestamps.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, TestApp};

fn bodies(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|p| p["body"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn filters_by_tags_any_all_and_not_incident_and_author() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let bob = app.user(&admin, "bob", "responder").await;
    app.create_post(&admin, json!({"body": "a #sso"})).await;
    app.create_post(&admin, json!({"body": "b #sso #mfa", "incident": "INC-1"})).await;
    app.create_post(&bob, json!({"body": "c #mfa"})).await;
    app.create_post(&bob, json!({"body": "d nothing"})).await;

    let check = |query: &'static str, expected: Vec<&'static str>| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let page = app.get_json(&format!("/api/v1/timeline?{query}"), &admin).await;
            assert_eq!(bodies(&page), expected, "query {query}");
        }
    };
    check("", vec!["d nothing", "c #mfa", "b #sso #mfa", "a #sso"]).await;
    check("tag=sso", vec!["b #sso #mfa", "a #sso"]).await;
    check("tag=SSO&tag=mfa", vec!["c #mfa", "b #sso #mfa", "a #sso"]).await;
    check("tag=sso&tag=mfa&tags_mode=all", vec!["b #sso #mfa"]).await;
    check("tag=sso&not_tag=mfa", vec!["a #sso"]).await;
    check("incident=INC-1", vec!["b #sso #mfa"]).await;
    check("author=bob", vec!["d nothing", "c #mfa"]).await;
    check("tag=unknown-tag", vec![]).await;
    check("tag=sso&tag=unknown-tag&tags_mode=all", vec![]).await;
    check("incident=INC-404", vec![]).await;
}

#[tokio::test]
async fn pages_never_skip_or_repeat_even_when_timestamps_tie() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    // 45 posts over 5 distinct timestamps, imported out of order.
    let mut lines = String::new();
    for i in 0..45 {
        let second = (i * 7) % 5;
        lines.push_str(&format!(
            "{}\n",
            json!({"author": "importer", "body": format!("note {i} #paging"), "incident": null,
                   "created_at": format!("2024-03-01T10:00:0{second}Z")})
        ));
    }
    let pattern = regex::Regex::new(r"INC-\d+").unwrap();
    let report = i2i::transfer::import(&app.db(), &pattern, lines.as_bytes(), |_, _| {}).unwrap();
    assert_eq!(report.imported, 45);

    let mut seen = Vec::new();
    let mut path = "/api/v1/timeline?tag=paging&limit=10".to_string();
    let mut pages = 0;
    loop {
        let page = app.get_json(&path, &admin).await;
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push((item["created_at"].as_str().unwrap().to_string(), item["id"].as_i64().unwrap()));
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/timeline?tag=paging&limit=10&before={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 45);
    assert_eq!(seen.iter().map(|(_, id)| id).collect::<HashSet<_>>().len(), 45, "no duplicates");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties broken by id");
}

#[tokio::test]
async fn bad_cursors_limits_and_parameters_are_4xx() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.create_post(&admin, json!({"body": "one"})).await;
    let (code, _) =
        expect_error(app.get("/api/v1/timeline?before=abc", &admin).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "bad_cursor");
    let (code, _) =
        expect_error(app.get("/api/v1/timeline?before=99999", &admin).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "bad_cursor");
    for limit in ["0", "101", "-1", "ten"] {
        let response = app.get(&format!("/api/v1/timeline?limit={limit}"), &admin).await;
        let (_, body) = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["error"]["field"], "limit");
    }
    let (code, body) =
        expect_error(app.get("/api/v1/timeline?tga=sso", &admin).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "bad_query");
    assert!(body["error"]["message"].as_str().unwrap().contains("tga"));
    let bad_tag = app.get("/api/v1/timeline?tag=%231", &admin).await;
    expect_error(bad_tag, StatusCode::UNPROCESSABLE_ENTITY).await;
    let bad_mode = app.get("/api/v1/timeline?tags_mode=some", &admin).await;
    expect_error(bad_mode, StatusCode::UNPROCESSABLE_ENTITY).await;
    let page = app.get_json("/api/v1/timeline?limit=100", &admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next"].is_null());
}

/// Tag timelines walk the `post_tags` index from the cursor: with every filter shape, tied
/// timestamps, deleted and re-tagged posts, the pages never skip or repeat a post and list
/// exactly what a direct filter over the posts gives, in order.
#[test]
fn tag_timeline_pages_equal_a_direct_filter() {
    use std::collections::BTreeMap;

    use i2i::app::audit::Actor;
    use i2i::app::posts::{create_post, delete_post, edit_post, PostInput};
    use i2i::app::timeline::{load_page, TimelineRequest};
    use i2i::domain::rules::Role;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let scratch = crate::helpers::ScratchDb::new();
    let db = &scratch.db;
    let pattern = regex::Regex::new(r"INC-\d+").unwrap();
    let names = ["a", "b", "c", "d"];
    // Per post id: created_at, author index, tags.
    let mut truth: BTreeMap<i64, (i64, usize, Vec<&str>)> = BTreeMap::new();
    db.write_blocking(|conn| {
        let users: Vec<_> = ["ann", "ben"]
            .iter()
            .map(|n| i2i::app::users::create_user(conn, n, None, Role::Responder, None))
            .collect::<Result<_, _>>()?;
        let mut rng = StdRng::seed_from_u64(11);
        let base = 1_700_000_000_000i64;
        for n in 0..240 {
            let tags: Vec<&str> = names.iter().copied().filter(|_| rng.gen_bool(0.45)).collect();
            let author = rng.gen_range(0..2);
            let body =
                format!("note {n} {}", tags.iter().map(|t| format!("#{t}")).collect::<Vec<_>>().join(" "));
            // Few distinct times, so many posts tie on created_at.
            let created_at = base + rng.gen_range(0..30) * 60_000;
            let input = PostInput { body, created_at: Some(created_at), ..Default::default() };
            if let Some(post) = create_post(conn, &pattern, &users[author], &input)? {
                truth.insert(post.post.id, (created_at, author, tags));
            }
        }
        let ids: Vec<i64> = truth.keys().copied().collect();
        for id in ids.iter().step_by(7) {
            let author = truth[id].1;
            delete_post(conn, &users[author], &Actor::default(), *id)?;
            truth.remove(id);
        }
        let edited: Vec<i64> =
            ids.iter().skip(3).step_by(11).filter(|id| truth.contains_key(id)).copied().collect();
        for id in &edited {
            let author = truth[id].1;
            let tags: Vec<&str> = names.iter().copied().filter(|_| rng.gen_bool(0.5)).collect();
            let body =
                format!("edited {id} {}", tags.iter().map(|t| format!("#{t}")).collect::<Vec<_>>().join(" "));
            edit_post(conn, &pattern, &users[author], *id, &body)?;
            if let Some(entry) = truth.get_mut(id) {
                entry.2 = tags;
            }
        }
        Ok(())
    })
    .unwrap();

    type Case = (TimelineRequest, Box<dyn Fn(usize, &[&str]) -> bool>);
    let request = |tags: &[&str], all: bool, not: &[&str]| TimelineRequest {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        tags_all: all,
        not_tags: not.iter().map(|t| t.to_string()).collect(),
        limit: Some("7".into()),
        ..Default::default()
    };
    let cases: Vec<Case> = vec![
        (request(&["a"], false, &[]), Box::new(|_, t| t.contains(&"a"))),
        (request(&["a", "b"], false, &[]), Box::new(|_, t| t.contains(&"a") || t.contains(&"b"))),
        (request(&["a", "b"], true, &[]), Box::new(|_, t| t.contains(&"a") && t.contains(&"b"))),
        (
            request(&["a", "c", "d"], true, &[]),
            Box::new(|_, t| t.contains(&"a") && t.contains(&"c") && t.contains(&"d")),
        ),
        (request(&["a"], false, &["b"]), Box::new(|_, t| t.contains(&"a") && !t.contains(&"b"))),
        (
            request(&["c", "d"], false, &["a", "b"]),
            Box::new(|_, t| (t.contains(&"c") || t.contains(&"d")) && !t.contains(&"a") && !t.contains(&"b")),
        ),
        (
            TimelineRequest { author: Some("ben".into()), ..request(&["b"], false, &[]) },
            Box::new(|author, t| author == 1 && t.contains(&"b")),
        ),
        (request(&[], false, &["a"]), Box::new(|_, t| !t.contains(&"a"))),
    ];
    for oldest_first in [false, true] {
        for (base_request, keep) in &cases {
            let mut expected: Vec<(i64, i64)> = truth
                .iter()
                .filter(|(_, (_, author, tags))| keep(*author, tags))
                .map(|(id, (created_at, _, _))| (*created_at, *id))
                .collect();
            expected.sort_unstable();
            if !oldest_first {
                expected.reverse();
            }
            let mut got: Vec<(i64, i64)> = Vec::new();
            let mut before: Option<String> = None;
            loop {
                let request =
                    TimelineRequest { before: before.clone(), oldest_first, ..base_request.clone() };
                let page = db.read_blocking(|conn| load_page(conn, &request, None)).unwrap();
                assert!(page.posts.len() <= 7);
                got.extend(page.posts.iter().map(|p| (p.post.created_at, p.post.id)));
                match page.next {
                    Some(next) => before = Some(next.to_string()),
                    None => break,
                }
            }
            assert!(!expected.is_empty());
            assert_eq!(got, expected, "{base_request:?} oldest_first={oldest_first}");
        }
    }
}
