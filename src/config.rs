//! git-seal's settings, read from `git config seal.*` and checked once.
//!
//! Invariant: settings come only from git config (repository, global, system), never
//! from files in the working tree, so no repository content can steer a hook.

use crate::error::{Error, Result};
use crate::git::Repo;

/// The ledger ref when `seal.ref` is not set.
pub const DEFAULT_REF: &str = "refs/notes/seal";

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The notes ref that holds the ledger (`seal.ref`).
    pub ledger_ref: String,
    /// How often a contended write is retried (`seal.maxRetries`).
    pub max_retries: u32,
    /// First backoff delay in milliseconds, doubled on each retry (`seal.retryBaseMs`).
    pub retry_base_ms: u64,
    /// Whether hooks print a line on success (`seal.verbose`).
    pub verbose: bool,
    /// Whether pushes of tags must carry only sealed commits too (`seal.gateTags`).
    pub gate_tags: bool,
    /// Whether `pre-push` pushes the ledger along (`seal.push`).
    pub push: PushMode,
}

/// `seal.push`: whether the ledger goes along with a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// Never push the ledger from pre-push.
    Off,
    /// Try, and warn if it fails (the default).
    BestEffort,
    /// Refuse the push if the ledger cannot be pushed.
    Strict,
}

impl Config {
    pub fn load(repo: &Repo) -> Result<Config> {
        let ledger_ref = repo
            .config_string("seal.ref")
            .unwrap_or_else(|| DEFAULT_REF.to_string());
        if !ledger_ref.starts_with("refs/notes/") || !git2::Reference::is_valid_name(&ledger_ref) {
            return Err(Error::usage(format!(
                "seal.ref is '{ledger_ref}', which is not a valid ref under refs/notes/"
            ))
            .hint(crate::quote::git(&format!("config seal.ref {DEFAULT_REF}"))));
        }
        let max_retries = int(repo, "seal.maxRetries", 3)?;
        let retry_base_ms = int(repo, "seal.retryBaseMs", 20)?;
        let verbose = repo.config_bool("seal.verbose")?.unwrap_or(false);
        let gate_tags = repo.config_bool("seal.gateTags")?.unwrap_or(false);
        let push = match repo.config_string("seal.push").as_deref() {
            None | Some("best-effort") => PushMode::BestEffort,
            Some("off") => PushMode::Off,
            Some("strict") => PushMode::Strict,
            Some(other) => {
                return Err(Error::usage(format!(
                    "seal.push is '{other}'; it must be off, best-effort or strict"
                ))
                .hint(crate::quote::git("config seal.push best-effort")))
            }
        };
        Ok(Config {
            ledger_ref,
            max_retries: max_retries.min(20) as u32,
            retry_base_ms,
            verbose,
            gate_tags,
            push,
        })
    }
}

fn int(repo: &Repo, key: &str, default: u64) -> Result<u64> {
    let Some(text) = repo.config_string(key) else {
        return Ok(default);
    };
    let v: i64 = text.trim().parse().map_err(|_| {
        Error::usage(format!("{key} is '{text}', not a whole number"))
            .hint(crate::quote::git(&format!("config {key} {default}")))
    })?;
    u64::try_from(v).map_err(|_| {
        Error::usage(format!("{key} is negative ({v})"))
            .hint(crate::quote::git(&format!("config {key} {default}")))
    })
}
