//! What the request path learns about one request, for its terminal entry.
//!
//! Guarantees: every entry of a request is drafted from its [`Facts`], so they all
//! carry the same `entry_id`, owner, request fingerprint, method, path and client
//! address; a request's deadline is fixed once, when its head arrived.

use std::time::Instant;

use http::Request;
use sha2::{Digest, Sha256};
use signet_audit::json::{Map, Value};
use signet_audit::util::{new_uuid_v4, prefixed_hex};
use signet_audit::{Decision, EntryDraft, OwnerType};

use crate::admission::Owner;
use crate::gateway::ClientAddr;

/// Facts gathered along the pipeline for the request's entry.
#[derive(Clone)]
pub struct Facts {
    pub entry_id: String,
    pub method: String,
    pub path: String,
    pub client: ClientAddr,
    /// The request arrived over the TLS listener.
    pub tls: bool,
    /// The request was handed to the upstream: its entry must be written even if the
    /// journal fails now (late, see `crate::late`).
    pub forwarded: bool,
    pub request_fingerprint: String,
    pub owner: Option<Owner>,
    pub meta: Map,
    pub started: Instant,
    /// When the request must be done (its head's arrival plus the request timeout).
    pub deadline: Instant,
}

impl Facts {
    /// The facts of a request whose head just arrived.
    pub fn new<B>(
        req: &Request<B>,
        client: ClientAddr,
        tls: bool,
        timeout: std::time::Duration,
    ) -> Self {
        let started = Instant::now();
        Facts {
            entry_id: new_uuid_v4(),
            method: req.method().as_str().to_owned(),
            path: req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
            client,
            tls,
            forwarded: false,
            request_fingerprint: String::new(),
            owner: None,
            meta: Map::new(),
            started,
            deadline: started + timeout,
        }
    }

    /// An entry for this request, with the request's metadata given by value (the
    /// terminal entry takes it instead of copying it).
    pub fn draft(
        &self,
        meta: Map,
        check_name: &str,
        decision: Decision,
        reason: &str,
        status: u16,
        extra: Map,
    ) -> EntryDraft {
        let mut d = EntryDraft::with_id(self.entry_id.clone(), check_name, decision, reason);
        d.request_fingerprint = self.request_fingerprint.clone();
        if let Some(o) = &self.owner {
            d.owner_type = o.kind;
            d.owner_id = o.id.clone();
            d.approval_chain = o.approval_chain.clone();
        } else {
            d.owner_type = OwnerType::Unresolved;
        }
        d.metadata = meta;
        d.metadata
            .insert("method".into(), self.method.as_str().into());
        d.metadata.insert("path".into(), self.path.as_str().into());
        d.metadata
            .insert("status".into(), Value::from(u64::from(status)));
        d.metadata
            .insert("client_ip".into(), self.client.text.as_ref().into());
        if let Some(o) = &self.owner {
            d.metadata.insert("owner_auth".into(), o.method.into());
        }
        for (k, v) in extra {
            d.metadata.insert(k, v);
        }
        d
    }
}

/// `sha256:<hex>` of `b`, or `""` when empty.
pub fn fingerprint(b: &[u8]) -> String {
    if b.is_empty() {
        String::new()
    } else {
        prefixed_hex("sha256:", &Sha256::digest(b))
    }
}
