//! The English stemmer of the body field, with a memo of the words it has stemmed. Stemming
//! (Snowball's suffix rules) was a tenth of the CPU of building the index; words repeat so
//! much in any corpus that nearly every one is stemmed already. Registered under tantivy's
//! own `en_stem` name with exactly that analyser's steps, so the index's terms are the same
//! as without the memo.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};

/// The name the schema's body field names its analyser by.
pub const TOKENIZER: &str = "en_stem";

/// Most words a memo keeps; a full memo starts over, which bounds its memory (~10 MB) on a
/// corpus of endless distinct words.
const MEMO_WORDS: usize = 100_000;

/// Tantivy's `en_stem` analyser (simple words, at most 40 bytes, lower-cased, stemmed in
/// English), stemming through a memo.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(MemoStemmer)
        .build()
}

/// The token filter: English stemming with a memo per analyser (tantivy clones an analyser
/// for each indexing thread, so no memo is shared).
#[derive(Clone, Copy)]
pub struct MemoStemmer;

impl TokenFilter for MemoStemmer {
    type Tokenizer<T: Tokenizer> = MemoStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> MemoStemmerFilter<T> {
        MemoStemmerFilter { inner: tokenizer, memo: Memo::new() }
    }
}

#[derive(Clone)]
pub struct MemoStemmerFilter<T> {
    inner: T,
    memo: Memo,
}

struct Memo {
    stemmer: rust_stemmers::Stemmer,
    stems: HashMap<String, String, FxBuildHasher>,
}

impl Memo {
    fn new() -> Memo {
        Memo {
            stemmer: rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English),
            stems: HashMap::default(),
        }
    }

    /// Replaces `word` by its stem.
    fn stem(&mut self, word: &mut String) {
        if let Some(stem) = self.stems.get(word.as_str()) {
            word.clear();
            word.push_str(stem);
            return;
        }
        let stem = self.stemmer.stem(word).into_owned();
        if self.stems.len() >= MEMO_WORDS {
            self.stems.clear();
        }
        self.stems.insert(std::mem::replace(word, stem.clone()), stem);
    }
}

impl Clone for Memo {
    /// A fresh memo: each analyser keeps its own.
    fn clone(&self) -> Memo {
        Memo::new()
    }
}

impl<T: Tokenizer> Tokenizer for MemoStemmerFilter<T> {
    type TokenStream<'a> = MemoStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        let MemoStemmerFilter { inner, memo } = self;
        MemoStemmerStream { tail: inner.token_stream(text), memo }
    }
}

pub struct MemoStemmerStream<'a, T> {
    tail: T,
    memo: &'a mut Memo,
}

impl<T: TokenStream> TokenStream for MemoStemmerStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        self.memo.stem(&mut self.tail.token_mut().text);
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::TokenizerManager;

    fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        out
    }

    #[test]
    fn the_same_tokens_as_tantivys_en_stem_the_first_time_and_from_the_memo() {
        let mut plain = TokenizerManager::default().get("en_stem").expect("tantivy's en_stem");
        let mut memo = analyzer();
        let long = "x".repeat(41);
        let text = format!(
            "Users LOCKED out; locking, lockouts and e-mail resets failing {long} — \
             authentication authenticated authenticating généralement running runs ran"
        );
        let expected = tokens(&mut plain, &text);
        assert!(expected.iter().any(|t| t.0 == "lock"), "a word stems");
        assert_eq!(tokens(&mut memo, &text), expected, "first pass: stemmed and remembered");
        assert_eq!(tokens(&mut memo, &text), expected, "second pass: from the memo");
        assert_eq!(tokens(&mut memo.clone(), &text), expected, "a clone starts a memo of its own");
    }

    #[test]
    fn a_full_memo_starts_over_and_still_stems() {
        let mut memo = Memo::new();
        for k in 0..MEMO_WORDS + 5 {
            let mut word = format!("running{k}s");
            memo.stem(&mut word);
        }
        assert!(memo.stems.len() <= MEMO_WORDS);
        let mut word = "running".to_string();
        memo.stem(&mut word);
        assert_eq!(word, "run");
    }
}
