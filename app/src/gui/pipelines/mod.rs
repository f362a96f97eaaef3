//! Pipelines: the workspace's schedules — what each does, when it runs next, how its last runs went (status,
//! duration, error) and the chain each started (pull → derived versions → run → gates → request) — with
//! *Run now*, *Remove* and a form to add one. While the app is open it is also a scheduler: due jobs run
//! on a worker every half minute, as `kiln scheduler` would.

use std::time::{Duration, Instant};

use kiln_core::Workspace;
use kiln_core::schedule::{Job, Schedule, ScheduleRun, every_text, parse_every};

use super::command::Command;
use super::jobs::{Finished, Shown, Task};
use super::room::{Cx, Room};
use super::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("pipelines");

/// How often the app runs due jobs while it is open.
const TICK: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq)]
pub enum PipelinesCommand {
    Add(Job),
    Remove(i64),
    RunNow(i64),
}

impl From<PipelinesCommand> for Command {
    fn from(c: PipelinesCommand) -> Self {
        Command::Pipelines(c)
    }
}

/// A schedule as the view shows it: itself, in words, and its last runs (newest first).
pub struct Line {
    pub schedule: Schedule,
    pub job: String,
    pub runs: Vec<ScheduleRun>,
}

/// What the room reads on a worker.
pub struct Overview {
    pub lines: Vec<Line>,
    pub models: Vec<String>,
}

/// The add-a-schedule form.
#[derive(Default)]
struct Form {
    retrain: bool,
    target: String,
    every: String,
    dataset: String,
}

#[derive(Default)]
pub struct PipelinesRoom {
    pub overview: Option<Overview>,
    read: Option<Task<Overview>>,
    act: Option<Task<String>>,
    due: Option<Task<usize>>,
    generation: Option<u64>,
    last_tick: Option<Instant>,
    form: Form,
}

impl PipelinesRoom {
    pub fn running(&self) -> bool {
        self.due.is_some() || self.act.is_some()
    }
}

fn describe(s: &Schedule) -> String {
    match (s.kind.as_str(), s.every_s, &s.on_new_version) {
        ("pull", Some(e), _) => format!("Pull {} every {}", s.target, every_text(e)),
        ("retrain", _, Some(d)) => format!("Retrain {} on each new version of {d}", s.target),
        _ => format!("{} {}", s.kind, s.target),
    }
}

/// The chain a run started, in words.
pub fn chain_text(c: &serde_json::Value) -> String {
    let mut steps = Vec::new();
    if let Some(p) = c["pulled"].as_str() {
        steps.push(format!("pulled {p}"));
    }
    for d in c["derived"].as_array().into_iter().flatten() {
        steps.push(format!("derived {}", d.as_str().unwrap_or_default()));
    }
    if let Some(run) = c["run"].as_i64() {
        steps.push(format!(
            "trained run {run} on {}",
            c["dataset"].as_str().unwrap_or_default()
        ));
        steps.push(format!(
            "v{} {}",
            c["model_version"],
            if c["gates_passed"] == true {
                "passed its gates"
            } else {
                "failed its gates"
            }
        ));
    }
    if let Some(q) = c["request"].as_i64() {
        steps.push(format!("release request {q} awaits approval"));
    }
    if steps.is_empty() {
        "nothing new".into()
    } else {
        steps.join(" · ")
    }
}

fn seconds_between(a: &str, b: &str) -> Option<f64> {
    let p = |t: &str| kiln_core::schedule::DateTime::parse_from_rfc3339(t).ok();
    Some((p(b)? - p(a)?).num_milliseconds() as f64 / 1000.0)
}

impl Room for PipelinesRoom {
    fn id(&self) -> PanelId {
        ID
    }

    fn title(&self) -> &'static str {
        "Pipelines"
    }

    fn badge(&self, _state: &AppState) -> Option<usize> {
        let failed = self.overview.as_ref().map_or(0, |o| {
            o.lines
                .iter()
                .filter(|l| l.runs.first().is_some_and(|r| r.status == "failed"))
                .count()
        });
        Some(failed).filter(|n| *n > 0)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>) {
        ui.heading("Pipelines");
        ui.label(
            egui::RichText::new(
                "Pulls that keep datasets current, and retrainings that turn new data into release \
                 requests. Due jobs run while Kiln is open, and under kiln scheduler.",
            )
            .weak(),
        );
        ui.add_space(6.0);
        self.form_ui(ui, state, cmds);
        ui.separator();
        let Some(o) = &self.overview else {
            ui.spinner();
            return;
        };
        if o.lines.is_empty() {
            ui.label(
                "No schedules yet: add one above, or `kiln schedule add pull DATASET --every 1h`.",
            );
            return;
        }
        let busy = self.running();
        egui::ScrollArea::vertical().show(ui, |ui| {
            for line in &o.lines {
                let s = &line.schedule;
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal(|ui| {
                        ui.strong(&line.job);
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                            if ui.small_button("Remove").clicked() {
                                cmds.push(PipelinesCommand::Remove(s.id).into());
                            }
                            if ui
                                .add_enabled(!busy, egui::Button::new("Run now").small())
                                .clicked()
                            {
                                cmds.push(PipelinesCommand::RunNow(s.id).into());
                            }
                        });
                    });
                    let next = match (&s.claimed_by, &s.next_at) {
                        (Some(who), _) => format!("running now ({who})"),
                        (None, Some(t)) => format!(
                            "next run {}",
                            t.replace('T', " ").chars().take(16).collect::<String>()
                        ),
                        (None, None) => "runs on the next new version".into(),
                    };
                    ui.label(egui::RichText::new(next).weak());
                    if line.runs.is_empty() {
                        ui.label("Not run yet.");
                    }
                    for r in line.runs.iter().take(3) {
                        ui.horizontal_wrapped(|ui| {
                            let (text, color) = match r.status.as_str() {
                                "done" => ("done", egui::Color32::from_rgb(60, 160, 90)),
                                "unchanged" => ("unchanged", ui.visuals().weak_text_color()),
                                "failed" => ("failed", ui.visuals().error_fg_color),
                                _ => ("running", egui::Color32::from_rgb(70, 130, 200)),
                            };
                            ui.label(egui::RichText::new(text).color(color).strong());
                            ui.label(
                                r.started_at
                                    .replace('T', " ")
                                    .chars()
                                    .take(19)
                                    .collect::<String>(),
                            );
                            if let Some(s) = r
                                .ended_at
                                .as_deref()
                                .and_then(|e| seconds_between(&r.started_at, e))
                            {
                                ui.label(egui::RichText::new(format!("{s:.1} s")).weak());
                            }
                            match &r.error {
                                Some(e) => {
                                    ui.colored_label(ui.visuals().error_fg_color, e);
                                }
                                None => {
                                    ui.label(chain_text(&r.chain));
                                }
                            }
                        });
                    }
                });
                ui.add_space(4.0);
            }
        });
    }

    fn apply(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Option<Command> {
        let Command::Pipelines(cmd) = cmd else {
            return Some(cmd);
        };
        let state = &mut *cx.state;
        let root = state.ws.root().to_path_buf();
        state.jobs.replace(&mut self.act);
        self.act = match cmd {
            PipelinesCommand::Add(job) => state.spawn("Add a schedule", "schedule", move |_, _| {
                let id =
                    Workspace::open(&root)?.add_schedule(&job, kiln_core::schedule::Utc::now())?;
                Ok(format!("Schedule {id} added"))
            }),
            PipelinesCommand::Remove(id) => {
                state.spawn("Remove a schedule", "schedule", move |_, _| {
                    Workspace::open(&root)?.remove_schedule(id)?;
                    Ok(format!("Schedule {id} removed"))
                })
            }
            PipelinesCommand::RunNow(id) => {
                state.spawn(format!("Run schedule {id}"), "schedule", move |c, _| {
                    let run = Workspace::open(&root)?.run_schedule(
                        id,
                        kiln_core::schedule::Utc::now(),
                        &app_name(),
                        c,
                    )?;
                    Ok(match run.error {
                        Some(e) => format!("Schedule {id} failed: {e}"),
                        None => format!("Schedule {id}: {}", chain_text(&run.chain)),
                    })
                })
            }
        };
        None
    }

    fn poll(&mut self, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        // Due jobs, every half minute while the app is open.
        if self.due.is_none() && self.last_tick.is_none_or(|t| t.elapsed() >= TICK) {
            self.last_tick = Some(Instant::now());
            let root = state.ws.root().to_path_buf();
            self.due = state.spawn_shown(
                "Run due schedules",
                "scheduler",
                Shown::Hidden,
                move |c, _| {
                    let ran = Workspace::open(&root)?.run_due(
                        kiln_core::schedule::Utc::now(),
                        &app_name(),
                        c,
                    )?;
                    Ok(ran.len())
                },
            );
        }
        let mut reread = self.generation != Some(state.generation);
        match state.poll(&mut self.due) {
            Some(Finished::Done(n)) if n > 0 => {
                reread = true;
                state.refresh();
            }
            Some(Finished::Failed(e)) => state.error("Scheduled jobs", &e.to_string()),
            _ => {}
        }
        match state.poll(&mut self.act) {
            Some(Finished::Done(msg)) => {
                reread = true;
                if msg.contains("failed:") {
                    state.error("Scheduled job", &msg);
                } else {
                    state.info(msg);
                }
                state.refresh();
            }
            Some(Finished::Failed(e)) => state.error("Schedule", &e.to_string()),
            _ => {}
        }
        if reread && self.read.is_none() {
            self.generation = Some(state.generation);
            let root = state.ws.root().to_path_buf();
            self.read =
                state.spawn_shown("Read schedules", "schedules", Shown::Hidden, move |_, _| {
                    let ws = Workspace::open(&root)?;
                    let mut lines = Vec::new();
                    for s in ws.schedules()? {
                        let runs = ws.schedule_runs(s.id, 5)?;
                        lines.push(Line {
                            job: describe(&s),
                            schedule: s,
                            runs,
                        });
                    }
                    let models = ws.models()?.into_iter().map(|m| m.name).collect();
                    Ok(Overview { lines, models })
                });
        }
        match state.poll(&mut self.read) {
            Some(Finished::Done(o)) => self.overview = Some(o),
            Some(Finished::Failed(e)) => {
                state.error("Could not read the schedules", &e.to_string());
            }
            _ => {}
        }
    }
}

impl PipelinesRoom {
    fn form_ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>) {
        let f = &mut self.form;
        ui.horizontal_wrapped(|ui| {
            ui.label("Add:");
            ui.selectable_value(&mut f.retrain, false, "Pull a dataset");
            ui.selectable_value(&mut f.retrain, true, "Retrain a model");
            let datasets: Vec<String> = state.datasets.iter().map(|d| d.name.clone()).collect();
            let models: Vec<String> = self
                .overview
                .as_ref()
                .map(|o| o.models.clone())
                .unwrap_or_default();
            let pick = |ui: &mut egui::Ui, id: &str, value: &mut String, options: &[String]| {
                egui::ComboBox::from_id_salt(id)
                    .selected_text(if value.is_empty() {
                        "choose…"
                    } else {
                        value.as_str()
                    })
                    .show_ui(ui, |ui| {
                        for o in options {
                            ui.selectable_value(value, o.clone(), o);
                        }
                    });
            };
            let job = if f.retrain {
                pick(ui, "pipeline-model", &mut f.target, &models);
                ui.label("on each new version of");
                pick(ui, "pipeline-dataset", &mut f.dataset, &datasets);
                (!f.target.is_empty() && !f.dataset.is_empty()).then(|| Job::Retrain {
                    model: f.target.clone(),
                    dataset: f.dataset.clone(),
                })
            } else {
                pick(ui, "pipeline-pull", &mut f.dataset, &datasets);
                let l = ui.label("every");
                ui.add(
                    egui::TextEdit::singleline(&mut f.every)
                        .hint_text("1h")
                        .desired_width(48.0),
                )
                .labelled_by(l.id);
                let every = parse_every(if f.every.trim().is_empty() {
                    "1h"
                } else {
                    &f.every
                });
                match every {
                    Ok(every_s) if !f.dataset.is_empty() => Some(Job::Pull {
                        dataset: f.dataset.clone(),
                        every_s,
                    }),
                    _ => None,
                }
            };
            if ui
                .add_enabled(job.is_some(), egui::Button::new("Add schedule"))
                .clicked()
                && let Some(job) = job
            {
                cmds.push(PipelinesCommand::Add(job).into());
            }
        });
    }
}

/// This app's name in schedule claims.
fn app_name() -> String {
    format!("app:{}:{}", kiln_core::host_name(), std::process::id())
}
