//! The desktop GUI: one room per domain (`data/`, `label/`, `train/`, `runs/`, `release/`, `monitor/`),
//! each a panel that draws and a controller that applies the room's commands and owns its background
//! jobs; `app.rs` is the window shell that routes commands and lists jobs. Domain logic lives in
//! `kiln_core`; nothing here imports the command line.

mod app;
pub mod command;
pub mod data;
pub mod jobs;
pub mod label;
pub mod monitor;
pub mod pipelines;
mod registry;
pub mod release;
pub mod room;
pub mod runs;
pub mod state;
pub mod train;
pub mod widgets;

use std::path::PathBuf;

pub use app::KilnApp;
pub use command::{Command, ShellCommand};
pub use state::{AppState, PanelId};

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
