//! A deterministic synthetic corpus for benchmarks and trend-quality checks: Zipf-distributed
//! words and tags, thousands of authors, incidents with realistic lifetimes, diurnal
//! timestamps over months, plus injected bursts and recurring tags whose names are the
//! ground truth. The same seed always gives the same posts.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::transfer::ExchangeLine;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// What to generate.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    pub posts: usize,
    pub seed: u64,
    pub authors: usize,
    /// Days of history ending at `end_ms`.
    pub days: i64,
    pub end_ms: i64,
    pub vocabulary: usize,
    pub tags: usize,
    /// Injected bursts in the last day, and injected recurring tags over the whole range.
    pub bursts: usize,
    pub recurring: usize,
}

impl CorpusSpec {
    /// The defaults of the benchmark: 1M posts over 120 days ending at 2025-06-01.
    pub fn with_posts(posts: usize) -> CorpusSpec {
        CorpusSpec {
            posts,
            seed: 2041,
            authors: 5000,
            days: 120,
            end_ms: 1_748_736_000_000,
            vocabulary: 20_000,
            tags: 1500,
            bursts: 10,
            recurring: 10,
        }
    }
}

/// The injected patterns, to check trend views against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroundTruth {
    pub bursts: Vec<String>,
    pub recurring: Vec<String>,
}

/// Samples ranks 0..n with probability ∝ 1/(rank+1)^s.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..n.max(1))
            .map(|k| {
                total += 1.0 / ((k + 1) as f64).powf(s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let target = rng.gen::<f64>() * total;
        self.cumulative.partition_point(|c| *c < target).min(self.cumulative.len() - 1)
    }
}

/// A pronounceable made-up word for rank `k` (distinct per rank).
fn word(k: usize) -> String {
    const ONSETS: [&str; 16] =
        ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "st"];
    const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ai"];
    let mut n = k + 1;
    let mut out = String::new();
    while n > 0 {
        out.push_str(ONSETS[n % ONSETS.len()]);
        n /= ONSETS.len();
        out.push_str(VOWELS[n % VOWELS.len()]);
        n /= VOWELS.len();
    }
    out
}

/// A time in the last `days` before `end_ms`, busier in working hours (UTC).
fn diurnal(rng: &mut StdRng, end_ms: i64, days: i64) -> i64 {
    const HOUR_WEIGHTS: [u32; 24] = [1, 1, 1, 1, 1, 2, 3, 5, 8, 9, 9, 8, 7, 8, 9, 9, 8, 6, 4, 3, 2, 2, 1, 1];
    let total: u32 = HOUR_WEIGHTS.iter().sum();
    let mut pick = rng.gen_range(0..total);
    let mut hour = 0;
    for (h, w) in HOUR_WEIGHTS.iter().enumerate() {
        if pick < *w {
            hour = h as i64;
            break;
        }
        pick -= w;
    }
    let day = rng.gen_range(1..=days);
    let start_of_day = end_ms - day * DAY_MS;
    start_of_day - start_of_day.rem_euclid(DAY_MS) + hour * HOUR_MS + rng.gen_range(0..HOUR_MS)
}

/// Generates the corpus, handing each post to `sink` in time order of generation (not
/// sorted). Returns the injected ground truth.
pub fn generate(spec: &CorpusSpec, mut sink: impl FnMut(ExchangeLine)) -> GroundTruth {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let words = Zipf::new(spec.vocabulary, 1.05);
    let tags = Zipf::new(spec.tags, 1.1);
    let authors = Zipf::new(spec.authors, 0.8);
    let incidents_total = (spec.posts / 8).max(1);
    let injected = spec.bursts * 12 + spec.recurring * 35;
    let background = spec.posts.saturating_sub(injected);
    let line = |rng: &mut StdRng, author: usize, tag_names: &[String], incident: Option<String>, at: i64| {
        let target = rng.gen_range(40..300usize);
        let mut body = String::new();
        while body.chars().count() < target {
            if !body.is_empty() {
                body.push(' ');
            }
            body.push_str(&word(words.sample(rng)));
        }
        for tag in tag_names {
            body.push_str(" #");
            body.push_str(tag);
        }
        let body: String = body.chars().take(500).collect();
        ExchangeLine {
            author: format!("user{author}"),
            body,
            incident,
            created_at: crate::domain::time::format_ms(at),
        }
    };
    for _ in 0..background {
        let count = rng.gen_range(1..=3);
        let tag_names: Vec<String> =
            (0..count).map(|_| format!("t-{}", word(tags.sample(&mut rng)))).collect();
        let incident = rng.gen_bool(0.7).then(|| format!("GEN-{}", rng.gen_range(0..incidents_total)));
        let author = authors.sample(&mut rng);
        let at = diurnal(&mut rng, spec.end_ms, spec.days);
        sink(line(&mut rng, author, &tag_names, incident, at));
    }
    let mut truth = GroundTruth::default();
    for b in 0..spec.bursts {
        let tag = format!("burst-{b}");
        for k in 0..12 {
            let incident = Some(format!("BURST-{b}-{k}"));
            let at = spec.end_ms - rng.gen_range(HOUR_MS..DAY_MS);
            let author = rng.gen_range(0..spec.authors);
            sink(line(&mut rng, author, std::slice::from_ref(&tag), incident, at));
        }
        truth.bursts.push(tag);
    }
    for r in 0..spec.recurring {
        let tag = format!("recurring-{r}");
        for k in 0..35 {
            let incident = Some(format!("REC-{r}-{k}"));
            let at = spec.end_ms - rng.gen_range(2 * DAY_MS..(spec.days.max(3) - 1) * DAY_MS);
            let author = rng.gen_range(0..spec.authors);
            sink(line(&mut rng, author, std::slice::from_ref(&tag), incident, at));
        }
        truth.recurring.push(tag);
    }
    truth
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(spec: &CorpusSpec) -> (Vec<ExchangeLine>, GroundTruth) {
        let mut lines = Vec::new();
        let truth = generate(spec, |l| lines.push(l));
        (lines, truth)
    }

    #[test]
    fn same_seed_same_corpus_and_valid_posts() {
        let spec = CorpusSpec::with_posts(2000);
        let (first, truth) = collect(&spec);
        let (second, _) = collect(&spec);
        assert_eq!(first.len(), 2000);
        assert_eq!(
            first.iter().map(|l| (&l.body, &l.created_at)).collect::<Vec<_>>(),
            second.iter().map(|l| (&l.body, &l.created_at)).collect::<Vec<_>>()
        );
        assert_eq!(truth.bursts.len(), 10);
        for l in &first {
            let chars = l.body.chars().count();
            assert!((40..=500).contains(&chars), "{chars}: {}", l.body);
            assert!(!crate::domain::text::distinct_hashtags(&l.body).is_empty(), "every post has a tag");
            assert!(crate::domain::rules::parse_body(&l.body).is_ok());
        }
        let other = collect(&CorpusSpec { seed: 7, ..spec }).0;
        assert_ne!(first[0].body, other[0].body);
    }

    #[test]
    fn words_and_tags_follow_a_long_tail() {
        let (lines, _) = collect(&CorpusSpec::with_posts(3000));
        let mut counts = std::collections::HashMap::new();
        for l in &lines {
            for tag in crate::domain::text::distinct_hashtags(&l.body) {
                *counts.entry(tag.key).or_insert(0usize) += 1;
            }
        }
        let mut sorted: Vec<usize> = counts.values().copied().collect();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert!(sorted[0] > 20 * sorted[sorted.len() / 2].max(1) / 2, "a head much heavier than the median");
        assert!(sorted.len() > 200, "a long tail of tags");
        let hours: Vec<i64> = lines
            .iter()
            .filter_map(|l| crate::domain::time::parse_timestamp("t", &l.created_at).ok())
            .map(|ms| ms.rem_euclid(DAY_MS) / HOUR_MS)
            .collect();
        let working = hours.iter().filter(|h| (8..18).contains(*h)).count();
        assert!(working * 2 > hours.len(), "most posts in working hours");
    }
}
