//! The QA evidence on a release request, in plain words first: will the version hold the load the
//! product needs (serving capacity: latency against request rate, with the brief's targets drawn in),
//! and how does it answer the requests production actually sent (the champion's traffic replayed)?

use egui::RichText;
use egui_plot::{Corner, HLine, Legend, Line, Plot, PlotPoints, Points, VLine};
use kiln_core::release::{Brief, Capacity, ModelOverview, ReleaseReport};

use super::panel::Tab;
use super::{ReleaseCommand, ReleaseController, ReleaseView};
use crate::gui::command::Command;
use crate::gui::widgets::badge::{GREEN, RED, badge};

/// The serving capacity of the request's version: the sentence, the plot, and a button to measure it.
pub fn capacity(
    ui: &mut egui::Ui,
    ctl: &ReleaseController,
    m: &ModelOverview,
    rep: &ReleaseReport,
    acting: &str,
    cmds: &mut Vec<Command>,
) {
    let latest = ctl
        .data
        .as_ref()
        .and_then(|d| d.capacity(&m.name, rep.version));
    let shown = latest.or(rep.capacity.as_ref());
    if shown.is_none() && !m.brief.has_serving_targets() {
        return;
    }
    ui.strong("Serving capacity");
    match shown {
        Some(c) => {
            ui.label(RichText::new(c.sentence(&m.brief)).size(15.0));
            if rep.capacity.as_ref() != shown {
                ui.weak(
                    "Measured after this request was filed: its gates were judged without it. File a \
                     new request to judge them on this run.",
                );
            }
            if let Some(ms) = c.debug_delay_ms {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!("This server was slowed on purpose by {ms} ms a row (a test run)."),
                );
            }
            plot(ui, c, &m.brief);
            ui.weak(format!(
                "{} connections, {:.0} s a step, on {}.",
                c.connections, c.step_seconds, c.machine
            ));
        }
        None => {
            ui.label(
                "Not measured yet: the brief asks for serving targets, and they fail until this version's \
                 server has been driven at the rate the product needs.",
            );
        }
    }
    let busy = ctl.measuring.is_some();
    ui.horizontal(|ui| {
        let button = ui.add_enabled(
            !busy,
            egui::Button::new(if shown.is_some() {
                "Measure again"
            } else {
                "Measure capacity"
            }),
        );
        if button
            .on_hover_text(
                "Starts this version's server on this machine and sends it requests at a steady rate \
                 (the brief's throughput, then more) for about half a minute",
            )
            .clicked()
        {
            cmds.push(
                ReleaseCommand::Capacity {
                    model: m.name.clone(),
                    version: rep.version,
                    by: acting.to_owned(),
                }
                .into(),
            );
        }
        if let Some((model, version)) = &ctl.measuring {
            ui.spinner();
            ui.weak(format!(
                "measuring {model} v{version} (see the jobs list to cancel)…"
            ));
        }
    });
}

/// Latency (p50 and p99, from each request's scheduled time) against the rate asked: each step a dot,
/// green where the server held the rate, red where it fell behind; the targets as lines.
fn plot(ui: &mut egui::Ui, c: &Capacity, brief: &Brief) {
    let targets = brief.latency_targets();
    let mut steps: Vec<_> = c.steps.iter().collect();
    steps.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let (held, missed): (Vec<_>, Vec<_>) = steps.iter().partition(|s| s.held(&targets));
    let pts = |v: &[&&kiln_core::release::CapacityStep]| -> PlotPoints<'static> {
        v.iter().map(|s| [s.rate, s.p99_ms]).collect()
    };
    ui.horizontal(|ui| {
        badge(ui, "held", GREEN);
        badge(ui, "fell behind", RED);
        ui.weak("requests per second (across) · milliseconds until 99 in 100 were answered (up)");
    });
    Plot::new(("capacity", &c.model, c.version))
        .height(200.0)
        .legend(Legend::default().position(Corner::LeftTop))
        .x_axis_label("requests per second")
        .y_axis_label("ms")
        .allow_scroll(false)
        .show(ui, |p| {
            p.line(Line::new(
                "99 in 100 within (p99)",
                steps
                    .iter()
                    .map(|s| [s.rate, s.p99_ms])
                    .collect::<PlotPoints<'_>>(),
            ));
            p.line(Line::new(
                "half within (p50)",
                steps
                    .iter()
                    .map(|s| [s.rate, s.p50_ms])
                    .collect::<PlotPoints<'_>>(),
            ));
            p.points(Points::new("held", pts(&held)).radius(5.0).color(GREEN));
            p.points(
                Points::new("fell behind", pts(&missed))
                    .radius(5.0)
                    .color(RED),
            );
            for t in &targets {
                p.hline(HLine::new(format!("target {}", t.text()), t.value));
            }
            p.vline(VLine::new(
                format!("needed: {:.0}/s", c.needed_rate(brief)),
                c.needed_rate(brief),
            ));
        });
}

/// Disagreements listed on the request (each openable in *Try it*).
const SHOWN_DISAGREEMENTS: usize = 8;

/// The champion's production requests replayed through the candidate: the sentence, which answers
/// change, who was right where a label came back, and the first disagreements to open in *Try it*.
pub fn replay(
    ui: &mut egui::Ui,
    v: &mut ReleaseView,
    m: &ModelOverview,
    rep: &ReleaseReport,
    cmds: &mut Vec<Command>,
) {
    let Some(r) = &rep.replay else {
        if let Some(note) = &rep.replay_note {
            ui.strong("Production traffic");
            if note.contains("no logged requests") {
                ui.weak(
                    "No production request of the champion has been logged yet, so none could be \
                     replayed through this version.",
                );
            } else {
                ui.weak(format!("Not replayed: {note}"));
            }
        }
        return;
    };
    ui.strong("Production traffic");
    ui.label(RichText::new(r.sentence()).size(15.0));
    let flips: Vec<_> = r.flips.iter().filter(|(a, b, _)| a != b).collect();
    if !flips.is_empty() {
        ui.label("Answers that change (the champion's, then the candidate's):");
        egui::Grid::new(("flips", rep.version))
            .striped(true)
            .show(ui, |ui| {
                for (a, b, n) in &flips {
                    ui.label(format!("{a} · {b}"));
                    ui.label(format!(
                        "{n} {}",
                        if *n == 1 { "request" } else { "requests" }
                    ));
                    ui.end_row();
                }
            });
    }
    if r.labelled > 0 {
        let share = |k: usize| 100.0 * k as f64 / r.labelled as f64;
        ui.label(format!(
            "On the {} requests whose label came back: the champion was right on {:.1} %, the candidate on {:.1} %.",
            r.labelled,
            share(r.champion_right),
            share(r.candidate_right)
        ));
    }
    ui.weak(format!(
        "Time per row: candidate {:.3} ms, champion {:.3} ms.",
        r.candidate_ms_per_row, r.champion_ms_per_row
    ));
    if r.disagreements.is_empty() {
        return;
    }
    egui::CollapsingHeader::new(format!(
        "Requests they answer differently ({})",
        r.requests - r.agreed
    ))
    .id_salt(("disagreements", rep.version))
    .default_open(true)
    .show(ui, |ui| {
        for d in r.disagreements.iter().take(SHOWN_DISAGREEMENTS) {
            ui.horizontal(|ui| {
                ui.label(format!(
                    "{} · champion {} · candidate {}",
                    d.at.replace('T', " ").chars().take(19).collect::<String>(),
                    d.champion,
                    d.candidate
                ));
                if let Some(l) = &d.label {
                    let color = if *l == d.candidate { GREEN } else { RED };
                    badge(ui, &format!("label {l}"), color);
                }
                if !d.features.is_empty() && ui.button("Open in Try it").clicked() {
                    v.try_edit.clone_from(&d.features);
                    v.tab = Tab::TryIt;
                    cmds.push(
                        ReleaseCommand::Try {
                            model: m.name.clone(),
                            versions: super::controller::tried_versions(m, Some(rep.version)),
                            rows: vec![],
                            edited: Some(d.features.clone()),
                        }
                        .into(),
                    );
                }
            });
        }
    });
}
