//! A request that outlives its connection.
//!
//! Guarantees: a request is polled in place by its connection's task while the client
//! is there (no task of its own, no hand-off); if the connection goes first (hyper
//! drops the service future), what is left of the request goes on as a task of the
//! gateway's in-flight tracker, so it still reaches its terminal entry and a shutdown
//! waits for it. A panic while polling is caught and handed back, as a task boundary
//! would.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use tokio_util::task::TaskTracker;

use crate::body::Body;

type Request = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// One request's path, polled in place until it ends or its connection goes away.
pub struct Detached {
    fut: Option<Request>,
    tracker: TaskTracker,
}

impl Detached {
    pub fn new(
        fut: impl Future<Output = Response<Body>> + Send + 'static,
        tracker: TaskTracker,
    ) -> Self {
        Detached {
            fut: Some(Box::pin(fut)),
            tracker,
        }
    }
}

impl Future for Detached {
    type Output = std::thread::Result<Response<Body>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(fut) = self.fut.as_mut() else {
            // Already finished: hyper does not poll a completed future again.
            return Poll::Pending;
        };
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => {
                self.fut = None;
                Poll::Ready(Ok(r))
            }
            Err(panic) => {
                self.fut = None;
                Poll::Ready(Err(panic))
            }
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        // Unfinished: the client went away. The request runs on by itself (outside a
        // runtime there is nothing left to run it; the serving threads keep their
        // runtimes until the tracker is empty).
        if let Some(fut) = self.fut.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            self.tracker.spawn(async move {
                let _ = fut.await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::body;

    /// A request whose connection goes away mid-flight still runs to its end, on a
    /// task of the tracker; until then it ran in place.
    #[tokio::test]
    async fn a_dropped_request_runs_on_to_its_end_as_a_tracked_task() {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let tracker = TaskTracker::new();
        let mut d = Box::pin(Detached::new(
            async move {
                let _ = started_tx.send(());
                let _ = go_rx.await;
                Response::new(body::full(Bytes::new()))
            },
            tracker.clone(),
        ));
        let polled = std::future::poll_fn(|cx| Poll::Ready(d.as_mut().poll(cx).is_pending())).await;
        assert!(polled, "waiting for go");
        started_rx.await.expect("it started in place");
        assert!(tracker.is_empty(), "no task while it runs in place");
        drop(d);
        assert_eq!(tracker.len(), 1, "the rest runs as a tracked task");
        tracker.close();
        let waited = tokio::time::timeout(std::time::Duration::from_millis(100), tracker.wait());
        assert!(waited.await.is_err(), "the tracker waits for the request");
        go_tx.send(()).expect("the detached request still listens");
        tokio::time::timeout(std::time::Duration::from_secs(5), tracker.wait())
            .await
            .expect("ran on to its end within 5 s");
    }

    /// A panic inside the request is caught where it is polled and handed back.
    #[tokio::test]
    async fn a_panic_while_polling_is_handed_back() {
        let d = Detached::new(
            async {
                if std::hint::black_box(true) {
                    panic!("inside the pipeline");
                }
                Response::new(body::full(Bytes::new()))
            },
            TaskTracker::new(),
        );
        assert!(d.await.is_err());
    }
}
