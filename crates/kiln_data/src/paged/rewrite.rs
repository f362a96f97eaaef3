//! Streaming rewrites of a Parquet object into another through Kiln's one writer: filter, label edits, splits;
//! the scans with row ids, counts by value and the position of a row id they build on.

// A part of its parent module: it shares the parent's imports and private items.
#[allow(clippy::wildcard_imports)]
use super::*;

/// The rows of the Parquet object at `src` (row ids included) matching a polars SQL `condition`, written
/// by the streaming engine to `out` with Kiln's one writer: the same bytes an in-memory filter of the
/// loaded version writes, with memory bounded by a batch.
pub fn filter_to_parquet(
    src: &Path,
    condition: &str,
    out: &Path,
    cancel: &Cancel,
) -> Result<crate::Streamed, DataError> {
    let mut lf = scan_with_ids(src)?;
    if let Some(expr) = filter_expr(condition)? {
        lf = lf.filter(expr);
    }
    sink_query(lf, out, cancel, |_| {})
}

/// The rows of the object at `prev` (row ids included) with the rows of the Parquet file `new` (no row
/// ids) added, streamed into `out` with Kiln's one writer. With a `key`, a previous row whose key is among
/// the new rows' is replaced by the new row, which keeps its row id (a row changed upstream is the same
/// row, relabelled nowhere), and of new rows sharing a key the last wins; every other new row gets an id
/// after the largest. Kept rows come first in their order, then the new rows in theirs. `new` must have
/// `prev`'s columns and types.
///
/// The full row groups before the first replaced row are copied as they are encoded (the bytes a fresh
/// write of the same rows gives): appending costs the new rows and the last partial group, not the old
/// rows.
pub fn append_rows(
    prev: &Path,
    new: &Path,
    key: Option<&str>,
    out: &Path,
    cancel: &Cancel,
) -> Result<crate::Streamed, DataError> {
    const FRESH: &str = "__kiln_fresh";
    const POSITION: &str = "__kiln_position";
    let all_old = scan_with_ids(prev)?;
    let schema = all_old.clone().collect_schema()?.as_ref().clone();
    let text = new
        .to_str()
        .ok_or_else(|| DataError::malformed(new, "the path is not valid UTF-8"))?;
    let mut added = LazyFrame::scan_parquet(PlRefPath::from(text), ScanArgsParquet::default())?;
    let columns: Vec<Expr> = schema.iter_names().map(|n| col(n.clone())).collect();
    let next = all_old
        .clone()
        .select([col(ROW_ID).max()])
        .collect()?
        .column(ROW_ID)?
        .u64()?
        .get(0)
        .map_or(0, |m| m + 1);
    if let Some(key) = key {
        if !schema.contains(key) {
            return Err(DataError::UnknownColumn(key.to_owned()));
        }
        added = added.unique_stable(
            Some(Selector::ByName {
                names: Arc::new([key.into()]),
                strict: true,
            }),
            UniqueKeepStrategy::Last,
        );
    }
    // The old rows before the first one a new row replaces stay as they are.
    let untouched = match key {
        None => usize::MAX,
        Some(key) => {
            let first = all_old
                .clone()
                .select([col(key)])
                .with_row_index(POSITION, None)
                .join(
                    added.clone().select([col(key)]),
                    [col(key)],
                    [col(key)],
                    JoinArgs::new(JoinType::Semi),
                )
                .select([col(POSITION).min().cast(DataType::UInt64)])
                .collect()?;
            first
                .column(POSITION)?
                .u64()?
                .get(0)
                .map_or(usize::MAX, |p| p as usize)
        }
    };
    let mut sink = crate::ParquetSink::create(out, &schema)?;
    let mut groups = crate::formats::RowGroups::open(prev)?;
    // Only an object storing its row ids (and written with these columns) has them in its groups.
    let copied = if prev_stores_ids(prev)? {
        groups.copyable(&mut sink).min(untouched / crate::ROW_GROUP)
    } else {
        0
    };
    let old = match copied {
        0 => all_old,
        n => all_old.slice((n * crate::ROW_GROUP) as i64, IdxSize::MAX),
    };
    // Joins keep the left side's order: the written bytes, and so the content hash, depend on it.
    let ordered = |how: JoinType| JoinArgs {
        maintain_order: MaintainOrderJoin::Left,
        ..JoinArgs::new(how)
    };
    let fresh = || (lit(next) + col(FRESH).cast(DataType::UInt64)).alias(ROW_ID);
    let lf = match key {
        None => {
            let added = added.with_row_index(FRESH, None).with_column(fresh());
            concat([old, added.select(columns.clone())], UnionArgs::default())?
        }
        Some(key) => {
            let ids = old
                .clone()
                .select([col(key), col(ROW_ID).alias("__kiln_old_id")]);
            let added = added
                .with_row_index(FRESH, None)
                .join(ids, [col(key)], [col(key)], ordered(JoinType::Left))
                .with_column(
                    when(col("__kiln_old_id").is_null())
                        .then(fresh())
                        .otherwise(col("__kiln_old_id"))
                        .alias(ROW_ID),
                );
            let kept = old.join(
                added.clone().select([col(key)]),
                [col(key)],
                [col(key)],
                ordered(JoinType::Anti),
            );
            concat(
                [kept.select(columns.clone()), added.select(columns.clone())],
                UnionArgs::default(),
            )?
        }
    };
    if let Err(e) = groups.copy_into(copied, &mut sink, cancel) {
        drop(sink);
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    sink_query_into(lf, schema, sink, cancel, |_| {})
}

/// Whether the Parquet object at `path` stores its row ids (older objects are numbered by position).
fn prev_stores_ids(path: &Path) -> Result<bool, DataError> {
    let text = path
        .to_str()
        .ok_or_else(|| DataError::malformed(path, "the path is not valid UTF-8"))?;
    let mut lf = LazyFrame::scan_parquet(PlRefPath::from(text), ScanArgsParquet::default())?;
    Ok(lf.collect_schema()?.contains(ROW_ID))
}

/// A polars SQL query over the Parquet object at `src` (visible as the table `self`, without row ids;
/// with `join`, left-joined first with another object's rows on a key column), written by the streaming
/// engine to `out` with Kiln's one writer and fresh row ids. An error names what the query got wrong.
pub fn derive_sql(
    src: &Path,
    sql: &str,
    join: Option<(&Path, &str)>,
    out: &Path,
    cancel: &Cancel,
) -> Result<crate::Streamed, DataError> {
    let visible = |p: &Path| -> Result<LazyFrame, DataError> {
        let lf = scan_with_ids(p)?;
        Ok(lf.drop(Selector::ByName {
            names: Arc::new([ROW_ID.into()]),
            strict: true,
        }))
    };
    let mut this = visible(src)?;
    if let Some((other, key)) = join {
        for (what, lf) in [
            ("the dataset", &this),
            ("the joined dataset", &visible(other)?),
        ] {
            if !lf.clone().collect_schema()?.contains(key) {
                return Err(DataError::Invalid(format!("{what} has no column `{key}`")));
            }
        }
        this = this.join(
            visible(other)?,
            [col(key)],
            [col(key)],
            JoinArgs {
                maintain_order: MaintainOrderJoin::Left,
                suffix: Some("_joined".into()),
                ..JoinArgs::new(JoinType::Left)
            },
        );
    }
    let mut cx = polars::sql::SQLContext::new();
    cx.register("self", this);
    let lf = cx.execute(sql).map_err(|e| {
        DataError::Invalid(format!("the recipe's SQL: {}", crate::table::clean(&e)))
    })?;
    let schema = lf.clone().collect_schema().map_err(|e| {
        DataError::Invalid(format!("the recipe's SQL: {}", crate::table::clean(&e)))
    })?;
    if schema.contains(ROW_ID) {
        return Err(DataError::Invalid(format!(
            "the recipe may not make a column named `{ROW_ID}`"
        )));
    }
    let lf = lf
        .with_row_index(ROW_ID, None)
        .with_column(col(ROW_ID).cast(DataType::UInt64));
    sink_query(lf, out, cancel, |_| {}).map_err(|e| match e {
        DataError::Filter(m) => DataError::Invalid(format!("the recipe's SQL: {m}")),
        e => e,
    })
}

/// The rows of several Parquet files (each an import's object, row ids dropped) one after another, in
/// the order given, streamed into `out` with Kiln's one writer and fresh row ids. Every file must have
/// the first one's columns and types; the first that differs is named with what differs.
pub fn concat_parquet(
    parts: &[(String, std::path::PathBuf)],
    out: &Path,
    cancel: &Cancel,
) -> Result<crate::Streamed, DataError> {
    let mut frames = Vec::with_capacity(parts.len());
    let mut first: Option<(String, Schema)> = None;
    for (name, path) in parts {
        let lf = scan_with_ids(path)?.drop(Selector::ByName {
            names: Arc::new([ROW_ID.into()]),
            strict: true,
        });
        let schema = lf.clone().collect_schema()?.as_ref().clone();
        match &first {
            None => first = Some((name.clone(), schema)),
            Some((first_name, expected)) if *expected != schema => {
                let show = |s: &Schema| {
                    s.iter()
                        .map(|(n, d)| format!("{n}: {d}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(DataError::Invalid(format!(
                    "{name} has other columns than {first_name}: [{}] against [{}]",
                    show(&schema),
                    show(expected)
                )));
            }
            Some(_) => {}
        }
        frames.push(lf);
    }
    if frames.is_empty() {
        return Err(DataError::Invalid("no files to read".into()));
    }
    let lf = concat(frames, UnionArgs::default())?
        .with_row_index(ROW_ID, None)
        .with_column(col(ROW_ID).cast(DataType::UInt64));
    sink_query(lf, out, cancel, |_| {})
}

/// Run a filtering query through the streaming engine into Kiln's writer at `out`; its errors (an
/// unknown column, a bad condition) are filter errors, and `out` is removed on any failure.
pub(super) fn sink_query(
    lf: LazyFrame,
    out: &Path,
    cancel: &Cancel,
    on_batch: impl Fn(&DataFrame) + Send + Sync + 'static,
) -> Result<crate::Streamed, DataError> {
    let schema = lf
        .clone()
        .collect_schema()
        .map_err(|e| DataError::Filter(crate::table::clean(&e)))?
        .as_ref()
        .clone();
    let sink = crate::ParquetSink::create(out, &schema)?;
    sink_query_into(lf, schema, sink, cancel, on_batch)
}

/// [`sink_query`] into a writer already made for `lf`'s `schema` (and perhaps given rows already).
fn sink_query_into(
    lf: LazyFrame,
    schema: Schema,
    sink: crate::ParquetSink,
    cancel: &Cancel,
    on_batch: impl Fn(&DataFrame) + Send + Sync + 'static,
) -> Result<crate::Streamed, DataError> {
    let out = sink.path().to_path_buf();
    let cleanup = |e: DataError| {
        let _ = std::fs::remove_file(&out);
        e
    };
    let (run, written) = sink_streaming(lf, sink, cancel, on_batch).map_err(cleanup)?;
    run.map_err(|e| cleanup(DataError::Filter(crate::table::clean(&e))))?;
    let (rows, written) = written.map_err(cleanup)?;
    Ok(crate::Streamed {
        rows,
        written,
        schema,
    })
}

/// [`crate::set_labels`] on the Parquet object at `src`, batch by batch through the streaming engine into
/// `out`: the same bytes the in-memory edit writes (the column's type is decided up front from the new
/// values), with memory bounded by a batch and the labels. Unknown row ids are an error.
pub fn set_labels_to_parquet(
    src: &Path,
    column: &str,
    labels: &[(u64, Option<String>)],
    out: &Path,
    cancel: &Cancel,
) -> Result<crate::Streamed, DataError> {
    let mut lf = scan_with_ids(src)?;
    let source = lf.collect_schema()?;
    let wanted: HashMap<u64, Option<String>> = labels.iter().cloned().collect();
    // A numeric column stays numeric when every new value parses (as in memory).
    let existing = source.get(column).cloned();
    let target = match &existing {
        Some(dt) if dt.is_primitive_numeric() => {
            let new = Series::new(
                column.into(),
                wanted.values().cloned().collect::<Vec<Option<String>>>(),
            );
            if new.strict_cast(dt).is_ok() {
                dt.clone()
            } else {
                DataType::String
            }
        }
        _ => DataType::String,
    };
    let mut schema = lf.collect_schema()?.as_ref().clone();
    schema.with_column(column.into(), target.clone());
    let found = Arc::new(Mutex::new(HashSet::<u64>::new()));
    let (f2, name) = (found.clone(), column.to_owned());
    let (rows, written) = rewrite(lf, &schema, out, cancel, move |_, df| {
        let ids = crate::row_ids(&df)?;
        let mut values: Vec<Option<String>> = match df.column(&name) {
            Ok(c) => {
                let s = c.as_materialized_series().cast(&DataType::String)?;
                s.str()?.iter().map(|v| v.map(str::to_owned)).collect()
            }
            Err(_) => vec![None; df.height()],
        };
        let mut hit = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(v) = wanted.get(id) {
                values[i].clone_from(v);
                hit.push(*id);
            }
        }
        let new = Series::new(name.as_str().into(), values).strict_cast(&target)?;
        let mut df = df;
        df.with_column(new.into_column())?;
        f2.lock()
            .map_err(|_| DataError::Invalid("labels failed".into()))?
            .extend(hit);
        Ok(df)
    })?;
    let found = found
        .lock()
        .map_err(|_| DataError::Invalid("labels failed".into()))?;
    if let Some((id, _)) = labels.iter().find(|(id, _)| !found.contains(id)) {
        return Err(DataError::UnknownRow(*id));
    }
    Ok(crate::Streamed {
        rows,
        written,
        schema,
    })
}

/// [`crate::split`] of the Parquet object at `src`, streamed into `out`: the parts are drawn from the row
/// ids and the `stratify` column alone (read on their own), then the object streams through with its
/// `split` column set — the same bytes as the in-memory split.
pub fn split_to_parquet(
    src: &Path,
    (ratios, seed, stratify): ([f64; 3], u64, Option<&str>),
    out: &Path,
    cancel: &Cancel,
) -> Result<crate::Streamed, DataError> {
    let lf = scan_with_ids(src)?;
    let mut keys = vec![col(ROW_ID)];
    if let Some(c) = stratify {
        if !lf.clone().collect_schema()?.contains(c) {
            return Err(DataError::UnknownColumn(c.to_owned()));
        }
        keys.push(col(c));
    }
    let key_frame = lf
        .clone()
        .select(keys)
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    cancel.check()?;
    let parts = crate::split(&key_frame, ratios, seed, stratify)?;
    let parts = parts.column("split")?.as_materialized_series().rechunk();
    drop(key_frame);
    let mut schema = lf.clone().collect_schema()?.as_ref().clone();
    schema.with_column("split".into(), DataType::String);
    let (rows, written) = rewrite(lf, &schema, out, cancel, move |offset, mut df| {
        let part = parts.slice(offset as i64, df.height());
        df.with_column(part.into_column())?;
        Ok(df)
    })?;
    Ok(crate::Streamed {
        rows,
        written,
        schema,
    })
}

/// A scan of a Kiln object with its row ids (numbered by position for objects stored without).
pub fn scan_with_ids(src: &Path) -> Result<LazyFrame, DataError> {
    let text = src
        .to_str()
        .ok_or_else(|| DataError::malformed(src, "the path is not valid UTF-8"))?;
    let mut lf = LazyFrame::scan_parquet(PlRefPath::from(text), ScanArgsParquet::default())?;
    if !lf.collect_schema()?.contains(ROW_ID) {
        lf = lf
            .with_row_index(ROW_ID, None)
            .with_column(col(ROW_ID).cast(DataType::UInt64));
    }
    Ok(lf)
}

/// How many rows of the Parquet object `src` have each value of `column` (as text), most first; nulls
/// are not counted, and a column the object lacks has none. One streaming group-by over the column.
pub fn counts_by_value(src: &Path, column: &str) -> Result<Vec<(String, u64)>, DataError> {
    const COUNT: &str = "__kiln_count";
    let lf = scan_with_ids(src)?;
    if !lf.clone().collect_schema()?.contains(column) {
        return Ok(Vec::new());
    }
    let counted = lf
        .select([col(column).cast(DataType::String)])
        .filter(col(column).is_not_null())
        .group_by([col(column)])
        .agg([len().cast(DataType::UInt64).alias(COUNT)])
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    let values = counted.column(column)?.str()?;
    let counts = counted.column(COUNT)?.u64()?;
    let mut out: Vec<(String, u64)> = values
        .iter()
        .zip(counts.iter())
        .filter_map(|(v, n)| Some((v?.to_owned(), n?)))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// The position of the row with id `row_id` in the Parquet object `src` (with or without stored row
/// ids), found in one streaming pass over the id column; `None` when no row has it.
pub fn position_of_row_id(src: &Path, row_id: u64) -> Result<Option<usize>, DataError> {
    const POSITION: &str = "__kiln_position";
    let found = scan_with_ids(src)?
        .select([col(ROW_ID)])
        .with_row_index(POSITION, None)
        .filter(col(ROW_ID).eq(lit(row_id)))
        .select([col(POSITION).cast(DataType::UInt64)])
        .limit(1)
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    let positions = found.column(POSITION)?.u64()?;
    Ok(positions
        .iter()
        .flatten()
        .next()
        .map(|p| usize::try_from(p).unwrap_or(usize::MAX)))
}

/// Stream `lf` through `f` (given each batch's first row and the batch, in order) into Kiln's Parquet
/// writer at `out`; the rows and bytes written.
pub(super) fn rewrite(
    lf: LazyFrame,
    schema: &Schema,
    out: &Path,
    cancel: &Cancel,
    f: impl Fn(usize, DataFrame) -> Result<DataFrame, DataError> + Send + Sync + 'static,
) -> Result<(usize, crate::Written), DataError> {
    let sink = Arc::new(Mutex::new(crate::ParquetSink::create(out, schema)?));
    let s2 = sink.clone();
    finish_pass(for_each_batch(lf, cancel, move |df| {
        let mut sink = s2
            .lock()
            .map_err(|_| DataError::Invalid("the Parquet writer failed".into()))?;
        let offset = sink.rows();
        sink.push(&f(offset, df)?)
    }))?;
    cancel.check()?;
    let sink = Arc::try_unwrap(sink)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .ok_or_else(|| DataError::Invalid("the streaming query did not finish".into()))?;
    let rows = sink.rows();
    Ok((rows, sink.finish()?))
}

/// The rows of `table` matching `expr`, written by the streaming engine to `out` (removed on failure).
pub(super) fn stream_filter(
    table: &PagedFrame,
    expr: Expr,
    out: &Path,
    cancel: &Cancel,
    progress: &Progress,
) -> Result<(), DataError> {
    progress.set(0.05, "filtering");
    let total = table.height().max(1);
    let progress2 = progress.clone();
    let seen = std::sync::atomic::AtomicUsize::new(0);
    sink_query(table.lazy()?.filter(expr), out, cancel, move |df| {
        let n = seen.fetch_add(df.height(), std::sync::atomic::Ordering::Relaxed) + df.height();
        progress2.set((n as f32 / total as f32).min(0.3), "filtering");
    })?;
    Ok(())
}
