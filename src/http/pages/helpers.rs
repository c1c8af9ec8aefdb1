//! Handlebars helpers used by the templates, and the escaping of everything they show.

use handlebars::{handlebars_helper, Handlebars};

use crate::domain::text::without_bidi_controls;

handlebars_helper!(plural: |count: i64, one: str, many: str| {
    if count == 1 { format!("{count} {one}") } else { format!("{count} {many}") }
});

/// How every `{{value}}` reaches a page: HTML-escaped, and without bidi embeddings,
/// overrides and isolates, so a name or note cannot reorder the text shown after it (the
/// templates also wrap inline user text — a name, a title beside other words — in `<bdi>`,
/// so right-to-left letters and marks in it cannot reorder the words around it; user text
/// that fills a whole block, like a note's paragraph, is its own bidi paragraph already).
fn escape(text: &str) -> String {
    handlebars::html_escape(&without_bidi_controls(text))
}

/// Registers i2i's helpers and its escaping.
pub fn register(handlebars: &mut Handlebars<'static>) {
    handlebars.register_escape_fn(escape);
    handlebars.register_helper("plural", Box::new(plural));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_text_is_escaped_and_loses_bidi_overrides() {
        assert_eq!(escape("<b>\u{202E}cod.exe\u{2066}"), "&lt;b&gt;cod.exe");
        assert_eq!(escape("\u{200F}שלום"), "\u{200F}שלום");
    }
}
