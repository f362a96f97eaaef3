//! The Data panel: datasets and versions, a virtual table with sort and filter, column statistics,
//! histograms / value counts and a scatter plot. Heavy work is requested with commands and runs on
//! worker threads; this file only draws.

use std::fmt::Write as _;

use egui_extras::{Column, TableBuilder};
use kiln_core::data::TableData;

use super::{ColumnPlot, DataCommand, DataController, Importing};
use crate::gui::command::{Command, ShellCommand};
use crate::gui::state::AppState;
use crate::gui::widgets::{data_table, plots};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Tab {
    #[default]
    Table,
    Stats,
    Histogram,
    Scatter,
    Versions,
}

pub struct DataPanel {
    tab: Tab,
    filter: String,
    /// The version whose filter text is in `filter`.
    filter_for: Option<i64>,
    hist_column: Option<String>,
    scatter_x: Option<String>,
    scatter_y: Option<String>,
    scatter_color: Option<String>,
    /// Identity of the view the last stats/plot request was made for, so a failure is not retried forever.
    stats_requested: usize,
    plot_requested: Option<(usize, String)>,
    scatter_requested: Option<(usize, String, String, Option<String>)>,
    diff_a: Option<i64>,
    diff_b: Option<i64>,
    split_ratios: [f64; 3],
    split_seed: u64,
    split_stratify: Option<String>,
    /// The recipe being edited: the version it is for, and its SQL as typed.
    recipe: Option<(i64, String)>,
}

impl Default for DataPanel {
    fn default() -> Self {
        Self {
            tab: Tab::default(),
            filter: String::new(),
            filter_for: None,
            hist_column: None,
            scatter_x: None,
            scatter_y: None,
            scatter_color: None,
            stats_requested: 0,
            plot_requested: None,
            scatter_requested: None,
            diff_a: None,
            diff_b: None,
            split_ratios: [0.8, 0.1, 0.1],
            recipe: None,
            split_seed: 0,
            split_stratify: None,
        }
    }
}

fn identity(table: &TableData) -> usize {
    table.identity()
}

impl DataPanel {
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        ctl: &DataController,
        cmds: &mut Vec<Command>,
    ) {
        egui::Panel::left("datasets")
            .resizable(true)
            .default_size(230.0)
            .show(ui, |ui| {
                Self::dataset_list(ui, state, ctl, cmds);
            });
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(importing) = &ctl.importing {
                Self::importing(ui, ctl, importing);
            } else if state.datasets.is_empty() {
                Self::empty_state(ui, cmds);
            } else if ctl.current.version.is_some() {
                self.version_view(ui, state, ctl, cmds);
            } else {
                ui.label("Select a dataset on the left.");
            }
        });
    }
}

impl DataPanel {
    fn dataset_list(
        ui: &mut egui::Ui,
        state: &AppState,
        ctl: &DataController,
        cmds: &mut Vec<Command>,
    ) {
        ui.horizontal(|ui| {
            ui.heading("Datasets");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.menu_button("Import…", |ui| {
                    if ui
                        .button("A file…")
                        .on_hover_text("Ctrl+O, or drop a file on the window")
                        .clicked()
                    {
                        cmds.push(DataCommand::PickImportFile.into());
                        ui.close();
                    }
                    if ui.button("From a database or URL…").clicked() {
                        cmds.push(DataCommand::OpenRemoteImport.into());
                        ui.close();
                    }
                });
            });
        });
        ui.separator();
        let current = ctl.current.version.as_ref().map(|v| v.id);
        egui::ScrollArea::vertical()
            .id_salt("dataset-list")
            .show(ui, |ui| {
                for d in &state.datasets {
                    let versions = state.versions.get(&d.name).map_or(&[][..], Vec::as_slice);
                    let open_here = versions.iter().any(|v| Some(v.id) == current);
                    egui::CollapsingHeader::new(format!(
                        "{}  ({} version{})",
                        d.name,
                        d.versions,
                        if d.versions == 1 { "" } else { "s" }
                    ))
                    .id_salt(("ds", &d.name))
                    .default_open(open_here)
                    .show(ui, |ui| {
                        for v in versions.iter().rev() {
                            let text = format!(
                                "v{} · {} rows · {}",
                                v.version,
                                v.row_count,
                                v.created_at.get(..10).unwrap_or("")
                            );
                            let r = ui
                                .selectable_label(Some(v.id) == current, text)
                                .on_hover_text(format!(
                                    "{}@{}\n{} bytes · blake3 {}\nsource: {}",
                                    v.dataset,
                                    v.version,
                                    v.byte_size,
                                    &v.content_hash[..16],
                                    v.source_path.as_deref().unwrap_or("-")
                                ));
                            if r.clicked() {
                                cmds.push(
                                    DataCommand::OpenVersion {
                                        dataset: v.dataset.clone(),
                                        version: Some(v.version),
                                    }
                                    .into(),
                                );
                            }
                        }
                    });
                }
            });
    }

    fn empty_state(ui: &mut egui::Ui, cmds: &mut Vec<Command>) {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.3);
            ui.heading("No datasets yet");
            ui.add_space(8.0);
            ui.label("Import a dataset — Ctrl+O or drop a file here.");
            ui.label(
                egui::RichText::new("CSV, TSV, Parquet, Arrow IPC / Feather, JSON and NDJSON")
                    .weak(),
            );
            ui.add_space(12.0);
            if ui.button("Import a file…").clicked() {
                cmds.push(DataCommand::PickImportFile.into());
            }
            if ui.button("Import from a database or URL…").clicked() {
                cmds.push(DataCommand::OpenRemoteImport.into());
            }
        });
    }

    fn importing(ui: &mut egui::Ui, ctl: &DataController, importing: &Importing) {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.heading(format!(
                "Importing {} as {}",
                importing.path.display(),
                importing.name
            ));
        });
        if let Some(p) = ctl.import_progress() {
            let (fraction, step) = (p.fraction(), p.step());
            ui.add(egui::ProgressBar::new(fraction).text(step).animate(true));
        }
        ui.separator();
        match &importing.preview {
            Some(df) => {
                ui.label(format!(
                    "First {} rows, shown while the full file is imported:",
                    df.height()
                ));
                data_table::show(ui, "importing", df, None, None);
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Reading the first rows…");
                });
            }
        }
    }

    fn version_view(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        ctl: &DataController,
        cmds: &mut Vec<Command>,
    ) {
        let Some(v) = &ctl.current.version else {
            return;
        };
        if self.filter_for != Some(v.id) {
            self.filter_for = Some(v.id);
            self.filter.clone_from(&ctl.current.filter);
        }
        ui.horizontal(|ui| {
            ui.heading(format!("{}@{}", v.dataset, v.version));
            let shown = ctl.current.view.as_ref().map_or(0, TableData::height);
            let cols = v.schema.as_array().map_or(0, Vec::len);
            let rows = if ctl.current.filter.trim().is_empty() {
                format!("{} rows", v.row_count)
            } else {
                format!("{shown} of {} rows", v.row_count)
            };
            ui.label(format!(
                "{rows} × {cols} columns · {} · blake3 {}",
                human_bytes(v.byte_size),
                &v.content_hash[..12]
            ));
            let briefs = state.briefs_judging(v.id);
            if !briefs.is_empty() {
                crate::gui::widgets::badge::badge(
                    ui,
                    &format!("evaluation data of {}", briefs.join(", ")),
                    crate::gui::widgets::badge::AMBER,
                );
            }
        });
        ui.horizontal(|ui| {
            for (tab, name) in [
                (Tab::Table, "Table"),
                (Tab::Stats, "Stats"),
                (Tab::Histogram, "Histogram"),
                (Tab::Scatter, "Scatter"),
                (Tab::Versions, "Versions"),
            ] {
                if ui.selectable_label(self.tab == tab, name).clicked() {
                    self.tab = tab;
                }
            }
            ui.separator();
            let l = ui.label("Filter");
            let example = match &ctl.current.view {
                Some(TableData::Memory(df)) => kiln_core::data::filter_example(df),
                _ => None,
            };
            let edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.filter)
                        .hint_text(example.map_or_else(
                            || "a polars SQL condition on the columns".to_owned(),
                            |e| format!("e.g. {e}"),
                        ))
                        .desired_width(340.0),
                )
                .labelled_by(l.id);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Apply").clicked() || enter {
                cmds.push(DataCommand::SetFilter(self.filter.clone()).into());
            }
            if !ctl.current.filter.is_empty() && ui.button("Clear").clicked() {
                self.filter.clear();
                cmds.push(DataCommand::SetFilter(String::new()).into());
            }
            if ctl.filtering() {
                ui.spinner();
            }
        });
        if let Some(TableData::Paged(p)) = &ctl.current.base {
            ui.label(
                egui::RichText::new(format!(
                    "Larger than the memory budget ({}): rows are read from disk as you scroll; sort and \
                     filter stream through it.",
                    human_bytes(state.ws.memory_budget() as i64)
                ))
                .weak(),
            );
            if let Some(e) = p.read_error() {
                ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {e}"));
            }
        }
        if let Some(e) = &ctl.current.filter_error {
            ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {e}"));
        }
        ui.separator();
        let Some(df) = ctl.current.view.clone() else {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Loading…");
            });
            return;
        };
        match self.tab {
            Tab::Table => {
                let sorted = ctl.current.sort.as_ref().map(|(c, d)| (c.as_str(), *d));
                let mut clicked = None;
                data_table::show_table(ui, "data-table", &df, sorted, Some(&mut clicked));
                if let Some(c) = clicked {
                    cmds.push(DataCommand::SortBy(c).into());
                }
            }
            Tab::Stats => self.stats_tab(ui, ctl, &df, cmds),
            Tab::Histogram => self.histogram_tab(ui, ctl, &df, cmds),
            Tab::Scatter => self.scatter_tab(ui, ctl, &df, cmds),
            Tab::Versions => self.versions_tab(ui, state, ctl, &df, cmds),
        }
    }

    fn stats_tab(
        &mut self,
        ui: &mut egui::Ui,
        ctl: &DataController,
        df: &TableData,
        cmds: &mut Vec<Command>,
    ) {
        let running = ctl.stats_job();
        if ctl.current.stats.is_none() && running.is_none() && self.stats_requested != identity(df)
        {
            self.stats_requested = identity(df);
            cmds.push(DataCommand::ComputeStats.into());
        }
        if let Some((job, progress)) = running {
            ui.horizontal(|ui| {
                let (fraction, step) = (progress.fraction(), progress.step());
                ui.label("Computing statistics…");
                ui.add(
                    egui::ProgressBar::new(fraction)
                        .desired_width(240.0)
                        .text(step),
                );
                if ui.button("Cancel").clicked() {
                    cmds.push(ShellCommand::CancelJob(job).into());
                }
            });
        }
        let Some(columns) = &ctl.current.stats else {
            if running.is_none() && ui.button("Compute statistics").clicked() {
                cmds.push(DataCommand::ComputeStats.into());
            }
            return;
        };
        if let Some(n) = columns.iter().find_map(|c| c.sample_rows) {
            ui.label(format!(
                "Computed from a sample: unique, median and quartiles come from {n} evenly spaced rows; \
                 count, nulls, min, max, mean and std cover all {} rows.",
                df.height()
            ));
        }
        let num = |x: Option<f64>| x.map_or_else(String::new, |x| format!("{x:.5}"));
        let val = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            v => v.to_string(),
        };
        let headers = [
            "column", "dtype", "count", "nulls", "unique", "min", "max", "mean", "std", "median",
            "25%", "75%",
        ];
        egui::ScrollArea::horizontal()
            .id_salt("stats-h")
            .show(ui, |ui| {
                TableBuilder::new(ui)
                    .id_salt("stats")
                    .striped(true)
                    .resizable(true)
                    .column(Column::initial(130.0).clip(true))
                    .column(Column::initial(44.0).clip(true))
                    .columns(Column::initial(56.0).clip(true), 3)
                    .columns(Column::initial(74.0).clip(true), headers.len() - 5)
                    .header(22.0, |mut h| {
                        for name in headers {
                            h.col(|ui| {
                                ui.strong(name);
                            });
                        }
                    })
                    .body(|body| {
                        body.rows(20.0, columns.len(), |mut row| {
                            let s = &columns[row.index()];
                            let cells = [
                                s.name.clone(),
                                s.dtype.clone(),
                                s.count.to_string(),
                                s.nulls.to_string(),
                                s.unique.to_string(),
                                val(&s.min),
                                val(&s.max),
                                num(s.mean),
                                num(s.std),
                                num(s.median),
                                num(s.q25),
                                num(s.q75),
                            ];
                            for c in cells {
                                row.col(|ui| {
                                    ui.label(c);
                                });
                            }
                        });
                    });
            });
    }

    fn column_picker(
        ui: &mut egui::Ui,
        label: &str,
        id: &str,
        columns: &[String],
        slot: &mut Option<String>,
        allow_none: bool,
    ) {
        let l = ui.label(label);
        egui::ComboBox::from_id_salt(id)
            .selected_text(slot.as_deref().unwrap_or("(none)"))
            .width(180.0)
            .show_ui(ui, |ui| {
                if allow_none {
                    ui.selectable_value(slot, None, "(none)");
                }
                for c in columns {
                    ui.selectable_value(slot, Some(c.clone()), c);
                }
            })
            .response
            .labelled_by(l.id);
    }

    fn histogram_tab(
        &mut self,
        ui: &mut egui::Ui,
        ctl: &DataController,
        df: &TableData,
        cmds: &mut Vec<Command>,
    ) {
        let names = df.column_names();
        if self.hist_column.as_ref().is_none_or(|c| !names.contains(c)) {
            self.hist_column = names.first().cloned();
        }
        ui.horizontal(|ui| {
            Self::column_picker(
                ui,
                "Column",
                "hist-col",
                &names,
                &mut self.hist_column,
                false,
            );
            if ctl.plotting() {
                ui.spinner();
            }
        });
        let Some(col) = self.hist_column.clone() else {
            return;
        };
        let have = ctl.current.plot.as_ref().is_some_and(|(c, _)| *c == col);
        let want = (identity(df), col.clone());
        if !have && self.plot_requested.as_ref() != Some(&want) {
            self.plot_requested = Some(want);
            cmds.push(DataCommand::Histogram(col.clone()).into());
        }
        match &ctl.current.plot {
            Some((c, ColumnPlot::Histogram(h))) if *c == col => plots::histogram(ui, c, h),
            Some((c, ColumnPlot::Counts(v))) if *c == col => plots::counts(ui, c, v),
            _ => {}
        }
    }

    fn scatter_tab(
        &mut self,
        ui: &mut egui::Ui,
        ctl: &DataController,
        df: &TableData,
        cmds: &mut Vec<Command>,
    ) {
        let numeric = df.numeric_columns();
        let all = df.column_names();
        if numeric.len() < 2 {
            ui.label("A scatter plot needs two numeric columns; this dataset has fewer.");
            return;
        }
        if self.scatter_x.as_ref().is_none_or(|c| !numeric.contains(c)) {
            self.scatter_x = numeric.first().cloned();
        }
        if self.scatter_y.as_ref().is_none_or(|c| !numeric.contains(c)) {
            self.scatter_y = numeric.get(1).cloned();
        }
        if self
            .scatter_color
            .as_ref()
            .is_some_and(|c| !all.contains(c))
        {
            self.scatter_color = None;
        }
        ui.horizontal(|ui| {
            Self::column_picker(ui, "X", "sx", &numeric, &mut self.scatter_x, false);
            Self::column_picker(ui, "Y", "sy", &numeric, &mut self.scatter_y, false);
            Self::column_picker(ui, "Color by", "sc", &all, &mut self.scatter_color, true);
            if ctl.scattering() {
                ui.spinner();
            }
        });
        let (Some(x), Some(y)) = (self.scatter_x.clone(), self.scatter_y.clone()) else {
            return;
        };
        let want = (
            identity(df),
            x.clone(),
            y.clone(),
            self.scatter_color.clone(),
        );
        if self.scatter_requested.as_ref() != Some(&want) {
            self.scatter_requested = Some(want);
            cmds.push(
                DataCommand::Scatter {
                    x: x.clone(),
                    y: y.clone(),
                    color: self.scatter_color.clone(),
                }
                .into(),
            );
        }
        if let Some(series) = &ctl.current.scatter {
            if ctl.current.scatter_rows < df.height() {
                ui.label(format!(
                    "Computed from a sample: {} evenly spaced rows of {}.",
                    ctl.current.scatter_rows,
                    df.height()
                ));
            }
            plots::scatter(ui, &x, &y, series);
        }
    }
}

impl DataPanel {
    /// A derived dataset's recipe, editable: saving it makes the next version under the next recipe
    /// version (never a silent change).
    fn recipe_editor(
        &mut self,
        ui: &mut egui::Ui,
        ctl: &DataController,
        current: &kiln_core::DatasetVersion,
        recipe: &kiln_core::sources::Recipe,
        cmds: &mut Vec<Command>,
    ) {
        if self.recipe.as_ref().is_none_or(|(id, _)| *id != current.id) {
            self.recipe = Some((current.id, recipe.sql.clone()));
        }
        let Some((_, sql)) = &mut self.recipe else {
            return;
        };
        let n = current.details["recipe"]["recipe_version"]
            .as_i64()
            .unwrap_or(1);
        ui.horizontal(|ui| {
            let l = ui.label(egui::RichText::new("Recipe").strong());
            ui.add(
                egui::TextEdit::multiline(sql)
                    .code_editor()
                    .desired_rows(2)
                    .desired_width(ui.available_width() - 190.0),
            )
            .labelled_by(l.id);
            let changed = sql.trim() != recipe.sql.trim() && !sql.trim().is_empty();
            if ui
                .add_enabled(
                    changed && !ctl.deriving(),
                    egui::Button::new(format!("Save as recipe v{}", n + 1)),
                )
                .on_hover_text(
                    "Runs the new recipe on the parent: the next version of this dataset",
                )
                .clicked()
            {
                cmds.push(
                    DataCommand::EditRecipe {
                        dataset: current.dataset.clone(),
                        recipe: kiln_core::sources::Recipe {
                            sql: sql.trim().to_owned(),
                            ..recipe.clone()
                        },
                    }
                    .into(),
                );
            }
        });
    }

    fn versions_tab(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        ctl: &DataController,
        df: &TableData,
        cmds: &mut Vec<Command>,
    ) {
        let Some(current) = &ctl.current.version else {
            return;
        };
        let dataset = current.dataset.clone();
        let versions = state.versions.get(&dataset).map_or(&[][..], Vec::as_slice);
        let number_of = |id: Option<i64>| {
            id.and_then(|id| versions.iter().find(|v| v.id == id))
                .map_or_else(|| "—".to_owned(), |v| format!("v{}", v.version))
        };
        if self
            .diff_b
            .is_none_or(|b| !versions.iter().any(|v| v.version == b))
        {
            self.diff_b = versions.last().map(|v| v.version);
            self.diff_a = current
                .parent_id
                .and_then(|p| versions.iter().find(|v| v.id == p))
                .map(|v| v.version)
                .or_else(|| versions.first().map(|v| v.version));
        }
        ui.horizontal(|ui| {
            let busy = ctl.deriving();
            if ui
                .add_enabled(
                    !busy && current.source_path.is_some(),
                    egui::Button::new("Pull from source"),
                )
                .on_hover_text(current.source_path.clone().unwrap_or_default())
                .clicked()
            {
                cmds.push(DataCommand::Pull(dataset.clone()).into());
            }
            if ui
                .add_enabled(
                    !busy && !ctl.current.filter.trim().is_empty(),
                    egui::Button::new("Save filter as version"),
                )
                .on_hover_text("A new version with the rows of the current filter")
                .clicked()
            {
                cmds.push(DataCommand::SaveFilterVersion.into());
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Export…"))
                .clicked()
            {
                cmds.push(DataCommand::PickExport.into());
            }
            if busy {
                ui.spinner();
            }
        });
        ui.horizontal(|ui| {
            ui.label("Split");
            for (i, name) in ["train", "validation", "test"].iter().enumerate() {
                let l = ui.label(*name);
                ui.add(
                    egui::DragValue::new(&mut self.split_ratios[i])
                        .range(0.0..=1.0)
                        .speed(0.01),
                )
                .labelled_by(l.id);
            }
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.split_seed))
                .labelled_by(l.id);
            let names = df.column_names();
            Self::column_picker(
                ui,
                "stratify by",
                "split-strat",
                &names,
                &mut self.split_stratify,
                true,
            );
            if ui.button("Create split version").clicked() {
                cmds.push(
                    DataCommand::Split {
                        ratios: self.split_ratios,
                        seed: self.split_seed,
                        stratify: self.split_stratify.clone(),
                    }
                    .into(),
                );
            }
        });
        if let Some(source) = source_text(current) {
            ui.horizontal_wrapped(|ui| {
                ui.label(egui::RichText::new("Source").strong());
                ui.label(source);
            });
        }
        if let Some(recipe) = kiln_core::sources::recipe_of(current) {
            self.recipe_editor(ui, ctl, current, &recipe, cmds);
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.strong("History");
            ui.label(egui::RichText::new("pick A and B to compare").weak());
        });
        let headers = [
            "A",
            "B",
            "version",
            "operation",
            "parent",
            "rows",
            "author",
            "created",
            "message",
        ];
        TableBuilder::new(ui)
            .id_salt("versions")
            .striped(true)
            .resizable(false)
            .columns(Column::exact(24.0), 2)
            .column(Column::initial(60.0))
            .column(Column::initial(80.0))
            .column(Column::initial(56.0))
            .column(Column::initial(70.0))
            .column(Column::initial(80.0))
            .column(Column::initial(150.0))
            .column(Column::remainder().clip(true))
            .max_scroll_height(220.0)
            .header(20.0, |mut h| {
                for name in headers {
                    h.col(|ui| {
                        ui.strong(name);
                    });
                }
            })
            .body(|body| {
                body.rows(20.0, versions.len(), |mut row| {
                    let v = &versions[versions.len() - 1 - row.index()];
                    row.col(|ui| {
                        ui.radio_value(&mut self.diff_a, Some(v.version), "")
                            .on_hover_text(format!("A = v{}", v.version));
                    });
                    row.col(|ui| {
                        ui.radio_value(&mut self.diff_b, Some(v.version), "")
                            .on_hover_text(format!("B = v{}", v.version));
                    });
                    let cells = [
                        format!("v{}", v.version),
                        v.operation.clone(),
                        // A derived version's parent is in another dataset: named in full.
                        v.details["recipe"]["from"]
                            .as_str()
                            .map_or_else(|| number_of(v.parent_id), str::to_owned),
                        v.row_count.to_string(),
                        v.author.clone().unwrap_or_default(),
                        v.created_at.replace('T', " ").chars().take(19).collect(),
                        v.message
                            .clone()
                            .unwrap_or_else(|| details_text(&v.details)),
                    ];
                    for c in cells {
                        row.col(|ui| {
                            ui.label(c);
                        });
                    }
                });
            });
        ui.horizontal(|ui| {
            if let (Some(a), Some(b)) = (self.diff_a, self.diff_b)
                && ui.button(format!("Diff v{a} to v{b}")).clicked()
            {
                cmds.push(
                    DataCommand::Diff {
                        a: format!("{dataset}@{a}"),
                        b: format!("{dataset}@{b}"),
                    }
                    .into(),
                );
            }
            if ctl.diffing() {
                ui.spinner();
            }
        });
        if let Some((a, b, d)) = &ctl.diff {
            ui.separator();
            ui.strong(format!("{a} to {b}"));
            ui.label(format!(
                "{} to {} rows · {} added · {} removed · {} changed rows ({} cells)",
                d.rows_a, d.rows_b, d.added, d.removed, d.changed_rows, d.changed_cells
            ));
            if !d.columns_added.is_empty() || !d.columns_removed.is_empty() {
                ui.label(format!(
                    "columns added: {} · removed: {}",
                    join_or_dash(&d.columns_added),
                    join_or_dash(&d.columns_removed)
                ));
            }
            if !d.label_changes.is_empty() {
                egui::Grid::new("label-changes")
                    .striped(true)
                    .num_columns(4)
                    .show(ui, |ui| {
                        for h in ["column", "from", "to", "rows"] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for l in &d.label_changes {
                            ui.label(&l.column);
                            ui.label(&l.from);
                            ui.label(&l.to);
                            ui.label(l.count.to_string());
                            ui.end_row();
                        }
                    });
            }
        }
    }
}

fn cursor_text(c: &serde_json::Value) -> String {
    c.as_str().map_or_else(|| c.to_string(), str::to_owned)
}

fn join_or_dash(v: &[String]) -> String {
    if v.is_empty() {
        "—".into()
    } else {
        v.join(", ")
    }
}

/// Where a version's rows came from, in one line (`None` for a version made in the workspace).
fn source_text(v: &kiln_core::DatasetVersion) -> Option<String> {
    if let Some(r) = kiln_core::sources::recipe_of(v) {
        let mut text = format!(
            "derived from {} by recipe v{}: {}",
            r.from,
            v.details["recipe"]["recipe_version"].as_i64().unwrap_or(1),
            r.sql.trim()
        );
        if let (Some(j), Some(on)) = (&r.join, &r.on) {
            let _ = write!(text, " · joined with {j} on `{on}`");
        }
        return Some(text);
    }
    let source = v.source_path.as_deref()?;
    Some(match kiln_core::sources::query_source_of(v) {
        Some(q) => {
            let mut text = format!("{source} · {}", q.query.trim());
            if let Some(c) = &q.incremental_by {
                let _ = write!(text, " · pulls read past the largest `{c}`");
            }
            if let Some(k) = &q.primary_key {
                let _ = write!(text, ", rows replaced by `{k}`");
            }
            text
        }
        None => source.to_owned(),
    })
}

/// A short description of an operation's parameters.
fn details_text(details: &serde_json::Value) -> String {
    if let Some(from) = details["recipe"]["from"].as_str() {
        return format!(
            "from {from} by recipe v{}",
            details["recipe"]["recipe_version"].as_i64().unwrap_or(1)
        );
    }
    let pull = &details["pull"];
    if let Some(rows) = pull["rows_read"].as_u64() {
        return match (pull["incremental"].as_bool(), &pull["cursor"]) {
            (Some(true), c) => format!(
                "{rows} new or changed row(s) read; cursor now {}",
                cursor_text(c)
            ),
            (_, c) if !c.is_null() => format!("{rows} row(s) read; cursor {}", cursor_text(c)),
            _ => format!("{rows} row(s) read"),
        };
    }
    if pull["bytes"].is_u64() {
        let tag = pull["etag"]
            .as_str()
            .map(|e| format!("ETag {e}"))
            .or_else(|| {
                pull["last_modified"]
                    .as_str()
                    .map(|t| format!("modified {t}"))
            })
            .unwrap_or_default();
        return format!(
            "fetched {} {tag}",
            human_bytes(pull["bytes"].as_i64().unwrap_or_default())
        );
    }
    if let Some(w) = details["where"].as_str() {
        return format!("where {w}");
    }
    if let Some(c) = details["column"].as_str() {
        return format!("{} label(s) on {c}", details["labels"]);
    }
    if details["ratios"].is_array() {
        return format!("split {} seed {}", details["ratios"], details["seed"]);
    }
    String::new()
}

fn human_bytes(n: i64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}
