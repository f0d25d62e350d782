//! The example line in `docs/audit-format.md` is real: it verifies under the documented
//! key, is canonical, and is the same line the crate's own docs show.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use signet_audit::{HmacKey, LineView, json};

fn doc() -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/audit-format.md");
    std::fs::read_to_string(p).expect("docs/audit-format.md")
}

#[test]
fn documented_example_verifies_and_matches_crate_docs() {
    let doc = doc();
    let blocks: Vec<&str> = doc.split("```\n").skip(1).step_by(2).collect();
    let line = blocks[0].trim_end_matches('\n');
    let payload = blocks[1].trim_end_matches('\n');
    let key = HmacKey::from_hex(
        "k1",
        "d6237acac019c57a12c54147b76f9e38990931ae82ee0e13a82bb3caf803f05b",
    )
    .expect("key");
    let view = LineView::parse(line.as_bytes()).expect("example parses");
    assert!(view.canonical);
    assert_eq!(view.payload(line.as_bytes()), payload.as_bytes());
    let tag = key.mac(&[payload.as_bytes()]);
    assert!(tag.ct_eq_hex(&view.hmac));
    assert!(doc.contains(&format!("is `{}`", tag.to_hex())));
    let (_, canonical) = json::parse(payload.as_bytes()).expect("payload json");
    assert!(canonical);
    let lib = include_str!("../src/lib.rs");
    assert!(
        lib.contains(line),
        "lib.rs docs must show the same example line"
    );
}
