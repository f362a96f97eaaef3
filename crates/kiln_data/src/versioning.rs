//! Operations that derive one dataset version from another: stable row ids, label edits, filters,
//! stratified splits, and the diff of two versions.
//!
//! Every stored version carries a hidden `__kiln_row` column (`u64`): rows keep their id through label
//! commits, filters and splits, so a diff can say which rows were added, removed or changed. Imports and
//! pulls number rows by position. Frames shown to users never contain the column.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::DataError;

/// Name of the hidden row-id column.
pub const ROW_ID: &str = "__kiln_row";

/// `df` with a `__kiln_row` column first (numbered by position when missing).
pub fn with_row_ids(df: &DataFrame) -> Result<DataFrame, DataError> {
    if let Ok(c) = df.column(ROW_ID) {
        if c.dtype() == &DataType::UInt64 {
            return Ok(df.clone());
        }
        let mut out = df.clone();
        out.with_column(c.cast(&DataType::UInt64)?)?;
        return Ok(out);
    }
    let ids = Column::new(ROW_ID.into(), (0..df.height() as u64).collect::<Vec<_>>());
    let mut columns = Vec::with_capacity(df.width() + 1);
    columns.push(ids);
    columns.extend(df.columns().iter().cloned());
    Ok(DataFrame::new(df.height(), columns)?)
}

/// `df` without the hidden row-id column.
pub fn without_row_ids(df: &DataFrame) -> DataFrame {
    if df.column(ROW_ID).is_ok() {
        df.drop(ROW_ID).unwrap_or_else(|_| df.clone())
    } else {
        df.clone()
    }
}

/// Row ids of a frame (positions when it has none).
pub fn row_ids(df: &DataFrame) -> Result<Vec<u64>, DataError> {
    match df.column(ROW_ID) {
        Ok(c) => Ok(c
            .as_materialized_series()
            .cast(&DataType::UInt64)?
            .u64()?
            .iter()
            .map(Option::unwrap_or_default)
            .collect()),
        Err(_) => Ok((0..df.height() as u64).collect()),
    }
}

/// Set `column` of the rows with the given ids (`None` clears a label). A new column is created as text. An
/// existing numeric column keeps its type when every new value parses as a number; otherwise it becomes
/// text. Unknown row ids are an error and nothing is applied.
pub fn set_labels(
    df: &DataFrame,
    column: &str,
    labels: &[(u64, Option<String>)],
) -> Result<DataFrame, DataError> {
    let df = with_row_ids(df)?;
    let ids = row_ids(&df)?;
    let position: HashMap<u64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut updates = Vec::with_capacity(labels.len());
    for (id, value) in labels {
        let Some(&pos) = position.get(id) else {
            return Err(DataError::UnknownRow(*id));
        };
        updates.push((pos, value.clone()));
    }
    let existing = df.column(column).ok();
    let mut values: Vec<Option<String>> = match existing {
        Some(c) => {
            let s = c.as_materialized_series().cast(&DataType::String)?;
            s.str()?.iter().map(|v| v.map(str::to_owned)).collect()
        }
        None => vec![None; df.height()],
    };
    for (pos, v) in updates {
        values[pos] = v;
    }
    let text = Series::new(column.into(), values);
    let new = match existing.map(Column::dtype) {
        Some(dt) if dt.is_primitive_numeric() => {
            // Keep the numeric type if every value still parses (strict cast: no silent nulls).
            match text.strict_cast(dt) {
                Ok(s) => s,
                Err(_) => text,
            }
        }
        _ => text,
    };
    let mut out = df.clone();
    out.with_column(new.into_column())?;
    Ok(out)
}

/// The parts of a split, in order.
pub const SPLIT_NAMES: [&str; 3] = ["train", "validation", "test"];

/// Split counts of `n` items by `ratios` (largest remainder): they sum to `n` and each is within one
/// item of `n × ratio`.
fn apportion(n: usize, ratios: [f64; 3]) -> [usize; 3] {
    let total: f64 = ratios.iter().sum();
    let exact: Vec<f64> = ratios.iter().map(|r| n as f64 * r / total).collect();
    let mut counts: [usize; 3] = [0; 3];
    for (c, e) in counts.iter_mut().zip(&exact) {
        *c = e.floor() as usize;
    }
    let mut rest = n - counts.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..3).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if rest == 0 {
            break;
        }
        if ratios[i] > 0.0 {
            counts[i] += 1;
            rest -= 1;
        }
    }
    counts
}

/// Add (or replace) a `split` column with `train` / `validation` / `test`, reproducibly for a seed. With
/// `stratify`, each class of that column is split on its own, so every part keeps the class proportions
/// within one item.
pub fn split(
    df: &DataFrame,
    ratios: [f64; 3],
    seed: u64,
    stratify: Option<&str>,
) -> Result<DataFrame, DataError> {
    if ratios.iter().any(|r| !r.is_finite() || *r < 0.0) || ratios.iter().sum::<f64>() <= 0.0 {
        return Err(DataError::Invalid(
            "split ratios must be non-negative and not all zero".into(),
        ));
    }
    let df = with_row_ids(df)?;
    let mut groups = class_groups(&df, stratify)?;
    let mut assigned = vec![""; df.height()];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for positions in groups.values_mut() {
        positions.shuffle(&mut rng);
        let counts = apportion(positions.len(), ratios);
        let mut it = positions.iter();
        for (part, count) in SPLIT_NAMES.iter().zip(counts) {
            for &p in it.by_ref().take(count) {
                assigned[p] = part;
            }
        }
    }
    let mut out = df.clone();
    out.with_column(Column::new("split".into(), assigned))?;
    Ok(out)
}

/// Positions of the rows of each class of `stratify` (or all rows as one group), each group ordered by
/// row id so that what is drawn from it does not depend on the row order of the frame. `df` has row ids.
fn class_groups(
    df: &DataFrame,
    stratify: Option<&str>,
) -> Result<BTreeMap<String, Vec<usize>>, DataError> {
    let ids = row_ids(df)?;
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    match stratify {
        Some(c) => {
            let s = df
                .column(c)
                .map_err(|_| DataError::UnknownColumn(c.to_owned()))?
                .as_materialized_series()
                .cast(&DataType::String)?;
            for (i, v) in s.str()?.iter().enumerate() {
                groups
                    .entry(v.unwrap_or("\u{0}null").to_owned())
                    .or_default()
                    .push(i);
            }
        }
        None => {
            groups.insert(String::new(), (0..df.height()).collect());
        }
    }
    for positions in groups.values_mut() {
        positions.sort_by_key(|&p| ids[p]);
    }
    Ok(groups)
}

/// A stratified share of the rows: of each class of `stratify`, the first `ceil(fraction × n)` rows of
/// an order drawn with `seed`. For one seed the subsets are nested (the rows of a smaller fraction are
/// among those of a larger one), which is what a learning curve needs; every class keeps at least one
/// row. The rows keep their order in `df`.
pub fn nested_subset(
    df: &DataFrame,
    fraction: f64,
    seed: u64,
    stratify: Option<&str>,
) -> Result<DataFrame, DataError> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(DataError::Invalid(format!(
            "a subset fraction must be in (0, 1], not {fraction}"
        )));
    }
    if fraction >= 1.0 {
        return Ok(df.clone());
    }
    let had_ids = df.column(ROW_ID).is_ok();
    let with_ids = with_row_ids(df)?;
    let mut groups = class_groups(&with_ids, stratify)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut keep: Vec<IdxSize> = Vec::new();
    for positions in groups.values_mut() {
        positions.shuffle(&mut rng);
        let n = ((positions.len() as f64 * fraction).ceil() as usize).clamp(1, positions.len());
        keep.extend(positions[..n].iter().map(|&p| p as IdxSize));
    }
    keep.sort_unstable();
    let out = with_ids.take(&IdxCa::from_vec("idx".into(), keep))?;
    Ok(if had_ids { out } else { without_row_ids(&out) })
}

/// What changed from version A to version B, rows matched by their row id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffSummary {
    pub rows_a: usize,
    pub rows_b: usize,
    pub added: usize,
    pub removed: usize,
    /// Rows present in both with at least one different cell.
    pub changed_rows: usize,
    pub changed_cells: usize,
    pub columns_added: Vec<String>,
    pub columns_removed: Vec<String>,
    /// Changed cells per column present in both.
    pub changed_by_column: BTreeMap<String, usize>,
    /// For the label column: how many rows went from one value to another (`null` for none).
    pub label_changes: Vec<LabelChange>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelChange {
    pub column: String,
    pub from: String,
    pub to: String,
    pub count: usize,
}

/// Diff two versions. `label_columns` are the columns whose changes are broken down by value.
pub fn diff(
    a: &DataFrame,
    b: &DataFrame,
    label_columns: &[String],
) -> Result<DiffSummary, DataError> {
    diff_lazy(
        with_row_ids(a)?.lazy(),
        with_row_ids(b)?.lazy(),
        label_columns,
    )
}

/// [`diff`] of two lazy frames with row ids (scans of two objects), as a few queries run by polars'
/// streaming engine: counts, an inner join on the row id comparing each common column as text (types
/// may differ between versions), and per-value counts for the label columns.
pub fn diff_lazy(
    mut a: LazyFrame,
    mut b: LazyFrame,
    label_columns: &[String],
) -> Result<DiffSummary, DataError> {
    let run = |lf: LazyFrame| -> Result<DataFrame, DataError> {
        Ok(lf.collect_with_engine(Engine::Streaming)?.unwrap_single())
    };
    let count = |lf: LazyFrame| -> Result<usize, DataError> {
        let df = run(lf.select([len().cast(DataType::UInt64).alias("n")]))?;
        Ok(df.column("n")?.u64()?.get(0).unwrap_or(0) as usize)
    };
    let names = |s: &Schema| -> Vec<String> {
        s.iter_names()
            .filter(|n| n.as_str() != ROW_ID)
            .map(ToString::to_string)
            .collect()
    };
    let (na, nb) = (names(&*a.collect_schema()?), names(&*b.collect_schema()?));
    let common: Vec<String> = na.iter().filter(|n| nb.contains(n)).cloned().collect();
    let mut out = DiffSummary {
        rows_a: count(a.clone())?,
        rows_b: count(b.clone())?,
        columns_added: nb.iter().filter(|n| !na.contains(n)).cloned().collect(),
        columns_removed: na.iter().filter(|n| !nb.contains(n)).cloned().collect(),
        ..DiffSummary::default()
    };
    let select = |lf: LazyFrame, suffix: &str| {
        let mut exprs = vec![col(ROW_ID)];
        exprs.extend(common.iter().map(|c| {
            col(c.as_str())
                .cast(DataType::String)
                .alias(format!("{c}{suffix}"))
        }));
        lf.select(exprs)
    };
    let joined = select(a, "\u{1}a").join(
        select(b, "\u{1}b"),
        [col(ROW_ID)],
        [col(ROW_ID)],
        JoinArgs::new(JoinType::Inner),
    );
    let ne = |c: &str| col(format!("{c}\u{1}a")).neq_missing(col(format!("{c}\u{1}b")));
    let mut sums = vec![len().cast(DataType::UInt64).alias("\u{1}matched")];
    let mut any = lit(0u32);
    for (i, c) in common.iter().enumerate() {
        sums.push(
            ne(c)
                .cast(DataType::UInt64)
                .sum()
                .alias(format!("\u{1}{i}")),
        );
        any = any + ne(c).cast(DataType::UInt32);
    }
    sums.push(
        any.gt(lit(0u32))
            .cast(DataType::UInt64)
            .sum()
            .alias("\u{1}rows"),
    );
    let totals = run(joined.clone().select(sums))?;
    let get = |k: &str| -> Result<usize, DataError> {
        Ok(totals
            .column(k)?
            .as_materialized_series()
            .cast(&DataType::UInt64)?
            .u64()?
            .get(0)
            .unwrap_or(0) as usize)
    };
    let matched = get("\u{1}matched")?;
    // Row ids are unique within a version.
    out.removed = out.rows_a - matched;
    out.added = out.rows_b - matched;
    out.changed_rows = get("\u{1}rows")?;
    for (i, c) in common.iter().enumerate() {
        let n = get(&format!("\u{1}{i}"))?;
        out.changed_cells += n;
        if n == 0 {
            continue;
        }
        out.changed_by_column.insert(c.clone(), n);
        if label_columns.contains(c) {
            let (from, to) = (format!("{c}\u{1}a"), format!("{c}\u{1}b"));
            let pairs = run(joined
                .clone()
                .filter(ne(c))
                .group_by([col(from.as_str()), col(to.as_str())])
                .agg([len().cast(DataType::UInt64).alias("\u{1}n")]))?;
            let (f, t, n) = (
                pairs.column(&from)?.str()?.clone(),
                pairs.column(&to)?.str()?.clone(),
                pairs.column("\u{1}n")?.u64()?.clone(),
            );
            for ((from, to), count) in f.iter().zip(t.iter()).zip(n.iter()) {
                out.label_changes.push(LabelChange {
                    column: c.clone(),
                    from: from.unwrap_or("null").to_owned(),
                    to: to.unwrap_or("null").to_owned(),
                    count: count.unwrap_or(0) as usize,
                });
            }
        }
    }
    out.label_changes.sort_by(|p, q| {
        q.count
            .cmp(&p.count)
            .then_with(|| (&p.column, &p.from, &p.to).cmp(&(&q.column, &q.from, &q.to)))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> DataFrame {
        let class: Vec<&str> = (0..n).map(|i| ["a", "b", "c"][i % 3]).collect();
        df!("x" => (0..n as i64).collect::<Vec<_>>(), "class" => class).unwrap()
    }

    #[test]
    fn row_ids_are_added_once_and_hidden_again() {
        let df = frame(4);
        let with = with_row_ids(&df).unwrap();
        assert_eq!(with.get_column_names()[0].as_str(), ROW_ID);
        assert_eq!(row_ids(&with).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(with_row_ids(&with).unwrap(), with);
        assert_eq!(without_row_ids(&with), df);
    }

    #[test]
    fn labels_keep_numeric_type_when_they_parse_and_reject_unknown_rows() {
        let df = df!("target" => [1i64, 2, 3]).unwrap();
        let out = set_labels(&df, "target", &[(0, Some("7".into())), (2, None)]).unwrap();
        let t = out.column("target").unwrap();
        assert_eq!(t.dtype(), &DataType::Int64);
        assert_eq!(t.get(0).unwrap(), AnyValue::Int64(7));
        assert_eq!(t.null_count(), 1);
        let text = set_labels(&df, "target", &[(1, Some("cat".into()))]).unwrap();
        assert_eq!(text.column("target").unwrap().dtype(), &DataType::String);
        let new = set_labels(&df, "label", &[(1, Some("dog".into()))]).unwrap();
        assert_eq!(new.column("label").unwrap().null_count(), 2);
        assert!(matches!(
            set_labels(&df, "target", &[(9, Some("1".into()))]),
            Err(DataError::UnknownRow(9))
        ));
    }

    #[test]
    fn nested_subsets_are_stratified_nested_and_seeded() {
        let class: Vec<&str> = (0..100)
            .map(|i| if i % 4 == 0 { "a" } else { "b" })
            .collect();
        let df = df!("x" => (0..100).collect::<Vec<i32>>(), "y" => class).unwrap();
        let xs = |f: f64, seed: u64| -> Vec<i32> {
            let s = nested_subset(&df, f, seed, Some("y")).unwrap();
            assert!(s.column(ROW_ID).is_err());
            s.column("x")
                .unwrap()
                .i32()
                .unwrap()
                .into_no_null_iter()
                .collect()
        };
        let (tenth, half, all) = (xs(0.1, 7), xs(0.5, 7), xs(1.0, 7));
        // 25 of class a and 75 of b: ceil(2.5) + ceil(7.5) rows, then 13 + 38.
        assert_eq!((tenth.len(), half.len(), all.len()), (3 + 8, 13 + 38, 100));
        assert_eq!(tenth.iter().filter(|x| *x % 4 == 0).count(), 3);
        assert!(tenth.iter().all(|x| half.contains(x)), "not nested");
        assert!(half.is_sorted(), "rows keep their order");
        assert_eq!(xs(0.1, 7), tenth);
        assert_ne!(xs(0.1, 8), tenth);
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            assert!(nested_subset(&df, bad, 0, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn split_is_reproducible_and_stratified_within_one_item() {
        let df = frame(1000);
        let a = split(&df, [0.7, 0.2, 0.1], 42, Some("class")).unwrap();
        let b = split(&df, [0.7, 0.2, 0.1], 42, Some("class")).unwrap();
        let c = split(&df, [0.7, 0.2, 0.1], 43, Some("class")).unwrap();
        assert_eq!(a.column("split").unwrap(), b.column("split").unwrap());
        assert_ne!(a.column("split").unwrap(), c.column("split").unwrap());
        let parts = a.column("split").unwrap().as_materialized_series().clone();
        let classes = a.column("class").unwrap().as_materialized_series().clone();
        for class in ["a", "b", "c"] {
            let in_class: Vec<_> = parts
                .str()
                .unwrap()
                .iter()
                .zip(classes.str().unwrap().iter())
                .filter(|(_, c)| *c == Some(class))
                .map(|(p, _)| p.unwrap().to_owned())
                .collect();
            let n = in_class.len() as f64;
            for (part, ratio) in SPLIT_NAMES.iter().zip([0.7, 0.2, 0.1]) {
                let got = in_class.iter().filter(|p| p == part).count() as f64;
                assert!(
                    (got - n * ratio).abs() <= 1.0,
                    "{class} {part}: {got} of {n}"
                );
            }
        }
        assert_eq!(apportion(10, [1.0, 1.0, 1.0]).iter().sum::<usize>(), 10);
        assert_eq!(apportion(5, [1.0, 0.0, 0.0]), [5, 0, 0]);
    }

    #[test]
    fn diff_counts_added_removed_changed_and_label_moves() {
        let a = with_row_ids(&frame(6)).unwrap();
        // B: row 5 removed, rows 0 and 3 relabelled a→b, a new row 6 added.
        let b = set_labels(&a, "class", &[(0, Some("b".into())), (3, Some("b".into()))]).unwrap();
        let b = b
            .filter(
                &b.column(ROW_ID)
                    .unwrap()
                    .as_materialized_series()
                    .not_equal(5)
                    .unwrap(),
            )
            .unwrap();
        let extra = df!(ROW_ID => [6u64], "x" => [6i64], "class" => ["c"]).unwrap();
        let b = b.vstack(&extra).unwrap();
        let d = diff(&a, &b, &["class".to_owned()]).unwrap();
        assert_eq!(
            (d.added, d.removed, d.changed_rows, d.changed_cells),
            (1, 1, 2, 2)
        );
        assert_eq!(
            d.label_changes,
            vec![LabelChange {
                column: "class".into(),
                from: "a".into(),
                to: "b".into(),
                count: 2
            }]
        );
        assert_eq!(d.changed_by_column.get("class"), Some(&2));
    }
}
