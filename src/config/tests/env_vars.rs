//! One test per `SIGNET_*` variable: its value reaches [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use super::*;

// ---- one test per environment variable ----

#[test]
fn env_signet_upstream_url() {
    let c = with_env(&[("SIGNET_UPSTREAM_URL", "https://llm.internal:11434/v1/")]);
    assert_eq!(c.upstream.scheme, http::uri::Scheme::HTTPS);
    assert_eq!(c.upstream.authority.as_str(), "llm.internal:11434");
    assert_eq!(c.upstream.base_path, "/v1");
}

#[test]
fn env_signet_host() {
    assert_eq!(
        with_env(&[("SIGNET_HOST", "0.0.0.0")])
            .listen
            .ip()
            .to_string(),
        "0.0.0.0"
    );
    assert_eq!(
        with_env(&[("SIGNET_HOST", "::1")]).listen.ip().to_string(),
        "::1"
    );
}

#[test]
fn env_signet_port() {
    assert_eq!(with_env(&[("SIGNET_PORT", "9001")]).listen.port(), 9001);
    assert_eq!(with_env(&[("SIGNET_PORT", "0")]).listen.port(), 0);
}

#[test]
fn env_signet_workers() {
    assert_eq!(with_env(&[("SIGNET_WORKERS", "3")]).workers, 3);
    assert_eq!(with_env(&[("SIGNET_WORKERS", "1")]).workers, 1);
    assert_eq!(with_env(&[("SIGNET_WORKERS", "256")]).workers, 256);
}

#[test]
fn env_signet_workers_unset_or_0_is_one_per_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    assert_eq!(with_env(&[]).workers, cpus);
    assert_eq!(with_env(&[("SIGNET_WORKERS", "0")]).workers, cpus);
    assert_eq!(with_env(&[("SIGNET_WORKERS", "")]).workers, cpus);
}

#[test]
fn env_signet_audit_log_path() {
    let c = with_env(&[("SIGNET_AUDIT_LOG_PATH", "/var/log/signet/a.jsonl")]);
    assert_eq!(c.audit_log_path, PathBuf::from("/var/log/signet/a.jsonl"));
}

#[test]
fn env_signet_hmac_secret() {
    let c = with_env(&[("SIGNET_HMAC_SECRET", HEX32_B)]);
    assert_eq!(secret_of(&c), HEX32_B);
}

#[test]
fn env_signet_hmac_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "hmac.hex", &format!("{HEX32_B}\n"));
    let mut env = base(&[("SIGNET_HMAC_SECRET_FILE", f.to_str().unwrap())]);
    env.remove("SIGNET_HMAC_SECRET");
    let (c, _) = ok(&ServeArgs::default(), &env);
    assert_eq!(secret_of(&c), HEX32_B);
}

#[test]
fn env_signet_hmac_key_id() {
    assert_eq!(
        with_env(&[("SIGNET_HMAC_KEY_ID", "k2026")]).hmac_key.id(),
        "k2026"
    );
}

#[test]
fn env_signet_max_request_body_bytes() {
    let c = with_env(&[("SIGNET_MAX_REQUEST_BODY_BYTES", "1000")]);
    assert_eq!(c.max_request_body_bytes, 1000);
}

#[test]
fn env_signet_request_timeout_s() {
    let c = with_env(&[("SIGNET_REQUEST_TIMEOUT_S", "30")]);
    assert_eq!(c.request_timeout, Duration::from_secs(30));
    let c = with_env(&[("SIGNET_REQUEST_TIMEOUT_S", "0.25")]);
    assert_eq!(c.request_timeout, Duration::from_millis(250));
}

#[test]
fn env_signet_receipt_header_name() {
    let c = with_env(&[("SIGNET_RECEIPT_HEADER_NAME", "X-Audit-Receipt")]);
    assert_eq!(c.receipt_header_name, "x-audit-receipt");
}

#[test]
fn env_signet_emit_receipts() {
    assert!(!with_env(&[("SIGNET_EMIT_RECEIPTS", "false")]).emit_receipts);
    assert!(with_env(&[("SIGNET_EMIT_RECEIPTS", "1")]).emit_receipts);
}

#[test]
fn env_signet_shadow() {
    let (c, w) = ok(&ServeArgs::default(), &base(&[("SIGNET_SHADOW", "true")]));
    assert!(c.shadow);
    assert!(w.iter().any(|w| w.contains("shadow")), "{w:?}");
}

#[test]
fn env_signet_strict_error_redaction() {
    let (c, w) = ok(
        &ServeArgs::default(),
        &base(&[("SIGNET_STRICT_ERROR_REDACTION", "off")]),
    );
    assert!(!c.strict_error_redaction);
    assert!(w.iter().any(|w| w.contains("redaction")), "{w:?}");
}

#[test]
fn env_signet_log_format() {
    assert_eq!(
        with_env(&[("SIGNET_LOG_FORMAT", "json")]).log_format,
        LogFormat::Json
    );
    assert_eq!(
        with_env(&[("SIGNET_LOG_FORMAT", "TEXT")]).log_format,
        LogFormat::Text
    );
}

#[test]
fn env_signet_upstream_api_key() {
    let c = with_env(&[("SIGNET_UPSTREAM_API_KEY", "sk-test-123")]);
    assert_eq!(
        c.upstream_api_key.as_deref().map(String::as_str),
        Some("sk-test-123")
    );
}

#[test]
fn env_signet_upstream_api_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "api.key", "sk-from-file-456\n");
    let c = with_env(&[("SIGNET_UPSTREAM_API_KEY_FILE", f.to_str().unwrap())]);
    assert_eq!(
        c.upstream_api_key.as_deref().map(String::as_str),
        Some("sk-from-file-456"),
        "read and trimmed"
    );
    let both = errs(
        &ServeArgs::default(),
        &base(&[
            ("SIGNET_UPSTREAM_API_KEY_FILE", f.to_str().unwrap()),
            ("SIGNET_UPSTREAM_API_KEY", "sk-x"),
        ]),
    );
    assert!(both.iter().any(|e| e.contains("both set")), "{both:?}");
    let missing = errs(
        &ServeArgs::default(),
        &base(&[("SIGNET_UPSTREAM_API_KEY_FILE", "/nonexistent/api.key")]),
    );
    assert!(
        missing
            .iter()
            .any(|e| e
                .starts_with("SIGNET_UPSTREAM_API_KEY_FILE (/nonexistent/api.key): cannot read")),
        "{missing:?}"
    );
}

#[test]
fn env_signet_receipt_key() {
    let dir = tempfile::tempdir().unwrap();
    let k = write(dir.path(), "receipt.pem", "pem");
    let c = with_env(&[("SIGNET_RECEIPT_KEY", k.to_str().unwrap())]);
    assert_eq!(c.receipt_key, Some(k));
}

#[test]
fn env_signet_config() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "signet.toml", "port = 7001\nshadow = true\n");
    let c = with_env(&[("SIGNET_CONFIG", f.to_str().unwrap())]);
    assert_eq!(c.listen.port(), 7001);
    assert!(c.shadow);
}

#[test]
fn env_signet_two_phase() {
    assert!(with_env(&[("SIGNET_TWO_PHASE", "yes")]).two_phase);
}

#[test]
fn env_signet_tls_cert() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "cert.pem", "c");
    let key = write(dir.path(), "key.pem", "k");
    let c = with_env(&[
        ("SIGNET_TLS_CERT", cert.to_str().unwrap()),
        ("SIGNET_TLS_KEY", key.to_str().unwrap()),
    ]);
    assert_eq!(c.tls_cert, Some(cert));
}

#[test]
fn env_signet_tls_key() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "cert.pem", "c");
    let key = write(dir.path(), "key.pem", "k");
    let c = with_env(&[
        ("SIGNET_TLS_CERT", cert.to_str().unwrap()),
        ("SIGNET_TLS_KEY", key.to_str().unwrap()),
    ]);
    assert_eq!(c.tls_key, Some(key));
}

#[test]
fn env_signet_upstream_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", "ca");
    let c = with_env(&[("SIGNET_UPSTREAM_CA", ca.to_str().unwrap())]);
    assert_eq!(c.upstream_ca, Some(ca));
}

#[test]
fn env_signet_header_read_timeout_s() {
    let c = with_env(&[("SIGNET_HEADER_READ_TIMEOUT_S", "3")]);
    assert_eq!(c.header_read_timeout, Duration::from_secs(3));
}

#[test]
fn env_signet_upstream_connect_timeout_s() {
    let c = with_env(&[("SIGNET_UPSTREAM_CONNECT_TIMEOUT_S", "2.5")]);
    assert_eq!(c.upstream_connect_timeout, Duration::from_millis(2500));
}

#[test]
fn env_signet_max_inspect_bytes() {
    let c = with_env(&[("SIGNET_MAX_INSPECT_BYTES", "65536")]);
    assert_eq!(c.max_inspect_bytes, 65536);
}

#[test]
fn env_signet_log_key() {
    let dir = tempfile::tempdir().unwrap();
    let k = write(dir.path(), "log.pem", "pem");
    let c = with_env(&[("SIGNET_LOG_KEY", k.to_str().unwrap())]);
    assert_eq!(c.log_key, Some(k));
}

#[test]
fn env_signet_origin() {
    let c = with_env(&[("SIGNET_ORIGIN", "audit.example.com/signet")]);
    assert_eq!(c.origin, "audit.example.com/signet");
}

#[test]
fn env_signet_checkpoint_every() {
    assert_eq!(
        with_env(&[("SIGNET_CHECKPOINT_EVERY", "1")]).checkpoint_every,
        1
    );
    let c = with_env(&[("SIGNET_CHECKPOINT_EVERY", "1000000")]);
    assert_eq!(c.checkpoint_every, 1_000_000);
}

#[test]
fn env_signet_checkpoint_interval_ms() {
    let c = with_env(&[("SIGNET_CHECKPOINT_INTERVAL_MS", "10")]);
    assert_eq!(c.checkpoint_interval, Duration::from_millis(10));
    let c = with_env(&[("SIGNET_CHECKPOINT_INTERVAL_MS", "3600000")]);
    assert_eq!(c.checkpoint_interval, Duration::from_secs(3600));
}

#[test]
fn env_signet_tsa_url() {
    let dir = tempfile::tempdir().unwrap();
    let k = write(dir.path(), "log.pem", "pem");
    let root = write(dir.path(), "root.pem", "pem");
    let c = with_env(&[
        ("SIGNET_LOG_KEY", k.to_str().unwrap()),
        ("SIGNET_TSA_ROOT", root.to_str().unwrap()),
        ("SIGNET_TSA_URL", "https://freetsa.example/tsr?x=1"),
    ]);
    let u = c.tsa_url.unwrap();
    assert_eq!(u.scheme_str(), Some("https"));
    assert_eq!(u.host(), Some("freetsa.example"));
    assert_eq!(u.path_and_query().unwrap().as_str(), "/tsr?x=1");
}

#[test]
fn env_signet_tsa_ca() {
    let dir = tempfile::tempdir().unwrap();
    let k = write(dir.path(), "log.pem", "pem");
    let root = write(dir.path(), "root.pem", "pem");
    let ca = write(dir.path(), "ca.pem", "pem");
    let mut env = base(&[
        ("SIGNET_LOG_KEY", k.to_str().unwrap()),
        ("SIGNET_TSA_ROOT", root.to_str().unwrap()),
        ("SIGNET_TSA_URL", "https://tsa.example/tsr"),
        ("SIGNET_TSA_CA", ca.to_str().unwrap()),
    ]);
    let (c, w) = ok(&ServeArgs::default(), &env);
    assert_eq!((c.tsa_ca, w.len()), (Some(ca.clone()), 0), "{w:?}");
    // Over plain http the CA is unused: said, not refused.
    env.insert("SIGNET_TSA_URL".into(), "http://127.0.0.1:3180".into());
    let (_, w) = ok(&ServeArgs::default(), &env);
    assert!(
        w.iter()
            .any(|w| w.starts_with("SIGNET_TSA_CA: ") && w.contains("unused")),
        "{w:?}"
    );
    env.insert(
        "SIGNET_TSA_CA".into(),
        dir.path().join("missing.pem").to_str().unwrap().into(),
    );
    env.insert("SIGNET_TSA_URL".into(), "https://tsa.example/tsr".into());
    let e = errs(&ServeArgs::default(), &env);
    assert!(
        e.len() == 1 && e[0].starts_with("SIGNET_TSA_CA: cannot read"),
        "{e:?}"
    );
}

#[test]
fn env_signet_tsa_root() {
    let dir = tempfile::tempdir().unwrap();
    let k = write(dir.path(), "log.pem", "pem");
    let root = write(dir.path(), "root.pem", "pem");
    let c = with_env(&[
        ("SIGNET_LOG_KEY", k.to_str().unwrap()),
        ("SIGNET_TSA_URL", "http://127.0.0.1:3180"),
        ("SIGNET_TSA_ROOT", root.to_str().unwrap()),
    ]);
    assert_eq!(c.tsa_root, Some(root));
}

#[test]
fn empty_env_values_count_as_unset() {
    let c = with_env(&[
        ("SIGNET_PORT", ""),
        ("SIGNET_SHADOW", "  "),
        ("SIGNET_CONFIG", ""),
    ]);
    assert_eq!(c.listen.port(), 8443);
    assert!(!c.shadow);
}
