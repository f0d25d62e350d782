//! The gateway's transparency endpoints under `/signet/v1/`: the log key, the latest
//! checkpoint, inclusion and consistency proofs, and standalone DSSE receipts.
//!
//! Guarantees:
//! - Read-only and bounded: proofs cost O(log n) positional reads of `<log>.tree`;
//!   a receipt looks its entry up in at most the last [`MAX_SCAN`] bytes of the log.
//! - Proofs and receipts are served only against a signed checkpoint (so every hash
//!   they use was written before that checkpoint was signed); an entry not yet covered
//!   gets 404 with `Retry-After`.
//! - Bad parameters get 400 with a fixed text; nothing here writes an audit entry.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine;
use ed25519_dalek::SigningKey;
use http::{HeaderValue, Response, StatusCode};
use signet_audit::dsse::{ReceiptStatement, make_receipt};
use signet_audit::line::LineView;
use signet_audit::merkle;
use signet_audit::note::format_tlog_proof;
use signet_audit::transparency::{Published, Shared};
use signet_audit::tree_file::HashFile;

use crate::anchor::Anchors;
use crate::body::{Body, text};

/// Most bytes from the end of the log searched for a receipt's entry.
pub const MAX_SCAN: u64 = 256 << 20;

/// What the endpoints read.
pub struct TlogState {
    pub shared: Arc<Shared>,
    pub tree: Mutex<HashFile>,
    pub vkey: String,
    pub origin: String,
    pub log_path: PathBuf,
    pub anchors: Arc<Anchors>,
    /// Receipt key id and key, for DSSE receipts.
    pub receipt_key: Option<(String, SigningKey)>,
}

fn bad(msg: &'static str) -> Response<Body> {
    text(StatusCode::BAD_REQUEST, "text/plain", format!("{msg}\n"))
}

fn not_yet() -> Response<Body> {
    let mut r = text(
        StatusCode::NOT_FOUND,
        "text/plain",
        "not covered by a signed checkpoint yet\n",
    );
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

fn query(q: Option<&str>, key: &str) -> Option<Result<u64, ()>> {
    q?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse::<u64>().map_err(|_| ()))
    })
}

impl TlogState {
    /// Prometheus lines for checkpoints and anchors.
    pub fn metrics(&self) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let size = self.latest().map_or(0, |p| p.size);
        format!(
            "# HELP signet_checkpoints_signed_total Checkpoints signed by this process.\n\
             # TYPE signet_checkpoints_signed_total counter\n\
             signet_checkpoints_signed_total {}\n\
             # HELP signet_checkpoint_failures_total Checkpointing failures (checkpointing stops at the first).\n\
             # TYPE signet_checkpoint_failures_total counter\n\
             signet_checkpoint_failures_total {}\n\
             # HELP signet_checkpoint_size Entries covered by the latest signed checkpoint.\n\
             # TYPE signet_checkpoint_size gauge\n\
             signet_checkpoint_size {size}\n\
             # HELP signet_anchored_size Entries covered by the latest anchored checkpoint.\n\
             # TYPE signet_anchored_size gauge\n\
             signet_anchored_size {}\n\
             # HELP signet_anchor_failures_total Failed RFC 3161 anchoring attempts.\n\
             # TYPE signet_anchor_failures_total counter\n\
             signet_anchor_failures_total {}\n",
            self.shared.signed.load(Relaxed),
            self.shared.failures.load(Relaxed),
            self.anchors.latest_size.load(Relaxed),
            self.anchors.failures.load(Relaxed),
        )
    }

    fn latest(&self) -> Option<Published> {
        self.shared.latest()
    }

    fn with_tree<T>(&self, f: impl FnOnce(&HashFile) -> Option<T>) -> Option<T> {
        let mut t = self.tree.lock().ok()?;
        t.refresh().ok()?;
        f(&t)
    }

    /// Answers `path` (under `/signet/v1/`), or `None` when it is not ours.
    pub fn answer(&self, path: &str, q: Option<&str>) -> Option<Response<Body>> {
        Some(match path {
            "/signet/v1/log-key" => text(StatusCode::OK, "text/plain", format!("{}\n", self.vkey)),
            "/signet/v1/checkpoint" => match self.latest() {
                Some(p) => text(StatusCode::OK, "text/plain", p.note),
                None => not_yet(),
            },
            "/signet/v1/proof/inclusion" => self.inclusion(q),
            "/signet/v1/proof/consistency" => self.consistency(q),
            p => match p.strip_prefix("/signet/v1/receipts/") {
                Some(id) => self.receipt(id),
                None => return None,
            },
        })
    }

    fn inclusion(&self, q: Option<&str>) -> Response<Body> {
        let Some(Ok(index)) = query(q, "index") else {
            return bad("index=I is required");
        };
        let Some(latest) = self.latest() else {
            return not_yet();
        };
        match query(q, "size") {
            Some(Ok(n)) if n != latest.size => {
                return bad("size must be the latest checkpoint's size");
            }
            Some(Err(())) => return bad("size must be a number"),
            _ => {}
        }
        if index >= latest.size {
            return not_yet();
        }
        match self.with_tree(|t| merkle::inclusion_proof(index, latest.size, t).ok()) {
            Some(proof) => text(
                StatusCode::OK,
                "text/plain",
                format_tlog_proof(index, &proof, &latest.note),
            ),
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "tree unavailable\n",
            ),
        }
    }

    fn consistency(&self, q: Option<&str>) -> Response<Body> {
        let (Some(Ok(old)), Some(Ok(size))) = (query(q, "old"), query(q, "size")) else {
            return bad("old=M&size=N are required");
        };
        let Some(latest) = self.latest() else {
            return not_yet();
        };
        if old == 0 || old > size {
            return bad("need 0 < old <= size");
        }
        if size > latest.size {
            return not_yet();
        }
        match self.with_tree(|t| merkle::consistency_proof(old, size, t).ok()) {
            Some(proof) => {
                let b64 = base64::engine::general_purpose::STANDARD;
                let body: String = proof
                    .iter()
                    .map(|h| format!("{}\n", b64.encode(h)))
                    .collect();
                text(StatusCode::OK, "text/plain", body)
            }
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "tree unavailable\n",
            ),
        }
    }

    fn receipt(&self, id: &str) -> Response<Body> {
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        {
            return bad("entry id must be a UUID");
        }
        let Some((key_id, key)) = &self.receipt_key else {
            return text(
                StatusCode::NOT_FOUND,
                "text/plain",
                "standalone receipts need --receipt-key\n",
            );
        };
        let Some(latest) = self.latest() else {
            return not_yet();
        };
        let Some(line) = find_line(&self.log_path, id) else {
            return text(
                StatusCode::NOT_FOUND,
                "text/plain",
                "no such entry in the recent log\n",
            );
        };
        let Some(seq) = LineView::parse(line.as_bytes()).ok().and_then(|v| v.seq) else {
            return text(StatusCode::NOT_FOUND, "text/plain", "entry has no _seq\n");
        };
        if seq >= latest.size {
            return not_yet();
        }
        let Some(proof) = self.with_tree(|t| merkle::inclusion_proof(seq, latest.size, t).ok())
        else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "tree unavailable\n",
            );
        };
        let stmt = ReceiptStatement {
            entry_line: line,
            origin: self.origin.clone(),
            checkpoint: Some(latest.note.clone()),
            tlog_proof: Some(format_tlog_proof(seq, &proof, &latest.note)),
            rfc3161_token: self.anchors.token_for(latest.size),
            receipt_key_id: key_id.clone(),
        };
        match make_receipt(&stmt, key_id, key) {
            Ok(env) => text(
                StatusCode::OK,
                "application/vnd.dsse.envelope.v1+json",
                env.to_json(),
            ),
            Err(_) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                "receipt could not be built\n",
            ),
        }
    }
}

/// The log line (without `\n`) holding `"entry_id":"<id>"`, searched backwards
/// through at most [`MAX_SCAN`] bytes, 1 MiB at a time (memory stays bounded).
fn find_line(log: &std::path::Path, id: &str) -> Option<String> {
    const CHUNK: u64 = 1 << 20;
    let needle = format!("\"entry_id\":\"{id}\"");
    let mut f = std::fs::File::open(log).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(MAX_SCAN);
    let mut end = len;
    // Bytes after the current chunk that begin a line not yet complete.
    let mut carry: Vec<u8> = Vec::new();
    while end > start {
        let from = end.saturating_sub(CHUNK).max(start);
        let mut chunk = vec![0u8; (end - from) as usize];
        f.seek(SeekFrom::Start(from)).ok()?;
        f.read_exact(&mut chunk).ok()?;
        chunk.extend_from_slice(&carry);
        // The part before the first newline may continue in the previous chunk.
        let first_nl = if from > start {
            chunk.iter().position(|&b| b == b'\n')
        } else {
            None
        };
        let (head, body) = match first_nl {
            Some(i) => (chunk[..i].to_vec(), &chunk[i + 1..]),
            None if from > start => (chunk.clone(), &chunk[chunk.len()..]),
            None => (Vec::new(), &chunk[..]),
        };
        for line in body.split(|&b| b == b'\n').rev() {
            if line.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                return String::from_utf8(line.to_vec()).ok();
            }
        }
        if head.len() as u64 > signet_audit::verify::MAX_LINE as u64 {
            return None;
        }
        carry = head;
        end = from;
    }
    None
}
