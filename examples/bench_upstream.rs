//! A fast OpenAI-style upstream for the benchmarks in `bench/`.
//!
//! `POST …/chat/completions` answers a fixed chat completion (JSON with a
//! `Content-Length`), or, when the request body asks for `"stream": true`, a chunked SSE
//! stream of chat-completion chunks ending in `data: [DONE]`. `GET …/models` lists one
//! model; anything else is a 404. HTTP/1.1 with keep-alive; request bodies over 1 MiB
//! are refused with 413. Every response body is built once at start, so a request costs
//! little more than hyper's own parsing and writing: the upstream should not be what a
//! proxy benchmark measures.
//!
//! Usage: `bench_upstream [--addr 127.0.0.1:0] [--threads 1] [--sse-bytes N]`. It prints
//! `listening on ADDR` on stdout once bound, then serves until killed. `--sse-bytes N`
//! makes each stream carry at least N bytes of events (default: one short sentence), for
//! measuring streamed-inspection cost per MB. Loopback use only: it has no other limits.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Events per chunk written to the socket when a stream is large.
const EVENTS_PER_FRAME: usize = 16;

const COMPLETION: &str = concat!(
    r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"#,
    r#""model":"bench-1","choices":[{"index":0,"message":{"role":"assistant","#,
    r#""content":"Hello from the bench upstream. This answer is fixed."},"#,
    r#""finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":11,"#,
    r#""total_tokens":20}}"#
);

const MODELS: &str = r#"{"object":"list","data":[{"id":"bench-1","object":"model","created":1700000000,"owned_by":"bench"}]}"#;

const WORDS: [&str; 8] = [
    "Hello ",
    "from ",
    "the ",
    "bench ",
    "upstream, ",
    "streaming ",
    "fixed ",
    "words. ",
];

/// Response bodies, built once.
struct Canned {
    completion: Bytes,
    models: Bytes,
    /// The SSE stream, already cut into the frames it is written in.
    stream: Arc<[Bytes]>,
    stream_len: usize,
}

fn event(content: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
    let delta = if content.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{\"content\":\"{content}\"}}")
    };
    format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-1\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

impl Canned {
    fn new(sse_bytes: usize) -> Canned {
        let mut events: Vec<String> = Vec::new();
        let mut total = 0;
        let mut i = 0;
        // At least one pass over the words, then more until `sse_bytes` is reached.
        while i < WORDS.len() || total < sse_bytes {
            let e = event(WORDS[i % WORDS.len()], None);
            total += e.len();
            events.push(e);
            i += 1;
        }
        events.push(event("", Some("stop")));
        events.push("data: [DONE]\n\n".to_owned());
        // Small streams go out one event per frame, as a model would send them; large
        // ones in groups, so that the upstream is not the bottleneck per MB.
        let per_frame = if events.len() > 64 {
            EVENTS_PER_FRAME
        } else {
            1
        };
        let frames: Vec<Bytes> = events
            .chunks(per_frame)
            .map(|c| Bytes::from(c.concat()))
            .collect();
        let stream_len = frames.iter().map(Bytes::len).sum();
        Canned {
            completion: Bytes::from_static(COMPLETION.as_bytes()),
            models: Bytes::from_static(MODELS.as_bytes()),
            stream: frames.into(),
            stream_len,
        }
    }
}

/// The response body: either one buffer (sent with `Content-Length`) or the canned
/// SSE frames (sent chunked, one frame per poll).
enum Out {
    Whole(Option<Bytes>),
    Frames { frames: Arc<[Bytes]>, next: usize },
}

impl hyper::body::Body for Out {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut *self {
            Out::Whole(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Out::Frames { frames, next } => {
                let f = frames.get(*next).cloned();
                *next += 1;
                Poll::Ready(f.map(|b| Ok(Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Out::Whole(b) => b.is_none(),
            Out::Frames { frames, next } => *next >= frames.len(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Out::Whole(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Out::Whole(None) => SizeHint::with_exact(0),
            // Unknown length: hyper sends it chunked, as a streaming upstream would.
            Out::Frames { .. } => SizeHint::default(),
        }
    }
}

fn reply(status: StatusCode, ctype: &'static str, body: Out) -> Response<Out> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

/// True when the JSON body has `"stream"` followed by `: true` (whitespace allowed).
/// A byte scan, not a parser: the bench client sends well-formed bodies.
fn wants_stream(body: &[u8]) -> bool {
    const KEY: &[u8] = b"\"stream\"";
    let mut rest = body;
    while let Some(at) = rest.windows(KEY.len()).position(|w| w == KEY) {
        let after = &rest[at + KEY.len()..];
        let after = after.trim_ascii_start();
        if let Some(v) = after.strip_prefix(b":")
            && v.trim_ascii_start().starts_with(b"true")
        {
            return true;
        }
        rest = &rest[at + KEY.len()..];
    }
    false
}

async fn handle(canned: Arc<Canned>, req: Request<Incoming>) -> Result<Response<Out>, Infallible> {
    let (parts, body) = req.into_parts();
    // Read the whole body, so the connection stays usable for the next request.
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return Ok(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                Out::Whole(Some(Bytes::from_static(b"request too large\n"))),
            ));
        }
    };
    let path = parts.uri.path();
    let r = if parts.method == Method::POST && path.ends_with("/chat/completions") {
        if wants_stream(&body) {
            let mut r = reply(
                StatusCode::OK,
                "text/event-stream",
                Out::Frames {
                    frames: canned.stream.clone(),
                    next: 0,
                },
            );
            r.headers_mut().insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            );
            r
        } else {
            reply(
                StatusCode::OK,
                "application/json",
                Out::Whole(Some(canned.completion.clone())),
            )
        }
    } else if parts.method == Method::GET && path.ends_with("/models") {
        reply(
            StatusCode::OK,
            "application/json",
            Out::Whole(Some(canned.models.clone())),
        )
    } else {
        reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            Out::Whole(Some(Bytes::from_static(b"not found\n"))),
        )
    };
    Ok(r)
}

struct Args {
    addr: SocketAddr,
    threads: usize,
    sse_bytes: usize,
}

fn usage(msg: &str) -> ! {
    eprintln!("bench_upstream: {msg}");
    eprintln!("usage: bench_upstream [--addr 127.0.0.1:0] [--threads 1] [--sse-bytes N]");
    std::process::exit(64)
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        threads: 1,
        sse_bytes: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else {
            usage(&format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => a.addr = value.parse().unwrap_or_else(|_| usage("bad --addr")),
            "--threads" => {
                a.threads = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .unwrap_or_else(|| usage("bad --threads"));
            }
            "--sse-bytes" => {
                a.sse_bytes = value.parse().unwrap_or_else(|_| usage("bad --sse-bytes"));
            }
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    a
}

async fn serve(listener: TcpListener, canned: Arc<Canned>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true);
    let http = Arc::new(http);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("bench_upstream: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (canned, http) = (canned.clone(), http.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(canned.clone(), req));
            // A client closing its connection mid-request is normal under load.
            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn main() {
    let args = parse_args();
    let canned = Arc::new(Canned::new(args.sse_bytes));
    let rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let rt = rt.unwrap_or_else(|e| usage(&format!("runtime: {e}")));
    rt.block_on(async move {
        let listener = TcpListener::bind(args.addr)
            .await
            .unwrap_or_else(|e| usage(&format!("bind {}: {e}", args.addr)));
        let local = listener
            .local_addr()
            .unwrap_or_else(|e| usage(&format!("local_addr: {e}")));
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "listening on {local} (sse stream {} bytes)",
            canned.stream_len
        );
        let _ = out.flush();
        serve(listener, canned).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_flag_is_found_with_or_without_spaces() {
        assert!(wants_stream(br#"{"model":"m","stream":true}"#));
        assert!(wants_stream(br#"{"stream" : true,"model":"m"}"#));
        assert!(!wants_stream(br#"{"stream":false}"#));
        assert!(!wants_stream(br#"{"model":"stream"}"#));
        assert!(!wants_stream(b""));
    }

    #[test]
    fn large_streams_reach_the_requested_size_and_end_with_done() {
        let c = Canned::new(1 << 20);
        assert!(c.stream_len >= 1 << 20);
        let last = c.stream.last().expect("frames");
        assert!(last.ends_with(b"data: [DONE]\n\n"));
        let small = Canned::new(0);
        assert_eq!(small.stream.len(), WORDS.len() + 2);
    }
}
