//! Query-string parsing for list endpoints that take repeated parameters (`tag=a&tag=b`),
//! which serde's urlencoded support cannot express. Unknown parameters are rejected so a
//! typo is reported instead of silently ignored.

use crate::error::{bad_request, AppError};

/// Parsed `key=value` pairs of a query string, checked against the allowed keys.
pub struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    pub fn parse(query: &str, allowed: &[&str]) -> Result<QueryPairs, AppError> {
        let mut pairs = Vec::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if !allowed.contains(&key.as_ref()) {
                return Err(bad_request(
                    "bad_query",
                    format!("unknown parameter {key:?}; allowed: {}", allowed.join(", ")),
                ));
            }
            pairs.push((key.into_owned(), value.into_owned()));
        }
        if pairs.len() > 64 {
            return Err(bad_request("bad_query", "too many parameters (at most 64)"));
        }
        Ok(QueryPairs(pairs))
    }

    /// Every non-empty value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// The last non-empty value of `key`.
    pub fn one(&self, key: &str) -> Option<String> {
        self.all(key).pop()
    }
}

/// The query of an API route that takes no parameters. Any parameter is refused (400
/// `bad_query`), so one meant for another route (`window=` on `/distinctive`) or a typo is
/// reported to the program that sent it instead of silently ignored, as on the API routes
/// that take parameters. Pages are read by people through links that may carry tracking or
/// other parameters (`?utm_source=chat`): they ignore names they do not take, and refuse
/// only a bad value of a name they do take.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}
