//! Timing tests, in a binary of their own. Cargo runs test binaries one after another,
//! so nothing else in the suite (cargo builds, the kill and concurrency stress tests)
//! competes for the CPU while these measure. They compare CPU time (user + system of
//! the command and every process it waited for), which another load on the machine
//! barely moves, of runs made next to each other, and print wall time beside it.
#![allow(clippy::unwrap_used)]

#[path = "../integration/harness.rs"]
#[allow(dead_code)]
mod harness;

mod fetch;
