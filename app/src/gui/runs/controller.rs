//! The Runs room's controller: the focused run and its metric history, the curves of the selected runs
//! (read from the database, smoothed and turned into decimation pyramids on a worker), and tag and note
//! edits.

use std::collections::HashMap;
use std::sync::Arc;

use kiln_core::compare::series::{Lod, smooth};
use kiln_core::{MetricPoint, MetricSeries, Workspace};

use super::RunsCommand;
use crate::gui::jobs::{Finished, Task};
use crate::gui::room::Cx;

/// What the x axis of the overlaid curves counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XAxis {
    #[default]
    Step,
    /// Epochs, fractional for points within an epoch.
    Epoch,
    /// Seconds since the run started.
    WallTime,
}

impl XAxis {
    pub fn label(self) -> &'static str {
        match self {
            XAxis::Step => "step",
            XAxis::Epoch => "epoch",
            XAxis::WallTime => "seconds",
        }
    }
}

/// The curves to overlay: which runs, which metric (`None`: the first of validation accuracy, the
/// validation loss, or any), how x counts, the smoothing weight, and a logarithmic y.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CurveRequest {
    pub runs: Vec<i64>,
    pub metric: Option<String>,
    pub x: XAxis,
    pub smoothing: f64,
    pub log_y: bool,
}

/// Curves ready to draw.
pub struct Curves {
    pub request: CurveRequest,
    /// The metric shown.
    pub metric: String,
    /// Every metric the runs recorded.
    pub names: Vec<String>,
    /// Per run: its decimation pyramid (y already smoothed, log10 when asked) and its point count.
    pub series: Vec<(i64, Lod, usize)>,
    /// Runs with points but no time recorded (when x is wall time).
    pub untimed: Vec<i64>,
    /// Some curves are drawn from their stored summaries; the full series are being read.
    pub coarse: bool,
}

type RawCache = HashMap<(i64, String), Arc<MetricSeries>>;

#[derive(Default)]
pub struct RunsController {
    pub selected: Option<i64>,
    /// The metric history of the selected run, once read.
    pub history: Option<(i64, Vec<MetricPoint>)>,
    history_job: Option<Task<(i64, Vec<MetricPoint>)>>,
    pub curves: Option<Curves>,
    /// The request being worked on (so it is not asked for twice).
    pub pending: Option<CurveRequest>,
    curves_job: Option<Task<(Curves, RawCache)>>,
    /// The full-resolution read that follows a first paint from summaries.
    refine_job: Option<Task<(Curves, RawCache)>>,
    raw: RawCache,
}

/// x values of a series for an axis; NaN where the run recorded none.
fn x_values(s: &MetricSeries, axis: XAxis) -> Vec<f64> {
    match axis {
        XAxis::Step => s.step.clone(),
        XAxis::WallTime => s.wall_s.clone(),
        XAxis::Epoch => {
            // Points of one epoch spread evenly over (epoch - 1, epoch].
            let mut out = vec![f64::NAN; s.epoch.len()];
            let mut i = 0;
            while i < s.epoch.len() {
                let e = s.epoch[i];
                let mut j = i;
                while j < s.epoch.len() && s.epoch[j].to_bits() == e.to_bits() {
                    j += 1;
                }
                let n = (j - i) as f64;
                for (k, slot) in out[i..j].iter_mut().enumerate() {
                    *slot = if n <= 1.0 {
                        e
                    } else {
                        e - 1.0 + (k + 1) as f64 / n
                    };
                }
                i = j;
            }
            out
        }
    }
}

/// Read and prepare curves. With `full` false, long series not read yet come from their stored summaries
/// (a few thousand points each, spikes kept), so the first paint does not wait for millions of rows.
fn build_curves(
    root: &std::path::Path,
    req: CurveRequest,
    mut cache: RawCache,
    full: bool,
) -> kiln_core::Result<(Curves, RawCache)> {
    let ws = Workspace::open(root)?;
    let mut names: Vec<String> = Vec::new();
    for &r in &req.runs {
        for n in ws.metric_names(r)? {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names.sort();
    let metric = req
        .metric
        .clone()
        .filter(|m| names.contains(m))
        .or_else(|| {
            ["val_accuracy", "val_loss", "train_loss"]
                .iter()
                .find(|m| names.iter().any(|n| n == *m))
                .map(|m| (*m).to_owned())
        })
        .or_else(|| names.first().cloned())
        .unwrap_or_default();
    let mut series = Vec::new();
    let mut untimed = Vec::new();
    let mut coarse = false;
    for &r in &req.runs {
        let key = (r, metric.clone());
        let (raw, points) = if let Some(s) = cache.get(&key) {
            (s.clone(), s.value.len())
        } else if full {
            let s = Arc::new(ws.metric_series(r, &metric)?);
            cache.insert(key, s.clone());
            (s.clone(), s.value.len())
        } else {
            let p = ws.series_preview(r, &metric)?;
            let s = Arc::new(p.series);
            if p.summary {
                coarse = true;
            } else {
                cache.insert(key, s.clone());
            }
            (s, p.points)
        };
        let x = x_values(&raw, req.x);
        if req.x == XAxis::WallTime && !raw.value.is_empty() && x.iter().all(|v| v.is_nan()) {
            untimed.push(r);
        }
        let mut y = smooth(&raw.value, req.smoothing);
        if req.log_y {
            for v in &mut y {
                *v = if *v > 0.0 { v.log10() } else { f64::NAN };
            }
        }
        let lod = Lod::new(&x, &y);
        series.push((r, lod, points));
    }
    Ok((
        Curves {
            request: req,
            metric,
            names,
            series,
            untimed,
            coarse,
        },
        cache,
    ))
}

impl RunsController {
    pub fn apply(&mut self, cmd: RunsCommand, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        match cmd {
            RunsCommand::Select(id) => {
                self.selected = Some(id);
                if self.history.as_ref().is_some_and(|(h, _)| *h == id) {
                    return;
                }
                let root = state.ws.root().to_path_buf();
                state.jobs.replace(&mut self.history_job);
                self.history_job = state.spawn("Read run history", "run-history", move |_, _| {
                    Ok((id, Workspace::open(&root)?.metric_history(id)?))
                });
            }
            RunsCommand::Curves(req) => {
                if self.pending.as_ref() == Some(&req) {
                    return;
                }
                self.pending = Some(req.clone());
                let root = state.ws.root().to_path_buf();
                // Series already read are reused; only missing ones touch the database.
                let cache = self.raw.clone();
                state.jobs.replace(&mut self.curves_job);
                state.jobs.replace(&mut self.refine_job);
                self.curves_job = state.spawn("Prepare curves", "run-curves", move |_, _| {
                    build_curves(&root, req, cache, false)
                });
            }
            RunsCommand::Tag { run, tag, remove } => {
                let (add, del) = if remove {
                    (vec![], vec![tag])
                } else {
                    (vec![tag], vec![])
                };
                match state.ws.tag_run(run, &add, &del) {
                    Ok(_) => state.refresh(),
                    Err(e) => state.error("Could not change the run's tags", &e.to_string()),
                }
            }
            RunsCommand::Note { run, text } => match state.ws.note_run(run, &text) {
                Ok(()) => {
                    state.refresh();
                    state.info(format!("Saved the note of run {run}"));
                }
                Err(e) => state.error("Could not save the note", &e.to_string()),
            },
        }
    }

    pub fn poll(&mut self, cx: &mut Cx<'_>) {
        match cx.state.poll(&mut self.history_job) {
            Some(Finished::Done(h)) => self.history = Some(h),
            Some(Finished::Failed(e)) => cx
                .state
                .error("Could not read the run's history", &e.to_string()),
            _ => {}
        }
        for refine in [false, true] {
            let slot = if refine {
                &mut self.refine_job
            } else {
                &mut self.curves_job
            };
            match cx.state.poll(slot) {
                Some(Finished::Done((curves, cache))) => {
                    self.raw = cache;
                    // Keep the cache to the series of the runs shown.
                    let keep = curves.request.runs.clone();
                    self.raw.retain(|(r, _), _| keep.contains(r));
                    if curves.coarse && !refine {
                        // Drawn from summaries: read every point next, on another worker.
                        let root = cx.state.ws.root().to_path_buf();
                        let (req, cache) = (curves.request.clone(), self.raw.clone());
                        self.refine_job =
                            cx.state
                                .spawn("Read full curves", "run-curves-full", move |_, _| {
                                    build_curves(&root, req, cache, true)
                                });
                    }
                    self.curves = Some(curves);
                }
                Some(Finished::Failed(e)) => {
                    cx.state.error("Could not read the curves", &e.to_string());
                }
                _ => {}
            }
        }
    }
}
