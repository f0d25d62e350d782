//! The token visitor: the gateway's body inspection walks request and response JSON
//! with it, token by token, without building a tree. The audit log never uses it.
//!
//! Guarantees: see [`visit`]: the text is validated by the one parser first, and
//! nothing is handed over for invalid text.

use std::borrow::Cow;
use std::ops::Range;

use super::ParseError;
use super::parse::Parser;
use super::text::{decode_escaped, skip_plain};

/// One token of a JSON text, in document order (see [`visit`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    BeginObject,
    EndObject,
    BeginArray,
    EndArray,
    /// An object member's key, escapes resolved.
    Key(Cow<'a, str>),
    /// A string value, escapes resolved.
    Str(Cow<'a, str>),
    /// A number, as written.
    Number(&'a str),
    /// `true`, `false` or `null`.
    Literal(&'a str),
}

/// Validates `bytes` exactly as strictly as [`parse`] (one value, no duplicate keys,
/// depth at most 64, UTF-8, escapes, no trailing data), then hands every token to `f`
/// in document order, with its byte span (a string's includes its quotes; a bracket's
/// is the bracket), without building a tree: strings without escapes are borrowed.
/// Nothing is handed over when the text is invalid. Returns whether it was canonical.
pub fn visit<'a>(
    bytes: &'a [u8],
    f: &mut dyn FnMut(Token<'a>, Range<usize>),
) -> Result<bool, ParseError> {
    let mut p = Parser::new(bytes);
    p.value(0, false)?;
    p.end()?;
    // Valid JSON is valid UTF-8 (strings are checked, everything else is ASCII), so
    // `text` is there; tokens are sliced from it without checking each one again.
    let text = p.text.ok_or(ParseError {
        at: 0,
        what: "invalid UTF-8",
    })?;
    let mut w = Walk {
        s: bytes,
        t: text,
        i: 0,
    };
    w.value(f);
    Ok(p.canonical)
}

/// Walks a text the [`Parser`] has validated; it never needs to report an error.
struct Walk<'a> {
    s: &'a [u8],
    /// `s` as text.
    t: &'a str,
    i: usize,
}

impl<'a> Walk<'a> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The string at the cursor, decoded, and its span with the quotes.
    fn string(&mut self) -> (Cow<'a, str>, Range<usize>) {
        let open = self.i;
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i = skip_plain(self.s, self.i);
            match self.s.get(self.i) {
                Some(b'\\') => {
                    escaped = true;
                    self.i += 2;
                }
                Some(b'"') | None => break,
                Some(_) => self.i += 1, // unreachable in validated text
            }
        }
        let end = self.i.min(self.s.len());
        self.i += 1; // closing quote
        let text = if escaped {
            Cow::Owned(decode_escaped(&self.s[start..end]).unwrap_or_default())
        } else {
            // Between quotes, so on character boundaries: a slice, not a UTF-8 check.
            Cow::Borrowed(self.t.get(start..end).unwrap_or_default())
        };
        (text, open..self.i.min(self.s.len()))
    }

    fn scalar(&mut self) -> (&'a str, Range<usize>) {
        let start = self.i;
        while let Some(b) = self.s.get(self.i) {
            if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
        }
        let text = self.t.get(start..self.i).unwrap_or_default();
        (text, start..self.i)
    }

    /// One bracket: hands `t` over with the bracket's span and steps past it.
    fn bracket(&mut self, t: Token<'a>, f: &mut dyn FnMut(Token<'a>, Range<usize>)) {
        f(t, self.i..self.i + 1);
        self.i += 1;
    }

    fn value(&mut self, f: &mut dyn FnMut(Token<'a>, Range<usize>)) {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.bracket(Token::BeginObject, f);
                loop {
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b'}') | None => break,
                        Some(b',') => self.i += 1,
                        Some(_) => {
                            let (k, span) = self.string();
                            f(Token::Key(k), span);
                            self.ws();
                            self.i += 1; // ':'
                            self.value(f);
                        }
                    }
                }
                self.bracket(Token::EndObject, f);
            }
            Some(b'[') => {
                self.bracket(Token::BeginArray, f);
                loop {
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b']') | None => break,
                        Some(b',') => self.i += 1,
                        Some(_) => self.value(f),
                    }
                }
                self.bracket(Token::EndArray, f);
            }
            Some(b'"') => {
                let (v, span) = self.string();
                f(Token::Str(v), span);
            }
            Some(b't' | b'f' | b'n') => {
                let (v, span) = self.scalar();
                f(Token::Literal(v), span);
            }
            Some(_) => {
                let (v, span) = self.scalar();
                f(Token::Number(v), span);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::json::{Value, parse, parse_string};

    fn tokens_of(v: &Value, out: &mut Vec<Token<'static>>) {
        match v {
            Value::Null => out.push(Token::Literal("null")),
            Value::Bool(true) => out.push(Token::Literal("true")),
            Value::Bool(false) => out.push(Token::Literal("false")),
            Value::Number(n) => out.push(Token::Number(n.as_str().to_owned().leak())),
            Value::String(s) => out.push(Token::Str(Cow::Owned(s.clone()))),
            Value::Array(items) => {
                out.push(Token::BeginArray);
                items.iter().for_each(|x| tokens_of(x, out));
                out.push(Token::EndArray);
            }
            Value::Object(m) => {
                out.push(Token::BeginObject);
                for (k, x) in m {
                    out.push(Token::Key(Cow::Owned(k.clone())));
                    tokens_of(x, out);
                }
                out.push(Token::EndObject);
            }
        }
    }

    /// `visit` hands over exactly the tree `parse` builds (keys in document order, so
    /// the inputs here are sorted), and nothing for what `parse` refuses.
    #[test]
    fn visit_yields_the_parsed_tree_token_by_token() {
        let texts: &[&str] = &[
            r#"{"a":[1,-2.5e3,true,false,null,"x"],"b":{"c":"d\"e\\f\u00e9\ud83d\ude00"},"e":[]}"#,
            " [ {\"k\" : \"v\" } , [ [ ] ] , \"\" , 0 ] ",
            r#""just a string""#,
            "42",
            r#"{"choices":[{"delta":{"content":"TOP SE"},"index":0},{"delta":{"content":"é"},"index":1}]}"#,
        ];
        for t in texts {
            let (v, _) = parse(t.as_bytes()).unwrap();
            let mut want = Vec::new();
            tokens_of(&v, &mut want);
            let mut got = Vec::new();
            visit(t.as_bytes(), &mut |tok, span| {
                let raw = &t.as_bytes()[span.clone()];
                match &tok {
                    Token::Key(k) | Token::Str(k) => {
                        assert_eq!(parse_string(raw).unwrap(), k.as_ref(), "{t}: {span:?}")
                    }
                    Token::Number(n) | Token::Literal(n) => assert_eq!(raw, n.as_bytes()),
                    Token::BeginObject => assert_eq!(raw, b"{"),
                    Token::EndObject => assert_eq!(raw, b"}"),
                    Token::BeginArray => assert_eq!(raw, b"["),
                    Token::EndArray => assert_eq!(raw, b"]"),
                }
                got.push(tok)
            })
            .unwrap();
            let got: Vec<Token<'static>> = got
                .into_iter()
                .map(|tok| match tok {
                    Token::Key(k) => Token::Key(Cow::Owned(k.into_owned())),
                    Token::Str(k) => Token::Str(Cow::Owned(k.into_owned())),
                    Token::Number(n) => Token::Number(n.to_owned().leak()),
                    Token::Literal(n) => Token::Literal(n.to_owned().leak()),
                    other => other,
                })
                .collect();
            assert_eq!(got, want, "{t}");
        }
        for bad in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":"\ud800"}"#,
            "[1,]",
            "{} x",
            "\"\u{1}\"",
        ] {
            let mut n = 0;
            assert!(visit(bad.as_bytes(), &mut |_, _| n += 1).is_err(), "{bad}");
            assert_eq!(n, 0, "{bad}: tokens handed over for invalid text");
        }
    }
}
