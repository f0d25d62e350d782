//! The upstream connection pool: keep-alive HTTP/1.1 connections to the one upstream,
//! each driven by its own task and lent to one request at a time.
//!
//! Guarantees:
//! - A connection carries one request at a time (hyper's `SendRequest` is not ready
//!   while an exchange is in flight), and goes back to the pool only when its response
//!   body has been read to the end. A response abandoned part-way (refused by
//!   inspection, client gone, read error) takes its connection with it: hyper closes a
//!   connection whose body reader was dropped, since its framing state is unknown.
//! - Idle connections are kept per thread (a few threads may share a list), so a
//!   request is lent a connection that its own thread's runtime drives; they are reused
//!   newest first; at most `max_idle` are kept per list, and one idle longer than
//!   `idle_timeout` is closed instead of reused (pruned whenever a connection is checked
//!   out or returned on that list, and by [`Pool::prune_idle`], which each serving
//!   thread runs periodically, so a thread that gets no more traffic still lets go).
//!   Idle time is read from tokio's clock (the wall clock outside tokio's test clock).
//! - A request that could not be written on a reused connection (the upstream closed it
//!   while it sat idle) is sent once more, on a fresh connection. A request that was
//!   written is never sent twice.
//! - Requests go out in origin form (`/path?query`); `Host` is whatever the caller set.
//! - New connections come from the [`super::Connector`]: TCP, or TLS with the
//!   upstream's certificate verified, within the connect timeout.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use tokio::time::Instant;
use tower_service::Service;

use super::{BoxError, Connector};

type Sender = SendRequest<Full<Bytes>>;

/// Longest wait for a returned connection to be ready for its next request (its task
/// notes the end of the previous exchange right after the body's last frame).
const READY_WAIT: Duration = Duration::from_secs(1);

/// Why an upstream exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream connection failed: {0}")]
    Connect(BoxError),
    #[error("upstream HTTP/1.1 handshake failed: {0}")]
    Handshake(hyper::Error),
    #[error("upstream exchange failed: {0}")]
    Send(hyper::Error),
}

/// Idle lists per pool: a connection is lent, where it can be, to a request on the thread
/// whose runtime drives it.
const SLOTS: usize = 64;

/// This thread's idle-list slot.
fn slot() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed));
    SLOT.with(|s| *s)
}

struct Idle {
    tx: Sender,
    since: Instant,
}

struct Shared {
    connector: Connector,
    /// `scheme://authority/`: what the connector dials.
    target: Uri,
    builder: http1::Builder,
    /// One idle list per slot (a thread's slot is fixed, see [`slot`]); oldest first,
    /// checkout takes from the end.
    idle: Box<[Mutex<Vec<Idle>>]>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Shared {
    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle[slot() % self.idle.len()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops idle connections past their time (the oldest are at the front).
    fn prune(&self, idle: &mut Vec<Idle>) {
        let stale = idle
            .iter()
            .take_while(|i| i.since.elapsed() > self.idle_timeout)
            .count();
        idle.drain(..stale);
    }
}

/// The pool; cheap to clone (clones share it).
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl Pool {
    pub fn new(connector: Connector, target: Uri, max_idle: usize, idle_timeout: Duration) -> Pool {
        let builder = http1::Builder::new();
        Pool {
            shared: Arc::new(Shared {
                connector,
                target,
                builder,
                idle: (0..SLOTS).map(|_| Mutex::new(Vec::new())).collect(),
                max_idle: max_idle.max(1),
                idle_timeout,
            }),
        }
    }

    /// Closes this thread's idle connections that are past their time or that the
    /// upstream closed.
    pub fn prune_idle(&self) {
        let mut g = self.shared.idle();
        self.shared.prune(&mut g);
        g.retain(|i| !i.tx.is_closed());
    }

    /// How often a serving thread should call [`Pool::prune_idle`].
    pub fn prune_every(&self) -> Duration {
        (self.shared.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
    }

    /// Idle connections held right now.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.shared
            .idle
            .iter()
            .map(|l| l.lock().map_or(0, |l| l.len()))
            .sum()
    }

    /// Sends `req` on a pooled or new connection and returns the response, whose body
    /// hands the connection back when read to its end.
    pub async fn request(
        &self,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        origin_form(&mut req);
        let (mut tx, reused) = match self.checkout().await {
            Some(tx) => (tx, true),
            None => (Box::pin(self.connect()).await?, false),
        };
        let resp = match tx.try_send_request(req).await {
            Ok(r) => r,
            Err(mut e) => match e.take_message() {
                // Not written: the idle connection went away under us. Once more, fresh.
                Some(req) if reused => {
                    tx = Box::pin(self.connect()).await?;
                    tx.send_request(req).await.map_err(UpstreamError::Send)?
                }
                _ => return Err(UpstreamError::Send(e.into_error())),
            },
        };
        let lease = Lease {
            tx,
            pool: self.shared.clone(),
        };
        Ok(resp.map(|inner| UpstreamBody {
            inner,
            lease: Some(lease),
        }))
    }

    /// The newest idle connection that is still open and ready, if any.
    async fn checkout(&self) -> Option<Sender> {
        loop {
            let idle = {
                let mut g = self.shared.idle();
                self.shared.prune(&mut g);
                g.pop()
            }?;
            let mut tx = idle.tx;
            if tx.is_closed() {
                continue;
            }
            if tx.is_ready() {
                return Some(tx);
            }
            if let Ok(Ok(())) = tokio::time::timeout(READY_WAIT, tx.ready()).await {
                return Some(tx);
            }
        }
    }

    /// Dials and handshakes a new connection. Callers box this future: it holds the
    /// connector's and the handshake's futures (kilobytes), and would otherwise make
    /// every request's future that large, and be copied with it, though almost every
    /// request is served on a pooled connection.
    async fn connect(&self) -> Result<Sender, UpstreamError> {
        let mut c = self.shared.connector.clone();
        std::future::poll_fn(|cx| c.poll_ready(cx))
            .await
            .map_err(UpstreamError::Connect)?;
        let io = c
            .call(self.shared.target.clone())
            .await
            .map_err(UpstreamError::Connect)?;
        let (tx, conn) = self
            .shared
            .builder
            .handshake(io)
            .await
            .map_err(UpstreamError::Handshake)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(tx)
    }
}

/// Rewrites an absolute request target to origin form (`/path?query`); one already in
/// origin form (as the gateway builds them) is left as it is.
fn origin_form(req: &mut Request<Full<Bytes>>) {
    if req.uri().authority().is_none() && req.uri().scheme().is_none() {
        return;
    }
    let pq = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    if let Ok(u) = pq.parse::<Uri>() {
        *req.uri_mut() = u;
    }
}

/// A connection lent to one exchange.
struct Lease {
    tx: Sender,
    pool: Arc<Shared>,
}

/// An upstream response body; when read to its end, its connection goes back to the
/// pool.
pub struct UpstreamBody {
    inner: Incoming,
    lease: Option<Lease>,
}

impl UpstreamBody {
    fn release(&mut self) {
        if let Some(l) = self.lease.take() {
            let mut g = l.pool.idle();
            l.pool.prune(&mut g);
            if g.len() < l.pool.max_idle && !l.tx.is_closed() {
                g.push(Idle {
                    tx: l.tx,
                    since: Instant::now(),
                });
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Err(_))) => this.lease = None,
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.release(),
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// How the test upstream behaves.
    #[derive(Clone, Copy)]
    enum Mode {
        /// Keep-alive, a short body.
        KeepAlive,
        /// Answers, then closes the connection (no `Connection: close` header).
        CloseAfter,
        /// A 4 MiB body in 64 KiB writes.
        Big,
    }

    struct Upstream {
        addr: std::net::SocketAddr,
        accepted: Arc<AtomicUsize>,
        lines: Arc<Mutex<Vec<String>>>,
    }

    /// A raw HTTP/1.1 upstream on 127.0.0.1 that counts connections and records
    /// request lines.
    async fn upstream(mode: Mode) -> Upstream {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (acc, seen) = (accepted.clone(), lines.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // One request head and its Content-Length body.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            if !read_more(&mut s, &mut buf).await {
                                return;
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            if !read_more(&mut s, &mut buf).await {
                                return;
                            }
                        }
                        buf.drain(..head_end + len);
                        let line = head.lines().next().unwrap_or_default().to_owned();
                        seen.lock().expect("lines").push(line);
                        match mode {
                            Mode::KeepAlive | Mode::CloseAfter => {
                                let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                                if s.write_all(r).await.is_err() {
                                    return;
                                }
                                if matches!(mode, Mode::CloseAfter) {
                                    return;
                                }
                            }
                            Mode::Big => {
                                let n = 4 << 20;
                                let head =
                                    format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n");
                                if s.write_all(head.as_bytes()).await.is_err() {
                                    return;
                                }
                                let chunk = vec![b'x'; 64 << 10];
                                for _ in 0..(n / chunk.len()) {
                                    if s.write_all(&chunk).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                });
            }
        });
        Upstream {
            addr,
            accepted,
            lines,
        }
    }

    /// Reads what the socket has into `buf`; false at end of stream or on error.
    async fn read_more(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn pool(up: &Upstream, idle_timeout: Duration) -> Pool {
        let c = super::super::connector(None, false, Duration::from_secs(2)).expect("connector");
        let target: Uri = format!("http://{}/", up.addr).parse().expect("uri");
        Pool::new(c, target, 8, idle_timeout)
    }

    /// A small POST to the upstream at `addr`, with an absolute target.
    fn post(addr: std::net::SocketAddr, path: &str) -> Request<Full<Bytes>> {
        Request::post(format!("http://{addr}{path}"))
            .header("host", addr.to_string())
            .header("content-length", "2")
            .body(Full::new(Bytes::from_static(b"{}")))
            .expect("request")
    }

    async fn body(r: Response<UpstreamBody>) -> Bytes {
        r.into_body().collect().await.expect("body").to_bytes()
    }

    /// Bounded: every test finishes well within this.
    async fn bounded<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(20), f)
            .await
            .expect("test timed out")
    }

    #[tokio::test]
    async fn sequential_requests_share_one_connection_in_origin_form() {
        bounded(async {
            let up = upstream(Mode::KeepAlive).await;
            let p = pool(&up, Duration::from_secs(90));
            for i in 0..5 {
                let r = p
                    .request(post(up.addr, &format!("/v1/chat?n={i}")))
                    .await
                    .expect("send");
                assert_eq!(r.status(), 200);
                assert_eq!(body(r).await, "ok");
                assert_eq!(p.idle_count(), 1, "returned after its body");
            }
            assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
            let lines = up.lines.lock().expect("lines").clone();
            assert_eq!(lines.len(), 5);
            assert_eq!(lines[3], "POST /v1/chat?n=3 HTTP/1.1");
        })
        .await;
    }

    #[tokio::test]
    async fn each_thread_reuses_the_connections_its_own_runtime_drives() {
        bounded(async {
            let up = upstream(Mode::KeepAlive).await;
            let p = pool(&up, Duration::from_secs(90));
            // Two threads, each with a single-threaded runtime (as the gateway serves).
            // The first sends its requests, then keeps its runtime (and so its idle
            // connection) alive until the second has sent its own: the second must open
            // a connection of its own, not borrow one the first thread drives.
            let (first_done, wait_first) = std::sync::mpsc::channel::<()>();
            let (second_done, wait_second) = tokio::sync::oneshot::channel::<()>();
            let run = |t: usize, p: Pool, addr: std::net::SocketAddr| async move {
                for i in 0..3 {
                    let r = p
                        .request(post(addr, &format!("/t{t}?n={i}")))
                        .await
                        .expect("send");
                    assert_eq!(body(r).await, "ok");
                    assert_eq!(p.shared.idle().len(), 1, "this thread's list holds its own");
                }
            };
            let single = || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
            };
            let (p0, p1, addr) = (p.clone(), p.clone(), up.addr);
            let t0 = std::thread::spawn(move || {
                single().block_on(async move {
                    run(0, p0, addr).await;
                    first_done.send(()).expect("signal");
                    wait_second.await.expect("second thread");
                });
            });
            let t1 = std::thread::spawn(move || {
                wait_first.recv().expect("first thread");
                single().block_on(run(1, p1, addr));
                second_done.send(()).expect("signal");
            });
            tokio::task::spawn_blocking(move || {
                t1.join().expect("second thread");
                t0.join().expect("first thread");
            })
            .await
            .expect("join");
            assert_eq!(
                up.accepted.load(Ordering::SeqCst),
                2,
                "one connection per thread"
            );
            assert_eq!(up.lines.lock().expect("lines").len(), 6);
        })
        .await;
    }

    #[tokio::test]
    async fn prune_idle_closes_expired_connections_without_further_traffic() {
        bounded(async {
            let up = upstream(Mode::KeepAlive).await;
            let timeout = Duration::from_secs(4);
            let p = pool(&up, timeout);
            let r = p.request(post(up.addr, "/a")).await.expect("send");
            assert_eq!(body(r).await, "ok");
            assert_eq!(p.idle_count(), 1);
            // From here the clock moves only when told to.
            tokio::time::pause();
            p.prune_idle();
            assert_eq!(p.idle_count(), 1, "not yet past its time");
            tokio::time::advance(timeout / 2).await;
            p.prune_idle();
            assert_eq!(p.idle_count(), 1, "half its time: still kept");
            tokio::time::advance(timeout / 2 + Duration::from_millis(1)).await;
            p.prune_idle();
            assert_eq!(p.idle_count(), 0, "closed with no request to trigger it");
            tokio::time::resume();
            assert_eq!(p.prune_every(), Duration::from_secs(1));
        })
        .await;
    }

    #[tokio::test]
    async fn concurrent_requests_each_get_a_connection_and_all_come_back() {
        bounded(async {
            let up = upstream(Mode::KeepAlive).await;
            let p = pool(&up, Duration::from_secs(90));
            let rs: Vec<_> = (0..4).map(|_| p.request(post(up.addr, "/x"))).collect();
            let rs = futures_join_all(rs).await;
            for r in rs {
                assert_eq!(body(r.expect("send")).await, "ok");
            }
            assert_eq!(up.accepted.load(Ordering::SeqCst), 4);
            assert_eq!(p.idle_count(), 4);
            // The next four reuse them.
            for _ in 0..4 {
                assert_eq!(
                    body(p.request(post(up.addr, "/x")).await.expect("send")).await,
                    "ok"
                );
            }
            assert_eq!(up.accepted.load(Ordering::SeqCst), 4);
        })
        .await;
    }

    async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output>
    where
        F::Output: Send,
    {
        let mut pinned: Vec<Pin<Box<F>>> = fs.into_iter().map(Box::pin).collect();
        let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
                if o.is_none() {
                    match f.as_mut().poll(cx) {
                        Poll::Ready(v) => *o = Some(v),
                        Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        out.into_iter().flatten().collect()
    }

    #[tokio::test]
    async fn an_abandoned_body_takes_its_connection_with_it() {
        bounded(async {
            let up = upstream(Mode::Big).await;
            let p = pool(&up, Duration::from_secs(90));
            let mut b = p
                .request(post(up.addr, "/big"))
                .await
                .expect("send")
                .into_body();
            let first = b.frame().await.expect("a frame").expect("ok");
            assert!(first.is_data());
            drop(b);
            assert_eq!(p.idle_count(), 0, "a half-read connection is not pooled");
            let r = p.request(post(up.addr, "/big")).await.expect("send");
            assert_eq!(body(r).await.len(), 4 << 20);
            assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
            assert_eq!(
                p.idle_count(),
                1,
                "a body read to its end returns the connection"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced() {
        bounded(async {
            let up = upstream(Mode::CloseAfter).await;
            let p = pool(&up, Duration::from_secs(90));
            for _ in 0..3 {
                let r = p.request(post(up.addr, "/x")).await.expect("send");
                assert_eq!(body(r).await, "ok");
                // Wait until the connection task has seen the upstream's close, so the
                // next checkout meets a pooled connection that is closed.
                while !p.shared.idle().iter().all(|i| i.tx.is_closed()) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            assert_eq!(up.accepted.load(Ordering::SeqCst), 3);
            assert_eq!(
                up.lines.lock().expect("lines").len(),
                3,
                "each request sent once"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn idle_connections_past_their_time_are_not_reused() {
        bounded(async {
            let up = upstream(Mode::KeepAlive).await;
            let timeout = Duration::from_secs(4);
            let p = pool(&up, timeout);
            assert_eq!(
                body(p.request(post(up.addr, "/x")).await.expect("send")).await,
                "ok"
            );
            assert_eq!(p.idle_count(), 1);
            // The idle connection's time runs out on tokio's clock, not the wall's.
            tokio::time::pause();
            tokio::time::advance(timeout + Duration::from_millis(1)).await;
            tokio::time::resume();
            assert_eq!(p.idle_count(), 1, "dropped only when the list is next used");
            assert_eq!(
                body(p.request(post(up.addr, "/x")).await.expect("send")).await,
                "ok"
            );
            assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
            assert_eq!(
                p.idle_count(),
                1,
                "the stale one was dropped, the new one kept"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn a_refused_connect_is_an_error() {
        bounded(async {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = l.local_addr().expect("addr");
            drop(l);
            let c =
                super::super::connector(None, false, Duration::from_secs(2)).expect("connector");
            let p = Pool::new(
                c,
                format!("http://{addr}/").parse().expect("uri"),
                8,
                Duration::from_secs(90),
            );
            let req = Request::get(format!("http://{addr}/"))
                .body(Full::new(Bytes::new()))
                .expect("request");
            let e = p.request(req).await.err().expect("refused");
            assert!(matches!(e, UpstreamError::Connect(_)), "{e}");
        })
        .await;
    }
}
