//! `signet healthcheck URL`: a probe for container runtimes that have no curl.
//!
//! Guarantees: one `GET` over plain HTTP/1.1 to the URL's host and path, bounded by
//! `--timeout-ms` for connect, write and read together; exit 0 only when the status
//! line says `200`; any other status, a refused connection, a timeout or a malformed
//! answer exits 69 (EX_UNAVAILABLE) with the reason on stderr. Only `http://` URLs are
//! accepted (the gateway's own endpoints on loopback); anything else is a usage error.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use clap::Args;

use crate::exit::{self, CmdResult, Failure};

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// The endpoint to probe, e.g. http://127.0.0.1:8080/readyz
    pub url: String,
    /// Give up after this many milliseconds
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub timeout_ms: u64,
}

/// Splits `http://host[:port][/path]` into (host:port, path).
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url}: expected http://HOST[:PORT]/PATH"));
    }
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!("{url}: the path has spaces or control characters"));
    }
    let has_port = match authority.rsplit_once(':') {
        Some((h, p)) => !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':'),
        None => false,
    };
    let hostport = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((hostport, path.to_string()))
}

fn probe(hostport: &str, path: &str, timeout: Duration) -> Result<u16, String> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let addrs: Vec<SocketAddr> = hostport
        .to_socket_addrs()
        .map_err(|e| format!("{hostport}: {e}"))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| format!("{hostport}: no address"))?;
    let mut s = TcpStream::connect_timeout(addr, left()).map_err(|e| format!("{addr}: {e}"))?;
    let host = hostport.trim_end_matches(":80");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes())
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let t = left();
        if t.is_zero() {
            return Err(format!("{addr}: timed out"));
        }
        s.set_read_timeout(Some(t)).map_err(|e| e.to_string())?;
        let n = s.read(&mut buf).map_err(|e| format!("{addr}: {e}"))?;
        if n == 0 || head.len() > 4096 {
            return Err(format!("{addr}: no HTTP status line"));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code
            .parse::<u16>()
            .map_err(|_| format!("{addr}: bad status line {line:?}")),
        _ => Err(format!("{addr}: bad status line {line:?}")),
    }
}

pub fn run(a: &HealthcheckArgs) -> CmdResult {
    let (hostport, path) = split_url(&a.url).map_err(Failure::usage)?;
    match probe(&hostport, &path, Duration::from_millis(a.timeout_ms)) {
        Ok(200) => {
            outln!("OK: {} answered 200", a.url);
            Ok(exit::OK)
        }
        Ok(code) => Err(Failure::new(
            exit::UNAVAILABLE,
            format!("{} answered {code}", a.url),
        )),
        Err(e) => Err(Failure::new(exit::UNAVAILABLE, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn urls_split_into_host_port_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/readyz").unwrap(),
            ("127.0.0.1:8080".into(), "/readyz".into())
        );
        assert_eq!(
            split_url("http://localhost").unwrap(),
            ("localhost:80".into(), "/".into())
        );
        assert_eq!(
            split_url("http://[::1]:9/x").unwrap(),
            ("[::1]:9".into(), "/x".into())
        );
        assert!(split_url("https://127.0.0.1/healthz").is_err());
        assert!(split_url("http://u@h/").is_err());
        assert!(split_url("http:///x").is_err());
        assert!(split_url("http://h/a b").is_err());
    }
}
