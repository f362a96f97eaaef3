//! The Label room's model assistant: find suspect labels and review them one by one, fill unlabeled
//! rows with a run's suggestions (accepted one by one or all above a probability), and order unlabeled
//! items by how unsure a run is about them.

use kiln_core::assist::{SuspectFilter, Uncertainty};
use kiln_core::labels::LabelSession;
use kiln_train::ModelKind;

use super::{LabelCommand, LabelController};
use crate::gui::command::Command;
use crate::gui::state::AppState;

/// The assistant's form.
pub struct AssistView {
    model: ModelKind,
    folds: usize,
    filter: SuspectFilter,
    run: Option<i64>,
    min_probability: f64,
    strategy: Option<Uncertainty>,
}

impl Default for AssistView {
    fn default() -> Self {
        Self {
            model: ModelKind::Mlp,
            folds: 5,
            filter: SuspectFilter::default(),
            run: None,
            min_probability: 0.9,
            strategy: None,
        }
    }
}

/// Finished runs that predict this column, newest first.
fn runs_for(state: &AppState, column: &str) -> Vec<i64> {
    let mut runs: Vec<i64> = state
        .runs
        .iter()
        .filter(|r| r.target == column && r.artifacts["weights"].is_string())
        .map(|r| r.id)
        .collect();
    runs.sort_unstable_by(|a, b| b.cmp(a));
    runs
}

fn percent(p: f64) -> String {
    match p {
        p if p > 0.0 && p < 0.005 => "under 1%".to_owned(),
        p if p < 1.0 && p > 0.995 => "over 99%".to_owned(),
        p => format!("{:.0}%", p * 100.0),
    }
}

/// The suspect review bar above the item: what the label is, what the model thinks, the keys.
pub fn review_bar(ui: &mut egui::Ui, session: &LabelSession, cmds: &mut Vec<Command>) {
    let Some(review) = &session.assist.review else {
        return;
    };
    egui::Frame::group(ui.style())
        .fill(ui.visuals().faint_bg_color)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong(format!("Reviewing suspects run {}", review.run));
                ui.label(format!(
                    "· {} of {} · {} fixed · {} kept",
                    (review.index + 1).min(review.suspects.len()),
                    review.suspects.len(),
                    review.fixed,
                    review.kept
                ));
                if ui.button("Close review").clicked() {
                    cmds.push(LabelCommand::CloseReview.into());
                }
            });
            let Some(s) = review.current() else {
                ui.label("Every suspect has a decision. Commit labels to save the fixes as a new version.");
                return;
            };
            if review.index < review.estimate_ends_at() {
                ui.weak(review.estimate_marker());
            } else {
                ui.horizontal_wrapped(|ui| {
                    crate::gui::widgets::badge::badge(
                        ui,
                        "past the estimated errors",
                        crate::gui::widgets::badge::AMBER,
                    );
                    ui.label(review.estimate_marker());
                });
            }
            ui.horizontal(|ui| {
                ui.label(format!("Row {}: labelled", s.row_id));
                ui.label(egui::RichText::new(&s.given).strong().size(18.0));
                ui.label(format!("(the model gives it {})", percent(s.given_probability)));
                ui.separator();
                ui.label("the model suggests");
                ui.label(
                    egui::RichText::new(&s.suggested)
                        .strong()
                        .size(18.0)
                        .color(egui::Color32::from_rgb(89, 161, 79)),
                );
                ui.label(format!("({})", percent(s.suggested_probability)));
            });
            probability_bars(ui, s.given_probability, s.suggested_probability);
            ui.horizontal(|ui| {
                if ui
                    .button(format!("Accept {} [Enter]", s.suggested))
                    .clicked()
                {
                    cmds.push(LabelCommand::ReviewDecide(Some(s.suggested.clone())).into());
                }
                if ui.button(format!("Keep {} [Space]", s.given)).clicked() {
                    cmds.push(LabelCommand::ReviewDecide(None).into());
                }
                ui.weak("or press a class key to relabel");
            });
        });
}

/// Two bars: the given label's probability and the suggestion's.
fn probability_bars(ui: &mut egui::Ui, given: f64, suggested: f64) {
    let width = 220.0;
    for (name, p, color) in [
        ("given", given, egui::Color32::from_rgb(225, 87, 89)),
        ("suggested", suggested, egui::Color32::from_rgb(89, 161, 79)),
    ] {
        ui.horizontal(|ui| {
            ui.add_sized(
                [70.0, 14.0],
                egui::Label::new(egui::RichText::new(name).small()),
            );
            let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 12.0), egui::Sense::hover());
            ui.painter()
                .rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
            ui.painter().rect_filled(
                egui::Rect::from_min_size(rect.min, egui::vec2(width * p as f32, 12.0)),
                2.0,
                color,
            );
            ui.label(egui::RichText::new(percent(p)).small());
        });
    }
}

impl AssistView {
    /// The assistant's section of the side panel.
    pub fn side_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        ctl: &LabelController,
        session: &LabelSession,
        cmds: &mut Vec<Command>,
    ) {
        ui.heading("Model assistant");
        // Suspect labels.
        ui.label(
            egui::RichText::new(format!(
                "Find labels the model doubts: it trains {} times, each time predicting the rows it did \
                 not see, on the committed labels of v{}.",
                self.folds, session.base.version
            ))
            .small(),
        );
        ui.horizontal(|ui| {
            let l = ui.label("Model");
            egui::ComboBox::from_id_salt("suspect-model")
                .selected_text(self.model.name())
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.model, ModelKind::Mlp, "mlp");
                    ui.selectable_value(&mut self.model, ModelKind::Cnn, "cnn");
                })
                .response
                .labelled_by(l.id);
            let l = ui.label("folds");
            ui.add(egui::DragValue::new(&mut self.folds).range(2..=20))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let l = ui.label("Rule");
            egui::ComboBox::from_id_salt("suspect-filter")
                .selected_text(self.filter.label())
                .show_ui(ui, |ui| {
                    for f in SuspectFilter::EVERY {
                        ui.selectable_value(&mut self.filter, f, f.label());
                    }
                })
                .response
                .on_hover_text("Every doubted label (the default): every row the model would label differently, the ones it doubts most first, with a marker where the estimated number of errors ends — it finds the most wrong labels. Only the surest errors: fewer rows, nearly all wrong. As many as the estimate: the estimated number of rows per pair of classes.")
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let busy = ctl.finding_suspects();
            // Cross-validation trains on every labelled row in memory: not on a windowed version.
            let whole = session.window.is_none();
            if ui
                .add_enabled(!busy && whole, egui::Button::new("Find suspect labels"))
                .on_disabled_hover_text(if whole {
                    "Finding suspects…"
                } else {
                    "This version is larger than the memory budget, and finding suspects trains on \
                     all its labelled rows in memory: find them on a filtered or sampled version."
                })
                .clicked()
            {
                cmds.push(
                    LabelCommand::FindSuspects {
                        model: self.model,
                        folds: self.folds,
                        filter: self.filter,
                    }
                    .into(),
                );
            }
            if busy {
                ui.spinner();
            }
        });
        if let Some(r) = &ctl.report
            && r.dataset == session.base.dataset
            && r.version == session.base.version
        {
            ui.label(format!(
                "Run {}: {} suspect(s) of {} labelled rows; about {:.0} label errors estimated; the model \
                 agreed with {} of the labels.",
                r.run,
                r.suspects.len(),
                r.labelled_rows,
                r.estimated_errors,
                percent(r.agreement)
            ));
            if self.filter != SuspectFilter::PredictedNeqGiven
                && (r.suspects.len() + r.kept) as f64 + 0.5 < r.estimated_errors.floor()
            {
                ui.weak(format!(
                    "This rule lists fewer rows than the estimate: the rule \"{}\" lists every row the \
                     model would label otherwise, the doubtful ones first.",
                    SuspectFilter::PredictedNeqGiven.label()
                ));
            }
            for p in r.pairs.iter().take(3) {
                ui.label(
                    egui::RichText::new(format!(
                        "labelled {} but looks like {}: about {:.0}",
                        p.given, p.suggested, p.estimated
                    ))
                    .small(),
                );
            }
        }
        ui.separator();
        // Suggestions and order from a trained run.
        let runs = runs_for(state, &session.column);
        if runs.is_empty() {
            ui.weak(format!(
                "Train a run that predicts `{}` to get suggestions and an uncertainty order.",
                session.column
            ));
            return;
        }
        if self.run.is_none_or(|r| !runs.contains(&r)) {
            self.run = runs.first().copied();
        }
        let run = self.run.unwrap_or_default();
        ui.horizontal(|ui| {
            let l = ui.label("Run");
            egui::ComboBox::from_id_salt("assist-run")
                .selected_text(format!("run {run}"))
                .show_ui(ui, |ui| {
                    for r in &runs {
                        ui.selectable_value(&mut self.run, Some(*r), format!("run {r}"));
                    }
                })
                .response
                .labelled_by(l.id);
            if ui
                .add_enabled(!ctl.suggesting(), egui::Button::new("Suggest labels"))
                .on_hover_text("Fill unlabeled rows with the run's predictions (shown hatched; not labels until accepted)")
                .clicked()
            {
                cmds.push(LabelCommand::Suggest { run }.into());
            }
        });
        let n_suggested = (0..session.ids.len())
            .filter(|&i| session.suggestion_at(i).is_some())
            .count();
        if n_suggested > 0 {
            let above = session.suggestions_above(self.min_probability).len();
            ui.label(format!(
                "{n_suggested} suggestion(s) from run {}: Enter accepts the one shown.",
                session.assist.run.unwrap_or_default()
            ));
            ui.horizontal(|ui| {
                let l = ui.label("at least");
                ui.add(egui::Slider::new(&mut self.min_probability, 0.5..=1.0).fixed_decimals(2))
                    .labelled_by(l.id);
            });
            if ui
                .add_enabled(
                    above > 0,
                    egui::Button::new(format!(
                        "Accept all {above} above {}",
                        percent(self.min_probability)
                    )),
                )
                .clicked()
            {
                cmds.push(
                    LabelCommand::AcceptSuggestions {
                        min: self.min_probability,
                    }
                    .into(),
                );
            }
        }
        ui.horizontal(|ui| {
            let l = ui.label("Unlabeled order");
            let before = self.strategy;
            egui::ComboBox::from_id_salt("assist-order")
                .selected_text(self.strategy.map_or("file order", Uncertainty::label))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.strategy, None, "file order");
                    for s in [
                        Uncertainty::LeastConfidence,
                        Uncertainty::Margin,
                        Uncertainty::Entropy,
                    ] {
                        ui.selectable_value(&mut self.strategy, Some(s), s.label());
                    }
                })
                .response
                .on_hover_text("Most uncertain first: each label then teaches the model the most")
                .labelled_by(l.id);
            if self.strategy != before {
                cmds.push(LabelCommand::OrderBy(self.strategy.map(|s| (run, s))).into());
            }
        });
    }
}
