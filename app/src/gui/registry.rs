//! Every room, in navigation order. A new room is a folder under `gui/` and one line here.

use super::room::Room;

pub fn rooms() -> Vec<Box<dyn Room>> {
    vec![
        Box::new(super::data::DataRoom::default()),
        Box::new(super::pipelines::PipelinesRoom::default()),
        Box::new(super::label::LabelRoom::default()),
        Box::new(super::train::TrainRoom::default()),
        Box::new(super::runs::RunsRoom::default()),
        Box::new(super::release::ReleaseRoom::default()),
        Box::new(super::monitor::MonitorRoom::default()),
    ]
}
