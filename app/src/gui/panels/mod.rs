//! One file per panel; every panel implements [`Panel`] and is registered in [`all`].

mod data;
pub mod label;
mod placeholder;
mod runs;
mod train;

pub use data::DataPanel;
pub use label::LabelPanel;

use super::commands::Command;
use super::state::{AppState, PanelId};

/// A panel draws from read-only state and emits [`Command`]s; its own view state (selection, tab, plot
/// choices) lives in the panel struct.
pub trait Panel {
    fn id(&self) -> PanelId;
    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>);
}

/// Every panel, in navigation order.
pub fn all() -> Vec<Box<dyn Panel>> {
    vec![
        Box::new(DataPanel::default()),
        Box::new(LabelPanel::default()),
        Box::new(train::TrainPanel::default()),
        Box::new(runs::RunsPanel::default()),
        Box::new(placeholder::Placeholder::new(
            PanelId::Models,
            "Models & Releases",
            "Register models, run quality gates, get a reviewer's approval and release — with an audit trail.",
        )),
        Box::new(placeholder::Placeholder::new(
            PanelId::Monitor,
            "Monitor",
            "Serve the released model over HTTP and watch its inputs drift from the training data.",
        )),
    ]
}
