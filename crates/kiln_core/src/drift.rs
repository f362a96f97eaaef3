//! Data drift between a reference and a current sample, column by column, with the default choice of
//! test that Evidently makes: with a reference of at most 1,000 rows, the two-sample Kolmogorov–Smirnov
//! test for numeric columns with more than 5 distinct values, the two-proportion Z-test for binary
//! columns, and Pearson's χ² for the other categorical or low-cardinality columns (drift when p < 0.05);
//! with a larger reference, the Wasserstein distance normalised by the reference's standard deviation for
//! numeric columns and the Jensen–Shannon distance for categorical ones (drift when ≥ 0.1). Every column
//! also gets its PSI over 10 reference-quantile bins. The dataset drifts when at least half its columns do.

use std::collections::{BTreeMap, BTreeSet};

use kiln_data::polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::release::stats::{nearest_rank, quantile};
use crate::{CoreError, Result, Workspace};

/// One column's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    pub name: String,
    /// `ks`, `chisquare`, `z`, `wasserstein` or `jensenshannon`.
    pub method: String,
    pub statistic: f64,
    /// For the tests that have one (KS, χ², Z).
    pub p_value: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
    /// Population stability index over 10 reference-quantile bins (categories for text).
    pub psi: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub reference_rows: usize,
    pub current_rows: usize,
    pub columns: Vec<ColumnDrift>,
    pub drifted_columns: usize,
    /// At least half the columns drifted.
    pub dataset_drift: bool,
}

/// ln Γ(x) (Lanczos, g = 7, n = 9), accurate to ~1e-15 relative for x > 0.
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularized upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_pre = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut term, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * ln_pre.exp()
    } else {
        // Lentz's continued fraction.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -f64::from(i) * (f64::from(i) - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        ln_pre.exp() * h
    }
}

/// P(|Z| ≥ |z|) for a standard normal Z.
fn normal_two_sided(z: f64) -> f64 {
    // erfc(|z|/√2) = Q(1/2, z²/2).
    gamma_q(0.5, z * z / 2.0)
}

/// Two-sample Kolmogorov–Smirnov: the statistic and its two-sided p-value — exact (counting the lattice
/// paths that stay inside the band) when both samples have at most 10,000 values, else the asymptotic
/// Kolmogorov distribution.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (m, n) = (a.len(), b.len());
    if m == 0 || n == 0 {
        return (0.0, 1.0);
    }
    // D·m·n as an integer: max |i·n − j·m| over the merged steps.
    let (mut i, mut j, mut dmax) = (0usize, 0usize, 0i128);
    while i < m || j < n {
        let x = if j >= n || (i < m && a[i] <= b[j]) {
            a[i]
        } else {
            b[j]
        };
        while i < m && a[i] <= x {
            i += 1;
        }
        while j < n && b[j] <= x {
            j += 1;
        }
        dmax = dmax.max((i as i128 * n as i128 - j as i128 * m as i128).abs());
    }
    let d = dmax as f64 / (m as f64 * n as f64);
    if dmax == 0 {
        return (0.0, 1.0);
    }
    if m.max(n) <= 10_000 {
        // a(i, j) = paths to (i, j) inside |i·n − j·m| < dmax, divided by C(i + j, i).
        let inside =
            |i: usize, j: usize| (i as i128 * n as i128 - j as i128 * m as i128).abs() < dmax;
        let mut col = vec![0.0f64; n + 1];
        for (jj, v) in col.iter_mut().enumerate() {
            *v = if inside(0, jj) { 1.0 } else { 0.0 };
            if *v == 0.0 {
                // Once outside on the first column, the rest is unreachable.
                break;
            }
        }
        for ii in 1..=m {
            let mut below = 0.0;
            for (jj, v) in col.iter_mut().enumerate() {
                let val = if inside(ii, jj) {
                    if jj == 0 {
                        *v
                    } else {
                        (*v * ii as f64 + below * jj as f64) / (ii + jj) as f64
                    }
                } else {
                    0.0
                };
                *v = val;
                below = val;
            }
        }
        let p = (1.0 - col[n]).clamp(0.0, 1.0);
        return (d, p);
    }
    // Asymptotic: Q_KS(√(mn/(m+n)) · D).
    let en = (m as f64 * n as f64 / (m + n) as f64).sqrt();
    let lambda = (en + 0.12 + 0.11 / en) * d;
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = 2.0 * (-1f64).powf(k - 1.0) * (-2.0 * k * k * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
    }
    (d, sum.clamp(0.0, 1.0))
}

/// Pearson's χ² of current counts against the reference's proportions (scaled to the current size):
/// statistic and p-value with k − 1 degrees of freedom.
pub fn chisquare(reference: &[String], current: &[String]) -> (f64, f64) {
    let keys: BTreeSet<&String> = reference.iter().chain(current).collect();
    let count = |v: &[String], k: &String| v.iter().filter(|x| *x == k).count() as f64;
    let k_norm = current.len() as f64 / reference.len().max(1) as f64;
    let mut stat = 0.0;
    for k in &keys {
        let exp = count(reference, k) * k_norm;
        let obs = count(current, k);
        stat += if exp > 0.0 {
            (obs - exp).powi(2) / exp
        } else if obs > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
    }
    let df = keys.len().saturating_sub(1).max(1) as f64;
    let p = if stat.is_finite() {
        gamma_q(df / 2.0, stat / 2.0)
    } else {
        0.0
    };
    (stat, p)
}

/// Two-proportion Z-test of one value's share in reference against current: |z| and the p-value.
pub fn z_test(reference: &[String], current: &[String], value: &str) -> (f64, f64) {
    let (n1, n2) = (reference.len() as f64, current.len() as f64);
    let p1 = reference.iter().filter(|v| *v == value).count() as f64 / n1;
    let p2 = current.iter().filter(|v| *v == value).count() as f64 / n2;
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return (0.0, 1.0);
    }
    let z = (p1 - p2) / se;
    (z.abs(), normal_two_sided(z))
}

/// The 1-Wasserstein distance of two samples (the area between their distribution functions).
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    wasserstein_sorted(&sorted(a), &sorted(b))
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// [`wasserstein`] of two sorted samples: one merge walk, summing the gap of the two distribution functions between consecutive values.
fn wasserstein_sorted(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (m, n) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut total) = (0usize, 0usize, 0.0);
    let mut prev = a[0].min(b[0]);
    while i < a.len() || j < b.len() {
        let x = if j >= b.len() || (i < a.len() && a[i] <= b[j]) {
            a[i]
        } else {
            b[j]
        };
        // i and j count the values ≤ prev: the distribution functions on [prev, x).
        total += (i as f64 / m - j as f64 / n).abs() * (x - prev);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        prev = x;
    }
    total
}

/// Distinct values of `a` and `b` together, counted up to `cap`.
fn distinct_upto(a: &[f64], b: &[f64], cap: usize) -> usize {
    let mut seen: Vec<u64> = Vec::with_capacity(cap);
    for v in a.iter().chain(b) {
        let bits = v.to_bits();
        if !seen.contains(&bits) {
            seen.push(bits);
            if seen.len() >= cap {
                break;
            }
        }
    }
    seen.len()
}

fn shares(values: &[String], keys: &BTreeSet<&String>) -> Vec<f64> {
    let n = values.len().max(1) as f64;
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for v in values {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    keys.iter()
        .map(|k| counts.get(k.as_str()).copied().unwrap_or_default() as f64 / n)
        .collect()
}

/// Jensen–Shannon distance (natural log) of the two samples' category shares.
pub fn jensen_shannon(reference: &[String], current: &[String]) -> f64 {
    let keys: BTreeSet<&String> = reference.iter().chain(current).collect();
    let (p, q) = (shares(reference, &keys), shares(current, &keys));
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| x * (x / y).ln())
            .sum()
    };
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    f64::midpoint(kl(&p, &m), kl(&q, &m)).max(0.0).sqrt()
}

/// PSI of two share vectors (a zero share counts as 0.0001).
fn psi_of(r: &[f64], c: &[f64]) -> f64 {
    r.iter()
        .zip(c)
        .map(|(a, b)| {
            let (a, b) = (a.max(1e-4), b.max(1e-4));
            (b - a) * (b / a).ln()
        })
        .sum()
}

/// PSI of numeric samples over 10 bins cut at the reference's deciles.
pub fn psi_numeric(reference: &[f64], current: &[f64]) -> f64 {
    psi_sorted(&sorted(reference), current)
}

/// [`psi_numeric`] with the reference already sorted.
fn psi_sorted(r: &[f64], current: &[f64]) -> f64 {
    let reference = r;
    if r.is_empty() || current.is_empty() {
        return 0.0;
    }
    let mut edges: Vec<f64> = (1..10).map(|k| quantile(r, f64::from(k) / 10.0)).collect();
    edges.dedup_by(|a, b| a.to_bits() == b.to_bits());
    let bin = |v: f64| edges.partition_point(|e| *e < v);
    let hist = |vals: &[f64]| {
        let mut h = vec![0.0; edges.len() + 1];
        for v in vals {
            h[bin(*v)] += 1.0;
        }
        let n = vals.len() as f64;
        h.iter().map(|x| x / n).collect::<Vec<_>>()
    };
    psi_of(&hist(reference), &hist(current))
}

enum Values {
    Num(Vec<f64>),
    Text(Vec<String>),
}

impl Values {
    /// Numbers as their text (to be counted as categories).
    fn into_text(self) -> Vec<String> {
        match self {
            Values::Num(n) => as_text(&n),
            Values::Text(t) => t,
        }
    }
}

fn values(df: &DataFrame, name: &str) -> Result<Values> {
    let c = df.column(name)?;
    if c.dtype().is_primitive_numeric() && c.dtype() != &DataType::Boolean {
        let f = c.cast(&DataType::Float64)?;
        Ok(Values::Num(
            f.f64()?
                .iter()
                .flatten()
                .filter(|v| v.is_finite())
                .collect(),
        ))
    } else {
        let s = c.cast(&DataType::String)?;
        Ok(Values::Text(
            s.str()?.iter().flatten().map(str::to_owned).collect(),
        ))
    }
}

fn as_text(v: &[f64]) -> Vec<String> {
    v.iter().map(|x| format!("{x}")).collect()
}

/// Drift of every column `reference` and `current` share (the hidden row id and `split` excepted), the
/// columns spread over the machine's cores.
pub fn drift(reference: &DataFrame, current: &DataFrame) -> Result<DriftReport> {
    let names: Vec<&str> = reference
        .get_column_names()
        .into_iter()
        .map(PlSmallStr::as_str)
        .filter(|n| *n != kiln_data::ROW_ID && *n != "split" && current.column(n).is_ok())
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(names.len())
        .max(1);
    let per = names.len().div_ceil(workers).max(1);
    let columns = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|name| column_drift(reference, current, name))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(names.len());
        for h in handles {
            all.extend(
                h.join()
                    .map_err(|_| CoreError::Invalid("a drift worker thread panicked".into()))??,
            );
        }
        Ok::<_, CoreError>(all)
    })?;
    let drifted_columns = columns.iter().filter(|c| c.drifted).count();
    Ok(DriftReport {
        reference_rows: reference.height(),
        current_rows: current.height(),
        dataset_drift: !columns.is_empty() && drifted_columns * 2 >= columns.len(),
        drifted_columns,
        columns,
    })
}

/// One column's drift by Evidently's default rule: the number of distinct values of both samples
/// together decides between the numeric test (more than 5) and the categorical one; a reference of at
/// most 1,000 rows gets a test (KS; χ², or Z for two values), a larger one a distance (Wasserstein
/// normalised by the reference's standard deviation; Jensen–Shannon).
fn column_drift(reference: &DataFrame, current: &DataFrame, name: &str) -> Result<ColumnDrift> {
    let small = reference.height() <= 1000;
    Ok(match (values(reference, name)?, values(current, name)?) {
        (Values::Num(r), Values::Num(c)) => {
            let r = sorted(&r);
            let psi = psi_sorted(&r, &c);
            if distinct_upto(&r, &c, 6) <= 5 {
                categorical(name, &as_text(&r), &as_text(&c), small, psi)
            } else if small {
                let (d, p) = ks_2samp(&r, &c);
                ColumnDrift {
                    name: name.into(),
                    method: "ks".into(),
                    statistic: d,
                    p_value: Some(p),
                    threshold: 0.05,
                    drifted: p < 0.05,
                    psi,
                }
            } else {
                let mean = r.iter().sum::<f64>() / r.len().max(1) as f64;
                let sd = (r.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                    / r.len().max(1) as f64)
                    .sqrt();
                let w = wasserstein_sorted(&r, &sorted(&c)) / if sd > 0.0 { sd } else { 1.0 };
                ColumnDrift {
                    name: name.into(),
                    method: "wasserstein".into(),
                    statistic: w,
                    p_value: None,
                    threshold: 0.1,
                    drifted: w >= 0.1,
                    psi,
                }
            }
        }
        (r, c) => {
            let (r, c) = (r.into_text(), c.into_text());
            let keys: BTreeSet<&String> = r.iter().chain(&c).collect();
            let psi = psi_of(&shares(&r, &keys), &shares(&c, &keys));
            categorical(name, &r, &c, small, psi)
        }
    })
}

fn categorical(name: &str, r: &[String], c: &[String], small: bool, psi: f64) -> ColumnDrift {
    let keys: BTreeSet<&String> = r.iter().chain(c).collect();
    if small && keys.len() <= 2 {
        let first = keys.iter().next().map(|k| k.as_str()).unwrap_or_default();
        let (z, p) = z_test(r, c, first);
        return ColumnDrift {
            name: name.into(),
            method: "z".into(),
            statistic: z,
            p_value: Some(p),
            threshold: 0.05,
            drifted: p < 0.05,
            psi,
        };
    }
    if small {
        let (s, p) = chisquare(r, c);
        return ColumnDrift {
            name: name.into(),
            method: "chisquare".into(),
            statistic: s,
            p_value: Some(p),
            threshold: 0.05,
            drifted: p < 0.05,
            psi,
        };
    }
    let js = jensen_shannon(r, c);
    ColumnDrift {
        name: name.into(),
        method: "jensenshannon".into(),
        statistic: js,
        p_value: None,
        threshold: 0.1,
        drifted: js >= 0.1,
        psi,
    }
}

impl Workspace {
    /// Drift of dataset version `current` against `reference` (`NAME[@VERSION]` each).
    pub fn drift(&self, reference: &str, current: &str) -> Result<DriftReport> {
        let r = self.load(&self.resolve(reference)?)?;
        let c = self.load(&self.resolve(current)?)?;
        if r.height() == 0 || c.height() == 0 {
            return Err(CoreError::Invalid(
                "drift needs rows in both versions".into(),
            ));
        }
        drift(&r, &c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The samples of `crates/kiln_bench/peers/drift_reference.py`, whose scipy values are committed here.
    fn sample(n: usize, f: impl Fn(usize) -> f64) -> Vec<f64> {
        (0..n).map(f).collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }

    #[test]
    fn ks_matches_scipy_exact_two_sample_test() {
        let a = sample(20, |i| ((i * 37) % 101) as f64 / 10.0);
        let b = sample(25, |j| ((j * 53) % 97) as f64 / 9.0 + 0.5);
        let c = sample(30, |i| ((i * 37) % 101) as f64 / 10.0 + 0.3);
        let d = sample(30, |i| ((i * 41) % 89) as f64 / 9.0);
        let ta = sample(40, |i| (i % 7) as f64);
        let tb = sample(33, |i| ((i * 3) % 9) as f64);
        let e = sample(25, |i| i as f64 / 10.0);
        let f = sample(22, |i| i as f64 / 10.0 + 0.8);
        for (x, y, stat, p) in [
            (&a, &b, 0.1, 0.999_254_461_562_742_7),
            (&c, &d, 0.066_666_666_666_666_67, 0.999_999_990_920_850_7),
            (&ta, &tb, 0.208_333_333_333_333_34, 0.350_085_063_120_767_54),
            (&e, &f, 0.338_181_818_181_818_2, 0.105_551_600_675_489_02),
        ] {
            let (s, q) = ks_2samp(x, y);
            close(s, stat);
            close(q, p);
        }
        close(wasserstein(&a, &b), 0.433_555_555_555_555_6);
        close(wasserstein(&ta, &tb), 0.691_666_666_666_666_8);
    }

    #[test]
    fn categorical_tests_match_scipy() {
        let rep = |v: &[(&str, usize)]| -> Vec<String> {
            v.iter()
                .flat_map(|(s, n)| std::iter::repeat_n((*s).to_owned(), *n))
                .collect()
        };
        let r = rep(&[("x", 30), ("y", 50), ("z", 20)]);
        let c = rep(&[("x", 45), ("y", 35), ("z", 20)]);
        let (s, p) = chisquare(&r, &c);
        close(s, 12.0);
        close(p, 0.002_478_752_176_666_357);
        close(jensen_shannon(&r, &c), 0.119_177_378_007_676_03);
        let br = rep(&[("yes", 40), ("no", 60)]);
        let bc = rep(&[("yes", 55), ("no", 45)]);
        let (z, p) = z_test(&br, &bc, "no");
        close(z, 2.123_976_976_214_365_7);
        close(p, 0.033_672_068_856_345_88);
    }

    #[test]
    fn report_picks_the_method_by_size_and_kind_and_flags_dataset_drift() {
        let n = 200;
        let reference = df!(
            "x" => (0..n).map(|i| f64::from(i % 50)).collect::<Vec<_>>(),
            "flag" => (0..n).map(|i| if i % 2 == 0 { "a" } else { "b" }).collect::<Vec<_>>(),
            "color" => (0..n).map(|i| ["red", "green", "blue"][i as usize % 3]).collect::<Vec<_>>(),
        )
        .unwrap();
        let shifted = df!(
            "x" => (0..n).map(|i| f64::from(i % 50) + 20.0).collect::<Vec<_>>(),
            "flag" => (0..n).map(|i| if i % 5 == 0 { "a" } else { "b" }).collect::<Vec<_>>(),
            "color" => (0..n).map(|i| ["red", "green", "blue"][i as usize % 3]).collect::<Vec<_>>(),
        )
        .unwrap();
        let r = drift(&reference, &shifted).unwrap();
        let m: Vec<(&str, &str, bool)> = r
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.method.as_str(), c.drifted))
            .collect();
        assert_eq!(
            m,
            [
                ("x", "ks", true),
                ("flag", "z", true),
                ("color", "chisquare", false)
            ]
        );
        assert!(r.dataset_drift && r.drifted_columns == 2);
        assert!(r.columns[0].psi > 0.2 && r.columns[2].psi.abs() < 1e-9);
        let same = drift(&reference, &reference).unwrap();
        assert!(!same.dataset_drift && same.columns.iter().all(|c| !c.drifted));
        // Over 1,000 reference rows: distances instead of tests.
        let big = df!("x" => (0..2000).map(|i| f64::from(i % 100)).collect::<Vec<_>>(), "c" => (0..2000).map(|i| ["a", "b"][i as usize % 2]).collect::<Vec<_>>()).unwrap();
        let big2 = df!("x" => (0..2000).map(|i| f64::from(i % 100) * 1.5).collect::<Vec<_>>(), "c" => (0..2000).map(|i| ["a", "b"][i as usize % 2]).collect::<Vec<_>>()).unwrap();
        let r = drift(&big, &big2).unwrap();
        assert_eq!(
            (r.columns[0].method.as_str(), r.columns[0].drifted),
            ("wasserstein", true)
        );
        assert_eq!(
            (r.columns[1].method.as_str(), r.columns[1].drifted),
            ("jensenshannon", false)
        );
        assert!(r.columns[0].p_value.is_none());
        // A number with at most 5 distinct values (reference and current together) is a category:
        // Jensen–Shannon above 1,000 rows, Z for two values and χ² for three to five below.
        let level = |n: usize, k: usize| {
            df!("x" => (0..n).map(|i| (i % k) as f64).collect::<Vec<_>>()).unwrap()
        };
        let method = |a: &DataFrame, b: &DataFrame| drift(a, b).unwrap().columns[0].method.clone();
        assert_eq!(method(&level(2000, 5), &level(2000, 5)), "jensenshannon");
        assert_eq!(method(&level(2000, 5), &level(2000, 6)), "wasserstein");
        assert_eq!(method(&level(500, 2), &level(500, 2)), "z");
        assert_eq!(method(&level(500, 4), &level(500, 4)), "chisquare");
        assert_eq!(method(&level(500, 3), &level(500, 6)), "ks");
    }
}

/// Reference and current shares of one column over common bins, for overlaid histograms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnHistogram {
    pub name: String,
    /// Bin labels (ranges for numbers, values for categories).
    pub bins: Vec<String>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// Histograms of every shared column: 20 equal-width bins over both samples' range for numbers, the
/// 20 most frequent reference values for text.
pub fn histograms(reference: &DataFrame, current: &DataFrame) -> Result<Vec<ColumnHistogram>> {
    let mut out = Vec::new();
    for name in reference.get_column_names() {
        let name = name.as_str();
        if name == kiln_data::ROW_ID || name == "split" || current.column(name).is_err() {
            continue;
        }
        let h = match (values(reference, name)?, values(current, name)?) {
            (Values::Num(r), Values::Num(c)) => {
                let lo = r.iter().chain(&c).copied().fold(f64::INFINITY, f64::min);
                let hi = r
                    .iter()
                    .chain(&c)
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max);
                if !lo.is_finite() {
                    continue;
                }
                let k = 20usize;
                let width = if hi > lo { (hi - lo) / k as f64 } else { 1.0 };
                let share = |v: &[f64]| {
                    let mut h = vec![0.0; k];
                    for x in v {
                        h[(((x - lo) / width) as usize).min(k - 1)] += 1.0;
                    }
                    let n = v.len().max(1) as f64;
                    h.into_iter().map(|c| c / n).collect::<Vec<_>>()
                };
                ColumnHistogram {
                    name: name.into(),
                    bins: (0..k)
                        .map(|i| format!("{:.3}", lo + width * i as f64))
                        .collect(),
                    reference: share(&r),
                    current: share(&c),
                }
            }
            (r, c) => {
                let (r, c) = (r.into_text(), c.into_text());
                let mut counts: std::collections::BTreeMap<&String, usize> =
                    std::collections::BTreeMap::new();
                for v in &r {
                    *counts.entry(v).or_default() += 1;
                }
                let mut top: Vec<(&String, usize)> = counts.into_iter().collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                top.truncate(20);
                let keys: BTreeSet<&String> = top.iter().map(|(k, _)| *k).collect();
                ColumnHistogram {
                    name: name.into(),
                    bins: keys.iter().map(|k| (*k).clone()).collect(),
                    reference: shares(&r, &keys),
                    current: shares(&c, &keys),
                }
            }
        };
        out.push(h);
    }
    Ok(out)
}

/// 95% Wilson score interval of `successes` in `n`.
pub fn wilson(successes: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, successes as f64 / n as f64);
    let z = 1.959_963_984_540_054;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// One served version's numbers (an A/B arm, or the versions a model went through).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionHealth {
    pub version: i64,
    pub requests: usize,
    pub labelled: usize,
    pub accuracy_on_feedback: Option<f64>,
    /// 95% Wilson interval of the accuracy on feedback.
    pub accuracy_ci: (f64, f64),
    pub outcomes: usize,
    pub outcome_rate: Option<f64>,
    /// 95% Wilson interval of the share of outcomes ≥ 0.5.
    pub outcome_ci: (f64, f64),
}

/// One server process's share of a model's traffic (several replicas log to one team workspace).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaHealth {
    /// `host:port`, or `unnamed` for requests logged before servers named themselves.
    pub replica: String,
    pub requests: usize,
    pub errors: usize,
    pub latency_p99_ms: f64,
    /// When it last answered.
    pub last_at: String,
}

/// How a served model is doing, from its request log and the feedback on it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServingHealth {
    pub model: String,
    pub requests: usize,
    pub errors: usize,
    pub error_rate: f64,
    /// Answers given by the declared fallback because the model could not answer in time.
    pub fallbacks: usize,
    pub fallback_rate: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Predictions that got a label back, and the share of them that were right.
    pub labelled: usize,
    pub accuracy_on_feedback: Option<f64>,
    /// Mean product outcome reported back (e.g. clicked = 1), and on how many predictions.
    pub outcomes: usize,
    pub outcome_rate: Option<f64>,
    /// The same per served version (A/B arms side by side).
    pub versions: Vec<VersionHealth>,
    /// Concept drift: accuracy on feedback per hour the predictions were served
    /// (`(hour as YYYY-MM-DDTHH, labelled, accuracy)`), oldest first.
    pub hourly_accuracy: Vec<(String, usize, f64)>,
    /// Requests per hour served, oldest first.
    pub hourly_requests: Vec<(String, usize)>,
    /// Requests per second over the last minute (the live rate; 0 when idle).
    pub requests_per_s: f64,
    /// Per server process that answered, busiest first.
    #[serde(default)]
    pub replicas: Vec<ReplicaHealth>,
    /// The shadow served beside the champion (its latest pairing of versions), when one ran.
    #[serde(default)]
    pub shadow: Option<crate::shadow::ShadowSummary>,
}

impl Workspace {
    /// Drift report and histograms of two dataset versions.
    pub fn drift_with_histograms(
        &self,
        reference: &str,
        current: &str,
    ) -> Result<(DriftReport, Vec<ColumnHistogram>)> {
        let r = self.load(&self.resolve(reference)?)?;
        let c = self.load(&self.resolve(current)?)?;
        if r.height() == 0 || c.height() == 0 {
            return Err(CoreError::Invalid(
                "drift needs rows in both versions".into(),
            ));
        }
        Ok((drift(&r, &c)?, histograms(&r, &c)?))
    }

    /// Serving health of every model that answered requests.
    pub fn serving_health(&self) -> Result<Vec<ServingHealth>> {
        let feedback = self.feedback()?;
        let mut out = Vec::new();
        for m in self.models()? {
            let log = self.served(&m.name)?;
            if log.is_empty() {
                continue;
            }
            let mut lat: Vec<f64> = log
                .iter()
                .filter(|r| r.status == 200)
                .map(|r| r.latency_ms)
                .collect();
            lat.sort_by(f64::total_cmp);
            let q = |p: f64| nearest_rank(&lat, p);
            let errors = log.iter().filter(|r| r.status != 200).count();
            let fallbacks = log
                .iter()
                .filter(|r| r.endpoint.ends_with("(fallback)"))
                .count();
            let by_id: std::collections::HashMap<&str, &str> = log
                .iter()
                .filter_map(|r| Some((r.prediction_id.as_deref()?, r.class.as_deref()?)))
                .collect();
            let labelled: Vec<bool> = feedback
                .iter()
                .filter_map(|f| Some(by_id.get(f.prediction_id.as_str())? == &f.label.as_deref()?))
                .collect();
            let outcomes: Vec<f64> = feedback
                .iter()
                .filter(|f| by_id.contains_key(f.prediction_id.as_str()))
                .filter_map(|f| f.outcome)
                .collect();
            let mut versions: Vec<i64> = log.iter().filter_map(|r| r.version).collect();
            versions.sort_unstable();
            versions.dedup();
            let version_of: std::collections::HashMap<&str, i64> = log
                .iter()
                .filter_map(|r| Some((r.prediction_id.as_deref()?, r.version?)))
                .collect();
            let per_version = versions
                .iter()
                .map(|&v| {
                    let mine = |id: &str| version_of.get(id) == Some(&v);
                    let right: Vec<bool> = feedback
                        .iter()
                        .filter(|f| mine(&f.prediction_id))
                        .filter_map(|f| {
                            Some(by_id.get(f.prediction_id.as_str())? == &f.label.as_deref()?)
                        })
                        .collect();
                    let outs: Vec<f64> = feedback
                        .iter()
                        .filter(|f| mine(&f.prediction_id))
                        .filter_map(|f| f.outcome)
                        .collect();
                    let hits = right.iter().filter(|x| **x).count() as u64;
                    let wins = outs.iter().filter(|o| **o >= 0.5).count() as u64;
                    VersionHealth {
                        version: v,
                        requests: log.iter().filter(|r| r.version == Some(v)).count(),
                        labelled: right.len(),
                        accuracy_on_feedback: (!right.is_empty())
                            .then(|| hits as f64 / right.len() as f64),
                        accuracy_ci: wilson(hits, right.len() as u64),
                        outcomes: outs.len(),
                        outcome_rate: (!outs.is_empty())
                            .then(|| outs.iter().sum::<f64>() / outs.len() as f64),
                        outcome_ci: wilson(wins, outs.len() as u64),
                    }
                })
                .collect();
            let hour_of: std::collections::HashMap<&str, &str> = log
                .iter()
                .filter_map(|r| Some((r.prediction_id.as_deref()?, r.at.get(..13)?)))
                .collect();
            let mut hourly: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for f in &feedback {
                let (Some(hour), Some(class), Some(label)) = (
                    hour_of.get(f.prediction_id.as_str()),
                    by_id.get(f.prediction_id.as_str()),
                    f.label.as_deref(),
                ) else {
                    continue;
                };
                let e = hourly.entry((*hour).to_owned()).or_default();
                e.0 += 1;
                e.1 += usize::from(*class == label);
            }
            let minute_ago = crate::serving::ago(60);
            let last_minute = log.iter().filter(|r| r.at >= minute_ago).count();
            let mut requests_by_hour: BTreeMap<String, usize> = BTreeMap::new();
            for r in &log {
                *requests_by_hour
                    .entry(r.at.chars().take(13).collect())
                    .or_default() += 1;
            }
            let mut by_replica: BTreeMap<&str, Vec<&kiln_store::ServedRequest>> = BTreeMap::new();
            for r in &log {
                by_replica
                    .entry(r.replica.as_deref().unwrap_or("unnamed"))
                    .or_default()
                    .push(r);
            }
            let mut replicas: Vec<ReplicaHealth> = by_replica
                .into_iter()
                .map(|(name, rows)| {
                    let mut lat: Vec<f64> = rows
                        .iter()
                        .filter(|r| r.status == 200)
                        .map(|r| r.latency_ms)
                        .collect();
                    lat.sort_by(f64::total_cmp);
                    ReplicaHealth {
                        replica: name.to_owned(),
                        requests: rows.len(),
                        errors: rows.iter().filter(|r| r.status != 200).count(),
                        latency_p99_ms: nearest_rank(&lat, 0.99),
                        last_at: rows
                            .iter()
                            .map(|r| r.at.as_str())
                            .max()
                            .unwrap_or("")
                            .to_owned(),
                    }
                })
                .collect();
            replicas.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.replica.cmp(&b.replica)));
            let shadow =
                Some(self.shadow_summary(&m.name, None)?).filter(|s| s.shadow_version.is_some());
            out.push(ServingHealth {
                shadow,
                replicas,
                requests_per_s: last_minute as f64 / 60.0,
                hourly_accuracy: hourly
                    .into_iter()
                    .map(|(h, (n, right))| (h, n, right as f64 / n as f64))
                    .collect(),
                hourly_requests: requests_by_hour.into_iter().collect(),
                versions: per_version,
                model: m.name.clone(),
                requests: log.len(),
                errors,
                error_rate: errors as f64 / log.len() as f64,
                fallbacks,
                fallback_rate: fallbacks as f64 / log.len() as f64,
                latency_p50_ms: q(0.5),
                latency_p99_ms: q(0.99),
                labelled: labelled.len(),
                accuracy_on_feedback: (!labelled.is_empty()).then(|| {
                    labelled.iter().filter(|x| **x).count() as f64 / labelled.len() as f64
                }),
                outcomes: outcomes.len(),
                outcome_rate: (!outcomes.is_empty())
                    .then(|| outcomes.iter().sum::<f64>() / outcomes.len() as f64),
            });
        }
        Ok(out)
    }
}

impl Workspace {
    /// The input rows a model was served (those whose features were logged), since `since` (ISO time),
    /// as a frame: numeric features as numbers, the rest as text.
    pub fn served_inputs(&self, model: &str, since: Option<&str>) -> Result<DataFrame> {
        let served: Vec<kiln_store::ServedRequest> = self
            .served(model)?
            .into_iter()
            .filter(|r| r.status == 200 && since.is_none_or(|t| r.at.as_str() >= t))
            .collect();
        let logged = crate::logged_inputs::frame(served.iter().map(|r| r.features.as_deref()));
        let (frame, _) = logged.ok_or_else(|| {
            CoreError::Invalid(format!(
                "`{model}` has no logged inputs{} (serve it with features logged: kiln serve --log-every 1)",
                since.map(|t| format!(" since {t}")).unwrap_or_default()
            ))
        })??;
        Ok(frame)
    }

    /// Drift of a model's served inputs (since `since`) against a dataset version.
    pub fn served_drift(
        &self,
        reference: &str,
        model: &str,
        since: Option<&str>,
    ) -> Result<DriftReport> {
        let r = self.load(&self.resolve(reference)?)?;
        let c = self.served_inputs(model, since)?;
        drift(&r, &c)
    }
}

/// Which served requests a drift of served inputs looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServedWindow {
    LastHour,
    #[default]
    LastDay,
    LastWeek,
    /// Since the champion last moved (the last release or rollback).
    SinceRelease,
    /// Every logged request.
    All,
}

impl ServedWindow {
    pub const EVERY: [Self; 5] = [
        Self::LastHour,
        Self::LastDay,
        Self::LastWeek,
        Self::SinceRelease,
        Self::All,
    ];

    /// In words, to follow "served": "in the last hour", "since the last release".
    pub fn label(self) -> &'static str {
        match self {
            Self::LastHour => "in the last hour",
            Self::LastDay => "in the last day",
            Self::LastWeek => "in the last week",
            Self::SinceRelease => "since the last release",
            Self::All => "ever",
        }
    }
}

/// Drift of what a model was served against what it was trained on.
#[derive(Clone, Debug)]
pub struct ServedDrift {
    /// "what penguin-id v2 trained on (penguins@2, 240 rows)".
    pub reference: String,
    /// "inputs penguin-id was served in the last day (57 requests)".
    pub current: String,
    pub report: DriftReport,
    pub histograms: Vec<ColumnHistogram>,
}

impl Workspace {
    /// The ISO time a window of `model`'s served requests starts at (`None`: from the first).
    pub fn window_start(&self, model: &str, window: ServedWindow) -> Result<Option<String>> {
        Ok(match window {
            ServedWindow::LastHour => Some(crate::serving::ago(3_600)),
            ServedWindow::LastDay => Some(crate::serving::ago(86_400)),
            ServedWindow::LastWeek => Some(crate::serving::ago(7 * 86_400)),
            ServedWindow::SinceRelease => self
                .store
                .alias_history(model)?
                .into_iter()
                .rfind(|a| a.alias == kiln_store::CHAMPION)
                .map(|a| a.at),
            ServedWindow::All => None,
        })
    }

    /// Drift of the inputs `model` was served in `window` against the rows the served version trained
    /// and validated on (the version that answered last in the window, else the champion).
    pub fn served_drift_with_histograms(
        &self,
        model: &str,
        window: ServedWindow,
    ) -> Result<ServedDrift> {
        let since = self.window_start(model, window)?;
        let log = self.served(model)?;
        let in_window = |at: &str| since.as_deref().is_none_or(|t| at >= t);
        let version = log
            .iter()
            .rev()
            .filter(|r| in_window(&r.at))
            .find_map(|r| r.version)
            .or(self.store.alias(model, kiln_store::CHAMPION)?)
            .ok_or_else(|| {
                CoreError::Invalid(format!(
                    "`{model}` has no served version and no champion to compare against"
                ))
            })?;
        let run = self.store.model_version(model, version)?.run_id;
        let trained = self
            .store
            .version_by_id(self.store.run(run)?.dataset_version_id)?;
        let seen = self.rows_seen_by(run)?;
        let all = self.load_with_ids(&trained)?;
        let keep: BooleanChunked = kiln_data::row_ids(&all)?
            .iter()
            .map(|id| Some(seen.ids.contains(id)))
            .collect();
        let reference = kiln_data::without_row_ids(&all.filter(&keep)?);
        let current = self.served_inputs(model, since.as_deref())?;
        if reference.height() == 0 {
            return Err(CoreError::Invalid(format!(
                "{model} v{version} has no training rows to compare against"
            )));
        }
        Ok(ServedDrift {
            reference: format!(
                "what {model} v{version} trained on ({}@{}, {} rows)",
                trained.dataset,
                trained.version,
                crate::release::heldout::count(reference.height())
            ),
            current: format!(
                "inputs {model} was served {} ({} requests)",
                window.label(),
                crate::release::heldout::count(current.height())
            ),
            report: drift(&reference, &current)?,
            histograms: histograms(&reference, &current)?,
        })
    }
}
