//! Monitor: the served model's traffic, drift and health. For now the room says what is coming.

use crate::gui::state::PanelId;
use crate::gui::widgets::placeholder::PlaceholderRoom;

pub const ID: PanelId = PanelId("monitor");

pub fn room() -> PlaceholderRoom {
    PlaceholderRoom {
        id: ID,
        title: "Monitor",
        text: "Serve the released model over HTTP and watch its inputs drift from the training data.",
    }
}
