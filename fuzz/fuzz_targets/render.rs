//! Fuzzes post rendering: a body goes through the same segmenting and the same handlebars
//! card template as every page, and whatever the body holds, the HTML has exactly the markup
//! the template adds (no '<', '>' or '"' from the body survives unescaped) and every link
//! goes to a site path or an http(s) URL.
#![no_main]

use std::sync::OnceLock;

use handlebars::Handlebars;
use i2i::domain::text::mentions;
use i2i::http::pages::cards::{body_segments, CardView, SegmentView};
use i2i::startup::load_templates;
use libfuzzer_sys::fuzz_target;
use regex::Regex;

fn pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| Regex::new(r"INC-\d+").expect("valid pattern"))
}

fn templates() -> &'static Handlebars<'static> {
    static TEMPLATES: OnceLock<Handlebars<'static>> = OnceLock::new();
    TEMPLATES.get_or_init(|| load_templates().expect("templates load"))
}

fn card(segments: Vec<SegmentView>) -> CardView {
    CardView {
        id: 7,
        author_username: "alice".into(),
        author_name: "Alice".into(),
        segments,
        incident: None,
        incident_href: String::new(),
        reply_to: None,
        created_iso: "2024-03-01T12:00:00Z".into(),
        created_human: "2024-03-01 12:00 UTC".into(),
        edited: false,
        replies_count: 0,
        reactions_count: 0,
        reacted: false,
        focus: false,
    }
}

fn render(card: &CardView) -> String {
    templates().render("partials/post_card", card).expect("the card renders")
}

/// Counts of the characters that make markup.
fn markup(html: &str) -> [usize; 3] {
    [html.matches('<').count(), html.matches('>').count(), html.matches('"').count()]
}

fuzz_target!(|body: &str| {
    // Every mentioned user exists here, so mentions render as links too.
    let users: Vec<String> = mentions(body).into_iter().map(|m| m.username).collect();
    let segments = body_segments(body, pattern(), &users);
    let links = segments.iter().filter(|s| s.kind != "text").count();
    for segment in &segments {
        if segment.kind != "text" {
            let href = segment.href.to_ascii_lowercase();
            let safe = href.starts_with('/') || href.starts_with("http://") || href.starts_with("https://");
            assert!(safe && !href.starts_with("//"), "{segment:?}");
        }
    }
    let base = markup(&render(&card(Vec::new())));
    let html = render(&card(segments));
    // Each link is `<a …>…</a>` with two quoted attributes.
    let expected = [base[0] + 2 * links, base[1] + 2 * links, base[2] + 4 * links];
    assert_eq!(markup(&html), expected, "{body:?} -> {html}");
});
