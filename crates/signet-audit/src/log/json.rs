//! Strict JSON for audit lines: one parser, one canonical writer.
//!
//! Guarantees:
//! - The parser accepts exactly RFC 8259 JSON, rejects duplicate object keys, trailing
//!   data, invalid UTF-8 and nesting deeper than [`MAX_DEPTH`]; it never panics.
//! - While parsing it decides whether the bytes are in *canonical form* (signet 0.1 /
//!   Python `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`):
//!   keys sorted by code point, no whitespace, the minimal escapes, integers without
//!   leading zeros or `-0`, floats exactly as Python's `repr` writes them.
//! - Numbers keep their original text ([`Number`]), so floats that Python wrote are
//!   never rewritten. [`Number`] values built by this crate are integers only.
//! - [`write_canonical`] of a parsed canonical value reproduces the input bytes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 64;

/// A JSON object with keys in canonical (code point) order.
pub type Map = BTreeMap<String, Value>;

/// A parsed or constructed JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// A JSON number kept as its validated text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number(String);

impl Number {
    /// The number's text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// True when the text is an integer (no fraction, no exponent).
    pub fn is_integer(&self) -> bool {
        !self.0.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
    }
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }
}

impl From<u64> for Number {
    fn from(v: u64) -> Self {
        Number(crate::util::decimal(v, false))
    }
}
impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Number(crate::util::decimal(v.unsigned_abs(), v < 0))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Number(v.into())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Number(v.into())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    /// True when any number inside is not an integer.
    pub fn contains_float(&self) -> bool {
        match self {
            Value::Number(n) => !n.is_integer(),
            Value::Array(a) => a.iter().any(Value::contains_float),
            Value::Object(m) => m.values().any(Value::contains_float),
            _ => false,
        }
    }
}

/// Why bytes are not acceptable JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct ParseError {
    pub at: usize,
    pub what: &'static str,
}

/// Members of a scanned object: `(decoded key, key span incl. quotes, value span)`.
pub type Members<'a> = Vec<(Cow<'a, [u8]>, Range<usize>, Range<usize>)>;

/// Result of scanning one JSON object without building nested values.
#[derive(Debug, Default)]
pub struct ObjectScan<'a> {
    /// Top-level members in input order; spans are relative to the scanned bytes.
    pub members: Members<'a>,
    /// Members of the nested object named in [`scan_object_nested`], if present.
    pub nested: Option<Members<'a>>,
    /// Whether the scanned bytes (nested values included) are in canonical form.
    pub canonical: bool,
}

/// The value span of member `key` in `members`.
pub fn member(members: &Members<'_>, key: &str) -> Option<Range<usize>> {
    members
        .iter()
        .find(|(k, _, _)| k.as_ref() == key.as_bytes())
        .map(|(_, _, v)| v.clone())
}

impl ObjectScan<'_> {
    /// The value span of top-level member `key`.
    pub fn get(&self, key: &str) -> Option<Range<usize>> {
        member(&self.members, key)
    }
}

/// Parse a complete JSON text into a [`Value`]; returns whether it was canonical.
pub fn parse(bytes: &[u8]) -> Result<(Value, bool), ParseError> {
    let mut p = Parser::new(bytes);
    let v = p.value(0, true)?.unwrap_or(Value::Null);
    p.end()?;
    Ok((v, p.canonical))
}

/// Validate a complete JSON text that must be an object, returning its top-level
/// member spans (relative to `bytes`) and whether it is canonical. Nested values are
/// validated but not built, and nothing is allocated for keys without escapes.
pub fn scan_object(bytes: &[u8]) -> Result<ObjectScan<'_>, ParseError> {
    scan_inner(bytes, None)
}

/// Like [`scan_object`], and also records the members of the top-level member `nested`
/// when its value is an object (spans relative to `bytes`), in the same single pass.
pub fn scan_object_nested<'a>(bytes: &'a [u8], nested: &str) -> Result<ObjectScan<'a>, ParseError> {
    scan_inner(bytes, Some(nested.as_bytes()))
}

fn scan_inner<'a>(bytes: &'a [u8], nested: Option<&[u8]>) -> Result<ObjectScan<'a>, ParseError> {
    let mut p = Parser::new(bytes);
    p.ws();
    if p.peek() != Some(b'{') {
        return Err(p.err("expected a JSON object"));
    }
    // An entry has 10 top-level members and a handful of metadata members: one
    // allocation each instead of growing 4, 8, 16.
    let mut scan = ObjectScan {
        members: Members::with_capacity(16),
        ..ObjectScan::default()
    };
    let mut inner = Members::with_capacity(if nested.is_some() { 16 } else { 0 });
    let want = nested.map(|k| (k, &mut inner));
    let found = p.object(0, false, Some(&mut scan.members), want)?.1;
    p.end()?;
    scan.canonical = p.canonical;
    if found {
        scan.nested = Some(inner);
    }
    Ok(scan)
}

/// Decode one JSON string literal (with quotes) such as a member value span.
pub fn parse_string(bytes: &[u8]) -> Result<String, ParseError> {
    let mut p = Parser::new(bytes);
    let s = p.string()?;
    p.end()?;
    Ok(s)
}

/// True when `bytes` is a JSON array whose items are all strings.
pub fn is_array_of_strings(bytes: &[u8]) -> bool {
    let mut p = Parser::new(bytes);
    if p.peek() != Some(b'[') {
        return false;
    }
    p.i += 1;
    p.ws();
    if p.peek() == Some(b']') {
        p.i += 1;
        return p.end().is_ok();
    }
    loop {
        p.ws();
        if p.peek() != Some(b'"') || p.string_raw().is_err() {
            return false;
        }
        p.ws();
        match p.peek() {
            Some(b',') => p.i += 1,
            Some(b']') => {
                p.i += 1;
                return p.end().is_ok();
            }
            _ => return false,
        }
    }
}

/// Write `v` in canonical form.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.0.as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(x, out);
            }
            out.push(b'}');
        }
    }
}

/// Write a string literal with the canonical escapes.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        // Plain runs are copied whole; the scan stops exactly at the bytes escaped here.
        let i = skip_plain(bytes, start);
        out.extend_from_slice(&bytes[start..i]);
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
        start = i + 1;
    }
    out.push(b'"');
}

/// Python's `repr` of the float whose JSON text is `text`, or `None` if not finite.
pub fn python_float_repr(text: &str) -> Option<String> {
    let x: f64 = text.parse().ok()?;
    if !x.is_finite() {
        return None;
    }
    let sci = format!("{:e}", x.abs()); // shortest round-trip digits, e.g. "1.25e-5"
    let (mant, exp) = sci.split_once('e')?;
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().ok()?;
    let decpt = exp + 1; // value = 0.DIGITS * 10^decpt
    let n = digits.len() as i32;
    let mut s = String::with_capacity(digits.len() + 8);
    if x.is_sign_negative() {
        s.push('-');
    }
    if (-4 < decpt) && (decpt <= 16) {
        if decpt <= 0 {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-decpt) as usize));
            s.push_str(&digits);
        } else if decpt < n {
            s.push_str(&digits[..decpt as usize]);
            s.push('.');
            s.push_str(&digits[decpt as usize..]);
        } else {
            s.push_str(&digits);
            s.extend(std::iter::repeat_n('0', (decpt - n) as usize));
            s.push_str(".0");
        }
    } else {
        s.push_str(&digits[..1]);
        if n > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        s.push('e');
        s.push(if e < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", e.abs()));
    }
    Some(s)
}

/// Index of the first byte at or after `i` that is `"`, `\\` or a control character
/// (below 0x20), or `s.len()`: the plain run of a string, eight bytes at a time. Each
/// test is the classic "has a byte below n" word trick, exact for the lowest matching
/// byte (borrows only propagate upwards), and bytes of 0x80 and above never match.
fn skip_plain(s: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = ONES * b'"' as u64;
    const BACKSLASH: u64 = ONES * b'\\' as u64;
    while let Some(chunk) = s.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
        let hit = below(w, 0x20) | below(w ^ QUOTE, 1) | below(w ^ BACKSLASH, 1);
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = s.get(i) {
        if matches!(b, b'"' | b'\\' | 0..=0x1f) {
            break;
        }
        i += 1;
    }
    i
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    canonical: bool,
    /// The whole input as text when it is valid UTF-8 (checked once, word at a time):
    /// then strings need no check of their own; otherwise each string is checked, to
    /// report where.
    text: Option<&'a str>,
    /// Keys of the objects being read, innermost last: each object uses the tail from
    /// the length it found on entry, so no object allocates a key list of its own.
    keys: Vec<Cow<'a, [u8]>>,
}

impl<'a> Parser<'a> {
    fn new(s: &'a [u8]) -> Self {
        Parser {
            s,
            i: 0,
            canonical: true,
            text: std::str::from_utf8(s).ok(),
            keys: Vec::new(),
        }
    }
    fn err(&self, what: &'static str) -> ParseError {
        ParseError { at: self.i, what }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
            self.canonical = false;
        }
    }
    fn end(&mut self) -> Result<(), ParseError> {
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

    fn value(&mut self, depth: usize, build: bool) -> Result<Option<Value>, ParseError> {
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
    fn object(
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
    fn string_raw(&mut self) -> Result<(Range<usize>, bool), ParseError> {
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

    fn string(&mut self) -> Result<String, ParseError> {
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

/// Decodes the content of a string literal already validated by `string_raw`.
fn decode_escaped(raw: &[u8]) -> Result<String, &'static str> {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    let hex = |i: usize| -> Result<u32, &'static str> {
        let h = raw.get(i..i + 4).ok_or("truncated \\u escape")?;
        let t = std::str::from_utf8(h).map_err(|_| "invalid \\u escape")?;
        u32::from_str_radix(t, 16).map_err(|_| "invalid \\u escape")
    };
    while i < raw.len() {
        if raw[i] != b'\\' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1).ok_or("unterminated escape")?;
        i += 2;
        let c = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let mut cp = hex(i)?;
                i += 4;
                if (0xd800..0xdc00).contains(&cp) {
                    let lo = hex(i + 2)?;
                    i += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo.wrapping_sub(0xdc00) & 0x3ff);
                }
                char::from_u32(cp).ok_or("invalid code point")?
            }
            _ => return Err("invalid escape"),
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    String::from_utf8(out).map_err(|_| "invalid UTF-8 in string")
}

#[cfg(test)]
mod tests {
    #[test]
    fn integers_print_as_rust_prints_them() {
        for v in [0u64, 1, 9, 10, 301, 1_795_314_860_257_604_513, u64::MAX] {
            assert_eq!(Number::from(v).as_str(), v.to_string());
        }
        for v in [0i64, -1, 42, -301, i64::MIN, i64::MAX] {
            assert_eq!(Number::from(v).as_str(), v.to_string());
        }
    }

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

    /// The run-copying writer escapes exactly as a byte-at-a-time writer does: every
    /// ASCII character and some wider ones, alone, between plain runs of each length
    /// around the eight-byte word, and next to each other.
    #[test]
    fn write_string_matches_a_byte_loop() {
        fn naive(s: &str) -> Vec<u8> {
            let mut out = vec![b'"'];
            for &b in s.as_bytes() {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x0c => out.extend_from_slice(b"\\f"),
                    0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                    _ => out.push(b),
                }
            }
            out.push(b'"');
            out
        }
        let mut chars: Vec<char> = (0u8..0x80).map(char::from).collect();
        chars.extend(['\u{e9}', '\u{2028}', '\u{1f600}', '\u{ffff}']);
        for &c in &chars {
            for pad in 0..10 {
                let run = "x".repeat(pad);
                for s in [
                    format!("{c}"),
                    format!("{run}{c}"),
                    format!("{c}{run}"),
                    format!("{run}{c}{run}{c}"),
                    format!("{c}{c}{run}"),
                ] {
                    let mut out = Vec::new();
                    super::write_string(&s, &mut out);
                    assert_eq!(out, naive(&s), "{s:?}");
                }
            }
        }
    }

    /// The word-at-a-time scan finds exactly what a byte loop finds: every byte value at
    /// every position of a 19-byte run (two words and a tail), over plain fillers that
    /// include UTF-8 lead and continuation bytes.
    #[test]
    fn skip_plain_matches_a_byte_loop() {
        let naive = |s: &[u8], i: usize| {
            (i..s.len())
                .find(|&k| matches!(s[k], b'"' | b'\\' | 0..=0x1f))
                .unwrap_or(s.len())
        };
        for filler in [
            b'a', 0x20, 0x7f, 0x80, 0xbf, 0xe2, 0xff, b'!', b'#', b'[', b']',
        ] {
            for b in 0..=255u8 {
                for pos in 0..19 {
                    let mut buf = vec![filler; 19];
                    buf[pos] = b;
                    for start in [0, 1, 5, 8, 11] {
                        assert_eq!(
                            super::skip_plain(&buf, start),
                            naive(&buf, start),
                            "filler {filler:#x} byte {b:#x} at {pos} from {start}"
                        );
                    }
                }
            }
        }
    }
    use super::*;

    #[test]
    fn python_repr_matches_known_outputs() {
        for (input, want) in [
            ("0.294", "0.294"),
            ("1e-05", "1e-05"),
            ("0.00001", "1e-05"),
            ("0.0001", "0.0001"),
            ("1.0", "1.0"),
            ("1e16", "1e+16"),
            ("1e15", "1000000000000000.0"),
            ("123456789012345678.0", "1.2345678901234568e+17"),
            ("-2.5", "-2.5"),
            ("-0.0", "-0.0"),
            ("1.5e300", "1.5e+300"),
            ("5e-324", "5e-324"),
            ("0.1", "0.1"),
            ("100.0", "100.0"),
        ] {
            assert_eq!(python_float_repr(input).as_deref(), Some(want), "{input}");
        }
    }

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
    fn scan_reports_member_spans() {
        let line = br#"{"a":"x","hmac":"00","z":{"k":[1]}}"#;
        let scan = scan_object(line).expect("scans");
        assert!(scan.canonical);
        let h = scan.get("hmac").expect("hmac");
        assert_eq!(&line[h], b"\"00\"");
        let z = scan.get("z").expect("z");
        assert_eq!(&line[z], br#"{"k":[1]}"#);
        assert!(scan_object(b"[1]").is_err());
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
