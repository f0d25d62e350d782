//! `signet audit`: placeholder.
use clap::Subcommand;

use super::exit::CmdResult;

#[derive(Subcommand, Debug)]
pub enum AuditCmd {}

pub fn run(cmd: AuditCmd) -> CmdResult {
    match cmd {}
}
