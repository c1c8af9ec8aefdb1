//! Import and export of posts as JSON lines (`{author, body, incident, created_at}`), the
//! format of the shared incident-notes data set. Import is idempotent: each line's content
//! hashes to an import key stored with its post, and a key seen before is skipped. One
//! post at a time here; [`bulk`] writes many per statement, and [`bulk::fresh`] loads an
//! empty instance. Both parse lines with this module's [`parse_line`].

pub mod bulk;

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::posts::{create_post, PostInput};
use crate::db::users::User;
use crate::db::{Db, DbConn};
use crate::domain::rules::{self, Role};
use crate::domain::time;
use crate::error::AppError;

/// Lines per write transaction: large enough to amortise commits, small enough that a
/// concurrent server write never waits long.
const BATCH_LINES: usize = 500;
/// Longest accepted line; anything longer cannot be a ≤ 500-character post.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// One line of the exchange format.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExchangeLine {
    pub author: String,
    pub body: String,
    #[serde(default)]
    pub incident: Option<String>,
    pub created_at: String,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    pub duplicates: usize,
    /// `(line number, reason)` of every rejected line.
    pub rejected: Vec<(usize, String)>,
    /// Where the time went, `(phase, seconds)`, for the paths that measure it.
    pub phases: Vec<(&'static str, f64)>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} posts, skipped {} already imported, rejected {} lines",
            self.imported,
            self.duplicates,
            self.rejected.len()
        )
    }
}

/// Imports a file ("-" for stdin) with a progress bar on stderr.
pub fn import_file(
    db: &Db,
    pattern: &Regex,
    path: &Path,
    bulk: bool,
    data_dir: &Path,
) -> anyhow::Result<ImportReport> {
    let (reader, size): (Box<dyn Read>, u64) = if path == Path::new("-") {
        (Box::new(std::io::stdin()), 0)
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(file), size)
    };
    let progress = ProgressBar::new(size);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let on_progress = |bytes: u64, report: &ImportReport| {
        progress.inc(bytes);
        progress.set_message(format!("{} imported, {} rejected", report.imported, report.rejected.len()));
    };
    let report = if bulk {
        bulk::import(db, pattern, BufReader::new(reader), Some(data_dir), on_progress)?
    } else {
        import(db, pattern, BufReader::new(reader), on_progress)?
    };
    progress.finish_and_clear();
    Ok(report)
}

/// The UTF-8 byte order mark some editors (and Excel, and PowerShell) put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The lines of an import, numbered from 1, without a UTF-8 byte order mark at the start of
/// the input (it would make line 1 invalid JSON). Every import path reads its input here.
pub fn numbered_lines<R: BufRead>(reader: R) -> impl Iterator<Item = (usize, std::io::Result<Vec<u8>>)> {
    reader.split(b'\n').enumerate().map(|(index, line)| {
        let line = line.map(|mut raw| {
            if index == 0 && raw.starts_with(BOM) {
                raw.drain(..BOM.len());
            }
            raw
        });
        (index + 1, line)
    })
}

/// Imports JSON lines from `reader`, calling `on_batch(bytes_read, report)` after each batch.
pub fn import<R: BufRead>(
    db: &Db,
    pattern: &Regex,
    reader: R,
    mut on_batch: impl FnMut(u64, &ImportReport),
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut authors: HashMap<String, User> = HashMap::new();
    let mut batch: Vec<(usize, String)> = Vec::with_capacity(BATCH_LINES);
    let mut batch_bytes = 0u64;
    for (line_no, line) in numbered_lines(reader) {
        let raw = line.context("reading input")?;
        batch_bytes += raw.len() as u64 + 1;
        match String::from_utf8(raw) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => batch.push((line_no, text)),
            Err(_) => reject(&mut report, line_no, "line is not valid UTF-8".into()),
        }
        if batch.len() >= BATCH_LINES {
            import_batch(db, pattern, &mut authors, std::mem::take(&mut batch), &mut report)?;
            on_batch(std::mem::take(&mut batch_bytes), &report);
        }
    }
    import_batch(db, pattern, &mut authors, batch, &mut report)?;
    on_batch(batch_bytes, &report);
    Ok(report)
}

fn reject(report: &mut ImportReport, line_no: usize, reason: String) {
    report.reject(line_no, reason);
}

impl ImportReport {
    /// Records (and reports on stderr) a rejected line.
    pub fn reject(&mut self, line_no: usize, reason: String) {
        eprintln!("line {line_no}: {reason}");
        self.rejected.push((line_no, reason));
    }
}

fn import_batch(
    db: &Db,
    pattern: &Regex,
    authors: &mut HashMap<String, User>,
    batch: Vec<(usize, String)>,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let outcomes = db.write_blocking(|conn| {
        let mut outcomes = Vec::with_capacity(batch.len());
        for (line_no, text) in &batch {
            outcomes.push((*line_no, import_line(conn, pattern, authors, text)));
        }
        // A database fault aborts the batch; a bad line only rejects itself.
        for (_, outcome) in &outcomes {
            if let Err(AppError::Internal(err)) = outcome {
                return Err(AppError::Internal(anyhow::anyhow!("{err:#}")));
            }
        }
        Ok(outcomes)
    });
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(err) => {
            // The transaction rolled back: forget authors created in it.
            authors.clear();
            return Err(anyhow::anyhow!("{err}"));
        }
    };
    for (line_no, outcome) in outcomes {
        match outcome {
            Ok(true) => report.imported += 1,
            Ok(false) => report.duplicates += 1,
            Err(err) => reject(report, line_no, err.to_string()),
        }
    }
    Ok(())
}

/// One exchange line after validation, before anything touches the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine {
    /// Lower-cased, valid username.
    pub username: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// NFC-normalised, trimmed body within the length limit.
    pub body: String,
    /// Incident key, if the line names one.
    pub incident: Option<String>,
}

impl ParsedLine {
    /// The line in exchange form again (what `export` writes); parsing it yields `self`.
    pub fn to_exchange(&self) -> ExchangeLine {
        ExchangeLine {
            author: self.username.clone(),
            body: self.body.clone(),
            incident: self.incident.clone(),
            created_at: time::format_ms(self.created_at),
        }
    }

    /// The import key this line is stored under.
    pub fn import_key(&self) -> String {
        import_key(&self.username, self.created_at, self.incident.as_deref(), &self.body)
    }
}

/// Parses and validates one line of the exchange format. Pure but for reading the clock (a
/// note may be dated at most a day ahead, see [`time::check_note_time`]), so the fuzz target
/// and the property tests exercise exactly what `import` applies.
pub fn parse_line(text: &str) -> Result<ParsedLine, AppError> {
    // Checked here, before any parsing, so every import path refuses the same lines.
    if text.len() > MAX_LINE_BYTES {
        return Err(AppError::Validation { field: None, message: "line is longer than 64 KiB".into() });
    }
    let line: ExchangeLine = serde_json::from_str(text)
        .map_err(|err| AppError::Validation { field: None, message: format!("not a post: {err}") })?;
    let username = rules::parse_username(&line.author)?;
    let created_at = time::check_note_time(
        "created_at",
        time::parse_timestamp("created_at", &line.created_at)?,
        crate::db::now_ms(),
    )?;
    let body = rules::parse_body(&line.body)?;
    let incident = match line.incident.as_deref().map(str::trim) {
        Some("") | None => None,
        Some(key) => Some(rules::parse_incident_key(key)?),
    };
    Ok(ParsedLine { username, created_at, body, incident })
}

/// Imports one line; `Ok(false)` when it was imported before.
fn import_line(
    conn: &mut DbConn,
    pattern: &Regex,
    authors: &mut HashMap<String, User>,
    text: &str,
) -> Result<bool, AppError> {
    let ParsedLine { username, created_at, body, incident } = parse_line(text)?;
    let author = match authors.get(&username) {
        Some(user) => user.clone(),
        None => {
            let user = match crate::db::users::by_username(conn, &username)? {
                Some(user) => user,
                // Imported authors exist for attribution only: no password, so no login.
                None => crate::app::users::create_user(conn, &username, None, Role::Responder, None)?,
            };
            authors.insert(username.clone(), user.clone());
            user
        }
    };
    let import_key = import_key(&username, created_at, incident.as_deref(), &body);
    let input = PostInput {
        body,
        incident,
        reply_to: None,
        created_at: Some(created_at),
        import_key: Some(import_key),
    };
    Ok(create_post(conn, pattern, &author, &input)?.is_some())
}

/// The natural key of an imported post: a hash of who, when, where and what.
pub fn import_key(author: &str, created_at: i64, incident: Option<&str>, body: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [author, &created_at.to_string(), incident.unwrap_or(""), body] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..16])
}

/// Writes every live post, oldest id first, in the import format. Returns the count.
pub fn export<W: Write>(db: &Db, mut out: W) -> anyhow::Result<usize> {
    let mut after_id = 0;
    let mut count = 0;
    loop {
        let page = db.read_blocking(|conn| {
            let posts = crate::db::posts::page_for_export(conn, after_id, 1000)?;
            Ok(crate::db::posts::details(conn, posts, None)?)
        })?;
        let Some(last) = page.last() else { break };
        after_id = last.post.id;
        for details in &page {
            let line = ExchangeLine {
                author: details.author.username.clone(),
                body: details.post.body.clone(),
                incident: details.incident.as_ref().map(|i| i.key.clone()),
                created_at: time::format_ms(details.post.created_at),
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
            count += 1;
        }
    }
    out.flush()?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Lines that are mostly well-formed JSON with awkward field values, plus raw noise.
    fn any_line() -> impl Strategy<Value = String> {
        let field = prop_oneof!["\\PC{0,40}", "[ a-zA-Z0-9_.:-]{0,12}", Just(String::new())];
        let stamp = prop_oneof![
            (-62_000_000_000_000i64..250_000_000_000_000i64).prop_map(time::format_ms),
            "\\PC{0,30}",
            Just("2024-03-01".to_string()),
        ];
        let json_line = (field.clone(), field.clone(), proptest::option::of(field), stamp).prop_map(
            |(author, body, incident, created_at)| {
                serde_json::to_string(&ExchangeLine { author, body, incident, created_at }).unwrap()
            },
        );
        prop_oneof![json_line, "\\PC{0,80}"]
    }

    proptest! {
        #[test]
        fn parsed_lines_pass_the_rules_again_and_export_round_trips(line in any_line()) {
            let Ok(parsed) = parse_line(&line) else { return Ok(()) };
            prop_assert_eq!(rules::parse_username(&parsed.username).unwrap(), parsed.username.clone());
            prop_assert_eq!(rules::parse_body(&parsed.body).unwrap(), parsed.body.clone());
            let exported = serde_json::to_string(&parsed.to_exchange()).unwrap();
            let again = parse_line(&exported).unwrap();
            prop_assert_eq!(again.import_key(), parsed.import_key());
            prop_assert_eq!(again, parsed);
        }
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_line_one() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\n\xEF\xBB\xBFsecond\n";
        let lines: Vec<(usize, Vec<u8>)> =
            numbered_lines(&input[..]).map(|(n, line)| (n, line.unwrap())).collect();
        // Only the mark that starts the input is one; later it is content (and rejected as such).
        assert_eq!(lines, [(1, b"{\"a\":1}".to_vec()), (2, b"\xEF\xBB\xBFsecond".to_vec())]);
    }

    #[test]
    fn a_valid_line_parses() {
        let line = r#"{"author":"Alice","body":"  hi #sso ","incident":" INC-1 ","created_at":"2024-03-01T12:00:00Z"}"#;
        let parsed = parse_line(line).unwrap();
        assert_eq!(parsed.username, "alice");
        assert_eq!(parsed.body, "hi #sso");
        assert_eq!(parsed.incident.as_deref(), Some("INC-1"));
        assert_eq!(parsed.created_at, 1_709_294_400_000);
        assert!(parse_line(r#"{"author":"a","body":"","created_at":"2024-03-01"}"#).is_err());
    }

    #[test]
    fn a_line_over_64_kib_is_refused_before_it_is_parsed() {
        let valid = |filler: usize| {
            format!(
                r#"{{"author":"ann","body":"note","created_at":"2025-01-01T00:00:00Z","pad":"{}"}}"#,
                "x".repeat(filler)
            )
        };
        let short = valid(100);
        assert!(parse_line(&short).is_ok(), "unknown fields are ignored");
        let long = valid(MAX_LINE_BYTES);
        let Err(err) = parse_line(&long) else { panic!("a line over 64 KiB was accepted") };
        assert_eq!(err.to_string(), "line is longer than 64 KiB");
    }

    #[test]
    fn import_key_depends_on_every_part() {
        let base = import_key("a", 1, Some("INC-1"), "body");
        assert_eq!(base, import_key("a", 1, Some("INC-1"), "body"));
        assert_ne!(base, import_key("b", 1, Some("INC-1"), "body"));
        assert_ne!(base, import_key("a", 2, Some("INC-1"), "body"));
        assert_ne!(base, import_key("a", 1, None, "body"));
        assert_ne!(base, import_key("a", 1, Some("INC-1"), "body2"));
    }
}
