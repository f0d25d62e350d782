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
//!
//! Layout: the value types and [`ParseError`] are here; [`parse`] builds a tree
//! (`parse.rs`, the one strict parser), [`scan_object`] reads member spans without one
//! (`scan.rs`), [`write_canonical`] writes (`write.rs`), [`visit`] hands tokens to the
//! gateway's body inspection without a tree (`visit.rs`), and the string-literal
//! primitives they share live in `text.rs`.

use std::collections::BTreeMap;

mod parse;
mod scan;
mod text;
mod visit;
mod write;

pub use parse::{parse, parse_string};
pub use scan::{Members, ObjectScan, is_array_of_strings, member, scan_object, scan_object_nested};
pub use visit::{Token, visit};
pub use write::{python_float_repr, write_canonical, write_string};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_print_as_rust_prints_them() {
        for v in [0u64, 1, 9, 10, 301, 1_795_314_860_257_604_513, u64::MAX] {
            assert_eq!(Number::from(v).as_str(), v.to_string());
        }
        for v in [0i64, -1, 42, -301, i64::MIN, i64::MAX] {
            assert_eq!(Number::from(v).as_str(), v.to_string());
        }
    }

    /// 1,000,000 nested `[` (open, and closed again) and 200,000 nested objects are
    /// refused at depth [`MAX_DEPTH`] by every entry point, on the test thread's
    /// ordinary stack: one stack frame per nesting level would overflow it and abort
    /// the test binary.
    #[test]
    fn a_million_nested_brackets_are_refused_without_recursion() {
        let open = "[".repeat(1_000_000);
        let closed = format!("{open}{}", "]".repeat(1_000_000));
        let objects = "{\"a\":".repeat(200_000);
        let in_entry = format!("{{\"metadata\":{open}");
        let too_deep = |r: Result<(), ParseError>, label: &str| {
            let e = r.expect_err(label);
            assert_eq!(e.what, "nesting too deep", "{label}: {e}");
            // Refused where the limit is crossed, not after reading on.
            assert!(e.at <= 6 * (MAX_DEPTH + 1), "{label}: {e}");
        };
        for (label, text) in [("open", &open), ("closed", &closed), ("objects", &objects)] {
            let b = text.as_bytes();
            too_deep(parse(b).map(|_| ()), label);
            too_deep(visit(b, &mut |_, _| {}).map(|_| ()), label);
            if label == "objects" {
                too_deep(scan_object(b).map(|_| ()), label);
                too_deep(scan_object_nested(b, "a").map(|_| ()), label);
            }
        }
        too_deep(scan_object(in_entry.as_bytes()).map(|_| ()), "entry");
        assert!(!is_array_of_strings(open.as_bytes()));
        assert!(crate::LineView::parse(in_entry.as_bytes()).is_err());
        // Nesting up to the limit still parses.
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
