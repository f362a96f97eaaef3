//! Two apps on one team workspace, each signed in as its own user: a release request filed by the data
//! scientist appears in the approver's app without a reload, and the approval moves the champion in the
//! data scientist's app.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kiln_app::gui::KilnApp;
use kiln_app::gui::release::ReleaseRoom;
use kiln_core::Workspace;

use super::support::{harness_on, screenshot, settle};

/// Step `h` until `done` holds, at most `limit`.
fn within(
    h: &mut Harness<'_, KilnApp>,
    limit: Duration,
    what: &str,
    done: impl Fn(&Harness<'_, KilnApp>) -> bool,
) {
    let start = Instant::now();
    while !done(h) {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn champion(h: &Harness<'_, KilnApp>) -> Option<i64> {
    h.state()
        .room::<ReleaseRoom>()
        .and_then(|r| r.controller().data.as_ref())
        .and_then(|d| d.models.first())
        .and_then(|m| m.champion)
}

#[test]
fn a_request_reaches_the_approvers_app_and_the_approval_the_requesters() {
    let t = crate::team::team();
    crate::team::trained(&t);
    let mut sam = harness_on(Workspace::open(&t.sam).unwrap());
    let mut pat = harness_on(Workspace::open(&t.pat).unwrap());
    settle(&mut sam);
    settle(&mut pat);
    // Who is connected, with the role the database gives them.
    sam.get_by_label_contains(&format!("{} (data-scientist)", t.sam_name));
    pat.get_by_label_contains(&format!("{} (approver)", t.pat_name));
    for h in [&mut sam, &mut pat] {
        h.get_by_label("Models & Releases").click();
        settle(h);
    }
    assert_eq!(champion(&sam), None);
    // The data scientist files the request (from the command line, as CI would).
    crate::team::request(&t, "1");
    let filed = Instant::now();
    within(
        &mut pat,
        Duration::from_secs(2),
        "the request showing in the approver's app",
        |h| h.query_by_label("pending").is_some(),
    );
    let shown_after = filed.elapsed();
    pat.get_by_label_contains(&format!("Signed in as {}", t.pat_name));
    assert!(
        pat.query_by_label("Acting as").is_none(),
        "no acting as on a team workspace"
    );
    pat.get_by_label("Comment (required)").focus();
    pat.get_by_label("Comment (required)")
        .type_text("Gates pass on held-out rows");
    pat.run_steps(2);
    screenshot(&mut pat, "release-team");
    pat.get_by_label("Approve").click();
    settle(&mut pat);
    assert_eq!(champion(&pat), Some(1));
    let approved = Instant::now();
    within(
        &mut sam,
        Duration::from_secs(2),
        "the champion moving in the data scientist's app",
        |h| champion(h) == Some(1),
    );
    sam.run_steps(2);
    assert!(sam.query_all_by_label("approved").count() >= 1);
    eprintln!(
        "request shown after {shown_after:?}; champion shown {:?} after the approval",
        approved.elapsed()
    );
}

#[test]
fn the_connect_dialog_opens_a_team_workspace_and_says_why_it_cannot() {
    let t = crate::team::team();
    let local = tempfile::tempdir().unwrap();
    let mut h = super::support::harness(&local.path().join("ws"));
    settle(&mut h);
    h.get_by_label("Connect to a team workspace…").click();
    h.run_steps(2);
    let (_, host_db) = t.admin_url.rsplit_once('@').unwrap();
    let url = format!("postgres://{}@{host_db}", t.pat_name);
    h.get_by_label("Workspace URL").focus();
    h.get_by_label("Workspace URL").type_text(&url);
    h.get_by_label("Password").focus();
    h.get_by_label("Password").type_text("not-the-password");
    h.run_steps(2);
    h.get_by_label("Connect").click();
    settle(&mut h);
    // The server's refusal, with who and where, in the dialog; the local workspace stays open.
    h.get_by_label_contains("password authentication failed");
    screenshot(&mut h, "team-connect");
    assert!(h.state().state.ws.team().is_none());
    h.get_by_label("Password").focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Backspace);
    h.run_steps(1);
    h.get_by_label("Password").type_text("pat-pw");
    h.run_steps(2);
    h.get_by_label("Connect").click();
    settle(&mut h);
    h.run_steps(4);
    let team = h
        .state()
        .state
        .ws
        .team()
        .cloned()
        .expect("the team workspace is open");
    assert_eq!(team.user, t.pat_name);
    assert_eq!(team.role.as_deref(), Some("approver"));
    h.get_by_label_contains("Team workspace:");
}
