//! git-seal: automatic, independently verifiable provenance for git repositories.
//!
//! Layers, each depending only on those below it:
//! `cli` → `commands` → core (`engine`, `verify`, `hooks`, `runlog`, `ledger`,
//! `seal`, `manifest`, `cache`, `config`) → `git`. See docs/ARCHITECTURE.md.
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cache;
pub mod checkout;
pub mod cli;
pub mod commands;
pub mod config;
pub mod countersign;
pub mod engine;
pub mod error;
pub mod evtag;
pub mod fsutil;
pub mod gate;
pub mod git;
pub mod history;
pub mod hook_managers;
pub mod hookconfig;
pub mod hooks;
pub mod intoto;
pub mod ledger;
pub mod limits;
pub mod manifest;
pub mod memo;
pub mod notify;
pub mod objects;
pub mod policy;
pub mod quote;
pub mod report;
pub mod runlog;
pub mod seal;
pub mod signing;
pub mod snapshot;
pub mod steps;
pub mod submodules;
pub mod sync;
pub mod tags;
pub mod trust;
pub mod verify;
pub mod yaml;
