use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_core::data::{self, polars::prelude::DataFrame};
use kiln_core::jobs::{Job, Poll};
use kiln_core::{Cancel, ImportOptions, Progress, Workspace};

use super::PanelId;
use super::commands::Command;
use super::import_dialog::ImportDialog;
use super::panels::{self, Panel};
use super::state::{AppState, ColumnPlot, Importing, JobEntry, JobKind, PersistedState, ToastKind};

/// Rows shown from a file while its full import runs.
pub const PREVIEW_ROWS: usize = 1000;

/// The Kiln window.
pub struct KilnApp {
    pub state: AppState,
    panels: Vec<Box<dyn Panel>>,
    import_dialog: Option<ImportDialog>,
    jobs_open: bool,
    /// The references of the diff being computed.
    pending_diff: Option<(String, String)>,
    /// The command palette's query while it is open (Ctrl+K).
    palette: Option<String>,
    cmds: Vec<Command>,
    notify: Arc<dyn Fn() + Send + Sync>,
}

impl KilnApp {
    /// Start on `ws`.
    pub fn new(cc: &eframe::CreationContext<'_>, ws: Workspace) -> Self {
        let ctx = cc.egui_ctx.clone();
        let persisted: PersistedState = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let mut state = AppState::new(ws);
        state.active = persisted.active_panel;
        state.light_theme = persisted.light_theme;
        state.device = render_device(cc);
        apply_theme(&ctx, state.light_theme);
        let mut app = Self {
            state,
            panels: panels::all(),
            import_dialog: None,
            jobs_open: false,
            pending_diff: None,
            palette: None,
            cmds: Vec::new(),
            notify: Arc::new(move || ctx.request_repaint()),
        };
        if let Some(first) = app.state.datasets.first() {
            let dataset = first.name.clone();
            app.apply(Command::OpenVersion {
                dataset,
                version: None,
            });
        }
        app
    }

    /// Start from the command line: the given workspace, else the last one, else the default demo one.
    pub fn from_args(
        cc: &eframe::CreationContext<'_>,
        workspace: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let persisted: PersistedState = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let ws = match workspace.or(persisted.last_workspace.filter(|p| p.is_dir())) {
            Some(dir) => Workspace::open(&dir)?,
            None => crate::cli::open_default()?,
        };
        Ok(Self::new(cc, ws))
    }

    /// Queue a command as if a panel had emitted it (tests and the CLI use this).
    pub fn push(&mut self, cmd: Command) {
        self.cmds.push(cmd);
    }

    pub fn import_dialog_open(&self) -> bool {
        self.import_dialog.is_some()
    }

    fn spawn(
        &mut self,
        kind: impl FnOnce(Arc<dyn Fn() + Send + Sync>) -> std::io::Result<JobKind>,
    ) {
        match kind(self.notify.clone()) {
            Ok(kind) => {
                let id = self.state.next_id();
                self.state.jobs.push(JobEntry { id, kind });
            }
            Err(e) => self
                .state
                .error("Could not start a worker thread", &e.to_string()),
        }
    }

    /// Cancel and drop running jobs matching `f` (a newer request replaces an older one).
    fn replace_jobs(&mut self, f: impl Fn(&JobKind) -> bool) {
        self.state.jobs.retain(|j| {
            let hit = f(&j.kind);
            if hit {
                j.kind.cancel();
            }
            !hit
        });
    }

    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::ShowPanel(p) => self.state.active = p,
            Command::StartTraining(req) => self.start_training(Some(req), None),
            Command::ResumeRun(id) => self.start_training(None, Some(id)),
            Command::StopTraining => {
                if let Some(j) = self.state.is_running(|k| matches!(k, JobKind::Train(_))) {
                    j.kind.cancel();
                }
            }
            Command::StartSweep(spec) => self.start_sweep(spec),
            Command::StopSweep => {
                if let Some(j) = self.state.is_running(|k| matches!(k, JobKind::Sweep(_))) {
                    j.kind.cancel();
                }
            }
            Command::OpenVersion { dataset, version } => self.open_version(&dataset, version),
            Command::PickImportFile => self.spawn(|n| {
                Ok(JobKind::PickFile(Job::spawn("file-dialog", n, |_, _| {
                    rfd::FileDialog::new()
                        .set_title("Import a dataset")
                        .add_filter(
                            "Data files",
                            &[
                                "csv", "tsv", "txt", "parquet", "arrow", "ipc", "feather", "json",
                                "ndjson", "jsonl",
                            ],
                        )
                        .pick_file()
                })?))
            }),
            Command::PickWorkspace => self.spawn(|n| {
                Ok(JobKind::PickFolder(Job::spawn(
                    "folder-dialog",
                    n,
                    |_, _| {
                        rfd::FileDialog::new()
                            .set_title("Open or create a workspace folder")
                            .pick_folder()
                    },
                )?))
            }),
            Command::OpenImportDialog(path) => {
                let dialog = ImportDialog::new(path);
                self.cmds.push(dialog.preview_command());
                self.import_dialog = Some(dialog);
            }
            Command::PreviewImport { path, options } => {
                self.replace_jobs(|k| matches!(k, JobKind::Preview(_)));
                self.spawn(|n| {
                    Ok(JobKind::Preview(Job::spawn("preview", n, move |_, _| {
                        data::preview_file(&path, &options, 50).map_err(|e| e.to_string())
                    })?))
                });
            }
            Command::StartImport {
                path,
                name,
                options,
            } => self.start_import(path, name, options),
            Command::OpenWorkspace(dir) => match Workspace::open(&dir) {
                Ok(ws) => {
                    for j in &self.state.jobs {
                        j.kind.cancel();
                    }
                    let (device, active, light) = (
                        self.state.device.clone(),
                        self.state.active,
                        self.state.light_theme,
                    );
                    self.state = AppState::new(ws);
                    self.state.device = device;
                    self.state.active = active;
                    self.state.light_theme = light;
                    self.state
                        .info(format!("Opened workspace {}", dir.display()));
                }
                Err(e) => self.state.error(
                    format!("Could not open workspace {}", dir.display()),
                    &e.to_string(),
                ),
            },
            Command::SetFilter(f) => {
                self.state.current.filter = f;
                self.recompute_view();
            }
            Command::SortBy(column) => {
                let desc = matches!(&self.state.current.sort, Some((c, false)) if *c == column);
                self.state.current.sort = Some((column, desc));
                self.recompute_view();
            }
            Command::ComputeStats => self.compute_stats(),
            Command::Histogram(column) => self.compute_plot(column),
            Command::Scatter { x, y, color } => self.compute_scatter(x, y, color),
            Command::StartLabeling { column } => self.start_labeling(column),
            Command::SetLabel {
                rows,
                value,
                advance,
            } => self.set_label(&rows, value.as_deref(), advance),
            Command::UndoLabel => self.undo_label(),
            Command::MoveCursor(pos) => {
                if let Some(s) = &mut self.state.labeling {
                    s.cursor = pos.min(s.ids.len().saturating_sub(1));
                }
            }
            Command::SetOnlyUnlabeled(on) => {
                if let Some(s) = &mut self.state.labeling {
                    s.only_unlabeled = on;
                }
            }
            Command::SaveLabelSchema(classes) => {
                if let Some(s) = &mut self.state.labeling {
                    match self
                        .state
                        .ws
                        .set_label_schema(&s.base.dataset, &s.column, &classes)
                    {
                        Ok(()) => s.schema = classes,
                        Err(e) => {
                            let e = e.to_string();
                            self.state.error("Could not save the label classes", &e);
                        }
                    }
                }
            }
            Command::CommitLabels { message, author } => {
                if let Some(s) = &self.state.labeling {
                    let (base, column) = (s.base.clone(), s.column.clone());
                    let message = Some(message).filter(|m| !m.trim().is_empty());
                    let author = Some(author).filter(|a| !a.trim().is_empty());
                    self.derive("Commit labels", move |ws| {
                        ws.commit_labels(&base, &column, message.as_deref(), author.as_deref())
                    });
                }
            }
            Command::Diff { a, b } => {
                self.pending_diff = Some((a.clone(), b.clone()));
                let root = self.state.ws.root().to_path_buf();
                self.replace_jobs(|k| matches!(k, JobKind::Diff(_)));
                self.spawn(|n| {
                    Ok(JobKind::Diff(Job::spawn("diff", n, move |_, p| {
                        p.set(0.2, "comparing");
                        let ws = Workspace::open(&root).map_err(|e| e.to_string())?;
                        ws.diff(&a, &b).map_err(|e| e.to_string())
                    })?))
                });
            }
            Command::Pull(name) => {
                self.derive("Pull from source", move |ws| {
                    ws.pull(&name, &Cancel::new(), &Progress::new())
                });
            }
            Command::SaveFilterVersion => {
                if let Some(v) = &self.state.current.version {
                    let reference = format!("{}@{}", v.dataset, v.version);
                    let filter = self.state.current.filter.clone();
                    self.derive("Save filter as version", move |ws| {
                        ws.derive_filter(&reference, &filter, None)
                    });
                }
            }
            Command::Split {
                ratios,
                seed,
                stratify,
            } => {
                if let Some(v) = &self.state.current.version {
                    let reference = format!("{}@{}", v.dataset, v.version);
                    let spec = kiln_core::versions::SplitSpec {
                        ratios,
                        seed,
                        stratify,
                    };
                    self.derive("Split", move |ws| ws.derive_split(&reference, &spec, None));
                }
            }
            Command::PickExport => self.spawn(|n| {
                Ok(JobKind::PickExport(Job::spawn(
                    "export-dialog",
                    n,
                    |_, _| {
                        rfd::FileDialog::new()
                            .set_title("Export dataset version")
                            .add_filter(
                                "Data files",
                                &[
                                    "csv", "tsv", "parquet", "arrow", "feather", "json", "ndjson",
                                ],
                            )
                            .save_file()
                    },
                )?))
            }),
            Command::CancelJob(id) => {
                if let Some(j) = self.state.jobs.iter().find(|j| j.id == id) {
                    j.kind.cancel();
                }
            }
            Command::DismissToast(id) => self.state.toasts.retain(|t| t.id != id),
            Command::ToggleTheme => self.state.light_theme = !self.state.light_theme,
        }
    }

    /// Run a version-creating operation on a worker with its own workspace connection.
    fn derive(
        &mut self,
        what: &str,
        op: impl FnOnce(&mut Workspace) -> kiln_core::Result<kiln_core::ImportOutcome> + Send + 'static,
    ) {
        let root = self.state.ws.root().to_path_buf();
        let what = what.to_owned();
        let title = what.clone();
        self.spawn(|n| {
            Ok(JobKind::Derive {
                job: Job::spawn("derive", n, move |_, p| {
                    p.set(0.1, "working");
                    let mut ws = Workspace::open(&root).map_err(|e| e.to_string())?;
                    op(&mut ws).map_err(|e| e.to_string())
                })?,
                what: title,
            })
        });
    }

    fn start_labeling(&mut self, column: String) {
        let Some(v) = self.state.current.version.clone() else {
            self.state.error("Open a dataset version first", "");
            return;
        };
        if column.trim().is_empty() || column == kiln_core::data::ROW_ID {
            self.state.error("Choose a label column", "");
            return;
        }
        let root = self.state.ws.root().to_path_buf();
        self.replace_jobs(|k| matches!(k, JobKind::LabelLoad(_)));
        self.spawn(|n| {
            Ok(JobKind::LabelLoad(Job::spawn(
                "label-load",
                n,
                move |_, p| {
                    p.set(0.1, "loading");
                    let ws = Workspace::open(&root).map_err(|e| e.to_string())?;
                    super::panels::label::load_session(&ws, v, column).map_err(|e| e.to_string())
                },
            )?))
        });
    }

    fn set_label(&mut self, rows: &[u64], value: Option<&str>, advance: bool) {
        let Some(s) = &mut self.state.labeling else {
            return;
        };
        let mut group = Vec::with_capacity(rows.len());
        for &row in rows {
            let previous = s.drafts.get(&row).cloned();
            if let Err(e) = self.state.ws.save_draft(&s.base, &s.column, row, value) {
                let e = e.to_string();
                self.state.error("Label not saved", &e);
                return;
            }
            s.drafts.insert(row, value.map(str::to_owned));
            group.push((row, previous));
        }
        s.undo.push(group);
        if advance {
            s.cursor = s.step(s.cursor, true);
        }
    }

    fn undo_label(&mut self) {
        let Some(s) = &mut self.state.labeling else {
            return;
        };
        let Some(group) = s.undo.pop() else { return };
        let mut first = None;
        for (row, previous) in group.into_iter().rev() {
            let r = match &previous {
                None => self.state.ws.remove_draft(&s.base, &s.column, row),
                Some(v) => self
                    .state
                    .ws
                    .save_draft(&s.base, &s.column, row, v.as_deref()),
            };
            if let Err(e) = r {
                let e = e.to_string();
                self.state.error("Undo not saved", &e);
                return;
            }
            match previous {
                None => s.drafts.remove(&row),
                Some(v) => s.drafts.insert(row, v),
            };
            first = Some(row);
        }
        if let Some(pos) = first.and_then(|r| s.position_of(r)) {
            s.cursor = pos;
        }
    }

    fn open_version(&mut self, dataset: &str, version: Option<i64>) {
        let v = match self.state.ws.store().get_version(dataset, version) {
            Ok(v) => v,
            Err(e) => {
                self.state
                    .error("Could not open the dataset", &e.to_string());
                return;
            }
        };
        if self
            .state
            .current
            .version
            .as_ref()
            .is_some_and(|c| c.id == v.id)
        {
            return;
        }
        self.replace_jobs(|k| {
            matches!(
                k,
                JobKind::Load { .. }
                    | JobKind::View(_)
                    | JobKind::Stats(_)
                    | JobKind::Plot { .. }
                    | JobKind::Scatter(_)
            )
        });
        self.state.current = super::state::Current {
            version: Some(v.clone()),
            ..Default::default()
        };
        let objects = self.state.ws.objects().clone();
        let version_id = v.id;
        self.spawn(|n| {
            Ok(JobKind::Load {
                job: Job::spawn("load", n, move |_, p| {
                    p.set(0.1, "reading parquet");
                    objects
                        .read_version(&v)
                        .map(|df| data::without_row_ids(&df))
                        .map_err(|e| e.to_string())
                })?,
                version_id,
            })
        });
    }

    fn start_import(&mut self, path: PathBuf, name: String, options: ImportOptions) {
        if let Err(e) = kiln_core::store::validate_name(&name) {
            self.state.error("Cannot import", &e.to_string());
            return;
        }
        self.import_dialog = None;
        // The first rows (a bounded read) and the full import, both in the background.
        self.state.importing = Some(Importing {
            path: path.clone(),
            name: name.clone(),
            preview: None,
        });
        let (p1, o1) = (path.clone(), options.clone());
        self.spawn(|n| {
            Ok(JobKind::FirstRows(Job::spawn(
                "first-rows",
                n,
                move |_, _| data::preview_file(&p1, &o1, PREVIEW_ROWS).map_err(|e| e.to_string()),
            )?))
        });
        self.state.active = PanelId::Data;
        let root = self.state.ws.root().to_path_buf();
        let p2 = path.clone();
        self.spawn(|n| {
            Ok(JobKind::Import {
                job: Job::spawn("import", n, move |cancel, progress| {
                    import_in(&root, &p2, &name, &options, cancel, progress)
                })?,
                path,
            })
        });
    }

    fn recompute_view(&mut self) {
        let Some(base) = self.state.current.base.clone() else {
            return;
        };
        let filter = self.state.current.filter.clone();
        let sort = self.state.current.sort.clone();
        self.replace_jobs(|k| matches!(k, JobKind::View(_)));
        self.spawn(|n| {
            Ok(JobKind::View(Job::spawn("filter", n, move |cancel, p| {
                p.set(0.1, "filtering");
                let mut df = data::apply_filter(&base, &filter).map_err(|e| e.to_string())?;
                cancel.check().map_err(|e| e.to_string())?;
                if let Some((col, desc)) = sort {
                    p.set(0.5, "sorting");
                    df = data::sort_by(&df, &col, desc).map_err(|e| e.to_string())?;
                }
                Ok(df)
            })?))
        });
    }

    fn compute_stats(&mut self) {
        let Some(df) = self.state.current.view.clone() else {
            return;
        };
        self.replace_jobs(|k| matches!(k, JobKind::Stats(_)));
        self.spawn(|n| {
            Ok(JobKind::Stats(Job::spawn("stats", n, move |c, p| {
                data::column_stats(&df, c, p).map_err(|e| e.to_string())
            })?))
        });
    }

    fn compute_plot(&mut self, column: String) {
        let Some(df) = self.state.current.view.clone() else {
            return;
        };
        self.replace_jobs(|k| matches!(k, JobKind::Plot { .. }));
        let c2 = column.clone();
        self.spawn(|n| {
            Ok(JobKind::Plot {
                job: Job::spawn("histogram", n, move |_, _| {
                    if data::is_numeric(&df, &c2) {
                        data::histogram(&df, &c2, 40).map(ColumnPlot::Histogram)
                    } else {
                        data::value_counts(&df, &c2, 30).map(ColumnPlot::Counts)
                    }
                    .map_err(|e| e.to_string())
                })?,
                column,
            })
        });
    }

    fn compute_scatter(&mut self, x: String, y: String, color: Option<String>) {
        let Some(df) = self.state.current.view.clone() else {
            return;
        };
        self.replace_jobs(|k| matches!(k, JobKind::Scatter(_)));
        self.spawn(|n| {
            Ok(JobKind::Scatter(Job::spawn("scatter", n, move |c, _| {
                data::scatter(&df, &x, &y, color.as_deref(), 400, c).map_err(|e| e.to_string())
            })?))
        });
    }

    /// Take the results of finished jobs and apply them. Never blocks.
    fn poll_jobs(&mut self) {
        let mut i = 0;
        while i < self.state.jobs.len() {
            if self.poll_one(i) {
                self.state.jobs.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Returns true when job `i` is finished (its result has been applied).
    fn poll_one(&mut self, i: usize) -> bool {
        // The job's result (`None` if its thread died), or return "not finished" from this function.
        macro_rules! take {
            ($job:expr) => {
                match $job.poll() {
                    Poll::Running => return false,
                    Poll::Done(v) => Some(v),
                    Poll::Lost => None,
                }
            };
        }
        let entry = &self.state.jobs[i];
        let title = entry.kind.title();
        let lost = |s: &mut AppState| {
            s.error(
                format!("{title} stopped unexpectedly"),
                "the worker thread panicked",
            );
        };
        match &entry.kind {
            JobKind::Import { job, path } => {
                let r = take!(job);
                let path = path.clone();
                self.state.importing = None;
                match r {
                    Some(Ok(out)) => {
                        self.state.refresh();
                        let v = &out.version;
                        if out.created {
                            self.state.info(format!(
                                "Imported {} as {}@{} ({} rows)",
                                path.file_name().unwrap_or_default().to_string_lossy(),
                                v.dataset,
                                v.version,
                                v.row_count
                            ));
                        } else {
                            self.state.info(format!(
                                "No new version: the content is identical to {}@{}",
                                v.dataset, v.version
                            ));
                        }
                        let (dataset, version) = (v.dataset.clone(), Some(v.version));
                        self.state.current.version = None;
                        self.cmds.push(Command::OpenVersion { dataset, version });
                    }
                    Some(Err(e)) if e == "cancelled" => {
                        self.state.info("Import cancelled; nothing was written");
                    }
                    Some(Err(e)) => self.state.error(
                        format!(
                            "Import of {} failed; the workspace is unchanged",
                            path.display()
                        ),
                        &e,
                    ),
                    None => lost(&mut self.state),
                }
            }
            JobKind::Load { job, version_id } => {
                let r = take!(job);
                let current = self.state.current.version.as_ref().map(|v| v.id);
                match r {
                    Some(Ok(df)) if current == Some(*version_id) => {
                        let df = Arc::new(df);
                        self.state.current.base = Some(df.clone());
                        self.state.current.view = Some(df);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => self.state.error("Could not load the dataset", &e),
                    None => lost(&mut self.state),
                }
            }
            JobKind::View(job) => {
                let r = take!(job);
                match r {
                    Some(Ok(df)) => {
                        self.state.current.view = Some(Arc::new(df));
                        self.state.current.filter_error = None;
                        self.state.current.stats = None;
                        self.state.current.plot = None;
                        self.state.current.scatter = None;
                    }
                    Some(Err(e)) if e == "cancelled" => {}
                    Some(Err(e)) => self.state.current.filter_error = Some(e),
                    None => lost(&mut self.state),
                }
            }
            JobKind::Stats(job) => {
                let r = take!(job);
                match r {
                    Some(Ok(s)) => self.state.current.stats = Some(s),
                    Some(Err(e)) if e == "cancelled" => {}
                    Some(Err(e)) => self.state.error("Statistics failed", &e),
                    None => lost(&mut self.state),
                }
            }
            JobKind::Plot { job, column } => {
                let column = column.clone();
                let r = take!(job);
                match r {
                    Some(Ok(p)) => self.state.current.plot = Some((column, p)),
                    Some(Err(e)) => self.state.error("Histogram failed", &e),
                    None => lost(&mut self.state),
                }
            }
            JobKind::Scatter(job) => {
                let r = take!(job);
                match r {
                    Some(Ok(s)) => self.state.current.scatter = Some(s),
                    Some(Err(e)) if e == "cancelled" => {}
                    Some(Err(e)) => self.state.error("Scatter plot failed", &e),
                    None => lost(&mut self.state),
                }
            }
            JobKind::FirstRows(job) => {
                let r = take!(job);
                if let (Some(importing), Some(Ok(df))) = (&mut self.state.importing, r) {
                    importing.preview = Some(Arc::new(df));
                }
            }
            JobKind::Preview(job) => {
                let r = take!(job);
                if let Some(d) = &mut self.import_dialog {
                    d.set_preview(r.unwrap_or_else(|| Err("preview failed".into())));
                }
            }
            JobKind::PickExport(job) => {
                let r = take!(job);
                if let (Some(Some(path)), Some(v)) = (r, &self.state.current.version) {
                    let reference = format!("{}@{}", v.dataset, v.version);
                    self.derive("Export", move |ws| {
                        let v = ws.export(&reference, &path, kiln_core::Format::Auto)?;
                        Ok(kiln_core::ImportOutcome {
                            created: false,
                            version: v,
                        })
                    });
                }
            }
            JobKind::LabelLoad(job) => {
                let r = take!(job);
                match r {
                    Some(Ok(session)) => {
                        self.state.labeling = Some(session);
                        self.state.active = PanelId::Label;
                    }
                    Some(Err(e)) => self
                        .state
                        .error("Could not open the version for labeling", &e),
                    None => lost(&mut self.state),
                }
            }
            JobKind::Derive { job, what } => {
                let what = what.clone();
                let r = take!(job);
                match r {
                    Some(Ok(out)) => self.finish_derive(&what, &out),
                    Some(Err(e)) => self
                        .state
                        .error(format!("{what} failed; nothing was changed"), &e),
                    None => lost(&mut self.state),
                }
            }
            JobKind::Diff(job) => {
                let r = take!(job);
                match r {
                    Some(Ok(d)) => {
                        if let Some((a, b)) = self.pending_diff.take() {
                            self.state.diff = Some((a, b, d));
                        }
                    }
                    Some(Err(e)) => self.state.error("Diff failed", &e),
                    None => lost(&mut self.state),
                }
            }
            JobKind::Train(job) => {
                let r = take!(job);
                self.state.refresh();
                let r = r.unwrap_or_else(|| Err("the training thread stopped unexpectedly".into()));
                match &r {
                    Ok(s) if s.status == "stopped" => self.state.info(format!(
                        "Run {} stopped; its best model is kept and it can be resumed",
                        s.run_id
                    )),
                    Ok(s) => self.state.info(format!(
                        "Run {} finished: test accuracy {:.4}",
                        s.run_id,
                        s.metrics.get("test_accuracy").copied().unwrap_or_default()
                    )),
                    Err(e) => self.state.error("Training failed", e),
                }
                if let Some(t) = &mut self.state.training {
                    t.drain();
                    t.result = Some(r);
                }
            }
            JobKind::Sweep(job) => {
                let r = take!(job);
                self.state.refresh();
                let r = r.unwrap_or_else(|| Err("the sweep thread stopped unexpectedly".into()));
                match &r {
                    Ok(o) => self.state.info(format!(
                        "{} {}: {} runs{}",
                        o.sweep_id,
                        o.status,
                        o.trials.len(),
                        o.best_run
                            .map(|b| format!(", best run {b}"))
                            .unwrap_or_default()
                    )),
                    Err(e) => self.state.error("Sweep failed", e),
                }
                if let Some(sw) = &mut self.state.sweep {
                    sw.drain();
                    sw.result = Some(r);
                }
            }
            JobKind::PickFile(job) => {
                let r = take!(job);
                if let Some(Some(path)) = r {
                    self.cmds.push(Command::OpenImportDialog(path));
                }
            }
            JobKind::PickFolder(job) => {
                let r = take!(job);
                if let Some(Some(path)) = r {
                    self.cmds.push(Command::OpenWorkspace(path));
                }
            }
        }
        true
    }

    /// Start a training job (new when `resume` is `None`) whose events stream to the Train panel.
    fn start_training(
        &mut self,
        req: Option<kiln_core::training::TrainRequest>,
        resume: Option<i64>,
    ) {
        if self
            .state
            .is_running(|k| matches!(k, JobKind::Train(_)))
            .is_some()
        {
            self.state.info("A run is already training; stop it first");
            return;
        }
        // The title, and the epochs of the run (a resumed run's from its record).
        let (title, epochs) = match (&req, resume) {
            (Some(r), _) => (
                format!(
                    "{} · {} · target {}",
                    r.dataset,
                    r.params.model.name(),
                    r.target
                ),
                r.params.epochs,
            ),
            (None, Some(id)) => (
                format!("Run {id} (resumed)"),
                self.state.ws.store().run(id).map_or(0, |r| {
                    r.params["epochs"].as_u64().unwrap_or_default() as usize
                }),
            ),
            (None, None) => return,
        };
        // Two bounded channels: batch points (a UI that falls behind — or is minimised — loses some
        // rather than stalling training), and the start and epoch events, sized for every epoch of the
        // run so none is ever dropped and the worker never waits.
        let (tx, rx) = std::sync::mpsc::sync_channel(8192);
        let (etx, erx) = std::sync::mpsc::sync_channel(epochs.clamp(1, 1_000_000) + 1);
        self.state.training = Some(super::state::LiveTraining::new(title, resume, rx, erx));
        let root = self.state.ws.root().to_path_buf();
        self.spawn(|n| {
            let notify = n.clone();
            Ok(JobKind::Train(Job::spawn(
                "train",
                n,
                move |cancel, progress| {
                    let mut ws = Workspace::open(&root).map_err(|e| e.to_string())?;
                    let mut last = std::time::Instant::now();
                    let (mut total_steps, mut epochs) = (0usize, 0usize);
                    let mut on_event = |e: &kiln_train::Event| {
                        let epoch_end = matches!(e, kiln_train::Event::Epoch { .. });
                        match e {
                            kiln_train::Event::Start {
                                epochs: n,
                                steps_per_epoch,
                                ..
                            } => {
                                epochs = *n;
                                total_steps = n * steps_per_epoch;
                            }
                            kiln_train::Event::Step { epoch, step, .. }
                                if last.elapsed() >= std::time::Duration::from_millis(50) =>
                            {
                                last = std::time::Instant::now();
                                progress.set(
                                    *step as f32 / total_steps.max(1) as f32,
                                    &format!("epoch {epoch} of {epochs}"),
                                );
                            }
                            _ => {}
                        }
                        let _ = if matches!(e, kiln_train::Event::Step { .. }) {
                            tx.try_send(e.clone())
                        } else {
                            etx.try_send(e.clone())
                        };
                        if epoch_end {
                            notify();
                        }
                    };
                    let r = match (req, resume) {
                        (Some(req), _) => ws.train(&req, cancel.flag(), &mut on_event),
                        (None, Some(id)) => ws.resume(
                            id,
                            kiln_train::DeviceChoice::Auto,
                            cancel.flag(),
                            &mut on_event,
                        ),
                        (None, None) => unreachable!("checked above"),
                    };
                    r.map_err(|e| e.to_string())
                },
            )?))
        });
        self.state.active = PanelId::Train;
    }

    fn start_sweep(&mut self, spec: kiln_core::sweeps::SweepSpec) {
        let total = match spec.trials() {
            Ok(t) => t.len(),
            Err(e) => {
                self.state.error("The sweep is not valid", &e.to_string());
                return;
            }
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(total.max(1));
        self.state.sweep = Some(super::state::LiveSweep {
            total,
            rx,
            trials: Vec::new(),
            result: None,
        });
        let root = self.state.ws.root().to_path_buf();
        self.spawn(|n| {
            Ok(JobKind::Sweep(Job::spawn(
                "sweep",
                n,
                move |cancel, progress| {
                    let mut ws = Workspace::open(&root).map_err(|e| e.to_string())?;
                    let done = std::sync::atomic::AtomicUsize::new(0);
                    ws.sweep(&spec, cancel.flag(), &|t, total| {
                        let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        progress.set(k as f32 / total as f32, &format!("{k} of {total} runs"));
                        // Sized for every trial: never full.
                        let _ = tx.try_send(t.clone());
                    })
                    .map_err(|e| e.to_string())
                },
            )?))
        });
    }

    fn finish_derive(&mut self, what: &str, out: &kiln_core::ImportOutcome) {
        let v = &out.version;
        self.state.refresh();
        if what == "Export" {
            self.state
                .info(format!("Exported {}@{}", v.dataset, v.version));
            return;
        }
        if out.created {
            self.state.info(format!(
                "{what}: created {}@{} ({} rows)",
                v.dataset, v.version, v.row_count
            ));
        } else {
            self.state.info(format!(
                "{what}: no change, identical to {}@{}",
                v.dataset, v.version
            ));
        }
        let relabel = self
            .state
            .labeling
            .as_ref()
            .filter(|s| what == "Commit labels" && Some(s.base.id) == v.parent_id)
            .map(|s| s.column.clone());
        self.state.current.version = None;
        self.open_version(&v.dataset.clone(), Some(v.version));
        if let Some(column) = relabel {
            self.start_labeling(column);
        }
    }

    fn handle_input(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if let Some(path) = dropped.into_iter().next() {
            self.cmds.push(Command::OpenImportDialog(path));
        }
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::O)) {
            self.cmds.push(Command::PickImportFile);
        }
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::K)) {
            self.palette = if self.palette.is_some() {
                None
            } else {
                Some(String::new())
            };
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("top").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Kiln");
                ui.separator();
                ui.label(format!("Workspace: {}", self.state.ws.name()))
                    .on_hover_text(self.state.ws.root().display().to_string());
                if ui
                    .button("Switch…")
                    .on_hover_text("Open or create another workspace folder")
                    .clicked()
                {
                    self.cmds.push(Command::PickWorkspace);
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let theme = if self.state.light_theme {
                        "Dark theme"
                    } else {
                        "Light theme"
                    };
                    if ui.button(theme).clicked() {
                        self.cmds.push(Command::ToggleTheme);
                    }
                    let running = self.state.running_jobs().count();
                    let label = if running == 0 {
                        "No jobs running".to_owned()
                    } else {
                        format!("⏳ {running} job(s) running")
                    };
                    if ui.selectable_label(self.jobs_open, label).clicked() {
                        self.jobs_open = !self.jobs_open;
                    }
                });
            });
        });
    }

    fn jobs_window(&mut self, ctx: &egui::Context) {
        if !self.jobs_open {
            return;
        }
        let mut open = true;
        egui::Window::new("Jobs")
            .open(&mut open)
            .resizable(false)
            .show(ctx, |ui| {
                let jobs: Vec<_> = self
                    .state
                    .running_jobs()
                    .map(|j| (j.id, j.kind.title(), j.kind.progress()))
                    .collect();
                if jobs.is_empty() {
                    ui.label("Nothing is running.");
                }
                for (id, title, (fraction, step)) in jobs {
                    ui.horizontal(|ui| {
                        ui.label(title);
                        ui.add(
                            egui::ProgressBar::new(fraction)
                                .desired_width(160.0)
                                .text(step),
                        );
                        if ui.button("Cancel").clicked() {
                            self.cmds.push(Command::CancelJob(id));
                        }
                    });
                }
            });
        self.jobs_open = open;
    }

    fn nav(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("nav")
            .resizable(false)
            .exact_size(170.0)
            .show(ui, |ui| {
                ui.add_space(6.0);
                for p in PanelId::ALL {
                    let badge = match p {
                        PanelId::Data => Some(self.state.datasets.len()),
                        _ => None,
                    };
                    let text = match badge {
                        Some(n) if n > 0 => format!("{}  ({n})", p.title()),
                        _ => p.title().to_owned(),
                    };
                    let r = ui.add_sized(
                        [150.0, 28.0],
                        egui::Button::selectable(self.state.active == p, text),
                    );
                    if r.clicked() {
                        self.cmds.push(Command::ShowPanel(p));
                    }
                }
            });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(&self.state.device);
                ui.separator();
                ui.label(self.state.ws.root().display().to_string());
                if let Some((id, title, (fraction, step))) = self
                    .state
                    .running_jobs()
                    .next()
                    .map(|j| (j.id, j.kind.title(), j.kind.progress()))
                {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.small_button("Cancel").clicked() {
                            self.cmds.push(Command::CancelJob(id));
                        }
                        ui.add(
                            egui::ProgressBar::new(fraction)
                                .desired_width(180.0)
                                .text(step)
                                .animate(true),
                        );
                        ui.label(title);
                    });
                }
            });
        });
    }

    fn toasts(&mut self, ctx: &egui::Context) {
        let now = std::time::Instant::now();
        self.state
            .toasts
            .retain(|t| t.kind == ToastKind::Error || now.duration_since(t.created).as_secs() < 6);
        if self.state.toasts.iter().any(|t| t.kind == ToastKind::Info) {
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        }
        let toasts = self.state.toasts.clone();
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -36.0])
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                for t in toasts.iter().rev().take(5) {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.horizontal(|ui| {
                            let (icon, color) = match t.kind {
                                ToastKind::Info => ("ℹ", ui.visuals().text_color()),
                                ToastKind::Error => ("⚠", ui.visuals().error_fg_color),
                            };
                            ui.colored_label(color, format!("{icon} {}", t.text));
                            if ui.small_button("×").on_hover_text("Dismiss").clicked() {
                                self.cmds.push(Command::DismissToast(t.id));
                            }
                        });
                        if let Some(d) = &t.details {
                            egui::CollapsingHeader::new("details")
                                .id_salt(t.id)
                                .show(ui, |ui| {
                                    ui.label(d);
                                });
                        }
                    });
                }
            });
    }

    /// Every action the palette offers, by name.
    fn palette_actions(&self) -> Vec<(String, Command)> {
        let mut actions: Vec<(String, Command)> = vec![
            ("Import a file…".into(), Command::PickImportFile),
            ("Open or create a workspace…".into(), Command::PickWorkspace),
            (
                if self.state.light_theme {
                    "Switch to the dark theme"
                } else {
                    "Switch to the light theme"
                }
                .into(),
                Command::ToggleTheme,
            ),
        ];
        for p in PanelId::ALL {
            actions.push((format!("Go to {}", p.title()), Command::ShowPanel(p)));
        }
        if let Some(v) = &self.state.current.version {
            actions.push((
                format!("Compute statistics of {}@{}", v.dataset, v.version),
                Command::ComputeStats,
            ));
            actions.push((
                format!("Export {}@{}…", v.dataset, v.version),
                Command::PickExport,
            ));
            actions.push((
                format!("Pull {} from its source", v.dataset),
                Command::Pull(v.dataset.clone()),
            ));
            if !self.state.current.filter.trim().is_empty() {
                actions.push((
                    "Save the filter as a new version".into(),
                    Command::SaveFilterVersion,
                ));
            }
        }
        for d in &self.state.datasets {
            actions.push((
                format!("Open dataset {}", d.name),
                Command::OpenVersion {
                    dataset: d.name.clone(),
                    version: None,
                },
            ));
        }
        actions
    }

    fn palette_window(&mut self, ctx: &egui::Context) {
        let Some(mut query) = self.palette.take() else {
            return;
        };
        let needle = query.to_lowercase();
        let matches: Vec<(String, Command)> = self
            .palette_actions()
            .into_iter()
            .filter(|(name, _)| {
                needle
                    .split_whitespace()
                    .all(|w| name.to_lowercase().contains(w))
            })
            .collect();
        let mut chosen = None;
        let mut open = true;
        egui::Window::new("Command palette")
            .anchor(egui::Align2::CENTER_TOP, [0.0, 60.0])
            .collapsible(false)
            .resizable(false)
            .open(&mut open)
            .show(ctx, |ui| {
                let l = ui.label("Action");
                let edit = ui
                    .add(
                        egui::TextEdit::singleline(&mut query)
                            .hint_text("type to search, Enter runs the first")
                            .desired_width(380.0),
                    )
                    .labelled_by(l.id);
                edit.request_focus();
                if ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    chosen = matches.first().map(|(_, c)| c.clone());
                }
                for (name, cmd) in matches.iter().take(12) {
                    if ui.selectable_label(false, name).clicked() {
                        chosen = Some(cmd.clone());
                    }
                }
                if matches.is_empty() {
                    ui.label(egui::RichText::new("No action matches.").weak());
                }
            });
        let escape = ctx.input(|i| i.key_pressed(egui::Key::Escape));
        match chosen {
            Some(cmd) => self.cmds.push(cmd),
            None if open && !escape => self.palette = Some(query),
            None => {}
        }
    }

    fn drop_overlay(ctx: &egui::Context) {
        if ctx.input(|i| i.raw.hovered_files.is_empty()) {
            return;
        }
        let screen = ctx.content_rect();
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Foreground,
            egui::Id::unique("drop"),
        ));
        painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(160));
        painter.text(
            screen.center(),
            egui::Align2::CENTER_CENTER,
            "Drop to import",
            egui::FontId::proportional(28.0),
            egui::Color32::WHITE,
        );
    }
}

/// The import as it runs on its worker thread, on a connection of its own.
fn import_in(
    root: &Path,
    path: &Path,
    name: &str,
    options: &ImportOptions,
    cancel: &Cancel,
    progress: &Progress,
) -> Result<kiln_core::ImportOutcome, String> {
    let mut ws = Workspace::open(root).map_err(|e| e.to_string())?;
    ws.import(path, name, options, cancel, progress)
        .map_err(|e| e.to_string())
}

fn render_device(cc: &eframe::CreationContext<'_>) -> String {
    match cc.wgpu_render_state.as_ref() {
        Some(rs) => {
            let info = rs.adapter.get_info();
            if info.device_type == eframe::wgpu::DeviceType::Cpu {
                format!("CPU — software adapter ({}), no GPU", info.name)
            } else {
                format!("GPU: {} ({:?})", info.name, info.backend)
            }
        }
        None => "CPU — no GPU adapter found".into(),
    }
}

fn apply_theme(ctx: &egui::Context, light: bool) {
    ctx.set_theme(if light {
        egui::Theme::Light
    } else {
        egui::Theme::Dark
    });
}

impl eframe::App for KilnApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if let Some(t) = &mut self.state.training {
            t.drain();
        }
        if let Some(s) = &mut self.state.sweep {
            s.drain();
        }
        self.poll_jobs();
        self.handle_input(ctx);
        let mut guard = 0;
        while !self.cmds.is_empty() && guard < 16 {
            guard += 1;
            for cmd in std::mem::take(&mut self.cmds) {
                let theme = matches!(cmd, Command::ToggleTheme);
                self.apply(cmd);
                if theme {
                    apply_theme(ctx, self.state.light_theme);
                }
            }
            self.poll_jobs();
        }
        if self.state.busy() {
            // Progress bars move even when a worker does not report for a while.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.top_bar(ui);
        self.status_bar(ui);
        self.nav(ui);
        let active = self.state.active;
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(p) = self.panels.iter_mut().find(|p| p.id() == active) {
                p.ui(ui, &self.state, &mut self.cmds);
            }
        });
        if let Some(d) = &mut self.import_dialog {
            let mut keep = true;
            d.ui(&ctx, &mut self.cmds, &mut keep);
            if !keep {
                self.import_dialog = None;
                self.replace_jobs(|k| matches!(k, JobKind::Preview(_)));
            }
        }
        self.jobs_window(&ctx);
        self.palette_window(&ctx);
        self.toasts(&ctx);
        Self::drop_overlay(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(
            storage,
            eframe::APP_KEY,
            &PersistedState {
                last_workspace: Some(self.state.ws.root().to_path_buf()),
                active_panel: self.state.active,
                light_theme: self.state.light_theme,
            },
        );
    }
}

impl KilnApp {
    /// The data currently shown in the Data panel's table (for tests).
    pub fn table_frame(&self) -> Option<Arc<DataFrame>> {
        self.state.current.view.clone()
    }
}
