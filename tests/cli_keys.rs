//! End-to-end tests of the one HMAC key resolver on the real binary: `serve`, `audit
//! verify`, `audit append` and `receipt verify` take the chain key from the same flags
//! and variables, refuse the same conflicts with the same message and exit 64, warn
//! about `--hmac-secret` alike, and never print the secret.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use signet_audit::HmacKey;
use signet_audit::receipt::ReceiptSigner;

/// The secret of the signet 0.1 fixture log.
const SECRET: &str = "d6237acac019c57a12c54147b76f9e38990931ae82ee0e13a82bb3caf803f05b";
const BOTH_FLAGS: &str = "--hmac-secret and --hmac-secret-file are both given; use one";
const BOTH_VARS: &str = "SIGNET_HMAC_SECRET and SIGNET_HMAC_SECRET_FILE are both set; set one";
const PS_WARNING: &str = "signet: warning: --hmac-secret puts the secret in the process list";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/signet-0.1")
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// Runs signet with no `SIGNET_*` HMAC variables but those in `env`.
fn signet(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
    c.args(args);
    for v in [
        "SIGNET_HMAC_SECRET",
        "SIGNET_HMAC_SECRET_FILE",
        "SIGNET_HMAC_KEY_ID",
        "SIGNET_AUDIT_LOG_PATH",
        "SIGNET_CONFIG",
        "SIGNET_UPSTREAM_URL",
    ] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    let o: Output = c.output().expect("run signet");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (o.status.code(), text(&o.stdout), text(&o.stderr))
}

/// A header receipt (hmac-sha256, key k1) for the fixture log's first entry.
fn hmac_receipt(dir: &Path) -> PathBuf {
    let log = std::fs::read(fixture("audit.jsonl")).unwrap();
    let first = log.split(|&b| b == b'\n').next().unwrap();
    let signer = ReceiptSigner::Hmac(HmacKey::from_hex("k1", SECRET).unwrap());
    let r = signer.sign_line(first).unwrap();
    let p = dir.join("receipt.txt");
    std::fs::write(&p, r.to_header_line()).unwrap();
    p
}

/// Every command that takes the chain key, with `extra` key arguments.
fn commands(dir: &Path, extra: &[&str]) -> Vec<Vec<String>> {
    let log = fixture("audit.jsonl");
    let fresh = dir.join("fresh.jsonl");
    let receipt = hmac_receipt(dir);
    let mut out = vec![
        vec!["audit", "verify", s(&log)],
        vec!["audit", "append", s(&fresh), "--reason", "key test"],
        vec!["receipt", "verify", s(&receipt), "--log", s(&log)],
    ];
    for c in &mut out {
        c.extend_from_slice(extra);
    }
    out.into_iter()
        .map(|c| c.into_iter().map(str::to_owned).collect())
        .collect()
}

fn run(cmd: &[String], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    signet(&args, env)
}

#[test]
fn flag_and_file_together_are_refused_by_every_command_as_by_serve() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("hmac-secret.hex");
    let conflict = ["--hmac-secret", SECRET, "--hmac-secret-file", s(&file)];
    let (code, _, err) = signet(
        &[
            &["serve", "--upstream", "http://127.0.0.1:9"][..],
            &conflict[..],
        ]
        .concat(),
        &[],
    );
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains(BOTH_FLAGS), "{err}");
    for cmd in commands(dir.path(), &conflict) {
        let (code, out, err) = run(&cmd, &[]);
        assert_eq!(code, Some(64), "{cmd:?}: {err}");
        assert!(
            err.contains(&format!("signet: {BOTH_FLAGS}")),
            "{cmd:?}: {err}"
        );
        assert!(!out.contains(SECRET) && !err.contains(SECRET), "{cmd:?}");
    }
    assert!(
        !dir.path().join("fresh.jsonl").exists(),
        "append wrote despite the refusal"
    );
}

#[test]
fn both_variables_are_refused_by_every_command_as_by_serve() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("hmac-secret.hex");
    let env = [
        ("SIGNET_HMAC_SECRET", SECRET),
        ("SIGNET_HMAC_SECRET_FILE", s(&file)),
    ];
    let (code, _, err) = signet(&["serve", "--upstream", "http://127.0.0.1:9"], &env);
    assert_eq!((code, err.contains(BOTH_VARS)), (Some(64), true), "{err}");
    for cmd in commands(dir.path(), &[]) {
        let (code, out, err) = run(&cmd, &env);
        assert_eq!(code, Some(64), "{cmd:?}: {err}");
        assert!(err.contains(BOTH_VARS), "{cmd:?}: {err}");
        assert!(!out.contains(SECRET) && !err.contains(SECRET), "{cmd:?}");
    }
}

/// Flags and variables giving a key.
type Source<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

#[test]
fn one_source_works_for_every_command() {
    let file = fixture("hmac-secret.hex");
    let sources: [Source; 3] = [
        (&[], &[("SIGNET_HMAC_SECRET", SECRET)]),
        (&[], &[("SIGNET_HMAC_SECRET_FILE", s(&file))]),
        (&["--hmac-secret-file", s(&file)], &[]),
    ];
    for (flags, env) in sources {
        let dir = tempfile::tempdir().unwrap();
        for cmd in commands(dir.path(), flags) {
            let (code, out, err) = run(&cmd, env);
            assert_eq!(code, Some(0), "{cmd:?} {env:?}: {out}{err}");
            assert!(!err.contains("warning"), "{cmd:?}: {err}");
        }
    }
}

#[test]
fn the_command_line_secret_works_and_warns_everywhere() {
    // serve's warning: config::tests::hmac_secret_flag_works_and_warns
    let dir = tempfile::tempdir().unwrap();
    for cmd in commands(dir.path(), &["--hmac-secret", SECRET]) {
        let (code, out, err) = run(&cmd, &[]);
        assert_eq!(code, Some(0), "{cmd:?}: {out}{err}");
        assert!(err.contains(PS_WARNING), "{cmd:?}: {err}");
        assert!(!out.contains(SECRET) && !err.contains(SECRET), "{cmd:?}");
    }
}

#[test]
fn key_id_from_flag_alias_or_variable() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.jsonl");
    let file = fixture("hmac-secret.hex");
    let append = |id_args: &[&str], env: &[(&str, &str)]| {
        let mut a = vec!["audit", "append", s(&log), "--reason", "id test"];
        a.extend_from_slice(id_args);
        a.extend_from_slice(&["--hmac-secret-file", s(&file)]);
        let (code, out, err) = signet(&a, env);
        assert_eq!(code, Some(0), "{id_args:?} {env:?}: {out}{err}");
    };
    append(&["--hmac-key-id", "ka"], &[]);
    append(&["--key-id", "kb"], &[]);
    append(&[], &[("SIGNET_HMAC_KEY_ID", "kc")]);
    append(&["--hmac-key-id", "kd"], &[("SIGNET_HMAC_KEY_ID", "kx")]);
    let text = std::fs::read_to_string(&log).unwrap();
    let ids: Vec<&str> = text
        .lines()
        .map(|l| {
            let at = l.find("\"_signing_key_id\":\"").expect("key id") + 19;
            &l[at..at + 2]
        })
        .collect();
    assert_eq!(ids, ["ka", "kb", "kc", "kd"]);
    let (code, _, err) = signet(
        &[
            "audit",
            "verify",
            s(&log),
            "--hmac-key-id",
            "bad id",
            "--hmac-secret-file",
            s(&file),
        ],
        &[],
    );
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("--hmac-key-id: "), "{err}");
}
