//! The Runs room's controller: which run is selected, and its metric history, read on a worker when the
//! selection changes (never inside a frame).

use kiln_core::{MetricPoint, Workspace};

use super::RunsCommand;
use crate::gui::jobs::{Finished, Task};
use crate::gui::room::Cx;

#[derive(Default)]
pub struct RunsController {
    pub selected: Option<i64>,
    /// The metric history of the selected run, once read.
    pub history: Option<(i64, Vec<MetricPoint>)>,
    history_job: Option<Task<(i64, Vec<MetricPoint>)>>,
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
    }
}
