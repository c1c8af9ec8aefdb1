//! Word pairs ("shingles") for fast phrases. A phrase of two very common words (`"da fa"` in a
//! corpus where both are in most posts) costs a position check on every post that has both;
//! indexing each pair of adjacent words as one term makes a two-word phrase a single term
//! lookup, and a longer phrase a phrase over far sparser pair terms. This is what
//! Elasticsearch's `index_phrases` option does.

use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer, TokenizerManager};
use tantivy::Index;

/// Name the shingle analyser is registered under on every index.
pub const TOKENIZER: &str = "i2i_shingles";

/// Joins the two words of a pair. The word analyser never keeps a space inside a word, so a
/// pair term cannot be mistaken for a single word.
const SEPARATOR: char = ' ';

/// Registers the analysers the schema names beyond tantivy's built-in ones. Every index must
/// get this right after it is created or opened, before it is written or searched.
pub fn register(index: &Index) {
    index.tokenizers().register(TOKENIZER, ShingleTokenizer::new());
}

/// The pair term of two adjacent words, as the index stores it.
pub fn pair(first: &str, second: &str) -> String {
    let mut out = String::with_capacity(first.len() + second.len() + 1);
    out.push_str(first);
    out.push(SEPARATOR);
    out.push_str(second);
    out
}

/// Emits one token per pair of adjacent words of tantivy's `default` analyser (the one the
/// exact body field uses), at the position of the pair's first word. Words that the
/// analyser drops (longer than its limit) leave a gap in the positions, and no pair is made
/// across a gap: a phrase could not match there either.
#[derive(Clone)]
pub struct ShingleTokenizer {
    words: TextAnalyzer,
    pairs: Vec<Token>,
}

impl ShingleTokenizer {
    pub fn new() -> ShingleTokenizer {
        // Taken from a fresh manager so the words are exactly those of the `default` field.
        let words = TokenizerManager::default().get("default").unwrap_or_else(TextAnalyzer::default);
        ShingleTokenizer { words, pairs: Vec::new() }
    }
}

impl Default for ShingleTokenizer {
    fn default() -> Self {
        ShingleTokenizer::new()
    }
}

impl Tokenizer for ShingleTokenizer {
    type TokenStream<'a> = PairStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> PairStream<'a> {
        let ShingleTokenizer { words, pairs } = self;
        pairs.clear();
        let mut stream = words.token_stream(text);
        let mut previous: Option<Token> = None;
        while stream.advance() {
            let word = stream.token();
            if let Some(before) = &previous {
                if word.position == before.position + 1 {
                    pairs.push(Token {
                        offset_from: before.offset_from,
                        offset_to: word.offset_to,
                        position: before.position,
                        text: pair(&before.text, &word.text),
                        position_length: 1,
                    });
                }
            }
            previous = Some(word.clone());
        }
        PairStream { pairs: pairs.as_mut_slice(), next: 0 }
    }
}

/// The pairs of one text, made up front.
pub struct PairStream<'a> {
    pairs: &'a mut [Token],
    /// Index of the token after the current one (0 before the first `advance`).
    next: usize,
}

impl TokenStream for PairStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.pairs.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.pairs[self.next.saturating_sub(1)]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.pairs[self.next.saturating_sub(1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs_of(text: &str) -> Vec<(String, usize)> {
        let mut tokenizer = ShingleTokenizer::new();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push((stream.token().text.clone(), stream.token().position));
        }
        out
    }

    #[test]
    fn adjacent_words_pair_up_at_the_first_words_position() {
        assert_eq!(
            pairs_of("SSO login, failed again"),
            vec![
                ("sso login".to_string(), 0),
                ("login failed".to_string(), 1),
                ("failed again".to_string(), 2)
            ]
        );
    }

    #[test]
    fn one_word_or_none_makes_no_pair() {
        assert!(pairs_of("alone").is_empty());
        assert!(pairs_of("  ,;  ").is_empty());
    }

    #[test]
    fn no_pair_spans_a_dropped_long_word() {
        let long = "x".repeat(60);
        assert_eq!(pairs_of(&format!("dns {long} outage now")), vec![("outage now".to_string(), 2)]);
    }
}
