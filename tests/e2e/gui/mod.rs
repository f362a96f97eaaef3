//! The real app driven through `egui_kittest`: import by drag-and-drop, see rows, sort, filter, stats,
//! histogram and scatter; labeling, training, sweeps, runs. Every test renders PNG screenshots: into the
//! build folder by default (a plain `cargo test` changes no tracked file), into the folder named by
//! `KILN_SCREENSHOTS` when set — `KILN_SCREENSHOTS=$PWD/screenshots cargo test -p kiln_e2e gui::`
//! refreshes the README's pictures.

mod data;
mod label;
mod monitor;
mod pipelines;
mod release;
mod runs;
mod shell;
mod support;
mod team;
mod train;
