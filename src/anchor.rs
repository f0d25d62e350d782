//! RFC 3161 anchoring of signed checkpoints, off the request path.
//!
//! Guarantees:
//! - Speaks TLS to an `https://` TSA with the upstream client's rustls stack
//!   ([`crate::tls::roots`], [`crate::tls::client_config`]): certificate chain and host
//!   name always verified, against `--tsa-ca` when given, else the system roots
//!   (`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured). Unusable TLS material fails at start.
//! - Runs as its own task: a slow, failing or lying TSA never blocks or fails a
//!   request. Requests time out after 10 s; failures back off (1 s doubling to 60 s)
//!   and are retried; the number of checkpoints signed but not anchored is exported.
//! - The TSA timestamps SHA-256 of the signed checkpoint note bytes, with a fresh
//!   nonce and certReq. A response is stored only after it was fully verified
//!   (status, imprint, nonce, CMS signature, ESSCertIDv2, chain to `--tsa-root` with
//!   the timeStamping EKU at genTime); the TSA's original bytes are stored.
//! - `<log>.anchors` is append-only, one canonical JSON line per anchored checkpoint,
//!   written whole and fsync'd: `{"checkpoint_size":N,"note_sha256":"<hex>",
//!   "token":"<base64 TimeStampResp>","ts_ns":T,"tsa_url":"…"}`.
//! - Only the latest checkpoint is anchored when several are waiting: by consistency it
//!   vouches for every earlier one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use signet_audit::durable;
use signet_audit::tlog_verify::AnchorRecord;
use signet_audit::transparency::Shared;
use signet_audit::tsp::{self, TrustRoots};
use signet_audit::util::now_ns;

use crate::tls::{self, TlsError};

/// Anchors made so far, by checkpoint size (the TSA's response bytes).
#[derive(Default)]
pub struct Anchors {
    pub by_size: Mutex<BTreeMap<u64, Vec<u8>>>,
    pub failures: AtomicU64,
    pub anchored: AtomicU64,
    /// Size of the latest checkpoint anchored.
    pub latest_size: AtomicU64,
}

impl Anchors {
    pub fn token_for(&self, size: u64) -> Option<Vec<u8>> {
        self.by_size.lock().ok()?.get(&size).cloned()
    }
}

/// Loads `<log>.anchors` if present (tokens by checkpoint size), after moving an
/// incomplete last line (a crash mid-append) aside with the journal's own recovery.
pub fn load(path: &std::path::Path) -> Anchors {
    let a = Anchors::default();
    if let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        match signet_audit::journal::tail::cut_torn_tail(&f, path) {
            Ok(Some(t)) => {
                tracing::warn!(bytes = t.bytes, saved_to = %t.saved_to.display(), "torn last line of the anchors file moved aside")
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "anchors file could not be checked for a torn line")
            }
        }
    }
    let Ok(text) = std::fs::read(path) else {
        return a;
    };
    if let Ok(mut m) = a.by_size.lock() {
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(r) = AnchorRecord::parse(line) {
                a.latest_size
                    .fetch_max(r.checkpoint_size, Ordering::Relaxed);
                m.insert(r.checkpoint_size, r.token);
            }
        }
    }
    a
}

/// The TSA client: HTTP/1.1 over plain TCP for `http://`, verified TLS for `https://`.
pub type TsaClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the client for `url`: TLS roots from `ca` or, for an `https://` TSA without
/// one, the system (see [`crate::tls::roots`]). Fails only on unusable TLS material.
pub fn client(url: &http::Uri, ca: Option<&std::path::Path>) -> Result<TsaClient, TlsError> {
    let https = url.scheme() == Some(&http::uri::Scheme::HTTPS);
    let roots = tls::roots(&tls::TSA, ca, https)?;
    let mut http = HttpConnector::new();
    // The scheme decides below; hyper-rustls needs the TCP connector to accept https URIs.
    http.enforce_http(false);
    http.set_connect_timeout(Some(REQUEST_TIMEOUT));
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls::client_config(roots)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Limit on each TSA exchange: connect plus TLS handshake plus request, then the body.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the anchoring task needs.
pub struct Anchorer {
    pub url: http::Uri,
    pub client: TsaClient,
    pub roots: TrustRoots,
    pub path: PathBuf,
    pub shared: Arc<Shared>,
    pub anchors: Arc<Anchors>,
}

#[derive(Debug, thiserror::Error)]
enum AnchorError {
    #[error("TSA request failed: {0}")]
    Request(String),
    #[error("TSA answered HTTP {0}")]
    Status(u16),
    #[error("TSA response rejected: {0}")]
    Invalid(String),
    #[error("anchor file: {0}")]
    Store(std::io::Error),
}

impl Anchorer {
    /// Runs until the process ends.
    pub async fn run(self, poll: Duration) {
        let mut backoff = Duration::from_secs(1);
        loop {
            tokio::time::sleep(poll).await;
            let Some(latest) = self.shared.latest() else {
                continue;
            };
            if latest.size <= self.anchors.latest_size.load(Ordering::Relaxed) {
                continue;
            }
            match self.anchor(&latest.note, latest.size).await {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(e) => {
                    self.anchors.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(size = latest.size, error = %e, "checkpoint not anchored; will retry");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    async fn anchor(&self, note: &str, size: u64) -> Result<(), AnchorError> {
        let digest: [u8; 32] = Sha256::digest(note.as_bytes()).into();
        let (req_der, nonce) = tsp::request(&digest);
        let req = http::Request::post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/timestamp-query")
            .body(Full::new(Bytes::from(req_der)))
            .map_err(|e| AnchorError::Request(e.to_string()))?;
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| AnchorError::Request("timed out".into()))?
            .map_err(|e| AnchorError::Request(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(AnchorError::Status(resp.status().as_u16()));
        }
        let body = tokio::time::timeout(
            REQUEST_TIMEOUT,
            Limited::new(resp.into_body(), 1 << 20).collect(),
        )
        .await
        .map_err(|_| AnchorError::Request("response timed out".into()))?
        .map_err(|e| AnchorError::Request(e.to_string()))?
        .to_bytes();
        tsp::verify_token(&body, &digest, Some(nonce.as_bytes()), &self.roots)
            .map_err(|e| AnchorError::Invalid(e.to_string()))?;
        let line = AnchorRecord {
            checkpoint_size: size,
            note_sha256: digest,
            token: body.to_vec(),
            ts_ns: now_ns(),
            tsa_url: self.url.to_string(),
        }
        .to_line();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut f = durable::open_append(&path, 0o600, durable::Lock::None)?.file;
            f.write_all(&line)?;
            f.sync_data()
        })
        .await
        .map_err(|e| AnchorError::Store(std::io::Error::other(e.to_string())))?
        .map_err(AnchorError::Store)?;
        if let Ok(mut m) = self.anchors.by_size.lock() {
            m.insert(size, body.to_vec());
        }
        self.anchors.latest_size.fetch_max(size, Ordering::Relaxed);
        self.anchors.anchored.fetch_add(1, Ordering::Relaxed);
        tracing::info!(size, "checkpoint anchored");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_moves_a_torn_last_line_aside_and_reads_whole_records() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl.anchors");
        let rec = AnchorRecord {
            checkpoint_size: 7,
            note_sha256: [1; 32],
            token: b"token".to_vec(),
            ts_ns: 1,
            tsa_url: "http://tsa.test/".into(),
        };
        let mut data = rec.to_line();
        data.extend_from_slice(b"{\"checkpoint_size\":9,\"no");
        std::fs::write(&path, &data).expect("write");
        let a = load(&path);
        assert_eq!(a.token_for(7).as_deref(), Some(&b"token"[..]));
        assert_eq!(a.latest_size.load(Ordering::Relaxed), 7);
        assert_eq!(std::fs::read(&path).expect("read"), rec.to_line());
        let aside = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains(".torn-"));
        assert!(aside, "the torn bytes must be kept aside");
    }
}
