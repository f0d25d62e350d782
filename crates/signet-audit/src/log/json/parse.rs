//! The one strict JSON parser: every other reader here (scan, visit) drives it.
//!
//! Guarantees: exactly RFC 8259 (no duplicate keys, no trailing data, valid UTF-8,
//! nesting at most [`MAX_DEPTH`]); it never panics and never recurses deeper than
//! [`MAX_DEPTH`]; while reading it decides whether the text is in canonical form
//! (sorted keys, no whitespace, minimal escapes, canonical numbers).

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use super::scan::Members;
use super::text::{decode_escaped, skip_plain};
use super::write::python_float_repr;
use super::{MAX_DEPTH, Map, Number, ParseError, Value};

/// Parse a complete JSON text into a [`Value`]; returns whether it was canonical.
pub fn parse(bytes: &[u8]) -> Result<(Value, bool), ParseError> {
    let mut p = Parser::new(bytes);
    let v = p.value(0, true)?.unwrap_or(Value::Null);
    p.end()?;
    Ok((v, p.canonical))
}

/// Decode one JSON string literal (with quotes) such as a member value span.
pub fn parse_string(bytes: &[u8]) -> Result<String, ParseError> {
    let mut p = Parser::new(bytes);
    let s = p.string()?;
    p.end()?;
    Ok(s)
}

pub(super) struct Parser<'a> {
    pub(super) s: &'a [u8],
    pub(super) i: usize,
    pub(super) canonical: bool,
    /// The whole input as text when it is valid UTF-8 (checked once, word at a time):
    /// then strings need no check of their own; otherwise each string is checked, to
    /// report where.
    pub(super) text: Option<&'a str>,
    /// Keys of the objects being read, innermost last: each object uses the tail from
    /// the length it found on entry, so no object allocates a key list of its own.
    keys: Vec<Cow<'a, [u8]>>,
}

impl<'a> Parser<'a> {
    pub(super) fn new(s: &'a [u8]) -> Self {
        Parser {
            s,
            i: 0,
            canonical: true,
            text: std::str::from_utf8(s).ok(),
            keys: Vec::new(),
        }
    }
    pub(super) fn err(&self, what: &'static str) -> ParseError {
        ParseError { at: self.i, what }
    }
    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
            self.canonical = false;
        }
    }
    pub(super) fn end(&mut self) -> Result<(), ParseError> {
        self.ws();
        if self.i != self.s.len() {
            return Err(self.err("trailing data after the JSON value"));
        }
        Ok(())
    }
    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), ParseError> {
        self.ws();
        if self.peek() != Some(b) {
            return Err(self.err(what));
        }
        self.i += 1;
        Ok(())
    }
    fn lit(&mut self, word: &'static [u8]) -> Result<(), ParseError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    pub(super) fn value(&mut self, depth: usize, build: bool) -> Result<Option<Value>, ParseError> {
        self.ws();
        let v = match self.peek() {
            None => return Err(self.err("unexpected end of input")),
            Some(b'{') => return Ok(self.object(depth, build, None, None)?.0),
            Some(b'[') => return self.array(depth, build),
            Some(b'"') => {
                if !build {
                    self.string_raw()?;
                    return Ok(None);
                }
                Value::String(self.string()?)
            }
            Some(b't') => {
                self.lit(b"true")?;
                Value::Bool(true)
            }
            Some(b'f') => {
                self.lit(b"false")?;
                Value::Bool(false)
            }
            Some(b'n') => {
                self.lit(b"null")?;
                Value::Null
            }
            Some(b'-' | b'0'..=b'9') => {
                let span = self.number()?;
                if !build {
                    return Ok(None);
                }
                // The span holds only ASCII digits, signs, '.', 'e' and 'E'.
                Value::Number(Number(String::from_utf8_lossy(&self.s[span]).into_owned()))
            }
            Some(_) => return Err(self.err("unexpected character")),
        };
        Ok(build.then_some(v))
    }

    fn enter(&self, depth: usize) -> Result<usize, ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        Ok(depth + 1)
    }

    /// Parses an object. `spans` collects its members; `nested` names one member whose
    /// object value's members go to the second vector. Returns the value (when
    /// building) and whether the nested member was found.
    pub(super) fn object(
        &mut self,
        depth: usize,
        build: bool,
        mut spans: Option<&mut Members<'a>>,
        mut nested: Option<(&[u8], &mut Members<'a>)>,
    ) -> Result<(Option<Value>, bool), ParseError> {
        let depth = self.enter(depth)?;
        self.i += 1; // '{'
        let mut map = Map::new();
        let base = self.keys.len();
        let r = self.members(depth, build, &mut map, base, &mut spans, &mut nested);
        self.keys.truncate(base);
        let found = r?;
        Ok((build.then_some(Value::Object(map)), found))
    }

    /// The members of the object whose `{` was just read, up to its `}`; its keys so far
    /// are `self.keys[base..]`. Returns whether the `nested` member was found.
    fn members(
        &mut self,
        depth: usize,
        build: bool,
        map: &mut Map,
        base: usize,
        spans: &mut Option<&mut Members<'a>>,
        nested: &mut Option<(&[u8], &mut Members<'a>)>,
    ) -> Result<bool, ParseError> {
        let mut seen: Option<HashSet<Cow<'a, [u8]>>> = None;
        let mut found = false;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(false);
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected an object key"));
            }
            let kstart = self.i;
            let (content, escaped) = self.string_raw()?;
            let key: Cow<'a, [u8]> = if escaped {
                Cow::Owned(
                    decode_escaped(&self.s[content])
                        .map_err(|what| ParseError { at: kstart, what })?
                        .into_bytes(),
                )
            } else {
                Cow::Borrowed(&self.s[content])
            };
            let kspan = kstart..self.i;
            let keys = &self.keys[base..];
            if let Some(last) = keys.last()
                && key.as_ref() <= last.as_ref()
            {
                self.canonical = false;
            }
            let dup = match seen.as_mut() {
                Some(set) => !set.insert(key.clone()),
                None if keys.len() >= 16 => {
                    let mut set: HashSet<Cow<'a, [u8]>> = keys.iter().cloned().collect();
                    let dup = !set.insert(key.clone());
                    seen = Some(set);
                    dup
                }
                None => keys.contains(&key),
            };
            if dup {
                return Err(self.err("duplicate object key"));
            }
            self.expect(b':', "expected ':'")?;
            self.ws();
            let vstart = self.i;
            let is_nested = !found
                && self.peek() == Some(b'{')
                && nested.as_ref().is_some_and(|(k, _)| *k == key.as_ref());
            let v = if is_nested {
                found = true;
                let inner = nested.as_mut().map(|(_, m)| &mut **m);
                self.object(depth, build, inner, None)?.0
            } else {
                self.value(depth, build)?
            };
            let vspan = vstart..self.i;
            if let Some(sp) = spans.as_deref_mut() {
                sp.push((key.clone(), kspan, vspan));
            }
            if let Some(v) = v {
                map.insert(String::from_utf8_lossy(&key).into_owned(), v);
            }
            self.keys.push(key);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(found);
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize, build: bool) -> Result<Option<Value>, ParseError> {
        let depth = self.enter(depth)?;
        self.i += 1; // '['
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(build.then_some(Value::Array(items)));
        }
        loop {
            if let Some(v) = self.value(depth, build)? {
                items.push(v);
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(build.then_some(Value::Array(items)));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    /// Validates a number and returns its span.
    fn number(&mut self) -> Result<Range<usize>, ParseError> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let d = p.i;
            while let Some(b'0'..=b'9') = p.peek() {
                p.i += 1;
            }
            p.i - d
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = digits(self);
        if n == 0 {
            return Err(self.err("invalid number"));
        }
        if n > 1 && self.s[int_start] == b'0' {
            return Err(self.err("leading zero in number"));
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            float = true;
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            float = true;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        let text = &self.s[start..self.i];
        if float {
            let t = std::str::from_utf8(text).unwrap_or("");
            if python_float_repr(t).as_deref() != Some(t) {
                self.canonical = false;
            }
        } else if text == b"-0" {
            self.canonical = false;
        }
        Ok(start..self.i)
    }

    /// Validates a string literal at the cursor without decoding it: returns the span
    /// of its content (between the quotes) and whether it holds escapes.
    pub(super) fn string_raw(&mut self) -> Result<(Range<usize>, bool), ParseError> {
        self.i += 1; // opening quote
        let start = self.i;
        let mut escaped = false;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            match b {
                b'"' => break,
                0..=0x1f => return Err(self.err("raw control character in string")),
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'n' | b'r' | b't' | b'b' | b'f' => {}
                        b'/' => self.canonical = false,
                        b'u' => {
                            let hex_at = self.i;
                            let cp = self.hex4()?;
                            let lower = self.s[hex_at..hex_at + 4]
                                .iter()
                                .all(|c| !c.is_ascii_uppercase());
                            if !(cp < 0x20
                                && !matches!(cp, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)
                                && lower)
                            {
                                self.canonical = false;
                            }
                            if (0xd800..0xdc00).contains(&cp) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate"));
                                }
                            } else if (0xdc00..0xe000).contains(&cp) {
                                return Err(self.err("unpaired surrogate"));
                            }
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                _ => self.i = skip_plain(self.s, self.i + 1),
            }
        }
        let span = start..self.i;
        self.i += 1; // closing quote
        if self.text.is_none() && std::str::from_utf8(&self.s[span.clone()]).is_err() {
            return Err(ParseError {
                at: start,
                what: "invalid UTF-8 in string",
            });
        }
        Ok((span, escaped))
    }

    pub(super) fn string(&mut self) -> Result<String, ParseError> {
        let at = self.i;
        let (span, escaped) = self.string_raw()?;
        if escaped {
            decode_escaped(&self.s[span]).map_err(|what| ParseError { at, what })
        } else {
            Ok(String::from_utf8_lossy(&self.s[span]).into_owned())
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let mut v = 0u32;
        for &c in h {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\u escape"))?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::json::write_canonical;

    #[test]
    fn canonical_detection() {
        let canon: &[&[u8]] = &[
            br#"{"a":1,"b":[true,false,null],"c":{"d":"x\ny\u0001"}}"#,
            b"{\"f\":0.294,\"g\":1e-05,\"h\":\"caf\xc3\xa9\"}",
            br#"{}"#,
        ];
        for c in canon {
            let (v, ok) = parse(c).expect("parses");
            assert!(ok, "{}", String::from_utf8_lossy(c));
            let mut out = Vec::new();
            write_canonical(&v, &mut out);
            assert_eq!(&out[..], *c);
        }
        let not: &[&[u8]] = &[
            br#"{"b":1,"a":2}"#,
            br#"{"a": 1}"#,
            br#"{"a":"\u0041"}"#,
            br#"{"a":"\/"}"#,
            br#"{"a":"\u001F"}"#,
            br#"{"a":1E5}"#,
            br#"{"a":0.00001}"#,
            br#"{"a":-0}"#,
            br#"{"a":"\u000a"}"#,
        ];
        for c in not {
            let (_, ok) = parse(c).expect("parses");
            assert!(!ok, "{}", String::from_utf8_lossy(c));
        }
    }

    #[test]
    fn rejects_bad_json() {
        for bad in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"a":1} x"#,
            br#"{"a":01}"#,
            br#"{"a":"\ud800"}"#,
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\x01\"}",
            br#"{"a":1,}"#,
            br#"[1,2"#,
            br#""#,
            br#"{"a":tru}"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn many_keys_duplicate_detected() {
        let mut s = String::from("{");
        for i in 0..40 {
            s.push_str(&format!("\"k{i:02}\":1,"));
        }
        s.push_str("\"k05\":2}");
        assert!(parse(s.as_bytes()).is_err());
    }
}
