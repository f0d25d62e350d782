//! `docs/configuration.md` against the code: the generated tables are current, and
//! every config-file key (as serde knows them), every `serve` flag (as clap knows
//! them), every `SIGNET_*` variable the code reads and every `[policy]` key is in it.
//! `SIGNET_UPDATE_DOCS=1 cargo test --bin signet reference` rewrites the generated parts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};

use super::super::raw::RawConfig;
use super::super::reference::{commands_markdown, settings, settings_markdown};
use crate::policy::PolicyConfig;

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md")
}

fn doc() -> String {
    std::fs::read_to_string(doc_path()).expect("docs/configuration.md")
}

/// Replaces the text between the `name` markers; `None` when the markers are missing.
fn splice(doc: &str, name: &str, body: &str) -> Option<String> {
    let begin =
        format!("<!-- generated:{name}:begin (do not edit; see src/config/reference.rs) -->\n");
    let end = format!("<!-- generated:{name}:end -->");
    let a = doc.find(&begin)? + begin.len();
    let b = a + doc[a..].find(&end)?;
    Some(format!("{}{body}{}", &doc[..a], &doc[b..]))
}

#[test]
fn generated_parts_of_the_configuration_doc_are_current() {
    let before = doc();
    let mut after = splice(&before, "settings", &settings_markdown()).expect("settings markers");
    after = splice(
        &after,
        "commands",
        &commands_markdown(&crate::cli::Cli::command()),
    )
    .expect("commands markers");
    if std::env::var_os("SIGNET_UPDATE_DOCS").is_some() {
        std::fs::write(doc_path(), &after).expect("write doc");
        return;
    }
    assert!(
        before == after,
        "docs/configuration.md is stale: run `SIGNET_UPDATE_DOCS=1 cargo test --bin signet reference`"
    );
}

/// The field names serde lists when it meets an unknown key in `toml`.
fn serde_fields<T: serde::de::DeserializeOwned>(toml_text: &str) -> BTreeSet<String> {
    let Err(e) = toml::from_str::<T>(toml_text) else {
        panic!("{toml_text:?} parsed");
    };
    let msg = e.to_string();
    let tail = msg
        .split("expected")
        .nth(1)
        .unwrap_or_else(|| panic!("{msg}"));
    tail.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_config_file_key_has_a_row() {
    let from_serde = serde_fields::<RawConfig>("zzz_unknown = 1\n");
    let mut documented: BTreeSet<String> = settings()
        .iter()
        .filter(|s| !s.key.starts_with(['(', '[']))
        .map(|s| s.key.to_owned())
        .collect();
    // Rows of their own: `[policy]`, `[dangerous] open_policy`, and the two secrets the
    // file refuses by name.
    documented.extend(["policy", "dangerous", "hmac_secret", "upstream_api_key"].map(String::from));
    assert_eq!(from_serde, documented);
    assert_eq!(
        serde_fields::<RawConfig>("[dangerous]\nzzz_unknown = 1\n"),
        BTreeSet::from(["open_policy".to_owned()])
    );
}

#[test]
fn every_serve_flag_has_a_row() {
    let cmd = super::ServeArgs::augment_args(clap::Command::new("serve"));
    let from_clap: BTreeSet<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    let documented: BTreeSet<String> = settings()
        .iter()
        .filter_map(|s| s.flag.map(str::to_owned))
        .chain(["--verbose-errors".to_owned()])
        .collect();
    assert_eq!(from_clap, documented);
}

fn signet_vars(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"SIGNET_[A-Z0-9_]*[A-Z0-9]").expect("regex");
    re.find_iter(text).map(|m| m.as_str().to_owned()).collect()
}

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

#[test]
fn every_environment_variable_the_code_reads_is_documented_and_no_other() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let lit = regex::Regex::new(r#""(SIGNET_[A-Z0-9_]+)""#).expect("regex");
    let mut in_code = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source");
        in_code.extend(lit.captures_iter(&text).map(|c| c[1].to_owned()));
    }
    assert!(
        in_code.contains("SIGNET_HMAC_SECRET") && in_code.len() > 20,
        "{in_code:?}"
    );
    let in_doc = signet_vars(&doc());
    let undocumented: Vec<_> = in_code.difference(&in_doc).collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/configuration.md: {undocumented:?}"
    );
    let stale: Vec<_> = in_doc.difference(&in_code).collect();
    assert!(stale.is_empty(), "documented but never read: {stale:?}");
}

#[test]
fn every_policy_key_is_documented() {
    let doc = doc();
    let sections = serde_fields::<PolicyConfig>("zzz_unknown = 1\n");
    assert!(sections.contains("rate_limit"), "{sections:?}");
    let mut missing = Vec::new();
    for s in &sections {
        let table = format!("policy.{s}");
        if !doc.contains(&format!("`[{table}]`")) {
            missing.push(format!("[{table}]"));
        }
        for f in serde_fields::<PolicyConfig>(&format!("[{s}]\nzzz_unknown = 1\n")) {
            if f == "rules" {
                let rule = format!("[[{s}.rules]]\nzzz_unknown = 1\n");
                for rf in serde_fields::<PolicyConfig>(&rule) {
                    let key = format!("`{table}.rules[].{rf}`");
                    if !doc.contains(&key) {
                        missing.push(key);
                    }
                }
            } else if !doc.contains(&format!("`{table}.{f}`")) {
                missing.push(format!("`{table}.{f}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "policy keys missing from docs/configuration.md: {missing:?}"
    );
}
