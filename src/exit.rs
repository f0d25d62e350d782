//! Exit codes shared by every command (sysexits where one fits), and the failure a
//! command returns: its code and the message for stderr. Shared by the CLI, `serve`
//! and `demo`, so none of them depends on another for it.

/// The log (or other input) verified and nothing is wrong.
pub const OK: u8 = 0;
/// The input was read and an integrity check failed.
pub const INTEGRITY: u8 = 2;
/// The command line or configuration is wrong.
pub const USAGE: u8 = 64;
/// An input file could not be read.
pub const NO_INPUT: u8 = 66;
/// A service the command probed is not available (`healthcheck`).
pub const UNAVAILABLE: u8 = 69;
/// An output file could not be created.
pub const CANT_CREATE: u8 = 73;

/// A command failure carrying its exit code and a message for stderr.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }
}

pub type CmdResult = Result<u8, Failure>;
