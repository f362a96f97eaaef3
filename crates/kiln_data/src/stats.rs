//! Per-column summary statistics.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Cancel, DataError, Progress};

/// Summary of one column. `min`/`max` are numbers for numeric columns and strings otherwise; the moments
/// and quantiles exist for numeric columns only. `count` is the number of non-null values; `std` is the
/// sample standard deviation (ddof = 1, as pandas).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub name: String,
    pub dtype: String,
    pub count: u64,
    pub nulls: u64,
    pub unique: u64,
    pub min: serde_json::Value,
    pub max: serde_json::Value,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub median: Option<f64>,
    pub q25: Option<f64>,
    pub q75: Option<f64>,
    /// Set when `unique` and the quantiles come from an evenly spaced sample of this many rows (a table
    /// larger than the memory budget); the other figures always cover every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rows: Option<u64>,
}

/// Statistics for every column, one column at a time so `progress` advances and `cancel` is honoured
/// between columns. Within a column polars evaluates the aggregations in parallel.
pub fn column_stats(
    df: &DataFrame,
    cancel: &Cancel,
    progress: &Progress,
) -> Result<Vec<ColumnStats>, DataError> {
    let n = df.width();
    let mut out = Vec::with_capacity(n);
    for (i, column) in df.columns().iter().enumerate() {
        cancel.check()?;
        progress.set(i as f32 / n as f32, column.name());
        out.push(one_column(df, column)?);
    }
    progress.set(1.0, "done");
    Ok(out)
}

fn one_column(df: &DataFrame, column: &Column) -> Result<ColumnStats, DataError> {
    let name = column.name().as_str();
    let dtype = column.dtype();
    let numeric = dtype.is_primitive_numeric();
    let c = || col(name);
    let mut exprs = vec![
        c().null_count().alias("nulls"),
        c().drop_nulls().n_unique().alias("unique"),
    ];
    if orderable(dtype) {
        exprs.push(c().min().alias("min"));
        exprs.push(c().max().alias("max"));
    }
    if numeric {
        let f = || c().cast(DataType::Float64);
        exprs.extend([
            f().mean().alias("mean"),
            f().std(1).alias("std"),
            f().median().alias("median"),
            f().quantile(lit(0.25), QuantileMethod::Linear).alias("q25"),
            f().quantile(lit(0.75), QuantileMethod::Linear).alias("q75"),
        ]);
    }
    let row = df.clone().lazy().select(exprs).collect()?;
    let get = |k: &str| row.column(k).ok().and_then(|s| s.get(0).ok());
    let count_of = |k: &str| get(k).and_then(|v| v.extract::<u64>()).unwrap_or_default();
    let float_of = |k: &str| {
        get(k)
            .and_then(|v| v.extract::<f64>())
            .filter(|x| x.is_finite())
    };
    let json = |k: &str| get(k).map_or(serde_json::Value::Null, |v| any_to_json(&v));
    let nulls = count_of("nulls");
    Ok(ColumnStats {
        name: name.to_owned(),
        dtype: dtype.to_string(),
        count: df.height() as u64 - nulls,
        nulls,
        unique: count_of("unique"),
        min: json("min"),
        max: json("max"),
        mean: float_of("mean"),
        std: float_of("std"),
        median: float_of("median"),
        q25: float_of("q25"),
        q75: float_of("q75"),
        sample_rows: None,
    })
}

/// Whether a column's min and max are shown.
pub(crate) fn orderable(dtype: &DataType) -> bool {
    dtype.is_primitive_numeric()
        || matches!(dtype, DataType::String | DataType::Boolean)
        || dtype.is_temporal()
}

/// A JSON value for a scalar: numbers stay numbers, everything else is its display text.
pub(crate) fn any_to_json(v: &AnyValue) -> serde_json::Value {
    match v {
        AnyValue::Null => serde_json::Value::Null,
        AnyValue::Boolean(b) => (*b).into(),
        AnyValue::String(s) => (*s).into(),
        AnyValue::StringOwned(s) => s.as_str().into(),
        v if v.dtype().is_integer() => v
            .extract::<i64>()
            .map_or_else(|| v.to_string().into(), Into::into),
        v if v.dtype().is_float() => v
            .extract::<f64>()
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        v => v.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_pandas_on_a_small_frame() {
        let df = df!(
            "x" => [Some(1.0), Some(2.0), None, Some(4.0), Some(10.0)],
            "s" => [Some("b"), Some("a"), Some("b"), None, Some("c")],
        )
        .unwrap();
        let s = column_stats(&df, &Cancel::new(), &Progress::new()).unwrap();
        let x = &s[0];
        assert_eq!((x.count, x.nulls, x.unique), (4, 1, 4));
        assert_eq!(x.min, serde_json::json!(1.0));
        assert_eq!(x.max, serde_json::json!(10.0));
        assert!((x.mean.unwrap() - 4.25).abs() < 1e-12);
        // pandas: pd.Series([1,2,4,10]).std() == 4.031128874149275
        assert!((x.std.unwrap() - 4.031_128_874_149_275).abs() < 1e-12);
        assert!((x.median.unwrap() - 3.0).abs() < 1e-12);
        assert!((x.q25.unwrap() - 1.75).abs() < 1e-12);
        assert!((x.q75.unwrap() - 5.5).abs() < 1e-12);
        let st = &s[1];
        assert_eq!((st.count, st.nulls, st.unique), (4, 1, 3));
        assert_eq!(st.min, serde_json::json!("a"));
        assert_eq!(st.max, serde_json::json!("c"));
        assert_eq!(st.mean, None);
    }

    #[test]
    fn cancelled_stats_stop() {
        let df = df!("x" => [1, 2, 3]).unwrap();
        let c = Cancel::new();
        c.cancel();
        assert!(matches!(
            column_stats(&df, &c, &Progress::new()),
            Err(DataError::Cancelled)
        ));
    }
}
