//! Listeners, connections, the gateway's own endpoints, and graceful shutdown.
//!
//! Guarantees:
//! - HTTP/1.1 (keep-alive) and HTTP/2 (prior knowledge) on one port; request headers
//!   must arrive within the header-read timeout and fit the header size limit.
//! - With a TLS acceptor (`--tls-cert`/`--tls-key`), every connection is TLS (rustls via
//!   tokio-rustls, config from [`crate::tls::server_config`]); ALPN offers `h2` and
//!   `http/1.1`, and the connection is served as HTTP/2 when the client opens with the
//!   HTTP/2 preface (as an `h2` client does), as HTTP/1.1 otherwise. The
//!   handshake runs on the connection's own task, bounded by the header-read timeout;
//!   a failed or slow handshake is logged at debug and the socket dropped, so it can
//!   neither stall the accept loop nor reach the pipeline.
//! - `/healthz`, `/readyz`, `/version`, `/metrics` are answered here, never forwarded,
//!   and write no audit entry. Everything else goes through [`crate::pipeline`].
//! - Connections are served by a fixed set of threads, each with a single-threaded
//!   runtime, and handed to them in turn as they are accepted ([`serve_threads`]).
//! - On shutdown the listener closes first, in-flight requests finish, also those
//!   whose client went away and the streams still being pumped (all bounded by the
//!   request timeout), and only then do the serving threads stop and the caller
//!   flush the journal and write the final checkpoint.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::body::{Body, text};
use crate::gateway::{ClientAddr, Gateway, ViaTls};
use crate::pipeline;

/// Largest request head accepted (HTTP/1 read buffer).
const MAX_HEAD_BYTES: usize = 64 * 1024;

async fn upstream_reachable(gw: &Gateway) -> bool {
    let a = &gw.cfg.upstream.authority;
    let port = a
        .port_u16()
        .unwrap_or(if gw.cfg.upstream.scheme == http::uri::Scheme::HTTPS {
            443
        } else {
            80
        });
    let target = (
        a.host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    );
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(target)
        )
        .await,
        Ok(Ok(_))
    )
}

/// The gateway's own endpoints; `None` for anything to be proxied.
async fn own_endpoint(gw: &Gateway, req: &Request<Incoming>) -> Option<Response<Body>> {
    let path = req.uri().path();
    let ours = matches!(path, "/healthz" | "/readyz" | "/version" | "/metrics")
        || path.starts_with("/signet/v1/");
    if !ours {
        return None;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Some(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n",
        ));
    }
    Some(match path {
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" => {
            let journal = gw.committer.healthy();
            let upstream = upstream_reachable(gw).await;
            let status = if journal && upstream {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = format!(
                "{{\"journal\":{journal},\"ready\":{},\"upstream\":{upstream}}}\n",
                journal && upstream
            );
            text(status, "application/json", body)
        }
        "/version" => text(
            StatusCode::OK,
            "application/json",
            format!(
                "{{\"name\":\"signet-gateway\",\"version\":\"{}\"}}\n",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        "/metrics" => text(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            gw.metrics
                .render(gw.committer.handle().stats(), gw.committer.healthy())
                + &gw.committer.late_metrics()
                + &gw.tlog.as_ref().map(|t| t.metrics()).unwrap_or_default(),
        ),
        p => match gw
            .tlog
            .as_ref()
            .and_then(|t| t.answer(p, req.uri().query()))
        {
            Some(r) => r,
            None if gw.tlog.is_none() && p.starts_with("/signet/v1/") => text(
                StatusCode::NOT_FOUND,
                "text/plain",
                "transparency is off: start the gateway with --log-key\n",
            ),
            None => text(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        },
    })
}

async fn route(
    gw: Arc<Gateway>,
    mut req: Request<Incoming>,
    peer: ClientAddr,
    tls: bool,
) -> Result<Response<Body>, Infallible> {
    if let Some(r) = own_endpoint(&gw, &req).await {
        return Ok(r);
    }
    if tls {
        req.extensions_mut().insert(ViaTls);
    }
    Ok(pipeline::handle(gw, req, peer).await)
}

/// Serves one accepted connection (plain or TLS) until it ends or shutdown drains it.
async fn serve_connection<I>(
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    io: I,
    gw: Arc<Gateway>,
    peer: SocketAddr,
    tls: bool,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let client = ClientAddr::new(peer.ip());
    let svc = service_fn(move |req| route(gw.clone(), req, client.clone(), tls));
    let conn = builder.serve_connection(io, svc).into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits (at most `limit`) for a connection's opening: the first byte of an HTTP/1
/// request, or the whole HTTP/2 preface plus the header of the client's first frame.
/// Protocol sniffing and the HTTP/2 handshake would otherwise wait without a deadline,
/// so a client sending nothing, or a few bytes of the preface, held a socket forever.
async fn opening_arrives(stream: &tokio::net::TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 33];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        if n == 0 {
            return false;
        }
        let head = &buf[..n.min(24)];
        if !H2_PREFACE.starts_with(head) || n >= buf.len() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What serving a connection needs: the gateway, hyper's connection builder (HTTP/1.1
/// keep-alive and HTTP/2, with the header timeout and size limit) and the TLS acceptor.
#[derive(Clone)]
struct Conns {
    gw: Arc<Gateway>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    tls: Option<TlsAcceptor>,
}

impl Conns {
    fn new(gw: Arc<Gateway>, tls: Option<TlsAcceptor>) -> Conns {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(gw.cfg.header_read_timeout)
            .max_buf_size(MAX_HEAD_BYTES)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_HEAD_BYTES as u32);
        Conns {
            gw,
            builder: Arc::new(builder),
            tls,
        }
    }

    /// Serves one accepted connection on a task of its own, on the current runtime.
    /// `watcher` was taken when the connection was accepted, so a shutdown during the
    /// handshake still drains it.
    fn spawn(&self, stream: tokio::net::TcpStream, peer: SocketAddr, watcher: Watcher) {
        let _ = stream.set_nodelay(true);
        let (gw, builder) = (self.gw.clone(), self.builder.clone());
        let limit = gw.cfg.header_read_timeout;
        match &self.tls {
            None => {
                tokio::spawn(async move {
                    if opening_arrives(&stream, limit).await {
                        serve_connection(builder, watcher, TokioIo::new(stream), gw, peer, false)
                            .await;
                    } else {
                        tracing::debug!(%peer, "connection closed: nothing usable within the header-read timeout");
                    }
                });
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                tokio::spawn(async move {
                    match tokio::time::timeout(limit, handshake).await {
                        Ok(Ok(s)) => {
                            serve_connection(builder, watcher, TokioIo::new(s), gw, peer, true)
                                .await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }

    /// Waits for the connections `graceful` watches to finish, then for every request
    /// and stream that runs as a task of its own (their clients gone, or streaming),
    /// on any thread, to reach its terminal entry: at most the request timeout plus a
    /// second in all. Every such request ends by its own deadline (the request
    /// timeout), so the bound is only a guard.
    async fn drain(&self, graceful: GracefulShutdown) {
        let until =
            tokio::time::Instant::now() + self.gw.cfg.request_timeout + Duration::from_secs(1);
        if tokio::time::timeout_at(until, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish before the drain timeout");
        }
        if tokio::time::timeout_at(until, self.gw.inflight.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.gw.inflight.len(),
                "detached requests did not finish before the drain timeout"
            );
        }
    }
}

/// The next accepted connection, or `None` once `shutdown` has resolved. A failed
/// accept (out of file descriptors, say) is logged and retried after 50 ms.
async fn accept(
    listener: &TcpListener,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => return Some(x),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = shutdown.as_mut() => return None,
        }
    }
}

/// One serving thread: its runtime and the channel that hands it connections.
struct Worker {
    tx: tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>,
    thread: std::thread::JoinHandle<()>,
}

/// Accepts connections until `shutdown` resolves and serves them on `threads` threads,
/// each running a single-threaded runtime of its own. A connection, its requests, their
/// upstream connections and their timers stay on one thread: no work stealing, and the
/// only wake-up that crosses threads within a request is the journal's. The listener
/// accepts on the current runtime and hands connections to the threads in turn. At
/// shutdown the listener closes first, then every thread drains its own connections
/// (at most the request timeout plus a second), and this returns when all have
/// stopped. Fails if a thread or runtime cannot be created, or if every serving thread
/// has stopped (then nothing is left to serve: the caller exits non-zero).
pub async fn serve_threads(
    gw: Arc<Gateway>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    threads: usize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let threads = threads.max(1);
    gw.metrics.serving_threads(threads);
    let conns = Conns::new(gw, tls);
    let mut workers = Vec::with_capacity(threads);
    for i in 0..threads {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let conns = conns.clone();
        let thread = std::thread::Builder::new()
            .name(format!("signet-serve-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    // This thread's idle upstream connections are let go on time even
                    // when no request comes to prune them.
                    let pool = conns.gw.client.clone();
                    let pruner = tokio::spawn(async move {
                        let mut tick = tokio::time::interval(pool.prune_every());
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        loop {
                            tick.tick().await;
                            pool.prune_idle();
                        }
                    });
                    let graceful = GracefulShutdown::new();
                    while let Some((stream, peer)) = rx.recv().await {
                        match tokio::net::TcpStream::from_std(stream) {
                            Ok(s) => conns.spawn(s, peer, graceful.watcher()),
                            Err(e) => tracing::warn!(%peer, error = %e, "cannot serve an accepted connection"),
                        }
                    }
                    conns.drain(graceful).await;
                    pruner.abort();
                });
            })?;
        workers.push(Worker { tx, thread });
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0;
    let mut none_left = false;
    while let Some((stream, peer)) = accept(&listener, &mut shutdown).await {
        match stream.into_std() {
            Ok(s) => {
                // A thread that is gone (it panicked) is skipped: the connection goes
                // to the next one that still takes connections.
                let mut item = Some((s, peer));
                for _ in 0..threads {
                    let Some(conn) = item.take() else { break };
                    let i = next % threads;
                    next = next.wrapping_add(1);
                    match workers[i].tx.send(conn) {
                        Ok(()) => conns.gw.metrics.connection(i),
                        Err(back) => item = Some(back.0),
                    }
                }
                if item.is_some() {
                    tracing::error!("no serving thread is left: stopping");
                    none_left = true;
                    break;
                }
            }
            Err(e) => tracing::warn!(%peer, error = %e, "cannot hand an accepted connection over"),
        }
    }
    drop(listener);
    // From now on the drain may end once no request runs as a task of its own.
    conns.gw.inflight.close();
    let joins: Vec<_> = workers
        .into_iter()
        .map(|w| {
            drop(w.tx);
            w.thread
        })
        .collect();
    let _ = tokio::task::spawn_blocking(move || {
        for t in joins {
            if t.join().is_err() {
                tracing::error!("a serving thread panicked");
            }
        }
    })
    .await;
    if none_left {
        return Err(std::io::Error::other("every serving thread has stopped"));
    }
    Ok(())
}
