//! Schema migrations. Entry `i` moves the database from `user_version = i` to `i + 1`; entries are never
//! edited once released, only appended.

/// The schema version this build writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

pub const MIGRATIONS: &[&str] = &[
    // 1: datasets and their immutable versions.
    "CREATE TABLE datasets (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE dataset_versions (
        id              INTEGER PRIMARY KEY,
        dataset_id      INTEGER NOT NULL REFERENCES datasets(id) ON DELETE RESTRICT,
        version         INTEGER NOT NULL,
        content_hash    TEXT NOT NULL,
        object_path     TEXT NOT NULL,
        schema_json     TEXT NOT NULL,
        row_count       INTEGER NOT NULL,
        byte_size       INTEGER NOT NULL,
        source_path     TEXT,
        import_options  TEXT NOT NULL DEFAULT '{}',
        created_at      TEXT NOT NULL,
        UNIQUE (dataset_id, version)
    );
    CREATE INDEX dataset_versions_hash ON dataset_versions (dataset_id, content_hash);",
    // 2: lineage of versions (operation, parent, message, author) and an append-only audit log.
    "ALTER TABLE dataset_versions ADD COLUMN operation TEXT NOT NULL DEFAULT 'import';
    ALTER TABLE dataset_versions ADD COLUMN parent_id INTEGER REFERENCES dataset_versions(id);
    ALTER TABLE dataset_versions ADD COLUMN message TEXT;
    ALTER TABLE dataset_versions ADD COLUMN author TEXT;
    CREATE TABLE events (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        kind     TEXT NOT NULL,
        subject  TEXT NOT NULL,
        detail   TEXT NOT NULL DEFAULT '{}'
    );
    INSERT INTO events (at, kind, subject, detail)
        SELECT v.created_at, 'dataset_version.created', d.name || '@' || v.version, '{\"operation\":\"import\"}'
        FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id;",
    // 3: label schemas, label drafts (every keystroke, before a commit), operation details of versions.
    "CREATE TABLE label_schemas (
        dataset_id    INTEGER NOT NULL REFERENCES datasets(id),
        column_name   TEXT NOT NULL,
        classes_json  TEXT NOT NULL,
        PRIMARY KEY (dataset_id, column_name)
    );
    CREATE TABLE label_drafts (
        base_version_id  INTEGER NOT NULL REFERENCES dataset_versions(id),
        column_name      TEXT NOT NULL,
        row_id           INTEGER NOT NULL,
        value            TEXT,
        updated_at       TEXT NOT NULL,
        PRIMARY KEY (base_version_id, column_name, row_id)
    ) WITHOUT ROWID;
    ALTER TABLE dataset_versions ADD COLUMN details TEXT NOT NULL DEFAULT '{}';",
    // 4: training runs and their metric history.
    "CREATE TABLE runs (
        id                  INTEGER PRIMARY KEY,
        dataset_version_id  INTEGER NOT NULL REFERENCES dataset_versions(id),
        status              TEXT NOT NULL,
        error               TEXT,
        model               TEXT NOT NULL,
        target              TEXT NOT NULL,
        features_json       TEXT NOT NULL,
        params_json         TEXT NOT NULL,
        split_json          TEXT NOT NULL,
        device              TEXT NOT NULL,
        seed                INTEGER NOT NULL,
        kiln_version        TEXT NOT NULL,
        git_commit          TEXT,
        sweep_id            TEXT,
        pid                 INTEGER,
        started_at          TEXT NOT NULL,
        ended_at            TEXT,
        duration_s          REAL,
        metrics_json        TEXT NOT NULL DEFAULT '{}',
        evaluation_json     TEXT NOT NULL DEFAULT '{}',
        artifacts_json      TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE run_metrics (
        run_id  INTEGER NOT NULL REFERENCES runs(id),
        name    TEXT NOT NULL,
        step    INTEGER NOT NULL,
        epoch   INTEGER,
        value   REAL NOT NULL,
        PRIMARY KEY (run_id, name, step)
    ) WITHOUT ROWID;",
    // 5: sweeps (a search over parameters whose runs carry the sweep's id).
    "CREATE TABLE sweeps (
        id          TEXT PRIMARY KEY,
        spec_json   TEXT NOT NULL,
        status      TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX runs_by_sweep ON runs(sweep_id);",
    // 6: tags and a note per run (comparison), seconds since the run started per metric point (curves by
    // wall time).
    "ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';
    CREATE TABLE run_tags (
        run_id  INTEGER NOT NULL REFERENCES runs(id),
        tag     TEXT NOT NULL,
        PRIMARY KEY (run_id, tag)
    ) WITHOUT ROWID;
    ALTER TABLE run_metrics ADD COLUMN wall_s REAL;",
    // 7: a stored min/max summary of each long metric series, read first so a plot of many long curves
    // draws at once (the full series follows).
    "CREATE TABLE run_series_summaries (
        run_id   INTEGER NOT NULL REFERENCES runs(id),
        name     TEXT NOT NULL,
        points   INTEGER NOT NULL,
        summary  BLOB NOT NULL,
        PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID;",
    // 8: the model registry and release approval: users and roles, models with their product brief and
    // gates, registered versions, comments, aliases and their history, release requests, and a
    // hash-chained audit log.
    "CREATE TABLE users (
        name        TEXT PRIMARY KEY,
        role        TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE models (
        name             TEXT PRIMARY KEY,
        brief_json       TEXT NOT NULL DEFAULT '{}',
        created_at       TEXT NOT NULL
    );
    CREATE TABLE model_versions (
        model       TEXT NOT NULL REFERENCES models(name),
        version     INTEGER NOT NULL,
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        stage       TEXT NOT NULL,
        accepted    INTEGER,
        created_by  TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        PRIMARY KEY (model, version)
    );
    CREATE TABLE model_comments (
        id       INTEGER PRIMARY KEY,
        model    TEXT NOT NULL REFERENCES models(name),
        version  INTEGER,
        author   TEXT NOT NULL,
        at       TEXT NOT NULL,
        text     TEXT NOT NULL
    );
    CREATE TABLE alias_history (
        id       INTEGER PRIMARY KEY,
        model    TEXT NOT NULL REFERENCES models(name),
        alias    TEXT NOT NULL,
        version  INTEGER NOT NULL,
        at       TEXT NOT NULL,
        actor    TEXT NOT NULL
    );
    CREATE INDEX alias_history_by_model ON alias_history (model, alias, id);
    CREATE TABLE release_requests (
        id                 INTEGER PRIMARY KEY,
        model              TEXT NOT NULL REFERENCES models(name),
        version            INTEGER NOT NULL,
        requested_by       TEXT NOT NULL,
        requested_at       TEXT NOT NULL,
        notes              TEXT NOT NULL,
        status             TEXT NOT NULL,
        report_json        TEXT NOT NULL,
        decided_by         TEXT,
        decided_at         TEXT,
        comment            TEXT,
        override_reason    TEXT
    );
    CREATE TABLE audit_log (
        id         INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        actor      TEXT NOT NULL,
        action     TEXT NOT NULL,
        subject    TEXT NOT NULL,
        detail     TEXT NOT NULL,
        prev_hash  TEXT NOT NULL,
        hash       TEXT NOT NULL
    );",
    // 9: serving: every answered request (sampled features) and feedback on predictions.
    "CREATE TABLE served_requests (
        id             INTEGER PRIMARY KEY,
        at             TEXT NOT NULL,
        model          TEXT NOT NULL,
        version        INTEGER,
        endpoint       TEXT NOT NULL,
        status         INTEGER NOT NULL,
        latency_ms     REAL NOT NULL,
        prediction_id  TEXT,
        class          TEXT,
        features_json  TEXT
    );
    CREATE INDEX served_by_prediction ON served_requests (prediction_id);
    CREATE INDEX served_by_time ON served_requests (model, at);
    CREATE TABLE feedback (
        id             INTEGER PRIMARY KEY,
        prediction_id  TEXT NOT NULL,
        at             TEXT NOT NULL,
        label          TEXT,
        outcome        REAL
    );
    CREATE INDEX feedback_by_prediction ON feedback (prediction_id);",
    // 10: model-assisted labeling: suspect-label runs (settings, summary, ranked rows) and the rows a
    // reviewer kept as labelled for a version.
    "CREATE TABLE label_suspect_runs (
        id               INTEGER PRIMARY KEY,
        base_version_id  INTEGER NOT NULL REFERENCES dataset_versions(id),
        column_name      TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        settings_json    TEXT NOT NULL,
        summary_json     TEXT NOT NULL,
        suspects_json    TEXT NOT NULL
    );
    CREATE INDEX suspect_runs_by_version ON label_suspect_runs (base_version_id, column_name, id);
    CREATE TABLE label_keeps (
        base_version_id  INTEGER NOT NULL REFERENCES dataset_versions(id),
        column_name      TEXT NOT NULL,
        row_id           INTEGER NOT NULL,
        kept_at          TEXT NOT NULL,
        PRIMARY KEY (base_version_id, column_name, row_id)
    ) WITHOUT ROWID;",
    // 11: which server process answered a request (`host:port`), so several replicas on one team
    // workspace share one log and the Monitor tells them apart.
    "ALTER TABLE served_requests ADD COLUMN replica TEXT;",
    // 12: PostgreSQL only (see `PG_ONLY`); nothing changes on SQLite.
    "",
    // 13: schedules (a pull every period, a retraining on a dataset's new version) and each of their runs,
    // with what the run started (the chain). A run claims its schedule until `claimed_until`.
    "CREATE TABLE schedules (
        id              INTEGER PRIMARY KEY,
        kind            TEXT NOT NULL,
        target          TEXT NOT NULL,
        every_s         INTEGER,
        on_new_version  TEXT,
        created_by      TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        next_at         TEXT,
        seen_version_id INTEGER,
        claimed_by      TEXT,
        claimed_until   TEXT
    );
    CREATE TABLE schedule_runs (
        id           INTEGER PRIMARY KEY,
        schedule_id  INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
        started_at   TEXT NOT NULL,
        ended_at     TEXT,
        status       TEXT NOT NULL,
        error        TEXT,
        chain_json   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX schedule_runs_by_schedule ON schedule_runs(schedule_id, id);",
    // 14: serving capacity measured for a model version (the load run's steps, rate held, latency
    // percentiles, peak memory), kept as the evidence of the serving gates.
    "CREATE TABLE capacity_runs (
        id           INTEGER PRIMARY KEY,
        model        TEXT NOT NULL,
        version      INTEGER NOT NULL,
        at           TEXT NOT NULL,
        measured_by  TEXT NOT NULL,
        result_json  TEXT NOT NULL,
        FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
    );
    CREATE INDEX capacity_runs_by_version ON capacity_runs(model, version, id);",
    // 15: a shadow's answers beside the champion's (never sent to a client), one row per compared
    // request, and rows counting the copies dropped while the shadow was behind.
    "CREATE TABLE shadow_answers (
        id                INTEGER PRIMARY KEY,
        at                TEXT NOT NULL,
        model             TEXT NOT NULL,
        champion_version  INTEGER NOT NULL,
        shadow_version    INTEGER NOT NULL,
        prediction_id     TEXT,
        champion_class    TEXT,
        shadow_class      TEXT,
        latency_ms        REAL NOT NULL DEFAULT 0,
        error             TEXT,
        dropped           INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX shadow_answers_by_model ON shadow_answers(model, id);",
    // 16: environments in promotion order, each with the alias it serves and its serving settings; the
    // one before production (`champion`) is QA: a release request puts its version there, and a version
    // reaches production only from it.
    "CREATE TABLE environments (
        name           TEXT PRIMARY KEY,
        alias          TEXT NOT NULL UNIQUE,
        position       INTEGER NOT NULL UNIQUE,
        settings_json  TEXT NOT NULL DEFAULT '{}'
    );
    INSERT INTO environments (name, alias, position, settings_json) VALUES
        ('dev', 'dev', 0, '{}'), ('qa', 'staging', 1, '{}'), ('production', 'champion', 2, '{}');",
];

/// Migrations whose PostgreSQL form is not a translation of the `SQLite` one: (version, SQL).
pub const PG_ONLY: &[(i64, &str)] = &[(
    // A metric point must belong to a run. The foreign key checks that row by row (a lookup per point:
    // two thirds of the time of a metric `COPY` on PostgreSQL); these triggers check each statement's
    // rows at once. No Kiln role may update points; a run's id changed or a run removed is refused while
    // it has points. SQLite's in-process check per row costs next to nothing: it keeps its key.
    12,
    "ALTER TABLE run_metrics DROP CONSTRAINT IF EXISTS run_metrics_run_id_fkey;
         CREATE OR REPLACE FUNCTION kiln_metrics_have_runs() RETURNS trigger LANGUAGE plpgsql
             SET search_path = public, pg_temp AS $f$
         DECLARE orphan bigint;
         BEGIN
             SELECT n.run_id INTO orphan FROM (SELECT DISTINCT run_id FROM kiln_new_points) n
                 WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = n.run_id) LIMIT 1;
             IF FOUND THEN
                 RAISE EXCEPTION 'metric points for run %, which does not exist', orphan
                     USING ERRCODE = 'foreign_key_violation';
             END IF;
             RETURN NULL;
         END $f$;
         DROP TRIGGER IF EXISTS kiln_metrics_have_runs ON run_metrics;
         CREATE TRIGGER kiln_metrics_have_runs AFTER INSERT ON run_metrics
             REFERENCING NEW TABLE AS kiln_new_points
             FOR EACH STATEMENT EXECUTE FUNCTION kiln_metrics_have_runs();
         CREATE OR REPLACE FUNCTION kiln_runs_keep_points() RETURNS trigger LANGUAGE plpgsql
             SET search_path = public, pg_temp AS $f$
         BEGIN
             IF EXISTS (SELECT 1 FROM kiln_old_runs o WHERE EXISTS
                     (SELECT 1 FROM run_metrics m WHERE m.run_id = o.id)
                 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = o.id)) THEN
                 RAISE EXCEPTION 'a run with metric points cannot be removed'
                     USING ERRCODE = 'foreign_key_violation';
             END IF;
             RETURN NULL;
         END $f$;
         DROP TRIGGER IF EXISTS kiln_runs_keep_points ON runs;
         CREATE TRIGGER kiln_runs_keep_points AFTER DELETE ON runs
             REFERENCING OLD TABLE AS kiln_old_runs
             FOR EACH STATEMENT EXECUTE FUNCTION kiln_runs_keep_points();
         DROP TRIGGER IF EXISTS kiln_runs_keep_points_update ON runs;
         CREATE TRIGGER kiln_runs_keep_points_update AFTER UPDATE ON runs
             REFERENCING OLD TABLE AS kiln_old_runs
             FOR EACH STATEMENT EXECUTE FUNCTION kiln_runs_keep_points();",
)];
