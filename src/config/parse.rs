//! Parsers for single setting values, shared by flags, environment and the config file.
//!
//! Each parser takes the text of one value and returns the typed value or a message
//! without the source name (the caller puts the flag, variable or file key in front).
//! None of these settings is secret, so messages quote the value, shortened.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

use super::LogFormat;

/// Longest timeout accepted, in seconds (one day).
const MAX_TIMEOUT_S: f64 = 86_400.0;

/// Header names the receipt may not take: the proxy or HTTP framing owns them.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "retry-after",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `value` quoted for a message, cut after 64 characters.
pub(super) fn quote(value: &str) -> String {
    let mut short: String = value.chars().take(64).collect();
    if short.len() < value.len() {
        short.push_str("...");
    }
    format!("{short:?}")
}

/// `1/true/yes/on` and `0/false/no/off`, case-insensitive.
pub(super) fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "{} is not a boolean (use 1/true/yes/on or 0/false/no/off)",
            quote(value)
        )),
    }
}

/// An IP address to listen on; `localhost` means 127.0.0.1, brackets around IPv6 are
/// accepted.
pub(super) fn host(value: &str) -> Result<IpAddr, String> {
    let t = value.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    if t.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    t.parse::<IpAddr>().map_err(|_| {
        format!(
            "{} is not an IP address (the listener binds an address, not a host name)",
            quote(value)
        )
    })
}

/// A TCP port; 0 asks the system for a free one.
pub(super) fn port(value: &str) -> Result<u16, String> {
    let t = value.trim();
    if !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit())
        && let Ok(p) = t.parse::<u16>()
    {
        return Ok(p);
    }
    Err(format!(
        "{} is not a port number (0 to 65535)",
        quote(value)
    ))
}

/// A positive number of bytes.
pub(super) fn byte_count(value: &str) -> Result<usize, String> {
    let t = value.trim();
    let n = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>().ok().and_then(|n| usize::try_from(n).ok())
    } else {
        None
    };
    match n {
        Some(0) => Err("must be at least 1 byte".to_owned()),
        Some(n) => Ok(n),
        None => Err(format!("{} is not a number of bytes", quote(value))),
    }
}

/// A timeout in seconds, fractions allowed, above 0 and at most one day.
pub(super) fn seconds(value: &str) -> Result<Duration, String> {
    let secs = value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
        .ok_or_else(|| format!("{} is not a number of seconds", quote(value)))?;
    if secs <= 0.0 || secs > MAX_TIMEOUT_S {
        return Err(format!(
            "{} seconds is out of range (above 0, at most {MAX_TIMEOUT_S})",
            quote(value)
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{} is out of range", quote(value)))
}

pub(super) fn log_format(value: &str) -> Result<LogFormat, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!(
            "{} is not a log format (text or json)",
            quote(value)
        )),
    }
}

/// A response header name for receipts, not one that HTTP framing or the proxy owns.
pub(super) fn receipt_header(value: &str) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(value.trim().as_bytes())
        .map_err(|_| format!("{} is not a valid header name", quote(value)))?;
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(format!(
            "{} is reserved; pick another header name",
            quote(value)
        ));
    }
    Ok(name)
}

/// An HMAC key id as `signet_audit` accepts it.
pub(super) fn key_id(value: &str) -> Result<String, String> {
    let t = value.trim();
    if signet_audit::key::valid_key_id(t) {
        Ok(t.to_owned())
    } else {
        Err(format!(
            "{} is not a key id (1 to 64 characters of A-Z a-z 0-9 . _ -)",
            quote(value)
        ))
    }
}

/// A non-empty path (relative paths resolved by the caller).
pub(super) fn path(value: &str) -> Result<PathBuf, String> {
    if value.trim().is_empty() {
        Err("the path is empty".to_owned())
    } else {
        Ok(PathBuf::from(value))
    }
}

/// Longest checkpoint origin accepted, in bytes.
pub(super) const MAX_ORIGIN_LEN: usize = 128;

/// A checkpoint origin, also the signed-note key name: 1 to 128 characters of printable
/// ASCII without space or `+` (signed-note key names cannot hold either).
pub(super) fn origin(value: &str) -> Result<String, String> {
    let t = value.trim();
    if t.is_empty() {
        return Err("the origin is empty".to_owned());
    }
    if t.len() > MAX_ORIGIN_LEN {
        return Err(format!(
            "{} is longer than {MAX_ORIGIN_LEN} characters",
            quote(value)
        ));
    }
    if !t.bytes().all(|b| b.is_ascii_graphic() && b != b'+') {
        return Err(format!(
            "{} is not an origin (printable ASCII without spaces or '+', e.g. example.com/log)",
            quote(value)
        ));
    }
    Ok(t.to_owned())
}

/// A whole number in `min..=max`.
fn count_in(value: &str, min: u64, max: u64, what: &str) -> Result<u64, String> {
    let t = value.trim();
    let n = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>().ok()
    } else {
        None
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(_) => Err(format!(
            "{} is out of range ({min} to {max} {what})",
            quote(value)
        )),
        None => Err(format!("{} is not a number of {what}", quote(value))),
    }
}

/// Most threads serving connections accepted.
pub(super) const MAX_WORKERS: u64 = 256;

/// Threads serving connections: 0 (one per available CPU, resolved by the caller) to
/// [`MAX_WORKERS`].
pub(super) fn workers(value: &str) -> Result<usize, String> {
    let n = count_in(value, 0, MAX_WORKERS, "threads")?;
    usize::try_from(n).map_err(|_| format!("{} is out of range", quote(value)))
}

/// Entries between checkpoints: 1 to 1 000 000.
pub(super) fn checkpoint_every(value: &str) -> Result<u64, String> {
    count_in(value, 1, 1_000_000, "entries")
}

/// Time between checkpoints in whole milliseconds: 10 ms to one hour.
pub(super) fn checkpoint_interval_ms(value: &str) -> Result<Duration, String> {
    count_in(value, 10, 3_600_000, "milliseconds").map(Duration::from_millis)
}

/// An absolute `http` or `https` URL of an RFC 3161 time-stamping authority. User
/// information is refused without echo (the message could otherwise show a password).
pub(super) fn tsa_url(value: &str) -> Result<http::Uri, String> {
    let t = value.trim();
    let authority = t.split_once("://").map_or("", |(_, rest)| rest);
    if authority
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .contains('@')
    {
        return Err(
            "the URL carries user information (user:password@); it is not accepted".to_owned(),
        );
    }
    // `http::Uri` drops a fragment without a word; look at the text itself.
    if t.contains('#') {
        return Err(format!("{} has a fragment", quote(value)));
    }
    let uri = t
        .parse::<http::Uri>()
        .map_err(|_| format!("{} is not a URL", quote(value)))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        Some(s) => {
            return Err(format!(
                "{} has scheme {s}; use http or https",
                quote(value)
            ));
        }
        None => {
            return Err(format!(
                "{} is not an absolute URL (http://... or https://...)",
                quote(value)
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{} has no host", quote(value)));
    }
    Ok(uri)
}
