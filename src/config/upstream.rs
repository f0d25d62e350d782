//! Parsing the upstream URL (ARCHITECTURE section 6).
//!
//! Guarantees: the scheme is `http` or `https`; an authority with a non-empty host is
//! present; there is no user information, query or fragment (they would be dropped or
//! leaked silently otherwise); the base path has no `.`/`..` segments and no trailing
//! slash, and is `""` when the URL has no path.

use std::str::FromStr;

use http::Uri;
use http::uri::Scheme;

use super::Upstream;
use super::parse::quote;

/// Why an upstream URL was refused. Messages quote the URL only where it cannot hold
/// credentials.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamUrlError {
    #[error("{0} is not a URL")]
    Invalid(String),
    #[error("{0} has scheme {1}; use http or https")]
    Scheme(String, String),
    #[error("{0} has no host")]
    NoHost(String),
    #[error("the URL carries user information (user:password@); it is not accepted")]
    UserInfo,
    #[error("{0} has a query; the upstream URL may carry a base path only")]
    Query(String),
    #[error("{0} has a fragment; the upstream URL may carry a base path only")]
    Fragment(String),
    #[error("{0} has a . or .. path segment")]
    DotSegment(String),
}

impl FromStr for Upstream {
    type Err = UpstreamUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let authority_part = s.split_once("://").map_or("", |(_, rest)| rest);
        let authority_part = authority_part.split(['/', '?', '#']).next().unwrap_or("");
        // Checked first so no later message repeats a password.
        if authority_part.contains('@') {
            return Err(UpstreamUrlError::UserInfo);
        }
        let q = quote(s);
        // `http::Uri` drops a fragment without a word; look at the text itself.
        if s.contains('#') {
            return Err(UpstreamUrlError::Fragment(q));
        }
        let uri: Uri = s
            .parse()
            .map_err(|_| UpstreamUrlError::Invalid(q.clone()))?;
        let scheme = match uri.scheme_str() {
            Some(x) if x.eq_ignore_ascii_case("http") => Scheme::HTTP,
            Some(x) if x.eq_ignore_ascii_case("https") => Scheme::HTTPS,
            Some(x) => return Err(UpstreamUrlError::Scheme(q, x.to_owned())),
            None => return Err(UpstreamUrlError::Invalid(q)),
        };
        let Some(authority) = uri.authority().cloned() else {
            return Err(UpstreamUrlError::NoHost(q));
        };
        if authority.host().is_empty() {
            return Err(UpstreamUrlError::NoHost(q));
        }
        if uri.query().is_some() || s.contains('?') {
            return Err(UpstreamUrlError::Query(q));
        }
        let base_path = uri.path().trim_end_matches('/');
        if base_path
            .split('/')
            .any(|seg| seg == "." || seg == ".." || seg.eq_ignore_ascii_case("%2e"))
        {
            return Err(UpstreamUrlError::DotSegment(q));
        }
        Ok(Upstream {
            scheme,
            authority,
            base_path: base_path.to_owned(),
        })
    }
}

impl Upstream {
    /// True when the host is a loopback name or address (credentials stay on the machine).
    pub fn is_loopback(&self) -> bool {
        let host = self.authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Upstream {
        s.parse().unwrap()
    }

    #[test]
    fn base_path_is_kept() {
        let u = ok("http://h:11434/v1");
        assert_eq!(u.scheme, Scheme::HTTP);
        assert_eq!(u.authority.as_str(), "h:11434");
        assert_eq!(u.base_path, "/v1");
    }

    #[test]
    fn no_path_is_empty_base() {
        let u = ok("http://api:8080");
        assert_eq!(u.authority.as_str(), "api:8080");
        assert_eq!(u.base_path, "");
        assert_eq!(ok("http://api:8080/").base_path, "");
    }

    #[test]
    fn trailing_slash_dropped() {
        let u = ok("https://x/v1/");
        assert_eq!(u.scheme, Scheme::HTTPS);
        assert_eq!(u.authority.as_str(), "x");
        assert_eq!(u.base_path, "/v1");
        assert_eq!(ok("https://x/a/b//").base_path, "/a/b");
    }

    #[test]
    fn scheme_is_case_insensitive_and_ipv6_works() {
        let u = ok("HTTPS://[::1]:8443/api");
        assert_eq!(u.scheme, Scheme::HTTPS);
        assert_eq!(u.authority.host(), "[::1]");
        assert!(u.is_loopback());
        assert!(!ok("http://api.example.com").is_loopback());
        assert!(ok("http://localhost:1").is_loopback());
    }

    #[test]
    fn refusals() {
        let err = |s: &str| s.parse::<Upstream>().unwrap_err();
        assert!(matches!(err("ftp://h/x"), UpstreamUrlError::Scheme(_, s) if s == "ftp"));
        assert_eq!(err("http://user:pw@h"), UpstreamUrlError::UserInfo);
        assert_eq!(err("http://user@h/v1"), UpstreamUrlError::UserInfo);
        assert!(matches!(err("http://h/x?q=1"), UpstreamUrlError::Query(_)));
        assert!(matches!(err("http://h/x?"), UpstreamUrlError::Query(_)));
        assert!(matches!(
            err("http://h/x#top"),
            UpstreamUrlError::Fragment(_)
        ));
        assert!(matches!(
            err("http://h/a/../b"),
            UpstreamUrlError::DotSegment(_)
        ));
        assert!(matches!(
            err("h:8080"),
            UpstreamUrlError::Scheme(..) | UpstreamUrlError::Invalid(_)
        ));
        assert!(matches!(err("/v1"), UpstreamUrlError::Invalid(_)));
        assert!(matches!(err(""), UpstreamUrlError::Invalid(_)));
        assert!(matches!(
            err("http://"),
            UpstreamUrlError::Invalid(_) | UpstreamUrlError::NoHost(_)
        ));
        assert!(matches!(
            err("http://:80/v1"),
            UpstreamUrlError::Invalid(_) | UpstreamUrlError::NoHost(_)
        ));
        assert!(matches!(err("http://h h/"), UpstreamUrlError::Invalid(_)));
    }

    #[test]
    fn userinfo_message_never_repeats_the_password() {
        let e = "http://user:hunter2-pw@h:1/v1"
            .parse::<Upstream>()
            .unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}
