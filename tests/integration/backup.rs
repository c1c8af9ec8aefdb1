//! `i2i backup` taken under load and `i2i restore` into a fresh data directory give an
//! instance holding exactly a prefix of what was acknowledged, whose index and trend rollups
//! agree with its database. On PostgreSQL both commands print the pg_dump / pg_restore
//! commands and change nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::node::{free_port, run_i2i, wait_index_matches, Acked, Ingest, Node};
use crate::helpers::{expect_json, ADMIN_PASSWORD};

fn on_postgres() -> bool {
    std::env::var("I2I_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    value: i64,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap_or_else(|err| panic!("{sql}: {err}")).value
}

fn sqlite(path: &Path) -> SqliteConnection {
    assert!(path.exists(), "{} exists", path.display());
    SqliteConnection::establish(path.to_str().unwrap()).unwrap()
}

/// Live posts of a SQLite file: id → body.
fn posts_in(path: &Path) -> BTreeMap<i64, String> {
    let db = i2i::db::Db::connect_for_tool(&format!("sqlite://{}", path.display())).unwrap();
    db.read_blocking(|conn| {
        let rows = i2i::db::posts::page_for_export(conn, 0, 1_000_000)?;
        Ok(rows.into_iter().map(|p| (p.id, p.body)).collect())
    })
    .unwrap()
}

async fn setup_admin(client: &reqwest::Client, node: &Node) -> String {
    let response = client
        .post(node.url("/api/v1/setup"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::CREATED).await["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_a_consistent_prefix_of_what_was_acknowledged() {
    if on_postgres() {
        eprintln!("skipping: SQLite only (on PostgreSQL, i2i backup points to pg_dump)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (source_dir, restored_dir) = (dir.path().join("source"), dir.path().join("restored"));
    let backup = dir.path().join("i2i-backup.db");
    let backup_arg = backup.to_str().unwrap();
    let client = reqwest::Client::new();

    // A live node on its own SQLite file, four writers posting while the backup runs.
    let source = Node::start(None, &source_dir, free_port()).await;
    let admin = setup_admin(&client, &source).await;
    let ingest = Ingest::start(&source.base, &admin, 4, "backup", "backup");
    ingest.wait_for(50).await;
    let before_backup = ingest.snapshot();
    let output = run_i2i(None, &source_dir, &["backup", backup_arg]).await;
    let during_backup = ingest.count() - before_backup.len();
    assert!(output.status.success(), "backup failed: {}", text(&output.stderr));
    let report = text(&output.stdout);
    assert!(report.contains("backed up to") && report.contains(" posts"), "{report}");
    let concurrent = ingest.finish().await;

    // Written after the backup finished: none of these may be in it.
    let mut after_backup = BTreeSet::new();
    for n in 0..10 {
        let response = client
            .post(source.url("/api/v1/posts"))
            .bearer_auth(&admin)
            .json(&json!({"body": format!("after-{n} written after the backup #backup")}))
            .send()
            .await
            .unwrap();
        after_backup.insert(expect_json(response, StatusCode::CREATED).await["id"].as_i64().unwrap());
    }
    let again = run_i2i(None, &source_dir, &["backup", backup_arg]).await;
    assert!(!again.status.success() && text(&again.stderr).contains("--force"), "{}", text(&again.stderr));
    let busy = run_i2i(None, &source_dir, &["restore", "--force", backup_arg]).await;
    assert!(!busy.status.success(), "restore under a running server must refuse");
    assert!(text(&busy.stderr).contains("stop it first"), "{}", text(&busy.stderr));
    source.stop().await;

    let integrity: Vec<String> =
        diesel::sql_query("SELECT integrity_check AS value FROM pragma_integrity_check")
            .load::<Line>(&mut sqlite(&backup))
            .unwrap()
            .into_iter()
            .map(|r| r.value)
            .collect();
    assert_eq!(integrity, ["ok"], "the backup passes PRAGMA integrity_check");

    // Restore refuses what is not an i2i database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database at all").unwrap();
    let refused = run_i2i(None, &restored_dir, &["restore", junk.to_str().unwrap()]).await;
    assert!(!refused.status.success() && text(&refused.stderr).contains("not a SQLite database"));
    let foreign = dir.path().join("foreign.db");
    diesel::sql_query("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        .execute(&mut sqlite_new(&foreign))
        .unwrap();
    let refused = run_i2i(None, &restored_dir, &["restore", foreign.to_str().unwrap()]).await;
    assert!(!refused.status.success() && text(&refused.stderr).contains("not an i2i database"));
    assert!(!restored_dir.join("i2i.db").exists(), "a refused restore writes nothing");

    let output = run_i2i(None, &restored_dir, &["restore", backup_arg]).await;
    assert!(output.status.success(), "restore failed: {}", text(&output.stderr));
    let again = run_i2i(None, &restored_dir, &["restore", backup_arg]).await;
    assert!(!again.status.success() && text(&again.stderr).contains("--force"), "{}", text(&again.stderr));

    // The restored database: everything acknowledged before the backup started, nothing
    // written after it ended, and of the posts written meanwhile exactly those up to some
    // point (one writer commits them in id order, so a snapshot is an id prefix).
    let restored_db = restored_dir.join("i2i.db");
    let restored = posts_in(&restored_db);
    for post in &before_backup {
        assert_eq!(
            restored.get(&post.id),
            Some(&post.body),
            "post {} acknowledged before the backup",
            post.id
        );
    }
    assert!(after_backup.iter().all(|id| !restored.contains_key(id)), "no post from after the backup");
    let newest = *restored.keys().max().unwrap();
    let expected: BTreeMap<i64, String> =
        concurrent.iter().filter(|p| p.id <= newest).map(|Acked { id, body }| (*id, body.clone())).collect();
    assert_eq!(restored, expected, "the restored posts are a prefix of the acknowledged ones");

    // A node on the restored data directory: the index is rebuilt to equal the database,
    // and the trend rollups count what the posts table holds.
    let node = Node::start(None, &restored_dir, free_port()).await;
    let ids: BTreeSet<i64> = restored.keys().copied().collect();
    let converged = wait_index_matches(&client, &node.base, &admin, &ids, Duration::from_secs(20)).await;
    let answer: Value = client
        .get(node.url("/api/v1/search?q=%23backup&limit=1"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    node.stop().await;
    let converged = converged.expect("every restored post is searchable, once");
    assert_eq!(answer["total"], ids.len(), "#backup finds every restored post");
    let mut conn = sqlite(&restored_db);
    let live = count(&mut conn, "SELECT COUNT(*) AS value FROM posts WHERE deleted_at IS NULL");
    assert_eq!(live, ids.len() as i64);
    assert_eq!(count(&mut conn, "SELECT COALESCE(SUM(posts), 0) AS value FROM post_hours"), live);
    let tagged = "SELECT COALESCE(SUM(h.posts), 0) AS value FROM tag_hours h JOIN tags t ON t.id = h.tag_id \
                  WHERE t.key = 'backup'";
    assert_eq!(count(&mut conn, tagged), live, "the #backup rollup counts every restored post");
    drop(conn);

    // An index copied in by hand from the source, whose checkpoint lies beyond this
    // database's feed, is rebuilt rather than resumed (resuming would skip the feed up to it).
    std::fs::remove_dir_all(restored_dir.join("index")).unwrap();
    copy_dir(&source_dir.join("index"), &restored_dir.join("index"));
    let node = Node::start(None, &restored_dir, free_port()).await;
    let fresh = client
        .post(node.url("/api/v1/posts"))
        .bearer_auth(&admin)
        .json(&json!({"body": "written on the restored instance #backup"}))
        .send()
        .await
        .unwrap();
    let fresh = expect_json(fresh, StatusCode::CREATED).await["id"].as_i64().unwrap();
    let mut ids = ids;
    ids.insert(fresh);
    let matched = wait_index_matches(&client, &node.base, &admin, &ids, Duration::from_secs(20)).await;
    node.stop().await;
    assert!(matched.is_some(), "a foreign index is rebuilt from the restored database");

    eprintln!(
        "backup under load: {} acknowledged before it, {during_backup} while it ran, {} in it, \
         10 after it (none in it); restored index equal to the database in {:.2} s",
        before_backup.len(),
        restored.len(),
        converged.as_secs_f64()
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A new, empty SQLite file.
fn sqlite_new(path: &Path) -> SqliteConnection {
    SqliteConnection::establish(path.to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn on_postgresql_backup_and_restore_print_the_pg_commands_and_change_nothing() {
    // No server is needed: the commands must not even connect.
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://i2i:s3cret@db.internal:5432/i2i";
    let file = dir.path().join("i2i.dump");
    let file_arg = file.to_str().unwrap();
    let backup = run_i2i(Some(url), dir.path(), &["backup", file_arg]).await;
    assert!(!backup.status.success(), "backup on PostgreSQL exits non-zero");
    let advice = text(&backup.stderr);
    assert!(
        advice.contains(&format!("pg_dump -Fc -d 'postgres://i2i@db.internal:5432/i2i' -f '{file_arg}'")),
        "{advice}"
    );
    assert!(!advice.contains("s3cret"), "the password is not printed: {advice}");
    let restore = run_i2i(Some(url), dir.path(), &["restore", file_arg]).await;
    assert!(!restore.status.success(), "restore on PostgreSQL exits non-zero");
    let advice = text(&restore.stderr);
    assert!(
        advice.contains(&format!(
            "pg_restore --clean --if-exists --no-owner -d 'postgres://i2i@db.internal:5432/i2i' '{file_arg}'"
        )),
        "{advice}"
    );
    assert!(!file.exists(), "nothing was written");
}
