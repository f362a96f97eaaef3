//! Versions derived from versions: label commits (from the keystroke draft or given directly), pulls from
//! the remembered source, saved filters, stratified splits; plus diff, export, and label interchange with
//! Label Studio's JSON task format and plain `row_id,label` CSV.

use std::fmt::Write as _;
use std::path::Path;

use kiln_data::polars::prelude::*;
use kiln_store::LabelClass;
use serde::{Deserialize, Serialize};

use crate::{
    Cancel, CoreError, DatasetVersion, ImportOutcome, Progress, Result, VersionMeta, Workspace,
};

/// A reproducible train/validation/test split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// Train, validation and test shares (normalised to sum 1).
    pub ratios: [f64; 3],
    pub seed: u64,
    /// Keep this column's class proportions in every part.
    pub stratify: Option<String>,
}

/// File formats for label interchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelFormat {
    /// `row_id,<column>` with one row per labelled row.
    Csv,
    /// Label Studio tasks: `[{"id", "data": {...}, "annotations": [{"result": [choices]}]}]`.
    LabelStudio,
}

impl LabelFormat {
    /// From a file name: `.json` is Label Studio, everything else CSV.
    pub fn from_path(path: &Path) -> Self {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            LabelFormat::LabelStudio
        } else {
            LabelFormat::Csv
        }
    }
}

use crate::invalid;

impl Workspace {
    pub fn label_schema(&self, dataset: &str, column: &str) -> Result<Option<Vec<LabelClass>>> {
        Ok(self.store.label_schema(dataset, column)?)
    }

    /// Define the classes of a label column. Names must be unique and non-empty; so must hotkeys.
    pub fn set_label_schema(
        &self,
        dataset: &str,
        column: &str,
        classes: &[LabelClass],
    ) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for c in classes {
            if c.name.trim().is_empty() || !names.insert(c.name.as_str()) {
                return Err(invalid(format!(
                    "class names must be unique and non-empty (`{}`)",
                    c.name
                )));
            }
            if let Some(k) = &c.hotkey
                && !keys.insert(k.to_ascii_uppercase())
            {
                return Err(invalid(format!("hotkey `{k}` is used by two classes")));
            }
        }
        Ok(self.store.set_label_schema(dataset, column, classes)?)
    }

    /// Check label values against the column's schema, if it has one.
    fn check_classes(
        &self,
        dataset: &str,
        column: &str,
        labels: &[(u64, Option<String>)],
    ) -> Result<()> {
        let Some(schema) = self.store.label_schema(dataset, column)? else {
            return Ok(());
        };
        for (row, value) in labels {
            if let Some(v) = value
                && !schema.iter().any(|c| c.name == *v)
            {
                let names: Vec<_> = schema.iter().map(|c| c.name.as_str()).collect();
                return Err(invalid(format!(
                    "row {row}: unknown class `{v}` for column `{column}` (classes: {})",
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Save one label keystroke to the draft of `(base, column)`. It is durable when this returns.
    pub fn save_draft(
        &self,
        base: &DatasetVersion,
        column: &str,
        row: u64,
        value: Option<&str>,
    ) -> Result<()> {
        if let Some(v) = value {
            self.check_classes(&base.dataset, column, &[(row, Some(v.to_owned()))])?;
        }
        Ok(self.store.put_draft(base.id, column, row, value)?)
    }

    pub fn remove_draft(&self, base: &DatasetVersion, column: &str, row: u64) -> Result<()> {
        Ok(self.store.remove_draft(base.id, column, row)?)
    }

    pub fn drafts(
        &self,
        base: &DatasetVersion,
        column: &str,
    ) -> Result<Vec<(u64, Option<String>)>> {
        Ok(self.store.drafts(base.id, column)?)
    }

    /// Turn the draft of `(base, column)` into a new version whose parent is `base`.
    pub fn commit_labels(
        &mut self,
        base: &DatasetVersion,
        column: &str,
        message: Option<&str>,
        author: Option<&str>,
    ) -> Result<ImportOutcome> {
        let drafts = self.store.drafts(base.id, column)?;
        if drafts.is_empty() {
            return Err(invalid(format!(
                "no labels to commit for column `{column}`"
            )));
        }
        self.write_labels(
            base,
            column,
            &drafts,
            (message, author),
            Some((base.id, column)),
        )
    }

    /// Set labels of `reference` directly (no draft) and create the new version.
    pub fn set_labels(
        &mut self,
        reference: &str,
        column: &str,
        labels: &[(u64, Option<String>)],
        message: Option<&str>,
        author: Option<&str>,
    ) -> Result<ImportOutcome> {
        if labels.is_empty() {
            return Err(invalid("no labels given"));
        }
        let base = self.resolve(reference)?;
        self.write_labels(&base, column, labels, (message, author), None)
    }

    fn write_labels(
        &mut self,
        base: &DatasetVersion,
        column: &str,
        labels: &[(u64, Option<String>)],
        (message, author): (Option<&str>, Option<&str>),
        clear_drafts: Option<(i64, &str)>,
    ) -> Result<ImportOutcome> {
        if column == kiln_data::ROW_ID || column.is_empty() {
            return Err(invalid(format!("`{column}` cannot be a label column")));
        }
        self.check_classes(&base.dataset, column, labels)?;
        let meta = VersionMeta {
            dataset: &base.dataset,
            source_path: base.source_path.as_deref(),
            import_options: base.import_options.clone(),
            operation: "labels",
            parent_id: Some(base.id),
            message,
            details: serde_json::json!({ "column": column, "labels": labels.len() }),
            clear_drafts,
            author,
        };
        // A version larger than the memory budget gets its labels joined by row id as it streams.
        if let Some(src) = self.larger_than_budget(base) {
            let tmp = self.objects.temp("parquet");
            let s = kiln_data::set_labels_to_parquet(
                src.path()?,
                column,
                labels,
                tmp.path(),
                &Cancel::new(),
            )?;
            return self.record_streamed(tmp, s, &meta, (&Cancel::new(), &Progress::new()));
        }
        let df = self.load_with_ids(base)?;
        let mut out = kiln_data::set_labels(&df, column, labels)?;
        self.store_version(&mut out, &meta, &Cancel::new(), &Progress::new())
    }

    /// Read the dataset's source again with its recorded options; a new version only if it changed.
    pub fn pull(
        &mut self,
        dataset: &str,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<ImportOutcome> {
        self.pull_allowing(dataset, false, cancel, progress)
    }

    /// [`Workspace::pull`]; a database source whose columns changed since the last pull is refused
    /// unless `allow_schema_change` (the change is then written in the version's message).
    pub fn pull_allowing(
        &mut self,
        dataset: &str,
        allow_schema_change: bool,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<ImportOutcome> {
        let src = self.source_version(dataset)?;
        if let Some(query) = crate::sources::query_source_of(&src) {
            return self.pull_query(&src, &query, allow_schema_change, cancel, progress);
        }
        let source = src.source_path.clone().unwrap_or_default();
        if src.import_options["images"].as_bool() == Some(true) {
            return self.import_images_as(Path::new(&source), dataset, "pull", cancel, progress);
        }
        let opts = crate::sources::recorded_options(&src)?;
        let since = Some((&src, allow_schema_change));
        if crate::sources::is_pattern(&source) {
            return self.read_pattern(&source, dataset, &opts, since, (cancel, progress));
        }
        if crate::sources::is_fetched_url(&source) {
            return self.fetch_url(&source, dataset, &opts, since, "pull", (cancel, progress));
        }
        let how = crate::Recorded {
            operation: "pull",
            origin: None,
            same_schema_as: Some((&src.schema, allow_schema_change)),
        };
        self.import_recorded(Path::new(&source), dataset, &opts, how, (cancel, progress))
    }

    /// The last version of `dataset` read from outside the workspace (an import or a pull): where a pull
    /// reads from.
    pub(crate) fn source_version(&self, dataset: &str) -> Result<DatasetVersion> {
        self.store
            .list_versions(dataset)?
            .into_iter()
            .rev()
            .find(|v| matches!(v.operation.as_str(), "import" | "pull") && v.source_path.is_some())
            .ok_or_else(|| {
                invalid(format!(
                    "dataset `{dataset}` has no source to pull from (it was made in the workspace)"
                ))
            })
    }

    /// A new version with the rows of `reference` matching a polars SQL condition.
    pub fn derive_filter(
        &mut self,
        reference: &str,
        condition: &str,
        message: Option<&str>,
    ) -> Result<ImportOutcome> {
        if condition.trim().is_empty() {
            return Err(invalid("the filter condition is empty"));
        }
        let base = self.resolve(reference)?;
        let meta = VersionMeta {
            dataset: &base.dataset,
            source_path: base.source_path.as_deref(),
            import_options: base.import_options.clone(),
            operation: "filter",
            parent_id: Some(base.id),
            message,
            details: serde_json::json!({ "where": condition }),
            clear_drafts: None,
            author: None,
        };
        // A version larger than the memory budget is filtered by the streaming engine, object to object.
        if let Some(src) = self.larger_than_budget(&base) {
            let tmp = self.objects.temp("parquet");
            let s =
                kiln_data::filter_to_parquet(src.path()?, condition, tmp.path(), &Cancel::new())?;
            return self.record_streamed(tmp, s, &meta, (&Cancel::new(), &Progress::new()));
        }
        let df = self.load_with_ids(&base)?;
        let mut out = kiln_data::apply_filter(&df, condition)?;
        self.store_version(&mut out, &meta, &Cancel::new(), &Progress::new())
    }

    /// The object of `v`, opened (its footer read), when reading it whole would take more than the
    /// memory budget.
    pub(crate) fn larger_than_budget(&self, v: &DatasetVersion) -> Option<kiln_data::PagedFrame> {
        kiln_data::PagedFrame::open(&self.objects.absolute(&v.object_path))
            .ok()
            .filter(|p| p.memory_estimate() > self.memory_budget())
    }

    /// Record an object the streaming engine wrote as a new version.
    pub(crate) fn record_streamed(
        &mut self,
        tmp: crate::objects::TempObject,
        s: kiln_data::Streamed,
        meta: &VersionMeta<'_>,
        (cancel, progress): (&Cancel, &Progress),
    ) -> Result<ImportOutcome> {
        let visible = kiln_data::without_row_ids(&DataFrame::empty_with_schema(&s.schema));
        let described = (s.written, s.rows, kiln_data::schema_of(&visible));
        self.record_object(tmp, described, meta, cancel, progress)
    }

    /// A new version of `reference` with a `split` column (train / validation / test).
    pub fn derive_split(
        &mut self,
        reference: &str,
        spec: &SplitSpec,
        message: Option<&str>,
    ) -> Result<ImportOutcome> {
        let base = self.resolve(reference)?;
        let meta = VersionMeta {
            dataset: &base.dataset,
            source_path: base.source_path.as_deref(),
            import_options: base.import_options.clone(),
            operation: "split",
            parent_id: Some(base.id),
            message,
            details: serde_json::to_value(spec).unwrap_or_default(),
            clear_drafts: None,
            author: None,
        };
        let how = (spec.ratios, spec.seed, spec.stratify.as_deref());
        // A version larger than the memory budget: parts drawn from its row ids and the stratify column,
        // then the object streams through with them.
        if let Some(src) = self.larger_than_budget(&base) {
            let tmp = self.objects.temp("parquet");
            let s = kiln_data::split_to_parquet(src.path()?, how, tmp.path(), &Cancel::new())?;
            return self.record_streamed(tmp, s, &meta, (&Cancel::new(), &Progress::new()));
        }
        let df = self.load_with_ids(&base)?;
        let mut out = kiln_data::split(&df, how.0, how.1, how.2)?;
        self.store_version(&mut out, &meta, &Cancel::new(), &Progress::new())
    }

    /// What changed from `a` to `b` (rows matched by row id); label columns broken down by class.
    pub fn diff(&self, a: &str, b: &str) -> Result<kiln_data::DiffSummary> {
        let va = self.resolve(a)?;
        let vb = self.resolve(b)?;
        let mut labels = self.store.label_columns(&va.dataset)?;
        if vb.dataset != va.dataset {
            labels.extend(self.store.label_columns(&vb.dataset)?);
        }
        // Versions larger than the memory budget are compared by the streaming engine from their objects.
        if self.larger_than_budget(&va).is_some() || self.larger_than_budget(&vb).is_some() {
            let scan = |v: &DatasetVersion| {
                kiln_data::scan_with_ids(&self.objects.absolute(&v.object_path))
            };
            return Ok(kiln_data::diff_lazy(scan(&va)?, scan(&vb)?, &labels)?);
        }
        let da = self.load_with_ids(&va)?;
        let db = self.load_with_ids(&vb)?;
        Ok(kiln_data::diff(&da, &db, &labels)?)
    }

    /// Write a version to a file (format from `format` or the extension); never half-writes `out`.
    pub fn export(
        &self,
        reference: &str,
        out: &Path,
        format: crate::Format,
    ) -> Result<DatasetVersion> {
        let v = self.resolve(reference)?;
        let df = self.load(&v)?;
        kiln_data::export_file(&df, out, format)?;
        Ok(v)
    }

    /// Export the labels of `column` (labelled rows only for CSV; every row as a task for Label Studio).
    ///
    /// With `predictions_run`, every Label Studio task also carries that run's prediction for its row
    /// (`predictions` with `model_version` and `score`), so annotators start from the model; they are
    /// never read back as labels.
    pub fn export_labels(
        &self,
        reference: &str,
        column: &str,
        out: &Path,
        format: LabelFormat,
        predictions_run: Option<i64>,
    ) -> Result<usize> {
        let v = self.resolve(reference)?;
        let df = self.load_with_ids(&v)?;
        let predictions = match (predictions_run, format) {
            (None, _) => None,
            (Some(_), LabelFormat::Csv) => {
                return Err(invalid(
                    "predictions are written to Label Studio JSON (.json), not CSV",
                ));
            }
            (Some(run), LabelFormat::LabelStudio) => Some(self.predictions_for(run, &df)?),
        };
        let labels = df
            .column(column)
            .map_err(|_| kiln_data::DataError::UnknownColumn(column.to_owned()))?
            .as_materialized_series()
            .cast(&DataType::String)?;
        let labels: Vec<Option<String>> =
            labels.str()?.iter().map(|s| s.map(str::to_owned)).collect();
        let ids = kiln_data::row_ids(&df)?;
        let text = match format {
            LabelFormat::Csv => {
                let mut csv = format!("row_id,{}\n", csv_field(column));
                for (id, label) in ids.iter().zip(&labels) {
                    if let Some(l) = label {
                        let _ = writeln!(csv, "{id},{}", csv_field(l));
                    }
                }
                csv
            }
            LabelFormat::LabelStudio => {
                let visible = kiln_data::without_row_ids(&df)
                    .drop(column)
                    .unwrap_or_default();
                let records = frame_records(&visible)?;
                let tasks: Vec<serde_json::Value> = ids
                    .iter()
                    .zip(&labels)
                    .zip(records)
                    .enumerate()
                    .map(|(i, ((id, label), mut data))| {
                        data[kiln_data::ROW_ID] = serde_json::json!(id);
                        let choice = |l: &str| {
                            serde_json::json!([{
                                "from_name": column, "to_name": "data", "type": "choices",
                                "value": { "choices": [l] }
                            }])
                        };
                        let annotations = match label {
                            Some(l) => serde_json::json!([{ "result": choice(l) }]),
                            None => serde_json::json!([]),
                        };
                        let mut task = serde_json::json!({ "id": id, "data": data, "annotations": annotations });
                        if let Some(p) = &predictions {
                            let r = &p.rows[i];
                            task["predictions"] = serde_json::json!([{
                                "model_version": format!("run-{}", p.run),
                                "score": r.score,
                                "result": choice(&r.class),
                            }]);
                        }
                        task
                    })
                    .collect();
                serde_json::to_string_pretty(&tasks).unwrap_or_default()
            }
        };
        let tmp = out.with_extension("partial");
        std::fs::write(&tmp, text).map_err(|e| CoreError::io(&tmp, e))?;
        std::fs::rename(&tmp, out).map_err(|e| CoreError::io(out, e))?;
        Ok(labels.iter().filter(|l| l.is_some()).count())
    }

    /// Apply labels from a file (Label Studio JSON or `row_id,label` CSV) as a new version. Every row id
    /// must exist; on any problem nothing is applied.
    pub fn import_labels(
        &mut self,
        reference: &str,
        column: Option<&str>,
        from: &Path,
        message: Option<&str>,
        author: Option<&str>,
    ) -> Result<ImportOutcome> {
        let text = std::fs::read_to_string(from).map_err(|e| CoreError::io(from, e))?;
        let (file_column, labels) = match LabelFormat::from_path(from) {
            LabelFormat::LabelStudio => parse_label_studio(from, &text)?,
            LabelFormat::Csv => parse_label_csv(from, &text)?,
        };
        let column = column.map(str::to_owned).or(file_column).ok_or_else(|| {
            invalid(format!(
                "{}: cannot tell the label column; pass --column",
                from.display()
            ))
        })?;
        let base = self.resolve(reference)?;
        let df = self.load_with_ids(&base)?;
        let known: std::collections::HashSet<u64> = kiln_data::row_ids(&df)?.into_iter().collect();
        let unknown: Vec<u64> = labels
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !known.contains(id))
            .collect();
        if !unknown.is_empty() {
            let shown: Vec<String> = unknown.iter().take(5).map(ToString::to_string).collect();
            return Err(invalid(format!(
                "{}: {} row id(s) not in {}@{}: {}{}",
                from.display(),
                unknown.len(),
                base.dataset,
                base.version,
                shown.join(", "),
                if unknown.len() > 5 { ", …" } else { "" }
            )));
        }
        self.write_labels(&base, &column, &labels, (message, author), None)
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Rows as JSON objects, via polars' JSON writer.
fn frame_records(df: &DataFrame) -> Result<Vec<serde_json::Value>> {
    let mut buf = Vec::new();
    let mut df = df.clone();
    JsonWriter::new(&mut buf)
        .with_json_format(JsonFormat::Json)
        .finish(&mut df)
        .map_err(kiln_data::DataError::from)?;
    match serde_json::from_slice::<serde_json::Value>(&buf) {
        Ok(serde_json::Value::Array(rows)) => Ok(rows),
        _ => Ok(vec![serde_json::json!({}); df.height()]),
    }
}

type ParsedLabels = (Option<String>, Vec<(u64, Option<String>)>);

fn parse_label_studio(path: &Path, text: &str) -> Result<ParsedLabels> {
    let bad = |m: String| invalid(format!("{}: {m}", path.display()));
    let tasks: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let tasks = tasks
        .as_array()
        .ok_or_else(|| bad("expected a JSON array of Label Studio tasks".into()))?;
    let mut column = None;
    let mut labels = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        let id = task["data"][kiln_data::ROW_ID]
            .as_u64()
            .or_else(|| task["id"].as_u64())
            .ok_or_else(|| {
                bad(format!(
                    "task {i} has no row id (`data.{}` or `id`)",
                    kiln_data::ROW_ID
                ))
            })?;
        let annotations = task["annotations"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        let result = annotations
            .iter()
            .filter(|a| !a["was_cancelled"].as_bool().unwrap_or(false))
            .filter_map(|a| a["result"].as_array())
            .flatten()
            .find(|r| r["value"]["choices"].is_array());
        if let Some(r) = result {
            let choice = r["value"]["choices"][0]
                .as_str()
                .ok_or_else(|| bad(format!("task {i}: choices is empty")))?;
            if column.is_none() {
                column = r["from_name"].as_str().map(str::to_owned);
            }
            labels.push((id, Some(choice.to_owned())));
        }
    }
    if labels.is_empty() {
        return Err(bad(
            "no labelled tasks (annotations with choices) found".into()
        ));
    }
    Ok((column, labels))
}

fn parse_label_csv(path: &Path, text: &str) -> Result<ParsedLabels> {
    let mut lines = text.lines().enumerate();
    let (_, header) = lines
        .next()
        .ok_or_else(|| invalid(format!("{}: file is empty", path.display())))?;
    let mut head = header.splitn(2, ',');
    let first = head.next().unwrap_or_default().trim();
    let column = head.next().map(|c| c.trim().trim_matches('"').to_owned());
    if !matches!(first, "row_id" | "id" | kiln_data::ROW_ID) || column.is_none() {
        return Err(invalid(format!(
            "{}: line 1: expected a header `row_id,<label column>`",
            path.display()
        )));
    }
    let mut labels = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let (id, value) = line.split_once(',').ok_or_else(|| {
            invalid(format!(
                "{}: line {}: expected `row_id,label`",
                path.display(),
                i + 1
            ))
        })?;
        let id = id.trim().parse::<u64>().map_err(|_| {
            invalid(format!(
                "{}: line {}: `{id}` is not a row id",
                path.display(),
                i + 1
            ))
        })?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .map_or_else(|| value.to_owned(), |v| v.replace("\"\"", "\""));
        labels.push((id, (!value.is_empty()).then_some(value)));
    }
    Ok((column, labels))
}

/// Image files Kiln imports from a folder.
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

impl Workspace {
    /// Import a folder of images (PNG/JPEG) as a dataset, like torchvision's `ImageFolder`: files in a
    /// sub-folder get that folder's name as `label`, files at the top level none. The images' bytes are
    /// stored in the version itself (an `image` binary column, plus `file`, the path inside the folder),
    /// so a version never changes when the folder does.
    pub fn import_images(
        &mut self,
        dir: &Path,
        name: &str,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<ImportOutcome> {
        self.import_images_as(dir, name, "import", cancel, progress)
    }

    fn import_images_as(
        &mut self,
        dir: &Path,
        name: &str,
        operation: &str,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<ImportOutcome> {
        kiln_store::validate_name(name)?;
        if !dir.is_dir() {
            return Err(invalid(format!(
                "{}: not a folder of images",
                dir.display()
            )));
        }
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).map_err(|e| CoreError::io(&d, e))?;
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| IMAGE_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
                {
                    files.push(p);
                }
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(invalid(format!(
                "{}: no PNG or JPEG files found",
                dir.display()
            )));
        }
        let mut rel_paths = Vec::with_capacity(files.len());
        let mut labels = Vec::with_capacity(files.len());
        let mut bytes = Vec::with_capacity(files.len());
        for (i, f) in files.iter().enumerate() {
            if i % 256 == 0 {
                cancel.check()?;
                progress.set(0.5 * i as f32 / files.len() as f32, "reading images");
            }
            let rel = f.strip_prefix(dir).unwrap_or(f);
            let mut parts = rel.components();
            let label = match (parts.next(), parts.next()) {
                (Some(first), Some(_)) => Some(first.as_os_str().to_string_lossy().into_owned()),
                _ => None,
            };
            rel_paths.push(rel.to_string_lossy().replace('\\', "/"));
            labels.push(label);
            bytes.push(std::fs::read(f).map_err(|e| CoreError::io(f, e))?);
        }
        let height = files.len();
        let df = DataFrame::new(
            height,
            vec![
                Column::new("file".into(), rel_paths),
                Column::new("label".into(), labels),
                Column::new(
                    "image".into(),
                    bytes.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                ),
            ],
        )
        .map_err(kiln_data::DataError::from)?;
        let mut df = kiln_data::with_row_ids(&df)?;
        let source = dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .display()
            .to_string();
        let parent_id = self.store.get_version(name, None).ok().map(|v| v.id);
        let meta = VersionMeta {
            dataset: name,
            source_path: Some(&source),
            import_options: serde_json::json!({ "images": true }),
            operation,
            parent_id,
            message: None,
            details: serde_json::json!({ "images": height }),
            clear_drafts: None,
            author: None,
        };
        self.store_version(&mut df, &meta, cancel, progress)
    }
}
