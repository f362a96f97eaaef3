//! `kiln label` (scripted labeling) and `kiln labels` (schema, import, export).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kiln_core::Workspace;
use kiln_core::versions::LabelFormat;

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// NAME (latest version) or NAME@VERSION to label.
    pub reference: String,
    /// The label column (created if it does not exist).
    #[arg(long)]
    pub column: String,
    /// `ROW=VALUE`: set the label of the row with that id (an empty VALUE clears it). Repeat.
    #[arg(long = "set", value_name = "ROW=VALUE", required = true)]
    pub sets: Vec<String>,
    /// Message recorded with the new version.
    #[arg(long, short)]
    pub message: Option<String>,
    /// Author recorded with the new version (default: the OS user).
    #[arg(long)]
    pub author: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LabelsCommand {
    /// Show or define the classes of a label column.
    Schema {
        name: String,
        #[arg(long)]
        column: String,
        /// `NAME[:HOTKEY[:#RRGGBB]]`; repeat for each class. Without any, print the current schema.
        #[arg(long = "class", value_name = "CLASS")]
        classes: Vec<String>,
    },
    /// Apply labels from Label Studio JSON tasks or a `row_id,label` CSV as a new version.
    Import {
        /// NAME or NAME@VERSION the labels belong to.
        reference: String,
        #[arg(long)]
        from: PathBuf,
        /// Label column (default: the file's `from_name` or CSV header).
        #[arg(long)]
        column: Option<String>,
        #[arg(long, short)]
        message: Option<String>,
        /// Author recorded with the new version (default: the OS user).
        #[arg(long)]
        author: Option<String>,
    },
    /// Write the labels of a column as Label Studio JSON tasks (.json) or `row_id,label` CSV.
    Export {
        reference: String,
        #[arg(long)]
        column: String,
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_set(s: &str) -> Result<(u64, Option<String>)> {
    let (row, value) = s
        .split_once('=')
        .with_context(|| format!("`{s}` is not ROW=VALUE"))?;
    let row = row
        .trim()
        .parse::<u64>()
        .with_context(|| format!("`{row}` in `{s}` is not a row id"))?;
    Ok((row, (!value.is_empty()).then(|| value.to_owned())))
}

pub fn run_label(
    ws: &mut Workspace,
    args: &LabelArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let sets = args
        .sets
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>>>()?;
    let outcome = ws.set_labels(
        &args.reference,
        &args.column,
        &sets,
        args.message.as_deref(),
        args.author.as_deref(),
    )?;
    super::report::report_outcome(
        &outcome,
        json,
        out,
        &format!("{} label(s) on `{}`", sets.len(), args.column),
    )
}

pub fn run(ws: &mut Workspace, cmd: &LabelsCommand, json: bool, out: &mut dyn Write) -> Result<()> {
    match cmd {
        LabelsCommand::Schema {
            name,
            column,
            classes,
        } => {
            if !classes.is_empty() {
                let parsed = kiln_core::labels::parse_classes(classes)?;
                ws.set_label_schema(name, column, &parsed)?;
            }
            let schema = ws.label_schema(name, column)?;
            if json {
                return super::report::print_json(
                    out,
                    &serde_json::json!({ "dataset": name, "column": column, "classes": schema }),
                );
            }
            match schema {
                None => writeln!(out, "{name}: column `{column}` has no label schema")?,
                Some(classes) => {
                    for c in classes {
                        writeln!(
                            out,
                            "{:<24} key {:<3} {}",
                            c.name,
                            c.hotkey.as_deref().unwrap_or("-"),
                            c.color
                        )?;
                    }
                }
            }
            Ok(())
        }
        LabelsCommand::Import {
            reference,
            from,
            column,
            message,
            author,
        } => {
            let outcome = ws.import_labels(
                reference,
                column.as_deref(),
                from,
                message.as_deref(),
                author.as_deref(),
            )?;
            super::report::report_outcome(
                &outcome,
                json,
                out,
                &format!("labels from {}", from.display()),
            )
        }
        LabelsCommand::Export {
            reference,
            column,
            out: path,
        } => {
            let n = ws.export_labels(reference, column, path, LabelFormat::from_path(path))?;
            if json {
                super::report::print_json(
                    out,
                    &serde_json::json!({ "labels": n, "out": path.display().to_string() }),
                )
            } else {
                writeln!(
                    out,
                    "wrote {n} label(s) of `{column}` to {}",
                    path.display()
                )?;
                Ok(())
            }
        }
    }
}
