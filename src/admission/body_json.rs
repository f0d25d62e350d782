//! Reading JSON request bodies in place: where the string values are, and the output
//! budget (`max_tokens`) the request declares.
//!
//! Guarantees:
//! - [`string_values`] walks the document with `signet_audit::json::visit`, which
//!   first validates it with the strict parser (RFC 8259, duplicate keys and bad
//!   escapes refused, depth bounded), then reports the byte spans of the string values
//!   (quotes included) whose path the caller selects, in document order. Keys are compared decoded, so
//!   `"mess\u0061ges"` is `messages`. Nothing is rewritten.
//! - [`max_tokens`] reads only top-level integers and never fails: anything it does
//!   not understand is `None`.

use std::ops::Range;

use signet_audit::json;

/// One step of a path into a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Spans of the string values whose path `select` accepts; `Err` when `doc` is not
/// strict JSON.
pub fn string_values(
    doc: &[u8],
    select: impl Fn(&[Seg]) -> bool,
) -> Result<Vec<Range<usize>>, json::ParseError> {
    use json::Token;
    let mut path: Vec<Seg> = Vec::new();
    // One per open container: `Some(next index)` for an array, `None` for an object.
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut out = Vec::new();
    json::visit(doc, &mut |t, span| {
        let starts_value = !matches!(t, Token::Key(_) | Token::EndObject | Token::EndArray);
        if starts_value && let Some(Some(n)) = open.last_mut() {
            path.push(Seg::Index(*n));
            *n += 1;
        }
        let ends_value = match t {
            Token::Key(k) => {
                path.push(Seg::Key(k.into_owned()));
                false
            }
            Token::BeginObject => {
                open.push(None);
                false
            }
            Token::BeginArray => {
                open.push(Some(0));
                false
            }
            Token::EndObject | Token::EndArray => {
                open.pop();
                true
            }
            Token::Str(_) => {
                if select(&path) {
                    out.push(span);
                }
                true
            }
            Token::Number(_) | Token::Literal(_) => true,
        };
        // A finished value inside a container drops the key or index that led to it.
        if ends_value && !open.is_empty() {
            path.pop();
        }
    })?;
    Ok(out)
}

/// The output budget a JSON request declares: the smallest of the top-level
/// `max_tokens`, `max_completion_tokens` and `max_output_tokens` that are
/// non-negative integers.
pub fn max_tokens(body: &[u8]) -> Option<u64> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let scan = json::scan_object(body).ok()?;
    ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .filter_map(|k| scan.get(k))
        .filter_map(|span| {
            let text = std::str::from_utf8(body.get(span)?).ok()?;
            text.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| text.parse::<u64>().ok())?
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(doc: &[u8], select: impl Fn(&[Seg]) -> bool) -> Vec<String> {
        string_values(doc, select)
            .unwrap()
            .into_iter()
            .map(|r| json::parse_string(&doc[r]).unwrap())
            .collect()
    }

    #[test]
    fn finds_selected_strings_in_order() {
        let doc = br#" { "model" : "m", "mess\u0061ges": [ {"role":"user","content":"a\"b"},
            {"role":"user","content":[{"type":"text","text":"t1"},{"type":"image_url","image_url":{"url":"u"}}]} ],
            "n": [1, -2.5e3, true, null, {}, []] } "#;
        let all = texts(doc, |_| true);
        assert_eq!(
            all,
            ["m", "user", "a\"b", "user", "text", "t1", "image_url", "u"]
        );
        let contents = texts(
            doc,
            |p| matches!(p, [Seg::Key(m), Seg::Index(_), Seg::Key(c)] if m == "messages" && c == "content"),
        );
        assert_eq!(contents, ["a\"b"]);
        let parts = texts(
            doc,
            |p| matches!(p, [Seg::Key(_), Seg::Index(1), Seg::Key(_), Seg::Index(0), Seg::Key(t)] if t == "text"),
        );
        assert_eq!(parts, ["t1"]);
    }

    #[test]
    fn rejects_invalid_json() {
        for bad in [
            &br#"{"a":1,"a":2}"#[..],
            b"{",
            b"{\"a\":\"\\x\"}",
            b"[1,]",
            b"{\"a\":1} x",
        ] {
            assert!(
                string_values(bad, |_| true).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let top = string_values(b"\"top\"", |_| true).unwrap();
        assert_eq!((top.len(), top.first()), (1, Some(&(0..5))));
    }

    #[test]
    fn reads_max_tokens() {
        assert_eq!(
            max_tokens(br#"{"max_tokens":100,"messages":[]}"#),
            Some(100)
        );
        assert_eq!(
            max_tokens(br#" {"max_tokens":100,"max_completion_tokens":40}"#),
            Some(40)
        );
        assert_eq!(max_tokens(br#"{"max_output_tokens":0}"#), Some(0));
        for none in [
            &br#"{"max_tokens":-1}"#[..],
            br#"{"max_tokens":1.5}"#,
            br#"{"max_tokens":"100"}"#,
            br#"{"max_tokens":1e3}"#,
            br#"{"max_tokens":99999999999999999999999}"#,
            br#"{"nested":{"max_tokens":5}}"#,
            br#"[{"max_tokens":5}]"#,
            b"max_tokens=5",
            b"",
        ] {
            assert_eq!(max_tokens(none), None, "{}", String::from_utf8_lossy(none));
        }
    }
}
