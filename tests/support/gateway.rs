//! Test harness for the gateway: the real `signet serve` binary on 127.0.0.1:0, scripted
//! in-process upstreams that count every request they get, and a small HTTP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const SECRET: &str = "d6237acac019c57a12c54147b76f9e38990931ae82ee0e13a82bb3caf803f05b";

/// What a scripted upstream sends back: status, headers, body chunks (each written
/// separately, with `pause` between them).
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub chunks: Vec<Vec<u8>>,
    pub pause: Duration,
    /// Close the connection without answering.
    pub hang_up: bool,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Wait at a gate the test opens: after the head and this many chunks, or before
    /// anything is sent when it is 0 (see [`Reply::held`], [`Reply::held_after`]).
    pub hold: Option<(usize, Gate)>,
}

/// A point where scripted replies wait until the test opens it, and that tells the
/// test how many replies have reached it. Once open it stays open.
#[derive(Clone)]
pub struct Gate {
    open: Arc<tokio::sync::watch::Sender<bool>>,
    arrived: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl Gate {
    pub fn new() -> Gate {
        Gate {
            open: Arc::new(tokio::sync::watch::Sender::new(false)),
            arrived: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
    /// Lets every waiting reply (and every later one) go on.
    pub fn open(&self) {
        self.open.send_replace(true);
    }
    /// Replies that have reached the gate so far.
    pub fn arrived(&self) -> usize {
        *self.arrived.borrow()
    }
    /// Waits (at most 20 s, then panics) until `n` replies have reached the gate.
    pub async fn wait_arrived(&self, n: usize) {
        let mut rx = self.arrived.subscribe();
        let reached = tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|a| *a >= n));
        assert!(
            matches!(reached.await, Ok(Ok(_))),
            "{} of {n} replies reached the gate",
            self.arrived()
        );
    }
    /// Counts this reply as arrived and waits until the gate is open.
    async fn pass(&self) {
        self.arrived.send_modify(|a| *a += 1);
        let mut rx = self.open.subscribe();
        let _ = rx.wait_for(|o| *o).await;
    }
}

impl Reply {
    pub fn json(body: &str) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![body.as_bytes().to_vec()],
            pause: Duration::ZERO,
            hang_up: false,
            delay: Duration::ZERO,
            hold: None,
        }
    }
    pub fn sse(events: &[&str]) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunks: events.iter().map(|e| e.as_bytes().to_vec()).collect(),
            pause: Duration::from_millis(5),
            hang_up: false,
            delay: Duration::ZERO,
            hold: None,
        }
    }
    /// This reply, held at `gate` before anything is sent.
    pub fn held(mut self, gate: &Gate) -> Reply {
        self.hold = Some((0, gate.clone()));
        self
    }
    /// This reply, held at `gate` once its head and first `n` chunks are sent.
    pub fn held_after(mut self, n: usize, gate: &Gate) -> Reply {
        self.hold = Some((n, gate.clone()));
        self
    }
}

/// A recorded request as the upstream saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub head: String,
    pub body: Vec<u8>,
}

/// A scripted HTTP/1.1 upstream (chunked responses, keep-alive).
pub struct Upstream {
    pub addr: std::net::SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub seen: Arc<std::sync::Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn read_request(s: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Some(Seen {
        head,
        body: buf[head_end..head_end + len].to_vec(),
    })
}

/// Starts an upstream answering every request with `reply(&seen)`.
pub async fn upstream(reply: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = l.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let reply = Arc::new(reply);
    let (h, sn) = (hits.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            let (h, sn, reply) = (h.clone(), sn.clone(), reply.clone());
            tokio::spawn(async move {
                while let Some(req) = read_request(&mut s).await {
                    h.fetch_add(1, Ordering::SeqCst);
                    sn.lock().expect("lock").push(req.clone());
                    let r = reply(&req);
                    tokio::time::sleep(r.delay).await;
                    if let Some((0, gate)) = &r.hold {
                        gate.pass().await;
                    }
                    if r.hang_up {
                        return;
                    }
                    let mut head =
                        format!("HTTP/1.1 {} X\r\ntransfer-encoding: chunked\r\n", r.status);
                    for (k, v) in &r.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for (i, c) in r.chunks.iter().enumerate() {
                        if let Some((n, gate)) = &r.hold
                            && *n == i
                            && i > 0
                        {
                            gate.pass().await;
                        }
                        let mut frame = format!("{:x}\r\n", c.len()).into_bytes();
                        frame.extend_from_slice(c);
                        frame.extend_from_slice(b"\r\n");
                        if s.write_all(&frame).await.is_err() {
                            return;
                        }
                        let _ = s.flush().await;
                        tokio::time::sleep(r.pause).await;
                    }
                    if let Some((n, gate)) = &r.hold
                        && *n > 0
                        && *n >= r.chunks.len()
                    {
                        gate.pass().await;
                    }
                    if s.write_all(b"0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Upstream { addr, hits, seen }
}

/// A running `signet serve`.
pub struct Gateway {
    pub child: Child,
    pub addr: String,
    /// `http` or `https`, as announced.
    pub scheme: String,
    pub log: PathBuf,
    pub dir: tempfile::TempDir,
    pub stderr: Arc<std::sync::Mutex<String>>,
    /// The thread copying the gateway's stderr into `stderr`; it ends at end of file.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    /// Log lines so far.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
    /// Waits until the log has `n` lines (entries are durable before responses, but
    /// streamed entries land when the stream ends).
    pub fn wait_lines(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let l = self.lines();
            if l.len() >= n {
                return l;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.lines()
    }
    /// Sends SIGTERM and waits for exit; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.terminate();
        self.wait_exit()
    }
    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
    }
    /// Waits (at most 5 s) for the gateway to exit; returns the exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        for _ in 0..500 {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
    /// True while the gateway process runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
    /// Waits (at most 5 s, then panics) until the listener refuses connections, which
    /// it does from the moment a shutdown starts.
    pub fn wait_refusing(&self) {
        for _ in 0..500 {
            if std::net::TcpStream::connect(&self.addr).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{} still accepts connections", self.addr);
    }
    /// Everything the gateway wrote to stderr, once it has exited (panics if it runs).
    pub fn all_stderr(&mut self) -> String {
        assert!(!self.running(), "the gateway is still running");
        if let Some(t) = self.stderr_reader.take() {
            t.join().expect("stderr reader");
        }
        self.stderr.lock().expect("lock").clone()
    }
    /// `signet audit verify` on the log; returns (exit code, stdout).
    pub fn verify(&self) -> (Option<i32>, String) {
        let o = Command::new(env!("CARGO_BIN_EXE_signet"))
            .args(["audit", "verify"])
            .arg(&self.log)
            .env("SIGNET_HMAC_SECRET", SECRET)
            .output()
            .expect("verify");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }
}

/// Starts `signet serve` against `upstream_url` with extra env and an optional config.
pub fn start(upstream_url: &str, env: &[(&str, &str)], config: Option<&str>) -> Gateway {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
    c.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNET_UPSTREAM_URL", upstream_url)
        .env("SIGNET_PORT", "0")
        .env("SIGNET_HOST", "127.0.0.1")
        .env("SIGNET_AUDIT_LOG_PATH", &log)
        .env("SIGNET_HMAC_SECRET", SECRET)
        .env("SIGNET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    if let Some(cfg) = config {
        let p = dir.path().join("signet.toml");
        std::fs::write(&p, cfg).expect("config");
        c.arg("--config").arg(&p);
    }
    let mut child = c.spawn().expect("spawn signet serve");
    let stderr = Arc::new(std::sync::Mutex::new(String::new()));
    let err_pipe = child.stderr.take().expect("stderr");
    let sink = stderr.clone();
    let stderr_reader = std::thread::spawn(move || {
        for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
            sink.lock().expect("lock").push_str(&format!("{line}\n"));
        }
    });
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let (scheme, addr) = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(rest) = l.strip_prefix("signet: listening on ")
                    && let Some((scheme, addr)) = rest.split_once("://")
                {
                    break (scheme.to_owned(), addr.to_owned());
                }
            }
            _ => {
                let _ = child.wait();
                panic!("gateway did not start: {}", stderr.lock().expect("lock"))
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Gateway {
        child,
        addr,
        scheme,
        log,
        dir,
        stderr,
        stderr_reader: Some(stderr_reader),
    }
}

/// A response as the test client saw it.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    pub trailers: Option<http::HeaderMap>,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Sends one request with hyper (HTTP/1.1, asks for trailers) and reads it whole.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Got {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut b = http::Request::builder()
        .method(method)
        .uri(url)
        .header("te", "trailers");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b
        .body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
            body,
        )))
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .expect("timeout")
        .expect("send");
    let (parts, body) = resp.into_parts();
    let collected = tokio::time::timeout(Duration::from_secs(20), body.collect())
        .await
        .expect("body timeout")
        .expect("body");
    let trailers = collected.trailers().cloned();
    Got {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: collected.to_bytes().to_vec(),
        trailers,
    }
}

/// The standard owner header set.
pub const ALICE: (&str, &str) = ("x-commit-owner", "human:alice@example.com");

/// Path of the gateway's audit log for assertions.
pub fn log_path(g: &Gateway) -> &Path {
    &g.log
}
