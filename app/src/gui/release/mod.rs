//! Models & Releases: the registry, quality gates and release approval (the product side's view). For now
//! the room says what is coming.

use crate::gui::state::PanelId;
use crate::gui::widgets::placeholder::PlaceholderRoom;

pub const ID: PanelId = PanelId("models");

pub fn room() -> PlaceholderRoom {
    PlaceholderRoom {
        id: ID,
        title: "Models & Releases",
        text: "Register models, run quality gates, get a reviewer's approval and release — with an audit trail.",
    }
}
