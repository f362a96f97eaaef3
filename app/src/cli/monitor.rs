//! `kiln drift`: data drift between two dataset versions.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use kiln_core::Workspace;

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// NAME[@VERSION] of the reference data.
    pub reference: String,
    /// NAME[@VERSION] of the current data.
    pub current: String,
}

pub fn run_drift(
    ws: &Workspace,
    args: &DriftArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let r = ws.drift(&args.reference, &args.current)?;
    if json_out {
        return super::report::print_json(out, &serde_json::to_value(&r)?);
    }
    writeln!(
        out,
        "{} of {} columns drifted ({} reference rows, {} current){}",
        r.drifted_columns,
        r.columns.len(),
        r.reference_rows,
        r.current_rows,
        if r.dataset_drift {
            ": the dataset drifted"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "{:<24} {:<14} {:>12} {:>12} {:>8}  drifted",
        "column", "method", "statistic", "p-value", "PSI"
    )?;
    for c in &r.columns {
        writeln!(
            out,
            "{:<24} {:<14} {:>12.6} {:>12} {:>8.4}  {}",
            c.name,
            c.method,
            c.statistic,
            c.p_value.map_or_else(|| "-".into(), |p| format!("{p:.6}")),
            c.psi,
            if c.drifted { "yes" } else { "no" }
        )?;
    }
    Ok(())
}
