//! Reusable widgets.

pub mod badge;
pub mod data_table;
pub mod heatmap;
pub mod parallel;
pub mod plots;
