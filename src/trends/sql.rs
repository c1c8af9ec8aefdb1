//! Raw SQL for the rollups and views whose shape the query builder cannot express on both
//! backends: a variable number of `UNION ALL` arms, joins against a list of key pairs, and
//! upserts into tables chosen at run time. diesel's `sql_query` binds are typed one by one
//! at compile time, so these statements carry their values as integer literals instead;
//! only `i64`s are ever written into the text, never strings.

use diesel::deserialize::QueryableByName;
use diesel::prelude::*;

use crate::db::DbConn;

/// Runs a statement that returns rows.
pub fn load<T>(conn: &mut DbConn, sql: &str) -> QueryResult<Vec<T>>
where
    T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
{
    crate::on_backend!(conn, c => diesel::sql_query(sql).load(c))
}

/// Runs a statement that returns no rows; gives the number of rows it changed.
pub fn execute(conn: &mut DbConn, sql: &str) -> QueryResult<usize> {
    crate::on_backend!(conn, c => diesel::sql_query(sql).execute(c))
}

/// `1, 2, 3`: the ids for an `IN (…)` list (callers never pass an empty slice).
pub fn list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// `(1, 2), (3, 4)`: rows for a `VALUES` clause.
pub fn rows<const N: usize>(rows: &[[i64; N]]) -> String {
    rows.iter().map(|row| format!("({})", list(row))).collect::<Vec<_>>().join(", ")
}

/// Joins per-item statements into one: `SELECT * FROM (…) AS u0 UNION ALL SELECT * FROM (…)
/// AS u1 …` (each arm may have its own `ORDER BY … LIMIT`, which both backends allow only
/// inside a subquery).
pub fn union_all(arms: &[String]) -> String {
    arms.iter()
        .enumerate()
        .map(|(i, arm)| format!("SELECT * FROM ({arm}) AS u{i}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_rows() {
        assert_eq!(list(&[1, -2, 3]), "1, -2, 3");
        assert_eq!(rows(&[[1, 2], [3, 4]]), "(1, 2), (3, 4)");
        assert_eq!(
            union_all(&["SELECT 1".into(), "SELECT 2".into()]),
            "SELECT * FROM (SELECT 1) AS u0 UNION ALL SELECT * FROM (SELECT 2) AS u1"
        );
    }
}
