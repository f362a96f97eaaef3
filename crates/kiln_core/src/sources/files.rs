//! One version from many files: a local glob (`data/2026-*.csv`) or objects in a store matching a
//! pattern (`s3://bucket/exports/*.parquet`, credentials as for a team workspace's store). Each file is
//! imported as a single file would be (the same checks, streamed when large), then their rows are put one
//! after another in name order. The files seen — name, size, and modification time or `ETag` — are
//! recorded; a pull that finds the same files unchanged reads none of them.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::{CoreError, DatasetVersion, ImportOptions, ImportOutcome, Result, Workspace};

/// Whether `source` names several files by a pattern.
pub fn is_pattern(source: &str) -> bool {
    source.contains(['*', '?', '['])
}

/// The files matching a pattern: their names, what identifies their content, and how to fetch each.
struct Listing {
    files: Vec<(String, serde_json::Value)>,
    fetch: Fetch,
}

enum Fetch {
    Local(Vec<PathBuf>),
    Remote(crate::objects::Remote, Vec<(object_store::path::Path, u64)>),
}

fn list(pattern: &str) -> Result<Listing> {
    if let Some(rest) = pattern.split_once("://").map(|(_, r)| r) {
        // `scheme://bucket/key-pattern`: list from the key's part before its first wildcard.
        let (bucket, key_pattern) = rest.split_once('/').unwrap_or((rest, ""));
        let scheme = &pattern[..pattern.find("://").unwrap_or(0)];
        let remote = crate::objects::Remote::connect(&format!("{scheme}://{bucket}"))?;
        let fixed = &key_pattern[..key_pattern
            .find(['*', '?', '['])
            .unwrap_or(key_pattern.len())];
        let prefix = fixed.rsplit_once('/').map_or("", |(p, _)| p);
        let matcher = glob::Pattern::new(key_pattern)
            .map_err(|e| CoreError::Invalid(format!("`{pattern}` is not a pattern: {e}")))?;
        let mut files = Vec::new();
        let mut objects = Vec::new();
        for meta in remote.list(prefix)? {
            let key = meta.location.to_string();
            if matcher.matches(&key) {
                files.push((
                    key,
                    json!({ "bytes": meta.size, "etag": meta.e_tag, "modified": meta.last_modified.to_rfc3339() }),
                ));
                objects.push((meta.location, meta.size));
            }
        }
        return Ok(Listing {
            files,
            fetch: Fetch::Remote(remote, objects),
        });
    }
    let paths: Vec<PathBuf> = glob::glob(pattern)
        .map_err(|e| CoreError::Invalid(format!("`{pattern}` is not a pattern: {e}")))?
        .filter_map(std::result::Result::ok)
        .filter(|p| p.is_file())
        .collect();
    let mut files = Vec::new();
    for p in &paths {
        let m = std::fs::metadata(p).map_err(|e| CoreError::io(p, e))?;
        let modified = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos().to_string());
        files.push((
            p.display().to_string(),
            json!({ "bytes": m.len(), "modified": modified }),
        ));
    }
    Ok(Listing {
        files,
        fetch: Fetch::Local(paths),
    })
}

/// The URL of the first object (in name order) matching a store pattern (`s3://bucket/exports/*.csv`).
pub(super) fn first_match(pattern: &str) -> Result<String> {
    let listing = list(pattern)?;
    let (scheme, rest) = pattern.split_once("://").unwrap_or_default();
    let bucket = rest.split_once('/').map_or(rest, |(b, _)| b);
    listing
        .files
        .first()
        .map(|(key, _)| format!("{scheme}://{bucket}/{key}"))
        .ok_or_else(|| CoreError::Invalid(format!("no file matches `{pattern}`")))
}

/// The pattern as recorded: a local one made absolute (a pull may run from another folder).
fn recorded(pattern: &str) -> String {
    if pattern.contains("://") {
        return pattern.to_owned();
    }
    let p = Path::new(pattern);
    if p.is_absolute() {
        return pattern.to_owned();
    }
    std::env::current_dir().map_or_else(|_| pattern.to_owned(), |d| d.join(p).display().to_string())
}

impl Workspace {
    /// Import every file matching `pattern` as one new version of `name` (see the module's
    /// documentation).
    pub fn import_pattern(
        &mut self,
        pattern: &str,
        name: &str,
        opts: &ImportOptions,
        cancel: &kiln_data::Cancel,
        progress: &kiln_data::Progress,
    ) -> Result<ImportOutcome> {
        kiln_store::validate_name(name)?;
        self.read_pattern(&recorded(pattern), name, opts, None, (cancel, progress))
    }

    /// Read every file matching `pattern` as a version of `name`; for a pull (`since`), nothing when the
    /// same files are there unchanged.
    pub(crate) fn read_pattern(
        &mut self,
        pattern: &str,
        name: &str,
        opts: &ImportOptions,
        since: Option<(&DatasetVersion, bool)>,
        (cancel, progress): (&kiln_data::Cancel, &kiln_data::Progress),
    ) -> Result<ImportOutcome> {
        progress.set(0.0, "listing");
        let listing = list(pattern)?;
        if listing.files.is_empty() {
            return Err(CoreError::Invalid(format!("no file matches `{pattern}`")));
        }
        let seen = json!(
            listing
                .files
                .iter()
                .map(|(n, stamp)| json!({ "name": n, "stamp": stamp }))
                .collect::<Vec<_>>()
        );
        if let Some((base, _)) = since
            && base.details["pull"]["files"] == seen
        {
            progress.set(1.0, "unchanged");
            return Ok(ImportOutcome {
                created: false,
                version: base.clone(),
            });
        }
        // Each file through the one-file import path (its checks, streamed when large).
        let mut parts = Vec::new();
        let mut temps = Vec::new();
        let n = listing.files.len();
        for (i, (file, _)) in listing.files.iter().enumerate() {
            cancel.check()?;
            progress.set(0.05 + 0.7 * i as f32 / n as f32, &format!("reading {file}"));
            let local = match &listing.fetch {
                Fetch::Local(paths) => paths[i].clone(),
                Fetch::Remote(remote, objects) => {
                    let t = self.objects.temp("part");
                    remote.fetch_to(&objects[i].0, objects[i].1, t.path())?;
                    let p = t.path().to_path_buf();
                    temps.push(t);
                    p
                }
            };
            let mut o = opts.clone();
            if o.format == kiln_data::Format::Auto
                && let Some(f) = Path::new(file)
                    .extension()
                    .and_then(|e| e.to_str())
                    .and_then(kiln_data::Format::parse)
            {
                o.format = f;
            }
            let part = self.objects.temp("parquet");
            kiln_data::stream_to_parquet(
                &local,
                &o,
                part.path(),
                cancel,
                &kiln_data::Progress::new(),
            )
            .map_err(|e| CoreError::Invalid(format!("{file}: {e}")))?;
            parts.push((file.clone(), part.path().to_path_buf()));
            temps.push(part);
        }
        progress.set(0.8, "putting the files together");
        let out = self.objects.temp("parquet");
        let streamed = kiln_data::concat_parquet(&parts, out.path(), cancel)?;
        let shape = kiln_data::schema_of(&kiln_data::without_row_ids(
            &kiln_data::polars::prelude::DataFrame::empty_with_schema(&streamed.schema),
        ));
        let message = match since {
            Some((base, allow)) => super::check_schema(name, &base.schema, &shape, allow)?,
            None => None,
        };
        let meta = crate::VersionMeta {
            dataset: name,
            source_path: Some(pattern),
            import_options: serde_json::to_value(opts).unwrap_or_default(),
            operation: if since.is_some() { "pull" } else { "import" },
            parent_id: self.store.get_version(name, None).ok().map(|v| v.id),
            message: message.as_deref(),
            details: json!({ "pull": { "files": seen, "rows_read": streamed.rows } }),
            clear_drafts: None,
            author: None,
        };
        let outcome = self.record_streamed(out, streamed, &meta, (cancel, progress));
        drop(temps);
        outcome
    }
}
