use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use kiln_core::{Cancel, Format, ImportOptions, Progress, Workspace};

use super::args::{parse_char, parse_format};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// File to import, a pattern of several (`data/2026-*.csv`, `s3://bucket/exports/*.parquet`: one
    /// version), an `https://` URL of one (`.gz` unpacked), or a database URL with --query.
    pub path: PathBuf,
    /// Dataset name (a new version is added if the dataset exists). Default: the file name's stem.
    #[arg(long)]
    pub name: Option<String>,
    /// File format: auto, csv, tsv, parquet, ipc (arrow, feather), json, ndjson (jsonl).
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub format: Format,
    /// The first (non-skipped) line is data, not column names.
    #[arg(long)]
    pub no_header: bool,
    /// Records to skip before the header, e.g. a metadata line.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub skip_rows: usize,
    /// Field delimiter for CSV (default `,`; tab for TSV). `\t` means a tab.
    #[arg(long, value_name = "C", value_parser = parse_char)]
    pub delimiter: Option<char>,
    /// Quote character for CSV (default `"`).
    #[arg(long, value_name = "C", value_parser = parse_char)]
    pub quote: Option<char>,
    /// Disable quoting: quote characters are ordinary data.
    #[arg(long, conflicts_with = "quote")]
    pub no_quote: bool,
    /// A value read as null; repeat for several. Replaces the default set (NA, empty, null, NaN).
    #[arg(long = "null", value_name = "TOKEN")]
    pub nulls: Vec<String>,
    /// PATH is a folder of PNG/JPEG images; sub-folder names become labels (like `ImageFolder`).
    #[arg(long)]
    pub images: bool,
    /// With a database URL as PATH (`postgres://user@host:port/db`): the query whose result is the
    /// dataset. The password comes from `PGPASSWORD` or `~/.pgpass` and is never recorded.
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    /// With --query: a column that grows with new and changed rows (an id, an `updated_at`); `datasets
    /// pull` then reads only the rows past its largest value so far and adds them.
    #[arg(long, value_name = "COLUMN", requires = "query")]
    pub incremental_by: Option<String>,
    /// With --incremental-by: rows read again replace the rows with their key.
    #[arg(long, value_name = "COLUMN", requires = "incremental_by")]
    pub primary_key: Option<String>,
    /// Memory the import may use, in MiB: a CSV/TSV/Parquet/IPC file whose data would take more streams into the
    /// version in batches (default: a quarter of RAM, or `KILN_MEMORY_BUDGET_MB`).
    #[arg(long, value_name = "MB")]
    pub memory_budget_mb: Option<u64>,
}

impl ImportArgs {
    pub fn options(&self) -> ImportOptions {
        let defaults = ImportOptions::default();
        ImportOptions {
            format: self.format,
            delimiter: self.delimiter,
            has_header: !self.no_header,
            skip_rows: self.skip_rows,
            quote_char: if self.no_quote {
                None
            } else {
                self.quote.or(defaults.quote_char)
            },
            null_values: if self.nulls.is_empty() {
                defaults.null_values
            } else {
                self.nulls.clone()
            },
        }
    }

    fn dataset_name(&self) -> Result<String> {
        if let Some(n) = &self.name {
            return Ok(n.clone());
        }
        match self.path.file_stem().and_then(|s| s.to_str()) {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => bail!(
                "cannot derive a dataset name from {}: pass --name",
                self.path.display()
            ),
        }
    }
}

/// A dataset name from a URL's file name (`…/orders-2026.csv.gz` → `orders-2026`).
fn url_stem(url: &str) -> Result<String> {
    let file = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let file = file.strip_suffix(".gz").unwrap_or(file);
    match std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
    {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => bail!("cannot derive a dataset name from {url}: pass --name"),
    }
}

pub fn run(ws: &mut Workspace, args: &ImportArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let text = args.path.to_string_lossy().to_string();
    if kiln_core::sources::QuerySource::is_database_url(&text) {
        let (Some(name), Some(query)) = (&args.name, &args.query) else {
            bail!("a database source needs --query \"SELECT …\" and --name NAME");
        };
        let source = kiln_core::sources::QuerySource {
            url: text.clone(),
            query: query.clone(),
            incremental_by: args.incremental_by.clone(),
            primary_key: args.primary_key.clone(),
        };
        let outcome = ws.import_query(&source, name, &Cancel::new(), &Progress::new())?;
        return super::report::report_outcome(&outcome, json, out, "import");
    }
    if kiln_core::sources::is_pattern(&text) && !kiln_core::sources::is_fetched_url(&text) {
        let Some(name) = &args.name else {
            bail!("several files are one dataset: name it with --name");
        };
        let outcome = ws.import_pattern(
            &text,
            name,
            &args.options(),
            &Cancel::new(),
            &Progress::new(),
        )?;
        return super::report::report_outcome(&outcome, json, out, "import");
    }
    if kiln_core::sources::is_fetched_url(&text) {
        let name = match &args.name {
            Some(n) => n.clone(),
            None => url_stem(&text)?,
        };
        let outcome = ws.import_url(
            &text,
            &name,
            &args.options(),
            &Cancel::new(),
            &Progress::new(),
        )?;
        return super::report::report_outcome(&outcome, json, out, "import");
    }
    if args.query.is_some() {
        bail!(
            "--query reads from a database: give its URL (postgres://user@host/db) instead of a file"
        );
    }
    let name = args.dataset_name()?;
    if let Some(mb) = args.memory_budget_mb {
        ws.set_memory_budget(mb.saturating_mul(1 << 20));
    }
    let outcome = if args.images {
        ws.import_images(&args.path, &name, &Cancel::new(), &Progress::new())?
    } else {
        ws.import(
            &args.path,
            &name,
            &args.options(),
            &Cancel::new(),
            &Progress::new(),
        )?
    };
    let v = &outcome.version;
    if json {
        super::report::print_json(out, &super::report::outcome_json(&outcome))
    } else {
        if outcome.created {
            writeln!(
                out,
                "imported {} as {}@{} ({} rows, {} columns, {} bytes, blake3 {})",
                args.path.display(),
                v.dataset,
                v.version,
                v.row_count,
                v.schema.as_array().map_or(0, Vec::len),
                v.byte_size,
                &v.content_hash[..12]
            )?;
        } else {
            writeln!(
                out,
                "unchanged: {} has the same content as {}@{}; no new version created",
                args.path.display(),
                v.dataset,
                v.version
            )?;
        }
        Ok(())
    }
}
