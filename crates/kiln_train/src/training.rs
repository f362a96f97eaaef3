//! The training loop: mini-batch gradient descent with Adam or SGD, per-step and per-epoch metrics
//! reported through a callback, early stopping on validation loss, the best model kept.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, SgdConfig, decay::WeightDecayConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::{FeatureSpec, Prepared};
use crate::metrics::Evaluation;
use crate::model::{Mlp, MlpConfig};
use crate::{TrainDevice, TrainError};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    #[default]
    Adam,
    Sgd,
}

/// Hyperparameters of a run (all recorded with it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainParams {
    pub hidden: Vec<usize>,
    pub dropout: f64,
    pub optimizer: Optimizer,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Stop after this many epochs without a better validation loss (0 = never).
    pub patience: usize,
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            hidden: vec![256],
            dropout: 0.0,
            optimizer: Optimizer::Adam,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            batch_size: 32,
            epochs: 100,
            patience: 20,
            seed: 0,
        }
    }
}

impl TrainParams {
    /// Set one parameter from `KEY=VALUE` text (the CLI's `--param`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), TrainError> {
        let bad = || TrainError::Invalid(format!("invalid value `{value}` for `{key}`"));
        match key {
            "hidden" | "layers" => {
                self.hidden = value
                    .split([',', 'x'])
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().parse::<usize>().map_err(|_| bad()))
                    .collect::<Result<_, _>>()?;
            }
            "dropout" => self.dropout = value.parse().map_err(|_| bad())?,
            "optimizer" => {
                self.optimizer = match value {
                    "adam" => Optimizer::Adam,
                    "sgd" => Optimizer::Sgd,
                    _ => return Err(bad()),
                }
            }
            "lr" | "learning_rate" => self.learning_rate = value.parse().map_err(|_| bad())?,
            "weight_decay" => self.weight_decay = value.parse().map_err(|_| bad())?,
            "batch_size" => self.batch_size = value.parse().map_err(|_| bad())?,
            "epochs" => self.epochs = value.parse().map_err(|_| bad())?,
            "patience" => self.patience = value.parse().map_err(|_| bad())?,
            "seed" => self.seed = value.parse().map_err(|_| bad())?,
            _ => {
                return Err(TrainError::Invalid(format!(
                    "unknown parameter `{key}` (hidden, dropout, optimizer, lr, weight_decay, batch_size, epochs, patience, seed)"
                )));
            }
        }
        if !(0.0..1.0).contains(&self.dropout)
            || self.batch_size == 0
            || self.epochs == 0
            || self.learning_rate <= 0.0
        {
            return Err(bad());
        }
        Ok(())
    }
}

/// The encoded parts of a split.
#[derive(Clone, Copy, Debug)]
pub struct Splits<'a> {
    pub train: &'a Prepared,
    pub val: &'a Prepared,
    pub test: &'a Prepared,
}

/// Serialises use of the backend's process-wide random generator.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What the loop reports while it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    Step {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    Epoch {
        epoch: usize,
        train_loss: f64,
        train_accuracy: f64,
        val_loss: f64,
        val_accuracy: f64,
    },
}

pub struct TrainOutcome {
    /// The model of the best validation epoch.
    pub model: Mlp,
    pub config: MlpConfig,
    pub best_epoch: usize,
    pub epochs_run: usize,
    /// True when stopped by the cancel flag (the best model so far is kept).
    pub stopped: bool,
    pub test: Evaluation,
}

fn tensors(x: Vec<f32>, y: Vec<i64>, width: usize, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let n = y.len();
    let xs = Tensor::<2>::from_data(TensorData::new(x, [n, width]), device);
    let ys = Tensor::<1, Int>::from_data(TensorData::new(y, [n]), device);
    (xs, ys)
}

/// Loss and predictions of `model` on `data`, in batches, without gradients.
pub fn evaluate(model: &Mlp, data: &Prepared, classes: &[String], device: &Device) -> Evaluation {
    if data.rows == 0 {
        return Evaluation::default();
    }
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut predicted = Vec::with_capacity(data.rows);
    let mut loss_sum = 0.0;
    let idx: Vec<usize> = (0..data.rows).collect();
    for chunk in idx.chunks(1024) {
        let (x, y) = data.gather(chunk);
        let (xs, ys) = tensors(x, y, data.width, device);
        let logits = model.forward(xs);
        let loss: f64 = loss_fn.forward(logits.clone(), ys).into_scalar::<f64>();
        loss_sum += loss * chunk.len() as f64;
        predicted.extend(logits.argmax(1).into_data().iter::<i64>());
    }
    Evaluation::from_predictions(classes, &data.y, &predicted, loss_sum / data.rows as f64)
}

/// Train an MLP. `on_event` gets every step and epoch; `cancel` stops at the next batch, keeping the best
/// model so far.
pub fn train(
    spec: &FeatureSpec,
    data: &Splits<'_>,
    params: &TrainParams,
    device: &TrainDevice,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(Event),
) -> Result<TrainOutcome, TrainError> {
    let Splits { train, val, test } = *data;
    if train.rows == 0 {
        return Err(TrainError::Invalid("the training split is empty".into()));
    }
    let plain = device.device.clone();
    let ad = plain.clone().autodiff();
    // The backend's random generator is shared by the process: hold it while seeding and initialising
    // (and for the whole run when dropout draws from it), so concurrent runs cannot interleave draws
    // and the same seed always gives the same run.
    let rng_lock = RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    plain.seed(params.seed);
    ad.seed(params.seed);
    let config = MlpConfig::new(spec.width(), params.hidden.clone(), spec.classes.len())
        .with_dropout(params.dropout);
    let mut model = config.init(&ad);
    let _rng_lock = if params.dropout > 0.0 {
        Some(rng_lock)
    } else {
        drop(rng_lock);
        None
    };
    let decay =
        (params.weight_decay > 0.0).then(|| WeightDecayConfig::new(params.weight_decay as f32));
    let mut optim = match params.optimizer {
        Optimizer::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        Optimizer::Sgd => SgdConfig::new().with_weight_decay(decay).init(),
    };
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed);
    let mut order: Vec<usize> = (0..train.rows).collect();
    let mut best: Option<(f64, usize, Mlp)> = None;
    let mut since_best = 0;
    let mut epochs_run = 0;
    let mut stopped = false;
    let mut step = 0;
    'epochs: for epoch in 1..=params.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        let mut correct = 0usize;
        for batch in order.chunks(params.batch_size) {
            if cancel.load(Ordering::Relaxed) {
                stopped = true;
                break 'epochs;
            }
            let (x, y) = train.gather(batch);
            let (xs, ys) = tensors(x, y.clone(), train.width, &ad);
            let logits = model.forward(xs);
            let loss = loss_fn.forward(logits.clone(), ys);
            let value: f64 = loss.clone().into_scalar::<f64>();
            let predicted: Vec<i64> = logits.argmax(1).into_data().iter::<i64>().collect();
            correct += predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
            loss_sum += value * batch.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(params.learning_rate, model, grads);
            step += 1;
            on_event(Event::Step {
                epoch,
                step,
                loss: value,
            });
        }
        epochs_run = epoch;
        let valid = model.valid();
        let v = if val.rows > 0 {
            evaluate(&valid, val, &spec.classes, &plain)
        } else {
            evaluate(&valid, train, &spec.classes, &plain)
        };
        on_event(Event::Epoch {
            epoch,
            train_loss: loss_sum / train.rows as f64,
            train_accuracy: correct as f64 / train.rows as f64,
            val_loss: v.loss,
            val_accuracy: v.accuracy,
        });
        if best.as_ref().is_none_or(|(l, _, _)| v.loss < *l) {
            best = Some((v.loss, epoch, valid));
            since_best = 0;
        } else {
            since_best += 1;
            if params.patience > 0 && since_best >= params.patience {
                break;
            }
        }
    }
    let (best_model, best_epoch) = match best {
        Some((_, e, m)) => (m, e),
        None if stopped => return Err(TrainError::Cancelled),
        None => return Err(TrainError::Invalid("no epoch completed".into())),
    };
    let test = evaluate(&best_model, test, &spec.classes, &plain);
    Ok(TrainOutcome {
        model: best_model,
        config,
        best_epoch,
        epochs_run,
        stopped,
        test,
    })
}

/// Save a model's weights (burn's record format) to `path`.
pub fn save(model: Mlp, path: &std::path::Path) -> Result<(), TrainError> {
    model
        .save_file(path)
        .map_err(|e| TrainError::Record(e.to_string()))
}
