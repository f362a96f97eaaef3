use super::*;

/// Run `f` on a store of each backend — a `SQLite` file and a fresh database on the test PostgreSQL —
/// with a way to open a second connection to the same workspace (another process).
fn each_backend(label: &str, f: impl Fn(&mut Store, &dyn Fn() -> Store)) {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("kiln.db");
    let mut s = Store::open(&path).unwrap();
    f(&mut s, &|| Store::open(&path).unwrap());
    let url = testing::fresh_database(label);
    let connect =
        || Store::from_postgres(postgres::Client::connect(&url, postgres::NoTls).unwrap()).unwrap();
    let mut s = connect();
    assert_eq!(s.backend(), Backend::Postgres);
    f(&mut s, &connect);
}

pub(crate) fn new_version<'a>(name: &'a str, hash: &'a str) -> NewVersion<'a> {
    NewVersion {
        dataset: name,
        content_hash: hash,
        object_path: "objects/ab/abc.parquet",
        schema: serde_json::json!([{"name": "a", "dtype": "i64"}]),
        row_count: 3,
        byte_size: 100,
        source_path: Some("/data/a.csv"),
        import_options: serde_json::json!({"has_header": true}),
        operation: "import",
        parent_id: None,
        message: None,
        author: Some("tester"),
        details: serde_json::json!({}),
        clear_drafts: None,
    }
}

#[test]
fn migrates_an_empty_file_to_latest_with_wal_and_foreign_keys() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("kiln.db")).unwrap();
    assert_eq!(s.schema_version().unwrap(), LATEST_VERSION);
    let mode: String = s
        .connection()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = s
        .connection()
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    assert_eq!(s.integrity_check().unwrap(), "ok");
}

#[test]
fn migrates_from_every_earlier_version_keeping_data() {
    for start in 1..LATEST_VERSION {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("kiln.db");
        {
            let s = Store::open_at_version(&path, start).unwrap();
            assert_eq!(s.schema_version().unwrap(), start);
            // Rows written with the columns every version has.
            s.connection()
                .execute_batch(
                    "INSERT INTO datasets (id, name, created_at) VALUES (1, 'old', '2026-01-01T00:00:00Z');
                     INSERT INTO dataset_versions (dataset_id, version, content_hash, object_path, schema_json,
                        row_count, byte_size, source_path, import_options, created_at)
                     VALUES (1, 1, 'h1', 'objects/h1.parquet', '[]', 5, 10, '/x.csv', '{}', '2026-01-01T00:00:00Z');",
                )
                .unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), LATEST_VERSION);
        let v = s.get_version("old", None).unwrap();
        assert_eq!(
            (v.version, v.row_count, v.operation.as_str()),
            (1, 5, "import")
        );
        if start < 2 {
            // Migration 2 backfills the audit log from the versions that existed before it.
            assert_eq!(s.recent_events(10).unwrap()[0].2, "old@1");
        }
        let v2 = s
            .insert_version(&new_version("old", "h2"), || Ok(()))
            .unwrap()
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }
}

#[test]
fn refuses_a_database_from_a_newer_kiln() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("kiln.db");
    drop(Store::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", LATEST_VERSION + 1)
        .unwrap();
    drop(c);
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::TooNew { .. }), "{e}");
}

#[test]
fn versions_are_numbered_per_dataset_and_found_by_hash() {
    each_backend("versions", |s, _reopen| {
        let a1 = s
            .insert_version(&new_version("a", "h1"), || Ok(()))
            .unwrap()
            .unwrap();
        let a2 = s
            .insert_version(&new_version("a", "h2"), || Ok(()))
            .unwrap()
            .unwrap();
        let b1 = s
            .insert_version(&new_version("b", "h1"), || Ok(()))
            .unwrap()
            .unwrap();
        assert_eq!((a1.version, a2.version, b1.version), (1, 2, 1));
        assert_eq!(s.get_version("a", None).unwrap().content_hash, "h2");
        assert_eq!(s.get_version("a", Some(1)).unwrap().content_hash, "h1");
        assert_eq!(
            s.find_version_by_hash("a", "h1").unwrap().unwrap().version,
            1
        );
        assert!(s.find_version_by_hash("b", "h2").unwrap().is_none());
        let list = s.list_datasets().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].name.as_str(), list[0].versions), ("a", 2));
        assert!(matches!(
            s.get_version("a", Some(9)),
            Err(StoreError::NoVersion { .. })
        ));
        assert!(matches!(
            s.get_version("zzz", None),
            Err(StoreError::NoDataset(_))
        ));
        assert_eq!(
            a1.schema,
            serde_json::json!([{"name": "a", "dtype": "i64"}])
        );
    });
}

#[test]
fn failure_before_commit_leaves_no_row() {
    each_backend("failure", |s, _reopen| {
        let r = s
            .insert_version(&new_version("a", "h1"), || {
                Err(std::io::Error::other("disk full"))
            })
            .unwrap();
        assert!(r.is_err());
        assert!(s.list_datasets().unwrap().is_empty());
        assert!(s.recent_events(10).unwrap().is_empty());
    });
}

#[test]
fn bad_names_are_rejected() {
    for bad in ["", "a b", "-x", "a@1", "a/b"] {
        assert!(validate_name(bad).is_err(), "{bad}");
    }
    for good in ["digits", "penguins-2024", "a.b_c"] {
        validate_name(good).unwrap();
    }
}

#[test]
fn drafts_are_saved_per_keystroke_and_cleared_by_their_commit() {
    each_backend("drafts", |s, reopen| {
        let base = s
            .insert_version(&new_version("a", "h1"), || Ok(()))
            .unwrap()
            .unwrap();
        s.put_draft(base.id, "label", 2, Some("cat")).unwrap();
        s.put_draft(base.id, "label", 1, Some("dog")).unwrap();
        s.put_draft(base.id, "label", 2, Some("bird")).unwrap();
        s.put_draft(base.id, "label", 0, None).unwrap();
        // A second connection (another process) sees every saved keystroke.
        let other = reopen();
        assert_eq!(
            other.drafts(base.id, "label").unwrap(),
            vec![(0, None), (1, Some("dog".into())), (2, Some("bird".into()))]
        );
        s.remove_draft(base.id, "label", 0).unwrap();
        assert_eq!(s.drafts(base.id, "label").unwrap().len(), 2);
        let mut commit = new_version("a", "h2");
        commit.operation = "labels";
        commit.parent_id = Some(base.id);
        commit.details = serde_json::json!({"column": "label", "labels": 2});
        commit.clear_drafts = Some((base.id, "label"));
        let v2 = s.insert_version(&commit, || Ok(())).unwrap().unwrap();
        assert!(s.drafts(base.id, "label").unwrap().is_empty());
        assert_eq!(v2.details["labels"], 2);
        assert_eq!(s.label_columns("a").unwrap(), vec!["label".to_owned()]);
        assert_eq!(s.version_by_id(v2.id).unwrap().parent_id, Some(base.id));
    });
}

#[test]
fn label_schema_round_trips() {
    each_backend("schema", |s, _reopen| {
        s.insert_version(&new_version("a", "h1"), || Ok(()))
            .unwrap()
            .unwrap();
        assert!(s.label_schema("a", "label").unwrap().is_none());
        let classes = vec![
            LabelClass {
                name: "cat".into(),
                color: "#ff0000".into(),
                hotkey: Some("1".into()),
            },
            LabelClass {
                name: "dog".into(),
                color: "#00ff00".into(),
                hotkey: None,
            },
        ];
        s.set_label_schema("a", "label", &classes).unwrap();
        assert_eq!(s.label_schema("a", "label").unwrap().unwrap(), classes);
        assert_eq!(s.label_columns("a").unwrap(), vec!["label".to_owned()]);
    });
}

#[test]
fn runs_record_metrics_and_dead_runs_become_interrupted() {
    each_backend("runs", |s, _reopen| {
        let v = s
            .insert_version(&new_version("a", "h1"), || Ok(()))
            .unwrap()
            .unwrap();
        let new_run = NewRun {
            dataset_version_id: v.id,
            model: "mlp",
            target: "y",
            features: serde_json::json!([]),
            params: serde_json::json!({"lr": 0.001}),
            split: serde_json::json!({}),
            device: "cpu",
            seed: 1,
            kiln_version: "0.1.0",
            git_commit: None,
            sweep_id: None,
        };
        let done = s.start_run(&new_run).unwrap();
        let points: Vec<MetricPoint> = (0..3)
            .map(|i| MetricPoint {
                name: "loss".into(),
                step: i,
                epoch: Some(i),
                value: 1.0 / (i + 1) as f64,
                wall_s: Some(0.5 * i as f64),
            })
            .collect();
        s.log_metrics(done, &points).unwrap();
        s.finish_run(
            done,
            RunStatus::Finished,
            None,
            &serde_json::json!({"test_accuracy": 0.9}),
            &serde_json::json!({}),
            &serde_json::json!({}),
        )
        .unwrap();
        let crashed = s.start_run(&new_run).unwrap();
        assert_eq!(s.mark_interrupted(|_| false).unwrap(), 1);
        assert_eq!(s.run(crashed).unwrap().status, RunStatus::Interrupted);
        let r = s.run(done).unwrap();
        assert_eq!(
            (r.status, r.metrics["test_accuracy"].as_f64()),
            (RunStatus::Finished, Some(0.9))
        );
        assert_eq!(s.metric_history(done).unwrap(), points);
        assert_eq!(s.list_runs().unwrap().len(), 2);
        assert!(matches!(s.run(99), Err(StoreError::NoRun(99))));
        let series = s.metric_series(done, "loss").unwrap();
        assert_eq!(series.step, [0.0, 1.0, 2.0]);
        assert_eq!(series.wall_s, [0.0, 0.5, 1.0]);
        assert_eq!(s.metric_names(done).unwrap(), [("loss".to_owned(), 3)]);

        // A long series gets a stored summary with its spike; a short one is read whole.
        let long: Vec<MetricPoint> = (0..10_000)
            .map(|i| MetricPoint {
                name: "step_loss".into(),
                step: i,
                epoch: Some(i / 100),
                value: if i == 4321 { 99.0 } else { (i % 7) as f64 },
                wall_s: Some(i as f64 * 0.01),
            })
            .collect();
        s.log_metrics(done, &long).unwrap();
        assert_eq!(s.summarize_run(done).unwrap(), 1);
        assert_eq!(s.metric_name_list(done).unwrap(), ["loss", "step_loss"]);
        let p = s.series_preview(done, "step_loss").unwrap();
        assert!(p.summary && p.points == 10_000);
        assert!(p.series.value.len() <= 2 * SUMMARY_BUCKETS && p.series.value.len() > 4000);
        let spike = p
            .series
            .value
            .iter()
            .position(|v| v.to_bits() == 99f64.to_bits())
            .unwrap();
        assert_eq!(
            (p.series.step[spike], p.series.wall_s[spike]),
            (4321.0, 43.21)
        );
        assert!(p.series.step.is_sorted());
        let short = s.series_preview(done, "loss").unwrap();
        assert!(!short.summary && short.points == 3 && short.series == series);

        // Tags are a set, kept sorted; notes replace; both land in the audit log.
        let tags = s
            .tag_run(
                done,
                &["zeta".into(), "baseline".into(), "zeta".into()],
                &[],
            )
            .unwrap();
        assert_eq!(tags, ["baseline", "zeta"]);
        assert_eq!(
            s.tag_run(done, &[], &["zeta".into()]).unwrap(),
            ["baseline"]
        );
        s.set_run_note(done, "first try").unwrap();
        let r = s.run(done).unwrap();
        assert_eq!((r.note.as_str(), r.tags.len()), ("first try", 1));
        assert!(
            s.list_runs()
                .unwrap()
                .iter()
                .any(|r| r.tags == ["baseline"])
        );
        assert!(matches!(
            s.tag_run(99, &["x".into()], &[]),
            Err(StoreError::NoRun(99))
        ));
        let events: i64 =
            s.db.query_row(
                "SELECT COUNT(*) FROM events WHERE kind IN ('run.tagged', 'run.noted')",
                p![],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(events, 3);
    });
}

/// Of two connections claiming one schedule, one gets it until the claim lapses; a run's outcome and
/// chain are kept; removing the schedule removes its runs.
#[test]
fn a_schedule_is_claimed_by_one_connection_at_a_time() {
    each_backend("schedules", |s, reopen| {
        let other = reopen();
        let id = s
            .add_schedule(&crate::NewSchedule {
                kind: "pull",
                target: "orders",
                every_s: Some(3600),
                on_new_version: None,
                created_by: "sam",
                now: "2026-12-07T09:00:00.000Z",
                next_at: Some("2026-12-07T09:00:00.000Z"),
                seen_version_id: None,
            })
            .unwrap();
        let (now, until) = ("2026-12-07T09:00:00.000Z", "2026-12-07T10:00:00.000Z");
        assert!(s.claim_schedule(id, "a", now, until).unwrap());
        assert!(!other.claim_schedule(id, "b", now, until).unwrap());
        assert!(
            other
                .claim_schedule(
                    id,
                    "b",
                    "2026-12-07T10:30:00.000Z",
                    "2026-12-07T11:30:00.000Z"
                )
                .unwrap(),
            "a lapsed claim is taken"
        );
        assert_eq!(s.schedule(id).unwrap().claimed_by.as_deref(), Some("b"));
        let run = other.start_schedule_run(id, now).unwrap();
        other
            .end_schedule_run(
                run,
                until,
                "done",
                None,
                &serde_json::json!({"pulled": "orders@2"}),
            )
            .unwrap();
        other
            .release_schedule(id, Some("2026-12-07T11:00:00.000Z"), None)
            .unwrap();
        let runs = s.schedule_runs(id, 5).unwrap();
        assert_eq!((runs.len(), runs[0].status.as_str()), (1, "done"));
        assert_eq!(runs[0].chain["pulled"], "orders@2");
        assert!(s.schedule(id).unwrap().claimed_by.is_none());
        s.remove_schedule(id).unwrap();
        assert!(s.schedules().unwrap().is_empty());
        assert!(matches!(
            s.remove_schedule(id),
            Err(crate::StoreError::NoSchedule(_))
        ));
    });
}
