//! Command tree of the `signet` binary and dispatch.
//!
//! Command output goes through [`outln!`]/[`out!`]: when stdout is a pipe closed by
//! its reader (`signet audit verify LOG | head`), the command stops quietly with exit
//! 141, as if SIGPIPE had ended it, instead of panicking; any other write error exits
//! 74 (EX_IOERR) with a message.

/// `println!` for command output (see the module doc).
macro_rules! outln {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` for command output (see the module doc).
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!($($t)*)) };
}

pub mod append;
pub mod audit;
pub mod config_cmd;
pub mod healthcheck;
pub mod human;
pub mod keys;
pub mod read;
pub mod receipt;
pub mod secrets;
pub mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "signet",
    version,
    about = "Audit gateway: every request admitted, inspected and committed to a verifiable log"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read and verify audit logs (read-only, except `append`)
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Generate key files
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Check configuration files
    #[command(subcommand)]
    Config(config_cmd::ConfigCmd),
    /// Verify receipts offline (DSSE standalone receipts and X-Signet-Receipt headers)
    #[command(subcommand)]
    Receipt(receipt::ReceiptCmd),
    /// Run the gateway in front of an upstream
    Serve(Box<serve::ServeArgs>),
    /// Run the gateway in front of a built-in mock LLM upstream, to try it out
    Demo(crate::demo::DemoArgs),
    /// Probe a gateway endpoint (exit 0 iff it answers 200), for container health checks
    Healthcheck(healthcheck::HealthcheckArgs),
}

/// Writes command output to stdout; see the module doc for what happens on errors.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("signet: cannot write to stdout: {e}");
        std::process::exit(74);
    }
}

/// Runs the parsed command and turns its outcome into an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Audit(c) => audit::run(c),
        Command::Keys(c) => keys::run(c),
        Command::Config(c) => config_cmd::run(c),
        Command::Receipt(c) => receipt::run(c),
        Command::Serve(a) => serve::load_config(&a).and_then(|cfg| {
            let source = crate::reload::Source { args: (*a).clone() };
            crate::run::serve(cfg, Some(source))
        }),
        Command::Demo(a) => crate::demo::run(&a),
        Command::Healthcheck(a) => healthcheck::run(&a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("signet: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
