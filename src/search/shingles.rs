//! Word pairs ("common grams") for fast phrases. A phrase of two very common words (`"da fa"`
//! in a corpus where both are in most posts) costs a position check on every post that has
//! both; indexing each pair of adjacent common words as one term makes such a phrase a single
//! term lookup, and a longer one a phrase over far sparser pair terms. A phrase with a word
//! outside the common set is cheap as it is: its rare word bounds the posts whose positions
//! are read. Pairing only common words (Lucene's CommonGrams) keeps the pair vocabulary to
//! a small square instead of every adjacent pair of a long-tailed corpus, which made the
//! index half as large again and its build three times as slow.
//!
//! The common set is chosen once per index generation, from a sample of the posts it is
//! built from ([`CommonWords::from_sample`]), and stored beside it: documents and queries of
//! one generation always agree on which pairs exist.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer, TokenizerManager};
use tantivy::Index;

/// Name the pair analyser is registered under on every index.
pub const TOKENIZER: &str = "i2i_shingles";

/// Joins the two words of a pair. The word analyser never keeps a space inside a word, so a
/// pair term cannot be mistaken for a single word.
const SEPARATOR: char = ' ';

/// The file in a generation's directory that lists its common words, one a line.
pub const COMMON_WORDS_FILE: &str = "common-words.txt";

/// A word is common when at least one sampled post in this many has it: at 1M posts, a
/// phrase with a less common word reads the positions of at most ~10,000 posts.
const COMMON_ONE_IN: usize = 100;

/// Below this many sampled posts a share says little; only the built-in words are common.
const MIN_SAMPLE: usize = 1000;

/// At most this many words are common (the most frequent win), which bounds the pair
/// vocabulary by its square whatever the corpus.
const MAX_COMMON: usize = 1000;

/// English words common in any operations text, common from the first post on, so a young
/// instance's phrases like "failed to" or "the vpn" are pair lookups before any sample
/// says so.
const BUILT_IN: &[&str] = &[
    "a", "all", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "he", "her", "his", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "no", "not", "of", "on", "or", "our", "she", "so", "that", "the", "their", "them",
    "then", "there", "they", "this", "to", "up", "was", "we", "were", "what", "when", "which", "who", "will",
    "with", "would", "you", "your",
];

/// The words that pair up in one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonWords {
    words: HashSet<String>,
}

impl Default for CommonWords {
    /// The built-in words only.
    fn default() -> Self {
        CommonWords { words: BUILT_IN.iter().map(|w| w.to_string()).collect() }
    }
}

impl CommonWords {
    /// The built-in words plus every word of the exact analyser that at least
    /// one in [`COMMON_ONE_IN`] of the sampled bodies contain (the [`MAX_COMMON`] most frequent).
    pub fn from_sample<'a>(bodies: impl IntoIterator<Item = &'a str>) -> CommonWords {
        let mut analyzer = exact_words();
        let mut frequency: HashMap<String, usize> = HashMap::new();
        let mut in_body: HashSet<String> = HashSet::new();
        let mut sampled = 0usize;
        for body in bodies {
            sampled += 1;
            in_body.clear();
            let mut stream = analyzer.token_stream(body);
            while stream.advance() {
                in_body.insert(stream.token().text.clone());
            }
            for word in in_body.drain() {
                *frequency.entry(word).or_default() += 1;
            }
        }
        let mut common = CommonWords::default();
        if sampled < MIN_SAMPLE {
            return common;
        }
        let floor = sampled.div_ceil(COMMON_ONE_IN);
        let mut frequent: Vec<(String, usize)> = frequency.into_iter().filter(|(_, n)| *n >= floor).collect();
        // Most frequent first, then by word, so the same sample always gives the same set.
        frequent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        common.words.extend(frequent.into_iter().take(MAX_COMMON).map(|(word, _)| word));
        common
    }

    /// Exactly these words (tests, and callers that know their vocabulary).
    pub fn of(words: &[&str]) -> CommonWords {
        CommonWords { words: words.iter().map(|w| w.to_string()).collect() }
    }

    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(word)
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Writes the set into a generation's directory.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let mut words: Vec<&str> = self.words.iter().map(String::as_str).collect();
        words.sort_unstable();
        let path = dir.join(COMMON_WORDS_FILE);
        std::fs::write(&path, words.join("\n")).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads the set a generation was built with.
    pub fn load(dir: &Path) -> anyhow::Result<CommonWords> {
        let path = dir.join(COMMON_WORDS_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(CommonWords { words: text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect() })
    }
}

/// Registers the analysers the schema names beyond tantivy's built-in ones (and the body's
/// stemmer with its memo, [`super::stems`]), pairing the words of `common`. Every index must
/// get this right after it is created or opened, before it is written or searched.
pub fn register(index: &Index, common: Arc<CommonWords>) {
    index.tokenizers().register(TOKENIZER, ShingleTokenizer::new(common));
    index.tokenizers().register(super::stems::TOKENIZER, super::stems::analyzer());
}

/// Tantivy's `default` analyser, the one the exact body field uses, from a fresh manager so
/// the words are exactly that field's.
fn exact_words() -> TextAnalyzer {
    TokenizerManager::default().get("default").unwrap_or_default()
}

/// The pair term of two adjacent words, as the index stores it.
pub fn pair(first: &str, second: &str) -> String {
    let mut out = String::with_capacity(first.len() + second.len() + 1);
    out.push_str(first);
    out.push(SEPARATOR);
    out.push_str(second);
    out
}

/// Emits one token per pair of adjacent common words of the exact analyser, at the
/// position of the pair's first word. Words that the analyser drops (longer than its
/// limit) leave a gap in the positions, and no pair is made across a gap: a phrase could
/// not match there either.
#[derive(Clone)]
pub struct ShingleTokenizer {
    words: TextAnalyzer,
    common: Arc<CommonWords>,
    pairs: Vec<Token>,
}

impl ShingleTokenizer {
    pub fn new(common: Arc<CommonWords>) -> ShingleTokenizer {
        ShingleTokenizer { words: exact_words(), common, pairs: Vec::new() }
    }
}

impl Tokenizer for ShingleTokenizer {
    type TokenStream<'a> = PairStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> PairStream<'a> {
        let ShingleTokenizer { words, common, pairs } = self;
        pairs.clear();
        let mut stream = words.token_stream(text);
        // The previous word, if it is common.
        let mut previous: Option<Token> = None;
        while stream.advance() {
            let word = stream.token();
            if !common.contains(&word.text) {
                previous = None;
                continue;
            }
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

    fn pairs_of(common: &[&str], text: &str) -> Vec<(String, usize)> {
        let mut tokenizer = ShingleTokenizer::new(Arc::new(CommonWords::of(common)));
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push((stream.token().text.clone(), stream.token().position));
        }
        out
    }

    #[test]
    fn adjacent_common_words_pair_up_at_the_first_words_position() {
        assert_eq!(
            pairs_of(&["sso", "login", "failed", "again"], "SSO login, failed again"),
            vec![
                ("sso login".to_string(), 0),
                ("login failed".to_string(), 1),
                ("failed again".to_string(), 2)
            ]
        );
    }

    #[test]
    fn a_word_outside_the_common_set_breaks_the_pairs() {
        assert_eq!(
            pairs_of(&["the", "failed", "to", "vpn"], "the vpn kerberos failed to the vpn"),
            vec![
                ("the vpn".to_string(), 0),
                ("failed to".to_string(), 3),
                ("to the".to_string(), 4),
                ("the vpn".to_string(), 5)
            ]
        );
        assert!(pairs_of(&[], "the vpn failed").is_empty());
    }

    #[test]
    fn one_word_or_none_makes_no_pair() {
        assert!(pairs_of(&["alone"], "alone").is_empty());
        assert!(pairs_of(&["alone"], "  ,;  ").is_empty());
    }

    #[test]
    fn no_pair_spans_a_dropped_long_word() {
        let long = "x".repeat(60);
        let common = ["dns", "outage", "now", long.as_str()];
        assert_eq!(pairs_of(&common, &format!("dns {long} outage now")), vec![("outage now".to_string(), 2)]);
    }

    #[test]
    fn the_sample_makes_words_in_one_post_in_a_hundred_common() {
        // 2,000 posts: "vpn" in every one, "dns" in 20 (1 %), "kerberos" in 19.
        let bodies: Vec<String> = (0..2000)
            .map(|i| {
                let mut body = format!("vpn down p{i}");
                if i < 20 {
                    body.push_str(" dns");
                }
                if (100..119).contains(&i) {
                    body.push_str(" kerberos kerberos");
                }
                body
            })
            .collect();
        let common = CommonWords::from_sample(bodies.iter().map(String::as_str));
        assert!(common.contains("vpn") && common.contains("down") && common.contains("dns"));
        assert!(
            !common.contains("kerberos"),
            "19 posts of 2,000 is under 1 %, however often it is said in them"
        );
        assert!(!common.contains("p7"));
        assert!(common.contains("the"), "built-in words are always common");
        assert_eq!(common.len(), BUILT_IN.len() + 3);
    }

    #[test]
    fn a_small_sample_gives_the_built_in_words_only() {
        let common = CommonWords::from_sample(["vpn down"; 999]);
        assert_eq!(common, CommonWords::default());
    }

    #[test]
    fn the_set_is_capped_to_the_most_frequent_words() {
        // MAX_COMMON + 10 distinct words in every post, and one word in more posts than any.
        let every: String = (0..MAX_COMMON + 10).map(|k| format!("w{k} ")).collect();
        let mut bodies = vec![every.clone(); MIN_SAMPLE];
        bodies.push("zz".into());
        bodies.iter_mut().take(10).for_each(|b| b.push_str(" zz"));
        let common = CommonWords::from_sample(bodies.iter().map(String::as_str));
        assert_eq!(common.len(), BUILT_IN.len() + MAX_COMMON);
        assert!(
            common.contains("w0") && !common.contains("w999"),
            "ties break by word: w0 < w1000 < … < w999"
        );
    }

    #[test]
    fn the_set_survives_its_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let common = CommonWords::of(&["the", "vpn", "dns"]);
        common.save(dir.path()).expect("save");
        assert_eq!(CommonWords::load(dir.path()).expect("load"), common);
        assert!(CommonWords::load(&dir.path().join("missing")).is_err());
    }
}
