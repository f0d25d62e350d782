//! `signet config check`: valid files pass, and every error of a bad file is reported
//! at once with exit 64, before anything starts.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::process::Command;

fn check(toml: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("signet.toml");
    std::fs::write(&p, toml).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["config", "check"])
        .arg(&p)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn valid_config_passes() {
    let (code, out, err) = check(
        r#"
upstream_url = "http://127.0.0.1:11434/v1"
port = 9000
[policy.owner_resolution]
required = true
[policy.rate_limit]
per_owner_rps = 5
[[policy.regex_content.rules]]
name = "ssn"
pattern = '\d{3}-\d{2}-\d{4}'
action = "redact"
"#,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("is a valid configuration"));
}

#[test]
fn unknown_key_is_refused_by_name() {
    let (code, _, err) = check("upstream_url = \"http://127.0.0.1:1\"\nporty = 1\n");
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("unknown field `porty`"), "{err}");
}

#[test]
fn every_error_is_reported_at_once() {
    let (code, _, err) = check(
        r#"
upstream_url = "ftp://nowhere"
log_format = "xml"
[policy.rate_limit]
per_owner_rps = -1
[[policy.regex_content.rules]]
name = "bad"
pattern = "(unclosed"
action = "block"
"#,
    );
    assert_eq!(code, Some(64), "{err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("signet: config:"))
        .collect();
    assert!(errors.len() >= 4, "expected every error at once: {err}");
    for needle in ["upstream", "log_format", "per_owner_rps", "regex"] {
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{needle} not reported: {err}"
        );
    }
}
