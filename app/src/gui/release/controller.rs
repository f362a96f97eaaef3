//! The Models & Releases controller: reads the registry on a worker (when the workspace's lists change
//! and after every write), runs approvals, rejections, rollbacks, registrations and requests on workers,
//! and the *Try it* predictions.

use kiln_core::Workspace;
use kiln_core::data::polars::prelude::DataFrame;
use kiln_core::release::{Drawing, HeldOut, ModelOverview, TryInput, TryResult};

use super::ReleaseCommand;
use crate::gui::jobs::{Finished, Task};
use crate::gui::room::Cx;

/// Everything the room shows, read at once.
#[derive(Clone, Debug, Default)]
pub struct ReleaseData {
    pub users: Vec<kiln_core::release::UserRecord>,
    pub models: Vec<ModelOverview>,
    pub audit: Vec<kiln_core::release::AuditRow>,
    /// Per model with evaluation data: what *Try it* picks rows from.
    pub try_data: Vec<TryData>,
    /// Models whose newest version reads an image from pixel columns: what to draw on.
    pub drawings: Vec<(String, Drawing)>,
    /// On a team workspace: who is connected, with the role the database gives them.
    pub team: Option<kiln_core::TeamInfo>,
    /// The latest capacity run of each version that has one: (model, version, run).
    pub capacities: Vec<(String, i64, kiln_core::release::Capacity)>,
}

impl ReleaseData {
    /// The latest capacity run of `model` v`version`.
    pub fn capacity(&self, model: &str, version: i64) -> Option<&kiln_core::release::Capacity> {
        self.capacities
            .iter()
            .find(|(m, v, _)| m == model && *v == version)
            .map(|(_, _, c)| c)
    }
}

/// A model's evaluation data as *Try it* sees it.
#[derive(Clone, Debug, Default)]
pub struct TryData {
    pub model: String,
    /// Column names of the evaluation data.
    pub columns: Vec<String>,
    /// Per set of versions *Try it* may compare (a candidate and the champion): the held-out rows, or
    /// why there are none.
    pub held_out: Vec<(Vec<i64>, Result<HeldOut, String>)>,
}

/// The versions *Try it* compares for a chosen candidate: it, and the champion when another one.
pub fn tried_versions(m: &ModelOverview, candidate: Option<i64>) -> Vec<i64> {
    let mut versions: Vec<i64> = candidate.into_iter().collect();
    if let Some(c) = m.champion.filter(|c| Some(*c) != candidate) {
        versions.push(c);
    }
    versions
}

/// What *Try it* needs of a model, and its evaluation frame (for the drawing's ink); the evaluation data
/// is read once for every set of versions.
fn try_data(ws: &Workspace, m: &ModelOverview) -> Option<(TryData, DataFrame)> {
    let candidates = ws.evaluation_candidates(&m.brief, &m.name).ok()?;
    let mut sets: Vec<i64> = m.requests.iter().map(|r| r.version).collect();
    sets.extend(m.versions.last().map(|v| v.version));
    sets.sort_unstable();
    sets.dedup();
    let held_out = sets
        .into_iter()
        .map(|c| {
            let versions = tried_versions(m, Some(c));
            let held = ws
                .leave_out_seen(&m.name, &candidates, &versions)
                .map(|e| e.held_out)
                .map_err(|e| e.to_string());
            (versions, held)
        })
        .collect();
    let eval = kiln_core::data::without_row_ids(&candidates.rows);
    let data = TryData {
        model: m.name.clone(),
        columns: eval
            .get_column_names()
            .iter()
            .map(ToString::to_string)
            .collect(),
        held_out,
    };
    Some((data, eval))
}

fn read_all(root: &std::path::Path) -> kiln_core::Result<ReleaseData> {
    let ws = Workspace::open(root)?;
    let mut models = Vec::new();
    let mut tries = Vec::new();
    let mut drawings = Vec::new();
    let mut capacities = Vec::new();
    for m in ws.models()? {
        let o = ws.overview(&m.name)?;
        for v in &o.versions {
            if let Some(c) = ws.capacity(&m.name, v.version)? {
                capacities.push((m.name.clone(), v.version, c));
            }
        }
        if let Some((t, eval)) = try_data(&ws, &o) {
            if let Some(d) = ws.drawing_of(&m.name, &eval) {
                drawings.push((m.name.clone(), d));
            }
            tries.push(t);
        }
        models.push(o);
    }
    Ok(ReleaseData {
        users: ws.users()?,
        models,
        audit: ws.audit_log(None)?,
        try_data: tries,
        drawings,
        team: ws.team().cloned(),
        capacities,
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
    capacity_job: Option<Task<kiln_core::release::Capacity>>,
    /// The version being measured, while its capacity run goes on.
    pub measuring: Option<(String, i64)>,
}

/// A model served from the GUI (in this process, until stopped or the app quits).
pub struct Serving {
    pub model: String,
    pub alias: String,
    pub running: kiln_serve::Running,
    pub shadow: Option<i64>,
}

impl ReleaseController {
    pub fn serve_busy(&self) -> bool {
        self.serve_job.is_some() || self.stop_job.is_some()
    }
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
                    let input = match &edited {
                        Some(cells) => TryInput::Typed(cells),
                        None => TryInput::Rows(&rows),
                    };
                    Workspace::open(&root)?.try_rows(&model, &versions, &input)
                });
                return;
            }
            ReleaseCommand::Serve {
                model,
                alias,
                port,
                shadow,
            } => {
                state.jobs.replace(&mut self.serve_job);
                self.serve_job = state.spawn("Start serving", "release-serve", move |_, p| {
                    p.set(0.2, "loading the model");
                    let mut config = kiln_serve::ServeConfig::new(root, &model, &alias);
                    config.addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                    config.shadow = shadow.map(|x| x.to_string());
                    let running = kiln_serve::start(config)
                        .map_err(|e| kiln_core::CoreError::Invalid(e.to_string()))?;
                    Ok(Serving {
                        model,
                        alias,
                        running,
                        shadow,
                    })
                });
                return;
            }
            ReleaseCommand::Capacity { model, version, by } => {
                state.jobs.replace(&mut self.capacity_job);
                self.measuring = Some((model.clone(), version));
                let title = format!("Measure the serving capacity of {model} v{version}");
                self.capacity_job = state.spawn(title, "release-capacity", move |c, p| {
                    let mut ws = Workspace::open(&root)?;
                    let options = kiln_serve::capacity::CapacityOptions::default();
                    let mut n = 0usize;
                    let mut on_step = |s: &kiln_core::release::CapacityStep| {
                        n += 1;
                        p.set(
                            n as f32 / options.max_steps as f32,
                            &format!(
                                "{:.0} requests/s: 99 in 100 answered within {:.1} ms",
                                s.rate, s.p99_ms
                            ),
                        );
                    };
                    p.set(0.0, "starting the server");
                    kiln_serve::capacity::measure_version(
                        &mut ws,
                        &model,
                        version,
                        &options,
                        &by,
                        &mut on_step,
                        c.flag(),
                    )
                    .map_err(|e| {
                        if c.is_cancelled() {
                            kiln_core::CoreError::Cancelled
                        } else {
                            kiln_core::CoreError::Invalid(e.to_string())
                        }
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
        match state.poll(&mut self.capacity_job) {
            Some(Finished::Done(c)) => {
                self.measuring = None;
                state.info(format!(
                    "{} v{}: held up to {} requests/s",
                    c.model,
                    c.version,
                    c.max_rate_held.map_or_else(
                        || "none of the rates tried: 0".into(),
                        |r| format!("{r:.0}")
                    )
                ));
                self.reload(state);
            }
            Some(Finished::Failed(e)) => {
                self.measuring = None;
                self.refusal = Some(e.to_string());
                state.error("The capacity run did not finish", &e.to_string());
            }
            Some(Finished::Cancelled) => self.measuring = None,
            None => {}
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
