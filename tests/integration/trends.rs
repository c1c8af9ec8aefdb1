//! Trends: rollups stay equal to a rebuild, the views find injected bursts and recurring
//! tags (and beat Mastodon's formula on that), and the per-tag views return exact counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use i2i::app::audit::Actor;
use i2i::app::posts::{create_post, delete_post, edit_post, PostInput};
use i2i::db::users::User;
use i2i::db::Db;
use i2i::domain::rules::Role;
use i2i::trends::rollups;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, shared_data, ScratchDb, TestApp};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn pattern() -> regex::Regex {
    regex::Regex::new(r"INC-\d+").unwrap()
}

fn make_users(db: &Db, names: &[&str]) -> Vec<User> {
    db.write_blocking(|conn| {
        names.iter().map(|n| i2i::app::users::create_user(conn, n, None, Role::Responder, None)).collect()
    })
    .unwrap()
}

/// One generated change to the posts.
#[derive(Debug, Clone)]
enum Op {
    Create { author: usize, tags: Vec<usize>, incident: Option<usize>, hour: i64 },
    Edit { which: usize, tags: Vec<usize> },
    Delete { which: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let tags = proptest::collection::vec(0usize..6, 0..4);
    prop_oneof![
        // Hours that collide often, and hours spread over days and weeks (the coarse rollups).
        4 => (0usize..3, tags.clone(), proptest::option::of(0usize..3), prop_oneof![0i64..6, 0i64..400])
            .prop_map(|(author, tags, incident, hour)| Op::Create { author, tags, incident, hour }),
        2 => (any::<usize>(), tags).prop_map(|(which, tags)| Op::Edit { which, tags }),
        1 => any::<usize>().prop_map(|which| Op::Delete { which }),
    ]
}

fn body_with(tags: &[usize], n: usize) -> String {
    let mut body = format!("note {n}");
    for t in tags {
        body.push_str(&format!(" #t{t}"));
    }
    body
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// After any mix of inserts, edits and deletes, the incrementally kept rollups equal a
    /// rebuild from the posts table.
    #[test]
    fn incremental_rollups_equal_a_rebuild(ops in proptest::collection::vec(op(), 1..40)) {
        let scratch = ScratchDb::new();
        let db = &scratch.db;
        let users = make_users(db, &["ann", "ben", "cat"]);
        let base = 1_700_000_000_000i64;
        let mut live: Vec<i64> = Vec::new();
        for (n, op) in ops.iter().enumerate() {
            db.write_blocking(|conn| {
                match op {
                    Op::Create { author, tags, incident, hour } => {
                        let input = PostInput {
                            body: body_with(tags, n),
                            incident: incident.map(|i| format!("INC-{i}")),
                            created_at: Some(base + hour * HOUR + n as i64),
                            ..Default::default()
                        };
                        if let Some(created) = create_post(conn, &pattern(), &users[*author], &input)? {
                            live.push(created.post.id);
                        }
                    }
                    Op::Edit { which, tags } if !live.is_empty() => {
                        let id = live[which % live.len()];
                        edit_post(conn, &pattern(), &users[0], id, &format!("{} INC-9", body_with(tags, n + 1000)))
                            .or_else(|e| match e { i2i::error::AppError::Forbidden(_) => Ok(i2i::app::posts::require_live(conn, id)?), other => Err(other) })?;
                    }
                    Op::Delete { which } if !live.is_empty() => {
                        let id = live.remove(which % live.len());
                        let admin = &users[0];
                        // Only the author may delete; use each post's author.
                        let post = i2i::app::posts::require_live(conn, id)?;
                        let author = users.iter().find(|u| u.id == post.author_id).unwrap_or(admin);
                        delete_post(conn, author, &Actor::default(), id)?;
                    }
                    _ => {}
                }
                Ok(())
            }).unwrap();
        }
        let incremental = db.read_blocking(|conn| Ok(rollups::snapshot(conn)?)).unwrap();
        prop_assert_eq!(coarse_from_hours(&incremental), coarse_of(&incremental));
        db.write_blocking(|conn| Ok(rollups::rebuild(conn)?)).unwrap();
        let rebuilt = db.read_blocking(|conn| Ok(rollups::snapshot(conn)?)).unwrap();
        prop_assert_eq!(&incremental, &rebuilt);
        // The bulk path, a few posts per call on top of what the calls before wrote.
        db.write_blocking(|conn| {
            use diesel::prelude::*;
            for table in ROLLUP_TABLES {
                diesel::sql_query(format!("DELETE FROM {table}")).execute(conn)?;
            }
            for part in live_contributions(conn)?.chunks(3) {
                rollups::add_many(conn, part)?;
            }
            Ok(())
        })
        .unwrap();
        let bulk = db.read_blocking(|conn| Ok(rollups::snapshot(conn)?)).unwrap();
        prop_assert_eq!(bulk, rebuilt);
    }
}

const ROLLUP_TABLES: [&str; 9] = [
    "post_hours",
    "tag_hours",
    "tag_hour_authors",
    "tag_hour_incidents",
    "tag_pair_hours",
    "tag_authors",
    "tag_incidents",
    "tag_days",
    "tag_weeks",
];

/// What each live post contributes, in id order.
fn live_contributions(conn: &mut i2i::db::DbConn) -> diesel::QueryResult<Vec<rollups::Contribution>> {
    use diesel::prelude::*;
    use i2i::db::schema::{post_tags, posts};
    let live: Vec<(i64, i64, i64, Option<i64>)> = posts::table
        .filter(posts::deleted_at.is_null())
        .order(posts::id)
        .select((posts::id, posts::created_at, posts::author_id, posts::incident_id))
        .load(conn)?;
    let links: Vec<(i64, i64)> =
        post_tags::table.select((post_tags::post_id, post_tags::tag_id)).load(conn)?;
    Ok(live
        .into_iter()
        .map(|(id, created_at, author_id, incident_id)| rollups::Contribution {
            hour: rollups::hour_of(created_at),
            author_id,
            incident_id,
            tag_ids: links.iter().filter(|(p, _)| *p == id).map(|(_, t)| *t).collect(),
        })
        .collect())
}

type Spans = Vec<(i64, i64, i64, i64)>;
type Periods = Vec<(i64, i64, i32, i32, i32)>;

fn coarse_of(s: &rollups::Snapshot) -> (Spans, Spans, Periods, Periods) {
    (s.author_spans.clone(), s.incident_spans.clone(), s.days.clone(), s.weeks.clone())
}

/// The coarse rollups as they follow from the hourly ones: each member's first and last
/// hour, and per day and week the posts and the members last seen then.
fn coarse_from_hours(s: &rollups::Snapshot) -> (Spans, Spans, Periods, Periods) {
    use std::collections::BTreeMap;
    let spans = |rows: &[(i64, i64, i64, i32)]| {
        let mut out: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
        for (tag, hour, member, _) in rows {
            let span = out.entry((*tag, *member)).or_insert((*hour, *hour));
            *span = (span.0.min(*hour), span.1.max(*hour));
        }
        out.into_iter().map(|((t, m), (f, l))| (t, m, f, l)).collect::<Spans>()
    };
    let (authors, incidents) = (spans(&s.authors), spans(&s.incidents));
    let periods = |length: i64| {
        let mut out: BTreeMap<(i64, i64), (i32, i32, i32)> = BTreeMap::new();
        for (tag, hour, posts) in &s.tag_hours {
            out.entry((hour.div_euclid(length), *tag)).or_default().0 += posts;
        }
        for (tag, _, _, last) in &authors {
            out.entry((last.div_euclid(length), *tag)).or_default().1 += 1;
        }
        for (tag, _, _, last) in &incidents {
            out.entry((last.div_euclid(length), *tag)).or_default().2 += 1;
        }
        out.into_iter().map(|((p, t), (n, a, i))| (p, t, n, a, i)).collect::<Periods>()
    };
    let (days, weeks) = (periods(24), periods(24 * 7));
    (authors, incidents, days, weeks)
}

/// The seeded corpus: ground truth for trending and recurring, with distractors.
struct Corpus {
    at: i64,
    bursts: Vec<String>,
    recurring: Vec<String>,
    /// For the Mastodon reference: per tag, (author, time) of each post.
    posts: HashMap<String, Vec<(usize, i64)>>,
}

fn corpus(db: &Db) -> Corpus {
    let at = 1_748_736_000_000; // 2025-06-01T00:00:00Z
    let names: Vec<String> = (0..60).map(|i| format!("responder{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let users = make_users(db, &refs);
    let mut rng = StdRng::seed_from_u64(2041);
    let mut planned: Vec<(usize, String, Option<String>, i64)> = Vec::new(); // author, tag, incident, time
    let mut fresh_incident = 0;
    let mut next_incident = || {
        fresh_incident += 1;
        format!("GEN-{fresh_incident}")
    };
    // Steady tags: a Poisson-ish daily rate over 30 days, on a few "home" incidents.
    for i in 0..20 {
        let per_day = 0.3 + i as f64 * 0.5;
        let homes: Vec<String> = (0..3).map(|_| next_incident()).collect();
        for day in 0..30 {
            let count = (per_day + rng.gen_range(-0.5..0.5) * per_day).round().max(0.0) as usize;
            for _ in 0..count {
                let incident = rng.gen_bool(0.5).then(|| homes[rng.gen_range(0..3)].clone());
                let t = at - (day + 1) * DAY + rng.gen_range(0..DAY);
                planned.push((rng.gen_range(0..60), format!("steady-{i:02}"), incident, t));
            }
        }
    }
    // Bursts: quiet for a month, then 6–10 posts in the last day, each on its own incident.
    // Even-numbered ones are reported by the same two responders (Mastodon's distinct
    // accounts cannot see them); odd ones by different responders.
    let mut bursts = Vec::new();
    for i in 0..10 {
        let tag = format!("burst-{i}");
        for k in 0..3 {
            planned.push((rng.gen_range(0..60), tag.clone(), None, at - (5 + k * 9) * DAY));
        }
        for k in 0..(6 + i % 5) {
            let author = if i % 2 == 0 { 50 + k % 2 } else { (k * 7 + i) % 50 };
            planned.push((author, tag.clone(), Some(next_incident()), at - rng.gen_range(HOUR..DAY)));
        }
        bursts.push(tag);
    }
    // Recurring: the same problem across 25–43 incidents over 90 days.
    let mut recurring = Vec::new();
    for i in 0..10 {
        let tag = format!("recurring-{i}");
        for _ in 0..(25 + 2 * i) {
            planned.push((
                rng.gen_range(0..60),
                tag.clone(),
                Some(next_incident()),
                at - rng.gen_range(2 * DAY..88 * DAY),
            ));
        }
        recurring.push(tag);
    }
    // A chatty responder: 200 posts in the last day, one tag, no incident.
    for k in 0..200 {
        planned.push((7, "chatty".to_string(), None, at - DAY + k * 400_000));
    }
    let mut posts: HashMap<String, Vec<(usize, i64)>> = HashMap::new();
    for chunk in planned.chunks(400) {
        db.write_blocking(|conn| {
            for (n, (author, tag, incident, t)) in chunk.iter().enumerate() {
                let input = PostInput {
                    body: format!("generated note {n} #{tag}"),
                    incident: incident.clone(),
                    created_at: Some(*t),
                    ..Default::default()
                };
                create_post(conn, &pattern(), &users[*author], &input)?;
            }
            Ok(())
        })
        .unwrap();
        for (author, tag, _, t) in chunk {
            posts.entry(tag.clone()).or_default().push((*author, *t));
        }
    }
    Corpus { at, bursts, recurring, posts }
}

/// Mastodon's ranking on the same data: distinct accounts in the last day against the
/// mean of the 28 days before, decayed from the hour of the peak.
fn mastodon_top10(corpus: &Corpus) -> Vec<String> {
    let mut scored: Vec<(String, f64)> = corpus
        .posts
        .iter()
        .map(|(tag, posts)| {
            let today: BTreeSet<usize> = posts
                .iter()
                .filter(|(_, t)| *t >= corpus.at - DAY && *t < corpus.at)
                .map(|(a, _)| *a)
                .collect();
            let mut per_day = vec![BTreeSet::new(); 28];
            for (a, t) in posts {
                let days_ago = (corpus.at - DAY - t).div_euclid(DAY);
                if (0..28).contains(&days_ago) {
                    per_day[days_ago as usize].insert(*a);
                }
            }
            let expected = per_day.iter().map(|s| s.len() as f64).sum::<f64>() / 28.0;
            let peak = posts.iter().filter(|(_, t)| *t < corpus.at).map(|(_, t)| *t).max().unwrap_or(0);
            let hours_since = ((corpus.at - peak) / HOUR) as f64;
            (tag.clone(), i2i::trends::score::mastodon_score(today.len() as u64, expected, hours_since))
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.into_iter().take(10).map(|(t, _)| t).collect()
}

fn names(view: &Value) -> Vec<String> {
    view["items"].as_array().unwrap().iter().map(|i| i["tag"]["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn injected_bursts_and_recurring_tags_are_found_exactly() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let corpus = corpus(&app.db());
    let at = i2i::domain::time::format_ms(corpus.at);

    let trending = app.get_json(&format!("/api/v1/trends/tags?window=24h&limit=10&at={at}"), &admin).await;
    let top = names(&trending);
    let precision = i2i::trends::score::precision_at_k(&top, &corpus.bursts, 10);
    let mastodon = i2i::trends::score::precision_at_k(&mastodon_top10(&corpus), &corpus.bursts, 10);
    eprintln!("trending precision@10: i2i {precision:.2}, Mastodon (o−e)²/e {mastodon:.2}");
    assert_eq!(precision, 1.0, "{top:?}");
    assert!(precision > mastodon, "i2i {precision} vs Mastodon {mastodon}");
    assert!(!top.contains(&"chatty".to_string()));
    let first = &trending["items"][0];
    for field in
        ["score", "observed", "expected", "stddev", "authors", "incidents", "posts", "first_seen", "new"]
    {
        assert!(first.get(field).is_some(), "{field} missing in {first}");
    }
    assert_eq!(first["sparkline"]["points"].as_array().unwrap().len(), 24);
    assert_eq!(first["new"], false, "burst tags were seen weeks before");
    assert_eq!(trending["window"]["to"], at);

    // A chatty responder alone never trends, whatever the list length.
    let long = app.get_json(&format!("/api/v1/trends/tags?window=24h&limit=100&at={at}"), &admin).await;
    assert!(!names(&long).contains(&"chatty".to_string()));

    let recurring =
        app.get_json(&format!("/api/v1/trends/recurring?window=90d&limit=10&at={at}"), &admin).await;
    let top = names(&recurring);
    assert_eq!(i2i::trends::score::precision_at_k(&top, &corpus.recurring, 10), 1.0, "{top:?}");
    assert_eq!(top[0], "recurring-9", "the most incidents first");
    assert_eq!(recurring["items"][0]["incidents"], 43);
    assert_eq!(recurring["items"][0]["evidence"].as_array().unwrap().len(), 20);

    // Asking about a moment before the bursts shows none of them.
    let earlier = i2i::domain::time::format_ms(corpus.at - 3 * DAY);
    let before = app.get_json(&format!("/api/v1/trends/tags?window=24h&limit=10&at={earlier}"), &admin).await;
    assert!(names(&before).iter().all(|n| !n.starts_with("burst-")), "{:?}", names(&before));
}

#[tokio::test]
async fn per_tag_views_return_exact_counts() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let db = app.db();
    let users = make_users(&db, &["ann", "ben"]);
    // 2024-03-04 is a Monday.
    let monday = 1_709_510_400_000i64;
    let notes = [
        (0, "login loop on kiosks #sso #kiosk", Some("INC-1"), monday + 9 * HOUR),
        (1, "kiosk login loop again #sso #kiosk", Some("INC-2"), monday + 9 * HOUR + 60_000),
        (0, "mfa prompt missing #sso #mfa", Some("INC-2"), monday + DAY + 14 * HOUR),
        (1, "printer jam #printing", None, monday + 2 * DAY),
        (0, "badge reader offline #physical", None, monday + 8 * DAY + 9 * HOUR),
    ];
    db.write_blocking(|conn| {
        for (author, body, incident, t) in notes {
            let input = PostInput {
                body: body.into(),
                incident: incident.map(String::from),
                created_at: Some(t),
                ..Default::default()
            };
            create_post(conn, &pattern(), &users[author], &input)?;
        }
        Ok(())
    })
    .unwrap();
    let to = "2024-03-18T00:00:00Z";
    // Distinctive terms compare with the search index's counts: let it catch up first.
    app.search_until(&admin, "", std::time::Duration::from_secs(30), |a| a["total"] == 5).await;

    let history = app
        .get_json(&format!("/api/v1/tags/sso/history?interval=day&from=2024-03-04T00:00:00Z&to={to}"), &admin)
        .await;
    let counts: Vec<i64> =
        history["points"].as_array().unwrap().iter().map(|p| p["posts"].as_i64().unwrap()).collect();
    assert_eq!(counts.len(), 14);
    assert_eq!(&counts[..3], &[2, 1, 0]);
    assert_eq!(history["points"][0]["t"], "2024-03-04T00:00:00Z");
    let weeks = app
        .get_json(
            &format!("/api/v1/tags/sso/history?interval=week&from=2024-03-04T00:00:00Z&to={to}"),
            &admin,
        )
        .await;
    let weekly: Vec<i64> =
        weeks["points"].as_array().unwrap().iter().map(|p| p["posts"].as_i64().unwrap()).collect();
    assert_eq!(weekly, vec![3, 0]);

    let related = app.get_json(&format!("/api/v1/tags/sso/related?window=30d&at={to}&min=1"), &admin).await;
    assert_eq!(related["total_posts"], 5);
    assert_eq!(related["tag_posts"], 3);
    let kiosk = &related["items"][0];
    assert_eq!(kiosk["tag"]["name"], "kiosk");
    assert_eq!(kiosk["together"], 2);
    let expected_npmi = i2i::trends::score::npmi(5, 3, 2, 2).unwrap();
    assert!((kiosk["npmi"].as_f64().unwrap() - expected_npmi).abs() < 1e-9);
    assert_eq!(related["items"][1]["tag"]["name"], "mfa");

    let rhythm = app.get_json(&format!("/api/v1/tags/sso/rhythm?window=30d&at={to}"), &admin).await;
    assert_eq!(rhythm["by_weekday"], json!([2, 1, 0, 0, 0, 0, 0]));
    assert_eq!(rhythm["by_hour"][9], 2);
    assert_eq!(rhythm["by_hour"][14], 1);

    let pairs = app.get_json(&format!("/api/v1/trends/pairs?window=30d&at={to}&min=2"), &admin).await;
    assert_eq!(pairs["strongest"].as_array().unwrap().len(), 1);
    assert_eq!(pairs["strongest"][0]["together"], 2);
    assert_eq!(pairs["emerging"][0]["before"], 0);

    let distinct = app.get_json("/api/v1/incidents/INC-2/distinctive", &admin).await;
    let words: Vec<&str> =
        distinct["words"].as_array().unwrap().iter().map(|w| w["term"].as_str().unwrap()).collect();
    assert!(words.contains(&"mfa") && words.contains(&"kiosk"), "{words:?}");
    assert!(!words.contains(&"printer"));
    let mfa = distinct["words"].as_array().unwrap().iter().find(|w| w["term"] == "mfa").unwrap();
    assert_eq!((mfa["fg_count"].as_u64(), mfa["fg_total"].as_u64()), (Some(1), Some(2)));
    let tag_view = app.get_json("/api/v1/tags/kiosk/distinctive", &admin).await;
    assert_eq!(tag_view["subject"], "#kiosk");

    expect_error(app.get("/api/v1/tags/nope/history", &admin).await, StatusCode::NOT_FOUND).await;
    let (_, body) = expect_error(
        app.get("/api/v1/trends/tags?window=forever", &admin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "window");
    expect_error(
        app.get("/api/v1/tags/sso/history?interval=hour&from=2000-01-01", &admin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_error(app.get("/api/v1/trends/tags?at=yesterday", &admin).await, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
}

#[tokio::test]
async fn on_the_shared_history_recurring_matches_a_direct_count() {
    let Some(data) = shared_data() else { return };
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let file = std::io::BufReader::new(std::fs::File::open(data).unwrap());
    i2i::transfer::import(&app.db(), &pattern(), file, |_, _| {}).unwrap();
    let recurring = app.get_json("/api/v1/trends/recurring?window=36500d&limit=10", &admin).await;
    // The same count straight from posts: distinct incidents per tag.
    let counts: HashMap<String, i64> = app
        .db()
        .read_blocking(|conn| {
            use diesel::prelude::*;
            use i2i::db::schema::{post_tags, posts, tags};
            let rows: Vec<(String, i64)> = post_tags::table
                .inner_join(posts::table)
                .inner_join(tags::table)
                .filter(posts::incident_id.is_not_null())
                .group_by(tags::key)
                .select((tags::key, diesel::dsl::count(posts::incident_id).aggregate_distinct()))
                .load(conn)?;
            Ok(rows.into_iter().collect())
        })
        .unwrap();
    let mut expected: Vec<i64> = counts.values().copied().collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    let items = recurring["items"].as_array().unwrap();
    let got: Vec<i64> = items.iter().map(|i| i["incidents"].as_i64().unwrap()).collect();
    assert_eq!(got, expected[..10].to_vec());
    for item in items {
        let name = item["tag"]["name"].as_str().unwrap();
        assert_eq!(item["incidents"].as_i64(), counts.get(name).copied(), "{name}");
    }
    assert!(got[0] > 100, "components recur across hundreds of incidents");
}

#[tokio::test]
async fn the_trends_and_tag_pages_show_the_views_as_charts() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let db = app.db();
    let users = make_users(&db, &["ann", "ben", "cat", "dan"]);
    let now = i2i::db::now_ms();
    db.write_blocking(|conn| {
        for (i, user) in users.iter().enumerate() {
            for k in 0..2 {
                let input = PostInput {
                    body: format!("kiosk login loop {i}{k} #kiosk-login #sso"),
                    incident: Some(format!("INC-{}", 10 + i * 2 + k)),
                    created_at: Some(now - (2 + i as i64) * HOUR),
                    ..Default::default()
                };
                create_post(conn, &pattern(), user, &input)?;
            }
        }
        Ok(())
    })
    .unwrap();
    app.log_in_page("admin", crate::helpers::ADMIN_PASSWORD).await;
    let trends = app.client.get(app.url("/trends")).send().await.unwrap();
    assert_eq!(trends.status(), StatusCode::OK);
    let html = trends.text().await.unwrap();
    assert!(
        html.contains(
            r#"<a class="tag" href="/tags/kiosk-login">#kiosk-login</a> <span class="badge">new</span>"#
        ),
        "{html}"
    );
    assert!(html.contains("<polyline points="), "sparklines are drawn");
    assert!(html.contains("8 incidents"), "recurring shows its incident count");

    let tag = app.client.get(app.url("/tags/kiosk-login?interval=week")).send().await.unwrap();
    assert_eq!(tag.status(), StatusCode::OK);
    let html = tag.text().await.unwrap();
    for expected in
        ["Posts per week", "By hour of day (UTC)", "By day of week (UTC)", "Goes with", "#sso", "INC-17"]
    {
        assert!(html.contains(expected), "{expected} missing");
    }
    assert!(html.contains("<rect "), "bars are drawn");
}

/// One live post as the direct counts see it: tag key, author, incident, hour.
type Seen = (String, i64, Option<i64>, i64);

fn live_posts(db: &Db) -> (Vec<Seen>, HashMap<i64, String>, HashMap<String, i64>) {
    use diesel::prelude::*;
    use i2i::db::schema::{incidents, post_tags, posts, tags};
    db.read_blocking(|conn| {
        let rows: Vec<(String, i64, Option<i64>, i64)> = post_tags::table
            .inner_join(posts::table)
            .inner_join(tags::table)
            .filter(posts::deleted_at.is_null())
            .select((tags::key, posts::author_id, posts::incident_id, posts::created_at))
            .load(conn)?;
        let seen = rows.into_iter().map(|(t, a, i, c)| (t, a, i, c.div_euclid(HOUR))).collect();
        let keys: HashMap<i64, String> =
            incidents::table.select((incidents::id, incidents::key)).load(conn)?.into_iter().collect();
        let ids: HashMap<String, i64> =
            tags::table.select((tags::key, tags::id)).load(conn)?.into_iter().collect();
        Ok((seen, keys, ids))
    })
    .unwrap()
}

/// Distinct authors and incidents, posts and the last hour per tag within `[start, end)`.
#[derive(Debug, Default, Clone, PartialEq)]
struct Direct {
    authors: BTreeSet<i64>,
    incidents: BTreeMap<i64, i64>,
    posts: i64,
    last: i64,
}

fn direct(posts: &[Seen], start: i64, end: i64) -> BTreeMap<String, Direct> {
    let mut out: BTreeMap<String, Direct> = BTreeMap::new();
    for (tag, author, incident, hour) in posts.iter().filter(|p| p.3 >= start && p.3 < end) {
        let d = out.entry(tag.clone()).or_default();
        d.authors.insert(*author);
        if let Some(i) = incident {
            let first = d.incidents.entry(*i).or_insert(*hour);
            *first = (*first).min(*hour);
        }
        d.posts += 1;
        d.last = d.last.max(*hour);
    }
    out
}

/// The distinct counts the views add up from "last seen" counters and the spans seen again
/// later, the recurring list with its evidence, and the pruned trending list all equal
/// counts taken straight from the posts, for windows aligned or not to days and weeks,
/// ending now or in the past with activity after them.
#[test]
fn views_equal_direct_counts_over_many_windows() {
    use i2i::trends::rollups::Member;
    use i2i::trends::views;
    use i2i::trends::windows::Window;

    let scratch = ScratchDb::new();
    let db = &scratch.db;
    let corpus = corpus(db);
    // Activity after `at` on incidents and tags seen before it: members seen again later.
    let users = make_users(db, &["late0", "late1"]);
    db.write_blocking(|conn| {
        for k in 0..12i64 {
            let input = PostInput {
                body: format!("again {k} #steady-{:02} #burst-{}", k % 6, k % 3),
                incident: Some(format!("GEN-{}", 1 + k % 9)),
                created_at: Some(corpus.at + (k * 5 + 1) * HOUR),
                ..Default::default()
            };
            create_post(conn, &pattern(), &users[(k % 2) as usize], &input)?;
        }
        Ok(())
    })
    .unwrap();
    let (posts, incident_keys, tag_ids) = live_posts(db);
    let end = corpus.at / HOUR;
    // Windows that end before this hour (less a minute) have settled: their sliding counts
    // can be kept.
    let now_hour = (i2i::db::now_ms() - 61_000) / HOUR;
    let windows = [
        (end - 24, end),
        (end - 24 * 7, end),
        (end - 24 * 90, end),
        (end - 24 * 13 - 5, end - 3),
        (end - 24 * 20 - 7, end - 24 * 2 - 7),
        (end - 24 * 3, end + 24 * 3),
        (end - 24 * 36_500, end + 24 * 2),
        (end - 300, end - 299),
    ];
    for (start, stop) in windows {
        let w = Window { start_hour: start, end_hour: stop };
        let expected = direct(&posts, start, stop);
        let by_id = |counts: HashMap<i64, i64>| -> BTreeMap<String, i64> {
            let names: HashMap<i64, &String> = tag_ids.iter().map(|(k, v)| (*v, k)).collect();
            counts.into_iter().filter(|(_, n)| *n > 0).map(|(t, n)| (names[&t].clone(), n)).collect()
        };
        let (authors, incidents) = db
            .read_blocking(|conn| {
                Ok((
                    views::members_in(conn, &[Member::Author], w, None)?,
                    views::members_in(conn, &[Member::Incident], w, None)?,
                ))
            })
            .unwrap();
        let want_authors: BTreeMap<String, i64> =
            expected.iter().map(|(t, d)| (t.clone(), d.authors.len() as i64)).collect();
        let want_incidents: BTreeMap<String, i64> = expected
            .iter()
            .filter(|(_, d)| !d.incidents.is_empty())
            .map(|(t, d)| (t.clone(), d.incidents.len() as i64))
            .collect();
        assert_eq!(by_id(authors), want_authors, "authors in {w:?}");
        assert_eq!(by_id(incidents), want_incidents, "incidents in {w:?}");
        // The other way to the same counts (taken when more happened after `w` than in it).
        let some: Vec<i64> =
            ["steady-03", "burst-1", "recurring-2", "chatty"].iter().map(|t| tag_ids[*t]).collect();
        let (authors, incidents, few) = db
            .read_blocking(|conn| {
                Ok((
                    views::distinct_in_hours(conn, Member::Author, w, None)?,
                    views::distinct_in_hours(conn, Member::Incident, w, None)?,
                    views::distinct_in_hours(conn, Member::Author, w, Some(&some))?,
                ))
            })
            .unwrap();
        assert_eq!(by_id(authors), want_authors, "authors from hours in {w:?}");
        assert_eq!(by_id(incidents), want_incidents, "incidents from hours in {w:?}");
        let want_few: BTreeMap<String, i64> = want_authors
            .iter()
            .filter(|(t, _)| some.contains(&tag_ids[*t]))
            .map(|(t, n)| (t.clone(), *n))
            .collect();
        assert_eq!(by_id(few), want_few, "some authors from hours in {w:?}");

        // From the rollups, and from the sliding counts (when they can be kept for `w`,
        // built here, then asked again from what is kept): the same answer.
        let sliding = i2i::trends::sliding::SlidingCache::default();
        let recurring = db.read_blocking(|conn| views::recurring(conn, w, 100, None)).unwrap();
        let keepable = w.hours() <= i2i::trends::sliding::MAX_WINDOW_HOURS && stop <= now_hour;
        for round in 0..2 {
            let again = db.read_blocking(|conn| views::recurring(conn, w, 100, Some(&sliding))).unwrap();
            assert_eq!(format!("{:?}", again.items), format!("{:?}", recurring.items), "round {round} {w:?}");
            assert_eq!(sliding.len(), if keepable { 2 } else { 0 }, "{w:?}");
        }
        let mut want: Vec<(&String, &Direct)> =
            expected.iter().filter(|(_, d)| !d.incidents.is_empty()).collect();
        want.sort_by(|a, b| {
            (b.1.incidents.len(), b.1.authors.len(), b.1.last).cmp(&(
                a.1.incidents.len(),
                a.1.authors.len(),
                a.1.last,
            ))
        });
        assert_eq!(recurring.items.len(), want.len().min(100), "{w:?}");
        for item in &recurring.items {
            let d = &expected[&item.tag.name];
            assert_eq!(item.incidents, d.incidents.len() as i64, "{} in {w:?}", item.tag.name);
            assert_eq!(item.authors, d.authors.len() as i64, "{} in {w:?}", item.tag.name);
            assert_eq!(item.posts, d.posts, "{} in {w:?}", item.tag.name);
            assert_eq!(item.last_seen, i2i::domain::time::format_ms(d.last * HOUR));
            let mut firsts: Vec<(i64, i64)> = d.incidents.iter().map(|(i, h)| (*h, *i)).collect();
            firsts.sort_unstable_by(|a, b| b.cmp(a));
            let evidence: Vec<(String, String)> = firsts
                .iter()
                .take(20)
                .map(|(h, i)| (incident_keys[i].clone(), i2i::domain::time::format_ms(h * HOUR)))
                .collect();
            let got: Vec<(String, String)> =
                item.evidence.iter().map(|e| (e.key.clone(), e.date.clone())).collect();
            assert_eq!(got, evidence, "evidence of {} in {w:?}", item.tag.name);
        }

        // Trending without the pruning: every tag's windows counted directly.
        let hours = stop - start;
        let windows_back = (28 * 24 / hours).clamp(1, 28);
        let slots: Vec<BTreeMap<String, Direct>> =
            (0..=windows_back).map(|k| direct(&posts, start - k * hours, stop - k * hours)).collect();
        let activity =
            |d: Option<&Direct>| d.map(|d| (d.authors.len() + d.incidents.len()) as u64).unwrap_or(0);
        let mut want: Vec<(String, f64, u64)> = slots[0]
            .iter()
            .filter_map(|(tag, d)| {
                let baseline: Vec<u64> = slots[1..].iter().map(|s| activity(s.get(tag))).collect();
                let score = i2i::trends::score::trend_score(activity(Some(d)), &baseline);
                score.trending.then(|| (tag.clone(), score.score, score.observed))
            })
            .collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then(tag_ids[&a.0].cmp(&tag_ids[&b.0])));
        let trending = db.read_blocking(|conn| views::trending(conn, w, 100, None)).unwrap();
        let got: Vec<(String, f64, u64)> =
            trending.items.iter().map(|i| (i.tag.name.clone(), i.score.score, i.score.observed)).collect();
        assert_eq!(got, want, "trending in {w:?}");
        let slid = db.read_blocking(|conn| views::trending(conn, w, 100, Some(&sliding))).unwrap();
        assert_eq!(format!("{:?}", slid.items), format!("{:?}", trending.items), "trending slid in {w:?}");
        // The same kinds and length again: two more, over the baseline windows, unless the
        // recurring ones (built a margin further back than asked) already reach them.
        let reused = windows_back * hours <= i2i::trends::sliding::MARGIN_HOURS;
        let kept = match (keepable, reused) {
            (false, _) => 0,
            (true, true) => 2,
            (true, false) => 4,
        };
        assert_eq!(sliding.len(), kept, "{w:?}");
        for item in &trending.items {
            assert_eq!(item.posts, slots[0][&item.tag.name].posts);
        }
    }
}

/// The migration that adds the coarse rollups fills them, on a database that already has
/// posts, with exactly what keeping them post by post gives.
#[test]
fn the_coarse_rollup_migration_fills_them_exactly() {
    use diesel::connection::SimpleConnection;
    use i2i::db::DbConn;

    let scratch = ScratchDb::new();
    let db = &scratch.db;
    corpus(db);
    let kept = db.read_blocking(|conn| Ok(rollups::snapshot(conn)?)).unwrap();
    assert!(!kept.incident_spans.is_empty() && !kept.weeks.is_empty());
    db.write_blocking(|conn| {
        let (down, up) = match conn {
            DbConn::Sqlite(_) => (
                include_str!("../../migrations/sqlite/2026-11-21-000004_coarse_rollups/down.sql"),
                include_str!("../../migrations/sqlite/2026-11-21-000004_coarse_rollups/up.sql"),
            ),
            DbConn::Pg(_) => (
                include_str!("../../migrations/postgres/2026-11-21-000004_coarse_rollups/down.sql"),
                include_str!("../../migrations/postgres/2026-11-21-000004_coarse_rollups/up.sql"),
            ),
        };
        conn.batch_execute(down)?;
        conn.batch_execute(up)?;
        Ok(())
    })
    .unwrap();
    let filled = db.read_blocking(|conn| Ok(rollups::snapshot(conn)?)).unwrap();
    assert_eq!(filled, kept);
}

#[tokio::test]
async fn a_past_windows_answer_outlives_live_posts_but_not_a_change_to_the_past() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let now = i2i::db::now_ms();
    // A window that ended at the start of the previous hour: settled, whatever the minute.
    let end = (now.div_euclid(HOUR) - 1) * HOUR;
    let at = i2i::domain::time::format_ms(end);
    let path = format!("/api/v1/trends/recurring?window=24h&at={at}");
    app.import_note("ann", "first seen #old-pain", "INC-1", end - 3 * HOUR);
    app.import_note("bob", "again #old-pain", "INC-2", end - 2 * HOUR);
    let first = app.get_json(&path, &admin).await;
    assert_eq!(names(&first), vec!["old-pain"]);

    // Live posts land in the current hour: the remembered answer stands, computed once.
    for n in 0..3 {
        app.create_post(&admin, json!({"body": format!("live note {n} #old-pain #live INC-{n}")})).await;
    }
    let again = app.get_json(&path, &admin).await;
    assert_eq!(again, first, "a live post recomputed (or changed) a window that had ended");

    // A backdated note changes the past: the next answer is computed afresh and has it.
    app.import_note("cy", "late report #old-pain #backfilled", "INC-3", end - HOUR);
    let after = app.get_json(&path, &admin).await;
    assert_ne!(after["window"]["computed_at"], first["window"]["computed_at"]);
    assert_eq!(names(&after), vec!["old-pain", "backfilled"]);
    assert_eq!(after["items"][0]["incidents"], 3);

    // So does an incident's new title, shown as evidence.
    let renamed = app.patch("/api/v1/incidents/INC-3", &admin, &json!({"title": "Checkout outage"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let retitled = app.get_json(&path, &admin).await;
    let titles: Vec<&str> = retitled["items"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Checkout outage"), "{titles:?}");

    // A window still open (ending in the future) follows every post.
    let open = format!(
        "/api/v1/trends/recurring?window=24h&at={}",
        i2i::domain::time::format_ms((now.div_euclid(HOUR) + 2) * HOUR)
    );
    let before = app.get_json(&open, &admin).await;
    assert!(!names(&before).contains(&"fresh".to_string()));
    app.create_post(&admin, json!({"body": "just now #fresh INC-9"})).await;
    let later = app.get_json(&open, &admin).await;
    assert!(names(&later).contains(&"fresh".to_string()), "{later}");
}

/// The default trend views (the API without parameters; the Trends page asks for the same
/// windows) are computed by the background warmer, not by the first person to open them,
/// and computed again by it once the data behind them changes.
#[tokio::test]
async fn the_default_views_are_computed_before_anyone_asks() {
    // For a minute after the hour turns, answers about the hour that has just ended follow
    // every commit (on PostgreSQL any commit in the cluster, a parallel test's too), and at
    // the turn the windows move: start where the next seconds are clear of both.
    let (clear_from, clear_until) = (70_000, HOUR - 15_000);
    let into_hour = i2i::db::now_ms().rem_euclid(HOUR);
    let wait_ms = match into_hour {
        t if t < clear_from => clear_from - t,
        t if t > clear_until => HOUR - t + clear_from,
        _ => 0,
    };
    tokio::time::sleep(std::time::Duration::from_millis(wait_ms as u64)).await;
    let app = TestApp::spawn_with(|config| config.trends_warm_seconds = 1).await;
    let admin = app.setup_admin().await;
    let imported_at = i2i::db::now_ms();
    // A backdated note changes the past, so every remembered answer about it is outdated.
    app.import_note("ann", "seen this morning #warmed-up", "INC-1", imported_at - 3 * HOUR);
    // Several warmer rounds; nothing is written meanwhile.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let asked_at = i2i::db::now_ms();
    for path in ["/api/v1/trends/tags", "/api/v1/trends/recurring", "/api/v1/trends/pairs"] {
        let view = app.get_json(path, &admin).await;
        let text = view["window"]["computed_at"].as_str().expect("computed_at");
        let computed_at = i2i::domain::time::parse_timestamp("computed_at", text).expect("a time");
        assert!(computed_at < asked_at, "{path}: computed when asked ({text}), not ahead of it");
        assert!(computed_at >= imported_at, "{path}: an answer from before the import ({text})");
    }
    let recurring = app.get_json("/api/v1/trends/recurring", &admin).await;
    assert_eq!(recurring["items"][0]["tag"]["name"], "warmed-up", "{recurring}");
}
