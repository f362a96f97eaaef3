//! The import dialog: options on the left, a live preview of the first rows and the inferred schema on the
//! right, re-read (on a worker thread) whenever an option changes.

use std::path::PathBuf;
use std::sync::Arc;

use kiln_core::data::polars::prelude::DataFrame;
use kiln_core::{Format, ImportOptions};

use super::DataCommand;
use crate::gui::command::Command;
use crate::gui::widgets::data_table;

pub struct ImportDialog {
    path: PathBuf,
    name: String,
    options: ImportOptions,
    delimiter: String,
    quote: String,
    nulls: String,
    preview: Option<Result<Arc<DataFrame>, String>>,
    /// The options the current preview was read with.
    previewed: Option<ImportOptions>,
}

impl ImportDialog {
    pub fn new(path: PathBuf) -> Self {
        let name = path
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .chars()
                    .map(|c| {
                        if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let options = ImportOptions::default();
        Self {
            path,
            name,
            delimiter: String::new(),
            quote: "\"".into(),
            nulls: options
                .null_values
                .iter()
                .map(|n| {
                    if n.is_empty() {
                        "<empty>".to_owned()
                    } else {
                        n.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            options,
            preview: None,
            previewed: None,
        }
    }

    pub fn preview_command(&self) -> Command {
        DataCommand::PreviewImport {
            path: self.path.clone(),
            options: self.options.clone(),
        }
        .into()
    }

    pub fn set_preview(&mut self, r: Result<DataFrame, String>) {
        self.preview = Some(r.map(Arc::new));
    }

    fn sync_options(&mut self) {
        let one = |s: &str| {
            let s = if s == "\\t" { "\t" } else { s };
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            }
        };
        self.options.delimiter = one(&self.delimiter);
        self.options.quote_char = one(&self.quote);
        self.options.null_values = self
            .nulls
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s == "<empty>" {
                    String::new()
                } else {
                    s.to_owned()
                }
            })
            .collect();
    }

    pub fn ui(&mut self, ctx: &egui::Context, cmds: &mut Vec<Command>, keep: &mut bool) {
        let mut open = true;
        egui::Window::new("Import dataset")
            .open(&mut open)
            .default_size([900.0, 520.0])
            .resizable(true)
            .collapsible(false)
            .show(ctx, |ui| {
                ui.label(format!("File: {}", self.path.display()));
                ui.separator();
                egui::Panel::left("import-options")
                    .resizable(false)
                    .exact_size(260.0)
                    .show(ui, |ui| {
                        self.options_ui(ui, cmds, keep);
                    });
                egui::CentralPanel::default().show(ui, |ui| self.preview_ui(ui));
            });
        if !open {
            *keep = false;
        }
        self.sync_options();
        if self.previewed.as_ref() != Some(&self.options) {
            self.previewed = Some(self.options.clone());
            cmds.push(self.preview_command());
        }
    }

    fn options_ui(&mut self, ui: &mut egui::Ui, cmds: &mut Vec<Command>, keep: &mut bool) {
        egui::Grid::new("import-grid")
            .num_columns(2)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                let l = ui.label("Dataset name");
                ui.text_edit_singleline(&mut self.name).labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Format");
                egui::ComboBox::from_id_salt("format")
                    .selected_text(self.options.format.label())
                    .show_ui(ui, |ui| {
                        for f in Format::ALL {
                            ui.selectable_value(&mut self.options.format, f, f.label());
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Delimiter");
                ui.add(
                    egui::TextEdit::singleline(&mut self.delimiter)
                        .hint_text(", (\\t for tab)")
                        .desired_width(60.0),
                )
                .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Quote char");
                ui.add(egui::TextEdit::singleline(&mut self.quote).desired_width(60.0))
                    .labelled_by(l.id);
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut self.options.has_header, "First row is a header");
                ui.end_row();
                let l = ui.label("Skip rows");
                ui.add(egui::DragValue::new(&mut self.options.skip_rows).range(0..=1_000_000))
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Null values");
                ui.text_edit_singleline(&mut self.nulls)
                    .labelled_by(l.id)
                    .on_hover_text("Comma-separated; <empty> means an empty field");
                ui.end_row();
            });
        ui.add_space(12.0);
        let valid = kiln_core::validate_name(&self.name).is_ok();
        if !valid {
            ui.colored_label(
                ui.visuals().error_fg_color,
                "Name: letters, digits, _ - . only",
            );
        }
        let ok_preview = matches!(self.preview, Some(Ok(_)));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(valid && ok_preview, egui::Button::new("Import"))
                .clicked()
            {
                cmds.push(
                    DataCommand::StartImport {
                        path: self.path.clone(),
                        name: self.name.clone(),
                        options: self.options.clone(),
                    }
                    .into(),
                );
                *keep = false;
            }
            if ui.button("Cancel").clicked() {
                *keep = false;
            }
        });
    }

    fn preview_ui(&mut self, ui: &mut egui::Ui) {
        match &self.preview {
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Reading the first rows…");
                });
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {e}"));
            }
            Some(Ok(df)) => {
                ui.label(format!(
                    "Preview: first {} rows · {} columns",
                    df.height(),
                    df.width()
                ));
                let schema = kiln_core::data::schema_of(df)
                    .into_iter()
                    .map(|c| format!("{}: {}", c.name, c.dtype))
                    .collect::<Vec<_>>()
                    .join("   ");
                egui::ScrollArea::horizontal()
                    .id_salt("schema")
                    .show(ui, |ui| {
                        ui.label(
                            egui::RichText::new(format!("Schema  {schema}"))
                                .monospace()
                                .small(),
                        );
                    });
                ui.separator();
                let df = df.clone();
                data_table::show(ui, "import-preview", &df, None, None);
            }
        }
    }
}
