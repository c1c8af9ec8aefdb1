//! What i2i writes for other programs to open — CSV for spreadsheets, Markdown for documents
//! and chats — made so that user text stays text there. Every CSV goes through [`csv`]
//! (each cell neutralised against formulas) and every piece of user text in Markdown through
//! [`md_text`], [`md_quote`] or [`md_link`]; the writers never format user text themselves.

use std::borrow::Cow;

use crate::domain::text::without_bidi_controls;
use crate::error::AppError;

/// A CSV cell that spreadsheets show as text instead of running as a formula: one that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (the
/// OWASP advice; the apostrophe is what Excel and LibreOffice use to mean "text").
pub fn csv_cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// CSV records (a header is just the first record), every cell passed through [`csv_cell`]:
/// the one way i2i writes CSV.
pub fn csv<Records, Record, Cell>(records: Records) -> Result<Vec<u8>, AppError>
where
    Records: IntoIterator<Item = Record>,
    Record: IntoIterator<Item = Cell>,
    Cell: AsRef<str>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        let cells: Vec<String> =
            record.into_iter().map(|cell| csv_cell(cell.as_ref()).into_owned()).collect();
        writer.write_record(&cells).map_err(|err| AppError::Internal(err.into()))?;
    }
    writer.into_inner().map_err(|err| AppError::Internal(anyhow::anyhow!("csv: {err}")))
}

/// User text as one line of Markdown that renders as that text: whitespace collapsed,
/// bidi overrides removed, and every character Markdown or HTML would act on escaped, so a
/// note cannot add links, images, headings or markup to an exported document.
pub fn md_text(text: &str) -> String {
    let text = without_bidi_controls(text);
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        for c in word.chars() {
            if "\\`*_[]<>&!~|".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// User text as a Markdown block quote, line by line, escaped as [`md_text`] escapes; a line
/// that would open a heading, list or quote inside the quote has its first mark escaped.
pub fn md_quote(text: &str) -> String {
    text.lines()
        .map(|line| {
            let escaped = md_text(line);
            let digits = escaped.chars().take_while(char::is_ascii_digit).count();
            if escaped.starts_with(['#', '-', '+', '>', '=']) {
                format!("> \\{escaped}")
            } else if digits > 0 && escaped[digits..].starts_with(['.', ')']) {
                format!("> {}\\{}", &escaped[..digits], &escaped[digits..])
            } else {
                format!("> {escaped}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Markdown link whose label is user text (escaped as [`md_text`]) and whose target is an
/// i2i URL; characters that would end the target early are percent-encoded.
pub fn md_link(label: &str, url: &str) -> String {
    let mut target = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '(' => target.push_str("%28"),
            ')' => target.push_str("%29"),
            '<' => target.push_str("%3C"),
            '>' => target.push_str("%3E"),
            ' ' => target.push_str("%20"),
            c if c.is_control() => {}
            c => target.push(c),
        }
    }
    format!("[{}]({target})", md_text(label))
}

/// `raw` percent-encoded as one segment of a URL path.
pub fn segment(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_would_be_a_formula_is_text() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_cell(formula), format!("'{formula}"));
        }
        assert_eq!(csv_cell("plain, text"), "plain, text");
        let written = csv([["id", "body"], ["1", "=HYPERLINK(\"x\")"]]).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), "id,body\n1,\"'=HYPERLINK(\"\"x\"\")\"\n");
    }

    #[test]
    fn user_text_cannot_add_markup_to_an_export() {
        assert_eq!(md_text("see [x](javascript:alert(1))"), "see \\[x\\](javascript:alert(1))");
        assert_eq!(md_text("![img](http://x/y.png)"), "\\!\\[img\\](http://x/y.png)");
        assert_eq!(
            md_text("heading <img src=x onerror=y> *bold*"),
            "heading \\<img src=x onerror=y\\> \\*bold\\*"
        );
        assert_eq!(md_text("plain words, #tags and a-b,\n twice"), "plain words, #tags and a-b, twice");
        assert_eq!(md_text("a\u{202E}b"), "ab");
        assert_eq!(
            md_quote("first line\n# second\n2. third\n- fourth"),
            "> first line\n> \\# second\n> 2\\. third\n> \\- fourth"
        );
        assert_eq!(md_link("[x]", "http://h/a (b)"), "[\\[x\\]](http://h/a%20%28b%29)");
    }
}
