//! The Models & Releases panel, written for someone who never trained a model: the brief in words, each
//! target against the champion, requests with PASS/FAIL badges and the verdict in one sentence, then the
//! details (gates, candidate against champion, what changed, the model card), the decision, rollback, the
//! timeline, and *Try it*.

use egui::{Color32, RichText};

use crate::gui::widgets::badge::{AMBER, GREEN, RED, badge};
use kiln_core::release::{ModelOverview, ReleaseReport, Role};
use kiln_store::ReleaseRequest;

use super::{ReleaseCommand, ReleaseController};
use crate::gui::command::Command;
use crate::gui::state::AppState;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tab {
    #[default]
    Review,
    TryIt,
    Timeline,
}

#[derive(Default)]
pub struct ReleaseView {
    pub model: Option<String>,
    pub request: Option<i64>,
    pub acting: Option<String>,
    pub comment: String,
    pub override_reason: String,
    pub rollback_comment: String,
    pub tab: Tab,
    pub try_row: usize,
    pub try_edit: Vec<(String, String)>,
    /// The drawing on the *Try it* canvas, row by row, in [0, 1].
    pub canvas: Vec<f32>,
    pub version_comment: String,
    pub request_notes: String,
    pub brief_form: Option<BriefForm>,
    pub brief_error: Option<String>,
    /// The *New model brief* form while it is open, and whether it was sent (it closes once the model
    /// shows in the registry; a refusal keeps it open with the reason).
    pub new_brief: Option<BriefForm>,
    pub new_brief_sent: bool,
    /// Port for *Serve* (0 until first shown: then 8080).
    pub serve_port: u16,
    /// The version served as a shadow beside the champion, if any.
    pub serve_shadow: Option<i64>,
}

/// The brief as typed in the editor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BriefForm {
    pub model: String,
    pub problem: String,
    pub owner: String,
    pub product_metric: String,
    /// One target per line.
    pub targets: String,
    pub eval: String,
    pub min_gain: String,
}

impl BriefForm {
    fn of(m: &ModelOverview) -> Self {
        let b = &m.brief;
        Self {
            model: m.name.clone(),
            problem: b.problem.clone(),
            owner: b.owner.clone(),
            product_metric: b.product_metric.clone(),
            targets: b
                .targets
                .iter()
                .map(|t| {
                    format!(
                        "{}{}{}",
                        t.metric,
                        match t.op {
                            kiln_core::release::Op::AtLeast => ">=",
                            kiln_core::release::Op::AtMost => "<=",
                        },
                        t.value
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            eval: b.eval_dataset.clone().unwrap_or_default(),
            min_gain: b.min_gain.map(|g| g.to_string()).unwrap_or_default(),
        }
    }

    fn brief(&self, old: &kiln_core::release::Brief) -> Result<kiln_core::release::Brief, String> {
        let targets = self
            .targets
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| kiln_core::release::Target::parse(l).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let min_gain = if self.min_gain.trim().is_empty() {
            None
        } else {
            Some(self.min_gain.trim().parse::<f64>().map_err(|_| {
                format!("`{}` is not a number (least accuracy gain)", self.min_gain)
            })?)
        };
        Ok(kiln_core::release::Brief {
            problem: self.problem.trim().to_owned(),
            owner: self.owner.trim().to_owned(),
            product_metric: self.product_metric.trim().to_owned(),
            targets,
            eval_dataset: Some(self.eval.trim().to_owned()).filter(|e| !e.is_empty()),
            min_gain,
            ..old.clone()
        })
    }
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", v * 100.0)
    } else {
        "—".into()
    }
}

/// The environments in promotion order, each with the version it serves: where every version is.
fn environment_path(ui: &mut egui::Ui, m: &ModelOverview) {
    if m.path.is_empty() {
        return;
    }
    ui.horizontal(|ui| {
        ui.strong("Path:");
        for (i, step) in m.path.iter().enumerate() {
            if i > 0 {
                ui.weak("then");
            }
            let name = if step.environment.name == "qa" {
                "QA".to_owned()
            } else {
                step.environment.name.clone()
            };
            let last = i + 1 == m.path.len();
            match step.version {
                Some(v) => badge(
                    ui,
                    &format!("{name} v{v}"),
                    if last { GREEN } else { AMBER },
                ),
                None => {
                    ui.weak(format!("{name}: none"));
                }
            }
        }
    })
    .response
    .on_hover_text(
        "A release request puts its version in QA; it reaches production only from there, once approved",
    );
}

/// A gate's value in the unit its metric is in.
fn gate_value(g: &kiln_core::release::GateResult) -> String {
    let Some(x) = g.value else {
        return "not measured".into();
    };
    let metric = g.gate.split_whitespace().next().unwrap_or_default();
    if metric.ends_with("_ms") {
        format!("{x:.1} ms")
    } else if metric == "throughput_rps" {
        format!("{x:.1} requests/s")
    } else if metric == "memory_mb" {
        format!("{x:.0} MiB")
    } else {
        format!("{x:.4}")
    }
}

fn report_of(r: &ReleaseRequest) -> Option<ReleaseReport> {
    serde_json::from_value(r.report.clone()).ok()
}

pub fn ui(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut ReleaseView,
    ctl: &ReleaseController,
    cmds: &mut Vec<Command>,
) {
    let Some(data) = &ctl.data else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Reading the registry…");
        });
        return;
    };
    if v.new_brief_sent
        && let Some(f) = &v.new_brief
        && data.models.iter().any(|m| m.name == f.model.trim())
    {
        v.new_brief = None;
        v.new_brief_sent = false;
    }
    let refusal = ctl.refusal.as_deref().filter(|_| v.new_brief_sent);
    if data.models.is_empty() {
        if v.new_brief.is_some() {
            new_brief(ui, state, v, &data.users, refusal, cmds);
            return;
        }
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.25);
            ui.heading("No models yet");
            ui.add_space(8.0);
            ui.label(
                "A model starts with its brief: the problem it solves, who owns it, what should move \
                 when it works, the targets a version must meet and the data it is judged on.",
            );
            ui.add_space(8.0);
            if ui.button("New model brief").clicked() {
                v.new_brief = Some(BriefForm::default());
                v.brief_error = None;
            }
            ui.add_space(8.0);
            ui.weak("Or register a run's model from its report in the Runs room (kiln models register --run RUN --name NAME).");
        });
        return;
    }
    // Who is acting: on a team workspace the connected user (the database knows); on a local one the
    // OS user when registered, else the first user.
    if let Some(t) = &data.team {
        v.acting = Some(t.user.clone());
    } else if v.acting.is_none() {
        let me = kiln_core::current_user();
        v.acting = data
            .users
            .iter()
            .find(|u| u.name == me)
            .or(data.users.first())
            .map(|u| u.name.clone());
    }
    let role = match &data.team {
        Some(t) => t.role.as_deref().and_then(Role::parse),
        None => v
            .acting
            .as_ref()
            .and_then(|a| data.users.iter().find(|u| &u.name == a))
            .and_then(|u| Role::parse(&u.role)),
    };
    ui.horizontal(|ui| {
        ui.heading("Models & Releases");
        ui.add_space(16.0);
        if let Some(t) = &data.team {
            ui.label(format!("Signed in as {}", t.user));
            match role {
                Some(r) => crate::gui::widgets::badge::badge(
                    ui,
                    r.as_str(),
                    ui.visuals().selection.bg_fill,
                ),
                None => {
                    ui.weak("not a user of this workspace (ask its admin)");
                }
            }
            ui.weak("· the database checks every approval");
            return;
        }
        let l = ui.label("Acting as");
        egui::ComboBox::from_id_salt("acting")
            .selected_text(v.acting.clone().unwrap_or_else(|| "nobody".into()))
            .show_ui(ui, |ui| {
                for u in &data.users {
                    ui.selectable_value(
                        &mut v.acting,
                        Some(u.name.clone()),
                        format!("{} ({})", u.name, u.role),
                    );
                }
            })
            .response
            .labelled_by(l.id);
        if data.users.is_empty() {
            ui.weak(
                "No users yet: the first user is the workspace's admin (kiln users add NAME --role admin \
                 --by NAME), who then adds the others",
            );
        } else if let Some(r) = role {
            ui.weak(r.as_str());
        }
        ui.weak(
            "· on a local workspace approvals are by declaration: anyone with the folder can act as \
             anyone",
        )
        .on_hover_text(
            "A team workspace (PostgreSQL) has each person sign in as themselves, and the database \
             refuses an approval by the requester or a non-approver.",
        );
    });
    ui.separator();
    if v.model
        .as_ref()
        .is_none_or(|m| !data.models.iter().any(|x| &x.name == m))
    {
        v.model = data
            .models
            .iter()
            .find(|m| m.requests.iter().any(|r| r.status == "pending"))
            .or(data.models.first())
            .map(|m| m.name.clone());
    }
    egui::Panel::left("models-list")
        .resizable(false)
        .exact_size(200.0)
        .show(ui, |ui| {
            ui.strong("Models");
            for m in &data.models {
                let pending = m.requests.iter().filter(|r| r.status == "pending").count();
                let label = format!(
                    "{}\n{}{}",
                    m.name,
                    m.champion
                        .map_or_else(|| "no champion".into(), |c| format!("champion v{c}")),
                    if pending > 0 {
                        format!(" · {pending} pending")
                    } else {
                        String::new()
                    }
                );
                if ui
                    .selectable_label(v.model.as_ref() == Some(&m.name), label)
                    .clicked()
                {
                    v.model = Some(m.name.clone());
                    v.request = None;
                    v.new_brief = None;
                }
            }
            ui.add_space(8.0);
            if ui.button("New model brief").clicked() {
                v.new_brief = Some(BriefForm::default());
                v.brief_error = None;
            }
        });
    if v.new_brief.is_some() {
        egui::ScrollArea::vertical()
            .id_salt("release-new-brief")
            .show(ui, |ui| new_brief(ui, state, v, &data.users, refusal, cmds));
        return;
    }
    let Some(model) = data
        .models
        .iter()
        .find(|m| Some(&m.name) == v.model.as_ref())
    else {
        return;
    };
    egui::ScrollArea::vertical()
        .id_salt("release-main")
        .show(ui, |ui| {
            brief(ui, model);
            brief_editor(ui, state, v, model, cmds);
            if model.versions.is_empty() {
                ui.separator();
                ui.horizontal_wrapped(|ui| {
                    badge(ui, "waiting for a first version", AMBER);
                    ui.label(format!(
                        "Train a run in the Train room, then register it from its report in the Runs \
                         room (or kiln models register --run RUN --name {}).",
                        model.name
                    ));
                });
                return;
            }
            ui.separator();
            super::serve::ui(ui, v, ctl, model, cmds);
            ui.separator();
            ui.horizontal(|ui| {
                ui.selectable_value(&mut v.tab, Tab::Review, "Review");
                ui.selectable_value(&mut v.tab, Tab::TryIt, "Try it");
                ui.selectable_value(&mut v.tab, Tab::Timeline, "Timeline");
            });
            ui.separator();
            match v.tab {
                Tab::Review => review(ui, state, v, ctl, model, role, cmds),
                Tab::TryIt => super::try_it::ui(ui, v, ctl, data, model, cmds),
                Tab::Timeline => timeline(ui, data, model),
            }
        });
}

/// The brief, and each target against the champion and the best version on the evaluation rows.
fn brief(ui: &mut egui::Ui, m: &ModelOverview) {
    let b = &m.brief;
    ui.heading(if b.problem.is_empty() {
        m.name.clone()
    } else {
        b.problem.clone()
    });
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("Model {}", m.name));
        if !b.owner.is_empty() {
            ui.label(format!("· owner {}", b.owner));
        }
        if !b.product_metric.is_empty() {
            ui.label(format!("· should move: {}", b.product_metric));
        }
        if let Some(e) = &b.eval_dataset {
            ui.label(format!("· judged on {e}"));
        }
    });
    if b.targets.is_empty() {
        ui.weak("No success targets yet: kiln models brief NAME --target accuracy>=0.95 --eval DATASET@V");
        return;
    }
    // One report's numbers only: its candidate and champion were judged on the same held-out rows, so
    // they can stand side by side (two reports judge on different rows).
    let latest = m
        .requests
        .iter()
        .filter_map(|r| Some((r.id, report_of(r)?)))
        .max_by_key(|(id, _)| *id)
        .map(|(_, rep)| rep);
    let Some(rep) = latest else {
        egui::Grid::new("targets").striped(true).show(ui, |ui| {
            ui.strong("Success target");
            ui.end_row();
            for t in &b.targets {
                ui.label(t.text());
                ui.end_row();
            }
        });
        ui.weak(
            "No version has been judged yet: a release request judges one against these targets.",
        );
        return;
    };
    let champion = match m.champion {
        Some(c) if rep.champion_version == Some(c) => rep.champion.as_ref().map(|e| (c, e)),
        Some(c) if rep.version == c => Some((c, &rep.candidate)),
        _ => None,
    };
    let candidate = Some((rep.version, &rep.candidate)).filter(|(v, _)| Some(*v) != m.champion);
    let cell = |ui: &mut egui::Ui,
                t: &kiln_core::release::Target,
                e: Option<&kiln_core::release::Evaluation>| {
        match e.and_then(|e| e.metric(&t.metric)) {
            Some(val) => {
                let ok = match t.op {
                    kiln_core::release::Op::AtLeast => val >= t.value,
                    kiln_core::release::Op::AtMost => val <= t.value,
                };
                ui.horizontal(|ui| {
                    ui.label(format!("{val:.3}"));
                    badge(
                        ui,
                        if ok { "meets" } else { "misses" },
                        if ok { GREEN } else { RED },
                    );
                });
            }
            None => {
                ui.weak("—");
            }
        }
    };
    egui::Grid::new("targets").striped(true).show(ui, |ui| {
        ui.strong("Success target");
        ui.strong(match champion {
            Some((c, _)) => format!("Champion v{c}"),
            None => "Champion".to_owned(),
        });
        if let Some((v, _)) = candidate {
            ui.strong(format!("Candidate v{v}"));
        }
        ui.end_row();
        for t in &b.targets {
            ui.label(t.text());
            if champion.is_some() {
                cell(ui, t, champion.map(|(_, e)| e));
            } else {
                ui.weak(if m.champion.is_some() {
                    "not in the latest request"
                } else {
                    "no champion yet"
                });
            }
            if let Some((_, e)) = candidate {
                cell(ui, t, Some(e));
            }
            ui.end_row();
        }
    });
    if rep.held_out.total > 0 {
        ui.weak(format!(
            "From release request of v{}: on {}, {}.",
            rep.version,
            rep.eval_dataset,
            rep.held_out.sentence()
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn review(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut ReleaseView,
    ctl: &ReleaseController,
    m: &ModelOverview,
    role: Option<Role>,
    cmds: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.strong("Champion:");
        match m.champion {
            Some(c) => badge(ui, &format!("v{c}"), GREEN),
            None => {
                ui.label("none yet");
            }
        }
        if let Some(s) = m.staging {
            ui.label(format!("· staging v{s}"));
        }
    });
    environment_path(ui, m);
    if m.requests.is_empty() {
        ui.weak(format!(
            "No release requests yet: kiln release request {} --version N",
            m.name
        ));
    } else {
        ui.strong("Release requests");
        for r in &m.requests {
            let passed = r.report["gates_passed"].as_bool().unwrap_or(false);
            ui.horizontal(|ui| {
                let selected = v.request == Some(r.id);
                if ui
                    .selectable_label(
                        selected,
                        format!("Request {}: v{} by {}", r.id, r.version, r.requested_by),
                    )
                    .clicked()
                {
                    v.request = Some(r.id);
                }
                badge(
                    ui,
                    if passed { "gates PASS" } else { "gates FAIL" },
                    if passed { GREEN } else { RED },
                );
                let (word, color) = match r.status.as_str() {
                    "approved" => ("approved", GREEN),
                    "rejected" => ("rejected", RED),
                    _ => ("pending", AMBER),
                };
                badge(ui, word, color);
            });
        }
    }
    if v.request
        .is_none_or(|id| !m.requests.iter().any(|r| r.id == id))
    {
        v.request = m
            .requests
            .iter()
            .find(|r| r.status == "pending")
            .or(m.requests.first())
            .map(|r| r.id);
    }
    if let Some(req) = v
        .request
        .and_then(|id| m.requests.iter().find(|r| r.id == id))
    {
        ui.separator();
        request_detail(ui, state, v, ctl, m, req, role, cmds);
    }
    ui.separator();
    rollback(ui, v, m, role, cmds);
    ui.separator();
    versions(ui, v, m, cmds);
}

#[allow(clippy::too_many_arguments)]
fn request_detail(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut ReleaseView,
    ctl: &ReleaseController,
    m: &ModelOverview,
    req: &ReleaseRequest,
    role: Option<Role>,
    cmds: &mut Vec<Command>,
) {
    let Some(rep) = report_of(req) else {
        ui.colored_label(
            ui.visuals().error_fg_color,
            "This request's report cannot be read.",
        );
        return;
    };
    ui.heading(format!("{} v{} — request {}", m.name, req.version, req.id));
    if !req.notes.is_empty() {
        ui.label(format!("“{}” — {}", req.notes, req.requested_by));
    }
    ui.label(
        RichText::new(rep.verdict.clone().unwrap_or_else(|| {
            format!(
                "First release of {}: {} correct on {} evaluation rows; no champion to compare against.",
                m.name,
                pct(rep.candidate.accuracy),
                rep.candidate.rows
            )
        }))
        .size(16.0)
        .strong(),
    );
    ui.add_space(4.0);
    ui.columns(2, |cols| {
        cols[0].strong("Quality gates");
        egui::Grid::new(("gates", req.id))
            .striped(true)
            .show(&mut cols[0], |ui| {
                for g in &rep.gates {
                    if g.passed {
                        badge(ui, "PASS", GREEN);
                    } else {
                        badge(ui, "FAIL", RED);
                    }
                    ui.label(&g.gate);
                    ui.label(gate_value(g));
                    ui.end_row();
                }
            });
        if rep.gates.is_empty() {
            cols[0].weak("No gates set for this model.");
        }
        cols[1].strong(if rep.held_out.total > 0 {
            format!("On {}: {}", rep.eval_dataset, rep.held_out.sentence())
        } else {
            format!("On {} ({} rows)", rep.eval_dataset, rep.candidate.rows)
        });
        egui::Grid::new(("vs", req.id))
            .striped(true)
            .show(&mut cols[1], |ui| {
                ui.strong("");
                ui.strong(format!("candidate v{}", rep.version));
                if let Some(c) = rep.champion_version {
                    ui.strong(format!("champion v{c}"));
                }
                if let Some(p) = rep.poc_version {
                    ui.strong(format!("POC v{p}"));
                }
                ui.end_row();
                ui.label("correct");
                ui.label(pct(rep.candidate.accuracy));
                if let Some(c) = &rep.champion {
                    ui.label(pct(c.accuracy));
                }
                if let Some(p) = rep.poc_accuracy {
                    ui.label(pct(p));
                }
                ui.end_row();
                ui.label("time per row (p99)");
                ui.label(format!("{:.2} ms", rep.candidate.latency_p99_ms));
                if let Some(c) = &rep.champion {
                    ui.label(format!("{:.2} ms", c.latency_p99_ms));
                }
                ui.end_row();
                for c in &rep.candidate.per_class {
                    ui.label(format!("finds {} (recall)", c.class));
                    ui.label(pct(c.recall));
                    if let Some(ch) = &rep.champion {
                        let before = ch
                            .per_class
                            .iter()
                            .find(|x| x.class == c.class)
                            .map_or(f64::NAN, |x| x.recall);
                        ui.label(pct(before));
                    }
                    ui.end_row();
                }
            });
    });
    super::qa::replay(ui, v, m, &rep, cmds);
    super::qa::capacity(
        ui,
        ctl,
        m,
        &rep,
        v.acting.as_deref().unwrap_or_default(),
        cmds,
    );
    if let Some(ch) = &rep.changes {
        egui::CollapsingHeader::new("What changed from the champion")
            .default_open(true)
            .show(ui, |ui| {
                if ch.champion_data == ch.candidate_data {
                    ui.label(format!("Same training data ({}).", ch.candidate_data));
                } else {
                    ui.label(format!(
                        "Training data: {} to {}",
                        ch.champion_data, ch.candidate_data
                    ));
                    if let Some(d) = &ch.data_diff {
                        ui.label(format!(
                            "{} rows added, {} removed, {} changed",
                            d.added, d.removed, d.changed_rows
                        ));
                    }
                }
                for (p, a, b) in &ch.params {
                    ui.label(format!(
                        "{p}: {} to {}",
                        a.as_deref().unwrap_or("—"),
                        b.as_deref().unwrap_or("—")
                    ));
                }
            });
    }
    model_card(ui, state, m, req.version);
    if req.status != "pending" {
        ui.label(format!(
            "{} by {} at {}: “{}”{}",
            req.status,
            req.decided_by.clone().unwrap_or_default(),
            req.decided_at
                .clone()
                .unwrap_or_default()
                .replace('T', " ")
                .chars()
                .take(19)
                .collect::<String>(),
            req.comment.clone().unwrap_or_default(),
            req.override_reason
                .as_ref()
                .map(|r| format!(" — gate overridden: {r}"))
                .unwrap_or_default()
        ));
        return;
    }
    ui.separator();
    ui.strong("Decision");
    let l = ui.label("Comment (required)");
    ui.add(
        egui::TextEdit::multiline(&mut v.comment)
            .desired_rows(2)
            .hint_text("What you checked, why it can go out"),
    )
    .labelled_by(l.id);
    let passed = rep.gates_passed;
    if !passed {
        let l = ui.label("Override reason (an admin releasing despite a failed gate)");
        ui.add(egui::TextEdit::singleline(&mut v.override_reason))
            .labelled_by(l.id);
    }
    let acting = v.acting.clone().unwrap_or_default();
    let approver = role.is_some_and(|r| matches!(r, Role::Approver | Role::Admin));
    let why_not = if !approver {
        Some(format!("{acting} is not an approver"))
    } else if req.requested_by == acting {
        Some(format!(
            "{acting} filed this request; another person approves it"
        ))
    } else if v.comment.trim().is_empty() {
        Some("write a comment first".into())
    } else if !passed && role != Some(Role::Admin) {
        Some("a gate failed: only an admin can override it".into())
    } else if !passed && v.override_reason.trim().is_empty() {
        Some("a gate failed: write the reason for overriding it".into())
    } else {
        None
    };
    ui.horizontal(|ui| {
        if ui
            .add_enabled(
                why_not.is_none(),
                egui::Button::new(RichText::new("Approve").strong()),
            )
            .clicked()
        {
            cmds.push(
                ReleaseCommand::Approve {
                    request: req.id,
                    by: acting.clone(),
                    comment: std::mem::take(&mut v.comment),
                    override_reason: (!passed).then(|| std::mem::take(&mut v.override_reason)),
                }
                .into(),
            );
        }
        let can_reject = approver && !v.comment.trim().is_empty();
        if ui
            .add_enabled(can_reject, egui::Button::new("Reject"))
            .clicked()
        {
            cmds.push(
                ReleaseCommand::Reject {
                    request: req.id,
                    by: acting.clone(),
                    comment: std::mem::take(&mut v.comment),
                }
                .into(),
            );
        }
        if let Some(w) = &why_not {
            ui.weak(w);
        }
    });
    if let Some(r) = &ctl.refusal {
        ui.colored_label(ui.visuals().error_fg_color, r);
    }
}

/// The brief, editable by whoever owns the product question; saving audits it (the gates change).
fn brief_editor(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut ReleaseView,
    m: &ModelOverview,
    cmds: &mut Vec<Command>,
) {
    egui::CollapsingHeader::new("Edit the brief and its targets")
        .id_salt(("brief-edit", &m.name))
        .show(ui, |ui| {
            if v.brief_form.as_ref().is_none_or(|f| f.model != m.name) {
                v.brief_form = Some(BriefForm::of(m));
                v.brief_error = None;
            }
            let Some(f) = v.brief_form.as_mut() else {
                return;
            };
            brief_fields(ui, state, f, false);
            if ui.button("Save the brief").clicked() {
                match f.brief(&m.brief) {
                    Ok(brief) => {
                        v.brief_error = None;
                        cmds.push(
                            ReleaseCommand::SetBrief {
                                model: m.name.clone(),
                                brief: Box::new(brief),
                                by: v.acting.clone().unwrap_or_else(kiln_core::current_user),
                            }
                            .into(),
                        );
                    }
                    Err(e) => v.brief_error = Some(e),
                }
            }
            if let Some(e) = &v.brief_error {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
        });
}

/// The brief's fields; the model's name too when `named` (a new brief).
fn brief_fields(ui: &mut egui::Ui, state: &AppState, f: &mut BriefForm, named: bool) {
    let choices: Vec<String> = state
        .versions
        .values()
        .flatten()
        .rev()
        .map(|d| format!("{}@{}", d.dataset, d.version))
        .collect();
    egui::Grid::new(("brief-form", named))
        .num_columns(2)
        .show(ui, |ui| {
            if named {
                let l = ui.label("Model name");
                ui.add(
                    egui::TextEdit::singleline(&mut f.model)
                        .hint_text("e.g. ticket-router (letters, digits, - and _)")
                        .desired_width(360.0),
                )
                .labelled_by(l.id);
                ui.end_row();
            }
            for (label, text, hint) in [
                (
                    "Problem",
                    &mut f.problem,
                    "what the model decides, for whom",
                ),
                ("Owner", &mut f.owner, "who answers for it"),
                (
                    "Product metric",
                    &mut f.product_metric,
                    "what should move when it works",
                ),
                (
                    "Least gain over champion",
                    &mut f.min_gain,
                    "e.g. 0.005 (half a point); empty: none",
                ),
            ] {
                let l = ui.label(label);
                ui.add(
                    egui::TextEdit::singleline(text)
                        .hint_text(hint)
                        .desired_width(360.0),
                )
                .labelled_by(l.id);
                ui.end_row();
            }
            let l = ui.label("Evaluation data");
            egui::ComboBox::from_id_salt(("brief-eval", named))
                .width(360.0)
                .selected_text(if f.eval.is_empty() {
                    "pick a dataset version".to_owned()
                } else {
                    f.eval.clone()
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.eval, String::new(), "none yet");
                    for c in &choices {
                        ui.selectable_value(&mut f.eval, c.clone(), c);
                    }
                })
                .response
                .on_hover_text(
                    "Versions are judged on its test rows when it has a split, and never on rows a \
                     version trained on.",
                )
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Success targets (one per line)");
            ui.add(
                egui::TextEdit::multiline(&mut f.targets)
                    .hint_text("accuracy>=0.95\nrecall:Gentoo>=0.9\nlatency_p99_ms<=20")
                    .desired_rows(3)
                    .desired_width(360.0),
            )
            .labelled_by(l.id);
            ui.end_row();
        });
}

/// *New model brief*: product initiation before any model exists.
fn new_brief(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut ReleaseView,
    users: &[kiln_core::release::UserRecord],
    refusal: Option<&str>,
    cmds: &mut Vec<Command>,
) {
    ui.heading("New model brief");
    ui.label(
        "What should a model do, for whom, and how will you know it is good enough? Versions trained \
         later are judged against these targets before anyone can release them.",
    );
    ui.add_space(6.0);
    let by = v
        .acting
        .clone()
        .or_else(|| users.first().map(|u| u.name.clone()))
        .unwrap_or_else(kiln_core::current_user);
    let Some(f) = v.new_brief.as_mut() else {
        return;
    };
    brief_fields(ui, state, f, true);
    let (mut close, mut sent) = (false, false);
    ui.horizontal(|ui| {
        if ui.button("Create the brief").clicked() {
            let name = f.model.trim().to_owned();
            match f.brief(&kiln_core::release::Brief::default()) {
                Ok(_) if name.is_empty() => v.brief_error = Some("Give the model a name.".into()),
                Ok(brief) => {
                    v.brief_error = None;
                    v.model = Some(name.clone());
                    cmds.push(
                        ReleaseCommand::SetBrief {
                            model: name,
                            brief: Box::new(brief),
                            by: by.clone(),
                        }
                        .into(),
                    );
                    sent = true;
                }
                Err(e) => v.brief_error = Some(e),
            }
        }
        if ui.button("Cancel").clicked() {
            close = true;
        }
    });
    if let Some(e) = v.brief_error.as_deref().or(refusal) {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if sent {
        v.new_brief_sent = true;
    }
    if close {
        v.new_brief = None;
        v.new_brief_sent = false;
    }
}

/// Every version: stage, the PM's verdict on POCs, and what can be done with it.
fn versions(ui: &mut egui::Ui, v: &mut ReleaseView, m: &ModelOverview, cmds: &mut Vec<Command>) {
    ui.strong("Versions");
    let by = v.acting.clone().unwrap_or_else(kiln_core::current_user);
    ui.horizontal(|ui| {
        let l = ui.label("Comment or notes");
        ui.add(
            egui::TextEdit::singleline(&mut v.version_comment)
                .hint_text("why (a verdict needs it; a request carries it)")
                .desired_width(320.0),
        )
        .labelled_by(l.id);
    });
    let text = v.version_comment.trim().to_owned();
    egui::Grid::new(("versions", &m.name)).striped(true).show(ui, |ui| {
        for mv in m.versions.iter().rev() {
            ui.label(format!("v{}", mv.version));
            ui.label(format!("run {}", mv.run_id));
            badge(ui, &mv.stage, if mv.stage == "poc" { AMBER } else { Color32::from_rgb(70, 110, 170) });
            match mv.accepted {
                Some(true) => badge(ui, "approach accepted", GREEN),
                Some(false) => badge(ui, "approach not accepted", RED),
                None => {
                    ui.label("");
                }
            }
            ui.horizontal(|ui| {
                if mv.stage == "poc" {
                    for (label, verdict) in [("Accept approach", true), ("Not accepted", false)] {
                        if ui.add_enabled(!text.is_empty(), egui::Button::new(label)).clicked() {
                            cmds.push(
                                ReleaseCommand::Comment {
                                    model: m.name.clone(),
                                    version: Some(mv.version),
                                    text: text.clone(),
                                    accepted: Some(verdict),
                                    by: by.clone(),
                                }
                                .into(),
                            );
                            v.version_comment.clear();
                        }
                    }
                }
                if m.staging != Some(mv.version) && ui.button("To staging").clicked() {
                    cmds.push(ReleaseCommand::Staging { model: m.name.clone(), version: mv.version, by: by.clone() }.into());
                }
                let pending = m.requests.iter().any(|r| r.version == mv.version && r.status == "pending");
                if m.champion != Some(mv.version)
                    && !pending
                    && ui
                        .button("Request release")
                        .on_hover_text("Evaluates the gates and the statistics against the champion, then asks an approver")
                        .clicked()
                {
                    cmds.push(
                        ReleaseCommand::Request {
                            model: m.name.clone(),
                            version: mv.version,
                            by: by.clone(),
                            notes: text.clone(),
                        }
                        .into(),
                    );
                    v.version_comment.clear();
                }
            });
            ui.end_row();
        }
    });
}

fn model_card(ui: &mut egui::Ui, state: &AppState, m: &ModelOverview, version: i64) {
    let Some(mv) = m.versions.iter().find(|x| x.version == version) else {
        return;
    };
    egui::CollapsingHeader::new(format!("Model card: v{version}")).show(ui, |ui| {
        let run = state.runs.iter().find(|r| r.id == mv.run_id);
        egui::Grid::new(("card", version))
            .striped(true)
            .show(ui, |ui| {
                let mut row = |k: &str, val: String| {
                    ui.label(k);
                    ui.label(val);
                    ui.end_row();
                };
                row(
                    "registered",
                    format!(
                        "{} by {} as {}",
                        mv.created_at
                            .replace('T', " ")
                            .chars()
                            .take(19)
                            .collect::<String>(),
                        mv.created_by,
                        mv.stage
                    ),
                );
                row("training run", format!("run {}", mv.run_id));
                if let Some(r) = run {
                    let data = state
                        .versions
                        .values()
                        .flatten()
                        .find(|d| d.id == r.dataset_version_id)
                        .map(|d| {
                            format!(
                                "{}@{} (blake3 {})",
                                d.dataset,
                                d.version,
                                &d.content_hash[..12.min(d.content_hash.len())]
                            )
                        })
                        .unwrap_or_default();
                    row("trained on", data);
                    row(
                        "model",
                        format!("{} predicting {}", r.model.to_uppercase(), r.target),
                    );
                    row(
                        "trained",
                        format!(
                            "{} · {:.1} s on {}",
                            r.started_at
                                .replace('T', " ")
                                .chars()
                                .take(19)
                                .collect::<String>(),
                            r.duration_s.unwrap_or_default(),
                            r.device
                        ),
                    );
                    row(
                        "code version",
                        format!(
                            "kiln {}{}",
                            r.kiln_version,
                            r.git_commit
                                .as_ref()
                                .map(|c| format!(" · git {}", &c[..8.min(c.len())]))
                                .unwrap_or_default()
                        ),
                    );
                    row(
                        "test accuracy (training split)",
                        r.metrics["test_accuracy"]
                            .as_f64()
                            .map_or_else(|| "—".into(), pct),
                    );
                    if let Some(p) = r.params.as_object() {
                        let text: Vec<String> =
                            ["learning_rate", "hidden", "epochs", "batch_size", "dropout"]
                                .iter()
                                .filter_map(|k| p.get(*k).map(|v| format!("{k} {v}")))
                                .collect();
                        row("settings", text.join(" · "));
                    }
                }
            });
    });
}

fn rollback(
    ui: &mut egui::Ui,
    v: &mut ReleaseView,
    m: &ModelOverview,
    role: Option<Role>,
    cmds: &mut Vec<Command>,
) {
    let champions: Vec<i64> = m
        .aliases
        .iter()
        .filter(|a| a.alias == "champion")
        .map(|a| a.version)
        .collect();
    let Some(&current) = champions.last() else {
        return;
    };
    let Some(&previous) = champions.iter().rev().find(|c| **c != current) else {
        return;
    };
    ui.horizontal(|ui| {
        ui.label(format!(
            "Roll back the champion from v{current} to v{previous}:"
        ));
        ui.add(
            egui::TextEdit::singleline(&mut v.rollback_comment)
                .hint_text("why")
                .desired_width(220.0),
        );
        let ok = role.is_some_and(|r| matches!(r, Role::Approver | Role::Admin))
            && !v.rollback_comment.trim().is_empty();
        if ui.add_enabled(ok, egui::Button::new("Roll back")).clicked() {
            cmds.push(
                ReleaseCommand::Rollback {
                    model: m.name.clone(),
                    by: v.acting.clone().unwrap_or_default(),
                    comment: std::mem::take(&mut v.rollback_comment),
                }
                .into(),
            );
        }
    });
}

fn timeline(ui: &mut egui::Ui, data: &super::ReleaseData, m: &ModelOverview) {
    ui.strong("Champion over time");
    for a in m.aliases.iter().rev() {
        ui.label(format!(
            "{}  {} to v{}  ({})",
            a.at.replace('T', " ").chars().take(19).collect::<String>(),
            a.alias,
            a.version,
            a.actor
        ));
    }
    ui.separator();
    ui.strong("Audit log (append-only, each row's hash covers the one before)");
    let prefix = format!("{} ", m.name);
    egui::Grid::new("audit").striped(true).show(ui, |ui| {
        for r in data.audit.iter().rev().filter(|r| {
            r.subject == m.name
                || r.subject.starts_with(&prefix)
                || r.subject.contains(&format!(": {} v", m.name))
                || r.subject.starts_with(&format!("{}@", m.name))
        }) {
            ui.label(r.at.replace('T', " ").chars().take(19).collect::<String>());
            ui.label(&r.actor);
            ui.label(&r.action);
            ui.label(&r.subject);
            ui.end_row();
        }
    });
    for c in &m.comments {
        ui.label(format!(
            "{} {}{}: {}",
            c.at.replace('T', " ").chars().take(19).collect::<String>(),
            c.author,
            c.version.map(|v| format!(" on v{v}")).unwrap_or_default(),
            c.text
        ));
    }
}
