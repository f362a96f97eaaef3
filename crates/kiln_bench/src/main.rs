//! `kiln_bench`: the performance figures in BENCHMARKS.md, measured in a release build
//! (`cargo run --release -p kiln_bench -- COMMAND`). It drives Kiln's own code — the workspace, the data
//! table widget, the real `KilnApp` headless — and is kept out of the shipped `kiln` command line.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kiln_core::data::polars::prelude::*;
use kiln_core::{Cancel, ImportOptions, Progress, Workspace};
use serde_json::json;

mod http_import;
mod large;
mod serve;

#[derive(Debug, Parser)]
#[command(
    name = "kiln_bench",
    about = "Measure Kiln's performance figures (see BENCHMARKS.md)"
)]
struct Args {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Import a generated CSV (default 1 GB) and compare with polars' own `CsvReader`; time to first rows.
    Import {
        /// Size of the generated CSV in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mb: u64,
        /// Folder for the generated file and the scratch workspace (default: the system temp folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Timed repetitions of each side (the best is reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// The generated CSV imported from a URL on loopback against the same file imported from disk, in
    /// fresh workspaces, taking turns: the time of each pair and their ratio.
    HttpImport {
        /// Size of the generated CSV in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mb: u64,
        /// Folder for the generated file and the scratch workspaces (default: the system temp folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Pairs to measure.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// A dataset larger than memory: import a generated CSV through the streaming path, open the version
    /// paged, scroll, filter, sort, statistics, one epoch of the MLP; time and memory of each step.
    Large {
        /// Size of the generated CSV in MiB.
        #[arg(long, default_value_t = 30 * 1024)]
        size_mb: u64,
        /// Folder for the generated file and the workspace (default: the system temp folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The workspace's memory budget in MiB (the version is paged when it is larger).
        #[arg(long, default_value_t = 1024)]
        budget_mb: u64,
        /// Scrolling frames to time.
        #[arg(long, default_value_t = 600)]
        frames: usize,
        /// Steps to leave out: import (reuse the workspace of an earlier run), filter, sort, stats, label,
        /// train.
        #[arg(long, value_delimiter = ',')]
        skip: Vec<String>,
        #[arg(long, default_value = "category = 'beta' AND x1 > 40")]
        filter: String,
        #[arg(long, default_value = "x1")]
        sort: String,
        /// Remove the generated CSV once imported (room on the disk for the sort's runs).
        #[arg(long)]
        drop_csv: bool,
    },
    /// CPU time per frame of the Data table while scrolling through a large frame.
    Table {
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 20)]
        cols: usize,
        #[arg(long, default_value_t = 600)]
        frames: usize,
        /// Draw this Parquet object (a dataset version's) paged from disk, at 60 frames a second,
        /// instead of a generated frame in memory.
        #[arg(long)]
        paged: Option<PathBuf>,
    },
    /// Column statistics of a large frame: time and peak memory.
    Stats {
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 20)]
        cols: usize,
    },
    /// Keystroke-to-next-item CPU time in the Label panel (digits, and a synthetic table of `rows`).
    Label {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        #[arg(long, default_value_t = 300)]
        keys: usize,
    },
    /// Metric logging throughput into the workspace database, and reading a run's history back.
    Metrics {
        #[arg(long, default_value_t = 2_000_000)]
        points: usize,
        #[arg(long, default_value_t = 20_000)]
        history: usize,
        /// Log into this PostgreSQL database instead (`postgres://user:pw@host/db`, an empty database
        /// this benchmark may create Kiln's tables in): the team workspace's path, a binary `COPY` per
        /// batch over the network.
        #[arg(long)]
        postgres: Option<String>,
    },
    /// Training time and samples/s on digits (stratified 80/20 split drawn with `--seed`), with the test
    /// accuracy: the default MLP, or the CNN with its defaults (30 epochs, lr 0.003, dropout 0.3).
    Train {
        /// Seed of the stratified 80/20 split.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Seed of the training run (initial weights, batch order, dropout); the template's default
        /// when not given.
        #[arg(long)]
        train_seed: Option<u64>,
        #[arg(long, default_value = "mlp", value_parser = ["mlp", "cnn"])]
        model: String,
        /// cpu, wgpu or auto.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// The Runs room at scale: a table of `runs` generated runs (first paint, sort by a metric), the
    /// overlay of `overlay_runs` curves of `overlay_points` points (first paint, frame CPU while panning)
    /// and one curve of `curve_points` points (frame CPU while panning).
    Compare {
        #[arg(long, default_value_t = 10_000)]
        runs: usize,
        #[arg(long, default_value_t = 100)]
        overlay_runs: usize,
        #[arg(long, default_value_t = 100_000)]
        overlay_points: usize,
        #[arg(long, default_value_t = 10_000_000)]
        curve_points: usize,
        #[arg(long, default_value_t = 300)]
        frames: usize,
        /// Folder for the scratch workspaces (default: the system temp folder).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// A table of ROWS rows and 10 columns (integers, floats, text, a date, a timestamp, a flag) on
    /// PostgreSQL or MySQL/MariaDB, created in the database of the URL when it is not there yet, read into
    /// a version with `kiln import URL --query` (time and memory), then 10,000 more rows pulled
    /// incrementally.
    DbImport {
        /// `postgres://…/DB` or `mysql://…/DB`.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
    },
    /// The runs table of a team workspace: RUNS synthetic runs written to a new team workspace on the
    /// PostgreSQL database URL (an empty database the URL's role may take over, objects in a scratch
    /// folder), then the first paint of the Runs room read from the server.
    TeamRuns {
        #[arg(long)]
        postgres: String,
        #[arg(long, default_value_t = 100_000)]
        runs: usize,
    },
    /// The digits MLP behind `kiln serve` (the release binary next to this one), one row per request
    /// over keep-alive connections: req/s, p50/p99 latency, failures and the server's resident memory,
    /// for each connection count.
    Serve {
        /// Connection counts, each measured in turn on a fresh server.
        #[arg(long, value_delimiter = ',', default_value = "32,1000")]
        connections: Vec<usize>,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Folder for the scratch workspace (default: the system temp folder).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Champion throughput and p99 at N closed-loop connections without and with a shadow (the same
    /// model as v2), on fresh servers in turn.
    Shadow {
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// `wrk` against one `kiln serve`: `/v1/health`, then one-row `/v1/predict`; their ratio.
    HttpFloor {
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Kiln's constant-rate load generator against `kiln serve` (health and predictions): achieved rate
    /// against the target, latencies from each request's due time, the generator's own send delay.
    Loadgen {
        /// Requests per second.
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
    /// `kiln release replay` of REQUESTS logged requests of a champion through a candidate (digits MLPs).
    Replay {
        #[arg(long, default_value_t = 100_000)]
        requests: usize,
    },
    /// The same load generator against any server (the peers): POST `body` to `url` again and again.
    Load {
        #[arg(long)]
        url: String,
        #[arg(long)]
        body: PathBuf,
        #[arg(long, default_value = "application/json")]
        content_type: String,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// The drift report (per-column method, statistic, PSI; dataset drift) on `rows` × `cols` numeric
    /// columns, half of them shifted; `--write DIR` saves both frames as Parquet for the peer script.
    Drift {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        #[arg(long, default_value_t = 20)]
        cols: usize,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Suspect labels on digits with `rate` of its labels flipped at random: time, and precision and
    /// recall of the top suspects cut at the number of flips.
    Suspects {
        #[arg(long, default_value_t = 0.05)]
        rate: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// confident-learning or prune-by-noise-rate.
        #[arg(long, default_value = "confident-learning")]
        filter: String,
    },
    /// Commit of `labels` drafted labels, and diff of two versions of `diff_rows` rows.
    Versions {
        #[arg(long, default_value_t = 100_000)]
        labels: usize,
        #[arg(long, default_value_t = 1_000_000)]
        diff_rows: usize,
    },
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut out = std::io::stdout();
    match run(&args.command, args.json, &mut out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cmd: &BenchCommand, json_out: bool, out: &mut dyn Write) -> Result<()> {
    let report = match cmd {
        BenchCommand::Import {
            size_mb,
            dir,
            repeat,
        } => bench_import(*size_mb, dir.clone(), (*repeat).max(1))?,
        BenchCommand::HttpImport {
            size_mb,
            dir,
            repeat,
        } => http_import::bench_http_import(*size_mb, dir.clone(), (*repeat).max(1))?,
        BenchCommand::Large {
            size_mb,
            dir,
            budget_mb,
            frames,
            skip,
            filter,
            sort,
            drop_csv,
        } => large::bench_large(&large::Large {
            size_mb: *size_mb,
            dir: dir
                .clone()
                .unwrap_or_else(std::env::temp_dir)
                .join("kiln-bench-large"),
            budget_mb: *budget_mb,
            frames: *frames,
            skip: skip.clone(),
            filter: filter.clone(),
            sort: sort.clone(),
            drop_csv: *drop_csv,
        })?,
        BenchCommand::Table {
            rows,
            cols,
            frames,
            paged,
        } => bench_table(*rows, *cols, *frames, paged.as_deref())?,
        BenchCommand::Stats { rows, cols } => bench_stats(*rows, *cols)?,
        BenchCommand::Label { rows, keys } => bench_label(*rows, *keys)?,
        BenchCommand::Metrics {
            points,
            history,
            postgres: None,
        } => bench_metrics(*points, *history)?,
        BenchCommand::Metrics {
            points,
            history,
            postgres: Some(url),
        } => bench_metrics_postgres(url, *points, *history)?,
        BenchCommand::Train {
            seed,
            train_seed,
            model,
            device,
        } => bench_train(*seed, *train_seed, model, device)?,
        BenchCommand::Versions { labels, diff_rows } => bench_versions(*labels, *diff_rows)?,
        BenchCommand::Serve {
            connections,
            seconds,
            dir,
        } => serve::bench_serve(connections, *seconds, dir.clone())?,
        BenchCommand::Replay { requests } => serve::bench_replay(*requests)?,
        BenchCommand::Shadow {
            connections,
            seconds,
            rounds,
        } => serve::bench_shadow(*connections, *seconds, *rounds)?,
        BenchCommand::HttpFloor {
            connections,
            seconds,
            rounds,
        } => serve::bench_http_floor(*connections, *seconds, *rounds)?,
        BenchCommand::Loadgen {
            rate,
            seconds,
            connections,
        } => serve::bench_loadgen(*rate, *seconds, *connections)?,
        BenchCommand::Load {
            url,
            body,
            content_type,
            connections,
            seconds,
        } => serve::bench_load(url, body, content_type, *connections, *seconds)?,
        BenchCommand::Suspects {
            rate,
            seed,
            folds,
            filter,
        } => serve::bench_suspects(*rate, *seed, *folds, filter)?,
        BenchCommand::Drift {
            rows,
            cols,
            repeat,
            write,
        } => serve::bench_drift(*rows, *cols, *repeat, write.as_deref())?,
        BenchCommand::TeamRuns { postgres, runs } => bench_team_runs(postgres, *runs)?,
        BenchCommand::DbImport { url, rows } => bench_db_import(url, *rows)?,
        BenchCommand::Compare {
            runs,
            overlay_runs,
            overlay_points,
            curve_points,
            frames,
            dir,
        } => bench_compare(
            *runs,
            (*overlay_runs, *overlay_points),
            *curve_points,
            *frames,
            dir.clone(),
        )?,
    };
    if json_out {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        Ok(())
    } else {
        if let Some(obj) = report.as_object() {
            for (k, v) in obj {
                writeln!(out, "{k:<28} {v}")?;
            }
        }
        Ok(())
    }
}

/// The benchmark's folder (`name` under `dir` or the system temp folder) and the generated CSV of
/// `size_mb` MiB in it, generated unless an earlier run left it there.
fn generated_csv(dir: Option<PathBuf>, name: &str, size_mb: u64) -> Result<(PathBuf, PathBuf)> {
    let dir = dir.unwrap_or_else(std::env::temp_dir).join(name);
    std::fs::create_dir_all(&dir)?;
    let csv = dir.join(format!("mixed-{size_mb}mb.csv"));
    if std::fs::metadata(&csv).map_or(0, |m| m.len()) < size_mb * 1024 * 1024 {
        eprintln!("generating {} ({size_mb} MiB)…", csv.display());
        generate_csv(&csv, size_mb)?;
    }
    Ok((dir, csv))
}

/// A CSV of `size_mb` MiB with mixed columns: ids, floats, a category, free text, a flag, nulls.
fn generate_csv(path: &Path, size_mb: u64) -> Result<()> {
    let target = size_mb * 1024 * 1024;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    writeln!(w, "id,x1,x2,x3,x4,category,label,score,flag,comment")?;
    let cats = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let mut written = 0u64;
    let mut i = 0u64;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut line = String::with_capacity(160);
    while written < target {
        line.clear();
        let r = next();
        let x = |k: u64| ((r >> k) & 0xffff) as f64 / 655.36 - 50.0;
        let score = if r % 17 == 0 {
            String::new()
        } else {
            format!("{:.4}", (r % 100_000) as f64 / 1000.0)
        };
        let _ = writeln!(
            line,
            "{i},{:.5},{:.5},{:.3},{},{},{},{score},{},row {} note {}",
            x(0),
            x(16),
            x(32),
            (r >> 48) % 1000,
            cats[(r % 5) as usize],
            r % 10,
            r % 2 == 0,
            i,
            r % 977
        );
        w.write_all(line.as_bytes())?;
        written += line.len() as u64;
        i += 1;
    }
    w.flush()?;
    Ok(())
}

fn best(times: &[Duration]) -> f64 {
    times
        .iter()
        .map(Duration::as_secs_f64)
        .fold(f64::INFINITY, f64::min)
}

fn bench_import(size_mb: u64, dir: Option<PathBuf>, repeat: usize) -> Result<serde_json::Value> {
    let (dir, csv) = generated_csv(dir, "kiln-bench-import", size_mb)?;
    let bytes = std::fs::metadata(&csv)?.len();
    // Warm the page cache so both sides read from memory.
    let _ = std::fs::read(&csv)?;

    // The contenders take turns, round after round, and each keeps its best time: on a shared
    // two-core machine a minute of noise then hits all of them alike.
    let nulls: Vec<PlSmallStr> = ImportOptions::default_null_values()
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| PlSmallStr::from(t.as_str()))
        .collect();
    let polars_read_write =
        |null_tokens: bool| -> Result<(Duration, Duration, usize, Duration, Duration)> {
            let out = dir.join("polars.parquet");
            let mut parse = CsvParseOptions::default();
            if null_tokens {
                parse = parse.with_null_values(Some(NullValues::AllColumns(nulls.clone())));
            }
            let (t, c) = (
                Instant::now(),
                cpu_time(rustix::time::ClockId::ProcessCPUTime),
            );
            let mut df = CsvReadOptions::default()
                .with_parse_options(parse)
                .try_into_reader_with_file_path(Some(csv.clone()))?
                .finish()?;
            let read = t.elapsed();
            let read_cpu = cpu_time(rustix::time::ClockId::ProcessCPUTime).saturating_sub(c);
            let mut f = std::fs::File::create(&out)?;
            ParquetWriter::new(&mut f)
                .with_compression(ParquetCompression::Lz4Raw)
                .finish(&mut df)?;
            f.sync_all()?;
            let whole = t.elapsed();
            let whole_cpu = cpu_time(rustix::time::ClockId::ProcessCPUTime).saturating_sub(c);
            let rows = df.height();
            drop(df);
            let _ = std::fs::remove_file(&out);
            Ok((read, whole, rows, read_cpu, whole_cpu))
        };
    // polars' streaming engine reading the file into nothing (Kiln's null tokens, batches in order, as
    // an import takes them): the floor of any import built on it.
    let polars_streaming_read = || -> Result<(Duration, Duration, usize)> {
        let parse = CsvParseOptions::default()
            .with_null_values(Some(NullValues::AllColumns(nulls.clone())));
        let text = csv.to_str().context("the path is not UTF-8")?;
        let (t, c) = (
            Instant::now(),
            cpu_time(rustix::time::ClockId::ProcessCPUTime),
        );
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        let callback = PlanCallback::new(move |df: DataFrame| {
            counter.fetch_add(df.height(), std::sync::atomic::Ordering::Relaxed);
            Ok(false)
        });
        LazyCsvReader::new(PlRefPath::from(text))
            .map_parse_options(move |_| parse.clone())
            .finish()?
            .sink_batches(callback, true, None)?
            .collect_with_engine(Engine::Streaming)?;
        let cpu = cpu_time(rustix::time::ClockId::ProcessCPUTime).saturating_sub(c);
        Ok((
            t.elapsed(),
            cpu,
            seen.load(std::sync::atomic::Ordering::Relaxed),
        ))
    };
    let (mut streaming_times, mut streaming_cpu) = (Vec::new(), Vec::new());
    let (mut polars_times, mut polars_rw_times, mut polars_rw_nulls_times) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut kiln_times, mut import_memory) = (Vec::new(), None);
    let (mut polars_cpu, mut polars_rw_cpu, mut kiln_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut rows = 0;
    for i in 0..repeat {
        let (read, whole, n, read_cpu, whole_cpu) = polars_read_write(false)?;
        polars_cpu.push(read_cpu);
        polars_rw_cpu.push(whole_cpu);
        polars_times.push(read);
        polars_rw_times.push(whole);
        rows = n;
        polars_rw_nulls_times.push(polars_read_write(true)?.1);
        let (wall, cpu, n) = polars_streaming_read()?;
        anyhow::ensure!(n == rows, "the streaming read saw {n} rows of {rows}");
        streaming_times.push(wall);
        streaming_cpu.push(cpu);
        // Kiln's import as a user runs it (default options and memory budget), with its memory.
        let ws_dir = dir.join(format!("ws-{i}"));
        let _ = std::fs::remove_dir_all(&ws_dir);
        let mut ws = Workspace::open(&ws_dir)?;
        // Anonymous memory, sampled: the resident set also counts the pages of the memory-mapped
        // source file, which the kernel reclaims at will.
        let before = status_field("RssAnon:");
        let rss_before = current_rss();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut max = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    max = max.max(status_field("RssAnon:").unwrap_or(0));
                    std::thread::sleep(Duration::from_millis(10));
                }
                max
            })
        };
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let (t, c) = (
            Instant::now(),
            cpu_time(rustix::time::ClockId::ProcessCPUTime),
        );
        let outcome = ws.import(
            &csv,
            "bench",
            &ImportOptions::default(),
            &Cancel::new(),
            &Progress::new(),
        )?;
        kiln_times.push(t.elapsed());
        kiln_cpu.push(cpu_time(rustix::time::ClockId::ProcessCPUTime).saturating_sub(c));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let anon_peak = sampler.join().unwrap_or(0);
        anyhow::ensure!(
            outcome.version.row_count as usize == rows,
            "imported {} rows of {rows}",
            outcome.version.row_count
        );
        import_memory = Some(json!({
            "rss_peak_over_start_bytes": peak_rss().zip(rss_before).map(|(p, b)| p.saturating_sub(b)),
            "anon_peak_over_start_bytes": before.map(|b| anon_peak.saturating_sub(b)),
        }));
        drop(ws);
        let _ = std::fs::remove_dir_all(&ws_dir);
    }

    let mut first_rows = Vec::new();
    for _ in 0..repeat.max(5) {
        let t = Instant::now();
        let df = kiln_core::data::preview_file(&csv, &ImportOptions::default(), 1000)?;
        first_rows.push(t.elapsed());
        anyhow::ensure!(df.height() == 1000, "preview returned {} rows", df.height());
    }
    // Where the time goes: Kiln's checked read, Parquet write, blake3.
    let t = Instant::now();
    let mut df = kiln_core::data::read_file(
        &csv,
        &ImportOptions::default(),
        &Cancel::new(),
        &Progress::new(),
    )?;
    let read_s = t.elapsed().as_secs_f64();
    let tmp = dir.join("stage.parquet");
    let t = Instant::now();
    kiln_core::data::write_parquet(&mut df, &tmp)?;
    let write_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    kiln_core::ObjectStore::hash_file(&tmp)?;
    let hash_s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&tmp);
    let (p, k) = (best(&polars_times), best(&kiln_times));
    let all = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
    Ok(json!({
        "file": csv.display().to_string(),
        "file_bytes": bytes,
        "rows": rows,
        "polars_csv_read_s": p,
        "kiln_import_s": k,
        "kiln_import_runs_s": all(&kiln_times),
        "ratio_kiln_over_polars": k / p,
        "polars_read_write_parquet_s": best(&polars_rw_times),
        "polars_read_write_parquet_runs_s": all(&polars_rw_times),
        "ratio_kiln_over_polars_read_write": k / best(&polars_rw_times),
        "polars_read_null_tokens_write_parquet_s": best(&polars_rw_nulls_times),
        "ratio_kiln_over_polars_null_tokens_read_write": k / best(&polars_rw_nulls_times),
        "polars_streaming_read_s": best(&streaming_times),
        "ratio_polars_streaming_read_over_polars_read_write": best(&streaming_times) / best(&polars_rw_times),
        "import_memory": import_memory,
        // CPU time (all threads, user + system) of each, best run: what two cores have to share.
        "cpu_s": {
            "polars_csv_read": best(&polars_cpu),
            "polars_read_write_parquet": best(&polars_rw_cpu),
            "polars_streaming_read": best(&streaming_cpu),
            "kiln_import": best(&kiln_cpu),
        },
        "first_rows_s": best(&first_rows),
        "stage_read_s": read_s,
        "stage_write_parquet_s": write_s,
        "stage_hash_s": hash_s,
        "repeat": repeat,
    }))
}

/// A frame of `rows` × `cols`: mostly floats, every fifth column a string.
fn synthetic_frame(rows: usize, cols: usize) -> Result<DataFrame> {
    let mut columns = Vec::with_capacity(cols);
    for c in 0..cols {
        let name = format!("c{c}");
        let col = if c % 5 == 4 {
            let cats = ["north", "south", "east", "west"];
            Column::new(
                name.into(),
                (0..rows).map(|i| cats[(i * 7 + c) % 4]).collect::<Vec<_>>(),
            )
        } else {
            Column::new(
                name.into(),
                (0..rows)
                    .map(|i| {
                        ((i as u64)
                            .wrapping_mul(2_654_435_761)
                            .wrapping_add(c as u64)
                            % 1_000_003) as f64
                            / 1000.0
                    })
                    .collect::<Vec<_>>(),
            )
        };
        columns.push(col);
    }
    Ok(DataFrame::new(rows, columns)?)
}

fn bench_table(
    rows: usize,
    cols: usize,
    frames: usize,
    paged: Option<&Path>,
) -> Result<serde_json::Value> {
    let table = match paged {
        // A budget of one byte: paged whatever its size.
        Some(p) => kiln_core::data::TableData::open(p, 1)?,
        None => {
            kiln_core::data::TableData::Memory(std::sync::Arc::new(synthetic_frame(rows, cols)?))
        }
    };
    let ctx = egui::Context::default();
    let size = egui::vec2(1600.0, 1000.0);
    let mut times = Vec::with_capacity(frames);
    let mut cpu = Vec::with_capacity(frames);
    let mut slowest = Vec::with_capacity(frames);
    for f in 0..frames + 10 {
        let mut input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, size)),
            ..Default::default()
        };
        input
            .events
            .push(egui::Event::PointerMoved(egui::pos2(600.0, 500.0)));
        // Scroll down by a few rows each frame, with a long jump now and then.
        let delta = if f % 100 == 99 { -200_000.0 } else { -60.0 };
        input.events.push(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, delta),
            phase: egui::TouchPhase::Move,
            modifiers: egui::Modifiers::NONE,
            source: egui::MouseWheelSource::Wheel,
        });
        let (t, c) = (
            Instant::now(),
            cpu_time(rustix::time::ClockId::ThreadCPUTime),
        );
        let out = ctx.run_ui(input, |ui| {
            egui::CentralPanel::default().show(ui, |ui| {
                kiln_app::gui::widgets::data_table::show_table(ui, "bench", &table, None, None);
            });
        });
        let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
        let dt = t.elapsed();
        let dc = cpu_time(rustix::time::ClockId::ThreadCPUTime).saturating_sub(c);
        std::hint::black_box(prims);
        if f >= 10 {
            times.push(dt);
            cpu.push(dc);
            slowest.push((dc, f, f % 100 == 99));
        }
        if paged.is_some() {
            // 60 frames a second: the reader thread decodes row groups between frames.
            std::thread::sleep(Duration::from_millis(16).saturating_sub(dt));
        }
    }
    times.sort();
    cpu.sort();
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    let q = |v: &[Duration], q: f64| {
        v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0
    };
    Ok(json!({
        "paged": paged,
        "rows": table.height(),
        "cols": table.schema().len(),
        "frames": frames,
        "frame_cpu_ms_p50": q(&cpu, 0.5),
        "frame_cpu_ms_p99": q(&cpu, 0.99),
        "frame_cpu_ms_max": q(&cpu, 1.0),
        "frame_wall_ms_p50": q(&times, 0.5),
        "frame_wall_ms_p99": q(&times, 0.99),
        "frame_wall_ms_max": q(&times, 1.0),
        // The ten frames that took the most CPU: (ms, frame, whether it jumped).
        "slowest_frames": slowest.iter().take(10).map(|(d, f, jump)| json!([d.as_secs_f64() * 1000.0, f, jump])).collect::<Vec<_>>(),
    }))
}

/// CPU time used so far by `clock`'s subject: `ThreadCPUTime` this thread (what a frame costs, whatever
/// else the machine runs meanwhile), `ProcessCPUTime` every thread of the process, user and system.
fn cpu_time(clock: rustix::time::ClockId) -> Duration {
    let ts = rustix::time::clock_gettime(clock);
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Peak resident memory of this process so far, in bytes (Linux: `VmHWM`).
fn peak_rss() -> Option<u64> {
    status_field("VmHWM:")
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_field(name: &str) -> Option<u64> {
    status_field_of("self", name)
}

/// A `kB` field of `/proc/PROCESS/status` (`self` or a pid), in bytes.
fn status_field_of(process: &str, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn current_rss() -> Option<u64> {
    status_field("VmRSS:")
}

fn bench_stats(rows: usize, cols: usize) -> Result<serde_json::Value> {
    let df = synthetic_frame(rows, cols)?;
    let frame_bytes = df.estimated_size();
    let before = current_rss();
    // Reset the peak so it measures the stats alone (Linux: write 5 to clear_refs).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let t = Instant::now();
    let stats = kiln_core::data::column_stats(&df, &Cancel::new(), &Progress::new())?;
    let secs = t.elapsed().as_secs_f64();
    let peak = peak_rss();
    Ok(json!({
        "rows": rows,
        "cols": cols,
        "columns_summarised": stats.len(),
        "stats_s": secs,
        "frame_bytes": frame_bytes,
        "rss_before_bytes": before,
        "peak_rss_bytes": peak,
        "peak_over_frame_bytes": peak.zip(before).map(|(p, b)| p.saturating_sub(b)),
    }))
}

fn percentile_ms(times: &mut [Duration], q: f64) -> f64 {
    times.sort();
    times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0
}

/// Drive the real app headless: press class hotkeys in the Label panel and time each frame.
fn label_latency(
    ws_dir: &Path,
    dataset: &str,
    column: &str,
    keys: usize,
) -> Result<serde_json::Value> {
    use eframe::App as _;
    use kiln_app::gui::KilnApp;
    use kiln_app::gui::data::DataCommand;
    use kiln_app::gui::label::{LabelCommand, LabelRoom};
    let ctx = egui::Context::default();
    let cc = eframe::CreationContext::_new_kittest(ctx.clone());
    let mut app = KilnApp::new(&cc, Workspace::open(ws_dir)?);
    let mut frame = eframe::Frame::_new_kittest();
    let size = egui::vec2(1400.0, 900.0);
    let mut run = |app: &mut KilnApp, events: Vec<egui::Event>| -> Duration {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, size)),
            events,
            ..Default::default()
        };
        let t = Instant::now();
        let out = ctx.run_ui(input, |ui| {
            app.logic(ui.ctx(), &mut frame);
            app.ui(ui, &mut frame);
        });
        std::hint::black_box(ctx.tessellate(out.shapes, out.pixels_per_point));
        t.elapsed()
    };
    app.push(DataCommand::OpenVersion {
        dataset: dataset.to_owned(),
        version: None,
    });
    let wait = |app: &mut KilnApp,
                run: &mut dyn FnMut(&mut KilnApp, Vec<egui::Event>) -> Duration| {
        let start = Instant::now();
        run(app, vec![]);
        while app.busy() && start.elapsed() < Duration::from_mins(5) {
            std::thread::sleep(Duration::from_millis(2));
            run(app, vec![]);
        }
        run(app, vec![]);
    };
    wait(&mut app, &mut run);
    app.push(LabelCommand::Start {
        column: column.to_owned(),
    });
    wait(&mut app, &mut run);
    let session = |app: &KilnApp| {
        app.room::<LabelRoom>()
            .and_then(|r| r.controller().session())
            .map(kiln_core::labels::LabelSession::draft_count)
    };
    anyhow::ensure!(session(&app).is_some(), "labeling did not start");
    let key = |k: egui::Key, pressed: bool| egui::Event::Key {
        key: k,
        physical_key: None,
        pressed,
        repeat: false,
        modifiers: egui::Modifiers::NONE,
    };
    let mut frames = Vec::with_capacity(keys * 2);
    let mut latency = Vec::with_capacity(keys);
    for i in 0..keys {
        let k = [egui::Key::Num1, egui::Key::Num2, egui::Key::Num3][i % 3];
        // The frame that sees the key emits the command; the next applies it (saves the draft, moves to
        // the next item) and draws that item.
        let a = run(&mut app, vec![key(k, true), key(k, false)]);
        let b = run(&mut app, vec![]);
        frames.extend([a, b]);
        latency.push(a + b);
    }
    let saved = session(&app).unwrap_or(0);
    anyhow::ensure!(saved >= keys.min(3), "keystrokes were not saved ({saved})");
    Ok(json!({
        "keys": keys,
        "drafts_saved": saved,
        "frame_ms_p50": percentile_ms(&mut frames, 0.5),
        "frame_ms_p99": percentile_ms(&mut frames, 0.99),
        "key_to_next_item_ms_p50": percentile_ms(&mut latency, 0.5),
        "key_to_next_item_ms_p99": percentile_ms(&mut latency, 0.99),
    }))
}

fn bench_label(rows: usize, keys: usize) -> Result<serde_json::Value> {
    let dir = tempfile_dir("label")?;
    let mut ws = Workspace::open(&dir.join("ws"))?;
    kiln_core::demo::seed(&mut ws)?;
    // A wide synthetic table with a text label column the hotkeys map to (classes 1, 2, 3).
    let mut df = synthetic_frame(rows, 12)?;
    let labels: Vec<Option<&str>> = (0..rows)
        .map(|i| {
            if i % 97 == 0 {
                Some(["1", "2", "3"][i % 3])
            } else {
                None
            }
        })
        .collect();
    df.with_column(Column::new("label".into(), labels))?;
    let csv = dir.join("table.parquet");
    ParquetWriter::new(std::fs::File::create(&csv)?).finish(&mut df)?;
    ws.import(
        &csv,
        "table",
        &ImportOptions::default(),
        &Cancel::new(),
        &Progress::new(),
    )?;
    ws.set_label_schema(
        "table",
        "label",
        &kiln_core::labels::classes_with_hotkeys(vec!["1".into(), "2".into(), "3".into()], &[]),
    )?;
    drop(ws);
    let digits = label_latency(&dir.join("ws"), "digits", "column_65", keys)?;
    let table = label_latency(&dir.join("ws"), "table", "label", keys)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({ "digits": digits, format!("table_{rows}_rows"): table }))
}

fn tempfile_dir(what: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kiln-bench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn bench_versions(labels: usize, diff_rows: usize) -> Result<serde_json::Value> {
    let dir = tempfile_dir("versions")?;
    let mut ws = Workspace::open(&dir.join("ws"))?;
    // Commit: a table of `labels` rows, every row labelled in the draft.
    let mut df = synthetic_frame(labels, 10)?;
    let src = dir.join("commit.parquet");
    ParquetWriter::new(std::fs::File::create(&src)?).finish(&mut df)?;
    let base = ws
        .import(
            &src,
            "commit",
            &ImportOptions::default(),
            &Cancel::new(),
            &Progress::new(),
        )?
        .version;
    for row in 0..labels as u64 {
        ws.save_draft(
            &base,
            "label",
            row,
            Some(["cat", "dog", "bird"][(row % 3) as usize]),
        )?;
    }
    let t = Instant::now();
    let committed = ws.commit_labels(&base, "label", Some("bench"), None)?;
    let commit_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(committed.created, "commit created no version");

    // Diff: two versions of `diff_rows` rows, 10% relabelled.
    let mut big = synthetic_frame(diff_rows, 10)?;
    big.with_column(Column::new(
        "label".into(),
        (0..diff_rows)
            .map(|i| ["a", "b", "c"][i % 3])
            .collect::<Vec<_>>(),
    ))?;
    let src = dir.join("diff.parquet");
    ParquetWriter::new(std::fs::File::create(&src)?).finish(&mut big)?;
    ws.import(
        &src,
        "diff",
        &ImportOptions::default(),
        &Cancel::new(),
        &Progress::new(),
    )?;
    let sets: Vec<(u64, Option<String>)> = (0..diff_rows as u64)
        .step_by(10)
        .map(|r| (r, Some("z".to_owned())))
        .collect();
    ws.set_labels("diff@1", "label", &sets, None, None)?;
    let t = Instant::now();
    let d = ws.diff("diff@1", "diff@2")?;
    let diff_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        d.changed_rows == sets.len(),
        "diff found {} changed rows",
        d.changed_rows
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "commit_labels": labels,
        "commit_s": commit_s,
        "diff_rows": diff_rows,
        "diff_changed_rows": d.changed_rows,
        "diff_s": diff_s,
    }))
}

/// `points` metric points as the `kiln-metrics` writer batches them (10,000 per batch).
fn metric_batches(points: usize) -> Vec<Vec<kiln_store::MetricPoint>> {
    let names = [
        "train_step_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
    ];
    (0..points)
        .step_by(10_000)
        .map(|start| {
            (start..(start + 10_000).min(points))
                .map(|i| kiln_store::MetricPoint {
                    name: names[i % names.len()].to_owned(),
                    step: (i / names.len()) as i64,
                    epoch: Some((i / 1000) as i64),
                    value: i as f64 * 1e-6,
                    wall_s: Some(i as f64 * 1e-4),
                })
                .collect()
        })
        .collect()
}

/// Metric logging and history reads on the stores `open` connects (the first logs, another reads):
/// POINTS points in the writer's batches, then a HISTORY-point series read back 20 times.
fn metric_figures(
    open: impl Fn() -> Result<kiln_store::Store>,
    version_id: i64,
    points: usize,
    history: usize,
) -> Result<serde_json::Value> {
    use kiln_store::{MetricPoint, NewRun, Store};
    let new_run = |store: &Store| {
        store.start_run(&NewRun {
            dataset_version_id: version_id,
            model: "bench",
            target: "b",
            features: json!([]),
            params: json!({}),
            split: json!({}),
            device: "cpu",
            seed: 0,
            kiln_version: kiln_core::VERSION,
            git_commit: None,
            sweep_id: None,
        })
    };
    let mut store = open()?;
    let run = new_run(&store)?;
    let batches = metric_batches(points);
    let t = Instant::now();
    for b in &batches {
        store.log_metrics(run, b)?;
    }
    let secs = t.elapsed().as_secs_f64();
    let small = new_run(&store)?;
    let pts: Vec<MetricPoint> = (0..history)
        .map(|i| MetricPoint {
            name: "loss".into(),
            step: i as i64,
            epoch: None,
            value: 1.0 / (i + 1) as f64,
            wall_s: Some(i as f64 * 1e-3),
        })
        .collect();
    store.log_metrics(small, &pts)?;
    let reader = open()?;
    let mut reads = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let h = reader.metric_history(small)?;
        reads.push(t.elapsed());
        anyhow::ensure!(h.len() == history, "read {} points", h.len());
    }
    Ok(json!({
        "backend": match store.backend() {
            kiln_store::Backend::Sqlite => "sqlite",
            kiln_store::Backend::Postgres => "postgres",
        },
        "points": points,
        "log_s": secs,
        "points_per_s": points as f64 / secs,
        "history_points": history,
        "history_read_ms_best": best(&reads) * 1000.0,
        "history_read_ms_p50": percentile_ms(&mut reads, 0.5),
    }))
}

fn bench_metrics_postgres(url: &str, points: usize, history: usize) -> Result<serde_json::Value> {
    use kiln_store::{NewVersion, Store};
    let connect = || -> Result<Store> {
        let client = postgres::Client::connect(url, postgres::NoTls)?;
        Ok(Store::from_postgres(client)?)
    };
    let version = connect()?
        .insert_version(
            &NewVersion {
                dataset: "bench",
                content_hash: "0000",
                object_path: "objects/00/0000.parquet",
                schema: json!([]),
                row_count: 0,
                byte_size: 0,
                source_path: None,
                import_options: json!({}),
                operation: "import",
                parent_id: None,
                message: None,
                author: None,
                details: json!({}),
                clear_drafts: None,
            },
            || Ok(()),
        )?
        .map_err(|e| anyhow::anyhow!(e))?;
    metric_figures(connect, version.id, points, history)
}

fn bench_metrics(points: usize, history: usize) -> Result<serde_json::Value> {
    let dir = tempfile_dir("metrics")?;
    let mut ws = Workspace::open(&dir.join("ws"))?;
    let src = dir.join("t.csv");
    std::fs::write(&src, "a,b\n1,x\n2,y\n")?;
    let version = ws
        .import(
            &src,
            "t",
            &ImportOptions::default(),
            &Cancel::new(),
            &Progress::new(),
        )?
        .version;
    drop(ws);
    // The writer thread's path: its own connection, batches of points per transaction.
    let db = dir.join("ws").join("kiln.db");
    let figures = metric_figures(
        || Ok(kiln_store::Store::open(&db)?),
        version.id,
        points,
        history,
    );
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

fn bench_train(
    seed: u64,
    train_seed: Option<u64>,
    model: &str,
    device: &str,
) -> Result<serde_json::Value> {
    let dir = tempfile_dir("train")?;
    let mut ws = Workspace::open(&dir.join("ws"))?;
    kiln_core::demo::seed(&mut ws)?;
    let split = ws.derive_split(
        "digits",
        &kiln_core::versions::SplitSpec {
            ratios: [0.8, 0.0, 0.2],
            seed,
            stratify: Some("column_65".into()),
        },
        None,
    )?;
    let mut params =
        kiln_train::TrainParams::for_model(kiln_train::ModelKind::parse(model).unwrap_or_default());
    if let Some(s) = train_seed {
        params.seed = s;
    }
    let req = kiln_core::training::TrainRequest {
        dataset: format!("digits@{}", split.version.version),
        target: "column_65".into(),
        features: None,
        params,
        device: kiln_train::DeviceChoice::parse(device)
            .ok_or_else(|| anyhow::anyhow!("unknown device `{device}`"))?,
        sweep_id: None,
    };
    let mut batches_per_epoch = 0;
    let t = Instant::now();
    let summary = ws.train(&req, &std::sync::atomic::AtomicBool::new(false), &mut |e| {
        if let kiln_train::Event::Start {
            steps_per_epoch, ..
        } = e
        {
            batches_per_epoch = *steps_per_epoch;
        }
    })?;
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let epochs = summary.metrics.get("epochs").copied().unwrap_or_default();
    // 80% of 1797 rows; batches of `batch_size`.
    let samples = (split.version.row_count as f64 * 0.8).round() * epochs;
    Ok(json!({
        "model": model,
        "split_seed": seed,
        "train_seed": req.params.seed,
        "train_s": secs,
        "samples_per_s": samples / secs,
        "batches_per_epoch": batches_per_epoch,
        "test_accuracy": summary.metrics.get("test_accuracy"),
        "epochs": epochs,
        "device": summary.device,
    }))
}

/// A headless `KilnApp` on a workspace, stepped frame by frame with CPU time per frame (tessellation
/// included, as for the other GUI figures).
struct Headless {
    ctx: egui::Context,
    app: kiln_app::gui::KilnApp,
    frame: eframe::Frame,
}

impl Headless {
    fn new(ws_dir: &Path) -> Result<Self> {
        let ctx = egui::Context::default();
        let cc = eframe::CreationContext::_new_kittest(ctx.clone());
        let app = kiln_app::gui::KilnApp::new(&cc, Workspace::open(ws_dir)?);
        Ok(Self {
            ctx,
            app,
            frame: eframe::Frame::_new_kittest(),
        })
    }

    fn step(&mut self, events: Vec<egui::Event>) -> Duration {
        use eframe::App as _;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1600.0, 1000.0),
            )),
            events,
            ..Default::default()
        };
        let t = Instant::now();
        let (app, frame) = (&mut self.app, &mut self.frame);
        let out = self.ctx.run_ui(input, |ui| {
            app.logic(ui.ctx(), frame);
            app.ui(ui, frame);
        });
        std::hint::black_box(self.ctx.tessellate(out.shapes, out.pixels_per_point));
        t.elapsed()
    }

    /// Step until `done` holds (background jobs finish between frames); the time it took.
    fn until(&mut self, done: impl Fn(&kiln_app::gui::KilnApp) -> bool) -> Duration {
        let t = Instant::now();
        self.step(vec![]);
        while !done(&self.app) && t.elapsed() < Duration::from_mins(10) {
            std::thread::sleep(Duration::from_micros(200));
            self.step(vec![]);
        }
        self.step(vec![]);
        t.elapsed()
    }

    /// Frame CPU while dragging the plot under `at` left and right.
    fn pan(&mut self, at: egui::Pos2, frames: usize) -> Vec<Duration> {
        let mut times = Vec::with_capacity(frames);
        let press = |pressed| egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        self.step(vec![egui::Event::PointerMoved(at), press(true)]);
        let mut x = at.x;
        for f in 0..frames {
            x += if (f / 50) % 2 == 0 { 4.0 } else { -4.0 };
            times.push(self.step(vec![egui::Event::PointerMoved(egui::pos2(x, at.y))]));
        }
        self.step(vec![press(false)]);
        times
    }
}

/// Statements on the benchmark's database, PostgreSQL or MySQL/MariaDB.
enum BenchDb {
    Postgres(Box<postgres::Client>),
    MySql(Box<mysql::Conn>),
}

impl BenchDb {
    fn connect(url: &str) -> Result<Self> {
        Ok(
            if url.starts_with("mysql://") || url.starts_with("mariadb://") {
                let url = format!("mysql{}", &url[url.find("://").unwrap_or(0)..]);
                Self::MySql(Box::new(mysql::Conn::new(mysql::Opts::from_url(&url)?)?))
            } else {
                Self::Postgres(Box::new(postgres::Client::connect(url, postgres::NoTls)?))
            },
        )
    }

    fn exec(&mut self, sql: &str) -> Result<()> {
        use mysql::prelude::Queryable;
        match self {
            Self::Postgres(c) => c.batch_execute(sql)?,
            Self::MySql(c) => c.query_drop(sql)?,
        }
        Ok(())
    }

    /// Rows of `bench_rows` with ids up to `rows` (-1 when there is no such table).
    fn count(&mut self, rows: usize) -> i64 {
        use mysql::prelude::Queryable;
        let sql = format!("SELECT count(*) FROM bench_rows WHERE id <= {rows}");
        match self {
            Self::Postgres(c) => c.query_one(sql.as_str(), &[]).map_or(-1, |r| r.get(0)),
            Self::MySql(c) => c.query_first::<i64, _>(sql).ok().flatten().unwrap_or(-1),
        }
    }

    /// Create `bench_rows` with `rows` rows of 10 columns.
    fn create(&mut self, rows: usize) -> Result<()> {
        match self {
            Self::Postgres(_) => {
                self.exec(&format!(
                    "DROP TABLE IF EXISTS bench_rows;
                     CREATE TABLE bench_rows AS SELECT g::bigint AS id, (g % 1000)::int AS a, (g * 7)::bigint AS b,
                         g * 0.5::float8 AS x, sqrt(g)::float8 AS y, (g % 97)::real AS z, 'name-' || (g % 1000) AS name,
                         date '2020-01-01' + (g % 2000) AS day,
                         timestamp '2020-01-01' + g * interval '1 second' AS at, g % 3 = 0 AS flag
                     FROM generate_series(1, {rows}) g;
                     ALTER TABLE bench_rows ADD PRIMARY KEY (id);"
                ))?;
                self.exec("VACUUM ANALYZE bench_rows")
            }
            Self::MySql(_) => {
                self.exec("DROP TABLE IF EXISTS bench_rows")?;
                self.exec(
                    "CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, a INT, b BIGINT, x DOUBLE, y DOUBLE,
                         z FLOAT, name VARCHAR(16), day DATE, at DATETIME, flag BOOLEAN)",
                )?;
                // MariaDB's sequence tables (`seq_1_to_N`), a million rows a statement.
                let step = 1_000_000;
                for from in (1..=rows).step_by(step) {
                    let to = (from + step - 1).min(rows);
                    self.exec(&format!(
                        "INSERT INTO bench_rows SELECT seq, seq % 1000, seq * 7, seq * 0.5, sqrt(seq),
                             seq % 97, concat('name-', seq % 1000),
                             date '2020-01-01' + interval (seq % 2000) day,
                             timestamp '2020-01-01 00:00:00' + interval seq second, seq % 3 = 0
                         FROM seq_{from}_to_{to}"
                    ))?;
                }
                Ok(())
            }
        }
    }

    /// 10,000 rows after `rows`.
    fn add(&mut self, rows: usize) -> Result<()> {
        let (from, to) = (rows + 1, rows + 10_000);
        match self {
            Self::Postgres(_) => self.exec(&format!(
                "INSERT INTO bench_rows SELECT g, 1, 2, 0.5, 0.25, 3, 'new', date '2026-01-01',
                     timestamp '2026-01-01', true FROM generate_series({from}, {to}) g"
            )),
            Self::MySql(_) => self.exec(&format!(
                "INSERT INTO bench_rows SELECT seq, 1, 2, 0.5, 0.25, 3, 'new', '2026-01-01',
                     '2026-01-01', true FROM seq_{from}_to_{to}"
            )),
        }
    }
}

fn bench_db_import(url: &str, rows: usize) -> Result<serde_json::Value> {
    use kiln_core::sources::QuerySource;
    let mut db = BenchDb::connect(url)?;
    let t = Instant::now();
    if usize::try_from(db.count(rows)).ok() != Some(rows) {
        db.create(rows)?;
    }
    db.exec(&format!("DELETE FROM bench_rows WHERE id > {rows}"))?;
    let generate_s = t.elapsed().as_secs_f64();
    let base = tempfile_dir("kiln-bench-db-import")?;
    let mut ws = Workspace::open(&base.join("ws"))?;
    let source = QuerySource {
        url: url.to_owned(),
        query: "SELECT * FROM bench_rows".into(),
        incremental_by: Some("id".into()),
        primary_key: None,
    };
    let (imported, import_s, import_memory) = large::measured(|| {
        Ok(ws.import_query(&source, "bench", &Cancel::new(), &Progress::new())?)
    })?;
    db.add(rows)?;
    let (pulled, pull_s, _) =
        large::measured(|| Ok(ws.pull("bench", &Cancel::new(), &Progress::new())?))?;
    db.exec(&format!("DELETE FROM bench_rows WHERE id > {rows}"))?;
    let _ = std::fs::remove_dir_all(&base);
    Ok(json!({
        "rows": rows,
        "table_s": generate_s,
        "import_s": import_s,
        "rows_per_s": rows as f64 / import_s,
        "version_bytes": imported.version.byte_size,
        "memory": import_memory,
        "budget_mb": ws.memory_budget() >> 20,
        "incremental_pull_s": pull_s,
        "pulled_rows": pulled.version.row_count,
    }))
}

fn bench_team_runs(url: &str, runs: usize) -> Result<serde_json::Value> {
    use kiln_app::gui::runs::RunsRoom;
    use kiln_core::compare::synthetic::{SyntheticRuns, generate};
    let base = tempfile_dir("kiln-bench-team-runs")?;
    let objects = base.join("objects");
    std::fs::create_dir_all(&objects)?;
    let objects_url = format!("file://{}", objects.display());
    drop(kiln_store::team::create(
        &kiln_store::team::TeamUrl::parse(url, None)?,
        &objects_url,
    )?);
    let cache = base.join("cache");
    let t = Instant::now();
    generate(
        &mut Workspace::open_team_in(&kiln_store::team::TeamUrl::parse(url, None)?, &cache)?,
        &SyntheticRuns {
            runs,
            points_per_run: 0,
            seed: 1,
        },
    )?;
    let generate_s = t.elapsed().as_secs_f64();
    // The steady state of a workspace whose runs accumulated over time: vacuumed and analysed (right
    // after a bulk load, autovacuum would otherwise run beside the measurement on these 2 cores).
    postgres::Client::connect(url, postgres::NoTls)?.batch_execute("VACUUM ANALYZE")?;
    // Where a first paint's time goes: reading the runs from the server, then building the table.
    let ws = Workspace::open(&cache)?;
    let t = Instant::now();
    let all = ws.runs()?;
    let read_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    std::hint::black_box(ws.table_of(&all)?);
    let table_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop((ws, all));
    // First paint: open the team workspace (reads every run from the server), build the table, draw.
    let t = Instant::now();
    let mut h = Headless::new(&cache)?;
    h.app.push(kiln_app::gui::command::Command::show(
        kiln_app::gui::runs::ID,
    ));
    // Until the table shows every run (a background read may take more than the first frames).
    let mut shown = 0;
    while shown < runs && t.elapsed() < Duration::from_mins(1) {
        h.step(vec![]);
        shown = h.app.room::<RunsRoom>().map_or(0, |r| r.view().ids.len());
    }
    let first_paint = t.elapsed();
    let mut frames: Vec<Duration> = (0..50).map(|_| h.step(vec![])).collect();
    if shown != runs {
        std::mem::forget(h); // its textures are not handed to a renderer here
        anyhow::bail!("the table shows {shown} of {runs} runs after 60 s");
    }
    let _ = std::fs::remove_dir_all(&base);
    Ok(json!({
        "backend": "postgres",
        "runs": runs,
        "generate_s": generate_s,
        "first_paint_ms": first_paint.as_secs_f64() * 1000.0,
        "read_runs_ms": read_ms,
        "build_table_ms": table_ms,
        "frame_ms_p99": percentile_ms(&mut frames, 0.99),
    }))
}

fn bench_compare(
    runs: usize,
    (overlay_runs, overlay_points): (usize, usize),
    curve_points: usize,
    frames: usize,
    dir: Option<PathBuf>,
) -> Result<serde_json::Value> {
    use kiln_app::gui::runs::{RunsRoom, Tab};
    use kiln_core::compare::synthetic::{SyntheticRuns, generate};
    use kiln_core::compare::{RunTable, ViewQuery};
    let base = match dir {
        Some(d) => d,
        None => tempfile_dir("kiln-bench-compare")?,
    };
    let scratch = |name: &str| -> Result<PathBuf> {
        let p = base.join(name);
        if p.exists() {
            std::fs::remove_dir_all(&p)?;
        }
        Ok(p)
    };
    let show_runs = |h: &mut Headless| {
        h.app.push(kiln_app::gui::command::Command::show(
            kiln_app::gui::runs::ID,
        ));
    };

    // 1. The runs table.
    let table_ws = scratch("table")?;
    let t = Instant::now();
    generate(
        &mut Workspace::open(&table_ws)?,
        &SyntheticRuns {
            runs,
            points_per_run: 0,
            seed: 1,
        },
    )?;
    let generate_s = t.elapsed().as_secs_f64();
    // First paint: open the workspace (reads every run), build the table, draw the Runs room.
    let t = Instant::now();
    let mut h = Headless::new(&table_ws)?;
    show_runs(&mut h);
    h.step(vec![]);
    h.step(vec![]);
    let first_paint = t.elapsed();
    let shown = h.app.room::<RunsRoom>().map_or(0, |r| r.view().ids.len());
    anyhow::ensure!(shown == runs, "the table shows {shown} of {runs} runs");
    let mut table_frames: Vec<Duration> = (0..50).map(|_| h.step(vec![])).collect();
    let ws = Workspace::open(&table_ws)?;
    let table = ws.run_table()?;
    let mut sorts = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let v = table.view(&ViewQuery {
            sort: Some(("test_accuracy".into(), true)),
            ..ViewQuery::default()
        })?;
        sorts.push(t.elapsed());
        std::hint::black_box(RunTable::ids(&v));
    }
    // The same through the panel: a header click re-sorts and the next frame draws it.
    let mut sort_frames = Vec::new();
    for i in 0..10 {
        if let Some(r) = h.app.room_mut::<RunsRoom>() {
            r.view_mut().sort = Some(("test_accuracy".into(), i % 2 == 0));
            r.view_mut().invalidate();
        }
        sort_frames.push(h.step(vec![]));
    }
    drop(h);

    // 2. Overlay of many long curves, and 3. one very long curve.
    let curve_report = |name: &str, n_runs: usize, points: usize| -> Result<serde_json::Value> {
        let ws_dir = scratch(name)?;
        let t = Instant::now();
        let ids = generate(
            &mut Workspace::open(&ws_dir)?,
            &SyntheticRuns {
                runs: n_runs,
                points_per_run: points,
                seed: 2,
            },
        )?;
        let generate_s = t.elapsed().as_secs_f64();
        let mut h = Headless::new(&ws_dir)?;
        show_runs(&mut h);
        h.step(vec![]);
        h.step(vec![]);
        if let Some(r) = h.app.room_mut::<RunsRoom>() {
            let v = r.view_mut();
            v.checked = ids.iter().copied().collect();
            v.tab = Tab::Compare;
            v.curve_metric = Some("train_step_loss".into());
        }
        let first_paint = h.until(|app| {
            app.room::<RunsRoom>()
                .and_then(|r| r.controller().curves.as_ref())
                .is_some_and(|c| c.metric == "train_step_loss" && c.series.len() == ids.len())
        });
        let drawn: usize = h
            .app
            .room::<RunsRoom>()
            .and_then(|r| r.controller().curves.as_ref())
            .map_or(0, |c| c.series.iter().map(|(_, _, n)| n).sum());
        anyhow::ensure!(drawn == n_runs * points, "{drawn} points prepared");
        // Then every point replaces the summaries (for zooming); panning is measured on those.
        let full = first_paint
            + h.until(|app| {
                app.room::<RunsRoom>()
                    .and_then(|r| r.controller().curves.as_ref())
                    .is_some_and(|c| !c.coarse)
            });
        // The overlay plot sits under the table and the tab strip.
        let mut pan = h.pan(egui::pos2(900.0, 560.0), frames);
        Ok(json!({
            "runs": n_runs,
            "points_per_run": points,
            "generate_s": generate_s,
            "first_paint_ms": first_paint.as_secs_f64() * 1000.0,
            "every_point_ms": full.as_secs_f64() * 1000.0,
            "pan_frame_ms_p50": percentile_ms(&mut pan, 0.5),
            "pan_frame_ms_p99": percentile_ms(&mut pan, 0.99),
        }))
    };
    let overlay = curve_report("overlay", overlay_runs, overlay_points)?;
    let long = curve_report("long", 1, curve_points)?;
    let _ = std::fs::remove_dir_all(&base);
    Ok(json!({
        "table": {
            "runs": runs,
            "generate_s": generate_s,
            "first_paint_ms": first_paint.as_secs_f64() * 1000.0,
            "frame_ms_p99": percentile_ms(&mut table_frames, 0.99),
            "sort_by_metric_ms_p50": percentile_ms(&mut sorts, 0.5),
            "sort_by_metric_ms_max": percentile_ms(&mut sorts, 1.0),
            "sort_frame_ms_max": percentile_ms(&mut sort_frames, 1.0),
        },
        "overlay": overlay,
        "long_curve": long,
    }))
}
