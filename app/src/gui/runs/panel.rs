//! The Runs panel: a toolbar (filter, columns, group by, export), the runs table with a checkbox per run
//! and sortable headers (virtual rows, so ten thousand runs scroll like ten), and the view tabs below.

use std::collections::{BTreeMap, BTreeSet};

use egui_extras::{Column, TableBuilder};
use kiln_core::compare::{ColumnGroup, ExportFormat, RunTable, ViewQuery, export_frame};
use kiln_core::data::polars::prelude::DataFrame;

use super::controller::XAxis;
use super::{RunsCommand, RunsController};
use crate::gui::command::Command;
use crate::gui::state::AppState;

/// The views under the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tab {
    #[default]
    Report,
    Compare,
    Parallel,
    Cost,
    Learning,
}

impl Tab {
    const ALL: [Tab; 5] = [
        Tab::Report,
        Tab::Compare,
        Tab::Parallel,
        Tab::Cost,
        Tab::Learning,
    ];

    fn title(self) -> &'static str {
        match self {
            Tab::Report => "Run report",
            Tab::Compare => "Compare selected",
            Tab::Parallel => "Parameters vs metric",
            Tab::Cost => "Cost vs quality",
            Tab::Learning => "More data?",
        }
    }
}

/// Columns shown until the user picks others (those the table has).
const DEFAULT_COLUMNS: [&str; 10] = [
    "status",
    "dataset",
    "model",
    "duration_s",
    "samples_per_s",
    "param_count",
    "train_rows",
    "learning_rate",
    "test_accuracy",
    "tags",
];

/// The panel's own state: the table built from the run list, the query, the selection and each tab's
/// choices.
pub struct RunsView {
    generation: u64,
    pub table: Option<RunTable>,
    /// The filtered, sorted rows shown.
    pub view: Option<DataFrame>,
    pub ids: Vec<i64>,
    /// Why the last filter could not be applied.
    pub error: Option<String>,
    pub filter: String,
    applied_filter: Option<String>,
    pub sort: Option<(String, bool)>,
    /// Brushed ranges of the parallel-coordinates axes.
    pub brushes: BTreeMap<String, (f64, f64)>,
    pub columns: Option<Vec<String>>,
    pub group_by: Option<String>,
    pub group_metric: String,
    pub grouped: Option<Result<DataFrame, String>>,
    /// Checked runs (the comparison's).
    pub checked: BTreeSet<i64>,
    pub tab: Tab,
    pub only_diff: bool,
    pub curve_metric: Option<String>,
    pub x_axis: XAxis,
    pub smoothing: f64,
    pub log_y: bool,
    pub metric: String,
    pub log_axes: BTreeSet<String>,
    pub scatter_x: Option<String>,
    pub cost: String,
    pub sweep: Option<String>,
    pub tag_text: String,
    pub note: Option<(i64, String)>,
    pub register_name: String,
    pub register_stage: String,
    dirty: bool,
}

impl Default for RunsView {
    fn default() -> Self {
        Self {
            generation: u64::MAX,
            table: None,
            view: None,
            ids: Vec::new(),
            error: None,
            filter: String::new(),
            applied_filter: None,
            sort: None,
            brushes: BTreeMap::new(),
            columns: None,
            group_by: None,
            group_metric: "test_accuracy".into(),
            grouped: None,
            checked: BTreeSet::new(),
            tab: Tab::Report,
            only_diff: true,
            curve_metric: None,
            x_axis: XAxis::Step,
            smoothing: 0.0,
            log_y: false,
            metric: "test_accuracy".into(),
            log_axes: BTreeSet::new(),
            scatter_x: None,
            cost: "duration_s".into(),
            sweep: None,
            tag_text: String::new(),
            note: None,
            register_name: String::new(),
            register_stage: "candidate".into(),
            dirty: true,
        }
    }
}

impl RunsView {
    /// Rebuild the table after the run list changed, and the view after the query changed.
    pub fn sync(&mut self, state: &AppState) {
        if self.generation != state.generation {
            self.generation = state.generation;
            let labels: BTreeMap<i64, String> = state
                .versions
                .values()
                .flatten()
                .map(|v| (v.id, format!("{}@{}", v.dataset, v.version)))
                .collect();
            match RunTable::from_runs(&state.runs, |id| {
                labels.get(&id).cloned().unwrap_or_default()
            }) {
                Ok(t) => self.table = Some(t),
                Err(e) => self.error = Some(e.to_string()),
            }
            let ids: BTreeSet<i64> = state.runs.iter().map(|r| r.id).collect();
            self.checked.retain(|id| ids.contains(id));
            self.dirty = true;
        }
        if self.applied_filter.as_deref() != Some(self.filter.as_str()) {
            self.dirty = true;
        }
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let Some(table) = &self.table else {
            return;
        };
        let q = ViewQuery {
            filter: self.filter.clone(),
            ranges: self
                .brushes
                .iter()
                .map(|(c, (lo, hi))| (c.clone(), *lo, *hi))
                .collect(),
            sort: self.sort.clone(),
        };
        self.applied_filter = Some(self.filter.clone());
        match table.view(&q) {
            Ok(v) => {
                self.ids = RunTable::ids(&v);
                self.view = Some(v);
                self.error = None;
            }
            // The last good view stays; the message says what is wrong.
            Err(e) => self.error = Some(e.to_string()),
        }
        self.grouped = match (&self.group_by, &self.view) {
            (Some(by), Some(v)) => Some(
                table
                    .group(v, by, &self.group_metric)
                    .map_err(|e| e.to_string()),
            ),
            _ => None,
        };
    }

    /// Mark the view for recomputation (a sort, brush or grouping changed).
    pub fn invalidate(&mut self) {
        self.dirty = true;
    }

    /// The columns shown.
    pub fn shown_columns(&self) -> Vec<String> {
        let Some(t) = &self.table else {
            return Vec::new();
        };
        match &self.columns {
            Some(c) => c
                .iter()
                .filter(|c| t.column(c).is_some())
                .cloned()
                .collect(),
            None => DEFAULT_COLUMNS
                .iter()
                .filter(|c| t.column(c).is_some())
                .map(|c| (*c).to_owned())
                .collect(),
        }
    }

    /// The checked runs in table order.
    pub fn checked_in_order(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .ids
            .iter()
            .copied()
            .filter(|i| self.checked.contains(i))
            .collect();
        let hidden: Vec<i64> = self
            .checked
            .iter()
            .copied()
            .filter(|i| !out.contains(i))
            .collect();
        out.extend(hidden);
        out
    }
}

/// Draw the Runs panel.
pub fn ui(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut RunsView,
    ctl: &RunsController,
    cmds: &mut Vec<Command>,
) {
    if state.runs.is_empty() {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.3);
            ui.heading("No training runs yet");
            ui.add_space(8.0);
            ui.label(
                "Train a model in the Train panel, or: kiln train --dataset NAME --target COLUMN",
            );
            if ui.button("Go to Train").clicked() {
                cmds.push(Command::show(crate::gui::train::ID));
            }
        });
        return;
    }
    v.sync(state);
    toolbar(ui, v);
    if let Some(e) = &v.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    let table_h = (ui.available_height() * 0.36).clamp(120.0, 360.0);
    let top = ui.cursor().top();
    match v.grouped.as_ref() {
        Some(Ok(g)) => {
            let g = g.clone();
            ui.push_id("grouped", |ui| frame_table(ui, &g, table_h));
        }
        Some(Err(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        None => runs_table(ui, v, ctl, cmds, table_h),
    }
    // The table keeps its height whatever the rows, so nothing below moves while a filter or a brush
    // changes them (a drag on the parallel coordinates stays on its axis).
    let all_rows = v.table.as_ref().map_or(0, RunTable::len) as f32;
    let reserve = (table_h + 20.0).min(26.0 + 22.5 * all_rows);
    let used = ui.cursor().top() - top;
    if used < reserve {
        ui.add_space(reserve - used);
    }
    ui.separator();
    ui.horizontal(|ui| {
        for t in Tab::ALL {
            let label = if t == Tab::Compare {
                format!("{} ({})", t.title(), v.checked.len())
            } else {
                t.title().to_owned()
            };
            ui.selectable_value(&mut v.tab, t, label);
        }
    });
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("runs-tab")
        .show(ui, |ui| match v.tab {
            Tab::Report => super::report::ui(ui, state, v, ctl, cmds),
            Tab::Compare => super::compare::ui(ui, state, v, ctl, cmds),
            Tab::Parallel => super::charts::parallel(ui, v, cmds),
            Tab::Cost => super::charts::cost(ui, v, cmds),
            Tab::Learning => super::charts::learning(ui, state, v),
        });
}

fn toolbar(ui: &mut egui::Ui, v: &mut RunsView) {
    let total = v.table.as_ref().map_or(0, RunTable::len);
    ui.horizontal(|ui| {
        ui.heading(format!("Runs ({} of {total})", v.ids.len()));
        let l = ui.label("Filter runs");
        ui.add(
            egui::TextEdit::singleline(&mut v.filter)
                .hint_text("test_accuracy > 0.95 and model = 'cnn'")
                .desired_width(300.0),
        )
        .labelled_by(l.id)
        .on_hover_text(
            "A SQL condition over any column: run, status, dataset, model, device, tags (tags LIKE '%baseline%'), cost, parameters and metrics.",
        );
        if !v.brushes.is_empty() && ui.button(format!("Clear {} axis filters", v.brushes.len())).clicked() {
            v.brushes.clear();
            v.invalidate();
        }
        let columns: Vec<(String, ColumnGroup)> = v
            .table
            .as_ref()
            .map(|t| t.columns.iter().map(|c| (c.name.clone(), c.group)).collect())
            .unwrap_or_default();
        ui.menu_button("Columns", |ui| {
            let mut shown = v.shown_columns();
            egui::ScrollArea::vertical().max_height(400.0).show(ui, |ui| {
                for (group, title) in [
                    (ColumnGroup::Run, "Run"),
                    (ColumnGroup::Cost, "Cost"),
                    (ColumnGroup::Param, "Parameters"),
                    (ColumnGroup::Metric, "Metrics"),
                ] {
                    ui.strong(title);
                    for (name, _) in columns.iter().filter(|(n, g)| *g == group && n != "run") {
                        let mut on = shown.contains(name);
                        if ui.checkbox(&mut on, name).changed() {
                            if on {
                                shown.push(name.clone());
                            } else {
                                shown.retain(|c| c != name);
                            }
                            let order: Vec<&String> = columns.iter().map(|(n, _)| n).collect();
                            shown.sort_by_key(|c| order.iter().position(|o| *o == c));
                            v.columns = Some(shown.clone());
                        }
                    }
                }
            });
        });
        let numeric: Vec<String> = v
            .table
            .as_ref()
            .map(|t| t.columns.iter().filter(|c| c.numeric && c.group == ColumnGroup::Metric).map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        ui.label("Group by");
        let before = (v.group_by.clone(), v.group_metric.clone());
        egui::ComboBox::from_id_salt("group-by")
            .selected_text(v.group_by.as_deref().unwrap_or("—"))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut v.group_by, None, "—");
                for (name, g) in &columns {
                    if matches!(g, ColumnGroup::Param | ColumnGroup::Run) && name != "run" && name != "note" {
                        ui.selectable_value(&mut v.group_by, Some(name.clone()), name);
                    }
                }
            });
        if v.group_by.is_some() {
            egui::ComboBox::from_id_salt("group-metric")
                .selected_text(&v.group_metric)
                .show_ui(ui, |ui| {
                    for n in &numeric {
                        ui.selectable_value(&mut v.group_metric, n.clone(), n);
                    }
                });
        }
        if before != (v.group_by.clone(), v.group_metric.clone()) {
            v.invalidate();
        }
        ui.menu_button("Export", |ui| {
            let cols: Vec<String> = std::iter::once("run".to_owned()).chain(v.shown_columns()).collect();
            for (f, label) in [
                (ExportFormat::Markdown, "Copy table as Markdown"),
                (ExportFormat::Csv, "Copy table as CSV"),
                (ExportFormat::Json, "Copy table as JSON"),
            ] {
                if ui.button(label).clicked()
                    && let Some(view) = &v.view
                    && let Ok(text) = export_frame(view, &cols, f)
                {
                    ui.ctx().copy_text(text);
                    ui.close();
                }
            }
        });
    });
}

/// A plain frame as a table (the grouped view).
fn frame_table(ui: &mut egui::Ui, df: &DataFrame, height: f32) {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    TableBuilder::new(ui)
        .id_salt("runs-grouped")
        .striped(true)
        .columns(Column::initial(140.0).clip(true), names.len())
        .max_scroll_height(height)
        .header(20.0, |mut h| {
            for n in &names {
                h.col(|ui| {
                    ui.strong(n);
                });
            }
        })
        .body(|body| {
            body.rows(20.0, df.height(), |mut row| {
                let r = row.index();
                for c in df.columns() {
                    row.col(|ui| {
                        ui.label(kiln_core::data::cell_text(c, r));
                    });
                }
            });
        });
}

fn short(text: String) -> String {
    if text.chars().count() > 24 {
        text.chars().take(23).collect::<String>() + "…"
    } else {
        text
    }
}

fn runs_table(
    ui: &mut egui::Ui,
    v: &mut RunsView,
    ctl: &RunsController,
    cmds: &mut Vec<Command>,
    height: f32,
) {
    let Some(view) = v.view.clone() else {
        return;
    };
    let shown = v.shown_columns();
    let cols: Vec<(&kiln_core::data::polars::prelude::Column, bool)> = shown
        .iter()
        .filter_map(|c| {
            let numeric = v
                .table
                .as_ref()
                .and_then(|t| t.column(c))
                .is_some_and(|m| m.numeric);
            view.column(c).ok().map(|col| (col, numeric))
        })
        .collect();
    let mut sort_clicked: Option<String> = None;
    let mut toggled: Option<i64> = None;
    TableBuilder::new(ui)
        .id_salt("runs")
        .striped(true)
        .sense(egui::Sense::click())
        .column(Column::exact(64.0))
        .columns(Column::initial(84.0).clip(true), cols.len())
        .max_scroll_height(height)
        .header(20.0, |mut h| {
            h.col(|ui| {
                if ui.button(sort_label("run", v.sort.as_ref())).clicked() {
                    sort_clicked = Some("run".into());
                }
            });
            for name in &shown {
                h.col(|ui| {
                    if ui
                        .add(
                            egui::Button::new(
                                egui::RichText::new(sort_label(name, v.sort.as_ref())).strong(),
                            )
                            .frame(false),
                        )
                        .on_hover_text("Sort by this column (again: reverse)")
                        .clicked()
                    {
                        sort_clicked = Some(name.clone());
                    }
                });
            }
        })
        .body(|body| {
            body.rows(20.0, v.ids.len(), |mut row| {
                let r = row.index();
                let id = v.ids[r];
                row.set_selected(ctl.selected == Some(id));
                row.col(|ui| {
                    let mut on = v.checked.contains(&id);
                    if ui.checkbox(&mut on, format!("#{id}")).changed() {
                        toggled = Some(id);
                    }
                });
                for (c, numeric) in &cols {
                    row.col(|ui| {
                        let text = kiln_core::data::cell_text(c, r);
                        if *numeric {
                            let n = text.parse::<f64>().map_or(text, super::report::human);
                            ui.with_layout(
                                egui::Layout::right_to_left(egui::Align::Center),
                                |ui| {
                                    ui.add(egui::Label::new(n).selectable(false));
                                },
                            );
                        } else {
                            // Not selectable, so a click on the text is the row's click.
                            ui.add(egui::Label::new(short(text)).selectable(false));
                        }
                    });
                }
                if row.response().clicked() {
                    cmds.push(RunsCommand::Select(id).into());
                }
            });
        });
    if let Some(id) = toggled
        && !v.checked.remove(&id)
    {
        v.checked.insert(id);
    }
    if let Some(c) = sort_clicked {
        v.sort = match &v.sort {
            Some((s, false)) if *s == c => Some((c, true)),
            Some((s, true)) if *s == c => None,
            // Metrics read best-first.
            _ => {
                let desc =
                    kiln_core::compare::better(&c) == Some(kiln_core::compare::Better::Higher);
                Some((c, desc))
            }
        };
        v.invalidate();
    }
}

fn sort_label(name: &str, sort: Option<&(String, bool)>) -> String {
    match sort {
        Some((s, desc)) if s == name => format!(
            "{name} {}",
            if *desc { "(high first)" } else { "(low first)" }
        ),
        _ => name.to_owned(),
    }
}
