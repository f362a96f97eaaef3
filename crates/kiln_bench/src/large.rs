//! `kiln_bench large`: a dataset larger than memory end to end — a generated CSV imported through the
//! streaming path, the version opened paged, scrolled, filtered, sorted, summarised, and one epoch of the
//! MLP trained from its row groups. Each step reports its time and its memory: the peak of anonymous
//! memory (heap; sampled every 10 ms), the resident-set peak (`VmHWM`, which also counts the pages of
//! memory-mapped files that the kernel may drop at will) and, when the process runs in a cgroup-v1
//! memory group, that group's limit and peak usage.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kiln_core::data::{TableData, cell_text};
use kiln_core::{Cancel, ImportOptions, Progress, Workspace};
use serde_json::{Value, json};

use crate::{generate_csv, status_field};

/// What `kiln_bench large` runs.
#[derive(Debug, Clone)]
pub struct Large {
    pub size_mb: u64,
    pub dir: PathBuf,
    pub budget_mb: u64,
    pub frames: usize,
    pub skip: Vec<String>,
    pub filter: String,
    pub sort: String,
    /// Remove the generated CSV once imported (room on the disk for the sort's runs).
    pub drop_csv: bool,
}

/// Run `f`, sampling anonymous memory meanwhile; its result, seconds, and the memory figures.
pub(crate) fn measured<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64, Value)> {
    let before = status_field("RssAnon:").unwrap_or(0);
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !done.load(Ordering::Relaxed) {
                max = max.max(status_field("RssAnon:").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(10));
            }
            max
        })
    };
    // Reset the resident-set peak so it covers this step alone.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let t = Instant::now();
    let out = f();
    let secs = t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let anon_peak = sampler.join().unwrap_or(0).max(before);
    let memory = json!({
        "anon_peak_mb": mb(anon_peak),
        "anon_before_mb": mb(before),
        "rss_peak_mb": status_field("VmHWM:").map(mb),
        "cgroup": cgroup_memory(),
    });
    Ok((out?, secs, memory))
}

fn mb(b: u64) -> f64 {
    (b as f64 / 1e6 * 10.0).round() / 10.0
}

/// The cgroup-v1 memory group of this process: its limit and the peak it has used (page cache included).
fn cgroup_memory() -> Option<Value> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = groups
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_owned()))?;
    let dir = Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
    let read = |f: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(f))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let limit = read("memory.limit_in_bytes")?;
    // An unlimited group reports a huge number: not worth printing.
    (limit < 1 << 50).then(|| {
        json!({
            "limit_mb": mb(limit),
            "max_usage_mb": read("memory.max_usage_in_bytes").map(mb),
            "failcnt": read("memory.failcnt"),
        })
    })
}

/// Keep a step's figures, and print them at once: a run killed later (out of memory) still tells them.
fn record(report: &mut serde_json::Map<String, Value>, step: &str, figures: Value) {
    eprintln!("{step}: {figures}");
    report.insert(step.into(), figures);
}

pub fn bench_large(cfg: &Large) -> Result<Value> {
    std::fs::create_dir_all(&cfg.dir)?;
    let skip = |s: &str| cfg.skip.iter().any(|k| k == s);
    let csv = cfg.dir.join(format!("mixed-{}mb.csv", cfg.size_mb));
    let ws_dir = cfg.dir.join(format!("ws-{}mb", cfg.size_mb));
    let mut report = serde_json::Map::new();
    report.insert("budget_mb".into(), json!(cfg.budget_mb));
    if !skip("import") {
        if std::fs::metadata(&csv).map_or(0, |m| m.len()) < cfg.size_mb * 1024 * 1024 {
            eprintln!("generating {} ({} MiB)…", csv.display(), cfg.size_mb);
            generate_csv(&csv, cfg.size_mb)?;
        }
        let bytes = std::fs::metadata(&csv)?.len();
        let _ = std::fs::remove_dir_all(&ws_dir);
        let mut ws = Workspace::open(&ws_dir)?;
        ws.set_memory_budget(cfg.budget_mb << 20);
        eprintln!("importing…");
        let (out, secs, memory) = measured(|| {
            Ok(ws.import(
                &csv,
                "large",
                &ImportOptions::default(),
                &Cancel::new(),
                &Progress::new(),
            )?)
        })?;
        if cfg.drop_csv {
            std::fs::remove_file(&csv)?;
        }
        record(
            &mut report,
            "import",
            json!({
                "csv_bytes": bytes,
                "rows": out.version.row_count,
                "object_bytes": out.version.byte_size,
                "seconds": secs,
                "mb_per_s": bytes as f64 / 1e6 / secs,
                "memory": memory,
            }),
        );
    }
    let mut ws = Workspace::open(&ws_dir).context("the workspace of an earlier import")?;
    ws.set_memory_budget(cfg.budget_mb << 20);
    let version = ws.resolve("large")?;
    let object = ws.objects().absolute(&version.object_path);
    let budget = cfg.budget_mb << 20;

    // Opening: the footer and the first row group.
    let (table, secs, memory) = measured(|| Ok(TableData::open(&object, budget)?))?;
    let TableData::Paged(paged) = &table else {
        anyhow::bail!("the version fits the budget: choose a smaller --budget-mb");
    };
    let first = table.rows(0, 40)?;
    record(
        &mut report,
        "open",
        json!({
            "rows": table.height(),
            "row_groups": paged.row_groups(),
            "memory_estimate_mb": mb(paged.memory_estimate()),
            "first_rows_seconds": secs,
            "first_rows": first.height(),
            "memory": memory,
        }),
    );

    // Scrolling: each frame reads the cells of 40 visible rows (what the table does on the UI thread);
    // the wheel moves 60 rows a frame, and every 100 frames the scroll bar jumps somewhere else.
    let height = table.height();
    let mut frame_times = Vec::with_capacity(cfg.frames);
    let mut waiting = 0usize;
    let mut top = 0usize;
    let mut jump = 0x9E37_79B9_7F4A_7C15u64;
    let scroll = Instant::now();
    let mut chars = 0usize;
    for f in 0..cfg.frames {
        if f % 100 == 99 {
            jump = jump.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            top = (jump >> 11) as usize % height.saturating_sub(40).max(1);
        }
        let t = Instant::now();
        let mut missing = false;
        for row in top..(top + 40).min(height) {
            match paged.try_row(row) {
                Some((group, at)) => {
                    for c in group.columns() {
                        chars += cell_text(c, at).len();
                    }
                }
                None => missing = true,
            }
        }
        frame_times.push(t.elapsed());
        waiting += usize::from(missing);
        top = (top + 60).min(height.saturating_sub(40));
        // 60 frames a second.
        std::thread::sleep(Duration::from_millis(16).saturating_sub(t.elapsed()));
    }
    frame_times.sort();
    let q = |p: f64| {
        frame_times[((frame_times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
    };
    record(
        &mut report,
        "scroll",
        json!({
            "frames": cfg.frames,
            "frame_data_ms_p50": q(0.5),
            "frame_data_ms_p99": q(0.99),
            "frame_data_ms_max": q(1.0),
            "frames_with_rows_still_loading": waiting,
            "seconds": scroll.elapsed().as_secs_f64(),
            "cell_chars": chars,
            "read_error": paged.read_error(),
        }),
    );

    let scratch = |name: &str| ws.objects().temp(name).into_path();
    if !skip("filter") {
        eprintln!("filtering…");
        let path = scratch("parquet");
        let (view, secs, memory) = measured(|| {
            Ok(table.filter_sort(&cfg.filter, None, &path, &Cancel::new(), &Progress::new())?)
        })?;
        record(
            &mut report,
            "filter",
            json!({ "where": cfg.filter, "rows": view.height(), "seconds": secs, "memory": memory }),
        );
    }
    if !skip("sort") {
        eprintln!("sorting…");
        let path = scratch("parquet");
        let (view, secs, memory) = measured(|| {
            Ok(table.filter_sort(
                "",
                Some((&cfg.sort, false)),
                &path,
                &Cancel::new(),
                &Progress::new(),
            )?)
        })?;
        let first = view.rows(0, 1)?;
        record(
            &mut report,
            "sort",
            json!({
                "by": cfg.sort, "rows": view.height(), "seconds": secs, "memory": memory,
                "first": first.column(cfg.sort.as_str()).ok().map(|c| cell_text(c, 0)),
            }),
        );
    }
    if !skip("stats") {
        eprintln!("statistics…");
        let (stats, secs, memory) =
            measured(|| Ok(table.column_stats(&Cancel::new(), &Progress::new())?))?;
        record(
            &mut report,
            "stats",
            json!({
                "columns": stats.len(),
                "count_of_first": stats.first().map(|s| s.count),
                "quantiles_from_sample_rows": stats.first().and_then(|s| s.sample_rows),
                "seconds": secs,
                "memory": memory,
            }),
        );
    }
    drop(table);
    if !skip("label") {
        // The Label room's window at the start, the middle and the end of the version.
        eprintln!("label windows…");
        let mut windows = Vec::new();
        for at in [0, height / 2, height.saturating_sub(1)] {
            let (session, secs, memory) =
                measured(|| Ok(ws.label_session_at(version.clone(), "label".into(), at)?))?;
            let w = session.window.context("the version fits the budget")?;
            windows.push(json!({
                "start": w.start, "rows": w.rows, "seconds": secs, "memory": memory,
            }));
        }
        record(&mut report, "label_windows", json!(windows));
        // Go to row: the window that holds a row near the end, found by its id in a streaming pass.
        let id = height.saturating_sub(10) as u64;
        let (session, secs, memory) =
            measured(|| Ok(ws.label_session_at_row(version.clone(), "label".into(), id)?))?;
        let w = session.window.context("the version fits the budget")?;
        anyhow::ensure!(
            session.ids[session.cursor] == id,
            "the cursor is not on row {id}"
        );
        record(
            &mut report,
            "label_go_to_row",
            json!({ "row_id": id, "start": w.start, "seconds": secs, "memory": memory }),
        );
        // The whole version's committed labels, which the Label room counts beside a window.
        let (counts, secs, memory) =
            measured(|| Ok(ws.committed_label_counts(&version, "label")?))?;
        record(
            &mut report,
            "label_counts",
            json!({
                "labeled": counts.iter().map(|(_, n)| n).sum::<u64>(),
                "classes": counts.len(),
                "seconds": secs,
                "memory": memory,
            }),
        );
    }
    if !skip("train") {
        eprintln!("training one epoch…");
        let mut params = kiln_train::TrainParams::default();
        for (k, v) in [("epochs", "1"), ("patience", "0"), ("batch_size", "512")] {
            params.set(k, v)?;
        }
        let req = kiln_core::training::TrainRequest {
            dataset: "large".into(),
            target: "label".into(),
            features: Some(
                ["x1", "x2", "x3", "x4", "category", "score", "flag"]
                    .map(String::from)
                    .to_vec(),
            ),
            params,
            device: kiln_train::DeviceChoice::Cpu,
            sweep_id: None,
        };
        let never = AtomicBool::new(false);
        // The encoding is fitted (one streaming pass) before `Start`; the epoch runs from `Start` to
        // `Epoch` (its validation pass included).
        let (mut fitted, mut epoch) = (None, None);
        let started = Instant::now();
        let (summary, secs, memory) = measured(|| {
            Ok(ws.train(&req, &never, &mut |e| match e {
                kiln_train::Event::Start { .. } => fitted = Some(started.elapsed().as_secs_f64()),
                kiln_train::Event::Epoch { .. } => epoch = Some(started.elapsed().as_secs_f64()),
                kiln_train::Event::Step { .. } => {}
            })?)
        })?;
        let train_rows = summary.metrics.get("train_rows").copied().unwrap_or(0.0);
        let epoch_seconds = epoch.zip(fitted).map(|(e, f)| e - f);
        record(
            &mut report,
            "train",
            json!({
                "train_rows": train_rows,
                "fit_pass_seconds": fitted,
                "epoch_seconds": epoch_seconds,
                "samples_per_s": epoch_seconds.map(|s| train_rows / s),
                "seconds_total": secs,
                "memory": memory,
            }),
        );
    }
    Ok(Value::Object(report))
}
