//! Curves for plotting: smoothing (a debiased exponential moving average, as `TensorBoard`'s slider) and
//! min/max decimation through a precomputed pyramid, so that any visible range of a series of millions
//! of points is reduced to a few points per pixel column in time proportional to the pixels, keeping
//! every spike (each bucket contributes its minimum and its maximum).

/// Debiased exponential moving average with `weight` in [0, 1): `weight = 0` returns the values. Each
/// output is `m_t / (1 - weight^t)` with `m_t = weight · m_{t-1} + (1 - weight) · v_t`, so the first
/// points are not pulled towards zero. Non-finite values pass through unchanged and do not enter the
/// average.
pub fn smooth(values: &[f64], weight: f64) -> Vec<f64> {
    let w = weight.clamp(0.0, 0.999_999);
    if w == 0.0 {
        return values.to_vec();
    }
    let mut last = 0.0;
    let mut debias = 1.0;
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                return v;
            }
            last = last * w + (1.0 - w) * v;
            debias *= w;
            last / (1.0 - debias)
        })
        .collect()
}

/// A series ready for decimation: finite points sorted by x, and for each level `k ≥ 1` the positions
/// of the minimum and maximum y in every block of `2^k` points.
#[derive(Clone, Debug, Default)]
pub struct Lod {
    x: Vec<f64>,
    y: Vec<f64>,
    /// `levels[k - 1][b]` = (position of min, position of max) of block `b` of size `2^k`.
    levels: Vec<Vec<(u32, u32)>>,
}

impl Lod {
    /// Build from points (non-finite ones are dropped; unsorted x is sorted, stably).
    pub fn new(x: &[f64], y: &[f64]) -> Self {
        let mut pts: Vec<(f64, f64)> = x
            .iter()
            .zip(y)
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .map(|(a, b)| (*a, *b))
            .collect();
        if !pts.is_sorted_by(|a, b| a.0 <= b.0) {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let (x, y): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
        let mut levels: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut prev: Vec<(u32, u32)> = (0..y.len() as u32).map(|i| (i, i)).collect();
        while prev.len() > 1 {
            let next: Vec<(u32, u32)> = prev
                .chunks(2)
                .map(|c| {
                    let (mut lo, mut hi) = c[0];
                    if let Some(&(l, h)) = c.get(1) {
                        if y[l as usize] < y[lo as usize] {
                            lo = l;
                        }
                        if y[h as usize] > y[hi as usize] {
                            hi = h;
                        }
                    }
                    (lo, hi)
                })
                .collect();
            levels.push(next);
            prev = levels.last().cloned().unwrap_or_default();
        }
        Self { x, y, levels }
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The x range of the series.
    pub fn x_range(&self) -> Option<(f64, f64)> {
        Some((*self.x.first()?, *self.x.last()?))
    }

    /// The y range of the series.
    pub fn y_range(&self) -> Option<(f64, f64)> {
        match self.levels.last().and_then(|l| l.first()) {
            Some(&(lo, hi)) => Some((self.y[lo as usize], self.y[hi as usize])),
            None => self.y.first().map(|v| (*v, *v)),
        }
    }

    /// The points to draw for x in `[lo, hi]` (plus one neighbour each side, so lines reach the edges) on
    /// `buckets` pixel columns: all of them when there are at most `2 · buckets`, else for each block of
    /// about `n / buckets` points its minimum and maximum in x order — at most about `4 · buckets`
    /// points whatever the series' length, with every extreme kept.
    pub fn decimate(&self, lo: f64, hi: f64, buckets: usize) -> Vec<[f64; 2]> {
        let n = self.x.len();
        if n == 0 || hi < lo {
            return Vec::new();
        }
        let start = self.x.partition_point(|&v| v < lo).saturating_sub(1);
        let end = (self.x.partition_point(|&v| v <= hi) + 1).min(n);
        if end <= start {
            return Vec::new();
        }
        let m = end - start;
        let buckets = buckets.max(1);
        if m <= 2 * buckets || self.levels.is_empty() {
            return (start..end).map(|i| [self.x[i], self.y[i]]).collect();
        }
        // Block size 2^k ≤ m / buckets: between `buckets` and `2 · buckets` (+2 partial) blocks.
        let k = ((m / buckets).ilog2() as usize).clamp(1, self.levels.len());
        let level = &self.levels[k - 1];
        let (b0, b1) = (start >> k, (end - 1) >> k);
        let mut out = Vec::with_capacity(2 * (b1 - b0 + 1));
        for &(lo_i, hi_i) in &level[b0..=b1] {
            let (a, b) = if lo_i <= hi_i {
                (lo_i, hi_i)
            } else {
                (hi_i, lo_i)
            };
            out.push([self.x[a as usize], self.y[a as usize]]);
            if b != a {
                out.push([self.x[b as usize], self.y[b as usize]]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_debiased_and_zero_weight_is_identity() {
        let v = [1.0, 1.0, 1.0];
        // A constant stays constant from the first point on (no pull towards zero).
        for s in smooth(&v, 0.9) {
            assert!((s - 1.0).abs() < 1e-12, "{s}");
        }
        assert_eq!(smooth(&[3.0, 5.0], 0.0), [3.0, 5.0]);
        // Hand-computed: m1 = 0.5·2 = 1 → 1/0.5 = 2; m2 = 0.5·1 + 0.5·4 = 2.5 → 2.5/0.75.
        let s = smooth(&[2.0, 4.0], 0.5);
        assert!((s[0] - 2.0).abs() < 1e-12 && (s[1] - 2.5 / 0.75).abs() < 1e-12);
        let s = smooth(&[2.0, f64::NAN, 4.0], 0.5);
        assert!(s[1].is_nan() && (s[2] - 2.5 / 0.75).abs() < 1e-12);
    }

    #[test]
    fn decimation_keeps_spikes_and_bounds_the_point_count() {
        let n: u32 = 1_000_000;
        let x: Vec<f64> = (0..n).map(f64::from).collect();
        let mut y: Vec<f64> = (0..n).map(|i| (f64::from(i) * 0.001).sin()).collect();
        y[123_457] = 50.0;
        y[765_431] = -50.0;
        let lod = Lod::new(&x, &y);
        for buckets in [100, 800, 1920] {
            let d = lod.decimate(0.0, f64::from(n), buckets);
            assert!(
                d.len() <= 4 * buckets + 4,
                "{} points for {buckets}",
                d.len()
            );
            assert!(d.contains(&[123_457.0, 50.0]) && d.contains(&[765_431.0, -50.0]));
            assert!(d.windows(2).all(|w| w[0][0] <= w[1][0]), "x order");
        }
        // Zoomed in: the visible range only, one neighbour each side.
        let d = lod.decimate(123_400.0, 123_500.0, 800);
        assert_eq!(d.len(), 103);
        assert!(d.contains(&[123_457.0, 50.0]));
        assert_eq!(lod.y_range(), Some((-50.0, 50.0)));
        assert_eq!(lod.x_range(), Some((0.0, f64::from(n - 1))));
        // Short series come back whole; NaN points are dropped.
        let short = Lod::new(&[0.0, 1.0, 2.0], &[1.0, f64::NAN, 3.0]);
        assert_eq!(short.decimate(0.0, 2.0, 100), [[0.0, 1.0], [2.0, 3.0]]);
    }
}
