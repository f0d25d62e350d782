//! Shared state of the request path, and nothing else: the [`Gateway`] every request
//! reads, the [`ClientAddr`] of a connection and the [`ViaTls`] mark a TLS listener
//! puts on its requests.
//!
//! Guarantees: no logic lives here, so the listener (`server`), the request path
//! (`pipeline`), the reload (`reload`) and the start-up (`run`) can all depend on
//! this module without depending on one another.

use std::net::IpAddr;
use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::commit::Committer;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::policy::PolicyCell;
use crate::tlog::TlogState;
use crate::upstream;

/// Everything a request needs, shared by all requests.
pub struct Gateway {
    pub cfg: Config,
    /// The policy in force; each request takes one snapshot (SIGHUP swaps it).
    pub policy: PolicyCell,
    pub committer: Arc<Committer>,
    pub client: upstream::Client,
    pub metrics: Metrics,
    /// Transparency endpoints' state, when checkpoints are on.
    pub tlog: Option<TlogState>,
    /// Requests whose client went away and streams being pumped: tasks of their own
    /// that a shutdown waits for before the journal is flushed.
    pub inflight: TaskTracker,
}

/// The peer of a connection: its address, and that address as text (formatted once
/// per connection for every request's entry and forwarding headers).
#[derive(Clone, Debug)]
pub struct ClientAddr {
    pub ip: IpAddr,
    pub text: Arc<str>,
}

impl ClientAddr {
    pub fn new(ip: IpAddr) -> Self {
        ClientAddr {
            ip,
            text: ip.to_string().into(),
        }
    }
}

/// Marks a request that arrived over the TLS listener (for `Forwarded: proto=https`).
#[derive(Clone, Copy, Debug)]
pub struct ViaTls;
