//! A virtual table over a polars `DataFrame`: only the visible rows are laid out (`TableBuilder::rows`),
//! and each visible cell is read by index, so scrolling costs the same for a thousand rows or ten million.

use std::sync::Arc;

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
            .body(|body| {
                body.rows(ROW_HEIGHT, n, |mut row| {
                    let i = row.index();
                    row.col(|ui| {
                        paint_cell(ui, egui::RichText::new(i.to_string()).weak(), false);
                    });
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
                    for (j, &(_, dtype)) in columns.iter().enumerate() {
                        row.col(|ui| {
                            let Some(frame) = frame else {
                                paint_cell(ui, egui::RichText::new("…").weak(), false);
                                return;
                            };
                            match cell(&frame.columns()[j], at) {
                                None => paint_cell(
                                    ui,
                                    egui::RichText::new("null").weak().italics(),
                                    false,
                                ),
                                Some(text) => paint_cell(
                                    ui,
                                    egui::RichText::new(text),
                                    dtype.is_primitive_numeric(),
                                ),
                            }
                        });
                    }
                });
            });
    });
}

/// One cell's text, painted into the cell (numbers to the right) rather than added as a `Label`: a cell
/// is read, never clicked, and a frame that scrolls a whole new page lays out hundreds of them. It
/// still has its node in the accessibility tree, with the text and where it is.
fn paint_cell(ui: &mut egui::Ui, text: egui::RichText, right: bool) {
    let cell = ui.max_rect();
    // Columns scrolled out of sight sideways are still visited: no text to lay out there.
    if !ui.is_rect_visible(cell) {
        return;
    }
    // The cell's wrap mode (a clipped column truncates with `…`), never wider than the cell.
    let galley =
        egui::WidgetText::from(text).into_galley(ui, None, cell.width(), egui::TextStyle::Body);
    let size = galley.size();
    let x = if right {
        cell.right() - size.x
    } else {
        cell.left()
    };
    let rect = egui::Rect::from_min_size(egui::pos2(x, cell.center().y - size.y / 2.0), size);
    ui.ctx()
        .accesskit_node_builder(ui.unique_id().with("cell"), |node| {
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
    ui.advance_cursor_after_rect(rect);
}
