//! The Label room: keyboard-first labeling of a dataset version (row form or image grid), every keystroke
//! durable in the workspace draft, committed as a new version.

mod assist;
mod controller;
mod panel;

use kiln_core::LabelClass;
use kiln_core::assist::Uncertainty;

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
    /// Hold the rows from this position of a version larger than the memory budget (the drafts stay).
    Window(usize),
    /// Go to the row with this id; in a version larger than the memory budget, first to the window
    /// that holds it (found on a worker thread).
    GoToRow(u64),
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
    /// Cross-validate on the committed labels of the session's version and review the suspects.
    FindSuspects {
        model: kiln_train::ModelKind,
        folds: usize,
        filter: kiln_core::assist::SuspectFilter,
    },
    /// Decide the suspect shown: `Some(class)` labels it (the suggestion or any class), `None` keeps
    /// the given label.
    ReviewDecide(Option<String>),
    CloseReview,
    /// Fill unlabeled rows with this run's predictions as suggestions.
    Suggest {
        run: i64,
    },
    /// Accept every suggestion at or above this probability.
    AcceptSuggestions {
        min: f64,
    },
    /// Order unlabeled items by this run's uncertainty (`None`: file order).
    OrderBy(Option<(i64, Uncertainty)>),
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
