//! The one error type that crosses module boundaries, and its exit codes.
//!
//! Every failure the user can meet is an [`Error`]: a one-line message saying what
//! went wrong and why, an optional hint naming the command that fixes it, and a
//! [`Kind`] that decides the exit status (brief §3: 1 for a failed check or a refused
//! push, 2 for usage, environment or configuration errors). Only the CLI layer
//! prints errors; everything below it returns them.

use std::fmt;

/// What kind of failure this is; decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A check failed or a push is refused (exit 1).
    Check,
    /// Bad usage, environment or configuration (exit 2).
    Usage,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Check => 1,
            Kind::Usage => 2,
        }
    }
}

/// A user-facing failure: what, why, and how to fix it.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A usage, environment or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Usage,
            message: message.into(),
            hint: None,
        }
    }

    /// A failed check or refused push (exit 1).
    pub fn check(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Check,
            message: message.into(),
            hint: None,
        }
    }

    /// Attaches the command (or action) that fixes this error.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with what was being done when it failed.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::usage(format!("git: {}", e.message()))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::usage(e.to_string())
    }
}

/// Adds `.context(...)` to any result whose error converts into [`Error`].
pub trait ResultExt<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }
}
