//! The HTTP stack's floor, for `bench/compare.sh`: a bare reverse proxy built from the
//! same parts as the gateway, and nothing else.
//!
//! It serves like `signet serve` does (one thread per CPU, each with its own
//! single-threaded tokio runtime; connections handed to them in turn; hyper-util's auto
//! HTTP/1 server with the same options: header-read timeout, 64 KiB head, keep-alive) and forwards like the gateway's pool does
//! (hyper HTTP/1 client connections, kept alive per thread, origin-form target, request
//! and response bodies read whole). It has no admission, no inspection, no audit entry,
//! no receipt: it is NOT a gateway and must never front anything. Its throughput is the
//! most any gateway built on these parts could reach on this machine, so the benchmark
//! can tell what the HTTP stack costs from what the audit work costs.
//!
//! Usage: `bench_floor --upstream HOST:PORT [--addr 127.0.0.1:0] [--threads N]`. It
//! prints `listening on ADDR` on stdout once bound, then serves until killed. Loopback
//! use only.

use std::cell::RefCell;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CONNECTION, HOST};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

const MAX_BODY: usize = 1024 * 1024;
const MAX_IDLE: usize = 256;
/// The gateway's default header-read timeout: hyper arms a timer per request head.
const HEADER_READ_TIMEOUT_S: u64 = 10;

thread_local! {
    /// This thread's idle upstream connections.
    static IDLE: RefCell<Vec<SendRequest<Full<Bytes>>>> = const { RefCell::new(Vec::new()) };
}

fn bad_gateway(msg: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{msg}\n"))));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

async fn sender(upstream: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    loop {
        let Some(mut tx) = IDLE.with(|i| i.borrow_mut().pop()) else {
            break;
        };
        if !tx.is_closed() && tx.ready().await.is_ok() {
            return Ok(tx);
        }
    }
    let tcp = tokio::net::TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (tx, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(tx)
}

async fn forward(
    upstream: SocketAddr,
    host: HeaderValue,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(bad_gateway(&format!("request body: {e}"))),
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match Uri::try_from(target) {
        Ok(u) => u,
        Err(e) => return Ok(bad_gateway(&format!("target: {e}"))),
    };
    parts.headers.remove(CONNECTION);
    parts.headers.insert(HOST, host);
    let mut tx = match sender(upstream).await {
        Ok(tx) => tx,
        Err(e) => return Ok(bad_gateway(&e)),
    };
    let resp = match tx
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(r) => r,
        Err(e) => return Ok(bad_gateway(&format!("upstream: {e}"))),
    };
    let (mut parts, body) = resp.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(bad_gateway(&format!("response body: {e}"))),
    };
    IDLE.with(|i| {
        let mut i = i.borrow_mut();
        if i.len() < MAX_IDLE && !tx.is_closed() {
            i.push(tx);
        }
    });
    parts.headers.remove(CONNECTION);
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = arg(&args, "--addr").unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let upstream: SocketAddr = arg(&args, "--upstream")
        .ok_or_else(|| std::io::Error::other("--upstream HOST:PORT is required"))?
        .parse()
        .map_err(std::io::Error::other)?;
    let threads = match arg(&args, "--threads") {
        Some(n) => n.parse().map_err(std::io::Error::other)?,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let host = HeaderValue::from_str(&upstream.to_string()).map_err(std::io::Error::other)?;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(HEADER_READ_TIMEOUT_S))
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let builder = std::sync::Arc::new(builder);

    let mut txs = Vec::new();
    for i in 0..threads.max(1) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<(std::net::TcpStream, SocketAddr)>();
        let (builder, host) = (builder.clone(), host.clone());
        std::thread::Builder::new()
            .name(format!("floor-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    while let Some((s, _peer)) = rx.recv().await {
                        let Ok(s) = tokio::net::TcpStream::from_std(s) else {
                            continue;
                        };
                        let _ = s.set_nodelay(true);
                        let (builder, host) = (builder.clone(), host.clone());
                        tokio::spawn(async move {
                            let svc = service_fn(move |req| forward(upstream, host.clone(), req));
                            let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                        });
                    }
                });
            })?;
        txs.push(tx);
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        let mut next = 0usize;
        loop {
            let (s, peer) = listener.accept().await?;
            let s = s.into_std()?;
            let _ = txs[next % txs.len()].send((s, peer));
            next = next.wrapping_add(1);
        }
    })
}
