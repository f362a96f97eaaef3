//! The Models & Releases controller: reads the registry on a worker (when the workspace's lists change
//! and after every write), runs approvals, rejections, rollbacks, registrations and requests on workers,
//! and the *Try it* predictions.

use kiln_core::Workspace;
use kiln_core::data::polars::prelude::*;
use kiln_core::release::ModelOverview;

use super::ReleaseCommand;
use crate::gui::jobs::{Finished, Task};
use crate::gui::room::Cx;

/// Everything the room shows, read at once.
#[derive(Clone, Debug, Default)]
pub struct ReleaseData {
    pub users: Vec<kiln_core::release::UserRecord>,
    pub models: Vec<ModelOverview>,
    pub audit: Vec<kiln_core::release::AuditRow>,
    /// Column names of each model's evaluation rows (for *Try it*), and how many rows.
    pub eval_columns: Vec<(String, Vec<String>, usize)>,
    /// Models whose newest version reads an image from pixel columns: what to draw on.
    pub drawings: Vec<(String, Drawing)>,
}

/// A canvas for a model that reads `height × width` grey pixel columns (row by row).
#[derive(Clone, Debug, PartialEq)]
pub struct Drawing {
    pub columns: Vec<String>,
    pub height: usize,
    pub width: usize,
    /// The largest pixel value in the evaluation rows (ink).
    pub ink: f64,
}

fn drawing_of(ws: &Workspace, m: &ModelOverview, eval: &DataFrame) -> Option<Drawing> {
    let run = ws.run(m.versions.last()?.run_id).ok()?;
    let spec: kiln_train::FeatureSpec =
        serde_json::from_value(run.artifacts["feature_spec"].clone()).ok()?;
    let [channels, height, width] = spec.image?;
    let columns: Vec<String> = spec
        .columns
        .iter()
        .map(|c| match c {
            kiln_train::data::FeatureColumn::Numeric { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if channels != 1 || columns.len() != height * width {
        return None;
    }
    let ink = columns
        .iter()
        .filter_map(|c| {
            eval.column(c)
                .ok()?
                .cast(&DataType::Float64)
                .ok()?
                .f64()
                .ok()?
                .max()
        })
        .fold(0.0, f64::max);
    Some(Drawing {
        columns,
        height,
        width,
        ink: if ink > 0.0 { ink } else { 1.0 },
    })
}

impl ReleaseData {
    pub fn pending(&self) -> usize {
        self.models
            .iter()
            .flat_map(|m| &m.requests)
            .filter(|r| r.status == "pending")
            .count()
    }
}

/// Predictions of model versions on some rows.
#[derive(Clone, Debug, PartialEq)]
pub struct TryResult {
    pub model: String,
    /// The rows as shown (column, value).
    pub rows: Vec<Vec<(String, String)>>,
    /// The true class of each row, when the rows have one.
    pub truth: Vec<Option<String>>,
    /// Per version: its classes and, per row, the probabilities.
    pub versions: Vec<(i64, Vec<String>, Vec<Vec<f64>>)>,
}

/// A registry write run on a worker; its text is the toast saying what it did.
type Write = Box<dyn FnOnce(&mut Workspace) -> kiln_core::Result<String> + Send>;

#[derive(Default)]
pub struct ReleaseController {
    pub data: Option<ReleaseData>,
    generation: Option<u64>,
    load: Option<Task<ReleaseData>>,
    write: Option<Task<String>>,
    try_job: Option<Task<TryResult>>,
    pub tried: Option<TryResult>,
    /// The last write's refusal (shown next to the buttons, and as a toast).
    pub refusal: Option<String>,
    /// The server started from the room: model, alias, and the running server.
    pub serving: Option<Serving>,
    serve_job: Option<Task<Serving>>,
    stop_job: Option<Task<()>>,
}

/// A model served from the GUI (in this process, until stopped or the app quits).
pub struct Serving {
    pub model: String,
    pub alias: String,
    pub running: kiln_serve::Running,
}

impl ReleaseController {
    pub fn serve_busy(&self) -> bool {
        self.serve_job.is_some() || self.stop_job.is_some()
    }
}

fn read_all(root: &std::path::Path) -> kiln_core::Result<ReleaseData> {
    let ws = Workspace::open(root)?;
    let mut models = Vec::new();
    let mut eval_columns = Vec::new();
    let mut drawings = Vec::new();
    for m in ws.models()? {
        let o = ws.overview(&m.name)?;
        if let Ok((_, df)) = ws.evaluation_rows(&o.brief, &m.name) {
            if let Some(d) = drawing_of(&ws, &o, &df) {
                drawings.push((m.name.clone(), d));
            }
            eval_columns.push((
                m.name.clone(),
                df.get_column_names()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                df.height(),
            ));
        }
        models.push(o);
    }
    Ok(ReleaseData {
        users: ws.users()?,
        models,
        audit: ws.audit_log(None)?,
        eval_columns,
        drawings,
    })
}

fn try_rows(
    root: &std::path::Path,
    model: &str,
    versions: &[i64],
    rows: &[usize],
    edited: Option<&[(String, String)]>,
) -> kiln_core::Result<TryResult> {
    let ws = Workspace::open(root)?;
    let brief = ws.brief(model)?;
    let (_, df) = ws.evaluation_rows(&brief, model)?;
    let picked = if let Some(cells) = edited {
        // One typed row: each value parsed as the column's type in the evaluation data.
        let mut cols = Vec::new();
        for (name, text) in cells {
            let dtype = df.column(name)?.dtype().clone();
            let s = Series::new(name.as_str().into(), [text.as_str()]);
            let c = if text.trim().is_empty() {
                Series::full_null(name.as_str().into(), 1, &dtype)
            } else {
                s.cast(&dtype).map_err(|_| {
                    kiln_core::CoreError::Invalid(format!(
                        "`{text}` is not a valid {dtype} for `{name}`"
                    ))
                })?
            };
            if c.null_count() > 0 && !text.trim().is_empty() {
                return Err(kiln_core::CoreError::Invalid(format!(
                    "`{text}` is not a valid {dtype} for `{name}`"
                )));
            }
            cols.push(c.into_column());
        }
        DataFrame::new(1, cols)?
    } else {
        let idx: Vec<IdxSize> = rows
            .iter()
            .filter(|r| **r < df.height())
            .map(|r| *r as IdxSize)
            .collect();
        df.take(&IdxCa::from_vec("idx".into(), idx))?
    };
    let mut out_versions = Vec::new();
    let mut target = None;
    for &v in versions {
        let run = ws
            .overview(model)?
            .versions
            .into_iter()
            .find(|x| x.version == v)
            .map(|x| x.run_id);
        let Some(run) = run else { continue };
        let m = ws.load_model(run)?;
        target = Some(m.target().to_owned());
        out_versions.push((v, m.classes().to_vec(), m.predict_proba(&picked)?));
    }
    let truth = match target.and_then(|t| picked.column(&t).ok().cloned()) {
        Some(c) => (0..picked.height())
            .map(|i| kiln_core::data::cell(&c, i))
            .collect(),
        None => vec![None; picked.height()],
    };
    let shown = (0..picked.height())
        .map(|i| {
            picked
                .columns()
                .iter()
                .map(|c| (c.name().to_string(), kiln_core::data::cell_text(c, i)))
                .collect()
        })
        .collect();
    Ok(TryResult {
        model: model.to_owned(),
        rows: shown,
        truth,
        versions: out_versions,
    })
}

impl ReleaseController {
    fn reload(&mut self, state: &mut crate::gui::state::AppState) {
        let root = state.ws.root().to_path_buf();
        state.jobs.replace(&mut self.load);
        self.load = state.spawn_shown(
            "Read models and releases",
            "release-read",
            crate::gui::jobs::Shown::Hidden,
            move |_, _| read_all(&root),
        );
    }

    pub fn apply(&mut self, cmd: ReleaseCommand, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        let root = state.ws.root().to_path_buf();
        let write = |title: &str, f: Write| {
            let root = root.clone();
            (
                title.to_owned(),
                move |_: &kiln_core::Cancel, _: &kiln_core::Progress| {
                    let mut ws = Workspace::open(&root)?;
                    f(&mut ws)
                },
            )
        };
        let (title, job) = match cmd {
            ReleaseCommand::Reload => {
                self.reload(state);
                return;
            }
            ReleaseCommand::Try {
                model,
                versions,
                rows,
                edited,
            } => {
                state.jobs.replace(&mut self.try_job);
                self.try_job = state.spawn("Try the models", "release-try", move |_, _| {
                    try_rows(&root, &model, &versions, &rows, edited.as_deref())
                });
                return;
            }
            ReleaseCommand::Serve { model, alias, port } => {
                state.jobs.replace(&mut self.serve_job);
                self.serve_job = state.spawn("Start serving", "release-serve", move |_, p| {
                    p.set(0.2, "loading the model");
                    let mut config = kiln_serve::ServeConfig::new(root, &model, &alias);
                    config.addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                    let running = kiln_serve::start(config)
                        .map_err(|e| kiln_core::CoreError::Invalid(e.to_string()))?;
                    Ok(Serving {
                        model,
                        alias,
                        running,
                    })
                });
                return;
            }
            ReleaseCommand::StopServing => {
                if let Some(s) = self.serving.take() {
                    state.jobs.replace(&mut self.stop_job);
                    self.stop_job =
                        state.spawn("Stop serving", "release-serve-stop", move |_, _| {
                            s.running
                                .stop()
                                .map_err(|e| kiln_core::CoreError::Invalid(e.to_string()))
                        });
                }
                return;
            }
            ReleaseCommand::Approve {
                request,
                by,
                comment,
                override_reason,
            } => write(
                "Approve the release",
                Box::new(move |ws| {
                    ws.approve(request, &by, &comment, override_reason.as_deref())?;
                    let r = ws.request(request)?;
                    Ok(format!(
                        "Approved: {} v{} is the champion",
                        r.model, r.version
                    ))
                }),
            ),
            ReleaseCommand::Reject {
                request,
                by,
                comment,
            } => write(
                "Reject the release",
                Box::new(move |ws| {
                    ws.reject(request, &by, &comment)?;
                    Ok(format!("Rejected request {request}"))
                }),
            ),
            ReleaseCommand::Rollback { model, by, comment } => write(
                "Roll back the champion",
                Box::new(move |ws| {
                    let (from, to) = ws.rollback(&model, &by, &comment)?;
                    Ok(format!("{model}: champion back from v{from} to v{to}"))
                }),
            ),
            ReleaseCommand::Register {
                run,
                model,
                stage,
                by,
            } => write(
                "Register the model",
                Box::new(move |ws| {
                    let v = ws.register_model(run, &model, &stage, &by)?;
                    Ok(format!("Registered run {run} as {model} v{v} ({stage})"))
                }),
            ),
            ReleaseCommand::SetBrief { model, brief, by } => write(
                "Save the brief",
                Box::new(move |ws| {
                    ws.set_brief(&model, &brief, &by)?;
                    Ok(format!(
                        "Saved the brief of {model} ({} targets)",
                        brief.targets.len()
                    ))
                }),
            ),
            ReleaseCommand::Comment {
                model,
                version,
                text,
                accepted,
                by,
            } => write(
                "Save the comment",
                Box::new(move |ws| {
                    ws.comment(&model, version, &by, &text, accepted)?;
                    let v = version.unwrap_or_default();
                    Ok(match accepted {
                        Some(true) => format!("{model} v{v}: approach accepted"),
                        Some(false) => format!("{model} v{v}: approach not accepted"),
                        None => "Comment saved".to_owned(),
                    })
                }),
            ),
            ReleaseCommand::Staging { model, version, by } => write(
                "Move staging",
                Box::new(move |ws| {
                    ws.set_alias(&model, "staging", version, &by)?;
                    Ok(format!("{model}@staging is v{version}"))
                }),
            ),
            ReleaseCommand::Request {
                model,
                version,
                by,
                notes,
            } => write(
                "Evaluate and request the release",
                Box::new(move |ws| {
                    let (id, r) = ws.request_release(&model, version, &by, &notes)?;
                    Ok(format!(
                        "Request {id} filed: {model} v{version}, gates {}",
                        if r.gates_passed { "pass" } else { "fail" }
                    ))
                }),
            ),
        };
        self.refusal = None;
        state.jobs.replace(&mut self.write);
        self.write = state.spawn(title, "release-write", job);
    }

    pub fn poll(&mut self, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        if self.generation != Some(state.generation) {
            self.generation = Some(state.generation);
            self.reload(state);
        }
        match state.poll(&mut self.load) {
            Some(Finished::Done(d)) => self.data = Some(d),
            Some(Finished::Failed(e)) => state.error("Could not read the registry", &e.to_string()),
            _ => {}
        }
        match state.poll(&mut self.write) {
            Some(Finished::Done(msg)) => {
                state.info(msg);
                self.reload(state);
            }
            Some(Finished::Failed(e)) => {
                self.refusal = Some(e.to_string());
                state.error("Not done", &e.to_string());
            }
            _ => {}
        }
        match state.poll(&mut self.serve_job) {
            Some(Finished::Done(s)) => {
                state.info(format!(
                    "Serving {}@{} on http://{}",
                    s.model, s.alias, s.running.addr
                ));
                self.serving = Some(s);
            }
            Some(Finished::Failed(e)) => state.error("Could not start serving", &e.to_string()),
            _ => {}
        }
        match state.poll(&mut self.stop_job) {
            Some(Finished::Done(())) => state.info("Stopped serving"),
            Some(Finished::Failed(e)) => state.error("Stopping the server failed", &e.to_string()),
            _ => {}
        }
        match state.poll(&mut self.try_job) {
            Some(Finished::Done(t)) => self.tried = Some(t),
            Some(Finished::Failed(e)) => {
                self.refusal = Some(e.to_string());
                state.error("Could not run the models", &e.to_string());
            }
            _ => {}
        }
    }
}
