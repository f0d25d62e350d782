//! What text a response body carries, split for the inspectors (the Unicode folds the
//! checks share are in [`crate::fold`]).
//!
//! Guarantees:
//! - [`split_for_inspection`] decodes JSON (escapes resolved) into the generated
//!   content (strings under [`CONTENT_KEYS`], concatenated, so text split across SSE
//!   events joins up; the `scope_drift` length cap counts it) and the rest (every other
//!   string and every key), with the generated text of each element of a top-level
//!   `choices` array kept apart per choice `index`; it refuses something that looks
//!   like JSON but is not strict JSON; other text is taken as it is (invalid UTF-8 as
//!   U+FFFD). JSON is validated by the same strict parser as everything else, then
//!   walked token by token ([`json::visit`]): no tree is built per SSE event.

use std::borrow::Cow;

use signet_audit::json;

/// Keys whose string values are generated content: concatenated without separators
/// across SSE events, so text split between events joins up for inspection.
pub const CONTENT_KEYS: &[&str] = &[
    "content",
    "text",
    "arguments",
    "partial_json",
    "refusal",
    "reasoning_content",
    "thinking",
    "delta",
];

/// A payload split for inspection: `content` (strings under [`CONTENT_KEYS`], in
/// document order, concatenated) and `rest` (every other string value and every
/// object key, envelope fields included, one per line). Generated text inside the
/// top-level `choices` array goes to `choices` instead, grouped by each choice's
/// `index` (its position when `index` is not an integer): with `n > 1` every choice is
/// its own text, streamed interleaved, and must be inspected as such.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub content: String,
    /// `(choice index, its generated text)`, in order of first appearance.
    pub choices: Vec<(u64, String)>,
    pub rest: String,
    /// The first string `finish_reason` in the document (OpenAI-style), for the entry.
    pub finish_reason: Option<String>,
    /// The payload was (strict) JSON; `false` for text taken as it is.
    pub json: bool,
}

/// Splits a body or SSE `data` payload for inspection. JSON is decoded (escapes
/// resolved); text that is not JSON is taken as it is. Something that looks like JSON
/// (`{` or `[` first) but is not strict JSON is refused: its escapes cannot be trusted
/// to be read the way a client would read them.
pub fn split_for_inspection(bytes: &[u8]) -> Result<Split, &'static str> {
    let mut b = SplitBuilder::default();
    match json::visit(bytes, &mut |t, _| b.token(t)) {
        Ok(_) => Ok(Split {
            json: true,
            ..b.out
        }),
        Err(_) if looks_like_json(bytes) => Err("payload looks like JSON but is not valid JSON"),
        Err(_) => Ok(Split {
            content: String::from_utf8_lossy(bytes).into_owned(),
            ..Split::default()
        }),
    }
}

/// One open object or array while building a [`Split`] from tokens.
struct Frame<'a> {
    object: bool,
    /// Objects: the member being read. Arrays: the key the array sits under (array
    /// elements take their parent's key, so `content: [..]` parts are content).
    key: Option<Cow<'a, str>>,
}

/// The choice being read: an element of the top-level `choices` array.
struct Choice {
    /// Its `index` member, when it is an integer.
    index: Option<u64>,
    position: u64,
    content: String,
}

/// Builds a [`Split`] from [`json::visit`] tokens, without a tree.
#[derive(Default)]
struct SplitBuilder<'a> {
    out: Split,
    stack: Vec<Frame<'a>>,
    /// Elements of the top-level `choices` array seen so far.
    choices_seen: u64,
    choice: Option<Choice>,
}

impl<'a> SplitBuilder<'a> {
    /// The key a value at the current position sits under.
    fn key(&self) -> Option<&str> {
        self.stack.last().and_then(|f| f.key.as_deref())
    }

    /// Inside the top-level `choices` array itself (its elements start here).
    fn in_choices_array(&self) -> bool {
        self.stack.len() == 2
            && !self.stack[1].object
            && self.stack[0].object
            && self.stack[1].key.as_deref() == Some("choices")
    }

    fn token(&mut self, t: json::Token<'a>) {
        use json::Token;
        if self.in_choices_array() && !matches!(t, Token::EndArray) {
            // A new element of `choices`.
            self.choice = Some(Choice {
                index: None,
                position: self.choices_seen,
                content: String::new(),
            });
            self.choices_seen += 1;
        }
        match t {
            Token::BeginObject | Token::BeginArray => {
                let key = if matches!(t, Token::BeginArray) {
                    self.key().map(|k| Cow::Owned(k.to_owned()))
                } else {
                    None
                };
                self.stack.push(Frame {
                    object: matches!(t, Token::BeginObject),
                    key,
                });
            }
            Token::EndObject | Token::EndArray => {
                self.stack.pop();
            }
            Token::Key(k) => {
                self.out.rest.push_str(&k);
                self.out.rest.push('\n');
                if let Some(top) = self.stack.last_mut() {
                    top.key = Some(k);
                }
            }
            Token::Str(v) => {
                let key = self.key();
                let finish = key == Some("finish_reason");
                let content = key.is_some_and(|k| CONTENT_KEYS.contains(&k));
                if finish && self.out.finish_reason.is_none() {
                    self.out.finish_reason = Some(v.clone().into_owned());
                }
                if content {
                    match self.choice.as_mut() {
                        Some(c) => c.content.push_str(&v),
                        None => self.out.content.push_str(&v),
                    }
                } else {
                    self.out.rest.push_str(&v);
                    self.out.rest.push('\n');
                }
            }
            Token::Number(n) => {
                // `choices[i].index`: the choice's own member, not a nested one.
                if self.stack.len() == 3
                    && self.key() == Some("index")
                    && let Some(c) = self.choice.as_mut()
                {
                    c.index = n.parse().ok();
                }
            }
            Token::Literal(_) => {}
        }
        // The element of `choices` just ended (a scalar, or its closing bracket).
        if self.in_choices_array()
            && let Some(c) = self.choice.take()
        {
            let index = c.index.unwrap_or(c.position);
            match self.out.choices.iter_mut().find(|(i, _)| *i == index) {
                Some((_, text)) => text.push_str(&c.content),
                None => self.out.choices.push((index, c.content)),
            }
        }
    }
}

/// `{…`, or `[` followed by something a JSON value starts with (so `[DONE]` and
/// `[INFO] …` stay text).
fn looks_like_json(bytes: &[u8]) -> bool {
    let mut it = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace());
    match it.next() {
        Some(b'{') => true,
        Some(b'[') => matches!(
            it.next(),
            Some(b'{' | b'[' | b'"' | b']' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_and_rest_are_split() {
        let body = br#"{"id":"chatcmpl-1","model":"m",
            "choices":[{"message":{"role":"assistant","content":"hello\nworld"},"finish_reason":"stop"}]}"#;
        let s = split_for_inspection(body).expect("json");
        assert_eq!(s.choices, vec![(0, "hello\nworld".to_owned())]);
        assert!(
            s.rest.contains("chatcmpl-1")
                && s.rest.contains("role")
                && s.rest.contains("assistant")
        );
        // Two choices are two texts: they do not join.
        let sse = br#"{"choices":[{"delta":{"content":"SEC"}},{"delta":{"content":"RET"}}]}"#;
        assert_eq!(
            split_for_inspection(sse).expect("json").choices,
            vec![(0, "SEC".to_owned()), (1, "RET".to_owned())]
        );
        let esc = br#"{"text":"\u0053ECRET","n":5}"#;
        assert_eq!(split_for_inspection(esc).expect("json").content, "SECRET");
    }

    #[test]
    fn non_json_is_text_and_broken_json_is_refused() {
        assert_eq!(
            split_for_inspection(b"[DONE]").expect("text").content,
            "[DONE]"
        );
        assert_eq!(
            split_for_inspection(b"plain \xff text")
                .expect("text")
                .content,
            "plain \u{fffd} text"
        );
        assert!(split_for_inspection(br#"{"a":1,"a":2}"#).is_err());
        assert!(split_for_inspection(b" [1,").is_err());
    }

    #[test]
    fn choices_are_split_by_index_and_the_rest_stays_framing() {
        let body = br#"{"id":"c1","choices":[{"index":3,"delta":{"content":"b1"},"finish_reason":null},{"delta":{"content":"p1"}},{"index":3,"delta":{"tool_calls":[{"function":{"arguments":"b2"}}]},"finish_reason":"stop"}],"text":"top"}"#;
        let s = split_for_inspection(body).unwrap();
        assert_eq!(s.content, "top");
        // By `index`; an element without one counts by its position.
        assert_eq!(
            s.choices,
            vec![(3, "b1b2".to_owned()), (1, "p1".to_owned())]
        );
        assert_eq!(s.finish_reason.as_deref(), Some("stop"));
        assert!(
            s.rest.contains("choices\n") && s.rest.contains("index\n") && s.rest.contains("c1\n")
        );
        assert!(!s.rest.contains("b1") && !s.rest.contains("p1"));
    }

    /// The tree-building split this module used before `json::visit`, kept as an
    /// oracle: same content, choices, rest and finish_reason on inputs whose keys are
    /// in sorted order (the tree sorts them; the token walk keeps document order).
    mod oracle {
        use signet_audit::json::{self, Value};

        use super::super::{CONTENT_KEYS, Split};

        pub fn split(bytes: &[u8]) -> Split {
            let (v, _) = json::parse(bytes).expect("valid");
            let mut s = Split {
                json: true,
                ..Split::default()
            };
            match &v {
                Value::Object(m) => top(m, &mut s),
                _ => collect(&v, None, &mut s),
            }
            s
        }

        fn top(members: &json::Map, out: &mut Split) {
            for (k, x) in members {
                out.rest.push_str(k);
                out.rest.push('\n');
                match x {
                    Value::Array(items) if k == "choices" => {
                        for (pos, item) in items.iter().enumerate() {
                            let index = match item {
                                Value::Object(m) => match m.get("index") {
                                    Some(Value::Number(n)) => n.as_u64(),
                                    _ => None,
                                },
                                _ => None,
                            }
                            .unwrap_or(pos as u64);
                            let mut one = Split::default();
                            collect(item, Some(k), &mut one);
                            out.rest.push_str(&one.rest);
                            if out.finish_reason.is_none() {
                                out.finish_reason = one.finish_reason;
                            }
                            match out.choices.iter_mut().find(|(i, _)| *i == index) {
                                Some((_, text)) => text.push_str(&one.content),
                                None => out.choices.push((index, one.content)),
                            }
                        }
                    }
                    _ => collect(x, Some(k), out),
                }
            }
        }

        fn collect(v: &Value, key: Option<&str>, out: &mut Split) {
            match v {
                Value::String(s) => {
                    if key == Some("finish_reason") && out.finish_reason.is_none() {
                        out.finish_reason = Some(s.clone());
                    }
                    if key.is_some_and(|k| CONTENT_KEYS.contains(&k)) {
                        out.content.push_str(s);
                    } else {
                        out.rest.push_str(s);
                        out.rest.push('\n');
                    }
                }
                Value::Array(items) => items.iter().for_each(|x| collect(x, key, out)),
                Value::Object(members) => {
                    for (k, x) in members {
                        out.rest.push_str(k);
                        out.rest.push('\n');
                        collect(x, Some(k), out);
                    }
                }
                _ => {}
            }
        }
    }

    /// Random JSON with sorted keys drawn from the names that matter here.
    fn random_json(seed: &mut u64, depth: u32, out: &mut String) {
        let mut next = |n: u64| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed % n
        };
        const KEYS: &[&str] = &[
            "arguments",
            "choices",
            "content",
            "delta",
            "finish_reason",
            "id",
            "index",
            "message",
            "text",
            "tool_calls",
            "x",
        ];
        let kind = if depth == 0 { next(4) } else { next(7) };
        match kind {
            0 => {
                out.push_str(["\"TOP \"", "\"SE\\u0043RET\"", "\"\"", "\"stop\""][next(4) as usize])
            }
            1 => out.push_str(["0", "1", "7", "-3", "2.5", "1e2"][next(6) as usize]),
            2 => out.push_str(["true", "null"][next(2) as usize]),
            3 => out.push_str("\"plain\""),
            4 | 5 => {
                out.push('{');
                let mut keys: Vec<&str> = (0..next(4))
                    .map(|_| KEYS[next(KEYS.len() as u64) as usize])
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("\"{k}\":"));
                    random_json(seed, depth - 1, out);
                }
                out.push('}');
            }
            _ => {
                out.push('[');
                for i in 0..next(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    random_json(seed, depth - 1, out);
                }
                out.push(']');
            }
        }
    }

    #[test]
    fn token_split_matches_the_tree_split_on_random_documents() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut compared = 0;
        for _ in 0..20_000 {
            let mut doc = String::new();
            random_json(&mut seed, 5, &mut doc);
            let got = split_for_inspection(doc.as_bytes()).expect("valid JSON");
            assert_eq!(got, oracle::split(doc.as_bytes()), "{doc}");
            compared += usize::from(doc.contains("choices"));
        }
        assert!(compared > 500, "too few documents with choices: {compared}");
    }
}
