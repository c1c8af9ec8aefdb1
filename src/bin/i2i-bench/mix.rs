//! The search mix, written once per engine: i2i's query language, an FTS5 MATCH expression
//! and a PostgreSQL `websearch_to_tsquery` input plus the filters the text languages lack.
//! Keeping the three spellings side by side makes it easy to see that they ask the same thing.

/// One query of the mix.
pub struct MixQuery {
    pub name: &'static str,
    /// As typed into i2i's search box.
    pub i2i: &'static str,
    /// FTS5 MATCH expression. Tags live in their own `tags` column as space-separated keys;
    /// unicode61 splits `t-ra` into `t` `ra`, so a tag is matched as the phrase `"t-ra"`.
    pub fts5: &'static str,
    /// `websearch_to_tsquery('english', …)` input; `None` for a filter-only query.
    pub pg_text: Option<&'static str>,
    /// Tag key that must be present (PostgreSQL: `tags @> ARRAY[…]`).
    pub tag: Option<&'static str>,
    /// Whether the query has an `after:` bound; its instant comes from i2i's own parser so
    /// every engine filters on exactly the same millisecond.
    pub after: bool,
}

impl MixQuery {
    /// Filter-only queries are sorted newest first by i2i, so the peers do the same.
    pub fn has_text(&self) -> bool {
        self.pg_text.is_some()
    }
}

const fn q(
    name: &'static str,
    i2i: &'static str,
    fts5: &'static str,
    pg_text: Option<&'static str>,
    tag: Option<&'static str>,
    after: bool,
) -> MixQuery {
    MixQuery { name, i2i, fts5, pg_text, tag, after }
}

/// The words are ranks of the corpus's Zipf vocabulary: `da` and `fa` are the two most
/// frequent (in almost every post), `staipa` is mid-tail, `chaizu` rare; tags are `t-<word>`.
/// (An earlier mix used `ba`, which the corpus never generates, so its "common" queries
/// matched nothing; the hit-count table in the report is there to catch such slips.)
pub const QUERIES: &[MixQuery] = &[
    q("common term", "da", "da", Some("da"), None, false),
    q("mid term", "staipa", "staipa", Some("staipa"), None, false),
    q("rare term", "chaizu", "chaizu", Some("chaizu"), None, false),
    q("AND of 2", "da fa", "da fa", Some("da fa"), None, false),
    q("AND of 3", "da fa ga", "da fa ga", Some("da fa ga"), None, false),
    q("OR", "staipa OR chaizu", "staipa OR chaizu", Some("staipa OR chaizu"), None, false),
    q("phrase", "\"da fa\"", "\"da fa\"", Some("\"da fa\""), None, false),
    q("text + tag", "da #t-ra", "da AND tags:\"t-ra\"", Some("da"), Some("t-ra"), false),
    q("tag only", "#t-fa", "tags:\"t-fa\"", None, Some("t-fa"), false),
    q("with after:", "da after:2025-05-01", "da", Some("da"), None, true),
];

/// The lower bound of the mix's `after:` queries, in Unix milliseconds, as i2i reads it.
pub fn after_ms() -> anyhow::Result<i64> {
    let query = QUERIES.iter().find(|q| q.after).map(|q| q.i2i).unwrap_or("after:2025-05-01");
    let node = i2i::search::query::parse(query).map_err(|err| anyhow::anyhow!("{query}: {err}"))?;
    find_after(node.as_ref()).ok_or_else(|| anyhow::anyhow!("{query}: no after: bound"))
}

fn find_after(node: Option<&i2i::search::query::Node>) -> Option<i64> {
    use i2i::search::query::Node;
    match node? {
        Node::Created { start_ms, .. } => *start_ms,
        Node::And(children) | Node::Or(children) => children.iter().find_map(|c| find_after(Some(c))),
        _ => None,
    }
}

/// How the query reads in PostgreSQL, for the report.
pub fn pg_spelling(query: &MixQuery) -> String {
    let mut parts = Vec::new();
    if let Some(text) = query.pg_text {
        parts.push(format!("websearch_to_tsquery('{text}')"));
    }
    if let Some(tag) = query.tag {
        parts.push(format!("tags @> {{{tag}}}"));
    }
    if query.after {
        parts.push("created_at >= …".to_string());
    }
    parts.join(" AND ")
}

/// How the query reads in FTS5, for the report.
pub fn fts5_spelling(query: &MixQuery) -> String {
    let after = if query.after { " AND created_at >= …" } else { "" };
    format!("MATCH '{}'{after}", query.fts5)
}

pub fn encode(q: &str) -> String {
    form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_parses_and_after_is_may_first() {
        for query in QUERIES {
            assert!(i2i::search::query::parse(query.i2i).is_ok(), "{}", query.i2i);
        }
        assert_eq!(after_ms().ok(), Some(1_746_057_600_000));
    }
}
