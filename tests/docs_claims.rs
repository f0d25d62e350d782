//! The security documents cite tests as evidence; every cited test must exist.
//!
//! `SECURITY.md` and `docs/threat-model.md` name tests as `file::module::function`
//! (`adversarial::offpath::…` for `tests/adversarial/offpath.rs`, `signet_audit::…`
//! for `crates/signet-audit/tests/`, `src::…` for unit tests in `src/`, otherwise a
//! file in `tests/`). A rename or deletion that leaves a claim without its proof fails
//! here.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target" || n == "fuzz") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Files where a cited path's test function may live.
fn candidates(path: &[&str]) -> Vec<PathBuf> {
    let r = root();
    let mut dirs = Vec::new();
    match path[0] {
        "signet_audit" => {
            dirs.push(r.join("crates/signet-audit/tests"));
            dirs.push(r.join("crates/signet-audit/src"));
        }
        "src" => dirs.push(r.join("src")),
        first => {
            let f = r.join("tests").join(format!("{first}.rs"));
            if f.exists() {
                return vec![f, r.join("tests").join(first)];
            }
            return Vec::new();
        }
    }
    let mut files = Vec::new();
    for d in dirs {
        rust_files(&d, &mut files);
    }
    files
}

fn defines(files: &[PathBuf], func: &str) -> bool {
    let pat = format!("fn {func}(");
    files.iter().any(|f| {
        if f.is_dir() {
            let mut inner = Vec::new();
            rust_files(f, &mut inner);
            defines(&inner, func)
        } else {
            std::fs::read_to_string(f).is_ok_and(|t| t.contains(&pat))
        }
    })
}

/// True when `src/` (at any depth) has a module `name`: a file `name.rs` or a folder
/// `name/mod.rs`.
fn names_a_source_module(name: &str) -> bool {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.iter().any(|f| {
        f.file_stem().is_some_and(|s| s == name)
            || (f.file_name().is_some_and(|s| s == "mod.rs")
                && f.parent()
                    .and_then(|d| d.file_name())
                    .is_some_and(|d| d == name))
    })
}

/// Backticked `a::b::c` paths that look like test paths (lower-case snake segments).
fn cited(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"`((?:[a-z_][a-z0-9_]*::)+[a-z_][a-z0-9_]*)`").expect("regex");
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

#[test]
fn every_test_cited_as_evidence_exists() {
    let mut total = 0;
    let mut missing = Vec::new();
    for doc in ["SECURITY.md", "docs/threat-model.md"] {
        let text = std::fs::read_to_string(root().join(doc)).expect(doc);
        for c in cited(&text) {
            let parts: Vec<&str> = c.split("::").collect();
            // Code paths that are not tests (e.g. `pipeline::run`) name modules of src/.
            let files = candidates(&parts);
            let func = parts[parts.len() - 1];
            if files.is_empty() && names_a_source_module(parts[0]) {
                continue;
            }
            total += 1;
            if !defines(&files, func) {
                missing.push(format!("{doc}: {c}"));
            }
        }
    }
    assert!(
        total > 60,
        "only {total} cited tests found: is the pattern right?"
    );
    assert!(
        missing.is_empty(),
        "cited tests that do not exist: {missing:#?}"
    );
}
