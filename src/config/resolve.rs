//! Merging flags, environment and config file into a [`Config`], collecting every error.
//!
//! For each setting the first layer that has a value wins (flag, then `SIGNET_*`, then
//! the file, then the default) and only that value is parsed. A message starts with
//! where the value came from (`--port`, `SIGNET_PORT`, `signet.toml: port`). Secret
//! values (HMAC secret, upstream API key) never appear in a message.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::env::{Env, non_empty};
use super::raw::{RawConfig, SourceFile};
use super::{Config, ServeArgs, Upstream, defaults, parse};
use crate::policy::PolicyConfig;

/// What the caller needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// A complete configuration: upstream and HMAC secret required.
    Serve,
    /// Only check the values that are present (a config file on its own).
    FileOnly,
    /// Only the HMAC key, from flags and environment, for the CLI commands; no secret
    /// is not an error (the command decides).
    KeysOnly,
}

/// The names of one setting in each layer.
#[derive(Clone, Copy)]
pub(super) struct Names {
    pub(super) flag: Option<&'static str>,
    pub(super) env: &'static str,
    pub(super) key: &'static str,
}

pub(super) const fn names(flag: &'static str, env: &'static str, key: &'static str) -> Names {
    Names {
        flag: if flag.is_empty() { None } else { Some(flag) },
        env,
        key,
    }
}

pub(super) const UPSTREAM: Names = names("--upstream", "SIGNET_UPSTREAM_URL", "upstream_url");
pub(super) const HOST: Names = names("--host", "SIGNET_HOST", "host");
pub(super) const PORT: Names = names("--port", "SIGNET_PORT", "port");
pub(super) const WORKERS: Names = names("--workers", "SIGNET_WORKERS", "workers");
pub(super) const AUDIT_LOG: Names = names("--audit-log", "SIGNET_AUDIT_LOG_PATH", "audit_log_path");
pub(super) const KEY_ID: Names = names("--hmac-key-id", "SIGNET_HMAC_KEY_ID", "hmac_key_id");
pub(super) const MAX_BODY: Names = names(
    "--max-request-body-bytes",
    "SIGNET_MAX_REQUEST_BODY_BYTES",
    "max_request_body_bytes",
);
pub(super) const MAX_INSPECT: Names = names("", "SIGNET_MAX_INSPECT_BYTES", "max_inspect_bytes");
pub(super) const REQUEST_TIMEOUT: Names = names(
    "--request-timeout-s",
    "SIGNET_REQUEST_TIMEOUT_S",
    "request_timeout_s",
);
pub(super) const HEADER_TIMEOUT: Names =
    names("", "SIGNET_HEADER_READ_TIMEOUT_S", "header_read_timeout_s");
pub(super) const CONNECT_TIMEOUT: Names = names(
    "",
    "SIGNET_UPSTREAM_CONNECT_TIMEOUT_S",
    "upstream_connect_timeout_s",
);
pub(super) const RECEIPT_HEADER: Names =
    names("", "SIGNET_RECEIPT_HEADER_NAME", "receipt_header_name");
pub(super) const EMIT_RECEIPTS: Names = names("", "SIGNET_EMIT_RECEIPTS", "emit_receipts");
pub(super) const RECEIPT_KEY: Names = names("--receipt-key", "SIGNET_RECEIPT_KEY", "receipt_key");
pub(super) const SHADOW: Names = names("--shadow", "SIGNET_SHADOW", "shadow");
pub(super) const STRICT: Names = names(
    "--verbose-errors",
    "SIGNET_STRICT_ERROR_REDACTION",
    "strict_error_redaction",
);
pub(super) const LOG_FORMAT: Names = names("--log-format", "SIGNET_LOG_FORMAT", "log_format");
pub(super) const TWO_PHASE: Names = names("--two-phase", "SIGNET_TWO_PHASE", "two_phase");
pub(super) const TLS_CERT: Names = names("--tls-cert", "SIGNET_TLS_CERT", "tls_cert");
pub(super) const TLS_KEY: Names = names("--tls-key", "SIGNET_TLS_KEY", "tls_key");
pub(super) const UPSTREAM_CA: Names = names("--upstream-ca", "SIGNET_UPSTREAM_CA", "upstream_ca");
pub(super) const LOG_KEY: Names = names("--log-key", "SIGNET_LOG_KEY", "log_key");
pub(super) const ORIGIN: Names = names("--origin", "SIGNET_ORIGIN", "origin");
pub(super) const CHECKPOINT_EVERY: Names = names(
    "--checkpoint-every",
    "SIGNET_CHECKPOINT_EVERY",
    "checkpoint_every",
);
pub(super) const CHECKPOINT_INTERVAL: Names = names(
    "--checkpoint-interval-ms",
    "SIGNET_CHECKPOINT_INTERVAL_MS",
    "checkpoint_interval_ms",
);
pub(super) const TSA_URL: Names = names("--tsa-url", "SIGNET_TSA_URL", "tsa_url");
pub(super) const TSA_ROOT: Names = names("--tsa-root", "SIGNET_TSA_ROOT", "tsa_root");
pub(super) const TSA_CA: Names = names("--tsa-ca", "SIGNET_TSA_CA", "tsa_ca");

/// The checkpoint and anchoring settings, each `None` when absent or bad.
struct Transparency {
    /// Where the log key came from, for messages.
    log_key_origin: Option<String>,
    log_key: Option<PathBuf>,
    origin: Option<String>,
    every: Option<u64>,
    interval: Option<Duration>,
    tsa_url: Option<http::Uri>,
    tsa_root: Option<PathBuf>,
    tsa_ca: Option<PathBuf>,
}

/// One value found in some layer.
struct Picked {
    origin: String,
    text: String,
}

pub(super) struct Resolver<'a> {
    pub(super) args: &'a ServeArgs,
    pub(super) env: &'a dyn Env,
    pub(super) file: Option<&'a SourceFile>,
    /// A config file was named but did not load: required values may be in it, so
    /// their absence is not reported on top.
    file_failed: bool,
    mode: Mode,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        args: &'a ServeArgs,
        env: &'a dyn Env,
        file: Option<&'a SourceFile>,
        file_failed: bool,
        mode: Mode,
    ) -> Self {
        Resolver {
            args,
            env,
            file,
            file_failed,
            mode,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn raw(&self) -> Option<&'a RawConfig> {
        self.file.map(|f| &f.raw)
    }

    pub(super) fn file_origin(&self, key: &str) -> String {
        match self.file {
            Some(f) => format!("{}: {key}", f.path.display()),
            None => key.to_owned(),
        }
    }

    pub(super) fn missing_is_error(&self) -> bool {
        self.mode == Mode::Serve && !self.file_failed
    }

    fn pick(&self, n: Names, flag: Option<String>, file: Option<String>) -> Option<Picked> {
        if let (Some(name), Some(text)) = (n.flag, flag) {
            return Some(Picked {
                origin: name.to_owned(),
                text,
            });
        }
        if let Some(text) = non_empty(self.env, n.env) {
            return Some(Picked {
                origin: n.env.to_owned(),
                text,
            });
        }
        file.map(|text| Picked {
            origin: self.file_origin(n.key),
            text,
        })
    }

    /// The winning value of one setting, parsed; `None` when absent or bad (bad values
    /// are recorded).
    pub(super) fn value<T>(
        &mut self,
        n: Names,
        flag: Option<String>,
        file: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let p = self.pick(n, flag, file)?;
        parse(&p.text)
            .map_err(|m| self.errors.push(format!("{}: {m}", p.origin)))
            .ok()
    }

    /// A path setting with its origin; relative paths from the file are taken from the
    /// file's directory.
    fn path(
        &mut self,
        n: Names,
        flag: Option<&PathBuf>,
        file: Option<&String>,
    ) -> Option<(String, PathBuf)> {
        if let (Some(name), Some(p)) = (n.flag, flag) {
            if p.as_os_str().is_empty() {
                self.errors.push(format!("{name}: the path is empty"));
                return None;
            }
            return Some((name.to_owned(), p.clone()));
        }
        if let Some(v) = non_empty(self.env, n.env) {
            return Some((n.env.to_owned(), PathBuf::from(v)));
        }
        let (src, text) = (self.file?, file?);
        let origin = self.file_origin(n.key);
        match parse::path(text) {
            Ok(p) => Some((origin, src.resolve(p))),
            Err(m) => {
                self.errors.push(format!("{origin}: {m}"));
                None
            }
        }
    }

    /// A path to a file that must exist now (TLS material, receipt key, CA).
    fn existing_file(&mut self, picked: Option<(String, PathBuf)>) -> Option<PathBuf> {
        let (origin, p) = picked?;
        match std::fs::metadata(&p) {
            Ok(m) if m.is_file() => Some(p),
            Ok(_) => {
                self.errors
                    .push(format!("{origin}: {} is not a regular file", p.display()));
                None
            }
            Err(e) => {
                self.errors
                    .push(format!("{origin}: cannot read {}: {e}", p.display()));
                None
            }
        }
    }

    fn boolean(
        &mut self,
        n: Names,
        flag: Option<&'static str>,
        file: Option<bool>,
    ) -> Option<bool> {
        self.value(
            n,
            flag.map(str::to_owned),
            file.map(|b| b.to_string()),
            parse::boolean,
        )
    }

    fn duration(&mut self, n: Names, flag: Option<String>, file: Option<f64>) -> Option<Duration> {
        self.value(n, flag, file.map(|v| v.to_string()), parse::seconds)
    }

    fn bytes(&mut self, n: Names, flag: Option<String>, file: Option<i64>) -> Option<usize> {
        self.value(n, flag, file.map(|v| v.to_string()), parse::byte_count)
    }

    /// Resolves everything; `None` when anything is missing or wrong (see `errors`).
    pub fn resolve(&mut self) -> Option<Config> {
        let a = self.args;
        let raw = self.raw();
        let s = |get: fn(&RawConfig) -> &Option<String>| raw.and_then(|r| get(r).clone());

        let upstream = self.upstream(s(|r| &r.upstream_url));
        let host = self.value(HOST, a.host.clone(), s(|r| &r.host), parse::host);
        let port = self.value(
            PORT,
            a.port.clone(),
            raw.and_then(|r| r.port).map(|p| p.to_string()),
            parse::port,
        );
        let workers = self.value(
            WORKERS,
            a.workers.clone(),
            raw.and_then(|r| r.workers).map(|n| n.to_string()),
            parse::workers,
        );
        let audit_log = self.path(
            AUDIT_LOG,
            a.audit_log.as_ref(),
            raw.and_then(|r| r.audit_log_path.as_ref()),
        );
        let hmac_key = self.hmac_key();
        let max_body = self.bytes(
            MAX_BODY,
            a.max_request_body_bytes.clone(),
            raw.and_then(|r| r.max_request_body_bytes),
        );
        let max_inspect = self.bytes(MAX_INSPECT, None, raw.and_then(|r| r.max_inspect_bytes));
        let request_timeout = self.duration(
            REQUEST_TIMEOUT,
            a.request_timeout_s.clone(),
            raw.and_then(|r| r.request_timeout_s),
        );
        let header_timeout = self.duration(
            HEADER_TIMEOUT,
            None,
            raw.and_then(|r| r.header_read_timeout_s),
        );
        let connect_timeout = self.duration(
            CONNECT_TIMEOUT,
            None,
            raw.and_then(|r| r.upstream_connect_timeout_s),
        );
        let receipt_header = self.value(
            RECEIPT_HEADER,
            None,
            s(|r| &r.receipt_header_name),
            parse::receipt_header,
        );
        let emit_receipts = self.boolean(EMIT_RECEIPTS, None, raw.and_then(|r| r.emit_receipts));
        let receipt_key = self.path(
            RECEIPT_KEY,
            a.receipt_key.as_ref(),
            raw.and_then(|r| r.receipt_key.as_ref()),
        );
        let receipt_key = self.existing_file(receipt_key);
        let shadow = self.boolean(
            SHADOW,
            a.shadow.then_some("true"),
            raw.and_then(|r| r.shadow),
        );
        let strict = self.boolean(
            STRICT,
            a.verbose_errors.then_some("false"),
            raw.and_then(|r| r.strict_error_redaction),
        );
        let log_format = self.value(
            LOG_FORMAT,
            a.log_format.clone(),
            s(|r| &r.log_format),
            parse::log_format,
        );
        let two_phase = self.boolean(
            TWO_PHASE,
            a.two_phase.then_some("true"),
            raw.and_then(|r| r.two_phase),
        );
        let upstream_api_key = self.upstream_api_key();
        let (tls_cert, tls_key) = self.tls();
        let upstream_ca = self.path(
            UPSTREAM_CA,
            a.upstream_ca.as_ref(),
            raw.and_then(|r| r.upstream_ca.as_ref()),
        );
        let upstream_ca = self.existing_file(upstream_ca);
        let t = self.transparency();
        if let (Some(o), Some(l), Some(r)) = (&t.log_key_origin, &t.log_key, &receipt_key) {
            self.distinct_keys(o, l, r);
        }
        // No `[policy]` table: the safe default policy runs (built by the policy module).
        let policy = raw.and_then(|r| r.policy.clone());
        for m in policy.iter().flat_map(PolicyConfig::validate) {
            let origin = self.file.map_or_else(
                || "default policy".to_owned(),
                |f| f.path.display().to_string(),
            );
            self.errors.push(format!("{origin}: {m}"));
        }
        let open_policy = raw
            .and_then(|r| r.dangerous.as_ref())
            .and_then(|d| d.open_policy)
            .unwrap_or(false);

        let shadow = shadow.unwrap_or(defaults::SHADOW);
        let strict_error_redaction = strict.unwrap_or(defaults::STRICT_ERROR_REDACTION);
        self.warn_weakened(open_policy, shadow, strict_error_redaction);
        if let (Some(u), Some(_)) = (&upstream, &upstream_api_key) {
            self.warn_clear_text_key(u);
        }

        let listen = SocketAddr::new(
            host.unwrap_or(defaults::HOST),
            port.unwrap_or(defaults::PORT),
        );
        if !self.errors.is_empty() {
            return None;
        }
        Some(Config {
            listen,
            workers: defaults::workers_for(workers.unwrap_or(defaults::WORKERS)),
            upstream: upstream?,
            audit_log_path: audit_log
                .map_or_else(|| PathBuf::from(defaults::AUDIT_LOG_PATH), |(_, p)| p),
            hmac_key: hmac_key?,
            max_request_body_bytes: max_body.unwrap_or(defaults::MAX_REQUEST_BODY_BYTES),
            max_inspect_bytes: max_inspect.unwrap_or(defaults::MAX_INSPECT_BYTES),
            request_timeout: request_timeout.unwrap_or(defaults::REQUEST_TIMEOUT),
            header_read_timeout: header_timeout.unwrap_or(defaults::HEADER_READ_TIMEOUT),
            upstream_connect_timeout: connect_timeout.unwrap_or(defaults::UPSTREAM_CONNECT_TIMEOUT),
            receipt_header_name: receipt_header
                .unwrap_or_else(|| http::HeaderName::from_static(defaults::RECEIPT_HEADER_NAME)),
            emit_receipts: emit_receipts.unwrap_or(defaults::EMIT_RECEIPTS),
            receipt_key,
            shadow,
            strict_error_redaction,
            log_format: log_format.unwrap_or(defaults::LOG_FORMAT),
            upstream_api_key,
            two_phase: two_phase.unwrap_or(defaults::TWO_PHASE),
            tls_cert,
            tls_key,
            upstream_ca,
            log_key: t.log_key,
            origin: t.origin.unwrap_or_else(defaults::origin),
            checkpoint_every: t.every.unwrap_or(defaults::CHECKPOINT_EVERY),
            checkpoint_interval: t.interval.unwrap_or(defaults::CHECKPOINT_INTERVAL),
            tsa_url: t.tsa_url,
            tsa_root: t.tsa_root,
            tsa_ca: t.tsa_ca,
            policy,
            open_policy,
        })
    }

    fn upstream(&mut self, file: Option<String>) -> Option<Upstream> {
        let Some(p) = self.pick(UPSTREAM, self.args.upstream.clone(), file) else {
            if self.missing_is_error() {
                self.errors.push(
                    "no upstream: pass --upstream URL or set SIGNET_UPSTREAM_URL (or upstream_url in the config file)"
                        .to_owned(),
                );
            }
            return None;
        };
        p.text
            .parse::<Upstream>()
            .map_err(|e| self.errors.push(format!("{}: {e}", p.origin)))
            .ok()
    }

    fn tls(&mut self) -> (Option<PathBuf>, Option<PathBuf>) {
        let a = self.args;
        let raw = self.raw();
        let cert = self.path(
            TLS_CERT,
            a.tls_cert.as_ref(),
            raw.and_then(|r| r.tls_cert.as_ref()),
        );
        let key = self.path(
            TLS_KEY,
            a.tls_key.as_ref(),
            raw.and_then(|r| r.tls_key.as_ref()),
        );
        match (&cert, &key) {
            (Some((origin, _)), None) => self.errors.push(format!(
                "{origin}: a TLS certificate needs a key too (--tls-key, SIGNET_TLS_KEY or tls_key)"
            )),
            (None, Some((origin, _))) => self.errors.push(format!(
                "{origin}: a TLS key needs a certificate too (--tls-cert, SIGNET_TLS_CERT or tls_cert)"
            )),
            _ => {}
        }
        (self.existing_file(cert), self.existing_file(key))
    }

    /// Log key, origin, checkpoint cadence and RFC 3161 anchoring. A TSA URL needs a log
    /// key (it anchors checkpoints) and a TSA root (tokens are always verified); their
    /// absence is reported only when the whole configuration is known
    /// ([`Self::missing_is_error`]).
    fn transparency(&mut self) -> Transparency {
        let a = self.args;
        let raw = self.raw();
        let int = |v: Option<i64>| v.map(|n| n.to_string());
        let log_key = self.path(
            LOG_KEY,
            a.log_key.as_ref(),
            raw.and_then(|r| r.log_key.as_ref()),
        );
        let origin = self.value(
            ORIGIN,
            a.origin.clone(),
            raw.and_then(|r| r.origin.clone()),
            parse::origin,
        );
        let every = self.value(
            CHECKPOINT_EVERY,
            a.checkpoint_every.clone(),
            int(raw.and_then(|r| r.checkpoint_every)),
            parse::checkpoint_every,
        );
        let interval = self.value(
            CHECKPOINT_INTERVAL,
            a.checkpoint_interval_ms.clone(),
            int(raw.and_then(|r| r.checkpoint_interval_ms)),
            parse::checkpoint_interval_ms,
        );
        let tsa = self.pick(
            TSA_URL,
            a.tsa_url.clone(),
            raw.and_then(|r| r.tsa_url.clone()),
        );
        let tsa_url = tsa.as_ref().and_then(|p| {
            parse::tsa_url(&p.text)
                .map_err(|m| self.errors.push(format!("{}: {m}", p.origin)))
                .ok()
        });
        let tsa_origin = tsa.map(|p| p.origin);
        let tsa_root = self.path(
            TSA_ROOT,
            a.tsa_root.as_ref(),
            raw.and_then(|r| r.tsa_root.as_ref()),
        );
        if let Some(origin) = &tsa_origin
            && self.missing_is_error()
        {
            if log_key.is_none() {
                self.errors.push(format!(
                    "{origin}: anchoring needs checkpoints: set a log key too (--log-key, SIGNET_LOG_KEY or log_key)"
                ));
            }
            if tsa_root.is_none() {
                self.errors.push(format!(
                    "{origin}: TSA tokens are always verified: set a TSA root too (--tsa-root, SIGNET_TSA_ROOT or tsa_root)"
                ));
            }
        }
        if let (None, Some((origin, _))) = (&tsa_origin, &tsa_root) {
            self.warnings.push(format!(
                "{origin}: no TSA URL is set (--tsa-url, SIGNET_TSA_URL or tsa_url), so checkpoints are not anchored and the TSA root is unused"
            ));
        }
        let tsa_ca = self.path(
            TSA_CA,
            a.tsa_ca.as_ref(),
            raw.and_then(|r| r.tsa_ca.as_ref()),
        );
        let https = tsa_url.as_ref().and_then(http::Uri::scheme) == Some(&http::uri::Scheme::HTTPS);
        if let (Some((origin, _)), false) = (&tsa_ca, https) {
            self.warnings.push(format!(
                "{origin}: no https:// TSA URL is set, so the TSA CA is unused"
            ));
        }
        Transparency {
            log_key_origin: log_key.as_ref().map(|(o, _)| o.clone()),
            log_key: self.existing_file(log_key),
            origin,
            every,
            interval,
            tsa_url,
            tsa_root: self.existing_file(tsa_root),
            tsa_ca: self.existing_file(tsa_ca),
        }
    }

    /// The log key and the receipt key must be different keys (ARCHITECTURE: receipts
    /// are signed with a key separate from the log key); the same file is refused.
    fn distinct_keys(&mut self, origin: &str, log_key: &Path, receipt_key: &Path) {
        let same = match (log_key.canonicalize(), receipt_key.canonicalize()) {
            (Ok(l), Ok(r)) => l == r,
            _ => log_key == receipt_key,
        };
        if same {
            self.errors.push(format!(
                "{origin}: {} is also the receipt key; use separate keys for checkpoints and receipts",
                log_key.display()
            ));
        }
    }

    fn warn_weakened(&mut self, open_policy: bool, shadow: bool, strict: bool) {
        if open_policy {
            self.warnings.push(
                "[dangerous] open_policy = true: requests are forwarded with no admission or inspection checks".to_owned(),
            );
        }
        if shadow {
            self.warnings.push(
                "shadow mode: refusals are recorded but not enforced; traffic goes through"
                    .to_owned(),
            );
        }
        if !strict {
            self.warnings.push(
                "strict error redaction is off: error details are sent to clients".to_owned(),
            );
        }
    }
}
