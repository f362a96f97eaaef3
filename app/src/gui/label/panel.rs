//! The Label panel: keyboard-first labeling of a dataset version. A row form for tabular data and an
//! image grid (pixel columns such as digits' 8×8, or an image column) with multi-select and bulk
//! labeling. Every keystroke is saved to the workspace draft at once; "Commit labels" turns the draft
//! into a new version whose parent is the labelled one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use kiln_core::LabelClass;
use kiln_core::data::polars::prelude::*;
use kiln_core::labels::{LabelSession, classes_with_hotkeys};

use super::{LabelCommand, LabelController};
use crate::gui::command::Command;
use crate::gui::state::AppState;

fn color_of(hex: &str) -> egui::Color32 {
    egui::Color32::from_hex(hex).unwrap_or(egui::Color32::GRAY)
}

/// The egui key for a hotkey name.
fn key_of(name: &str) -> Option<egui::Key> {
    egui::Key::from_name(name)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum View {
    #[default]
    Form,
    Grid,
}

/// How grid thumbnails are drawn.
#[derive(Clone, Debug, PartialEq)]
struct PixelSpec {
    /// First pixel column (by position among the data columns) and the image size.
    first: usize,
    width: usize,
    height: usize,
    max_value: f64,
}

pub struct LabelPanel {
    column_input: String,
    view: View,
    pixels: PixelSpec,
    /// Positions selected in the grid.
    selected: BTreeSet<usize>,
    anchor: Option<usize>,
    search: String,
    message: String,
    new_class: String,
    /// Thumbnails by row id (pixel data or decoded images).
    textures: HashMap<u64, egui::TextureHandle>,
    textures_for: Option<i64>,
    /// Decoded images arriving from worker threads.
    decoded_rx: Option<std::sync::mpsc::Receiver<(u64, Result<egui::ColorImage, String>)>>,
    decode_tx: Option<std::sync::mpsc::SyncSender<(u64, Vec<u8>)>>,
    pending: BTreeSet<u64>,
    broken: HashMap<u64, String>,
    drag_start: Option<egui::Pos2>,
    page: usize,
    author: String,
    /// Classes being edited (hotkeys and colours), until saved.
    schema_edit: Option<Vec<LabelClass>>,
    assist: super::assist::AssistView,
}

impl Default for LabelPanel {
    fn default() -> Self {
        Self {
            column_input: String::new(),
            view: View::Form,
            pixels: PixelSpec {
                first: 0,
                width: 8,
                height: 8,
                max_value: 16.0,
            },
            selected: BTreeSet::new(),
            anchor: None,
            search: String::new(),
            message: String::new(),
            new_class: String::new(),
            textures: HashMap::new(),
            textures_for: None,
            decoded_rx: None,
            decode_tx: None,
            pending: BTreeSet::new(),
            broken: HashMap::new(),
            drag_start: None,
            page: 0,
            author: kiln_core::current_user(),
            schema_edit: None,
            assist: super::assist::AssistView::default(),
        }
    }
}

const THUMB: f32 = 56.0;
const PAGE: usize = 400;

impl LabelPanel {
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        ctl: &LabelController,
        cmds: &mut Vec<Command>,
    ) {
        let Some(session) = ctl.session() else {
            self.start_ui(ui, state, ctl, cmds);
            return;
        };
        if self.textures_for != Some(session.base.id) {
            self.textures.clear();
            self.broken.clear();
            self.pending.clear();
            self.selected.clear();
            self.textures_for = Some(session.base.id);
            self.schema_edit = None;
            self.view = if image_column(session).is_some() || session.df.width() > 32 {
                View::Grid
            } else {
                View::Form
            };
            self.page = 0;
        }
        self.handle_keys(ui, session, cmds);
        egui::Panel::right("label-side")
            .resizable(true)
            .default_size(280.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("label-side-scroll")
                    .show(ui, |ui| {
                        self.side_ui(ui, ctl, session, cmds);
                        ui.separator();
                        self.assist.side_ui(ui, state, ctl, session, cmds);
                    });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading(format!(
                    "{}@{} · {}",
                    session.base.dataset, session.base.version, session.column
                ));
                ui.separator();
                ui.selectable_value(&mut self.view, View::Form, "Row form");
                ui.selectable_value(&mut self.view, View::Grid, "Image grid");
                ui.separator();
                let mut only = session.only_unlabeled;
                if ui.checkbox(&mut only, "Only unlabeled").changed() {
                    cmds.push(LabelCommand::SetOnlyUnlabeled(only).into());
                }
                let l = ui.label("Go to row");
                let r = ui
                    .add(egui::TextEdit::singleline(&mut self.search).desired_width(70.0))
                    .labelled_by(l.id);
                if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    let id = self.search.trim().parse::<u64>().ok();
                    match id.map(|id| (id, session.position_of(id))) {
                        Some((_, Some(pos))) => {
                            cmds.push(LabelCommand::MoveCursor(pos).into());
                            self.page = pos / PAGE;
                        }
                        // Another window of a version larger than the budget may hold it.
                        Some((id, None)) if session.window.is_some() => {
                            cmds.push(LabelCommand::GoToRow(id).into());
                        }
                        _ => self.search = format!("{} ?", self.search.trim()),
                    }
                }
            });
            ui.separator();
            super::assist::review_bar(ui, session, cmds);
            match self.view {
                View::Form => Self::form_ui(ui, session, cmds),
                View::Grid => self.grid_ui(ui, session, cmds),
            }
        });
    }
}

fn image_column(session: &LabelSession) -> Option<String> {
    session
        .df
        .columns()
        .iter()
        .find(|c| c.dtype() == &DataType::Binary)
        .map(|c| c.name().to_string())
}

impl LabelPanel {
    fn start_ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        ctl: &LabelController,
        cmds: &mut Vec<Command>,
    ) {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.25);
            ui.heading("Label your data");
            ui.add_space(8.0);
            let Some(v) = &state.open_version else {
                ui.label("Open a dataset version in the Data panel first; then choose the column to label here.");
                if ui.button("Go to Data").clicked() {
                    cmds.push(Command::show(crate::gui::data::ID));
                }
                return;
            };
            ui.label(format!("Label {}@{}: pick an existing column or type a new column name.", v.dataset, v.version));
            ui.add_space(8.0);
            let columns = v.column_names();
            if self.column_input.is_empty() {
                // A good guess: a column named like a label, else the last one (digits: the class).
                self.column_input = columns
                    .iter()
                    .find(|c| matches!(c.to_ascii_lowercase().as_str(), "label" | "class" | "target" | "species" | "y"))
                    .or_else(|| columns.last())
                    .cloned()
                    .unwrap_or_else(|| "label".into());
            }
            ui.horizontal(|ui| {
                let l = ui.label("Label column");
                egui::ComboBox::from_id_salt("label-col")
                    .selected_text(self.column_input.clone())
                    .show_ui(ui, |ui| {
                        for c in &columns {
                            ui.selectable_value(&mut self.column_input, c.clone(), c);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                let l = ui.label("or new");
                ui.add(egui::TextEdit::singleline(&mut self.column_input).desired_width(120.0)).labelled_by(l.id);
                let loading = ctl.loading();
                if ui.add_enabled(!loading, egui::Button::new("Start labeling")).clicked() {
                    cmds.push(LabelCommand::Start { column: self.column_input.trim().to_owned() }.into());
                }
                if loading {
                    ui.spinner();
                }
            });
        });
    }

    fn handle_keys(&mut self, ui: &egui::Ui, session: &LabelSession, cmds: &mut Vec<Command>) {
        if ui.ctx().egui_wants_keyboard_input() {
            return; // typing in a text field
        }
        let targets: Vec<u64> = if self.view == View::Grid && !self.selected.is_empty() {
            self.selected.iter().map(|&p| session.ids[p]).collect()
        } else {
            vec![session.ids[session.cursor]]
        };
        let reviewing = session
            .assist
            .review
            .as_ref()
            .and_then(kiln_core::assist::Review::current)
            .cloned();
        ui.input_mut(|i| {
            if i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z) {
                cmds.push(LabelCommand::Undo.into());
            }
            if let Some(s) = &reviewing {
                // The review queue: Enter accepts the suggestion, Space keeps the label, a class key
                // relabels; each moves to the next suspect.
                if i.consume_key(egui::Modifiers::NONE, egui::Key::Enter) {
                    cmds.push(LabelCommand::ReviewDecide(Some(s.suggested.clone())).into());
                }
                if i.consume_key(egui::Modifiers::NONE, egui::Key::Space) {
                    cmds.push(LabelCommand::ReviewDecide(None).into());
                }
                for class in &session.schema {
                    if let Some(key) = class.hotkey.as_deref().and_then(key_of)
                        && i.consume_key(egui::Modifiers::NONE, key)
                    {
                        cmds.push(LabelCommand::ReviewDecide(Some(class.name.clone())).into());
                    }
                }
                return;
            }
            if let Some((class, _)) = session.suggestion_at(session.cursor)
                && i.consume_key(egui::Modifiers::NONE, egui::Key::Enter)
            {
                cmds.push(
                    LabelCommand::Set {
                        rows: vec![session.ids[session.cursor]],
                        value: Some(class.to_owned()),
                        advance: true,
                    }
                    .into(),
                );
            }
            for class in &session.schema {
                if let Some(key) = class.hotkey.as_deref().and_then(key_of)
                    && i.consume_key(egui::Modifiers::NONE, key)
                {
                    cmds.push(
                        LabelCommand::Set {
                            rows: targets.clone(),
                            value: Some(class.name.clone()),
                            advance: true,
                        }
                        .into(),
                    );
                }
            }
            if i.consume_key(egui::Modifiers::NONE, egui::Key::Delete)
                || i.consume_key(egui::Modifiers::NONE, egui::Key::Backspace)
            {
                cmds.push(
                    LabelCommand::Set {
                        rows: targets.clone(),
                        value: None,
                        advance: false,
                    }
                    .into(),
                );
            }
            let next = i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowRight)
                || i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowDown)
                || i.consume_key(egui::Modifiers::NONE, egui::Key::J);
            let prev = i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowLeft)
                || i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowUp)
                || i.consume_key(egui::Modifiers::NONE, egui::Key::K);
            if next {
                cmds.push(LabelCommand::MoveCursor(session.step(session.cursor, true)).into());
            }
            if prev {
                cmds.push(LabelCommand::MoveCursor(session.step(session.cursor, false)).into());
            }
            if i.consume_key(egui::Modifiers::NONE, egui::Key::Escape) {
                self.selected.clear();
            }
        });
        if targets.len() > 1
            && cmds
                .iter()
                .any(|c| matches!(c, Command::Label(LabelCommand::Set { .. })))
        {
            self.selected.clear();
        }
    }

    fn side_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctl: &LabelController,
        session: &LabelSession,
        cmds: &mut Vec<Command>,
    ) {
        let total = session.ids.len();
        let labeled = session.labeled();
        if let Some(w) = session.window {
            ui.heading("Rows");
            ui.label(format!(
                "Rows #{}–#{} of {} (numbered as in the Data room): this version is larger than the memory budget, so the room holds a window of it at a time. Labels saved in any window are committed together.",
                w.start,
                w.start + w.rows - 1,
                w.total
            ));
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(w.previous().is_some(), egui::Button::new("< Previous rows"))
                    .clicked()
                    && let Some(at) = w.previous()
                {
                    cmds.push(LabelCommand::Window(at).into());
                }
                if ui
                    .add_enabled(w.next().is_some(), egui::Button::new("Next rows >"))
                    .clicked()
                    && let Some(at) = w.next()
                {
                    cmds.push(LabelCommand::Window(at).into());
                }
            });
            let count = |n: u64| crate::gui::runs::human(n as f64);
            match ctl.version_counts() {
                Some(c) => {
                    let labeled: u64 = c.counts.iter().map(|(_, n)| n).sum();
                    ui.label(format!(
                        "In the whole version, {} of {} rows have a committed label.",
                        count(labeled),
                        count(w.total as u64)
                    ));
                    let classes: Vec<String> = c
                        .counts
                        .iter()
                        .take(8)
                        .map(|(class, n)| format!("{class} {}", count(*n)))
                        .collect();
                    if !classes.is_empty() {
                        ui.weak(classes.join(" · "));
                    }
                }
                None if ctl.counting() => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Counting the whole version's labels…");
                    });
                }
                None => {}
            }
            ui.separator();
        }
        ui.heading(if session.window.is_some() {
            "Progress in this window"
        } else {
            "Progress"
        });
        ui.add(egui::ProgressBar::new(labeled as f32 / total.max(1) as f32));
        ui.label(format!("{labeled} / {total} labeled"));
        ui.label(format!(
            "{} label(s) saved in the draft, not yet committed",
            session.draft_count()
        ));
        ui.separator();
        ui.heading("Classes");
        let dist = session.distribution();
        let max = dist.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
        for (name, n) in &dist {
            let class = session.schema.iter().find(|c| c.name == *name);
            ui.horizontal(|ui| {
                let color = class.map_or(egui::Color32::GRAY, |c| color_of(&c.color));
                let key = class.and_then(|c| c.hotkey.clone()).unwrap_or_default();
                let text = egui::RichText::new(format!("[{key}] {name}")).color(color);
                if ui
                    .add(egui::Button::new(text).min_size(egui::vec2(90.0, 0.0)))
                    .on_hover_text("Label the current item (or the selection)")
                    .clicked()
                {
                    let rows: Vec<u64> = if self.view == View::Grid && !self.selected.is_empty() {
                        self.selected.iter().map(|&p| session.ids[p]).collect()
                    } else {
                        vec![session.ids[session.cursor]]
                    };
                    cmds.push(
                        LabelCommand::Set {
                            rows,
                            value: Some(name.clone()),
                            advance: true,
                        }
                        .into(),
                    );
                }
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(80.0, 12.0), egui::Sense::hover());
                ui.painter().rect_filled(
                    egui::Rect::from_min_size(
                        rect.min,
                        egui::vec2(80.0 * *n as f32 / max as f32, 12.0),
                    ),
                    2.0,
                    color,
                );
                ui.label(n.to_string());
            });
        }
        ui.horizontal(|ui| {
            let l = ui.label("New class");
            ui.add(egui::TextEdit::singleline(&mut self.new_class).desired_width(90.0))
                .labelled_by(l.id);
            if ui.button("Add").clicked() && !self.new_class.trim().is_empty() {
                let mut names: Vec<String> =
                    session.schema.iter().map(|c| c.name.clone()).collect();
                if !names.contains(&self.new_class.trim().to_owned()) {
                    names.push(self.new_class.trim().to_owned());
                }
                let mut classes = classes_with_hotkeys(names, &[]);
                // Keep the existing classes exactly as they were.
                for (c, old) in classes.iter_mut().zip(&session.schema) {
                    c.clone_from(old);
                }
                cmds.push(LabelCommand::SaveSchema(classes).into());
                self.new_class.clear();
            }
        });
        self.schema_editor(ui, session, cmds);
        ui.label(egui::RichText::new("Keys: class hotkeys label and advance · Enter accepts a suggestion · arrow keys or j/k move · Del clears · Ctrl+Z undoes").weak().small());
        ui.separator();
        ui.heading("Commit");
        let l = ui.label("Message");
        ui.add(egui::TextEdit::singleline(&mut self.message).hint_text("what was labelled"))
            .labelled_by(l.id);
        let l = ui.label("Author");
        ui.add(egui::TextEdit::singleline(&mut self.author))
            .labelled_by(l.id);
        let committing = ctl.committing();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    session.draft_count() > 0 && !committing,
                    egui::Button::new("Commit labels"),
                )
                .clicked()
            {
                cmds.push(
                    LabelCommand::Commit {
                        message: std::mem::take(&mut self.message),
                        author: self.author.clone(),
                    }
                    .into(),
                );
            }
            if committing {
                ui.spinner();
            }
        });
        ui.label(
            egui::RichText::new(format!(
                "Creates a new version of {} with parent v{}.",
                session.base.dataset, session.base.version
            ))
            .weak()
            .small(),
        );
    }

    /// Remap hotkeys and colours of the classes.
    fn schema_editor(
        &mut self,
        ui: &mut egui::Ui,
        session: &LabelSession,
        cmds: &mut Vec<Command>,
    ) {
        egui::CollapsingHeader::new("Edit classes")
            .id_salt("edit-classes")
            .show(ui, |ui| {
                let edit = self
                    .schema_edit
                    .get_or_insert_with(|| session.schema.clone());
                if edit.len() != session.schema.len() {
                    edit.clone_from(&session.schema);
                }
                let mut remove = None;
                egui::Grid::new("class-editor")
                    .num_columns(4)
                    .spacing([6.0, 4.0])
                    .show(ui, |ui| {
                        for (i, class) in edit.iter_mut().enumerate() {
                            ui.label(&class.name);
                            let mut key = class.hotkey.clone().unwrap_or_default();
                            let l = format!("Hotkey of {}", class.name);
                            if ui
                                .add(
                                    egui::TextEdit::singleline(&mut key)
                                        .desired_width(24.0)
                                        .char_limit(1),
                                )
                                .on_hover_text(&l)
                                .changed()
                            {
                                class.hotkey =
                                    Some(key.to_ascii_uppercase()).filter(|k| !k.is_empty());
                            }
                            let mut color = color_of(&class.color);
                            if ui.color_edit_button_srgba(&mut color).changed() {
                                color.to_hex()[..7].clone_into(&mut class.color);
                            }
                            if ui.small_button("Remove").clicked() {
                                remove = Some(i);
                            }
                            ui.end_row();
                        }
                    });
                if let Some(i) = remove {
                    edit.remove(i);
                }
                let changed = *edit != session.schema;
                if ui
                    .add_enabled(changed, egui::Button::new("Save classes"))
                    .clicked()
                {
                    cmds.push(LabelCommand::SaveSchema(edit.clone()).into());
                }
            });
    }

    fn form_ui(ui: &mut egui::Ui, session: &LabelSession, cmds: &mut Vec<Command>) {
        let pos = session.cursor;
        let id = session.ids[pos];
        ui.horizontal(|ui| {
            if ui.button("< Previous").clicked() {
                cmds.push(LabelCommand::MoveCursor(session.step(pos, false)).into());
            }
            ui.label(
                egui::RichText::new(format!("Row {id}  ({} of {})", pos + 1, session.ids.len()))
                    .heading(),
            );
            if ui.button("Next >").clicked() {
                cmds.push(LabelCommand::MoveCursor(session.step(pos, true)).into());
            }
        });
        let label = session.label_at(pos);
        let color = session
            .schema
            .iter()
            .find(|c| Some(c.name.as_str()) == label)
            .map_or(ui.visuals().text_color(), |c| color_of(&c.color));
        let saved = if session.drafts.contains_key(&id) {
            " (draft, saved)"
        } else {
            ""
        };
        ui.label(
            egui::RichText::new(format!("Label: {}{saved}", label.unwrap_or("—")))
                .size(22.0)
                .color(color),
        );
        if let Some((class, p)) = session.suggestion_at(pos) {
            ui.label(
                egui::RichText::new(format!(
                    "Suggested: {class} ({:.0}%) · Enter accepts, a class key labels otherwise",
                    p * 100.0
                ))
                .italics()
                .size(16.0),
            );
        }
        ui.separator();
        egui::ScrollArea::vertical().id_salt("form").show(ui, |ui| {
            egui::Grid::new("row-form")
                .num_columns(2)
                .striped(true)
                .spacing([24.0, 6.0])
                .show(ui, |ui| {
                    for c in session.df.columns() {
                        let name = c.name().as_str();
                        if name == kiln_core::data::ROW_ID || name == session.column {
                            continue;
                        }
                        ui.label(egui::RichText::new(name).strong());
                        let text = kiln_core::data::cell(c, pos).unwrap_or_else(|| "null".into());
                        ui.label(egui::RichText::new(text).size(18.0));
                        ui.end_row();
                    }
                });
        });
    }

    fn grid_ui(&mut self, ui: &mut egui::Ui, session: &LabelSession, cmds: &mut Vec<Command>) {
        let image_col = image_column(session);
        let data_cols: Vec<&Column> = session
            .df
            .columns()
            .iter()
            .filter(|c| {
                c.name().as_str() != kiln_core::data::ROW_ID && c.name().as_str() != session.column
            })
            .collect();
        if image_col.is_none() {
            ui.horizontal(|ui| {
                ui.label("Pixel columns:");
                let l = ui.label("first");
                ui.add(
                    egui::DragValue::new(&mut self.pixels.first)
                        .range(0..=data_cols.len().saturating_sub(1)),
                )
                .labelled_by(l.id);
                let l = ui.label("width");
                ui.add(egui::DragValue::new(&mut self.pixels.width).range(1..=512))
                    .labelled_by(l.id);
                let l = ui.label("height");
                ui.add(egui::DragValue::new(&mut self.pixels.height).range(1..=512))
                    .labelled_by(l.id);
                let l = ui.label("max value");
                ui.add(egui::DragValue::new(&mut self.pixels.max_value).range(1.0..=65535.0))
                    .labelled_by(l.id);
                if ui.button("Apply").clicked() {
                    self.textures.clear();
                }
            });
            if self.pixels.first + self.pixels.width * self.pixels.height > data_cols.len() {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!(
                        "{}×{} pixels from column {} need {} columns; this version has {}.",
                        self.pixels.width,
                        self.pixels.height,
                        self.pixels.first,
                        self.pixels.first + self.pixels.width * self.pixels.height,
                        data_cols.len()
                    ),
                );
                return;
            }
        }
        self.receive_decoded(ui.ctx());
        let visible = session.visible();
        let pages = visible.len().div_ceil(PAGE).max(1);
        self.page = self.page.min(pages - 1);
        // Show the current item's page, unless a selection is being built on another page.
        if let Some(i) = visible.iter().position(|&p| p == session.cursor)
            && self.selected.is_empty()
        {
            self.page = i / PAGE;
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.page > 0, egui::Button::new("< Page"))
                .clicked()
            {
                // The current item follows the page, so the grid stays on it.
                self.page -= 1;
                cmds.push(LabelCommand::MoveCursor(visible[self.page * PAGE]).into());
            }
            ui.label(format!(
                "Page {} of {pages} · {} selected (click, Shift+click, Ctrl+click, drag a box)",
                self.page + 1,
                self.selected.len()
            ));
            if ui
                .add_enabled(self.page + 1 < pages, egui::Button::new("Page >"))
                .clicked()
            {
                self.page += 1;
                cmds.push(LabelCommand::MoveCursor(visible[self.page * PAGE]).into());
            }
        });
        if !self.broken.is_empty() {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} image(s) could not be decoded: hover a tile marked \"broken\" for the reason",
                    self.broken.len()
                ),
            );
        }
        let start = self.page * PAGE;
        let shown: Vec<usize> = visible.iter().copied().skip(start).take(PAGE).collect();
        // Preload this page and the next.
        let preload: Vec<usize> = visible.iter().copied().skip(start).take(PAGE * 2).collect();
        for &pos in &preload {
            self.ensure_texture(ui.ctx(), session, pos, image_col.as_deref(), &data_cols);
        }
        let mut rects: Vec<(usize, egui::Rect)> = Vec::with_capacity(shown.len());
        let scroll = egui::ScrollArea::vertical().id_salt("grid").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing = egui::vec2(4.0, 4.0);
                for &pos in &shown {
                    let id = session.ids[pos];
                    let (rect, resp) = ui
                        .allocate_exact_size(egui::vec2(THUMB, THUMB + 14.0), egui::Sense::click());
                    rects.push((pos, rect));
                    let img_rect = egui::Rect::from_min_size(rect.min, egui::vec2(THUMB, THUMB));
                    let painter = ui.painter_at(rect);
                    if let Some(t) = self.textures.get(&id) {
                        painter.image(
                            t.id(),
                            img_rect,
                            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                            egui::Color32::WHITE,
                        );
                    } else if let Some(reason) = self.broken.get(&id) {
                        painter.rect_filled(img_rect, 2.0, egui::Color32::from_rgb(60, 20, 20));
                        painter.text(
                            img_rect.center(),
                            egui::Align2::CENTER_CENTER,
                            "broken",
                            egui::FontId::proportional(10.0),
                            egui::Color32::LIGHT_RED,
                        );
                        resp.clone()
                            .on_hover_text(format!("Image does not decode: {reason}"));
                    } else {
                        painter.rect_filled(img_rect, 2.0, ui.visuals().faint_bg_color);
                    }
                    let label = session.label_at(pos);
                    let class = session
                        .schema
                        .iter()
                        .find(|c| Some(c.name.as_str()) == label);
                    let color =
                        class.map_or(ui.visuals().weak_text_color(), |c| color_of(&c.color));
                    if let Some((suggested, _)) = session.suggestion_at(pos) {
                        // A suggestion is hatched and marked with "?": not a label until accepted.
                        let c = session
                            .schema
                            .iter()
                            .find(|c| c.name == suggested)
                            .map_or(egui::Color32::GRAY, |c| color_of(&c.color));
                        hatch(&painter, img_rect, c);
                        painter.text(
                            rect.left_bottom() + egui::vec2(2.0, -1.0),
                            egui::Align2::LEFT_BOTTOM,
                            format!("{suggested}?"),
                            egui::FontId::proportional(11.0),
                            c,
                        );
                    } else {
                        painter.text(
                            rect.left_bottom() + egui::vec2(2.0, -1.0),
                            egui::Align2::LEFT_BOTTOM,
                            label.unwrap_or("·"),
                            egui::FontId::proportional(11.0),
                            color,
                        );
                    }
                    let selected = self.selected.contains(&pos);
                    if pos == session.cursor {
                        painter.rect_stroke(
                            rect,
                            2.0,
                            egui::Stroke::new(2.0, ui.visuals().selection.stroke.color),
                            egui::StrokeKind::Inside,
                        );
                    } else if selected {
                        painter.rect_stroke(
                            rect,
                            2.0,
                            egui::Stroke::new(2.0, egui::Color32::YELLOW),
                            egui::StrokeKind::Inside,
                        );
                    }
                    if resp.clicked() {
                        let m = ui.input(|i| i.modifiers);
                        if m.shift {
                            let from = self.anchor.unwrap_or(session.cursor);
                            let (a, b) = (from.min(pos), from.max(pos));
                            self.selected
                                .extend(visible.iter().copied().filter(|p| *p >= a && *p <= b));
                        } else if m.command {
                            if !self.selected.remove(&pos) {
                                self.selected.insert(pos);
                            }
                            self.anchor = Some(pos);
                        } else {
                            self.selected.clear();
                            self.anchor = Some(pos);
                        }
                        cmds.push(LabelCommand::MoveCursor(pos).into());
                    }
                }
            });
        });
        // Box selection: drag on the grid's background.
        let area = scroll.inner_rect;
        let bg = ui.interact(area, ui.scope_id().with("box-select"), egui::Sense::drag());
        if bg.drag_started() {
            self.drag_start = bg.interact_pointer_pos();
        }
        if let (Some(a), Some(b)) = (self.drag_start, bg.interact_pointer_pos()) {
            let sel = egui::Rect::from_two_pos(a, b);
            ui.painter().rect_stroke(
                sel,
                0.0,
                egui::Stroke::new(1.0, egui::Color32::YELLOW),
                egui::StrokeKind::Inside,
            );
            if bg.drag_stopped() {
                if !ui.input(|i| i.modifiers.command) {
                    self.selected.clear();
                }
                self.selected.extend(
                    rects
                        .iter()
                        .filter(|(_, r)| r.intersects(sel))
                        .map(|(p, _)| *p),
                );
                self.drag_start = None;
            }
        }
        if !bg.dragged() && !bg.drag_stopped() {
            self.drag_start = None;
        }
    }

    fn receive_decoded(&mut self, ctx: &egui::Context) {
        let Some(rx) = &self.decoded_rx else { return };
        while let Ok((id, result)) = rx.try_recv() {
            self.pending.remove(&id);
            match result {
                Ok(img) => {
                    let t =
                        ctx.load_texture(format!("thumb-{id}"), img, egui::TextureOptions::NEAREST);
                    self.textures.insert(id, t);
                }
                Err(e) => {
                    self.broken.insert(id, e);
                }
            }
        }
    }

    fn ensure_texture(
        &mut self,
        ctx: &egui::Context,
        session: &LabelSession,
        pos: usize,
        image_col: Option<&str>,
        data_cols: &[&Column],
    ) {
        let id = session.ids[pos];
        if self.textures.contains_key(&id)
            || self.broken.contains_key(&id)
            || self.pending.contains(&id)
        {
            return;
        }
        if let Some(col) = image_col {
            let Ok(AnyValue::Binary(bytes)) = session.df.column(col).and_then(|c| c.get(pos))
            else {
                self.broken.insert(id, "no image data".into());
                return;
            };
            let tx = self.decode_tx.get_or_insert_with(|| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>)>(1024);
                let (dtx, drx) = std::sync::mpsc::sync_channel(1024);
                let rx = Arc::new(std::sync::Mutex::new(rx));
                let workers = std::thread::available_parallelism()
                    .map_or(2, usize::from)
                    .clamp(1, 4);
                for w in 0..workers {
                    let (rx, dtx, ctx) = (rx.clone(), dtx.clone(), ctx.clone());
                    let _ = std::thread::Builder::new()
                        .name(format!("kiln-thumbs-{w}"))
                        .spawn(move || {
                            loop {
                                let job = rx.lock().ok().and_then(|r| r.recv().ok());
                                let Some((id, bytes)) = job else { break };
                                let _ = dtx.send((id, decode_thumbnail(&bytes)));
                                ctx.request_repaint();
                            }
                        });
                }
                self.decoded_rx = Some(drx);
                tx
            });
            if tx.try_send((id, bytes.to_vec())).is_ok() {
                self.pending.insert(id);
            }
        } else {
            let (w, h) = (self.pixels.width, self.pixels.height);
            let mut px = Vec::with_capacity(w * h);
            for c in data_cols.iter().skip(self.pixels.first).take(w * h) {
                let v = c
                    .get(pos)
                    .ok()
                    .and_then(|v| v.extract::<f64>())
                    .unwrap_or(0.0);
                px.push((255.0 * (v / self.pixels.max_value).clamp(0.0, 1.0)) as u8);
            }
            let img = egui::ColorImage::from_gray([w, h], &px);
            let t = ctx.load_texture(format!("px-{id}"), img, egui::TextureOptions::NEAREST);
            self.textures.insert(id, t);
        }
    }
}

/// Diagonal stripes over `rect` in `color` (a suggestion, not a label).
fn hatch(painter: &egui::Painter, rect: egui::Rect, color: egui::Color32) {
    let stroke = egui::Stroke::new(1.5, color.gamma_multiply(0.55));
    let step = 8.0;
    let mut d = -rect.height();
    while d < rect.width() {
        let a = egui::pos2(rect.left() + d, rect.bottom());
        let b = egui::pos2(rect.left() + d + rect.height(), rect.top());
        // Clip the segment to the rectangle.
        let (mut a, mut b) = (a, b);
        if a.x < rect.left() {
            a = egui::pos2(rect.left(), rect.bottom() - (rect.left() - a.x));
        }
        if b.x > rect.right() {
            b = egui::pos2(rect.right(), rect.top() + (b.x - rect.right()));
        }
        painter.line_segment([a, b], stroke);
        d += step;
    }
    painter.rect_stroke(rect, 2.0, stroke, egui::StrokeKind::Inside);
}

/// Decode PNG/JPEG bytes into a thumbnail of at most 128 px.
fn decode_thumbnail(bytes: &[u8]) -> Result<egui::ColorImage, String> {
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let thumb = img.thumbnail(128, 128).to_rgba8();
    let size = [thumb.width() as usize, thumb.height() as usize];
    Ok(egui::ColorImage::from_rgba_unmultiplied(
        size,
        thumb.as_raw(),
    ))
}
