//! A virtual table over a polars `DataFrame`: `egui_extras`' table gives the header (resizable columns,
//! click to sort) and the scroll area; only the visible rows of the body are painted, each visible cell
//! read by index, so scrolling costs the same for a thousand rows or ten million.

use std::sync::Arc;

use egui::emath::GuiRounding as _;
use egui_extras::{Column, TableBuilder};
use kiln_core::data::polars::prelude::{DataFrame, DataType};
use kiln_core::data::{PagedFrame, TableData, cell};

pub const ROW_HEIGHT: f32 = 20.0;

/// Where the rows come from: a frame in memory, or a table paged from disk a row group at a time.
#[derive(Clone, Copy)]
enum Rows<'a> {
    Frame(&'a DataFrame),
    Paged(&'a Arc<PagedFrame>),
}

/// Draw `df`. With `sorted` the header marks the sort column; with `on_sort` a header click stores the
/// clicked column's name there.
pub fn show(
    ui: &mut egui::Ui,
    id: &str,
    df: &DataFrame,
    sorted: Option<(&str, bool)>,
    on_sort: Option<&mut Option<String>>,
) {
    draw(ui, id, Rows::Frame(df), sorted, on_sort);
}

/// Draw a table in memory or paged. A paged table's rows whose row group is not decoded yet show `…`
/// and are asked for on its reader thread, which repaints when they arrive: a frame never waits on disk.
pub fn show_table(
    ui: &mut egui::Ui,
    id: &str,
    table: &TableData,
    sorted: Option<(&str, bool)>,
    on_sort: Option<&mut Option<String>>,
) {
    let rows = match table {
        TableData::Memory(df) => Rows::Frame(df),
        TableData::Paged(p) => Rows::Paged(p),
    };
    draw(ui, id, rows, sorted, on_sort);
}

fn draw(
    ui: &mut egui::Ui,
    id: &str,
    rows: Rows<'_>,
    sorted: Option<(&str, bool)>,
    mut on_sort: Option<&mut Option<String>>,
) {
    let (schema, n) = match rows {
        Rows::Frame(df) => (df.schema().clone(), df.height()),
        Rows::Paged(p) => (p.schema().clone(), p.height()),
    };
    let columns: Vec<(&str, &DataType)> = schema.iter().map(|(n, d)| (n.as_str(), d)).collect();
    let index_width = (n.max(1).ilog10() as f32 + 2.0) * 8.0;
    egui::ScrollArea::horizontal().id_salt(id).show(ui, |ui| {
        TableBuilder::new(ui)
            .id_salt(id)
            .striped(true)
            .resizable(true)
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(Column::exact(index_width.max(28.0)))
            .columns(
                Column::initial(110.0).at_least(36.0).clip(true),
                columns.len(),
            )
            .min_scrolled_height(0.0)
            .header(ROW_HEIGHT + 4.0, |mut header| {
                header.col(|ui| {
                    ui.label(egui::RichText::new("#").weak());
                });
                for &(name, dtype) in &columns {
                    header.col(|ui| {
                        let arrow = match sorted {
                            Some((s, false)) if s == name => " ⏶",
                            Some((s, true)) if s == name => " ⏷",
                            _ => "",
                        };
                        let text = egui::RichText::new(format!("{name}{arrow}")).strong();
                        match on_sort.as_deref_mut() {
                            Some(slot) => {
                                if ui
                                    .add(egui::Button::new(text).frame(false))
                                    .on_hover_text(format!("{dtype} · click to sort"))
                                    .clicked()
                                {
                                    *slot = Some(name.to_owned());
                                }
                            }
                            None => {
                                ui.label(text).on_hover_text(dtype.to_string());
                            }
                        }
                    });
                }
            })
            .body(|mut body| {
                let widths = body.widths().to_vec();
                paint_rows(body.ui_mut(), &widths, rows, &columns, n);
            });
    });
}

/// The visible rows of the body, painted straight into the table's scroll area: a page of a wide table
/// is hundreds of cells, and a child `Ui` per cell (what `TableRow::col` makes) costs more than the
/// text it shows. The rows not in sight are only allocated, so the scroll bar knows the height.
fn paint_rows(
    ui: &mut egui::Ui,
    widths: &[f32],
    rows: Rows<'_>,
    columns: &[(&str, &DataType)],
    n: usize,
) {
    let spacing = ui.spacing().item_spacing;
    let pitch = ROW_HEIGHT + spacing.y;
    let origin = ui.available_rect_before_wrap().left_top();
    let width: f32 = widths.iter().map(|w| w + spacing.x).sum::<f32>() - spacing.x;
    let height = (n as f32 * pitch - spacing.y).max(0.0);
    let clip = ui.clip_rect();
    let first = (((clip.top() - origin.y) / pitch).floor().max(0.0) as usize).min(n);
    let last = ((((clip.bottom() - origin.y) / pitch).ceil().max(0.0) as usize) + 1).min(n);
    ui.allocate_rect(
        egui::Rect::from_min_size(origin, egui::vec2(width.max(0.0), height)),
        egui::Sense::hover(),
    );
    let stripe = ui.visuals().faint_bg_color;
    for i in first..last {
        let top = origin.y + i as f32 * pitch;
        if i % 2 == 0 {
            let band =
                egui::Rect::from_min_size(egui::pos2(origin.x, top), egui::vec2(width, ROW_HEIGHT))
                    .expand2(0.5 * spacing)
                    .round_ui();
            ui.painter()
                .rect_filled(band, egui::CornerRadius::ZERO, stripe);
        }
        let held;
        let (frame, at) = match rows {
            Rows::Frame(df) => (Some(df), i),
            Rows::Paged(p) => match p.try_row(i) {
                Some((group, offset)) => {
                    held = group;
                    (Some(&*held), offset)
                }
                None => (None, 0),
            },
        };
        let mut x = origin.x;
        for (j, &w) in widths.iter().enumerate() {
            let cell_rect =
                egui::Rect::from_min_size(egui::pos2(x, top), egui::vec2(w, ROW_HEIGHT));
            x += w + spacing.x;
            // Columns scrolled out of sight sideways: no text to lay out there.
            if !ui.is_rect_visible(cell_rect) {
                continue;
            }
            let id = ui.unique_id().with(("cell", i, j));
            let Some(column) = j.checked_sub(1) else {
                let text = egui::RichText::new(i.to_string()).monospace().weak();
                paint_cell(ui, id, cell_rect, text, false);
                continue;
            };
            let Some(frame) = frame else {
                paint_cell(ui, id, cell_rect, egui::RichText::new("…").weak(), false);
                continue;
            };
            let numeric = columns
                .get(column)
                .is_some_and(|c| c.1.is_primitive_numeric());
            match cell(&frame.columns()[column], at) {
                None => {
                    let text = egui::RichText::new("null").weak().italics();
                    paint_cell(ui, id, cell_rect, text, false);
                }
                Some(text) => paint_cell(ui, id, cell_rect, value_text(text, numeric), numeric),
            }
        }
    }
}

/// A value's text: numbers in the monospace font, so that the digits of a right-aligned column line up
/// (and a page of fresh numbers lays out in about two thirds of the time: its font has no kerning to
/// apply and a cheaper shaping plan).
fn value_text(text: String, numeric: bool) -> egui::RichText {
    let text = egui::RichText::new(text);
    if numeric { text.monospace() } else { text }
}

/// One cell's text in `cell` (numbers to the right, too long a text truncated with `…`), painted rather
/// than added as a `Label`: a cell is read, never clicked. It still has its node in the accessibility
/// tree, with the text and where it is.
fn paint_cell(ui: &egui::Ui, id: egui::Id, cell: egui::Rect, text: egui::RichText, right: bool) {
    let galley = egui::WidgetText::from(text).into_galley(
        ui,
        Some(egui::TextWrapMode::Truncate),
        cell.width(),
        egui::TextStyle::Body,
    );
    let size = galley.size();
    let x = if right {
        cell.right() - size.x
    } else {
        cell.left()
    };
    let rect = egui::Rect::from_min_size(egui::pos2(x, cell.center().y - size.y / 2.0), size);
    ui.ctx().accesskit_node_builder(id, |node| {
        node.set_role(egui::accesskit::Role::Label);
        node.set_value(galley.text());
        node.set_bounds(egui::accesskit::Rect {
            x0: rect.min.x.into(),
            y0: rect.min.y.into(),
            x1: rect.max.x.into(),
            y1: rect.max.y.into(),
        });
    });
    ui.painter()
        .galley(rect.min, galley, ui.visuals().text_color());
}
