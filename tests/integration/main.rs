//! The one integration-test binary: real git, real repositories in temp dirs.
#![allow(clippy::unwrap_used)]

mod harness;

mod adversary;
mod adversary_gate;
mod adversary_output;
mod cache_trust;
mod do_no_harm;
mod failures;
mod formats;
mod hints;
mod hints_more;
mod history;
mod hook_managers;

mod config_hooks;
mod install;
mod ledger_rules;
mod manifest;
mod matrix;
mod output;
mod precommit;
mod push;
mod readme;
mod rollback;
mod runlog;
mod sealing;
mod sha256;
mod signed_seals;
mod signing;
mod steps;
mod stress;
mod submodules;
mod tags;
mod trust;
mod verify;
mod verify_claims;
