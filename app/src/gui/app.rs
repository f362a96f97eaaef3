//! The window shell: top bar, navigation, status bar, jobs list, toasts, command palette and the drop
//! overlay. It owns the shared [`AppState`] and the rooms (from the registry), routes every command to the
//! room it names, and lets each room take its own finished jobs. It knows no domain.

use std::path::PathBuf;
use std::sync::Arc;

use kiln_core::Workspace;

use super::command::{Command, ShellCommand};
use super::jobs::{Finished, Shown, Task};
use super::room::{Cx, Room};
use super::state::{AppState, PersistedState, ToastKind};

/// The Kiln window.
pub struct KilnApp {
    pub state: AppState,
    rooms: Vec<Box<dyn Room>>,
    jobs_open: bool,
    /// The command palette's query while it is open (Ctrl+K).
    palette: Option<String>,
    /// The folder chosen in the workspace dialog, when it comes back.
    pick_workspace: Option<Task<Option<PathBuf>>>,
    /// The *Connect to a team workspace* dialog while it is open.
    connect: Option<ConnectForm>,
    /// A connection being made (its cache folder when it succeeds).
    connecting: Option<Task<PathBuf>>,
    cmds: Vec<Command>,
}

/// What the *Connect to a team workspace* dialog holds. The password stays in memory only.
#[derive(Default)]
struct ConnectForm {
    url: String,
    password: String,
    error: Option<String>,
}

impl KilnApp {
    /// Start on `ws`.
    pub fn new(cc: &eframe::CreationContext<'_>, ws: Workspace) -> Self {
        let ctx = cc.egui_ctx.clone();
        let persisted: PersistedState = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let rooms = super::registry::rooms();
        let active = persisted
            .active_panel
            .as_deref()
            .and_then(|id| rooms.iter().find(|r| r.id().0 == id))
            .map_or(super::data::ID, |r| r.id());
        let notify: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ctx.request_repaint());
        let mut state = AppState::new(ws, notify, active);
        state.light_theme = persisted.light_theme;
        state.device = render_device(cc);
        apply_theme(&cc.egui_ctx, state.light_theme);
        let mut app = Self {
            state,
            rooms,
            jobs_open: false,
            palette: None,
            pick_workspace: None,
            connect: None,
            connecting: None,
            cmds: Vec::new(),
        };
        if let Some(first) = app.state.datasets.first() {
            app.cmds.push(
                super::data::DataCommand::OpenVersion {
                    dataset: first.name.clone(),
                    version: None,
                }
                .into(),
            );
        }
        app
    }

    /// Start from the command line: the given workspace, else the last one, else the default demo one.
    pub fn from_args(
        cc: &eframe::CreationContext<'_>,
        workspace: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let persisted: PersistedState = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let ws = match workspace {
            Some(dir) => Workspace::open(&dir)?,
            // The last workspace, unless it cannot be opened now (a team workspace whose password is
            // not at hand, a server that is down): then the default one, and the error in the log.
            None => match persisted.last_workspace.filter(|p| p.is_dir()) {
                Some(dir) => Workspace::open(&dir).or_else(|e| {
                    tracing::warn!("could not reopen {}: {e}", dir.display());
                    kiln_core::open_default()
                })?,
                None => kiln_core::open_default()?,
            },
        };
        Ok(Self::new(cc, ws))
    }

    /// Queue a command as if a panel had emitted it (tests and benchmarks use this).
    pub fn push(&mut self, cmd: impl Into<Command>) {
        self.cmds.push(cmd.into());
    }

    /// True while any background work is in flight.
    pub fn busy(&self) -> bool {
        self.state.busy()
    }

    /// The room of type `R` (tests and benchmarks read a room's state through this).
    pub fn room<R: Room>(&self) -> Option<&R> {
        self.rooms
            .iter()
            .find_map(|r| (r.as_ref() as &dyn std::any::Any).downcast_ref::<R>())
    }

    /// The room of type `R`, to change (benchmarks set up a view through this).
    pub fn room_mut<R: Room>(&mut self) -> Option<&mut R> {
        self.rooms
            .iter_mut()
            .find_map(|r| (r.as_mut() as &mut dyn std::any::Any).downcast_mut::<R>())
    }

    fn apply_shell(&mut self, ctx: &egui::Context, cmd: ShellCommand) {
        match cmd {
            ShellCommand::ShowPanel(p) => self.state.active = p,
            ShellCommand::PickWorkspace => {
                self.pick_workspace = self.state.spawn_shown(
                    "File dialog",
                    "folder-dialog",
                    Shown::Hidden,
                    |_, _| {
                        Ok(rfd::FileDialog::new()
                            .set_title("Open or create a workspace folder")
                            .pick_folder())
                    },
                );
            }
            ShellCommand::OpenWorkspace(dir) => match Workspace::open(&dir) {
                Ok(ws) => {
                    self.state.jobs.cancel_all();
                    let notify = self.state.jobs.notifier();
                    let mut state = AppState::new(ws, notify, self.state.active);
                    state.device = std::mem::take(&mut self.state.device);
                    state.light_theme = self.state.light_theme;
                    state.info(format!("Opened workspace {}", dir.display()));
                    self.state = state;
                    self.rooms = super::registry::rooms();
                }
                Err(e) => self.state.error(
                    format!("Could not open workspace {}", dir.display()),
                    &e.to_string(),
                ),
            },
            ShellCommand::CancelJob(id) => self.state.jobs.cancel(id),
            ShellCommand::DismissToast(id) => self.state.toasts.retain(|t| t.id != id),
            ShellCommand::ToggleTheme => {
                self.state.light_theme = !self.state.light_theme;
                apply_theme(ctx, self.state.light_theme);
            }
        }
    }

    /// Hand a command to the shell or to the room it names.
    fn route(&mut self, ctx: &egui::Context, cmd: Command) {
        let cmd = match cmd {
            Command::Shell(c) => return self.apply_shell(ctx, c),
            other => other,
        };
        let mut pending = Some(cmd);
        let mut cx = Cx {
            state: &mut self.state,
            cmds: &mut self.cmds,
        };
        for room in &mut self.rooms {
            let Some(cmd) = pending.take() else { break };
            pending = room.apply(cmd, &mut cx);
        }
        if let Some(cmd) = pending {
            tracing::warn!(?cmd, "no room took the command");
        }
    }

    /// Let every room take its finished jobs and live events. Never blocks.
    fn poll(&mut self) {
        let mut cx = Cx {
            state: &mut self.state,
            cmds: &mut self.cmds,
        };
        for room in &mut self.rooms {
            room.poll(&mut cx);
        }
        if let Some(Finished::Done(Some(path))) = self.state.poll(&mut self.pick_workspace) {
            self.cmds.push(ShellCommand::OpenWorkspace(path).into());
        }
        match self.state.poll(&mut self.connecting) {
            Some(Finished::Done(cache)) => {
                self.connect = None;
                self.cmds.push(ShellCommand::OpenWorkspace(cache).into());
            }
            Some(Finished::Failed(e)) => {
                if let Some(form) = &mut self.connect {
                    form.error = Some(e.to_string());
                }
            }
            _ => {}
        }
    }

    fn handle_input(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if let Some(path) = dropped.into_iter().next() {
            self.cmds
                .push(super::data::DataCommand::OpenImportDialog(path).into());
        }
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::O)) {
            self.cmds
                .push(super::data::DataCommand::PickImportFile.into());
        }
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::K)) {
            self.palette = if self.palette.is_some() {
                None
            } else {
                Some(String::new())
            };
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("top").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Kiln");
                ui.separator();
                match self.state.ws.team() {
                    Some(t) => {
                        ui.label(format!("Team workspace: {}", t.display))
                            .on_hover_text(format!(
                                "PostgreSQL {} · objects in {} · cache {}",
                                t.display,
                                t.objects,
                                self.state.ws.root().display()
                            ));
                        ui.label(format!(
                            "· {} ({})",
                            t.user,
                            t.role.as_deref().unwrap_or("no role")
                        ));
                    }
                    None => {
                        ui.label(format!("Workspace: {}", self.state.ws.name()))
                            .on_hover_text(self.state.ws.root().display().to_string());
                    }
                }
                if ui
                    .button("Switch…")
                    .on_hover_text("Open or create another workspace folder")
                    .clicked()
                {
                    self.cmds.push(ShellCommand::PickWorkspace.into());
                }
                if ui
                    .button("Connect to a team workspace…")
                    .on_hover_text(
                        "A workspace on a PostgreSQL server, with its objects in an S3 store",
                    )
                    .clicked()
                {
                    self.connect.get_or_insert_with(ConnectForm::default);
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let theme = if self.state.light_theme {
                        "Dark theme"
                    } else {
                        "Light theme"
                    };
                    if ui.button(theme).clicked() {
                        self.cmds.push(ShellCommand::ToggleTheme.into());
                    }
                    let running = self.state.jobs.listed().count();
                    let label = if running == 0 {
                        "No jobs running".to_owned()
                    } else {
                        format!("⏳ {running} job(s) running")
                    };
                    if ui.selectable_label(self.jobs_open, label).clicked() {
                        self.jobs_open = !self.jobs_open;
                    }
                });
            });
        });
    }

    fn connect_window(&mut self, ctx: &egui::Context) {
        let Some(form) = &mut self.connect else {
            return;
        };
        let mut open = true;
        let mut go = false;
        let busy = self.connecting.is_some();
        egui::Window::new("Connect to a team workspace")
            .open(&mut open)
            .resizable(false)
            .collapsible(false)
            .show(ctx, |ui| {
                let l = ui.label("Workspace URL");
                ui.add(
                    egui::TextEdit::singleline(&mut form.url)
                        .hint_text("postgres://you@db.example.com/kiln")
                        .desired_width(360.0),
                )
                .labelled_by(l.id);
                let l = ui.label("Password");
                let pw = ui
                    .add(
                        egui::TextEdit::singleline(&mut form.password)
                            .password(true)
                            .desired_width(360.0),
                    )
                    .labelled_by(l.id);
                ui.weak(
                    "Kept in memory while the app runs, never written down. Leave it empty to use \
                     PGPASSWORD or ~/.pgpass. The object store's credentials come from the AWS_* \
                     variables.",
                );
                if let Some(e) = &form.error {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                ui.horizontal(|ui| {
                    let enter = pw.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    let ready = !busy && kiln_store::team::is_team_url(form.url.trim());
                    if ui
                        .add_enabled(ready, egui::Button::new("Connect"))
                        .clicked()
                        || (ready && enter)
                    {
                        go = true;
                    }
                    if busy {
                        ui.spinner();
                        ui.weak("connecting…");
                    }
                });
            });
        if go {
            form.error = None;
            let url = form.url.trim().to_owned();
            let password = Some(form.password.clone()).filter(|p| !p.is_empty());
            self.connecting = self.state.spawn_shown(
                "Connecting to a team workspace",
                "kiln-connect",
                Shown::Listed,
                move |_, _| {
                    Workspace::open_team(&url, password.as_deref())
                        .map(|ws| ws.root().to_path_buf())
                },
            );
        }
        if !open {
            self.connect = None;
        }
    }

    fn jobs_window(&mut self, ctx: &egui::Context) {
        if !self.jobs_open {
            return;
        }
        let mut open = true;
        egui::Window::new("Jobs")
            .open(&mut open)
            .resizable(false)
            .show(ctx, |ui| {
                let jobs: Vec<_> = self
                    .state
                    .jobs
                    .listed()
                    .map(|j| {
                        (
                            j.id,
                            j.title.clone(),
                            j.progress.fraction(),
                            j.progress.step(),
                        )
                    })
                    .collect();
                if jobs.is_empty() {
                    ui.label("Nothing is running.");
                }
                for (id, title, fraction, step) in jobs {
                    ui.horizontal(|ui| {
                        ui.label(title);
                        ui.add(
                            egui::ProgressBar::new(fraction)
                                .desired_width(160.0)
                                .text(step),
                        );
                        if ui.button("Cancel").clicked() {
                            self.cmds.push(ShellCommand::CancelJob(id).into());
                        }
                    });
                }
            });
        self.jobs_open = open;
    }

    fn nav(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("nav")
            .resizable(false)
            .exact_size(170.0)
            .show(ui, |ui| {
                ui.add_space(6.0);
                for room in &self.rooms {
                    let text = match room.badge(&self.state) {
                        Some(n) => format!("{}  ({n})", room.title()),
                        None => room.title().to_owned(),
                    };
                    let r = ui.add_sized(
                        [150.0, 28.0],
                        egui::Button::selectable(self.state.active == room.id(), text),
                    );
                    if r.clicked() {
                        self.cmds.push(Command::show(room.id()));
                    }
                }
            });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(&self.state.device);
                ui.separator();
                ui.label(self.state.ws.root().display().to_string());
                if let Some((id, title, fraction, step)) =
                    self.state.jobs.listed().next().map(|j| {
                        (
                            j.id,
                            j.title.clone(),
                            j.progress.fraction(),
                            j.progress.step(),
                        )
                    })
                {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.small_button("Cancel").clicked() {
                            self.cmds.push(ShellCommand::CancelJob(id).into());
                        }
                        ui.add(
                            egui::ProgressBar::new(fraction)
                                .desired_width(180.0)
                                .text(step)
                                .animate(true),
                        );
                        ui.label(title);
                    });
                }
            });
        });
    }

    fn toasts(&mut self, ctx: &egui::Context) {
        let now = std::time::Instant::now();
        self.state
            .toasts
            .retain(|t| t.kind == ToastKind::Error || now.duration_since(t.created).as_secs() < 6);
        if self.state.toasts.iter().any(|t| t.kind == ToastKind::Info) {
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        }
        let toasts = self.state.toasts.clone();
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -36.0])
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                for t in toasts.iter().rev().take(5) {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.horizontal(|ui| {
                            let (icon, color) = match t.kind {
                                ToastKind::Info => ("ℹ", ui.visuals().text_color()),
                                ToastKind::Error => ("⚠", ui.visuals().error_fg_color),
                            };
                            ui.colored_label(color, format!("{icon} {}", t.text));
                            if ui.small_button("×").on_hover_text("Dismiss").clicked() {
                                self.cmds.push(ShellCommand::DismissToast(t.id).into());
                            }
                        });
                        if let Some(d) = &t.details {
                            egui::CollapsingHeader::new("details")
                                .id_salt(t.id)
                                .show(ui, |ui| {
                                    ui.label(d);
                                });
                        }
                    });
                }
            });
    }

    /// Every action the palette offers, by name: the shell's, then each room's.
    fn palette_actions(&self) -> Vec<(String, Command)> {
        let mut actions: Vec<(String, Command)> = vec![
            (
                "Open or create a workspace…".into(),
                ShellCommand::PickWorkspace.into(),
            ),
            (
                if self.state.light_theme {
                    "Switch to the dark theme"
                } else {
                    "Switch to the light theme"
                }
                .into(),
                ShellCommand::ToggleTheme.into(),
            ),
        ];
        for room in &self.rooms {
            actions.push((format!("Go to {}", room.title()), Command::show(room.id())));
        }
        for room in &self.rooms {
            room.palette(&self.state, &mut actions);
        }
        actions
    }

    fn palette_window(&mut self, ctx: &egui::Context) {
        let Some(mut query) = self.palette.take() else {
            return;
        };
        let needle = query.to_lowercase();
        let matches: Vec<(String, Command)> = self
            .palette_actions()
            .into_iter()
            .filter(|(name, _)| {
                needle
                    .split_whitespace()
                    .all(|w| name.to_lowercase().contains(w))
            })
            .collect();
        let mut chosen = None;
        let mut open = true;
        egui::Window::new("Command palette")
            .anchor(egui::Align2::CENTER_TOP, [0.0, 60.0])
            .collapsible(false)
            .resizable(false)
            .open(&mut open)
            .show(ctx, |ui| {
                let l = ui.label("Action");
                let edit = ui
                    .add(
                        egui::TextEdit::singleline(&mut query)
                            .hint_text("type to search, Enter runs the first")
                            .desired_width(380.0),
                    )
                    .labelled_by(l.id);
                edit.request_focus();
                if ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    chosen = matches.first().map(|(_, c)| c.clone());
                }
                for (name, cmd) in matches.iter().take(12) {
                    if ui.selectable_label(false, name).clicked() {
                        chosen = Some(cmd.clone());
                    }
                }
                if matches.is_empty() {
                    ui.label(egui::RichText::new("No action matches.").weak());
                }
            });
        let escape = ctx.input(|i| i.key_pressed(egui::Key::Escape));
        match chosen {
            Some(cmd) => self.cmds.push(cmd),
            None if open && !escape => self.palette = Some(query),
            None => {}
        }
    }

    fn drop_overlay(ctx: &egui::Context) {
        if ctx.input(|i| i.raw.hovered_files.is_empty()) {
            return;
        }
        let screen = ctx.content_rect();
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Foreground,
            egui::Id::unique("drop"),
        ));
        painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(160));
        painter.text(
            screen.center(),
            egui::Align2::CENTER_CENTER,
            "Drop to import",
            egui::FontId::proportional(28.0),
            egui::Color32::WHITE,
        );
    }
}

fn render_device(cc: &eframe::CreationContext<'_>) -> String {
    match cc.wgpu_render_state.as_ref() {
        Some(rs) => {
            let info = rs.adapter.get_info();
            if info.device_type == eframe::wgpu::DeviceType::Cpu {
                format!("CPU — software adapter ({}), no GPU", info.name)
            } else {
                format!("GPU: {} ({:?})", info.name, info.backend)
            }
        }
        None => "CPU — no GPU adapter found".into(),
    }
}

fn apply_theme(ctx: &egui::Context, light: bool) {
    ctx.set_theme(if light {
        egui::Theme::Light
    } else {
        egui::Theme::Dark
    });
}

impl eframe::App for KilnApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.state.follow_other_processes();
        self.poll();
        self.handle_input(ctx);
        // Commands may queue more commands (an import opens its version); a bound keeps a cycle from
        // freezing the frame.
        let mut guard = 0;
        while !self.cmds.is_empty() && guard < 16 {
            guard += 1;
            for cmd in std::mem::take(&mut self.cmds) {
                self.route(ctx, cmd);
            }
            self.poll();
        }
        if self.busy() {
            // Progress bars move even when a worker does not report for a while.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.top_bar(ui);
        self.status_bar(ui);
        self.nav(ui);
        let active = self.state.active;
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(room) = self.rooms.iter_mut().find(|r| r.id() == active) {
                room.ui(ui, &self.state, &mut self.cmds);
            }
        });
        for room in &mut self.rooms {
            room.windows(&ctx, &self.state, &mut self.cmds);
        }
        self.jobs_window(&ctx);
        self.connect_window(&ctx);
        self.palette_window(&ctx);
        self.toasts(&ctx);
        Self::drop_overlay(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(
            storage,
            eframe::APP_KEY,
            &PersistedState {
                last_workspace: Some(self.state.ws.root().to_path_buf()),
                active_panel: Some(self.state.active.0.to_owned()),
                light_theme: self.state.light_theme,
            },
        );
    }
}
