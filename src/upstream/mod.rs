//! The upstream side: a pooled keep-alive client, request rewriting and path joining.
//!
//! Guarantees:
//! - Connections to the upstream are pooled and kept alive ([`pool`]), for `http://`
//!   and `https://` upstreams alike.
//! - `https://` upstreams: rustls (ring provider, see [`crate::tls`]) through
//!   hyper-rustls, HTTP/1.1 without ALPN. The certificate chain and the host name (the
//!   URL's DNS name, or its IP address against IP SANs) are always verified, against the
//!   `--upstream-ca` file when given, else the system roots. A failed verification is a
//!   failed connect: the request is never sent (the pipeline answers 502 and audits it),
//!   and the reason is logged at warn with the upstream's authority.
//! - TCP connect plus TLS handshake together are bounded by the upstream connect
//!   timeout; the whole exchange stays bounded by the request deadline in the pipeline.
//! - Hop-by-hop headers (RFC 9110 §7.6.1, plus any named in `Connection`) are stripped
//!   in both directions; `Host` is the upstream's; `X-Forwarded-For` and `Forwarded`
//!   carry the client address; `Authorization` is replaced when the gateway holds an
//!   upstream API key, otherwise the caller's is forwarded.
//! - Paths are joined as ARCHITECTURE section 6 says: a path under the upstream's base
//!   path (segment by segment) is sent unchanged, any other gets the base path in front.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Uri};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tower_service::Service;

use crate::config::{Config, Upstream};
use crate::tls::{self, TlsError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The pooled client.
pub type Client = pool::Pool;

pub mod pool;
pub use pool::UpstreamBody;

/// Builds the pooled client: TLS roots from `cfg` (see [`tls::upstream_roots`]) and the
/// upstream connect timeout. Fails only on unusable TLS material.
pub fn client(cfg: &Config) -> Result<Client, TlsError> {
    let https = cfg.upstream.scheme == http::uri::Scheme::HTTPS;
    let connector = connector(
        cfg.upstream_ca.as_deref(),
        https,
        cfg.upstream_connect_timeout,
    )?;
    let target = Uri::builder()
        .scheme(cfg.upstream.scheme.clone())
        .authority(cfg.upstream.authority.clone())
        .path_and_query("/")
        .build()
        .map_err(|e| TlsError::Address(e.to_string()))?;
    Ok(pool::Pool::new(
        connector,
        target,
        256,
        Duration::from_secs(90),
    ))
}

/// The connector: TLS roots from `upstream_ca` or the system (when `https`), and
/// `limit` over TCP connect plus TLS handshake.
fn connector(
    upstream_ca: Option<&std::path::Path>,
    https: bool,
    limit: Duration,
) -> Result<Connector, TlsError> {
    let roots = tls::upstream_roots(upstream_ca, https)?;
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(limit));
    http.set_nodelay(true);
    // The scheme decides below; hyper-rustls needs the TCP connector to accept https URIs.
    http.enforce_http(false);
    let inner = HttpsConnectorBuilder::new()
        .with_tls_config(tls::client_config(roots)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Connector { inner, limit })
}

/// The upstream connector: hyper-rustls (plain TCP for `http`, verified TLS for
/// `https`) with one deadline over connect and handshake, and a log line on failure.
#[derive(Clone)]
pub struct Connector {
    inner: HttpsConnector<HttpConnector>,
    limit: Duration,
}

/// Why a new upstream connection failed where the inner connector gave no error.
#[derive(Debug, thiserror::Error)]
#[error("upstream connect and TLS handshake did not finish within {0:?}")]
pub struct ConnectTimeout(Duration);

/// `error: cause: cause` down the source chain (TLS reasons sit a few levels deep).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        let c_text = c.to_string();
        if !s.contains(&c_text) {
            s.push_str(": ");
            s.push_str(&c_text);
        }
        next = c.source();
    }
    s
}

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let authority = dst.authority().map(ToString::to_string).unwrap_or_default();
        let connecting = self.inner.call(dst);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => {
                    tracing::warn!(upstream = %authority, error = %chain(e.as_ref()), "upstream connection failed");
                    Err(e)
                }
                Err(_) => {
                    let e = ConnectTimeout(limit);
                    tracing::warn!(upstream = %authority, error = %e, "upstream connection failed");
                    Err(Box::new(e) as BoxError)
                }
            }
        })
    }
}

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the headers only the gateway may set (receipt, correlation id, shadow
/// verdicts), so an upstream cannot hand the client a forged receipt.
pub fn strip_gateway_owned(h: &mut HeaderMap, receipt_header: &HeaderName) {
    h.remove(receipt_header);
    let owned: Vec<HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with("x-signet-"))
        .cloned()
        .collect();
    for k in owned {
        h.remove(k);
    }
}

/// Removes hop-by-hop headers, including those listed in `Connection`.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    // One pass over the (few) headers present instead of a hashed lookup per name in
    // the list: most requests and responses carry none of them.
    let mut found: Vec<HeaderName> = h
        .keys()
        .filter(|k| HOP_BY_HOP.contains(&k.as_str()))
        .cloned()
        .collect();
    if found.is_empty() {
        return;
    }
    found.extend(
        h.get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok()),
    );
    for n in found {
        h.remove(n);
    }
}

/// The upstream path for a request path (with query).
pub fn join_path(base: &str, path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    let under_base = base.is_empty()
        || path == base
        || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'));
    let mut out = if under_base {
        path.to_owned()
    } else {
        format!("{base}{path}")
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Who a request is forwarded for: the client's address (and that address as text)
/// and whether it reached the gateway over TLS.
pub struct ForwardedFor<'a> {
    pub ip: std::net::IpAddr,
    pub text: &'a str,
    pub tls: bool,
}

/// Builds the request sent upstream, in origin form (`/base/path?query`): the pool
/// dials the one upstream itself, and `Host` names it.
pub fn build_request(
    up: &Upstream,
    parts: &http::request::Parts,
    body: Bytes,
    client: &ForwardedFor<'_>,
    api_key: Option<&str>,
) -> Result<Request<Full<Bytes>>, http::Error> {
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = Uri::try_from(join_path(&up.base_path, pq))?;
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(header::HOST, HeaderValue::from_str(up.authority.as_str())?);
    // Inspection reads the response as text: ask for it uncompressed.
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    let ip: &str = client.text;
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => HeaderValue::from_str(&format!("{prev}, {ip}"))?,
        None => HeaderValue::from_str(ip)?,
    };
    headers.insert("x-forwarded-for", xff);
    let node = if client.ip.is_ipv6() {
        format!("\"[{ip}]\"")
    } else {
        ip.to_owned()
    };
    let proto = if client.tls || parts.uri.scheme_str() == Some("https") {
        "https"
    } else {
        "http"
    };
    let mut fwd = format!("for={node};proto={proto}");
    if let Some(h) = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        && h.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b';' && b != b',')
    {
        fwd.push_str(&format!(";host=\"{h}\""));
    }
    headers.append(header::FORWARDED, HeaderValue::from_str(&fwd)?);
    if let Some(k) = api_key {
        let mut v = HeaderValue::from_str(&format!("Bearer {k}"))?;
        v.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, v);
    }
    if !body.is_empty() || parts.headers.contains_key(header::CONTENT_LENGTH) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut req = Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .version(http::Version::HTTP_11)
        .body(Full::new(body))?;
    *req.headers_mut() = headers;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_joining_follows_architecture_section_6() {
        assert_eq!(
            join_path("/v1", "/v1/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(
            join_path("/v1", "/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(join_path("/v1", "/v10/x"), "/v1/v10/x");
        assert_eq!(join_path("/v1", "/v1"), "/v1");
        assert_eq!(join_path("", "/anything?x=1"), "/anything?x=1");
        assert_eq!(join_path("/v1", "/models?limit=2"), "/v1/models?limit=2");
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("close, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert!(h.get("x-secret-hop").is_none() && h.get("te").is_none());
        assert!(h.get("connection").is_none());
        assert_eq!(h["x-keep"], "1");
    }

    #[test]
    fn request_rewrite() {
        let up = Upstream {
            scheme: http::uri::Scheme::HTTP,
            authority: "127.0.0.1:9".parse().expect("authority"),
            base_path: "/v1".into(),
        };
        let (parts, ()) = Request::builder()
            .method("POST")
            .uri("/chat/completions?stream=1")
            .header("host", "gw.local")
            .header("authorization", "Bearer caller")
            .header("x-forwarded-for", "10.0.0.1")
            .header("transfer-encoding", "chunked")
            .body(())
            .expect("req")
            .into_parts();
        let ip = ForwardedFor {
            ip: "192.0.2.7".parse().expect("ip"),
            text: "192.0.2.7",
            tls: false,
        };
        let r = build_request(&up, &parts, Bytes::from_static(b"{}"), &ip, Some("gwkey"))
            .expect("build");
        assert_eq!(r.uri().to_string(), "/v1/chat/completions?stream=1");
        assert!(r.uri().authority().is_none(), "origin form");
        assert_eq!(r.headers()["host"], "127.0.0.1:9");
        assert_eq!(r.headers()["authorization"], "Bearer gwkey");
        assert_eq!(r.headers()["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(
            r.headers()["forwarded"],
            "for=192.0.2.7;proto=http;host=\"gw.local\""
        );
        assert_eq!(r.headers()["content-length"], "2");
        assert!(r.headers().get("transfer-encoding").is_none());
        let r = build_request(&up, &parts, Bytes::new(), &ip, None).expect("build");
        assert_eq!(r.headers()["authorization"], "Bearer caller");
    }
}
