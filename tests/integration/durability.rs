//! The index never loses or duplicates a post: not across ten SIGKILLs under concurrent
//! ingest, not when `i2i reindex` is killed half-way, and not when many transactions commit
//! out of order (PostgreSQL). SIGTERM stops a node cleanly: requests in flight finish and the
//! index is committed up to the head of the feed before the process exits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::helpers::node::{free_port, indexed_total, run_i2i, wait_index_matches, Acked, Ingest, Node};
use crate::helpers::TestApp;

/// Every live post in the database: id → body.
fn database_posts(app: &TestApp) -> BTreeMap<i64, String> {
    app.db()
        .read_blocking(|conn| {
            let rows = i2i::db::posts::page_for_export(conn, 0, 1_000_000)?;
            Ok(rows.into_iter().map(|p| (p.id, p.body)).collect())
        })
        .unwrap()
}

fn database_ids(app: &TestApp) -> BTreeSet<i64> {
    database_posts(app).into_keys().collect()
}

/// Asserts every acknowledged post is in the database under its id, and no body (each
/// carries a unique marker) is stored twice.
fn assert_acked_kept_once(acked: &[Acked], in_db: &BTreeMap<i64, String>) {
    for post in acked {
        assert_eq!(in_db.get(&post.id), Some(&post.body), "acknowledged post {} is in the database", post.id);
    }
    let bodies: BTreeSet<&String> = in_db.values().collect();
    assert_eq!(bodies.len(), in_db.len(), "no post is stored twice");
}

/// What the stored checkpoint of the index under `data_dir` says, opened read-only.
fn stored_checkpoint(data_dir: &std::path::Path) -> (i2i::search::Checkpoint, u64) {
    let root = data_dir.join("index");
    let number = i2i::search::current_number(&root).expect("CURRENT names a generation");
    let (generation, checkpoint) = i2i::search::open_generation(&root, number).expect("the generation opens");
    (checkpoint, generation.reader.searcher().num_docs())
}

/// Cycles of SIGKILL under concurrent ingest, each on the same data directory.
const KILL_CYCLES: usize = 10;
/// Posts acknowledged in a cycle before its kill, so every kill lands mid-stream.
const POSTS_BEFORE_KILL: usize = 25;

#[tokio::test]
async fn ten_sigkills_under_concurrent_ingest_lose_and_duplicate_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let node_dir = app.data_dir().join("node");
    let port = free_port();
    let client = reqwest::Client::new();
    let mut acked = Vec::new();
    for cycle in 0..KILL_CYCLES {
        let node = Node::start(Some(&app.database_url), &node_dir, port).await;
        let ingest = Ingest::start(&node.base, &admin, 4, &format!("kill{cycle}"), "crash");
        ingest.wait_for(POSTS_BEFORE_KILL).await;
        node.kill(); // SIGKILL while four writers are mid-request: no shutdown, no final commit
        acked.extend(ingest.finish().await);
    }
    assert!(acked.len() >= KILL_CYCLES * POSTS_BEFORE_KILL);

    let node = Node::start(Some(&app.database_url), &node_dir, port).await;
    let in_db = database_posts(&app);
    assert_acked_kept_once(&acked, &in_db);
    let ids: BTreeSet<i64> = in_db.keys().copied().collect();
    let converged = wait_index_matches(&client, &node.base, &admin, &ids, Duration::from_secs(20)).await;
    let total = indexed_total(&client, &node.base, &admin).await;
    node.stop().await;
    let converged =
        converged.unwrap_or_else(|| panic!("index holds {total:?} documents, database {}", ids.len()));
    eprintln!(
        "{KILL_CYCLES} SIGKILLs: {} posts acknowledged, {} in the database, 0 lost, 0 duplicated; \
         index equal to the database {:.2} s after the last restart",
        acked.len(),
        in_db.len(),
        converged.as_secs_f64()
    );
}

#[tokio::test]
async fn sigterm_mid_burst_finishes_requests_commits_the_index_and_exits_cleanly() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let node_dir = app.data_dir().join("node");
    let log = app.data_dir().join("node.log");
    let port = free_port();
    let mut node = Node::start_logging(Some(&app.database_url), &node_dir, port, Some(&log)).await;
    let ingest = Ingest::start(&node.base, &admin, 8, "term", "shutdown");
    ingest.wait_for(40).await;
    let acked_before_signal = ingest.count();
    node.terminate();
    let signalled = Instant::now();
    let status =
        node.wait_exit(Duration::from_secs(10)).await.expect("the node exits within 10 s of SIGTERM");
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    let (acked, endings) = ingest.finish_with_endings().await;
    // actix drains on SIGTERM: a request being handled gets its whole response (with
    // `Connection: close`), and only then is the connection closed; new ones are refused.
    assert!(endings.iter().all(|ending| !ending.starts_with("201 without")), "{endings:?}");
    let cut: Vec<&String> = endings.iter().filter(|ending| !ending.starts_with("connect")).collect();

    let in_db = database_posts(&app);
    assert_acked_kept_once(&acked, &in_db);
    // A post committed without its 201 can only be one whose connection was cut.
    assert!(
        in_db.len() <= acked.len() + cut.len(),
        "{} in the database, {} acknowledged",
        in_db.len(),
        acked.len()
    );
    // The final commit happened: nothing committed lies beyond the stored checkpoint, and
    // the index holds exactly the database's posts without any restart catching up.
    let (checkpoint, documents) = stored_checkpoint(&node_dir);
    assert!(checkpoint.complete);
    let (behind, unreadable) = app
        .db()
        .read_blocking(move |conn| {
            let position = checkpoint.position;
            Ok((
                i2i::db::changes::after(conn, position, 10)?,
                i2i::db::changes::visible_after(conn, position)?,
            ))
        })
        .unwrap();
    let complete = behind.is_empty() && unreadable.is_empty();
    let log = std::fs::read_to_string(&log).unwrap();
    if !complete && app.database_url.starts_with("postgres") && log.contains("unreadable at shutdown") {
        // On PostgreSQL the feed is read below the cluster-wide oldest running transaction;
        // another database's long transaction (parallel tests' imports) can hold it back past
        // the bounded final drain. The node said so; what it missed is replayed on start.
        eprintln!("the final drain was held back by another transaction in the cluster; checking the replay");
        let node = Node::start(Some(&app.database_url), &node_dir, port).await;
        let ids: BTreeSet<i64> = in_db.keys().copied().collect();
        let client = reqwest::Client::new();
        let matched = wait_index_matches(&client, &node.base, &admin, &ids, Duration::from_secs(30)).await;
        node.stop().await;
        assert!(matched.is_some(), "the restarted node replays what the final commit missed");
    } else {
        assert!(complete, "changes after the checkpoint: {behind:?} {unreadable:?}; node log:\n{log}");
        assert_eq!(documents, in_db.len() as u64, "indexed documents equal database posts");
    }
    eprintln!(
        "SIGTERM mid-burst: exit 0 after {:.2} s; {} posts acknowledged ({} of them after the signal), \
         {} in the database; final commit covered all: {complete}; {} of {} writers then found the port closed, \
         the others' next request was cut: {cut:?}",
        took.as_secs_f64(),
        acked.len(),
        acked.len() - acked_before_signal,
        in_db.len(),
        endings.len() - cut.len(),
        endings.len(),
    );
}

/// Posts in the database before a reindex starts; enough that killing it lands mid-way
/// (4,000 were rebuilt within 0.3 s on a quiet machine), and at most the 10,000 a search
/// counts exactly.
const REINDEX_POSTS: usize = 9_000;
/// How long after its new generation appears the reindex is killed.
const REINDEX_KILL_AFTER: Duration = Duration::from_millis(100);

#[tokio::test]
async fn a_reindex_killed_midway_leaves_the_live_index_in_use_and_a_rerun_converges() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let lines: Vec<String> = (0..REINDEX_POSTS)
        .map(|n| {
            serde_json::json!({
                "author": format!("author{}", n % 50),
                "body": format!("imported note {n} about #reindex and INC-{}", n % 300),
                "incident": null,
                "created_at": "2024-05-01T12:00:00Z",
            })
            .to_string()
        })
        .collect();
    // In files of 500: on PostgreSQL one long import transaction would hold back every
    // other test's change feed (its xmin is cluster-wide) for its whole duration.
    let db = app.db();
    let dir = app.data_dir();
    tokio::task::spawn_blocking(move || {
        let pattern = regex::Regex::new(r"INC-\d+").unwrap();
        for (n, chunk) in lines.chunks(500).enumerate() {
            let file = dir.join(format!("seed-{n}.jsonl"));
            std::fs::write(&file, chunk.join("\n")).unwrap();
            i2i::transfer::import_file(&db, &pattern, &file, true, &dir).unwrap();
        }
    })
    .await
    .unwrap();

    // A node builds generation 1 and stops cleanly.
    let node_dir = app.data_dir().join("node");
    let port = free_port();
    let client = reqwest::Client::new();
    let node = Node::start(Some(&app.database_url), &node_dir, port).await;
    let ids = database_ids(&app);
    assert_eq!(ids.len(), REINDEX_POSTS);
    wait_index_matches(&client, &node.base, &admin, &ids, Duration::from_secs(30))
        .await
        .expect("the first build completes");
    node.stop().await;
    let root = node_dir.join("index");
    let live = i2i::search::current_number(&root).unwrap();

    // `i2i reindex`, SIGKILLed while it fills its new generation.
    let mut reindex = crate::helpers::node::i2i_command(Some(&app.database_url), &node_dir)
        .arg("reindex")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = i2i::search::generation_dir(&root, live + 1);
    let spawned = Instant::now();
    let deadline = spawned + Duration::from_secs(30);
    while !partial.join("meta.json").exists() {
        assert!(Instant::now() < deadline, "reindex never created {}", partial.display());
        assert!(reindex.try_wait().unwrap().is_none(), "reindex finished before it could be killed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Into the build (a full run takes over a second here, longer on a loaded machine).
    tokio::time::sleep(REINDEX_KILL_AFTER).await;
    assert!(reindex.try_wait().unwrap().is_none(), "reindex finished before it could be killed");
    reindex.kill().unwrap();
    reindex.wait().unwrap();
    let killed_after = spawned.elapsed();
    assert_eq!(i2i::search::current_number(&root), Some(live), "the killed reindex never swapped");
    assert!(partial.exists(), "its half-built generation is on disk");

    // Posts written while nobody indexes are replayed from the feed on the next start.
    let node = Node::start(Some(&app.database_url), &node_dir, port).await;
    let ingest = Ingest::start(&node.base, &admin, 2, "after-kill", "reindex");
    ingest.wait_for(10).await;
    let acked = ingest.finish().await;
    let in_db = database_posts(&app);
    assert_acked_kept_once(&acked, &in_db);
    let ids: BTreeSet<i64> = in_db.keys().copied().collect();
    wait_index_matches(&client, &node.base, &admin, &ids, Duration::from_secs(20))
        .await
        .expect("the old generation serves and catches up");
    assert_eq!(i2i::search::current_number(&root), Some(live));
    assert!(!partial.exists(), "the half-built generation was removed, never used");

    // Running reindex again, to completion, while the node serves: it switches over.
    let started = Instant::now();
    let output = run_i2i(Some(&app.database_url), &node_dir, &["reindex"]).await;
    let full_run = started.elapsed();
    assert!(output.status.success(), "reindex: {}", String::from_utf8_lossy(&output.stderr));
    let rebuilt = i2i::search::current_number(&root).unwrap();
    assert!(rebuilt > live, "a new generation, swapped in");
    wait_index_matches(&client, &node.base, &admin, &ids, Duration::from_secs(20))
        .await
        .expect("the rebuilt generation equals the database");
    let deadline = Instant::now() + Duration::from_secs(20);
    while i2i::search::highest_generation(&root) != rebuilt || root.join(format!("gen-{live}")).exists() {
        assert!(Instant::now() < deadline, "the node did not switch to generation {rebuilt}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.stop().await;
    let (checkpoint, documents) = stored_checkpoint(&node_dir);
    assert!(checkpoint.complete);
    assert_eq!(documents, ids.len() as u64);
    eprintln!(
        "reindex of {} posts SIGKILLed {:.2} s after start (a full run takes {:.2} s); \
         the old generation stayed live, the partial one was removed",
        ids.len(),
        killed_after.as_secs_f64(),
        full_run.as_secs_f64()
    );
}

#[tokio::test]
async fn transactions_committing_out_of_order_are_all_indexed() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let db = app.db();
    let author = db.read_blocking(|conn| Ok(i2i::db::users::by_username(conn, "admin")?.unwrap())).unwrap();
    let pattern = regex::Regex::new(r"INC-\d+").unwrap();
    // Eight writers whose transactions stay open for varying times after their insert,
    // so on PostgreSQL later sequence values often commit before earlier ones.
    let threads: Vec<_> = (0..8)
        .map(|writer| {
            let (db, author, pattern) = (db.clone(), author.clone(), pattern.clone());
            std::thread::spawn(move || {
                for n in 0..12 {
                    db.write_blocking(|conn| {
                        let input = i2i::app::posts::PostInput {
                            body: format!("writer {writer} note {n} #order"),
                            ..Default::default()
                        };
                        i2i::app::posts::create_post(conn, &pattern, &author, &input)?;
                        std::thread::sleep(Duration::from_millis(((writer * 7 + n * 13) % 20) as u64));
                        Ok(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let in_db = database_ids(&app);
    assert_eq!(in_db.len(), 96);
    let matched =
        wait_index_matches(&app.client, &app.address, &admin, &in_db, Duration::from_secs(20)).await;
    assert!(matched.is_some(), "all 96 indexed, none missed, none twice");
}
