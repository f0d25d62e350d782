//! `signet`: the audit gateway's command-line entry point.
//!
//! Parses arguments, dispatches to a command and maps outcomes to exit codes:
//! 0 success, 2 integrity failure, 64 usage error, 66 unreadable input,
//! 73 cannot create output, 75 try again later (log locked).
#![forbid(unsafe_code)]

mod admission;
mod anchor;
mod body;
mod cli;
mod commit;
mod config;
mod demo;
mod exit;
mod fold;
mod gateway;
mod inspection;
mod late;
mod metrics;
mod mock;
mod pipeline;
mod policy;
mod reload;
mod respond;
mod run;
mod server;
mod tlog;
mod tls;
mod upstream;
mod verdict;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc malloc: the request path allocates and frees many small
/// objects across two worker threads and the journal thread, where glibc's arenas cost
/// about a sixth of all instructions (docs/benchmarks.md, callgrind).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => exit::USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    cli::run(args)
}
