//! Statements that stay prepared. diesel re-prepares every `UPDATE`, every upsert
//! (`ON CONFLICT … DO UPDATE`), every `IN (…)` list and every multi-row insert on each run,
//! because it cannot tell whether their SQL text is the same each time. The per-post write
//! path runs about twenty such statements, and a profile of ingest at concurrency 64 put a
//! quarter of the writer thread in SQLite's parser. [`Cached`] is a fixed SQL text with
//! BIGINT parameters: the same text each run, so diesel's statement cache keys it by that
//! text and both backends prepare it once per connection.

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Text};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl};

use super::DbConn;

/// Lists up to this long are looked up one key at a time: each single-key lookup stays
/// prepared, while an `IN (…)` list is prepared again on every run. A post's few tags take
/// this path; an import's chunk of hundreds of keys is one `IN` list.
pub const ONE_BY_ONE: usize = 16;

/// A fixed statement with `?` for each parameter, all BIGINT, written as `$1, $2, …` on
/// PostgreSQL by diesel itself. The text must be a literal so it is the same every run.
#[derive(Debug, Clone)]
pub struct Cached<'a> {
    sql: &'static str,
    binds: &'a [i64],
}

impl<'a> Cached<'a> {
    /// `sql` with its `?` placeholders bound, in order, to `binds`.
    pub fn new(sql: &'static str, binds: &'a [i64]) -> Cached<'a> {
        debug_assert_eq!(sql.matches('?').count(), binds.len(), "one value per placeholder: {sql}");
        Cached { sql, binds }
    }

    /// Runs it on either backend; gives the number of rows changed.
    pub fn execute(self, conn: &mut DbConn) -> QueryResult<usize> {
        crate::on_backend!(conn, c => RunQueryDsl::execute(self, c))
    }

    fn walk<'b, DB>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()>
    where
        DB: Backend + diesel::sql_types::HasSqlType<BigInt>,
        i64: diesel::serialize::ToSql<BigInt, DB>,
    {
        let mut pieces = self.sql.split('?');
        if let Some(first) = pieces.next() {
            out.push_sql(first);
        }
        for (piece, value) in pieces.zip(self.binds) {
            out.push_bind_param::<BigInt, i64>(value)?;
            out.push_sql(piece);
        }
        Ok(())
    }
}

/// Not a static id: diesel then caches the statement by its SQL text, which never changes.
impl QueryId for Cached<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Sqlite> for Cached<'_> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.walk(out)
    }
}

impl QueryFragment<Pg> for Cached<'_> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.walk(out)
    }
}

impl<Conn> RunQueryDsl<Conn> for Cached<'_> {}

/// `column` is one of `ids`, with one bind whatever their number: `IN (SELECT value FROM
/// json_each(?))` with the ids as a JSON array on SQLite, `= ANY(?)` with a `BIGINT[]` on
/// PostgreSQL (the form diesel itself uses there). On SQLite diesel's `eq_any` writes one
/// placeholder per id and is prepared again on every run; reading the twenty posts of a
/// search page took five such lists, and their preparing was a tenth of a search's CPU.
/// The text depends only on the column, so the statement is cached by its type, as diesel's
/// own fixed statements are. Queries using it run through [`crate::on_backend`].
#[derive(Debug, Clone)]
pub struct AnyOf<C> {
    column: C,
    ids: Vec<i64>,
    /// The ids as SQLite binds them.
    json: String,
}

impl<C> AnyOf<C> {
    pub fn new(column: C, ids: &[i64]) -> AnyOf<C> {
        let json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        AnyOf { column, ids: ids.to_vec(), json }
    }
}

impl<C> Expression for AnyOf<C> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for AnyOf<C> {}

impl<C: ValidGrouping<()>> ValidGrouping<()> for AnyOf<C> {
    type IsAggregate = C::IsAggregate;
}

/// The static query id of an [`AnyOf`] on a column with one.
pub struct AnyOfId<C>(std::marker::PhantomData<C>);

/// Static when the column's is: one text per column, whatever the ids.
impl<C: QueryId> QueryId for AnyOf<C> {
    type QueryId = AnyOfId<C::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = C::HAS_STATIC_QUERY_ID;
}

impl<C: QueryFragment<Sqlite>> QueryFragment<Sqlite> for AnyOf<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, String>(&self.json)?;
        out.push_sql("))");
        Ok(())
    }
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for AnyOf<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(");
        out.push_bind_param::<Array<BigInt>, Vec<i64>>(&self.ids)?;
        out.push_sql(")");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::{CacheSize, Instrumentation, InstrumentationEvent};
    use diesel::sqlite::SqliteConnection;
    use diesel::{Connection, QueryDsl};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a connection ran: the SQL of every statement started, and of every statement
    /// diesel put in its cache.
    #[derive(Default)]
    struct Seen {
        started: Vec<String>,
        cached: Vec<String>,
    }

    struct Recorder(Arc<Mutex<Seen>>);

    impl Instrumentation for Recorder {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            let Ok(mut seen) = self.0.lock() else { return };
            match event {
                InstrumentationEvent::StartQuery { query, .. } => {
                    let text = query.to_string();
                    let sql = text.split(" -- binds:").next().unwrap_or_default().to_string();
                    seen.started.push(sql);
                }
                InstrumentationEvent::CacheQuery { sql, .. } => seen.cached.push(sql.to_string()),
                _ => {}
            }
        }
    }

    /// An in-memory SQLite connection with an unbounded statement cache, recording what it runs.
    fn recorded_sqlite() -> (DbConn, Arc<Mutex<Seen>>) {
        let mut sqlite = SqliteConnection::establish(":memory:").expect("sqlite");
        sqlite.set_prepared_statement_cache_size(CacheSize::Unbounded);
        let seen = Arc::new(Mutex::new(Seen::default()));
        sqlite.set_instrumentation(Recorder(seen.clone()));
        (DbConn::Sqlite(sqlite), seen)
    }

    #[test]
    fn binds_in_order_and_is_prepared_once() {
        let (mut conn, seen) = recorded_sqlite();
        Cached::new("CREATE TABLE t (k BIGINT PRIMARY KEY, n BIGINT NOT NULL)", &[])
            .execute(&mut conn)
            .expect("create");
        let upsert = "INSERT INTO t (k, n) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET n = t.n + excluded.n";
        let before_first = seen.lock().expect("seen").cached.len();
        for (k, n) in [(1, 5), (2, 7), (1, 10)] {
            assert_eq!(Cached::new(upsert, &[k, n]).execute(&mut conn).expect("upsert"), 1);
        }
        let before = seen.lock().expect("seen").cached.len();
        assert_eq!(before, before_first + 1, "the upsert went into diesel's statement cache once");
        for (k, n) in [(3, 1), (3, 2), (2, 1)] {
            Cached::new(upsert, &[k, n]).execute(&mut conn).expect("upsert");
        }
        let seen_now = seen.lock().expect("seen");
        assert_eq!(seen_now.cached.len(), before, "the upsert was prepared again");
        assert!(seen_now.started.len() >= 7);
        drop(seen_now);
        #[derive(diesel::QueryableByName, Debug, PartialEq)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            k: i64,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let rows: Vec<Row> = crate::on_backend!(&mut conn, c =>
            diesel::sql_query("SELECT k, n FROM t ORDER BY k").load(c))
        .expect("rows");
        assert_eq!(rows, vec![Row { k: 1, n: 15 }, Row { k: 2, n: 8 }, Row { k: 3, n: 3 }]);
    }

    diesel::table! {
        listed (k) {
            k -> BigInt,
            n -> BigInt,
        }
    }

    #[test]
    fn any_of_finds_the_listed_rows_and_is_prepared_once() {
        let (mut conn, seen) = recorded_sqlite();
        Cached::new("CREATE TABLE listed (k BIGINT PRIMARY KEY, n BIGINT NOT NULL)", &[])
            .execute(&mut conn)
            .expect("create");
        for k in 1..=10 {
            Cached::new("INSERT INTO listed (k, n) VALUES (?, ?)", &[k, k * 10])
                .execute(&mut conn)
                .expect("insert");
        }
        let mut find = |ids: &[i64]| -> Vec<i64> {
            let any = AnyOf::new(listed::k, ids);
            let mut found: Vec<i64> = crate::on_backend!(&mut conn, c =>
                listed::table.filter(any).select(listed::n).load(c))
            .expect("select");
            found.sort_unstable();
            found
        };
        assert_eq!(find(&[3]), vec![30]);
        let cached_after_first = seen.lock().expect("seen").cached.len();
        assert_eq!(find(&[1, 4, 9]), vec![10, 40, 90]);
        assert_eq!(
            find(&[2, 2, 42, 7]),
            vec![20, 70],
            "a repeated id counts once, an unknown one not at all"
        );
        assert_eq!(find(&[]), Vec::<i64>::new());
        let seen = seen.lock().expect("seen");
        assert_eq!(seen.cached.len(), cached_after_first, "lists of other lengths were prepared again");
        assert!(seen.cached.iter().any(|sql| sql.contains("json_each")), "cached: {:#?}", seen.cached);
    }

    #[test]
    fn any_of_is_one_array_bind_on_postgresql() {
        let query = listed::table.filter(AnyOf::new(listed::k, &[1, 2, 3])).select(listed::n);
        let sql = diesel::debug_query::<Pg, _>(&query).to_string();
        assert!(sql.contains(r#"WHERE "listed"."k" = ANY($1)"#), "{sql}");
        assert!(sql.contains("[1, 2, 3]"), "the ids are the one bind: {sql}");
        let sqlite = diesel::debug_query::<Sqlite, _>(&query).to_string();
        assert!(sqlite.contains("IN (SELECT value FROM json_each(?))"), "{sqlite}");
        assert!(sqlite.contains("\"[1,2,3]\""), "the ids as a JSON array: {sqlite}");
    }

    /// The rollups of a live post are written with statements that stay prepared: once a
    /// post of the same shape has been counted, counting another prepares nothing new.
    #[test]
    fn a_live_posts_rollups_prepare_nothing_new() {
        use crate::trends::rollups::{self, hour_of, Contribution};
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::db::Db::connect_for_tool(&format!("sqlite://{}", dir.path().join("c.db").display()))
            .expect("db");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let hour = hour_of(crate::db::now_ms());
        let post = |tags: Vec<i64>, author: i64, incident: i64| Contribution {
            hour,
            author_id: author,
            incident_id: Some(incident),
            tag_ids: tags,
        };
        let recorded = seen.clone();
        db.write_blocking(move |conn| {
            if let DbConn::Sqlite(sqlite) = conn {
                sqlite.set_instrumentation(Recorder(recorded.clone()));
            }
            rollups::add(conn, &post(vec![1, 2], 1, 1))?;
            let cached_by_first: Vec<String> = {
                let mut seen = recorded.lock().expect("seen");
                seen.started.clear();
                seen.cached.clone()
            };
            // New rows everywhere (other tags, author and incident), then the same rows again.
            rollups::add(conn, &post(vec![3, 4], 2, 2))?;
            rollups::add(conn, &post(vec![3, 4], 2, 2))?;
            let seen = recorded.lock().expect("seen");
            assert!(seen.started.len() >= 20, "the statements were recorded: {}", seen.started.len());
            let prepared_again: Vec<&String> =
                seen.started.iter().filter(|sql| !cached_by_first.contains(sql)).collect();
            assert!(prepared_again.is_empty(), "prepared again: {prepared_again:#?}");
            Ok(())
        })
        .expect("rollups");
    }
}
