//! Tamper suite: one valid log, a table of labelled corruptions, and for each the exact
//! (line, kind) breaks the verifier must report.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use signet_audit::entry::{Decision, EntryDraft, OwnerType, seal};
use signet_audit::json::Value;
use signet_audit::key::{HmacKey, KeyRing};
use signet_audit::verify::{Report, verify};

const N: usize = 8;

fn key() -> HmacKey {
    HmacKey::from_hex("k1", &"5a".repeat(32)).expect("key")
}

fn attacker() -> HmacKey {
    HmacKey::from_hex("k1", &"a5".repeat(32)).expect("key")
}

fn draft(i: usize) -> EntryDraft {
    let mut d = EntryDraft::new("pipeline.complete", Decision::Allow, "request completed");
    d.entry_id = format!("00000000-0000-4000-8000-{i:012}");
    d.approval_chain = vec![format!("human:user{i}@example.com")];
    d.owner_id = format!("user{i}@example.com");
    d.owner_type = OwnerType::Human;
    d.request_fingerprint = format!("sha256:{}", "ab".repeat(32));
    d.ts_ns = 1_795_000_000_000_000_000 + i as u64 * 1000;
    d.metadata.insert("status".into(), Value::from(200u64));
    d.metadata
        .insert("path".into(), "/v1/chat/completions".into());
    d
}

/// The valid log, one `Vec<u8>` per line including `\n`.
fn lines() -> Vec<Vec<u8>> {
    let mut prev = String::new();
    (0..N)
        .map(|i| {
            let s = seal(&draft(i), i as u64, &prev, &key()).expect("seal");
            prev = s.hmac.to_hex();
            s.line
        })
        .collect()
}

fn hmac_of(line: &[u8]) -> String {
    let v = signet_audit::LineView::parse(&line[..line.len() - 1]).expect("parse");
    v.hmac
}

fn run(lines: &[Vec<u8>]) -> Report {
    let mut ring = KeyRing::new();
    ring.add(key()).expect("ring");
    verify(&lines.concat()[..], &ring).expect("verify")
}

fn breaks(lines: &[Vec<u8>]) -> Vec<(u64, &'static str)> {
    let mut b: Vec<_> = run(lines)
        .breaks
        .iter()
        .map(|b| (b.line, b.kind.as_str()))
        .collect();
    b.sort();
    b
}

/// Replaces the first occurrence of `from` in line `i` (0-based) by `to`.
fn edit(mut l: Vec<Vec<u8>>, i: usize, from: &str, to: &str) -> Vec<Vec<u8>> {
    let s = String::from_utf8(l[i].clone()).expect("utf8");
    assert!(s.contains(from), "line {i} lacks {from:?}");
    l[i] = s.replacen(from, to, 1).into_bytes();
    l
}

/// Changes one character of the value of `"field":` in line `i`, keeping JSON valid.
fn flip_field(l: Vec<Vec<u8>>, i: usize, field: &str) -> Vec<Vec<u8>> {
    let s = String::from_utf8(l[i].clone()).expect("utf8");
    let at = s.find(&format!("\"{field}\":")).expect("field") + field.len() + 3;
    let pos = s[at..]
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphanumeric())
        .map(|(p, _)| at + p)
        .expect("alnum");
    let c = s.as_bytes()[pos];
    let nc = match c {
        b'0'..=b'8' | b'a'..=b'e' | b'A'..=b'Y' | b'g'..=b'y' => c + 1,
        b'9' => b'0',
        b'f' => b'0',
        _ => b'a',
    };
    let mut b = s.into_bytes();
    b[pos] = nc;
    let mut l = l;
    l[i] = b;
    l
}

#[test]
fn valid_log_is_intact() {
    let r = run(&lines());
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!(r.entries, N as u64);
    assert_eq!(r.last_seq, Some(N as u64 - 1));
}

#[test]
fn flipping_any_field_is_caught_at_its_line() {
    // Every field of line 4 (index 3); each row: field, expected breaks.
    let cases: &[(&str, &[(u64, &str)])] = &[
        ("approval_chain", &[(4, "self_mismatch")]),
        ("check_name", &[(4, "self_mismatch")]),
        ("decision", &[(4, "self_mismatch")]),
        ("entry_id", &[(4, "self_mismatch")]),
        ("hmac", &[(4, "self_mismatch"), (5, "link_mismatch")]),
        ("path", &[(4, "self_mismatch")]),
        ("status", &[(4, "self_mismatch")]),
        // Line 4 now claims _seq 4, which line 5 also holds.
        (
            "_seq",
            &[(4, "self_mismatch"), (4, "seq_gap"), (5, "seq_duplicate")],
        ),
        ("_signing_key_id", &[(4, "unknown_key")]),
        ("_anchor", &[(4, "self_mismatch")]),
        ("owner_id", &[(4, "self_mismatch")]),
        ("owner_type", &[(4, "self_mismatch")]),
        ("prev_hmac", &[(4, "link_mismatch"), (4, "self_mismatch")]),
        ("reason", &[(4, "self_mismatch")]),
        ("request_fingerprint", &[(4, "self_mismatch")]),
        ("ts_ns", &[(4, "self_mismatch")]),
    ];
    for (field, want) in cases {
        let got = breaks(&flip_field(lines(), 3, field));
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want, "flip {field}");
    }
}

/// A labelled corruption: label, corrupted lines, expected (line, kind) breaks.
type Case = (&'static str, Vec<Vec<u8>>, Vec<(u64, &'static str)>);

#[test]
fn structural_corruptions() {
    let l = lines();
    let h = |i: usize| hmac_of(&l[i]);
    let mut cases: Vec<Case> = Vec::new();

    let mut v = l.clone();
    v.remove(3);
    cases.push(("drop line 4", v, vec![(4, "link_mismatch"), (4, "seq_gap")]));

    let mut v = l.clone();
    v.remove(0);
    cases.push((
        "drop first line",
        v,
        vec![(1, "link_mismatch"), (1, "seq_gap")],
    ));

    let mut v = l.clone();
    v.insert(3, l[3].clone());
    cases.push((
        "duplicate line 4",
        v,
        vec![(5, "link_mismatch"), (5, "seq_duplicate")],
    ));

    let mut v = l.clone();
    v.swap(2, 3);
    cases.push((
        "swap lines 3 and 4",
        v,
        vec![
            (3, "link_mismatch"),
            (3, "seq_gap"),
            (4, "link_mismatch"),
            (4, "seq_duplicate"),
            (5, "link_mismatch"),
        ],
    ));

    // A forger without the key chains a plausible line after line 4.
    let forged = seal(&draft(99), 4, &h(3), &attacker()).expect("seal");
    let mut v = l.clone();
    v.insert(4, forged.line);
    cases.push((
        "insert forged line after 4",
        v,
        vec![
            (5, "self_mismatch"),
            (6, "link_mismatch"),
            (6, "seq_duplicate"),
        ],
    ));

    // Re-MAC line 3 under a key id the verifier does not hold.
    let other = HmacKey::from_hex("k9", &"77".repeat(32)).expect("key");
    let resealed = seal(&draft(2), 2, &h(1), &other).expect("seal");
    let mut v = l.clone();
    v[2] = resealed.line;
    cases.push((
        "re-MAC line 3 under unknown key",
        v,
        vec![(3, "unknown_key"), (4, "link_mismatch")],
    ));

    let mut v = l.clone();
    let last = v.len() - 1;
    let half = v[last].len() / 2;
    v[last].truncate(half);
    cases.push(("truncate mid-line", v, vec![(8, "torn_tail")]));

    cases.push((
        "whitespace makes line 2 non-canonical",
        edit(l.clone(), 1, "\"decision\":", "\"decision\": "),
        vec![(2, "non_canonical"), (2, "self_mismatch")],
    ));

    cases.push((
        "remove key id from line 6",
        edit(l.clone(), 5, ",\"_signing_key_id\":\"k1\"", ""),
        vec![(6, "missing_key_id")],
    ));

    let mut v = l.clone();
    v[4] = b"{not json\n".to_vec();
    cases.push(("garbage replaces line 5", v, vec![(5, "malformed_line")]));

    cases.push((
        "unknown top-level field",
        edit(l.clone(), 2, "\"ts_ns\":", "\"zz\":1,\"ts_ns\":"),
        vec![(3, "malformed_line")],
    ));

    cases.push((
        "duplicate key in line 2",
        edit(l.clone(), 1, "\"reason\":", "\"reason\":\"x\",\"reason\":"),
        vec![(2, "malformed_line")],
    ));

    for (label, v, mut want) in cases {
        want.sort();
        assert_eq!(breaks(&v), want, "{label}");
    }
}

#[test]
fn cutting_whole_lines_from_the_end_is_invisible_without_checkpoints() {
    let mut v = lines();
    v.truncate(5);
    let r = run(&v);
    assert!(r.is_intact());
    assert!(!r.tail_truncation_detectable);
}
