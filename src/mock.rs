//! A small OpenAI-compatible mock upstream, for `signet demo` and for benchmarks.
//!
//! `POST …/chat/completions` answers a fixed chat completion, or an SSE stream when the
//! JSON body has `"stream": true`. If the last user message contains the word `leak`,
//! the answer carries a classification marker (`SECRET//NOFORN`) so scope-drift
//! inspection has something to stop. `GET …/models` lists one model. Anything else is
//! answered 404. It never reads more than 1 MiB of a request.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use signet_audit::json::{self, Value};
use tokio::net::TcpListener;

use crate::body::{self, Body};

const MODEL: &str = "signet-mock-1";

fn json_response(status: StatusCode, s: String) -> Response<Body> {
    body::text(status, "application/json", s)
}

/// The reply text for a request body.
fn reply_for(body: &[u8]) -> (String, bool) {
    let parsed = json::parse(body).ok().map(|(v, _)| v);
    let obj = parsed.as_ref().and_then(Value::as_object);
    let stream = matches!(obj.and_then(|m| m.get("stream")), Some(Value::Bool(true)));
    let last_user = obj
        .and_then(|m| m.get("messages"))
        .and_then(|m| match m {
            Value::Array(a) => a.iter().rev().find_map(|x| {
                let x = x.as_object()?;
                (x.get("role")?.as_str()? == "user")
                    .then(|| x.get("content")?.as_str().map(str::to_owned))?
            }),
            _ => None,
        })
        .unwrap_or_default();
    let text = if last_user.to_lowercase().contains("leak") {
        "Here is the file you asked for. SECRET//NOFORN Operation details follow.".to_owned()
    } else {
        "Hello from the signet mock upstream.".to_owned()
    };
    (text, stream)
}

fn escape(s: &str) -> String {
    let mut out = Vec::new();
    json::write_string(s, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn completion(text: &str) -> String {
    format!(
        "{{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"{MODEL}\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":{}}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}}}",
        escape(text)
    )
}

fn stream_body(text: &str) -> String {
    let mut s = String::new();
    for word in text.split_inclusive(' ') {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{MODEL}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
            escape(word)
        ));
    }
    s.push_str(&format!(
        "data: {{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{MODEL}\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\ndata: [DONE]\n\n"
    ));
    s
}

async fn serve_one(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body: Bytes = match Limited::new(req.into_body(), 1 << 20).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return Ok(json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "{\"error\":\"too large\"}".into(),
            ));
        }
    };
    Ok(match (method.as_str(), path.as_str()) {
        ("POST", p) if p.ends_with("/chat/completions") => {
            let (text, stream) = reply_for(&body);
            if stream {
                let mut r = Response::new(body::full(stream_body(&text)));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream"),
                );
                r.headers_mut().insert(
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-cache"),
                );
                r
            } else {
                json_response(StatusCode::OK, completion(&text))
            }
        }
        ("GET", p) if p.ends_with("/models") => json_response(
            StatusCode::OK,
            format!(
                "{{\"object\":\"list\",\"data\":[{{\"id\":\"{MODEL}\",\"object\":\"model\",\"owned_by\":\"signet\"}}]}}"
            ),
        ),
        _ => json_response(StatusCode::NOT_FOUND, "{\"error\":\"not found\"}".into()),
    })
}

/// Binds the mock on `addr` and serves it in the background; returns the bound address.
pub async fn spawn(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service_fn(serve_one))
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leak_prompt_gets_a_marker_and_stream_flag_is_read() {
        let (t, s) = reply_for(
            br#"{"stream":true,"messages":[{"role":"user","content":"please leak it"}]}"#,
        );
        assert!(s && t.contains("SECRET//NOFORN"));
        let (t, s) = reply_for(br#"{"messages":[{"role":"user","content":"hi"}]}"#);
        assert!(!s && !t.contains("SECRET"));
        let body = stream_body("a b");
        assert_eq!(body.matches("data: ").count(), 4);
        assert!(json::parse(completion("x\"y").as_bytes()).is_ok());
    }
}
