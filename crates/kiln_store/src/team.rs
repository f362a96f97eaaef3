//! A team workspace: the workspace database on a PostgreSQL server.

use std::fmt::Write as _;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;

use crate::{MetricPoint, Result, StoreError};

/// Append metric points with one binary `COPY` (one round trip for any number of points).
pub(crate) fn copy_metrics(
    client: &mut postgres::Client,
    run: i64,
    points: &[MetricPoint],
) -> std::result::Result<(), postgres::Error> {
    if points.is_empty() {
        return Ok(());
    }
    let sink = client
        .copy_in("COPY run_metrics (run_id, name, step, epoch, value, wall_s) FROM STDIN BINARY")?;
    let mut writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::INT8,
            Type::TEXT,
            Type::INT8,
            Type::INT8,
            Type::FLOAT8,
            Type::FLOAT8,
        ],
    );
    for p in points {
        writer.write(&[&run, &p.name, &p.step, &p.epoch, &p.value, &p.wall_s])?;
    }
    writer.finish()?;
    Ok(())
}

/// Append served requests with one binary `COPY`.
pub(crate) fn copy_served(
    client: &mut postgres::Client,
    rows: &[crate::ServedRequest],
) -> std::result::Result<(), postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let sink = client.copy_in(
        "COPY served_requests (at, model, version, endpoint, status, latency_ms, prediction_id, class,
            features_json, replica) FROM STDIN BINARY",
    )?;
    let mut writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::TEXT,
            Type::TEXT,
            Type::INT8,
            Type::TEXT,
            Type::INT8,
            Type::FLOAT8,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
        ],
    );
    for r in rows {
        let status = i64::from(r.status);
        writer.write(&[
            &r.at,
            &r.model,
            &r.version,
            &r.endpoint,
            &status,
            &r.latency_ms,
            &r.prediction_id,
            &r.class,
            &r.features,
            &r.replica,
        ])?;
    }
    writer.finish()?;
    Ok(())
}

/// Kiln's roles in one team workspace database: group roles named after the database (roles are
/// cluster-wide in PostgreSQL, so two workspaces on one server keep theirs apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamRoles {
    /// Owns every table and function; nobody logs in as it.
    pub owner: String,
    pub data_scientist: String,
    pub approver: String,
    pub admin: String,
}

impl TeamRoles {
    pub fn for_database(db: &str) -> Self {
        TeamRoles {
            owner: format!("{db}_owner"),
            data_scientist: format!("{db}_data_scientist"),
            approver: format!("{db}_approver"),
            admin: format!("{db}_admin"),
        }
    }

    /// The group role of a Kiln role name (`data-scientist`, `approver`, `admin`).
    pub fn group(&self, role: &str) -> Option<&str> {
        match role {
            "data-scientist" => Some(&self.data_scientist),
            "approver" => Some(&self.approver),
            "admin" => Some(&self.admin),
            _ => None,
        }
    }
}

/// Tables whose rows only Kiln's functions write (the registry, the release requests, users and the
/// audit log): no role has a write privilege on them, row security is forced on them, and their only
/// policy for writing is the owner's, which only the functions run as.
pub const GUARDED_TABLES: &[&str] = &[
    "users",
    "models",
    "model_versions",
    "model_comments",
    "alias_history",
    "release_requests",
    "capacity_runs",
    "environments",
    "audit_log",
];

/// Tables a data scientist writes directly: what training, importing, labelling and serving record.
/// Dataset versions are immutable (insert only), as are the logs.
const WORK_TABLES: &[(&str, &str)] = &[
    ("datasets", "INSERT"),
    ("dataset_versions", "INSERT"),
    ("events", "INSERT"),
    ("label_schemas", "INSERT, UPDATE, DELETE"),
    ("label_drafts", "INSERT, UPDATE, DELETE"),
    ("label_suspect_runs", "INSERT"),
    ("label_keeps", "INSERT, UPDATE, DELETE"),
    ("runs", "INSERT, UPDATE"),
    ("run_metrics", "INSERT, DELETE"),
    ("run_tags", "INSERT, DELETE"),
    ("run_series_summaries", "INSERT, DELETE"),
    ("sweeps", "INSERT, UPDATE"),
    ("served_requests", "INSERT"),
    ("shadow_answers", "INSERT"),
    ("feedback", "INSERT"),
    ("schedules", "INSERT, UPDATE, DELETE"),
    ("schedule_runs", "INSERT, UPDATE, DELETE"),
];

/// The channel every change of a team workspace is announced on (`NOTIFY`, with the table's name).
pub const CHANGES_CHANNEL: &str = "kiln_changes";

/// The grants, row security, audit triggers and functions that make the database itself enforce who
/// may do what. Run as the owner role, after the migrations; idempotent (functions are replaced).
pub fn security_sql(r: &TeamRoles) -> String {
    let TeamRoles {
        owner,
        data_scientist: ds,
        approver,
        admin,
    } = r;
    let lock = crate::db::WRITE_LOCK;
    let now = crate::db::PG_NOW;
    let mut sql = format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
         GRANT USAGE ON SCHEMA public TO {ds};
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ds};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {ds};\n"
    );
    for (table, privileges) in WORK_TABLES {
        let _ = writeln!(sql, "GRANT {privileges} ON {table} TO {ds};");
    }
    let _ = writeln!(
        sql,
        "CREATE OR REPLACE FUNCTION kiln_notify() RETURNS trigger LANGUAGE plpgsql AS $f$
         BEGIN PERFORM pg_notify('{CHANGES_CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $f$;"
    );
    let announced = WORK_TABLES
        .iter()
        .map(|(t, _)| *t)
        .chain(GUARDED_TABLES.iter().copied());
    for table in announced {
        // Once per statement, delivered at commit: every open app re-reads what changed.
        let _ = writeln!(
            sql,
            "DROP TRIGGER IF EXISTS kiln_notify ON {table};
             CREATE TRIGGER kiln_notify AFTER INSERT OR UPDATE OR DELETE ON {table}
                 FOR EACH STATEMENT EXECUTE FUNCTION kiln_notify();"
        );
    }
    for table in GUARDED_TABLES {
        let _ = writeln!(
            sql,
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
             DROP POLICY IF EXISTS kiln_read ON {table};
             DROP POLICY IF EXISTS kiln_functions ON {table};
             CREATE POLICY kiln_read ON {table} FOR SELECT TO {ds} USING (true);
             CREATE POLICY kiln_functions ON {table} FOR ALL TO {owner} USING (true) WITH CHECK (true);"
        );
    }
    let _ = write!(
        sql,
        r"
CREATE OR REPLACE FUNCTION kiln_now() RETURNS text LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp AS $f$ SELECT {now} $f$;

CREATE OR REPLACE FUNCTION kiln_role_of(u text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp AS $f$
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = u) THEN NULL
        WHEN pg_has_role(u, '{admin}', 'MEMBER') THEN 'admin'
        WHEN pg_has_role(u, '{approver}', 'MEMBER') THEN 'approver'
        WHEN pg_has_role(u, '{ds}', 'MEMBER') THEN 'data-scientist'
    END $f$;

CREATE OR REPLACE FUNCTION kiln_require(needed text, what text) RETURNS void LANGUAGE plpgsql STABLE
    SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    have text := kiln_role_of(session_user::text);
BEGIN
    IF have IS NULL
        OR (needed = 'approver' AND have NOT IN ('approver', 'admin'))
        OR (needed = 'admin' AND have <> 'admin') THEN
        RAISE EXCEPTION 'only % % (`%` is %)',
            CASE needed WHEN 'admin' THEN 'an admin' WHEN 'approver' THEN 'an approver or admin'
                ELSE 'a workspace user' END,
            what, session_user, coalesce('a ' || have, 'not a workspace user')
            USING ERRCODE = '42501';
    END IF;
END $f$;

-- Every audit row: its actor is the connected user, its time the server's, and its hash covers the
-- previous row's (taken under Kiln's write lock, so the chain stays one chain).
CREATE OR REPLACE FUNCTION kiln_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $f$
DECLARE
    prev text;
BEGIN
    IF NEW.actor IS DISTINCT FROM session_user::text THEN
        RAISE EXCEPTION 'an audit row''s actor is the connected user (%), not %', session_user, NEW.actor
            USING ERRCODE = '42501';
    END IF;
    PERFORM pg_advisory_xact_lock({lock});
    SELECT hash INTO prev FROM audit_log ORDER BY id DESC LIMIT 1;
    NEW.prev_hash := coalesce(prev, '');
    NEW.at := kiln_now();
    NEW.hash := 'sha256:' || encode(sha256(convert_to(
        octet_length(NEW.prev_hash) || ':' || NEW.prev_hash ||
        octet_length(NEW.at) || ':' || NEW.at ||
        octet_length(NEW.actor) || ':' || NEW.actor ||
        octet_length(NEW.action) || ':' || NEW.action ||
        octet_length(NEW.subject) || ':' || NEW.subject ||
        octet_length(NEW.detail) || ':' || NEW.detail, 'UTF8')), 'hex');
    RETURN NEW;
END $f$;

CREATE OR REPLACE FUNCTION kiln_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is refused', TG_OP USING ERRCODE = '42501';
END $f$;

DROP TRIGGER IF EXISTS audit_chain ON audit_log;
CREATE TRIGGER audit_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION kiln_audit_chain();
DROP TRIGGER IF EXISTS audit_no_change ON audit_log;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION kiln_audit_append_only();
DROP TRIGGER IF EXISTS audit_no_truncate ON audit_log;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION kiln_audit_append_only();

-- The lock is taken before the row's id is drawn, so ids follow the chain's order.
CREATE OR REPLACE FUNCTION kiln_audit(p_action text, p_subject text, p_detail jsonb) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
    SELECT pg_advisory_xact_lock({lock});
    INSERT INTO audit_log (at, actor, action, subject, detail, prev_hash, hash)
    VALUES ('', session_user::text, p_action, p_subject, p_detail::text, '', '') $f$;

CREATE OR REPLACE FUNCTION kiln_move_alias(p_model text, p_alias text, p_version bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    INSERT INTO alias_history (model, alias, version, at, actor)
        VALUES (p_model, p_alias, p_version, kiln_now(), session_user::text);
    PERFORM kiln_audit('alias.moved', p_model || '@' || p_alias, jsonb_build_object('version', p_version));
END $f$;

CREATE OR REPLACE FUNCTION kiln_set_user(p_name text, p_role text, p_verifier text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    grp text := CASE p_role WHEN 'data-scientist' THEN '{ds}' WHEN 'approver' THEN '{approver}'
        WHEN 'admin' THEN '{admin}' END;
BEGIN
    PERFORM kiln_require('admin', 'manages users');
    PERFORM pg_advisory_xact_lock({lock});
    IF grp IS NULL THEN
        RAISE EXCEPTION 'unknown role `%` (data-scientist, approver or admin)', p_role;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_name) THEN
        IF p_verifier IS NULL THEN
            RAISE EXCEPTION 'a new user needs a password' USING ERRCODE = '28P01';
        END IF;
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', p_name, p_verifier);
    ELSIF p_verifier IS NOT NULL THEN
        RAISE EXCEPTION 'the login role `%` exists already: its password is its own (ALTER ROLE by its owner)',
            p_name;
    END IF;
    EXECUTE format('REVOKE %I, %I, %I FROM %I', '{ds}', '{approver}', '{admin}', p_name);
    EXECUTE format('GRANT %I TO %I', grp, p_name);
    INSERT INTO users (name, role, created_at) VALUES (p_name, p_role, kiln_now())
        ON CONFLICT (name) DO UPDATE SET role = excluded.role;
    PERFORM kiln_audit('user.set', p_name, jsonb_build_object('role', p_role));
END $f$;

CREATE OR REPLACE FUNCTION kiln_register_version(p_model text, p_run bigint, p_stage text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    v bigint;
BEGIN
    PERFORM kiln_require('data-scientist', 'registers a model');
    PERFORM pg_advisory_xact_lock({lock});
    INSERT INTO models (name, created_at) VALUES (p_model, kiln_now()) ON CONFLICT (name) DO NOTHING;
    SELECT coalesce(max(version), 0) + 1 INTO v FROM model_versions WHERE model = p_model;
    INSERT INTO model_versions (model, version, run_id, stage, created_by, created_at)
        VALUES (p_model, v, p_run, p_stage, session_user::text, kiln_now());
    PERFORM kiln_audit('model.registered', p_model || ' v' || v,
        jsonb_build_object('run', p_run, 'stage', p_stage));
    RETURN v;
END $f$;

CREATE OR REPLACE FUNCTION kiln_set_brief(p_model text, p_brief text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    PERFORM kiln_require('data-scientist', 'writes a brief');
    PERFORM pg_advisory_xact_lock({lock});
    INSERT INTO models (name, brief_json, created_at) VALUES (p_model, p_brief, kiln_now())
        ON CONFLICT (name) DO UPDATE SET brief_json = excluded.brief_json;
    PERFORM kiln_audit('model.brief', p_model, p_brief::jsonb);
END $f$;

CREATE OR REPLACE FUNCTION kiln_set_stage(p_model text, p_version bigint, p_stage text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    PERFORM kiln_require('data-scientist', 'sets a stage');
    PERFORM pg_advisory_xact_lock({lock});
    UPDATE model_versions SET stage = p_stage WHERE model = p_model AND version = p_version;
    PERFORM kiln_audit('model.stage', p_model || ' v' || p_version, jsonb_build_object('stage', p_stage));
END $f$;

CREATE OR REPLACE FUNCTION kiln_add_comment(p_model text, p_version bigint, p_text text, p_accepted boolean)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    PERFORM kiln_require('data-scientist', 'comments');
    PERFORM pg_advisory_xact_lock({lock});
    INSERT INTO model_comments (model, version, author, at, text)
        VALUES (p_model, p_version, session_user::text, kiln_now(), p_text);
    IF p_version IS NOT NULL AND p_accepted IS NOT NULL THEN
        UPDATE model_versions SET accepted = p_accepted::int WHERE model = p_model AND version = p_version;
    END IF;
    PERFORM kiln_audit(CASE WHEN p_accepted IS NULL THEN 'model.comment' ELSE 'model.verdict' END,
        CASE WHEN p_version IS NULL THEN p_model ELSE p_model || ' v' || p_version END,
        jsonb_build_object('text', p_text, 'accepted', p_accepted));
END $f$;

CREATE OR REPLACE FUNCTION kiln_set_alias(p_model text, p_alias text, p_version bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    IF p_alias = 'champion' THEN
        RAISE EXCEPTION 'the champion alias of `%` moves only through an approved release request or a rollback',
            p_model USING ERRCODE = '42501';
    END IF;
    PERFORM kiln_require('data-scientist', 'moves an alias');
    PERFORM pg_advisory_xact_lock({lock});
    IF NOT EXISTS (SELECT 1 FROM model_versions WHERE model = p_model AND version = p_version) THEN
        RAISE EXCEPTION 'model `%` has no version %', p_model, p_version;
    END IF;
    PERFORM kiln_move_alias(p_model, p_alias, p_version);
END $f$;

CREATE OR REPLACE FUNCTION kiln_qa_alias() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp AS $f$
    SELECT e.alias FROM environments e
        WHERE e.position = (SELECT p.position FROM environments p WHERE p.alias = 'champion') - 1 $f$;

CREATE OR REPLACE FUNCTION kiln_alias_version(p_model text, p_alias text) RETURNS bigint LANGUAGE sql
    STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $f$
    SELECT version FROM alias_history WHERE model = p_model AND alias = p_alias ORDER BY id DESC LIMIT 1 $f$;

CREATE OR REPLACE FUNCTION kiln_set_environment(p_name text, p_settings text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    PERFORM kiln_require('admin', 'changes an environment');
    PERFORM pg_advisory_xact_lock({lock});
    UPDATE environments SET settings_json = p_settings WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no environment `%` (kiln env list)', p_name;
    END IF;
    PERFORM kiln_audit('environment.set', p_name, p_settings::jsonb);
END $f$;

CREATE OR REPLACE FUNCTION kiln_create_request(p_model text, p_version bigint, p_notes text, p_report text)
    RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    new_id bigint;
    qa text;
BEGIN
    PERFORM kiln_require('data-scientist', 'requests a release');
    PERFORM pg_advisory_xact_lock({lock});
    INSERT INTO release_requests (model, version, requested_by, requested_at, notes, status, report_json)
        VALUES (p_model, p_version, session_user::text, kiln_now(), p_notes, 'pending', p_report)
        RETURNING id INTO new_id;
    PERFORM kiln_audit('release.requested', 'request ' || new_id || ': ' || p_model || ' v' || p_version,
        jsonb_build_object('notes', p_notes, 'gates_passed', p_report::jsonb -> 'gates_passed'));
    -- The request puts the version in QA (the environment before production).
    qa := kiln_qa_alias();
    IF qa IS NOT NULL AND kiln_alias_version(p_model, qa) IS DISTINCT FROM p_version THEN
        PERFORM kiln_move_alias(p_model, qa, p_version);
    END IF;
    RETURN new_id;
END $f$;

-- Approve (moving champion in the same transaction) or reject: an approver or admin, never the requester
-- approving their own request; a failed gate only by an admin with a written reason.
CREATE OR REPLACE FUNCTION kiln_decide_request(p_id bigint, p_approve boolean, p_comment text,
    p_override text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    r release_requests%ROWTYPE;
    role text := kiln_role_of(session_user::text);
    passed boolean;
    qa text;
    reason text := nullif(btrim(coalesce(p_override, '')), '');
BEGIN
    PERFORM pg_advisory_xact_lock({lock});
    SELECT * INTO r FROM release_requests WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no release request %', p_id;
    END IF;
    PERFORM kiln_require('approver', CASE WHEN p_approve THEN 'approves' ELSE 'rejects' END || ' a release');
    IF r.status <> 'pending' THEN
        RAISE EXCEPTION 'release request % is already %', p_id, r.status;
    END IF;
    IF p_approve AND r.requested_by = session_user::text THEN
        RAISE EXCEPTION '`%` filed request %: a release needs a second person''s approval', session_user, p_id
            USING ERRCODE = '42501';
    END IF;
    IF btrim(coalesce(p_comment, '')) = '' THEN
        RAISE EXCEPTION '% needs a comment', CASE WHEN p_approve THEN 'approving' ELSE 'rejecting' END;
    END IF;
    passed := coalesce((r.report_json::jsonb ->> 'gates_passed')::boolean, false);
    IF p_approve AND NOT passed THEN
        IF role <> 'admin' THEN
            RAISE EXCEPTION 'request % failed a quality gate: only an admin can override it, with a reason', p_id
                USING ERRCODE = '42501';
        ELSIF reason IS NULL THEN
            RAISE EXCEPTION 'request % failed a quality gate: approving it needs an override reason', p_id;
        END IF;
    ELSIF reason IS NOT NULL THEN
        RAISE EXCEPTION 'every gate passed: there is nothing to override';
    END IF;
    qa := kiln_qa_alias();
    IF p_approve AND qa IS NOT NULL AND kiln_alias_version(r.model, qa) IS DISTINCT FROM r.version THEN
        RAISE EXCEPTION '% v% is not in QA (`%` is %): a version reaches production only from QA — file a new release request for it (that puts it in QA)',
            r.model, r.version, qa,
            coalesce('v' || kiln_alias_version(r.model, qa), 'not set');
    END IF;
    UPDATE release_requests SET status = CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END,
        decided_by = session_user::text, decided_at = kiln_now(), comment = btrim(p_comment),
        override_reason = reason
        WHERE id = p_id;
    PERFORM kiln_audit(CASE WHEN p_approve THEN 'release.approved' ELSE 'release.rejected' END,
        'request ' || p_id || ': ' || r.model || ' v' || r.version,
        jsonb_build_object('comment', btrim(p_comment), 'override_reason', reason));
    IF p_approve THEN
        PERFORM kiln_move_alias(r.model, 'champion', r.version);
    END IF;
END $f$;

CREATE OR REPLACE FUNCTION kiln_rollback(p_model text, p_comment text,
    OUT from_version bigint, OUT to_version bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    PERFORM kiln_require('approver', 'rolls back');
    PERFORM pg_advisory_xact_lock({lock});
    IF btrim(coalesce(p_comment, '')) = '' THEN
        RAISE EXCEPTION 'a rollback needs a comment';
    END IF;
    SELECT version INTO from_version FROM alias_history
        WHERE model = p_model AND alias = 'champion' ORDER BY id DESC LIMIT 1;
    SELECT version INTO to_version FROM alias_history
        WHERE model = p_model AND alias = 'champion' AND version <> from_version ORDER BY id DESC LIMIT 1;
    IF to_version IS NULL THEN
        RAISE EXCEPTION '`%`''s champion has no earlier version to roll back to', p_model;
    END IF;
    PERFORM kiln_audit('release.rollback', p_model,
        jsonb_build_object('from', from_version, 'to', to_version, 'comment', btrim(p_comment)));
    PERFORM kiln_move_alias(p_model, 'champion', to_version);
END $f$;

CREATE OR REPLACE FUNCTION kiln_record_capacity(p_model text, p_version bigint, p_result text)
    RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    new_id bigint;
BEGIN
    PERFORM kiln_require('data-scientist', 'records a capacity run');
    PERFORM pg_advisory_xact_lock({lock});
    INSERT INTO capacity_runs (model, version, at, measured_by, result_json)
        VALUES (p_model, p_version, kiln_now(), session_user::text, p_result)
        RETURNING id INTO new_id;
    PERFORM kiln_audit('release.capacity', p_model || ' v' || p_version,
        p_result::jsonb #- '{{steps}}');
    RETURN new_id;
END $f$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kiln_now(), kiln_role_of(text), kiln_set_user(text, text, text),
    kiln_register_version(text, bigint, text), kiln_set_brief(text, text),
    kiln_set_stage(text, bigint, text), kiln_add_comment(text, bigint, text, boolean),
    kiln_set_alias(text, text, bigint), kiln_create_request(text, bigint, text, text),
    kiln_decide_request(bigint, boolean, text, text), kiln_rollback(text, text),
    kiln_record_capacity(text, bigint, text), kiln_set_environment(text, text),
    kiln_qa_alias(), kiln_alias_version(text, text) TO {ds};
"
    );
    sql
}

/// Whether a workspace argument names a team workspace (a PostgreSQL URL) rather than a folder.
pub fn is_team_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A team workspace URL taken apart: what the app shows (`host/db`), who connects, and the client
/// configuration with its password resolved.
#[derive(Clone)]
pub struct TeamUrl {
    pub config: postgres::Config,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub tls: Tls,
}

/// How the connection is encrypted, from the URL's `sslmode` (and `sslrootcert`), as libpq reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Tls {
    /// `disable`, or `prefer` (the default): no TLS.
    #[default]
    Off,
    /// `require`: encrypted, the server's certificate not checked (libpq's meaning).
    Require,
    /// `verify-full` (and `verify-ca`, checked as strictly): encrypted, the certificate checked against
    /// the system's roots and `sslrootcert`, and the host name against it.
    VerifyFull {
        root_cert: Option<std::path::PathBuf>,
    },
}

/// Take `sslmode` values the client library does not know (`verify-full`, `verify-ca`) and
/// `sslrootcert` out of a URL's query.
fn split_tls(url: &str) -> (String, Tls) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Tls::Off);
    };
    let mut mode = "prefer".to_owned();
    let mut root = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", m)) => m.clone_into(&mut mode),
            Some(("sslrootcert", path)) => root = Some(std::path::PathBuf::from(path)),
            _ => kept.push(pair),
        }
    }
    let tls = match mode.as_str() {
        "require" => Tls::Require,
        "verify-full" | "verify-ca" => Tls::VerifyFull { root_cert: root },
        _ => Tls::Off,
    };
    // The client library only needs to know whether to ask for TLS.
    kept.push(match tls {
        Tls::Off if mode == "disable" => "sslmode=disable",
        Tls::Off => "sslmode=prefer",
        _ => "sslmode=require",
    });
    (format!("{base}?{}", kept.join("&")), tls)
}

/// A server-certificate check that accepts any certificate but still verifies the handshake's
/// signatures: `sslmode=require`, encryption without authentication, as libpq does it.
#[derive(Debug)]
struct EncryptOnly(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Tls {
    /// The rustls client configuration for this mode (`None` without TLS).
    fn client_config(&self) -> Result<Option<rustls::ClientConfig>> {
        use rustls_pki_types::pem::PemObject;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Team(format!("TLS: {e}")))?;
        Ok(match self {
            Tls::Off => None,
            Tls::Require => Some(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(std::sync::Arc::new(EncryptOnly(provider)))
                    .with_no_client_auth(),
            ),
            Tls::VerifyFull { root_cert } => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                if let Some(path) = root_cert {
                    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(path)
                        .and_then(Iterator::collect)
                        .map_err(|e| {
                            StoreError::Team(format!("sslrootcert {}: {e}", path.display()))
                        })?;
                    roots.add_parsable_certificates(certs);
                }
                Some(builder.with_root_certificates(roots).with_no_client_auth())
            }
        })
    }
}

impl std::fmt::Debug for TeamUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.display())
    }
}

impl TeamUrl {
    /// Parse `postgres://user[:password]@host[:port]/db[?sslmode=…]`. A password missing from the URL
    /// comes from `password` (a dialog), then `PGPASSWORD`, then `~/.pgpass`.
    pub fn parse(url: &str, password: Option<&str>) -> Result<Self> {
        let (plain, tls) = split_tls(url);
        let mut config: postgres::Config = plain.parse().map_err(|e| {
            StoreError::Team(format!("`{}` is not a PostgreSQL URL: {e}", redact(url)))
        })?;
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        };
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config
            .get_user()
            .map(str::to_owned)
            .or_else(|| std::env::var("PGUSER").ok())
            .ok_or_else(|| StoreError::Team(format!("`{}` names no user", redact(url))))?;
        config.user(&user);
        let database = config
            .get_dbname()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Team(format!("`{}` names no database", redact(url))))?;
        if config.get_password().is_none() {
            let key = format!("postgres://{user}@{host}:{port}/{database}");
            let found = password
                .map(str::to_owned)
                .or_else(|| remembered_password(&key))
                .or_else(|| std::env::var("PGPASSWORD").ok())
                .or_else(|| pgpass_lookup(&host, port, &database, &user));
            if let Some(pw) = found {
                config.password(pw);
            }
        }
        Ok(TeamUrl {
            config,
            host,
            port,
            database,
            user,
            tls,
        })
    }

    /// The URL without its password (what may be written down).
    pub fn url_without_password(&self) -> String {
        let tls = match &self.tls {
            Tls::Off => String::new(),
            Tls::Require => "?sslmode=require".to_owned(),
            Tls::VerifyFull { root_cert: None } => "?sslmode=verify-full".to_owned(),
            Tls::VerifyFull { root_cert: Some(p) } => {
                format!("?sslmode=verify-full&sslrootcert={}", p.display())
            }
        };
        format!(
            "postgres://{}@{}:{}/{}{tls}",
            self.user, self.host, self.port, self.database
        )
    }

    /// A folder name for this client's cache of the workspace.
    pub fn cache_name(&self) -> String {
        format!(
            "{}@{}-{}-{}",
            self.user, self.host, self.port, self.database
        )
        .replace(
            |c: char| !(c.is_ascii_alphanumeric() || "@-_.".contains(c)),
            "_",
        )
    }

    fn password_key(&self) -> String {
        self.url_without_password()
    }

    /// `host/db` (with the port when it is not 5432), as the app shows it.
    pub fn display(&self) -> String {
        if self.port == 5432 {
            format!("{}/{}", self.host, self.database)
        } else {
            format!("{}:{}/{}", self.host, self.port, self.database)
        }
    }

    pub fn has_password(&self) -> bool {
        self.config.get_password().is_some()
    }

    pub fn connect(&self) -> Result<postgres::Client> {
        let tls = self.tls.client_config()?;
        self.connect_with(tls.as_ref())
    }

    /// A function that connects again the same way (for a session the server ended).
    pub fn connector(&self) -> Result<crate::db::Connector> {
        let url = self.clone();
        let tls = self.tls.client_config()?;
        Ok(Box::new(move || {
            url.connect_with(tls.as_ref())
                .map_err(|e| StoreError::Team(e.to_string()))
        }))
    }

    fn connect_with(&self, tls: Option<&rustls::ClientConfig>) -> Result<postgres::Client> {
        let mut config = self.config.clone();
        config.application_name("kiln");
        config.connect_timeout(std::time::Duration::from_secs(10));
        let connected = match tls {
            None => config.connect(postgres::NoTls),
            Some(c) => config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(c.clone())),
        };
        connected.map_err(|e| {
            let missing_password = !self.has_password();
            StoreError::Team(format!(
                "cannot connect to {} as {}: {}{}",
                self.display(),
                self.user,
                crate::DbError::Postgres(e),
                if missing_password {
                    " (no password given: set PGPASSWORD, add it to ~/.pgpass or use the app's Connect dialog)"
                } else {
                    ""
                }
            ))
        })
    }

    /// The same server and user on another database.
    fn on_database(&self, db: &str) -> Self {
        let mut other = self.clone();
        other.config.dbname(db);
        db.clone_into(&mut other.database);
        other
    }
}

static PASSWORDS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
    std::sync::OnceLock::new();

/// Keep `url`'s password in this process's memory (never on disk), so the workspace can be opened again
/// by its URL without it (worker threads, a reconnect).
pub fn remember_password(url: &TeamUrl) {
    if let Some(pw) = url.config.get_password() {
        let pw = String::from_utf8_lossy(pw).into_owned();
        if let Ok(mut m) = PASSWORDS.get_or_init(Default::default).lock() {
            m.insert(url.password_key(), pw);
        }
    }
}

fn remembered_password(key: &str) -> Option<String> {
    PASSWORDS.get()?.lock().ok()?.get(key).cloned()
}

/// A URL with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `~/.pgpass` (or `PGPASSFILE`): `host:port:database:user:password`, `*` matching anything.
fn pgpass_lookup(host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let port = port.to_string();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split_pgpass(line);
            let [h, p, d, u, pw] = fields.as_slice() else {
                return None;
            };
            let m = |pattern: &str, value: &str| pattern == "*" || pattern == value;
            (m(h, host) && m(p, &port) && m(d, db) && m(u, user)).then(|| pw.clone())
        })
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

/// A team workspace's database name must be a plain identifier: it names its roles too.
fn check_database_name(db: &str) -> Result<()> {
    let ok = !db.is_empty()
        && db.len() <= 40
        && db.starts_with(|c: char| c.is_ascii_lowercase())
        && db
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Team(format!(
            "`{db}` cannot name a team workspace: use lower-case letters, digits and `_` (at most 40), \
             starting with a letter"
        )))
    }
}

/// Create a team workspace (idempotent): the database if it does not exist, Kiln's roles, the schema
/// (the same migrations as a local workspace, in PostgreSQL's types), the security of
/// [`security_sql`], the object store's URL; the connecting role becomes the workspace's first admin.
/// `admin` is a role allowed to create databases and roles.
pub fn create(admin: &TeamUrl, objects_url: &str) -> Result<crate::Store> {
    let db = admin.database.clone();
    check_database_name(&db)?;
    let roles = TeamRoles::for_database(&db);
    let mut server = admin.on_database("postgres").connect()?;
    let me = admin.user.clone();
    let role_exists = |c: &mut postgres::Client, r: &str| -> Result<bool> {
        Ok(
            c.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&r])?
                .is_some(),
        )
    };
    if !role_exists(&mut server, &roles.owner)? {
        server.batch_execute(&format!("CREATE ROLE {} NOLOGIN CREATEROLE", roles.owner))?;
    }
    for group in [&roles.data_scientist, &roles.approver, &roles.admin] {
        if !role_exists(&mut server, group)? {
            server.batch_execute(&format!("CREATE ROLE {group} NOLOGIN"))?;
        }
    }
    // admin ⊃ approver ⊃ data scientist; the owner administers the groups (its functions grant them)
    // and the creator may act as the owner to build the schema.
    server.batch_execute(&format!(
        "GRANT {ds} TO {ap}; GRANT {ap} TO {ad};
         GRANT {ds}, {ap}, {ad} TO {owner} WITH ADMIN OPTION;
         GRANT {owner} TO \"{me}\"; GRANT {ad} TO \"{me}\";",
        ds = roles.data_scientist,
        ap = roles.approver,
        ad = roles.admin,
        owner = roles.owner,
        me = me.replace('"', "\"\""),
    ))?;
    let exists = server
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])?
        .is_some();
    if exists {
        // An empty database made beforehand (by a DBA): Kiln's owner role takes it over.
        server.batch_execute(&format!("ALTER DATABASE {db} OWNER TO {}", roles.owner))?;
    } else {
        server.batch_execute(&format!("CREATE DATABASE {db} OWNER {}", roles.owner))?;
    }
    drop(server);
    let mut client = admin.connect()?;
    client.batch_execute(&format!(
        "REVOKE ALL ON DATABASE {db} FROM PUBLIC;
         GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {ds};
         SET ROLE {owner};",
        ds = roles.data_scientist,
        owner = roles.owner
    ))?;
    let store = crate::Store::from_postgres(client)?;
    store.db.batch(&format!(
        "CREATE TABLE IF NOT EXISTS kiln_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         {security}
         GRANT SELECT ON kiln_settings TO {ds};",
        security = security_sql(&roles),
        ds = roles.data_scientist,
    ))?;
    store.db.exec(
        "INSERT INTO kiln_settings (key, value) VALUES ('objects', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        crate::db::p![objects_url],
    )?;
    // The creator is the first admin, recorded like every other user (through the function, audited).
    store.db.batch("RESET ROLE")?;
    store.db.exec(
        "SELECT kiln_set_user(?1, 'admin', NULL)",
        crate::db::p![me.as_str()],
    )?;
    Ok(store)
}

/// Open a team workspace as the URL's user.
pub fn open(url: &TeamUrl) -> Result<crate::Store> {
    let client = url.connect()?;
    let store = crate::Store::from_postgres_reconnecting(client, Some(url.connector()?))
        .map_err(|e| match e {
        StoreError::Db(db) if db.sqlstate() == Some("42501") || db.sqlstate() == Some("42P01") => {
            StoreError::Team(format!(
                "{} is not a Kiln team workspace, or {} is not one of its users ({db}); create it with \
                 kiln workspace create, or ask its admin to add you",
                url.display(),
                url.user
            ))
        }
        e => e,
    })?;
    Ok(store)
}

impl crate::Store {
    /// The connected user on a team workspace (PostgreSQL's `session_user`).
    pub fn session_user(&self) -> Result<Option<String>> {
        if !self.db.is_postgres() {
            return Ok(None);
        }
        self.db
            .query_row("SELECT session_user::text", crate::db::p![], |r| r.get(0))
            .map(Some)
    }

    /// The Kiln role the database gives a user of a team workspace (`None` for a stranger).
    pub fn database_role_of(&self, user: &str) -> Result<Option<String>> {
        if !self.db.is_postgres() {
            return Ok(None);
        }
        self.db
            .query_row("SELECT kiln_role_of(?1)", crate::db::p![user], |r| r.get(0))
    }

    /// A workspace setting recorded in a team workspace (such as `objects`, the object store's URL).
    pub fn team_setting(&self, key: &str) -> Result<Option<String>> {
        if !self.db.is_postgres() {
            return Ok(None);
        }
        self.db.query_opt(
            "SELECT value FROM kiln_settings WHERE key = ?1",
            crate::db::p![key],
            |r| r.get(0),
        )
    }
}
