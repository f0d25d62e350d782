//! `signet config check FILE`: validate a configuration file without starting.
//!
//! Guarantees: the file goes through the same parsing and validation as `serve`
//! (unknown keys, types, ranges, the policy with its regexes and CIDRs, files it
//! names); every problem is printed, then exit 64; a valid file prints its warnings
//! and exits 0. Nothing listens and no log is opened.

use std::path::PathBuf;

use clap::Subcommand;

use crate::exit::{self, CmdResult, Failure};

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Validate a signet.toml without starting the gateway
    Check {
        /// The TOML file
        file: PathBuf,
    },
}

pub fn run(cmd: ConfigCmd) -> CmdResult {
    match cmd {
        ConfigCmd::Check { file } => match crate::config::check_file(&file) {
            Ok(warnings) => {
                for w in warnings {
                    eprintln!("signet: warning: {w}");
                }
                outln!("OK: {} is a valid configuration", file.display());
                Ok(exit::OK)
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("signet: config: {e}");
                }
                Err(Failure::usage(format!(
                    "{} configuration error(s) in {}",
                    errors.len(),
                    file.display()
                )))
            }
        },
    }
}
