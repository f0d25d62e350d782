//! The TOML config file as written: every key optional, unknown keys refused.
//!
//! Secrets are never read from this file (`hmac_secret_file` names a file instead); a
//! secret key is refused by name without its value being kept or echoed. Parse errors
//! give the file, line, column and toml's message, never the source line (which could
//! hold a secret someone put there by mistake).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::policy::PolicyConfig;

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub upstream_url: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub workers: Option<i64>,
    pub audit_log_path: Option<String>,
    pub hmac_secret_file: Option<String>,
    pub hmac_key_id: Option<String>,
    pub max_request_body_bytes: Option<i64>,
    pub max_inspect_bytes: Option<i64>,
    pub request_timeout_s: Option<f64>,
    pub header_read_timeout_s: Option<f64>,
    pub upstream_connect_timeout_s: Option<f64>,
    pub receipt_header_name: Option<String>,
    pub emit_receipts: Option<bool>,
    pub receipt_key: Option<String>,
    pub shadow: Option<bool>,
    pub strict_error_redaction: Option<bool>,
    pub log_format: Option<String>,
    pub two_phase: Option<bool>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub upstream_ca: Option<String>,
    pub log_key: Option<String>,
    pub origin: Option<String>,
    pub checkpoint_every: Option<i64>,
    pub checkpoint_interval_ms: Option<i64>,
    pub tsa_url: Option<String>,
    pub tsa_root: Option<String>,
    pub tsa_ca: Option<String>,
    pub policy: Option<PolicyConfig>,
    pub dangerous: Option<RawDangerous>,
    /// Refused with a message; the value is skipped, never stored.
    pub hmac_secret: Option<IgnoredAny>,
    /// Refused with a message; the value is skipped, never stored.
    pub upstream_api_key: Option<IgnoredAny>,
}

/// `[dangerous]`: options that weaken the gateway; each warns at start.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDangerous {
    /// Run with no checks at all.
    pub open_policy: Option<bool>,
}

/// A config file that parsed.
pub(super) struct SourceFile {
    pub path: PathBuf,
    pub raw: RawConfig,
}

impl SourceFile {
    /// Relative paths in the file are taken from the file's own directory.
    pub fn resolve(&self, p: PathBuf) -> PathBuf {
        match self.path.parent() {
            Some(dir) => dir.join(p),
            None => p,
        }
    }
}

/// Reads and parses a config file; the error names the file.
pub(super) fn read(path: &Path) -> Result<SourceFile, String> {
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| format!("config file {shown}: cannot read: {e}"))?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("config file {shown}: cannot read: {e}"))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "config file {shown}: larger than {MAX_CONFIG_BYTES} bytes"
        ));
    }
    let raw = toml::from_str::<RawConfig>(&text).map_err(|e| describe(path, &text, &e))?;
    Ok(SourceFile {
        path: path.to_owned(),
        raw,
    })
}

/// `FILE:LINE:COL: message`, without toml's excerpt of the source.
fn describe(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    let Some(start) = e.span().map(|s| s.start) else {
        return format!("config file {}: {message}", path.display());
    };
    let before = text.get(..start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("config file {}:{line}:{col}: {message}", path.display())
}
