//! Reusable widgets.

pub mod data_table;
pub mod plots;
