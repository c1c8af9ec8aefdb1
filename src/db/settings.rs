//! The `instance_settings` table: values every node of an instance shares, kept in the
//! database so nodes need no common file system (today the token signing secret).

use diesel::prelude::*;

use super::schema::instance_settings;
use super::DbConn;

/// The value of `name`, if set.
pub fn get(conn: &mut DbConn, name: &str) -> QueryResult<Option<String>> {
    instance_settings::table
        .filter(instance_settings::name.eq(name))
        .select(instance_settings::value)
        .first(conn)
        .optional()
}

/// The value of `name`: the stored one, or else `proposed`, stored now. Nodes starting at
/// once may each propose a value; the first insert wins and every node reads that one.
pub fn get_or_insert(conn: &mut DbConn, name: &str, proposed: &str, now: i64) -> QueryResult<String> {
    if let Some(value) = get(conn, name)? {
        return Ok(value);
    }
    let row = (
        instance_settings::name.eq(name),
        instance_settings::value.eq(proposed),
        instance_settings::created_at.eq(now),
    );
    crate::on_backend!(conn, c => diesel::insert_into(instance_settings::table)
        .values(row)
        .on_conflict(instance_settings::name)
        .do_nothing()
        .execute(c))?;
    get(conn, name)?.ok_or(diesel::result::Error::NotFound)
}
