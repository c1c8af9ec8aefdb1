//! The layers stay one-way: reads every `.rs` file under `src/` (but `src/bin`, `main.rs` and
//! `lib.rs`), notes which top-level modules each one names (`crate::x`, `use crate::{x, y}`,
//! and `super::` paths that climb to the crate root), and fails when two or more top-level
//! modules use each other in a circle, naming the file and line behind every arrow of it.
//! `#[cfg(test)]` modules are left out: a test may reach anywhere. Plain `//` comments are
//! left out too; doc comments count, since their links are references as well.
//!
//! It needs nothing but the source tree, so `cargo test` (and `.ci/run`) checks it anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// `from -> to -> ["file:line", …]`.
type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The source tree.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules: each file or directory of `src/` but the binaries and the roots.
fn top_modules(src: &Path) -> BTreeSet<String> {
    let mut top = BTreeSet::new();
    for entry in fs::read_dir(src).expect("read src/") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().to_string();
        if matches!(name.as_str(), "bin" | "main.rs" | "lib.rs") {
            continue;
        }
        if entry.path().is_dir() {
            top.insert(name);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            top.insert(stem.to_string());
        }
    }
    top
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file relative to `src/` (`http/api/tags.rs` is `[http, api, tags]`,
/// `db/mod.rs` is `[db]`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().to_string()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_string();
        if stem != "mod" {
            parts.push(stem);
        }
    }
    parts
}

/// `text` with `#[cfg(test)]` modules and plain `//` comments blanked out (newlines kept, so
/// line numbers still match the file).
fn without_tests_and_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            let next_is_mod = lines.peek().is_some_and(|next| {
                let next = next.trim_start();
                next.starts_with("mod ")
                    || next.starts_with("pub mod ")
                    || next.starts_with("pub(crate) mod ")
            });
            if next_is_mod {
                // Skip the attribute and the module, counting braces until it closes.
                out.push('\n');
                let mut depth = 0i64;
                let mut opened = false;
                for inner in lines.by_ref() {
                    out.push('\n');
                    depth += inner.matches('{').count() as i64 - inner.matches('}').count() as i64;
                    opened |= inner.contains('{');
                    if (opened && depth <= 0) || (!opened && inner.trim_end().ends_with(';')) {
                        break;
                    }
                }
                continue;
            }
        }
        let code = match line.find("//") {
            Some(at) if !line[at..].starts_with("///") && !line[at..].starts_with("//!") => {
                // `//` inside a string (a URL) is not a comment.
                if line[..at].matches('"').count() % 2 == 1 {
                    line
                } else {
                    &line[..at]
                }
            }
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The identifier that starts `text`.
fn ident(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    &text[..end]
}

/// The first path segment of each item of a `{a::b, c, d::{e, f}}` group (the text after `{`).
fn group_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut start = true;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && !c.is_whitespace() => {
                start = false;
                if depth == 0 {
                    heads.push(ident(&text[i..]).to_string());
                }
            }
            _ => {}
        }
    }
    heads
}

/// The top-level modules a file's `text` names, each with the line it is named on.
fn named_modules(text: &str, depth: usize) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = &rest[..at];
            let after = &rest[at + "crate::".len()..];
            let word_boundary =
                !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') || before.ends_with('$');
            if word_boundary {
                if after.starts_with('{') {
                    // A group may span lines: read on through the rest of the text, from
                    // just after its `{`.
                    let from = text.lines().skip(number).collect::<Vec<_>>().join("\n");
                    let offset = line.len() - after.len() + 1;
                    for head in group_heads(&from[offset..]) {
                        found.push((head, number + 1));
                    }
                } else {
                    found.push((ident(after).to_string(), number + 1));
                }
            }
            rest = after;
        }
        // `super::` climbing out of the top-level module reaches the crate root.
        if depth > 0 {
            let climb = "super::".repeat(depth);
            let mut rest = line;
            while let Some(at) = rest.find(&climb) {
                let after = &rest[at + climb.len()..];
                if !after.starts_with("super::") && !rest[..at].ends_with("::") {
                    found.push((ident(after).to_string(), number + 1));
                }
                rest = after;
            }
        }
    }
    found
}

/// Which top-level module uses which, with the places.
fn graph() -> Graph {
    let src = src();
    let top = top_modules(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src").to_path_buf();
        let path = module_path(&relative);
        let Some(owner) = path.first().cloned() else { continue };
        if !top.contains(&owner) {
            continue;
        }
        let text = without_tests_and_comments(&fs::read_to_string(&file).expect("read a source file"));
        for (target, line) in named_modules(&text, path.len()) {
            if target != owner && top.contains(&target) {
                graph
                    .entry(owner.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .push(format!("src/{}:{line}", relative.display()));
            }
        }
    }
    graph
}

/// The first few places behind an arrow, and how many more there are.
fn places(all: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = all.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if all.len() > SHOWN {
        text.push_str(&format!(" (and {} more)", all.len() - SHOWN));
    }
    text
}

/// The modules `from` reaches by one or more arrows.
fn reachable(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(module) = stack.pop() {
        for next in graph.get(&module).into_iter().flat_map(|uses| uses.keys()) {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

/// The circles: groups of two or more modules that each reach all the others.
fn circles(graph: &Graph) -> Vec<BTreeSet<String>> {
    let reach: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|module| (module, reachable(graph, module))).collect();
    let mut circles: Vec<BTreeSet<String>> = Vec::new();
    for (module, reached) in &reach {
        if !reached.contains(*module) || circles.iter().any(|c| c.contains(*module)) {
            continue;
        }
        let circle: BTreeSet<String> = reached
            .iter()
            .filter(|other| reach.get(other).is_some_and(|back| back.contains(*module)))
            .cloned()
            .collect();
        circles.push(circle);
    }
    circles
}

#[test]
fn the_top_level_modules_use_each_other_one_way_only() {
    let graph = graph();
    let mut report = String::new();
    for circle in circles(&graph) {
        report.push_str(&format!("\n  {}\n", circle.iter().cloned().collect::<Vec<_>>().join(" <-> ")));
        for from in &circle {
            for (to, found) in graph.get(from).into_iter().flatten() {
                if circle.contains(to) {
                    report.push_str(&format!("    {from} -> {to}: {}\n", places(found)));
                }
            }
        }
    }
    assert!(report.is_empty(), "top-level modules use each other in a circle:{report}");
}

#[test]
fn the_rules_and_the_storage_stay_below_what_uses_them() {
    let graph = graph();
    // What each low layer must never name: what is built on top of it.
    let above_domain =
        ["db", "search", "trends", "app", "app_state", "auth", "http", "startup", "cli", "transfer"];
    let above_db = ["search", "trends", "app", "app_state", "auth", "http", "startup", "cli", "transfer"];
    let mut wrong = Vec::new();
    for (low, above) in [("domain", &above_domain[..]), ("db", &above_db[..])] {
        for (to, found) in graph.get(low).into_iter().flatten() {
            if above.contains(&to.as_str()) {
                wrong.push(format!("{low} -> {to}: {}", places(found)));
            }
        }
    }
    assert!(wrong.is_empty(), "a lower layer names a higher one:\n{}", wrong.join("\n"));
}

#[test]
fn the_scan_sees_the_arrows_that_exist() {
    // Guards the two tests above against passing on a scan that finds nothing.
    let graph = graph();
    for (from, to) in [("http", "app"), ("app", "db"), ("db", "domain"), ("startup", "http")] {
        assert!(
            graph.get(from).is_some_and(|uses| uses.contains_key(to)),
            "expected {from} -> {to} in {graph:#?}"
        );
    }
    let text = "use crate::{\n    db::Db,\n    search::{x, y},\n};\nlet a = super::super::http::x;";
    let found: Vec<String> = named_modules(text, 2).into_iter().map(|(m, _)| m).collect();
    assert_eq!(found, ["db", "search", "http"]);
    let stripped =
        without_tests_and_comments("use crate::db;\n#[cfg(test)]\nmod tests {\n    use crate::http;\n}\n");
    assert!(!stripped.contains("http") && stripped.contains("crate::db"), "{stripped}");
}
