//! *Serve*: the champion behind the HTTP API from the Models room, in this process — where it answers,
//! how to call it, and a Stop button; what it answers shows up in the Monitor room.

use kiln_core::release::ModelOverview;

use super::ReleaseCommand;
use super::controller::ReleaseController;
use super::panel::ReleaseView;
use crate::gui::command::Command;

pub fn ui(
    ui: &mut egui::Ui,
    v: &mut ReleaseView,
    ctl: &ReleaseController,
    m: &ModelOverview,
    cmds: &mut Vec<Command>,
) {
    if v.serve_port == 0 {
        v.serve_port = 8080;
    }
    ui.horizontal(|ui| {
        ui.strong("HTTP API");
        if let Some(s) = &ctl.serving {
            let url = format!("http://{}", s.running.addr);
            ui.label(format!("{}@{} answers on", s.model, s.alias));
            if let Some(x) = s.shadow {
                ui.label(format!("(shadow v{x})"));
            }
            ui.hyperlink_to(&url, format!("{url}/v1/health"));
            if ui
                .add_enabled(!ctl.serve_busy(), egui::Button::new("Stop serving"))
                .clicked()
            {
                cmds.push(ReleaseCommand::StopServing.into());
            }
            if ui.button("Open Monitor").clicked() {
                cmds.push(Command::show(crate::gui::monitor::ID));
            }
            return;
        }
        if m.champion.is_none() {
            ui.weak("Approve a release first: the server answers with the champion.");
            return;
        }
        ui.label("the champion over HTTP on port");
        ui.add(egui::DragValue::new(&mut v.serve_port).range(1024..=65535))
            .on_hover_text("Loopback only (127.0.0.1); `kiln serve --host 0.0.0.0` accepts other machines");
        // A shadow: another version answering copies of the champion's requests, never the client.
        let others: Vec<i64> = m
            .versions
            .iter()
            .map(|x| x.version)
            .filter(|x| Some(*x) != m.champion)
            .collect();
        if !others.is_empty() {
            ui.label("with shadow");
            egui::ComboBox::from_id_salt(("shadow", &m.name))
                .selected_text(v.serve_shadow.map_or_else(|| "none".into(), |x| format!("v{x}")))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut v.serve_shadow, None, "none");
                    for x in &others {
                        ui.selectable_value(&mut v.serve_shadow, Some(*x), format!("v{x}"));
                    }
                })
                .response
                .on_hover_text(
                    "Every request the champion answers is also sent to this version, off the \
                     request path; its answers are compared in the Monitor room and never reach a client",
                );
        }
        if ui
            .add_enabled(!ctl.serve_busy(), egui::Button::new("Serve"))
            .on_hover_text("Starts the model server in this app; it follows the champion when a release is approved")
            .clicked()
        {
            cmds.push(
                ReleaseCommand::Serve {
                    model: m.name.clone(),
                    alias: "champion".into(),
                    port: v.serve_port,
                    shadow: v.serve_shadow.filter(|x| others.contains(x)),
                }
                .into(),
            );
        }
        if ctl.serve_busy() {
            ui.spinner();
        }
    });
    if let Some(s) = &ctl.serving {
        ui.label(
            egui::RichText::new(format!(
                "curl -s http://{}/v1/predict -d '{{\"rows\": [{{...}}]}}'  ·  every answer and its timing shows up in the Monitor room",
                s.running.addr
            ))
            .monospace()
            .small(),
        );
    }
}
