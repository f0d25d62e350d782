//! Header lookups shared by the admission checks.
//!
//! Guarantees: [`single_header`] gives a header one meaning or none. Every copy of
//! the header must be UTF-8 and parse; copies that parse to different values are
//! ambiguous (a proxy and the upstream might each pick a different copy, so the
//! request is refused rather than guessed at). Identical repeats are accepted, and
//! so are repeats that mean the same (`S` and `SECRET`). Header names are
//! case-insensitive, as HTTP defines them.

use http::HeaderMap;

/// Problems with a header that must have one meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeaderFault<E> {
    NotUtf8,
    /// Sent more than once with values that mean different things.
    Ambiguous,
    Invalid(E),
}

/// The one meaning of header `name`: every copy is parsed with `parse`, and copies
/// that parse to different values are ambiguous. `None` when the header is absent.
pub(crate) fn single_header<T: PartialEq, E>(
    headers: &HeaderMap,
    name: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, HeaderFault<E>> {
    let mut found: Option<T> = None;
    for v in headers.get_all(name) {
        let s = std::str::from_utf8(v.as_bytes()).map_err(|_| HeaderFault::NotUtf8)?;
        let t = parse(s).map_err(HeaderFault::Invalid)?;
        match &found {
            Some(prev) if *prev != t => return Err(HeaderFault::Ambiguous),
            Some(_) => {}
            None => found = Some(t),
        }
    }
    Ok(found)
}

/// Owned requests for the admission checks' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::net::IpAddr;

    use http::{HeaderMap, HeaderName, HeaderValue};

    use crate::admission::{AdmissionCheck, AdmissionState, Refusal, Request};

    pub struct TestRequest {
        pub headers: HeaderMap,
        pub client_ip: IpAddr,
        pub body: Vec<u8>,
    }

    impl TestRequest {
        pub fn req(&self) -> Request<'_> {
            Request {
                headers: &self.headers,
                client_ip: self.client_ip,
                body: &self.body,
            }
        }
    }

    pub fn request(headers: &[(&str, &[u8])], body: &[u8]) -> TestRequest {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        TestRequest {
            headers: map,
            client_ip: IpAddr::from([192, 0, 2, 1]),
            body: body.to_vec(),
        }
    }

    pub fn run(
        check: &dyn AdmissionCheck,
        r: &TestRequest,
        state: &mut AdmissionState,
    ) -> Result<(), Refusal> {
        check.check(&r.req(), state)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::request;
    use super::*;

    fn number(v: &str) -> Result<u32, ()> {
        v.trim().parse().map_err(|_| ())
    }

    #[test]
    fn one_meaning_or_none() {
        let r = request(&[], b"");
        assert_eq!(single_header(&r.headers, "x-n", number), Ok(None));
        let r = request(&[("X-N", b"7")], b"");
        assert_eq!(single_header(&r.headers, "x-n", number), Ok(Some(7)));
        let r = request(&[("x-n", b"7"), ("x-n", b" 07 ")], b"");
        assert_eq!(
            single_header(&r.headers, "x-n", number),
            Ok(Some(7)),
            "same meaning"
        );
    }

    #[test]
    fn refuses_ambiguous_invalid_and_non_utf8() {
        let r = request(&[("x-n", b"7"), ("x-n", b"8")], b"");
        assert_eq!(
            single_header(&r.headers, "x-n", number),
            Err(HeaderFault::Ambiguous)
        );
        let r = request(&[("x-n", b"7"), ("x-n", b"seven")], b"");
        assert_eq!(
            single_header(&r.headers, "x-n", number),
            Err(HeaderFault::Invalid(()))
        );
        let r = request(&[("x-n", b"\xff")], b"");
        assert_eq!(
            single_header(&r.headers, "x-n", number),
            Err(HeaderFault::NotUtf8)
        );
        let big = "9".repeat(10 * 1024);
        let r = request(&[("x-n", big.as_bytes())], b"");
        assert_eq!(
            single_header(&r.headers, "x-n", number),
            Err(HeaderFault::Invalid(()))
        );
    }
}
