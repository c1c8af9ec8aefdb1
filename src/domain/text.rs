//! Text rules for post bodies: finding hashtags, @mentions, incident
//! references and links, normalising tag names, and splitting a body into
//! segments for rendering. Everything here is pure and works on byte ranges of
//! the original `&str`, so callers can highlight or link without re-parsing.

use std::collections::HashSet;
use std::ops::Range;

use regex::Regex;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Longest tag, in chars. Longer runs yield no tag at all rather than a
/// truncated one, so a stored key is always exactly what the author wrote.
const MAX_TAG_CHARS: usize = 64;

/// Longest username in a mention, in chars (ASCII, so also bytes).
const MAX_MENTION_CHARS: usize = 64;

/// Characters stripped from the end of a URL: they almost always belong to the
/// surrounding sentence ("see https://x.io/a.") rather than to the link.
const URL_TRAILING: [char; 10] = ['.', ',', ';', ':', '!', '?', ')', ']', '\'', '"'];

/// Schemes that start a link. Matched case-insensitively.
const URL_SCHEMES: [&str; 2] = ["https://", "http://"];

/// A hashtag found in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashtag {
    /// Normalised key: NFKC, then lower-cased. Used for storage, URLs and matching.
    pub key: String,
    /// The spelling as written in the body (without '#').
    pub display: String,
    /// Byte range in the body, INCLUDING the leading '#'.
    pub span: Range<usize>,
}

/// An @mention found in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// The mentioned username, lower-cased (usernames are ASCII).
    pub username: String,
    /// Byte range in the body, INCLUDING the leading '@'.
    pub span: Range<usize>,
}

/// A piece of a body for rendering: plain text or a link target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Plain text, to be escaped and shown as is.
    Text(String),
    /// A hashtag.
    Tag {
        /// Normalised tag key (see [`Hashtag::key`]).
        key: String,
        /// The text as written, including the '#'.
        text: String,
    },
    /// An @mention.
    Mention {
        /// Lower-cased username.
        username: String,
        /// The text as written, including the '@'.
        text: String,
    },
    /// A reference to an incident, as matched by the incident pattern.
    Incident {
        /// The matched text, verbatim; callers normalise it if their keys need that.
        key: String,
        /// The text as written.
        text: String,
    },
    /// An http:// or https:// link.
    Url {
        /// The link target (same as `text`; escaping is the renderer's job).
        href: String,
        /// The link as written, without stripped trailing punctuation.
        text: String,
    },
}

/// Letters, digits and combining marks. Combining marks count as part of the
/// word they attach to, so a decomposed "é" behaves like a composed one.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Characters that may make up a tag after the '#'.
fn is_tag_char(c: char) -> bool {
    is_word_char(c) || c == '_' || c == '-'
}

/// A '#' right after one of these is not a tag: "C#", "a#b", URL fragments
/// ("/#anchor", ")#x") and HTML entities ("&#39;").
fn blocks_hashtag(prev: char) -> bool {
    is_word_char(prev) || matches!(prev, '/' | ')' | '&')
}

/// An '@' right after one of these is not a mention; this keeps e-mail
/// addresses such as "bob@example.com" or "j.doe-x_y@host" out.
fn blocks_mention(prev: char) -> bool {
    is_word_char(prev) || matches!(prev, '_' | '.' | '-')
}

/// Bytes allowed in a username run after '@'.
fn is_username_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Neighbours that make an incident match part of a longer word ("XINC-7",
/// "INC-7a", "INC-7-b"), in which case it is not a reference.
fn is_ref_neighbour(c: char) -> bool {
    is_word_char(c) || c == '-' || c == '_'
}

/// The char just before byte `i` of `s`, if any.
fn char_before(s: &str, i: usize) -> Option<char> {
    s.get(..i).and_then(|head| head.chars().next_back())
}

/// Byte length of the tag at the very start of `rest` (the text right after a
/// '#'), or `None` if no valid tag starts there. This single function holds the
/// tag rules so that the body parser and [`tag_key`] cannot drift apart.
fn tag_len(rest: &str) -> Option<usize> {
    let run_end = rest.char_indices().find(|&(_, c)| !is_tag_char(c)).map_or(rest.len(), |(i, _)| i);
    // Trailing dashes are sentence punctuation ("#foo- and"), not tag content.
    let tag = rest[..run_end].trim_end_matches('-');
    let chars = tag.chars().count();
    let valid = (1..=MAX_TAG_CHARS).contains(&chars) && tag.chars().any(char::is_alphabetic);
    valid.then_some(tag.len())
}

/// The storage key for a tag spelling: NFKC first (so ligatures, width
/// variants and decomposed accents fold together), then lower-case.
fn normalise_tag(display: &str) -> String {
    display.nfkc().collect::<String>().to_lowercase()
}

/// The tag at the start of `rest`: its byte length and its key. Some spellings
/// are valid but normalise into something that is not a tag (NFKC turns
/// U+FE70 into a space plus a mark, "½" into "1⁄2", "ﷺ" into 18 letters), or
/// into a key that would normalise again differently; those yield no tag, so
/// every stored key is itself a valid tag that is its own key (found by fuzzing).
fn parse_tag_at(rest: &str) -> Option<(usize, String)> {
    let len = tag_len(rest)?;
    let key = normalise_tag(&rest[..len]);
    let stable = tag_len(&key) == Some(key.len()) && normalise_tag(&key) == key;
    stable.then_some((len, key))
}

/// All hashtags in order of appearance (duplicates kept; callers dedup by key).
pub fn hashtags(body: &str) -> Vec<Hashtag> {
    let mut out = Vec::new();
    for (hash, _) in body.match_indices('#') {
        if char_before(body, hash).is_some_and(blocks_hashtag) {
            continue;
        }
        let start = hash + 1;
        if let Some((len, key)) = parse_tag_at(&body[start..]) {
            let display = &body[start..start + len];
            out.push(Hashtag { key, display: display.to_owned(), span: hash..start + len });
        }
    }
    out
}

/// Distinct hashtags by key, first spelling wins, in order of first appearance.
pub fn distinct_hashtags(body: &str) -> Vec<Hashtag> {
    let mut seen = HashSet::new();
    hashtags(body).into_iter().filter(|tag| seen.insert(tag.key.clone())).collect()
}

/// Normalises a tag name given by a user in a URL or query (`sso`, `#SSO`,
/// `Password-Reset`) into a key, applying exactly the same rules as the body
/// parser: the whole input, after an optional leading '#', must be one valid
/// tag. Returns `None` if it is not (so `foo-` or ` sso` are rejected, not
/// trimmed: callers that want trimming do it first).
pub fn tag_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix('#').unwrap_or(name);
    match parse_tag_at(rest) {
        Some((len, key)) if len == rest.len() => Some(key),
        _ => None,
    }
}

/// All @mentions in order of appearance.
pub fn mentions(body: &str) -> Vec<Mention> {
    let mut out = Vec::new();
    for (at, _) in body.match_indices('@') {
        if char_before(body, at).is_some_and(blocks_mention) {
            continue;
        }
        let start = at + 1;
        let rest = &body[start..];
        // Only ASCII bytes are accepted, so this index is a char boundary.
        let run_end = rest.bytes().position(|b| !is_username_byte(b)).unwrap_or(rest.len());
        // "@alice." / "@bob-" end a sentence or clause; the punctuation is not the name.
        let name = rest[..run_end].trim_end_matches(['.', '-']);
        if (1..=MAX_MENTION_CHARS).contains(&name.len()) {
            out.push(Mention { username: name.to_ascii_lowercase(), span: at..start + name.len() });
        }
    }
    out
}

/// Byte ranges where `pattern` (e.g. `INC-\d+`) matches in the body, but only
/// matches whose neighbours are not letters/digits/'-'/'_' (word-boundary-ish:
/// "XINC-7" or "INC-7a" do not count). Empty matches are ignored.
pub fn incident_refs(body: &str, pattern: &Regex) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(m) = pattern.find_at(body, pos) {
        let (start, end) = (m.start(), m.end());
        let isolated = start < end
            && !char_before(body, start).is_some_and(is_ref_neighbour)
            && !body[end..].chars().next().is_some_and(is_ref_neighbour);
        if isolated {
            out.push(start..end);
            pos = end;
        } else {
            // Retry one char further on rather than after the whole match, so a
            // rejected match cannot hide a valid one overlapping it.
            match body[start..].chars().next() {
                Some(c) => pos = start + c.len_utf8(),
                None => break,
            }
        }
    }
    out
}

/// Byte ranges of http(s) links: from the scheme up to whitespace, minus
/// trailing punctuation. A scheme glued to a preceding letter or digit
/// ("xhttps://") is not a link start.
fn urls(body: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut cursor = 0;
    for (start, c) in body.char_indices() {
        if start < cursor || !c.eq_ignore_ascii_case(&'h') {
            continue;
        }
        if char_before(body, start).is_some_and(is_word_char) {
            continue;
        }
        let tail = &body.as_bytes()[start..];
        let Some(scheme) = URL_SCHEMES
            .iter()
            .find(|s| tail.get(..s.len()).is_some_and(|head| head.eq_ignore_ascii_case(s.as_bytes())))
        else {
            continue;
        };
        let run_end = body[start..].find(char::is_whitespace).map_or(body.len(), |i| start + i);
        cursor = run_end;
        let url = body[start..run_end].trim_end_matches(URL_TRAILING);
        // A bare scheme ("https://") links nowhere.
        if url.len() > scheme.len() {
            out.push(start..start + url.len());
        }
    }
    out
}

/// What a found span is, carrying the data its segment needs.
enum Found {
    Url,
    Incident,
    Tag(String),
    Mention(String),
}

impl Found {
    /// Tie-break for spans starting at the same byte with the same length:
    /// the broader construct wins.
    fn rank(&self) -> u8 {
        match self {
            Found::Url => 0,
            Found::Incident => 1,
            Found::Tag(_) => 2,
            Found::Mention(_) => 3,
        }
    }
}

/// Splits a body into segments, in order, covering the whole body exactly
/// (concatenating all texts gives the body back). Where spans overlap, the
/// earliest-starting one wins (a URL containing '#anchor' stays one URL); on
/// equal starts the longer one wins. No `Text` segment is empty.
pub fn segments(body: &str, incident_pattern: &Regex) -> Vec<Segment> {
    let mut found: Vec<(Range<usize>, Found)> = Vec::new();
    found.extend(urls(body).into_iter().map(|r| (r, Found::Url)));
    found.extend(incident_refs(body, incident_pattern).into_iter().map(|r| (r, Found::Incident)));
    found.extend(hashtags(body).into_iter().map(|t| (t.span, Found::Tag(t.key))));
    found.extend(mentions(body).into_iter().map(|m| (m.span, Found::Mention(m.username))));
    found.sort_by(|(a, fa), (b, fb)| {
        a.start.cmp(&b.start).then(b.end.cmp(&a.end)).then(fa.rank().cmp(&fb.rank()))
    });

    let mut out = Vec::new();
    let mut cursor = 0;
    for (span, kind) in found {
        if span.start < cursor {
            continue; // overlaps an earlier-starting span, which wins
        }
        if span.start > cursor {
            out.push(Segment::Text(body[cursor..span.start].to_owned()));
        }
        let text = body[span.clone()].to_owned();
        out.push(match kind {
            Found::Url => Segment::Url { href: text.clone(), text },
            Found::Incident => Segment::Incident { key: text.clone(), text },
            Found::Tag(key) => Segment::Tag { key, text },
            Found::Mention(username) => Segment::Mention { username, text },
        });
        cursor = span.end;
    }
    if cursor < body.len() {
        out.push(Segment::Text(body[cursor..].to_owned()));
    }
    out
}

/// Whether `c` is an explicit bidi formatting character: an embedding or override
/// (U+202A–U+202E) or an isolate (U+2066–U+2069). Each reorders the text after it until a
/// closing one, so in a name or a note it can make what is shown differ from what was
/// written ("Trojan Source"). The marks U+200E, U+200F and U+061C stay: they reorder
/// nothing by themselves and right-to-left writers need them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` without the bidi formatting characters of [`is_bidi_control`], for display:
/// what the pages, feeds and Markdown exports show. The stored text is left as written.
pub fn without_bidi_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(is_bidi_control) {
        std::borrow::Cow::Owned(text.chars().filter(|c| !is_bidi_control(*c)).collect())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inc() -> Regex {
        Regex::new(r"INC-\d+").unwrap()
    }

    fn tag(key: &str, display: &str, span: Range<usize>) -> Hashtag {
        Hashtag { key: key.to_owned(), display: display.to_owned(), span }
    }

    fn mention(username: &str, span: Range<usize>) -> Mention {
        Mention { username: username.to_owned(), span }
    }

    fn text(s: &str) -> Segment {
        Segment::Text(s.to_owned())
    }

    fn seg_text(seg: &Segment) -> &str {
        match seg {
            Segment::Text(t) => t,
            Segment::Tag { text, .. }
            | Segment::Mention { text, .. }
            | Segment::Incident { text, .. }
            | Segment::Url { text, .. } => text,
        }
    }

    // --- hashtags: negative examples ---

    #[test]
    fn digits_only_is_not_a_tag() {
        assert_eq!(hashtags("#1"), vec![]);
        assert_eq!(hashtags("#2024"), vec![]);
    }

    #[test]
    fn c_sharp_is_not_a_tag() {
        assert_eq!(hashtags("C#"), vec![]);
        assert_eq!(hashtags("C# is fun"), vec![]);
    }

    #[test]
    fn url_fragment_is_not_a_tag() {
        assert_eq!(hashtags("https://x.io/#anchor"), vec![]);
        assert_eq!(hashtags("f(x)#y"), vec![]);
    }

    #[test]
    fn html_entities_are_not_tags() {
        assert_eq!(hashtags("&#39;"), vec![]);
        assert_eq!(hashtags("it&#x27;s"), vec![]);
    }

    #[test]
    fn hash_inside_word_is_not_a_tag() {
        assert_eq!(hashtags("a#b"), vec![]);
        assert_eq!(hashtags("7#b"), vec![]);
    }

    #[test]
    fn dash_only_is_not_a_tag() {
        assert_eq!(hashtags("#-"), vec![]);
        assert_eq!(hashtags("#--- x"), vec![]);
    }

    #[test]
    fn tag_without_letter_is_not_a_tag() {
        assert_eq!(hashtags("#_1"), vec![]);
        assert_eq!(hashtags("#_-_"), vec![]);
    }

    #[test]
    fn lone_hash_is_not_a_tag() {
        assert_eq!(hashtags("#"), vec![]);
        assert_eq!(hashtags("# heading"), vec![]);
        assert_eq!(hashtags(""), vec![]);
    }

    #[test]
    fn hash_after_decomposed_accent_is_not_a_tag() {
        // "é#b" written with a combining acute behaves like the composed form.
        assert_eq!(hashtags("e\u{301}#b"), vec![]);
        assert_eq!(hashtags("\u{e9}#b"), vec![]);
    }

    #[test]
    fn over_long_tag_is_dropped_not_truncated() {
        let long = "a".repeat(65);
        assert_eq!(hashtags(&format!("#{long}")), vec![]);
        assert_eq!(tag_key(&long), None);
    }

    // --- hashtags: positive examples ---

    #[test]
    fn accented_tag() {
        assert_eq!(hashtags("#Café"), vec![tag("café", "Café", 0..6)]);
    }

    #[test]
    fn decomposed_accent_stays_in_tag_and_composes_in_key() {
        assert_eq!(hashtags("#Cafe\u{301} ok"), vec![tag("caf\u{e9}", "Cafe\u{301}", 0..7)]);
    }

    #[test]
    fn cjk_tag() {
        assert_eq!(hashtags("#日本語"), vec![tag("日本語", "日本語", 0..10)]);
    }

    #[test]
    fn dashed_tag() {
        assert_eq!(hashtags("#password-reset"), vec![tag("password-reset", "password-reset", 0..15)]);
    }

    #[test]
    fn underscore_tag() {
        assert_eq!(hashtags("#a_b"), vec![tag("a_b", "a_b", 0..4)]);
    }

    #[test]
    fn upper_case_tag_is_lowered_in_key() {
        assert_eq!(hashtags("#SSO"), vec![tag("sso", "SSO", 0..4)]);
    }

    #[test]
    fn parenthesised_tag() {
        assert_eq!(hashtags("(#sso)"), vec![tag("sso", "sso", 1..5)]);
    }

    #[test]
    fn tag_before_comma() {
        assert_eq!(hashtags("#sso,"), vec![tag("sso", "sso", 0..4)]);
    }

    #[test]
    fn trailing_dash_is_stripped() {
        assert_eq!(hashtags("#foo-"), vec![tag("foo", "foo", 0..4)]);
        assert_eq!(hashtags("#foo-- bar"), vec![tag("foo", "foo", 0..4)]);
    }

    #[test]
    fn ligature_is_folded_by_nfkc() {
        assert_eq!(hashtags("#\u{FB01}"), vec![tag("fi", "\u{FB01}", 0..4)]);
    }

    #[test]
    fn two_tags() {
        assert_eq!(hashtags("x #a #b"), vec![tag("a", "a", 2..4), tag("b", "b", 5..7)]);
    }

    #[test]
    fn glued_tags_yield_only_the_first() {
        assert_eq!(hashtags("#sso#mfa"), vec![tag("sso", "sso", 0..4)]);
    }

    #[test]
    fn tag_of_exactly_max_length() {
        let name = "é".repeat(64);
        let body = format!("#{name}");
        assert_eq!(hashtags(&body), vec![tag(&name, &name, 0..body.len())]);
    }

    #[test]
    fn tag_may_contain_digits_and_start_with_them() {
        assert_eq!(hashtags("#2fa"), vec![tag("2fa", "2fa", 0..4)]);
    }

    #[test]
    fn duplicates_are_kept_in_order() {
        assert_eq!(hashtags("#SSO then #sso"), vec![tag("sso", "SSO", 0..4), tag("sso", "sso", 10..14)]);
    }

    #[test]
    fn distinct_keeps_first_spelling() {
        assert_eq!(
            distinct_hashtags("#SSO #mfa #sso #Sso #MFA"),
            vec![tag("sso", "SSO", 0..4), tag("mfa", "mfa", 5..9)]
        );
    }

    // --- tag_key ---

    #[test]
    fn tag_key_accepts_plain_and_hashed_names() {
        assert_eq!(tag_key("sso").as_deref(), Some("sso"));
        assert_eq!(tag_key("#SSO").as_deref(), Some("sso"));
        assert_eq!(tag_key("Password-Reset").as_deref(), Some("password-reset"));
        assert_eq!(tag_key("#Café").as_deref(), Some("café"));
        assert_eq!(tag_key("\u{FB01}").as_deref(), Some("fi"));
        assert_eq!(tag_key(&"a".repeat(64)), Some("a".repeat(64)));
    }

    #[test]
    fn tag_key_rejects_anything_that_is_not_exactly_one_tag() {
        for bad in ["", "#", "##sso", "#1", "_1", "-", "foo-", " sso", "sso ", "a b", "sso#mfa", "a.b"] {
            assert_eq!(tag_key(bad), None, "{bad:?}");
        }
    }

    // --- mentions ---

    #[test]
    fn email_is_not_a_mention() {
        assert_eq!(mentions("mail bob@example.com"), vec![]);
        assert_eq!(mentions("j.doe@x.io a_@b a-@b"), vec![]);
        assert_eq!(mentions("jose\u{301}@example.com"), vec![]);
    }

    #[test]
    fn mention_strips_trailing_dot() {
        assert_eq!(mentions("@Alice."), vec![mention("alice", 0..6)]);
    }

    #[test]
    fn mention_with_dash_and_digits() {
        assert_eq!(mentions("cc @therac-25"), vec![mention("therac-25", 3..13)]);
    }

    #[test]
    fn mention_strips_trailing_dashes_and_dots() {
        assert_eq!(mentions("(@bob.-) ok"), vec![mention("bob", 1..5)]);
    }

    #[test]
    fn empty_mentions_are_ignored() {
        assert_eq!(mentions("@"), vec![]);
        assert_eq!(mentions("@ bob"), vec![]);
        assert_eq!(mentions("@.-"), vec![]);
        assert_eq!(mentions("@é"), vec![]);
    }

    #[test]
    fn mention_length_limit() {
        let ok = "b".repeat(64);
        assert_eq!(mentions(&format!("@{ok}")), vec![mention(&ok, 0..65)]);
        assert_eq!(mentions(&format!("@{}", "b".repeat(65))), vec![]);
    }

    #[test]
    fn several_mentions() {
        assert_eq!(mentions("@a, @B_c"), vec![mention("a", 0..2), mention("b_c", 4..8)]);
    }

    // --- incident refs ---

    #[test]
    fn incident_refs_need_word_boundaries() {
        let re = inc();
        assert!(incident_refs("XINC-7", &re).is_empty());
        assert!(incident_refs("INC-7a", &re).is_empty());
        assert!(incident_refs("INC-7-2", &re).is_empty());
        assert!(incident_refs("INC-7_", &re).is_empty());
        assert_eq!(incident_refs("(INC-7)", &re), vec![1..6]);
        assert_eq!(incident_refs("INC-7, INC-12 XINC-3 INC-4.", &re), vec![0..5, 7..13, 21..26]);
    }

    #[test]
    fn rejected_match_does_not_hide_an_overlapping_one() {
        let re = Regex::new(r"[A-Z]+-\d+").unwrap();
        // The greedy match "AB-1" is glued to "-"; none of its suffixes is free either.
        assert!(incident_refs("-AB-1", &re).is_empty());
        let re = Regex::new(r"\d+").unwrap();
        assert_eq!(incident_refs("a12 34", &re), vec![4..6]);
    }

    #[test]
    fn empty_pattern_matches_are_ignored() {
        let re = Regex::new(r"\d*").unwrap();
        assert_eq!(incident_refs("ab 12 é", &re), vec![3..5]);
    }

    // --- segments ---

    #[test]
    fn mixed_body_segments() {
        let body = "Users locked out again after #password-reset on ward tablets \
                    #sso INC-7 see https://x.io/#a cc @bob";
        let segs = segments(body, &inc());
        assert_eq!(
            segs,
            vec![
                text("Users locked out again after "),
                Segment::Tag { key: "password-reset".into(), text: "#password-reset".into() },
                text(" on ward tablets "),
                Segment::Tag { key: "sso".into(), text: "#sso".into() },
                text(" "),
                Segment::Incident { key: "INC-7".into(), text: "INC-7".into() },
                text(" see "),
                Segment::Url { href: "https://x.io/#a".into(), text: "https://x.io/#a".into() },
                text(" cc "),
                Segment::Mention { username: "bob".into(), text: "@bob".into() },
            ]
        );
        assert_eq!(segs.iter().map(seg_text).collect::<String>(), body);
    }

    #[test]
    fn url_trailing_punctuation_is_left_as_text() {
        assert_eq!(
            segments("see (https://x.io/a?b=1).", &inc()),
            vec![
                text("see ("),
                Segment::Url { href: "https://x.io/a?b=1".into(), text: "https://x.io/a?b=1".into() },
                text(")."),
            ]
        );
    }

    #[test]
    fn url_swallows_tags_and_mentions_inside_it() {
        let body = "https://x.io/@bob?q=#sso INC-1";
        // The tag and mention exist on their own...
        assert_eq!(hashtags(body).len(), 1);
        assert_eq!(mentions(body).len(), 1);
        // ...but the earlier-starting URL wins.
        assert_eq!(
            segments(body, &inc()),
            vec![
                Segment::Url {
                    href: "https://x.io/@bob?q=#sso".into(),
                    text: "https://x.io/@bob?q=#sso".into()
                },
                text(" "),
                Segment::Incident { key: "INC-1".into(), text: "INC-1".into() },
            ]
        );
    }

    #[test]
    fn earlier_tag_wins_over_incident_inside_it() {
        assert_eq!(
            segments("#INC-7", &inc()),
            vec![Segment::Tag { key: "inc-7".into(), text: "#INC-7".into() }]
        );
    }

    #[test]
    fn non_links_stay_text() {
        for body in ["https://", "https://.)", "xhttps://a.io", "ftp://a.io", ""] {
            let segs = segments(body, &inc());
            assert!(segs.iter().all(|s| matches!(s, Segment::Text(_))), "{body:?}: {segs:?}");
            assert_eq!(segs.iter().map(seg_text).collect::<String>(), body);
        }
        assert_eq!(segments("", &inc()), vec![]);
    }

    #[test]
    fn url_scheme_is_case_insensitive() {
        assert_eq!(
            segments("HTTP://X.IO", &inc()),
            vec![Segment::Url { href: "HTTP://X.IO".into(), text: "HTTP://X.IO".into() }]
        );
    }

    // --- properties ---

    /// Bodies that hit the edge cases often: pieces of tags, entities, URLs,
    /// mentions, combining marks and ligatures.
    fn edgy_body() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "#", "a", "1", "-", "_", "/", "&", "é", "日", " ", "@", ".", "\u{301}", "\u{FB01}", ")", "A",
            "https://", "INC-7", ",",
        ]);
        prop::collection::vec(pieces, 0..48).prop_map(|v| v.concat())
    }

    fn any_body() -> impl Strategy<Value = String> {
        prop_oneof!["\\PC*", edgy_body(), "(?s).{0,40}"]
    }

    fn check_spans(body: &str, spans: &[Range<usize>]) -> Result<(), TestCaseError> {
        let mut last_end = 0;
        for span in spans {
            prop_assert!(span.start < span.end, "empty span {span:?}");
            prop_assert!(span.start >= last_end, "overlap/disorder at {span:?}");
            prop_assert!(body.is_char_boundary(span.start));
            prop_assert!(body.is_char_boundary(span.end));
            last_end = span.end;
        }
        Ok(())
    }

    #[test]
    fn spellings_whose_key_is_not_a_tag_are_not_tags() {
        // NFKC maps U+FE70 to a space plus a combining mark, and "½" to "1⁄2".
        assert!(hashtags("#\u{FE70}a").is_empty());
        assert_eq!(tag_key("a½"), None);
        assert_eq!(tag_key("#ＳＳＯ"), Some("sso".to_owned()));
    }

    proptest! {
        #[test]
        fn never_panics(body in any_body()) {
            let _ = hashtags(&body);
            let _ = distinct_hashtags(&body);
            let _ = mentions(&body);
            let _ = segments(&body, &inc());
            let _ = tag_key(&body);
            let _ = incident_refs(&body, &inc());
        }

        #[test]
        fn hashtag_fields_agree_with_span(body in any_body()) {
            for t in hashtags(&body) {
                prop_assert!(body[t.span.clone()].starts_with('#'));
                let inner = &body[t.span.start + 1..t.span.end];
                prop_assert_eq!(&t.display, inner);
                prop_assert_eq!(&t.key, &inner.nfkc().collect::<String>().to_lowercase());
            }
        }

        #[test]
        fn tag_keys_are_their_own_keys(body in any_body()) {
            for t in hashtags(&body) {
                prop_assert_eq!(tag_key(&t.key), Some(t.key.clone()), "{:?}", t);
                prop_assert!(t.key.chars().count() <= MAX_TAG_CHARS);
            }
        }

        #[test]
        fn mentions_are_lowercase_usernames_in_the_body(body in any_body()) {
            for m in mentions(&body) {
                prop_assert_eq!(&body[m.span.start + 1..m.span.end].to_ascii_lowercase(), &m.username);
                prop_assert!(m.username.bytes().all(|b| is_username_byte(b) && !b.is_ascii_uppercase()));
            }
        }

        #[test]
        fn tag_key_agrees_with_parser(body in any_body()) {
            for t in hashtags(&body) {
                prop_assert_eq!(tag_key(&format!("#{}", t.display)), Some(t.key.clone()));
                prop_assert_eq!(tag_key(&t.display), Some(t.key));
            }
        }

        #[test]
        fn segments_round_trip(body in any_body()) {
            let segs = segments(&body, &inc());
            prop_assert_eq!(segs.iter().map(seg_text).collect::<String>(), body);
            for pair in segs.windows(2) {
                let both_text = matches!(pair, [Segment::Text(_), Segment::Text(_)]);
                prop_assert!(!both_text, "adjacent text segments");
            }
            prop_assert!(segs.iter().all(|s| !seg_text(s).is_empty()));
        }

        #[test]
        fn spans_are_ordered_boundaries(body in any_body()) {
            let tag_spans: Vec<_> = hashtags(&body).into_iter().map(|t| t.span).collect();
            check_spans(&body, &tag_spans)?;
            let mention_spans: Vec<_> = mentions(&body).into_iter().map(|m| m.span).collect();
            check_spans(&body, &mention_spans)?;
            for span in &mention_spans {
                prop_assert!(body[span.clone()].starts_with('@'));
            }
            check_spans(&body, &incident_refs(&body, &inc()))?;
            check_spans(&body, &urls(&body))?;
        }
    }
}
