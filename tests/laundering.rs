//! Laundered checkpoints: a log cut and its side files emptied, removed or rebuilt so
//! that what remains looks consistent. `signet audit verify --log-key` fails when no
//! checkpoint covers a keyed log (unless told `--allow-no-checkpoints`), checks a
//! checkpoint kept off the log's volume (`--trusted-checkpoint`, `--checkpoint-state`),
//! and a gateway refuses to start over side files that are missing, empty or ahead of
//! its log unless the operator overrides it, which is recorded in the log.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use signet_audit::keyfile;
use signet_audit::note::vkey;
use support::gateway::{self as gwt, ALICE, Reply, SECRET};

const ORIGIN: &str = "gw.test/launder";

struct Keyed {
    dir: tempfile::TempDir,
    key: PathBuf,
    vkey: String,
}

impl Keyed {
    fn new() -> Keyed {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("log.pem");
        keyfile::generate_ed25519_files(&key, None, false).unwrap();
        let sk = keyfile::load_ed25519_private(&key).unwrap();
        let vkey = vkey(ORIGIN, &sk.verifying_key()).unwrap();
        Keyed { dir, key, vkey }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SIGNET_LOG_KEY", self.key.to_str().unwrap().to_owned()),
            ("SIGNET_ORIGIN", ORIGIN.to_owned()),
            ("SIGNET_CHECKPOINT_EVERY", "1".to_owned()),
            ("SIGNET_CHECKPOINT_INTERVAL_MS", "50".to_owned()),
        ]
    }
}

/// A gateway with a log key at `log` (or a fresh log), `n` requests, a clean stop.
async fn traffic(
    k: &Keyed,
    log: Option<&Path>,
    n: usize,
    extra: &[(&str, &str)],
) -> (gwt::Gateway, PathBuf) {
    let up = gwt::upstream(|_| {
        Reply::json(r#"{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}"#)
    })
    .await;
    let env_owned = k.env();
    let mut env: Vec<(&str, &str)> = env_owned.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let log_s;
    if let Some(l) = log {
        log_s = l.to_str().unwrap().to_owned();
        env.push(("SIGNET_AUDIT_LOG_PATH", &log_s));
    }
    env.extend_from_slice(extra);
    let mut g = gwt::start(&up.url(), &env, None);
    for _ in 0..n {
        let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], b"{}").await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let code = tokio::task::block_in_place(|| g.stop());
    assert_eq!(code, Some(0));
    let log = log.map_or_else(|| g.log.clone(), Path::to_path_buf);
    (g, log)
}

fn verify(log: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["audit", "verify", "--json"])
        .args(args)
        .arg(log)
        .env_clear()
        .env("SIGNET_HMAC_SECRET", SECRET)
        .output()
        .unwrap()
}

fn kinds(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn side(log: &Path, suffix: &str) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Keeps the first `n` lines of the log.
fn cut(log: &Path, n: usize) {
    let text = std::fs::read_to_string(log).unwrap();
    let kept: String = text.lines().take(n).map(|l| format!("{l}\n")).collect();
    std::fs::write(log, kept).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_log_with_its_checkpoints_emptied_or_removed_fails_verify() {
    let k = Keyed::new();
    let (_g, log) = traffic(&k, None, 6, &[]).await;
    let intact = verify(&log, &["--log-key", &k.vkey]);
    assert_eq!(intact.status.code(), Some(0), "{}", kinds(&intact));
    let cps = side(&log, ".checkpoints");
    for how in ["emptied", "removed"] {
        cut(&log, 3);
        match how {
            "emptied" => std::fs::write(&cps, b"").unwrap(),
            _ => {
                let _ = std::fs::remove_file(&cps);
            }
        }
        let o = verify(&log, &["--log-key", &k.vkey]);
        assert_eq!(o.status.code(), Some(2), "{how}: {}", kinds(&o));
        assert!(
            kinds(&o).contains("\"kind\":\"uncovered\""),
            "{how}: {}",
            kinds(&o)
        );
        // The operator's explicit acceptance of a log that never had checkpoints.
        let o = verify(&log, &["--log-key", &k.vkey, "--allow-no-checkpoints"]);
        assert_eq!(o.status.code(), Some(0), "{how}: {}", kinds(&o));
    }
    // Without a log key nothing about checkpoints is claimed (the chain still verifies).
    let o = verify(&log, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", kinds(&o));
    let o = verify(&log, &["--allow-no-checkpoints"]);
    assert_eq!(o.status.code(), Some(64), "the flag needs --log-key");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_checkpoint_kept_elsewhere_catches_a_cut_and_a_rewrite() {
    let k = Keyed::new();
    let (_g, log) = traffic(&k, None, 5, &[]).await;
    let off_host = k.dir.path().join("offhost");
    std::fs::create_dir(&off_host).unwrap();
    let state = off_host.join("last.checkpoint");
    // First run: no state yet; a clean verify creates it.
    let o = verify(
        &log,
        &[
            "--log-key",
            &k.vkey,
            "--checkpoint-state",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", kinds(&o));
    let saved = std::fs::read_to_string(&state).expect("state written");
    assert_eq!(saved.lines().nth(1), Some("5"), "{saved}");
    // The log grows; the next run checks it extends the saved one and moves it on.
    let (_g2, log) = traffic(&k, Some(&log), 2, &[]).await;
    let o = verify(
        &log,
        &[
            "--log-key",
            &k.vkey,
            "--checkpoint-state",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", kinds(&o));
    assert_eq!(
        std::fs::read_to_string(&state).unwrap().lines().nth(1),
        Some("7")
    );
    let trusted = off_host.join("kept.checkpoint");
    std::fs::copy(&state, &trusted).unwrap();
    let full = std::fs::read_to_string(&log).unwrap();

    // Cut and laundered (checkpoints removed, told to allow that): the trusted one
    // still sees the cut.
    cut(&log, 4);
    std::fs::remove_file(side(&log, ".checkpoints")).unwrap();
    for flag in ["--trusted-checkpoint", "--checkpoint-state"] {
        let path = if flag == "--trusted-checkpoint" {
            &trusted
        } else {
            &state
        };
        let o = verify(
            &log,
            &[
                "--log-key",
                &k.vkey,
                "--allow-no-checkpoints",
                flag,
                path.to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", kinds(&o));
        assert!(
            kinds(&o).contains("\"kind\":\"truncated\""),
            "{flag}: {}",
            kinds(&o)
        );
    }
    assert_eq!(
        std::fs::read_to_string(&state).unwrap().lines().nth(1),
        Some("7"),
        "a failed verify leaves the state alone"
    );

    // Same length, one entry rewritten: a fork of what was trusted.
    let mut lines: Vec<String> = full.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replace("request completed", "request complete!");
    std::fs::write(
        &log,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let o = verify(
        &log,
        &[
            "--log-key",
            &k.vkey,
            "--allow-no-checkpoints",
            "--trusted-checkpoint",
            trusted.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", kinds(&o));
    assert!(kinds(&o).contains("\"kind\":\"fork\""), "{}", kinds(&o));

    // A trusted checkpoint that is not one of this log's (another key) is refused.
    let other = Keyed::new();
    let (_g3, other_log) = traffic(&other, None, 2, &[]).await;
    let foreign = off_host.join("foreign.checkpoint");
    let notes = signet_audit::checkpoint_file::read_all(&side(&other_log, ".checkpoints")).unwrap();
    std::fs::write(&foreign, notes.last().unwrap()).unwrap();
    std::fs::write(&log, &full).unwrap();
    let o = verify(
        &log,
        &[
            "--log-key",
            &k.vkey,
            "--trusted-checkpoint",
            foreign.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", kinds(&o));
    assert!(kinds(&o).contains("checkpoint_signature"), "{}", kinds(&o));
    // An unreadable trusted checkpoint is exit 66, not a pass.
    let o = verify(
        &log,
        &[
            "--log-key",
            &k.vkey,
            "--trusted-checkpoint",
            off_host.join("none").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(66), "{}", kinds(&o));
}
