//! The Label room: hotkeys, image grids, suspect-label review.

use egui_kittest::kittest::Queryable;
use kiln_core::Workspace;

use super::support::{harness, screenshot, settle, wait_for};

#[test]
fn label_twenty_digits_by_hotkeys_undo_one_and_commit() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::digits_workspace(d.path());
    let original: Vec<i64> = {
        let ws = Workspace::open(&ws_dir).unwrap();
        let df = ws.load(&ws.resolve("digits@1").unwrap()).unwrap();
        let c = df
            .column("column_65")
            .unwrap()
            .as_materialized_series()
            .clone();
        c.i64()
            .unwrap()
            .iter()
            .take(20)
            .map(Option::unwrap)
            .collect()
    };
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Label").click();
    h.run_steps(2);
    h.get_by_label("Start labeling").click();
    settle(&mut h);
    h.get_by_label_contains("1797 / 1797 labeled");
    h.get_by_label_contains("0 label(s) saved in the draft");
    // 20 hotkey presses: each labels the current digit (with a class other than its own) and advances.
    let pressed: Vec<i64> = original.iter().map(|c| (c + 1) % 10).collect();
    for class in &pressed {
        let key = egui::Key::from_name(&class.to_string()).unwrap();
        h.key_press(key);
        h.step();
    }
    h.run_steps(2);
    h.get_by_label_contains("20 label(s) saved in the draft");
    screenshot(&mut h, "label-grid");
    // Paging moves the current item along; the keys then label on the new page.
    h.get_by_label_contains("Page 1 of 5");
    h.get_by_label("Page >").click();
    h.run_steps(3);
    h.get_by_label_contains("Page 2 of 5");
    h.get_by_label("< Page").click();
    h.run_steps(3);
    h.get_by_label_contains("Page 1 of 5");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    h.get_by_label_contains("19 label(s) saved in the draft");
    // Every label shown as saved is in the workspace draft already.
    {
        let ws = Workspace::open(&ws_dir).unwrap();
        let drafts = ws
            .drafts(&ws.resolve("digits@1").unwrap(), "column_65")
            .unwrap();
        assert_eq!(drafts.len(), 19);
    }
    h.get_by_label("Message").focus();
    h.get_by_label("Message").type_text("first 19 relabelled");
    h.get_by_label("Commit labels").click();
    settle(&mut h);
    settle(&mut h);

    let ws = Workspace::open(&ws_dir).unwrap();
    let v2 = ws.resolve("digits").unwrap();
    let v1 = ws.resolve("digits@1").unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.parent_id, Some(v1.id));
    assert_eq!(v2.operation, "labels");
    assert_eq!(v2.message.as_deref(), Some("first 19 relabelled"));
    let df = ws.load(&v2).unwrap();
    let labels: Vec<i64> = df
        .column("column_65")
        .unwrap()
        .as_materialized_series()
        .i64()
        .unwrap()
        .iter()
        .take(20)
        .map(Option::unwrap)
        .collect();
    assert_eq!(&labels[..19], &pressed[..19]);
    assert_eq!(
        labels[19], original[19],
        "the undone label is not committed"
    );
    let diff = ws.diff("digits@1", "digits@2").unwrap();
    assert_eq!((diff.changed_rows, diff.added, diff.removed), (19, 0, 0));
    assert_eq!(
        diff.label_changes.iter().map(|c| c.count).sum::<usize>(),
        19
    );
    assert!(
        ws.drafts(&v1, "column_65").unwrap().is_empty(),
        "the commit consumed the draft"
    );

    // The versions view shows the lineage and the diff.
    h.get_by_label("Data  (1)").click();
    h.run_steps(2);
    h.get_by_label("Versions").click();
    h.run_steps(2);
    h.get_by_label("Diff v1 to v2").click();
    settle(&mut h);
    h.get_by_label_contains("0 added · 0 removed · 19 changed rows (19 cells)");
    screenshot(&mut h, "versions");
}

#[test]
fn image_folder_grid_shows_broken_images_without_panicking() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("pets");
    for class in ["cat", "dog"] {
        std::fs::create_dir_all(src.join(class)).unwrap();
        for i in 0..4u8 {
            let img = image::RgbImage::from_pixel(16, 16, image::Rgb([i * 60, 80, 200 - i * 40]));
            img.save(src.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    std::fs::write(
        src.join("cat").join("truncated.png"),
        b"\x89PNG\r\n\x1a\n broken",
    )
    .unwrap();
    let ws_dir = d.path().join("ws");
    {
        let mut ws = Workspace::open(&ws_dir).unwrap();
        ws.import_images(
            &src,
            "pets",
            &kiln_core::Cancel::new(),
            &kiln_core::Progress::new(),
        )
        .unwrap();
    }
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Label").click();
    h.run_steps(2);
    h.get_by_label("Start labeling").click();
    settle(&mut h);
    // Thumbnails decode on worker threads; the broken one is reported, not a panic.
    wait_for(&mut h, "1 image(s) could not be decoded");
    h.get_by_label_contains("9 / 9 labeled");
    screenshot(&mut h, "label-images");
}

#[test]
fn suspect_review_accepts_by_key_keeps_by_key_and_commits_a_version() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::digits_workspace(d.path());
    {
        let mut ws = Workspace::open(&ws_dir).unwrap();
        // Give 30 digits the next digit's label.
        let df = ws.load(&ws.resolve("digits@1").unwrap()).unwrap();
        let labels = df.column("column_65").unwrap().i64().unwrap().clone();
        let flips: Vec<(u64, Option<String>)> = (0..30u64)
            .map(|k| {
                let row = k * 59 + 7;
                let was = labels.get(row as usize).unwrap();
                (row, Some(((was + 1) % 10).to_string()))
            })
            .collect();
        ws.set_labels("digits", "column_65", &flips, Some("flips"), None)
            .unwrap();
    }
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Label").click();
    h.run_steps(2);
    h.get_by_label("Start labeling").click();
    settle(&mut h);
    h.get_by_label("Find suspect labels").click();
    settle(&mut h);
    wait_for(&mut h, "Reviewing suspects run 1");
    let first = {
        let room = h.state().room::<kiln_app::gui::label::LabelRoom>().unwrap();
        let s = room.controller().session().unwrap();
        let review = s.assist.review.as_ref().unwrap();
        assert!(
            review.suspects.len() >= 20,
            "{} suspects",
            review.suspects.len()
        );
        assert_eq!(
            s.ids[s.cursor], review.suspects[0].row_id,
            "the cursor is on the first suspect"
        );
        review.suspects[0].clone()
    };
    h.get_by_label_contains(&format!("Accept {}", first.suggested));
    // The default queue marks where the estimated number of label errors ends.
    h.get_by_label_contains("The model expects about");
    screenshot(&mut h, "label-suspects");
    // Enter accepts the suggestion, Space keeps the next one as it is.
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    let second = {
        let room = h.state().room::<kiln_app::gui::label::LabelRoom>().unwrap();
        let s = room.controller().session().unwrap();
        assert_eq!(s.draft_count(), 1);
        let pos = s.position_of(first.row_id).unwrap();
        assert_eq!(s.label_at(pos), Some(first.suggested.as_str()));
        let review = s.assist.review.as_ref().unwrap();
        assert_eq!((review.index, review.fixed), (1, 1));
        review.suspects[1].clone()
    };
    h.key_press(egui::Key::Space);
    h.run_steps(2);
    {
        let ws = Workspace::open(&ws_dir).unwrap();
        let v2 = ws.resolve("digits@2").unwrap();
        assert_eq!(ws.kept_labels(&v2, "column_65").unwrap(), [second.row_id]);
    }
    h.get_by_label_contains("1 fixed · 1 kept");
    h.get_by_label("Commit labels").click();
    settle(&mut h);
    settle(&mut h);
    let ws = Workspace::open(&ws_dir).unwrap();
    let v3 = ws.resolve("digits").unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(
        v3.message.as_deref(),
        Some("Fix labels from suspects run 1")
    );
    let diff = ws.diff("digits@2", "digits@3").unwrap();
    assert_eq!(diff.changed_rows, 1);
}
