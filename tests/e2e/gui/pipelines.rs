//! The Pipelines room: each schedule with its next run and its last runs — the chain a pull started, the
//! error of one that failed — and *Run now*.

use egui_kittest::kittest::Queryable;
use kiln_core::schedule::Job;
use kiln_core::{Cancel, Workspace};

use super::support::{harness, screenshot, settle, wait_for};
use crate::support::kiln;

#[test]
fn the_pipelines_room_shows_each_schedule_its_chain_and_its_failure() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = d.path().join("ws");
    let orders = d.path().join("orders.csv");
    let partners = d.path().join("partners.csv");
    crate::support::orders_with_derived(&ws_dir, &orders, "id,amount\n1,10\n2,20\n", "big_orders");
    std::fs::write(&partners, "id,name\n1,a\n").unwrap();
    let r = kiln(
        &ws_dir,
        &["import", partners.to_str().unwrap(), "--name", "partners"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut ws = Workspace::open(&ws_dir).unwrap();
    let now = kiln_core::schedule::Utc::now();
    for (dataset, every_s) in [("orders", 3600), ("partners", 86_400)] {
        ws.add_schedule(
            &Job::Pull {
                dataset: dataset.into(),
                every_s,
            },
            now,
        )
        .unwrap();
    }
    // New orders arrive; the partners' file is gone.
    std::fs::write(&orders, "id,amount\n1,10\n2,20\n3,30\n").unwrap();
    std::fs::remove_file(&partners).unwrap();
    ws.run_due(now, "test", &Cancel::new()).unwrap();
    drop(ws);

    let mut h = harness(&ws_dir);
    h.run_steps(2);
    h.get_by_label_contains("Pipelines").click();
    settle(&mut h);
    wait_for(&mut h, "Pull orders every 1h");
    h.get_by_label("Pull partners every 1d");
    h.get_by_label("pulled orders@2 · derived big_orders@2");
    h.get_by_label_contains("partners.csv");
    assert_eq!(h.query_all_by_label_contains("next run").count(), 2);
    screenshot(&mut h, "pipelines");

    // Run now: nothing new since.
    h.get_all_by_label("Run now").next().unwrap().click();
    settle(&mut h);
    h.get_by_label_contains("Schedule 1: nothing new");
}
