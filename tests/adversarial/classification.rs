//! Classification games (issue 5 item 2): unknown levels, aliases, mixed case,
//! full-width and zero-width spellings, repeated and comma-merged headers. A level
//! either has one meaning or the request is refused before the upstream.

use crate::common::{self, CHAT, LIMIT, OK_BODY, completion, hits};
use crate::support::audit_log::{assert_verifies, one_terminal, settle};
use crate::support::gateway::Reply;
use crate::support::raw::{self, RawEnd};

use super::owner::with_lines;

const C: &str = "x-classification";
const K: &str = "x-caller-clearance";

/// label, header lines, expected status, classification recorded when allowed.
type LevelCase = (&'static str, Vec<Vec<u8>>, u16, Option<&'static str>);

fn h(name: &str, v: &[u8]) -> Vec<u8> {
    let mut out = format!("{name}: ").into_bytes();
    out.extend_from_slice(v);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn classification_games_get_one_meaning_or_a_refusal() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let g = common::gateway(&up, &[], None);
    let owner = b"x-commit-owner: human:alice".to_vec();
    let long = "S".repeat(10 * 1024);
    // label, classification/clearance lines, expected status, recorded classification
    let cases: Vec<LevelCase> = vec![
        ("absent means UNCLASS", vec![], 200, Some("UNCLASS")),
        (
            "unknown level",
            vec![h(C, b"CONFIDENTIAL"), h(K, b"TS")],
            400,
            None,
        ),
        (
            "made-up level",
            vec![h(C, b"ULTRA"), h(K, b"TS/SCI")],
            400,
            None,
        ),
        ("plural", vec![h(C, b"SECRETS"), h(K, b"TS")], 400, None),
        ("empty classification", vec![h(C, b"")], 400, None),
        ("empty clearance", vec![h(K, b"")], 400, None),
        (
            "comma-merged levels",
            vec![h(C, b"UNCLASS, SECRET")],
            400,
            None,
        ),
        ("comma-merged clearance", vec![h(K, b"TS, U")], 400, None),
        (
            "zero-width inside",
            vec![h(C, "SEC\u{200b}RET".as_bytes()), h(K, b"TS")],
            400,
            None,
        ),
        (
            "not UTF-8",
            vec![h(C, b"SECR\xc9T"), h(K, b"TS")],
            400,
            None,
        ),
        ("10 KB value", vec![h(K, long.as_bytes())], 400, None),
        (
            "repeated, conflicting",
            vec![h(C, b"UNCLASS"), h(C, b"SECRET"), h(K, b"TS")],
            400,
            None,
        ),
        (
            "clearance repeated, conflicting",
            vec![h(K, b"TS"), h(K, b"U")],
            400,
            None,
        ),
        (
            "repeated, same meaning",
            vec![h(C, b"S"), h(C, b"secret"), h(K, b"S")],
            200,
            Some("SECRET"),
        ),
        (
            "mixed case",
            vec![h(C, b"sEcReT"), h(K, b"Top Secret")],
            200,
            Some("SECRET"),
        ),
        (
            "full-width",
            vec![h(C, "ＳＥＣＲＥＴ".as_bytes()), h(K, b"TS")],
            200,
            Some("SECRET"),
        ),
        (
            "alias with slashes",
            vec![h(C, b"ts//sci"), h(K, b"TS/SCI")],
            200,
            Some("TS/SCI"),
        ),
        (
            "extra blanks",
            vec![h(C, b"  top   secret "), h(K, b"TS")],
            200,
            Some("TS"),
        ),
        (
            "header name upper case",
            vec![h("X-CLASSIFICATION", b"SECRET")],
            403,
            None,
        ),
        (
            "alias above clearance",
            vec![h(C, b"TS//SCI"), h(K, b"TOP SECRET")],
            403,
            None,
        ),
        ("no clearance means UNCLASS", vec![h(C, b"CUI")], 403, None),
        (
            "lower clearance by alias",
            vec![h(C, b"S"), h(K, b"FOUO")],
            403,
            None,
        ),
        (
            "bare LF repeats",
            vec![h(C, b"UNCLASS\nx-classification: SECRET"), h(K, b"TS")],
            400,
            None,
        ),
    ];
    let mut entries = 0;
    let mut forwarded = 0;
    for (label, extra, status, level) in &cases {
        let mut lines = vec![owner.clone()];
        lines.extend(extra.iter().cloned());
        let r = raw::exchange(
            &g.addr,
            &with_lines("/v1/chat", &lines, CHAT.as_bytes()),
            LIMIT,
        )
        .await;
        let r = match r {
            Ok(r) => r,
            Err(RawEnd::TimedOut) => panic!("{label}: stalled"),
            Err(e) => panic!("{label}: {e:?}"),
        };
        // A parser rejection (no correlation id) is acceptable for raw-byte games.
        let Some(id) = r.correlation_id() else {
            assert!((400..500).contains(&r.status), "{label}: {}", r.status);
            continue;
        };
        assert_eq!(r.status, *status, "{label}: {}", r.text());
        let e = one_terminal(&g, &id);
        entries += 1;
        if *status == 200 {
            forwarded += 1;
            assert_eq!(e.meta_str("classification"), *level, "{label}: {}", e.line);
        } else {
            assert_eq!(
                e.check(),
                Some("classification_gate"),
                "{label}: {}",
                e.line
            );
            assert_eq!(e.check_name, "pipeline.admission", "{label}");
        }
        assert_eq!(
            hits(&up),
            forwarded,
            "{label}: a refused request reached the upstream"
        );
    }
    settle(&g, entries);
    common::still_serves(&g).await;
    assert_verifies(&g);
}

/// The declared classification is what the response is held to: declaring a lower
/// level only makes inspection stricter, and clearance never widens it.
#[tokio::test(flavor = "multi_thread")]
async fn the_declared_level_bounds_the_response() {
    let up = common::upstream(|_| Reply::json(&completion("SECRET//NOFORN figures"))).await;
    let g = common::gateway(&up, &[], None);
    let owner = b"x-commit-owner: human:alice".to_vec();
    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        ("undeclared", vec![], 403),
        (
            "declared UNCLASS with TS clearance",
            vec![h(C, b"U"), h(K, b"TS/SCI")],
            403,
        ),
        ("clearance alone", vec![h(K, b"TS/SCI")], 403),
        (
            "declared SECRET",
            vec![h(C, b"SECRET"), h(K, b"SECRET")],
            200,
        ),
    ];
    for (label, extra, status) in &cases {
        let mut lines = vec![owner.clone()];
        lines.extend(extra.iter().cloned());
        let r = raw::exchange(
            &g.addr,
            &with_lines("/v1/chat", &lines, CHAT.as_bytes()),
            LIMIT,
        )
        .await
        .expect("response");
        assert_eq!(r.status, *status, "{label}: {}", r.text());
        if *status == 403 {
            assert!(!r.text().contains("NOFORN"), "{label}: leaked");
            let e = one_terminal(&g, &r.correlation_id().expect("id"));
            assert_eq!(e.check(), Some("scope_drift"), "{label}");
        }
    }
    settle(&g, cases.len());
    assert_verifies(&g);
}
