//! Classification metrics: accuracy, loss, confusion matrix and per-class precision, recall and F1.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// How a model did on one split.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub per_class: Vec<ClassMetrics>,
}

impl Evaluation {
    pub fn from_predictions(
        classes: &[String],
        truth: &[i64],
        predicted: &[i64],
        loss: f64,
    ) -> Self {
        let k = classes.len();
        let mut confusion = vec![vec![0usize; k]; k];
        for (&t, &p) in truth.iter().zip(predicted) {
            if let (Ok(t), Ok(p)) = (usize::try_from(t), usize::try_from(p))
                && t < k
                && p < k
            {
                confusion[t][p] += 1;
            }
        }
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class = (0..k)
            .map(|c| {
                let tp = confusion[c][c];
                let predicted_c: usize = (0..k).map(|t| confusion[t][c]).sum();
                let support: usize = confusion[c].iter().sum();
                let precision = ratio(tp, predicted_c);
                let recall = ratio(tp, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    class: classes[c].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        Self {
            loss,
            accuracy: ratio(correct, truth.len()),
            confusion,
            per_class,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_sklearn_on_a_small_case() {
        // sklearn: classification_report([0,0,1,1,2,2], [0,1,1,1,2,0])
        let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let e =
            Evaluation::from_predictions(&classes, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 1, 2, 0], 0.5);
        assert!((e.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            e.confusion,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]
        );
        let a = &e.per_class[0];
        assert!((a.precision - 0.5).abs() < 1e-12 && (a.recall - 0.5).abs() < 1e-12);
        let b = &e.per_class[1];
        assert!((b.precision - 2.0 / 3.0).abs() < 1e-12 && (b.recall - 1.0).abs() < 1e-12);
        assert!((b.f1 - 0.8).abs() < 1e-12);
        assert_eq!(e.per_class[2].support, 2);
    }
}
