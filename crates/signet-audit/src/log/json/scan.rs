//! Reading an object's member spans without building its values.
//!
//! Guarantees: [`scan_object`] validates as strictly as [`super::parse`] (it is the same
//! parser) and reports the same canonical flag, but keeps only the top-level member
//! spans (and, on request, one nested object's) relative to the input; keys without
//! escapes are borrowed, not copied. Spans always lie on the input's byte boundaries.

use std::borrow::Cow;
use std::ops::Range;

use super::ParseError;
use super::parse::Parser;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
