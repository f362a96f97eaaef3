//! The one trait every room implements: a domain's panel, its controller and its background jobs behind
//! one face the shell can list, draw, route commands to and poll.

use std::any::Any;

use super::command::Command;
use super::state::{AppState, PanelId};

/// What a controller gets when it applies a command or takes finished jobs: the shared state and the
/// queue for follow-up commands (to itself or to another room).
pub struct Cx<'a> {
    pub state: &'a mut AppState,
    pub cmds: &'a mut Vec<Command>,
}

impl Cx<'_> {
    pub fn push(&mut self, cmd: impl Into<Command>) {
        self.cmds.push(cmd.into());
    }
}

/// One domain of the product: its navigation entry, its panel, its commands and jobs. (`Any` lets tests
/// and benchmarks reach a room's state by its type: `KilnApp::room::<DataRoom>()`.)
pub trait Room: Any {
    fn id(&self) -> PanelId;
    fn title(&self) -> &'static str;
    /// A count shown next to the title in the navigation (work waiting there).
    fn badge(&self, _state: &AppState) -> Option<usize> {
        None
    }
    /// Draw the panel: read state, push commands; never block, never touch the workspace.
    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>);
    /// Windows the room shows over the whole app (its dialogs), whichever panel is shown.
    fn windows(&mut self, _ctx: &egui::Context, _state: &AppState, _cmds: &mut Vec<Command>) {}
    /// Apply `cmd` if it is this room's; hand any other back.
    fn apply(&mut self, cmd: Command, _cx: &mut Cx<'_>) -> Option<Command> {
        Some(cmd)
    }
    /// Take finished jobs and live events; never blocks. Called every frame before commands are applied.
    fn poll(&mut self, _cx: &mut Cx<'_>) {}
    /// The actions this room offers in the command palette, by name.
    fn palette(&self, _state: &AppState, _out: &mut Vec<(String, Command)>) {}
}
