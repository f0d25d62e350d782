//! The secrets of the configuration: the HMAC chain key and the upstream API key.
//!
//! Guarantees: a secret value is never put in a message or a warning; it is held in
//! [`Zeroizing`] buffers from the moment it is read; the config file cannot hold one
//! (it may name a secret file); two sources in one layer (both `--hmac-secret` and
//! `--hmac-secret-file`, or both `SIGNET_HMAC_SECRET` and `SIGNET_HMAC_SECRET_FILE`) are
//! refused rather than silently ordered.

use std::path::PathBuf;

use signet_audit::HmacKey;
use signet_audit::key::KeyError;
use zeroize::Zeroizing;

use super::env::non_empty;
use super::resolve::{KEY_ID, Resolver};
use super::{Upstream, defaults, parse};

/// Where the HMAC secret comes from.
enum SecretSource {
    Hex(String, Zeroizing<String>),
    File(String, PathBuf),
}

impl Resolver<'_> {
    pub(super) fn hmac_key(&mut self) -> Option<HmacKey> {
        let a = self.args;
        let raw = self.raw();
        if raw.is_some_and(|r| r.hmac_secret.is_some()) {
            self.errors.push(format!(
                "{}: secrets are not read from the config file; use hmac_secret_file, SIGNET_HMAC_SECRET_FILE or SIGNET_HMAC_SECRET",
                self.file_origin("hmac_secret")
            ));
        }
        let before = self.errors.len();
        let id = self.value(
            KEY_ID,
            a.hmac_key_id.clone(),
            raw.and_then(|r| r.hmac_key_id.clone()),
            parse::key_id,
        );
        let id_ok = self.errors.len() == before;
        let id = id.unwrap_or_else(|| defaults::HMAC_KEY_ID.to_owned());

        let source = self.secret_source()?;
        // With a bad key id the secret is still checked (under the default id) so its
        // problems are reported in the same run.
        let key = match source {
            SecretSource::Hex(origin, hex) => {
                HmacKey::from_hex(&id, &hex).map_err(|e| self.errors.push(format!("{origin}: {e}")))
            }
            SecretSource::File(origin, path) => HmacKey::from_file(&id, &path).map_err(|e| {
                self.errors.push(match e {
                    KeyError::Read { .. } => format!("{origin}: {e}"),
                    _ => format!("{origin} ({}): {e}", path.display()),
                })
            }),
        };
        key.ok().filter(|_| id_ok)
    }

    fn secret_source(&mut self) -> Option<SecretSource> {
        let a = self.args;
        match (&a.hmac_secret, &a.hmac_secret_file) {
            (Some(_), Some(_)) => {
                self.errors.push(
                    "--hmac-secret and --hmac-secret-file are both given; use one".to_owned(),
                );
                return None;
            }
            (Some(s), None) => {
                self.warnings.push(
                    "--hmac-secret puts the secret in the process list; use SIGNET_HMAC_SECRET or --hmac-secret-file".to_owned(),
                );
                return Some(SecretSource::Hex(
                    "--hmac-secret".to_owned(),
                    Zeroizing::new(s.expose().to_owned()),
                ));
            }
            (None, Some(p)) => {
                return Some(SecretSource::File(
                    "--hmac-secret-file".to_owned(),
                    p.clone(),
                ));
            }
            (None, None) => {}
        }
        let hex = non_empty(self.env, "SIGNET_HMAC_SECRET").map(Zeroizing::new);
        let file = non_empty(self.env, "SIGNET_HMAC_SECRET_FILE");
        match (hex, file) {
            (Some(_), Some(_)) => {
                self.errors.push(
                    "SIGNET_HMAC_SECRET and SIGNET_HMAC_SECRET_FILE are both set; set one"
                        .to_owned(),
                );
                return None;
            }
            (Some(h), None) => return Some(SecretSource::Hex("SIGNET_HMAC_SECRET".to_owned(), h)),
            (None, Some(f)) => {
                return Some(SecretSource::File(
                    "SIGNET_HMAC_SECRET_FILE".to_owned(),
                    PathBuf::from(f),
                ));
            }
            (None, None) => {}
        }
        if let Some(src) = self.file
            && let Some(text) = &src.raw.hmac_secret_file
        {
            let origin = self.file_origin("hmac_secret_file");
            return match parse::path(text) {
                Ok(p) => Some(SecretSource::File(origin, src.resolve(p))),
                Err(m) => {
                    self.errors.push(format!("{origin}: {m}"));
                    None
                }
            };
        }
        if self.missing_is_error() {
            self.errors.push(
                "no hmac secret: set SIGNET_HMAC_SECRET or SIGNET_HMAC_SECRET_FILE, or pass --hmac-secret-file (or hmac_secret_file in the config file)"
                    .to_owned(),
            );
        }
        None
    }

    pub(super) fn upstream_api_key(&mut self) -> Option<Zeroizing<String>> {
        if self.raw().is_some_and(|r| r.upstream_api_key.is_some()) {
            self.errors.push(format!(
                "{}: secrets are not read from the config file; set SIGNET_UPSTREAM_API_KEY_FILE or SIGNET_UPSTREAM_API_KEY",
                self.file_origin("upstream_api_key")
            ));
        }
        let inline = non_empty(self.env, "SIGNET_UPSTREAM_API_KEY").map(Zeroizing::new);
        let file = non_empty(self.env, "SIGNET_UPSTREAM_API_KEY_FILE");
        let (origin, key) = match (inline, file) {
            (Some(_), Some(_)) => {
                self.errors.push(
                    "SIGNET_UPSTREAM_API_KEY and SIGNET_UPSTREAM_API_KEY_FILE are both set; set one"
                        .to_owned(),
                );
                return None;
            }
            (Some(k), None) => ("SIGNET_UPSTREAM_API_KEY".to_owned(), k),
            (None, Some(f)) => {
                let origin = format!("SIGNET_UPSTREAM_API_KEY_FILE ({f})");
                match read_small_secret(std::path::Path::new(&f)) {
                    Ok(k) => (origin, k),
                    Err(m) => {
                        self.errors.push(format!("{origin}: {m}"));
                        return None;
                    }
                }
            }
            (None, None) => return None,
        };
        let trimmed = Zeroizing::new(key.trim().to_owned());
        // It goes into an Authorization header: visible ASCII only. The value is not shown.
        if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
            self.errors.push(format!(
                "{origin}: empty, or contains characters that cannot go in a header (value not shown)"
            ));
            return None;
        }
        Some(trimmed)
    }

    /// The API key would cross the network unencrypted.
    pub(super) fn warn_clear_text_key(&mut self, upstream: &Upstream) {
        if upstream.scheme == http::uri::Scheme::HTTP && !upstream.is_loopback() {
            self.warnings.push(format!(
                "SIGNET_UPSTREAM_API_KEY is sent in clear text to http://{}; use an https upstream",
                upstream.authority
            ));
        }
    }
}

/// Reads a secret file of at most 64 KiB into a zeroized buffer; messages never show
/// its content.
fn read_small_secret(path: &std::path::Path) -> Result<Zeroizing<String>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut buf = Zeroizing::new(Vec::new());
    f.take(64 * 1024 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read: {e}"))?;
    if buf.len() > 64 * 1024 {
        return Err("larger than 64 KiB: not an API key".to_owned());
    }
    let text =
        std::str::from_utf8(&buf).map_err(|_| "not UTF-8 text (value not shown)".to_owned())?;
    Ok(Zeroizing::new(text.to_owned()))
}
