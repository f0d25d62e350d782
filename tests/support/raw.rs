//! Raw HTTP/1.1 over TCP, for what a well-behaved client library refuses to send:
//! malformed heads, smuggling framings, bytes trickled one at a time, clients that
//! vanish half-way. Every read is bounded by a deadline, so a gateway that stalls
//! shows up as [`RawEnd::TimedOut`] instead of a hung test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response as it came off the wire.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lowercased, in wire order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body, names lowercased.
    pub trailers: Vec<(String, String)>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn correlation_id(&self) -> Option<String> {
        self.header("x-signet-correlation-id").map(str::to_owned)
    }
    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no (complete) response was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawEnd {
    /// The peer closed (or reset) the connection before a whole response arrived.
    Closed,
    /// Nothing conclusive before the deadline: the gateway stalled.
    TimedOut,
    /// Bytes arrived that are not an HTTP/1.1 response.
    Malformed(String),
}

/// A client connection that keeps unread bytes between responses (pipelining).
pub struct RawConn {
    pub s: TcpStream,
    buf: Vec<u8>,
}

/// A request with `Host`, `Content-Length` (when `body` is not empty or the method
/// usually has one) and `Connection: close`, plus `headers` exactly as given.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    request_with(method, path, headers, body, true)
}

/// As [`request`], without `Connection: close` (the connection stays open).
pub fn keep_alive(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    request_with(method, path, headers, body, false)
}

fn request_with(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: gw.test\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    if !body.is_empty() || method == "POST" {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

impl RawConn {
    pub async fn connect(addr: &str) -> RawConn {
        let s = TcpStream::connect(addr).await.expect("connect to gateway");
        s.set_nodelay(true).expect("nodelay");
        RawConn { s, buf: Vec::new() }
    }

    /// Writes all of `b`; an error means the gateway already closed.
    pub async fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.s.write_all(b).await?;
        self.s.flush().await
    }

    /// Writes `b` in pieces of `step` bytes with `pause` between them.
    pub async fn trickle(&mut self, b: &[u8], step: usize, pause: Duration) -> std::io::Result<()> {
        for piece in b.chunks(step.max(1)) {
            self.send(piece).await?;
            tokio::time::sleep(pause).await;
        }
        Ok(())
    }

    /// Reads more bytes into the buffer; `Closed` on EOF or reset.
    async fn fill(&mut self, deadline: Instant) -> Result<(), RawEnd> {
        let mut tmp = [0u8; 16 * 1024];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.s.read(&mut tmp)).await {
            Err(_) => Err(RawEnd::TimedOut),
            Ok(Err(_)) | Ok(Ok(0)) => Err(RawEnd::Closed),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(())
            }
        }
    }

    async fn line(&mut self, deadline: Instant) -> Result<Vec<u8>, RawEnd> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(l);
            }
            self.fill(deadline).await?;
        }
    }

    async fn exact(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, RawEnd> {
        while self.buf.len() < n {
            self.fill(deadline).await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads the next response (1xx interim responses skipped) within `limit`.
    pub async fn response(&mut self, limit: Duration) -> Result<RawResponse, RawEnd> {
        self.response_to("GET", limit).await
    }

    /// As [`Self::response`], for a request made with `method` (HEAD has no body).
    pub async fn response_to(
        &mut self,
        method: &str,
        limit: Duration,
    ) -> Result<RawResponse, RawEnd> {
        let deadline = Instant::now() + limit;
        loop {
            let status_line = self.line(deadline).await?;
            let sl = String::from_utf8_lossy(&status_line).into_owned();
            let mut parts = sl.splitn(3, ' ');
            let (Some(v), Some(code)) = (parts.next(), parts.next()) else {
                return Err(RawEnd::Malformed(sl));
            };
            if !v.starts_with("HTTP/1.") {
                return Err(RawEnd::Malformed(sl));
            }
            let status: u16 = code.parse().map_err(|_| RawEnd::Malformed(sl.clone()))?;
            let headers = self.fields(deadline).await?;
            if (100..200).contains(&status) {
                continue;
            }
            let get = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.to_ascii_lowercase())
            };
            let mut body = Vec::new();
            let mut trailers = Vec::new();
            if method == "HEAD" || status == 204 || status == 304 {
            } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
                loop {
                    let size_line = self.line(deadline).await?;
                    let size_text = String::from_utf8_lossy(&size_line).into_owned();
                    let hex = size_text.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(hex, 16)
                        .map_err(|_| RawEnd::Malformed(format!("chunk size {size_text:?}")))?;
                    if size == 0 {
                        trailers = self.fields(deadline).await?;
                        break;
                    }
                    body.extend(self.exact(size, deadline).await?);
                    self.exact(2, deadline).await?;
                }
            } else if let Some(n) = get("content-length").and_then(|v| v.trim().parse().ok()) {
                body = self.exact(n, deadline).await?;
            } else {
                loop {
                    match self.fill(deadline).await {
                        Ok(()) => {}
                        Err(RawEnd::Closed) => break,
                        Err(e) => return Err(e),
                    }
                }
                body = std::mem::take(&mut self.buf);
            }
            return Ok(RawResponse {
                status,
                headers,
                body,
                trailers,
            });
        }
    }

    /// Header (or trailer) fields up to the blank line.
    async fn fields(&mut self, deadline: Instant) -> Result<Vec<(String, String)>, RawEnd> {
        let mut out = Vec::new();
        loop {
            let l = self.line(deadline).await?;
            if l.is_empty() {
                return Ok(out);
            }
            let l = String::from_utf8_lossy(&l).into_owned();
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| RawEnd::Malformed(l.clone()))?;
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }

    /// Reads (and discards) until the peer closes; true when that happens within
    /// `limit`. Data the gateway sends meanwhile (a 408, say) is ignored.
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            match self.fill(deadline).await {
                Ok(()) => self.buf.clear(),
                Err(RawEnd::Closed) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Bytes received and not yet consumed by a response.
    pub fn leftover(&self) -> &[u8] {
        &self.buf
    }
}

/// Connects, sends `req` whole, and reads one response within `limit`.
pub async fn exchange(addr: &str, req: &[u8], limit: Duration) -> Result<RawResponse, RawEnd> {
    let mut c = RawConn::connect(addr).await;
    // A gateway that refuses early may close before taking every byte; its answer
    // can still be read.
    let _ = c.send(req).await;
    c.response(limit).await
}
