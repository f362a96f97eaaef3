//! The Label room: keyboard-first labeling of a dataset version (row form or image grid), every keystroke
//! durable in the workspace draft, committed as a new version.

mod controller;
mod panel;

use kiln_core::LabelClass;

pub use controller::LabelController;
use panel::LabelPanel;

use super::command::Command;
use super::room::{Cx, Room};
use super::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("label");

/// What the Label room does.
#[derive(Clone, Debug, PartialEq)]
pub enum LabelCommand {
    /// Open the version shown in the Data room for labeling with this label column.
    Start {
        column: String,
    },
    /// Save (or clear, with `None`) the label of rows as a draft, then move to the next item.
    Set {
        rows: Vec<u64>,
        value: Option<String>,
        advance: bool,
    },
    Undo,
    MoveCursor(usize),
    SetOnlyUnlabeled(bool),
    SaveSchema(Vec<LabelClass>),
    Commit {
        message: String,
        author: String,
    },
}

impl From<LabelCommand> for Command {
    fn from(c: LabelCommand) -> Self {
        Command::Label(c)
    }
}

#[derive(Default)]
pub struct LabelRoom {
    ctl: LabelController,
    panel: LabelPanel,
}

impl LabelRoom {
    pub fn controller(&self) -> &LabelController {
        &self.ctl
    }
}

impl Room for LabelRoom {
    fn id(&self) -> PanelId {
        ID
    }

    fn title(&self) -> &'static str {
        "Label"
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>) {
        self.panel.ui(ui, state, &self.ctl, cmds);
    }

    fn apply(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Option<Command> {
        match cmd {
            Command::Label(c) => {
                self.ctl.apply(c, cx);
                None
            }
            other => Some(other),
        }
    }

    fn poll(&mut self, cx: &mut Cx<'_>) {
        self.ctl.poll(cx);
    }
}
