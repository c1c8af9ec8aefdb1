//! Turns a parsed query ([`Node`]) into a tantivy query over the fields of [`Fields`].
//! Words go through the body's English stemmer, phrases through the exact (unstemmed)
//! field, filters become term or range queries on their keyword fields.

use std::ops::Bound;

use tantivy::query::{AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DateTime, Index, Term};

use super::query::Node;
use super::schema::Fields;

/// The analysers of the two body fields, taken from the index so queries are tokenised
/// exactly as documents were.
pub struct Analyzers {
    stemmed: TextAnalyzer,
    exact: TextAnalyzer,
}

impl Analyzers {
    pub fn of(index: &Index, fields: &Fields) -> tantivy::Result<Analyzers> {
        Ok(Analyzers {
            stemmed: index.tokenizer_for_field(fields.body)?,
            exact: index.tokenizer_for_field(fields.body_exact)?,
        })
    }
}

fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// A term or phrase query on `field` for the tokens of `text`; `None` when the text has
/// no tokens at all (punctuation only).
fn text_query(field: Field, analyzer: &mut TextAnalyzer, text: &str) -> Option<Box<dyn Query>> {
    let terms: Vec<Term> = tokens(analyzer, text).iter().map(|t| Term::from_field_text(field, t)).collect();
    match terms.len() {
        0 => None,
        1 => terms.into_iter().next().map(|t| term(t, true)),
        _ => Some(Box::new(PhraseQuery::new(terms))),
    }
}

fn term(term: Term, scored: bool) -> Box<dyn Query> {
    let option = if scored { IndexRecordOption::WithFreqs } else { IndexRecordOption::Basic };
    Box::new(TermQuery::new(term, option))
}

fn keyword(field: Field, value: &str) -> Box<dyn Query> {
    term(Term::from_field_text(field, value), false)
}

/// Builds the tantivy query for `node`.
pub fn compile(node: &Node, fields: &Fields, analyzers: &mut Analyzers) -> Box<dyn Query> {
    match node {
        Node::Word(word) => {
            text_query(fields.body, &mut analyzers.stemmed, word).unwrap_or_else(|| Box::new(EmptyQuery))
        }
        Node::Phrase(phrase) => text_query(fields.body_exact, &mut analyzers.exact, phrase)
            .unwrap_or_else(|| Box::new(EmptyQuery)),
        Node::Tag(tag) => match crate::domain::text::tag_key(tag) {
            Some(key) => keyword(fields.tags, &key),
            None => Box::new(EmptyQuery),
        },
        Node::Author(name) => keyword(fields.author, name),
        Node::Incident(key) => keyword(fields.incident, key),
        Node::Service(service) => keyword(fields.service, &service.to_lowercase()),
        Node::Severity(severity) => keyword(fields.severity, severity),
        Node::Status(status) => keyword(fields.status, status),
        Node::IsReply => keyword(fields.flags, "reply"),
        Node::HasIncident => keyword(fields.flags, "incident"),
        Node::Created { start_ms, end_ms } => {
            let bound = |ms: &Option<i64>, inclusive: bool| match ms {
                Some(ms) => {
                    let at = Term::from_field_date_for_search(
                        fields.created_at,
                        DateTime::from_timestamp_millis(*ms),
                    );
                    if inclusive {
                        Bound::Included(at)
                    } else {
                        Bound::Excluded(at)
                    }
                }
                None => Bound::Unbounded,
            };
            Box::new(RangeQuery::new(bound(start_ms, true), bound(end_ms, false)))
        }
        Node::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
            (Occur::MustNot, compile(inner, fields, analyzers)),
        ])),
        Node::And(children) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = children
                .iter()
                .map(|child| match child {
                    Node::Not(inner) => (Occur::MustNot, compile(inner, fields, analyzers)),
                    other => (Occur::Must, compile(other, fields, analyzers)),
                })
                .collect();
            // A query of exclusions only ("-#noise") means "everything except".
            if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        Node::Or(children) => Box::new(BooleanQuery::new(
            children.iter().map(|child| (Occur::Should, compile(child, fields, analyzers))).collect(),
        )),
    }
}
