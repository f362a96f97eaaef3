//! External sort of a paged table: sorted runs of a quarter of the budget, merged a row group per run
//! at a time on polars' binary row encoding of the key.

// A part of its parent module: it shares the parent's imports and private items.
#[allow(clippy::wildcard_imports)]
use super::*;

/// Sort `table` by one column (nulls last, ties in table order) into `out` with memory bounded by the
/// table's budget: runs of row groups that fit a quarter of it are sorted in memory and written to
/// files beside `out`, then merged a row group at a time, comparing polars' binary row encoding of the
/// key (which orders as the sort does, descending and nulls included).
pub(super) fn external_sort(
    table: &PagedFrame,
    (column, descending): (&str, bool),
    out: &Path,
    cancel: &Cancel,
    progress: &Progress,
) -> Result<(), DataError> {
    let groups = table.row_groups();
    // What a row group takes once decoded (string views and all: several times its size in the
    // footer), measured on the first one; runs and merges are sized by it.
    let group_bytes = if groups == 0 {
        1
    } else {
        table.read_group(0)?.estimated_size().max(1)
    };
    // Sorting a run holds it about three times over (the rows, the sorted copy, the encoder's pages).
    let per_run = ((table.budget / 8) as usize / group_bytes).max(1);
    let runs: Vec<std::ops::Range<usize>> = (0..groups)
        .step_by(per_run)
        .map(|g| g..(g + per_run).min(groups))
        .collect();
    let mut files: Vec<PagedFrame> = Vec::with_capacity(runs.len());
    for (i, range) in runs.iter().enumerate() {
        cancel.check()?;
        progress.set(0.3 + 0.3 * i as f32 / runs.len() as f32, "sorting in runs");
        let (first, _) = table.locate_group(range.start);
        let end = table.starts[range.end];
        let chunk = table.rows(first, end - first)?;
        let mut sorted = crate::sort_by(&chunk, column, descending)?;
        drop(chunk);
        let path = out.with_extension(format!("run{i}.partial"));
        // Opened at once, so the file goes away with it whatever happens next.
        let opened = crate::write_parquet(&mut sorted, &path)
            .and_then(|_| PagedFrame::open_with(&path, true));
        match opened {
            Ok(f) => files.push(f),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        }
    }
    // A merge holds one decoded row group per run, with its keys, and the batch it builds: merge at most
    // as many runs at once as fit a quarter of the budget, in passes.
    let fan_in = ((table.budget / 4) as usize / group_bytes).max(2);
    let mut pass = 0;
    while files.len() > fan_in {
        pass += 1;
        let mut merged = Vec::with_capacity(files.len().div_ceil(fan_in));
        let mut rest = std::mem::take(&mut files).into_iter().peekable();
        let mut i = 0;
        while rest.peek().is_some() {
            // Each batch of runs goes (and its files with it) once merged: the disk holds one copy.
            let batch: Vec<PagedFrame> = rest.by_ref().take(fan_in).collect();
            let path = out.with_extension(format!("pass{pass}-{i}.partial"));
            i += 1;
            let done = merge_runs(
                &batch,
                (column, descending),
                &path,
                cancel,
                &Progress::new(),
                0,
            )
            .and_then(|()| PagedFrame::open_with(&path, true));
            drop(batch);
            match done {
                Ok(f) => merged.push(f),
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
            }
        }
        files = merged;
    }
    progress.set(0.6, "merging");
    merge_runs(
        &files,
        (column, descending),
        out,
        cancel,
        progress,
        table.height(),
    )
}

/// One sorted run being merged: its current row group, that group's encoded keys, the next row.
pub(super) struct Cursor<'a> {
    run: &'a PagedFrame,
    group: usize,
    frame: Arc<DataFrame>,
    keys: BinaryOffsetChunked,
    row: usize,
    /// The index of `frame` among the frames of the batch being built.
    slot: Option<usize>,
}

impl<'a> Cursor<'a> {
    fn open(
        run: &'a PagedFrame,
        group: usize,
        key: (&str, bool),
    ) -> Result<Option<Self>, DataError> {
        if group >= run.row_groups() {
            return Ok(None);
        }
        let frame = Arc::new(run.read_group(group)?);
        let keys = encode_keys(&frame, key)?;
        Ok(Some(Self {
            run,
            group,
            frame,
            keys,
            row: 0,
            slot: None,
        }))
    }

    fn key(&self) -> &[u8] {
        self.keys.get(self.row).unwrap_or_default()
    }
}

pub(super) fn encode_keys(
    df: &DataFrame,
    (column, descending): (&str, bool),
) -> Result<BinaryOffsetChunked, DataError> {
    let c = df.column(column)?.clone();
    let keys = polars::chunked_array::ops::row_encode::_get_rows_encoded_ca(
        "key".into(),
        &[c],
        &[descending],
        &[true],
        false,
    )?;
    Ok(keys.rechunk().into_owned())
}

pub(super) fn merge_runs(
    runs: &[PagedFrame],
    key: (&str, bool),
    out: &Path,
    cancel: &Cancel,
    progress: &Progress,
    total: usize,
) -> Result<(), DataError> {
    let schema = runs
        .first()
        .map_or_else(|| Arc::new(Schema::default()), |r| r.schema.clone());
    let mut sink = crate::ParquetSink::create(out, &schema)?;
    let mut cursors: Vec<Option<Cursor<'_>>> = runs
        .iter()
        .map(|r| Cursor::open(r, 0, key))
        .collect::<Result<_, _>>()?;
    let mut frames: Vec<Arc<DataFrame>> = Vec::new();
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(crate::ROW_GROUP);
    let flush = |frames: &mut Vec<Arc<DataFrame>>,
                 picks: &mut Vec<(usize, usize)>,
                 sink: &mut crate::ParquetSink|
     -> Result<(), DataError> {
        if picks.is_empty() {
            return Ok(());
        }
        // The picked rows of each frame, taken in pick order, then put in the merged order: only the
        // batch's own rows are copied.
        let mut per_frame: Vec<Vec<IdxSize>> = vec![Vec::new(); frames.len()];
        let mut rank = Vec::with_capacity(picks.len());
        for &(f, r) in picks.iter() {
            rank.push((f, per_frame[f].len()));
            per_frame[f].push(r as IdxSize);
        }
        let mut parts: Option<DataFrame> = None;
        let mut offsets = Vec::with_capacity(frames.len());
        for (f, idx) in frames.iter().zip(per_frame) {
            offsets.push(parts.as_ref().map_or(0, DataFrame::height));
            let part = f.take(&IdxCa::from_vec("idx".into(), idx))?;
            match &mut parts {
                None => parts = Some(part),
                Some(p) => {
                    p.vstack_mut(&part)?;
                }
            }
        }
        let parts = parts.expect("frames of the picked rows");
        let order: Vec<IdxSize> = rank
            .iter()
            .map(|&(f, k)| (offsets[f] + k) as IdxSize)
            .collect();
        let batch = parts.take(&IdxCa::from_vec("idx".into(), order))?;
        sink.push(&batch)?;
        frames.clear();
        picks.clear();
        Ok(())
    };
    let mut written = 0usize;
    // The smallest key first; ties go to the earlier run, so equal keys keep the table's order.
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(Vec<u8>, usize)>> = cursors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.as_ref().map(|c| std::cmp::Reverse((c.key().to_vec(), i))))
        .collect();
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        let c = cursors[i].as_mut().expect("a live cursor");
        let slot = *c.slot.get_or_insert_with(|| {
            frames.push(c.frame.clone());
            frames.len() - 1
        });
        picks.push((slot, c.row));
        c.row += 1;
        if c.row >= c.frame.height() {
            let (run, next) = (c.run, c.group + 1);
            cursors[i] = Cursor::open(run, next, key)?;
        }
        if let Some(c) = &cursors[i] {
            heap.push(std::cmp::Reverse((c.key().to_vec(), i)));
        }
        if picks.len() == crate::ROW_GROUP {
            cancel.check()?;
            written += picks.len();
            progress.set(0.6 + 0.4 * written as f32 / total.max(1) as f32, "merging");
            flush(&mut frames, &mut picks, &mut sink)?;
            for c in cursors.iter_mut().flatten() {
                c.slot = None;
            }
        }
    }
    flush(&mut frames, &mut picks, &mut sink)?;
    sink.finish()?;
    Ok(())
}
