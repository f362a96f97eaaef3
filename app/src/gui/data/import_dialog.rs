//! The import dialog: options on the left, a live preview of the first rows and the inferred schema on the
//! right, re-read (on a worker thread) whenever an option changes. Two tabs: *From a file*, and *From a
//! database or URL* (a PostgreSQL or MariaDB query, a file behind an `https://` URL, or objects of a
//! store by `s3://`, `gs://` or `az://`), whose preview is re-read
//! once the fields have rested for a moment.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_core::data::polars::prelude::DataFrame;
use kiln_core::{Format, ImportOptions};

use super::{DataCommand, RemoteSpec};
use crate::gui::command::Command;
use crate::gui::widgets::data_table;

/// Which tab of the dialog is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportTab {
    File,
    Remote,
}

/// The *From a database or URL* tab's fields.
#[derive(Default)]
struct RemoteForm {
    url: String,
    password: String,
    query: String,
    incremental_by: String,
    primary_key: String,
    /// When a field last changed: the preview waits for the typing to rest.
    edited: Option<Instant>,
}

impl RemoteForm {
    fn is_database(&self) -> bool {
        kiln_core::sources::QuerySource::is_database_url(self.url.trim())
    }

    fn spec(&self, name: &str) -> RemoteSpec {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let database = self.is_database();
        RemoteSpec {
            url: self.url.trim().to_owned(),
            query: if database {
                self.query.trim().to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
            incremental_by: some(&self.incremental_by).filter(|_| database),
            primary_key: some(&self.primary_key).filter(|_| database),
        }
    }
}

/// A dataset name from a file's name: letters, digits, `_ - .`, anything else as `_`.
fn sanitized_stem(path: &std::path::Path) -> String {
    path.file_stem()
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
        .unwrap_or_default()
}

pub struct ImportDialog {
    tab: ImportTab,
    remote: RemoteForm,
    /// The remote spec the current preview was read for.
    remote_previewed: Option<RemoteSpec>,
    path: Option<PathBuf>,
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
        let mut d = Self::empty(ImportTab::File);
        d.name = sanitized_stem(&path);
        d.path = Some(path);
        d
    }

    /// The dialog on its *From a database or URL* tab.
    pub fn remote() -> Self {
        Self::empty(ImportTab::Remote)
    }

    fn empty(tab: ImportTab) -> Self {
        let options = ImportOptions::default();
        Self {
            tab,
            remote: RemoteForm::default(),
            remote_previewed: None,
            path: None,
            name: String::new(),
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

    /// The command that reads the preview of the current tab (`None` with nothing to read yet).
    pub fn preview_command(&self) -> Option<Command> {
        match self.tab {
            ImportTab::File => self.path.clone().map(|path| {
                DataCommand::PreviewImport {
                    path,
                    options: self.options.clone(),
                }
                .into()
            }),
            ImportTab::Remote => {
                let spec = self.remote.spec(&self.name);
                (!spec.url.is_empty() && (!self.remote.is_database() || !spec.query.is_empty()))
                    .then(|| DataCommand::PreviewRemote(spec).into())
            }
        }
    }

    /// Hand a typed password to the process (memory only) before a database is read.
    fn remember_password(&self) {
        if self.remote.is_database() && !self.remote.password.is_empty() {
            kiln_core::sources::remember_password(self.remote.url.trim(), &self.remote.password);
        }
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
            .default_size([900.0, 560.0])
            .resizable(true)
            .collapsible(false)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    let before = self.tab;
                    ui.selectable_value(&mut self.tab, ImportTab::File, "From a file");
                    ui.selectable_value(&mut self.tab, ImportTab::Remote, "From a database or URL");
                    if self.tab != before {
                        self.preview = None;
                        self.previewed = None;
                        self.remote_previewed = None;
                    }
                });
                ui.separator();
                match self.tab {
                    ImportTab::File => match &self.path {
                        Some(p) => {
                            ui.label(format!("File: {}", p.display()));
                        }
                        None => {
                            if ui.button("Choose a file…").clicked() {
                                cmds.push(DataCommand::PickImportFile.into());
                            }
                        }
                    },
                    ImportTab::Remote => {
                        ui.label(
                            "A query on PostgreSQL (postgres://user@host:5432/db) or MySQL/MariaDB \
                             (mysql://…), a file behind an https:// URL, or objects in a store \
                             (s3://, gs://, az://bucket/path/*.csv). Pulls read it again later.",
                        );
                    }
                }
                egui::Panel::left("import-options")
                    .resizable(false)
                    .exact_size(300.0)
                    .show(ui, |ui| match self.tab {
                        ImportTab::File => self.options_ui(ui, cmds, keep),
                        ImportTab::Remote => self.remote_ui(ui, cmds, keep),
                    });
                egui::CentralPanel::default().show(ui, |ui| self.preview_ui(ui));
            });
        if !open {
            *keep = false;
        }
        self.sync_options();
        match self.tab {
            ImportTab::File => {
                if self.path.is_some() && self.previewed.as_ref() != Some(&self.options) {
                    self.previewed = Some(self.options.clone());
                    cmds.extend(self.preview_command());
                }
            }
            ImportTab::Remote => {
                // Read again once the typing has rested.
                let spec = self.remote.spec(&self.name);
                let rested = self
                    .remote
                    .edited
                    .is_none_or(|t| t.elapsed() >= Duration::from_millis(600));
                let changed = self
                    .remote_previewed
                    .as_ref()
                    .is_none_or(|p| p.url != spec.url || p.query != spec.query);
                if changed && rested {
                    if let Some(c) = self.preview_command() {
                        self.remember_password();
                        self.preview = None;
                        cmds.push(c);
                    }
                    self.remote_previewed = Some(spec);
                } else if changed {
                    ctx.request_repaint_after(Duration::from_millis(200));
                }
            }
        }
    }

    /// Whether the dataset name is one Kiln takes; when not, says what it may hold.
    fn name_valid(&self, ui: &mut egui::Ui) -> bool {
        let valid = kiln_core::validate_name(&self.name).is_ok();
        if !valid {
            ui.colored_label(
                ui.visuals().error_fg_color,
                "Name: letters, digits, _ - . only",
            );
        }
        valid
    }

    fn remote_ui(&mut self, ui: &mut egui::Ui, cmds: &mut Vec<Command>, keep: &mut bool) {
        let mut edited = false;
        egui::Grid::new("remote-grid")
            .num_columns(2)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                let l = ui.label("Source");
                edited |= ui
                    .add(
                        egui::TextEdit::singleline(&mut self.remote.url)
                            .hint_text("postgres://, mysql://user@host/db or https://…/file.csv")
                            .desired_width(200.0),
                    )
                    .labelled_by(l.id)
                    .changed();
                ui.end_row();
                if self.remote.is_database() {
                    let l = ui.label("Password");
                    edited |= ui
                        .add(
                            egui::TextEdit::singleline(&mut self.remote.password)
                                .password(true)
                                .hint_text("or PGPASSWORD / MYSQL_PWD")
                                .desired_width(200.0),
                        )
                        .labelled_by(l.id)
                        .on_hover_text(
                            "Kept in memory while Kiln runs; never written to the workspace",
                        )
                        .changed();
                    ui.end_row();
                    let l = ui.label("Query");
                    edited |= ui
                        .add(
                            egui::TextEdit::multiline(&mut self.remote.query)
                                .hint_text("SELECT * FROM orders")
                                .code_editor()
                                .desired_rows(4)
                                .desired_width(200.0),
                        )
                        .labelled_by(l.id)
                        .changed();
                    ui.end_row();
                }
                let l = ui.label("Dataset name");
                ui.text_edit_singleline(&mut self.name).labelled_by(l.id);
                ui.end_row();
                if self.remote.is_database() {
                    let l = ui.label("New rows by");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.remote.incremental_by)
                            .hint_text("column (optional)")
                            .desired_width(200.0),
                    )
                    .labelled_by(l.id)
                    .on_hover_text(
                        "A column that grows with new and changed rows (an id, an updated_at): \
                         pulls then read only the rows past its largest value",
                    );
                    ui.end_row();
                    let l = ui.label("Key");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.remote.primary_key)
                            .hint_text("column (optional)")
                            .desired_width(200.0),
                    )
                    .labelled_by(l.id)
                    .on_hover_text("Rows read again replace the rows with their key");
                    ui.end_row();
                }
            });
        if edited {
            self.remote.edited = Some(Instant::now());
        }
        ui.add_space(12.0);
        let valid = self.name_valid(ui);
        let ok_preview = matches!(self.preview, Some(Ok(_)));
        let spec = self.remote.spec(&self.name);
        let keys_ok = spec.primary_key.is_none() || spec.incremental_by.is_some();
        if !keys_ok {
            ui.colored_label(
                ui.visuals().error_fg_color,
                "A key needs the column new rows are found by",
            );
        }
        ui.horizontal(|ui| {
            // A Parquet file over HTTP has no preview: it can still be imported.
            let parquet_url = !self.remote.is_database()
                && matches!(&self.preview, Some(Err(e)) if e.contains("read whole"));
            if ui
                .add_enabled(
                    valid && keys_ok && (ok_preview || parquet_url),
                    egui::Button::new("Import"),
                )
                .clicked()
            {
                self.remember_password();
                cmds.push(DataCommand::StartRemoteImport(spec).into());
                *keep = false;
            }
            if ui.button("Cancel").clicked() {
                *keep = false;
            }
        });
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
        let valid = self.name_valid(ui);
        let ok_preview = matches!(self.preview, Some(Ok(_)));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(valid && ok_preview, egui::Button::new("Import"))
                .clicked()
                && let Some(path) = self.path.clone()
            {
                cmds.push(
                    DataCommand::StartImport {
                        path,
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
            None if self.preview_command().is_none() => {
                ui.label(
                    egui::RichText::new(match self.tab {
                        ImportTab::File => "Choose a file to see its first rows",
                        ImportTab::Remote => "Type a source (and a query) to see its first rows",
                    })
                    .weak(),
                );
            }
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
