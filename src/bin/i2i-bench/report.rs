//! The report: ratios and target checks derived from the measured figures (added to the JSON
//! so a reader of the file needs no arithmetic), and the Markdown tables printed at the end.

use serde_json::{json, Map, Value};

use crate::mix::{fts5_spelling, pg_spelling, QUERIES};
use crate::resources::mb;

/// A figure at `path` (e.g. `["search", "http_c8", "p50_ms"]`), if it was measured.
fn at(results: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(results, |v, key| v.get(key)).and_then(Value::as_f64)
}

fn ratio(top: Option<f64>, bottom: Option<f64>) -> Option<f64> {
    match (top, bottom) {
        (Some(top), Some(bottom)) if bottom > 0.0 => Some(top / bottom),
        _ => None,
    }
}

const RATIO_ENGINE: &str = "search_http_p50_over_engine_floor_p50";
const RATIO_ENGINE_C1: &str = "search_http_c1_mean_over_engine_floor_mean";
const RATIO_FTS5: &str = "search_throughput_over_fts5";
const RATIO_PG: &str = "search_throughput_over_postgres";

/// Adds `ratios` and `targets` to `results`.
pub fn derive(results: &mut Value) {
    let search_p50 = at(results, &["search", "http_c8", "p50_ms"]);
    let search_rate = at(results, &["search", "http_c8", "per_second"]);
    let ratios = [
        (
            RATIO_ENGINE,
            "search HTTP c8 p50 / tantivy engine floor p50",
            ratio(search_p50, at(results, &["search", "engine_in_process", "p50_ms"])),
        ),
        (
            RATIO_ENGINE_C1,
            "search HTTP c1 / tantivy engine floor 1 thread: mean time per query of the mix",
            ratio(
                at(results, &["search", "engine_in_process", "per_second"]),
                at(results, &["search", "http_c1", "per_second"]),
            ),
        ),
        (
            "search_http_throughput_over_engine_floor_c8",
            "search HTTP c8 throughput / tantivy engine floor c8 throughput",
            ratio(search_rate, at(results, &["search", "engine_in_process_c8", "per_second"])),
        ),
        (
            "search_http_p50_over_http_floor_p50",
            "search HTTP c8 p50 / HTTP hello floor p50",
            ratio(search_p50, at(results, &["floors", "http_hello_c8", "p50_ms"])),
        ),
        (
            "search_http_throughput_over_http_floor",
            "search HTTP c8 throughput / HTTP hello floor throughput",
            ratio(search_rate, at(results, &["floors", "http_hello_c8", "per_second"])),
        ),
        (
            RATIO_FTS5,
            "i2i search throughput / SQLite FTS5 throughput (c8)",
            ratio(search_rate, at(results, &["peers", "fts5", "search_c8", "per_second"])),
        ),
        (
            RATIO_PG,
            "i2i search throughput / PostgreSQL FTS throughput (c8)",
            ratio(search_rate, at(results, &["peers", "postgres", "search_c8", "per_second"])),
        ),
        (
            "ingest_two_nodes_over_one",
            "ingest HTTP c64 on PostgreSQL: two nodes / one node (posts/s)",
            at(results, &["nodes", "two_over_one"]),
        ),
        (
            "ingest_c64_over_insert_floor",
            "ingest HTTP c64 posts/s / raw SQLite insert floor rows/s",
            ratio(
                at(results, &["ingest", "c64", "per_second"]),
                at(results, &["floors", "sqlite_insert", "per_second"]),
            ),
        ),
    ];
    let ratios: Map<String, Value> = ratios
        .into_iter()
        .enumerate()
        .map(|(order, (key, what, value))| {
            (key.to_string(), json!({"what": what, "value": value, "order": order}))
        })
        .collect();

    let posts = results["posts"].as_u64().unwrap_or(0);
    let projected = if posts == 1_000_000 { "" } else { " (projected linearly to 1M)" };
    let ratio_of = |key: &str| ratios.get(key).and_then(|r| r["value"].as_f64());
    // (what, figure, goal, unit, true when the figure must stay at or below the goal)
    let targets = vec![
        (
            "search p99, HTTP c8 mix, every request on the index".to_string(),
            at(results, &["search", "http_c8", "p99_ms"]),
            10.0,
            "ms",
            true,
        ),
        (
            "search p99, HTTP c8 mix, asked again (remembered)".to_string(),
            at(results, &["search", "http_c8_remembered", "p99_ms"]),
            10.0,
            "ms",
            true,
        ),
        (
            "search p99, HTTP c8 mix at half the saturated rate".to_string(),
            at(results, &["search", "http_c8_half_rate", "p99_ms"]),
            10.0,
            "ms",
            true,
        ),
        (
            "HTTP overhead: search HTTP c1 / engine 1 thread, mean per query".into(),
            ratio_of(RATIO_ENGINE_C1),
            2.0,
            "×",
            true,
        ),
        ("throughput vs PostgreSQL FTS".into(), ratio_of(RATIO_PG), 10.0, "×", false),
        ("throughput vs SQLite FTS5".into(), ratio_of(RATIO_FTS5), 5.0, "×", false),
        (
            "bulk load, database + index".into(),
            at(results, &["bulk_load", "per_second"]),
            50000.0,
            "posts/s",
            false,
        ),
        ("ingest at c64".into(), at(results, &["ingest", "c64", "per_second"]), 5000.0, "posts/s", false),
        ("time to searchable p99".into(), at(results, &["time_to_searchable", "p99_ms"]), 1000.0, "ms", true),
        (
            "searchable on the other node p99".into(),
            at(results, &["nodes", "cross_node_searchable", "p99_ms"]),
            2000.0,
            "ms",
            true,
        ),
        (
            "trends p99 (trending 24h, computed)".into(),
            at(results, &["views", "trending_24h_computed", "p99_ms"]),
            20.0,
            "ms",
            true,
        ),
        (
            "trends p99 (trending 24h, remembered)".into(),
            at(results, &["views", "trending_24h", "p99_ms"]),
            20.0,
            "ms",
            true,
        ),
        (
            "trends p99 (recurring 90d, computed)".into(),
            at(results, &["views", "recurring_90d_computed", "p99_ms"]),
            20.0,
            "ms",
            true,
        ),
        (
            "trends p99 (recurring 90d, remembered)".into(),
            at(results, &["views", "recurring_90d", "p99_ms"]),
            20.0,
            "ms",
            true,
        ),
        ("timeline p99".into(), at(results, &["views", "timeline", "p99_ms"]), 5.0, "ms", true),
        ("tag timeline p99".into(), at(results, &["views", "tag_timeline", "p99_ms"]), 5.0, "ms", true),
        ("peak RSS".into(), at(results, &["peak_rss_mb"]), 300.0, "MB", true),
        ("startup".into(), at(results, &["startup_seconds"]), 1.0, "s", true),
        (
            format!("reindex of 1M{projected}"),
            at(results, &["reindex", "projected_1m_seconds"]),
            60.0,
            "s",
            true,
        ),
    ];
    let targets: Vec<Value> = targets
        .into_iter()
        .map(|(what, value, goal, unit, at_most)| {
            let met = value.map(|v| if at_most { v <= goal } else { v >= goal });
            json!({"what": what, "value": value, "goal": goal, "unit": unit, "at_most": at_most, "met": met})
        })
        .collect();
    if let Some(map) = results.as_object_mut() {
        map.insert("ratios".into(), Value::Object(ratios));
        map.insert("targets".into(), Value::Array(targets));
    }
}

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map(|v| format!("{v:.decimals$}")).unwrap_or_else(|| "–".into())
}

/// A ratio with enough digits to be read whatever its size (0.0021 as well as 306).
fn significant(v: Option<f64>) -> String {
    match v {
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.2}"),
        Some(0.0) => "0".into(),
        Some(v) => format!("{v:.*}", (2.0 - v.abs().log10().floor()).max(0.0) as usize),
        None => "–".into(),
    }
}

fn latency_row(name: &str, v: &Value) {
    if v.get("per_second").is_none() {
        println!("| {name} | skipped | | | |");
        return;
    }
    println!(
        "| {name} | {} | {} | {} | {} |",
        num(v["p50_ms"].as_f64(), 2),
        num(v["p99_ms"].as_f64(), 2),
        num(v["max_ms"].as_f64(), 2),
        num(v["per_second"].as_f64(), 0)
    );
}

fn load_row(name: &str, rows: Option<f64>, seconds: Option<f64>, bytes: Option<f64>) {
    let rate = ratio(rows, seconds);
    println!(
        "| {name} | {} | {} | {} | {} |",
        num(rows, 0),
        num(seconds, 2),
        num(rate, 0),
        num(bytes.map(|b| mb(b as u64)), 1)
    );
}

/// Prints the Markdown report.
pub fn print(r: &Value) {
    let quick = if r["quick"].as_bool() == Some(true) { ", quick run" } else { "" };
    println!("\n## i2i-bench: {} posts (SQLite){quick}\n", r["posts"]);
    print_latencies(r);
    print_loads(r);
    print_merge(r);
    print_ratios(r);
    print_targets(r);
    print_queries(r);
    if r["peers"]["postgres"]["skipped"].is_string() {
        println!("\nPostgreSQL peer: skipped (set I2I_BENCH_POSTGRES_URL)");
    }
}

/// The figures of `i2i-bench search`: the mix, its floor and the views of one instance.
pub fn print_instance(r: &Value) {
    println!("\n## i2i-bench search: an existing instance\n");
    println!("| measure | p50 ms | p99 ms | max ms | per second |\n|---|---|---|---|---|");
    search_rows(r);
    if let Some(views) = r["views"].as_object() {
        for (name, v) in views {
            latency_row(name, v);
        }
    }
    print_queries(r);
}

/// The search mix's runs, over HTTP and on the engine alone.
fn search_rows(r: &Value) {
    let search = &r["search"];
    latency_row("search HTTP c8 (mix, every request on the index)", &search["http_c8"]);
    latency_row("search HTTP c8 at half that rate (open loop, same mix)", &search["http_c8_half_rate"]);
    latency_row("search HTTP c1 (mix, one request at a time)", &search["http_c1"]);
    latency_row("search HTTP c8 (mix, asked again: remembered)", &search["http_c8_remembered"]);
    latency_row("search engine floor (mix, in-process, 1 thread)", &search["engine_in_process"]);
    latency_row("search engine floor (mix, in-process, 8 threads)", &search["engine_in_process_c8"]);
}

fn print_latencies(r: &Value) {
    println!("| measure | p50 ms | p99 ms | max ms | per second |\n|---|---|---|---|---|");
    for c in ["c1", "c8", "c64"] {
        latency_row(&format!("ingest HTTP {c}"), &r["ingest"][c]);
    }
    println!(
        "| ingest floor: raw SQLite insert, 1000 rows/tx | | | | {} |",
        num(r["floors"]["sqlite_insert"]["per_second"].as_f64(), 0)
    );
    latency_row("time to searchable", &r["time_to_searchable"]);
    search_rows(r);
    latency_row("HTTP floor: GET /hello c8", &r["floors"]["http_hello_c8"]);
    latency_row("peer: SQLite FTS5 c8 (mix)", &r["peers"]["fts5"]["search_c8"]);
    let postgres = &r["peers"]["postgres"];
    if let Some(reason) = postgres["skipped"].as_str() {
        println!("| peer: PostgreSQL FTS c8 (mix) | skipped ({reason}) | | | |");
    } else if let Some(error) = postgres["error"].as_str() {
        // libpq messages span lines; a table row cannot.
        let error = error.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("| peer: PostgreSQL FTS c8 (mix) | failed: {error} | | | |");
    } else {
        latency_row("peer: PostgreSQL FTS c8 (mix)", &postgres["search_c8"]);
    }
    if let Some(views) = r["views"].as_object() {
        for (name, v) in views {
            latency_row(name, v);
        }
    }
    let nodes = &r["nodes"];
    if let Some(error) = nodes["error"].as_str() {
        let error = error.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("| scale-out on PostgreSQL | failed: {error} | | | |");
    } else if nodes.is_object() {
        latency_row("ingest HTTP c64, PostgreSQL, 1 node", &nodes["one_node_c64"]);
        latency_row("ingest HTTP c64, PostgreSQL, 2 nodes round-robin", &nodes["two_nodes_c64"]);
        latency_row("posted on one node, found by the other's search", &nodes["cross_node_searchable"]);
    }
    println!(
        "\n(i2i answers a full page: count, facets, snippets and 20 posts as JSON; the floors and \
         peers return 20 ids.)"
    );
}

fn print_loads(r: &Value) {
    println!("\n| load / build | rows | seconds | rows/s | MB on disk |\n|---|---|---|---|---|");
    let figure = |v: &Value, key: &str| v[key].as_f64();
    let loaded = figure(&r["bulk_load"], "posts");
    load_row(
        "i2i bulk load, database + search index (SQLite file)",
        loaded,
        figure(&r["bulk_load"], "seconds"),
        figure(&r["resources"], "db_bytes"),
    );
    load_row(
        "i2i index catch-up after start (server indexer)",
        loaded,
        figure(r, "index_catch_up_seconds"),
        figure(&r["resources"], "index_bytes"),
    );
    let reindex = &r["reindex"];
    load_row(
        "i2i reindex (library call, own data dir)",
        figure(reindex, "posts"),
        figure(reindex, "seconds"),
        figure(reindex, "index_bytes"),
    );
    for (name, v) in [
        ("raw SQLite insert floor", &r["floors"]["sqlite_insert"]),
        ("tantivy index-build floor (same documents, 2 threads, no database)", &r["floors"]["index_build"]),
        ("SQLite FTS5 load + optimize", &r["peers"]["fts5"]["load"]),
        ("PostgreSQL COPY + GIN/btree indexes + VACUUM ANALYZE", &r["peers"]["postgres"]["load"]),
    ] {
        if v.is_object() {
            load_row(name, figure(v, "rows"), figure(v, "seconds"), figure(v, "bytes"));
        }
    }
    let phases: Vec<String> = r["bulk_load"]["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{} {} s", p[0].as_str().unwrap_or("?"), num(p[1].as_f64(), 1)))
        .collect();
    if !phases.is_empty() {
        println!("\nbulk load, where the time went: {}", phases.join(" · "));
    }
    println!(
        "\nstartup: {} s · peak RSS (server start to the end of the i2i phase, load generator included): {} MB \
         · peaks of its parts: {} MB allocated, {} MB mapped files (the index) · at the end: {} MB + {} MB",
        num(figure(r, "startup_seconds"), 2),
        num(figure(r, "peak_rss_mb"), 0),
        num(r["peak_rss_split_mb"]["anon"].as_f64(), 0),
        num(r["peak_rss_split_mb"]["file"].as_f64(), 0),
        num(r["rss_now_mb"]["anon"].as_f64(), 0),
        num(r["rss_now_mb"]["file"].as_f64(), 0),
    );
}

fn print_merge(r: &Value) {
    let m = &r["merge"];
    if m.is_object() {
        println!(
            "\ntag merge #{} into #{} ({} posts in the group; every trend rollup recounted): {} s · un-merge: {} s",
            m["alias"].as_str().unwrap_or("?"),
            m["into"].as_str().unwrap_or("?"),
            m["group_posts"],
            num(m["merge_seconds"].as_f64(), 2),
            num(m["unmerge_seconds"].as_f64(), 2),
        );
    }
}

fn print_ratios(r: &Value) {
    println!("\n| ratio | value |\n|---|---|");
    // The JSON map is sorted by key; print in the order the ratios were defined.
    let mut ratios: Vec<&Value> = r["ratios"].as_object().into_iter().flat_map(|m| m.values()).collect();
    ratios.sort_by_key(|v| v["order"].as_u64());
    for v in ratios {
        println!("| {} | {} |", v["what"].as_str().unwrap_or(""), significant(v["value"].as_f64()));
    }
}

fn print_targets(r: &Value) {
    println!("\n| target | goal | measured | |\n|---|---|---|---|");
    for t in r["targets"].as_array().into_iter().flatten() {
        let unit = t["unit"].as_str().unwrap_or("");
        let sign = if t["at_most"].as_bool() == Some(true) { "≤" } else { "≥" };
        let decimals = if unit == "s" { 2 } else { 1 };
        let measured = match t["value"].as_f64() {
            None => "–".to_string(),
            Some(v) if unit == "×" => format!("{} {unit}", significant(Some(v))),
            Some(v) => format!("{} {unit}", num(Some(v), decimals)),
        };
        let mark = match t["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        println!(
            "| {} | {sign} {} {unit} | {measured} | {mark} |",
            t["what"].as_str().unwrap_or(""),
            num(t["goal"].as_f64(), 0),
        );
    }
    if r["posts"].as_u64() != Some(1_000_000) {
        println!("\n(The targets are stated for 1M posts; at this size the marks are indicative only.)");
    }
}

/// Each query as every engine spells it with its hit total (the three must agree), then its
/// latency within each mix run.
fn print_queries(r: &Value) {
    println!("\n| query | i2i | FTS5 | PostgreSQL | i2i hits | FTS5 hits | PG hits |");
    println!("|---|---|---|---|---|---|---|");
    for q in QUERIES {
        let hits = |engine: &Value| num(engine["hits"][q.name].as_f64(), 0);
        println!(
            "| {} | `{}` | `{}` | `{}` | {} | {} | {} |",
            q.name,
            q.i2i,
            fts5_spelling(q),
            pg_spelling(q),
            hits(&r["search"]),
            hits(&r["peers"]["fts5"]),
            hits(&r["peers"]["postgres"])
        );
    }

    println!(
        "\n| query: p50 / p99 ms | i2i HTTP c8 | i2i HTTP c8, half rate | i2i HTTP c1 | i2i HTTP c8, remembered | engine 1 thread | engine 8 threads | FTS5 c8 | PG c8 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let runs = [
        &r["search"]["http_c8"],
        &r["search"]["http_c8_half_rate"],
        &r["search"]["http_c1"],
        &r["search"]["http_c8_remembered"],
        &r["search"]["engine_in_process"],
        &r["search"]["engine_in_process_c8"],
        &r["peers"]["fts5"]["search_c8"],
        &r["peers"]["postgres"]["search_c8"],
    ];
    for q in QUERIES {
        let cells: Vec<String> = runs
            .iter()
            .map(|run| {
                let figures = &run["by_query"][q.name];
                format!("{} / {}", num(figures["p50_ms"].as_f64(), 2), num(figures["p99_ms"].as_f64(), 2))
            })
            .collect();
        println!("| {} | {} |", q.name, cells.join(" | "));
    }
    print_overhead(r);
}

/// Each query's cost over HTTP next to its cost in the engine alone, one at a time: what
/// i2i adds per request (token, count, snippets, the posts from the database, JSON, the socket).
fn print_overhead(r: &Value) {
    println!("\n| query, one at a time | HTTP c1 p50 ms | engine p50 ms | added ms | HTTP / engine |");
    println!("|---|---|---|---|---|");
    for q in QUERIES {
        let http = r["search"]["http_c1"]["by_query"][q.name]["p50_ms"].as_f64();
        let engine = r["search"]["engine_in_process"]["by_query"][q.name]["p50_ms"].as_f64();
        let added = http.zip(engine).map(|(h, e)| h - e);
        println!(
            "| {} | {} | {} | {} | {} |",
            q.name,
            num(http, 2),
            num(engine, 2),
            num(added, 2),
            significant(ratio(http, engine))
        );
    }
}
