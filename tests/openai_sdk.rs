//! The official `openai` Python SDK drives the gateway, unary and streaming: answers
//! arrive intact, each carries a receipt that verifies against its log entry, and the
//! log verifies.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use signet_audit::key::{HmacKey, KeyRing};
use signet_audit::receipt::{Receipt, Verifier, verify_line};
use support::gateway::{self as gwt, Reply, SECRET};

const COMPLETION: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}"#;

fn chunk(content: &str, finish: &str) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

const SCRIPT: &str = r#"
import sys
from openai import OpenAI
base = sys.argv[1]
client = OpenAI(base_url=base + "/v1", api_key="caller-key",
                default_headers={"X-Commit-Owner": "human:sdk@example.com"}, max_retries=0)
raw = client.chat.completions.with_raw_response.create(
    model="m", messages=[{"role": "user", "content": "hi"}])
print("UNARY_RECEIPT", raw.headers.get("x-signet-receipt"))
print("UNARY_TEXT", raw.parse().choices[0].message.content)
with client.chat.completions.with_streaming_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True) as resp:
    print("STREAM_ID", resp.headers.get("x-signet-correlation-id"))
    text = "".join((c.choices[0].delta.content or "") for c in resp.parse() if c.choices)
print("STREAM_TEXT", text)
"#;

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_unary_and_streaming_through_the_gateway() {
    let up = gwt::upstream(|seen| {
        if String::from_utf8_lossy(&seen.body).contains("\"stream\":true") {
            Reply::sse(&[
                &chunk("Hel", "null"),
                &chunk("lo!", "null"),
                &chunk("", "\"stop\""),
                "data: [DONE]\n\n",
            ])
        } else {
            Reply::json(COMPLETION)
        }
    })
    .await;
    let g = gwt::start(&up.url(), &[], None);
    let base = format!("http://{}", g.addr);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(support::python())
            .arg("-c")
            .arg(SCRIPT)
            .arg(base)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |k: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap_or_else(|| panic!("{k} missing in {stdout}"))
            .to_owned()
    };
    assert_eq!(field("UNARY_TEXT"), "Hello from upstream.");
    assert_eq!(field("STREAM_TEXT"), "Hello!");
    let lines = g.wait_lines(2);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let receipt = Receipt::parse(&field("UNARY_RECEIPT")).expect("receipt");
    let line = lines
        .iter()
        .find(|l| l.contains(receipt.entry_id()))
        .expect("entry for receipt");
    let mut ring = KeyRing::new();
    ring.add(HmacKey::from_hex("k1", SECRET).unwrap()).unwrap();
    verify_line(&receipt, line.as_bytes(), &Verifier::Hmac(&ring)).expect("receipt verifies");
    let stream_line = lines
        .iter()
        .find(|l| l.contains(&field("STREAM_ID")))
        .expect("stream entry");
    assert!(
        stream_line.contains("\"finish_reason\":\"stop\"")
            && stream_line.contains("sdk@example.com"),
        "{stream_line}"
    );
    assert_eq!(g.verify().0, Some(0));
}
