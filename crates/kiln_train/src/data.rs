//! From polars columns to model inputs: numeric features standardised with the training split's mean and
//! standard deviation (nulls become the mean), image pixels (16 or more non-negative integer columns)
//! divided by their common maximum so every pixel keeps the same scale, categorical features one-hot
//! encoded (nulls and unseen values are all-zero), images in a binary column (PNG/JPEG bytes) decoded,
//! resized and scaled to 0–1, and the target mapped to class indices.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Columns never used as features.
/// Columns that are never features: Kiln's hidden row ids and a version's own `split` column.
pub const RESERVED_COLUMNS: [&str; 2] = ["__kiln_row", "split"];

/// How one feature column becomes model inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureColumn {
    /// `(value - offset) / scale`; nulls become `fill`.
    Numeric {
        name: String,
        offset: f64,
        scale: f64,
        fill: f64,
    },
    Categorical {
        name: String,
        categories: Vec<String>,
    },
    /// Encoded image bytes, decoded to `channels` (1 grey, 3 RGB) and resized to `height`×`width`;
    /// a null is a black image.
    Image {
        name: String,
        channels: usize,
        height: usize,
        width: usize,
    },
}

/// The largest side an image column is trained at by default (larger images are scaled down).
pub const MAX_IMAGE_SIDE: usize = 64;

/// Everything needed to turn a frame into inputs again (stored with the model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub target: String,
    /// Class names; index = model output.
    pub classes: Vec<String>,
    pub columns: Vec<FeatureColumn>,
    /// `[channels, height, width]` when the inputs form one image (a single image column, or pixel
    /// columns whose count is a square), which the CNN needs.
    #[serde(default)]
    pub image: Option<[usize; 3]>,
}

/// Row-major inputs and, when the target is present, class indices.
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    pub x: Vec<f32>,
    pub rows: usize,
    pub width: usize,
    /// Class index per row (empty for inference input without a target).
    pub y: Vec<i64>,
}

fn text(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>, TrainError> {
    let s = df
        .column(name)?
        .as_materialized_series()
        .cast(&DataType::String)?;
    Ok(s.str()?.iter().map(|v| v.map(str::to_owned)).collect())
}

pub fn sorted_unique(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = values
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // Numbers sort as numbers (class 10 after 9).
    v.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    v
}

/// Image pixels: 16 or more numeric features, all non-negative whole numbers. They are divided by their
/// common maximum instead of being standardised one by one, which would give a pixel that is almost
/// always dark a huge weight whenever it is lit.
fn pixels_share_one_scale(
    df: &DataFrame,
    columns: &mut [FeatureColumn],
) -> Result<bool, TrainError> {
    if columns.len() < 16
        || !columns
            .iter()
            .all(|c| matches!(c, FeatureColumn::Numeric { .. }))
    {
        return Ok(false);
    }
    let mut max = 0f64;
    for c in columns.iter() {
        let FeatureColumn::Numeric { name, .. } = c else {
            return Ok(false);
        };
        let s = df
            .column(name)?
            .as_materialized_series()
            .cast(&DataType::Float64)?;
        for v in s.f64()?.iter().flatten() {
            if v < 0.0 || v.fract() != 0.0 {
                return Ok(false);
            }
            max = max.max(v);
        }
    }
    let scale = if max > 0.0 { max } else { 1.0 };
    for c in columns.iter_mut() {
        if let FeatureColumn::Numeric {
            offset,
            scale: s,
            fill,
            ..
        } = c
        {
            *fill = *offset; // the column mean
            *offset = 0.0;
            *s = scale;
        }
    }
    Ok(true)
}

/// The shape an image column is trained at: its first decodable image's, scaled down to at most
/// [`MAX_IMAGE_SIDE`]; grey unless that image has colour.
fn image_shape(df: &DataFrame, name: &str) -> Result<[usize; 3], TrainError> {
    let s = df.column(name)?.as_materialized_series().clone();
    for bytes in s.binary()?.iter().flatten() {
        if let Ok(img) = image::load_from_memory(bytes) {
            let (w, h) = (img.width() as usize, img.height() as usize);
            let side = w.max(h).max(1);
            let scale = (MAX_IMAGE_SIDE as f64 / side as f64).min(1.0);
            let (w, h) = (
                ((w as f64 * scale).round() as usize).max(1),
                ((h as f64 * scale).round() as usize).max(1),
            );
            let channels = if img.color().has_color() { 3 } else { 1 };
            return Ok([channels, h, w]);
        }
    }
    Err(TrainError::Invalid(format!(
        "column `{name}` has no decodable image"
    )))
}

/// Decode one image into `out` (`channels × height × width`, 0–1).
fn decode_into(
    bytes: &[u8],
    channels: usize,
    height: usize,
    width: usize,
    out: &mut [f32],
) -> Result<(), String> {
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let img = if img.width() as usize == width && img.height() as usize == height {
        img
    } else {
        img.resize_exact(
            width as u32,
            height as u32,
            image::imageops::FilterType::Triangle,
        )
    };
    let plane = height * width;
    if channels == 1 {
        for (o, p) in out.iter_mut().zip(img.to_luma8().pixels()) {
            *o = f32::from(p.0[0]) / 255.0;
        }
    } else {
        for (i, p) in img.to_rgb8().pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = f32::from(p.0[c]) / 255.0;
            }
        }
    }
    Ok(())
}

impl FeatureSpec {
    /// Learn the encoding from the training rows. `features` defaults to every column but the target,
    /// the row ids and the `split` column.
    pub fn fit(
        df: &DataFrame,
        target: &str,
        features: Option<&[String]>,
    ) -> Result<Self, TrainError> {
        if df.column(target).is_err() {
            return Err(TrainError::NoTarget(target.to_owned()));
        }
        let names: Vec<String> = if let Some(f) = features {
            f.to_vec()
        } else {
            let all: Vec<String> = df
                .get_column_names()
                .iter()
                .map(ToString::to_string)
                .filter(|n| n != target && !RESERVED_COLUMNS.contains(&n.as_str()))
                .collect();
            // A dataset of images trains on its images alone (not their file names).
            let images: Vec<String> = all
                .iter()
                .filter(|n| df.column(n).is_ok_and(|c| c.dtype() == &DataType::Binary))
                .cloned()
                .collect();
            if images.is_empty() { all } else { images }
        };
        if names.is_empty() {
            return Err(TrainError::Invalid("no feature columns".into()));
        }
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let c = df
                .column(&name)
                .map_err(|_| TrainError::NoFeature(name.clone()))?;
            let dtype = c.dtype().clone();
            if dtype.is_primitive_numeric() || dtype == DataType::Boolean {
                let s = c.as_materialized_series().cast(&DataType::Float64)?;
                let ca = s.f64()?;
                let mean = ca.mean().unwrap_or(0.0);
                let std = ca.std(0).filter(|s| *s > 1e-12).unwrap_or(1.0);
                columns.push(FeatureColumn::Numeric {
                    name,
                    offset: mean,
                    scale: std,
                    fill: mean,
                });
            } else if matches!(dtype, DataType::String) || dtype.is_categorical() || dtype.is_enum()
            {
                let categories = sorted_unique(text(df, &name)?.into_iter().flatten());
                if categories.len() > 1000 {
                    return Err(TrainError::BadFeature {
                        column: name,
                        dtype: format!(
                            "text with {} distinct values (more than 1000)",
                            categories.len()
                        ),
                    });
                }
                columns.push(FeatureColumn::Categorical { name, categories });
            } else if dtype == DataType::Binary {
                let [channels, height, width] = image_shape(df, &name)?;
                columns.push(FeatureColumn::Image {
                    name,
                    channels,
                    height,
                    width,
                });
            } else {
                return Err(TrainError::BadFeature {
                    column: name,
                    dtype: dtype.to_string(),
                });
            }
        }
        let pixels = pixels_share_one_scale(df, &mut columns)?;
        let side = (columns.len() as f64).sqrt().round() as usize;
        let image = match columns.as_slice() {
            [
                FeatureColumn::Image {
                    channels,
                    height,
                    width,
                    ..
                },
            ] => Some([*channels, *height, *width]),
            _ if pixels && side * side == columns.len() => Some([1, side, side]),
            _ => None,
        };
        let classes = sorted_unique(text(df, target)?.into_iter().flatten());
        if classes.len() < 2 {
            return Err(TrainError::Invalid(format!(
                "target `{target}` needs at least two classes, found {}",
                classes.len()
            )));
        }
        Ok(Self {
            target: target.to_owned(),
            classes,
            columns,
            image,
        })
    }

    /// Number of model inputs.
    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match c {
                FeatureColumn::Numeric { .. } => 1,
                FeatureColumn::Categorical { categories, .. } => categories.len(),
                FeatureColumn::Image {
                    channels,
                    height,
                    width,
                    ..
                } => channels * height * width,
            })
            .sum()
    }

    /// Encode `df`. With `with_target`, rows whose target is null or not a known class are dropped and
    /// `y` is filled; otherwise every row is kept.
    pub fn transform(&self, df: &DataFrame, with_target: bool) -> Result<Prepared, TrainError> {
        let n = df.height();
        let keep: Vec<Option<i64>> = if with_target {
            let index: std::collections::HashMap<&str, i64> = self
                .classes
                .iter()
                .enumerate()
                .map(|(i, c)| (c.as_str(), i as i64))
                .collect();
            let t =
                text(df, &self.target).map_err(|_| TrainError::NoTarget(self.target.clone()))?;
            t.iter()
                .map(|v| v.as_deref().and_then(|v| index.get(v).copied()))
                .collect()
        } else {
            vec![Some(0); n]
        };
        let rows = keep.iter().filter(|k| k.is_some()).count();
        let width = self.width();
        let mut x = vec![0f32; rows * width];
        let mut col = 0;
        for c in &self.columns {
            match c {
                FeatureColumn::Numeric {
                    name,
                    offset,
                    scale,
                    fill,
                } => {
                    let s = df
                        .column(name)
                        .map_err(|_| TrainError::NoFeature(name.clone()))?
                        .as_materialized_series()
                        .cast(&DataType::Float64)?;
                    let mut r = 0;
                    for (v, k) in s.f64()?.iter().zip(&keep) {
                        if k.is_some() {
                            x[r * width + col] = ((v.unwrap_or(*fill) - offset) / scale) as f32;
                            r += 1;
                        }
                    }
                    col += 1;
                }
                FeatureColumn::Categorical { name, categories } => {
                    let values = text(df, name).map_err(|_| TrainError::NoFeature(name.clone()))?;
                    let mut r = 0;
                    for (v, k) in values.iter().zip(&keep) {
                        if k.is_some() {
                            if let Some(i) = v
                                .as_deref()
                                .and_then(|v| categories.iter().position(|c| c == v))
                            {
                                x[r * width + col + i] = 1.0;
                            }
                            r += 1;
                        }
                    }
                    col += categories.len();
                }
                FeatureColumn::Image {
                    name,
                    channels,
                    height: h,
                    width: w,
                } => {
                    let size = channels * h * w;
                    let s = df
                        .column(name)
                        .map_err(|_| TrainError::NoFeature(name.clone()))?
                        .as_materialized_series()
                        .clone();
                    let values = s.binary().map_err(|_| TrainError::BadFeature {
                        column: name.clone(),
                        dtype: s.dtype().to_string(),
                    })?;
                    let mut r = 0;
                    for (i, (v, k)) in values.iter().zip(&keep).enumerate() {
                        if k.is_some() {
                            if let Some(bytes) = v {
                                let out = &mut x[r * width + col..][..size];
                                decode_into(bytes, *channels, *h, *w, out).map_err(|e| {
                                    TrainError::Invalid(format!(
                                        "row {} of `{name}` is not a decodable image: {e}",
                                        i + 1
                                    ))
                                })?;
                            }
                            r += 1;
                        }
                    }
                    col += size;
                }
            }
        }
        let y = if with_target {
            keep.into_iter().flatten().collect()
        } else {
            Vec::new()
        };
        Ok(Prepared { x, rows, width, y })
    }
}

/// Encoded rows the training loop reads a batch at a time: in memory ([`Prepared`]), or streamed from
/// disk by the caller (a dataset larger than memory).
pub trait Rows {
    /// Rows in all (known before the first batch).
    fn rows(&self) -> usize;
    /// Model inputs per row.
    fn width(&self) -> usize;
    /// Hand `f` the rows in batches of at most `batch` (inputs row-major, class indices): in order, or
    /// shuffled by `shuffle = (seed, epoch)` (the same seed and epoch give the same order). `f` returns
    /// false to stop.
    fn batches(
        &self,
        batch: usize,
        shuffle: Option<(u64, u64)>,
        f: &mut dyn FnMut(&[f32], &[i64]) -> bool,
    ) -> Result<(), TrainError>;
}

/// The generator of an epoch's order: one stream per epoch, so a resumed run shuffles exactly as an
/// uninterrupted one.
pub fn epoch_rng(seed: u64, epoch: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    rng
}

impl Rows for Prepared {
    fn rows(&self) -> usize {
        self.rows
    }

    fn width(&self) -> usize {
        self.width
    }

    fn batches(
        &self,
        batch: usize,
        shuffle: Option<(u64, u64)>,
        f: &mut dyn FnMut(&[f32], &[i64]) -> bool,
    ) -> Result<(), TrainError> {
        use rand::seq::SliceRandom;
        let mut order: Vec<usize> = (0..self.rows).collect();
        if let Some((seed, epoch)) = shuffle {
            order.shuffle(&mut epoch_rng(seed, epoch));
        }
        for chunk in order.chunks(batch.max(1)) {
            let (x, y) = self.gather(chunk);
            if !f(&x, &y) {
                break;
            }
        }
        Ok(())
    }
}

impl Prepared {
    /// Rows `idx` as a new row-major block and their labels.
    pub fn gather(&self, idx: &[usize]) -> (Vec<f32>, Vec<i64>) {
        let mut x = Vec::with_capacity(idx.len() * self.width);
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            x.extend_from_slice(&self.x[i * self.width..(i + 1) * self.width]);
            if !self.y.is_empty() {
                y.push(self.y[i]);
            }
        }
        (x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_is_standardised_categorical_one_hot_and_nulls_handled() {
        let df = df!(
            "a" => [Some(1.0), Some(3.0), None],
            "c" => [Some("x"), None, Some("y")],
            "t" => ["p", "q", "p"],
        )
        .unwrap();
        let spec = FeatureSpec::fit(&df, "t", None).unwrap();
        assert_eq!(spec.classes, ["p", "q"]);
        assert_eq!(spec.width(), 3);
        let p = spec.transform(&df, true).unwrap();
        assert_eq!(p.rows, 3);
        assert_eq!(p.y, vec![0, 1, 0]);
        // a: mean 2, population std 1 → -1, 1, 0 (null = mean); c: x → [1,0], null → [0,0], y → [0,1]
        assert_eq!(p.x, vec![-1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn image_columns_decode_and_a_broken_image_names_its_row() {
        let mut png = Vec::new();
        image::GrayImage::from_fn(4, 2, |x, _| image::Luma([if x < 2 { 0 } else { 255 }]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let good = df!(
            "image" => [png.as_slice(), png.as_slice()],
            "file" => ["a.png", "b.png"],
            "t" => ["x", "y"],
        )
        .unwrap();
        let spec = FeatureSpec::fit(&good, "t", None).unwrap();
        // Only the image is a feature by default; one grey channel, 2×4.
        assert_eq!(spec.columns.len(), 1);
        assert_eq!(spec.image, Some([1, 2, 4]));
        let p = spec.transform(&good, true).unwrap();
        assert_eq!(&p.x[..4], &[0.0, 0.0, 1.0, 1.0]);
        let bad = df!(
            "image" => [png.as_slice(), b"not an image".as_slice()],
            "file" => ["a.png", "b.png"],
            "t" => ["x", "y"],
        )
        .unwrap();
        let e = spec.transform(&bad, true).unwrap_err().to_string();
        assert!(
            e.contains("row 2 of `image` is not a decodable image"),
            "{e}"
        );
    }

    #[test]
    fn rows_without_a_known_target_are_dropped() {
        let df = df!("a" => [1.0, 2.0, 3.0], "t" => [Some("p"), None, Some("q")]).unwrap();
        let spec = FeatureSpec::fit(&df, "t", None).unwrap();
        let p = spec.transform(&df, true).unwrap();
        assert_eq!((p.rows, p.y.clone()), (2, vec![0, 1]));
        assert!(matches!(
            FeatureSpec::fit(&df, "nope", None),
            Err(TrainError::NoTarget(_))
        ));
    }
}
