//! What the table view needs: schema, cell text, sorting and filtering.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::DataError;

/// A column's name and polars dtype, as shown to users and stored with each version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    pub dtype: String,
}

pub fn schema_of(df: &DataFrame) -> Vec<ColumnInfo> {
    df.columns()
        .iter()
        .map(|c| ColumnInfo {
            name: c.name().to_string(),
            dtype: c.dtype().to_string(),
        })
        .collect()
}

pub fn is_numeric(df: &DataFrame, column: &str) -> bool {
    df.column(column)
        .is_ok_and(|c| c.dtype().is_primitive_numeric())
}

/// An example filter condition written with `df`'s own columns and its first row's values, e.g.
/// `species = 'Adelie' AND bill_length_mm > 40` — a text column equal to its value and a numeric one
/// above its value (rounded down); `None` when no column fits.
pub fn filter_example(df: &DataFrame) -> Option<String> {
    let quoted = |name: &str| {
        if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
        {
            name.to_owned()
        } else {
            format!("\"{}\"", name.replace('"', "\"\""))
        }
    };
    let visible = |c: &&Column| c.name().as_str() != crate::ROW_ID;
    let text = df
        .columns()
        .iter()
        .filter(visible)
        .filter(|c| matches!(c.dtype(), DataType::String))
        .find_map(|c| {
            let v = cell(c, 0)?;
            (v.len() <= 24 && !v.contains('\'') && !v.is_empty())
                .then(|| format!("{} = '{v}'", quoted(c.name())))
        });
    let number = df
        .columns()
        .iter()
        .filter(visible)
        .filter(|c| c.dtype().is_primitive_numeric())
        .find_map(|c| {
            let v = c.get(0).ok()?.extract::<f64>()?;
            v.is_finite()
                .then(|| format!("{} > {}", quoted(c.name()), v.floor()))
        });
    match (text, number) {
        (Some(t), Some(n)) => Some(format!("{t} AND {n}")),
        (t, n) => t.or(n),
    }
}

/// Display text of one cell; nulls are empty. Cost is independent of the frame's size once it is rechunked.
pub fn cell_text(column: &Column, row: usize) -> String {
    cell(column, row).unwrap_or_default()
}

/// Display text of one cell, `None` for null (or a row out of range).
pub fn cell(column: &Column, row: usize) -> Option<String> {
    match column.get(row) {
        Ok(AnyValue::Null) | Err(_) => None,
        Ok(AnyValue::String(s)) => Some(s.to_owned()),
        Ok(AnyValue::StringOwned(s)) => Some(s.to_string()),
        Ok(AnyValue::Float64(f)) => Some(format_float(f)),
        Ok(AnyValue::Float32(f)) => Some(format_float(f64::from(f))),
        Ok(AnyValue::Binary(b)) => Some(format!("[{} bytes]", b.len())),
        Ok(AnyValue::BinaryOwned(b)) => Some(format!("[{} bytes]", b.len())),
        Ok(v) => Some(v.to_string()),
    }
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        let s = format!("{f:.6}");
        s.trim_end_matches('0').to_owned()
    }
}

/// Sort by one column; nulls last.
pub fn sort_by(df: &DataFrame, column: &str, descending: bool) -> Result<DataFrame, DataError> {
    if df.column(column).is_err() {
        return Err(DataError::UnknownColumn(column.to_owned()));
    }
    let mut out = df.sort(
        [column],
        SortMultipleOptions::default()
            .with_order_descending(descending)
            .with_nulls_last(true)
            .with_maintain_order(true),
    )?;
    out.rechunk_mut();
    Ok(out)
}

/// Keep the rows matching a polars SQL condition, e.g. `species = 'Adelie' AND bill_length_mm > 40`
/// (a leading `WHERE` is accepted). Syntax errors and unknown columns come back as [`DataError::Filter`].
pub fn apply_filter(df: &DataFrame, condition: &str) -> Result<DataFrame, DataError> {
    let Some(expr) = filter_expr(condition)? else {
        return Ok(df.clone());
    };
    let mut out = df
        .clone()
        .lazy()
        .filter(expr)
        .collect()
        .map_err(|e| DataError::Filter(clean(&e)))?;
    out.rechunk_mut();
    Ok(out)
}

/// The expression of a polars SQL condition (a leading `WHERE` accepted); `None` for an empty one.
pub(crate) fn filter_expr(condition: &str) -> Result<Option<Expr>, DataError> {
    let trimmed = condition.trim();
    let body = trimmed
        .get(..6)
        .filter(|w| w.eq_ignore_ascii_case("where "))
        .map_or(trimmed, |_| trimmed[6..].trim_start());
    if body.is_empty() {
        return Ok(None);
    }
    polars::sql::sql_expr(body)
        .map(Some)
        .map_err(|e| DataError::Filter(clean(&e)))
}

/// Polars errors carry a long trailer of hints and context; the first line says what is wrong.
pub(crate) fn clean(e: &PolarsError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!(
            "species" => ["Adelie", "Gentoo", "Adelie", "Chinstrap"],
            "bill" => [Some(39.1), None, Some(40.3), Some(46.5)],
        )
        .unwrap()
    }

    #[test]
    fn filter_accepts_where_clause_or_bare_expression() {
        let df = frame();
        let a = apply_filter(&df, "WHERE species = 'Adelie'").unwrap();
        let b = apply_filter(&df, "species = 'Adelie' AND bill > 40").unwrap();
        assert_eq!(a.height(), 2);
        assert_eq!(b.height(), 1);
        assert_eq!(apply_filter(&df, "  ").unwrap().height(), 4);
    }

    #[test]
    fn filter_reports_bad_syntax_and_unknown_columns() {
        let df = frame();
        let e = apply_filter(&df, "bill >> ").unwrap_err();
        assert!(matches!(e, DataError::Filter(_)), "{e}");
        let e = apply_filter(&df, "nope > 1").unwrap_err().to_string();
        assert!(
            e.starts_with("invalid filter:") && e.contains("nope"),
            "{e}"
        );
    }

    #[test]
    fn sort_puts_nulls_last_both_ways() {
        let df = frame();
        let asc = sort_by(&df, "bill", false).unwrap();
        let desc = sort_by(&df, "bill", true).unwrap();
        let bill = |d: &DataFrame, i| cell_text(d.column("bill").unwrap(), i);
        assert_eq!(bill(&asc, 0), "39.1");
        assert_eq!(bill(&asc, 3), "");
        assert_eq!(bill(&desc, 0), "46.5");
        assert_eq!(bill(&desc, 3), "");
    }
}

#[cfg(test)]
mod filter_example_tests {
    use super::*;

    #[test]
    fn the_example_uses_the_frame_s_own_columns() {
        let df = df!(
            "species" => ["Adelie", "Gentoo"],
            "bill length" => [39.1, 46.5],
            "year" => [2007i64, 2008],
        )
        .unwrap();
        assert_eq!(
            filter_example(&df).unwrap(),
            "species = 'Adelie' AND \"bill length\" > 39"
        );
        let numbers = df!("column_1" => [5.1, 4.9]).unwrap();
        assert_eq!(filter_example(&numbers).unwrap(), "column_1 > 5");
        assert!(filter_example(&DataFrame::empty()).is_none());
    }
}
