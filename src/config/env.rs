//! Reading the environment through a small trait, so tests can pass a map.

use std::collections::HashMap;

/// Where `SIGNET_*` variables come from.
pub trait Env {
    /// The variable's value; `None` when unset.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment. A value that is not UTF-8 is read lossily (so a bad value
/// is reported rather than silently ignored); a UTF-8 value is moved, not copied, so a
/// secret read here leaves no stray copy behind (the caller wraps it in `Zeroizing`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| {
            v.into_string()
                .unwrap_or_else(|v| v.to_string_lossy().into_owned())
        })
    }
}

/// A fixed map, for tests and for callers that build a configuration themselves.
impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A variable's value with empty or blank values treated as unset (as a container
/// that sets `SIGNET_X=` means "not configured").
pub(super) fn non_empty(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.trim().is_empty())
}
