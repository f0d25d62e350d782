//! Tests of [`super::load`] and [`super::check_file`]: defaults, flags and precedence
//! here; one test per environment variable in `env_vars`; error collection, secrets
//! kept out of messages and `Debug`, and `check_file` in `errors`.

mod env_vars;
mod errors;
mod hmac;
mod reference;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// 32 bytes.
const HEX32: &str = "5e3f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";
/// 32 other bytes.
const HEX32_B: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";
/// 16 bytes: too short.
const HEX16: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Upstream and HMAC secret set (both required), plus `extra`.
fn base(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut m = map(&[
        ("SIGNET_UPSTREAM_URL", "http://127.0.0.1:9/v1"),
        ("SIGNET_HMAC_SECRET", HEX32),
    ]);
    m.extend(map(extra));
    m
}

fn ok(args: &ServeArgs, env: &HashMap<String, String>) -> (Config, Vec<String>) {
    match load(args, env) {
        Ok(x) => x,
        Err(e) => panic!("unexpected errors: {e:#?}"),
    }
}

/// The config from the base environment plus `extra`, no flags.
fn with_env(extra: &[(&str, &str)]) -> Config {
    ok(&ServeArgs::default(), &base(extra)).0
}

fn errs(args: &ServeArgs, env: &HashMap<String, String>) -> Vec<String> {
    match load(args, env) {
        Ok((c, _)) => panic!("expected errors, got {c:#?}"),
        Err(e) => e,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn secret_of(c: &Config) -> String {
    c.hmac_key.to_hex_secret().to_string()
}

/// What `workers = 0` (the default) resolves to.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn args_with_config(p: &Path) -> ServeArgs {
    ServeArgs {
        config: Some(p.to_owned()),
        ..ServeArgs::default()
    }
}

// ---- defaults ----

#[test]
fn defaults_when_only_required_values_are_set() {
    let (c, warnings) = ok(&ServeArgs::default(), &base(&[]));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.listen, "127.0.0.1:8443".parse::<SocketAddr>().unwrap());
    assert_eq!(c.workers, cpus());
    assert_eq!(c.audit_log_path, PathBuf::from("signet-audit.jsonl"));
    assert_eq!(c.hmac_key.id(), "k1");
    assert_eq!(c.max_request_body_bytes, 4_194_304);
    assert_eq!(c.max_inspect_bytes, 16 * 1024 * 1024);
    assert_eq!(c.request_timeout, Duration::from_secs(120));
    assert_eq!(c.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.upstream_connect_timeout, Duration::from_secs(10));
    assert_eq!(c.receipt_header_name, "X-Signet-Receipt");
    assert!(c.emit_receipts);
    assert!(c.receipt_key.is_none());
    assert!(!c.shadow);
    assert!(c.strict_error_redaction);
    assert_eq!(c.log_format, LogFormat::Text);
    assert!(c.upstream_api_key.is_none());
    assert!(!c.two_phase);
    assert!(c.tls_cert.is_none() && c.tls_key.is_none() && c.upstream_ca.is_none());
    assert!(c.log_key.is_none(), "checkpoints are off by default");
    assert_eq!(c.origin, defaults::origin());
    assert!(c.origin.ends_with("/signet-audit"), "{}", c.origin);
    assert_eq!(c.checkpoint_every, 256);
    assert_eq!(c.checkpoint_interval, Duration::from_millis(1000));
    assert!(c.tsa_url.is_none() && c.tsa_root.is_none());
    assert!(!c.open_policy);
}

#[test]
fn default_origin_comes_from_the_host_name() {
    assert_eq!(defaults::origin_for(Some("gw-1\n")), "gw-1/signet-audit");
    assert_eq!(
        defaults::origin_for(Some("  h.example  ")),
        "h.example/signet-audit"
    );
    for bad in [
        None,
        Some(""),
        Some("\n"),
        Some("a b"),
        Some("a+b"),
        Some("h\u{e9}"),
    ] {
        assert_eq!(
            defaults::origin_for(bad),
            "localhost/signet-audit",
            "{bad:?}"
        );
    }
    let long = "h".repeat(200);
    assert_eq!(defaults::origin_for(Some(&long)), "localhost/signet-audit");
    match std::fs::read_to_string(defaults::HOSTNAME_FILE) {
        Ok(h) if !h.trim().is_empty() => {
            assert_eq!(defaults::origin(), format!("{}/signet-audit", h.trim()));
        }
        _ => assert_eq!(defaults::origin(), "localhost/signet-audit"),
    }
}

// ---- flags ----

#[test]
fn every_flag_reaches_config() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "s.hex", HEX32_B);
    let rk = write(dir.path(), "r.pem", "r");
    let cert = write(dir.path(), "c.pem", "c");
    let key = write(dir.path(), "k.pem", "k");
    let ca = write(dir.path(), "ca.pem", "ca");
    let lk = write(dir.path(), "log.pem", "l");
    let root = write(dir.path(), "tsa-root.pem", "t");
    let args = ServeArgs {
        upstream: Some("http://api:8080".into()),
        host: Some("0.0.0.0".into()),
        port: Some("9443".into()),
        workers: Some("5".into()),
        audit_log: Some("flag.jsonl".into()),
        config: None,
        hmac_secret_file: Some(secret),
        hmac_secret: None,
        hmac_key_id: Some("kf".into()),
        receipt_key: Some(rk.clone()),
        shadow: true,
        log_format: Some("json".into()),
        max_request_body_bytes: Some("77".into()),
        request_timeout_s: Some("5".into()),
        tls_cert: Some(cert.clone()),
        tls_key: Some(key.clone()),
        upstream_ca: Some(ca.clone()),
        log_key: Some(lk.clone()),
        origin: Some("flag.example/log".into()),
        checkpoint_every: Some("16".into()),
        checkpoint_interval_ms: Some("250".into()),
        tsa_url: Some("https://tsa.example/tsr".into()),
        tsa_root: Some(root.clone()),
        tsa_ca: Some(ca.clone()),
        two_phase: true,
        verbose_errors: true,
    };
    let (c, _) = ok(&args, &HashMap::new());
    assert_eq!(c.upstream.authority.as_str(), "api:8080");
    assert_eq!(c.upstream.base_path, "");
    assert_eq!(c.listen, "0.0.0.0:9443".parse::<SocketAddr>().unwrap());
    assert_eq!(c.workers, 5);
    assert_eq!(c.audit_log_path, PathBuf::from("flag.jsonl"));
    assert_eq!(secret_of(&c), HEX32_B);
    assert_eq!(c.hmac_key.id(), "kf");
    assert_eq!(c.receipt_key, Some(rk));
    assert!(c.shadow && c.two_phase && !c.strict_error_redaction);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.max_request_body_bytes, 77);
    assert_eq!(c.request_timeout, Duration::from_secs(5));
    assert_eq!(
        (c.tls_cert, c.tls_key, c.upstream_ca),
        (Some(cert), Some(key), Some(ca.clone()))
    );
    assert_eq!(c.log_key, Some(lk));
    assert_eq!(c.origin, "flag.example/log");
    assert_eq!(c.checkpoint_every, 16);
    assert_eq!(c.checkpoint_interval, Duration::from_millis(250));
    assert_eq!(
        c.tsa_url.map(|u| u.to_string()),
        Some("https://tsa.example/tsr".to_owned())
    );
    assert_eq!(c.tsa_root, Some(root));
    assert_eq!(c.tsa_ca, Some(ca));
}

#[test]
fn hmac_secret_flag_works_and_warns() {
    let mut env = base(&[]);
    env.remove("SIGNET_HMAC_SECRET");
    let args = ServeArgs {
        hmac_secret: Some(args::SecretArg::new(HEX32_B)),
        ..ServeArgs::default()
    };
    let (c, w) = ok(&args, &env);
    assert_eq!(secret_of(&c), HEX32_B);
    assert!(w.iter().any(|w| w.contains("process list")), "{w:?}");
    assert!(!format!("{args:?}").contains(HEX32_B));
}

// ---- precedence ----

#[test]
fn flag_beats_env_beats_toml() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "signet.toml",
        "port = 3\nworkers = 3\nupstream_url = \"http://toml:1\"\nlog_format = \"text\"\n",
    );
    let flags = ServeArgs {
        port: Some("1".into()),
        workers: Some("1".into()),
        upstream: Some("http://flag:1".into()),
        ..args_with_config(&f)
    };
    let env = base(&[
        ("SIGNET_PORT", "2"),
        ("SIGNET_WORKERS", "2"),
        ("SIGNET_UPSTREAM_URL", "http://env:1"),
        ("SIGNET_LOG_FORMAT", "json"),
    ]);
    let (c, _) = ok(&flags, &env);
    assert_eq!(c.listen.port(), 1);
    assert_eq!(c.workers, 1);
    assert_eq!(c.upstream.authority.as_str(), "flag:1");
    assert_eq!(c.log_format, LogFormat::Json, "env beats file");

    let (c, _) = ok(&args_with_config(&f), &env);
    assert_eq!(c.listen.port(), 2);
    assert_eq!(c.workers, 2);
    assert_eq!(c.upstream.authority.as_str(), "env:1");

    let mut env = base(&[]);
    env.remove("SIGNET_UPSTREAM_URL");
    let (c, _) = ok(&args_with_config(&f), &env);
    assert_eq!(c.listen.port(), 3);
    assert_eq!(c.workers, 3);
    assert_eq!(c.upstream.authority.as_str(), "toml:1");
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn boolean_precedence_including_verbose_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "s.toml",
        "shadow = false\nstrict_error_redaction = true\n",
    );
    let env = base(&[
        ("SIGNET_SHADOW", "on"),
        ("SIGNET_STRICT_ERROR_REDACTION", "true"),
    ]);
    let (c, _) = ok(&args_with_config(&f), &env);
    assert!(c.shadow, "env beats file");
    assert!(c.strict_error_redaction);
    let args = ServeArgs {
        verbose_errors: true,
        ..args_with_config(&f)
    };
    assert!(!ok(&args, &env).0.strict_error_redaction, "flag beats env");
}

#[test]
fn hmac_secret_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let flag_file = write(dir.path(), "flag.hex", HEX32_B);
    let toml_secret = write(dir.path(), "toml.hex", HEX32_B);
    let f = write(dir.path(), "s.toml", "hmac_secret_file = \"toml.hex\"\n");
    // flag file beats env secret
    let args = ServeArgs {
        hmac_secret_file: Some(flag_file),
        ..ServeArgs::default()
    };
    assert_eq!(secret_of(&ok(&args, &base(&[])).0), HEX32_B);
    // env secret beats the file's hmac_secret_file
    assert_eq!(secret_of(&ok(&args_with_config(&f), &base(&[])).0), HEX32);
    // the file's hmac_secret_file, relative to the file's directory
    let mut env = base(&[]);
    env.remove("SIGNET_HMAC_SECRET");
    assert_eq!(secret_of(&ok(&args_with_config(&f), &env).0), HEX32_B);
    assert!(toml_secret.exists());
}

#[test]
fn config_flag_beats_signet_config() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.toml", "port = 1111\n");
    let b = write(dir.path(), "b.toml", "port = 2222\n");
    let env = base(&[("SIGNET_CONFIG", b.to_str().unwrap())]);
    assert_eq!(ok(&args_with_config(&a), &env).0.listen.port(), 1111);
}

#[test]
fn toml_paths_are_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", "ca");
    let f = write(
        dir.path(),
        "signet.toml",
        "audit_log_path = \"logs/a.jsonl\"\nupstream_ca = \"ca.pem\"\n",
    );
    let (c, _) = ok(&args_with_config(&f), &base(&[]));
    assert_eq!(c.audit_log_path, dir.path().join("logs/a.jsonl"));
    assert_eq!(c.upstream_ca, Some(dir.path().join("ca.pem")));
}

#[test]
fn every_toml_key_is_read() {
    let dir = tempfile::tempdir().unwrap();
    for n in [
        "s.hex", "r.pem", "c.pem", "k.pem", "ca.pem", "l.pem", "t.pem",
    ] {
        write(dir.path(), n, HEX32_B);
    }
    let text = r#"
upstream_url = "http://h:11434/v1"
host = "0.0.0.0"
port = 8444
workers = 7
audit_log_path = "a.jsonl"
hmac_secret_file = "s.hex"
hmac_key_id = "kt"
max_request_body_bytes = 10
max_inspect_bytes = 20
request_timeout_s = 1.5
header_read_timeout_s = 2
upstream_connect_timeout_s = 3
receipt_header_name = "X-R"
emit_receipts = false
receipt_key = "r.pem"
shadow = true
strict_error_redaction = false
log_format = "json"
two_phase = true
tls_cert = "c.pem"
tls_key = "k.pem"
upstream_ca = "ca.pem"
log_key = "l.pem"
origin = "toml.example/log"
checkpoint_every = 1000
checkpoint_interval_ms = 5000
tsa_url = "http://127.0.0.1:3180/tsa"
tsa_root = "t.pem"

[policy]

[dangerous]
open_policy = true
"#;
    let f = write(dir.path(), "signet.toml", text);
    let (c, w) = ok(&args_with_config(&f), &HashMap::new());
    let d = dir.path();
    assert_eq!(c.upstream.base_path, "/v1");
    assert_eq!(c.listen, "0.0.0.0:8444".parse::<SocketAddr>().unwrap());
    assert_eq!(c.workers, 7);
    assert_eq!(c.audit_log_path, d.join("a.jsonl"));
    assert_eq!((secret_of(&c).as_str(), c.hmac_key.id()), (HEX32_B, "kt"));
    assert_eq!((c.max_request_body_bytes, c.max_inspect_bytes), (10, 20));
    assert_eq!(c.request_timeout, Duration::from_millis(1500));
    assert_eq!(c.header_read_timeout, Duration::from_secs(2));
    assert_eq!(c.upstream_connect_timeout, Duration::from_secs(3));
    assert_eq!(c.receipt_header_name, "x-r");
    assert!(!c.emit_receipts && c.shadow && !c.strict_error_redaction && c.two_phase);
    assert_eq!(c.receipt_key, Some(d.join("r.pem")));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.tls_cert, Some(d.join("c.pem")));
    assert_eq!(c.tls_key, Some(d.join("k.pem")));
    assert_eq!(c.upstream_ca, Some(d.join("ca.pem")));
    assert_eq!(c.log_key, Some(d.join("l.pem")));
    assert_eq!(c.origin, "toml.example/log");
    assert_eq!(c.checkpoint_every, 1000);
    assert_eq!(c.checkpoint_interval, Duration::from_secs(5));
    assert_eq!(
        c.tsa_url.map(|u| u.to_string()),
        Some("http://127.0.0.1:3180/tsa".to_owned())
    );
    assert_eq!(c.tsa_root, Some(d.join("t.pem")));
    assert!(c.open_policy);
    assert!(w.iter().any(|w| w.contains("open_policy")), "{w:?}");
}
