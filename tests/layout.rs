//! The layout stays easy to see: no two top-level modules of `src/` (or of the audit
//! crate) import each other, directly or through others.
//!
//! A module is a top-level file (`src/x.rs`) or folder (`src/x/`), and in the audit
//! crate each module inside its two halves (`log/`, `transparency/`); an edge x -> y is
//! any `crate::y` (or `crate::<half>::y`, or from inside a half `super::y`) path
//! written in x, in `use` lines (also inside `use crate::{…}` groups) and inline. Comments and unit tests (`#[cfg(test)] mod tests` at the bottom of a
//! file, and files under a `tests/` folder) are not dependencies and are skipped. The
//! test prints every strongly connected component of more than one module.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The units of a crate's `src/`: each top-level file or folder, except that the
/// folders in `descend` (the audit crate's two halves, `log/` and `transparency/`)
/// count as the modules inside them.
fn units(src: &Path, descend: &[&str]) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut add = |dir: &Path, skip_mod: bool| {
        for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let p = e.path();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if descend.contains(&name.as_str()) && dir == src {
                    continue;
                }
                let mut fs = Vec::new();
                rust_files(&p, &mut fs);
                fs.retain(|f| !f.strip_prefix(&p).unwrap().starts_with("tests"));
                out.entry(name).or_default().extend(fs);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !["main", "lib"].contains(&name.as_str())
                && (!skip_mod || name != "mod")
                && (dir != src || !descend.contains(&name.as_str()))
            {
                out.entry(name).or_default().push(p);
            }
        }
    };
    add(src, false);
    for d in descend {
        add(&src.join(d), true);
    }
    out
}

/// Unit name -> the units it imports: `crate::x`, `crate::<half>::x`, and `super::x`
/// from a unit directly inside a half.
fn graph(src: &Path, descend: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let files = units(src, descend);
    let path_ref =
        regex::Regex::new(r"\bcrate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?").unwrap();
    let super_ref = regex::Regex::new(r"\bsuper::([a-z_][a-z0-9_]*)").unwrap();
    let group = regex::Regex::new(r"(?s)\buse\s+(crate|super)::\{([^;]*)\}").unwrap();
    let head = regex::Regex::new(r"(?:^|[,{\s])([a-z_][a-z0-9_]*)").unwrap();
    let tests = regex::Regex::new(r"#\[cfg\(test\)\]\s*mod\s+tests\b").unwrap();
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (m, fs) in &files {
        let mut to = BTreeSet::new();
        for f in fs {
            let rel = f.strip_prefix(src).unwrap();
            let in_half = rel.components().count() >= 2
                && descend.iter().any(|d| rel.starts_with(d))
                && (rel.components().count() == 2
                    || rel.file_name().is_some_and(|n| n == "mod.rs"));
            let text = std::fs::read_to_string(f).unwrap();
            let text = tests.split(&text).next().unwrap_or("");
            let code: String = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            for c in path_ref.captures_iter(&code) {
                match c.get(2) {
                    Some(inner) if descend.contains(&&c[1]) => to.insert(inner.as_str().to_owned()),
                    _ => to.insert(c[1].to_owned()),
                };
            }
            if in_half {
                for c in super_ref.captures_iter(&code) {
                    to.insert(c[1].to_owned());
                }
            }
            for g in group.captures_iter(&code) {
                if &g[1] == "super" && !in_half {
                    continue;
                }
                for c in head.captures_iter(&g[2]) {
                    to.insert(c[1].to_owned());
                }
            }
        }
        to.retain(|x| names.contains(x) && x != m);
        edges.insert(m.clone(), to);
    }
    edges
}

/// Strongly connected components of more than one module (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in &t.edges[v] {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let l = t.low[v].min(t.low[w]);
                t.low.insert(v, l);
            } else if t.on.contains(w) {
                let l = t.low[v].min(t.index[w]);
                t.low.insert(v, l);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn assert_no_circle(dir: &str, descend: &[&str]) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let edges = graph(&src, descend);
    assert!(
        edges.len() > 10,
        "{dir}: only {} modules found",
        edges.len()
    );
    let found = circles(&edges);
    let shown: Vec<String> = found
        .iter()
        .map(|c| {
            let arrows: Vec<String> = c
                .iter()
                .map(|m| {
                    format!(
                        "{m} -> {:?}",
                        edges[m]
                            .iter()
                            .filter(|x| c.contains(x))
                            .collect::<Vec<_>>()
                    )
                })
                .collect();
            arrows.join("; ")
        })
        .collect();
    assert!(found.is_empty(), "{dir}: import circles: {shown:#?}");
}

#[test]
fn no_import_circle_in_the_gateway() {
    assert_no_circle("src", &[]);
}

#[test]
fn no_import_circle_in_the_audit_crate() {
    assert_no_circle("crates/signet-audit/src", &["log", "transparency"]);
}

/// The checker sees a circle when there is one (so the two tests above can fail).
#[test]
fn the_checker_finds_a_planted_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    for (name, body) in [
        ("a.rs", "use crate::b::X;\n"),
        ("b.rs", "pub fn f() { crate::c::g() }\n"),
        ("c.rs", "use crate::{a, d};\n"),
        ("d.rs", "// crate::a in a comment is no import\n"),
        ("e.rs", "#[cfg(test)]\nmod tests { use crate::a; }\n"),
    ] {
        std::fs::write(src.join(name), body).unwrap();
    }
    let edges = graph(src, &[]);
    assert_eq!(
        circles(&edges),
        vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
    );
    assert!(edges["d"].is_empty() && edges["e"].is_empty(), "{edges:?}");
}
