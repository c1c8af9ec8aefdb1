//! Parser for the analysts' search language (words, phrases, `OR`, `-` exclusion, parentheses and
//! `key:value` filters) into a small AST. It knows nothing about the index, so the grammar can be
//! tested on its own and the search layer only has to translate [`Node`]s.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};

use crate::domain::text;

/// Longest accepted query, in characters; bounds the work done per request.
const MAX_INPUT_CHARS: usize = 2000;
/// Most leaf terms (words, phrases, filters) in one query; each becomes an index clause.
const MAX_LEAVES: usize = 100;
/// Deepest nesting of parentheses and negations; keeps the recursive parser and the
/// search layer's recursion bounded.
const MAX_DEPTH: usize = 32;
/// Longest tag or username, in characters.
const MAX_NAME_CHARS: usize = 64;

const SEVERITIES: [&str; 4] = ["sev1", "sev2", "sev3", "sev4"];
const STATUSES: [&str; 5] = ["investigating", "identified", "monitoring", "resolved", "closed"];

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A word to match in the body text (as typed; the search layer analyses/stems it).
    Word(String),
    /// An exact phrase (as typed, without the quotes).
    Phrase(String),
    /// A tag key, lower-cased, without '#'.
    Tag(String),
    /// An author username, lower-cased.
    Author(String),
    /// An incident key, case kept (`incident:KEY`).
    Incident(String),
    /// A service name, kept as written (`service:NAME`).
    Service(String),
    /// A severity, one of `sev1`..`sev4` (`severity:sevN`).
    Severity(String),
    /// An incident status, lower-cased (`status:resolved`).
    Status(String),
    /// Only replies (`is:reply`).
    IsReply,
    /// Only posts linked to an incident (`has:incident`).
    HasIncident,
    /// created_at within [start_ms, end_ms); None = unbounded.
    Created {
        /// Inclusive lower bound, Unix milliseconds.
        start_ms: Option<i64>,
        /// Exclusive upper bound, Unix milliseconds.
        end_ms: Option<i64>,
    },
    /// Excludes whatever the inner node matches (`-term`).
    Not(Box<Node>),
    /// All children must match (at least two children).
    And(Vec<Node>),
    /// Any child may match (at least two children).
    Or(Vec<Node>),
}

/// Why a query could not be parsed, and where (a 0-based character offset into the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong and how to fix it, in lower case.
    pub message: String,
    /// 0-based character (not byte) offset of the offending input.
    pub position: usize,
}

impl ParseError {
    fn new(message: impl Into<String>, position: usize) -> Self {
        Self { message: message.into(), position }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}

/// Parses a query. `Ok(None)` for an empty/whitespace-only query.
/// Single-child And/Or are collapsed (parse("a") == Some(Word("a"))).
pub fn parse(input: &str) -> Result<Option<Node>, ParseError> {
    if input.chars().count() > MAX_INPUT_CHARS {
        return Err(ParseError::new(
            format!("query is too long: use at most {MAX_INPUT_CHARS} characters"),
            MAX_INPUT_CHARS,
        ));
    }
    let mut parser = Parser::new(input)?;
    if parser.look.is_none() {
        return Ok(None);
    }
    parser.expect_operand(Context::Start)?;
    let node = parser.parse_or(0)?;
    // parse_or only stops at the end of input or at a ')' that no group claimed.
    if let Some(tok) = &parser.look {
        return Err(unexpected(tok));
    }
    Ok(Some(node))
}

/// Whether the query has free-text terms (Word or Phrase) outside a Not — relevance sorting only makes sense then.
pub fn has_text(node: &Node) -> bool {
    match node {
        Node::Word(_) | Node::Phrase(_) => true,
        Node::And(children) | Node::Or(children) => children.iter().any(has_text),
        // Excluded text contributes nothing to a document's score.
        Node::Not(_) => false,
        _ => false,
    }
}

/// Writes a query back in the query language such that `parse(&render(node)) == Ok(Some(node))`
/// for every node `parse` returns (the fuzz target and property tests check this), with the
/// fewest parentheses. Used to show analysts the query as understood.
pub fn render(node: &Node) -> String {
    let mut out = String::new();
    render_into(node, &mut out);
    out
}

fn render_into(node: &Node, out: &mut String) {
    match node {
        Node::Word(word) => out.push_str(word),
        Node::Phrase(phrase) => {
            out.push('"');
            out.push_str(phrase);
            out.push('"');
        }
        Node::Tag(tag) => {
            out.push('#');
            out.push_str(tag);
        }
        Node::Author(user) => {
            out.push('@');
            out.push_str(user);
        }
        Node::Incident(key) => {
            out.push_str("incident:");
            out.push_str(key);
        }
        Node::Service(name) => {
            out.push_str("service:");
            out.push_str(name);
        }
        Node::Severity(value) => {
            out.push_str("severity:");
            out.push_str(value);
        }
        Node::Status(value) => {
            out.push_str("status:");
            out.push_str(value);
        }
        Node::IsReply => out.push_str("is:reply"),
        Node::HasIncident => out.push_str("has:incident"),
        Node::Created { start_ms, end_ms } => render_created(*start_ms, *end_ms, out),
        Node::Not(inner) => {
            out.push('-');
            render_child(inner, matches!(**inner, Node::And(_) | Node::Or(_)), out);
        }
        Node::And(children) => {
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                // AND binds tighter than OR, so only an Or child needs its parentheses.
                render_child(child, matches!(child, Node::Or(_)), out);
            }
        }
        Node::Or(children) => {
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    out.push_str(" OR ");
                }
                render_child(child, matches!(child, Node::Or(_)), out);
            }
        }
    }
}

fn render_child(node: &Node, parens: bool, out: &mut String) {
    if parens {
        out.push('(');
    }
    render_into(node, out);
    if parens {
        out.push(')');
    }
}

/// `during:` for a calendar period (the only way both bounds arise), else `after:`/`before:`.
fn render_created(start_ms: Option<i64>, end_ms: Option<i64>, out: &mut String) {
    let stamp = |ms: i64| {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_else(|| ms.to_string())
    };
    match (start_ms, end_ms) {
        (Some(start), Some(end)) => {
            let during = DateTime::<Utc>::from_timestamp_millis(start).and_then(|t| {
                let date = t.date_naive();
                [
                    date.format("%Y").to_string(),
                    date.format("%Y-%m").to_string(),
                    date.format("%Y-%m-%d").to_string(),
                ]
                .into_iter()
                .find(|text| period(text) == Some((start, end)))
            });
            match during {
                Some(text) => {
                    out.push_str("during:");
                    out.push_str(&text);
                }
                None => {
                    out.push_str(&format!("(after:{} before:{})", stamp(start), stamp(end)));
                }
            }
        }
        (Some(start), None) => out.push_str(&format!("after:{}", stamp(start))),
        (None, Some(end)) => out.push_str(&format!("before:{}", stamp(end))),
        // Not produced by the parser; an always-true range has no spelling of its own.
        (None, None) => out.push_str("after:0000-01-01"),
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum TokenKind {
    LParen,
    RParen,
    Or,
    Minus,
    /// Terms are classified while lexing, so the parser only deals with structure.
    Leaf(Node),
}

#[derive(Debug)]
struct Token {
    kind: TokenKind,
    /// Character offset of the token's first character.
    pos: usize,
}

/// Produces tokens on demand rather than up front, so that errors are reported in input order
/// (an unbalanced ')' early in the query wins over a bad quote later on).
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    /// Set right after a `-`: the next word is never the `OR` operator, so `-OR` excludes the word.
    after_minus: bool,
}

/// Characters that end a bare word. Quotes end words too, so every `"` opens a phrase and an
/// unbalanced one is always reported instead of being silently absorbed into a word.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

impl Lexer {
    fn new(input: &str) -> Self {
        Self { chars: input.chars().collect(), pos: 0, after_minus: false }
    }

    fn next_token(&mut self) -> Result<Option<Token>, ParseError> {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = self.chars.get(start) else {
            return Ok(None);
        };
        let after_minus = std::mem::replace(&mut self.after_minus, false);
        let kind = match c {
            '(' => {
                self.pos += 1;
                TokenKind::LParen
            }
            ')' => {
                self.pos += 1;
                TokenKind::RParen
            }
            '"' => TokenKind::Leaf(self.phrase(start)?),
            '-' => match self.chars.get(start + 1) {
                // Only a leading '-' directly attached to something negates; '-' inside a word
                // (`e-mail`, `foo-`) never reaches here because words are read whole.
                Some(&next) if !next.is_whitespace() && next != ')' => {
                    self.pos += 1;
                    self.after_minus = true;
                    TokenKind::Minus
                }
                _ => {
                    return Err(ParseError::new(
                        "dangling '-': put the term to exclude right after it, e.g. -word",
                        start,
                    ))
                }
            },
            _ => {
                let end = self.chars[start..]
                    .iter()
                    .position(|&c| ends_word(c))
                    .map_or(self.chars.len(), |len| start + len);
                self.pos = end;
                let word: String = self.chars[start..end].iter().collect();
                if word == "OR" && !after_minus {
                    TokenKind::Or
                } else {
                    TokenKind::Leaf(classify(&word, start)?)
                }
            }
        };
        Ok(Some(Token { kind, pos: start }))
    }

    /// Reads a quoted phrase whose opening quote is at `start`.
    fn phrase(&mut self, start: usize) -> Result<Node, ParseError> {
        let body = start + 1;
        let Some(len) = self.chars[body..].iter().position(|&c| c == '"') else {
            return Err(ParseError::new("unterminated quote: add a closing \"", start));
        };
        self.pos = body + len + 1;
        let text: String = self.chars[body..body + len].iter().collect();
        if text.trim().is_empty() {
            return Err(ParseError::new("empty phrase: put words between the quotes or remove them", start));
        }
        Ok(Node::Phrase(text))
    }
}

// ---------------------------------------------------------------------------------------------
// Terms and filters
// ---------------------------------------------------------------------------------------------

/// Turns one bare word (starting at `pos`) into a leaf node.
fn classify(word: &str, pos: usize) -> Result<Node, ParseError> {
    if let Some(tag) = word.strip_prefix('#') {
        return parse_tag(tag, pos);
    }
    if let Some(user) = word.strip_prefix('@') {
        return parse_username(user, pos);
    }
    if let Some((key, value)) = word.split_once(':') {
        // Unknown keys are ordinary text (`error:500`, `http://…`), so analysts can paste freely.
        if let Some(field) = Field::from_key(key) {
            return field.parse(value, pos);
        }
    }
    Ok(Node::Word(word.to_owned()))
}

/// Tags go through the body parser's own normalisation ([`text::tag_key`]), so `#ＳＳＯ` or a
/// decomposed accent find the posts whose bodies spell the tag that way; a bare lower-casing
/// disagreed with stored keys (found by the query fuzz target).
fn parse_tag(tag: &str, pos: usize) -> Result<Node, ParseError> {
    match text::tag_key(tag) {
        Some(key) => Ok(Node::Tag(key)),
        None => Err(ParseError::new(
            format!(
                "invalid tag \"#{tag}\": use 1-{MAX_NAME_CHARS} letters, digits, '_' or '-', \
                 including at least one letter and not ending in '-'"
            ),
            pos,
        )),
    }
}

fn parse_username(user: &str, pos: usize) -> Result<Node, ParseError> {
    let valid = (1..=MAX_NAME_CHARS).contains(&user.len())
        && user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(ParseError::new(
            format!(
                "invalid username \"{user}\": use 1-{MAX_NAME_CHARS} ascii letters, digits, '_', '-' or '.', \
                 e.g. @alice or from:alice"
            ),
            pos,
        ));
    }
    Ok(Node::Author(user.to_ascii_lowercase()))
}

/// The `key:` filters the language knows about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Incident,
    Service,
    Severity,
    Status,
    Is,
    Has,
    After,
    Before,
    During,
}

impl Field {
    /// Keys match ASCII case-insensitively: `Severity:SEV1` is an obvious intent, not text.
    fn from_key(key: &str) -> Option<Self> {
        let field = match key.to_ascii_lowercase().as_str() {
            "from" => Self::From,
            "incident" => Self::Incident,
            "service" => Self::Service,
            "severity" => Self::Severity,
            "status" => Self::Status,
            "is" => Self::Is,
            "has" => Self::Has,
            "after" => Self::After,
            "before" => Self::Before,
            "during" => Self::During,
            _ => return None,
        };
        Some(field)
    }

    fn name(self) -> &'static str {
        match self {
            Self::From => "from",
            Self::Incident => "incident",
            Self::Service => "service",
            Self::Severity => "severity",
            Self::Status => "status",
            Self::Is => "is",
            Self::Has => "has",
            Self::After => "after",
            Self::Before => "before",
            Self::During => "during",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Self::From => "from:alice",
            Self::Incident => "incident:INC-42",
            Self::Service => "service:payments",
            Self::Severity => "severity:sev1",
            Self::Status => "status:resolved",
            Self::Is => "is:reply",
            Self::Has => "has:incident",
            Self::After => "after:2024-03-01",
            Self::Before => "before:2024-04-01",
            Self::During => "during:2024-03",
        }
    }

    /// Parses the value of a `key:value` term that starts at `pos`.
    fn parse(self, value: &str, pos: usize) -> Result<Node, ParseError> {
        let name = self.name();
        if value.is_empty() {
            return Err(ParseError::new(
                format!("missing value after \"{name}:\": write e.g. {}", self.example()),
                pos,
            ));
        }
        let node = match self {
            Self::From => return parse_username(value, pos),
            Self::Incident => {
                if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')) {
                    return Err(ParseError::new(
                        format!(
                            "invalid incident key \"{value}\": use ascii letters, digits, '-', '_', ':' or '.'"
                        ),
                        pos,
                    ));
                }
                Node::Incident(value.to_owned())
            }
            Self::Service => Node::Service(value.to_owned()),
            Self::Severity => {
                let lower = value.to_lowercase();
                if !SEVERITIES.contains(&lower.as_str()) {
                    return Err(ParseError::new(
                        format!("unknown severity \"{value}\": use sev1, sev2, sev3 or sev4"),
                        pos,
                    ));
                }
                Node::Severity(lower)
            }
            Self::Status => {
                let lower = value.to_lowercase();
                if !STATUSES.contains(&lower.as_str()) {
                    return Err(ParseError::new(
                        format!(
                            "unknown status \"{value}\": use investigating, identified, monitoring, \
                             resolved or closed"
                        ),
                        pos,
                    ));
                }
                Node::Status(lower)
            }
            Self::Is => {
                if !value.eq_ignore_ascii_case("reply") {
                    return Err(ParseError::new(
                        format!("unknown value \"{value}\" for is: use is:reply"),
                        pos,
                    ));
                }
                Node::IsReply
            }
            Self::Has => {
                if !value.eq_ignore_ascii_case("incident") {
                    return Err(ParseError::new(
                        format!("unknown value \"{value}\" for has: use has:incident"),
                        pos,
                    ));
                }
                Node::HasIncident
            }
            Self::After | Self::Before => {
                let instant = match period(value) {
                    // after: includes the whole period; before: excludes all of it.
                    Some((start, _)) => Some(start),
                    None => DateTime::parse_from_rfc3339(value).ok().map(|t| t.timestamp_millis()),
                };
                let Some(ms) = instant else {
                    return Err(ParseError::new(
                        format!(
                            "invalid date \"{value}\" for {name}: use YYYY, YYYY-MM, YYYY-MM-DD \
                             or an RFC 3339 timestamp such as 2024-03-01T12:00:00Z"
                        ),
                        pos,
                    ));
                };
                if self == Self::After {
                    Node::Created { start_ms: Some(ms), end_ms: None }
                } else {
                    Node::Created { start_ms: None, end_ms: Some(ms) }
                }
            }
            Self::During => {
                // A timestamp has no extent, so "during" only takes calendar periods.
                let Some((start, end)) = period(value) else {
                    return Err(ParseError::new(
                        format!("invalid date \"{value}\" for during: use YYYY, YYYY-MM or YYYY-MM-DD"),
                        pos,
                    ));
                };
                Node::Created { start_ms: Some(start), end_ms: Some(end) }
            }
        };
        Ok(node)
    }
}

/// Resolves `YYYY`, `YYYY-MM` or `YYYY-MM-DD` to the UTC half-open interval it covers, in Unix
/// milliseconds. Formats are strict (zero-padded) so typos are reported rather than guessed at.
fn period(value: &str) -> Option<(i64, i64)> {
    let mut parts = value.split('-');
    let year = i32::try_from(fixed_digits(parts.next()?, 4)?).ok()?;
    let (start, end) = match (parts.next(), parts.next()) {
        (None, _) => (ymd(year, 1, 1)?, ymd(year + 1, 1, 1)?),
        (Some(month), None) => {
            let month = fixed_digits(month, 2)?;
            let start = ymd(year, month, 1)?;
            let end = if month == 12 { ymd(year + 1, 1, 1)? } else { ymd(year, month + 1, 1)? };
            (start, end)
        }
        (Some(month), Some(day)) => {
            if parts.next().is_some() {
                return None;
            }
            let start = ymd(year, fixed_digits(month, 2)?, fixed_digits(day, 2)?)?;
            (start, start.succ_opt()?)
        }
    };
    Some((day_start_ms(start), day_start_ms(end)))
}

/// Parses exactly `len` ASCII digits.
fn fixed_digits(s: &str, len: usize) -> Option<u32> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

fn day_start_ms(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------
//
// Grammar (AND binds tighter than OR):
//   query   := or_expr
//   or_expr := and_expr ("OR" and_expr)*
//   and_expr:= unary+
//   unary   := "-" unary | "(" or_expr ")" | leaf

/// Where an operand is required, so a missing one gets a precise message.
#[derive(Debug, Clone, Copy)]
enum Context {
    Start,
    AfterOr(usize),
    AfterMinus(usize),
    Group(usize),
}

struct Parser {
    lexer: Lexer,
    /// One token of lookahead; `None` at the end of input.
    look: Option<Token>,
    leaves: usize,
}

fn unexpected_close(pos: usize) -> ParseError {
    ParseError::new("unexpected ')': no matching '('", pos)
}

fn dangling_or(pos: usize) -> ParseError {
    ParseError::new(
        "dangling OR: put a term on each side, e.g. sso OR saml (write \"OR\" to search for the word)",
        pos,
    )
}

fn unclosed(pos: usize) -> ParseError {
    ParseError::new("unclosed '(': add a matching ')'", pos)
}

fn dangling_minus(pos: usize) -> ParseError {
    ParseError::new("dangling '-': put the term to exclude right after it, e.g. -word", pos)
}

fn unexpected(tok: &Token) -> ParseError {
    match tok.kind {
        TokenKind::Or => dangling_or(tok.pos),
        TokenKind::Minus => dangling_minus(tok.pos),
        _ => unexpected_close(tok.pos),
    }
}

/// Appends `node` to the children of an And (`or == false`) or Or (`or == true`), splicing in
/// the children of a nested node of the same kind: `a (b c)` is simply `a b c`.
fn push_flat(list: &mut Vec<Node>, node: Node, or: bool) {
    match node {
        Node::Or(children) if or => list.extend(children),
        Node::And(children) if !or => list.extend(children),
        other => list.push(other),
    }
}

impl Parser {
    fn new(input: &str) -> Result<Self, ParseError> {
        let mut lexer = Lexer::new(input);
        let look = lexer.next_token()?;
        Ok(Self { lexer, look, leaves: 0 })
    }

    fn advance(&mut self) -> Result<(), ParseError> {
        self.look = self.lexer.next_token()?;
        Ok(())
    }

    /// Fails unless the lookahead can start a term.
    fn expect_operand(&self, context: Context) -> Result<(), ParseError> {
        match (&self.look, context) {
            (Some(Token { kind: TokenKind::Minus | TokenKind::LParen | TokenKind::Leaf(_), .. }), _) => {
                Ok(())
            }
            (Some(Token { kind: TokenKind::Or, pos }), _) => Err(dangling_or(*pos)),
            (_, Context::AfterOr(or_pos)) => Err(dangling_or(or_pos)),
            (_, Context::AfterMinus(minus_pos)) => Err(dangling_minus(minus_pos)),
            (None, Context::Group(open)) => Err(unclosed(open)),
            (Some(_), Context::Group(open)) => {
                Err(ParseError::new("empty parentheses: put terms inside or remove them", open))
            }
            (Some(tok), Context::Start) => Err(unexpected(tok)),
            (None, Context::Start) => Err(ParseError::new("expected a search term", self.lexer.chars.len())),
        }
    }

    /// Accounts for one more level of nesting opened at `pos`.
    fn enter(depth: usize, pos: usize) -> Result<usize, ParseError> {
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(ParseError::new(
                format!("query is nested too deeply: use at most {MAX_DEPTH} levels of parentheses and '-'"),
                pos,
            ));
        }
        Ok(depth)
    }

    fn parse_or(&mut self, depth: usize) -> Result<Node, ParseError> {
        let mut alternatives = Vec::new();
        push_flat(&mut alternatives, self.parse_and(depth)?, true);
        while let Some(Token { kind: TokenKind::Or, pos }) = self.look {
            self.advance()?;
            self.expect_operand(Context::AfterOr(pos))?;
            push_flat(&mut alternatives, self.parse_and(depth)?, true);
        }
        Ok(if alternatives.len() == 1 { alternatives.swap_remove(0) } else { Node::Or(alternatives) })
    }

    fn parse_and(&mut self, depth: usize) -> Result<Node, ParseError> {
        let mut terms = Vec::new();
        while let Some(tok) = &self.look {
            if matches!(tok.kind, TokenKind::Or | TokenKind::RParen) {
                break;
            }
            push_flat(&mut terms, self.parse_unary(depth)?, false);
        }
        match terms.len() {
            // Callers check for an operand first; this only guards against a grammar slip.
            0 => Err(ParseError::new("expected a search term", self.position())),
            1 => Ok(terms.swap_remove(0)),
            _ => Ok(Node::And(terms)),
        }
    }

    fn parse_unary(&mut self, depth: usize) -> Result<Node, ParseError> {
        let Some(tok) = self.look.take() else {
            return Err(ParseError::new("expected a search term", self.lexer.chars.len()));
        };
        match tok.kind {
            TokenKind::Minus => {
                let depth = Self::enter(depth, tok.pos)?;
                self.advance()?;
                self.expect_operand(Context::AfterMinus(tok.pos))?;
                Ok(Node::Not(Box::new(self.parse_unary(depth)?)))
            }
            TokenKind::LParen => {
                let depth = Self::enter(depth, tok.pos)?;
                self.advance()?;
                self.expect_operand(Context::Group(tok.pos))?;
                let inner = self.parse_or(depth)?;
                match self.look {
                    Some(Token { kind: TokenKind::RParen, .. }) => self.advance()?,
                    _ => return Err(unclosed(tok.pos)),
                }
                Ok(inner)
            }
            TokenKind::Leaf(node) => {
                self.leaves += 1;
                if self.leaves > MAX_LEAVES {
                    return Err(ParseError::new(
                        format!("too many terms: use at most {MAX_LEAVES} words, phrases and filters"),
                        tok.pos,
                    ));
                }
                self.advance()?;
                Ok(node)
            }
            TokenKind::Or | TokenKind::RParen => Err(unexpected(&tok)),
        }
    }

    /// Position of the lookahead, or the end of input.
    fn position(&self) -> usize {
        self.look.as_ref().map_or(self.lexer.chars.len(), |tok| tok.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(input: &str) -> Node {
        match parse(input) {
            Ok(Some(node)) => node,
            other => panic!("{input:?} gave {other:?}"),
        }
    }

    fn err(input: &str) -> ParseError {
        match parse(input) {
            Err(e) => e,
            other => panic!("{input:?} should fail but gave {other:?}"),
        }
    }

    fn word(s: &str) -> Node {
        Node::Word(s.to_owned())
    }

    fn not(node: Node) -> Node {
        Node::Not(Box::new(node))
    }

    fn created(start_ms: Option<i64>, end_ms: Option<i64>) -> Node {
        Node::Created { start_ms, end_ms }
    }

    /// 2024-03-01T00:00:00Z
    const MAR_2024: i64 = 1_709_251_200_000;
    /// 2024-04-01T00:00:00Z
    const APR_2024: i64 = 1_711_929_600_000;
    /// 2024-01-01T00:00:00Z
    const JAN_2024: i64 = 1_704_067_200_000;
    /// 2025-01-01T00:00:00Z
    const JAN_2025: i64 = 1_735_689_600_000;
    /// 2024-12-01T00:00:00Z
    const DEC_2024: i64 = 1_733_011_200_000;

    #[test]
    fn empty_and_whitespace_queries_are_none() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("   \t\n "), Ok(None));
    }

    #[test]
    fn single_word_is_not_wrapped() {
        assert_eq!(ok("a"), word("a"));
        assert_eq!(ok("  lockout  "), word("lockout"));
    }

    #[test]
    fn words_are_implicitly_anded() {
        assert_eq!(ok("lockout tablets"), Node::And(vec![word("lockout"), word("tablets")]));
    }

    #[test]
    fn phrase_is_kept_as_typed() {
        assert_eq!(ok("\"exact phrase\""), Node::Phrase("exact phrase".into()));
        assert_eq!(ok("\" Two  Spaces \""), Node::Phrase(" Two  Spaces ".into()));
        assert_eq!(
            ok("db \"disk full\" now"),
            Node::And(vec![word("db"), Node::Phrase("disk full".into()), word("now")])
        );
        // A quote ends a bare word and opens a phrase.
        assert_eq!(ok("a\"b c\""), Node::And(vec![word("a"), Node::Phrase("b c".into())]));
        assert_eq!(ok("\"OR\""), Node::Phrase("OR".into()));
    }

    #[test]
    fn upper_case_or_is_an_operator() {
        assert_eq!(ok("sso OR saml"), Node::Or(vec![word("sso"), word("saml")]));
    }

    #[test]
    fn lower_case_or_is_a_word() {
        assert_eq!(ok("sso or saml"), Node::And(vec![word("sso"), word("or"), word("saml")]));
        assert_eq!(ok("sso Or saml"), Node::And(vec![word("sso"), word("Or"), word("saml")]));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(ok("a b OR c"), Node::Or(vec![Node::And(vec![word("a"), word("b")]), word("c")]));
        assert_eq!(ok("a OR b c"), Node::Or(vec![word("a"), Node::And(vec![word("b"), word("c")])]));
        assert_eq!(ok("a OR b OR c"), Node::Or(vec![word("a"), word("b"), word("c")]));
    }

    #[test]
    fn nested_parentheses() {
        assert_eq!(
            ok("(a OR (b c)) d"),
            Node::And(vec![Node::Or(vec![word("a"), Node::And(vec![word("b"), word("c")])]), word("d")])
        );
        assert_eq!(ok("a (b OR c)"), Node::And(vec![word("a"), Node::Or(vec![word("b"), word("c")])]));
        assert_eq!(ok("((a))"), word("a"));
        // Same-kind nesting is flattened.
        assert_eq!(ok("a (b c)"), Node::And(vec![word("a"), word("b"), word("c")]));
        assert_eq!(ok("(a OR b) OR c"), Node::Or(vec![word("a"), word("b"), word("c")]));
        // Parentheses delimit words.
        assert_eq!(ok("(a)b"), Node::And(vec![word("a"), word("b")]));
    }

    #[test]
    fn negation_of_each_kind() {
        assert_eq!(ok("-word"), not(word("word")));
        assert_eq!(ok("-#Tag"), not(Node::Tag("tag".into())));
        assert_eq!(ok("-\"a phrase\""), not(Node::Phrase("a phrase".into())));
        assert_eq!(ok("-from:bob"), not(Node::Author("bob".into())));
        assert_eq!(ok("-@bob"), not(Node::Author("bob".into())));
        assert_eq!(ok("-(a OR b)"), not(Node::Or(vec![word("a"), word("b")])));
        assert_eq!(ok("-is:reply"), not(Node::IsReply));
        assert_eq!(ok("sso -saml"), Node::And(vec![word("sso"), not(word("saml"))]));
        assert_eq!(ok("--a"), not(not(word("a"))));
    }

    #[test]
    fn negated_or_is_a_word() {
        assert_eq!(ok("a -OR b"), Node::And(vec![word("a"), not(word("OR")), word("b")]));
    }

    #[test]
    fn only_negations_is_valid() {
        assert_eq!(ok("-foo"), not(word("foo")));
        assert_eq!(ok("-foo -bar"), Node::And(vec![not(word("foo")), not(word("bar"))]));
    }

    #[test]
    fn inner_and_trailing_hyphens_are_part_of_the_word() {
        assert_eq!(ok("e-mail"), word("e-mail"));
        assert_eq!(ok("foo-"), word("foo-"));
        assert_eq!(ok("-e-mail"), not(word("e-mail")));
    }

    #[test]
    fn tags_are_normalised() {
        assert_eq!(ok("#Outage_2024"), Node::Tag("outage_2024".into()));
        assert_eq!(ok("#SSO-Login"), Node::Tag("sso-login".into()));
        assert_eq!(ok("#Café"), Node::Tag("café".into()));
        assert_eq!(ok(&format!("#{}", "a".repeat(64))), Node::Tag("a".repeat(64)));
    }

    #[test]
    fn authors_are_lower_cased() {
        assert_eq!(ok("@Alice"), Node::Author("alice".into()));
        assert_eq!(ok("from:Bob.Smith-2_x"), Node::Author("bob.smith-2_x".into()));
        // Keys are case-insensitive.
        assert_eq!(ok("FROM:bob"), Node::Author("bob".into()));
        // An '@' inside a word is just text.
        assert_eq!(ok("bob@example.com"), word("bob@example.com"));
    }

    #[test]
    fn incident_value_keeps_case_and_colons() {
        assert_eq!(ok("incident:githubstatus:abc123"), Node::Incident("githubstatus:abc123".into()));
        assert_eq!(ok("incident:INC-42.x_y"), Node::Incident("INC-42.x_y".into()));
        assert_eq!(ok("(incident:K-1)"), Node::Incident("K-1".into()));
    }

    #[test]
    fn service_is_kept_as_written() {
        assert_eq!(ok("service:Payments-API"), Node::Service("Payments-API".into()));
    }

    #[test]
    fn severity_and_status_are_lower_cased() {
        assert_eq!(ok("severity:sev1"), Node::Severity("sev1".into()));
        assert_eq!(ok("severity:SEV4"), Node::Severity("sev4".into()));
        for status in STATUSES {
            assert_eq!(ok(&format!("status:{status}")), Node::Status(status.into()));
        }
        assert_eq!(ok("status:Resolved"), Node::Status("resolved".into()));
    }

    #[test]
    fn is_reply_and_has_incident() {
        assert_eq!(ok("is:reply"), Node::IsReply);
        assert_eq!(ok("has:incident"), Node::HasIncident);
        assert_eq!(ok("db is:reply"), Node::And(vec![word("db"), Node::IsReply]));
    }

    #[test]
    fn unknown_keys_are_words() {
        assert_eq!(ok("error:500"), word("error:500"));
        assert_eq!(ok("https://example.com/x"), word("https://example.com/x"));
        assert_eq!(ok(":x"), word(":x"));
        assert_eq!(ok("note:"), word("note:"));
    }

    #[test]
    fn after_resolves_to_start_of_period() {
        assert_eq!(ok("after:2024-03-01"), created(Some(MAR_2024), None));
        assert_eq!(ok("after:2024-03"), created(Some(MAR_2024), None));
        assert_eq!(ok("after:2024"), created(Some(JAN_2024), None));
        assert_eq!(ok("after:2024-02-29"), created(Some(1_709_164_800_000), None));
    }

    #[test]
    fn before_resolves_to_start_of_period() {
        assert_eq!(ok("before:2024-04-01"), created(None, Some(APR_2024)));
        assert_eq!(ok("before:2025"), created(None, Some(JAN_2025)));
    }

    #[test]
    fn rfc3339_timestamps_for_after_and_before() {
        assert_eq!(ok("before:2024-04-01T12:00:00Z"), created(None, Some(1_711_972_800_000)));
        assert_eq!(ok("after:2024-04-01T12:00:00+02:00"), created(Some(1_711_965_600_000), None));
        assert_eq!(ok("after:2024-04-01T12:00:00.250Z"), created(Some(1_711_972_800_250), None));
    }

    #[test]
    fn during_covers_the_whole_period() {
        assert_eq!(ok("during:2024-03"), created(Some(MAR_2024), Some(APR_2024)));
        assert_eq!(ok("during:2024-03-01"), created(Some(MAR_2024), Some(1_709_337_600_000)));
        assert_eq!(ok("during:2024"), created(Some(JAN_2024), Some(JAN_2025)));
        assert_eq!(ok("during:2024-12"), created(Some(DEC_2024), Some(JAN_2025)));
        assert_eq!(ok("during:2024-12-31"), created(Some(JAN_2025 - 86_400_000), Some(JAN_2025)));
    }

    #[test]
    fn date_filters_combine_with_terms() {
        assert_eq!(
            ok("after:2024-03 before:2024-04 db"),
            Node::And(vec![created(Some(MAR_2024), None), created(None, Some(APR_2024)), word("db")])
        );
    }

    #[test]
    fn unicode_words() {
        assert_eq!(ok("café"), word("café"));
        assert_eq!(ok("café 日本語"), Node::And(vec![word("café"), word("日本語")]));
        assert_eq!(ok("日本語 OR ñ"), Node::Or(vec![word("日本語"), word("ñ")]));
    }

    #[test]
    fn has_text_ignores_negated_and_filter_terms() {
        assert!(has_text(&ok("db")));
        assert!(has_text(&ok("\"disk full\"")));
        assert!(has_text(&ok("#db OR outage")));
        assert!(has_text(&ok("from:bob (a -b)")));
        assert!(!has_text(&ok("-db")));
        assert!(!has_text(&ok("#db from:bob after:2024")));
        assert!(!has_text(&ok("-(a OR \"b c\") is:reply")));
    }

    #[test]
    fn display_includes_position() {
        let e = err("a \"b");
        assert_eq!(e.to_string(), "unterminated quote: add a closing \" at position 2");
    }

    #[test]
    fn error_unterminated_quote() {
        let e = err("a \"b c");
        assert_eq!(e, ParseError::new("unterminated quote: add a closing \"", 2));
        assert_eq!(err("-\"x").position, 1);
        // Positions count characters, not bytes.
        assert_eq!(err("日本語 \"x").position, 4);
        assert_eq!(err("\"a\" \"b").position, 4);
    }

    #[test]
    fn error_unclosed_paren() {
        assert_eq!(err("(a b"), ParseError::new("unclosed '(': add a matching ')'", 0));
        assert_eq!(err("a (b (c)").position, 2);
        assert_eq!(err("x (").position, 2);
    }

    #[test]
    fn error_unexpected_close_paren() {
        assert_eq!(err("a b)"), ParseError::new("unexpected ')': no matching '('", 3));
        assert_eq!(err(")").position, 0);
        assert_eq!(err("(a)) b").position, 3);
        // Errors are reported in input order.
        assert_eq!(err("a) \"b").position, 1);
    }

    #[test]
    fn error_empty_parentheses() {
        assert_eq!(err("a ( )").position, 2);
        assert!(err("()").message.starts_with("empty parentheses"));
    }

    #[test]
    fn error_dangling_or() {
        assert_eq!(err("OR a").position, 0);
        assert_eq!(err("a OR").position, 2);
        assert_eq!(err("(a OR) b").position, 3);
        assert_eq!(err("a OR OR b").position, 5);
        assert!(err("a OR").message.starts_with("dangling OR"));
    }

    #[test]
    fn error_empty_phrase() {
        assert_eq!(err("a \"  \"").position, 2);
    }

    #[test]
    fn error_empty_known_key() {
        assert_eq!(err("from:"), ParseError::new("missing value after \"from:\": write e.g. from:alice", 0));
        assert_eq!(err("db -severity:").position, 4);
        assert_eq!(err("after: 2024").position, 0);
        assert_eq!(err("@").position, 0);
    }

    #[test]
    fn error_unknown_severity() {
        assert_eq!(
            err("db severity:sev9"),
            ParseError::new("unknown severity \"sev9\": use sev1, sev2, sev3 or sev4", 3)
        );
    }

    #[test]
    fn error_unknown_status() {
        assert_eq!(err("status:done").position, 0);
        assert!(err("status:done")
            .message
            .contains("investigating, identified, monitoring, resolved or closed"));
    }

    #[test]
    fn error_unknown_is_and_has() {
        assert_eq!(err("is:foo"), ParseError::new("unknown value \"foo\" for is: use is:reply", 0));
        assert_eq!(err("a has:tag"), ParseError::new("unknown value \"tag\" for has: use has:incident", 2));
    }

    #[test]
    fn error_invalid_tag() {
        let e = err("#1");
        assert_eq!(e.position, 0);
        assert!(e.message.starts_with("invalid tag \"#1\""), "{e}");
        assert_eq!(err("db #").position, 3);
        assert_eq!(err("#a.b").position, 0);
        assert_eq!(err(&format!("#{}", "a".repeat(65))).position, 0);
    }

    #[test]
    fn error_invalid_username_and_incident() {
        assert_eq!(err("from:bob!").position, 0);
        assert_eq!(err("@café").position, 0);
        assert_eq!(err(&format!("@{}", "a".repeat(65))).position, 0);
        assert_eq!(err("incident:a/b").position, 0);
    }

    #[test]
    fn error_lone_minus() {
        let e = err("a - b");
        assert_eq!(e.position, 2);
        assert!(e.message.starts_with("dangling '-'"), "{e}");
        assert_eq!(err("a -").position, 2);
        assert_eq!(err("(a -)").position, 3);
        assert_eq!(err("--").position, 1);
    }

    #[test]
    fn error_too_long() {
        assert_eq!(ok(&"a".repeat(2000)), word(&"a".repeat(2000)));
        let e = err(&"a".repeat(2001));
        assert_eq!(e, ParseError::new("query is too long: use at most 2000 characters", 2000));
        // Counted in characters, not bytes.
        assert!(parse(&"é".repeat(2000)).is_ok());
    }

    #[test]
    fn error_too_many_terms() {
        assert!(parse(&"a ".repeat(100)).is_ok());
        let e = err(&"a ".repeat(101));
        assert_eq!(e.position, 200);
        assert!(e.message.starts_with("too many terms"), "{e}");
    }

    #[test]
    fn error_too_deep() {
        let fine = format!("{}a{}", "(".repeat(32), ")".repeat(32));
        assert_eq!(ok(&fine), word("a"));
        let e = err(&format!("{}a{}", "(".repeat(33), ")".repeat(33)));
        assert_eq!(e.position, 32);
        assert!(e.message.starts_with("query is nested too deeply"), "{e}");
        assert_eq!(err(&format!("{}a", "-".repeat(33))).position, 32);
        assert_eq!(err(&format!("{}a", "-(".repeat(17))).position, 32);
    }

    #[test]
    fn error_invalid_dates() {
        let e = err("after:2024-13");
        assert_eq!(e.position, 0);
        assert!(e.message.starts_with("invalid date \"2024-13\" for after"), "{e}");
        assert_eq!(err("x before:2024-02-30").position, 2);
        assert_eq!(err("after:2024-3").position, 0);
        assert_eq!(err("after:24").position, 0);
        assert_eq!(err("after:2024-03-01-02").position, 0);
        assert_eq!(err("during:2024-03-01T00:00:00Z").position, 0);
        assert_eq!(err("during:soon").position, 0);
    }

    const ALPHABET: &[&str] = &[
        "a",
        "b",
        "OR",
        "(",
        ")",
        "-",
        "\"",
        "#x",
        "#",
        "from:",
        "after:2024",
        "incident:K-1",
        " ",
        ":",
        "@",
        "é",
    ];

    fn token_soup() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(ALPHABET), 0..300).prop_map(|parts| parts.concat())
    }

    /// Checks the structural invariants every successful parse must satisfy.
    fn check_shape(node: &Node) -> usize {
        match node {
            Node::And(children) | Node::Or(children) => {
                assert!(children.len() >= 2, "unflattened {node:?}");
                children.iter().map(check_shape).sum()
            }
            Node::Not(inner) => check_shape(inner),
            _ => 1,
        }
    }

    fn check(input: &str) {
        let first = parse(input);
        match &first {
            Ok(Some(node)) => assert!(check_shape(node) <= MAX_LEAVES),
            Ok(None) => assert!(input.trim().is_empty()),
            Err(e) => assert!(e.position <= input.chars().count(), "{e} for {input:?}"),
        }
        assert_eq!(first, parse(input), "non-deterministic for {input:?}");
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(input in "\\PC*") {
            check(&input);
        }

        #[test]
        fn token_soup_never_panics(input in token_soup()) {
            check(&input);
        }

        #[test]
        fn parsed_queries_re_render(input in prop_oneof![token_soup(), "\\PC{0,80}".prop_map(String::from)]) {
            if let Ok(Some(node)) = parse(&input) {
                let text = render(&node);
                prop_assert_eq!(parse(&text), Ok(Some(node)), "rendered as {:?}", text);
            }
        }

        #[test]
        fn parse_is_deterministic(input in prop_oneof![token_soup(), "\\PC{0,80}".prop_map(String::from)]) {
            prop_assert_eq!(parse(&input), parse(&input));
        }
    }
}
