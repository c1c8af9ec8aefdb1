//! `i2i reindex`: builds a complete new generation from the database beside the live one,
//! then points `CURRENT` at it. A running server notices, switches to it and removes the
//! old generation; the server keeps answering searches from the old one meanwhile.

use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tantivy::indexer::NoMergePolicy;

use super::indexer::{merge_all, rebuild, sample_common_words};
use super::{create_generation, highest_generation, set_current, SearchIndex};
use crate::db::Db;

/// Rebuilds the index under `data_dir`; returns the number of posts indexed.
pub fn reindex(db: &Db, data_dir: &Path) -> anyhow::Result<u64> {
    let search = SearchIndex::new(data_dir);
    let root = search.root().to_path_buf();
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let number = highest_generation(&root) + 1;
    let generation = create_generation(&root, number, sample_common_words(db)?)?;
    // A one-off bulk build can use both cores and a larger arena than the live writer: 400 MB
    // a thread, as the bulk loader's, so it flushes few segments. They are not merged as
    // they come (the log merge policy would merge the small ones again and again and still
    // leave ten segments at 1M posts, each a separate search); one merge at the end makes
    // the generation a single segment, as fast to search as a bulk-loaded one.
    let mut writer = generation.index.writer_with_num_threads(2, 800_000_000)?;
    writer.set_merge_policy(Box::new(NoMergePolicy));
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} posts ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut indexed = 0;
    rebuild(&search, db, &generation, &mut writer, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
        indexed = done;
    })?;
    bar.println("merging the index into one segment");
    merge_all(&generation, &mut writer)?;
    writer.wait_merging_threads().context("finishing merges")?;
    bar.finish_and_clear();
    set_current(&root, number)?;
    Ok(indexed)
}
