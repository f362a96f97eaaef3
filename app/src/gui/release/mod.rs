//! Models & Releases: the product side's view. Per model its brief and targets, the champion, pending
//! release requests with pass/fail badges, the statistical verdict, candidate against champion (and the
//! POC it came from), the change record and the model card; Approve / Reject with a mandatory comment,
//! an admin's override with a reason, rollback; the release timeline; and *Try it* on evaluation rows.

mod controller;
mod panel;
mod qa;
mod serve;
mod try_it;

pub use controller::{ReleaseController, ReleaseData};
pub use kiln_core::release::TryResult;
pub use panel::ReleaseView;

use super::command::Command;
use super::room::{Cx, Room};
use super::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("models");

/// What the Models & Releases room does. Every write runs on a worker and the room re-reads after it.
#[derive(Clone, Debug, PartialEq)]
pub enum ReleaseCommand {
    /// Re-read users, models, requests and the audit log.
    Reload,
    Approve {
        request: i64,
        by: String,
        comment: String,
        override_reason: Option<String>,
    },
    Reject {
        request: i64,
        by: String,
        comment: String,
    },
    Rollback {
        model: String,
        by: String,
        comment: String,
    },
    /// Register a run's model (the button on a run's report).
    Register {
        run: i64,
        model: String,
        stage: String,
        by: String,
    },
    /// File a release request for a version (gates and statistics are evaluated on the worker).
    Request {
        model: String,
        version: i64,
        by: String,
        notes: String,
    },
    /// Replace a model's brief (its targets are the gates).
    SetBrief {
        model: String,
        brief: Box<kiln_core::release::Brief>,
        by: String,
    },
    /// A comment on a model or version; with `accepted`, the verdict on a POC.
    Comment {
        model: String,
        version: Option<i64>,
        text: String,
        accepted: Option<bool>,
        by: String,
    },
    /// Point `staging` at a version (QA/UAT).
    Staging {
        model: String,
        version: i64,
        by: String,
    },
    /// Measure a version's serving capacity (its own server process on loopback, driven at the brief's
    /// rate and rising rates); kept on the version.
    Capacity {
        model: String,
        version: i64,
        by: String,
    },
    /// Put `model@alias` behind the HTTP API on this port (loopback), in this process.
    Serve {
        model: String,
        alias: String,
        port: u16,
        /// A version answering copies of every request beside it (never the client).
        shadow: Option<i64>,
    },
    StopServing,
    /// Predictions of versions on evaluation rows, or on one edited row.
    Try {
        model: String,
        versions: Vec<i64>,
        rows: Vec<usize>,
        /// A row typed by the user: `(column, text)`; used instead of `rows` when given.
        edited: Option<Vec<(String, String)>>,
    },
}

impl From<ReleaseCommand> for Command {
    fn from(c: ReleaseCommand) -> Self {
        Command::Release(c)
    }
}

#[derive(Default)]
pub struct ReleaseRoom {
    ctl: ReleaseController,
    view: ReleaseView,
}

impl ReleaseRoom {
    pub fn controller(&self) -> &ReleaseController {
        &self.ctl
    }

    pub fn view_mut(&mut self) -> &mut ReleaseView {
        &mut self.view
    }
}

impl Room for ReleaseRoom {
    fn id(&self) -> PanelId {
        ID
    }

    fn title(&self) -> &'static str {
        "Models & Releases"
    }

    fn badge(&self, _state: &AppState) -> Option<usize> {
        let pending = self.ctl.data.as_ref().map_or(0, ReleaseData::pending);
        Some(pending).filter(|n| *n > 0)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>) {
        panel::ui(ui, state, &mut self.view, &self.ctl, cmds);
    }

    fn apply(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Option<Command> {
        match cmd {
            Command::Release(c) => {
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
