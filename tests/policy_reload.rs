//! SIGHUP policy reload of a running `signet serve`: the new policy applies to new
//! requests, an open keep-alive connection and an in-flight request survive, each
//! attempt is one `policy.reload` entry in the same chain, and a broken config changes
//! nothing.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::process::Command;
use std::time::Duration;

use support::gateway::{self as gwt, ALICE, Reply};
use support::raw::{RawConn, keep_alive};

const OK_BODY: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"fine"},"finish_reason":"stop"}]}"#;
const PLAIN: &str = r#"{"model":"m","messages":[{"role":"user","content":"hello"}]}"#;
const NAUGHTY: &str =
    r#"{"model":"m","messages":[{"role":"user","content":"please say frobnicate"}]}"#;
const SLOW: &str = r#"{"model":"m","messages":[{"role":"user","content":"slow please"}]}"#;
/// The upstream's answer to `SLOW`: allowed by `BEFORE`, refused by `AFTER`'s output rule.
const SLOW_BODY: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"a sluggish answer"},"finish_reason":"stop"}]}"#;

const BEFORE: &str = "[policy.owner_resolution]\nrequired = true\n";
const AFTER: &str = r#"[policy.owner_resolution]
required = true
[[policy.regex_content.rules]]
name = "frob"
pattern = 'frobnicate'
action = "block"
[[policy.regex_output.rules]]
name = "slow_word"
pattern = 'sluggish'
"#;
const BROKEN: &str = r#"[policy.owner_resolution]
required = true
[policy.rate_limit]
per_owner_rps = -1
"#;

fn hup(g: &gwt::Gateway) {
    let ok = Command::new("kill")
        .args(["-HUP", &g.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// One chat request on the open keep-alive connection `conn`.
async fn chat_on(conn: &mut RawConn, body: &str) -> support::raw::RawResponse {
    conn.send(&keep_alive("POST", "/v1/chat", &[ALICE], body.as_bytes()))
        .await
        .unwrap();
    conn.response(Duration::from_secs(10)).await.unwrap()
}

/// Waits for the `n`-th `policy.reload` entry and for the gateway to log the outcome
/// (which it does after the swap: the entry is durable first) and returns the entry.
fn reload_entry(g: &gwt::Gateway, n: usize) -> String {
    for _ in 0..500 {
        let found: Vec<String> = g
            .lines()
            .into_iter()
            .filter(|l| l.contains("\"check_name\":\"policy.reload\""))
            .collect();
        let logged = g.stderr.lock().unwrap().matches("policy reload").count();
        if found.len() >= n && logged >= n {
            return found[n - 1].clone();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no policy.reload entry #{n}: {}", g.stderr.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_swaps_the_policy_keeps_connections_and_audits_each_attempt() {
    // The answer to `SLOW` waits at the gate until the test opens it.
    let gate = gwt::Gate::new();
    let held = gate.clone();
    let up = gwt::upstream(move |seen| {
        if String::from_utf8_lossy(&seen.body).contains("slow please") {
            Reply::json(SLOW_BODY).held(&held)
        } else {
            Reply::json(OK_BODY)
        }
    })
    .await;
    // Info logs: the reload's outcome line tells the test the swap has happened.
    let g = gwt::start(&up.url(), &[("SIGNET_LOG", "info")], Some(BEFORE));
    let cfg = g.dir.path().join("signet.toml");

    // A keep-alive connection opened under the old policy.
    let mut conn = RawConn::connect(&g.addr).await;
    let r = chat_on(&mut conn, NAUGHTY).await;
    assert_eq!(
        r.status,
        200,
        "old policy has no content rule: {}",
        r.text()
    );
    assert_eq!(up.hits(), 1);

    // A request in flight across the reload: admitted under the old policy and held at
    // the upstream until the new one is in force. Its answer matches the new policy's
    // output rule, so inspecting it with the new policy would refuse it.
    let slow_url = g.url("/v1/chat");
    let slow =
        tokio::spawn(async move { gwt::send("POST", &slow_url, &[ALICE], SLOW.as_bytes()).await });
    gate.wait_arrived(1).await;
    assert_eq!(up.hits(), 2);

    std::fs::write(&cfg, AFTER).unwrap();
    hup(&g);
    let entry = reload_entry(&g, 1);
    assert!(entry.contains("\"decision\":\"allow\""), "{entry}");
    assert!(entry.contains("\"event\":\"policy_reload\""), "{entry}");
    assert!(entry.contains("\"regex_content\""), "{entry}");
    assert!(entry.contains("\"restart_required\":false"), "{entry}");
    let sha = gwt_sha256(AFTER.as_bytes());
    assert!(
        entry.contains(&sha),
        "entry names the config it applied: {entry}"
    );

    // Only now does the upstream answer the in-flight request.
    assert_eq!(gate.arrived(), 1);
    gate.open();
    let slow = slow.await.unwrap();
    assert_eq!(
        slow.status,
        200,
        "the in-flight request runs under the policy it started with: {}",
        slow.text()
    );
    assert!(slow.text().contains("a sluggish answer"), "{}", slow.text());
    // The same answer to a request admitted under the new policy is refused.
    let r = gwt::send("POST", &g.url("/v1/chat"), &[ALICE], SLOW.as_bytes()).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!r.text().contains("a sluggish answer"), "{}", r.text());

    // Same connection, new policy: refused before the upstream.
    let hits = up.hits();
    let r = chat_on(&mut conn, NAUGHTY).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(up.hits(), hits, "refused request reached the upstream");
    assert_eq!(chat_on(&mut conn, PLAIN).await.status, 200);

    // A broken config is refused, audited, and the previous policy stays.
    std::fs::write(&cfg, BROKEN).unwrap();
    hup(&g);
    let entry = reload_entry(&g, 2);
    assert!(entry.contains("\"decision\":\"block\""), "{entry}");
    assert!(
        entry.contains("per_owner_rps"),
        "errors are recorded: {entry}"
    );
    let r = gwt::send("POST", &g.url("/v1/chat"), &[ALICE], NAUGHTY.as_bytes()).await;
    assert_eq!(r.status, 403, "rule still in force after a refused reload");

    // A setting that needs a restart is flagged, the policy still applies.
    std::fs::write(&cfg, format!("max_request_body_bytes = 1000\n{BEFORE}")).unwrap();
    hup(&g);
    let entry = reload_entry(&g, 3);
    assert!(entry.contains("\"decision\":\"allow\""), "{entry}");
    assert!(entry.contains("\"restart_required\":true"), "{entry}");
    let r = gwt::send("POST", &g.url("/v1/chat"), &[ALICE], NAUGHTY.as_bytes()).await;
    assert_eq!(r.status, 200, "rule removed by the reload: {}", r.text());

    // One chain: every request and every reload, verified.
    let mut g = g;
    assert_eq!(g.stop(), Some(0));
    let (code, out) = g.verify();
    assert_eq!(code, Some(0), "{out}");
    let lines = g.lines();
    let requests = lines
        .iter()
        .filter(|l| !l.contains("policy.reload"))
        .count();
    assert_eq!(lines.len() - requests, 3);
    assert_eq!(requests, 7, "{lines:#?}");
}

fn gwt_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    format!(
        "sha256:{}",
        signet_audit::util::to_hex(&sha2::Sha256::digest(b))
    )
}

/// SIGHUP's default action ends a process: the gateway takes it over before it says it
/// is listening, so a reload sent the moment it starts is a reload, not a kill. (The
/// window this closed, between the start-up line and the handler task's first poll,
/// was too narrow to hit reliably here; this guards the behaviour.)
#[tokio::test(flavor = "multi_thread")]
async fn sighup_right_after_start_reloads_instead_of_killing() {
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let mut g = gwt::start(&up.url(), &[("SIGNET_LOG", "info")], Some(BEFORE));
    hup(&g);
    let entry = reload_entry(&g, 1);
    assert!(entry.contains("\"decision\":\"allow\""), "{entry}");
    assert_eq!(g.child.try_wait().unwrap(), None, "gateway died on SIGHUP");
    let r = gwt::send("POST", &g.url("/v1/chat"), &[ALICE], PLAIN.as_bytes()).await;
    assert_eq!(r.status, 200);
    assert_eq!(g.stop(), Some(0));
}
