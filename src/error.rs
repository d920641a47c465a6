//! The one error type that crosses module boundaries, its kinds and exit codes, and
//! the one place an error is turned into text.
//!
//! Every failure the user can meet is an [`Error`]: a one-line message saying what
//! went wrong and why, an optional hint naming the command that fixes it, the error
//! that caused it (kept, not flattened into the message: [`std::error::Error::source`]
//! walks the chain), and a [`Kind`] that decides the exit status (brief §3: 1 for a
//! failed check or a refused push, 2 for everything else). Only the CLI layer prints
//! errors, through [`Error::render`] or [`Error::report`]; everything below it
//! returns them.
//!
//! Invariants: a cause is printed once (a conversion that already put the cause's
//! text in the message does not print it again as `caused by:`); an internal error
//! always says it is a bug and asks for a report.

use std::fmt;

/// What kind of failure this is; decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A check failed or a push is refused (exit 1).
    Check,
    /// Bad usage or configuration: the command line or a setting is wrong (exit 2).
    Usage,
    /// The world is not as needed: git missing or failing, a file unreadable, a
    /// repository damaged or absent (exit 2).
    Environment,
    /// A git-seal invariant does not hold: a bug (exit 2, and the message asks for
    /// a report).
    Internal,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Check => 1,
            Kind::Usage | Kind::Environment | Kind::Internal => 2,
        }
    }

    /// The lowercase name used in JSON errors and run records.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Check => "check",
            Kind::Usage => "usage",
            Kind::Environment => "environment",
            Kind::Internal => "internal",
        }
    }
}

/// The cause of an error, kept whole so it can be inspected and printed.
type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A user-facing failure: what, why, how to fix it, and what caused it.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
    source: Option<Cause>,
    /// The message already says what `source` says (a plain conversion): rendering
    /// starts the `caused by:` lines at the source's own cause.
    source_in_message: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The hint every internal error gets unless it names a better one.
pub const INTERNAL_HINT: &str =
    "this is a bug in git-seal: please report it with the command you ran and this output";

impl Error {
    fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
            source: None,
            source_in_message: false,
        }
    }

    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(Kind::Usage, message)
    }

    /// A failed check or refused push (exit 1).
    pub fn check(message: impl Into<String>) -> Self {
        Error::new(Kind::Check, message)
    }

    /// An environment failure: git, the file system or the repository (exit 2).
    pub fn environment(message: impl Into<String>) -> Self {
        Error::new(Kind::Environment, message)
    }

    /// A broken invariant: a bug in git-seal (exit 2). Rendered as an internal
    /// error with a request to report it.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(Kind::Internal, message).hint(INTERNAL_HINT)
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

    /// Keeps `cause` as the source of this error; it is printed as `caused by:`.
    pub fn with_source(mut self, cause: impl Into<Cause>) -> Self {
        self.source = Some(cause.into());
        self.source_in_message = false;
        self
    }

    /// The messages of the causes still to print, nearest first (those the message
    /// does not already say).
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = match &self.source {
            Some(s) if self.source_in_message => s.source(),
            Some(s) => Some(s.as_ref()),
            None => None,
        };
        while let Some(e) = next {
            let text = e.to_string();
            // A wrapper that repeats its cause word for word adds nothing.
            if out.last() != Some(&text) && !self.message.ends_with(&text) {
                out.push(text);
            }
            next = e.source();
        }
        out
    }

    /// The error as the CLI prints it: `error:`, one `caused by:` line per cause,
    /// then `hint:`. Each line ends with a newline.
    pub fn render(&self) -> String {
        let mut s = match self.kind {
            Kind::Internal => format!("error: internal error, please report: {}\n", self.message),
            _ => format!("error: {}\n", self.message),
        };
        for cause in self.causes() {
            s.push_str(&format!("caused by: {cause}\n"));
        }
        if let Some(hint) = &self.hint {
            s.push_str(&format!("hint: {hint}\n"));
        }
        s
    }

    /// The error as data, for `--json` output (schema [`ERROR_SCHEMA`]).
    pub fn report(&self) -> ErrorReport<'_> {
        ErrorReport {
            schema: ERROR_SCHEMA,
            error: ErrorBody {
                kind: self.kind,
                exit_code: self.kind.exit_code(),
                message: &self.message,
                causes: self.causes(),
                hint: self.hint.as_deref(),
            },
        }
    }
}

/// The schema of an error printed under `--json`.
pub const ERROR_SCHEMA: &str = "git-seal/error/v1";

/// An error as a JSON document: `{"schema", "error": {kind, exit_code, message,
/// causes, hint}}`.
#[derive(Debug, serde::Serialize)]
pub struct ErrorReport<'a> {
    pub schema: &'static str,
    pub error: ErrorBody<'a>,
}

#[derive(Debug, serde::Serialize)]
pub struct ErrorBody<'a> {
    pub kind: Kind,
    pub exit_code: u8,
    pub message: &'a str,
    pub causes: Vec<String>,
    pub hint: Option<&'a str>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        let mut err = Error::environment(format!("git: {}", e.message())).with_source(e);
        err.source_in_message = true;
        err
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let mut err = Error::environment(e.to_string()).with_source(e);
        err.source_in_message = true;
        err
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn each_kind_has_its_exit_code() {
        assert_eq!(Error::check("x").kind.exit_code(), 1);
        assert_eq!(Error::usage("x").kind.exit_code(), 2);
        assert_eq!(Error::environment("x").kind.exit_code(), 2);
        assert_eq!(Error::internal("x").kind.exit_code(), 2);
    }

    #[test]
    fn a_message_its_causes_then_the_hint() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = Error::environment("cannot read .git/seal/run.log")
            .with_source(io)
            .hint("check the file: ls -l .git/seal");
        assert_eq!(
            e.render(),
            "error: cannot read .git/seal/run.log\ncaused by: No such file\nhint: check the file: ls -l .git/seal\n"
        );
        assert_eq!(e.source().unwrap().to_string(), "No such file");
    }

    #[test]
    fn a_chain_of_causes_prints_every_link_once() {
        let inner = Error::environment("git: object not found");
        let middle = Error::environment("cannot read the ledger").with_source(inner);
        let outer = Error::check("push refused").with_source(middle);
        assert_eq!(
            outer.render(),
            "error: push refused\ncaused by: cannot read the ledger\ncaused by: git: object not found\n"
        );
    }

    #[test]
    fn a_converted_error_keeps_its_cause_without_repeating_it() {
        let g = git2::Error::from_str("reference 'refs/x' not found");
        let e: Error = g.into();
        assert_eq!(e.kind, Kind::Environment);
        assert!(e.source().unwrap().downcast_ref::<git2::Error>().is_some());
        assert_eq!(e.render(), "error: git: reference 'refs/x' not found\n");
        let e = Err::<(), _>(std::io::Error::other("disk full"))
            .context("cannot write the seal")
            .unwrap_err();
        assert_eq!(e.render(), "error: cannot write the seal: disk full\n");
        assert!(e
            .source()
            .unwrap()
            .downcast_ref::<std::io::Error>()
            .is_some());
    }

    #[test]
    fn an_internal_error_says_it_is_a_bug() {
        let e = Error::internal("manifest entries out of order");
        assert_eq!(
            e.render(),
            format!("error: internal error, please report: manifest entries out of order\nhint: {INTERNAL_HINT}\n")
        );
    }

    #[test]
    fn the_json_report_carries_kind_message_causes_and_hint() {
        let e = Error::usage("--since 'soon' is not a date")
            .with_source(std::io::Error::other("bad"))
            .hint("e.g. --since yesterday");
        let v = serde_json::to_value(e.report()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "schema": ERROR_SCHEMA,
                "error": {"kind": "usage", "exit_code": 2, "message": "--since 'soon' is not a date",
                          "causes": ["bad"], "hint": "e.g. --since yesterday"}
            })
        );
    }
}
