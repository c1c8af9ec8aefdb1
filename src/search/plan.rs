//! Turns a parsed query ([`Node`]) into a tantivy query over the fields of [`Fields`].
//! Words go through the body's English stemmer, phrases through the exact (unstemmed)
//! words and their pairs ([`super::shingles`]), filters become term or range queries on
//! their keyword fields. An AND of words and filters becomes a [`Conjunction`], which finds
//! its best hits without scoring every match; filters decide membership, never rank.

use std::ops::Bound;
use std::sync::Arc;

use tantivy::query::{AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DateTime, Term};

use super::conjunction::{boolean_of, Conjunction};
use super::query::Node;
use super::schema::Fields;
use super::shingles::{self, CommonWords};
use super::Generation;

/// The analysers of the two body fields, taken from the index so queries are tokenised
/// exactly as documents were, and the words the generation pairs.
pub struct Analyzers {
    stemmed: TextAnalyzer,
    exact: TextAnalyzer,
    common: Arc<CommonWords>,
}

impl Analyzers {
    pub fn of(generation: &Generation, fields: &Fields) -> tantivy::Result<Analyzers> {
        Ok(Analyzers {
            stemmed: generation.index.tokenizer_for_field(fields.body)?,
            exact: generation.index.tokenizer_for_field(fields.body_exact)?,
            common: generation.common.clone(),
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

/// The exact words of a phrase as the terms that find it, in sequence and all of one field:
/// one word is a term of the exact field; words that are all common are the pair terms of
/// each adjacent two; any other phrase is its words in the exact field, whose least common
/// word keeps the position checks few.
fn phrase_terms(fields: &Fields, analyzers: &mut Analyzers, text: &str) -> Vec<Term> {
    let words = tokens(&mut analyzers.exact, text);
    let paired = words.len() > 1 && words.iter().all(|word| analyzers.common.contains(word));
    if paired {
        return words
            .windows(2)
            .map(|two| Term::from_field_text(fields.body_pairs, &shingles::pair(&two[0], &two[1])))
            .collect();
    }
    words.iter().map(|word| Term::from_field_text(fields.body_exact, word)).collect()
}

fn phrase_query(fields: &Fields, analyzers: &mut Analyzers, text: &str) -> Option<Box<dyn Query>> {
    let mut terms = phrase_terms(fields, analyzers, text);
    match terms.len() {
        0 => None,
        1 => terms.pop().map(|t| term(t, true)),
        _ => Some(Box::new(PhraseQuery::new(terms))),
    }
}

/// The one scored term a word or phrase is, if it is one (most are; a word the analyser
/// splits, or a phrase of three words or more, is not).
fn single_term(node: &Node, fields: &Fields, analyzers: &mut Analyzers) -> Option<Term> {
    let mut terms = match node {
        Node::Word(word) => tokens(&mut analyzers.stemmed, word)
            .iter()
            .map(|t| Term::from_field_text(fields.body, t))
            .collect(),
        Node::Phrase(phrase) => phrase_terms(fields, analyzers, phrase),
        _ => return None,
    };
    if terms.len() == 1 {
        terms.pop()
    } else {
        None
    }
}

/// The keyword term a filter node is, if it is one.
fn keyword_term(node: &Node, fields: &Fields) -> Option<Term> {
    let (field, value) = match node {
        Node::Tag(tag) => (fields.tags, crate::domain::text::tag_key(tag)?),
        Node::Author(name) => (fields.author, name.clone()),
        Node::Incident(key) => (fields.incident, key.clone()),
        Node::Service(service) => (fields.service, service.to_lowercase()),
        Node::Severity(severity) => (fields.severity, severity.clone()),
        Node::Status(status) => (fields.status, status.clone()),
        Node::IsReply => (fields.flags, "reply".to_string()),
        Node::HasIncident => (fields.flags, "incident".to_string()),
        _ => return None,
    };
    Some(Term::from_field_text(field, &value))
}

/// Nodes that only narrow the result set: they match or not, and add nothing to a score.
fn is_filter(node: &Node) -> bool {
    match node {
        Node::Created { .. } => true,
        // A tag merged with others reads as "any tag of the group".
        Node::Or(children) => children.iter().all(is_filter),
        Node::Word(_) | Node::Phrase(_) | Node::Not(_) | Node::And(_) => false,
        // Every other node is a keyword ([`keyword_term`]).
        _ => true,
    }
}

/// An AND: a [`Conjunction`] when every part is a single scored term, a filter or an
/// exclusion; otherwise a boolean query of the same parts, in which filters still add
/// nothing to the score.
fn and_query(children: &[Node], fields: &Fields, analyzers: &mut Analyzers) -> Box<dyn Query> {
    let (mut scored, mut ranked, mut keywords, mut filters, mut excluded) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for child in children {
        if let Node::Not(inner) = child {
            excluded.push(compile(inner, fields, analyzers));
        } else if let Some(term) = keyword_term(child, fields) {
            keywords.push(term);
        } else if is_filter(child) {
            filters.push(compile(child, fields, analyzers));
        } else if let Some(term) = single_term(child, fields, analyzers) {
            scored.push(term);
        } else {
            ranked.push(compile(child, fields, analyzers));
        }
    }
    if !ranked.is_empty() || scored.is_empty() {
        return Box::new(boolean_of(&scored, ranked, &keywords, &filters, &excluded));
    }
    match Conjunction::new(scored, keywords, filters, excluded) {
        Some(conjunction) => Box::new(conjunction),
        None => Box::new(EmptyQuery), // not reached: there is a scored term
    }
}

fn term(term: Term, scored: bool) -> Box<dyn Query> {
    let option = if scored { IndexRecordOption::WithFreqs } else { IndexRecordOption::Basic };
    Box::new(TermQuery::new(term, option))
}

/// What a snippet highlights: every word the query looks for, as a term of the stemmed body
/// field that snippets are cut from. A phrase counts by its words, since its matches are
/// found in the exact and pair fields, which snippets do not read; excluded words
/// (`-word`) are left out. `None` when there is nothing to highlight.
pub fn highlight(node: &Node, fields: &Fields, analyzers: &mut Analyzers) -> Option<Box<dyn Query>> {
    fn words(node: &Node, out: &mut Vec<String>) {
        match node {
            Node::Word(text) | Node::Phrase(text) => out.push(text.clone()),
            Node::And(children) | Node::Or(children) => children.iter().for_each(|c| words(c, out)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    words(node, &mut texts);
    let mut terms: Vec<Term> = texts
        .iter()
        .flat_map(|text| tokens(&mut analyzers.stemmed, text))
        .map(|stem| Term::from_field_text(fields.body, &stem))
        .collect();
    terms.sort();
    terms.dedup();
    if terms.is_empty() {
        return None;
    }
    Some(Box::new(BooleanQuery::new(terms.into_iter().map(|t| (Occur::Should, term(t, true))).collect())))
}

/// Builds the tantivy query for `node`.
pub fn compile(node: &Node, fields: &Fields, analyzers: &mut Analyzers) -> Box<dyn Query> {
    match node {
        Node::Word(word) => {
            text_query(fields.body, &mut analyzers.stemmed, word).unwrap_or_else(|| Box::new(EmptyQuery))
        }
        Node::Phrase(phrase) => {
            phrase_query(fields, analyzers, phrase).unwrap_or_else(|| Box::new(EmptyQuery))
        }
        Node::Created { start_ms, end_ms } => {
            let bound = |ms: &Option<i64>, inclusive: bool| match ms {
                Some(ms) => {
                    let at = Term::from_field_date_for_search(
                        fields.created_at,
                        DateTime::from_timestamp_millis(crate::domain::time::clamp_to_index(*ms)),
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
        Node::And(children) => and_query(children, fields, analyzers),
        Node::Or(children) => Box::new(BooleanQuery::new(
            children.iter().map(|child| (Occur::Should, compile(child, fields, analyzers))).collect(),
        )),
        // Tags, authors, incidents and the other keyword filters.
        keyword => match keyword_term(keyword, fields) {
            Some(key) => term(key, false),
            None => Box::new(EmptyQuery),
        },
    }
}

#[cfg(test)]
mod tests {
    use tantivy::query::{PhraseQuery, TermQuery};

    use super::*;
    use crate::search::query::parse;

    /// The words the test generation pairs.
    const COMMON: &[&str] = &["degraded", "performance", "git", "dns", "outage", "a", "b", "c"];

    /// The fields and analysers of an empty generation that pairs [`COMMON`], and `text` parsed.
    fn planning(text: &str) -> (Fields, Analyzers, Node) {
        let (schema, fields) = crate::search::schema::build();
        let index = tantivy::Index::create_in_ram(schema);
        let common = Arc::new(CommonWords::of(COMMON));
        shingles::register(&index, common.clone());
        let reader = index.reader().expect("reader");
        let generation = Generation { number: 1, installed: 0, index, reader, common };
        let analyzers = Analyzers::of(&generation, &fields).expect("analyzers");
        (fields, analyzers, parse(text).expect("parses").expect("not empty"))
    }

    fn compiled(text: &str) -> Box<dyn Query> {
        let (fields, mut analyzers, node) = planning(text);
        compile(&node, &fields, &mut analyzers)
    }

    fn pair_field() -> Field {
        crate::search::schema::build().1.body_pairs
    }

    fn exact_field() -> Field {
        crate::search::schema::build().1.body_exact
    }

    #[test]
    fn phrases_of_common_words_read_the_pair_field() {
        let two = compiled("\"Degraded performance\"");
        let term = two.downcast_ref::<TermQuery>().expect("a two-word phrase is one term");
        assert_eq!(term.term(), &Term::from_field_text(pair_field(), "degraded performance"));
        let three = compiled("\"degraded git performance\"");
        let phrase = three.downcast_ref::<PhraseQuery>().expect("a longer phrase is a phrase of pairs");
        let pairs: Vec<Term> = ["degraded git", "git performance"]
            .iter()
            .map(|p| Term::from_field_text(pair_field(), p))
            .collect();
        assert_eq!(phrase.phrase_terms(), pairs);
        let one = compiled("\"Degraded\"");
        let exact = one.downcast_ref::<TermQuery>().expect("one word is a term");
        assert_eq!(exact.term(), &Term::from_field_text(exact_field(), "degraded"));
    }

    fn highlighted(text: &str) -> Vec<String> {
        let (fields, mut analyzers, node) = planning(text);
        let mut out = Vec::new();
        if let Some(query) = highlight(&node, &fields, &mut analyzers) {
            query.query_terms(&mut |term, _| {
                assert_eq!(term.field(), fields.body, "snippets read the stemmed body");
                out.push(term.value().as_str().unwrap_or_default().to_string());
            });
        }
        out
    }

    #[test]
    fn snippets_highlight_the_words_of_phrases_and_words_but_not_exclusions_or_filters() {
        assert_eq!(highlighted("\"Degraded performance\" #git"), vec!["degrad", "perform"]);
        assert_eq!(
            highlighted("lockouts OR (\"kerberos outage\" -vpn)"),
            vec!["kerbero", "lockout", "outag"]
        );
        assert!(highlighted("#sso from:bob -lockout").is_empty());
    }

    #[test]
    fn phrases_with_a_less_common_word_read_the_exact_words() {
        for (text, words) in [
            ("\"kerberos outage\"", vec!["kerberos", "outage"]),
            ("\"degraded git kerberos\"", vec!["degraded", "git", "kerberos"]),
        ] {
            let query = compiled(text);
            let phrase = query.downcast_ref::<PhraseQuery>().expect("a phrase of exact words");
            let terms: Vec<Term> = words.iter().map(|w| Term::from_field_text(exact_field(), w)).collect();
            assert_eq!(phrase.phrase_terms(), terms, "{text}");
        }
    }

    #[test]
    fn ands_of_words_and_filters_are_conjunctions_and_others_are_not() {
        for text in [
            "lockout tablets",
            "lockout #sso -#noise after:2024-01-01",
            "\"dns outage\" from:bob",
            "lockout (#a OR #b)",
        ] {
            assert!(compiled(text).downcast_ref::<Conjunction>().is_some(), "{text}");
        }
        // Without a word there is nothing to rank by; with a nested OR of words the parts
        // are not single terms.
        for text in ["#sso #dns", "lockout (vpn OR sso)", "\"a b c\" lockout", "\"kerberos outage\" lockout"]
        {
            assert!(compiled(text).downcast_ref::<Conjunction>().is_none(), "{text}");
        }
    }
}
