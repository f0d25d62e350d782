//! Booleans, collected errors, secrets kept out of messages and `Debug`, upstream URLs
//! through `load`, and `check_file`.

use std::collections::HashMap;
use std::path::Path;

use super::*;

// ---- booleans ----

#[test]
fn boolean_spellings() {
    for t in ["1", "true", "yes", "on", "TRUE", "Yes", " On "] {
        assert!(with_env(&[("SIGNET_TWO_PHASE", t)]).two_phase, "{t}");
    }
    for f in ["0", "false", "no", "off", "FALSE", "No", "OFF"] {
        assert!(
            !with_env(&[("SIGNET_EMIT_RECEIPTS", f)]).emit_receipts,
            "{f}"
        );
    }
    for bad in ["maybe", "2", "y", "enabled"] {
        let e = errs(&ServeArgs::default(), &base(&[("SIGNET_SHADOW", bad)]));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("SIGNET_SHADOW: "), "{e:?}");
    }
}

// ---- errors ----

#[test]
fn every_error_is_collected() {
    let env = map(&[
        ("SIGNET_HMAC_SECRET", HEX32),
        ("SIGNET_PORT", "99999"),
        ("SIGNET_SHADOW", "perhaps"),
    ]);
    let e = errs(&ServeArgs::default(), &env);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e.iter().any(|m| m.starts_with("SIGNET_PORT: ")));
    assert!(e.iter().any(|m| m.starts_with("SIGNET_SHADOW: ")));
    assert!(e.iter().any(|m| m.starts_with("no upstream")));
}

#[test]
fn errors_from_every_layer_together() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "signet.toml",
        "request_timeout_s = 0\nreceipt_header_name = \"content-length\"\ntls_cert = \"missing.pem\"\n",
    );
    let args = ServeArgs {
        upstream: Some("ftp://h".into()),
        log_format: Some("xml".into()),
        ..args_with_config(&f)
    };
    let env = map(&[
        ("SIGNET_HMAC_SECRET", HEX16),
        ("SIGNET_MAX_INSPECT_BYTES", "0"),
        ("SIGNET_HOST", "example.com"),
        ("SIGNET_HMAC_KEY_ID", "bad id"),
    ]);
    let e = errs(&args, &env);
    let shown = f.display().to_string();
    let expect_prefixes = [
        "--upstream: ",
        "--log-format: ",
        "SIGNET_HMAC_SECRET: ",
        "SIGNET_MAX_INSPECT_BYTES: ",
        "SIGNET_HOST: ",
        "SIGNET_HMAC_KEY_ID: ",
        &format!("{shown}: request_timeout_s: "),
        &format!("{shown}: receipt_header_name: "),
        &format!("{shown}: tls_cert: a TLS certificate needs a key"),
        &format!("{shown}: tls_cert: cannot read"),
    ];
    for p in expect_prefixes {
        assert!(e.iter().any(|m| m.starts_with(p)), "no {p:?} in {e:#?}");
    }
    assert_eq!(e.len(), expect_prefixes.len(), "{e:#?}");
}

#[test]
fn missing_hmac_secret_is_an_error() {
    let e = errs(
        &ServeArgs::default(),
        &map(&[("SIGNET_UPSTREAM_URL", "http://h")]),
    );
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("no hmac secret"), "{e:?}");
}

#[test]
fn two_secret_sources_in_one_layer_are_refused() {
    let env = base(&[("SIGNET_HMAC_SECRET_FILE", "/x")]);
    let e = errs(&ServeArgs::default(), &env);
    assert!(e[0].contains("both set"), "{e:?}");
    let args = ServeArgs {
        hmac_secret: Some(args::SecretArg::new(HEX32)),
        hmac_secret_file: Some("/x".into()),
        ..ServeArgs::default()
    };
    assert!(errs(&args, &base(&[]))[0].contains("both given"));
}

#[test]
fn tls_cert_and_key_go_together() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "k.pem", "k");
    let e = errs(
        &ServeArgs::default(),
        &base(&[("SIGNET_TLS_KEY", key.to_str().unwrap())]),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("SIGNET_TLS_KEY: a TLS key needs a certificate"));
}

#[test]
fn bad_numbers_and_names() {
    let cases = [
        ("SIGNET_PORT", "-1"),
        ("SIGNET_PORT", "http"),
        ("SIGNET_WORKERS", "-1"),
        ("SIGNET_WORKERS", "257"),
        ("SIGNET_WORKERS", "1e3"),
        ("SIGNET_WORKERS", "x"),
        ("SIGNET_WORKERS", "2.5"),
        ("SIGNET_MAX_REQUEST_BODY_BYTES", "4MiB"),
        ("SIGNET_MAX_REQUEST_BODY_BYTES", "0"),
        ("SIGNET_REQUEST_TIMEOUT_S", "0"),
        ("SIGNET_REQUEST_TIMEOUT_S", "nan"),
        ("SIGNET_REQUEST_TIMEOUT_S", "inf"),
        ("SIGNET_REQUEST_TIMEOUT_S", "100000"),
        ("SIGNET_HEADER_READ_TIMEOUT_S", "-3"),
        ("SIGNET_RECEIPT_HEADER_NAME", "bad header"),
        ("SIGNET_RECEIPT_HEADER_NAME", "Transfer-Encoding"),
        ("SIGNET_LOG_FORMAT", "yaml"),
        ("SIGNET_HMAC_KEY_ID", "k/1"),
        ("SIGNET_UPSTREAM_URL", "http://h/x?q=1"),
    ];
    for (var, value) in cases {
        let e = errs(&ServeArgs::default(), &base(&[(var, value)]));
        assert_eq!(e.len(), 1, "{var}={value}: {e:?}");
        assert!(
            e[0].starts_with(&format!("{var}: ")),
            "{var}={value}: {e:?}"
        );
    }
}

#[test]
fn bad_transparency_values() {
    let long = format!("{}/log", "h".repeat(125));
    let cases = [
        ("SIGNET_ORIGIN", "has space/log"),
        ("SIGNET_ORIGIN", "a+b/log"),
        ("SIGNET_ORIGIN", "tab\there"),
        ("SIGNET_ORIGIN", "caf\u{e9}.example/log"),
        ("SIGNET_ORIGIN", "nul\u{0}x"),
        ("SIGNET_ORIGIN", long.as_str()),
        ("SIGNET_CHECKPOINT_EVERY", "0"),
        ("SIGNET_CHECKPOINT_EVERY", "1000001"),
        ("SIGNET_CHECKPOINT_EVERY", "-1"),
        ("SIGNET_CHECKPOINT_EVERY", "1e3"),
        ("SIGNET_CHECKPOINT_INTERVAL_MS", "9"),
        ("SIGNET_CHECKPOINT_INTERVAL_MS", "3600001"),
        ("SIGNET_CHECKPOINT_INTERVAL_MS", "1.5"),
        ("SIGNET_LOG_KEY", "/nonexistent/log.pem"),
        ("SIGNET_LOG_KEY", "/"),
        ("SIGNET_TSA_ROOT", "/nonexistent/root.pem"),
    ];
    for (var, value) in cases {
        let e = errs(&ServeArgs::default(), &base(&[(var, value)]));
        assert_eq!(e.len(), 1, "{var}={value}: {e:?}");
        assert!(
            e[0].starts_with(&format!("{var}: ")),
            "{var}={value}: {e:?}"
        );
    }
    // 128 characters is the limit, inclusive.
    let max = format!("{}/log", "h".repeat(124));
    assert_eq!(with_env(&[("SIGNET_ORIGIN", &max)]).origin, max);
}

#[test]
fn bad_tsa_urls() {
    let dir = tempfile::tempdir().unwrap();
    let k = write(dir.path(), "log.pem", "pem");
    let root = write(dir.path(), "root.pem", "pem");
    for bad in [
        "ftp://tsa.example/",
        "tsa.example/tsr",
        "/tsr",
        "http://",
        "https://user:SUPERSECRET@tsa.example/",
        "http://tsa.example/#frag",
        "not a url",
    ] {
        let env = base(&[
            ("SIGNET_LOG_KEY", k.to_str().unwrap()),
            ("SIGNET_TSA_ROOT", root.to_str().unwrap()),
            ("SIGNET_TSA_URL", bad),
        ]);
        let e = errs(&ServeArgs::default(), &env);
        assert_eq!(e.len(), 1, "{bad}: {e:?}");
        assert!(e[0].starts_with("SIGNET_TSA_URL: "), "{bad}: {e:?}");
        assert!(!e[0].contains("SUPERSECRET"), "{e:?}");
    }
}

#[test]
fn tsa_url_needs_log_key_and_tsa_root() {
    let dir = tempfile::tempdir().unwrap();
    let k = write(dir.path(), "log.pem", "pem");
    let root = write(dir.path(), "root.pem", "pem");
    let url = ("SIGNET_TSA_URL", "https://tsa.example/");

    let e = errs(
        &ServeArgs::default(),
        &base(&[url, ("SIGNET_TSA_ROOT", root.to_str().unwrap())]),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("SIGNET_TSA_URL: anchoring needs checkpoints"),
        "{e:?}"
    );

    let e = errs(
        &ServeArgs::default(),
        &base(&[url, ("SIGNET_LOG_KEY", k.to_str().unwrap())]),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("SIGNET_TSA_URL: TSA tokens are always verified"),
        "{e:?}"
    );

    let args = ServeArgs {
        tsa_url: Some("http://tsa.example".into()),
        ..ServeArgs::default()
    };
    let e = errs(&args, &base(&[]));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e.iter().all(|m| m.starts_with("--tsa-url: ")), "{e:?}");

    // A log key that is named but missing is reported once, not also as absent.
    let e = errs(
        &ServeArgs::default(),
        &base(&[
            url,
            ("SIGNET_LOG_KEY", "/nonexistent/log.pem"),
            ("SIGNET_TSA_ROOT", root.to_str().unwrap()),
        ]),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("SIGNET_LOG_KEY: cannot read"), "{e:?}");
}

#[test]
fn tsa_root_without_tsa_url_warns() {
    let dir = tempfile::tempdir().unwrap();
    let root = write(dir.path(), "root.pem", "pem");
    let (c, w) = ok(
        &ServeArgs::default(),
        &base(&[("SIGNET_TSA_ROOT", root.to_str().unwrap())]),
    );
    assert_eq!(c.tsa_root, Some(root));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("SIGNET_TSA_ROOT: no TSA URL"), "{w:?}");
}

#[test]
fn log_key_and_receipt_key_must_differ() {
    let dir = tempfile::tempdir().unwrap();
    let k = write(dir.path(), "key.pem", "pem");
    let f = write(dir.path(), "s.toml", "log_key = \"./key.pem\"\n");
    let env = base(&[("SIGNET_RECEIPT_KEY", k.to_str().unwrap())]);
    let e = errs(&args_with_config(&f), &env);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("{}: log_key: ", f.display())),
        "{e:?}"
    );
    assert!(e[0].contains("also the receipt key"), "{e:?}");
}

#[test]
fn toml_transparency_errors_name_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "signet.toml",
        "origin = \"a b\"\ncheckpoint_every = 0\ncheckpoint_interval_ms = -1\ntsa_url = \"ftp://x\"\ntsa_root = \"missing.pem\"\nlog_key = \"missing.pem\"\n",
    );
    let e = errs(&args_with_config(&f), &base(&[]));
    let shown = f.display().to_string();
    for key in [
        "origin",
        "checkpoint_every",
        "checkpoint_interval_ms",
        "tsa_url",
        "tsa_root",
        "log_key",
    ] {
        let p = format!("{shown}: {key}: ");
        assert!(e.iter().any(|m| m.starts_with(&p)), "no {p:?} in {e:#?}");
    }
    assert_eq!(e.len(), 6, "{e:#?}");
}

#[test]
fn check_file_leaves_tsa_requirements_to_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "signet.toml",
        "tsa_url = \"https://tsa.example\"\n",
    );
    assert_eq!(check_file(&f).unwrap(), Vec::<String>::new());
    let f = write(dir.path(), "b.toml", "tsa_url = \"ftp://tsa.example\"\n");
    assert_eq!(check_file(&f).unwrap_err().len(), 1);
}

#[test]
fn unreadable_config_file_names_the_path_only() {
    let args = args_with_config(Path::new("/nonexistent/signet.toml"));
    let e = errs(&args, &HashMap::new());
    assert_eq!(
        e.len(),
        1,
        "missing upstream/secret not reported on top: {e:?}"
    );
    assert!(e[0].contains("/nonexistent/signet.toml"), "{e:?}");
}

#[test]
fn unknown_toml_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "signet.toml", "port = 1\nprot = 2\n");
    let e = errs(&args_with_config(&f), &base(&[]));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("signet.toml:2:1:"), "{e:?}");
    assert!(e[0].contains("prot"), "{e:?}");
    let f = write(
        dir.path(),
        "d.toml",
        "[dangerous]\nopen_everything = true\n",
    );
    assert!(errs(&args_with_config(&f), &base(&[]))[0].contains("open_everything"));
}

#[test]
fn toml_type_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "signet.toml",
        "host = \"::1\"\nport = \"8443\"\n",
    );
    let e = errs(&args_with_config(&f), &base(&[]));
    assert!(e[0].contains("signet.toml:2:"), "{e:?}");
}

#[test]
fn toml_range_errors_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "signet.toml",
        "port = 70000\nmax_request_body_bytes = -5\nheader_read_timeout_s = 0\nworkers = 257\n",
    );
    let e = errs(&args_with_config(&f), &base(&[]));
    assert_eq!(e.len(), 4, "{e:#?}");
    let p = format!("{}: workers: ", f.display());
    assert!(e.iter().any(|m| m.starts_with(&p)), "no {p:?} in {e:#?}");
}

// ---- secrets ----

#[test]
fn short_secret_message_names_the_source_not_the_value() {
    let e = errs(
        &ServeArgs::default(),
        &base(&[("SIGNET_HMAC_SECRET", HEX16)]),
    );
    assert_eq!(
        e,
        ["SIGNET_HMAC_SECRET: hmac key is 16 bytes; at least 32 are required"]
    );
}

#[test]
fn secrets_never_appear_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let short_file = write(dir.path(), "short.hex", HEX16);
    let not_hex = "zz-SUPERSECRET-not-hex";
    let bad_api_key_file = dir.path().join("bad-api.key");
    std::fs::write(&bad_api_key_file, "sk SUPERSECRET\u{7}").unwrap();
    let cases: Vec<HashMap<String, String>> = vec![
        base(&[("SIGNET_HMAC_SECRET", not_hex)]),
        {
            let mut m = base(&[("SIGNET_HMAC_SECRET_FILE", short_file.to_str().unwrap())]);
            m.remove("SIGNET_HMAC_SECRET");
            m
        },
        base(&[("SIGNET_UPSTREAM_API_KEY", "sk SUPERSECRET\u{7}")]),
        base(&[(
            "SIGNET_UPSTREAM_API_KEY_FILE",
            bad_api_key_file.to_str().unwrap(),
        )]),
        base(&[("SIGNET_UPSTREAM_URL", "http://user:SUPERSECRET@h/v1")]),
    ];
    for env in cases {
        let e = errs(&ServeArgs::default(), &env).join("\n");
        for s in ["SUPERSECRET", HEX16] {
            assert!(!e.contains(s), "{e}");
        }
    }
    let args = ServeArgs {
        hmac_secret: Some(args::SecretArg::new(not_hex)),
        ..ServeArgs::default()
    };
    let mut env = base(&[]);
    env.remove("SIGNET_HMAC_SECRET");
    let e = errs(&args, &env).join("\n");
    assert!(
        e.starts_with("--hmac-secret: ") && !e.contains("SUPERSECRET"),
        "{e}"
    );
}

#[test]
fn secrets_are_refused_in_the_config_file_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "signet.toml",
        &format!("hmac_secret = \"{HEX32_B}\"\nupstream_api_key = \"sk-SUPERSECRET\"\n"),
    );
    let e = errs(&args_with_config(&f), &base(&[]));
    assert_eq!(e.len(), 2, "{e:#?}");
    let all = e.join("\n");
    assert!(all.contains("hmac_secret: secrets are not read"), "{all}");
    assert!(
        all.contains("upstream_api_key: secrets are not read"),
        "{all}"
    );
    assert!(
        !all.contains(HEX32_B) && !all.contains("SUPERSECRET"),
        "{all}"
    );

    // A syntax error on a line holding a secret shows position, not the line.
    let f = write(dir.path(), "bad.toml", "hmac_secret = SUPERSECRET\n");
    let all = errs(&args_with_config(&f), &base(&[])).join("\n");
    assert!(all.contains("bad.toml:1:"), "{all}");
    assert!(!all.contains("SUPERSECRET"), "{all}");
}

#[test]
fn debug_output_redacts_secrets() {
    let (c, _) = ok(
        &ServeArgs::default(),
        &base(&[("SIGNET_UPSTREAM_API_KEY", "sk-SUPERSECRET")]),
    );
    let d = format!("{c:?}");
    assert!(!d.contains(HEX32) && !d.contains("SUPERSECRET"), "{d}");
    assert!(d.contains("upstream_api_key: Some(\"<redacted>\")"), "{d}");
}

#[test]
fn api_key_over_plain_http_to_a_remote_host_warns() {
    let env = base(&[
        ("SIGNET_UPSTREAM_URL", "http://api.example.com/v1"),
        ("SIGNET_UPSTREAM_API_KEY", "sk-x"),
    ]);
    let (_, w) = ok(&ServeArgs::default(), &env);
    assert!(w.iter().any(|w| w.contains("clear text")), "{w:?}");
    let (_, w) = ok(
        &ServeArgs::default(),
        &base(&[("SIGNET_UPSTREAM_API_KEY", "sk-x")]),
    );
    assert!(w.is_empty(), "loopback upstream: {w:?}");
}

// ---- upstream through load ----

#[test]
fn upstream_urls() {
    let u = |s: &str| with_env(&[("SIGNET_UPSTREAM_URL", s)]).upstream;
    let a = u("http://h:11434/v1");
    assert_eq!(
        (a.authority.as_str(), a.base_path.as_str()),
        ("h:11434", "/v1")
    );
    let b = u("http://api:8080");
    assert_eq!(
        (b.authority.as_str(), b.base_path.as_str()),
        ("api:8080", "")
    );
    let c = u("https://x/v1/");
    assert_eq!(c.scheme, http::uri::Scheme::HTTPS);
    assert_eq!((c.authority.as_str(), c.base_path.as_str()), ("x", "/v1"));
    for bad in ["ftp://h/x", "http://user:pw@h", "http://h/x?q=1"] {
        let e = errs(
            &ServeArgs::default(),
            &base(&[("SIGNET_UPSTREAM_URL", bad)]),
        );
        assert_eq!(e.len(), 1, "{bad}: {e:?}");
        assert!(e[0].starts_with("SIGNET_UPSTREAM_URL: "), "{e:?}");
    }
}

// ---- check_file ----

#[test]
fn check_file_accepts_a_partial_file_and_reports_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "signet.toml",
        "port = 9\n[dangerous]\nopen_policy = true\n",
    );
    let w = check_file(&f).unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
}

#[test]
fn check_file_collects_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "signet.toml",
        "port = 123456\nupstream_url = \"ftp://x\"\nhmac_secret_file = \"nope.hex\"\n",
    );
    let e = check_file(&f).unwrap_err();
    assert_eq!(e.len(), 3, "{e:#?}");
    let f = write(dir.path(), "u.toml", "nonsense = 1\n");
    assert_eq!(check_file(&f).unwrap_err().len(), 1);
}
