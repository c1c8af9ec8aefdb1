//! Fuzzes the body parser (hashtags, mentions, incident refs, segments): beyond not
//! panicking, every tag key is normalised and its spelling is in the body, and the segments
//! cover the body exactly.
#![no_main]

use std::sync::OnceLock;

use i2i::domain::text::{distinct_hashtags, hashtags, incident_refs, mentions, segments, tag_key, Segment};
use libfuzzer_sys::fuzz_target;
use regex::Regex;

fn pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| Regex::new(r"INC-\d+").expect("valid pattern"))
}

fn segment_text(segment: &Segment) -> &str {
    match segment {
        Segment::Text(text) => text,
        Segment::Tag { text, .. }
        | Segment::Mention { text, .. }
        | Segment::Incident { text, .. }
        | Segment::Url { text, .. } => text,
    }
}

fuzz_target!(|body: &str| {
    let mut last_end = 0;
    for tag in hashtags(body) {
        assert_eq!(&body[tag.span.clone()], format!("#{}", tag.display), "{tag:?}");
        // The key is what a tag page URL and a query use: it must be its own key.
        assert_eq!(tag_key(&tag.key).as_deref(), Some(tag.key.as_str()), "{tag:?}");
        assert_eq!(tag_key(&tag.display).as_deref(), Some(tag.key.as_str()), "{tag:?}");
        assert!(tag.span.start >= last_end);
        last_end = tag.span.end;
    }
    let distinct = distinct_hashtags(body);
    let mut keys: Vec<&str> = distinct.iter().map(|t| t.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), distinct.len());
    for mention in mentions(body) {
        let written = &body[mention.span.start + 1..mention.span.end];
        assert_eq!(written.to_ascii_lowercase(), mention.username);
        assert!(body[mention.span.clone()].starts_with('@'));
    }
    for span in incident_refs(body, pattern()) {
        assert!(pattern().is_match(&body[span]));
    }
    let segs = segments(body, pattern());
    assert_eq!(segs.iter().map(segment_text).collect::<String>(), body);
    assert!(segs.iter().all(|s| !segment_text(s).is_empty()));
    for segment in &segs {
        if let Segment::Tag { key, text } = segment {
            assert_eq!(tag_key(text).as_deref(), Some(key.as_str()));
        }
        if let Segment::Url { href, .. } = segment {
            let lower = href.to_ascii_lowercase();
            assert!(lower.starts_with("http://") || lower.starts_with("https://"), "{href:?}");
        }
    }
});
