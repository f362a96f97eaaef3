//! How commands print what they did: one JSON document with `--json`, else lines of text.

use std::io::Write;

use anyhow::Result;
use kiln_core::ImportOutcome;
use serde_json::json;

/// Print `value` as pretty JSON on stdout.
pub fn print_json(out: &mut dyn Write, value: &serde_json::Value) -> Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// The JSON every version-creating command prints.
pub fn outcome_json(outcome: &ImportOutcome) -> serde_json::Value {
    let v = &outcome.version;
    json!({
        "created": outcome.created,
        "dataset": v.dataset,
        "version": v.version,
        "rows": v.row_count,
        "columns": v.schema,
        "content_hash": v.content_hash,
        "byte_size": v.byte_size,
        "source_path": v.source_path,
        "operation": v.operation,
        "parent_id": v.parent_id,
    })
}

/// Print what a version-creating command did.
pub fn report_outcome(
    outcome: &ImportOutcome,
    json: bool,
    out: &mut dyn Write,
    what: &str,
) -> Result<()> {
    let v = &outcome.version;
    if json {
        return print_json(out, &outcome_json(outcome));
    }
    if outcome.created {
        writeln!(
            out,
            "{what}: created {}@{} ({} rows, blake3 {})",
            v.dataset,
            v.version,
            v.row_count,
            &v.content_hash[..12]
        )?;
    } else {
        writeln!(
            out,
            "{what}: unchanged, identical to {}@{}; no new version created",
            v.dataset, v.version
        )?;
    }
    Ok(())
}
