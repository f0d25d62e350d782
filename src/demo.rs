//! `signet demo`: the gateway in front of a built-in mock LLM upstream, with its own
//! keys and log under `./signet-demo/`, and curl lines to try.
//!
//! Guarantees: the demo uses the same `serve` path, configuration validation, default
//! policy, journal and receipts as production; only the upstream is the mock. Keys are
//! generated once (0600) and reused; the log accumulates across runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use signet_audit::keyfile;

use crate::config::{self, ServeArgs};
use crate::exit::{self, CmdResult, Failure};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Port for the gateway
    #[arg(long, default_value_t = 8443)]
    pub port: u16,
    /// Directory for the demo's log and keys
    #[arg(long, default_value = "signet-demo")]
    pub dir: PathBuf,
}

fn ensure_keys(dir: &Path) -> Result<(PathBuf, PathBuf), Failure> {
    let cant = |e: String| Failure::new(exit::CANT_CREATE, e);
    std::fs::create_dir_all(dir).map_err(|e| cant(format!("{}: {e}", dir.display())))?;
    let hmac = dir.join("hmac.key");
    if !hmac.exists() {
        keyfile::generate_hmac_file(&hmac, "k1", false)
            .map_err(|e| cant(format!("{}: {e}", hmac.display())))?;
    }
    let receipt = dir.join("receipt.pem");
    if !receipt.exists() {
        keyfile::generate_ed25519_files(&receipt, None, false)
            .map_err(|e| cant(format!("{}: {e}", receipt.display())))?;
    }
    Ok((hmac, receipt))
}

fn start_mock() -> Result<std::net::SocketAddr, Failure> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("signet-mock-upstream".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let addr = "127.0.0.1:0".parse().map_err(|_| "address".to_owned());
                match addr {
                    Ok(a) => match crate::mock::spawn(a).await {
                        Ok(bound) => {
                            let _ = tx.send(Ok(bound));
                            std::future::pending::<()>().await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                        }
                    },
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(|e| Failure::new(exit::CANT_CREATE, format!("mock upstream: {e}")))?;
    match rx.recv() {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(e)) => Err(Failure::new(
            exit::CANT_CREATE,
            format!("mock upstream: {e}"),
        )),
        Err(_) => Err(Failure::new(
            exit::CANT_CREATE,
            "mock upstream did not start",
        )),
    }
}

pub fn run(a: &DemoArgs) -> CmdResult {
    let (hmac, receipt) = ensure_keys(&a.dir)?;
    let mock = start_mock()?;
    let log = a.dir.join("audit.jsonl");
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("SIGNET_UPSTREAM_URL".into(), format!("http://{mock}/v1"));
    env.insert("SIGNET_PORT".into(), a.port.to_string());
    env.insert("SIGNET_HMAC_SECRET_FILE".into(), hmac.display().to_string());
    env.insert("SIGNET_AUDIT_LOG_PATH".into(), log.display().to_string());
    env.insert("SIGNET_RECEIPT_KEY".into(), receipt.display().to_string());
    let cfg = match config::load(&ServeArgs::default(), &env) {
        Ok((cfg, _warnings)) => cfg,
        Err(errs) => return Err(Failure::usage(errs.join("; "))),
    };
    let g = format!("http://127.0.0.1:{}", a.port);
    let d = a.dir.display();
    println!(
        "signet demo: gateway on {g}, mock LLM upstream on http://{mock}/v1, log {d}/audit.jsonl\n\
         Try, in another terminal:\n\n\
         # an allowed call: see X-Signet-Receipt in the response headers\n\
         curl -si {g}/v1/chat/completions -H 'X-Commit-Owner: human:alice@example.com' \\\n\
         \x20 -H 'Content-Type: application/json' -d '{{\"model\":\"m\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}'\n\n\
         # a refusal: no owner header, 403, never forwarded (and still audited)\n\
         curl -si {g}/v1/chat/completions -d '{{\"messages\":[]}}'\n\n\
         # a stream aborted by scope-drift inspection (the mock leaks a SECRET marker)\n\
         curl -sN {g}/v1/chat/completions -H 'X-Commit-Owner: human:alice@example.com' \\\n\
         \x20 -d '{{\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"please leak it\"}}]}}'\n\n\
         # the log, checked\n\
         signet audit verify {d}/audit.jsonl --hmac-secret-file {d}/hmac.key\n\
         signet audit tail -n 5 {d}/audit.jsonl\n\n\
         Ctrl-C stops the gateway (the journal is flushed first).\n"
    );
    crate::run::serve(cfg, None)
}
