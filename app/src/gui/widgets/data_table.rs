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
    // Where the body is scrolled to, in rows (fractional): a pixel offset in `f32` cannot tell row
    // 300,000,000 from its neighbours, a row number in `f64` can.
    let top_id = ui.make_persistent_id((id, "top-row"));
    egui::ScrollArea::horizontal().id_salt(id).show(ui, |ui| {
        TableBuilder::new(ui)
            .id_salt(id)
            .striped(true)
            .resizable(true)
            .vscroll(false)
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
                let table = Body {
                    widths: &widths,
                    rows,
                    columns: &columns,
                    n,
                };
                paint_rows(body.ui_mut(), &table, top_id);
            });
    });
}

/// What the body shows: the column widths (the header's, the row-number column first), where the rows
/// come from, the data columns and how many rows there are.
struct Body<'a> {
    widths: &'a [f32],
    rows: Rows<'a>,
    columns: &'a [(&'a str, &'a DataType)],
    n: usize,
}

const SCROLL_BAR: f32 = 10.0;

/// The body: the rows from the scrolled-to row (`top_id` keeps it, in rows) that fill the space left,
/// painted straight into the table rather than a child `Ui` per cell (what `TableRow::col` makes; it
/// cost more than the text in it), with a scroll bar of its own. The wheel moves it by pixels, the bar
/// by its share of the rows, Page Up/Down by a page, Home/End to either end — at row 300,000,000 as
/// precisely as at row 10.
fn paint_rows(ui: &mut egui::Ui, table: &Body<'_>, top_id: egui::Id) {
    let n = table.n;
    let spacing = ui.spacing().item_spacing;
    let pitch = ROW_HEIGHT + spacing.y;
    let space = ui.available_rect_before_wrap();
    let width: f32 = table.widths.iter().map(|w| w + spacing.x).sum::<f32>() - spacing.x;
    // The space left (no more than the rows need; a dozen rows where the space has no end).
    let wanted = n.max(1) as f32 * pitch - spacing.y;
    let height = if space.height().is_finite() {
        space.height().min(wanted)
    } else {
        wanted.min(12.0 * pitch)
    }
    .max(ROW_HEIGHT);
    let area = egui::Rect::from_min_size(space.min, egui::vec2(width.max(0.0), height));
    // A gutter right of the columns for the scroll bar, so it never covers a number's last digits.
    let gutter = area.with_max_x(area.right() + spacing.x + SCROLL_BAR);
    let response = ui.allocate_rect(gutter, egui::Sense::hover());
    let shown = ((height + spacing.y) / pitch).floor().max(1.0) as usize;
    let last_top = n.saturating_sub(shown) as f64;
    let mut top: f64 = ui.data(|d| d.get_temp(top_id)).unwrap_or(0.0);
    if response.contains_pointer() {
        let (wheel, keys) = ui.input(|i| {
            let page = |k| i.key_pressed(k);
            (
                i.smooth_scroll_delta.y,
                [
                    page(egui::Key::PageDown),
                    page(egui::Key::PageUp),
                    page(egui::Key::Home),
                    page(egui::Key::End),
                ],
            )
        });
        if wheel != 0.0 {
            top -= f64::from(wheel) / f64::from(pitch);
            ui.input_mut(|i| i.smooth_scroll_delta.y = 0.0);
        }
        // Keys belong to a focused text field (Home and End move its cursor).
        let typing = ui.memory(|m| m.focused().is_some());
        match keys {
            _ if typing => {}
            [true, ..] => top += shown as f64,
            [_, true, ..] => top -= shown as f64,
            [_, _, true, _] => top = 0.0,
            [.., true] => top = last_top,
            _ => {}
        }
    }
    // The scroll bar, in the gutter, or at the right edge of what is in sight of a table wider than
    // the window.
    let visible = ui.clip_rect().intersect(gutter);
    if last_top > 0.0 && visible.width() > SCROLL_BAR {
        let right = visible.right().min(gutter.right());
        let track = egui::Rect::from_min_max(
            egui::pos2(right - SCROLL_BAR, area.top()),
            egui::pos2(right, area.bottom()),
        );
        let thumb_h = (track.height() * shown as f32 / n as f32).clamp(24.0, track.height());
        let travel = (track.height() - thumb_h).max(1.0);
        let bar = ui.interact(track, top_id.with("bar"), egui::Sense::click_and_drag());
        if let Some(p) = bar.interact_pointer_pos()
            && (bar.dragged() || bar.clicked())
        {
            let share = f64::from((p.y - track.top() - thumb_h / 2.0) / travel);
            top = share.clamp(0.0, 1.0) * last_top;
        }
        top = top.clamp(0.0, last_top);
        let y = track.top() + travel * (top / last_top) as f32;
        let thumb = egui::Rect::from_min_size(
            egui::pos2(track.left() + 2.0, y),
            egui::vec2(SCROLL_BAR - 4.0, thumb_h),
        );
        let style = if bar.dragged() || bar.hovered() {
            &ui.visuals().widgets.hovered
        } else {
            &ui.visuals().widgets.inactive
        };
        ui.painter()
            .rect_filled(thumb, egui::CornerRadius::same(3), style.bg_fill);
    }
    top = top.clamp(0.0, last_top);
    ui.data_mut(|d| d.insert_temp(top_id, top));

    let painter = ui.painter_at(area);
    let stripe = ui.visuals().faint_bg_color;
    let first = top.floor() as usize;
    let offset = (top - top.floor()) as f32 * pitch;
    for k in 0..=shown {
        let i = first + k;
        if i >= n {
            break;
        }
        let row_top = area.top() - offset + k as f32 * pitch;
        if i.is_multiple_of(2) {
            let band = egui::Rect::from_min_size(
                egui::pos2(area.left(), row_top),
                egui::vec2(width, ROW_HEIGHT),
            )
            .expand2(0.5 * spacing)
            .round_ui();
            painter.rect_filled(band, egui::CornerRadius::ZERO, stripe);
        }
        let held;
        let (frame, at) = match table.rows {
            Rows::Frame(df) => (Some(df), i),
            Rows::Paged(p) => match p.try_row(i) {
                Some((group, offset)) => {
                    held = group;
                    (Some(&*held), offset)
                }
                None => (None, 0),
            },
        };
        let mut x = area.left();
        for (j, &w) in table.widths.iter().enumerate() {
            let cell_rect =
                egui::Rect::from_min_size(egui::pos2(x, row_top), egui::vec2(w, ROW_HEIGHT));
            x += w + spacing.x;
            // Columns scrolled out of sight sideways: no text to lay out there.
            if !painter.clip_rect().intersects(cell_rect) {
                continue;
            }
            let cell_id = top_id.with(("cell", i, j));
            let paint = |text| paint_cell(ui, &painter, cell_id, cell_rect, text);
            let Some(column) = j.checked_sub(1) else {
                paint(Cell::Left(
                    egui::RichText::new(i.to_string()).monospace().weak(),
                ));
                continue;
            };
            let Some(frame) = frame else {
                paint(Cell::Left(egui::RichText::new("…").weak()));
                continue;
            };
            let numeric = table
                .columns
                .get(column)
                .is_some_and(|c| c.1.is_primitive_numeric());
            match cell(&frame.columns()[column], at) {
                None => paint(Cell::Left(egui::RichText::new("null").weak().italics())),
                Some(text) if numeric => {
                    paint(Cell::Right(egui::RichText::new(text).monospace()));
                }
                Some(text) => paint(Cell::Left(egui::RichText::new(text))),
            }
        }
    }
}

/// A cell's text and its side of the cell.
enum Cell {
    Left(egui::RichText),
    /// Numbers, set in the monospace font so that the digits of a column line up (a page of fresh
    /// numbers also lays out in about three quarters of the time: no kerning to apply, a cheaper
    /// shaping plan).
    Right(egui::RichText),
}

/// One cell's text in `cell` (numbers to the right, too long a text truncated with `…`), painted rather
/// than added as a `Label`: a cell is read, never clicked. It still has its node in the accessibility
/// tree, with the text and where it is.
fn paint_cell(ui: &egui::Ui, painter: &egui::Painter, id: egui::Id, cell: egui::Rect, text: Cell) {
    let (text, right) = match text {
        Cell::Left(t) => (t, false),
        Cell::Right(t) => (t, true),
    };
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
    painter.galley(rect.min, galley, ui.visuals().text_color());
}
