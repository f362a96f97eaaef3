//! The features a model server logged with each request (a JSON object per request), read into columns
//! in one pass: each value goes straight to its column — no per-row map, no key copied — so a hundred
//! thousand logged requests decode in a fraction of a second.

use std::collections::HashMap;
use std::fmt;

use kiln_data::polars::prelude::{Column, DataFrame};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::{CoreError, Result};

/// One logged value.
enum Cell {
    Null,
    /// A number, and its integer when it was written as one (so a text column shows `7`, not `7.0`).
    Number(f64, Option<i128>),
    Text(String),
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = Cell;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a feature value")
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Cell, E> {
        Ok(Cell::Number(v, None))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Cell, E> {
        Ok(Cell::Number(v as f64, Some(i128::from(v))))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Cell, E> {
        Ok(Cell::Number(v as f64, Some(i128::from(v))))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Cell, E> {
        Ok(Cell::Text(v.to_owned()))
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Cell, E> {
        Ok(Cell::Text(v.to_string()))
    }
    fn visit_unit<E>(self) -> std::result::Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        seq: A,
    ) -> std::result::Result<Cell, A::Error> {
        let v: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Cell::Text(v.to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Cell, A::Error> {
        let v: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Cell::Text(v.to_string()))
    }
}

impl<'de> serde::Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(CellVisitor)
    }
}

/// The columns being filled, by name.
struct Columns {
    names: Vec<String>,
    index: HashMap<String, usize>,
    cells: Vec<Vec<Cell>>,
}

/// One row (a JSON object) into the columns; keys the first row did not have are left out.
struct Row<'a>(&'a mut Columns);

impl<'de> DeserializeSeed<'de> for Row<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Row<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of features")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let columns = self.0;
        let row = columns.cells.first().map_or(0, Vec::len);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match columns.index.get(key.as_ref()) {
                Some(&i) if columns.cells[i].len() == row => {
                    let cell = map.next_value::<Cell>()?;
                    columns.cells[i].push(cell);
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        for column in &mut columns.cells {
            if column.len() == row {
                column.push(Cell::Null);
            }
        }
        Ok(())
    }
}

/// The logged features (`features`, a JSON object each; others skipped) as a frame, a row per object in
/// their order, with the columns of the first object (in its order, as `serde_json` keeps it): numeric
/// features as numbers, the rest as text. Also which of `features` became rows. `None` when none is an
/// object.
pub(crate) fn frame<'a>(
    features: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<Result<(DataFrame, Vec<usize>)>> {
    let mut columns: Option<Columns> = None;
    let mut kept = Vec::new();
    for (i, text) in features.into_iter().enumerate() {
        let Some(text) = text else { continue };
        if columns.is_none() {
            let Ok(serde_json::Value::Object(first)) = serde_json::from_str(text) else {
                continue;
            };
            let names: Vec<String> = first.keys().cloned().collect();
            columns = Some(Columns {
                index: names
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(i, n)| (n, i))
                    .collect(),
                cells: names.iter().map(|_| Vec::new()).collect(),
                names,
            });
        }
        let Some(columns) = columns.as_mut() else {
            continue;
        };
        let rows = columns.cells.first().map_or(0, Vec::len);
        let mut de = serde_json::Deserializer::from_str(text);
        if Row(columns).deserialize(&mut de).is_ok() && de.end().is_ok() {
            kept.push(i);
        } else {
            // A row that is not an object (or breaks off) leaves nothing behind.
            for c in &mut columns.cells {
                c.truncate(rows);
            }
        }
    }
    let columns = columns?;
    let height = kept.len();
    let built: Vec<Column> = columns
        .names
        .iter()
        .zip(columns.cells)
        .map(|(name, cells)| {
            if cells.iter().all(|c| !matches!(c, Cell::Text(_))) {
                let v: Vec<Option<f64>> = cells
                    .into_iter()
                    .map(|c| match c {
                        Cell::Number(x, _) => Some(x),
                        _ => None,
                    })
                    .collect();
                Column::new(name.as_str().into(), v)
            } else {
                let v: Vec<Option<String>> = cells
                    .into_iter()
                    .map(|c| match c {
                        Cell::Null => None,
                        Cell::Number(_, Some(i)) => Some(i.to_string()),
                        Cell::Number(x, None) => Some(serde_json::json!(x).to_string()),
                        Cell::Text(s) => Some(s),
                    })
                    .collect();
                Column::new(name.as_str().into(), v)
            }
        })
        .collect();
    Some(
        DataFrame::new(height, built)
            .map(|df| (df, kept))
            .map_err(CoreError::from),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_objects_become_columns_and_anything_else_is_skipped() {
        let logged = [
            Some(r#"{"b": 2, "a": "x", "c": null}"#),
            None,
            Some("not json"),
            Some(r#"{"a": 7, "b": 3.5, "extra": [1]}"#),
            Some("[1, 2]"),
            Some(r#"{"b": 4}"#),
            Some(r#"{"a": true, "b": null, "c": {"k": 1}}"#),
        ];
        let (df, kept) = frame(logged).unwrap().unwrap();
        assert_eq!(kept, [0, 3, 5, 6]);
        // The first object's keys, in its order.
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        let b: Vec<Option<f64>> = df.column("b").unwrap().f64().unwrap().iter().collect();
        assert_eq!(b, [Some(2.0), Some(3.5), Some(4.0), None]);
        // A column with any text is text; numbers in it are written as JSON writes them.
        let a: Vec<Option<&str>> = df.column("a").unwrap().str().unwrap().iter().collect();
        assert_eq!(a, [Some("x"), Some("7"), None, Some("true")]);
        let c: Vec<Option<&str>> = df.column("c").unwrap().str().unwrap().iter().collect();
        assert_eq!(c, [None, None, None, Some(r#"{"k":1}"#)]);
        assert!(frame([None, Some("1")]).is_none());
    }
}
