//! `signet keys`: key generation (placeholder until implemented).

use clap::Subcommand;

use super::exit::CmdResult;

#[derive(Subcommand, Debug)]
pub enum KeysCmd {}

pub fn run(cmd: KeysCmd) -> CmdResult {
    match cmd {}
}
