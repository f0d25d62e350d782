//! The upstream API key of the configuration (the HMAC chain key has its own resolver,
//! [`super::hmac`]).
//!
//! Guarantees: the key is never put in a message or a warning; it is held in
//! [`Zeroizing`] buffers from the moment it is read; the config file cannot hold it;
//! both `SIGNET_UPSTREAM_API_KEY` and `SIGNET_UPSTREAM_API_KEY_FILE` set is refused
//! rather than silently ordered.

use zeroize::Zeroizing;

use super::Upstream;
use super::env::non_empty;
use super::resolve::Resolver;

impl Resolver<'_> {
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
