//! What every GUI test uses: the app on a workspace in a kittest harness, stepping until background work
//! is done or a label shows, screenshots, dropped files, the Data room's table and the Train room's run.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kiln_app::gui::KilnApp;
use kiln_app::gui::data::DataRoom;
use kiln_app::gui::train::{LiveTraining, TrainRoom};
use kiln_core::Workspace;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn harness(ws: &Path) -> Harness<'static, KilnApp> {
    harness_on(Workspace::open(ws).unwrap())
}

pub fn harness_on(ws: Workspace) -> Harness<'static, KilnApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(|cc| KilnApp::new(cc, ws))
}

/// Step frames until no background job is running (and a few more to draw the results).
pub fn settle(h: &mut Harness<'_, KilnApp>) {
    // Commands from the last input are applied in the next frames' `logic`, which may start jobs.
    h.run_steps(2);
    let start = Instant::now();
    loop {
        h.step();
        if !h.state().busy() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_mins(2),
            "background work did not finish"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(4);
}

/// Step until `label` (a substring) is on screen.
pub fn wait_for(h: &mut Harness<'_, KilnApp>, label: &str) {
    let start = Instant::now();
    while h.query_by_label_contains(label).is_none() {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "`{label}` never appeared"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The Data room's open version as the table shows it.
pub fn table_view(h: &Harness<'_, KilnApp>) -> kiln_core::data::TableData {
    let data = h.state().room::<DataRoom>().unwrap();
    data.controller().current.view.clone().unwrap()
}

/// All its rows, read into memory.
pub fn table_frame(h: &Harness<'_, KilnApp>) -> polars::prelude::DataFrame {
    let t = table_view(h);
    t.rows(0, t.height()).unwrap()
}

/// The run followed in the Train room.
pub fn live<'a>(h: &'a Harness<'_, KilnApp>) -> Option<&'a LiveTraining> {
    let train = h.state().room::<TrainRoom>().unwrap();
    train.controller().training.as_ref()
}

pub fn screenshot(h: &mut Harness<'_, KilnApp>, name: &str) {
    let dir = std::env::var_os("KILN_SCREENSHOTS").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    let image = h
        .render()
        .expect("rendering with wgpu (install mesa-vulkan-drivers for lavapipe)");
    image.save(dir.join(format!("{name}.png"))).unwrap();
}

/// A file dropped on the window, as the native integration reports it.
#[derive(Debug)]
pub struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

pub fn drop_file(h: &mut Harness<'_, KilnApp>, path: PathBuf) {
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(path)));
    h.step();
}
