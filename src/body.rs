//! The response body type shared by every path, and small constructors.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

/// Errors a body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every response body the gateway sends.
pub type Body = BoxBody<Bytes, BoxError>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A body fed frame by frame from a task (streamed responses). When the client goes
/// away hyper drops the body, the receiver closes, and the sending task sees it.
pub struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<hyper::body::Frame<Bytes>, BoxError>>,
}

/// Sender half of a [`ChannelBody`].
pub type FrameSender = tokio::sync::mpsc::Sender<Result<hyper::body::Frame<Bytes>, BoxError>>;

/// A channel body and its sender; `depth` frames may wait.
pub fn channel(depth: usize) -> (FrameSender, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel(depth);
    (tx, ChannelBody { rx }.boxed())
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx)
    }
}

/// A small fixed response the gateway answers itself (never cached).
pub fn text(
    status: http::StatusCode,
    ctype: &'static str,
    s: impl Into<Bytes>,
) -> http::Response<Body> {
    let mut r = http::Response::new(full(s));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ctype),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}
