//! The load driver of `bench/soak.sh`: mixed traffic against a running gateway for a
//! fixed time, then a check of the gateway's audit log against what the clients saw.
//!
//! `soak_client run --addr HOST:PORT --seconds N --conns C --cap BYTES --out DIR
//! [--only KIND]` runs C closed-loop clients for N seconds. Each request draws its kind (per mille):
//! allowed unary chat 560, allowed SSE stream read to the end 150, no owner header
//! (403) 80, unknown `X-Classification` (400) 80, body one byte over the cap (413, sent
//! with its `Content-Length`, on a fresh connection since the gateway does not read it)
//! 80, client gone mid-request-body 25, client gone mid-stream 25 (5 % aborts). Unary
//! kinds reuse one keep-alive connection per client; aborts use raw TCP and close the
//! socket. Every request carries a unique tag in its query (`?soak=w<client>n<i>`),
//! which the gateway records in the entry's `metadata.path`, so even a request that
//! never got an answer can be found in the log. One record per request goes to
//! `DIR/records-<client>.tsv`: tag, kind, status (0: left before the answer by
//! design, `err`: transport error or timeout), receipt entry id and signature (`-` when none). It prints counts and req/s
//! by kind and status. `--only KIND` sends a single kind (`chat`, `stream`, `no_owner`,
//! `bad_class`, `over_cap`, `abort_body`, `abort_stream`), to find where a trend
//! comes from.
//!
//! `soak_client check --log LOG --records DIR` reads the log and the records and
//! checks: every receipt's entry is in the log once, with the receipt's signature as
//! its `hmac` (HMAC receipts sign with the chain key); every request whose head was
//! sent has exactly one entry with its tag, with the expected status; no entry is
//! unaccounted for. It prints the counts and exits 1 on any violation.
//!
//! Loopback use only; every request is bounded by a 10 s timeout.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use signet_audit::json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OWNER: &str = "human:soak@example.com";
const TIMEOUT: Duration = Duration::from_secs(10);
const PATH: &str = "/v1/chat/completions";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Chat,
    Stream,
    NoOwner,
    BadClass,
    OverCap,
    AbortBody,
    AbortStream,
}

/// Kinds and their weights per mille.
const MIX: [(Kind, u32); 7] = [
    (Kind::Chat, 560),
    (Kind::Stream, 150),
    (Kind::NoOwner, 80),
    (Kind::BadClass, 80),
    (Kind::OverCap, 80),
    (Kind::AbortBody, 25),
    (Kind::AbortStream, 25),
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Stream => "stream",
            Kind::NoOwner => "no_owner",
            Kind::BadClass => "bad_class",
            Kind::OverCap => "over_cap",
            Kind::AbortBody => "abort_body",
            Kind::AbortStream => "abort_stream",
        }
    }
    fn parse(s: &str) -> Option<Kind> {
        MIX.iter().map(|(k, _)| *k).find(|k| k.name() == s)
    }
    /// The status the client must see (0: it leaves before any answer).
    fn client_status(self) -> u16 {
        match self {
            Kind::Chat | Kind::Stream => 200,
            Kind::NoOwner => 403,
            Kind::BadClass => 400,
            Kind::OverCap => 413,
            Kind::AbortBody | Kind::AbortStream => 0,
        }
    }
    /// The status its entry must record.
    fn entry_status(self) -> u16 {
        match self {
            // The body never completes: refused as unreadable.
            Kind::AbortBody => 400,
            // The stream had started with a 200.
            Kind::AbortStream => 200,
            k => k.client_status(),
        }
    }
}

/// A small deterministic generator (xorshift64*), one per client.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn kind(&mut self) -> Kind {
        let mut x = (self.next() % 1000) as u32;
        for (k, w) in MIX {
            if x < w {
                return k;
            }
            x -= w;
        }
        Kind::Chat
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("soak_client: {msg}");
    eprintln!(
        "usage: soak_client run --addr HOST:PORT --seconds N --conns C --cap BYTES --out DIR [--only KIND]\n       soak_client check --log LOG --records DIR"
    );
    std::process::exit(64)
}

fn flags(args: &[String]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut it = args.iter();
    while let Some(f) = it.next() {
        let Some(name) = f.strip_prefix("--") else {
            usage(&format!("unexpected argument {f}"))
        };
        let Some(v) = it.next() else {
            usage(&format!("{f} needs a value"))
        };
        m.insert(name.to_owned(), v.clone());
    }
    m
}

fn need<T: std::str::FromStr>(m: &HashMap<String, String>, name: &str) -> T {
    m.get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage(&format!("--{name} missing or invalid")))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        usage("a command is needed")
    };
    let m = flags(rest);
    let code = match cmd.as_str() {
        "run" => {
            let cfg = Arc::new(RunCfg {
                addr: need(&m, "addr"),
                seconds: need(&m, "seconds"),
                conns: need(&m, "conns"),
                cap: need(&m, "cap"),
                out: need(&m, "out"),
                only: m.get("only").map(|k| {
                    Kind::parse(k).unwrap_or_else(|| usage(&format!("--only: unknown kind {k}")))
                }),
            });
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap_or_else(|e| usage(&format!("runtime: {e}")));
            rt.block_on(run(cfg))
        }
        "check" => check(&need::<PathBuf>(&m, "log"), &need::<PathBuf>(&m, "records")),
        _ => usage(&format!("unknown command {cmd}")),
    };
    std::process::exit(code)
}

// ------------------------------------------------------------------ load

struct RunCfg {
    addr: std::net::SocketAddr,
    seconds: u64,
    conns: usize,
    cap: usize,
    out: PathBuf,
    /// Send only this kind (to find which kind a trend comes from).
    only: Option<Kind>,
}

/// What one request got.
struct Outcome {
    status: u16,
    /// The receipt header value (header, or the stream's final SSE comment).
    receipt: Option<String>,
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(addr: std::net::SocketAddr) -> std::io::Result<Sender> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(tx)
}

fn chat_body(tag: &str, stream: bool) -> Bytes {
    Bytes::from(format!(
        r#"{{"model":"bench-1","stream":{stream},"user":"{tag}","messages":[{{"role":"user","content":"Say hello in one short sentence."}}],"max_tokens":64}}"#
    ))
}

fn request(tag: &str, kind: Kind, cap: usize) -> Result<http::Request<Full<Bytes>>, String> {
    let mut b = http::Request::post(format!("{PATH}?soak={tag}"))
        .header("host", "soak")
        .header("content-type", "application/json");
    if kind != Kind::NoOwner {
        b = b.header("x-commit-owner", OWNER);
    }
    if kind == Kind::BadClass {
        b = b.header("x-classification", "SORTA-SECRET");
    }
    let body = match kind {
        Kind::OverCap => {
            // Valid JSON padded to exactly one byte over the cap.
            let head = format!(r#"{{"user":"{tag}","pad":""#);
            let mut v = head.into_bytes();
            v.resize(cap - 1, b'x');
            v.extend_from_slice(b"\"}");
            Bytes::from(v)
        }
        Kind::Stream => chat_body(tag, true),
        _ => chat_body(tag, false),
    };
    b.body(Full::new(body)).map_err(|e| format!("request: {e}"))
}

/// One request on a keep-alive connection; `Err` on a transport error or timeout.
async fn exchange(tx: &mut Sender, req: http::Request<Full<Bytes>>) -> Result<Outcome, String> {
    tx.ready().await.map_err(|e| format!("ready: {e}"))?;
    let resp = tx
        .send_request(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    let mut receipt = resp
        .headers()
        .get("x-signet-receipt")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    if receipt.is_none() {
        // Streams: the receipt is the final `: signet-receipt …` comment.
        receipt = body
            .split(|&b| b == b'\n')
            .filter_map(|l| l.strip_prefix(b": signet-receipt "))
            .next_back()
            .map(|v| String::from_utf8_lossy(v).into_owned());
    }
    Ok(Outcome { status, receipt })
}

/// Sends the head and part of the body, then closes the socket.
async fn abort_body(addr: std::net::SocketAddr, tag: &str) -> std::io::Result<()> {
    let body = chat_body(tag, false);
    let mut s = TcpStream::connect(addr).await?;
    let head = format!(
        "POST {PATH}?soak={tag} HTTP/1.1\r\nhost: soak\r\ncontent-type: application/json\r\nx-commit-owner: {OWNER}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(&body[..body.len() / 2]).await?;
    s.flush().await?;
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(()) // dropped: FIN mid-body
}

/// Sends a whole stream request, reads the response head and the first bytes of the
/// stream, then closes the socket with the rest unread.
async fn abort_stream(addr: std::net::SocketAddr, tag: &str) -> std::io::Result<u16> {
    let body = chat_body(tag, true);
    let mut s = TcpStream::connect(addr).await?;
    let head = format!(
        "POST {PATH}?soak={tag} HTTP/1.1\r\nhost: soak\r\ncontent-type: application/json\r\nx-commit-owner: {OWNER}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(&body).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.windows(5).any(|w| w == b"data:") {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let status = got
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(status) // dropped with data unread: the gateway's next write fails
}

#[derive(Default)]
struct Tally {
    /// (kind, status) -> count; status 0: left on purpose, or a transport error.
    by: HashMap<(Kind, u16), u64>,
    errors: HashMap<Kind, u64>,
    unexpected: u64,
    first_errors: Vec<String>,
}

async fn client(cfg: Arc<RunCfg>, w: usize, deadline: Instant) -> std::io::Result<Tally> {
    let f = std::fs::File::create(cfg.out.join(format!("records-{w}.tsv")))?;
    let mut out = BufWriter::new(f);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((w as u64 + 1) << 17));
    let mut t = Tally::default();
    let mut conn: Option<Sender> = None;
    let mut i: u64 = 0;
    while Instant::now() < deadline {
        let kind = cfg.only.unwrap_or_else(|| rng.kind());
        let tag = format!("w{w}n{i}");
        i += 1;
        let res: Result<Outcome, String> = match kind {
            Kind::AbortBody => tokio::time::timeout(TIMEOUT, abort_body(cfg.addr, &tag))
                .await
                .map_err(|_| "timeout".to_owned())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map(|()| Outcome {
                    status: 0,
                    receipt: None,
                }),
            Kind::AbortStream => tokio::time::timeout(TIMEOUT, abort_stream(cfg.addr, &tag))
                .await
                .map_err(|_| "timeout".to_owned())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map(|status| Outcome {
                    // Seen on the wire, then left: the request's outcome is the entry's.
                    status: if status == 200 { 0 } else { status },
                    receipt: None,
                }),
            Kind::OverCap => {
                let req = request(&tag, kind, cfg.cap);
                let once = async {
                    let req = req?;
                    let mut tx = connect(cfg.addr).await.map_err(|e| e.to_string())?;
                    exchange(&mut tx, req).await
                };
                tokio::time::timeout(TIMEOUT, once)
                    .await
                    .unwrap_or_else(|_| Err("timeout".into()))
            }
            _ => {
                let req = request(&tag, kind, cfg.cap);
                let once = async {
                    let req = req?;
                    let mut tx = match conn.take() {
                        Some(tx) if !tx.is_closed() => tx,
                        _ => connect(cfg.addr).await.map_err(|e| e.to_string())?,
                    };
                    let r = exchange(&mut tx, req).await;
                    if r.is_ok() {
                        conn = Some(tx);
                    }
                    r
                };
                tokio::time::timeout(TIMEOUT, once)
                    .await
                    .unwrap_or_else(|_| Err("timeout".into()))
            }
        };
        let (status, receipt, errored) = match res {
            Ok(o) => {
                if o.status != kind.client_status() || (o.status != 0 && o.receipt.is_none()) {
                    t.unexpected += 1;
                    if t.first_errors.len() < 5 {
                        t.first_errors.push(format!(
                            "{tag} {}: status {} receipt {}",
                            kind.name(),
                            o.status,
                            o.receipt.is_some()
                        ));
                    }
                }
                (o.status, o.receipt, false)
            }
            Err(e) => {
                *t.errors.entry(kind).or_default() += 1;
                if t.first_errors.len() < 5 {
                    t.first_errors.push(format!("{tag} {}: {e}", kind.name()));
                }
                (0, None, true)
            }
        };
        *t.by.entry((kind, status)).or_default() += 1;
        let (id, sig) = match receipt
            .as_deref()
            .map(signet_audit::receipt::Receipt::parse)
        {
            Some(Ok(r)) => (r.entry_id().to_owned(), signet_audit::util::to_hex(r.sig())),
            Some(Err(_)) => ("bad".to_owned(), "bad".to_owned()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        if errored {
            writeln!(out, "{tag}\t{}\terr\t{id}\t{sig}", kind.name())?;
        } else {
            writeln!(out, "{tag}\t{}\t{status}\t{id}\t{sig}", kind.name())?;
        }
    }
    out.flush()?;
    Ok(t)
}

async fn run(cfg: Arc<RunCfg>) -> i32 {
    if let Err(e) = std::fs::create_dir_all(&cfg.out) {
        usage(&format!("--out: {e}"));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(cfg.seconds);
    let tasks: Vec<_> = (0..cfg.conns)
        .map(|w| tokio::spawn(client(cfg.clone(), w, deadline)))
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        match task.await {
            Ok(Ok(t)) => {
                for (k, n) in t.by {
                    *all.by.entry(k).or_default() += n;
                }
                for (k, n) in t.errors {
                    *all.errors.entry(k).or_default() += n;
                }
                all.unexpected += t.unexpected;
                all.first_errors.extend(t.first_errors);
            }
            Ok(Err(e)) => {
                eprintln!("soak_client: records: {e}");
                return 2;
            }
            Err(e) => {
                eprintln!("soak_client: client task: {e}");
                return 2;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let total: u64 = all.by.values().sum();
    println!(
        "LOAD seconds={secs:.1} conns={} requests={total} rps={:.1}",
        cfg.conns,
        total as f64 / secs
    );
    for (kind, _) in MIX {
        let n: u64 = all
            .by
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| n)
            .sum();
        let mut statuses: Vec<(u16, u64)> = all
            .by
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, s), n)| (*s, *n))
            .collect();
        statuses.sort_unstable();
        let st: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
        println!(
            "KIND {:<12} n={n} rps={:.1} statuses={} errors={}",
            kind.name(),
            n as f64 / secs,
            st.join(","),
            all.errors.get(&kind).copied().unwrap_or(0)
        );
    }
    let errors: u64 = all.errors.values().sum();
    println!(
        "CLIENT transport_errors={errors} unexpected={}",
        all.unexpected
    );
    for e in &all.first_errors {
        eprintln!("soak_client: {e}");
    }
    if errors + all.unexpected > 0 { 1 } else { 0 }
}

// ------------------------------------------------------------------ check

/// What the log says about one tagged request.
struct Seen {
    count: u32,
    status: u64,
    entry_id: String,
    hmac: String,
}

fn check(log: &Path, records: &Path) -> i32 {
    let text = match std::fs::read(log) {
        Ok(t) => t,
        Err(e) => usage(&format!("--log: {e}")),
    };
    let mut by_tag: HashMap<String, Seen> = HashMap::new();
    let mut by_id: HashMap<String, u32> = HashMap::new();
    let (mut entries, mut untagged) = (0u64, Vec::new());
    let mut bad = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        entries += 1;
        let m = match signet_audit::line::parse_entry(line) {
            Ok(m) => m,
            Err(e) => {
                bad.push(format!("line {}: unparsable: {e}", n + 1));
                continue;
            }
        };
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let meta = m.get("metadata").and_then(Value::as_object);
        let mget = |k: &str| meta.and_then(|x| x.get(k));
        let entry_id = s("entry_id");
        *by_id.entry(entry_id.clone()).or_default() += 1;
        let path = mget("path").and_then(Value::as_str).unwrap_or("");
        let Some(tag) = path.split_once("?soak=").map(|(_, t)| t.to_owned()) else {
            untagged.push(format!("line {}: {}", n + 1, s("check_name")));
            continue;
        };
        let status = match mget("status") {
            Some(Value::Number(x)) => x.as_u64().unwrap_or(0),
            _ => 0,
        };
        let e = by_tag.entry(tag).or_insert(Seen {
            count: 0,
            status,
            entry_id,
            hmac: s("hmac"),
        });
        e.count += 1;
    }
    let mut files: Vec<PathBuf> = match std::fs::read_dir(records) {
        Ok(d) => d
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
            .collect(),
        Err(e) => usage(&format!("--records: {e}")),
    };
    files.sort();
    let (mut requests, mut receipts, mut lost, mut missing, mut dup, mut wrong) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut by_kind: HashMap<Kind, u64> = HashMap::new();
    let mut matched = 0u64;
    for f in &files {
        let Ok(fh) = std::fs::File::open(f) else {
            usage(&format!("cannot read {}", f.display()))
        };
        for line in std::io::BufReader::new(fh).lines() {
            let Ok(line) = line else {
                usage(&format!("cannot read {}", f.display()))
            };
            let cols: Vec<&str> = line.split('\t').collect();
            let [tag, kind, status, id, sig] = cols[..] else {
                usage(&format!("bad record in {}: {line}", f.display()))
            };
            let Some(kind) = Kind::parse(kind) else {
                usage(&format!("bad kind in {}: {line}", f.display()))
            };
            requests += 1;
            *by_kind.entry(kind).or_default() += 1;
            let mut note = |what: &str, c: &mut u64| {
                *c += 1;
                if bad.len() < 20 {
                    bad.push(format!("{tag} ({}): {what}", kind.name()));
                }
            };
            if id != "-" {
                receipts += 1;
                match by_id.get(id) {
                    None => note("receipt's entry is not in the log (LOST)", &mut lost),
                    Some(1) => {}
                    Some(_) => note("receipt's entry id appears more than once", &mut dup),
                }
            }
            match by_tag.get(tag) {
                // A transport error: whether the gateway saw the request is unknown
                // (the client reports these errors itself).
                None if status == "err" => {}
                None => note("no entry for this request", &mut missing),
                Some(s) => {
                    matched += 1;
                    if s.count != 1 {
                        note(&format!("{} entries for one request", s.count), &mut dup);
                    }
                    if status != "err" && s.status != u64::from(kind.entry_status()) {
                        note(
                            &format!(
                                "entry status {} (expected {})",
                                s.status,
                                kind.entry_status()
                            ),
                            &mut wrong,
                        );
                    }
                    if id != "-" && (s.entry_id != id || s.hmac != sig) {
                        note("receipt does not match the request's entry", &mut wrong);
                    }
                }
            }
        }
    }
    let extra = by_tag.len() as u64 - matched;
    println!(
        "CHECK entries={entries} requests={requests} receipts={receipts} lost={lost} missing={missing} duplicated={dup} wrong={wrong} unknown_tags={extra} untagged={}",
        untagged.len()
    );
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort();
    for (k, n) in kinds {
        println!("CHECK_KIND {:<12} requests={n}", k.name());
    }
    for u in untagged.iter().take(10) {
        eprintln!("soak_client: untagged entry: {u}");
    }
    for b in &bad {
        eprintln!("soak_client: {b}");
    }
    let violations = lost + missing + dup + wrong + extra + untagged.len() as u64;
    if violations > 0 || !bad.is_empty() {
        1
    } else {
        0
    }
}
