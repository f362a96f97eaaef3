//! A virtual table over a polars `DataFrame`: only the visible rows are laid out (`TableBuilder::rows`),
//! and each visible cell is read by index, so scrolling costs the same for a thousand rows or ten million.

use egui_extras::{Column, TableBuilder};
use kiln_core::data::{cell, polars::prelude::DataFrame};

pub const ROW_HEIGHT: f32 = 20.0;

/// Draw `df`. With `sorted` the header marks the sort column; with `on_sort` a header click stores the
/// clicked column's name there.
pub fn show(
    ui: &mut egui::Ui,
    id: &str,
    df: &DataFrame,
    sorted: Option<(&str, bool)>,
    mut on_sort: Option<&mut Option<String>>,
) {
    let columns = df.columns();
    let n = df.height();
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
                for c in columns {
                    header.col(|ui| {
                        let name = c.name().as_str();
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
                                    .on_hover_text(format!("{} · click to sort", c.dtype()))
                                    .clicked()
                                {
                                    *slot = Some(name.to_owned());
                                }
                            }
                            None => {
                                ui.label(text).on_hover_text(c.dtype().to_string());
                            }
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(ROW_HEIGHT, n, |mut row| {
                    let i = row.index();
                    row.col(|ui| {
                        ui.label(egui::RichText::new(i.to_string()).weak());
                    });
                    for c in columns {
                        row.col(|ui| {
                            let numeric = c.dtype().is_primitive_numeric();
                            let Some(text) = cell(c, i) else {
                                ui.label(egui::RichText::new("null").weak().italics());
                                return;
                            };
                            if numeric {
                                ui.with_layout(
                                    egui::Layout::right_to_left(egui::Align::Center),
                                    |ui| {
                                        ui.label(text);
                                    },
                                );
                            } else {
                                ui.label(text);
                            }
                        });
                    }
                });
            });
    });
}
