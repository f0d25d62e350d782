//! Command-line flags of `signet serve`.
//!
//! Flags are kept as text and parsed by [`super::load`] with the environment and the
//! config file, so every bad value, wherever it comes from, is reported in one go. The
//! environment is not read here (no clap `env`): [`super::load`] reads it through
//! [`super::Env`].

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

/// A secret given on the command line; `Debug` never shows it.
#[derive(Clone)]
pub struct SecretArg(Zeroizing<String>);

impl SecretArg {
    pub fn new(value: impl Into<String>) -> Self {
        SecretArg(Zeroizing::new(value.into()))
    }

    /// The secret text. Handle with care.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// For clap's `value_parser`.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        Ok(Self::new(s))
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg(<redacted>)")
    }
}

/// Flags of `signet serve`. Precedence: flags > `SIGNET_*` environment > config file >
/// defaults.
#[derive(Args, Clone, Debug, Default)]
pub struct ServeArgs {
    /// Upstream base URL, e.g. http://127.0.0.1:11434/v1 [env: SIGNET_UPSTREAM_URL]
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Address to listen on [env: SIGNET_HOST] [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,
    /// Port to listen on, 0 for any free port [env: SIGNET_PORT] [default: 8443]
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Threads serving connections [env: SIGNET_WORKERS] [default: 0: one per CPU]
    #[arg(long, value_name = "N")]
    pub workers: Option<String>,
    /// Audit log file [env: SIGNET_AUDIT_LOG_PATH] [default: signet-audit.jsonl]
    #[arg(long = "audit-log", value_name = "PATH")]
    pub audit_log: Option<PathBuf>,
    /// TOML config file [env: SIGNET_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// File holding the hex HMAC secret [env: SIGNET_HMAC_SECRET_FILE]
    #[arg(long, value_name = "FILE")]
    pub hmac_secret_file: Option<PathBuf>,
    /// Hex HMAC secret (visible in `ps`; prefer SIGNET_HMAC_SECRET or a file)
    #[arg(long, value_name = "HEX", value_parser = SecretArg::parse)]
    pub hmac_secret: Option<SecretArg>,
    /// Id of the HMAC key [env: SIGNET_HMAC_KEY_ID] [default: k1]
    #[arg(long, value_name = "ID")]
    pub hmac_key_id: Option<String>,
    /// Ed25519 receipt key, PKCS#8 PEM (HMAC receipts without it) [env: SIGNET_RECEIPT_KEY]
    #[arg(long, value_name = "FILE")]
    pub receipt_key: Option<PathBuf>,
    /// Record would-be refusals but let traffic through [env: SIGNET_SHADOW]
    #[arg(long)]
    pub shadow: bool,
    /// Log output: text or json [env: SIGNET_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "text|json")]
    pub log_format: Option<String>,
    /// Largest request body [env: SIGNET_MAX_REQUEST_BODY_BYTES] [default: 4194304]
    #[arg(long, value_name = "N")]
    pub max_request_body_bytes: Option<String>,
    /// Whole-request timeout in seconds [env: SIGNET_REQUEST_TIMEOUT_S] [default: 120]
    #[arg(long = "request-timeout-s", value_name = "N")]
    pub request_timeout_s: Option<String>,
    /// TLS certificate chain (PEM) for the listener; needs --tls-key [env: SIGNET_TLS_CERT]
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for the listener; needs --tls-cert [env: SIGNET_TLS_KEY]
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) trusted for an https upstream [env: SIGNET_UPSTREAM_CA]
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// Ed25519 log key, PKCS#8 PEM, signing checkpoints (checkpoints off without it)
    /// [env: SIGNET_LOG_KEY]
    #[arg(long, value_name = "FILE")]
    pub log_key: Option<PathBuf>,
    /// Checkpoint origin (signed-note key name) [env: SIGNET_ORIGIN]
    /// [default: <hostname>/signet-audit]
    #[arg(long, value_name = "NAME")]
    pub origin: Option<String>,
    /// Sign a checkpoint every N entries [env: SIGNET_CHECKPOINT_EVERY] [default: 256]
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<String>,
    /// Sign a checkpoint at least every T milliseconds when entries are pending
    /// [env: SIGNET_CHECKPOINT_INTERVAL_MS] [default: 1000]
    #[arg(long = "checkpoint-interval-ms", value_name = "T")]
    pub checkpoint_interval_ms: Option<String>,
    /// RFC 3161 time-stamping authority anchoring checkpoints; needs --log-key and
    /// --tsa-root [env: SIGNET_TSA_URL]
    #[arg(long, value_name = "URL")]
    pub tsa_url: Option<String>,
    /// Root certificate(s) (PEM) that TSA tokens are verified against [env: SIGNET_TSA_ROOT]
    #[arg(long, value_name = "PEM")]
    pub tsa_root: Option<PathBuf>,
    /// CA certificates (PEM) trusted for an https TSA; system roots without it
    /// [env: SIGNET_TSA_CA]
    #[arg(long, value_name = "FILE")]
    pub tsa_ca: Option<PathBuf>,
    /// Write an intent entry before forwarding [env: SIGNET_TWO_PHASE]
    #[arg(long)]
    pub two_phase: bool,
    /// Show error details to clients, for development [env: SIGNET_STRICT_ERROR_REDACTION=false]
    #[arg(long)]
    pub verbose_errors: bool,
}
