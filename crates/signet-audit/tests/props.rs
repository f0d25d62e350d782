//! Property tests: parsers never panic, and write-then-verify round-trips arbitrary
//! entries.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use proptest::prelude::*;
use signet_audit::entry::{Decision, EntryDraft, OwnerType, seal};
use signet_audit::json::{self, Map, Value};
use signet_audit::key::{HmacKey, KeyRing};
use signet_audit::line::{LineView, parse_entry};
use signet_audit::verify::verify;

fn key() -> HmacKey {
    HmacKey::from_hex("k1", &"42".repeat(32)).expect("key")
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6).prop_map(Value::Object),
        ]
    })
}

fn metadata() -> impl Strategy<Value = Map> {
    prop::collection::btree_map("[a-zA-Z0-9 éü\u{1F600}\n\"\\\\]{1,12}", value(), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = json::parse(&bytes);
        let _ = json::scan_object(&bytes);
        let _ = LineView::parse(&bytes);
        let mut ring = KeyRing::new();
        ring.add(key()).expect("ring");
        let _ = verify(&bytes[..], &ring).expect("in-memory read cannot fail");
    }

    #[test]
    fn json_like_text_never_panics(s in "[\\[\\]{}\",:0-9a-z\\\\ .eE+-]{0,200}") {
        if let Ok((v, true)) = json::parse(s.as_bytes()) {
            let mut out = Vec::new();
            json::write_canonical(&v, &mut out);
            prop_assert_eq!(out, s.as_bytes().to_vec());
        }
    }

    #[test]
    fn write_then_verify_round_trips(
        metas in prop::collection::vec(metadata(), 1..5),
        reason in any::<String>(),
        owner in any::<String>(),
        chain in prop::collection::vec(any::<String>(), 0..3),
        ts in any::<u64>(),
    ) {
        let mut prev = String::new();
        let mut log = Vec::new();
        for (i, m) in metas.iter().enumerate() {
            let mut d = EntryDraft::new("prop.test", Decision::Redact, &reason);
            d.metadata = m.clone();
            d.owner_id = owner.clone();
            d.owner_type = OwnerType::Agent;
            d.approval_chain = chain.clone();
            d.ts_ns = ts;
            let s = seal(&d, i as u64, &prev, &key()).expect("seal");
            prev = s.hmac.to_hex();
            let body = &s.line[..s.line.len() - 1];
            let (_, canonical) = json::parse(body).expect("own line parses");
            prop_assert!(canonical);
            let back = parse_entry(body).expect("entry");
            let back_meta = back.get("metadata").and_then(Value::as_object).expect("meta");
            for (k, v) in m {
                prop_assert_eq!(back_meta.get(k), Some(v));
            }
            prop_assert_eq!(back.get("reason").and_then(Value::as_str), Some(reason.as_str()));
            prop_assert_eq!(back.get("owner_id").and_then(Value::as_str), Some(owner.as_str()));
            log.extend_from_slice(&s.line);
        }
        let mut ring = KeyRing::new();
        ring.add(key()).expect("ring");
        let r = verify(&log[..], &ring).expect("verify");
        prop_assert!(r.is_intact(), "{:?}", r.breaks);
        prop_assert_eq!(r.entries, metas.len() as u64);
    }
}
