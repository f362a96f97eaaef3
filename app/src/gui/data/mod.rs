//! The Data room: import, datasets and versions, the table with sort and filter, statistics, plots, and
//! the versions view (lineage, diff, pull, saved filters, splits, export).

mod controller;
mod import_dialog;
mod panel;

use std::path::PathBuf;

use kiln_core::ImportOptions;

pub use controller::{ColumnPlot, Current, DataController, Importing};
use panel::DataPanel;

use super::command::Command;
use super::room::{Cx, Room};
use super::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("data");

/// A dataset read from a database query or a URL, as the import dialog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSpec {
    pub url: String,
    /// Empty for a URL.
    pub query: String,
    pub name: String,
    pub incremental_by: Option<String>,
    pub primary_key: Option<String>,
}

/// What the Data room does.
#[derive(Clone, Debug, PartialEq)]
pub enum DataCommand {
    /// Open a dataset version (`None` = latest).
    OpenVersion {
        dataset: String,
        version: Option<i64>,
    },
    /// Show the native file dialog and then the import dialog.
    PickImportFile,
    /// Open the import dialog on its *From a database or URL* tab.
    OpenRemoteImport,
    /// Re-read the preview of a database query or a URL.
    PreviewRemote(RemoteSpec),
    /// Import from a database query or a URL.
    StartRemoteImport(RemoteSpec),
    /// Open the import dialog on a file.
    OpenImportDialog(PathBuf),
    CloseImportDialog,
    /// Re-read the preview in the import dialog.
    PreviewImport {
        path: PathBuf,
        options: ImportOptions,
    },
    StartImport {
        path: PathBuf,
        name: String,
        options: ImportOptions,
    },
    /// Apply a polars SQL condition to the open version (empty = no filter).
    SetFilter(String),
    /// Sort by a column; sorting by the sorted column again flips the direction.
    SortBy(String),
    ComputeStats,
    Histogram(String),
    Scatter {
        x: String,
        y: String,
        color: Option<String>,
    },
    /// Diff two references (`NAME@V`).
    Diff {
        a: String,
        b: String,
    },
    Pull(String),
    /// Run a derived dataset's edited recipe (its next recipe version).
    EditRecipe {
        dataset: String,
        recipe: kiln_core::sources::Recipe,
    },
    /// Save the open version's current filter as a new version.
    SaveFilterVersion,
    Split {
        ratios: [f64; 3],
        seed: u64,
        stratify: Option<String>,
    },
    /// Choose a file and export the open version to it.
    PickExport,
}

impl From<DataCommand> for Command {
    fn from(c: DataCommand) -> Self {
        Command::Data(c)
    }
}

#[derive(Default)]
pub struct DataRoom {
    ctl: DataController,
    panel: DataPanel,
}

impl DataRoom {
    pub fn controller(&self) -> &DataController {
        &self.ctl
    }
}

impl Room for DataRoom {
    fn id(&self) -> PanelId {
        ID
    }

    fn title(&self) -> &'static str {
        "Data"
    }

    fn badge(&self, state: &AppState) -> Option<usize> {
        Some(state.datasets.len()).filter(|n| *n > 0)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>) {
        self.panel.ui(ui, state, &self.ctl, cmds);
    }

    fn windows(&mut self, ctx: &egui::Context, _state: &AppState, cmds: &mut Vec<Command>) {
        self.ctl.dialog_ui(ctx, cmds);
    }

    fn apply(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Option<Command> {
        match cmd {
            Command::Data(c) => {
                self.ctl.apply(c, cx);
                None
            }
            other => Some(other),
        }
    }

    fn poll(&mut self, cx: &mut Cx<'_>) {
        self.ctl.poll(cx);
    }

    fn palette(&self, state: &AppState, out: &mut Vec<(String, Command)>) {
        out.push(("Import a file…".into(), DataCommand::PickImportFile.into()));
        out.push((
            "Import from a database or URL…".into(),
            DataCommand::OpenRemoteImport.into(),
        ));
        if let Some(v) = &self.ctl.current.version {
            out.push((
                format!("Compute statistics of {}@{}", v.dataset, v.version),
                DataCommand::ComputeStats.into(),
            ));
            out.push((
                format!("Export {}@{}…", v.dataset, v.version),
                DataCommand::PickExport.into(),
            ));
            out.push((
                format!("Pull {} from its source", v.dataset),
                DataCommand::Pull(v.dataset.clone()).into(),
            ));
            if !self.ctl.current.filter.trim().is_empty() {
                out.push((
                    "Save the filter as a new version".into(),
                    DataCommand::SaveFilterVersion.into(),
                ));
            }
        }
        for d in &state.datasets {
            out.push((
                format!("Open dataset {}", d.name),
                DataCommand::OpenVersion {
                    dataset: d.name.clone(),
                    version: None,
                }
                .into(),
            ));
        }
    }
}
