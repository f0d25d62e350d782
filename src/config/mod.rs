//! Configuration of `signet serve`: flags, then `SIGNET_*` environment, then the TOML
//! file (`--config` / `SIGNET_CONFIG`), then defaults; validated into a typed [`Config`].
//!
//! Guarantees:
//! - [`load`] reports every bad or missing value at once (each message names the flag,
//!   variable or `file: key` it came from) before anything binds a port.
//! - Secrets (the HMAC secret, the upstream API key) never appear in a message or in
//!   `Debug` output, and the config file cannot hold them: it names a secret file
//!   (`hmac_secret_file`) instead; `hmac_secret` and `upstream_api_key` keys are refused.
//! - The file is parsed with unknown keys refused (`deny_unknown_fields`); relative paths
//!   in it are taken from the file's directory; flag and environment paths from the
//!   working directory.
//! - An empty or blank environment variable counts as unset.
//! - Options that weaken the gateway (`[dangerous] open_policy`, shadow mode, verbose
//!   errors, a command-line secret) come back as warnings.
//!
//! Assumes: the policy engine validates `[policy]` itself ([`PolicyConfig::validate`]).

mod args;
mod env;
pub mod hmac;
mod parse;
mod raw;
#[cfg(test)]
pub(crate) mod reference;
mod resolve;
mod secret;
#[cfg(test)]
mod tests;
mod upstream;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use signet_audit::HmacKey;

use crate::policy::PolicyConfig;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The upstream: scheme, authority and optional base path (ARCHITECTURE section 6).
#[derive(Clone, Debug)]
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// Base path without trailing slash, `""` for none (e.g. `/v1`).
    pub base_path: String,
}

/// Validated configuration of `signet serve`. `Debug` redacts the upstream API key (and
/// [`HmacKey`] redacts itself).
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Threads serving connections, each with a single-threaded runtime; already
    /// resolved (a `workers` setting of `0` becomes one per available CPU), never 0.
    pub workers: usize,
    pub upstream: Upstream,
    pub audit_log_path: PathBuf,
    /// Chain key (and HMAC receipt key).
    pub hmac_key: HmacKey,
    pub max_request_body_bytes: usize,
    /// Most response bytes held for inspection of a unary response.
    pub max_inspect_bytes: usize,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    pub upstream_connect_timeout: Duration,
    pub receipt_header_name: http::HeaderName,
    pub emit_receipts: bool,
    /// Ed25519 receipt key (PKCS#8 PEM); HMAC receipts when `None`.
    pub receipt_key: Option<PathBuf>,
    pub shadow: bool,
    pub strict_error_redaction: bool,
    pub log_format: LogFormat,
    /// Replaces the caller's `Authorization` when set.
    pub upstream_api_key: Option<zeroize::Zeroizing<String>>,
    /// Write an intent entry before forwarding.
    pub two_phase: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub upstream_ca: Option<PathBuf>,
    /// Ed25519 log key (PKCS#8 PEM) signing checkpoints; checkpoints are off when `None`.
    pub log_key: Option<PathBuf>,
    /// Checkpoint origin line and signed-note key name: printable ASCII, no space, no `+`.
    pub origin: String,
    /// Sign a checkpoint after this many new entries.
    pub checkpoint_every: u64,
    /// Sign a checkpoint after this long when entries are pending.
    pub checkpoint_interval: Duration,
    /// RFC 3161 TSA anchoring checkpoints (`http`/`https`, absolute); set only with
    /// `log_key` and `tsa_root`.
    pub tsa_url: Option<http::Uri>,
    /// Root certificate(s) (PEM) TSA tokens are verified against; set whenever `tsa_url` is.
    pub tsa_root: Option<PathBuf>,
    /// CA certificate(s) (PEM) an `https` TSA's TLS certificate is verified against;
    /// the system roots when `None`.
    pub tsa_ca: Option<PathBuf>,
    /// `[policy]`, or `None` when the config has none (the safe default policy runs).
    pub policy: Option<PolicyConfig>,
    /// `[dangerous] open_policy = true`: run with no checks.
    pub open_policy: bool,
}

pub use args::{SecretArg, ServeArgs};
pub use env::{Env, ProcessEnv};

/// Defaults of the settings that have one (ARCHITECTURE section 7).
pub mod defaults {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    pub const HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    pub const PORT: u16 = 8443;
    /// `0`: one worker per available CPU ([`workers_for`]).
    pub const WORKERS: usize = 0;
    pub const AUDIT_LOG_PATH: &str = "signet-audit.jsonl";
    pub const HMAC_KEY_ID: &str = signet_audit::key::DEFAULT_KEY_ID;
    pub const MAX_REQUEST_BODY_BYTES: usize = 4 * 1024 * 1024;
    pub const MAX_INSPECT_BYTES: usize = 16 * 1024 * 1024;
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
    pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Lower case: `http::HeaderName::from_static` requires it (sent as `x-signet-receipt`,
    /// header names are case-insensitive).
    pub const RECEIPT_HEADER_NAME: &str = "x-signet-receipt";
    pub const EMIT_RECEIPTS: bool = true;
    pub const SHADOW: bool = false;
    pub const STRICT_ERROR_REDACTION: bool = true;
    pub const TWO_PHASE: bool = false;
    pub const LOG_FORMAT: super::LogFormat = super::LogFormat::Text;
    pub const CHECKPOINT_EVERY: u64 = 256;
    pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(1000);
    /// Where the default origin's host name is read.
    pub const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";
    /// Appended to the host name to make the default origin.
    pub const ORIGIN_SUFFIX: &str = "/signet-audit";

    /// The number of workers a `workers` setting of `n` means: `n`, or for `0` one per
    /// available CPU (1 when that is unknown).
    pub fn workers_for(n: usize) -> usize {
        if n != 0 {
            return n;
        }
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }

    /// The default origin: `<hostname>/signet-audit`, the host name read from
    /// [`HOSTNAME_FILE`].
    pub fn origin() -> String {
        origin_for(std::fs::read_to_string(HOSTNAME_FILE).ok().as_deref())
    }

    /// `<hostname>/signet-audit` with `hostname` trimmed; `localhost` when it is absent,
    /// empty, or would not make a valid origin.
    pub fn origin_for(hostname: Option<&str>) -> String {
        hostname
            .map(|h| format!("{}{ORIGIN_SUFFIX}", h.trim()))
            .filter(|o| super::parse::origin(o).is_ok() && o.len() > ORIGIN_SUFFIX.len())
            .unwrap_or_else(|| format!("localhost{ORIGIN_SUFFIX}"))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so a new field cannot be forgotten here.
        let Config {
            listen,
            workers,
            upstream,
            audit_log_path,
            hmac_key,
            max_request_body_bytes,
            max_inspect_bytes,
            request_timeout,
            header_read_timeout,
            upstream_connect_timeout,
            receipt_header_name,
            emit_receipts,
            receipt_key,
            shadow,
            strict_error_redaction,
            log_format,
            upstream_api_key,
            two_phase,
            tls_cert,
            tls_key,
            upstream_ca,
            log_key,
            origin,
            checkpoint_every,
            checkpoint_interval,
            tsa_url,
            tsa_root,
            tsa_ca,
            policy,
            open_policy,
        } = self;
        f.debug_struct("Config")
            .field("listen", listen)
            .field("workers", workers)
            .field("upstream", upstream)
            .field("audit_log_path", audit_log_path)
            .field("hmac_key", hmac_key)
            .field("max_request_body_bytes", max_request_body_bytes)
            .field("max_inspect_bytes", max_inspect_bytes)
            .field("request_timeout", request_timeout)
            .field("header_read_timeout", header_read_timeout)
            .field("upstream_connect_timeout", upstream_connect_timeout)
            .field("receipt_header_name", receipt_header_name)
            .field("emit_receipts", emit_receipts)
            .field("receipt_key", receipt_key)
            .field("shadow", shadow)
            .field("strict_error_redaction", strict_error_redaction)
            .field("log_format", log_format)
            .field(
                "upstream_api_key",
                &upstream_api_key.as_ref().map(|_| "<redacted>"),
            )
            .field("two_phase", two_phase)
            .field("tls_cert", tls_cert)
            .field("tls_key", tls_key)
            .field("upstream_ca", upstream_ca)
            .field("log_key", log_key)
            .field("origin", origin)
            .field("checkpoint_every", checkpoint_every)
            .field("checkpoint_interval", checkpoint_interval)
            .field("tsa_url", tsa_url)
            .field("tsa_root", tsa_root)
            .field("tsa_ca", tsa_ca)
            .field("policy", policy)
            .field("open_policy", open_policy)
            .finish()
    }
}

/// The config file `signet serve` reads: `--config`, else `SIGNET_CONFIG`.
pub fn config_path(args: &ServeArgs, env: &dyn Env) -> Option<PathBuf> {
    match &args.config {
        Some(p) => Some(p.clone()),
        None => env::non_empty(env, "SIGNET_CONFIG").map(PathBuf::from),
    }
}

/// Builds the configuration of `signet serve` from flags, `env` and the config file
/// they name. `Ok` carries the warnings to print at start; `Err` every problem found.
pub fn load(args: &ServeArgs, env: &dyn Env) -> Result<(Config, Vec<String>), Vec<String>> {
    let mut errors = Vec::new();
    let path = config_path(args, env);
    let file = match path.as_deref().map(raw::read) {
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        None => None,
    };
    let failed = !errors.is_empty();
    let mut r = resolve::Resolver::new(args, env, file.as_ref(), failed, resolve::Mode::Serve);
    let config = r.resolve();
    errors.append(&mut r.errors);
    match config {
        Some(c) if errors.is_empty() => Ok((c, r.warnings)),
        _ if errors.is_empty() => Err(vec!["configuration is incomplete".to_owned()]),
        _ => Err(errors),
    }
}

/// Checks a config file on its own (for `signet config check FILE`): syntax, unknown
/// keys, every value present, the policy, files it names (a secret file is read but
/// never shown). Upstream and HMAC secret may be absent, as they can come from the
/// environment. `Ok` carries the warnings.
pub fn check_file(path: &Path) -> Result<Vec<String>, Vec<String>> {
    let file = raw::read(path).map_err(|e| vec![e])?;
    let (args, env) = (ServeArgs::default(), HashMap::<String, String>::new());
    let mut r = resolve::Resolver::new(&args, &env, Some(&file), false, resolve::Mode::FileOnly);
    let _ = r.resolve();
    if r.errors.is_empty() {
        Ok(r.warnings)
    } else {
        Err(r.errors)
    }
}
