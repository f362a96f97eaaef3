//! Paired comparison of two models on the same evaluation rows: `McNemar`'s exact test on the rows one got
//! right and the other wrong, and a paired bootstrap confidence interval of the accuracy difference.

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// ln(n!) by summing logs (exact enough for the counts of an evaluation set; no overflow).
fn ln_factorial(n: u64) -> f64 {
    (2..=n).map(|k| (k as f64).ln()).sum()
}

/// `McNemar`'s exact test: with `b` rows only A got right and `c` rows only B got right, the two-sided
/// p-value `min(1, 2 · P(X ≤ min(b, c)))` for X ~ Binomial(b + c, 1/2) (as statsmodels' `mcnemar(exact=True)`
/// and scipy's `binomtest`). 1 when there is no discordant row.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    let ln_n = ln_factorial(n);
    let ln_half = (0.5f64).ln() * n as f64;
    let mut cdf = 0.0;
    for i in 0..=k {
        cdf += (ln_n - ln_factorial(i) - ln_factorial(n - i) + ln_half).exp();
    }
    (2.0 * cdf).min(1.0)
}

/// The `p` quantile of sorted values with linear interpolation (numpy's default); NaN when empty.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The sorted value nearest to the `p` quantile's position; NaN when empty.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The candidate against the champion on the same rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    pub rows: usize,
    pub accuracy_a: f64,
    pub accuracy_b: f64,
    /// `accuracy_b - accuracy_a`.
    pub difference: f64,
    /// Rows only A got right, rows only B got right.
    pub only_a: u64,
    pub only_b: u64,
    pub p_value: f64,
    /// 95% paired bootstrap interval of the difference.
    pub ci_low: f64,
    pub ci_high: f64,
    pub resamples: usize,
    pub seed: u64,
}

impl PairedComparison {
    /// `correct_a[i]`, `correct_b[i]`: whether each model got row `i` right.
    pub fn of(correct_a: &[bool], correct_b: &[bool], resamples: usize, seed: u64) -> Self {
        let n = correct_a.len().min(correct_b.len());
        let acc = |c: &[bool]| c[..n].iter().filter(|x| **x).count() as f64 / n.max(1) as f64;
        let (accuracy_a, accuracy_b) = (acc(correct_a), acc(correct_b));
        let only_a = (0..n).filter(|&i| correct_a[i] && !correct_b[i]).count() as u64;
        let only_b = (0..n).filter(|&i| !correct_a[i] && correct_b[i]).count() as u64;
        // Per row: +1 only B right, -1 only A right, 0 otherwise; the difference is their mean.
        let d: Vec<i8> = (0..n)
            .map(|i| i8::from(correct_b[i]) - i8::from(correct_a[i]))
            .collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut diffs: Vec<f64> = (0..resamples)
            .map(|_| {
                let s: i64 = (0..n)
                    .map(|_| i64::from(d[rng.random_range(0..n.max(1))]))
                    .sum();
                s as f64 / n.max(1) as f64
            })
            .collect();
        diffs.sort_by(f64::total_cmp);
        let q = |p: f64| quantile(&diffs, p);
        Self {
            rows: n,
            accuracy_a,
            accuracy_b,
            difference: accuracy_b - accuracy_a,
            only_a,
            only_b,
            p_value: mcnemar_exact(only_a, only_b),
            ci_low: q(0.025),
            ci_high: q(0.975),
            resamples,
            seed,
        }
    }

    /// The verdict in plain words, e.g. "candidate better by 1.8 points, 95% CI [0.6, 3.0], p = 0.004".
    pub fn verdict(&self, a: &str, b: &str) -> String {
        let pts = |x: f64| x * 100.0;
        let direction = if self.difference > 0.0 {
            format!(
                "{b} is better than {a} by {:.1} points",
                pts(self.difference)
            )
        } else if self.difference < 0.0 {
            format!(
                "{b} is worse than {a} by {:.1} points",
                pts(-self.difference)
            )
        } else {
            format!("{b} and {a} are equally accurate")
        };
        let significant = if self.p_value < 0.05 {
            "a real difference (p < 0.05)"
        } else {
            "not distinguishable from chance at p < 0.05"
        };
        let text = format!(
            "{direction}, 95% CI [{:.1}, {:.1}], p = {:.3} — {significant}",
            pts(self.ci_low),
            pts(self.ci_high),
            self.p_value
        );
        // A sentence starts with a capital, whatever the names.
        let mut chars = text.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_statsmodels_reference_values() {
        // statsmodels.stats.contingency_tables.mcnemar([[a, b], [c, d]], exact=True).pvalue, committed
        // from `crates/kiln_bench/peers/mcnemar_reference.py`.
        for (b, c, p) in [
            (10u64, 2u64, 0.038_574_218_75),
            (5, 5, 1.0),
            (0, 7, 0.015_625),
            (25, 40, 0.081_681_533_941_540_03),
            (120, 95, 0.101_452_327_648_706_49),
            (1, 0, 1.0),
            (0, 0, 1.0),
        ] {
            let got = mcnemar_exact(b, c);
            assert!((got - p).abs() < 1e-9, "b={b} c={c}: {got} vs {p}");
        }
    }

    #[test]
    fn paired_bootstrap_is_seeded_and_brackets_the_difference() {
        let a: Vec<bool> = (0..400).map(|i| i % 10 != 0).collect();
        let b: Vec<bool> = (0..400).map(|i| i % 20 != 0).collect();
        let r = PairedComparison::of(&a, &b, 10_000, 7);
        assert!((r.accuracy_a - 0.9).abs() < 1e-12 && (r.accuracy_b - 0.95).abs() < 1e-12);
        assert_eq!((r.only_a, r.only_b), (0, 20));
        assert!(r.ci_low <= r.difference && r.difference <= r.ci_high);
        assert!(r.ci_low > 0.0, "only B is ever right alone: {r:?}");
        assert_eq!(r, PairedComparison::of(&a, &b, 10_000, 7));
        assert!(
            r.verdict("champion", "candidate")
                .starts_with("Candidate is better than champion by 5.0 points")
        );
    }
}
