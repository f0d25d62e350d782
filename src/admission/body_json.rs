//! Reading JSON request bodies in place: where the string values are, and the output
//! budget (`max_tokens`) the request declares.
//!
//! Guarantees:
//! - [`string_values`] first validates the whole document with the strict parser of
//!   `signet_audit::json` (RFC 8259, duplicate keys and bad escapes refused, depth
//!   bounded), then reports the byte spans of the string values (quotes included)
//!   whose path the caller selects, in document order. Keys are compared decoded, so
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
    json::parse(doc)?;
    let mut w = Walker {
        s: doc,
        i: 0,
        path: Vec::new(),
        out: Vec::new(),
        select: &select,
    };
    // The document is valid, so the walk cannot fail; an unexpected stop only means
    // fewer spans, never a panic.
    let _ = w.value();
    Ok(w.out)
}

struct Walker<'a, F> {
    s: &'a [u8],
    i: usize,
    path: Vec<Seg>,
    out: Vec<Range<usize>>,
    select: &'a F,
}

impl<F: Fn(&[Seg]) -> bool> Walker<'_, F> {
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
        self.s.get(self.i).copied()
    }

    /// Skips a string literal at the cursor, returning its span.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.s.get(self.i)? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(start..self.i);
                }
                _ => self.i += 1,
            }
        }
    }

    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'{' => {
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    let k = self.string()?;
                    let key = json::parse_string(self.s.get(k)?).ok()?;
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.path.push(Seg::Key(key));
                    self.value()?;
                    self.path.pop();
                    match self.peek()? {
                        b',' => {
                            self.i += 1;
                            self.peek()?;
                        }
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                for n in 0.. {
                    self.path.push(Seg::Index(n));
                    self.value()?;
                    self.path.pop();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
                None
            }
            b'"' => {
                let span = self.string()?;
                if (self.select)(&self.path) {
                    self.out.push(span);
                }
                Some(())
            }
            _ => {
                while let Some(b) = self.s.get(self.i) {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                Some(())
            }
        }
    }
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
