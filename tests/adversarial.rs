//! The adversarial suite (issue 5, items 1 to 3): off-path commits, bypass attempts
//! and bad input against the real `signet serve` binary. Every test starts its own
//! gateway on 127.0.0.1:0 in front of scripted upstreams that count their hits, and
//! checks three things besides the status: a refused request never reaches the
//! upstream, every request whose head the gateway accepted has exactly one terminal
//! audit entry, and the log still verifies. `docs/threat-model.md` maps each attack
//! to the test here that covers it.
//!
//! Tests that found a real bug stay, marked `#[ignore = "BUG: …"]`, until the fix lands.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

#[path = "adversarial/common.rs"]
mod common;

#[path = "adversarial/offpath.rs"]
mod offpath;

#[path = "adversarial/owner.rs"]
mod owner;

#[path = "adversarial/classification.rs"]
mod classification;

#[path = "adversarial/drift.rs"]
mod drift;

#[path = "adversarial/smuggling.rs"]
mod smuggling;

#[path = "adversarial/receipts.rs"]
mod receipts;

#[path = "adversarial/bad_input.rs"]
mod bad_input;
