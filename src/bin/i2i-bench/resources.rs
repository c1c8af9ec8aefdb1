//! Resource figures: bytes on disk, peak memory and the time of a full `i2i reindex`.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

/// Total size of the files under `dir` (0 if it does not exist).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_bytes(&entry.path()),
            Ok(_) => entry.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// A SQLite database's size: the file plus its WAL and shared-memory files, since in WAL mode
/// recent pages may not have been checkpointed into the main file yet.
pub fn sqlite_bytes(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(name).map(|m| m.len()).unwrap_or(0)
        })
        .sum()
}

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Starts the peak-RSS count afresh (Linux: writing 5 to `clear_refs` resets VmHWM), so the
/// bulk loader's memory, which is gone before the server starts, is not charged to it.
pub fn reset_peak_rss() {
    if let Err(err) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("could not reset the peak RSS ({err}); it will include the bulk load");
    }
}

/// The resident set now, split into memory the process allocated (`RssAnon`) and file pages
/// it has mapped (`RssFile`: mostly the tantivy index, which the kernel can drop and re-read
/// at will), in MB.
pub fn rss_split_mb() -> serde_json::Value {
    let (anon, file) = rss_parts_mb();
    serde_json::json!({"anon": anon, "file": file})
}

/// `(RssAnon, RssFile)` now, in MB.
fn rss_parts_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// Samples the two parts of the resident set every 20 ms on a thread of its own and keeps
/// their peaks: the kernel keeps only the peak of the sum (VmHWM), and the sum mixes memory
/// the process allocated with index pages it merely maps and the kernel can drop.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(f64, f64)>,
}

impl RssSampler {
    pub fn start() -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut anon, mut file) = (0.0f64, 0.0f64);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let (a, f) = rss_parts_mb();
                anon = anon.max(a);
                file = file.max(f);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            (anon, file)
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling; `{anon, file}`: the peak of each part, in MB.
    pub fn finish(self) -> serde_json::Value {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (anon, file) = self.thread.join().unwrap_or((0.0, 0.0));
        serde_json::json!({"anon": anon, "file": file})
    }
}

/// The process's peak resident set so far (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Runs the library's `reindex` (what `i2i reindex` calls) against the loaded database into
/// `data_dir`. The caller passes a data dir of its own: `reindex` points `CURRENT` at the new
/// generation, and in the server's data dir the still-running server would switch to it and
/// delete the generation it was serving. Reading the database beside the server is safe
/// (SQLite WAL readers do not block), and the figure is the same work `i2i reindex` does.
pub fn reindex(url: &str, data_dir: &Path, posts: usize) -> anyhow::Result<Value> {
    let db = i2i::db::Db::connect_for_tool(url)?;
    let started = Instant::now();
    let indexed = i2i::search::reindex::reindex(&db, data_dir)?;
    let seconds = started.elapsed().as_secs_f64();
    drop(db);
    Ok(json!({
        "posts": indexed,
        "seconds": seconds,
        "per_second": indexed as f64 / seconds.max(1e-9),
        // The target is stated for 1M posts; a smaller run is scaled linearly.
        "projected_1m_seconds": seconds * 1_000_000.0 / (indexed.max(1) as f64),
        "corpus_posts": posts,
        "index_bytes": dir_bytes(&data_dir.join("index")),
    }))
}
