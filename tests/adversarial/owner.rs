//! Owner header spoofing (issue 5 item 2), over raw TCP so that any byte can be
//! sent: missing, empty, wrong prefix, case games, Unicode confusables and full-width
//! forms, CR/LF/NUL, duplicated headers, oversized values; and trusted networks that
//! try to override an explicit owner.

use crate::common::{self, CHAT, LIMIT, OK_BODY, hits};
use crate::support::audit_log::{assert_verifies, entries, one_terminal, settle};
use crate::support::gateway::{Gateway, Reply};
use crate::support::raw::{self, RawEnd};

/// What must happen to a request.
#[derive(Clone, Debug)]
pub enum Want {
    /// Forwarded, attributed to this `owner_id`.
    Owner(String),
    /// Refused by `owner_resolution` (403, one entry, never forwarded).
    Refused,
    /// Rejected by the HTTP parser before the pipeline (4xx or closed, no entry,
    /// never forwarded).
    Unparsed,
    /// Either refused by the check or rejected by the parser: never forwarded.
    NotForwarded,
}

/// A POST whose head carries `lines` verbatim (each followed by CRLF).
pub fn with_lines(path: &str, lines: &[Vec<u8>], body: &[u8]) -> Vec<u8> {
    let mut out = format!("POST {path} HTTP/1.1\r\nhost: gw\r\n").into_bytes();
    for l in lines {
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out
}

fn l(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn co(v: &str) -> Vec<u8> {
    format!("x-commit-owner: {v}").into_bytes()
}

fn co_bytes(v: &[u8]) -> Vec<u8> {
    let mut out = b"x-commit-owner: ".to_vec();
    out.extend_from_slice(v);
    out
}

/// Sends each case and checks the outcome, the entry and the upstream count.
pub async fn run_cases(
    g: &Gateway,
    up: &crate::support::gateway::Upstream,
    cases: &[(&str, Vec<Vec<u8>>, Want)],
) {
    let mut expected_entries = entries(g).len();
    let mut expected_hits = hits(up);
    for (label, lines, want) in cases {
        let before = entries(g).len();
        let r = raw::exchange(
            &g.addr,
            &with_lines("/v1/chat", lines, CHAT.as_bytes()),
            LIMIT,
        )
        .await;
        if matches!(r, Err(RawEnd::TimedOut)) {
            panic!("{label}: the gateway stalled");
        }
        let refused_by_check =
            matches!(&r, Ok(resp) if resp.status == 403 && resp.correlation_id().is_some());
        match (want, &r) {
            (Want::Owner(id), Ok(resp)) => {
                assert_eq!(resp.status, 200, "{label}: {}", resp.text());
                let e = one_terminal(g, &resp.correlation_id().expect("id"));
                assert_eq!(&e.owner_id, id, "{label}: {}", e.line);
                assert_eq!(e.meta_str("owner_auth"), Some("header"), "{label}");
                expected_entries += 1;
                expected_hits += 1;
            }
            (Want::Refused, Ok(resp)) | (Want::NotForwarded, Ok(resp)) if refused_by_check => {
                let e = one_terminal(g, &resp.correlation_id().expect("id"));
                assert_eq!(e.check(), Some("owner_resolution"), "{label}: {}", e.line);
                assert_eq!(e.owner_type, "unresolved", "{label}");
                assert_eq!(e.owner_id, "", "{label}");
                expected_entries += 1;
            }
            (Want::Unparsed, _) | (Want::NotForwarded, _) => {
                if let Ok(resp) = &r {
                    assert!(
                        (400..500).contains(&resp.status) && resp.correlation_id().is_none(),
                        "{label}: expected a parser rejection, got {} {}",
                        resp.status,
                        resp.text()
                    );
                }
                assert_eq!(
                    entries(g).len(),
                    before,
                    "{label}: parser rejections write no entry"
                );
            }
            (w, got) => panic!("{label}: wanted {w:?}, got {got:?}"),
        }
        assert_eq!(hits(up), expected_hits, "{label}: upstream hit count");
    }
    settle(g, expected_entries);
}

#[tokio::test(flavor = "multi_thread")]
async fn owner_header_spoofing_is_refused_before_the_upstream() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let g = common::gateway(&up, &[], None);
    let a256 = "a".repeat(256);
    let cases: Vec<(&str, Vec<Vec<u8>>, Want)> = vec![
        ("missing", vec![], Want::Refused),
        ("empty value", vec![l("x-commit-owner:")], Want::Refused),
        (
            "blank value",
            vec![l("x-commit-owner: \t  ")],
            Want::Refused,
        ),
        ("prefix only", vec![co("human:")], Want::Refused),
        ("prefix and blanks", vec![co("human:   ")], Want::Refused),
        ("upper-case prefix", vec![co("HUMAN:alice")], Want::Refused),
        ("title-case prefix", vec![co("Human:alice")], Want::Refused),
        (
            "space inside prefix",
            vec![co("human :alice")],
            Want::Refused,
        ),
        ("no prefix", vec![co("alice")], Want::Refused),
        (
            "other kind's prefix",
            vec![co("agent:alice")],
            Want::Refused,
        ),
        (
            "agent id without prefix",
            vec![l("x-agent-id: bot")],
            Want::Refused,
        ),
        (
            "agent id upper prefix",
            vec![l("x-agent-id: AGENT:bot")],
            Want::Refused,
        ),
        (
            "policy version alone",
            vec![l("x-policy-version: v1")],
            Want::Refused,
        ),
        (
            "header name upper case",
            vec![l("X-COMMIT-OWNER: human:alice")],
            Want::Owner("alice".into()),
        ),
        (
            "header name mixed case",
            vec![l("x-Commit-OWNER: human:alice")],
            Want::Owner("alice".into()),
        ),
        (
            "surrounding blanks",
            vec![co("  human:alice  ")],
            Want::Owner("alice".into()),
        ),
        (
            "underscores for dashes",
            vec![l("x_commit_owner: human:alice")],
            Want::Refused,
        ),
        (
            "space before the colon",
            vec![l("x-commit-owner : human:alice")],
            Want::Unparsed,
        ),
        (
            "full-width prefix",
            vec![co("ｈｕｍａｎ:alice")],
            Want::Refused,
        ),
        ("full-width colon", vec![co("human：alice")], Want::Refused),
        (
            "full-width principal folds to ASCII",
            vec![co("human:ａｌｉｃｅ")],
            Want::Owner("alice".into()),
        ),
        (
            "Cyrillic look-alike stays a different principal",
            vec![co("human:\u{430}lice")],
            Want::Owner("\u{430}lice".into()),
        ),
        (
            "zero-width in principal",
            vec![co("human:al\u{200b}ice")],
            Want::Refused,
        ),
        (
            "zero-width before prefix",
            vec![co("\u{200b}human:alice")],
            Want::Refused,
        ),
        (
            "word joiner",
            vec![co("human:alice\u{2060}")],
            Want::Refused,
        ),
        (
            "bidi override",
            vec![co("human:alice\u{202e}moc.elpmaxe")],
            Want::Refused,
        ),
        (
            "tag characters",
            vec![co("human:alice\u{e0041}")],
            Want::Refused,
        ),
        (
            "line separator",
            vec![co("human:a\u{2028}b")],
            Want::Refused,
        ),
        (
            "C1 control (NEL)",
            vec![co("human:a\u{85}b")],
            Want::Refused,
        ),
        ("tab inside", vec![co("human:al\tice")], Want::Refused),
        (
            "NUL byte",
            vec![co_bytes(b"human:al\x00ice")],
            Want::Unparsed,
        ),
        (
            "bare CR",
            vec![co_bytes(b"human:al\rice")],
            Want::NotForwarded,
        ),
        (
            "DEL byte",
            vec![co_bytes(b"human:al\x7fice")],
            Want::NotForwarded,
        ),
        (
            "Latin-1 byte (not UTF-8)",
            vec![co_bytes(b"human:\xe9lise")],
            Want::Refused,
        ),
        (
            "UTF-8 principal",
            vec![co("human:élise")],
            Want::Owner("élise".into()),
        ),
        (
            "CRLF-injected second owner",
            vec![co("human:alice"), co("human:mallory")],
            Want::Refused,
        ),
        (
            "bare-LF-injected second owner",
            vec![co_bytes(b"human:alice\nx-commit-owner: human:mallory")],
            Want::NotForwarded,
        ),
        (
            "obs-fold continuation",
            vec![co_bytes(b"human:alice\r\n mallory")],
            Want::NotForwarded,
        ),
        (
            "identical duplicates",
            vec![co("human:alice"), co("human:alice")],
            Want::Owner("alice".into()),
        ),
        (
            "duplicates differing in blanks",
            vec![co("human:alice"), co(" human:alice ")],
            Want::Owner("alice".into()),
        ),
        (
            "duplicates differing in case of the name",
            vec![co("human:alice"), l("X-Commit-Owner: human:mallory")],
            Want::Refused,
        ),
        (
            "human wins over agent by precedence",
            vec![l("x-agent-id: agent:bot"), co("human:alice")],
            Want::Owner("alice".into()),
        ),
        (
            "malformed header never falls back to a valid one",
            vec![co("HUMAN:alice"), l("x-agent-id: agent:bot")],
            Want::Refused,
        ),
        (
            "valid owner with malformed agent id",
            vec![co("human:alice"), l("x-agent-id: bot")],
            Want::Refused,
        ),
        (
            "10 KB principal",
            vec![co(&format!("human:{}", "a".repeat(10 * 1024)))],
            Want::Refused,
        ),
        (
            "257 characters",
            vec![co(&format!("human:{}", "a".repeat(257)))],
            Want::Refused,
        ),
        (
            "256 characters",
            vec![co(&format!("human:{a256}"))],
            Want::Owner(a256.clone()),
        ),
        (
            "10 KB of zero-width characters",
            vec![co(&format!("human:a{}", "\u{200b}".repeat(3500)))],
            Want::Refused,
        ),
        (
            "policy name and version over the limit together",
            vec![
                format!("x-policy-name: {}", "p".repeat(200)).into_bytes(),
                format!("x-policy-version: {}", "v".repeat(60)).into_bytes(),
            ],
            Want::Refused,
        ),
        (
            "70 KB value",
            vec![co(&format!("human:{}", "a".repeat(70 * 1024)))],
            Want::Unparsed,
        ),
    ];
    run_cases(&g, &up, &cases).await;
    common::still_serves(&g).await;
    assert_verifies(&g);
}

/// A front proxy may merge repeated header lines into one comma-separated value
/// (RFC 9110 section 5.3). The merged form of two conflicting owners must be as
/// ambiguous as the two lines.
#[tokio::test(flavor = "multi_thread")]
async fn comma_merged_conflicting_owners_are_refused() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let g = common::gateway(&up, &[], None);
    let cases: Vec<(&str, Vec<Vec<u8>>, Want)> = vec![
        (
            "merged owners",
            vec![co("human:alice, human:mallory")],
            Want::Refused,
        ),
        (
            "merged agents",
            vec![l("x-agent-id: agent:a, agent:b")],
            Want::Refused,
        ),
    ];
    run_cases(&g, &up, &cases).await;
    assert_verifies(&g);
}

const TRUSTED: &str = r#"
[policy.owner_resolution]
required = true
[policy.trusted_networks]
cidrs = ["127.0.0.0/8"]
owner = "agent:local-batch"
[policy.scope_drift]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_network_never_overrides_an_explicit_owner() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let g = common::gateway(&up, &[], Some(TRUSTED));
    // No owner header: the network's owner applies.
    let r = raw::exchange(
        &g.addr,
        &with_lines("/v1/chat", &[], CHAT.as_bytes()),
        LIMIT,
    )
    .await
    .expect("response");
    assert_eq!(r.status, 200, "{}", r.text());
    let e = one_terminal(&g, &r.correlation_id().expect("id"));
    assert_eq!(
        (e.owner_id.as_str(), e.meta_str("owner_auth")),
        ("local-batch", Some("trusted_network"))
    );
    let cases: Vec<(&str, Vec<Vec<u8>>, Want)> = vec![
        (
            "valid explicit owner",
            vec![co("human:bob")],
            Want::Owner("bob".into()),
        ),
        (
            "valid agent",
            vec![l("x-agent-id: agent:bot")],
            Want::Owner("bot".into()),
        ),
        (
            "empty owner header",
            vec![l("x-commit-owner:")],
            Want::Refused,
        ),
        ("blank owner header", vec![co("   ")], Want::Refused),
        ("upper-case prefix", vec![co("HUMAN:eve")], Want::Refused),
        (
            "full-width prefix",
            vec![co("ｈｕｍａｎ:eve")],
            Want::Refused,
        ),
        (
            "zero-width principal",
            vec![co("human:\u{200b}")],
            Want::Refused,
        ),
        ("not UTF-8", vec![co_bytes(b"human:\xff")], Want::Refused),
        (
            "conflicting duplicates",
            vec![co("human:a"), co("human:b")],
            Want::Refused,
        ),
        (
            "version without name",
            vec![l("x-policy-version: 2")],
            Want::Refused,
        ),
        ("empty agent id", vec![l("x-agent-id:")], Want::Refused),
        (
            "empty policy name",
            vec![l("x-policy-name:")],
            Want::Refused,
        ),
    ];
    run_cases(&g, &up, &cases).await;
    assert!(
        entries(&g)
            .iter()
            .filter(|e| e.owner_id == "local-batch")
            .count()
            == 1,
        "only the header-less request may get the network's owner"
    );
    common::still_serves(&g).await;
    assert_verifies(&g);
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_headers_cannot_claim_a_trusted_network() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let cfg = TRUSTED.replace("127.0.0.0/8", "10.0.0.0/8");
    let g = common::gateway(&up, &[], Some(&cfg));
    let spoofs: &[&[&str]] = &[
        &["x-forwarded-for: 10.1.2.3"],
        &["forwarded: for=10.1.2.3"],
        &["x-real-ip: 10.1.2.3"],
        &[
            "x-forwarded-for: 10.1.2.3, 10.0.0.1",
            "x-client-ip: 10.9.9.9",
        ],
        &["true-client-ip: 10.1.2.3", "cf-connecting-ip: 10.1.2.3"],
    ];
    for s in spoofs {
        let lines: Vec<Vec<u8>> = s.iter().map(|x| l(x)).collect();
        let r = raw::exchange(
            &g.addr,
            &with_lines("/v1/chat", &lines, CHAT.as_bytes()),
            LIMIT,
        )
        .await
        .expect("response");
        assert_eq!(r.status, 403, "{s:?}: {}", r.text());
        let e = one_terminal(&g, &r.correlation_id().expect("id"));
        assert_eq!(e.meta_str("client_ip"), Some("127.0.0.1"), "{s:?}");
    }
    assert_eq!(hits(&up), 0);
    settle(&g, spoofs.len());
    assert_verifies(&g);
}

/// Spellings that normalise to the same principal share its rate-limit bucket.
#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_buckets_follow_the_normalised_owner() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let cfg = "[policy.owner_resolution]\n[policy.rate_limit]\nper_owner_rps = 0.001\nper_owner_burst = 1\n";
    let g = common::gateway(&up, &[], Some(cfg));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (co("human:alice"), 200),
        (co("human:ａｌｉｃｅ"), 429),
        (co("  human:alice  "), 429),
        (co("human:alice\u{fe0f}"), 403),
        (l("x-agent-id: agent:alice"), 200),
    ];
    for (line, status) in &cases {
        let label = String::from_utf8_lossy(line).into_owned();
        let r = raw::exchange(
            &g.addr,
            &with_lines("/v1/chat", std::slice::from_ref(line), CHAT.as_bytes()),
            LIMIT,
        )
        .await
        .expect("response");
        assert_eq!(r.status, *status, "{label}: {}", r.text());
        one_terminal(&g, &r.correlation_id().expect("id"));
    }
    // The agent `alice` is a different owner from the human `alice`.
    assert_eq!(hits(&up), 2);
    settle(&g, cases.len());
    assert_verifies(&g);
}

/// Values that try to break out of their JSON field in the audit line (quotes,
/// braces, backslashes, escapes) stay inside it: the entry records them verbatim and
/// the log verifies.
#[tokio::test(flavor = "multi_thread")]
async fn log_injection_stays_inside_its_field() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let g = common::gateway(&up, &[], None);
    // (Commas are refused as merged headers, so the injections here avoid them.)
    let owners = [
        r#"a":"owner_id":"root"#,
        r#"a"}{"decision":"allow"}{"x":{"y":"z"#,
        r"back\slash\u0000\n",
        "a\u{2603}\u{1f600}",
    ];
    for o in owners {
        let r = raw::exchange(
            &g.addr,
            &with_lines("/v1/chat", &[co(&format!("human:{o}"))], CHAT.as_bytes()),
            LIMIT,
        )
        .await
        .expect("response");
        assert_eq!(r.status, 200, "{o}");
        let e = one_terminal(&g, &r.correlation_id().expect("id"));
        assert_eq!(e.owner_id, o, "{}", e.line);
    }
    // Paths and methods are the client's too.
    let targets: &[(&str, &str)] = &[
        ("GET", "/v1/x?q=%22%7D%2C%22owner_id%22%3A%22root"),
        ("GET", "/v1/x?q=\"},{\"owner_id\":\"root\""),
        ("INJECT", "/v1/x"),
        ("GET", "/v1/x\\u0022"),
    ];
    let mut audited = owners.len();
    for (method, target) in targets {
        let req = format!(
            "{method} {target} HTTP/1.1\r\nhost: gw\r\nx-commit-owner: human:alice\r\nconnection: close\r\n\r\n"
        );
        let r = raw::exchange(&g.addr, req.as_bytes(), LIMIT)
            .await
            .expect("response");
        // The HTTP layer may refuse a target outright (no entry); if it is accepted,
        // the entry records it byte for byte.
        if let Some(id) = r.correlation_id() {
            let e = one_terminal(&g, &id);
            assert_eq!(e.path(), Some(*target), "{}", e.line);
            assert_eq!(e.meta_str("method"), Some(*method), "{}", e.line);
            audited += 1;
        } else {
            assert!((400..500).contains(&r.status), "{target}: {}", r.status);
        }
    }
    settle(&g, audited);
    for e in entries(&g) {
        assert_eq!(e.decision, "allow");
        assert_ne!(e.owner_id, "root");
    }
    assert_verifies(&g);
}
