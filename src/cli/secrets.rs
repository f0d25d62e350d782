//! The HMAC key options of the CLI commands (`audit verify`, `audit append`, `receipt
//! verify`), resolved by the one resolver `signet serve` uses ([`crate::config::hmac`]).
//!
//! Guarantees: the flags and variables are those of `serve` (`--hmac-secret-file`,
//! `--hmac-secret`, `--hmac-key-id`; `SIGNET_HMAC_SECRET`, `SIGNET_HMAC_SECRET_FILE`,
//! `SIGNET_HMAC_KEY_ID`), read through the config's [`Env`] and never by clap; the same
//! refusals (exit 64, the same message) and the same `ps` warning; a secret is never
//! echoed; `--hmac-secret` is held in a zeroizing [`SecretArg`].

use std::path::PathBuf;

use clap::Args;
use signet_audit::key::KeyRing;

use crate::config::hmac::{self, HmacFlags};
use crate::config::{Env, ProcessEnv, SecretArg};
use crate::exit::Failure;

/// Key options shared by commands that check MACs.
#[derive(Args, Debug, Default)]
pub struct KeyArgs {
    /// File holding the hex HMAC secret [env: SIGNET_HMAC_SECRET_FILE]
    #[arg(long, value_name = "FILE")]
    pub hmac_secret_file: Option<PathBuf>,
    /// Hex HMAC secret (visible in `ps`; prefer SIGNET_HMAC_SECRET or a file)
    #[arg(long, value_name = "HEX", value_parser = SecretArg::parse)]
    pub hmac_secret: Option<SecretArg>,
    /// Id of the HMAC key [env: SIGNET_HMAC_KEY_ID] [default: k1]
    #[arg(long = "hmac-key-id", visible_alias = "key-id", value_name = "ID")]
    pub key_id: Option<String>,
    /// Extra key for rotated logs, as ID=FILE (repeatable)
    #[arg(long = "key", value_name = "ID=FILE")]
    pub keys: Vec<String>,
}

/// The keys a command was given.
pub struct Keys {
    /// The chain key (if any) and every `--key`.
    pub ring: KeyRing,
    /// The key id in force (`--hmac-key-id`, `SIGNET_HMAC_KEY_ID` or `k1`).
    pub id: String,
}

/// Resolves the keys from the flags and the process environment, printing warnings.
pub fn keys(args: &KeyArgs) -> Result<Keys, Failure> {
    keys_from(args, &ProcessEnv)
}

/// [`keys`] with the environment given.
pub fn keys_from(args: &KeyArgs, env: &dyn Env) -> Result<Keys, Failure> {
    let flags = HmacFlags {
        secret: args.hmac_secret.as_ref(),
        secret_file: args.hmac_secret_file.as_deref(),
        key_id: args.key_id.as_deref(),
    };
    let choice = hmac::resolve_hmac(flags, env).map_err(|e| Failure::usage(e.join("; ")))?;
    for w in &choice.warnings {
        eprintln!("signet: warning: {w}");
    }
    let ring = hmac::key_ring(choice.key, &args.keys).map_err(Failure::usage)?;
    Ok(Keys {
        ring,
        id: choice.id,
    })
}

/// The key ring alone (for commands that only check MACs).
pub fn key_ring(args: &KeyArgs) -> Result<KeyRing, Failure> {
    keys(args).map(|k| k.ring)
}
