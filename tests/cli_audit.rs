//! End-to-end tests of `signet audit …` on the real binary: exit codes, reports,
//! key sources, rotated keys, reading commands and multi-process appends.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use signet_audit::json::{self, Value};

const SECRET: &str = "d6237acac019c57a12c54147b76f9e38990931ae82ee0e13a82bb3caf803f05b";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/signet-0.1")
        .join(name)
}

fn signet(args: &[&str], secret: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
    c.args(args)
        .env_remove("SIGNET_HMAC_SECRET")
        .env_remove("SIGNET_HMAC_SECRET_FILE")
        .env_remove("SIGNET_HMAC_KEY_ID")
        .env_remove("SIGNET_AUDIT_LOG_PATH");
    if let Some(s) = secret {
        c.env("SIGNET_HMAC_SECRET", s);
    }
    c.output().expect("run signet")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

#[test]
fn verify_accepts_signet_log_and_says_truncation_is_undetectable() {
    let o = signet(
        &["audit", "verify", path_str(&fixture("audit.jsonl"))],
        Some(SECRET),
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("OK: 110 entries, chain intact"), "{out}");
    assert!(
        out.contains("entries cut from its end cannot be detected"),
        "{out}"
    );
    assert!(!out.contains(SECRET) && !err.contains(SECRET));
}

#[test]
fn verify_json_report_for_tampered_copy() {
    let log = fixture("tampered/reorder.jsonl");
    let o = signet(&["audit", "verify", "--json", path_str(&log)], Some(SECRET));
    assert_eq!(o.status.code(), Some(2));
    let (v, _) = json::parse(o.stdout.trim_ascii_end()).expect("json report");
    let m = v.as_object().expect("object");
    assert_eq!(m.get("ok"), Some(&Value::Bool(false)));
    let breaks = match m.get("breaks") {
        Some(Value::Array(a)) => a.clone(),
        other => panic!("breaks: {other:?}"),
    };
    let got: Vec<(String, String)> = breaks
        .iter()
        .map(|b| {
            let b = b.as_object().expect("break");
            let line = match b.get("line") {
                Some(Value::Number(n)) => n.as_str().to_owned(),
                _ => String::new(),
            };
            (
                line,
                b.get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [5, 6, 7]
        .iter()
        .map(|l| (l.to_string(), "link_mismatch".to_owned()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        m.get("tail_truncation_detectable"),
        Some(&Value::Bool(false))
    );
}

#[test]
fn exit_codes() {
    let log = fixture("audit.jsonl");
    assert_eq!(
        signet(&["audit", "verify", "/nonexistent/log"], Some(SECRET))
            .status
            .code(),
        Some(66)
    );
    assert_eq!(
        signet(&["audit", "verify", path_str(&log)], None)
            .status
            .code(),
        Some(64)
    );
    assert_eq!(
        signet(
            &["audit", "verify", "--bogus", path_str(&log)],
            Some(SECRET)
        )
        .status
        .code(),
        Some(64)
    );
    assert_eq!(
        signet(&["audit", "verify", path_str(&log)], Some("abcd"))
            .status
            .code(),
        Some(64)
    );
    assert_eq!(
        signet(&["audit", "verify", "--help"], None).status.code(),
        Some(0)
    );
    let wrong = "00".repeat(32);
    assert_eq!(
        signet(&["audit", "verify", path_str(&log)], Some(&wrong))
            .status
            .code(),
        Some(2)
    );
    let dir = tempfile::tempdir().expect("tmp");
    assert_eq!(
        signet(&["audit", "verify", path_str(dir.path())], Some(SECRET))
            .status
            .code(),
        Some(66)
    );
}

#[test]
fn key_sources_file_flag_and_warning() {
    let log = fixture("audit.jsonl");
    let file = fixture("hmac-secret.hex");
    let o = signet(
        &[
            "audit",
            "verify",
            "--hmac-secret-file",
            path_str(&file),
            path_str(&log),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let o = signet(
        &["audit", "verify", "--hmac-secret", SECRET, path_str(&log)],
        None,
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        err.contains("warning: --hmac-secret puts the secret in the process list"),
        "{err}"
    );
    assert!(!out.contains(SECRET) && !err.contains(SECRET));
}

#[test]
fn rotated_keys_need_the_ring() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    let k2 = dir.path().join("k2.hex");
    std::fs::write(&k2, "77".repeat(32)).expect("k2");
    let k1 = fixture("hmac-secret.hex");
    for (id, file) in [("k1", &k1), ("k2", &k2)] {
        let o = signet(
            &[
                "audit",
                "append",
                path_str(&log),
                "--reason",
                "rotation test",
                "--count",
                "3",
                "--key-id",
                id,
                "--hmac-secret-file",
                path_str(file),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    }
    let only_k1 = signet(
        &[
            "audit",
            "verify",
            "--hmac-secret-file",
            path_str(&k1),
            path_str(&log),
        ],
        None,
    );
    assert_eq!(only_k1.status.code(), Some(2));
    assert!(text(&only_k1).0.contains("unknown_key"));
    let both = signet(
        &[
            "audit",
            "verify",
            "--hmac-secret-file",
            path_str(&k1),
            "--key",
            &format!("k2={}", path_str(&k2)),
            path_str(&log),
        ],
        None,
    );
    let (out, _) = text(&both);
    assert_eq!(both.status.code(), Some(0), "{out}");
    assert!(out.contains("k1: 3, k2: 3"), "{out}");
}

#[test]
fn show_tail_count() {
    let log = fixture("audit.jsonl");
    let o = signet(
        &[
            "audit",
            "show",
            "b0b9f9f6-acf6-489e-95f5-0152036e9297",
            path_str(&log),
        ],
        None,
    );
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out.contains("\"reason\": \"no commit owner could be resolved\""),
        "{out}"
    );
    let o = signet(&["audit", "show", "no-such-id", path_str(&log)], None);
    assert_eq!(o.status.code(), Some(66));

    let o = signet(
        &[
            "audit",
            "tail",
            "-n",
            "2",
            "--json",
            "--filter",
            "metadata._check_name=rate_limit",
            path_str(&log),
        ],
        None,
    );
    let (out, _) = text(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("\"_check_name\":\"rate_limit\""))
    );
    let all = std::fs::read_to_string(&log).expect("read");
    let last_rl: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("\"_check_name\":\"rate_limit\""))
        .collect();
    assert_eq!(lines, last_rl[last_rl.len() - 2..].to_vec());

    let o = signet(
        &["audit", "count", "--by", "decision", path_str(&log)],
        None,
    );
    let (out, _) = text(&o);
    let count = |word: &str| -> u64 {
        out.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(word))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let real = |word: &str| all.matches(&format!("\"decision\":\"{word}\"")).count() as u64;
    for d in ["allow", "block", "escalate"] {
        assert_eq!(count(d), real(d), "{d}: {out}");
    }
    assert_eq!(count("total"), 110);
}

/// One round of [`concurrent_append_processes_make_one_chain`]: `workers`
/// processes, each appending `count` entries (one locked, fsync'd write each), all
/// spawned before any is let go or waited for. Each waits in `read` on its stdin (a
/// barrier the test opens by closing them all) and then execs `signet audit append`.
/// Returns each process's acknowledged `(seq, entry_id)`s.
fn append_round(log: &Path, round: usize, workers: usize, count: usize) -> Vec<Vec<(u64, String)>> {
    use std::process::Stdio;
    let mut children: Vec<_> = (0..workers)
        .map(|w| {
            Command::new("sh")
                .args(["-c", "read _ ; exec \"$0\" \"$@\""])
                .arg(env!("CARGO_BIN_EXE_signet"))
                .args(["audit", "append", path_str(log), "--reason"])
                .arg(format!("round {round} proc {w}"))
                .args(["--count", &count.to_string()])
                .env_remove("SIGNET_HMAC_SECRET_FILE")
                .env_remove("SIGNET_HMAC_KEY_ID")
                .env_remove("SIGNET_AUDIT_LOG_PATH")
                .env("SIGNET_HMAC_SECRET", SECRET)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    // Every process exists; now let them all go at once.
    for c in &mut children {
        drop(c.stdin.take());
    }
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().expect("wait");
            assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
            let acks: Vec<(u64, String)> = text(&o)
                .0
                .lines()
                .map(|l| {
                    let (seq, id) = l.split_once(' ').expect("<seq> <entry_id>");
                    (seq.parse().expect("seq"), id.to_owned())
                })
                .collect();
            assert_eq!(acks.len(), count, "{:?}", text(&o));
            acks
        })
        .collect()
}

/// Several `signet audit append` processes at once, under the multi-process lock:
/// all are started before any is waited for, their entries interleave (some process's
/// entries are not one contiguous run), every acknowledged entry is in the log at its
/// acknowledged `_seq`, and the log verifies as one chain.
#[test]
fn concurrent_append_processes_make_one_chain() {
    const WORKERS: usize = 4;
    const COUNT: usize = 100;
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    // Interleaving depends on the scheduler: a round in which the processes happened
    // to run one after another is repeated, a few times at most. Processes run in
    // sequence (spawned and waited one by one) never interleave.
    let mut owner: std::collections::HashMap<String, (usize, usize, u64)> =
        std::collections::HashMap::new();
    let mut interleaved = false;
    let mut rounds = 0;
    while !interleaved && rounds < 10 {
        let acks = append_round(&log, rounds, WORKERS, COUNT);
        for (w, a) in acks.into_iter().enumerate() {
            for (seq, id) in a {
                assert!(
                    owner.insert(id, (rounds, w, seq)).is_none(),
                    "ids are unique"
                );
            }
        }
        let text = std::fs::read_to_string(&log).expect("read");
        let mut order = Vec::new();
        for l in text.lines() {
            let v = signet_audit::line::LineView::parse(l.as_bytes()).expect("entry");
            let &(round, w, seq) = owner
                .get(&v.entry_id)
                .expect("every entry was acknowledged");
            assert_eq!(v.seq, Some(seq), "entry at its acknowledged _seq");
            if round == rounds {
                order.push(w);
            }
        }
        assert_eq!(order.len(), WORKERS * COUNT);
        // WORKERS runs means each process's entries were contiguous: no interleaving.
        let runs = 1 + order.windows(2).filter(|p| p[0] != p[1]).count();
        interleaved = runs > WORKERS;
        eprintln!("round {rounds}: {WORKERS} processes, {runs} runs in log order");
        rounds += 1;
    }
    assert!(
        interleaved,
        "{rounds} rounds of {WORKERS} concurrent processes never interleaved"
    );
    let total = owner.len();
    assert_eq!(total, rounds * WORKERS * COUNT);
    let o = signet(&["audit", "verify", "--json", path_str(&log)], Some(SECRET));
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("\"entries\":{total}"))
            && out.contains(&format!("\"last_seq\":{}", total - 1)),
        "{out}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&log).expect("meta").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn torn_tail_is_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    let mut data = std::fs::read(fixture("audit.jsonl")).expect("read");
    data.truncate(data.len() - 40);
    std::fs::write(&log, data).expect("write");
    let o = signet(&["audit", "verify", path_str(&log)], Some(SECRET));
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(out.contains("line 110: torn_tail"), "{out}");
}

/// `signet audit tail … | head -1`: when the reader closes the pipe the command stops
/// quietly with 141 (as if SIGPIPE ended it), never with a panic.
#[test]
fn output_into_a_closed_pipe_exits_141_without_a_panic() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    let o = signet(
        &[
            "audit",
            "append",
            path_str(&log),
            "--reason",
            "pipe",
            "--count",
            "400",
        ],
        Some(SECRET),
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["audit", "tail", "--json", "--lines", "400", path_str(&log)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
