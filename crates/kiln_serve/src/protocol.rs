//! Request bodies: Kiln's `{"rows": [{feature: value}]}` and `KServe` V2's named tensors, checked against
//! the model's features (every problem named), and error responses.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_core::data::polars::prelude::*;
use kiln_core::serving::{FeatureKind, ServedFeature};
use serde_json::{Value, json};

/// Most rows in one request.
pub const MAX_ROWS: usize = 10_000;

/// A client-facing error: a status and a message naming the problem.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// `KServe` V2 style: 400 for bad input, body `{"error": ...}`.
    v2: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            v2: false,
        }
    }

    pub fn v2(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            v2: true,
            ..Self::new(status, message)
        }
    }

    /// The Open Inference Protocol reports every bad input as 400.
    pub fn into_v2(self) -> Self {
        let status = if self.status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            self.status
        };
        Self {
            status,
            message: self.message,
            v2: true,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.v2 {
            json!({ "error": self.message })
        } else {
            json!({ "error": self.message, "status": self.status.as_u16() })
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// Rows ready for the model: their values, each row's JSON (for the log), their prediction ids.
#[derive(Clone, Debug)]
pub struct Rows {
    pub data: Data,
    /// Each row's JSON text, for the log.
    pub features: Vec<String>,
    pub ids: Vec<String>,
}

/// A request's values: checked columns, put into one frame per batch by the model thread (no frame per
/// request), or a frame as it came (Arrow).
#[derive(Clone, Debug)]
pub enum Data {
    Cols {
        /// The feature names, shared by every request parsed for the same model.
        names: Arc<Vec<String>>,
        cols: Vec<Col>,
        n: usize,
    },
    Frame(DataFrame),
}

impl Rows {
    pub fn len(&self) -> usize {
        match &self.data {
            Data::Cols { n, .. } => *n,
            Data::Frame(f) => f.height(),
        }
    }

    /// The rows as one frame.
    pub fn to_frame(&self) -> Result<DataFrame, ApiError> {
        match &self.data {
            Data::Frame(f) => Ok(f.clone()),
            Data::Cols { names, cols, n } => frame(names, cols.clone(), *n),
        }
    }
}

/// The rows of several requests as one frame: columns joined without a frame per request when they
/// were all parsed for the same features; `None` when they cannot be stacked.
pub fn stack(rows: &[&Rows]) -> Option<DataFrame> {
    let first = rows.first()?;
    if let Data::Cols { names, cols, .. } = &first.data
        && rows
            .iter()
            .all(|r| matches!(&r.data, Data::Cols { names: n, .. } if Arc::ptr_eq(n, names)))
    {
        let total: usize = rows.iter().map(|r| r.len()).sum();
        let mut joined: Vec<Col> = cols.iter().map(|c| c.empty_like(total)).collect();
        for r in rows {
            if let Data::Cols { cols, .. } = &r.data {
                for (j, c) in joined.iter_mut().zip(cols) {
                    j.extend(c);
                }
            }
        }
        return frame(names, joined, total).ok();
    }
    let mut out: Option<DataFrame> = None;
    for r in rows {
        let f = r.to_frame().ok()?;
        match &mut out {
            None => out = Some(f),
            Some(o) => o.vstack_mut(&f).ok().map(|_| ())?,
        }
    }
    out
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Column values of one feature, checked.
#[derive(Clone, Debug)]
pub enum Col {
    Num(Vec<Option<f64>>),
    Cat(Vec<Option<String>>),
}

impl Col {
    fn empty_like(&self, n: usize) -> Self {
        match self {
            Col::Num(_) => Col::Num(Vec::with_capacity(n)),
            Col::Cat(_) => Col::Cat(Vec::with_capacity(n)),
        }
    }

    fn extend(&mut self, other: &Col) {
        match (self, other) {
            (Col::Num(a), Col::Num(b)) => a.extend_from_slice(b),
            (Col::Cat(a), Col::Cat(b)) => a.extend_from_slice(b),
            // Same names, same kinds: never mixed.
            _ => {}
        }
    }

    fn new(kind: FeatureKind, n: usize) -> Self {
        match kind {
            FeatureKind::Numeric => Col::Num(Vec::with_capacity(n)),
            _ => Col::Cat(Vec::with_capacity(n)),
        }
    }

    /// Add `v`; `where_` says where it came from for the message (made only for one).
    fn push(
        &mut self,
        name: &str,
        v: &Value,
        where_: impl FnOnce() -> String,
    ) -> Result<(), ApiError> {
        match (self, v) {
            (Col::Num(c), Value::Null) => c.push(None),
            (Col::Num(c), Value::Number(n)) => c.push(n.as_f64()),
            (Col::Num(_), other) => {
                return Err(unprocessable(format!(
                    "{}: `{name}` must be a number, not {}",
                    where_(),
                    kind_of(other)
                )));
            }
            (Col::Cat(c), Value::Null) => c.push(None),
            (Col::Cat(c), Value::String(s)) => c.push(Some(s.clone())),
            (Col::Cat(c), Value::Number(n)) => c.push(Some(n.to_string())),
            (Col::Cat(c), Value::Bool(b)) => c.push(Some(b.to_string())),
            (Col::Cat(_), other) => {
                return Err(unprocessable(format!(
                    "{}: `{name}` must be a string, not {}",
                    where_(),
                    kind_of(other)
                )));
            }
        }
        Ok(())
    }

    fn column(self, name: &str) -> Column {
        match self {
            Col::Num(v) => Column::new(name.into(), v),
            Col::Cat(v) => Column::new(name.into(), v),
        }
    }
}

fn no_images(features: &[ServedFeature]) -> Result<(), ApiError> {
    if let Some(f) = features.iter().find(|f| f.kind == FeatureKind::Image) {
        return Err(unprocessable(format!(
            "this model reads an encoded image (`{}`), which is not accepted over HTTP yet",
            f.name
        )));
    }
    Ok(())
}

/// The model's features `given` (distinct names: an object's keys, a frame's columns) lacks and the
/// names it has that are no feature, in words; `None` when they match.
fn name_mismatch(features: &[ServedFeature], given: &[&str]) -> Option<String> {
    let extra: Vec<&str> = given
        .iter()
        .copied()
        .filter(|g| !features.iter().any(|f| f.name == *g))
        .collect();
    // Distinct names, none unknown, as many as the features: they are the features.
    if extra.is_empty() && given.len() == features.len() {
        return None;
    }
    let missing: Vec<&str> = features
        .iter()
        .filter(|f| !given.contains(&f.name.as_str()))
        .map(|f| f.name.as_str())
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing features: {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("unknown features: {}", extra.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn frame(names: &[String], cols: Vec<Col>, n: usize) -> Result<DataFrame, ApiError> {
    let columns: Vec<Column> = cols
        .into_iter()
        .zip(names)
        .map(|(c, name)| c.column(name))
        .collect();
    DataFrame::new(n, columns).map_err(|e| unprocessable(e.to_string()))
}

/// `{"rows": [{feature: value, ...}, ...]}`. Each row is read straight into the feature columns (no
/// document, no map per row); its text is kept for the log as it came.
pub fn parse_v1(
    body: &[u8],
    features: &[ServedFeature],
    names: &Arc<Vec<String>>,
) -> Result<Rows, ApiError> {
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        rows: Vec<&'a serde_json::value::RawValue>,
    }
    let rows = match serde_json::from_slice::<Body<'_>>(body) {
        Ok(b) => b.rows,
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return Err(unprocessable(
                "the body must be {\"rows\": [{\"feature\": value, ...}, ...]}",
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid JSON: {e}"),
            ));
        }
    };
    if rows.is_empty() {
        return Err(unprocessable("`rows` is empty"));
    }
    if rows.len() > MAX_ROWS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} rows: at most {MAX_ROWS} per request", rows.len()),
        ));
    }
    no_images(features)?;
    let mut cols: Vec<Col> = features
        .iter()
        .map(|f| Col::new(f.kind, rows.len()))
        .collect();
    let mut seen = vec![false; features.len()];
    for (i, raw) in rows.iter().enumerate() {
        let text = raw.get();
        if !text.starts_with('{') {
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            return Err(unprocessable(format!(
                "row {i} must be an object, not {}",
                kind_of(&v)
            )));
        }
        seen.fill(false);
        let mut problem = None;
        let mut unknown = Vec::new();
        let mut de = serde_json::Deserializer::from_str(text);
        let read = serde::de::DeserializeSeed::deserialize(
            RowSeed {
                features,
                cols: &mut cols,
                seen: &mut seen,
                unknown: &mut unknown,
                problem: &mut problem,
                row: i,
            },
            &mut de,
        );
        if let Some(p) = problem {
            return Err(p);
        }
        read.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))?;
        if !unknown.is_empty() || seen.iter().any(|s| !s) {
            let mut given: Vec<&str> = features
                .iter()
                .zip(&seen)
                .filter(|(_, s)| **s)
                .map(|(f, _)| f.name.as_str())
                .collect();
            given.extend(unknown.iter().map(String::as_str));
            if let Some(wrong) = name_mismatch(features, &given) {
                return Err(unprocessable(format!("row {i}: {wrong}")));
            }
        }
    }
    Ok(Rows {
        data: Data::Cols {
            names: names.clone(),
            cols,
            n: rows.len(),
        },
        features: rows.iter().map(|r| r.get().to_owned()).collect(),
        ids: Vec::new(),
    })
}

/// One row's object read into the feature columns: each key found among the features (in the model's
/// order first, so a row sent in that order costs one comparison a key), each value pushed as it is
/// read. A problem with a value is kept in `problem` (the client's message), the read then stopped.
struct RowSeed<'c> {
    features: &'c [ServedFeature],
    cols: &'c mut [Col],
    seen: &'c mut [bool],
    unknown: &'c mut Vec<String>,
    problem: &'c mut Option<ApiError>,
    row: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of features")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut next = 0usize;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let j = if self.features.get(next).is_some_and(|f| f.name == key) {
                Some(next)
            } else {
                self.features.iter().position(|f| f.name == key)
            };
            let Some(j) = j else {
                self.unknown.push(key.into_owned());
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            };
            next = j + 1;
            if self.seen[j] {
                *self.problem = Some(unprocessable(format!(
                    "row {}: `{key}` is given twice",
                    self.row
                )));
                return Err(serde::de::Error::custom("duplicate feature"));
            }
            self.seen[j] = true;
            let v: Value = map.next_value()?;
            let row = self.row;
            if let Err(e) = self.cols[j].push(&self.features[j].name, &v, || format!("row {row}")) {
                *self.problem = Some(e);
                return Err(serde::de::Error::custom("bad value"));
            }
        }
        Ok(())
    }
}

/// `KServe` V2 inference request: `{"id"?, "inputs": [{"name", "shape", "datatype", "data"}]}`, one input
/// per feature. Returns the request id and the rows.
pub fn parse_v2(
    body: &[u8],
    features: &[ServedFeature],
    names: &Arc<Vec<String>>,
) -> Result<(Option<String>, Rows), ApiError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))?;
    let id = doc.get("id").and_then(Value::as_str).map(str::to_owned);
    let Some(inputs) = doc.get("inputs").and_then(Value::as_array) else {
        return Err(unprocessable(
            "the body must carry `inputs`: [{name, shape, datatype, data}]",
        ));
    };
    no_images(features)?;
    let mut by_name = std::collections::BTreeMap::new();
    for (i, input) in inputs.iter().enumerate() {
        let Some(name) = input.get("name").and_then(Value::as_str) else {
            return Err(unprocessable(format!("input {i} has no `name`")));
        };
        if !features.iter().any(|f| f.name == name) {
            return Err(unprocessable(format!("unknown input `{name}`")));
        }
        let datatype = input
            .get("datatype")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let shape: Vec<i64> = input
            .get("shape")
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let Some(data) = input.get("data").and_then(Value::as_array) else {
            return Err(unprocessable(format!("input `{name}` has no `data` array")));
        };
        // Data may come nested ([[1], [2]]) or flat.
        let flat: Vec<&Value> = data
            .iter()
            .flat_map(|v| match v {
                Value::Array(inner) => inner.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect();
        let n = shape.first().copied().unwrap_or(-1);
        let per_row: i64 = shape.iter().skip(1).product();
        if n < 0 || per_row != 1 || flat.len() as i64 != n {
            return Err(unprocessable(format!(
                "input `{name}`: shape {shape:?} must be [N] or [N, 1] with N values (got {})",
                flat.len()
            )));
        }
        by_name.insert(name.to_owned(), (datatype.to_owned(), flat));
    }
    let missing: Vec<&str> = features
        .iter()
        .filter(|f| !by_name.contains_key(&f.name))
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(unprocessable(format!(
            "missing inputs: {}",
            missing.join(", ")
        )));
    }
    let n = by_name.values().next().map_or(0, |(_, d)| d.len());
    if n == 0 {
        return Err(unprocessable("no rows"));
    }
    if n > MAX_ROWS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{n} rows: at most {MAX_ROWS} per request"),
        ));
    }
    let mut cols = Vec::with_capacity(features.len());
    for f in features {
        let (datatype, data) = &by_name[&f.name];
        if data.len() != n {
            return Err(unprocessable(format!(
                "input `{}` has {} values, others {n}",
                f.name,
                data.len()
            )));
        }
        let numeric_type = datatype.starts_with("FP")
            || datatype.starts_with("INT")
            || datatype.starts_with("UINT");
        match f.kind {
            FeatureKind::Numeric if !numeric_type => {
                return Err(unprocessable(format!(
                    "input `{}` is numeric: datatype FP32/FP64/INT*, not `{datatype}`",
                    f.name
                )));
            }
            FeatureKind::Categorical if datatype != "BYTES" => {
                return Err(unprocessable(format!(
                    "input `{}` is a category: datatype BYTES, not `{datatype}`",
                    f.name
                )));
            }
            _ => {}
        }
        let mut c = Col::new(f.kind, n);
        for v in data {
            c.push(&f.name, v, || format!("input `{}`", f.name))?;
        }
        cols.push(c);
    }
    let rows_json: Vec<Value> = (0..n)
        .map(|i| {
            Value::Object(
                features
                    .iter()
                    .map(|f| (f.name.clone(), by_name[&f.name].1[i].clone()))
                    .collect(),
            )
        })
        .collect();
    Ok((
        id,
        Rows {
            data: Data::Cols {
                names: names.clone(),
                cols,
                n,
            },
            features: rows_json.iter().map(Value::to_string).collect(),
            ids: Vec::new(),
        },
    ))
}

/// `POST /v1/feedback`.
pub struct FeedbackBody {
    pub prediction_id: String,
    pub label: Option<String>,
    pub outcome: Option<f64>,
}

pub fn parse_feedback(body: &[u8]) -> Result<FeedbackBody, ApiError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))?;
    let Some(id) = doc.get("prediction_id").and_then(Value::as_str) else {
        return Err(unprocessable(
            "feedback needs `prediction_id` (a string from a prediction)",
        ));
    };
    let label = match doc.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(unprocessable(format!(
                "`label` must be a string, not {}",
                kind_of(other)
            )));
        }
    };
    let outcome = match doc.get("outcome") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
        Some(other) => {
            return Err(unprocessable(format!(
                "`outcome` must be a number or boolean, not {}",
                kind_of(other)
            )));
        }
    };
    Ok(FeedbackBody {
        prediction_id: id.to_owned(),
        label,
        outcome,
    })
}

/// The media type of an Arrow IPC stream body (`pyarrow.ipc.new_stream`, polars' `write_ipc_stream`).
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// An Arrow IPC stream: one column per feature (numbers for numeric features, strings or numbers for
/// categories), any number of record batches.
pub fn parse_arrow(body: &[u8], features: &[ServedFeature]) -> Result<Rows, ApiError> {
    // A malformed stream must be a 400 even if the reader trips over it.
    let read = std::panic::catch_unwind(|| read_arrow_stream(body))
        .unwrap_or_else(|_| Err("the stream is malformed".to_owned()));
    let df = read.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid Arrow IPC stream: {e}"),
        )
    })?;
    no_images(features)?;
    let n = df.height();
    if n == 0 {
        return Err(unprocessable("the Arrow stream has no rows"));
    }
    if n > MAX_ROWS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{n} rows: at most {MAX_ROWS} per request"),
        ));
    }
    if let Some(wrong) = name_mismatch(
        features,
        &df.get_column_names()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
    ) {
        return Err(unprocessable(wrong));
    }
    let mut columns = Vec::with_capacity(features.len());
    for f in features {
        let c = df
            .column(&f.name)
            .map_err(|e| unprocessable(e.to_string()))?;
        let dtype = c.dtype();
        let fits = match f.kind {
            FeatureKind::Numeric => dtype.is_primitive_numeric() || dtype.is_null(),
            _ => {
                dtype.is_string()
                    || dtype.is_primitive_numeric()
                    || dtype.is_bool()
                    || dtype.is_null()
            }
        };
        if !fits {
            let wanted = if f.kind == FeatureKind::Numeric {
                "numbers"
            } else {
                "strings"
            };
            return Err(unprocessable(format!(
                "`{}` must hold {wanted}, not {dtype}",
                f.name
            )));
        }
        let to = if f.kind == FeatureKind::Numeric {
            DataType::Float64
        } else {
            DataType::String
        };
        columns.push(
            c.cast(&to)
                .map_err(|e| unprocessable(format!("`{}`: {e}", f.name)))?,
        );
    }
    let frame = DataFrame::new(n, columns).map_err(|e| unprocessable(e.to_string()))?;
    let features_json = rows_as_json(&frame);
    Ok(Rows {
        data: Data::Frame(frame),
        features: features_json.iter().map(Value::to_string).collect(),
        ids: Vec::new(),
    })
}

fn read_arrow_stream(body: &[u8]) -> Result<DataFrame, String> {
    use polars_arrow::io::ipc::read::{StreamReader, StreamState, read_stream_metadata};
    let mut cursor = std::io::Cursor::new(body);
    let metadata = read_stream_metadata(&mut cursor).map_err(|e| e.to_string())?;
    let fields: Vec<_> = metadata.schema.iter_values().cloned().collect();
    let reader = StreamReader::new(cursor, metadata, None);
    let mut df: Option<DataFrame> = None;
    for state in reader {
        let batch = match state.map_err(|e| e.to_string())? {
            StreamState::Some(b) => b,
            StreamState::Waiting => return Err("the stream ends in the middle".into()),
        };
        let height = batch.height();
        let columns = fields
            .iter()
            .zip(batch.into_arrays())
            .map(|(field, array)| {
                Series::try_from((field, array))
                    .map(Column::from)
                    .map_err(|e| format!("column `{}`: {e}", field.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let part = DataFrame::new(height, columns).map_err(|e| e.to_string())?;
        df = Some(match df {
            None => part,
            Some(mut d) => {
                d.vstack_mut(&part).map_err(|e| e.to_string())?;
                d
            }
        });
    }
    df.ok_or_else(|| "the stream has a schema but no record batch".to_owned())
}

/// Each row of a checked frame as a JSON object (for the request log).
fn rows_as_json(frame: &DataFrame) -> Vec<Value> {
    let columns: Vec<(&str, Vec<Value>)> = frame
        .columns()
        .iter()
        .map(|c| {
            let values: Vec<Value> = match c.dtype() {
                DataType::Float64 => c
                    .f64()
                    .map(|ca| ca.iter().map(|v| json!(v)).collect())
                    .unwrap_or_default(),
                _ => c
                    .str()
                    .map(|ca| ca.iter().map(|v| json!(v)).collect())
                    .unwrap_or_default(),
            };
            (c.name().as_str(), values)
        })
        .collect();
    (0..frame.height())
        .map(|i| {
            Value::Object(
                columns
                    .iter()
                    .map(|(name, v)| ((*name).to_owned(), v.get(i).cloned().unwrap_or(Value::Null)))
                    .collect(),
            )
        })
        .collect()
}
