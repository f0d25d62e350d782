//! `signet serve` configuration from the command line: flags, process environment and
//! config file, with problems printed for people.
//!
//! Guarantees: every configuration error is printed (one per line, `signet: config:
//! <msg>`) and maps to exit 64 before anything binds a port; warnings are printed as
//! `signet: warning: <msg>`; no secret is printed.

pub use crate::config::ServeArgs;
use crate::config::{self, Config, ProcessEnv};

use crate::exit::Failure;

/// Loads the configuration of `signet serve` from `args` and the process environment.
pub fn load_config(args: &ServeArgs) -> Result<Config, Failure> {
    match config::load(args, &ProcessEnv) {
        Ok((cfg, warnings)) => {
            for w in &warnings {
                eprintln!("signet: warning: {w}");
            }
            Ok(cfg)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("signet: config: {e}");
            }
            let n = errors.len();
            let s = if n == 1 { "" } else { "s" };
            Err(Failure::usage(format!("{n} configuration error{s}")))
        }
    }
}
