//! The generated corpus read back as plain rows for the floors and peers. It is streamed in
//! batches rather than held in memory: at 1M posts a full copy would cost hundreds of MB and
//! blur the memory picture of the run.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use i2i::transfer::ExchangeLine;

/// One post as the floors and peers store it.
pub struct Row {
    /// 1-based line number: the same id in every peer, so hits can be compared.
    pub id: i64,
    pub author: String,
    pub body: String,
    /// Distinct tag keys, found by i2i's own hashtag rules.
    pub tags: Vec<String>,
    pub created_at: i64,
}

fn parse(id: i64, line: &str) -> anyhow::Result<Row> {
    let line: ExchangeLine = serde_json::from_str(line).with_context(|| format!("corpus line {id}"))?;
    let created_at = i2i::domain::time::parse_timestamp("created_at", &line.created_at)
        .map_err(|err| anyhow::anyhow!("corpus line {id}: {err}"))?;
    let tags = i2i::domain::text::distinct_hashtags(&line.body).into_iter().map(|t| t.key).collect();
    Ok(Row { id, author: line.author, body: line.body, tags, created_at })
}

/// Calls `each` with successive batches of at most `size` rows, in file order.
pub fn batches(
    corpus: &Path,
    size: usize,
    mut each: impl FnMut(Vec<Row>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = std::fs::File::open(corpus).with_context(|| format!("opening {}", corpus.display()))?;
    let mut batch = Vec::with_capacity(size);
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        batch.push(parse(index as i64 + 1, &line)?);
        if batch.len() == size {
            each(std::mem::replace(&mut batch, Vec::with_capacity(size)))?;
        }
    }
    if !batch.is_empty() {
        each(batch)?;
    }
    Ok(())
}
