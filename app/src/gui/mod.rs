//! The desktop GUI. `app.rs` owns the state, polls background jobs in `logic` and applies the
//! [`Command`]s that panels emit; panels (one file each) draw state and never mutate it directly.

mod app;
mod commands;
mod import_dialog;
pub mod panels;
mod state;
pub mod widgets;

use std::path::PathBuf;

pub use app::KilnApp;
pub use commands::Command;
pub use state::{AppState, LabelSession, PanelId};

/// Open the Kiln window on `workspace` (or the last one used, or the default demo workspace).
pub fn run(workspace: Option<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Kiln")
            .with_app_id("kiln")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([720.0, 480.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "Kiln",
        options,
        Box::new(move |cc| Ok(Box::new(KilnApp::from_args(cc, workspace)?))),
    )
    .map_err(|e| anyhow::anyhow!("could not open the Kiln window: {e}"))
}
