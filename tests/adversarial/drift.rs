//! Scope-drift evasion (issue 5 item 2): an upstream answer carrying classification
//! markings above the request's level, disguised so that a naive matcher misses them,
//! in streamed (SSE) and unary responses. Each case names the bytes that must not
//! reach the client; every case must end in exactly one terminal entry.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{self, LIMIT, OWNER, delta};
use crate::support::audit_log::{assert_verifies, one_terminal, settle};
use crate::support::gateway::{Gateway, Reply};
use crate::support::raw::{self, RawConn};

/// One disguise: what the upstream sends, and bytes the client must never get.
pub struct Case {
    pub label: &'static str,
    pub reply: Reply,
    pub leak: Vec<Vec<u8>>,
}

fn case(label: &'static str, reply: Reply, leak: &[&[u8]]) -> Case {
    Case {
        label,
        reply,
        leak: leak.iter().map(|l| l.to_vec()).collect(),
    }
}

/// An SSE reply of raw event strings (one TCP chunk each).
fn sse(events: &[&str]) -> Reply {
    let mut r = Reply::sse(events);
    r.pause = Duration::from_millis(15);
    r
}

/// An SSE `data:` event with `json` as payload.
fn data(json: &str) -> String {
    format!("data: {json}\n\n")
}

/// A chat chunk whose delta content is the (already escaped) JSON string `s`.
fn chunk_json(s: &str) -> String {
    format!("{{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{s}\"}}}}]}}")
}

/// A unary reply with `content_type` and `body`.
fn unary(content_type: &str, body: &[u8]) -> Reply {
    common::bytes_reply(content_type, vec![body.to_vec()])
}

fn json(body: &str) -> Reply {
    unary("application/json", body.as_bytes())
}

const DONE: &str = "data: [DONE]\n\n";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Runs every case through one gateway (default policy: scope drift on, request
/// UNCLASS). Returns, per case, `Err(why)` when the disguise got through. The
/// one-terminal-entry rule is asserted for every case regardless.
pub async fn run(cases: Vec<Case>) -> Vec<(&'static str, Result<(), String>)> {
    let replies: Arc<Vec<Reply>> = Arc::new(cases.iter().map(|c| c.reply.clone()).collect());
    let table = replies.clone();
    let up = common::upstream(move |seen| {
        let path = common::path_of(seen);
        let i: usize = path
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        table[i].clone()
    })
    .await;
    let g = common::gateway(&up, &[], None);
    let mut out = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        out.push((c.label, one(&g, i, c).await));
    }
    settle(&g, cases.len());
    common::still_serves(&g).await;
    assert_verifies(&g);
    out
}

async fn one(g: &Gateway, i: usize, c: &Case) -> Result<(), String> {
    let req = raw::request(
        "POST",
        &format!("/v1/case/{i}"),
        &[OWNER, ("accept-encoding", "gzip")],
        br#"{"stream":true}"#,
    );
    let mut conn = RawConn::connect(&g.addr).await;
    conn.send(&req).await.expect("send");
    let r = conn
        .response(LIMIT)
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}", c.label));
    let e = one_terminal(g, &r.correlation_id().expect("correlation id"));
    if let Some(l) = c.leak.iter().find(|l| contains(&r.body, l)) {
        return Err(format!(
            "leaked {:?} (status {}, entry {})",
            String::from_utf8_lossy(l),
            r.status,
            e.check_name
        ));
    }
    if e.check_name != "pipeline.inspection" {
        return Err(format!("not aborted: {}", e.line));
    }
    assert_eq!(e.decision, "block", "{}", c.label);
    Ok(())
}

fn assert_all_caught(results: &[(&str, Result<(), String>)]) {
    let missed: Vec<String> = results
        .iter()
        .filter_map(|(l, r)| r.as_ref().err().map(|e| format!("{l}: {e}")))
        .collect();
    assert!(
        missed.is_empty(),
        "disguises that got through:\n{}",
        missed.join("\n")
    );
}

/// One stream, written to the gateway a single byte per TCP segment.
fn byte_by_byte(events: &str) -> Reply {
    let mut r = Reply::sse(&[]);
    r.chunks = events.as_bytes().chunks(1).map(<[u8]>::to_vec).collect();
    r.pause = Duration::from_millis(1);
    r
}

fn tool_args(s: &str) -> String {
    data(&format!(
        "{{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\"{s}\"}}}}]}}}}]}}"
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_disguises_are_caught() {
    let cases = vec![
        case(
            "marker split over 1-byte TCP segments",
            byte_by_byte(&format!("{}{}", delta("the TOP SECRET plan"), DONE)),
            &[b"SECRET"],
        ),
        case(
            "split across events",
            sse(&[&delta("the TOP SE"), &delta("CRET//SCI plan"), DONE]),
            &[b"CRET//SCI"],
        ),
        case(
            "split inside a CRLF pair across TCP chunks",
            sse(&[
                &data(&chunk_json("TOP SE")).replace("\n\n", "\r"),
                "\n\r\n",
                &data(&chunk_json("CRET now")).replace("\n\n", "\r\n\r\n"),
                DONE,
            ]),
            &[b"CRET now"],
        ),
        case(
            "zero-width space inside",
            sse(&[&delta("TOP SE\u{200b}CRET plan"), DONE]),
            &[b"CRET plan"],
        ),
        case(
            "zero-width space as a JSON escape",
            sse(&[&data(&chunk_json("TOP SE\\u200bCRET plan")), DONE]),
            &[b"CRET plan"],
        ),
        case(
            "soft hyphen inside",
            sse(&[&delta("NO\u{ad}FORN plan"), DONE]),
            &[b"FORN plan"],
        ),
        case(
            "full-width letters",
            sse(&[&delta("ＴＯＰ ＳＥＣＲＥＴ plan"), DONE]),
            &["ＳＥＣＲＥＴ".as_bytes()],
        ),
        case(
            "Cyrillic look-alikes",
            sse(&[
                &delta("\u{422}\u{41e}\u{420} \u{405}\u{415}\u{421}R\u{415}\u{422} plan"),
                DONE,
            ]),
            &[" plan".as_bytes()],
        ),
        case(
            "combining accent",
            sse(&[&delta("S\u{301}ECRET plan"), DONE]),
            &[b"ECRET plan"],
        ),
        case(
            "every letter a JSON \\u escape",
            sse(&[
                &data(&chunk_json(
                    "\\u0054\\u004f\\u0050 \\u0053\\u0045\\u0043\\u0052\\u0045\\u0054 plan",
                )),
                DONE,
            ]),
            &[b"\\u0053\\u0045"],
        ),
        case(
            "lower-case slash form",
            sse(&[&delta("ts//sci material"), DONE]),
            &[b"ts//sci"],
        ),
        case(
            "tool-call arguments split across events",
            sse(&[
                &tool_args("{\\\"note\\\":\\\"TOP SE"),
                &tool_args("CRET//SCI\\\"}"),
                DONE,
            ]),
            &[b"CRET//SCI"],
        ),
        case(
            "marker in an event: line",
            sse(&[&format!("event: TOP SECRET\n{}", data("{}")), DONE]),
            &[b"event: TOP SECRET"],
        ),
        case(
            "marker in an id: line",
            sse(&[&format!("id: SECRET//NOFORN\n{}", data("{}")), DONE]),
            &[b"NOFORN"],
        ),
        case(
            "marker in an SSE comment",
            sse(&[": TOP SECRET//SCI\n\n", DONE]),
            &[b"TOP SECRET//SCI"],
        ),
        case(
            "marker in a field SSE parsers ignore",
            sse(&[&format!("note: TOP SECRET\n{}", data("{}")), DONE]),
            &[b"note: TOP SECRET"],
        ),
        case(
            "plain-text data",
            sse(&["data: TOP SECRET plan\n\n", DONE]),
            &[b"TOP SECRET plan"],
        ),
        case(
            "JSON spread over several data: lines",
            sse(&[
                "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"SECRET//NOFORN\"}}]}\n\n",
                DONE,
            ]),
            &[b"NOFORN"],
        ),
        case(
            "marker after 100 KB of clean text",
            sse(&[
                &delta(&"lorem ipsum ".repeat(9000)),
                &delta("TOP SECRET"),
                DONE,
            ]),
            &[b"TOP SECRET"],
        ),
    ];
    assert_all_caught(&run(cases).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn unary_disguises_are_caught() {
    let cases = vec![
        case(
            "zero-width space inside",
            json(&common::completion("TOP SE\u{200b}CRET plan")),
            &[b"CRET plan"],
        ),
        case(
            "zero-width as JSON escape",
            json(&common::completion("TOP SE\\u200bCRET plan")),
            &[b"CRET plan"],
        ),
        case(
            "full-width letters",
            json(&common::completion("ＴＯＰ ＳＥＣＲＥＴ")),
            &["ＳＥＣＲＥＴ".as_bytes()],
        ),
        case(
            "every letter a JSON \\u escape",
            json(&common::completion(
                "\\u0053\\u0045\\u0043\\u0052\\u0045\\u0054//NOFORN",
            )),
            &[b"NOFORN"],
        ),
        case(
            "tool-call arguments",
            json(
                r#"{"choices":[{"message":{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"save","arguments":"{\"text\":\"TOP SECRET//SCI\"}"}}]},"finish_reason":"tool_calls"}]}"#,
            ),
            &[b"TOP SECRET//SCI"],
        ),
        case(
            "text/plain body",
            unary("text/plain", b"classified: TOP SECRET//SCI"),
            &[b"TOP SECRET//SCI"],
        ),
        case(
            "binary content type",
            unary("application/octet-stream", b"(TS) the plan"),
            &[b"(TS) the plan"],
        ),
        case(
            "invalid UTF-8 around the marker",
            unary("application/json", b"\xff\xfe TOP SECRET \xc3"),
            &[b"TOP SECRET"],
        ),
        case(
            "portion marking",
            json(&common::completion("(S) troop movements")),
            &[b"troop movements"],
        ),
    ];
    assert_all_caught(&run(cases).await);
}

/// Anything SSE carries besides the content (event names, ids, keep-alive comments,
/// extra string fields) is fed to the inspector between two content deltas, so a
/// marker split across two events no longer meets itself, while every SSE client
/// joins the deltas back into the marker.
#[tokio::test(flavor = "multi_thread")]
async fn split_marker_with_sse_framing_between_the_halves() {
    let with = |prefix: &str, s: &str| format!("{prefix}{}", delta(s));
    let cases = vec![
        case(
            "id: line on every event",
            sse(&[
                &with("id: 1\n", "the TOP SE"),
                &with("id: 2\n", "CRET//SCI plan"),
                DONE,
            ]),
            &[b"CRET//SCI"],
        ),
        case(
            "event: line on every event (Anthropic style)",
            sse(&[
                &with("event: message\n", "the TOP SE"),
                &with("event: message\n", "CRET//SCI plan"),
                DONE,
            ]),
            &[b"CRET//SCI"],
        ),
        case(
            "keep-alive comment between the halves",
            sse(&[
                &delta("the TOP SE"),
                ": keep-alive\n\n",
                &delta("CRET//SCI plan"),
                DONE,
            ]),
            &[b"CRET//SCI"],
        ),
        case(
            "extra string field in each chunk (OpenAI `obfuscation` padding)",
            sse(&[
                &data(
                    r#"{"choices":[{"index":0,"delta":{"content":"the TOP SE"}}],"obfuscation":"x1"}"#,
                ),
                &data(
                    r#"{"choices":[{"index":0,"delta":{"content":"CRET//SCI plan"}}],"obfuscation":"y2"}"#,
                ),
                DONE,
            ]),
            &[b"CRET//SCI"],
        ),
        case(
            "extra string field naming the provider",
            sse(&[
                &data(
                    r#"{"choices":[{"index":0,"delta":{"content":"the TOP SE"}}],"provider":"p"}"#,
                ),
                &data(
                    r#"{"choices":[{"index":0,"delta":{"content":"CRET//SCI plan"}}],"provider":"p"}"#,
                ),
                DONE,
            ]),
            &[b"CRET//SCI"],
        ),
    ];
    assert_all_caught(&run(cases).await);
}

/// When a body is not strict JSON (a duplicate key, nesting past the parser's depth
/// limit, several documents one per line), inspection falls back to the raw bytes and
/// no longer decodes `\u` escapes or joins split strings; lenient clients decode it
/// all the same.
#[tokio::test(flavor = "multi_thread")]
async fn escaped_markers_in_json_the_strict_parser_refuses() {
    let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
    let hidden = chunk_json("TOP \\u0053ECRET//SCI");
    let cases = vec![
        case(
            "SSE: duplicate key",
            sse(&[&data(&hidden.replacen('{', "{\"choices\":[],", 1)), DONE]),
            &[b"\\u0053ECRET"],
        ),
        case(
            "SSE: nesting deeper than 64",
            sse(&[
                &data(&hidden.replacen('{', &format!("{{\"pad\":{deep},"), 1)),
                DONE,
            ]),
            &[b"\\u0053ECRET"],
        ),
        case(
            "unary: duplicate key",
            json(&common::completion("TOP \\u0053ECRET//SCI").replacen('{', "{\"choices\":[],", 1)),
            &[b"\\u0053ECRET"],
        ),
        case(
            "unary: nesting deeper than 64",
            json(&common::completion("TOP \\u0053ECRET//SCI").replacen(
                '{',
                &format!("{{\"pad\":{deep},"),
                1,
            )),
            &[b"\\u0053ECRET"],
        ),
        case(
            "unary NDJSON stream, marker split across lines",
            unary(
                "application/x-ndjson",
                format!(
                    "{}\n{}\n",
                    r#"{"message":{"role":"assistant","content":"the TOP SE"},"done":false}"#,
                    r#"{"message":{"role":"assistant","content":"CRET plan"},"done":true}"#
                )
                .as_bytes(),
            ),
            &[b"CRET plan"],
        ),
        case(
            "SSE framing under a JSON content type",
            unary(
                "application/json",
                format!("{}{DONE}", data(&chunk_json("TOP \\u0053ECRET plan"))).as_bytes(),
            ),
            &[b"\\u0053ECRET"],
        ),
    ];
    assert_all_caught(&run(cases).await);
}

/// A compressed body is inspected as compressed bytes; the client inflates it.
#[tokio::test(flavor = "multi_thread")]
async fn compressed_responses_are_not_inspected_blind() {
    let body = common::completion("TOP SECRET//SCI material");
    let gz = gzip(body.as_bytes());
    let mut r = unary("application/json", &gz);
    r.headers.push(("content-encoding".into(), "gzip".into()));
    let cases = vec![case("gzip unary", r, &[&gz])];
    assert_all_caught(&run(cases).await);
}

/// Fields the text extraction skips as envelope (`role`, `id`, `model`, object keys)
/// reach the client unexamined.
#[tokio::test(flavor = "multi_thread")]
async fn markers_in_envelope_fields_and_keys() {
    let cases = vec![
        case(
            "SSE: role",
            sse(&[
                &data(r#"{"choices":[{"index":0,"delta":{"role":"TOP SECRET//SCI"}}]}"#),
                DONE,
            ]),
            &[b"TOP SECRET//SCI"],
        ),
        case(
            "unary: id and model",
            json(
                r#"{"id":"SECRET//NOFORN","model":"TOP SECRET","choices":[{"message":{"content":"hi"}}]}"#,
            ),
            &[b"NOFORN"],
        ),
        case(
            "unary: object key",
            json(r#"{"choices":[{"message":{"content":"hi","TOP SECRET//SCI":1}}]}"#),
            &[b"TOP SECRET//SCI"],
        ),
    ];
    assert_all_caught(&run(cases).await);
}

/// Bytes in an SSE `retry:` line are forwarded but never shown to the inspector.
#[tokio::test(flavor = "multi_thread")]
async fn markers_in_retry_lines() {
    let cases = vec![case(
        "retry: line",
        sse(&[&format!("retry: SECRET//NOFORN\n{}", data("{}")), DONE]),
        &[b"NOFORN"],
    )];
    assert_all_caught(&run(cases).await);
}

/// A minimal gzip member: one fixed-Huffman deflate block of literals only (no
/// back-references), enough that the text does not appear in the bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, v: u32, len: u32) {
            self.acc |= v << self.n;
            self.n += len;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            let mut rev = 0;
            for i in 0..len {
                rev |= ((code >> i) & 1) << (len - 1 - i);
            }
            self.put(rev, len);
        }
    }
    let mut b = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // BFINAL
    b.put(1, 2); // fixed Huffman
    for &byte in data {
        let v = u32::from(byte);
        if v < 144 {
            b.code(0x30 + v, 8);
        } else {
            b.code(0x190 + v - 144, 9);
        }
    }
    b.code(0, 7); // end of block
    if b.n > 0 {
        b.out.push(b.acc as u8);
    }
    let mut crc: u32 = !0;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    b.out.extend_from_slice(&(!crc).to_le_bytes());
    b.out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.out
}

#[test]
fn gzip_helper_is_not_plain_text() {
    let gz = gzip(b"TOP SECRET");
    assert!(!contains(&gz, b"SECRET"));
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
}

/// With several choices streamed at once (`n > 1`), each choice's text is its own
/// stream: another choice's delta between two halves of a marker must not hide it,
/// whether the choices come one per event or several in one event, and whatever the
/// order of indexes.
#[tokio::test(flavor = "multi_thread")]
async fn split_marker_across_interleaved_choices() {
    let cases = vec![
        case(
            "halves in one choice, another choice's delta between (n = 2)",
            sse(&[
                &data(r#"{"choices":[{"index":0,"delta":{"content":"the TOP SE"}}]}"#),
                &data(r#"{"choices":[{"index":1,"delta":{"content":"other"}}]}"#),
                &data(r#"{"choices":[{"index":0,"delta":{"content":"CRET//SCI plan"}}]}"#),
                DONE,
            ]),
            &[b"CRET//SCI"],
        ),
        case(
            "both choices in every event, halves in choice 1",
            sse(&[
                &data(
                    r#"{"choices":[{"index":0,"delta":{"content":"fine "}},{"index":1,"delta":{"content":"x TS//S"}}]}"#,
                ),
                &data(
                    r#"{"choices":[{"index":1,"delta":{"content":"CI y"}},{"index":0,"delta":{"content":"text"}}]}"#,
                ),
                DONE,
            ]),
            &[b"CI y"],
        ),
        case(
            "three choices, high index first, marker split over three events",
            sse(&[
                &data(r#"{"choices":[{"index":7,"delta":{"content":"(T"}}]}"#),
                &data(r#"{"choices":[{"index":2,"delta":{"content":"(ok)"}}]}"#),
                &data(r#"{"choices":[{"index":7,"delta":{"content":"S//SC"}}]}"#),
                &data(r#"{"choices":[{"index":0,"delta":{"content":"hello"}}]}"#),
                &data(r#"{"choices":[{"index":7,"delta":{"content":"I) tail"}}]}"#),
                DONE,
            ]),
            &[b"I) tail"],
        ),
        case(
            "tool-call arguments of one choice split around another choice",
            sse(&[
                &data(
                    r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\":\"TOP SE"}}]}}]}"#,
                ),
                &data(r#"{"choices":[{"index":1,"delta":{"content":"zzz"}}]}"#),
                &data(
                    r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"CRET//NOFORN\"}"}}]}}]}"#,
                ),
                DONE,
            ]),
            &[b"CRET//NOFORN"],
        ),
    ];
    assert_all_caught(&run(cases).await);
}

/// The other side of per-choice inspection: the end of one choice and the start of
/// the next are not one text, so they do not make a marker together (a false abort
/// would cut off a clean answer), unary or streamed.
#[tokio::test(flavor = "multi_thread")]
async fn text_of_different_choices_does_not_join_into_a_marker() {
    let up = common::upstream(|seen| {
        if String::from_utf8_lossy(&seen.body).contains("stream") {
            let mut r = Reply::sse(&[
                &data(r#"{"choices":[{"index":0,"delta":{"content":"TOP SE"}}]}"#),
                &data(r#"{"choices":[{"index":1,"delta":{"content":"CRET plans"}}]}"#),
                DONE,
            ]);
            r.pause = Duration::from_millis(5);
            r
        } else {
            json(
                r#"{"choices":[{"index":0,"message":{"content":"ends TOP SE"}},{"index":1,"message":{"content":"CRET starts"}}]}"#,
            )
        }
    })
    .await;
    let g = crate::support::gateway::start(&up.url(), &[], None);
    let unary = crate::support::gateway::send("POST", &g.url("/v1/chat"), &[OWNER], b"{}").await;
    assert_eq!(unary.status, 200, "{}", unary.text());
    assert!(unary.text().contains("CRET starts"));
    let streamed =
        crate::support::gateway::send("POST", &g.url("/v1/chat"), &[OWNER], br#"{"stream":true}"#)
            .await;
    assert_eq!(streamed.status, 200);
    assert!(
        streamed.text().contains("CRET plans"),
        "{}",
        streamed.text()
    );
    assert!(
        !streamed.text().contains("scope_drift"),
        "{}",
        streamed.text()
    );
}
