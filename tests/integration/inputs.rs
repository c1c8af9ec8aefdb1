//! Files handed to the `i2i` command: a backup whose rows point at rows it lacks is refused
//! before it replaces anything, and an import file that starts with a UTF-8 byte order mark
//! imports every line, on the ordinary and both bulk paths.

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use serde_json::json;

use crate::helpers::node::run_i2i;
use crate::helpers::TestApp;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[tokio::test]
async fn restore_refuses_a_backup_with_dangling_references() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("source"), dir.path().join("target"));
    let notes = dir.path().join("notes.jsonl");
    let line = json!({"author": "ann", "body": "a note #restore", "created_at": "2025-01-01T00:00:00Z"});
    std::fs::write(&notes, format!("{line}\n")).unwrap();
    let imported = run_i2i(None, &source, &["import", notes.to_str().unwrap()]).await;
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    {
        // A post whose author is gone, as a hand-edited or carelessly copied file would have.
        let path = source.join("i2i.db");
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query("PRAGMA foreign_keys = OFF").execute(&mut conn).unwrap();
        diesel::sql_query("UPDATE posts SET author_id = 999999").execute(&mut conn).unwrap();
    }
    let backup = dir.path().join("dangling.db");
    let made = run_i2i(None, &source, &["backup", backup.to_str().unwrap()]).await;
    assert!(made.status.success(), "{}", text(&made.stderr));

    let refused = run_i2i(None, &target, &["restore", backup.to_str().unwrap()]).await;
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success(), "a backup with a post by a missing user restored: {stderr}");
    assert!(stderr.contains("refer to rows it does not have") && stderr.contains("posts"), "{stderr}");
    assert!(!target.join("i2i.db").exists(), "a refused restore writes nothing");
}

#[tokio::test]
async fn an_import_file_with_a_byte_order_mark_imports_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        json!({"author": "ann", "body": "first line after the mark #bom", "created_at": "2025-01-01T00:00:00Z"}),
        json!({"author": "bob", "body": "second line #bom", "created_at": "2025-01-02T00:00:00Z"}),
    ];
    let file = dir.path().join("excel.jsonl");
    std::fs::write(&file, format!("\u{FEFF}{}\n{}\n", lines[0], lines[1])).unwrap();
    let other = dir.path().join("other.jsonl");
    let line = json!({"author": "cy", "body": "already here", "created_at": "2024-01-01T00:00:00Z"});
    std::fs::write(&other, format!("{line}\n")).unwrap();

    let ordinary = TestApp::spawn().await;
    // Empty: on SQLite the fresh load.
    let fresh = TestApp::spawn().await;
    // Not empty: the chunked bulk path.
    let chunked = TestApp::spawn().await;
    let seeded =
        run_i2i(Some(&chunked.database_url), &chunked.data_dir(), &["import", other.to_str().unwrap()]).await;
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    for (app, args) in [
        (&ordinary, vec!["import"]),
        (&fresh, vec!["import", "--bulk"]),
        (&chunked, vec!["import", "--bulk"]),
    ] {
        let mut args = args.clone();
        args.push(file.to_str().unwrap());
        let output = run_i2i(Some(&app.database_url), &app.data_dir(), &args).await;
        let report = text(&output.stdout);
        assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
        assert!(
            report.contains("imported 2 posts") && report.contains("rejected 0 lines"),
            "{args:?}: {report}"
        );
    }
}
