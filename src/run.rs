//! Starting and stopping the gateway: journal, receipts, policy, listener, signals.
//!
//! Guarantees: nothing listens before the journal is open (a torn tail recovered and
//! recorded) and the policy is built; SIGTERM/SIGINT stop accepting, let in-flight
//! requests finish, then flush and close the journal, so every acknowledged entry is
//! on disk when the process exits.
//!
//! TLS material is loaded before anything else happens: a bad listener certificate or
//! key, or an unusable `--upstream-ca` file (or no system roots for an `https://`
//! upstream), is a usage error (exit 64) and nothing is opened or bound. With a TLS
//! listener the start-up line reads `signet: listening on https://ADDR`.

use std::net::SocketAddr;
use std::sync::Arc;

use signet_audit::journal::writer::{JournalWriter, WriterOptions};
use signet_audit::journal::{Journal, JournalOptions};
use signet_audit::keyfile;
use signet_audit::receipt::ReceiptSigner;

use ed25519_dalek::SigningKey;
use signet_audit::durable::SideFile;
use signet_audit::note;
use signet_audit::transparency::{Shared, TransparencyOptions};
use signet_audit::tree_file::HashFile;

use crate::commit::Committer;
use crate::config::{Config, LogFormat};
use crate::exit::{self, CmdResult, Failure};
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::tlog::TlogState;

/// Sets up tracing once; logs go to stderr.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGNET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => b.json().try_init(),
        LogFormat::Text => b.try_init(),
    };
}

fn receipt_signer(cfg: &Config) -> Result<ReceiptSigner, Failure> {
    match &cfg.receipt_key {
        None => Ok(ReceiptSigner::Hmac(cfg.hmac_key.clone())),
        Some(p) => {
            let key = keyfile::load_ed25519_private(p)
                .map_err(|e| Failure::usage(format!("--receipt-key {}: {e}", p.display())))?;
            let id = keyfile::default_key_id(&key.verifying_key());
            ReceiptSigner::ed25519(&id, key)
                .map_err(|e| Failure::usage(format!("receipt key: {e}")))
        }
    }
}

/// Builds the gateway (journal open, writer running) without listening.
pub fn build(cfg: Config) -> Result<(Arc<Gateway>, JournalWriter), Failure> {
    if cfg.open_policy {
        tracing::warn!("[dangerous] open_policy: running with NO admission or inspection checks");
    }
    let policy = crate::reload::build_policy(&cfg, cfg.max_request_body_bytes)
        .map_err(|errs| Failure::usage(errs.join("; ")))?;
    // Before the journal: a bad CA file must not leave a fresh audit log behind.
    let client =
        crate::upstream::client(&cfg).map_err(|e| Failure::usage(format!("upstream TLS: {e}")))?;
    let log_key = match &cfg.log_key {
        Some(p) => Some(
            keyfile::load_ed25519_private(p)
                .map_err(|e| Failure::usage(format!("--log-key {}: {e}", p.display())))?,
        ),
        None => {
            tracing::warn!(
                "no --log-key: checkpoints are OFF; truncation of the log's tail cannot be detected"
            );
            None
        }
    };
    let jopts = JournalOptions {
        transparency: log_key.clone().map(|k| TransparencyOptions {
            log_key: k,
            origin: cfg.origin.clone(),
            every: cfg.checkpoint_every,
            interval: cfg.checkpoint_interval,
        }),
        ..JournalOptions::default()
    };
    let journal = Journal::open(&cfg.audit_log_path, cfg.hmac_key.clone(), jopts).map_err(|e| {
        Failure::new(
            exit::CANT_CREATE,
            format!("audit log {}: {e}", cfg.audit_log_path.display()),
        )
    })?;
    for t in journal.recovered() {
        tracing::warn!(bytes = t.bytes, saved_to = %t.saved_to.display(), "torn last line of the audit log moved aside and recorded");
    }
    let shared = journal.transparency();
    // Ed25519 receipts: one signature per batch over a tree the writer builds.
    let wopts = WriterOptions {
        batch_trees: cfg.receipt_key.is_some(),
        ..WriterOptions::default()
    };
    let writer = JournalWriter::spawn(journal, wopts)
        .map_err(|e| Failure::new(exit::CANT_CREATE, format!("journal writer: {e}")))?;
    let signer = receipt_signer(&cfg)?;
    let committer = Committer::new(writer.handle(), Some(signer));
    let tlog = match (shared, log_key) {
        (Some(shared), Some(k)) => Some(tlog_state(&cfg, shared, &k)?),
        _ => None,
    };
    let gw = Arc::new(Gateway {
        cfg,
        policy: crate::policy::PolicyCell::new(policy),
        committer,
        client,
        metrics: Metrics::default(),
        tlog,
        inflight: Default::default(),
    });
    Ok((gw, writer))
}

fn tlog_state(
    cfg: &Config,
    shared: Arc<Shared>,
    log_key: &SigningKey,
) -> Result<TlogState, Failure> {
    let tree_path = SideFile::Tree.of(&cfg.audit_log_path);
    let tree = HashFile::open_read_only(&tree_path)
        .map_err(|e| Failure::new(exit::CANT_CREATE, format!("{}: {e}", tree_path.display())))?;
    let vkey = note::vkey(&cfg.origin, &log_key.verifying_key())
        .map_err(|e| Failure::usage(format!("--origin: {e}")))?;
    let receipt_key = match &cfg.receipt_key {
        Some(p) => {
            let k = keyfile::load_ed25519_private(p)
                .map_err(|e| Failure::usage(format!("--receipt-key {}: {e}", p.display())))?;
            if k.verifying_key() == log_key.verifying_key() {
                return Err(Failure::usage(
                    "the receipt key must differ from the log key",
                ));
            }
            Some((keyfile::default_key_id(&k.verifying_key()), k))
        }
        None => None,
    };
    let anchors = Arc::new(crate::anchor::load(
        &SideFile::Anchors.of(&cfg.audit_log_path),
    ));
    Ok(TlogState {
        shared,
        tree: std::sync::Mutex::new(tree),
        vkey,
        origin: cfg.origin.clone(),
        log_path: cfg.audit_log_path.clone(),
        anchors,
        receipt_key,
    })
}

/// Starts RFC 3161 anchoring when a TSA is configured (needs a runtime).
fn spawn_anchorer(gw: &Gateway) -> Result<(), Failure> {
    let (Some(url), Some(root), Some(tlog)) = (&gw.cfg.tsa_url, &gw.cfg.tsa_root, &gw.tlog) else {
        return Ok(());
    };
    let pem = std::fs::read(root)
        .map_err(|e| Failure::usage(format!("--tsa-root {}: {e}", root.display())))?;
    let roots = signet_audit::tsp::TrustRoots::from_pem(&pem)
        .map_err(|e| Failure::usage(format!("--tsa-root {}: {e}", root.display())))?;
    let client = crate::anchor::client(url, gw.cfg.tsa_ca.as_deref())
        .map_err(|e| Failure::usage(format!("TSA TLS: {e}")))?;
    let a = crate::anchor::Anchorer {
        url: url.clone(),
        client,
        roots,
        path: SideFile::Anchors.of(&gw.cfg.audit_log_path),
        shared: tlog.shared.clone(),
        anchors: tlog.anchors.clone(),
    };
    let poll = gw
        .cfg
        .checkpoint_interval
        .min(std::time::Duration::from_secs(1));
    tokio::spawn(a.run(poll));
    Ok(())
}

/// Takes over SIGTERM and SIGINT (whose default action ends the process at once) and
/// returns a future that resolves at the first of them. Called before the gateway
/// announces itself, so a stop sent right after start-up still drains, signs the final
/// checkpoint and flushes the journal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let streams = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = streams else {
            tracing::warn!("cannot listen for SIGTERM/SIGINT: stop with SIGKILL only");
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutdown requested: draining");
    }
}

/// `signet serve`: runs until SIGTERM/SIGINT; with a reload `source`, SIGHUP reloads
/// the policy from it.
pub fn serve(cfg: Config, source: Option<crate::reload::Source>) -> CmdResult {
    init_logging(cfg.log_format);
    // Signals, reloads, anchoring and the accept loop; connections are served by
    // `cfg.workers` threads of their own (see `server::serve_threads`).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::CANT_CREATE, format!("runtime: {e}")))?;
    let listen = cfg.listen;
    let workers = cfg.workers;
    let tls = listener_tls(&cfg)?;
    let (gw, writer) = build(cfg)?;
    rt.block_on(async move {
        // Signals are ours before anything is announced (their default action is to exit).
        let hup = source.as_ref().and_then(|_| crate::reload::take_sighup());
        let stop = shutdown_signal();
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            Failure::new(exit::CANT_CREATE, format!("cannot listen on {listen}: {e}"))
        })?;
        write_saved_late(&gw).await?;
        spawn_anchorer(&gw)?;
        if let (Some(source), Some(hup)) = (source, hup) {
            tokio::spawn(crate::reload::on_sighup(gw.clone(), source, hup));
        }
        announce(&gw, listener.local_addr().unwrap_or(listen), tls.is_some());
        crate::server::serve_threads(gw.clone(), listener, tls, workers, stop)
            .await
            .map_err(|e| Failure::new(exit::CANT_CREATE, format!("serving threads: {e}")))?;
        save_late(&gw).await?;
        drop(gw);
        Ok::<(), Failure>(())
    })?;
    drop(rt);
    if writer.shutdown().is_none() {
        return Err(Failure::new(
            exit::CANT_CREATE,
            "journal writer did not stop cleanly",
        ));
    }
    tracing::info!("journal flushed; bye");
    Ok(exit::OK)
}

/// Appends the entries an earlier run saved in `<log>.pending` (forwarded requests
/// whose journal failed until it stopped) before anything is served; a start that
/// cannot write them does not serve.
async fn write_saved_late(gw: &Gateway) -> Result<(), Failure> {
    let log = &gw.cfg.audit_log_path;
    let saved = crate::late::load(log).map_err(|e| Failure::new(exit::CANT_CREATE, e))?;
    if saved.is_empty() {
        return Ok(());
    }
    let n = saved.len();
    gw.committer.write_saved(saved).await.map_err(|e| {
        Failure::new(
            exit::CANT_CREATE,
            format!("{n} saved entries could not be appended to the audit log: {e}"),
        )
    })?;
    crate::late::clear(log).map_err(|e| Failure::new(exit::CANT_CREATE, e))?;
    tracing::warn!(
        entries = n,
        "entries saved at the last stop were appended to the audit log"
    );
    Ok(())
}

/// At shutdown, after the drain: late entries the journal still will not take are
/// saved to `<log>.pending` for the next start.
async fn save_late(gw: &Gateway) -> Result<(), Failure> {
    let left = gw.committer.flush_late().await;
    if left.is_empty() {
        return Ok(());
    }
    let log = &gw.cfg.audit_log_path;
    crate::late::save(log, &left).map_err(|e| {
        Failure::new(
            exit::CANT_CREATE,
            format!("{} late entries could not be saved: {e}", left.len()),
        )
    })?;
    tracing::error!(entries = left.len(), path = %crate::late::pending_path(log).display(), "journal still failing at shutdown: late entries saved for the next start");
    Ok(())
}

/// The TLS acceptor for the listener when `--tls-cert`/`--tls-key` are set (config
/// has already checked that they come together).
fn listener_tls(cfg: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, Failure> {
    let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) else {
        return Ok(None);
    };
    let server = crate::tls::server_config(cert, key)
        .map_err(|e| Failure::usage(format!("listener TLS: {e}")))?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(server)))
}

/// Prints where the gateway listens (stdout, one line, for scripts and tests):
/// `signet: listening on http://ADDR`, or `https://ADDR` with a TLS listener.
pub fn announce(gw: &Gateway, addr: SocketAddr, tls: bool) {
    let scheme = if tls { "https" } else { "http" };
    let policy = gw.policy.current();
    println!("signet: listening on {scheme}://{addr}");
    tracing::info!(
        %addr,
        tls,
        upstream = %gw.cfg.upstream.authority,
        audit_log = %gw.cfg.audit_log_path.display(),
        admission_checks = policy.admission.len(),
        inspection_checks = policy.inspection.len(),
        shadow = gw.cfg.shadow,
        serving_threads = gw.cfg.workers,
        "signet gateway started"
    );
}
