use std::path::PathBuf;

use kiln_core::ImportOptions;

use super::PanelId;

/// Everything a panel can ask the app to do. The app applies them in one place (`KilnApp::apply`).
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    ShowPanel(PanelId),
    /// Open a dataset version (`None` = latest) in the Data panel.
    OpenVersion {
        dataset: String,
        version: Option<i64>,
    },
    /// Show the native file dialog and then the import dialog.
    PickImportFile,
    /// Open the import dialog on a file.
    OpenImportDialog(PathBuf),
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
    /// Pick another workspace folder with the native dialog.
    PickWorkspace,
    OpenWorkspace(PathBuf),
    /// Apply a polars SQL condition to the open version (empty = no filter).
    SetFilter(String),
    /// Sort by a column; clicking the sorted column again flips the direction.
    SortBy(String),
    ComputeStats,
    Histogram(String),
    Scatter {
        x: String,
        y: String,
        color: Option<String>,
    },
    /// Open the current version in the Label panel with this label column.
    StartLabeling {
        column: String,
    },
    /// Save (or clear, with `None`) the label of rows as a draft, then move to the next item.
    SetLabel {
        rows: Vec<u64>,
        value: Option<String>,
        advance: bool,
    },
    UndoLabel,
    MoveCursor(usize),
    SetOnlyUnlabeled(bool),
    SaveLabelSchema(Vec<kiln_core::store::LabelClass>),
    CommitLabels {
        message: String,
        author: String,
    },
    /// Versions view: diff two references (`NAME@V`).
    Diff {
        a: String,
        b: String,
    },
    Pull(String),
    /// Save the open version's current filter as a new version.
    SaveFilterVersion,
    Split {
        ratios: [f64; 3],
        seed: u64,
        stratify: Option<String>,
    },
    /// Choose a file and export the open version to it.
    PickExport,
    /// Train a model in the background, followed live in the Train panel.
    StartTraining(kiln_core::training::TrainRequest),
    /// Stop the running training (the run keeps its best model and can be resumed).
    StopTraining,
    /// Continue a stopped, failed or interrupted run from its last checkpoint.
    ResumeRun(i64),
    StartSweep(kiln_core::sweeps::SweepSpec),
    StopSweep,
    CancelJob(u64),
    DismissToast(u64),
    ToggleTheme,
}
