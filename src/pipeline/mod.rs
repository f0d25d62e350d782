//! THE request path: every proxied request runs the same named stages, in order,
//! and leaves through one exit.
//!
//! ```text
//! preflight -> admission -> (intent) -> upstream -> inspection -> commit::finish -> respond
//! ```
//!
//! Guarantees:
//! - Each stage returns `Result<_, Stop>`; [`run`] hands whatever ends the request (a
//!   stop at any stage, a unary completion, or a stream's end) to
//!   [`commit::finish`], the only function that writes a terminal entry and builds
//!   the client's answer through `respond`. So there is exactly one terminal audit
//!   entry per request, on every path: each refusal, body too large, malformed body,
//!   upstream failure, inspection abort, client disconnect, and a panic inside a check
//!   (caught where [`handle`] polls the request).
//! - A refused request never reaches the upstream: the body is held (bounded by the
//!   body cap) until admission has passed.
//! - Fail closed: while the journal cannot write, nothing is forwarded (503); a unary
//!   response is released only after its entry is durable, and carries its receipt.
//! - A request whose client goes away runs on to its terminal entry as a task of the
//!   gateway's in-flight tracker, as does every stream's pump, so a shutdown waits
//!   for them before the journal is flushed.

mod admission;
mod commit;
mod detach;
mod entry;
mod facts;
mod inspection;
mod preflight;
mod stop;
mod stream;
mod upstream;

use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;

pub use facts::fingerprint;

use crate::body::Body;
use crate::gateway::{ClientAddr, Gateway, ViaTls};
use facts::Facts;
use inspection::Flow;
use stop::{Outcome, Stop};

/// Runs the request path for one request. A panic anywhere inside becomes a 500 with
/// its own audit entry.
pub async fn handle(
    gw: Arc<Gateway>,
    req: Request<Incoming>,
    client: ClientAddr,
) -> Response<Body> {
    let tls = req.extensions().get::<ViaTls>().is_some();
    let facts = Facts::new(&req, client, tls, gw.cfg.request_timeout);
    let started = facts.started;
    let task = detach::Detached::new(run(gw.clone(), req, facts.clone()), gw.inflight.clone());
    let resp = match task.await {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(entry_id = %facts.entry_id, panic = true, "request task failed");
            commit::finish(&gw, facts, Outcome::Stop(Stop::Internal)).await
        }
    };
    gw.metrics
        .request(resp.status().as_u16(), started.elapsed());
    resp
}

/// The stages, then the one exit.
async fn run(gw: Arc<Gateway>, req: Request<Incoming>, mut facts: Facts) -> Response<Body> {
    match stages(&gw, req, &mut facts).await {
        Ok(Flow::Unary(done)) => commit::finish(&gw, facts, Outcome::Done(done)).await,
        Ok(Flow::Stream(s)) => stream::start(gw, facts, s),
        Err(stop) => commit::finish(&gw, facts, Outcome::Stop(stop)).await,
    }
}

/// The stage sequence of one request, up to the response it is to get.
async fn stages(gw: &Gateway, req: Request<Incoming>, facts: &mut Facts) -> Result<Flow, Stop> {
    commit::ready(gw).await?;
    // One policy snapshot for the whole request (a SIGHUP reload swaps the cell).
    let policy = gw.policy.current();
    let (parts, body) = preflight::run(gw, req, facts).await?;
    let mut admitted = admission::run(gw, &policy, &parts, body, facts)?;
    commit::intent(gw, facts).await?;
    let forward = std::mem::take(&mut admitted.forward);
    let (rparts, rbody) = upstream::forward(gw, &parts, forward, facts).await?;
    let checks = policy.inspection.clone();
    inspection::run(gw, checks, admitted, rparts, rbody, facts).await
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    use crate::admission::{AdmissionCheck, AdmissionState, Request as AdmissionRequest};
    use crate::verdict::Refusal;

    struct Boom;

    impl AdmissionCheck for Boom {
        fn name(&self) -> &'static str {
            "boom"
        }
        fn check(&self, _: &AdmissionRequest<'_>, _: &mut AdmissionState) -> Result<(), Refusal> {
            panic!("a check panicked");
        }
    }

    /// A panic inside a check becomes a 500 with exactly one audit entry, and the
    /// gateway keeps serving.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_panicking_check_gives_500_and_one_entry() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("audit.jsonl");
        let env: HashMap<String, String> = [
            ("SIGNET_UPSTREAM_URL", "http://127.0.0.1:9".to_owned()),
            ("SIGNET_HMAC_SECRET", "ab".repeat(32)),
            ("SIGNET_AUDIT_LOG_PATH", log.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let (cfg, _) =
            crate::config::load(&crate::config::ServeArgs::default(), &env).expect("config");
        // The gateway `serve` builds, with a policy whose one check panics.
        let (gw, _writer) = crate::run::build(cfg).expect("gateway");
        gw.policy.replace(crate::policy::Policy {
            admission: vec![Box::new(Boom)],
            inspection: Vec::new().into(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(crate::server::serve_threads(
            gw,
            listener,
            None,
            2,
            std::future::pending(),
        ));
        let c = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Full<Bytes>>();
        for n in 1..=2 {
            let req = http::Request::post(format!("http://{addr}/v1/x"))
                .body(Full::new(Bytes::from_static(b"{}")))
                .expect("req");
            let resp = c.request(req).await.expect("response");
            assert_eq!(resp.status(), 500);
            assert!(resp.headers().contains_key("x-signet-receipt"));
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            assert!(String::from_utf8_lossy(&body).contains("internal_error"));
            let text = std::fs::read_to_string(&log).expect("log");
            assert_eq!(text.lines().count(), n, "one entry per request: {text}");
            assert!(
                text.lines()
                    .last()
                    .is_some_and(|l| l.contains("\"check_name\":\"pipeline.internal\""))
            );
        }
    }
}
