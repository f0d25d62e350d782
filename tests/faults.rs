//! Faults: the gateway SIGKILLed under concurrent load, repeatedly, loses no entry it
//! acknowledged with a receipt; a full disk, or a log made read-only under the running
//! gateway, makes it fail closed (503, nothing more forwarded) and it comes back, with
//! a verifiable log, once writes are possible again; a log removed under it is never
//! silently recreated. In every case the request that was already at the upstream when
//! the journal failed gets its entry: written late after the recovery entry, or saved
//! to `<log>.pending` at the stop and appended at the next start.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::gateway::{self as gwt, ALICE, Reply};

/// A request body no other request of the test sends.
fn body(n: usize) -> Vec<u8> {
    format!("{{\"n\":{n}}}").into_bytes()
}

/// `sha256:<hex>` of every body the upstream received, in order.
fn forwarded_fingerprints(up: &gwt::Upstream) -> Vec<String> {
    up.seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| {
            let d = Sha256::digest(&s.body);
            format!(
                "sha256:{}",
                d.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )
        })
        .collect()
}

/// Every body the upstream received has an entry with its fingerprint in `log`, and
/// every acknowledged response (its correlation id) has its entry.
fn assert_every_forwarded_request_has_its_entry(
    up: &gwt::Upstream,
    log: &std::path::Path,
    acked: &[String],
) {
    let text = std::fs::read_to_string(log).unwrap();
    let fps: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.split("\"request_fingerprint\":\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .collect();
    let forwarded = forwarded_fingerprints(up);
    assert!(!forwarded.is_empty());
    for (i, f) in forwarded.iter().enumerate() {
        assert!(
            fps.contains(f.as_str()),
            "forwarded request {i} ({f}) has no entry in the log"
        );
    }
    for id in acked {
        assert!(
            text.contains(&format!("\"entry_id\":\"{id}\"")),
            "acknowledged {id} has no entry"
        );
    }
}

/// The entry written late for the request whose commit failed: after the recovery
/// entry, marked `written_late` with the outage.
fn assert_written_late(log: &std::path::Path, fingerprint: &str) {
    let text = std::fs::read_to_string(log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(fingerprint))
        .unwrap_or_else(|| panic!("no entry for {fingerprint}"));
    let late = lines[at];
    assert!(
        late.contains("\"written_late\":{\"original_ts_ns\":"),
        "{late}"
    );
    assert!(
        late.contains("\"status\":200") && late.contains("pipeline.complete"),
        "{late}"
    );
    assert!(
        lines[..at]
            .iter()
            .any(|l| l.contains("\"check_name\":\"journal.recovery\"")),
        "the late entry follows the recovery entry: {lines:#?}"
    );
}

/// `signet audit verify` on `log`.
fn verify(log: &std::path::Path) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["audit", "verify"])
        .arg(log)
        .env("SIGNET_HMAC_SECRET", gwt::SECRET)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

const OK_BODY: &str = r#"{"choices":[{"message":{"content":"fine"},"finish_reason":"stop"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_entry() {
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let keep = tempfile::tempdir().unwrap();
    let log = keep.path().join("audit.jsonl");
    let log_s = log.to_str().unwrap().to_owned();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut kills = 0;
    for round in 0..5u64 {
        let g = gwt::start(&up.url(), &[("SIGNET_AUDIT_LOG_PATH", &log_s)], None);
        let stop_at = Instant::now() + Duration::from_millis(250 + 70 * round);
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let url = g.url("/v1/chat/completions");
                let acked = acked.clone();
                tokio::spawn(async move {
                    while Instant::now() < stop_at + Duration::from_millis(200) {
                        let client = hyper_util::client::legacy::Client::builder(
                            hyper_util::rt::TokioExecutor::new(),
                        )
                        .build_http::<http_body_util::Full<bytes::Bytes>>();
                        let req = http::Request::post(&url)
                            .header(ALICE.0, ALICE.1)
                            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
                            .unwrap();
                        match tokio::time::timeout(Duration::from_secs(2), client.request(req))
                            .await
                        {
                            Ok(Ok(r)) if r.status() == 200 => {
                                if let Some(v) = r.headers().get("x-signet-receipt") {
                                    let v = v.to_str().unwrap().to_owned();
                                    let id = v
                                        .split("entry=")
                                        .nth(1)
                                        .unwrap()
                                        .split(';')
                                        .next()
                                        .unwrap()
                                        .to_owned();
                                    acked.lock().unwrap().push(id);
                                }
                            }
                            _ => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(stop_at.saturating_duration_since(Instant::now())).await;
        let mut g = g;
        g.child.kill().unwrap(); // SIGKILL
        g.child.wait().unwrap();
        kills += 1;
        for c in clients {
            c.await.unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "too few acknowledged requests to mean anything: {}",
        acked.len()
    );
    // Reopen once more (recovers a torn tail, if any) and verify.
    let g = gwt::start(&up.url(), &[("SIGNET_AUDIT_LOG_PATH", &log_s)], None);
    drop(g);
    let (code, out) = verify(&log);
    assert_eq!(code, Some(0), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let present: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.split("\"entry_id\":\"").nth(1)?.split('"').next())
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !present.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged entries lost after {kills} SIGKILLs",
        lost.len(),
        acked.len()
    );
    eprintln!(
        "faults: {kills} SIGKILLs under load, {} receipts, {} entries, 0 lost",
        acked.len(),
        present.len()
    );
}

/// A tmpfs of `size` at `dir` (root needed, as on CI).
fn mount_tmpfs(dir: &std::path::Path, size: &str) {
    let opts = format!("size={size},mode=0700");
    run(
        "mount",
        &[
            "-t".as_ref(),
            "tmpfs".as_ref(),
            "-o".as_ref(),
            opts.as_ref(),
            "tmpfs".as_ref(),
            dir.as_os_str(),
        ],
    );
}

struct Unmount(std::path::PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Sends a request every 200 ms until one is answered 200 (at most 30 tries); the
/// last status.
async fn status_once_recovered(g: &gwt::Gateway) -> u16 {
    let mut status = 0;
    for _ in 0..30 {
        status = gwt::send("POST", &g.url("/v1/x"), &[ALICE], b"{}")
            .await
            .status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    status
}

/// The log holds the `journal_available` entry that records an outage and how many
/// requests were refused during it.
fn assert_outage_recorded(log: &std::path::Path) {
    let text = std::fs::read_to_string(log).unwrap();
    let recovery = text
        .lines()
        .find(|l| l.contains("\"event\":\"journal_available\""))
        .expect("outage recorded in the chain");
    assert!(
        recovery.contains("\"refused_while_unavailable\":"),
        "{recovery}"
    );
}

/// A scratch directory with a file system mounted at `mnt`; unmounted, then removed,
/// on drop (fields drop in this order).
struct Mounted {
    mnt: std::path::PathBuf,
    _unmount: Unmount,
    _keep: tempfile::TempDir,
}

impl Mounted {
    fn new(mount: impl FnOnce(&std::path::Path, &std::path::Path)) -> Mounted {
        let keep = tempfile::tempdir().unwrap();
        let mnt = keep.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        mount(keep.path(), &mnt);
        Mounted {
            _unmount: Unmount(mnt.clone()),
            mnt,
            _keep: keep,
        }
    }

    /// A tmpfs of `size`.
    fn tmpfs(size: &str) -> Mounted {
        Mounted::new(|_, mnt| mount_tmpfs(mnt, size))
    }

    /// A fresh ext4 in an image file next to the mount point.
    fn ext4() -> Mounted {
        Mounted::new(|dir, mnt| mount_ext4(&dir.join("fs.img"), mnt))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn disk_full_fails_closed_and_recovers_when_space_returns() {
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let fs = Mounted::tmpfs("48k");
    let mnt = fs.mnt.clone();
    let log = mnt.join("audit.jsonl");
    let log_s = log.to_str().unwrap().to_owned();
    let g = gwt::start(&up.url(), &[("SIGNET_AUDIT_LOG_PATH", &log_s)], None);
    let (mut ok, mut failed_at, mut acked) = (0, None, Vec::new());
    for i in 0..400 {
        let before = up.hits();
        let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], &body(i)).await;
        match r.status {
            200 => {
                ok += 1;
                acked.push(r.header("x-signet-correlation-id").unwrap());
            }
            503 => {
                // One-phase mode: the request that finds the disk full was forwarded
                // before its commit failed, and gets no receipt.
                assert_eq!(
                    up.hits(),
                    before + 1,
                    "the failing request reached the upstream"
                );
                assert!(r.header("x-signet-receipt").is_none());
                failed_at = Some(i);
                break;
            }
            s => panic!("unexpected status {s}: {}", r.text()),
        }
    }
    let failed_at = failed_at.unwrap_or_else(|| panic!("the disk never filled ({ok} requests)"));
    let failed_fp = forwarded_fingerprints(&up).pop().unwrap();
    let metrics = gwt::send("GET", &g.url("/metrics"), &[], b"").await.text();
    assert!(
        metrics.contains("signet_late_entries_waiting 1\n"),
        "{metrics}"
    );
    let hits = up.hits();
    for i in 0..5 {
        let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], &body(1000 + i)).await;
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(r.text().contains("audit_unavailable"));
    }
    assert_eq!(
        up.hits(),
        hits,
        "forwarded while the journal could not write"
    );
    let ready = gwt::send("GET", &g.url("/readyz"), &[], b"").await;
    assert_eq!(ready.status, 503);
    // Space returns: the running gateway reopens its log, records the outage in the
    // chain and serves again, without a restart.
    let o = Command::new("mount")
        .args(["-o", "remount,size=4m"])
        .arg(&mnt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let status = status_once_recovered(&g).await;
    assert_eq!(
        status, 200,
        "the gateway did not recover when space returned"
    );
    assert_outage_recorded(&log);
    drop(g);
    let (code, out) = verify(&log);
    assert_eq!(code, Some(0), "log must verify after recovery: {out}");
    assert!(failed_at > 0);
    assert_written_late(&log, &failed_fp);
    assert_every_forwarded_request_has_its_entry(&up, &log, &acked);
}

/// With two-phase commits, even the request in flight when the disk fills was audited
/// (its intent entry) before it was forwarded: every upstream hit has an entry.
#[tokio::test(flavor = "multi_thread")]
async fn two_phase_leaves_no_forwarded_request_unaudited_on_disk_full() {
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let fs = Mounted::tmpfs("48k");
    let mnt = fs.mnt.clone();
    let log = mnt.join("audit.jsonl");
    let log_s = log.to_str().unwrap().to_owned();
    let g = gwt::start(
        &up.url(),
        &[("SIGNET_AUDIT_LOG_PATH", &log_s), ("SIGNET_TWO_PHASE", "1")],
        None,
    );
    let mut filled = false;
    for _ in 0..400 {
        if gwt::send("POST", &g.url("/v1/x"), &[ALICE], b"{}")
            .await
            .status
            == 503
        {
            filled = true;
            break;
        }
    }
    assert!(filled);
    drop(g);
    let text = std::fs::read_to_string(&log).unwrap();
    let intents = text
        .lines()
        .filter(|l| l.ends_with('}') && l.contains("\"check_name\":\"pipeline.intent\""))
        .count();
    assert_eq!(
        up.hits(),
        intents,
        "every forwarded request has a durable intent entry"
    );
}

/// Runs a command that must succeed (these tests run as root, as CI does, and need
/// mount and e2fsprogs, which `scripts/test-tools.sh` installs).
fn run(cmd: &str, args: &[&std::ffi::OsStr]) {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A fresh ext4 filesystem in a 16 MiB image, loop-mounted at `dir`. ext4, because
/// there the immutable attribute also stops writes through a descriptor that is
/// already open (tmpfs lets them through), whatever filesystem the temp dir is on.
fn mount_ext4(image: &std::path::Path, dir: &std::path::Path) {
    std::fs::File::create(image)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    run(
        "mkfs.ext4",
        &["-q".as_ref(), "-F".as_ref(), image.as_os_str()],
    );
    run(
        "mount",
        &[
            "-o".as_ref(),
            "loop".as_ref(),
            image.as_os_str(),
            dir.as_os_str(),
        ],
    );
}

/// Clears the immutable attribute (so nothing is left that `rm` cannot remove), then
/// unmounts.
struct Mutable(std::path::PathBuf);
impl Drop for Mutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// The log made read-only under the running gateway. Root ignores permission bits and
/// the gateway already holds the file open, so `chmod` proves nothing: `chattr +i` on
/// ext4 makes every later `write` on the open descriptor fail (EPERM), and reopening
/// too. Expected: 503 fail-closed, nothing forwarded, refusals answered 503 without an
/// entry, `/readyz` 503; after `chattr -i` the running gateway reopens the log, records
/// the outage in the chain and serves again; the log verifies.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_journal_fails_closed_and_recovers_when_writable_again() {
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let fs = Mounted::ext4();
    let mnt = fs.mnt.clone();
    let log = mnt.join("audit.jsonl");
    let log_s = log.to_str().unwrap().to_owned();
    let g = gwt::start(&up.url(), &[("SIGNET_AUDIT_LOG_PATH", &log_s)], None);
    let mut acked = Vec::new();
    for i in 0..5 {
        let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], &body(i)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        acked.push(r.header("x-signet-correlation-id").unwrap());
    }
    let _mutable = Mutable(log.clone());
    run("chattr", &["+i".as_ref(), log.as_os_str()]);
    let frozen = std::fs::read(&log).unwrap();
    // The request in flight when the log turns read-only was already forwarded when its
    // entry failed: it gets a 503 and no receipt, and its entry waits to be written late.
    let before = up.hits();
    let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], &body(5)).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("x-signet-receipt").is_none());
    let hits = up.hits();
    assert_eq!(hits, before + 1, "the failing request reached the upstream");
    let failed_fp = forwarded_fingerprints(&up).pop().unwrap();
    // Refused and allowed requests alike, also after the writer's reopen attempts
    // (at most one a second) have failed.
    for round in 0..3 {
        for h in [&[ALICE][..], &[][..]] {
            let r = gwt::send("POST", &g.url("/v1/x"), h, &body(100 + round)).await;
            assert_eq!(r.status, 503, "{}", r.text());
            assert!(r.text().contains("audit_unavailable"), "{}", r.text());
            assert!(r.header("x-signet-receipt").is_none());
        }
        if round < 2 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    assert_eq!(
        up.hits(),
        hits,
        "forwarded while the journal could not write"
    );
    assert_eq!(
        gwt::send("GET", &g.url("/readyz"), &[], b"").await.status,
        503
    );
    assert_eq!(
        std::fs::read(&log).unwrap(),
        frozen,
        "the read-only log changed"
    );
    // Writable again: the running gateway recovers without a restart.
    run("chattr", &["-i".as_ref(), log.as_os_str()]);
    let status = status_once_recovered(&g).await;
    assert_eq!(status, 200, "the gateway did not recover once writable");
    assert_eq!(up.hits(), hits + 1);
    assert_outage_recorded(&log);
    let mut g = g;
    assert_eq!(g.stop(), Some(0));
    let (code, out) = verify(&log);
    assert_eq!(code, Some(0), "log must verify after recovery: {out}");
    // 5 before, the recovery entry, the late entry of the failed one, the one after.
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        5 + 3
    );
    assert_written_late(&log, &failed_fp);
    assert_every_forwarded_request_has_its_entry(&up, &log, &acked);
}

/// The log removed under the running gateway: 503 and nothing forwarded (as in
/// `gateway_e2e::journal_failure_fails_closed_with_503_and_forwards_nothing`), and it
/// stays so after the writer's reopen attempts: the gateway never silently starts a
/// new, unchained log. A restart (an operator's decision) does, and it verifies.
#[tokio::test(flavor = "multi_thread")]
async fn removed_journal_is_never_recreated_by_the_running_gateway() {
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let keep = tempfile::tempdir().unwrap();
    let log = keep.path().join("audit.jsonl");
    let log_s = log.to_str().unwrap().to_owned();
    let g = gwt::start(&up.url(), &[("SIGNET_AUDIT_LOG_PATH", &log_s)], None);
    let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], &body(0)).await;
    assert_eq!(r.status, 200);
    std::fs::remove_file(&log).unwrap();
    let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], &body(1)).await;
    assert_eq!(r.status, 503, "{}", r.text());
    let hits = up.hits();
    assert_eq!(hits, 2, "the request that found the log gone was forwarded");
    let failed_fp = forwarded_fingerprints(&up).pop().unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for h in [&[ALICE][..], &[][..]] {
            let r = gwt::send("POST", &g.url("/v1/x"), h, b"{}").await;
            assert_eq!(r.status, 503, "{}", r.text());
            assert!(r.text().contains("audit_unavailable"));
        }
    }
    assert_eq!(up.hits(), hits, "forwarded without a log");
    assert!(!log.exists(), "the running gateway recreated a removed log");
    let mut g = g;
    // SIGTERM still stops it; the exit status says the journal was lost (73). The
    // forwarded request's entry is saved beside the log for the next start.
    assert_eq!(g.stop(), Some(73));
    drop(g);
    let pending = keep.path().join("audit.jsonl.pending");
    let saved = std::fs::read_to_string(&pending).expect("late entries saved at the stop");
    assert_eq!(saved.lines().count(), 1, "{saved}");
    assert!(saved.contains(&failed_fp), "{saved}");
    let g = gwt::start(&up.url(), &[("SIGNET_AUDIT_LOG_PATH", &log_s)], None);
    // Appended before anything is served.
    assert!(
        !pending.exists(),
        "the saved entries were appended and the file removed"
    );
    let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], &body(2)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    drop(g);
    let (code, out) = verify(&log);
    assert_eq!(code, Some(0), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].contains("\"event\":\"pending_appended\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(&failed_fp) && lines[1].contains("\"written_late\":{"),
        "{}",
        lines[1]
    );
}
