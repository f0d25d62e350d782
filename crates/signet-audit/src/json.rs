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

use std::collections::BTreeMap;
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
        Number(v.to_string())
    }
}
impl From<i64> for Number {
    fn from(v: i64) -> Self {
        Number(v.to_string())
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

/// Result of scanning one JSON object without building nested values.
#[derive(Debug, Default)]
pub struct ObjectScan {
    /// `(key, key span incl. quotes, value span)` for each member, in input order.
    pub members: Vec<(String, Range<usize>, Range<usize>)>,
    /// Whether the scanned bytes are in canonical form.
    pub canonical: bool,
}

impl ObjectScan {
    /// The value span of member `key`.
    pub fn get(&self, key: &str) -> Option<Range<usize>> {
        self.members
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v.clone())
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
/// validated but not built.
pub fn scan_object(bytes: &[u8]) -> Result<ObjectScan, ParseError> {
    let mut p = Parser::new(bytes);
    p.ws();
    if p.peek() != Some(b'{') {
        return Err(p.err("expected a JSON object"));
    }
    let mut scan = ObjectScan::default();
    p.object(0, false, Some(&mut scan.members))?;
    p.end()?;
    scan.canonical = p.canonical;
    Ok(scan)
}

/// Decode one JSON string literal (with quotes) such as a member value span.
pub fn parse_string(bytes: &[u8]) -> Result<String, ParseError> {
    let mut p = Parser::new(bytes);
    let s = p.string()?;
    p.end()?;
    Ok(s)
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
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
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

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    canonical: bool,
}

impl<'a> Parser<'a> {
    fn new(s: &'a [u8]) -> Self {
        Parser {
            s,
            i: 0,
            canonical: true,
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
            Some(b'{') => return self.object(depth, build, None),
            Some(b'[') => return self.array(depth, build),
            Some(b'"') => {
                let s = self.string()?;
                Value::String(s)
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
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
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

    #[allow(clippy::type_complexity)]
    fn object(
        &mut self,
        depth: usize,
        build: bool,
        mut spans: Option<&mut Vec<(String, Range<usize>, Range<usize>)>>,
    ) -> Result<Option<Value>, ParseError> {
        let depth = self.enter(depth)?;
        self.i += 1; // '{'
        let mut map = Map::new();
        let mut keys: Vec<String> = Vec::new();
        let mut seen: Option<std::collections::HashSet<String>> = None;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(build.then_some(Value::Object(map)));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected an object key"));
            }
            let kstart = self.i;
            let key = self.string()?;
            let kspan = kstart..self.i;
            if let Some(last) = keys.last()
                && key.as_str() <= last.as_str()
            {
                self.canonical = false;
            }
            let dup = match seen.as_mut() {
                Some(set) => !set.insert(key.clone()),
                None if keys.len() >= 16 => {
                    let mut set: std::collections::HashSet<String> = keys.iter().cloned().collect();
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
            let v = self.value(depth, build)?;
            let vspan = vstart..self.i;
            if let Some(sp) = spans.as_deref_mut() {
                sp.push((key.clone(), kspan, vspan));
            }
            if let Some(v) = v {
                map.insert(key.clone(), v);
            }
            keys.push(key);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(build.then_some(Value::Object(map)));
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

    fn number(&mut self) -> Result<Number, ParseError> {
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
        // The slice holds only ASCII digits, signs, '.', 'e' and 'E'.
        let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        if float {
            if python_float_repr(&text).as_deref() != Some(text.as_str()) {
                self.canonical = false;
            }
        } else if text == "-0" {
            self.canonical = false;
        }
        Ok(Number(text))
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

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        let mut run = self.i;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            match b {
                b'"' => {
                    out.extend_from_slice(&self.s[run..self.i]);
                    self.i += 1;
                    return String::from_utf8(out).map_err(|_| ParseError {
                        at: self.i,
                        what: "invalid UTF-8 in string",
                    });
                }
                0..=0x1f => return Err(self.err("raw control character in string")),
                b'\\' => {
                    out.extend_from_slice(&self.s[run..self.i]);
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'/' => {
                            self.canonical = false;
                            out.push(b'/');
                        }
                        b'u' => {
                            let hex_at = self.i;
                            let mut cp = self.hex4()?;
                            let lower_ok = self.s[hex_at..hex_at + 4]
                                .iter()
                                .all(|c| !c.is_ascii_uppercase());
                            let canonical_escape = cp < 0x20
                                && !matches!(cp, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)
                                && lower_ok;
                            if !canonical_escape {
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
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                            } else if (0xdc00..0xe000).contains(&cp) {
                                return Err(self.err("unpaired surrogate"));
                            }
                            let c =
                                char::from_u32(cp).ok_or_else(|| self.err("invalid code point"))?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                    run = self.i;
                }
                _ => self.i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
