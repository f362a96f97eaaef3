//! Reusable widgets.

pub mod data_table;
pub mod placeholder;
pub mod plots;
