//! What a panel can ask for. Each room defines its own command enum next to its controller; [`Command`]
//! only names the room a command is for, so the shell can route it without knowing what it does.

use std::path::PathBuf;

use super::state::PanelId;

/// A command for the window shell itself.
#[derive(Clone, Debug, PartialEq)]
pub enum ShellCommand {
    ShowPanel(PanelId),
    /// Pick another workspace folder with the native dialog.
    PickWorkspace,
    OpenWorkspace(PathBuf),
    CancelJob(u64),
    DismissToast(u64),
    ToggleTheme,
}

/// A command for the shell or for one room.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Shell(ShellCommand),
    Data(super::data::DataCommand),
    Label(super::label::LabelCommand),
    /// Boxed: a training request or sweep spec is much larger than any other command.
    Train(Box<super::train::TrainCommand>),
    Runs(super::runs::RunsCommand),
    Release(super::release::ReleaseCommand),
    Monitor(super::monitor::MonitorCommand),
    Pipelines(super::pipelines::PipelinesCommand),
}

impl From<ShellCommand> for Command {
    fn from(c: ShellCommand) -> Self {
        Command::Shell(c)
    }
}

impl Command {
    /// Show a panel.
    pub fn show(panel: PanelId) -> Self {
        Command::Shell(ShellCommand::ShowPanel(panel))
    }
}
