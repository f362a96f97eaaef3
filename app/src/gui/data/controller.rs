//! The Data room's controller: applies [`DataCommand`]s, owns the open version and everything computed
//! from it, and the jobs that compute them; each job's result is taken here, where it was started.

use std::path::PathBuf;
use std::sync::Arc;

use kiln_core::data::polars::prelude::DataFrame;
use kiln_core::data::{self, DiffSummary, Histogram, ScatterSeries, TableData, ValueCount};
use kiln_core::{Cancel, ColumnStats, DatasetVersion, ImportOptions, ImportOutcome, Progress};
use kiln_core::{Workspace, validate_name};

use super::import_dialog::ImportDialog;
use super::{DataCommand, RemoteSpec};
use crate::gui::command::Command;
use crate::gui::jobs::{Finished, Shown, Task};
use crate::gui::room::Cx;
use crate::gui::state::AppState;

/// Rows shown from a file while its full import runs.
pub const PREVIEW_ROWS: usize = 1000;

/// The plot data of the histogram tab.
#[derive(Clone, Debug)]
pub enum ColumnPlot {
    Histogram(Histogram),
    Counts(Vec<ValueCount>),
}

/// The open dataset version, its data and everything derived from it.
#[derive(Default)]
pub struct Current {
    pub version: Option<DatasetVersion>,
    /// The version's data, once opened: in memory, or paged from its object when it is larger than the
    /// memory budget.
    pub base: Option<TableData>,
    /// `base` after the filter and sort (what the table shows).
    pub view: Option<TableData>,
    pub filter: String,
    pub filter_error: Option<String>,
    pub sort: Option<(String, bool)>,
    pub stats: Option<Vec<ColumnStats>>,
    pub plot: Option<(String, ColumnPlot)>,
    pub scatter: Option<Vec<ScatterSeries>>,
    /// Rows the scatter plot was drawn from (fewer than the view's when it is a sample).
    pub scatter_rows: usize,
}

/// A file being imported: its first rows, shown before the full import finishes.
pub struct Importing {
    pub path: PathBuf,
    pub name: String,
    pub preview: Option<Arc<DataFrame>>,
}

/// What a version-creating operation was, for its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Derived {
    Pull,
    Recipe,
    Filter,
    Split,
    Export,
}

impl Derived {
    fn title(self) -> &'static str {
        match self {
            Derived::Pull => "Pull from source",
            Derived::Recipe => "Run the edited recipe",
            Derived::Filter => "Save filter as version",
            Derived::Split => "Split",
            Derived::Export => "Export",
        }
    }
}

#[derive(Default)]
pub struct DataController {
    pub current: Current,
    pub importing: Option<Importing>,
    /// The last diff computed in the versions view: `(a, b, summary)`.
    pub diff: Option<(String, String, DiffSummary)>,
    dialog: Option<ImportDialog>,
    load: Option<Task<(i64, TableData)>>,
    view: Option<Task<TableData>>,
    stats: Option<Task<Vec<ColumnStats>>>,
    plot: Option<Task<(String, ColumnPlot)>>,
    scatter: Option<Task<(Vec<ScatterSeries>, usize)>>,
    preview: Option<Task<DataFrame>>,
    first_rows: Option<Task<DataFrame>>,
    import: Option<Task<(PathBuf, ImportOutcome)>>,
    pick_file: Option<Task<Option<PathBuf>>>,
    pick_export: Option<Task<Option<PathBuf>>>,
    diff_job: Option<Task<(String, String, DiffSummary)>>,
    derive: Vec<Task<(Derived, ImportOutcome)>>,
}

impl DataController {
    pub fn import_dialog_open(&self) -> bool {
        self.dialog.is_some()
    }

    /// The running import's progress.
    pub fn import_progress(&self) -> Option<&Progress> {
        self.import.as_ref().map(Task::progress)
    }

    /// The running statistics job: its id (to cancel it) and progress.
    pub fn stats_job(&self) -> Option<(u64, &Progress)> {
        self.stats.as_ref().map(|t| (t.id(), t.progress()))
    }

    /// True while the filter or sort is being applied.
    pub fn filtering(&self) -> bool {
        self.view.is_some()
    }

    /// True while a histogram is being computed.
    pub fn plotting(&self) -> bool {
        self.plot.is_some()
    }

    /// True while a diff is being computed.
    pub fn diffing(&self) -> bool {
        self.diff_job.is_some()
    }

    /// True while the scatter plot is being computed.
    pub fn scattering(&self) -> bool {
        self.scatter.is_some()
    }

    /// True while a version-creating operation runs.
    pub fn deriving(&self) -> bool {
        !self.derive.is_empty()
    }

    pub fn dialog_ui(&mut self, ctx: &egui::Context, cmds: &mut Vec<Command>) {
        if let Some(d) = &mut self.dialog {
            let mut keep = true;
            d.ui(ctx, cmds, &mut keep);
            if !keep {
                cmds.push(DataCommand::CloseImportDialog.into());
            }
        }
    }

    pub fn apply(&mut self, cmd: DataCommand, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        match cmd {
            DataCommand::OpenVersion { dataset, version } => {
                self.open_version(state, &dataset, version);
            }
            DataCommand::PickImportFile => {
                self.pick_file =
                    state.spawn_shown("File dialog", "file-dialog", Shown::Hidden, |_, _| {
                        Ok(rfd::FileDialog::new()
                            .set_title("Import a dataset")
                            .add_filter(
                                "Data files",
                                &[
                                    "csv", "tsv", "txt", "parquet", "arrow", "ipc", "feather",
                                    "json", "ndjson", "jsonl",
                                ],
                            )
                            .pick_file())
                    });
            }
            DataCommand::OpenImportDialog(path) => {
                let dialog = ImportDialog::new(path);
                cx.cmds.extend(dialog.preview_command());
                self.dialog = Some(dialog);
            }
            DataCommand::OpenRemoteImport => {
                self.dialog = Some(ImportDialog::remote());
            }
            DataCommand::PreviewRemote(spec) => {
                state.jobs.replace(&mut self.preview);
                self.preview =
                    state.spawn_shown("Import preview", "preview", Shown::Hidden, move |_, _| {
                        remote_preview(&spec)
                    });
            }
            DataCommand::StartRemoteImport(spec) => self.start_remote_import(state, spec),
            DataCommand::CloseImportDialog => {
                self.dialog = None;
                state.jobs.replace(&mut self.preview);
            }
            DataCommand::PreviewImport { path, options } => {
                state.jobs.replace(&mut self.preview);
                self.preview =
                    state.spawn_shown("Import preview", "preview", Shown::Hidden, move |_, _| {
                        Ok(data::preview_file(&path, &options, 50)?)
                    });
            }
            DataCommand::StartImport {
                path,
                name,
                options,
            } => self.start_import(state, path, name, options),
            DataCommand::SetFilter(f) => {
                self.current.filter = f;
                self.recompute_view(state);
            }
            DataCommand::SortBy(column) => {
                let desc = matches!(&self.current.sort, Some((c, false)) if *c == column);
                self.current.sort = Some((column, desc));
                self.recompute_view(state);
            }
            DataCommand::ComputeStats => {
                let Some(df) = self.current.view.clone() else {
                    return;
                };
                state.jobs.replace(&mut self.stats);
                self.stats = state.spawn("Column statistics", "stats", move |c, p| {
                    Ok(df.column_stats(c, p)?)
                });
            }
            DataCommand::Histogram(column) => {
                let Some(df) = self.current.view.clone() else {
                    return;
                };
                state.jobs.replace(&mut self.plot);
                self.plot = state.spawn(
                    format!("Histogram of {column}"),
                    "histogram",
                    move |c, _| {
                        let plot = if df.numeric_columns().contains(&column) {
                            df.histogram(&column, 40, c).map(ColumnPlot::Histogram)
                        } else {
                            df.value_counts(&column, 30).map(ColumnPlot::Counts)
                        }?;
                        Ok((column, plot))
                    },
                );
            }
            DataCommand::Scatter { x, y, color } => {
                let Some(df) = self.current.view.clone() else {
                    return;
                };
                state.jobs.replace(&mut self.scatter);
                self.scatter = state.spawn("Scatter plot", "scatter", move |c, _| {
                    Ok(df.scatter(&x, &y, color.as_deref(), 400, c)?)
                });
            }
            DataCommand::Diff { a, b } => {
                let root = state.ws.root().to_path_buf();
                state.jobs.replace(&mut self.diff_job);
                self.diff_job = state.spawn("Diff versions", "diff", move |_, p| {
                    p.set(0.2, "comparing");
                    let d = Workspace::open(&root)?.diff(&a, &b)?;
                    Ok((a, b, d))
                });
            }
            DataCommand::EditRecipe { dataset, recipe } => {
                self.derive(state, Derived::Recipe, move |ws| {
                    let out = ws.derive_sql(
                        &dataset,
                        &recipe,
                        Some("recipe edited"),
                        &Cancel::new(),
                        &Progress::new(),
                    )?;
                    if out.created {
                        ws.refresh_derived(&dataset, &Cancel::new(), &Progress::new())?;
                    }
                    Ok(out)
                });
            }
            DataCommand::Pull(name) => self.derive(state, Derived::Pull, move |ws| {
                let out = ws.pull(&name, &Cancel::new(), &Progress::new())?;
                // The datasets derived from it follow (their versions show in the list).
                if out.created {
                    ws.refresh_derived(&name, &Cancel::new(), &Progress::new())?;
                }
                Ok(out)
            }),
            DataCommand::SaveFilterVersion => {
                if let Some(v) = &self.current.version {
                    let reference = format!("{}@{}", v.dataset, v.version);
                    let filter = self.current.filter.clone();
                    self.derive(state, Derived::Filter, move |ws| {
                        ws.derive_filter(&reference, &filter, None)
                    });
                }
            }
            DataCommand::Split {
                ratios,
                seed,
                stratify,
            } => {
                if let Some(v) = &self.current.version {
                    let reference = format!("{}@{}", v.dataset, v.version);
                    let spec = kiln_core::versions::SplitSpec {
                        ratios,
                        seed,
                        stratify,
                    };
                    self.derive(state, Derived::Split, move |ws| {
                        ws.derive_split(&reference, &spec, None)
                    });
                }
            }
            DataCommand::PickExport => {
                self.pick_export =
                    state.spawn_shown("File dialog", "export-dialog", Shown::Hidden, |_, _| {
                        Ok(rfd::FileDialog::new()
                            .set_title("Export dataset version")
                            .add_filter(
                                "Data files",
                                &[
                                    "csv", "tsv", "parquet", "arrow", "feather", "json", "ndjson",
                                ],
                            )
                            .save_file())
                    });
            }
        }
    }

    /// Run a version-creating operation on a worker with its own workspace connection.
    fn derive(
        &mut self,
        state: &mut AppState,
        what: Derived,
        op: impl FnOnce(&mut Workspace) -> kiln_core::Result<ImportOutcome> + Send + 'static,
    ) {
        let root = state.ws.root().to_path_buf();
        let task = state.spawn(what.title(), "derive", move |_, p| {
            p.set(0.1, "working");
            let mut ws = Workspace::open(&root)?;
            Ok((what, op(&mut ws)?))
        });
        self.derive.extend(task);
    }

    fn open_version(&mut self, state: &mut AppState, dataset: &str, version: Option<i64>) {
        let v = match state.ws.version(dataset, version) {
            Ok(v) => v,
            Err(e) => {
                state.error("Could not open the dataset", &e.to_string());
                return;
            }
        };
        if self.current.version.as_ref().is_some_and(|c| c.id == v.id) {
            return;
        }
        state.jobs.replace(&mut self.view);
        state.jobs.replace(&mut self.load);
        state.jobs.replace(&mut self.stats);
        state.jobs.replace(&mut self.plot);
        state.jobs.replace(&mut self.scatter);
        self.current = Current {
            version: Some(v.clone()),
            ..Default::default()
        };
        state.open_version = Some(v.clone());
        let objects = state.ws.objects().clone();
        let budget = state.ws.memory_budget();
        let notify = state.jobs.notifier();
        self.load = state.spawn("Load dataset", "load", move |_, p| {
            p.set(0.1, "reading parquet");
            let table = objects.open_table(&v, budget)?;
            if let TableData::Paged(p) = &table {
                p.on_loaded(move || notify());
            }
            Ok((v.id, table))
        });
    }

    fn start_import(
        &mut self,
        state: &mut AppState,
        path: PathBuf,
        name: String,
        options: ImportOptions,
    ) {
        if let Err(e) = validate_name(&name) {
            state.error("Cannot import", &e.to_string());
            return;
        }
        self.dialog = None;
        state.jobs.replace(&mut self.preview);
        // The first rows (a bounded read) and the full import, both in the background.
        self.importing = Some(Importing {
            path: path.clone(),
            name: name.clone(),
            preview: None,
        });
        let (p1, o1) = (path.clone(), options.clone());
        self.first_rows = state.spawn_shown(
            "Import preview",
            "first-rows",
            Shown::Hidden,
            move |_, _| Ok(data::preview_file(&p1, &o1, PREVIEW_ROWS)?),
        );
        state.active = super::ID;
        let root = state.ws.root().to_path_buf();
        let title = format!(
            "Import {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        self.import = state.spawn(title, "import", move |cancel, progress| {
            let mut ws = Workspace::open(&root)?;
            let out = ws.import(&path, &name, &options, cancel, progress)?;
            Ok((path, out))
        });
    }

    /// Import from a database query or a URL on a worker; the room shows its progress.
    fn start_remote_import(&mut self, state: &mut AppState, spec: RemoteSpec) {
        if let Err(e) = validate_name(&spec.name) {
            state.error("Cannot import", &e.to_string());
            return;
        }
        self.dialog = None;
        state.jobs.replace(&mut self.preview);
        let shown = PathBuf::from(kiln_core::sources::shown_url(&spec.url));
        self.importing = Some(Importing {
            path: shown.clone(),
            name: spec.name.clone(),
            preview: None,
        });
        state.active = super::ID;
        let root = state.ws.root().to_path_buf();
        self.import = state.spawn(
            format!("Import {}", spec.name),
            "import",
            move |cancel, progress| {
                let mut ws = Workspace::open(&root)?;
                let out = if spec.query.is_empty() {
                    ws.import_url(
                        &spec.url,
                        &spec.name,
                        &ImportOptions::default(),
                        cancel,
                        progress,
                    )?
                } else {
                    let source = kiln_core::sources::QuerySource {
                        url: spec.url.clone(),
                        query: spec.query.clone(),
                        incremental_by: spec.incremental_by.clone(),
                        primary_key: spec.primary_key.clone(),
                    };
                    ws.import_query(&source, &spec.name, cancel, progress)?
                };
                Ok((shown, out))
            },
        );
    }

    fn recompute_view(&mut self, state: &mut AppState) {
        let Some(base) = self.current.base.clone() else {
            return;
        };
        let filter = self.current.filter.clone();
        let sort = self.current.sort.clone();
        state.jobs.replace(&mut self.view);
        // A paged table's result is written here and paged in turn; the file goes with the view.
        let scratch = state.ws.objects().temp("parquet").into_path();
        let notify = state.jobs.notifier();
        self.view = state.spawn("Filter / sort", "filter", move |cancel, p| {
            let sort = sort.as_ref().map(|(c, d)| (c.as_str(), *d));
            let view = base.filter_sort(&filter, sort, &scratch, cancel, p)?;
            if let TableData::Paged(p) = &view {
                p.on_loaded(move || notify());
            }
            Ok(view)
        });
    }

    /// Take the results of finished jobs. Never blocks.
    pub fn poll(&mut self, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        if let Some(r) = state.poll(&mut self.import) {
            let importing = self.importing.take();
            match r {
                Finished::Done((path, out)) => {
                    state.refresh();
                    let v = &out.version;
                    if out.created {
                        let from = path.to_string_lossy();
                        state.info(format!(
                            "Imported {} as {}@{} ({} rows)",
                            // A URL whole; a file by its name.
                            if from.contains("://") {
                                from.clone()
                            } else {
                                path.file_name().unwrap_or_default().to_string_lossy()
                            },
                            v.dataset,
                            v.version,
                            v.row_count
                        ));
                    } else {
                        state.info(format!(
                            "No new version: the content is identical to {}@{}",
                            v.dataset, v.version
                        ));
                    }
                    self.current.version = None;
                    self.open_version(state, &v.dataset.clone(), Some(v.version));
                }
                Finished::Cancelled => state.info("Import cancelled; nothing was written"),
                Finished::Failed(e) => {
                    let path = importing.map_or_else(String::new, |i| i.path.display().to_string());
                    state.error(
                        format!("Import of {path} failed; the workspace is unchanged"),
                        &e.to_string(),
                    );
                }
            }
        }
        if let Some(r) = state.poll(&mut self.load) {
            match r {
                Finished::Done((id, table))
                    if self.current.version.as_ref().map(|v| v.id) == Some(id) =>
                {
                    self.current.base = Some(table.clone());
                    self.current.view = Some(table);
                }
                Finished::Done(_) | Finished::Cancelled => {}
                Finished::Failed(e) => state.error("Could not load the dataset", &e.to_string()),
            }
        }
        if let Some(r) = state.poll(&mut self.view) {
            match r {
                Finished::Done(view) => {
                    self.current.view = Some(view);
                    self.current.filter_error = None;
                    self.current.stats = None;
                    self.current.plot = None;
                    self.current.scatter = None;
                }
                Finished::Cancelled => {}
                Finished::Failed(e) => self.current.filter_error = Some(e.to_string()),
            }
        }
        match state.poll(&mut self.stats) {
            Some(Finished::Done(s)) => self.current.stats = Some(s),
            Some(Finished::Failed(e)) => state.error("Statistics failed", &e.to_string()),
            _ => {}
        }
        match state.poll(&mut self.plot) {
            Some(Finished::Done(p)) => self.current.plot = Some(p),
            Some(Finished::Failed(e)) => state.error("Histogram failed", &e.to_string()),
            _ => {}
        }
        match state.poll(&mut self.scatter) {
            Some(Finished::Done((s, rows))) => {
                self.current.scatter = Some(s);
                self.current.scatter_rows = rows;
            }
            Some(Finished::Failed(e)) => state.error("Scatter plot failed", &e.to_string()),
            _ => {}
        }
        if let (Some(Finished::Done(df)), Some(importing)) =
            (state.poll(&mut self.first_rows), &mut self.importing)
        {
            importing.preview = Some(Arc::new(df));
        }
        if let Some(r) = state.poll(&mut self.preview)
            && let Some(d) = &mut self.dialog
        {
            match r {
                Finished::Done(df) => d.set_preview(Ok(df)),
                Finished::Failed(e) => d.set_preview(Err(e.to_string())),
                Finished::Cancelled => {}
            }
        }
        if let Some(Finished::Done(Some(path))) = state.poll(&mut self.pick_file) {
            cx.cmds.push(DataCommand::OpenImportDialog(path).into());
        }
        if let (Some(Finished::Done(Some(path))), Some(v)) =
            (state.poll(&mut self.pick_export), &self.current.version)
        {
            let reference = format!("{}@{}", v.dataset, v.version);
            self.derive(state, Derived::Export, move |ws| {
                let v = ws.export(&reference, &path, kiln_core::Format::Auto)?;
                Ok(ImportOutcome {
                    created: false,
                    version: v,
                })
            });
        }
        match state.poll(&mut self.diff_job) {
            Some(Finished::Done(d)) => self.diff = Some(d),
            Some(Finished::Failed(e)) => state.error("Diff failed", &e.to_string()),
            _ => {}
        }
        for (title, r) in state.poll_each(&mut self.derive) {
            match r {
                Finished::Done((what, out)) => self.finish_derive(state, what, &out),
                Finished::Cancelled => {}
                Finished::Failed(e) => {
                    state.error(
                        format!("{title} failed; nothing was changed"),
                        &e.to_string(),
                    );
                }
            }
        }
    }

    fn finish_derive(&mut self, state: &mut AppState, what: Derived, out: &ImportOutcome) {
        let v = &out.version;
        if what == Derived::Export {
            state.refresh();
            state.info(format!("Exported {}@{}", v.dataset, v.version));
            return;
        }
        state.report_version(what.title(), out);
        self.current.version = None;
        self.open_version(state, &v.dataset.clone(), Some(v.version));
    }
}

/// The first rows of a database query or a URL, for the import dialog.
fn remote_preview(spec: &RemoteSpec) -> kiln_core::Result<DataFrame> {
    if spec.query.is_empty() {
        return kiln_core::sources::preview_url(&spec.url, &ImportOptions::default(), 50);
    }
    let source = kiln_core::sources::QuerySource {
        url: spec.url.clone(),
        query: spec.query.clone(),
        incremental_by: spec.incremental_by.clone(),
        primary_key: spec.primary_key.clone(),
    };
    kiln_core::sources::preview_query(&source, 50)
}
