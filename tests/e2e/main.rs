//! End-to-end tests: the CLI as a user runs it, the GUI driven through `egui_kittest`, crash safety with a
//! real killed process. One binary with modules keeps CI's link time small.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod assist;
mod cli;
mod compare;
mod crash;
mod gui;
mod heldout;
mod pipelines;
mod qa;
mod real_data;
mod release;
mod serve;
mod sources;
mod streaming;
mod support;
mod team;
mod training;
mod versioning;
