//! Where the CLI gets HMAC keys: environment, files, or (with a warning) the command line.
//!
//! Guarantees: a secret is never echoed; `--hmac-secret` works but warns that `ps`
//! shows it; every source is named in errors, its content never is.

use std::path::PathBuf;

use clap::Args;
use signet_audit::key::{DEFAULT_KEY_ID, HmacKey, KeyRing};

use super::exit::Failure;

/// Key options shared by commands that check MACs.
#[derive(Args, Debug, Default)]
pub struct KeyArgs {
    /// File holding the hex HMAC secret (also SIGNET_HMAC_SECRET_FILE)
    #[arg(long, value_name = "FILE", env = "SIGNET_HMAC_SECRET_FILE")]
    pub hmac_secret_file: Option<PathBuf>,
    /// Hex HMAC secret on the command line (visible in `ps`; prefer the environment)
    #[arg(long, value_name = "HEX")]
    pub hmac_secret: Option<String>,
    /// Key id of the secret above (also SIGNET_HMAC_KEY_ID)
    #[arg(long, value_name = "ID", env = "SIGNET_HMAC_KEY_ID", default_value = DEFAULT_KEY_ID)]
    pub key_id: String,
    /// Extra key for rotated logs, as ID=FILE (repeatable)
    #[arg(long = "key", value_name = "ID=FILE")]
    pub keys: Vec<String>,
}

/// Builds the key ring from the flags and `SIGNET_HMAC_SECRET`.
pub fn key_ring(args: &KeyArgs, env_secret: Option<String>) -> Result<KeyRing, Failure> {
    let mut ring = KeyRing::new();
    let bad = |what: &str, e: signet_audit::key::KeyError| Failure::usage(format!("{what}: {e}"));
    let primary = if let Some(s) = &args.hmac_secret {
        eprintln!(
            "signet: warning: --hmac-secret puts the secret in the process list; use SIGNET_HMAC_SECRET or --hmac-secret-file"
        );
        Some(HmacKey::from_hex(&args.key_id, s).map_err(|e| bad("--hmac-secret", e))?)
    } else if let Some(p) = &args.hmac_secret_file {
        Some(HmacKey::from_file(&args.key_id, p).map_err(|e| bad("--hmac-secret-file", e))?)
    } else if let Some(s) = env_secret.filter(|s| !s.trim().is_empty()) {
        Some(HmacKey::from_hex(&args.key_id, &s).map_err(|e| bad("SIGNET_HMAC_SECRET", e))?)
    } else {
        None
    };
    if let Some(k) = primary {
        ring.add(k).map_err(|e| bad("key ring", e))?;
    }
    for spec in &args.keys {
        let (id, file) = spec
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--key {spec:?}: expected ID=FILE")))?;
        let k = HmacKey::from_file(id, std::path::Path::new(file))
            .map_err(|e| bad(&format!("--key {id}"), e))?;
        ring.add(k).map_err(|e| bad("--key", e))?;
    }
    Ok(ring)
}
